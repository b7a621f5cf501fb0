"""What every ``sim`` command shares: the consoles, the error convention, default folders."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.console import Console

from simulator.config import ConfigError

console = Console()
err_console = Console(stderr=True)


class SimGroup(click.Group):
    """Turns ConfigError from any command into a clean exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for line in exc.lines:
                click.echo(line if line.startswith("error:") else f"error: {line}", err=True)
            ctx.exit(2)


def default_out(name: str) -> Path:
    """``results/<name>/<timestamp>`` (local time, to the second)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / name / stamp
