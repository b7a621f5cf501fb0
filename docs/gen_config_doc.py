"""Generate ``docs/config.md`` from the pydantic config models and the mechanism registry.

    python docs/gen_config_doc.py            # rewrite docs/config.md
    python docs/gen_config_doc.py --check    # exit 1 if docs/config.md is out of date

Every key's default, unit and meaning come from the models (``Field(description=...)``),
and each registered mechanism's own keys from its ``Params`` model, so a mechanism
added to ``models/`` appears here after one regeneration.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import tomli_w

from simulator.config import (
    BackoffSection,
    ExperimentConfig,
    FailureSpec,
    OperationSpec,
    RadioSection,
    registry,
)
from simulator.config.keys import field_docs, submodel
from simulator.config.load import MAX_NODE_WINDOWS, MAX_WINDOWS
from simulator.config.profile import MAX_TRACE_BYTES, MAX_TRACE_ROWS
from simulator.config.sections import BITS_PER_SECOND_RANGE, BYTES_RANGE, SECONDS_RANGE
from simulator.engine.estimate import (
    MAX_RATE_PER_FEED,
    MAX_WALL_SECONDS,
    NOTICE_BYTES,
    NOTICE_WALL_SECONDS,
)

OUT = Path(__file__).with_name("config.md")

INTRO = """# Config reference

An experiment is one TOML file (see `experiments/`). Every key has a default, so
an empty file is a valid experiment; unknown keys are errors, with the closest
valid key suggested. The resolved config (defaults filled in) is written as
`config.toml` next to every result and runs as it is.

This page is generated from the config models by `python docs/gen_config_doc.py`;
do not edit it by hand.

## Values

| kind | accepted | examples |
|---|---|---|
| duration | a number of seconds, or a number with a unit `ns`, `us` (`µs`), `ms`, `s`, `m` (`min`), `h`, `d` | `"250us"`, `"40ms"`, `"5s"`, `"2m"`, `"1h"`, `0.5` |
| size | a number of bytes, or a number with a unit `B`, `kB` (`KB`), `MB`, `GB`, `TB`, `KiB`, `MiB`, `GiB`, `TiB` | `"871B"`, `"64KiB"`, `"5kB"`, `"2GiB"` |
| link rate | bits per second, or with a unit `bps`, `kbps`, `Mbps`, `Gbps`, `Tbps` | `"100Mbps"`, `"1Gbps"` |
| duration or distribution | a duration (a constant), or a table | see below |

Durations, sizes and rates are never negative, infinite or NaN, and each is 0 or
within the range the model resolves (a value outside it is refused, naming the range):

| kind | smallest non-zero | largest | why |
|---|---|---|---|
| duration (and a distribution's mean) | @S0@ | @S1@ s (about 317 years) | latencies below 1 ns fall in the histogram's zero bucket |
| size | @B0@ B | 2**50 B (1 PiB) | bytes x clients x deliveries must stay where floats add exactly |
| link rate | @R0@ bit/s | @R1@ bit/s | a slower link never finishes a frame |

`experiment.seed` is a whole number from 0 to 2**63 - 1.

Files a config names (a `[profile]` trace) and the config itself must be regular
files (not a pipe, device or folder); a config is at most 1 MiB, a trace at most
@TMIB@ MiB and @TROWS@ rows. A UTF-8 byte-order mark at the start is accepted.

Distribution tables (seconds; each is drawn afresh for every use):

| table | mean |
|---|---|
| `{dist = "constant", value = "5ms"}` | value |
| `{dist = "exponential", mean = "2ms"}` | mean |
| `{dist = "uniform", low = "10ms", high = "30ms"}` (low <= high) | (low + high) / 2 |
| `{dist = "lognormal", median = "20ms", sigma = 0.5}` (0 <= sigma <= 10) | median * e^(sigma^2 / 2) |

## Overrides and errors

`sim run CONFIG --set KEY=VALUE` overrides one key by its dotted path:
`--set network.latency=80ms`, `--set mechanism.interval=2s`,
`--set 'server.request_cost={dist="exponential", mean="2ms"}'`,
`--set failures.0.at=3m` (the first `[[failures]]` entry, which must exist).
The value is read as TOML, and as a bare string if it is not valid TOML.

Bad input exits with code 2 and prints one line per problem, all at once,
naming the file (or `--set`), the key path and the problem, never a traceback:

```
error: chat.toml: clients.count: must be >= 1, got -5
error: chat.toml: mechanism.intervall: unknown key; did you mean 'interval'?
error: --set: network.latency: unknown unit 'parsecs' in '5 parsecs' (known: ns, us, µs, ms, s, m, min, h, d)
```
"""

CHECKS = f"""## Checks across keys

Beyond each key's type and range, a config is refused when it asks for
something nobody could mean, or something not built yet:

- `mechanism.kind` must be a registered mechanism (`sim mechanisms`); a kind
  named in the design but not built yet fails with "not supported yet".
- `[[failures]]`: `node_crash` takes `node`, `at`, `duration`; `receiver_outage`
  takes `fraction`, `at`, `duration` (a key of the other kind is an error, not
  ignored). `node` must be below `server.nodes`; a node cannot crash again
  while it is down; `at` must fall inside the run (`warmup + duration`).
  `receiver_outage` needs `mechanism.kind = "webhook"`.
- `[autoscale]`: `min_nodes <= max_nodes`; the fleet starts at `server.nodes`
  brought within them.
- `[[operations]]`: `rolling_deploy` takes `at`, `batch`, `drain`,
  `deregistration_delay`, `boot_time`; `scale_to` takes `at`, `nodes` (required),
  `drain`, `boot_time`; `at` must fall inside the run.
- `workload.upstream_rate > 0` needs a mechanism with an upstream channel (WebSocket).
- `mechanism.backoff.max >= mechanism.backoff.initial`.
- `clients.connect_over` is not longer than the run.
- `(warmup + duration) / sample_every` is at most {MAX_WINDOWS:,} windows, and
  {MAX_NODE_WINDOWS:,} windows times `server.nodes`.
- `[sweep.grid]`: every key is a valid dotted key (as for `--set`), every
  list is non-empty and every value is valid for its key.
"""

SIZE = f"""## The size of a run

Before anything runs, `sim run`, `sim sweep` and `sim plan` estimate the run's
memory and wall time (`simulator/engine/estimate.py`; the method is in
docs/design.md §8). The estimate sees the whole run: a `[profile]`'s peak (for
memory) and mean (for the work), a trace's largest multiplier and its rows,
churn (`clients.session`, `clients.offline`) and the drain.

