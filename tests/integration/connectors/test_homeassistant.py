"""The Home Assistant connector against a real Home Assistant (see homeassistant_server.py)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import pytest
from sentio.connectors.contract import Event, Quality, Reading, Sample, Severity
from sentio.connectors.homeassistant import (
    HomeAssistantAuthError,
    HomeAssistantConfig,
    HomeAssistantConnectionError,
    HomeAssistantConnector,
    HomeAssistantError,
)
from sentio.connectors.homeassistant.states import parse_timestamp

from .homeassistant_server import FaultProxy, HomeAssistant, installed_venv

pytestmark = pytest.mark.integration

T = TypeVar("T")
WAIT_S = 20.0
CLOSE_WITHIN_S = 2.0
BACKOFF_S = 0.2
SENSORS = {
    # entity id: (metric, unit)
    "sensor.power": ("power", "kW"),
    "sensor.energy": ("energy", "kW.h"),
    "sensor.particulates": ("pm25", "ug/m3"),
    "sensor.wifi_signal": ("signal_strength", "dB[mW]"),
    "sensor.fridge": ("fridge", "[degF]"),
    "sensor.outdoor_double": ("temperature", "Cel"),
    "input_number.outdoor_temp": ("outdoor_temp", "Cel"),
}
LIGHT = "input_boolean.kitchen_light"
TEMP = "input_number.outdoor_temp"


@pytest.fixture(scope="module")
def homeassistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HomeAssistant]:
    """Run a real Home Assistant for the module, logged in; stop it at the end."""
    venv = installed_venv()
    if isinstance(venv, str):
        pytest.fail(venv, pytrace=False)
    ha = HomeAssistant(tmp_path_factory.mktemp("homeassistant"), venv)
    ha.start()
    try:
        ha.login()
        yield ha
    finally:
        ha.stop()


@pytest.fixture
def ha(homeassistant: HomeAssistant) -> HomeAssistant:
    """Return the module's Home Assistant, started again if a test left it stopped."""
    if not homeassistant.running:
        homeassistant.stop()
        homeassistant.start()
    return homeassistant


@pytest.fixture
async def proxy(ha: HomeAssistant) -> AsyncIterator[FaultProxy]:
    """Put a fault-injecting reverse proxy in front of Home Assistant."""
    fault_proxy = FaultProxy(ha.url)
    await fault_proxy.start()
    try:
        yield fault_proxy
    finally:
        await fault_proxy.stop()


def config(url: str, token: str, **changes: Any) -> HomeAssistantConfig:
    return HomeAssistantConfig.model_validate(
        {"url": url, "token": token, "timeout_s": 5, "heartbeat_s": 5, **changes}
    )


class Runner:
    """Drive a push connector as the collector runtime does: connect, read, back off, repeat."""

    def __init__(self, connector: HomeAssistantConnector) -> None:
        self.connector = connector
        self.samples: list[Sample] = []
        self.errors: list[HomeAssistantError] = []
        self.connects = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Runner:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._stopping = True
        started = time.monotonic()
        await self.connector.close()
        try:
            await asyncio.wait_for(self._task, CLOSE_WITHIN_S)
        except TimeoutError:
            pytest.fail(f"read() did not end within {CLOSE_WITHIN_S} s of close()")
        assert time.monotonic() - started < CLOSE_WITHIN_S

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.connector.connect()
                self.connects += 1
                async for sample in self.connector.read():
                    self.samples.append(sample)
                return
            except HomeAssistantError as exc:
                self.errors.append(exc)
            if not self._stopping:
                await asyncio.sleep(BACKOFF_S)

    def readings(self, device: str, since: int = 0) -> list[Reading]:
        return [s for s in self.samples[since:] if isinstance(s, Reading) and s.device == device]

    def events(self, severity: Severity | None = None, since: int = 0) -> list[Event]:
        return [
            s
            for s in self.samples[since:]
            if isinstance(s, Event) and (severity is None or s.severity is severity)
        ]

    def value(self, device: str, value: float | str, since: int = 0) -> Reading | None:
        return next((r for r in self.readings(device, since) if r.value == value), None)


async def until(check: Callable[[], T | None], what: str, within_s: float = WAIT_S) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within_s:g} s waiting for {what}")
        await asyncio.sleep(0.05)


async def states(ha: HomeAssistant) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ha.token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{ha.url}/api/states", headers=headers) as response,
    ):
        return {s["entity_id"]: s for s in await response.json()}


