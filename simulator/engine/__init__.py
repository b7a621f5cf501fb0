"""The simulation engine: building blocks every mechanism runs on (see docs/design.md)."""
