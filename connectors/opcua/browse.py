"""Find nodes on the server: node ids by namespace, browse paths by translation, and discovery."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from .config import BrowseConfig
from .errors import OpcuaBrowseError, OpcuaError, OpcuaNamespaceError, guard
from .paths import BrowsePathSpec, NodeIdSpec, PathElement
from .values import numeric

BATCH = 100
# asyncua annotates booleans of its structures with a placeholder class, not bool
_FALSE = cast(ua.Boolean, False)


def _ns0(identifier: int) -> ua.NodeId:
    return ua.NodeId(ua.Int32(identifier))


ROOT = _ns0(ObjectIds.RootFolder)
_HIERARCHICAL = _ns0(ObjectIds.HierarchicalReferences)
_HAS_PROPERTY = _ns0(ObjectIds.HasProperty)
_NUMERIC_TYPES = frozenset(
    _ns0(i)
    for i in (
        *range(ObjectIds.Boolean, ObjectIds.Double + 1),
        ObjectIds.Number,
        ObjectIds.Integer,
        ObjectIds.UInteger,
        ObjectIds.Enumeration,
        ObjectIds.Duration,
    )
)


@dataclass(frozen=True, slots=True)
class Found:
    """A variable found by discovery: its browse names below the root, and its node id."""

    names: tuple[str, ...]
    node_id: ua.NodeId
    qualified: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """Return the browse names below the root joined by ``/``."""
        return "/".join(self.names)

    @property
    def browse_path(self) -> str:
        """Return the path below the root in the connector's syntax, namespaces included."""
        return "/".join(self.qualified or self.names)


class Namespaces:
    """The server's namespace array, with the connector's aliases for some of its URIs."""

    def __init__(self, uris: Sequence[str], aliases: Mapping[str, str]) -> None:
        self.uris = list(uris)
        self.aliases = dict(aliases)

    def index(self, uri: str, what: str) -> int:
        """Return the index of ``uri``; raise OpcuaNamespaceError naming ``what`` if absent."""
        try:
            return self.uris.index(uri)
        except ValueError:
            raise OpcuaNamespaceError(f"namespace {uri!r} ({what}) is not on the server") from None

    def node_id(self, spec: NodeIdSpec) -> ua.NodeId:
        """Return the node id of ``spec``, looking an ``nsu=`` URI up in the namespace array."""
        index = spec.namespace_index
        if index is None:
            index = self.index(spec.namespace_uri or "", "nsu=")
        if isinstance(spec.identifier, int):
            return ua.NodeId(ua.Int32(spec.identifier), ua.Int16(index), ua.NodeIdType.Numeric)
        return ua.NodeId(ua.String(spec.identifier), ua.Int16(index), ua.NodeIdType.String)

    def qualified(self, name: ua.QualifiedName) -> str:
        """Return a browse name as a path element: ``alias:name``, ``index:name`` or ``name``."""
        index = name.NamespaceIndex or 0
        if index == 0:
            return name.Name or ""
        uri = self.uris[index] if index < len(self.uris) else None
        aliases = sorted(a for a, u in self.aliases.items() if u == uri)
        return f"{aliases[0] if aliases else index}:{name.Name or ''}"

    def relative_path(self, spec: BrowsePathSpec) -> ua.RelativePath:
        """Return ``spec`` as a relative path from Root over hierarchical references."""
        return ua.RelativePath(Elements=[self._element(e) for e in spec.elements])

    def _element(self, element: PathElement) -> ua.RelativePathElement:
        index = element.namespace_index or 0
        if element.alias is not None:
            index = self.index(self.aliases[element.alias], f"alias {element.alias}")
        return ua.RelativePathElement(
            ReferenceTypeId=_HIERARCHICAL,
            IsInverse=_FALSE,
            TargetName=ua.QualifiedName(element.name, index),
        )


def _local(node_id: ua.NodeId) -> ua.NodeId | None:
    """Return a plain node id, or None for one on another server (asyncua may decode either)."""
    if getattr(node_id, "ServerIndex", 0) or getattr(node_id, "NamespaceUri", None):
        return None
    return ua.NodeId(node_id.Identifier, node_id.NamespaceIndex, node_id.NodeIdType)


