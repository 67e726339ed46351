"""Simulated Zigbee sensors, published to an MQTT broker the way Zigbee2MQTT publishes them.

Topics below the base topic (``zigbee2mqtt`` by default)::

    bridge/state                  {"state":"online"}, retained ("offline" on stop or as the will)
    bridge/devices                the coordinator and every sensor, retained
    <friendly name>/availability  {"state":"online"} or {"state":"offline"}, retained
    <friendly name>               the sensor's state, e.g. {"battery":97,"humidity":48.21,...}

Kinds (Aqara models, as Zigbee2MQTT's definitions name them): ``climate`` (temperature, humidity,
pressure), ``contact`` (contact: true when closed) and ``occupancy`` (occupancy, illuminance);
each also reports battery (draining slowly), voltage (mV) and linkquality. A sensor with a Dead
fault, or a flat battery, goes offline and stops publishing its state.

Errors raised here extend Sentio's tree (``sentio.errors``)::

    SentioError
    └── ZigbeePublishError   the broker could not be reached when the publisher started
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import aiomqtt
from sentio.connectors.mqtt.session import exit_client

from sentio.errors import SentioError

from .faults import FaultSet, FaultyDevice
from .signals import clamp, daily, noisy, walk

Kind = Literal["climate", "contact", "occupancy"]
KINDS: tuple[Kind, ...] = ("climate", "contact", "occupancy")
COORDINATOR_IEEE = "0x00124b0000000000"
EMPTY_BATTERY_MV = 2700.0
MV_PER_PERCENT = 3.0
DOOR_OPENS_PER_S = 1 / 600
DOOR_CLOSES_PER_S = 1 / 20
MOTION_PER_S = 1 / 120
OCCUPANCY_TIMEOUT_S = 90.0
log = logging.getLogger("sentio.simulate")


class ZigbeePublishError(SentioError):
    """Raise when the publisher cannot reach its MQTT broker at start."""


@dataclass(frozen=True, slots=True)
class Model:
    """A Zigbee device model as Zigbee2MQTT's device definitions describe it."""

    model: str
    vendor: str
    description: str
    model_id: str
    metrics: tuple[str, ...]


COMMON = ("battery", "voltage", "linkquality")
MODELS: dict[Kind, Model] = {
    "climate": Model(
        "WSDCGQ11LM",
        "Aqara",
        "Temperature, humidity and pressure sensor",
        "lumi.weather",
        ("temperature", "humidity", "pressure", *COMMON),
    ),
    "contact": Model(
        "MCCGQ11LM", "Aqara", "Door and window sensor", "lumi.sensor_magnet.aq2", COMMON
    ),
    "occupancy": Model(
        "RTCGQ11LM",
        "Aqara",
        "Human body movement and illuminance sensor",
        "lumi.sensor_motion.aq2",
        ("illuminance", *COMMON),
    ),
}
DECIMALS = {"temperature": 2, "humidity": 2, "pressure": 1}


def _chance(rng: random.Random, rate_per_s: float, dt_s: float) -> bool:
    return rng.random() < 1.0 - math.exp(-rate_per_s * dt_s)


