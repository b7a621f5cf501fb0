"""``sim calibrate``: the ``[server]`` (and ``[http]``) costs of a real stack, fitted from testbed runs.

- CPU: least squares without intercept (non-negative, ``scipy.optimize.nnls``) of the
  server's CPU seconds in the window on what the model charges a cost for, one column
  per cost some run exercised: requests (``request_cost``), messages written on SSE
  streams (``message_cost``), WebSocket frames (``websocket_message_cost``: pushed,
  pings written and pongs read, client messages) and held long polls answered
  (``held_response_cost``).  A column the runs cannot tell apart from the earlier ones
  (a single long-polling run: its held polls move with its requests) is left out and
  the table says why.  With a run more than the costs (three at least), the seconds of
  the window are one more column and its coefficient is ``idle_cpu`` (CPU per second
  whatever the traffic), written when it is in (0, 1).
- The shape of ``request_cost``: a lognormal whose spread is the spread of the per-request
  CPU time the server's handlers measured, scaled so its mean is the fitted mean.
- Memory: the server's RSS against its open connections (least squares per run):
  ``memory_per_connection`` is the median slope, ``memory_base`` the median intercept.
- Headers: from the kernel's byte counts of polling runs, bytes per request beyond payloads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from simulator.config import ConfigError
from simulator.config.units import format_duration, parse_duration, parse_size
from simulator.testbed.output import read_samples
from simulator.testbed.run import rss_fit


def read_run(folder: Path) -> dict[str, Any]:
    """A testbed run folder's summary, refused in one line if it cannot be fitted."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"error: {folder}: not a testbed run folder (summary.json: {exc})") from None
    if not summary.get("run", {}).get("testbed") or summary["run"].get("server_cpu_seconds") is None:
        raise ConfigError(f"error: {folder}: not a testbed run of the built-in server (no server CPU measured)")
    if summary["run"].get("emulated_costs"):
        raise ConfigError(f"error: {folder}: a run with --emulate-costs measures the configured costs, not the stack's")
    summary["folder"] = str(folder)
    summary["samples"] = read_samples(folder)
    return summary


#: The CPU costs fitted, in the order a column is tried (a column that adds nothing the
#: earlier ones do not already explain is left out), and what each run counts for each.
COSTS = ("request_cost", "message_cost", "websocket_message_cost", "held_response_cost")
COUNTED = ("requests", "messages", "WebSocket frames", "held polls")
#: Messages the model charges per heartbeat (the models' ``Framing.heartbeat_messages``):
#: an SSE comment written; a WebSocket ping written and its pong read.
HEARTBEAT_MESSAGES = {"sse": 1, "websocket": 2}
#: Why a cost no run exercised is not fitted (the table says it).
NOT_EXERCISED = {
    "request_cost": "the runs carried no requests",
    "message_cost": "no run wrote messages on an SSE stream; add an sse run",
    "websocket_message_cost": "no websocket run; without it a WebSocket frame costs message_cost",
    "held_response_cost": "no long_polling run counted held polls; without it an answer costs message_cost",
}


def cost_counts(run: dict[str, Any]) -> np.ndarray:
    """What the model charges each of :data:`COSTS` for in one run: requests, SSE messages, frames, held polls."""
    m, kind = run["metrics"], run["config"]["mechanism"]["kind"]
    writes = m["messages.pushed"] + HEARTBEAT_MESSAGES.get(kind, 1) * m["messages.heartbeats"] + m["messages.upstream"]
    counts = np.zeros(len(COSTS))
    counts[0] = m["requests.total"]
    if kind == "websocket":
        counts[2] = writes
    elif kind == "long_polling":
        counts[3] = run["run"].get("requests_held") or 0  # runs from before it was counted: 0
    else:
        counts[1] = writes
    return counts


