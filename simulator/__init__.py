"""notifysim: a discrete-event simulator of server-to-client notification mechanisms.

Python API::

    import simulator
    config = simulator.load_config("experiments/quickstart.toml", ["clients.count=500"])
    result = simulator.run(config)
    result.metrics["latency.p99"]
    rows = simulator.plan("experiments/quickstart.toml", clients=[1000, 5000],
                          slos=["latency.p99<=5.5s"], out="results/plan", resume=True)
"""

from simulator.config import ConfigError, ExperimentConfig, load_config
from simulator.engine.runner import Result, run
from simulator.workflow.planner import plan  # fewest nodes per mechanism and client count
from simulator.workflow.sweep import sweep  # runs table of a grid x replications (list of dicts)

__all__ = ["ConfigError", "ExperimentConfig", "Result", "load_config", "plan", "run", "sweep"]
