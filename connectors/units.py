"""Units as devices and hubs write them (Home Assistant, Zigbee2MQTT), and their UCUM equivalents.

One table for every connector, so one quantity has one unit name whichever connector read it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sentio.connectors.contract import NO_UNIT

UCUM: Mapping[str, str] = {
    # temperature
    "°C": "Cel",
    "°F": "[degF]",
    "K": "K",
    # ratios and concentrations
    "%": "%",
    "ppm": "[ppm]",
    "ppb": "[ppb]",
    "µg/m³": "ug/m3",
    "mg/m³": "mg/m3",
    "g/m³": "g/m3",
    "µS/cm": "uS/cm",
    # power and energy
    "W": "W",
    "kW": "kW",
    "MW": "MW",
    "mW": "mW",
    "VA": "V.A",
    "kVA": "kV.A",
    "Wh": "W.h",
    "kWh": "kW.h",
    "MWh": "MW.h",
    "J": "J",
    "kJ": "kJ",
    "MJ": "MJ",
    "GJ": "GJ",
    "cal": "cal",
    "kcal": "kcal",
    "W/m²": "W/m2",
    # electricity
    "V": "V",
    "mV": "mV",
    "A": "A",
    "mA": "mA",
    "Hz": "Hz",
    "kHz": "kHz",
    "MHz": "MHz",
    "GHz": "GHz",
    # pressure
    "Pa": "Pa",
    "hPa": "hPa",
    "kPa": "kPa",
    "bar": "bar",
    "mbar": "mbar",
    "psi": "[psi]",
    "inHg": "[in_i'Hg]",
    "mmHg": "mm[Hg]",
    # signal strength and sound
    "dB": "dB",
    "dBm": "dB[mW]",
    "dBA": "dB",
    # light
    "lx": "lx",
    "lm": "lm",
    # time
    "μs": "us",
    "ms": "ms",
    "s": "s",
    "min": "min",
    "h": "h",
    "d": "d",
    "w": "wk",
    # length and speed
    "mm": "mm",
    "cm": "cm",
    "m": "m",
    "km": "km",
    "in": "[in_i]",
    "ft": "[ft_i]",
    "yd": "[yd_i]",
    "mi": "[mi_i]",
    "m/s": "m/s",
    "km/h": "km/h",
    "mph": "[mi_i]/h",
    "ft/s": "[ft_i]/s",
    "kn": "[kn_i]",
    "mm/h": "mm/h",
    "mm/d": "mm/d",
    "in/h": "[in_i]/h",
    "in/d": "[in_i]/d",
    # volume and flow
    "mL": "mL",
    "L": "L",
    "m³": "m3",
    "ft³": "[cft_i]",
    "CCF": "[hcft_i]",
    "gal": "[gal_us]",
    "fl. oz.": "[foz_us]",
    "L/min": "L/min",
    "L/h": "L/h",
    "m³/h": "m3/h",
    "m³/s": "m3/s",
    "ft³/min": "[cft_i]/min",
    "gal/min": "[gal_us]/min",
    # mass
    "µg": "ug",
    "mg": "mg",
    "g": "g",
    "kg": "kg",
    "oz": "[oz_av]",
    "lb": "[lb_av]",
    "st": "[stone_av]",
    # information
    "bit": "bit",
    "kbit": "kbit",
    "Mbit": "Mbit",
    "Gbit": "Gbit",
    "B": "By",
    "kB": "kBy",
    "MB": "MBy",
    "GB": "GBy",
    "TB": "TBy",
    "KiB": "KiBy",
    "MiB": "MiBy",
    "GiB": "GiBy",
    "TiB": "TiBy",
    "bit/s": "bit/s",
    "kbit/s": "kbit/s",
    "Mbit/s": "Mbit/s",
    "Gbit/s": "Gbit/s",
    "B/s": "By/s",
    "kB/s": "kBy/s",
    "MB/s": "MBy/s",
    "GB/s": "GBy/s",
    "KiB/s": "KiBy/s",
    "MiB/s": "MiBy/s",
    # angles and rotation
    "°": "deg",
    "rpm": "{rev}/min",
    # Zigbee: colour temperature in reciprocal megakelvin, link quality as the radio reports it
    "mired": "{mired}",
    "lqi": "{lqi}",
}

# Sources write "micro" with the micro sign (U+00B5) or the Greek mu (U+03BC).
_MICRO_SIGNS = str.maketrans({"\u03bc": "\u00b5"})
_FOLDED: Mapping[str, str] = {k.translate(_MICRO_SIGNS): v for k, v in UCUM.items()}


def to_ucum(unit: str | None, overrides: Mapping[str, str] | None = None) -> str:
    """Return the UCUM unit of ``unit``; none for none, unknown units unchanged."""
    if unit is None or not unit.strip():
        return NO_UNIT
    unit = unit.strip()
    if overrides and unit in overrides:
        return overrides[unit]
    return _FOLDED.get(unit.translate(_MICRO_SIGNS), unit)
