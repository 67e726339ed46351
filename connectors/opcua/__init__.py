"""The built-in OPC-UA connector (entry point ``opcua`` in ``sentio.connectors``)."""

from __future__ import annotations

from .config import (
    BrowseConfig,
    DeadbandConfig,
    DeviceConfig,
    NodeConfig,
    OpcuaConfig,
    SecurityConfig,
    SubscriptionConfig,
)
from .connector import OpcuaConnector, resolve_node_id
from .errors import (
    OpcuaBrowseError,
    OpcuaConnectionError,
    OpcuaError,
    OpcuaNamespaceError,
    OpcuaSecurityError,
    OpcuaTimeoutError,
)
from .paths import (
    BrowsePathSpec,
    NodeIdSpec,
    PathElement,
    metric_name,
    parse_browse_path,
    parse_node_id,
)
from .values import Target, quality_of

__all__ = [
    "BrowseConfig",
    "BrowsePathSpec",
    "DeadbandConfig",
    "DeviceConfig",
    "NodeConfig",
    "NodeIdSpec",
    "OpcuaBrowseError",
    "OpcuaConfig",
    "OpcuaConnectionError",
    "OpcuaConnector",
    "OpcuaError",
    "OpcuaNamespaceError",
    "OpcuaSecurityError",
    "OpcuaTimeoutError",
    "PathElement",
    "SecurityConfig",
    "SubscriptionConfig",
    "Target",
    "metric_name",
    "parse_browse_path",
    "parse_node_id",
    "quality_of",
    "resolve_node_id",
]
