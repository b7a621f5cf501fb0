"""Shared small fixtures: fast configs and runs.

``small_config(**overrides)`` is a config of a few dozen clients for a short
simulated time (well under a second of wall time), with dotted-key overrides
as ``--set`` takes them; ``run_metrics(...)`` runs one and returns its metrics.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from simulator.config import ExperimentConfig, load_config, registry  # noqa: E402
from simulator.engine.runner import run  # noqa: E402

if "platform_push" not in registry.kinds():
    # An install made before platform_push joined the entry points (pip install -e . adds it):
    # the registry's run-time fallback, so the suite tests this checkout's mechanisms.
    from models.platform_push import PlatformPush  # noqa: E402

    registry.register(PlatformPush)

#: A quick experiment: 40 clients, 2 s interval, 60 s measured after 10 s of warm-up.
SMALL: dict[str, Any] = {
    "experiment.name": "test",
    "experiment.duration": "60s",
    "experiment.warmup": "10s",
    "clients.count": 40,
    "clients.connect_over": "2s",
    "mechanism.interval": "2s",
    "workload.rate": 0.5,
}


def make_config(overrides: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> ExperimentConfig:
    """``SMALL`` (or ``base``) with ``overrides`` applied, validated."""
    values = dict(SMALL if base is None else base)
    values.update(overrides or {})
    return load_config(None, values)


def run_metrics(overrides: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> dict[str, float]:
    """The metrics of one run of :func:`make_config` (books checked by the runner)."""
    return run(make_config(overrides, base)).metrics


@pytest.fixture
def small_config():
    return make_config


@pytest.fixture
def write_toml(tmp_path):
    """Write TOML text to a file in ``tmp_path``; returns its path."""

    def write(text: str, name: str = "exp.toml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
