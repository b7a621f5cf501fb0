"""Sweeps, the executor and capacity planning: everything that runs many simulations."""

