"""Config plumbing shared by loading, ``--set``, sweeps and the docs.

- user-facing error messages from pydantic errors (``must be >= 1, got -5``),
  with the closest valid key suggested for a typo;
- dotted keys: setting ``failures.0.at`` in raw TOML data, and listing every
  valid dotted key of a model (for ``validate_dotted_key`` and suggestions);
- field documentation (default, unit, meaning) for ``docs/config.md`` and
  ``sim mechanisms``.

Nothing here knows the experiment's sections: the models are passed in.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from simulator.config.distributions import parse_distribution
from simulator.config.units import parse_duration, parse_rate, parse_size

#: A problem found in a config: (dotted key path, message).
Problem = tuple[str, str]

DIST_KEYS = ("dist", "value", "mean", "low", "high", "median", "sigma")


#: A word longer than this in an error line is an echoed value (400 nines, a pasted
#: blob), not a key or a path: it is cut to its first 60 characters.
_LONGEST_ECHO = 120
_LONG_WORD = re.compile(rf"\S{{{_LONGEST_ECHO + 1},}}")


def _shorten_echoes(line: str) -> str:
    def cut(match: re.Match) -> str:
        word = match.group(0)
        return word[:60] + "..." + (word[-1] if word[-1] in ":,;)" else "")

    return _LONG_WORD.sub(cut, line)


class ConfigError(Exception):
    """Bad user input: ``lines`` are shown one per line, no traceback, exit 2."""

    def __init__(self, lines: list[str] | str):
        self.lines = [_shorten_echoes(line) for line in ([lines] if isinstance(lines, str) else lines)]
        super().__init__("\n".join(self.lines))


class KeyPathError(ConfigError, ValueError):
    """A dotted key that does not fit the data it is set in (``failures.3`` of 1 entry)."""


def closest(word: str, choices: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str | None:
    """The choice nearest to ``word`` (difflib ratio >= ``cutoff``), or None."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return match[0] if match else None