async def test_numeric_sensors_become_readings_with_ucum_units(ha: HomeAssistant) -> None:
    connector = HomeAssistantConnector(config(ha.url, ha.token))
    async with Runner(connector) as run:
        await until(lambda: all(run.readings(e) for e in [*SENSORS, LIGHT]), "every entity")
        assert connector.transport == "websocket"
        now = await states(ha)
        for entity_id, (metric, unit) in SENSORS.items():
            reading = run.readings(entity_id)[0]
            assert (reading.metric, reading.unit, reading.quality) == (metric, unit, Quality.GOOD)
            assert reading.value == float(now[entity_id]["state"])
            assert reading.timestamp_ns == parse_timestamp(now[entity_id]["last_updated"])
            assert reading.attributes["entity_id"] == entity_id
            assert reading.attributes["domain"] == entity_id.split(".")[0]
        power = run.readings("sensor.power")[0]
        assert power.value == 1.5
        assert power.attributes["friendly_name"] == "Power"
        assert power.attributes["device_class"] == "power"
        light = run.readings(LIGHT)[0]
        assert (light.metric, light.value) == ("state", now[LIGHT]["state"])
        assert run.errors == []


async def test_state_changes_after_subscribe_arrive(ha: HomeAssistant) -> None:
    async with Runner(HomeAssistantConnector(config(ha.url, ha.token))) as run:
        await until(lambda: run.readings(LIGHT) and run.readings(TEMP), "the first states")
        mark = len(run.samples)
        await ha.call("input_number", "set_value", entity_id=TEMP, value=23.4)
        reading = await until(lambda: run.value(TEMP, 23.4, mark), "the new temperature")
        assert reading.unit == "Cel"
        await until(lambda: run.value("sensor.outdoor_double", 46.8, mark), "the template sensor")
        before = run.readings(LIGHT)[-1].value
        after = "off" if before == "on" else "on"
        await ha.call("input_boolean", "toggle", entity_id=LIGHT)
        await until(lambda: run.value(LIGHT, after, mark), "the toggled light")
        (event,) = [e for e in run.events(Severity.INFO, mark) if e.device == LIGHT]
        assert event.body == f"{LIGHT}: {before} -> {after}"
        assert not [e for e in run.events(since=mark) if e.device == TEMP]
        assert run.errors == []


async def test_include_and_exclude(ha: HomeAssistant) -> None:
    settings = config(
        ha.url,
        ha.token,
        include={"domains": ["sensor"], "entities": ["input_number.*"]},
        exclude={"entities": ["sensor.fridge", "sensor.wifi_*"]},
    )
    wanted = {"sensor.power", "sensor.energy", "sensor.particulates", "sensor.outdoor_double", TEMP}
    async with Runner(HomeAssistantConnector(settings)) as run:
        await until(lambda: all(run.readings(e) for e in wanted), "the included entities")
        mark = len(run.samples)
        await ha.call("input_boolean", "toggle", entity_id=LIGHT)
        await ha.call("input_number", "set_value", entity_id=TEMP, value=-7.5)
        await until(lambda: run.value(TEMP, -7.5, mark), "the included change")
        devices = {s.device for s in run.samples if isinstance(s, Reading)}
        assert devices == wanted


@pytest.mark.parametrize("transport", ["websocket", "rest"])
async def test_bad_token_is_a_clear_error(ha: HomeAssistant, transport: str) -> None:
    secret = "not-the-token-0123456789"
    connector = HomeAssistantConnector(config(ha.url, secret, transport=transport))
    try:
        with pytest.raises(HomeAssistantAuthError) as caught:
            await connector.connect()
    finally:
        await connector.close()
    message = str(caught.value)
    assert "rejected the access token" in message and ha.url in message and "`token`" in message
    chain: BaseException | None = caught.value
    while chain is not None:
        assert secret not in str(chain) and secret not in repr(chain)
        chain = chain.__cause__ or chain.__context__
    assert connector.transport is None


async def test_restart_reconnects_rereads_and_resubscribes(ha: HomeAssistant) -> None:
    async with Runner(HomeAssistantConnector(config(ha.url, ha.token))) as run:
        await until(lambda: run.readings("sensor.power"), "the first states")
        connects = run.connects
        ha.stop()
        error = await until(lambda: run.errors, "the connection loss")
        assert isinstance(error[0], HomeAssistantConnectionError)
        mark = len(run.samples)
        ha.start()
        await until(lambda: run.connects > connects, "the reconnect", within_s=30)
        await until(lambda: run.readings("sensor.power", mark), "the states read again")
        await until(lambda: run.readings(TEMP, mark), "the input_number read again")
        await ha.call("input_number", "set_value", entity_id=TEMP, value=31.7)
        await until(lambda: run.value(TEMP, 31.7, mark), "a change after the restart")


