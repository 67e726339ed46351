"""Property-based fuzzing (hypothesis) of every decoder and parser of outside input.

The targets: the connectors' decoders, the config loader, the PromQL/LogsQL quoting of values,
the bench's OTLP sink and the spool's record reader. Each names the documented errors it may
raise; anything else escaping is a crash. The unit tests run every target on UNIT_EXAMPLES
inputs (``tests/unit/test_fuzz.py``); ``sentio bench fuzz`` and ``sentio bench faults`` on
EXAMPLES and report the examples run and the targets that crashed. hypothesis is a
development dependency (``pip install 'sentio-iot[dev]'``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentio.errors import SentioError

EXAMPLES = 2000  # per target in `sentio bench fuzz` and `sentio bench faults`
UNIT_EXAMPLES = 300  # per target in the unit tests


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


def _mutated(st: Any, text: Any) -> Any:
    """Return a strategy of ``text`` with a slice cut, a line doubled or YAML syntax spliced in."""
    splices = st.sampled_from(
        ["&a ", "*a", "*b", "<<: *a\n", "!!binary ", "!!set ", "? ", "---\n", "...\n", "\t", "{",
         "]", ": ", "- ", "|\n", ">-\n", "'", '"', "%YAML 1.1\n", "!!python/name:os.system ",
         "${NOPE}", "${file:\x00}", "\x85", "\ufeff", "\x01", "~: ", "? [a]\n: 1\n"]
    )  # fmt: skip

    def apply(value: tuple[str, int, int, str, int]) -> str:
        doc, at, length, splice, how = value
        at = at % (len(doc) + 1)
        if how == 0:
            return doc[:at] + doc[at + length :]
        if how == 1:
            return doc[:at] + splice + doc[at:]
        lines = doc.splitlines(keepends=True)
        if not lines:
            return splice
        i = at % len(lines)
        return "".join([*lines[:i], splice + lines[i], *lines[i:]])

    return st.tuples(
        text, st.integers(0, 4000), st.integers(0, 20), splices, st.integers(0, 2)
    ).map(apply)


def _connector_configs() -> list[tuple[str, dict[str, Any]]]:
    """Return each built-in connector's sample config, the seeds of the connector entries."""
    from importlib import resources

    import yaml

    out = []
    for name in ("modbus", "opcua", "mqtt", "zigbee2mqtt", "homeassistant"):
        text = resources.files(f"sentio.connectors.{name}").joinpath("sample.yaml").read_text()
        out.append((name, yaml.safe_load(text.replace("${", "$_{"))))
    return out


def _config() -> Target:
    import yaml

    from sentio.collectors.registry import build
    from sentio.config import ConfigFileError, ConnectorInstanceConfig, load, parse
    from sentio.errors import ConfigError

    st = _st()
    keys = st.sampled_from(
        ["service", "stack", "collector", "connectors", "telemetry", "ai", "name", "type",
         "queue_limit", "max_batch", "port", "endpoint", "headers", "config", "report",
         "queries", "promql", "shard", "count", "member", "tls", "ca_file", "metrics", "logs",
         "victoriametrics", "victorialogs", "cluster", "retention", "devices", "mode", "<<"]
    ) | st.text(max_size=6)  # fmt: skip
    scalars = (
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
        | st.sampled_from(["${HOME}", "${NOPE_NOT_SET}", "${X:-1}", "${file:/nonexistent}",
                           "${file:/}", "${file:}", "${}", "30d", "1/2", "http://u:p@h:1/x",
                           "mqtt://h", "opc.tcp://h:4840", "every_poll", "on_change"])
    )  # fmt: skip
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )
    seeds = _connector_configs()

    def connector(value: tuple[int, str, dict[str, Any], list[str], Any]) -> dict[str, Any]:
        index, name, changes, dropped, report = value
        kind, seed = seeds[index % len(seeds)]
        config = {k: v for k, v in seed.items() if k not in dropped}
        config.update(changes)
        entry: dict[str, Any] = {"name": name, "type": kind, "config": config}
        if report is not None:
            entry["report"] = report
        return entry

    seed_keys = sorted({k for _, seed in seeds for k in seed})
    connectors = st.tuples(
        st.integers(0, 10),
        st.sampled_from(["a", "b-1", "x.y"]) | st.text(max_size=6),
        st.dictionaries(st.sampled_from(seed_keys) | keys, values, max_size=3),
        st.lists(st.sampled_from(seed_keys), max_size=3),
        st.none() | values,
    ).map(connector)
    structured = st.fixed_dictionaries(
        {},
        optional={
            "service": st.dictionaries(st.sampled_from(["name", "instance_id", "x"]), scalars),
            "collector": st.dictionaries(keys, values, max_size=4),
            "stack": st.dictionaries(keys, values, max_size=3),
            "telemetry": st.dictionaries(keys, values, max_size=3),
            "ai": st.dictionaries(keys, values, max_size=3),
            "connectors": st.lists(connectors, max_size=3) | values,
        },
    )
    dumped = st.tuples(structured | st.dictionaries(keys, values, max_size=5), st.booleans()).map(
        lambda t: yaml.safe_dump(t[0], default_flow_style=t[1], allow_unicode=True)
    )
    texts = st.one_of(
        dumped,
        _mutated(st, dumped),
        st.text(max_size=80),
        st.text(alphabet=":-[]{}&*!|>'\"%@`#?,<~$ \n\tab1", max_size=60),
    )
    documents = st.one_of(
        texts.map(lambda t: ("text", t)),
        st.one_of(texts.map(lambda t: t.encode(errors="surrogatepass")), st.binary(max_size=60))
        .map(lambda b: ("file", b)),
    )  # fmt: skip

    def issues_ok(exc: ConfigFileError, text: str, file: str) -> None:
        assert exc.issues, "a ConfigFileError without issues"
        lines = text.count("\n") + text.count("\r") + 2
        form = re.compile(re.escape(file) + r":(?P<line>[0-9]+): [^\n]+: [^\n]+")
        for issue in exc.issues:
            found = form.fullmatch(str(issue))
            assert found is not None, f"not file:line: key: reason: {str(issue)!r}"
            assert 1 <= int(found["line"]) <= lines, f"line out of the text: {str(issue)!r}"

    def check(value: tuple[str, Any]) -> None:
        how, document = value
        with tempfile.TemporaryDirectory(prefix="sentio-fuzz-config-") as root:
            path = Path(root) / "fuzz.yaml"
            if how == "text":
                text, file = document, "fuzz.yaml"
            else:
                text, file = document.decode(errors="replace"), str(path)
                path.write_bytes(document)
            try:
                config = parse(text, file) if how == "text" else load(path)
            except ConfigFileError as exc:
                issues_ok(exc, text, file)
                return
        for index, instance in enumerate(config.connectors):
            assert isinstance(instance, ConnectorInstanceConfig)
            with contextlib.suppress(ConfigError):
                build(instance, f"connectors[{index}]")

    return Target("config loader", lambda: documents, check)


