"""Where mechanisms are found: the ``notifysim.mechanisms`` entry-point group.

Each entry point names a :class:`models.base.Mechanism` subclass by module
and class (see ``pyproject.toml``), so the config layer and the engine reach
a mechanism's parameters and behaviour without importing any mechanism by
name, and a ``models.py`` in the working directory cannot silently replace
them: a mechanism that fails to load is an error that names it.
:func:`register` adds a class at run time (tests, plug-ins under development).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from simulator.config.keys import ConfigError

if TYPE_CHECKING:
    from simulator.config.sections import ExperimentConfig

GROUP = "notifysim.mechanisms"

_MECHANISMS: dict[str, Any] = {}
_loaded = False


def register(cls: Any) -> Any:
    """Make ``cls`` available as ``mechanism.kind = cls.kind`` (returns ``cls``)."""
    _MECHANISMS[cls.kind] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    found: dict[str, Any] = {}
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except Exception as exc:  # any failure to import is the user's to see
            raise ConfigError(
                f"error: mechanism {ep.name!r} ({ep.value}) could not be loaded: {exc}"
                " (is a models.py or models/ in the working directory shadowing notifysim's?)"
            ) from None
        if getattr(cls, "kind", None) != ep.name:
            raise ConfigError(f"error: entry point {ep.name!r} names {ep.value}, whose kind is {getattr(cls, 'kind', None)!r}")
        found[ep.name] = cls
    if not found:
        raise ConfigError(f"error: no mechanisms found in the {GROUP!r} entry points: install notifysim (pip install -e .)")
    for name in sorted(found, key=lambda k: (found[k].order, k)):
        _MECHANISMS.setdefault(name, found[name])
    _loaded = True


def kinds() -> list[str]:
    """Known mechanism kinds, in listing order."""
    _load()
    return list(_MECHANISMS)


def get(kind: str) -> Any:
    """The mechanism class for ``kind`` (KeyError if unknown)."""
    _load()
    return _MECHANISMS[kind]


def mechanism_of(config: ExperimentConfig) -> Any:
    """The mechanism class of a loaded ``config`` (its ``mechanism.kind``, validated on load)."""
    return get(config.mechanism.kind)


def client_kind_note(kind: str, client_kind: str) -> str | None:
    """Why mechanism ``kind`` cannot serve ``clients.kind = client_kind``; None if it can (or is unknown)."""
    try:
        served = get(kind).client_kinds
    except KeyError:
        return None
    if client_kind in served:
        return None
    return f"{kind} cannot serve clients.kind = {client_kind!r} (it serves {' or '.join(sorted(served))} clients)"
