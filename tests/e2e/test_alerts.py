"""A pump's fault reaches Slack: collector, VictoriaMetrics, AI engine, vmalert, Alertmanager.

While the fault is on, every panel of every dashboard is queried against the real backends
(each must return series carrying every label it groups by or names in its legend), and a real
browser opens VictoriaMetrics' UI on Sentio's dashboards.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sentio.dashboards import catalog
from sentio.dashboards.check import run_all
from sentio.simulators.slack import Message

from sentio.bench.alert import FAULTY, HEALTHY, running_rig
from sentio.config import SentioConfig
from sentio.stack.probe import poll
from tests.e2e import browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"


def _firing(message: Message) -> bool:
    return "[FIRING" in message.text()


@pytest.mark.timeout(600)
async def test_a_fault_reaches_slack_once_and_resolves(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    async with running_rig(stack_config_live, tmp_path, lambda _m: None) as rig:
        await rig.scored(400)
        latency, firing = await rig.fire(180)
        text = firing.text()
        assert FAULTY in text
        assert "metric: vibration" in text, text
        assert "drivers: vibration" in text, text
        assert "dashboard: http://" in text
        assert firing.body["attachments"], "Alertmanager's Slack format: attachments"

        async def every_panel_has_data() -> list[str] | None:
            outcomes = await run_all(rig.config, {"device": FAULTY})
            empty = [
                f"{o.dashboard}/{o.panel}: {o.expr} {o.error}"
                for o in outcomes
                if not o.results or o.missing
            ]
            return None if empty else [o.panel for o in outcomes]

        try:
            await poll(every_panel_has_data, 90, "data in every panel", 3.0)
        except Exception:
            outcomes = await run_all(rig.config, {"device": FAULTY})
            errors = [o for o in outcomes if o.error or not o.results or o.missing]
            raise AssertionError(f"panels without data or grouped labels: {errors}") from None

        vmui = f"{rig.config.stack.url('victoriametrics')}/vmui/#/dashboards"
        shown = catalog.FLEET.rows[0].panels  # the first row is open, the others folded
        legend = 'class="vm-legend-item vm-legend-row"'

        async def drawn() -> str | None:
            # vmui lists a panel's series, with their values, once its query returned data
            page = await asyncio.to_thread(browser.dom, vmui, 15000)
            return page if legend in page else None

        page = await poll(drawn, 90, f"a panel of {vmui} drawn with data", 1.0)
        active = page.index("vm-predefined-panels-tabs__tab_active")
        assert catalog.FLEET.title in page[active : active + 200]  # the fleet overview opens first
        for panel in shown:
            assert panel.title in page, f"{panel.title!r} not drawn in {vmui}"
        assert page.count("<canvas") >= len(shown)
        shot = await asyncio.to_thread(browser.screenshot, vmui, ARTIFACTS / "vmui-fleet.png")
        assert shot.stat().st_size > 20_000

        # the group stays firing; within the repeat interval nothing is sent again for it
        def again(m: Message) -> bool:
            return _firing(m) and m.text() == text

        with pytest.raises(TimeoutError):
            await rig.receiver.wait_for(again, 12, rig.receiver.messages.index(firing) + 1)

        _, resolved = await rig.clear(240)
        assert FAULTY in resolved.text()
        healthy = [m for m in rig.receiver.messages if _firing(m) and HEALTHY in m.text()]
        assert not healthy, f"the healthy pump alerted: {healthy[0].text()}"
        assert rig.receiver.rejected == 0
    assert latency < 120
