"""Superconducting transition temperatures from a resistance-temperature curve.

Every criterion of PHYSICS.md section 2 is reported together, all relative to the normal-state
line R_n(T) = a T + b fitted just above the transition:

    onset         highest T where R / R_n(T) falls below 0.9
    midpoint      highest T where R / R_n(T) falls below 0.5
    width         T(0.9) - T(0.1)
    zero          highest T below which R stays under max(0.01 R_n, 3 sigma), sigma the
                  reading noise estimated from the data
    intersection  where R_n(T) meets the straight line through the steepest part of the
                  transition (the Tc of paper 001, CeH9)
    steps         positions of the separate peaks of a smoothed dR/dT; two peaks mean two
                  superconducting phases dropping at their own Tc (papers 000 and 001)

The curve may come in any order, mix cooling and warming sweeps and hold NaN readings: it is
sorted by temperature and averaged in groups of neighbouring readings first, so it can run on a
live sweep after every new point. A curve without a transition gives ``has_transition=False``
and says why; only malformed input raises :class:`AnalysisInputError`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import isotonic_regression
from scipy.signal import find_peaks

from .fitting import AnalysisInputError, paired

__all__ = [
    "AnalysisInputError", "PairResult", "TransitionResult", "cooling_warming", "transition_temperatures",
]

CRITERIA = ("onset", "midpoint", "zero", "intersection")

ONSET_FRACTION = 0.9
MIDPOINT_FRACTION = 0.5
LOWER_FRACTION = 0.1
ZERO_FRACTION = 0.01
NOISE_SIGMAS = 3.0  # a reading this far above zero is resistance, not noise

MINIMUM_POINTS = 5
_NOISE_MIN_POINTS = 20
# Averaging neighbouring readings in groups keeps at most this many points, whatever the sweep
# length; a 0.1 K/min sweep logs far more readings than the transition needs.
_MAX_GROUPS = 4000
# The evenly spaced grid on which slopes are taken: fine enough to resolve the steps, never
# large enough to cost more than a millisecond.
_MIN_GRID = 200
_MAX_GRID = 4000
# A dR/dT peak counts as a step when it stands out this much against the largest one.
_STEP_PROMINENCE = 0.2
# Smoothing of dR/dT for the step search, as a fraction of the 10-90 % width: light enough to
# keep two steps a width apart as two peaks.
_STEP_SMOOTHING = 0.08
# Smoothing of the curve whose level crossings give the criteria, as a fraction of the upper
# half-width of the highest step (0.04 of its 10-90 % width): it widens a tanh step by 0.5 %
# only, yet averages interleaved cooling and warming readings.
_LEVEL_SMOOTHING = 0.1
# A slope counts as part of the steepest region of the transition above this fraction of the
# largest slope (the straight line of the intersection criterion is fitted there).
_STEEPEST_FRACTION = 0.5
# Normal-state window, in upper half-widths of the highest dR/dT peak (0.40 of the 10-90 % width
# of a tanh step): it starts where the step has recovered 99.5 % of R_n, and is short enough
# that the curvature of R_n(T) hardly bends the straight line.
_NORMAL_GAP_HALF_WIDTHS = 3.0
_NORMAL_SPAN_HALF_WIDTHS = 6.0
_NORMAL_MIN_POINTS = 10


@dataclasses.dataclass(frozen=True)
class TransitionResult:
    """Transition temperatures of one R(T) curve; NaN where a criterion was not found.

    ``message`` is empty when everything was found, otherwise it says what is missing and why.
    ``normal_resistance_ohm`` is the normal-state line at the midpoint (at the onset when the
    curve does not reach the midpoint). ``normal_slope_ohm_per_K`` / ``normal_intercept_ohm``
    and ``steep_slope_ohm_per_K`` / ``steep_intercept_ohm`` are the two straight lines whose
    crossing is ``intersection_K``, for plotting.
    """

    onset_K: float = math.nan
    midpoint_K: float = math.nan
    zero_K: float = math.nan
    intersection_K: float = math.nan
    width_K: float = math.nan
    normal_resistance_ohm: float = math.nan
    has_transition: bool = False
    message: str = ""
    steps: tuple[float, ...] = ()
    lower_K: float = math.nan  # the 10 % point, lower end of the width
    zero_threshold_ohm: float = math.nan
    noise_ohm: float = math.nan
    normal_slope_ohm_per_K: float = math.nan
    normal_intercept_ohm: float = math.nan
    steep_slope_ohm_per_K: float = math.nan
    steep_intercept_ohm: float = math.nan

    def criteria(self) -> dict[str, float]:
        """The four transition temperatures by criterion name, in K."""
        return {"onset": self.onset_K, "midpoint": self.midpoint_K, "zero": self.zero_K,
                "intersection": self.intersection_K}

    def as_dict(self) -> dict:
        """Every field, with ``steps`` as a list (for reports and data files)."""
        values = dataclasses.asdict(self)
        values["steps"] = list(self.steps)
        return values


@dataclasses.dataclass(frozen=True)
class PairResult:
    """A cooling and a warming sweep of the same transition.

    The thermometer lags the sample in opposite directions on cooling and warming, so the mean
    of the two is the better estimate and their difference measures the lag (PHYSICS.md 2).
    """

    cooling: TransitionResult
    warming: TransitionResult
    mean_K: dict[str, float]
    lag_K: dict[str, float]  # warming - cooling, per criterion

    def as_dict(self) -> dict:
        return {"cooling": self.cooling.as_dict(), "warming": self.warming.as_dict(),
                "mean_K": dict(self.mean_K), "lag_K": dict(self.lag_K)}


def cooling_warming(cooling: TransitionResult, warming: TransitionResult) -> PairResult:
    """Mean and lag (warming - cooling) of every criterion of two sweeps; NaN where either is."""
    for name, result in (("cooling", cooling), ("warming", warming)):
        if not isinstance(result, TransitionResult):
            raise AnalysisInputError(f"{name} must be a TransitionResult; got {type(result).__name__}")
    down, up = cooling.criteria(), warming.criteria()
    mean = {key: 0.5 * (down[key] + up[key]) for key in CRITERIA}
    lag = {key: up[key] - down[key] for key in CRITERIA}
    return PairResult(cooling, warming, mean, lag)


# ---- preparing the curve -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Curve:
    """The curve sorted, averaged in groups and resampled on an even grid."""

    grid_K: np.ndarray
    resistance_ohm: np.ndarray  # averaged readings interpolated on the grid
    reading_gap_K: float  # typical spacing of the averaged readings: slopes are no finer
    noise_ohm: float  # standard deviation of one reading
    averaged_noise_ohm: float  # the same for the averaged readings

    @property
    def step_K(self) -> float:
        return float(self.grid_K[1] - self.grid_K[0])

    def levels(self, sigma_K: float) -> np.ndarray:
        """The curve smoothed with a Gaussian of ``sigma_K`` and made to rise with T.

        Smoothing averages interleaved cooling and warming readings; the closest rising curve
        (isotonic least squares) then crosses every level once, however noisy the plateau.
        """
        return isotonic_regression(self._filtered(sigma_K, 0, floor_K=self.step_K)).x

    def slope(self, sigma_K: float) -> np.ndarray:
        """dR/dT of the curve smoothed with a Gaussian of ``sigma_K``, in ohm/K."""
        return self._filtered(sigma_K, 1, floor_K=0.5 * self.reading_gap_K) / self.step_K

    def _filtered(self, sigma_K: float, order: int, floor_K: float) -> np.ndarray:
        # Padding by point reflection continues the curve straight past its ends; plain edge
        # padding would bend dR/dT down there into a false peak at the end of every sweep.
        # A width read off a curve of junk can be anything; smoothing wider than the whole
        # curve means nothing (and its kernel would not fit in memory).
        span_K = float(self.grid_K[-1] - self.grid_K[0])
        wanted_K = sigma_K if math.isfinite(sigma_K) else floor_K
        sigma = min(max(wanted_K, floor_K, self.step_K), span_K) / self.step_K
        values = self.resistance_ohm
        pad = min(int(4 * sigma) + 1, values.size - 1)
        padded = np.concatenate((2 * values[0] - values[pad:0:-1], values, 2 * values[-1] - values[-2:-pad - 2:-1]))
        return gaussian_filter1d(padded, sigma, order=order, mode="nearest")[pad:pad + values.size]


def _reading_noise(resistance_sorted: np.ndarray) -> float:
    """Standard deviation of one reading, from the second differences of the sorted curve.

    Second differences cancel the smooth trend of R(T); their median absolute deviation ignores
    the few large ones inside the transition. For white noise var(d2) = 6 sigma^2. A sparse
    curve (fewer than 20 readings) has too few to tell noise from the transition: 0 then.
    """
    if resistance_sorted.size < _NOISE_MIN_POINTS:
        return 0.0
    second = np.diff(resistance_sorted, 2)
    mad = np.median(np.abs(second - np.median(second)))
    return float(1.4826 * mad / math.sqrt(6.0))


# No thermometer resolves less: a narrower span is not a sweep (and a span of 1e-300 K would
# underflow the least-squares lines to zeros).
_MIN_SPAN_K = 1e-6


def _prepare(temperature_K, resistance_ohm) -> _Curve | None:
    """The curve ready for analysis, or None when its temperatures do not span a range."""
    temperature, resistance = paired("temperature_K", temperature_K, "resistance_ohm", resistance_ohm,
                                     MINIMUM_POINTS, "K", "ohm")
    order = np.argsort(temperature, kind="stable")
    temperature, resistance = temperature[order], resistance[order]
    noise = _reading_noise(resistance)
    # Cooling and warming sweeps often log the same setpoints, and a long sweep logs more
    # readings than the transition needs: readings at equal T, then groups of neighbours, are
    # averaged (weighted by how many readings each holds).
    temperature, position = np.unique(temperature, return_inverse=True)
    counts = np.bincount(position).astype(float)
    resistance = np.bincount(position, weights=resistance) / counts
    group = max(1, math.ceil(temperature.size / _MAX_GROUPS))
    if group > 1:
        starts = np.arange(0, temperature.size, group)
        weights = np.add.reduceat(counts, starts)
        temperature = np.add.reduceat(temperature * counts, starts) / weights
        resistance = np.add.reduceat(resistance * counts, starts) / weights
        counts = weights
    with np.errstate(over="ignore"):
        span = temperature[-1] - temperature[0]
    if math.isinf(span):  # from near -1e308 to near 1e308: numbers, but no temperatures
        raise AnalysisInputError(f"temperature_K spans {temperature[0]:g} to {temperature[-1]:g} K, more than a "
                                 f"number holds; these are not temperatures")
    if not span > _MIN_SPAN_K:
        return None
    typical_gap = float(np.median(np.diff(temperature)))
    with np.errstate(over="ignore"):  # a huge ratio is clipped to the largest grid below
        ratio = span / typical_gap
    size = int(np.clip(round(min(ratio, _MAX_GRID)) + 1, _MIN_GRID, _MAX_GRID))
    grid = np.linspace(temperature[0], temperature[-1], size)
    averaged_noise = noise / math.sqrt(float(np.mean(counts)))
    return _Curve(grid, np.interp(grid, temperature, resistance), typical_gap, noise, averaged_noise)


# ---- the criteria --------------------------------------------------------------------------


def _crossing_between(grid: np.ndarray, values: np.ndarray, level: float, i: int) -> float:
    """Where ``values`` passes ``level`` between grid points i and i + 1 (linear interpolation)."""
    if i + 1 >= grid.size:
        return float(grid[i])
    v0, v1 = values[i], values[i + 1]
    if v1 == v0:
        return float(grid[i])
    return float(grid[i] + (level - v0) / (v1 - v0) * (grid[i + 1] - grid[i]))


def _highest_crossing(grid: np.ndarray, values: np.ndarray, level: float, below_K: float) -> float:
    """Highest temperature at or below ``below_K`` where ``values`` drops under ``level``."""
    under = np.flatnonzero((values < level) & (grid <= below_K))
    if under.size == 0:
        return math.nan
    return _crossing_between(grid, values, level, int(under[-1]))


def _normal_line(curve: _Curve, start_K: float, span_K: float) -> tuple[float, float] | None:
    """Least-squares line R = a T + b through the grid points in [start, start + span].

    Takes at least the nearest points above ``start_K`` when the window holds too few, and
    None when the curve has no points above ``start_K`` to fit.
    """
    grid = curve.grid_K
    above = np.flatnonzero(grid >= start_K)
    if above.size < 2:
        return None
    inside = above[grid[above] <= start_K + span_K]
    if inside.size < _NORMAL_MIN_POINTS:
        inside = above[:_NORMAL_MIN_POINTS]
    slope, intercept = np.polyfit(grid[inside], curve.resistance_ohm[inside], 1)
    return float(slope), float(intercept)


def _highest_step(curve: _Curve, slope: np.ndarray, below_K: float = math.inf) -> tuple[float, float] | None:
    """(temperature, upper half-width) of the highest clear dR/dT peak at or below ``below_K``.

    The upper half-width (where the slope has fallen to half the peak) sets how far above the
    step its normal state starts: 0.40 of the 10-90 % width for a tanh step.
    """
    grid = curve.grid_K
    usable = grid <= below_K
    top = float(slope[usable].max(initial=0.0))
    if not top > 0.0:
        return None
    peaks, _ = find_peaks(slope, prominence=_STEP_PROMINENCE * top, height=_STEP_PROMINENCE * top)
    peaks = peaks[usable[peaks]]
    if peaks.size:
        peak = int(peaks[-1])
    elif np.argmax(slope[usable]) == 0:
        peak = 0  # still getting steeper at the lowest temperature: a transition under way
    else:
        return None
    falling = np.flatnonzero(slope[peak:] < 0.5 * slope[peak])
    half_index = peak + int(falling[0]) if falling.size else grid.size - 1
    return float(grid[peak]), max(float(grid[half_index] - grid[peak]), curve.step_K)


def _steepest_line(curve: _Curve, slope: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """Line through the steepest part of the transition: the contiguous stretch around the
    largest slope in ``region`` where the slope exceeds half of it."""
    candidates = np.flatnonzero(region)
    peak = int(candidates[np.argmax(slope[candidates])])
    shallow = np.flatnonzero(slope < _STEEPEST_FRACTION * slope[peak])
    low = int(shallow[shallow < peak][-1]) + 1 if (shallow < peak).any() else 0
    high = int(shallow[shallow > peak][0]) - 1 if (shallow > peak).any() else slope.size - 1
    if high - low < 2:  # a transition sharper than the grid: the three points around the peak
        low, high = max(peak - 1, 0), min(peak + 1, slope.size - 1)
    fitted = slice(low, high + 1)
    a, b = np.polyfit(curve.grid_K[fitted], curve.resistance_ohm[fitted], 1)
    return float(a), float(b)


def _step_positions(curve: _Curve, slope: np.ndarray, region: np.ndarray, normal_window: np.ndarray) -> tuple[float, ...]:
    """Temperatures of the separate dR/dT peaks inside the transition, highest first.

    A peak counts when it rises above a fifth of the largest one and well above the scatter of
    the slope in the normal state (so noise makes no extra steps).
    """
    inside = np.flatnonzero(region)
    if inside.size < 3:
        return ()
    top = float(slope[inside].max())
    scatter = float(np.std(slope[normal_window])) if normal_window.sum() > 2 else 0.0
    threshold = max(_STEP_PROMINENCE * top, 5.0 * scatter)
    peaks, _ = find_peaks(slope, prominence=threshold, height=threshold)
    peaks = [p for p in peaks if region[p]]
    return tuple(float(curve.grid_K[p]) for p in sorted(peaks, reverse=True))


@dataclasses.dataclass(frozen=True)
class _NormalState:
    """The normal-state line fitted above the highest step, and the curve's levels against it."""

    slope_ohm_per_K: float
    intercept_ohm: float
    window: np.ndarray  # grid points the line was fitted on
    ratio: np.ndarray  # R / R_n(T) on the grid; NaN where the line is not positive
    onset_K: float
    midpoint_K: float
    lower_K: float

    def at(self, temperature_K: float) -> float:
        return self.slope_ohm_per_K * temperature_K + self.intercept_ohm


