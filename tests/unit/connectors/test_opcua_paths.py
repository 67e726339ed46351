from __future__ import annotations

import pytest
from asyncua import ua
from sentio.connectors.opcua import (
    BrowsePathSpec,
    OpcuaNamespaceError,
    PathElement,
    metric_name,
    parse_browse_path,
)
from sentio.connectors.opcua.browse import Namespaces
from sentio.connectors.opcua.paths import is_node_id


@pytest.mark.parametrize(
    ("text", "elements"),
    [
        ("Objects", (PathElement("Objects"),)),
        (
            "Objects/2:Line1/2:Pump1/2:Temperature",
            (
                PathElement("Objects"),
                PathElement("Line1", namespace_index=2),
                PathElement("Pump1", namespace_index=2),
                PathElement("Temperature", namespace_index=2),
            ),
        ),
        (
            "Objects/plant:Line 1/0:Server",
            (
                PathElement("Objects"),
                PathElement("Line 1", alias="plant"),
                PathElement("Server", namespace_index=0),
            ),
        ),
        ("Objects/0:Motor:Speed", (PathElement("Objects"), PathElement("Motor:Speed", 0))),
        ("Types/x_y-z:a.b", (PathElement("Types"), PathElement("a.b", alias="x_y-z"))),
    ],
)
def test_browse_path_parsing(text: str, elements: tuple[PathElement, ...]) -> None:
    spec = parse_browse_path(text)
    assert spec == BrowsePathSpec(text, elements)
    assert not is_node_id(text)


def test_aliases_of_a_path() -> None:
    assert parse_browse_path("Objects/a:X/2:Y/b:Z/a:W").aliases == {"a", "b"}


@pytest.mark.parametrize(
    "text",
    ["", "/Objects", "Objects/", "Objects//x", " Objects", "Objects/x ", "Objects/70000:x", "2:"],
)
def test_bad_browse_paths_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="browse path"):
        parse_browse_path(text)


def test_namespaces_resolve_indexes_uris_and_aliases() -> None:
    namespaces = Namespaces(
        ["http://opcfoundation.org/UA/", "urn:server", "urn:plant"], {"plant": "urn:plant"}
    )
    path = namespaces.relative_path(parse_browse_path("Objects/plant:Line1/5:Pump1"))
    assert [(e.TargetName.Name, e.TargetName.NamespaceIndex) for e in path.Elements] == [
        ("Objects", 0),
        ("Line1", 2),
        ("Pump1", 5),
    ]
    assert all(not e.IsInverse and e.IncludeSubtypes for e in path.Elements)
    assert path.Elements[0].ReferenceTypeId == ua.NodeId(ua.ObjectIds.HierarchicalReferences)
    missing = Namespaces(["http://opcfoundation.org/UA/"], {"plant": "urn:plant"})
    with pytest.raises(OpcuaNamespaceError, match=r"urn:plant.*alias plant"):
        missing.relative_path(parse_browse_path("Objects/plant:Line1"))


@pytest.mark.parametrize(
    ("names", "metric"),
    [
        (("Pump1", "Temperature"), "pump1_temperature"),
        (("Pump2", "OutletTemperature"), "pump2_outlet_temperature"),
        (("PT100Temp",), "pt100_temp"),
        (("Line 1", "Flow (m3/h)"), "line_1_flow_m3_h"),
        (("HTTPServer",), "httpserver"),
        (("1st", "stage"), "_1st_stage"),
        (("Température",), "temp_rature"),
        (("--",), "value"),
        (("a__b",), "a_b"),
    ],
)
def test_metric_names_are_promql_safe(names: tuple[str, ...], metric: str) -> None:
    assert metric_name(names) == metric
