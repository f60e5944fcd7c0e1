"""Twins of the simulated instruments; importing this package registers them all."""

from daclab.sim.twins import lakeshore350  # noqa: F401
