"""What every fit in daclab.analysis shares: input checks and estimates with uncertainties.

Fits take plain numpy arrays from data files or live streams; a NaN from a flagged reading is
dropped, anything else malformed is refused with a message that names the argument.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable

import numpy as np


class AnalysisInputError(ValueError):
    """Data an analysis cannot use; the message names the argument and what is wrong."""


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A fitted value with its standard error (NaN when the fit could not estimate one)."""

    value: float
    stderr: float = math.nan

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "stderr": self.stderr}

    def __format__(self, spec: str) -> str:
        spec = spec or "g"
        if math.isnan(self.stderr):
            return format(self.value, spec)
        return f"{format(self.value, spec)} +- {format(self.stderr, spec)}"


def as_array(name: str, values, unit: str = "") -> np.ndarray:
    """``values`` as a 1-D float array; refuses other shapes, text and infinities by name."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise AnalysisInputError(f"{name} must be numbers{f' in {unit}' if unit else ''}; got {values!r:.80}") from None
    if array.ndim != 1:
        raise AnalysisInputError(f"{name} must be a 1-D array; got shape {array.shape}")
    if np.isinf(array).any():
        raise AnalysisInputError(f"{name} contains infinite values")
    return array


def paired(x_name: str, x, y_name: str, y, minimum: int, x_unit: str = "", y_unit: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Two arrays of one length with the points where either is NaN dropped; at least ``minimum`` left."""
    xs, ys = as_array(x_name, x, x_unit), as_array(y_name, y, y_unit)
    if xs.size != ys.size:
        raise AnalysisInputError(f"{x_name} has {xs.size} points but {y_name} has {ys.size}; they must match")
    keep = ~(np.isnan(xs) | np.isnan(ys))
    xs, ys = xs[keep], ys[keep]
    if xs.size < minimum:
        raise AnalysisInputError(f"{xs.size} usable ({x_name}, {y_name}) points; at least {minimum} are needed")
    return xs, ys


def estimates(result, names: Iterable[str]) -> dict[str, Estimate]:
    """The named parameters of an lmfit ``MinimizerResult``/``ModelResult`` as :class:`Estimate`."""
    out = {}
    for name in names:
        parameter = result.params[name]
        stderr = parameter.stderr if parameter.stderr is not None else math.nan
        out[name] = Estimate(float(parameter.value), float(stderr))
    return out


def plain(value: Any, nan: Any = math.nan) -> Any:
    """A result as plain Python values, for analysis events, reports and JSON: dataclasses as
    dicts of their fields, :class:`Estimate` as {"value", "stderr"}, arrays and tuples as lists,
    numpy scalars as numbers; NaN becomes ``nan``. With ``nan=None`` (for JSON, which has neither
    NaN nor infinity) an infinity becomes None too, as a number that diverged is one not found."""
    if isinstance(value, Estimate):
        return {"value": plain(value.value, nan), "stderr": plain(value.stderr, nan)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name), nan) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {key: plain(item, nan) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(item, nan) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if math.isfinite(value):
            return float(value)
        return nan if math.isnan(value) or nan is None else float(value)
    return value


def finite_number(value: Any) -> float:
    """``value`` as a float; NaN for anything that is not a finite number (text, blanks,
    infinities), which the fits drop like any missing reading."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan
