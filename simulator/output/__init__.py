"""Presentation: the metric catalogue, tables, figures and reports (docs/design.md, layers)."""