def _separable(x: np.ndarray) -> tuple[list[int], dict[str, str]]:
    """The columns of ``x`` (runs x COSTS) the runs tell apart, and why each other one is not fitted."""
    used: list[int] = []
    skipped: dict[str, str] = {}
    for j, name in enumerate(COSTS):
        if not x[:, j].any():
            skipped[name] = NOT_EXERCISED[name]
        elif np.linalg.matrix_rank(x[:, [*used, j]]) <= len(used):
            others = " and ".join(COUNTED[k] for k in used)
            skipped[name] = f"its {COUNTED[j]} move with the {others} in every run: add a run of another mix or load"
        else:
            used.append(j)
    return used, skipped


def calibrate(folders: list[Path]) -> dict[str, Any]:
    """Fit the `[server]` and `[http]` costs from testbed runs (non-negative least squares)."""
    runs = [read_run(f) for f in folders]
    duration = np.array([parse_duration(r["config"]["experiment"]["duration"]) for r in runs])
    x = np.array([cost_counts(r) for r in runs], dtype=float)
    y = np.array([r["run"]["server_cpu_seconds"] for r in runs], dtype=float)
    used, skipped = _separable(x)
    if not used:
        raise ConfigError("error: calibrate: the runs carried no requests and no messages: nothing to fit")
    coef = np.zeros(len(COSTS))
    coef[used], _ = nnls(x[:, used], y)
    costs_only = x @ coef
    # CPU a server spends per second whatever the traffic (its event loop, timers, keep-alive
    # bookkeeping): server.idle_cpu.  With a run more than the costs (and three at least) the
    # window's seconds are one more column (the costs then shrink: without it they absorb it
    # and over-charge at higher loads).
    idle = None
    fitted = costs_only
    x_idle = np.column_stack([x[:, used], duration])
    if len(runs) >= max(3, len(used) + 1) and np.linalg.matrix_rank(x_idle) == len(used) + 1:
        coef_idle, _ = nnls(x_idle, y)
        if 0.0 < coef_idle[-1] < 1.0:
            idle = {"cpu_fraction": float(coef_idle[-1]),
                    "residual_fractions_without": [float(v) for v in (y - costs_only) / np.where(y > 0, y, 1)]}
            coef[used] = coef_idle[:-1]
            fitted = x_idle @ coef_idle
    sigmas = [(r["run"]["request_cpu"]["sigma"], r["run"]["request_cpu"]["n"]) for r in runs if r["run"].get("request_cpu")]
    sigma = float(np.average([s for s, _ in sigmas], weights=[n for _, n in sigmas])) if sigmas else 0.0
    slopes, bases = [], []
    for r in runs:
        slope, base = rss_fit(r["samples"])
        if slope is not None:
            slopes.append(slope)
            bases.append(base)
    headers_up, headers_down = [], []
    for r in runs:
        m, kind = r["metrics"], r["config"]["mechanism"]["kind"]
        if kind in ("short_polling", "long_polling") and m["requests.total"] and m["network.bytes_up"]:
            payload = _bytes(r["config"]["workload"]["payload"])
            headers_up.append(m["network.bytes_up"] / m["requests.total"])
            carried = payload * (m["deliveries.delivered"] + m["deliveries.duplicates"])
            headers_down.append((m["network.bytes_down"] - carried) / m["requests.total"])
    return {
        "runs": [{"folder": r["folder"], "kind": r["config"]["mechanism"]["kind"],
                  "requests": x[i, 0], "messages": x[i, 1], "frames": x[i, 2], "held": x[i, 3],
                  "duration_seconds": float(duration[i]),
                  "cpu_seconds": y[i], "cpu_seconds_fitted": fitted[i],
                  "residual_fraction": (y[i] - fitted[i]) / y[i] if y[i] else 0.0} for i, r in enumerate(runs)],
        "request_cost_mean": float(coef[0]) if 0 in used else None,
        "request_cost_sigma": sigma,
        "message_cost": float(coef[1]) if 1 in used else None,
        "websocket_message_cost": float(coef[2]) if 2 in used else None,
        "held_response_cost": float(coef[3]) if 3 in used else None,
        "not_fitted": skipped,
        "memory_per_connection": float(np.median(slopes)) if slopes else None,
        "memory_base": float(np.median(bases)) if bases else None,
        "request_headers": float(np.mean(headers_up)) if headers_up else None,
        "response_headers": float(np.mean(headers_down)) if headers_down else None,
        "idle_cpu": idle,
        "host": runs[0]["run"].get("host", {}),
    }