async def test_rest_transport_polls_states(ha: HomeAssistant) -> None:
    settings = config(ha.url, ha.token, transport="rest", poll_interval_s=0.2)
    connector = HomeAssistantConnector(settings)
    async with Runner(connector) as run:
        await until(lambda: all(run.readings(e) for e in SENSORS), "every sensor")
        assert connector.transport == "rest"
        assert run.readings("sensor.particulates")[0].unit == "ug/m3"
        mark = len(run.samples)
        await ha.call("input_number", "set_value", entity_id=TEMP, value=4.2)
        await until(lambda: run.value(TEMP, 4.2, mark), "the change on a later poll")
        assert not run.readings("sensor.power", mark), "unchanged states are not read again"
        assert run.events(Severity.WARN) == [] and run.errors == []


async def test_rest_fallback_when_the_websocket_is_refused(
    ha: HomeAssistant, proxy: FaultProxy
) -> None:
    proxy.websocket = False
    settings = config(proxy.url, ha.token, poll_interval_s=0.2, websocket_retry_s=1)
    connector = HomeAssistantConnector(settings)
    async with Runner(connector) as run:
        await until(lambda: run.readings("sensor.power"), "states over REST")
        assert connector.transport == "rest"
        (warning,) = run.events(Severity.WARN)
        assert "WebSocket API unavailable" in warning.body and "HTTP 404" in warning.body
        mark = len(run.samples)
        await ha.call("input_number", "set_value", entity_id=TEMP, value=5.5)
        await until(lambda: run.value(TEMP, 5.5, mark), "a change over REST")
        proxy.websocket = True
        await until(lambda: connector.transport == "websocket", "the switch back")
        assert any("available again" in e.body for e in run.events(Severity.INFO))
        assert proxy.clients == 1
        mark = len(run.samples)
        await ha.call("input_number", "set_value", entity_id=TEMP, value=6.5)
        await until(lambda: run.value(TEMP, 6.5, mark), "a change over the WebSocket")
        assert run.errors == []


async def test_garbage_is_a_warning_and_the_stream_goes_on(
    ha: HomeAssistant, proxy: FaultProxy
) -> None:
    async with Runner(HomeAssistantConnector(config(proxy.url, ha.token))) as run:
        await until(lambda: run.readings("sensor.power") and proxy.clients, "the first states")
        await proxy.inject("this is not JSON {")
        await proxy.inject('{"no": "type"}')
        await proxy.inject('{"id": 1, "type": "event", "event": {"event_type": "state_changed"}}')
        warnings = await until(lambda: len(run.events(Severity.WARN)) >= 3 or None, "warnings")
        bodies = [w.body for w in run.events(Severity.WARN)]
        assert "not JSON: 'this is not JSON {'" in bodies[0]
        assert "without a type" in bodies[1]
        assert "event without data" in bodies[2]
        assert warnings
        mark = len(run.samples)
        await ha.call("input_number", "set_value", entity_id=TEMP, value=17.25)
        await until(lambda: run.value(TEMP, 17.25, mark), "a change after the garbage")
        assert run.errors == [] and run.connects == 1


async def test_bad_states_are_warnings_or_bad_quality(ha: HomeAssistant) -> None:
    async with Runner(HomeAssistantConnector(config(ha.url, ha.token))) as run:
        await until(lambda: run.readings("sensor.power"), "the first states")
        mark = len(run.samples)
        await ha.set_state("sensor.broken", "nan", unit_of_measurement="W")
        warning = await until(
            lambda: [e for e in run.events(Severity.WARN, mark) if e.device == "sensor.broken"],
            "the NaN warning",
        )
        assert "'nan' is not a finite number" in warning[0].body
        await ha.set_state("sensor.broken", "12", unit_of_measurement="W")
        await until(lambda: run.value("sensor.broken", 12.0, mark), "a good value after it")
        await ha.set_state("sensor.broken", "unavailable", unit_of_measurement="W")
        bad = await until(
            lambda: [r for r in run.readings("sensor.broken", mark) if r.quality is Quality.BAD],
            "the unavailable reading",
        )
        assert math.isnan(float(bad[0].value)) and bad[0].unit == "W"
        assert any(e.body == "sensor.broken: 12 -> unavailable" for e in run.events(Severity.WARN))
        assert run.errors == []


@pytest.mark.parametrize("transport", ["websocket", "rest"])
async def test_close_ends_read_promptly(ha: HomeAssistant, transport: str) -> None:
    connector = HomeAssistantConnector(
        config(ha.url, ha.token, transport=transport, poll_interval_s=60)
    )
    async with Runner(connector) as run:
        await until(lambda: run.readings("sensor.power"), "the first states")
    assert connector.transport is None
