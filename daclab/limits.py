"""Safety limits, checked before anything is written to an instrument.

Two layers: the hardware's own limits (what the instrument accepts, in the drivers' validators)
and the software limits of this setup and sample (what the user allows, e.g. an 80 mA pulse
ceiling to protect the electrodes of a cell, as in paper 001). Both raise :class:`LimitError`
with the parameter's name, the value and the allowed range.
"""

from __future__ import annotations

import dataclasses


class LimitError(ValueError):
    """A value outside what the hardware or the user allows; nothing was sent."""


def check_range(parameter: str, value: float, low: float, high: float, unit: str = "") -> float:
    """Return ``value`` if low <= value <= high, else raise LimitError naming all three."""
    u = f" {unit}" if unit else ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LimitError(f"{parameter} = {value!r} is not a number; allowed range [{low:g}, {high:g}]{u}") from None
    if not low <= number <= high:  # also refuses NaN
        raise LimitError(f"{parameter} = {number:g}{u} is outside the allowed range [{low:g}, {high:g}]{u}")
    return number


def check_choice(parameter: str, value, allowed) -> object:
    if value not in allowed:
        raise LimitError(f"{parameter} = {value!r} is not allowed; allowed: {', '.join(map(repr, allowed))}")
    return value


@dataclasses.dataclass(frozen=True)
class SoftwareLimits:
    """What this cell and this setup may be given; tighter than the hardware allows."""

    max_current_A: float = 0.080  # pulse and DC ceiling (paper 001: 80 mA protects the electrodes)
    max_compliance_V: float = 10.0
    max_field_T: float = 9.0
    max_field_rate_T_per_min: float = 0.5
    max_temperature_K: float = 320.0
    min_temperature_K: float = 1.5
    max_temperature_rate_K_per_min: float = 10.0

    def current(self, parameter: str, value_A: float) -> float:
        return check_range(parameter, value_A, -self.max_current_A, self.max_current_A, "A")

    def compliance(self, parameter: str, value_V: float) -> float:
        return check_range(parameter, value_V, 0.1, self.max_compliance_V, "V")

    def field(self, parameter: str, value_T: float) -> float:
        return check_range(parameter, value_T, -self.max_field_T, self.max_field_T, "T")

    def field_rate(self, parameter: str, value_T_per_min: float) -> float:
        return check_range(parameter, value_T_per_min, 0.0, self.max_field_rate_T_per_min, "T/min")

    def temperature(self, parameter: str, value_K: float) -> float:
        return check_range(parameter, value_K, self.min_temperature_K, self.max_temperature_K, "K")

    def temperature_rate(self, parameter: str, value_K_per_min: float) -> float:
        return check_range(parameter, value_K_per_min, 0.0, self.max_temperature_rate_K_per_min, "K/min")
