"""Point-contact differential conductance from DC current steps (processing chain of paper 001).

At each bias point the source applies three (or more) small current steps around the bias
current and the voltmeter reads the voltage at each; the slope of V against I is dV/dI, its
inverse dI/dV, and the bias is the mean of the voltages. The curve is then smoothed with a
3-point moving average, a smooth polynomial background is fitted where |V| is well above the
gap and divided out, leaving the normalised conductance G/G_N that a BTK model describes
(PHYSICS.md section 5; G. E. Blonder, M. Tinkham and T. M. Klapwijk, Phys. Rev. B 25, 4515
(1982) for the model).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.polynomial import Polynomial

from ..limits import check_range
from .fitting import AnalysisInputError, as_array, paired


def step_conductance(currents_A, voltages_V) -> tuple[float, float]:
    """(bias_V, dI/dV in S) of one bias point measured at three or more current steps.

    dV/dI is the least-squares slope of V against I, s = sum (I - <I>)(V - <V>) / sum (I - <I>)^2;
    dI/dV = 1/s and the bias is <V>. A zero slope (a supercurrent branch, or steps the
    voltmeter cannot resolve) gives dI/dV = inf; NaN readings are dropped first.
    """
    current, voltage = paired("currents_A", currents_A, "voltages_V", voltages_V, 3, "A", "V")
    spread = current - current.mean()
    sum_sq = float(spread @ spread)
    if sum_sq == 0.0:
        raise AnalysisInputError(f"currents_A are all equal ({current[0]:g} A); the steps must differ")
    slope = float(spread @ (voltage - voltage.mean())) / sum_sq
    bias = float(voltage.mean())
    return bias, (1.0 / slope if slope != 0.0 else float("inf"))


def fit_background(bias_V, didv_S, gap_window_V: float, degree: int = 2) -> Polynomial:
    """Polynomial background of dI/dV fitted by least squares to the points with |bias| > gap_window_V.

    The gap structure (coherence peaks, Andreev enhancement) lies inside the window and is
    left out; outside it the contact is normal and its smooth bias dependence (heating,
    band structure, the spreading resistance) is what the polynomial absorbs.
    Needs at least degree + 2 points outside the window.
    """
    bias, didv = paired("bias_V", bias_V, "didv_S", didv_S, 1, "V", "S")
    window = float(gap_window_V)
    if not np.isfinite(window) or window < 0:
        raise AnalysisInputError(f"gap_window_V = {gap_window_V!r} must be a finite number >= 0 V")
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or not 0 <= degree <= 10:
        raise AnalysisInputError(f"degree = {degree!r} must be an integer in [0, 10]")
    outside = np.abs(bias) > window
    if np.count_nonzero(outside) < degree + 2:
        raise AnalysisInputError(
            f"only {np.count_nonzero(outside)} points lie outside gap_window_V = {window:g} V "
            f"(|bias| up to {np.max(np.abs(bias)):g} V); a degree-{degree} background needs {degree + 2}")
    return Polynomial.fit(bias[outside], didv[outside], int(degree))


def normalise(bias_V, didv_S, background) -> np.ndarray:
    """Normalised conductance didv / background(bias) (dimensionless, -> 1 in the normal state)."""
    bias = as_array("bias_V", bias_V, "V")
    didv = as_array("didv_S", didv_S, "S")
    if bias.size != didv.size:
        raise AnalysisInputError(f"bias_V has {bias.size} points but didv_S has {didv.size}; they must match")
    if not callable(background):
        raise AnalysisInputError(f"background must be callable (e.g. a Polynomial); got {background!r:.80}")
    reference = np.asarray(background(bias), dtype=float)
    if np.any(reference[np.isfinite(reference)] <= 0):
        raise AnalysisInputError("background is <= 0 at some bias; a conductance background must be positive")
    return didv / reference


def conductance_from_steps(currents_A, voltages_V) -> tuple[np.ndarray, np.ndarray]:
    """(bias_V, didv_S) of a whole curve: step_conductance applied to every bias point at once.

    currents_A and voltages_V have shape (bias points, steps), steps >= 3, one row per bias
    point. NaN readings are left out of their row's fit; a row with fewer than three usable
    steps, or whose steps do not differ, gives NaN (one bad point must not cost the curve).
    """
    current = _step_table("currents_A", currents_A)
    voltage = _step_table("voltages_V", voltages_V)
    if current.shape != voltage.shape:
        raise AnalysisInputError(f"currents_A has shape {current.shape} but voltages_V has {voltage.shape}; they must match")
    usable = ~(np.isnan(current) | np.isnan(voltage))
    count = usable.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_i = np.where(usable, current, 0.0).sum(axis=1) / count
        mean_v = np.where(usable, voltage, 0.0).sum(axis=1) / count
        di = np.where(usable, current - mean_i[:, None], 0.0)
        dv = np.where(usable, voltage - mean_v[:, None], 0.0)
        sum_sq = (di * di).sum(axis=1)
        slope = (di * dv).sum(axis=1) / sum_sq
        didv = np.where(slope == 0.0, np.inf, 1.0 / slope)
    bad = (count < 3) | (sum_sq == 0.0)
    return np.where(bad, np.nan, mean_v), np.where(bad, np.nan, didv)


def _step_table(name: str, values) -> np.ndarray:
    try:
        table = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise AnalysisInputError(f"{name} must be numbers; got {values!r:.80}") from None
    if table.ndim != 2 or table.shape[1] < 3:
        raise AnalysisInputError(f"{name} must have shape (bias points, steps >= 3); got {table.shape}")
    if np.isinf(table).any():
        raise AnalysisInputError(f"{name} contains infinite values")
    return table


def moving_average(values, points: int = 3) -> np.ndarray:
    """Centred moving average over ``points`` (odd) neighbours; same length as ``values``.

    Within (points - 1)/2 of either end the window shrinks symmetrically (the first and last
    values of a 3-point average stay as measured), so every output is still centred on its own
    bias and no edge is padded with invented values. NaN values are left out of the windows
    they fall in; an output is NaN only when its whole window is.
    """
    data = as_array("values", values)
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1 or points % 2 == 0:
        raise AnalysisInputError(f"points = {points!r} must be an odd integer >= 1")
    half = int(points) // 2
    if data.size == 0 or half == 0:
        return data.copy()
    finite = ~np.isnan(data)
    sums = np.concatenate(([0.0], np.cumsum(np.where(finite, data, 0.0))))
    counts = np.concatenate(([0], np.cumsum(finite)))
    index = np.arange(data.size)
    reach = np.minimum(np.minimum(index, data.size - 1 - index), half)  # symmetric shrink at the ends
    lo, hi = index - reach, index + reach + 1
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, (sums[hi] - sums[lo]) / n, np.nan)


def symmetrise(bias, values) -> np.ndarray:
    """(G(V) + G(-V))/2 at every bias, G(-V) linearly interpolated from the measured curve.

    An s-wave BTK spectrum is even in V; averaging with the mirror image removes the odd part
    of a background or of a thermoelectric offset. Same length and order as the input; NaN
    where -V lies outside the measured range or the point itself is NaN.
    """
    x = as_array("bias", bias)
    y = as_array("values", values)
    if x.size != y.size:
        raise AnalysisInputError(f"bias has {x.size} points but values has {y.size}; they must match")
    usable = ~(np.isnan(x) | np.isnan(y))
    if np.count_nonzero(usable) < 2:
        raise AnalysisInputError(f"{np.count_nonzero(usable)} usable (bias, values) points; at least 2 are needed")
    order = np.argsort(x[usable], kind="stable")
    xs, ys = x[usable][order], y[usable][order]
    with np.errstate(invalid="ignore"):
        mirror = np.interp(-x, xs, ys, left=np.nan, right=np.nan)
    return np.where(usable, 0.5 * (y + mirror), np.nan)


class Spectrum(NamedTuple):
    """A processed point-contact spectrum, sorted by bias.

    bias_mV: junction bias in mV (ready for a BTK fit, where eV in meV equals V in mV);
    conductance_norm: smoothed dI/dV divided by the background (-> 1 in the normal state);
    background: the fitted Polynomial, dI/dV in S against the junction bias in V.
    """

    bias_mV: np.ndarray
    conductance_norm: np.ndarray
    background: Polynomial


def remove_series_resistance(bias_V, didv_S, series_resistance_ohm: float) -> tuple[np.ndarray, np.ndarray]:
    """Junction (bias_V, didv_S) of a contact measured in series with a resistance R_s.

    The voltmeter sees V = V_j + R_s I and dV/dI = dV_j/dI + R_s, so dI/dV_j = 1/(1/G - R_s) and
    V_j = V - R_s I, with I(V) = integral_0^V G dV' (trapezoid rule on the bias-sorted curve,
    I = 0 at V = 0). Left uncorrected, a spreading resistance stretches the bias axis by
    1 + R_s G and makes the gap look larger (series-resistance correction of point-contact
    analyses, e.g. G. T. Woods et al., Phys. Rev. B 70, 054416 (2004)). Inputs must be sorted
    by bias and free of NaN.
    """
    resistance = check_range("series_resistance_ohm", series_resistance_ohm, 0.0, 1e9, "ohm")
    bias = as_array("bias_V", bias_V, "V")
    didv = as_array("didv_S", didv_S, "S")
    if bias.size != didv.size:
        raise AnalysisInputError(f"bias_V has {bias.size} points but didv_S has {didv.size}; they must match")
    if np.isnan(bias).any() or np.isnan(didv).any() or np.any(np.diff(bias) < 0):
        raise AnalysisInputError("bias_V must be sorted and bias_V, didv_S free of NaN (process_spectrum does both)")
    if resistance == 0.0:
        return bias, didv
    junction_resistance = 1.0 / didv - resistance
    if np.any(junction_resistance <= 0):
        raise AnalysisInputError(
            f"series_resistance_ohm = {resistance:g} ohm is not below the measured dV/dI "
            f"(smallest {np.min(1.0 / didv):g} ohm); the junction would have negative resistance")
    charge = np.concatenate(([0.0], np.cumsum(0.5 * (didv[1:] + didv[:-1]) * np.diff(bias))))
    current = charge - np.interp(0.0, bias, charge)
    return bias - resistance * current, 1.0 / junction_resistance


def process_spectrum(bias_V, didv_S, gap_window_V: float, degree: int = 2, smooth_points: int = 3,
                     *, series_resistance_ohm: float = 0.0) -> Spectrum:
    """Paper 001's chain from a raw dI/dV curve to the normalised conductance.

    Sort by bias (NaN points dropped), take out a known series (spreading) resistance if given,
    smooth with a ``smooth_points`` moving average, fit a degree-``degree`` polynomial
    background to |V| > gap_window_V and divide by it. Bias is in V on input, mV on output.
    """
    bias, didv = paired("bias_V", bias_V, "didv_S", didv_S, 3, "V", "S")
    if np.any(~np.isfinite(didv)) or np.any(didv <= 0):
        raise AnalysisInputError("didv_S must be finite and > 0 at every bias (a zero slope or a "
                                 "negative conductance cannot be normalised)")
    order = np.argsort(bias, kind="stable")
    bias, didv = remove_series_resistance(bias[order], didv[order], series_resistance_ohm)
    smoothed = moving_average(didv, smooth_points)
    background = fit_background(bias, smoothed, gap_window_V, degree)
    return Spectrum(bias * 1e3, normalise(bias, smoothed, background), background)
