"""AI findings written to the real VictoriaMetrics under the names alert rules use."""

from __future__ import annotations

import time
import uuid

import aiohttp
from sentio.ai_engine.writer import Finding, FindingWriter

from sentio.config import SentioConfig
from sentio.otlp import MetricsPusher
from sentio.stack.probe import poll
from sentio.stack.query import promql


async def test_findings_are_queryable_by_name_and_labels(stack_config_live: SentioConfig) -> None:
    config = stack_config_live
    run = uuid.uuid4().hex[:8]
    now = int(time.time())
    source = {"__name__": "pump_vibration", "device": "pump-1", "run": run}
    findings = [
        Finding(source, now, "robust", "vibration", score=2.5, expected=1.0, lower=0.5, upper=1.5),
        Finding(
            source,
            now,
            "trend",
            "vibration",
            time_to_threshold_s=7200.0,
            risk="high",
            risk_confidence=0.9,
        ),
        Finding(source, now, "robust", "nan-is-skipped", score=float("nan")),
    ]
    base = f"http://{config.stack.host}:{config.stack.victoriametrics.port}"
    async with aiohttp.ClientSession() as session:
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        sent = await FindingWriter(pusher, {"service.name": "sentio-ai"}).write(findings)
        assert sent == 4 + 3

        async def found(query: str) -> list[dict[str, object]] | None:
            return await promql(session, base, query) or None

        score = await poll(
            lambda: found(f'sentio_ai_anomaly_score{{run="{run}"}} > 1'), 30, "score"
        )
        labels = score[0]["metric"]
        assert isinstance(labels, dict)
        assert (labels["metric"], labels["device"], labels["model"], labels["query"]) == (
            "pump_vibration", "pump-1", "robust", "vibration",
        )  # fmt: skip
        upper = await poll(lambda: found(f'sentio_ai_expected_upper{{run="{run}"}}'), 30, "upper")
        assert upper[0]["value"][1] == "1.5"  # type: ignore[index]
        ttt = await poll(
            lambda: found(f'sentio_ai_time_to_threshold_seconds{{run="{run}"}} < 4*3600'), 30, "ttt"
        )
        assert ttt[0]["value"][1] == "7200"  # type: ignore[index]
        risk = await poll(
            lambda: found(f'sentio_ai_fault_risk{{run="{run}",risk="high"}}'), 30, "risk"
        )
        assert risk[0]["value"][1] == "2"  # type: ignore[index]
        assert not await promql(session, base, 'sentio_ai_anomaly_score{query="nan-is-skipped"}')
