"""``sim calibrate``: the ``[server]`` (and ``[http]``) costs of a real stack, fitted from testbed runs.

- CPU: least squares without intercept (non-negative, ``scipy.optimize.nnls``) of the
  server's CPU seconds in the window on (requests, messages written on open connections):
  ``cpu = request_cost x requests + message_cost x messages`` over the runs.  Two runs
  that differ in their mix (a polling run and a streaming run) pin both costs down; with
  three or more, the seconds of the window are a third column and its coefficient is
  ``idle_cpu`` (CPU per second whatever the traffic), written when it is in (0, 1).
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


def messages_of(metrics: dict[str, float]) -> float:
    """Writes on open connections the model charges message_cost for."""
    return metrics["messages.pushed"] + metrics["messages.heartbeats"] + metrics["messages.upstream"]


def calibrate(folders: list[Path]) -> dict[str, Any]:
    runs = [read_run(f) for f in folders]
    duration = [parse_duration(r["config"]["experiment"]["duration"]) for r in runs]
    x = np.array([[r["metrics"]["requests.total"], messages_of(r["metrics"])] for r in runs], dtype=float)
    y = np.array([r["run"]["server_cpu_seconds"] for r in runs], dtype=float)
    used = [j for j in range(2) if x[:, j].any()]
    if not used:
        raise ConfigError("error: calibrate: the runs carried no requests and no messages: nothing to fit")
    coef = np.zeros(2)
    coef[used], _ = nnls(x[:, used], y)
    two_terms = x @ coef
    # CPU a server spends per second whatever the traffic (its event loop, timers, keep-alive
    # bookkeeping): server.idle_cpu.  With three runs or more it is fitted alongside the two
    # costs (which then shrink: without it they absorb it and over-charge at higher loads).
    idle = None
    fitted = two_terms
    if len(runs) >= 3:
        x3 = np.column_stack([x[:, used], duration])
        coef3, _ = nnls(x3, y)
        if 0.0 < coef3[-1] < 1.0:
            idle = {"cpu_fraction": float(coef3[-1]),
                    "residual_fractions_without": [float(v) for v in (y - two_terms) / np.where(y > 0, y, 1)]}
            coef[used] = coef3[:-1]
            fitted = x3 @ coef3
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
                  "requests": x[i, 0], "messages": x[i, 1], "duration_seconds": duration[i],
                  "cpu_seconds": y[i], "cpu_seconds_fitted": fitted[i],
                  "residual_fraction": (y[i] - fitted[i]) / y[i] if y[i] else 0.0} for i, r in enumerate(runs)],
        "request_cost_mean": float(coef[0]) if 0 in used else None,
        "request_cost_sigma": sigma,
        "message_cost": float(coef[1]) if 1 in used else None,
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
    if fit["message_cost"] is not None:
        server["message_cost"] = _duration(fit["message_cost"])
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
    lines = [f"# sim calibrate: {len(fit['runs'])} testbed run(s) on {host.get('cpu', '?')}, {host.get('cores', '?')} cores",
             "# CPU seconds = request_cost x requests + message_cost x messages"
             + (" + idle_cpu x seconds" if fit.get("idle_cpu") else "") + " (least squares, >= 0)"]
    for run in fit["runs"]:
        lines.append(f"#   {run['kind']:<14} {run['requests']:>8.0f} requests {run['messages']:>8.0f} messages:"
                     f" {run['cpu_seconds']:.3f} s measured, {run['cpu_seconds_fitted']:.3f} s fitted"
                     f" ({run['residual_fraction']:+.1%})  {run['folder']}")
    if fit.get("idle_cpu"):
        idle = fit["idle_cpu"]
        spread = ", ".join(f"{r:+.1%}" for r in idle["residual_fractions_without"])
        lines.append(f"# idle_cpu: {idle['cpu_fraction']:.1%} of a core whatever the traffic; without it the"
                     f" two costs absorb it and the residuals are {spread}")
    elif len(fit["runs"]) < 3:
        lines.append("# idle_cpu: not fitted (it takes three runs or more, of different lengths or loads)")
    if fit["message_cost"] is None:
        lines.append("# message_cost: not fitted (no run wrote messages on open connections; add an sse or websocket run)")
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
