"""Config: docs/design.md §4 defaults, every bad-input path, --set, round trips, dotted keys."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from simulator.config import (
    ConfigError,
    ExperimentConfig,
    load_config,
    registry,
    validate_config,
    validate_dotted_key,
)
from simulator.config.keys import dotted_keys, submodel

ROOT = Path(__file__).resolve().parent.parent

# The example config of the public contract (docs/config.md lists every key), verbatim except the optional [[failures]] and [sweep.grid]
# examples: every value in it is documented as the default.
DESIGN_DEFAULTS = """
[experiment]
seed = 1
duration = "10m"
warmup = "30s"
sample_every = "1s"
[clients]
count = 1000
connect_over = "10s"
[mechanism]
kind = "short_polling"
interval = "5s"
schedule = "fixed"
[mechanism.backoff]
initial = "1s"
max = "30s"
factor = 2.0
jitter = "full"
[workload]
pattern = "per_client"
topics = 100
rate = 0.2
arrivals = "poisson"
payload = "200B"
upstream_rate = 0.0
[network]
latency = "25ms"
bandwidth = "100Mbps"
[http]
request_headers = "500B"
response_headers = "371B"
tls = "1.3"
keep_alive = true
keep_alive_timeout = "75s"
[server]
nodes = 1
workers = 4
request_cost = "1ms"
message_cost = "50us"
max_connections = 10000
memory_per_connection = "40KiB"
memory_base = "256MiB"
[cluster]
balancer = "round_robin"
idle_timeout = "0s"
backplane_latency = "1ms"
store_cost = "500us"
[cost]
node_hour = 0.10
egress_gb = 0.09
[sweep]
replications = 3
"""


def test_defaults_match_design() -> None:
    written = validate_config(tomllib.loads(DESIGN_DEFAULTS))
    assert load_config(None) == written
    d = load_config(None)
    # spot checks in base units, against DESIGN's figures
    assert d.experiment.duration == 600.0 and d.experiment.warmup == 30.0
    assert d.network.latency.mean == 0.025 and d.network.bandwidth == 100e6
    assert d.http.request_headers + d.http.response_headers == 871
    assert d.server.memory_per_connection == 40 * 1024 and d.server.memory_base == 256 * 2**20
    assert d.server.message_cost.mean == 50e-6
    assert d.mechanism.params.interval.mean == 5.0 and d.failures == []


def errors(text: str | None = None, overrides=None, write=None) -> list[str]:
    """The error lines for a config (text written to a file) and overrides."""
    path = write(text) if text is not None else None
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    lines = info.value.lines
    for line in lines:
        assert line.startswith("error: ") and "\n" not in line
    return lines


BAD = [
    ("[experiment]\nduration = \n", "line 2, column 12: invalid TOML"),
    ("[experiment]\nduration = 0\n", "experiment.duration: must be > 0"),
    ("[experiment]\nwarmup = \"-5s\"\n", "experiment.warmup: must be >= 0"),
    ("[experiment]\nduratoin = \"5s\"\n", "experiment.duratoin: unknown key; did you mean 'duration'?"),
    ("[experiment]\nname = \"../x\"\n", "experiment.name: must be a plain folder name"),
    ("[experiment]\nseed = 1.5\n", "experiment.seed: must be a whole number"),
    ("[experimnt]\nseed = 1\n", "experimnt: unknown key; did you mean 'experiment'?"),
    ("experiment = 5\n", "experiment: must be a table"),
    ("[clients]\ncount = -5\n", "clients.count: must be >= 1, got -5"),
    ("[clients]\ncount = true\n", "clients.count: must be a whole number, got True"),
    ("[clients]\ncount = \"many\"\n", "clients.count: must be a whole number, got 'many'"),
    ("[clients]\nrate = 1\n", "clients.rate: unknown key; did you mean 'workload.rate'?"),
    ("[clients]\nconnect_over = \"2h\"\n", "clients.connect_over: 2h is longer than the run"),
    ("[mechanism]\nintervall = \"5s\"\n", "mechanism.intervall: unknown key; did you mean 'interval'?"),
    ("[mechanism]\ninterval = 0\n", "mechanism.interval: must be > 0"),
    ("[mechanism]\ninterval = {dist = \"exponential\", mean = \"0s\"}\n", "mechanism.interval: must be > 0"),
    ("[mechanism]\nschedule = \"after\"\n", "mechanism.schedule: must be 'fixed' or 'after_response'"),
    ("[mechanism]\nkind = \"short_poling\"\n", "did you mean 'short_polling'?"),
    ("[mechanism]\nkind = \"carrier_pigeon\"\n", "mechanism.kind: unknown mechanism 'carrier_pigeon'"),
    ("[mechanism.backoff]\nintial = \"1s\"\n", "mechanism.backoff.intial: unknown key; did you mean 'initial'?"),
    ("[mechanism.backoff]\ninitial = \"10s\"\nmax = \"1s\"\n", "mechanism.backoff.max: must be >= initial (10s)"),
    ("[mechanism.backoff]\njitter = \"ful\"\n", "did you mean 'full'?"),
    ("[workload]\npattern = \"broadcasts\"\n", "did you mean 'broadcast'?"),
    ("[workload]\nrate = inf\n", "workload.rate: must be a finite number"),
    ("[workload]\nrate = nan\n", "workload.rate: must be a finite number"),
    ("[workload]\npayload = \"5 parsecs\"\n", "workload.payload: unknown unit 'parsecs'"),
    ("[workload]\nupstream_rate = 1.0\n", "workload.upstream_rate: client -> server messages are not supported yet"),
    ("[network]\nlatency = \"5 parsecs\"\n", "network.latency: unknown unit 'parsecs' in '5 parsecs'"),
    ("[network]\nlatency = \"fast\"\n", "network.latency: expected a duration such as '40ms', got 'fast'"),
    ("[network]\nbandwidth = \"100mbps\"\n", "network.bandwidth: unknown unit 'mbps' in '100mbps'; did you mean 'Mbps'?"),
    ("[network]\nbandwidth = 0\n", "network.bandwidth: must be > 0"),
    ("[network]\nlatency = {dist = \"gamma\", mean = \"1ms\"}\n", "network.latency: dist must be one of"),
    ("[network]\nlatency = {dist = \"exponential\"}\n", "network.latency: an exponential distribution takes mean: missing 'mean'"),
    ("[network]\nlatency = {dist = \"uniform\", low = \"3ms\", high = \"1ms\"}\n", "network.latency: uniform needs low <= high"),
    ("[http]\ntls = 1.4\n", "http.tls: must be 'none', '1.2' or '1.3', got 1.4"),
    ("[http]\nkeep_alive = \"yes\"\n", "http.keep_alive: must be true or false, got 'yes'"),
    ("[server]\nnodes = 0\n", "server.nodes: must be >= 1, got 0"),
    ("[server]\nworkers = 1e9\n", "server.workers: must be <= 100000"),
    ("[server]\nrequest_cost = {dist = \"lognormal\", median = \"1ms\", sigma = 40}\n", "sigma: must be between 0 and 10"),
    ("[cluster]\nbalancer = \"random\"\n", "cluster.balancer: must be"),
    ("[[failures]]\nkind = \"node_crash\"\nnode = 3\nat = \"1m\"\n", "failures.0.node: node 3 does not exist (server.nodes = 1"),
    ("[[failures]]\nat = \"1m\"\n", "failures.0.kind: required key missing"),
    ("[[failures]]\nkind = \"node_crash\"\nat = \"1h\"\n", "failures.0.at: 1h is after the run ends"),
    ("[[failures]]\nkind = \"node_crash\"\nfraction = 0.5\n", "failures.0.fraction: node_crash does not take fraction"),
    ("[[failures]]\nkind = \"node_crash\"\nnodes = 0\n", "failures.0.nodes: unknown key; did you mean 'node'?"),
    ("[[failures]]\nkind = \"receiver_outage\"\nat = \"1m\"\n", "failures.0.kind: receiver_outage is not supported with mechanism.kind = 'short_polling'"),
    ("[[failures]]\nkind = \"node_crash\"\nat = \"1m\"\nduration = \"2m\"\n[[failures]]\nkind = \"node_crash\"\nat = \"2m\"\n",
     "failures.1: node 0 is still down then (failures.0 lasts until 3m)"),
    ("[experiment]\nsample_every = \"1us\"\n", "experiment.sample_every: 1us over 630s makes"),
    ("[sweep.grid]\n\"clients.cont\" = [1, 2]\n", "sweep.grid.\"clients.cont\": unknown key; did you mean 'clients.count'?"),
    ("[sweep.grid]\n\"clients.count\" = []\n", "needs at least one value"),
    ("[sweep.grid]\n\"clients.count\" = [10, -1]\n", "sweep.grid.\"clients.count\": value -1: must be >= 1"),
    ("[sweep.grid]\n\"mechanism.interval\" = [\"1s\", \"5 parsecs\"]\n", "value '5 parsecs': unknown unit"),
    ("[sweep.grid]\n\"mechanism.kind\" = [\"short_polling\", \"carrier_pigeon\"]\n", "value 'carrier_pigeon': unknown mechanism"),
    ("[sweep.grid]\n\"sweep.replications\" = [1, 2]\n", "the sweep section cannot be swept"),
]


@pytest.mark.parametrize("text, expected", BAD, ids=[b[1][:40] for b in BAD])
def test_bad_config_is_named_by_file_and_key(text: str, expected: str, write_toml) -> None:
    lines = errors(text, write=write_toml)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith(f"error: {write_toml('', 'probe.toml').parent}") for line in lines)


def test_every_problem_is_reported_at_once(write_toml) -> None:
    text = "[experiment]\nduratoin = 1\n[clients]\ncount = 0\n[mechanism]\nintervall = 1\n[network]\nlatency = \"5 parsecs\"\n"
    lines = errors(text, write=write_toml)
    assert len(lines) == 4
    for key in ("experiment.duratoin", "clients.count", "mechanism.intervall", "network.latency"):
        assert any(f": {key}: " in line for line in lines)


def test_missing_directory_and_binary_files(tmp_path) -> None:
    assert errors(overrides=None, write=lambda _: tmp_path / "nope.toml", text="") == [
        f"error: {tmp_path / 'nope.toml'}: no such file"
    ]
    assert "is a directory" in errors("", write=lambda _: tmp_path)[0]
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8" in errors("", write=lambda _: binary)[0]


def test_an_unknown_mechanism_is_refused_with_a_suggestion(write_toml) -> None:
    lines = errors('[mechanism]\nkind = "websocket2"\n', write=write_toml)
    assert "mechanism.kind: unknown mechanism 'websocket2' (choose from " in lines[0]
    assert "did you mean 'websocket'" in lines[0]


def test_mechanisms_come_from_the_entry_points_in_listing_order() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group=registry.GROUP)}
    listing = ["short_polling", "long_polling", "sse", "websocket", "webhook", "platform_push"]
    assert names == set(listing)
    assert registry.kinds()[:6] == listing


def test_a_models_module_in_the_working_directory_does_not_replace_the_mechanisms(tmp_path) -> None:
    """A stray models.py used to shadow every mechanism silently ("built so far: ")."""
    import subprocess
    import sys

    (tmp_path / "models.py").write_text("X = 1\n")
    code = "from simulator.config import registry; print(registry.kinds())"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "could not be loaded" in result.stderr and "shadowing" in result.stderr


# -- --set -----------------------------------------------------------------------


def test_set_overrides_nested_keys_and_failures(write_toml) -> None:
    path = write_toml('[[failures]]\nkind = "node_crash"\nnode = 0\nat = "1m"\n[server]\nnodes = 2\n')
    c = load_config(
        path,
        [
            "network.latency=80ms",
            "failures.0.at=3m",
            "failures.0.node=1",
            'server.request_cost={dist="exponential", mean="2ms"}',
            "mechanism.backoff.jitter=equal",
            "network.bandwidth=1Gbps",
            "experiment.name=override",
            "http.keep_alive=false",
        ],
    )
    assert c.network.latency.mean == 0.080
    assert c.failures[0].at == 180.0 and c.failures[0].node == 1
    assert c.server.request_cost.kind == "exponential" and c.server.request_cost.mean == 0.002
    assert c.mechanism.backoff.jitter == "equal"
    assert c.network.bandwidth == 1e9
    assert c.experiment.name == "override"  # a bare word is taken as a string
    assert c.http.keep_alive is False


def test_set_replaces_a_distribution_table_and_a_table_key(write_toml) -> None:
    path = write_toml('[network]\nlatency = {dist = "uniform", low = "10ms", high = "30ms"}\n')
    assert load_config(path, ["network.latency=5ms"]).network.latency.mean == 0.005
    assert load_config(path, ["network.latency.high=50ms"]).network.latency.b == 0.050


@pytest.mark.parametrize(
    "override, expected",
    [
        ("foo", "error: --set 'foo': expected KEY=VALUE"),
        ("=5", "expected KEY=VALUE"),
        ("clients.cnt=5", "error: --set: clients.cnt: unknown key; did you mean 'clients.count'?"),
        ("clients.count=0", "error: --set: clients.count: must be >= 1"),
        ("clients.count=100,1000", "lists of values are for `sim sweep`"),
        ("clients.count.x=3", "error: --set: clients.count.x: clients.count is not a table"),
        ("failures.0.at=5s", "error: --set: failures.0: no such entry (there are 0)"),
        ("a..b=1", "empty part in the key"),
        ("mechanism.kind=carrier_pigeon", "error: --set: mechanism.kind: unknown mechanism"),
        ("network.latency=5 parsecs", "error: --set: network.latency: unknown unit 'parsecs'"),
    ],
)
def test_bad_set_is_one_line_naming_set(override: str, expected: str) -> None:
    lines = errors(overrides=[override])
    assert any(expected in line for line in lines), lines


def test_mechanism_keys_of_another_kind_are_named(write_toml) -> None:
    lines = errors(overrides=["mechanism.hold=30s"])
    assert "mechanism.hold: unknown key for mechanism.kind = 'short_polling' (a long_polling key)" in lines[0]


# -- resolved config round trip ----------------------------------------------------------


def test_resolved_config_round_trips(write_toml) -> None:
    text = """
