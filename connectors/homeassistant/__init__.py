"""The built-in Home Assistant connector (entry point ``homeassistant``, ``sentio.connectors``)."""

from __future__ import annotations

from .api import (
    HomeAssistantAuthError,
    HomeAssistantConnectionError,
    HomeAssistantError,
    HomeAssistantProtocolError,
    WebSocketUnavailable,
)
from .config import EntityFilter, HomeAssistantConfig
from .connector import HomeAssistantConnector
from .states import EntityState, StateTracker, parse_state
from .units import UCUM, to_ucum

__all__ = [
    "UCUM",
    "EntityFilter",
    "EntityState",
    "HomeAssistantAuthError",
    "HomeAssistantConfig",
    "HomeAssistantConnectionError",
    "HomeAssistantConnector",
    "HomeAssistantError",
    "HomeAssistantProtocolError",
    "StateTracker",
    "WebSocketUnavailable",
    "parse_state",
    "to_ucum",
]
