"""The config layer: units, distributions, typed sections, key paths, loading and ``--set``.

It imports nothing else of the project (docs/design.md, "Layers"); mechanisms'
parameter models reach it through :mod:`simulator.config.registry`, which finds
them by entry point.  The names below are the layer's public face.
"""

from simulator.config.keys import ConfigError, set_dotted
from simulator.config.load import (
    load_config,
    parse_override_value,
    read_toml,
    validate_config,
    validate_dotted_key,
)
from simulator.config.sections import (
    DEFAULT_KIND,
    FAILURE_KEYS,
    OPERATION_KEYS,
    RADIO_PROFILES,
    AutoscaleSection,
    BackoffSection,
    BitsPerSecond,
    Bytes,
    ClientsSection,
    ClusterSection,
    CostSection,
    Count,
    ExperimentConfig,
    ExperimentSection,
    FailureSpec,
    Flag,
    HttpSection,
    MechanismSection,
    NetworkSection,
    Number,
    OperationSpec,
    PositiveSecondsDist,
    ProfileSection,
    RadioSection,
    Seconds,
    SecondsDist,
    ServerSection,
    SweepSection,
    WorkloadSection,
)

__all__ = [
    "DEFAULT_KIND", "FAILURE_KEYS", "OPERATION_KEYS", "RADIO_PROFILES", "RadioSection", "AutoscaleSection", "OperationSpec", "BackoffSection", "BitsPerSecond", "Bytes", "ClientsSection", "ClusterSection",
    "ConfigError", "CostSection", "Count", "ExperimentConfig", "ExperimentSection", "FailureSpec",
    "Flag", "HttpSection", "MechanismSection", "NetworkSection", "ProfileSection", "Number", "PositiveSecondsDist",
    "Seconds", "SecondsDist", "ServerSection", "SweepSection", "WorkloadSection", "load_config",
    "parse_override_value", "read_toml", "set_dotted", "validate_config", "validate_dotted_key",
]
