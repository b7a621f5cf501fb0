"""The experiment config: TOML in, typed and validated objects out.

Every section and key of DESIGN §4 is a pydantic model field with its default.
Units are parsed here, once: the models downstream see seconds, bytes and bits
per second, and a :class:`~simulator.distributions.Distribution` wherever a
duration may be random.  Mechanism parameters are validated by the model the
mechanism registered (see :mod:`simulator.registry`), so the engine needs no
knowledge of any one mechanism.

Bad input raises :class:`ConfigError` carrying one line per problem in the form
``file: key.path: problem`` (with the closest valid key for a typo).
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from simulator import registry
from simulator.distributions import Distribution, parse_distribution
from simulator.units import (
    format_duration,
    format_rate,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)

Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
Bytes = Annotated[
    float,
    BeforeValidator(parse_size),
    PlainSerializer(format_size, return_type=str, when_used="json"),
]
BitsPerSecond = Annotated[
    float,
    BeforeValidator(parse_rate),
    PlainSerializer(format_rate, return_type=str, when_used="json"),
]
SecondsDist = Annotated[
    Distribution,
    BeforeValidator(parse_distribution),
    PlainSerializer(lambda d: d.to_config(), return_type=Any, when_used="json"),
]


class ConfigError(Exception):
    """Bad user input: ``lines`` are shown one per line, no traceback, exit 2."""

    def __init__(self, lines: list[str] | str):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("\n".join(self.lines))


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False, frozen=False)


class ExperimentSection(Section):
    name: str = "experiment"
    description: str = ""
    seed: int = Field(1, ge=0)
    duration: Seconds = Field(600.0, gt=0)
    warmup: Seconds = 30.0
    sample_every: Seconds = Field(1.0, gt=0)


class ClientsSection(Section):
    count: int = Field(1000, ge=1)
    connect_over: Seconds = 10.0


class BackoffSection(Section):
    initial: Seconds = Field(1.0, gt=0)
    max: Seconds = Field(30.0, gt=0)
    factor: float = Field(2.0, ge=1.0)
    jitter: Literal["none", "full", "equal", "decorrelated"] = "full"


class MechanismSection(Section):
    """``kind`` and ``backoff`` are common; the other keys belong to the kind's model."""

    model_config = ConfigDict(extra="allow")
    kind: str = "short_polling"
    backoff: BackoffSection = BackoffSection()
    params: Any = Field(None, exclude=True)


class WorkloadSection(Section):
    pattern: Literal["per_client", "broadcast", "topics"] = "per_client"
    topics: int = Field(100, ge=1)
    rate: float = Field(0.2, ge=0)
    arrivals: Literal["poisson", "periodic"] = "poisson"
    payload: Bytes = 200.0
    upstream_rate: float = Field(0.0, ge=0)


class NetworkSection(Section):
    latency: SecondsDist = Distribution.constant(0.025)
    bandwidth: BitsPerSecond = Field(100e6, gt=0)


class HttpSection(Section):
    request_headers: Bytes = 500.0
    response_headers: Bytes = 371.0
    tls: Literal["none", "1.2", "1.3"] = "1.3"
    keep_alive: bool = True
    keep_alive_timeout: Seconds = 75.0

    @model_validator(mode="before")
    @classmethod
    def _tls_as_text(cls, data: Any) -> Any:
        # TOML users write tls = 1.3 as often as tls = "1.3".
        if isinstance(data, dict) and isinstance(data.get("tls"), float):
            data = {**data, "tls": f"{data['tls']:.1f}"}
        return data


class ServerSection(Section):
    nodes: int = Field(1, ge=1)
    workers: int = Field(4, ge=1)
    request_cost: SecondsDist = Distribution.constant(0.001)
    message_cost: SecondsDist = Distribution.constant(50e-6)
    max_connections: int = Field(10000, ge=1)
    memory_per_connection: Bytes = 40 * 1024.0
    memory_base: Bytes = 256 * 2**20.0


class ClusterSection(Section):
    balancer: Literal["round_robin", "least_connections", "hash"] = "round_robin"
    idle_timeout: Seconds = 0.0
    backplane_latency: Seconds = 0.001
    store_cost: Seconds = 500e-6


class FailureSpec(Section):
    kind: Literal["node_crash", "receiver_outage"]
    node: int = Field(0, ge=0)
    fraction: float = Field(1.0, ge=0, le=1)
    at: Seconds = 0.0
    duration: Seconds = 60.0


class CostSection(Section):
    node_hour: float = Field(0.10, ge=0)
    egress_gb: float = Field(0.09, ge=0)


class SweepSection(Section):
    replications: int = Field(3, ge=1)
    grid: dict[str, list[Any]] = Field(default_factory=dict)