class ZigbeeSensor(FaultyDevice):
    """One battery-powered Zigbee sensor's state and faults, advanced in simulated time."""

    def __init__(
        self,
        name: str,
        kind: Kind,
        *,
        index: int = 1,
        seed: int = 0,
        noise: bool = True,
        drain_per_h: float = 0.5,
        clock_s: float = 12 * 3600.0,
    ) -> None:
        self.name = name
        self.kind = kind
        self.model = MODELS[kind]
        self.ieee_address = f"0x00158d{0x1A2B0000 + index:010x}"
        self.network_address = 0x1000 + index
        self.drain_per_h = drain_per_h
        self.clock_s = clock_s
        self.elapsed_s = 0.0
        self._rng = random.Random(seed)
        self._noise = noise
        self._offset = self._rng.uniform(-1.0, 1.0)
        self.battery = self._rng.uniform(70.0, 100.0)
        self._linkquality = self._rng.uniform(90.0, 180.0)
        self._pressure = 1013.0 + self._rng.uniform(-8.0, 8.0)
        self.contact = True
        self._last_motion_s = -math.inf
        self.faults = FaultSet(self.model.metrics, wear=False)
        self._values = self._compute()

    @property
    def values(self) -> dict[str, float]:
        """Return the numeric values the sensor reports now, unrounded."""
        return dict(self._values)

    @property
    def occupancy(self) -> bool:
        """Return whether motion was seen within the occupancy timeout."""
        return self.elapsed_s - self._last_motion_s < OCCUPANCY_TIMEOUT_S

    @property
    def online(self) -> bool:
        """Return whether the sensor is reachable: not dead and its battery not flat."""
        return not self.faults.dead and self.battery > 0.0

    def advance(self, dt_s: float = 1.0) -> dict[str, float]:
        """Advance simulated time by ``dt_s`` seconds and return the new values."""
        self.elapsed_s += dt_s
        self.battery = max(0.0, self.battery - self.drain_per_h * dt_s / 3600.0)
        rng = self._rng if self._noise else None
        self._linkquality = walk(rng, self._linkquality, 2.0, 30.0, 230.0)
        self._pressure = walk(rng, self._pressure, 0.02, 980.0, 1040.0)
        if self.kind == "contact":
            rate = DOOR_OPENS_PER_S if self.contact else DOOR_CLOSES_PER_S
            if _chance(self._rng, rate, dt_s):
                self.contact = not self.contact
        if self.kind == "occupancy" and _chance(self._rng, MOTION_PER_S, dt_s):
            self._last_motion_s = self.elapsed_s
        self._values = self._compute()
        return self.values

    def _compute(self) -> dict[str, float]:
        rng = self._rng if self._noise else None
        t = self.clock_s + self.elapsed_s
        temperature = daily(t, 21.5, 1.5, peak_hour=16.0) + self._offset
        true = {
            "temperature": temperature,
            "humidity": clamp(45.0 - 2.0 * (temperature - 21.5) + 3.0 * self._offset, 0, 100),
            "pressure": self._pressure,
            "illuminance": max(0.0, daily(t, 150.0, 250.0, peak_hour=13.0)),
            "battery": self.battery,
            "voltage": EMPTY_BATTERY_MV + MV_PER_PERCENT * self.battery,
            "linkquality": self._linkquality,
        }
        sigma = {"temperature": 0.05, "humidity": 0.3, "pressure": 0.05, "voltage": 2.0}
        values = {m: noisy(rng, true[m], sigma.get(m, 0.0)) for m in self.model.metrics}
        return self.faults.apply(values, self.elapsed_s, self._rng, {})

    def payload(self) -> dict[str, object]:
        """Return the state message, rounded as Zigbee2MQTT rounds it."""
        state: dict[str, object] = {}
        for metric, value in self._values.items():
            digits = DECIMALS.get(metric)
            state[metric] = round(value, digits) if digits is not None else round(value)
        if self.kind == "contact":
            state["contact"] = self.contact
        if self.kind == "occupancy":
            state["occupancy"] = self.occupancy
        return dict(sorted(state.items()))

    def entry(self) -> dict[str, object]:
        """Return the sensor's entry in ``bridge/devices``."""
        model = self.model
        return {
            "ieee_address": self.ieee_address,
            "type": "EndDevice",
            "network_address": self.network_address,
            "supported": True,
            "disabled": False,
            "friendly_name": self.name,
            "definition": {
                "model": model.model,
                "vendor": model.vendor,
                "description": model.description,
                "supports_ota": False,
            },
            "power_source": "Battery",
            "model_id": model.model_id,
            "manufacturer": "LUMI",
            "interview_completed": True,
            "interviewing": False,
        }


