"""Configuration of the OPC-UA connector: one endpoint, its devices and their nodes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_NODE_ID = re.compile(r"^(?:ns=(?P<ns>\d+)|nsu=(?P<nsu>[^;]+));(?:i=(?P<i>\d+)|s=(?P<s>.+))$", re.S)
MAX_NAMESPACE_INDEX = 65535
MAX_NUMERIC_ID = 2**32 - 1


@dataclass(frozen=True, slots=True)
class NodeIdSpec:
    """A parsed node id: a namespace (index or URI) and a numeric or string identifier."""

    identifier: int | str
    namespace_index: int | None = None
    namespace_uri: str | None = None


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
        index = int(match["ns"])
        if index > MAX_NAMESPACE_INDEX:
            raise ValueError(f"node id {text!r}: namespace index exceeds {MAX_NAMESPACE_INDEX}")
        return NodeIdSpec(identifier, namespace_index=index)
    return NodeIdSpec(identifier, namespace_uri=match["nsu"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duplicates(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


class NodeConfig(_Strict):
    """One variable node read from the server, reported as one metric."""

    name: str = Field(min_length=1)
    node_id: str = Field(min_length=1)
    unit: str = Field(default="1", min_length=1)

    @field_validator("node_id")
    @classmethod
    def _check_node_id(cls, value: str) -> str:
        parse_node_id(value)
        return value

    @property
    def spec(self) -> NodeIdSpec:
        """Return the parsed node id."""
        return parse_node_id(self.node_id)


class DeviceConfig(_Strict):
    """One device: a named group of nodes."""

    name: str = Field(min_length=1)
    poll_interval_s: float = Field(default=10.0, gt=0)
    nodes: list[NodeConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> DeviceConfig:
        duplicates = _duplicates([n.name for n in self.nodes])
        if duplicates:
            raise ValueError(f"duplicate node names: {', '.join(duplicates)}")
        return self


class OpcuaConfig(_Strict):
    """The OPC-UA connector's configuration.

    Only ``security: none`` is supported; Basic256Sha256 (sign and encrypt) is future work.
    """

    endpoint: str = Field(pattern=r"^opc\.tcp://[^/\s]+(/\S*)?$")
    timeout_s: float = Field(default=4.0, gt=0)
    username: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None
    security: Literal["none"] = "none"
    devices: list[DeviceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> OpcuaConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password must be given together")
        duplicates = _duplicates([d.name for d in self.devices])
        if duplicates:
            raise ValueError(f"duplicate device names: {', '.join(duplicates)}")
        return self
