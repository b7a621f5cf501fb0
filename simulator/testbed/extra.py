"""The testbed's own packages (aiohttp, websockets) come with the optional extra ``.[testbed]``.

Without them ``sim`` runs everything else: the modules that use them import them
guarded, and the commands that need them (``sim testbed``, ``sim validate --testbed``)
refuse in one line, saying what to install.
"""

from __future__ import annotations

from importlib.util import find_spec

from simulator.config import ConfigError

PACKAGES = ("aiohttp", "websockets")


def missing() -> list[str]:
    """The testbed's packages that are not installed."""
    return [name for name in PACKAGES if find_spec(name) is None]


def require(command: str) -> None:
    """Raise a one-line ConfigError when ``command`` cannot run for want of the extra."""
    absent = missing()
    if absent:
        raise ConfigError(f"error: {command}: needs {' and '.join(absent)}, the optional testbed extra:"
                          " pip install -e \".[testbed]\"")
