"""The one place the plotting backend is chosen: Agg, files only, no screen.

Every figure module imports ``plt`` from here, so the backend is set before
pyplot is first imported, whatever module a command happens to load first.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot is first imported

import matplotlib.pyplot as plt

__all__ = ["plt"]