[experiment]
name = "rt"
duration = "90s"
warmup = "7.5s"
[clients]
count = 123
[mechanism]
interval = {dist = "lognormal", median = "1.5s", sigma = 0.3}
schedule = "after_response"
[network]
latency = {dist = "uniform", low = "10ms", high = "30ms"}
bandwidth = 12345678
[server]
nodes = 3
request_cost = {dist = "exponential", mean = "0.7ms"}
memory_base = "1.5GiB"
[[failures]]
kind = "node_crash"
node = 2
at = "40s"
duration = "0.123456789s"
[sweep.grid]
"clients.count" = [10, 20]
"""
    first = load_config(write_toml(text))
    again = load_config(write_toml(tomli_w.dumps(first.to_dict()), "resolved.toml"))
    assert again == first
    assert again.to_dict() == first.to_dict()
    assert again.mechanism.params == first.mechanism.params


def test_every_example_experiment_loads_and_round_trips(write_toml) -> None:
    for path in sorted((ROOT / "experiments").glob("*.toml")):
        try:
            first = load_config(path)
        except ConfigError as exc:
            if "not supported yet" in str(exc):
                continue  # an experiment for a mechanism still being built
            raise
        again = load_config(write_toml(tomli_w.dumps(first.to_dict()), "resolved.toml"))
        assert again == first, path


# -- dotted keys (sweep axes) -------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["clients.count", "network.latency", "network.latency.mean", "failures.0.at", "mechanism.kind",
     "mechanism.interval", "mechanism.backoff.jitter", "experiment", "server.request_cost.sigma"],
)
def test_valid_dotted_keys(key: str) -> None:
    validate_dotted_key(key)


@pytest.mark.parametrize(
    "key, expected",
    [
        ("clients.cont", "did you mean 'clients.count'?"),
        ("mechanism.intervall", "did you mean 'mechanism.interval'?"),
        ("failures.1.att", "did you mean 'failures.1.at'?"),
        ("clients.count.x", "clients.count is not a table"),
        ("failures.at", "address an entry as failures.N.key"),
        ("network.latency.foo", "latency is not a table"),
        ("", "empty part in the key"),
    ],
)
def test_invalid_dotted_keys(key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_dotted_key(key)
    assert expected in info.value.lines[0] and info.value.lines[0].startswith("error: --set: ")


# -- descriptions and the reference ---------------------------------------------------------


def _models():
    yield ExperimentConfig
    stack = [ExperimentConfig]
    while stack:
        for field in stack.pop().model_fields.values():
            sub = submodel(field.annotation)
            if sub is not None:
                stack.append(sub)
                yield sub
    for kind in registry.kinds():
        yield registry.get(kind).Params


def test_every_key_has_a_description() -> None:
    missing = [
        f"{model.__name__}.{name}"
        for model in _models()
        for name, field in model.model_fields.items()
        if not field.exclude and not (field.description or "").strip()
    ]
    assert not missing, f"keys without Field(description=...): {missing}"


def test_reference_lists_every_key() -> None:
    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    keys = [k.replace(".N.", ".N.") for k in dotted_keys(ExperimentConfig) if k != "failures"]
    for kind in registry.kinds():  # the generator picks every registered kind up
        keys += [f"mechanism.{k}" for k in dotted_keys(registry.get(kind).Params)]
    missing = [k for k in keys if f"`{k}`" not in doc]
    assert not missing, f"docs/config.md misses {missing}: run python docs/gen_config_doc.py"


def test_a_window_opening_before_every_client_connected_is_noted(capsys) -> None:
    """Clients still connecting when the window opens are owed notifications they cannot get
    (push) or get late (polls): the user is told, and told how to measure the steady state."""
    load_config(None, {"experiment.warmup": "0s", "clients.connect_over": "10s"})
    assert "set warmup >= connect_over" in capsys.readouterr().err
    load_config(None, {"experiment.warmup": "30s", "clients.connect_over": "10s"})
    assert capsys.readouterr().err == ""
