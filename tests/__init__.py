"""The test suite (a package, so `tests.conftest` is ours even when an installed
distribution such as ciw ships a top-level `tests` package)."""
