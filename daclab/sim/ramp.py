"""Moving a value towards a goal at a limited rate: heater setpoint ramps, magnet ramps."""

import math


def step_towards(value: float, goal: float, max_step: float, landing: float = 1e-9) -> float:
    """``value`` moved towards ``goal`` by at most ``max_step``; lands exactly on the goal when within
    reach (``landing`` absorbs the rounding that many small time steps carry)."""
    gap = goal - value
    return goal if abs(gap) <= max_step + landing else value + math.copysign(max_step, gap)