def sensors(count: int, *, seed: int = 0, clock_s: float = 12 * 3600.0) -> list[ZigbeeSensor]:
    """Return ``count`` sensors cycling through the kinds: climate-1, contact-2, occupancy-3, …."""
    return [
        ZigbeeSensor(
            f"{KINDS[(i - 1) % len(KINDS)]}-{i}",
            KINDS[(i - 1) % len(KINDS)],
            index=i,
            seed=seed * 100 + i,
            clock_s=clock_s,
        )
        for i in range(1, count + 1)
    ]


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


ONLINE = _json({"state": "online"})
OFFLINE = _json({"state": "offline"})
COORDINATOR = {
    "ieee_address": COORDINATOR_IEEE,
    "type": "Coordinator",
    "network_address": 0,
    "supported": True,
    "disabled": False,
    "friendly_name": "Coordinator",
    "definition": None,
    "interview_completed": True,
    "interviewing": False,
}


class ZigbeePublisher:
    """Publish sensors' states, availability and bridge topics to one MQTT broker."""

    def __init__(
        self,
        sensors: Iterable[ZigbeeSensor],
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        base_topic: str = "zigbee2mqtt",
        username: str | None = None,
        password: str | None = None,
        advance_every_s: float | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.sensors = {s.name: s for s in sensors}
        self.host = host
        self.port = port
        self.base_topic = base_topic
        self.username = username
        self.password = password
        self.advance_every_s = advance_every_s
        self.timeout_s = timeout_s
        self._client: aiomqtt.Client | None = None
        self._available: dict[str, bool] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Connect and publish the bridge topics and every sensor; raise ZigbeePublishError."""
        self._stopping.clear()
        try:
            await self._connect()
        except aiomqtt.MqttError as exc:
            await self._drop()
            raise ZigbeePublishError(f"cannot publish to {self.host}:{self.port}: {exc}") from exc
        if self.advance_every_s:
            self._ticker = asyncio.create_task(self._tick(self.advance_every_s))

    async def publish(self) -> None:
        """Publish availability where it changed, and the state of every online sensor."""
        client = self._client
        if client is None:
            return
        for name, sensor in self.sensors.items():
            online = sensor.online
            if self._available.get(name) != online:
                await self._send(f"{name}/availability", ONLINE if online else OFFLINE, True)
                self._available[name] = online
            if online:
                await self._send(name, _json(sensor.payload()))

    async def stop(self) -> None:
        """Stop the ticker, mark the bridge offline and disconnect; safe to call twice."""
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._send("bridge/state", OFFLINE, True)
        await self._drop()

    async def _connect(self) -> None:
        will = aiomqtt.Will(f"{self.base_topic}/bridge/state", OFFLINE, qos=1, retain=True)
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            will=will,
            timeout=self.timeout_s,
        )
        await client.__aenter__()
        self._client = client
        self._available.clear()
        devices = [COORDINATOR, *(s.entry() for s in self.sensors.values())]
        await self._send("bridge/state", ONLINE, True)
        await self._send("bridge/devices", _json(devices), True)
        await self.publish()

    async def _send(self, topic: str, payload: bytes, retain: bool = False) -> None:
        assert self._client is not None
        await self._client.publish(f"{self.base_topic}/{topic}", payload, qos=1, retain=retain)

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await exit_client(client)

    async def _tick(self, every_s: float) -> None:
        down = False
        # asyncio.wait_for in Python 3.11, used by aiomqtt, can swallow a cancellation
        while not self._stopping.is_set():
            await asyncio.sleep(every_s)
            for sensor in self.sensors.values():
                sensor.advance(every_s)
            try:
                if self._client is None:
                    await self._connect()
                await self.publish()
            except aiomqtt.MqttError as exc:
                await self._drop()
                if not down:
                    log.warning("lost the broker %s:%s (%s); retrying", self.host, self.port, exc)
                down = True
            else:
                if down:
                    log.info("publishing to %s:%s again", self.host, self.port)
                down = False

    async def __aenter__(self) -> ZigbeePublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
