"""Safety limits, checked before anything is written to an instrument.

Two layers: the hardware's own limits (what the instrument accepts, in the drivers' validators)
and the software limits of this setup and sample (what the user allows, e.g. an 80 mA pulse
ceiling to protect the electrodes of a cell, as in paper 001). Both raise :class:`LimitError`
with the parameter's name, the value and the allowed range.
"""

from __future__ import annotations

import dataclasses
import math
import re
import reprlib

COMPLIANCE_FLOOR_V = 0.1  # the lowest compliance a 6221 takes (0.1 to 105 V)


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

    def __post_init__(self):
        """Each limit a finite number, > 0 (the lowest temperature >= 0) and the temperature band
        not empty: a limit of NaN would let every value through, one of text would fail only at
        the first check, in the middle of a run."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            smallest = 0.0 if field.name == "min_temperature_K" else math.nextafter(0.0, 1.0)
            if isinstance(value, bool):  # True is 1 to float(), not a limit
                raise LimitError(f"{field.name} = {value!r} is not a number")
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                number = math.nan
            if not (math.isfinite(number) and number >= smallest):
                relation = ">= 0" if smallest == 0.0 else "> 0"
                raise LimitError(f"{field.name} = {reprlib.repr(value)} must be a finite number {relation}")
            object.__setattr__(self, field.name, number)  # frozen: set once, here
        if self.min_temperature_K >= self.max_temperature_K:
            raise LimitError(f"min_temperature_K = {self.min_temperature_K:g} K must be below max_temperature_K = "
                             f"{self.max_temperature_K:g} K")
        if self.max_compliance_V < COMPLIANCE_FLOOR_V:
            raise LimitError(f"max_compliance_V = {self.max_compliance_V:g} V is below the lowest compliance "
                             f"{COMPLIANCE_FLOOR_V:g} V")

    def current(self, parameter: str, value_A: float) -> float:
        return check_range(parameter, value_A, -self.max_current_A, self.max_current_A, "A")

    def compliance(self, parameter: str, value_V: float) -> float:
        return check_range(parameter, value_V, COMPLIANCE_FLOOR_V, self.max_compliance_V, "V")

    def field(self, parameter: str, value_T: float) -> float:
        return check_range(parameter, value_T, -self.max_field_T, self.max_field_T, "T")

    def field_rate(self, parameter: str, value_T_per_min: float) -> float:
        return check_range(parameter, value_T_per_min, 0.0, self.max_field_rate_T_per_min, "T/min")

    def temperature(self, parameter: str, value_K: float) -> float:
        return check_range(parameter, value_K, self.min_temperature_K, self.max_temperature_K, "K")

    def temperature_rate(self, parameter: str, value_K_per_min: float) -> float:
        return check_range(parameter, value_K_per_min, 0.0, self.max_temperature_rate_K_per_min, "K/min")


def parse_numbers(parameter: str, text: str, unit: str, example: str) -> list[float]:
    """A list typed as text, '60, 65, 70' (commas, spaces or semicolons) -> [60.0, 65.0, 70.0].

    Raises LimitError naming the parameter and showing ``example`` when an item is not a finite
    number or the list is empty.
    """
    items = [item for item in re.split(r"[,\s;]+", str(text).strip()) if item]
    values = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise LimitError(f"{parameter} = {text!r}: {item!r} is not a number in {unit}; "
                             f"give numbers separated by commas, e.g. '{example}'")
        values.append(value)
    if not values:
        raise LimitError(f"{parameter} = {text!r} is empty; give numbers in {unit}, e.g. '{example}'")
    return values
