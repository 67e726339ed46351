"""The built-in OPC-UA connector (entry point ``opcua`` in ``sentio.connectors``)."""

from __future__ import annotations

from .config import DeviceConfig, NodeConfig, NodeIdSpec, OpcuaConfig, parse_node_id
from .connector import (
    OpcuaConnectionError,
    OpcuaConnector,
    OpcuaError,
    OpcuaNamespaceError,
    OpcuaTimeoutError,
    quality_of,
    resolve_node_id,
)

__all__ = [
    "DeviceConfig",
    "NodeConfig",
    "NodeIdSpec",
    "OpcuaConfig",
    "OpcuaConnectionError",
    "OpcuaConnector",
    "OpcuaError",
    "OpcuaNamespaceError",
    "OpcuaTimeoutError",
    "parse_node_id",
    "quality_of",
    "resolve_node_id",
]