class ExperimentConfig(Section):
    """A whole experiment: every section of DESIGN §4 with its defaults."""

    experiment: ExperimentSection = ExperimentSection()
    clients: ClientsSection = ClientsSection()
    mechanism: MechanismSection = MechanismSection()
    workload: WorkloadSection = WorkloadSection()
    network: NetworkSection = NetworkSection()
    http: HttpSection = HttpSection()
    server: ServerSection = ServerSection()
    cluster: ClusterSection = ClusterSection()
    failures: list[FailureSpec] = Field(default_factory=list)
    cost: CostSection = CostSection()
    sweep: SweepSection = SweepSection()

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain TOML-able data (units as strings)."""
        data = self.model_dump(mode="json")
        params = self.mechanism.params
        mech = {"kind": self.mechanism.kind}
        if params is not None:
            mech.update(params.model_dump(mode="json"))
        mech["backoff"] = data["mechanism"]["backoff"]
        data["mechanism"] = mech
        if not data["failures"]:
            del data["failures"]
        return data


# ---------------------------------------------------------------------------
# Loading, overrides and error messages


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
) -> ExperimentConfig:
    """Read, override and validate an experiment config.

    ``path`` is a TOML file (``None``: all defaults).  ``overrides`` are
    ``"dotted.key=value"`` strings as given to ``--set`` (values parsed as TOML,
    falling back to a bare string) or a mapping of dotted keys to values.
    Raises :class:`ConfigError` on any bad input.
    """
    source = str(path) if path is not None else "<defaults>"
    data: dict[str, Any] = {}
    if path is not None:
        data = read_toml(path)
    for key, value in _override_items(overrides, source):
        set_dotted(data, key, value)
    return validate_config(data, source)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a one-line ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"error: {p}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"error: {p}: cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"error: {p}: invalid TOML: {exc}") from None


def parse_override_value(text: str) -> Any:
    """A ``--set`` value: a TOML value if it parses as one, else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _override_items(overrides: Any, source: str) -> list[tuple[str, Any]]:
    if not overrides:
        return []
    if isinstance(overrides, dict):
        return list(overrides.items())
    items = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"error: --set {item!r}: expected KEY=VALUE, e.g. network.latency=80ms")
        items.append((key.strip(), parse_override_value(value.strip())))
    return items


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``a.b.c`` in nested dicts, creating tables on the way.

    ``failures.0.at`` addresses the first ``[[failures]]`` entry.
    """
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_list_index(part, node, parts[: i + 1])]
            continue
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict | list):
            raise ConfigError(f"error: --set {key}: {'.'.join(parts[: i + 1])} is not a table")
        node = child
    if isinstance(node, list):
        node[_list_index(parts[-1], node, parts)] = value
    else:
        node[parts[-1]] = value


def _list_index(part: str, items: list, path: list[str]) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(f"error: --set: {'.'.join(path)}: no such entry (there are {len(items)})")
    return int(part)


def validate_config(data: dict[str, Any], source: str = "<config>") -> ExperimentConfig:
    """Validate raw TOML data into an :class:`ExperimentConfig` (or raise ConfigError)."""
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, ExperimentConfig, ())) from None
    mech = config.mechanism
    kinds = registry.kinds()
    if mech.kind not in kinds:
        hint = _closest(mech.kind, kinds)
        raise ConfigError(
            f"error: {source}: mechanism.kind: unknown mechanism {mech.kind!r}"
            f" (choose from {', '.join(kinds)}){hint}"
        )
    params_model = registry.get(mech.kind).Params
    extra = dict(mech.model_extra or {})
    try:
        mech.params = params_model.model_validate(extra)
    except ValidationError as exc:
        raise ConfigError(
            _format_errors(exc, source, params_model, ("mechanism",), extra_keys=("kind", "backoff"))
        ) from None
    for key in list(extra):
        del mech.model_extra[key]
    _check_cross_fields(config, source)
    return config


def _check_cross_fields(config: ExperimentConfig, source: str) -> None:
    problems = []
    for i, failure in enumerate(config.failures):
        if failure.kind == "node_crash" and failure.node >= config.server.nodes:
            problems.append(
                f"error: {source}: failures.{i}.node: node {failure.node} does not exist"
                f" (server.nodes = {config.server.nodes}, nodes are numbered from 0)"
            )
    b = config.mechanism.backoff
    if b.max < b.initial:
        problems.append(f"error: {source}: mechanism.backoff.max: must be >= initial ({b.initial}s)")
    if problems:
        raise ConfigError(problems)


def _closest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Valid key names at ``loc`` inside ``model`` (for typo suggestions)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        candidates = [ann, *args]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return []
    if not hasattr(current, "model_fields"):
        return []
    return [name for name in current.model_fields if name != "params"]


def _format_errors(
    exc: ValidationError,
    source: str,
    model: type[BaseModel],
    prefix: tuple,
    extra_keys: tuple[str, ...] = (),
) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in (*prefix, *loc))
        if err["type"] == "extra_forbidden":
            valid = _fields_at(model, loc[:-1]) + list(extra_keys if len(loc) == 1 else ())
            hint = _closest(str(loc[-1]), valid)
            lines.append(f"error: {source}: {path}: unknown key{hint}")
            continue
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        given = err.get("input")
        if err["type"] not in ("missing",) and not isinstance(given, dict | list):
            msg = f"{msg}, got {given!r}" if "got " not in msg else msg
        lines.append(f"error: {source}: {path}: {msg}")
    return lines
