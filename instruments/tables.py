"""Lookups in instruments' printed index tables (excitations, ranges), shared by the drivers."""

from __future__ import annotations

import math

from daclab.limits import LimitError

END_TOLERANCE = 1.05  # printed table values are rounded (31.6 mA is 31.62 mA)


def nearest_index(value: float, table: tuple[float, ...], quantity: str, unit: str) -> int:
    """1-based index of the entry of an ascending ``table`` nearest to ``value`` on a log scale.

    Raises LimitError naming the quantity, the value and the table's span when the value is not
    positive or lies more than 5 % beyond either end of the table.
    """
    low, high = table[0], table[-1]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LimitError(f"{quantity} = {value!r} is not a number; table [{low:g}, {high:g}] {unit}") from None
    if not (low / END_TOLERANCE <= number <= high * END_TOLERANCE):  # also refuses NaN and <= 0
        raise LimitError(f"{quantity} = {number:g} {unit} is off the table [{low:g}, {high:g}] {unit}")
    distances = [abs(math.log(number / entry)) for entry in table]
    return distances.index(min(distances)) + 1


__all__ = ["nearest_index", "END_TOLERANCE"]
