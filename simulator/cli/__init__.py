"""The ``sim`` command line: click commands only, one module per command family.

Each command is a thin shell over the workflow and output layers.  Bad input
of any kind is a :class:`~simulator.config.ConfigError` or a click usage
error: printed as one or a few lines, exit code 2, never a traceback.
"""

from __future__ import annotations

import click

from simulator.cli.common import SimGroup
from simulator.cli.figures import figures_command
from simulator.cli.plan import plan_command
from simulator.cli.run import mechanisms_command, run_command
from simulator.cli.testbed import calibrate_command, testbed_command
from simulator.cli.validate import validate_command
from simulator.cli.workflow import plot_command, report_command, sweep_command


@click.group(cls=SimGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="sim")
def main() -> None:
    """Simulate how servers notify clients: short/long polling, SSE, WebSockets, webhooks."""


for _command in (run_command, sweep_command, plot_command, report_command, validate_command,
                 plan_command, mechanisms_command, figures_command, testbed_command, calibrate_command):
    main.add_command(_command)

__all__ = ["main"]