async def translate(
    client: Client, specs: Sequence[BrowsePathSpec], namespaces: Namespaces, timeout_s: float
) -> list[ua.NodeId | OpcuaError]:
    """Resolve browse paths to node ids in batched requests; a path that fails gets its error."""
    results: list[ua.NodeId | OpcuaError] = []
    pending: list[tuple[int, ua.BrowsePath]] = []
    for spec in specs:
        try:
            path = ua.BrowsePath(StartingNode=ROOT, RelativePath=namespaces.relative_path(spec))
        except OpcuaNamespaceError as exc:
            results.append(exc)
            continue
        pending.append((len(results), path))
        results.append(OpcuaBrowseError(f"browse path {spec.text!r} was not translated"))
    for start in range(0, len(pending), BATCH):
        chunk = pending[start : start + BATCH]
        answers = await guard(
            client.uaclient.translate_browsepaths_to_nodeids([p for _, p in chunk]),
            f"translating {len(chunk)} browse paths",
            timeout_s,
        )
        for (slot, _), answer in zip(chunk, answers, strict=True):
            targets = [_local(t.TargetId) for t in answer.Targets]
            found = [t for t in targets if t is not None]
            if answer.StatusCode.is_good() and found:
                results[slot] = found[0]
            else:
                results[slot] = OpcuaBrowseError(
                    f"browse path {specs[slot].text!r} matches no node ({answer.StatusCode.name})"
                )
    return results


async def _browse(
    client: Client, nodes: Sequence[ua.NodeId], timeout_s: float
) -> list[ua.BrowseResult]:
    descriptions = [
        ua.BrowseDescription(
            NodeId=node,
            BrowseDirection=ua.BrowseDirection.Forward,
            ReferenceTypeId=_HIERARCHICAL,
            IncludeSubtypes=True,
            NodeClassMask=ua.NodeClass.Object | ua.NodeClass.Variable,
            ResultMask=ua.BrowseResultMask.All,
        )
        for node in nodes
    ]
    params = ua.BrowseParameters(View=ua.ViewDescription(), NodesToBrowse=descriptions)
    results = await guard(client.uaclient.browse(params), "browsing", timeout_s)
    for result in results:
        while result.ContinuationPoint:
            more = await guard(
                client.uaclient.browse_next(
                    ua.BrowseNextParameters(ContinuationPoints=[result.ContinuationPoint])
                ),
                "browsing on",
                timeout_s,
            )
            result.References.extend(more[0].References)
            result.ContinuationPoint = more[0].ContinuationPoint
    return results


async def _numeric_only(client: Client, found: list[Found], timeout_s: float) -> list[Found]:
    kept: list[Found] = []
    for start in range(0, len(found), BATCH):
        chunk = found[start : start + BATCH]
        reads = [
            ua.ReadValueId(NodeId=f.node_id, AttributeId=attribute)
            for f in chunk
            for attribute in (AttributeIds.Value, AttributeIds.DataType)
        ]
        values = await guard(
            client.uaclient.read(ua.ReadParameters(NodesToRead=reads)),
            f"reading {len(chunk)} discovered variables",
            timeout_s,
        )
        for i, candidate in enumerate(chunk):
            value, data_type = values[2 * i], values[2 * i + 1]
            raw = value.Value.Value if value.Value is not None else None
            kind = data_type.Value.Value if data_type.Value is not None else None
            if numeric(raw) is not None or (raw is None and kind in _NUMERIC_TYPES):
                kept.append(candidate)
    return kept


async def discover(
    client: Client,
    root: ua.NodeId,
    browse: BrowseConfig,
    timeout_s: float,
    namespaces: Namespaces | None = None,
) -> list[Found]:
    """Return the numeric variables below ``root`` that ``browse`` selects, sorted by path."""
    names_of = namespaces or Namespaces([], {})
    qualified: dict[tuple[str, ...], tuple[str, ...]] = {(): ()}
    level: list[tuple[ua.NodeId, tuple[str, ...]]] = [(root, ())]
    seen = {root}
    found: list[Found] = []
    for _ in range(browse.max_depth):
        deeper: list[tuple[ua.NodeId, tuple[str, ...]]] = []
        for start in range(0, len(level), BATCH):
            chunk = level[start : start + BATCH]
            results = await _browse(client, [n for n, _ in chunk], timeout_s)
            for (node, names), result in zip(chunk, results, strict=True):
                if node == root and not result.StatusCode.is_good():
                    raise OpcuaBrowseError(f"browse root {browse.root!r}: {result.StatusCode.name}")
                for ref in result.References:
                    child = _local(ref.NodeId)
                    if child is None or child in seen or ref.ReferenceTypeId == _HAS_PROPERTY:
                        continue
                    seen.add(child)
                    path = (*names, ref.BrowseName.Name or "")
                    qualified[path] = (*qualified[names], names_of.qualified(ref.BrowseName))
                    if ref.NodeClass == ua.NodeClass.Variable:
                        found.append(Found(path, child, qualified[path]))
                    else:
                        deeper.append((child, path))
        level = deeper
        if not level:
            break
    selected = [f for f in found if browse.matches(f.path)]
    if len(selected) > browse.max_nodes:
        raise OpcuaBrowseError(
            f"browse below {browse.root!r} matched {len(selected)} variables, more than "
            f"max_nodes {browse.max_nodes}; narrow include/exclude or raise max_nodes"
        )
    kept = await _numeric_only(client, selected, timeout_s)
    return sorted(kept, key=lambda f: f.names)
