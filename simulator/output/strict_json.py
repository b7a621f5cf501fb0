"""JSON that strict parsers accept: a NaN or infinite number is written as ``null``.

Python's ``json.dumps`` writes the bare tokens ``NaN`` and ``Infinity``, which
JSON (RFC 8259 §6) does not allow; a latency over zero deliveries is NaN, so
every JSON file the tool writes goes through :func:`dumps`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (numpy's too) replaced by ``None``, recursively."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` ``(value)``, refusing anything non-finite left."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
