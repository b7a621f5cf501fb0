"""Parsing of the units a config may use: durations, sizes and link rates.

A config value is parsed once, here, at the edge; every model downstream sees
plain floats in SI base units (seconds, bytes, bits per second).  Numbers are
accepted as they are, in the base unit.  The parsers raise ``ValueError`` with
a message meant to be shown to a user after the config key path.
"""

from __future__ import annotations

import math
import re

_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_PATTERN = re.compile(rf"^\s*{_NUMBER}\s*([A-Za-zµ]*)\s*$")

DURATION_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}

SIZE_UNITS: dict[str, float] = {
    "B": 1,
    "kB": 1e3,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}

RATE_UNITS: dict[str, float] = {
    "bps": 1,
    "kbps": 1e3,
    "Kbps": 1e3,
    "Mbps": 1e6,
    "Gbps": 1e9,
    "Tbps": 1e12,
}


def _parse(value: object, units: dict[str, float], what: str, example: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a {what} such as {example!r}, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if not match:
            raise ValueError(f"expected a {what} such as {example!r}, got {value!r}")
        number_text, unit = match.groups()
        if unit == "":
            factor = 1.0
        elif unit in units:
            factor = units[unit]
        else:
            known = ", ".join(units)
            raise ValueError(f"unknown unit {unit!r} in {value!r} (known: {known})")
        number = float(number_text) * factor
    else:
        raise ValueError(f"expected a {what} such as {example!r}, got {value!r}")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"must be a finite, non-negative {what}, got {value!r}")
    return number


def parse_duration(value: object) -> float:
    """Seconds from ``"250us"``, ``"40ms"``, ``"5s"``, ``"2m"``, ``"1h"`` or a number of seconds."""
    return _parse(value, DURATION_UNITS, "duration", "40ms")


def parse_size(value: object) -> float:
    """Bytes from ``"871B"``, ``"64KiB"``, ``"5kB"``, ``"2GiB"`` or a number of bytes."""
    return _parse(value, SIZE_UNITS, "size", "64KiB")


def parse_rate(value: object) -> float:
    """Bits per second from ``"100Mbps"``, ``"1Gbps"`` or a number of bits per second."""
    return _parse(value, RATE_UNITS, "link rate", "100Mbps")


def format_duration(seconds: float) -> str:
    """The shortest exact-enough string for a duration, for resolved configs and tables."""
    if seconds == 0:
        return "0s"
    for unit, factor in (("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= factor and _is_round(seconds / factor):
            return f"{_trim(seconds / factor)}{unit}"
    return f"{_trim(seconds)}s"


def format_size(num_bytes: float) -> str:
    """A size string such as ``"40KiB"``, exact when the byte count allows."""
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if num_bytes >= factor and _is_round(num_bytes / factor):
            return f"{_trim(num_bytes / factor)}{unit}"
    return f"{_trim(num_bytes)}B"


def format_rate(bits_per_second: float) -> str:
    """A link-rate string such as ``"100Mbps"``."""
    for unit, factor in (("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3)):
        if bits_per_second >= factor and _is_round(bits_per_second / factor):
            return f"{_trim(bits_per_second / factor)}{unit}"
    return f"{_trim(bits_per_second)}bps"


def _is_round(x: float) -> bool:
    """Whether ``x`` is (within float noise) a whole number."""
    return abs(x - round(x)) < 1e-9 * max(1.0, abs(x))


def _trim(x: float) -> str:
    return f"{x:.12g}"