def _otlp_sink() -> Target:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from sentio.bench.fleet import SinkRejected, decode_export

    st = _st()

    def export(value: tuple[str, int, int, str]) -> tuple[str, bytes, int]:
        kind, resources, items, name = value
        message: Any
        if kind == "traces":
            message = ExportTraceServiceRequest()
            for _ in range(resources):
                scope = message.resource_spans.add().scope_spans.add()
                for i in range(items):
                    span = scope.spans.add(name=name, trace_id=bytes(16), span_id=bytes(8))
                    span.attributes.add(key="i").value.int_value = i
        else:
            message = ExportLogsServiceRequest()
            for _ in range(resources):
                scope = message.resource_logs.add().scope_logs.add()
                for _ in range(items):
                    scope.log_records.add().body.string_value = name
        return kind, message.SerializeToString(), resources * items

    exports = st.tuples(
        st.sampled_from(["traces", "logs"]), st.integers(0, 3), st.integers(0, 4),
        st.text(max_size=12),
    ).map(export)  # fmt: skip

    def mutate(value: tuple[tuple[str, bytes, int], int, int, bytes, int]) -> tuple[str, bytes]:
        (kind, body, _), at, how, junk, bit = value
        at = at % (len(body) + 1)
        if how == 0:
            return kind, body[:at]
        if how == 1:
            return kind, body[:at] + junk + body[at:]
        if how == 2 and body:
            flipped = bytearray(body)
            flipped[at % len(body)] ^= 1 << (bit % 8)
            return kind, bytes(flipped)
        return kind, body + junk

    mutated = st.tuples(
        exports, st.integers(0, 1 << 16), st.integers(0, 3), st.binary(max_size=12),
        st.integers(0, 7),
    ).map(mutate)  # fmt: skip
    raw = st.tuples(st.sampled_from(["traces", "logs"]), st.binary(max_size=200))
    nested = st.tuples(st.sampled_from(["traces", "logs"]), st.integers(1, 20_000)).map(
        lambda t: (t[0], b"\x0a\x7f" * t[1])  # field 1, length-delimited, deeper and deeper
    )
    encodings = st.sampled_from(["identity", "", "gzip", "GZIP", "deflate", "x-gzip", "br"]) | (
        st.text(max_size=8)
    )

    def wrap(value: tuple[tuple[str, bytes], str, bool]) -> tuple[str, bytes, str, int | None]:
        (kind, body), encoding, compress = value
        name = encoding.strip().lower()
        if compress and name in ("gzip", "x-gzip"):
            body = gzip.compress(body)
        elif compress and name == "deflate":
            body = zlib.compress(body)
        return kind, body, encoding, None

    def packed(value: tuple[tuple[str, bytes, int], str]) -> tuple[str, bytes, str, int | None]:
        (kind, body, count), encoding = value
        if encoding == "gzip":
            body = gzip.compress(body)
        elif encoding == "deflate":
            body = zlib.compress(body)
        return kind, body, encoding, count

    exact = st.tuples(exports, st.sampled_from(["identity", "gzip", "deflate"])).map(packed)
    bodies = st.one_of(exact, st.tuples(mutated | raw | nested, encodings, st.booleans()).map(wrap))

    def check(value: tuple[str, bytes, str, int | None]) -> None:
        kind, body, encoding, want = value
        try:
            got = decode_export(kind, body, encoding)
        except SinkRejected as exc:
            assert want is None, f"a valid {kind} export was rejected: {exc}"
            assert str(exc)
            return
        assert got >= 0
        if want is not None:
            assert got == want, f"{got} items decoded, {want} sent"

    return Target("otlp sink decoding", lambda: bodies, check)


