"""Load YAML from its event stream, building the result as the events come.

PyYAML's ``load`` composes the whole node graph first (every node with two marks), then builds
the data from it: for a config of 1,000 devices that graph peaked at 100 MiB for 12 MiB of data.
Here the same parser's events are turned into data directly, with PyYAML's own resolver and
scalar constructors, so a value means what ``yaml.safe_load`` says it means. Anything beyond
plain configs (tags on collections, complex keys, several documents) goes to ``yaml.load``.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import ScalarNode

# libyaml's parser when PyYAML was built with it
LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MERGE = object()  # the pending key of a mapping is `<<`


class _Unusual(Exception):
    """Raise when the text needs PyYAML's full loader."""


class _Mapping:
    """A mapping being built: its dict, a pending key, and the `<<` merges to apply last."""

    __slots__ = ("data", "has_key", "key", "merges")

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.key: Any = None
        self.has_key = False
        self.merges: list[Any] = []


def _collection_tag(event: yaml.CollectionStartEvent, default: str) -> None:
    if event.tag not in (None, "!", default):
        raise _Unusual


def _scalar(loader: Any, event: Any) -> tuple[Any, bool]:
    """Return a scalar's value and whether it is the merge key ``<<``."""
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(ScalarNode, event.value, event.implicit)
    if tag == _MERGE_TAG:
        return None, True
    construct = loader.yaml_constructors.get(tag)
    if construct is None:
        raise _Unusual
    node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    return construct(loader, node), False


def _events(loader: Any) -> Any:
    anchors: dict[str, Any] = {}
    stack: list[_Mapping | list[Any]] = []
    result: Any = None
    documents = 0

    def add(value: Any, merge: bool = False) -> None:
        nonlocal result
        if not stack:
            result = value
            return
        top = stack[-1]
        if isinstance(top, list):
            top.append(value)
        elif not top.has_key:
            if isinstance(value, dict | list):
                raise _Unusual  # a complex key
            top.key, top.has_key = (_MERGE if merge else value), True
        else:
            if top.key is _MERGE:
                top.merges.append(value)
            else:
                top.data[top.key] = value
            top.has_key = False

    while loader.check_event():
        event = loader.get_event()
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _Unusual
        elif isinstance(event, yaml.ScalarEvent):
            value, merge = _scalar(loader, event)
            if event.anchor:
                anchors[event.anchor] = value
            add(value, merge)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise _Unusual
            add(anchors[event.anchor])
        elif isinstance(event, yaml.SequenceStartEvent):
            _collection_tag(event, _SEQ_TAG)
            items: list[Any] = []
            if event.anchor:
                anchors[event.anchor] = items
            add(items)
            stack.append(items)
        elif isinstance(event, yaml.MappingStartEvent):
            _collection_tag(event, _MAP_TAG)
            mapping = _Mapping()
            if event.anchor:
                anchors[event.anchor] = mapping.data
            add(mapping.data)
            stack.append(mapping)
        elif isinstance(event, yaml.SequenceEndEvent):
            stack.pop()
        elif isinstance(event, yaml.MappingEndEvent):
            done = stack.pop()
            assert isinstance(done, _Mapping)
            _merge(done)
    return result


def _merge(mapping: _Mapping) -> None:
    """Apply `<<` merges: their keys, unless the mapping itself has them (YAML 1.1 merge)."""
    for merged in mapping.merges:
        sources = merged if isinstance(merged, list) else [merged]
        for source in sources:
            if not isinstance(source, dict):
                raise _Unusual
            for key, value in source.items():
                mapping.data.setdefault(key, value)


def load_yaml(text: str) -> Any:
    """Return the data of one YAML document, as ``yaml.safe_load`` would."""
    loader = LOADER(text)
    try:
        return _events(loader)
    except _Unusual:
        pass
    finally:
        loader.dispose()
    return yaml.load(text, Loader=LOADER)  # noqa: S506 (a safe loader)
