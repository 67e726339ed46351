"""Errors of the OPC-UA connector, and the boundary that maps asyncua's errors onto them.

They extend Sentio's tree (``sentio.errors``)::

    SentioError
    └── OpcuaError                 an OPC-UA request failed
        ├── OpcuaConnectionError   the session could not be opened or was lost
        │   └── OpcuaSecurityError the server refused our security settings, or we its certificate
        ├── OpcuaTimeoutError      the server did not answer in time
        ├── OpcuaNamespaceError    an ``nsu=`` URI or a path's namespace alias is not on the server
        └── OpcuaBrowseError       a browse path leads nowhere, or discovery found too much
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from asyncua import ua
from asyncua.ua.uaerrors import UaStatusCodeError
from sentio.connectors.contract import (
    ConnectorConnectionError,
    ConnectorError,
    ConnectorProtocolError,
    ConnectorTimeoutError,
)

from sentio.errors import SentioError

T = TypeVar("T")
_SECURITY_STATUS = ("BadCertificate", "BadSecurity", "BadIdentityToken", "BadUserAccessDenied")


class OpcuaError(SentioError, ConnectorError):
    """Raise when an OPC-UA request fails."""

    kind = "error"


class OpcuaConnectionError(OpcuaError, ConnectorConnectionError):
    """Raise when the OPC-UA session cannot be opened or is lost."""

    kind = "connection"


class OpcuaSecurityError(OpcuaConnectionError):
    """Raise when the server refuses our security settings, or we refuse its certificate."""

    kind = "security"


class OpcuaTimeoutError(OpcuaError, ConnectorTimeoutError):
    """Raise when the server does not answer in time."""

    kind = "timeout"


class OpcuaNamespaceError(OpcuaError, ConnectorProtocolError):
    """Raise when a namespace URI of an ``nsu=`` node id is not in the server's namespace array."""

    kind = "namespace"


class OpcuaBrowseError(OpcuaError, ConnectorProtocolError):
    """Raise when a browse path matches no node, or a discovery finds more than allowed."""

    kind = "browse"


async def guard(awaitable: Awaitable[T], what: str, timeout_s: float) -> T:
    """Await ``awaitable`` within ``timeout_s``, mapping asyncua's errors onto ``OpcuaError``."""
    try:
        return await asyncio.wait_for(awaitable, timeout_s)
    except OpcuaError:
        raise
    except TimeoutError as exc:
        raise OpcuaTimeoutError(f"{what}: no answer within {timeout_s:g} s") from exc
    except UaStatusCodeError as exc:
        name = ua.StatusCode(exc.code).name
        if name.startswith(_SECURITY_STATUS):
            raise OpcuaSecurityError(f"{what}: the server refused us: {name}") from exc
        raise OpcuaConnectionError(f"{what} failed: {name}") from exc
    except Exception as exc:  # OSError, UaError, and asyncua's bare Exception on send
        raise OpcuaConnectionError(f"{what} failed: {exc!r}") from exc