ADVERSARIAL = [
    '"', "\\", '"}', '"} or vector(1) #', '\\"', "\n", "\r", "`", "'", '{x=~".*"}', "| delete",
    "\u2028", "\x00", "\x7f", "é", "😀", " ", "", "\\u0041", "%22", "\\x41", "${HOME}",
]  # fmt: skip


def query_values() -> Any:
    """Return a strategy of label and field values that try to break out of their literal."""
    st = _st()
    pieces = st.sampled_from(ADVERSARIAL) | st.text(max_size=4)
    return st.one_of(
        st.text(max_size=40), st.lists(pieces, max_size=8).map("".join),
        st.text(st.characters(codec="utf-8"), max_size=20),
    )  # fmt: skip


def _queries() -> Target:
    import ast

    from sentio.stack.query import PROMQL_NAME, exact, quote, selector, stream_filter

    st = _st()
    literal = r'"(?:[^"\\\n\r]|\\.)*"'
    promql = re.compile(rf"m\{{l=(?P<a>{literal}), k=(?P<b>{literal})\}}")
    logsql = re.compile(rf"\{{service\.name=(?P<a>{literal})\}} trace_id:=(?P<b>{literal})")
    values = query_values()
    odd = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)  # lone surrogates
    names = st.sampled_from(["l", "service.name", "a:b", "_x"]) | st.text(max_size=6)

    def check(value: tuple[str, str, str]) -> None:
        a, b, name = value
        try:
            quoted = quote(a)
        except ValueError:
            assert any("\ud800" <= c <= "\udfff" for c in a), f"{a!r} refused"
            return
        assert ast.literal_eval(quoted) == a, f"{quoted} does not read back as {a!r}"
        for pattern, built in (
            (promql, selector("m", {"l": a, "k": b})),
            (logsql, f"{stream_filter({'service.name': a})} {exact('trace_id', b)}"),
        ):
            found = pattern.fullmatch(built)
            assert found is not None, f"{built!r} is not one selector of two literals"
            assert (ast.literal_eval(found["a"]), ast.literal_eval(found["b"])) == (a, b)
        built = selector("", {name: a})
        if PROMQL_NAME.fullmatch(name):
            assert built == f"{{{name}={quoted}}}"
        else:
            found = re.fullmatch(rf"\{{(?P<a>{literal})=(?P<b>{literal})\}}", built)
            assert found is not None, f"{built!r} is not one quoted name and one literal"
            assert (ast.literal_eval(found["a"]), ast.literal_eval(found["b"])) == (name, a)

    return Target(
        "promql and logsql quoting", lambda: st.tuples(values | odd, values, names), check
    )


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
    return [
        _mqtt(), _zigbee2mqtt(), _homeassistant(), _modbus(), _config(), _queries(), _otlp_sink(),
        _spool(),
    ]  # fmt: skip


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


@dataclass(frozen=True)
class FuzzReport:
    """What ``sentio bench fuzz`` prints: the examples each target ran, the targets that crashed."""

    fuzz_examples: int
    fuzz_crashes: int
    fuzz_targets: dict[str, int]
    fuzz_crashed: list[str]


def run_all(examples: int, progress: Callable[[str], None]) -> FuzzReport:
    """Run every target on ``examples`` inputs; one that lets out an undocumented error crashed."""
    ran: dict[str, int] = {}
    crashed: list[str] = []
    for target in targets():
        try:
            ran[target.name] = run(target, examples)
        except Exception as exc:  # an undocumented error escaping is what is counted here
            ran[target.name] = 0
            crashed.append(target.name)
            progress(f"fuzz: {target.name} crashed: {type(exc).__name__}: {exc}"[:2000])
        else:
            progress(f"fuzz: {target.name}: {ran[target.name]} examples, no crash")
    return FuzzReport(sum(ran.values()), len(crashed), ran, crashed)
