"""The mechanisms, one module each, on the contract of :mod:`models.base`.

They are found through the ``notifysim.mechanisms`` entry points (pyproject.toml),
not by importing this package.
"""
