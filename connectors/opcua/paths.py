"""Text forms of OPC-UA addresses: node ids, browse paths, and metric names made from paths.

Node ids: ``ns=<index>;i=<number>``, ``ns=<index>;s=<name>``, or ``nsu=<uri>`` for ``ns=<index>``.

Browse paths: names separated by ``/``, starting below the Root folder, each name optionally
prefixed by its namespace: ``Objects/2:Line1/plant:Pump1/plant:Temperature``. The prefix is a
namespace index (``2:``) or an alias from the connector's ``namespaces`` map (``plant:``); a name
without a prefix is in namespace 0. A name that itself contains ``:`` needs an explicit prefix
(``0:Motor:Speed``); a name containing ``/`` cannot be written as a path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NODE_ID = re.compile(r"^(?:ns=(?P<ns>\d+)|nsu=(?P<nsu>[^;]+));(?:i=(?P<i>\d+)|s=(?P<s>.+))$", re.S)
_PREFIX = re.compile(r"^(?:(?P<index>\d+)|(?P<alias>[A-Za-z_][A-Za-z0-9_-]*)):(?P<name>.+)$", re.S)
ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
MAX_NAMESPACE_INDEX = 65535
MAX_NUMERIC_ID = 2**32 - 1


@dataclass(frozen=True, slots=True)
class NodeIdSpec:
    """A parsed node id: a namespace (index or URI) and a numeric or string identifier."""

    identifier: int | str
    namespace_index: int | None = None
    namespace_uri: str | None = None


@dataclass(frozen=True, slots=True)
class PathElement:
    """One browse name of a path: the name and its namespace (index or alias; neither: 0)."""

    name: str
    namespace_index: int | None = None
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class BrowsePathSpec:
    """A parsed browse path from the Root folder."""

    text: str
    elements: tuple[PathElement, ...]

    @property
    def aliases(self) -> set[str]:
        """Return the namespace aliases the path uses."""
        return {e.alias for e in self.elements if e.alias is not None}


def _check_index(index: int, text: str) -> int:
    if index > MAX_NAMESPACE_INDEX:
        raise ValueError(f"{text!r}: namespace index exceeds {MAX_NAMESPACE_INDEX}")
    return index


def parse_node_id(text: str) -> NodeIdSpec:
    """Parse ``ns=<n>;i=<id>``, ``ns=<n>;s=<name>``, or the same with ``nsu=<uri>`` for ``ns=``."""
    match = _NODE_ID.fullmatch(text)
    if match is None:
        raise ValueError(
            f"node id {text!r} is not ns=<n>;i=<id>, ns=<n>;s=<name> or nsu=<uri>;s=<name>"
        )
    identifier: int | str
    if match["i"] is not None:
        identifier = int(match["i"])
        if identifier > MAX_NUMERIC_ID:
            raise ValueError(f"node id {text!r}: numeric identifier exceeds {MAX_NUMERIC_ID}")
    else:
        identifier = match["s"]
    if match["ns"] is not None:
        index = _check_index(int(match["ns"]), f"node id {text}")
        return NodeIdSpec(identifier, namespace_index=index)
    return NodeIdSpec(identifier, namespace_uri=match["nsu"])


def is_node_id(text: str) -> bool:
    """Return whether ``text`` is written as a node id rather than a browse path."""
    return text.startswith(("ns=", "nsu="))


def parse_browse_path(text: str) -> BrowsePathSpec:
    """Parse ``Objects/2:Line1/alias:Pump1``: names below Root, each with an optional prefix."""
    if not text or text != text.strip():
        raise ValueError(f"browse path {text!r} is empty or has surrounding spaces")
    elements: list[PathElement] = []
    for part in text.split("/"):
        if not part:
            raise ValueError(f"browse path {text!r} has an empty name (leading, trailing or //)")
        match = _PREFIX.fullmatch(part)
        if match is None and _PREFIX.fullmatch(f"{part}x"):
            raise ValueError(f"browse path {text!r}: {part!r} has a prefix but no name")
        if match is None:
            elements.append(PathElement(part))
        elif match["index"] is not None:
            index = _check_index(int(match["index"]), f"browse path {text}")
            elements.append(PathElement(match["name"], namespace_index=index))
        else:
            elements.append(PathElement(match["name"], alias=match["alias"]))
    return BrowsePathSpec(text, tuple(elements))


def metric_name(parts: Sequence[str]) -> str:
    """Join browse names into a PromQL-safe snake_case name: pump1_flow_rate for Pump1/FlowRate."""
    text = "_".join(parts)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    if not text:
        return "value"
    return f"_{text}" if text[0].isdigit() else text
