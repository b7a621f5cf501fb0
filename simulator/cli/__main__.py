"""`python -m simulator.cli`: the `sim` command."""

from simulator.cli import main

main()