def _normal_state(curve: _Curve, step: tuple[float, float], levels: np.ndarray) -> _NormalState | None:
    """Fit R_n(T) in the window above the step at ``step`` = (peak, upper half-width) and find
    where ``levels`` crosses 90, 50 and 10 % of it; None when nothing lies above the window."""
    grid = curve.grid_K
    peak_K, half_width_K = step
    start_K = peak_K + _NORMAL_GAP_HALF_WIDTHS * half_width_K
    if curve.reading_gap_K > 0.5 * half_width_K:
        # readings too sparse to resolve the step blur its slope: take the last readings
        start_K = max(min(start_K, grid[-1] - 1.5 * curve.reading_gap_K), peak_K + half_width_K)
    window_K = max(_NORMAL_SPAN_HALF_WIDTHS * half_width_K, _NORMAL_MIN_POINTS * curve.step_K)
    line = _normal_line(curve, start_K, window_K)
    if line is None:
        return None
    normal = line[0] * grid + line[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(normal > 0.0, levels / normal, np.nan)  # a line extrapolated below zero says nothing
    onset = _highest_crossing(grid, ratio, ONSET_FRACTION, start_K)
    return _NormalState(
        slope_ohm_per_K=line[0], intercept_ohm=line[1], window=(grid >= start_K) & (grid <= start_K + window_K),
        ratio=ratio, onset_K=onset, midpoint_K=_highest_crossing(grid, ratio, MIDPOINT_FRACTION, onset),
        lower_K=_highest_crossing(grid, ratio, LOWER_FRACTION, onset),
    )


def _no_transition(curve: _Curve, why: str) -> TransitionResult:
    return TransitionResult(noise_ohm=curve.noise_ohm, message=f"no transition: {why}")


def transition_temperatures(temperature_K, resistance_ohm) -> TransitionResult:
    """All transition criteria of an R(T) curve (PHYSICS.md section 2; see the module docstring).

    ``temperature_K`` and ``resistance_ohm`` are equal-length sequences in any order (cooling,
    warming or both); NaN pairs are dropped. Raises :class:`AnalysisInputError` for mismatched
    lengths, fewer than 5 usable points, non-numbers or infinities; a curve without a
    transition returns ``has_transition=False`` with the reason in ``message``.
    """
    curve = _prepare(temperature_K, resistance_ohm)
    if curve is None:
        return TransitionResult(message=f"no transition: temperature_K does not vary (by more than {_MIN_SPAN_K:g} K)")
    grid = curve.grid_K
    span_text = f"{grid[0]:.4g}-{grid[-1]:.4g} K"

    # A first look, smoothed over 1 % of the span, only has to find the transition; a second
    # one, smoothed over a fraction of the width found, places the normal-state window just
    # above the highest step and resolves the steps.
    step = _highest_step(curve, curve.slope(0.01 * (grid[-1] - grid[0])))
    if step is None:
        return _no_transition(curve, f"R(T) has no clear drop (dR/dT peak) in {span_text}")
    levels = curve.levels(curve.step_K)
    state = _normal_state(curve, step, levels)
    if state is not None and not math.isnan(state.onset_K):
        first_width = state.onset_K - state.lower_K if not math.isnan(state.lower_K) else 2.5 * step[1]
        step = _highest_step(curve, curve.slope(_STEP_SMOOTHING * first_width), state.onset_K) or step
        levels = curve.levels(_LEVEL_SMOOTHING * step[1])
        state = _normal_state(curve, step, levels)
    if state is None:
        return _no_transition(curve, f"no normal state above the drop at {step[0]:.4g} K; the curve ends at "
                                     f"{grid[-1]:.4g} K")
    onset, midpoint, lower, ratio = state.onset_K, state.midpoint_K, state.lower_K, state.ratio
    below_onset = grid <= onset
    if math.isnan(onset) or (ONSET_FRACTION - np.nanmin(ratio[below_onset])) * state.at(onset) <= (
            NOISE_SIGMAS * curve.averaged_noise_ohm):
        return _no_transition(curve, f"R never falls clearly (beyond the noise) below {ONSET_FRACTION:.0%} of "
                                     f"the normal-state line in {span_text}")

    normal_resistance = state.at(midpoint if not math.isnan(midpoint) else onset)
    missing = []
    if math.isnan(lower):
        unreached = "the midpoint, the 10 % point and the width" if math.isnan(midpoint) else "the 10 % point and the width"
        missing.append(f"R falls only to {np.nanmin(ratio):.0%} of the normal state by {grid[0]:.4g} K: "
                       f"{unreached} are not reached")
        width = 2.0 * (onset - midpoint) if not math.isnan(midpoint) else 2.5 * step[1]
    else:
        width = onset - lower

    threshold = max(ZERO_FRACTION * normal_resistance, NOISE_SIGMAS * curve.noise_ohm)
    above_threshold = np.flatnonzero(levels > threshold)
    if above_threshold.size == 0:
        zero = math.nan
        missing.append(f"zero resistance undefined: the noise floor {threshold:.3g} ohm is above the whole curve")
    elif above_threshold[0] == 0:
        zero = math.nan
        lowest = float(np.median(levels[: max(3, grid.size // 50)]))
        missing.append(f"zero resistance not reached: R stays above {threshold:.3g} ohm "
                       f"(the larger of 1 % of R_n and the noise floor); {lowest:.3g} ohm at {grid[0]:.4g} K "
                       "(residual resistance?)")
    else:
        zero = _crossing_between(grid, levels, threshold, int(above_threshold[0]) - 1)

    slope = curve.slope(_STEP_SMOOTHING * width)
    # the steepest part is sought in the transition proper: below the onset, above 5 % of R_n
    steep = _steepest_line(curve, slope, below_onset & (ratio > 0.5 * LOWER_FRACTION))
    intersection = math.nan
    if steep[0] > state.slope_ohm_per_K:
        intersection = (state.intercept_ohm - steep[1]) / (steep[0] - state.slope_ohm_per_K)
    else:
        missing.append("intersection not found: the transition is not steeper than the normal state")
    steps = _step_positions(curve, slope, below_onset & (ratio < 0.98), state.window)

    return TransitionResult(
        onset_K=onset, midpoint_K=midpoint, zero_K=zero, intersection_K=float(intersection),
        width_K=onset - lower, normal_resistance_ohm=normal_resistance, has_transition=True,
        message="; ".join(missing), steps=steps, lower_K=lower, zero_threshold_ohm=threshold,
        noise_ohm=curve.noise_ohm, normal_slope_ohm_per_K=state.slope_ohm_per_K,
        normal_intercept_ohm=state.intercept_ohm, steep_slope_ohm_per_K=steep[0], steep_intercept_ohm=steep[1],
    )
