"""Measuring at fixed temperatures: the parameters and steps every such procedure shares.

Holding a temperature in a diamond anvil cell takes two waits. The thermometer on the cell body
must stay within ``tolerance_K`` of the setpoint for ``stable_s`` (given up after
``stabilise_timeout_s``); then the sample inside the cell, a thermal time constant of minutes
away, needs ``thermalise_s`` more to follow it, or what is measured belongs to another
temperature (PHYSICS.md section 2).

- :class:`TemperatureHold`: those four parameters and :meth:`TemperatureHold.settle_at`, for any
  procedure that holds temperatures (the R-T steps as well).
- :class:`TemperaturePoints`: a list of temperatures ``temperatures_K`` visited in order at
  ``rate_K_per_min``, its checks against the lab's limits and its duration.

Both are mixins for a :class:`~daclab.procedures.base.LabProcedure` subclass (they call its
``stabilise`` and ``wait``); pymeasure finds their parameters by inheritance. A procedure whose
default differs redefines the attribute with the ``*_parameter`` function of this module.
"""

from __future__ import annotations

import itertools

from pymeasure.experiment import FloatParameter, Parameter

from daclab.limits import SoftwareLimits, parse_numbers


def tolerance_parameter(default_K: float = 0.05) -> FloatParameter:
    return FloatParameter("Temperature tolerance", units="K", default=default_K, minimum=0.001, maximum=10.0)


def stable_parameter(default_s: float = 60.0) -> FloatParameter:
    return FloatParameter("Temperature stable for", units="s", default=default_s, minimum=0.0, maximum=36000.0)


def thermalise_parameter(default_s: float = 1200.0) -> FloatParameter:
    return FloatParameter("Sample thermalisation wait", units="s", default=default_s, minimum=0.0,
                          maximum=172800.0, description="the sample in the cell lags the thermometer")


def stabilise_timeout_parameter(default_s: float = 7200.0) -> FloatParameter:
    return FloatParameter("Stabilisation time-out", units="s", default=default_s, minimum=1.0, maximum=172800.0)


def temperatures_parameter(default: str) -> Parameter:
    return Parameter("Temperatures (K)", default=default, description="K, separated by commas")


class TemperatureHold:
    """Tolerance, stable time, thermalisation wait and time-out of a held temperature."""

    tolerance_K = tolerance_parameter()
    stable_s = stable_parameter()
    thermalise_s = thermalise_parameter()
    stabilise_timeout_s = stabilise_timeout_parameter()

    def settle_at(self, kelvin: float, rate_K_per_min: float | None = None) -> float:
        """Set ``kelvin`` (ramped at ``rate_K_per_min``, at once when None), wait until the
        thermometer holds it, then let the sample follow; returns the thermometer's reading."""
        temperature = self.stabilise(kelvin, self.tolerance_K, self.stable_s, self.stabilise_timeout_s,
                                     rate_K_per_min)
        self.wait(self.thermalise_s)
        return temperature

    def hold_s(self) -> float:
        """The least time one held temperature takes once the thermometer is there."""
        return self.stable_s + self.thermalise_s


class TemperaturePoints(TemperatureHold):
    """A list of temperatures, each reached at ``rate_K_per_min`` and held (:class:`TemperatureHold`)."""

    temperatures_K = temperatures_parameter("60, 65, 70, 75")
    rate_K_per_min = FloatParameter("Temperature ramp rate", units="K/min", default=1.0, minimum=0.0, maximum=100.0,
                                    description="0 steps the setpoint at once")

    def temperature_points(self) -> list[float]:
        """``temperatures_K`` as numbers (LimitError naming it when the text is not a list of numbers)."""
        example = ", ".join(type(self).temperatures_K.default.split(", ")[:3])  # from this procedure's default
        return parse_numbers("temperatures_K", self.temperatures_K, "K", example)

    def validate_temperature_points(self, limits: SoftwareLimits) -> list[float]:
        """Each temperature and the ramp rate against the lab's limits; returns the temperatures."""
        temperatures = self.temperature_points()
        for index, kelvin in enumerate(temperatures):
            limits.temperature(f"temperatures_K[{index}]", kelvin)
        limits.temperature_rate("rate_K_per_min", self.rate_K_per_min)
        return temperatures

    def ramp_time_s(self, temperatures: list[float]) -> float:
        """Time the setpoint spends ramping from the first temperature through the others (0 when
        the setpoint is stepped at once)."""
        if self.rate_K_per_min <= 0:
            return 0.0
        travel_K = sum(abs(b - a) for a, b in itertools.pairwise(temperatures))
        return travel_K / self.rate_K_per_min * 60.0

    def go_to_point(self, kelvin: float) -> float:
        """Ramp to one temperature of the list and hold it (:meth:`TemperatureHold.settle_at`)."""
        return self.settle_at(kelvin, self.rate_K_per_min or None)


__all__ = ["TemperatureHold", "TemperaturePoints", "tolerance_parameter", "stable_parameter",
           "thermalise_parameter", "stabilise_timeout_parameter", "temperatures_parameter"]
