"""The registry through which the runner finds mechanisms by ``mechanism.kind``.

Mechanism modules (in the ``models`` package) register a class here; the
engine never imports a mechanism by name.  A mechanism class has:

- ``kind``: the config name (``"short_polling"``);
- ``Params``: a pydantic model of its ``[mechanism]`` keys, with defaults;
- ``summary``: one line for ``sim mechanisms``;
- ``units``: ``{param: unit}`` for ``sim mechanisms``;
- ``client_kinds`` (optional): the ``clients.kind`` values it can serve
  (default :data:`CLIENT_KINDS`, all of them; a webhook needs a backend);
- ``__init__(sim)`` and ``start()``: build state and launch processes on a
  :class:`simulator.runtime.Simulation`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Every ``clients.kind``.
CLIENT_KINDS: tuple[str, ...] = ("browser", "mobile", "backend")

_MECHANISMS: dict[str, Any] = {}
_loaded = False


def register(cls: Any) -> Any:
    """Class decorator: make ``cls`` available as ``mechanism.kind = cls.kind``."""
    _MECHANISMS[cls.kind] = cls
    return cls


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        importlib.import_module("models")


def kinds() -> list[str]:
    """Registered mechanism kinds, in registration order."""
    _load()
    return list(_MECHANISMS)


def get(kind: str) -> Any:
    """The mechanism class for ``kind`` (KeyError if unknown)."""
    _load()
    return _MECHANISMS[kind]


def client_kinds(kind: str) -> tuple[str, ...]:
    """The ``clients.kind`` values mechanism ``kind`` can serve."""
    return tuple(getattr(get(kind), "client_kinds", CLIENT_KINDS))
