"""Browse paths and browse-based discovery against a real in-process asyncua server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sentio.connectors.contract import Event, Reading, Severity
from sentio.connectors.opcua import OpcuaConnector

from .opcua_server import (
    LINE,
    URI,
    OpcuaServer,
    errors,
    make_connector,
    opcua_server,
    poll,
    poll_until,
    readings,
)

__all__ = ["make_connector", "opcua_server"]


def pump(nodes: dict[str, str], name: str = "pump-1") -> dict[str, Any]:
    return {"name": name, "nodes": [{"name": m, "path": p} for m, p in nodes.items()]}


def line(browse: dict[str, Any], name: str = "line-1", **extra: Any) -> dict[str, Any]:
    return {"name": name, "browse": browse, **extra}


async def test_browse_paths_resolve_by_index_and_by_alias(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    index = opcua_server.index
    connector = make_connector(
        opcua_server.endpoint,
        [
            pump(
                {
                    "temperature": "Objects/t:Line1/t:Pump1/t:Temperature",
                    "winding": "Objects/t:Line1/t:Pump2/t:Motor/t:WindingTemperature",
                }
            ),
            pump({"speed": f"Objects/{index}:Line1/{index}:Pump1/{index}:Speed"}, "by-index"),
            pump({"flow": "Objects/t:Line1/t:Pump9/t:Flow"}, "pump-9"),
        ],
        namespaces={"t": URI},
    )
    samples = await poll(connector)
    got = readings(samples)
    assert got["speed"].value == LINE["Pump1"]["Speed"]
    assert got["temperature"].value == LINE["Pump1"]["Temperature"]
    assert got["winding"].value == LINE["Pump2/Motor"]["WindingTemperature"]
    assert got["temperature"].attributes == {"browse_path": "Objects/t:Line1/t:Pump1/t:Temperature"}
    [missing] = errors(samples)
    assert missing.device == "pump-9"
    assert missing.attributes["error"] == "browse"
    assert "Objects/t:Line1/t:Pump9/t:Flow" in missing.body
    assert "BadNoMatch" in missing.body

    # after a restart that moves the namespace, the alias resolves again; the old index cannot
    await opcua_server.stop()
    await poll_until(connector, lambda s: len(errors(s)) == 3)
    await opcua_server.start(extra_namespaces=("urn:sentio:shift",))
    await opcua_server.node("Pump1/Temperature").write_value(41.0)
    back = await poll_until(connector, lambda s: "temperature" in readings(s))
    assert readings(back)["temperature"].value == 41.0
    assert {(e.device, e.attributes["error"]) for e in errors(back)} == {
        ("by-index", "browse"),
        ("pump-9", "browse"),
    }


async def test_discovery_finds_numeric_variables_by_glob(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    connector = make_connector(
        opcua_server.endpoint,
        [
            line({"root": "Objects/t:Line1", "include": ["*Temperature*"], "unit": "Cel"}),
            line(
                {"root": f"nsu={URI};s=Line1.Pump1.Speed", "max_depth": 1},
                "nothing-below-a-variable",
            ),
            line({"root": "Objects/t:Line1", "exclude": ["*Temperature*"], "max_depth": 2}, "rest"),
        ],
        namespaces={"t": URI},
    )
    samples = await poll(connector)
    assert not errors(samples)
    by_device: dict[str, dict[str, Any]] = {}
    for sample in samples:
        if isinstance(sample, Reading):
            by_device.setdefault(sample.device, {})[sample.metric] = sample.value
    assert by_device["line-1"] == {
        "pump1_outlet_temperature": 45.5,
        "pump1_temperature": 40.0,
        "pump2_motor_winding_temperature": 70.0,
        "pump2_temperature": 38.0,
    }
    # the string Label, the SerialNumber properties and anything deeper than 2 are left out
    assert by_device["rest"] == {"pump1_speed": 1450.0, "pump2_speed": 1300.0}
    assert "nothing-below-a-variable" not in by_device
    [note] = [s for s in samples if isinstance(s, Event) and s.device == "nothing-below-a-variable"]
    assert note.severity is Severity.WARN
    assert "found no variables" in note.body
    assert [t.metric for t in connector.targets("line-1")] == sorted(by_device["line-1"])
    temperature = next(t for t in connector.targets("line-1") if t.metric == "pump1_temperature")
    assert temperature.unit == "Cel"
    assert temperature.attributes == {"browse_path": "Objects/t:Line1/t:Pump1/t:Temperature"}
    # a discovered browse_path is a valid path by the connector's own syntax
    node = {"name": "t", "path": temperature.attributes["browse_path"]}
    again = make_connector(
        opcua_server.endpoint, [{"name": "again", "nodes": [node]}], namespaces={"t": URI}
    )
    [reading] = [s for s in await poll(again) if isinstance(s, Reading)]
    assert reading.value == 40.0


async def test_discovery_collisions_and_limits(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    connector = make_connector(
        opcua_server.endpoint,
        [
            {
                "name": "line-1",
                "nodes": [{"name": "pump1_speed", "path": "Objects/t:Line1/t:Pump2/t:Speed"}],
                "browse": {"root": "Objects/t:Line1", "include": ["*Speed"]},
            },
            line({"root": "Objects/t:Line1", "max_nodes": 2}, "too-many"),
            line({"root": "Objects/t:Nowhere"}, "no-root"),
        ],
        namespaces={"t": URI},
    )
    samples = await poll(connector)
    values = {r.metric: r.value for r in samples if isinstance(r, Reading) and r.device == "line-1"}
    assert values == {"pump1_speed": 1300.0, "pump2_speed": 1300.0}
    [warning] = [s for s in samples if isinstance(s, Event) and s.severity is Severity.WARN]
    assert "t:Pump1/t:Speed would be metric pump1_speed, which is taken" in warning.body
    failures = {e.device: e for e in errors(samples)}
    assert set(failures) == {"too-many", "no-root"}
    assert "more than max_nodes 2" in failures["too-many"].body
    assert "BadNoMatch" in failures["no-root"].body
    # the note is reported once per connect, the failures every poll
    again = await poll(connector)
    assert not [s for s in again if isinstance(s, Event) and s.severity is Severity.WARN]
    assert {e.device for e in errors(again)} == {"too-many", "no-root"}
