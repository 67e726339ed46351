"""Property-based fuzzing (hypothesis) of every decoder that takes bytes from outside.

Each target names the documented errors it may raise; anything else escaping is a crash.
The test suite runs every target (``tests/unit/test_fuzz.py``) and ``sentio bench faults``
reports the examples run and the targets that crashed. hypothesis is a development
dependency (``pip install 'sentio-iot[dev]'``).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentio.errors import SentioError

EXAMPLES = 2000


class FuzzError(SentioError):
    """Raise when the fuzzing cannot run (hypothesis is not installed)."""


@dataclass(frozen=True)
class Target:
    """One decoder: how to generate its input, how to feed it, what it may raise."""

    name: str
    strategy: Callable[[], Any]
    check: Callable[[Any], None]
    allowed: tuple[type[BaseException], ...] = ()


def _st() -> Any:
    try:
        from hypothesis import strategies
    except ImportError as exc:
        raise FuzzError("fuzzing needs hypothesis: pip install 'sentio-iot[dev]'") from exc
    return strategies


def _json_values() -> Any:
    st = _st()
    scalars = (
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    )  # fmt: skip
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


def _payloads() -> Any:
    """Return bytes as brokers deliver them: JSON, near-JSON, numbers, garbage, deep nesting."""
    st = _st()
    as_json = _json_values().map(lambda v: json.dumps(v, allow_nan=True).encode())
    return st.one_of(
        as_json,
        as_json.map(lambda b: b[: len(b) // 2]),
        st.binary(max_size=64),
        st.text(max_size=40).map(str.encode),
        st.floats().map(lambda f: repr(f).encode()),
        st.integers(1, 50_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(1, 50_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        st.integers(4000, 6000).map(lambda n: b"9" * n),
    )


def _mqtt() -> Target:
    from sentio.connectors.mqtt.config import Subscription
    from sentio.connectors.mqtt.decode import Route, decode_message
    from sentio.connectors.mqtt.paths import PathError, parse_path, resolve

    st = _st()
    routes = (
        Route.compile(Subscription(topic="m/{device}/{metric}", unit="Cel")),
        Route.compile(
            Subscription.model_validate(
                {
                    "topic": "j/{device}",
                    "payload": "json",
                    "fields": [
                        {"path": "a", "metric": "a"},
                        {"path": "b.c[0]", "metric": "c"},
                        {"path": "[1].d", "metric": "d"},
                    ],
                }
            )
        ),
    )
    topics = st.sampled_from(["m/dev/temp", "j/dev", "j/", "m/x", "other"]) | st.text(max_size=20)
    paths = st.text(alphabet="ab.[]0123456789", max_size=12) | st.text(max_size=12)

    def check(value: tuple[str, bytes, str, Any]) -> None:
        topic, payload, path, document = value
        decode_message(routes, topic, payload, 1)
        try:
            keys = parse_path(path)
        except ValueError:
            return
        with contextlib.suppress(PathError):
            resolve(document, keys)

    return Target(
        "mqtt json paths and payloads", lambda: st.tuples(topics, _payloads(), paths,
        _json_values()), check,
    )  # fmt: skip


def _zigbee2mqtt() -> Target:
    from sentio.connectors.zigbee2mqtt.config import Zigbee2MqttConfig
    from sentio.connectors.zigbee2mqtt.decode import Zigbee2MqttDecoder

    st = _st()
    decoder = Zigbee2MqttDecoder(
        Zigbee2MqttConfig.model_validate(
            {"broker": {"host": "127.0.0.1"}, "include": ["kitchen/*", "*"],
             "exclude": ["*/test-*"]}
        )
    )  # fmt: skip
    suffixes = st.sampled_from(
        ["bridge/devices", "bridge/event", "bridge/logging", "bridge/state", "kitchen/climate",
         "kitchen/climate/availability", "kitchen/test-1", "x/set", "x/get", ""]
    ) | st.text(max_size=20)  # fmt: skip
    topics = suffixes.map(lambda s: f"zigbee2mqtt/{s}") | st.text(max_size=30)
    states = st.dictionaries(
        st.sampled_from(["temperature", "humidity", "battery", "linkquality", "state",
                         "voltage", "update", "color", "x"]) | st.text(max_size=8),
        _json_values(), max_size=6,
    ).map(lambda d: json.dumps(d).encode())  # fmt: skip

    def check(value: tuple[str, bytes]) -> None:
        decoder.decode(value[0], value[1], 1)

    return Target("zigbee2mqtt messages", lambda: st.tuples(topics, _payloads() | states), check)


def _homeassistant() -> Target:
    import aiohttp

    from sentio.connectors.homeassistant.api import (
        Change,
        HomeAssistantError,
        Snapshot,
        WebSocketApi,
    )
    from sentio.connectors.homeassistant.config import HomeAssistantConfig
    from sentio.connectors.homeassistant.states import StateTracker

    st = _st()
    config = HomeAssistantConfig.model_validate({"url": "http://127.0.0.1:8123", "token": "t"})
    api = WebSocketApi(config, None)  # type: ignore[arg-type]  # frames only, no connection
    api._subscription = 2
    entity = st.fixed_dictionaries(
        {"entity_id": st.sampled_from(["sensor.t", "binary_sensor.door", "x"])
         | st.text(max_size=12),
         "state": st.sampled_from(["21.5", "on", "unavailable", "unknown", "nan", "1e400"])
         | st.text(max_size=8) | _json_values(),
         "attributes": st.dictionaries(
             st.sampled_from(["unit_of_measurement", "device_class", "state_class",
                              "friendly_name"]), _json_values(), max_size=4) | _json_values(),
         "last_updated": st.sampled_from(["2024-01-01T00:00:00+00:00", "bad"]) | _json_values()},
        optional={"last_reported": _json_values()},
    )  # fmt: skip
    event = st.fixed_dictionaries(
        {"type": st.sampled_from(["event", "result", "pong"]), "id": st.sampled_from([1, 2, 3]),
         "event": st.fixed_dictionaries(
             {"event_type": st.sampled_from(["state_changed", "other"]),
              "data": st.fixed_dictionaries({"entity_id": st.text(max_size=12),
                                             "new_state": entity | _json_values(),
                                             "old_state": entity | st.none()}) | _json_values()}
         ) | _json_values(),
         "success": st.booleans(), "result": st.lists(entity, max_size=3) | _json_values()},
    )  # fmt: skip
    frames = st.one_of(
        event.map(json.dumps), st.lists(event, max_size=3).map(json.dumps),
        _payloads().map(lambda b: b.decode(errors="replace")),
    )  # fmt: skip

    def check(frame: str) -> None:
        tracker = StateTracker(config)
        message = aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, frame, None)
        try:
            items = api._items(message, result_of=1)
        except HomeAssistantError:
            return
        for item in items:
            if isinstance(item, Snapshot):
                tracker.snapshot(item.states)
            elif isinstance(item, Change):
                tracker.changed(item.data)

    return Target("home assistant frames", lambda: frames, check)


def _modbus() -> Target:
    from pydantic import ValidationError

    from sentio.connectors.modbus.config import FieldConfig
    from sentio.connectors.modbus.decode import RequestDecoder
    from sentio.connectors.modbus.plan import plan_requests

    st = _st()
    field = st.fixed_dictionaries(
        {"name": st.sampled_from(["a", "b", "c", "d"]),
         "table": st.sampled_from(["holding", "input", "coil"]),
         "address": st.integers(0, 30),
         "type": st.sampled_from(["uint16", "int16", "uint32", "int32", "float32", "float64",
                                  "uint64", "int64", "string", "bit", "bool"]),
         "byte_order": st.sampled_from(["big", "little"]),
         "word_order": st.sampled_from(["big", "little"])},
        optional={"scale": st.floats(), "offset": st.floats(), "length": st.integers(1, 9),
                  "bit": st.integers(0, 15)},
    )  # fmt: skip

    def fields(raw: list[dict[str, Any]]) -> list[FieldConfig]:
        out = []
        for i, data in enumerate(raw):
            try:
                out.append(FieldConfig.model_validate({**data, "name": f"f{i}"}))
            except ValidationError:
                continue
        return out

    def check(value: tuple[list[dict[str, Any]], list[int], list[bool]]) -> None:
        raw, words, bits = value
        for request in plan_requests(fields(raw), max_gap=4):
            count = request.count
            got_words = (words * (count // max(len(words), 1) + 1))[:count] if words else []
            got_bits = (bits * (count // max(len(bits), 1) + 1))[:count] if bits else []
            if request.table in {"coil", "discrete_input"}:
                got_words, got_bits = [], got_bits or [False] * count
            else:
                got_words, got_bits = got_words or [0] * count, []
            RequestDecoder(request.address, request.fields).decode(got_words, got_bits)

    return Target(
        "modbus register decoding",
        lambda: st.tuples(
            st.lists(field, min_size=1, max_size=5),
            st.lists(st.integers(0, 0xFFFF), max_size=40),
            st.lists(st.booleans(), max_size=40),
        ),
        check,
    )


def _config() -> Target:
    from sentio.config import ConfigFileError, parse

    st = _st()
    keys = st.sampled_from(
        ["service", "stack", "collector", "connectors", "telemetry", "ai", "name", "type",
         "queue_limit", "max_batch", "port", "endpoint", "headers", "config", "report"]
    ) | st.text(max_size=6)  # fmt: skip
    values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
        | st.sampled_from(["${HOME}", "${NOPE_NOT_SET}", "${X:-1}", "${file:/nonexistent}"]),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=10,
    )  # fmt: skip
    import yaml

    documents = st.one_of(
        st.dictionaries(keys, values, max_size=5).map(lambda d: yaml.safe_dump(d)),
        st.text(max_size=80),
        st.text(alphabet=":-[]{}&*!|>'\"%@` \n\tab1", max_size=60),
    )

    def check(text: str) -> None:
        try:
            parse(text, "fuzz.yaml")
        except ConfigFileError as exc:
            assert exc.issues and all(str(issue).startswith("fuzz.yaml") for issue in exc.issues)

    return Target("config loader", lambda: documents, check)


def _spool() -> Target:
    from sentio.collectors.spool import HEADER, Spool, SpoolError, scan

    st = _st()
    records = st.lists(st.binary(max_size=20), max_size=4).map(
        lambda bodies: b"".join(HEADER.pack(len(b), zlib.crc32(b)) + b for b in bodies)
    )
    segment = st.one_of(
        st.binary(max_size=80),
        st.tuples(records, st.binary(max_size=12)).map(lambda t: t[0] + t[1]),
        st.tuples(records, st.integers(0, 60)).map(lambda t: t[0][: t[1]]),
    )

    def check(value: tuple[bytes, bytes, int]) -> None:
        first, second, start = value
        found = scan(first, start)
        assert found.end <= max(len(first), start)
        with tempfile.TemporaryDirectory(prefix="sentio-fuzz-spool-") as root:
            read_back(Path(root), first, second)

    def read_back(folder: Path, first: bytes, second: bytes) -> None:
        (folder / f"{0:016d}.seg").write_bytes(first)
        (folder / f"{1:016d}.seg").write_bytes(second)
        try:
            spool = Spool(folder, max_bytes=1 << 20, fsync=False)
            while spool.peek() is not None:
                spool.ack()
            spool.append(b"after")
            assert spool.peek() == b"after"
        except SpoolError:
            pass

    return Target(
        "spool record reader", lambda: st.tuples(segment, segment, st.integers(0, 100)), check
    )


def targets() -> list[Target]:
    """Return every fuzz target."""
    return [_mqtt(), _zigbee2mqtt(), _homeassistant(), _modbus(), _config(), _spool()]


def run(target: Target, examples: int = EXAMPLES) -> int:
    """Run ``target`` on ``examples`` generated inputs; return how many ran.

    Raise whatever undocumented exception the target let out (shrunk to a small input).
    """
    try:
        from hypothesis import HealthCheck, given, settings
    except ImportError as exc:
        raise FuzzError("fuzzing needs hypothesis: pip install 'sentio-iot[dev]'") from exc
    ran = 0

    @settings(
        max_examples=examples, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(target.strategy())
    def one(value: Any) -> None:
        nonlocal ran
        ran += 1
        with contextlib.suppress(*target.allowed):
            target.check(value)

    one()
    return ran