def _bytes(value: Any) -> float:
    return parse_size(value) if isinstance(value, str) else float(value)


def server_config(fit: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fitted values as config sections (``{"server": {...}, "http": {...}}``)."""
    server: dict[str, Any] = {"workers": 1}
    if fit["request_cost_mean"] is not None:
        mean, sigma = fit["request_cost_mean"], fit["request_cost_sigma"]
        if sigma > 0:
            median = mean * math.exp(-sigma * sigma / 2)  # lognormal: mean = median e^(sigma^2/2)
            server["request_cost"] = {"dist": "lognormal", "median": _duration(median), "sigma": round(sigma, 3)}
        else:
            server["request_cost"] = _duration(mean)
    for key in COSTS[1:]:
        if fit.get(key) is not None:
            server[key] = _duration(fit[key])
    if fit.get("idle_cpu"):
        server["idle_cpu"] = float(f"{fit['idle_cpu']['cpu_fraction']:.3g}")
    if fit["memory_per_connection"] is not None and fit["memory_per_connection"] > 0:
        server["memory_per_connection"] = f"{round(fit['memory_per_connection'])}B"
        server["memory_base"] = f"{round(fit['memory_base'])}B"
    http: dict[str, Any] = {"tls": "none"}
    if fit["request_headers"] is not None:
        http["request_headers"] = f"{round(fit['request_headers'])}B"
        http["response_headers"] = f"{round(fit['response_headers'])}B"
    return {"server": server, "http": http}


def _duration(seconds: float) -> str:
    return format_duration(float(f"{seconds:.3g}"))


def server_table(fit: dict[str, Any]) -> str:
    """The tables ready to paste, with the fit's residuals as comments."""
    sections = server_config(fit)
    host = fit.get("host", {})
    terms = [f"{key} x {what}" for key, what in zip(COSTS, COUNTED, strict=True)
             if fit.get("request_cost_mean" if key == "request_cost" else key) is not None]
    lines = [f"# sim calibrate: {len(fit['runs'])} testbed run(s) on {host.get('cpu', '?')}, {host.get('cores', '?')} cores",
             "# CPU seconds = " + " + ".join(terms)
             + (" + idle_cpu x seconds" if fit.get("idle_cpu") else "") + " (least squares, >= 0)"]
    for run in fit["runs"]:
        did = [f"{run['requests']:>8.0f} requests"]
        did += [f"{run[field]:.0f} {what}" for field, what in zip(("messages", "frames", "held"), COUNTED[1:], strict=True)
                if run.get(field)]
        lines.append(f"#   {run['kind']:<14} {', '.join(did)}:"
                     f" {run['cpu_seconds']:.3f} s measured, {run['cpu_seconds_fitted']:.3f} s fitted"
                     f" ({run['residual_fraction']:+.1%})  {run['folder']}")
    if fit.get("idle_cpu"):
        idle = fit["idle_cpu"]
        spread = ", ".join(f"{r:+.1%}" for r in idle["residual_fractions_without"])
        lines.append(f"# idle_cpu: {idle['cpu_fraction']:.1%} of a core whatever the traffic; without it the"
                     f" costs absorb it and the residuals are {spread}")
    elif len(fit["runs"]) < 3:
        lines.append("# idle_cpu: not fitted (it takes three runs or more, of different lengths or loads)")
    else:
        lines.append("# idle_cpu: not fitted (it takes one run more than the costs fitted, of another length or"
                     " load, and a fraction of a core in (0, 1))")
    for key, why in fit.get("not_fitted", {}).items():
        lines.append(f"# {key}: not fitted ({why})")
    if fit["memory_per_connection"] is None:
        lines.append("# memory_per_connection: not fitted (no run held enough open connections)")
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
            else:
                lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    return "\n".join(lines) + "\n"