- A run estimated to need more memory than the machine has available (psutil)
  is refused, naming the key that drives the estimate.
- A run estimated at more than {MAX_WALL_SECONDS / 3600:g} hours of SimPy events is refused.
- A profile whose peak multiplier times `workload.rate` exceeds
  {MAX_RATE_PER_FEED:g} notifications/s per feed (the bound of `workload.rate`) is refused.
- Below those, a run estimated at more than {NOTICE_WALL_SECONDS / 60:g} minutes or
  {NOTICE_BYTES / 2**30:g} GiB starts with one line on stderr giving the estimate. At a
  terminal `sim run` then asks before going on; `--yes` or
  `experiment.confirm_large = true` skips the question. Without a terminal
  (scripts, CI) nothing is asked.
"""


def toml_value(value: Any) -> str:
    """A default as it would be written in TOML."""
    if value is None:
        return ""
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list) and not value:
        return "[]"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"  # one line in the table
    text = tomli_w.dumps({"v": value}).strip()
    return text[len("v = ") :] if text.startswith("v = ") else text.replace("\n", " ")


def table(model: Any, prefix: str = "", units: dict[str, str] | None = None) -> str:
    rows = ["| key | default | unit / values | meaning |", "|---|---|---|---|"]
    for doc in field_docs(model, prefix):
        if doc.key.endswith(".failures") or doc.key in ("failures", "operations"):
            continue
        unit = ((units or {}).get(doc.key.rsplit(".", 1)[-1]) or doc.unit).replace("|", "\\|")
        default = doc.default if doc.default == "(required)" else f"`{toml_value(doc.default)}`"
        meaning = doc.description.replace("|", "\\|") or "(no description yet)"
        rows.append(f"| `{doc.key}` | {default} | {unit} | {meaning} |")
    return "\n".join(rows)


def generate() -> str:
    limits = {
        "@S0@": "1 ns" if SECONDS_RANGE[0] == 1e-9 else f"{SECONDS_RANGE[0]:g} s", "@S1@": f"{SECONDS_RANGE[1]:g}",
        "@B0@": f"{BYTES_RANGE[0]:g}", "@R0@": f"{BITS_PER_SECOND_RANGE[0]:g}", "@R1@": f"{BITS_PER_SECOND_RANGE[1]:g}",
        "@TMIB@": f"{MAX_TRACE_BYTES // 2**20}", "@TROWS@": f"{MAX_TRACE_ROWS:,}",
    }
    intro = INTRO
    for token, value in limits.items():
        intro = intro.replace(token, value)
    parts = [intro]
    for name, field in ExperimentConfig.model_fields.items():
        if name == "failures":
            parts.append("## `[[failures]]`\n\n" + (field.description or ""))
            parts.append(table(FailureSpec, "failures.N."))
            continue
        if name == "operations":
            parts.append("## `[[operations]]`\n\n" + (field.description or ""))
            parts.append(table(OperationSpec, "operations.N."))
            continue
        model = submodel(field.annotation)
        parts.append(f"## `[{name}]`\n\n{field.description or ''}")
        if name == "mechanism":
            parts.append(table(model, "mechanism."))
            parts.append("### `[mechanism.backoff]`\n\n" + (model.model_fields["backoff"].description or ""))
            parts.append(table(BackoffSection, "mechanism.backoff."))
            for kind in registry.kinds():
                cls = registry.get(kind)
                parts.append(f"### `kind = \"{kind}\"`\n\n{getattr(cls, 'summary', '')}")
                parts.append(table(cls.Params, "mechanism.", getattr(cls, "units", None)))
            continue
        parts.append(table(model, f"{name}."))
        if name == "clients":
            parts.append("### `[clients.radio]`\n\n" + (model.model_fields["radio"].description or "")
                         + " Sources of the defaults: docs/mobile.md.")
            parts.append(table(RadioSection, "clients.radio."))
    parts.append(CHECKS)
    parts.append(SIZE)
    return "\n\n".join(p.strip() for p in parts) + "\n"


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python docs/gen_config_doc.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
