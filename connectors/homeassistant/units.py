"""Home Assistant's ``unit_of_measurement`` strings map onto UCUM through the shared table."""

from __future__ import annotations

from sentio.connectors.units import UCUM, to_ucum

__all__ = ["UCUM", "to_ucum"]
