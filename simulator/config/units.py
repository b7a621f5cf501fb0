"""Parsing of the units a config may use: durations, sizes and link rates.

A config value is parsed once, here, at the edge; every model downstream sees
plain floats in SI base units (seconds, bytes, bits per second).  Numbers are
accepted as they are, in the base unit.  The parsers raise ``ValueError`` with
a message meant to be shown to a user after the config key path.

The formatters are the parsers' inverse: ``parse(format(x)) == x`` exactly for
every finite non-negative float, so a resolved config written with them runs
to the same numbers.  They pick the shortest exact spelling (``"25ms"``,
``"40KiB"``, ``"100Mbps"``), falling back to the base unit.
"""

from __future__ import annotations

import difflib
import math
import re
from decimal import Context, Decimal

_NUMBER = r"([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
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

# What the formatters may write, largest first (ties in length go to the earlier unit).
_DURATION_OUT = (("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9))
_SIZE_OUT = (
    ("GiB", 2.0**30), ("MiB", 2.0**20), ("KiB", 2.0**10),
    ("GB", 1e9), ("MB", 1e6), ("kB", 1e3), ("B", 1.0),
)
_RATE_OUT = (("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3), ("bps", 1.0))


_DECIMAL = Context(prec=60)


def _scaled(number_text: str, factor: float) -> float:
    """``number_text * factor`` computed in decimal, then rounded once to a float.

    So ``"50us"`` is exactly the float ``50e-6`` and ``"0.3s"`` the float ``0.3``,
    as a user reading the config would expect, not ``50 * 1e-6`` off by an ulp.
    """
    if factor == 1.0:
        return float(number_text)
    return float(_DECIMAL.multiply(Decimal(number_text), Decimal(repr(float(factor)))))


def _unit_hint(unit: str, units: dict[str, float]) -> str:
    """``; did you mean 'ms'?`` for a near miss (case slips first), else the known units."""
    lower = [u for u in units if u.lower() == unit.lower()]
    match = lower or difflib.get_close_matches(unit, list(units), n=1, cutoff=0.5)
    if match:
        return f"; did you mean {match[0]!r}?"
    return f" (known: {', '.join(units)})"


def _parse(value: object, units: dict[str, float], what: str, example: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a {what} such as {example!r}, got {value!r}")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{what} too large, got {value!r}") from None
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
            raise ValueError(f"unknown unit {unit!r} in {value!r}{_unit_hint(unit, units)}")
        number = _scaled(number_text, factor)
    else:
        raise ValueError(f"expected a {what} such as {example!r}, got {value!r}")
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"must be a finite {what}, got {value!r}")
    if number < 0:
        raise ValueError(f"must be >= 0, got {value!r}")
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


def _format(value: float, units: tuple[tuple[str, float], ...], base: str) -> str:
    """The shortest string ``q + unit`` that parses back to exactly ``value``."""
    value = float(value)
    if value == 0:
        return f"0{base}"
    best = f"{value!r}{base}"  # always exact: the base factor is 1.0
    for unit, factor in units:
        if value < factor:
            continue  # "0.5m" is legal but less readable than "30s"
        q = value / factor
        for text in (f"{q:.12g}", repr(q)):
            candidate = f"{text}{unit}"
            if len(candidate) < len(best) and _scaled(text, factor) == value:
                best = candidate
                break
    return best


def format_duration(seconds: float) -> str:
    """A duration string (``"25ms"``, ``"10m"``) that parses back to exactly ``seconds``."""
    return _format(seconds, _DURATION_OUT, "s")


def format_size(num_bytes: float) -> str:
    """A size string (``"40KiB"``, ``"200B"``) that parses back to exactly ``num_bytes``."""
    return _format(num_bytes, _SIZE_OUT, "B")


def format_rate(bits_per_second: float) -> str:
    """A link-rate string (``"100Mbps"``) that parses back to exactly ``bits_per_second``."""
    return _format(bits_per_second, _RATE_OUT, "bps")
