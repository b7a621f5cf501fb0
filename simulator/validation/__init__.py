"""``sim validate``: the simulator checked against queueing theory and published measurements.

Each case (see :mod:`simulator.validation.core`) compares one simulated
quantity, over several replications, with a closed form or a published
figure; :func:`run_validation` runs a suite and returns one verdict per case.

    from simulator.validation import build_cases, run_cases
    verdicts = run_cases(build_cases(quick=True), workers=2)
"""

from simulator.validation.core import Agree, AtLeast, AtMost, Case, Scenario, Verdict
from simulator.validation.execute import run_cases
from simulator.validation.suite import build_cases

__all__ = ["Agree", "AtLeast", "AtMost", "Case", "Scenario", "Verdict", "build_cases", "run_cases"]