def hint(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` or ``""``."""
    match = closest(word, choices)
    return f"; did you mean {match!r}?" if match else ""


# ---------------------------------------------------------------------------
# Pydantic errors -> one readable message each


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def error_message(err: dict[str, Any]) -> str:
    """A short message for one pydantic error dict, in the style ``must be >= 1, got -5``."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    got = f", got {_show(given)}"
    if kind == "value_error":
        # our own validators' messages already show the input where it helps
        return str(ctx.get("error", err["msg"]))
    if kind == "missing":
        return "required key missing"
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        op, key = bounds[kind]
        bound = ctx.get(key)
        return f"must be {op} {bound:g}{got}" if isinstance(bound, float) else f"must be {op} {bound}{got}"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = re.findall(r"'([^']*)'", expected)
        return f"must be {expected}{got}{hint(str(given), options)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a table{got}"
    if kind == "list_type":
        return f"must be a list{got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false{got}"
    if kind in ("string_type", "string_unicode"):
        return f"must be a string{got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number{got}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"must be a number{got}"
    return f"{err['msg']}{got}"


def loc_path(loc: tuple, prefix: tuple = ()) -> str:
    """``("failures", 0, "at")`` -> ``"failures.0.at"``; dict keys with dots are quoted."""
    parts = []
    for part in (*prefix, *loc):
        text = str(part)
        parts.append(f'"{text}"' if "." in text else text)
    return ".".join(parts)


# ---------------------------------------------------------------------------
# Walking models


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside ``annotation`` (``list[X]``, ``X | None``, ``X``), if any."""
    candidates = [annotation, *typing.get_args(annotation)]
    for c in candidates:
        if isinstance(c, type) and issubclass(c, BaseModel):
            return c
    return None


def _validator_funcs(field: FieldInfo) -> list[Any]:
    return [m.func for m in field.metadata if isinstance(m, BeforeValidator)]


def is_distribution(field: FieldInfo) -> bool:
    """True when the field accepts a distribution table as well as a duration."""
    return parse_distribution in _validator_funcs(field)


def unit_label(field: FieldInfo) -> str:
    """What a field's value is, for humans: ``duration``, ``size``, ``one of: a | b``..."""
    funcs = _validator_funcs(field)
    if parse_distribution in funcs:
        return "duration or distribution"
    if parse_duration in funcs:
        return "duration"
    if parse_size in funcs:
        return "size"
    if parse_rate in funcs:
        return "link rate (bits/s)"
    ann = field.annotation
    if typing.get_origin(ann) is typing.Literal:
        return " | ".join(str(a) for a in typing.get_args(ann))
    if ann is bool:
        return "true | false"
    if ann is int:
        return "integer"
    if ann is float:
        return "number"
    if ann is str:
        return "text"
    origin = typing.get_origin(ann)
    if origin in (list, dict, types.UnionType):
        return "list" if origin is list else "table"
    return ""


def dotted_keys(model: type[BaseModel], prefix: str = "", skip: tuple[str, ...] = ()) -> list[str]:
    """Every leaf key of ``model`` as a dotted path (lists of models as ``key.N.field``)."""
    out = []
    for name, field in model.model_fields.items():
        if name in skip or field.exclude:
            continue
        path = f"{prefix}{name}"
        sub = submodel(field.annotation)
        if sub is None:
            out.append(path)
        elif typing.get_origin(field.annotation) is list:
            out.extend(dotted_keys(sub, f"{path}.N."))
        else:
            out.extend(dotted_keys(sub, f"{path}."))
    return out


def resolve_key(model: type[BaseModel], parts: list[str]) -> str | None:
    """Why ``parts`` is not a key of ``model`` (None when it is).

    Accepts whole sections, list indices (``failures.0.at``) and the keys of
    a distribution table (``network.latency.mean``).
    """
    current: type[BaseModel] = model
    i = 0
    while i < len(parts):
        part = parts[i]
        field = current.model_fields.get(part)
        if field is None or field.exclude:
            return "unknown key"
        ann = field.annotation
        sub = submodel(ann)
        rest = parts[i + 1 :]
        if not rest:
            return None
        if sub is not None and typing.get_origin(ann) is list:
            if not rest[0].isdigit():
                return f"{'.'.join(parts[: i + 1])} is a list: address an entry as {'.'.join(parts[: i + 1])}.N.key"
            i += 2
            current = sub
            if i >= len(parts):
                return None
            continue
        if sub is not None:
            current = sub
            i += 1
            continue
        if is_distribution(field) and len(rest) == 1 and rest[0] in DIST_KEYS:
            return None
        return f"{'.'.join(parts[: i + 1])} is not a table"
    return None


# ---------------------------------------------------------------------------
# Raw data (before validation): set a dotted key


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``a.b.c`` in nested TOML data, creating tables on the way.

    ``failures.0.at`` addresses the first ``[[failures]]`` entry, which must
    exist.  Raises :class:`KeyPathError` (a ValueError and a ConfigError)
    with a user-facing message otherwise.
    """
    parts = key.split(".")
    if any(not p for p in parts):
        raise KeyPathError(f"{key}: empty part in the key (two dots, or a dot at an end)")
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyPathError(f"{where}: no such entry (there are {len(node)})")
            if last:
                node[int(part)] = value
                return
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise KeyPathError(f"{key}: {'.'.join(parts[:i])} is not a table")
        if last:
            node[part] = value
            return
        child = node.get(part)
        if child is None:
            if parts[i + 1].isdigit():
                raise KeyPathError(f"{where}.{parts[i + 1]}: no such entry (there are 0)")
            child = node[part] = {}
        elif not isinstance(child, dict | list):
            raise KeyPathError(f"{key}: {where} is not a table")
        node = child


# ---------------------------------------------------------------------------
# Documentation of fields


@dataclass(frozen=True)
class FieldDoc:
    """One documented key: dotted name, default (config form), unit, meaning."""

    key: str
    default: Any
    unit: str
    description: str


def field_docs(model: type[BaseModel], prefix: str = "") -> list[FieldDoc]:
    """One :class:`FieldDoc` per direct (non-section) field of ``model``."""
    # model_construct: a model with required keys ([[failures]]) still shows its other defaults
    optional = {n for n, f in model.model_fields.items() if not f.is_required()}
    defaults = model.model_construct().model_dump(mode="json", include=optional)
    docs = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        if submodel(field.annotation) is not None and typing.get_origin(field.annotation) is not list:
            continue
        default = defaults.get(name, "(required)" if field.is_required() else None)
        docs.append(FieldDoc(f"{prefix}{name}", default, unit_label(field), field.description or ""))
    return docs
