"""Superconducting magnet: ramps towards a target at a set rate, holds, pauses, zeroes, quenches.

The coil quenches when it is pushed past what it can take: a field beyond its rating or a ramp
faster than its safe rate. The field then collapses within seconds and the stored energy warms
the cryostat, as a real quench does. The supply's own limits (which refuse such a request
before it reaches the coil) belong to the drivers and their safety checks, not to the coil.
"""

from __future__ import annotations

import dataclasses
import math

from daclab.sim.ramp import step_towards

STATES = ("at_zero", "holding", "ramping", "paused", "zeroing", "quench")


@dataclasses.dataclass
class MagnetParameters:
    rated_field_T: float = 9.0
    safe_rate_T_per_min: float = 0.5  # faster ramps quench the coil
    quench_decay_s: float = 2.0
    stored_energy_at_rating_J: float = 5.0  # the part of the stored energy that reaches the stage


class Magnet:
    def __init__(self, parameters: MagnetParameters | None = None):
        self.parameters = parameters or MagnetParameters()
        self.field_T = 0.0
        self.target_T = 0.0
        self.rate_T_per_min = 0.1
        self.state = "at_zero"
        self.quench_count = 0

    # ---- commands (what a supply's RAMP / PAUSE / ZERO buttons do) -------------------------

    def ramp(self) -> None:
        if self.state != "quench":
            self.state = "ramping"

    def pause(self) -> None:
        if self.state != "quench":
            self.state = "paused"

    def zero(self) -> None:
        if self.state != "quench":
            self.state = "zeroing"

    def reset_quench(self) -> None:
        if self.state == "quench":
            self.state = "at_zero" if abs(self.field_T) < 1e-6 else "paused"

    # ---- time evolution -----------------------------------------------------------------

    def step(self, dt: float) -> float:
        """Advance by dt seconds; returns the heat (J) a quench dumps into the cryostat."""
        p = self.parameters
        if self.state == "quench":
            self.field_T *= math.exp(-dt / p.quench_decay_s)
            if abs(self.field_T) < 1e-6:
                self.field_T = 0.0
            return 0.0
        if self.state not in ("ramping", "zeroing"):
            return 0.0
        goal = self.target_T if self.state == "ramping" else 0.0
        if self.rate_T_per_min > p.safe_rate_T_per_min and self.field_T != goal:
            return self._quench()
        self.field_T = step_towards(self.field_T, goal, self.rate_T_per_min / 60.0 * dt)
        if self.field_T == goal:
            self.state = "at_zero" if goal == 0.0 else "holding"
        if abs(self.field_T) > p.rated_field_T:
            return self._quench()
        return 0.0

    def time_to_target_s(self) -> float:
        goal = 0.0 if self.state == "zeroing" else self.target_T
        return abs(goal - self.field_T) / (self.rate_T_per_min / 60.0) if self.rate_T_per_min > 0 else math.inf

    def _quench(self) -> float:
        energy = self.parameters.stored_energy_at_rating_J * (self.field_T / self.parameters.rated_field_T) ** 2
        self.state = "quench"
        self.quench_count += 1
        return energy
