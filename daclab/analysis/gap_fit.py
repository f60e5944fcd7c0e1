"""Fits of the superconducting gap: BTK to a point-contact spectrum, BCS to Delta(T).

fit_btk fits the thermally smeared, Dynes-broadened BTK conductance (btk.btk_conductance;
G. E. Blonder, M. Tinkham and T. M. Klapwijk, Phys. Rev. B 25, 4515 (1982); A. Plecenik et al.,
Phys. Rev. B 49, 10016 (1994)) with the temperature fixed to the measured one, as paper 001
does at 2 K. fit_gap fits the exact weak-coupling BCS shape Delta0 * g(T/Tc) (bcs.bcs_gap) with
Delta0 and Tc free, so a strong-coupling ratio 2 Delta0/kB Tc (4.36 in paper 001) comes out
with its uncertainty. analyse_spectrum chains the processing of a raw dI/dV curve
(conductance.process_spectrum) and the BTK fit, as the procedure, the live fitter and
'daclab analyze' all do.
"""

from __future__ import annotations

import dataclasses
import math

import lmfit
import numpy as np

from ..limits import check_range
from .bcs import bcs_gap, gap_ratio_2delta_over_ktc
from .btk import btk_conductance, btk_conductance_coarse, btk_two_gap
from .conductance import Spectrum, process_spectrum
from .fitting import AnalysisInputError, Estimate, as_array, estimates, paired

ASSUMED_NORMALISED = "normalised"
ASSUMED_RAW = "raw: scaled by a fitted G_N"

_MAX_TEMPERATURE_K = 400.0
_NORMAL_LEVEL = (0.8, 1.25)  # a normalised curve's high-bias level lies in here
_OUTER_FRACTION = 0.75  # |V| above this share of the window counts as high bias
_Z_MAX = 20.0  # beyond this the contact is a tunnel junction; Z no longer changes the shape
_START_Z = np.array([0.0, 0.4, 0.8, 1.5, 4.0])  # barriers of the starting-value grid
_SHAPE_PARAMETERS = ("delta", "z", "gamma")  # the one-gap model's parameters, in its order

@dataclasses.dataclass(frozen=True)
class BtkFitResult:
    """Best BTK parameters of one spectrum.

    normal_conductance is G_N in the units of the fitted conductance (exactly 1, stderr NaN,
    when the curve was taken as normalised); ``assumed`` says which it was. delta2_meV and
    weight (share of the larger gap delta_meV) are None for a one-gap fit. reduced_chi2 is in
    the units of the conductance squared (the fit is unweighted); evaluations counts model
    curves computed, starting-value search included.
    """

    delta_meV: Estimate
    z: Estimate
    gamma_meV: Estimate
    normal_conductance: Estimate
    assumed: str
    temperature_K: float
    delta2_meV: Estimate | None
    weight: Estimate | None
    reduced_chi2: float
    success: bool
    message: str
    evaluations: int

    def model(self, bias_mV) -> np.ndarray:
        """The fitted conductance at ``bias_mV`` (same units as the data that were fitted)."""
        bias = as_array("bias_mV", bias_mV, "mV")
        if self.delta2_meV is None:
            shape = btk_conductance(bias, self.delta_meV.value, self.z.value, self.gamma_meV.value,
                                    self.temperature_K)
        else:
            shape = btk_two_gap(bias, self.delta_meV.value, self.delta2_meV.value, self.weight.value,
                                self.z.value, self.gamma_meV.value, self.temperature_K)
        return self.normal_conductance.value * shape

    def as_dict(self) -> dict:
        out = {name: getattr(self, name).as_dict()
               for name in ("delta_meV", "z", "gamma_meV", "normal_conductance")}
        if self.delta2_meV is not None:
            out["delta2_meV"] = self.delta2_meV.as_dict()
            out["weight"] = self.weight.as_dict()
        out.update(assumed=self.assumed, temperature_K=self.temperature_K,
                   reduced_chi2=self.reduced_chi2, success=self.success, message=self.message)
        return out


def fit_btk(bias_mV, conductance, temperature_K: float, *, normalised: bool | None = None,
            two_gap: bool = False, delta_guess_meV: float | None = None) -> BtkFitResult:
    """Fit G(V) = G_N * BTK(V; Delta, Z, Gamma, T) with T fixed to the measured temperature.

    bias_mV: junction bias in mV (eV in meV); conductance: normalised G/G_N, or raw dI/dV in
    any unit, in which case G_N is a free scale. normalised=None decides from the data: a
    normalised curve sits near 1 at high bias. two_gap fits w G(Delta) + (1 - w) G(Delta2),
    Delta2 < Delta, with common Z and Gamma. Starting values come from the spectrum itself
    (coherence-peak position and the edge of the zero-bias structure, refined on a coarse
    Delta x Z x Gamma grid) unless delta_guess_meV is given. Works for gaps up to ~100 meV and
    temperatures up to 300 K as long as the bias window reaches a few gaps.
    """
    bias, data = paired("bias_mV", bias_mV, "conductance", conductance, 6 if two_gap else 4, "mV")
    temperature = check_range("temperature_K", temperature_K, 0.0, _MAX_TEMPERATURE_K, "K")
    v_max = float(np.max(np.abs(bias)))
    if v_max <= 0:
        raise AnalysisInputError("bias_mV is zero everywhere; a spectrum needs a bias sweep")
    if normalised not in (None, True, False):
        raise AnalysisInputError(f"normalised = {normalised!r} must be None, True or False")
    level = _high_bias_level(bias, data)
    if not level > 0:
        raise AnalysisInputError(f"conductance at high bias has median {level:g}; it must be > 0")
    is_normalised = _NORMAL_LEVEL[0] <= level <= _NORMAL_LEVEL[1] if normalised is None else normalised
    if delta_guess_meV is not None:
        delta_guess_meV = check_range("delta_guess_meV", delta_guess_meV, 1e-3, 2 * v_max, "meV")

    counter = _CountingModel(temperature)
    start = _starting_values(counter, bias, data, level, is_normalised, delta_guess_meV)
    params = lmfit.Parameters()
    params.add("delta", value=start["delta"], min=1e-3, max=2 * v_max)
    params.add("z", value=start["z"], min=0.0, max=_Z_MAX)
    params.add("gamma", value=start["gamma"], min=1e-3, max=v_max)
    params.add("scale", value=1.0 if is_normalised else start["scale"], min=0.0, vary=not is_normalised)

    residual = _Residual(counter, bias, data)
    # one gap (with the batched Jacobian), also to start two
    result = lmfit.minimize(residual, params, method="least_squares", jac=residual.jacobian)
    if two_gap:
        result = _best_two_gap(residual, result.params)
    names = ["delta", "z", "gamma", "scale"] + (["delta2", "weight"] if two_gap else [])
    fitted = estimates(result, names)
    if is_normalised:
        fitted["scale"] = Estimate(1.0)
    return BtkFitResult(
        delta_meV=fitted["delta"], z=fitted["z"], gamma_meV=fitted["gamma"],
        normal_conductance=fitted["scale"],
        assumed=ASSUMED_NORMALISED if is_normalised else ASSUMED_RAW,
        temperature_K=temperature,
        delta2_meV=fitted.get("delta2"), weight=fitted.get("weight"),
        reduced_chi2=float(result.redchi), success=bool(result.success), message=str(result.message),
        evaluations=counter.calls)


@dataclasses.dataclass(frozen=True)
class SpectrumAnalysis:
    """A raw dI/dV curve processed (conductance.Spectrum) and its BTK fit (None when not fitted)."""

    spectrum: Spectrum
    btk: BtkFitResult | None


def fit_spectrum(spectrum: Spectrum, temperature_K: float, **fit_options) -> BtkFitResult:
    """BTK fit of a processed spectrum at the measured temperature, G_N left free.

    The background is fitted at |V| > gap window, where the BTK conductance has not yet fallen
    to G_N: with Z = 0.3 it is still 1-2 % above it at 4 Delta. The background therefore comes
    out that much high and the normalised curve tends to a level a little below 1 (more as T
    smears the spectrum). Fixing G_N = 1 would make the fit pull Delta down by 2-10 % to match
    that level; a free G_N (``normalised=False``) absorbs it. ``fit_options`` go to fit_btk
    (``two_gap``, ``delta_guess_meV``; ``normalised`` may be overridden).
    """
    options = {"normalised": False, **fit_options}
    return fit_btk(spectrum.bias_mV, spectrum.conductance_norm, temperature_K, **options)


def analyse_spectrum(bias_V, didv_S, temperature_K: float, gap_window_V: float, degree: int = 2,
                     smooth_points: int = 3, series_resistance_ohm: float = 0.0, fit: bool = True,
                     **fit_options) -> SpectrumAnalysis:
    """Paper 001's analysis of one point-contact spectrum: conductance.process_spectrum (series
    resistance taken out, ``smooth_points`` moving average, degree-``degree`` background beyond
    ``gap_window_V``, division), then, when ``fit``, :func:`fit_spectrum` at ``temperature_K``.

    Raises ValueError (AnalysisInputError or LimitError) naming the input that cannot be used.
    """
    spectrum = process_spectrum(bias_V, didv_S, gap_window_V, degree, smooth_points,
                                series_resistance_ohm=series_resistance_ohm)
    return SpectrumAnalysis(spectrum, fit_spectrum(spectrum, temperature_K, **fit_options) if fit else None)


class _CountingModel:
    """The one-gap model at the fixed temperature, counting the curves it computes (a call
    with arrays of parameters computes one curve per entry). ``coarse`` is
    btk_conductance_coarse, for ranking starting values."""

    def __init__(self, temperature_K: float) -> None:
        self.temperature_K, self.calls = temperature_K, 0

    def __call__(self, bias_mV, delta, z, gamma) -> np.ndarray:
        self.calls += np.broadcast(delta, z, gamma).size
        return np.asarray(btk_conductance(bias_mV, delta, z, gamma, self.temperature_K), dtype=float)

    def coarse(self, bias_mV, delta, z, gamma) -> np.ndarray:
        self.calls += np.broadcast(delta, z, gamma).size
        return np.asarray(btk_conductance_coarse(bias_mV, delta, z, gamma, self.temperature_K), dtype=float)


class _Residual:
    """scale * G(V) - data for lmfit.minimize, and the Jacobian of the one-gap fit.

    The Jacobian is the forward difference of least_squares' default '2-point' scheme (step
    sqrt(eps) max(1, |x|), reversed where it would cross the upper bound), but the three
    shifted curves come from one btk_conductance call on one energy grid, and the unshifted
    one is the curve the residual has just computed at the same point (least_squares asks
    for the Jacobian where it last evaluated the residual). d/d scale is the curve itself.
    """

    def __init__(self, model: _CountingModel, bias, data) -> None:
        self.model, self.bias, self.data = model, bias, data
        self._last: tuple[tuple[float, ...], np.ndarray] | None = None  # one-gap point, its curve

    def __call__(self, params: lmfit.Parameters) -> np.ndarray:
        values = params.valuesdict()
        shape = _shape(self.model, self.bias, values)
        if "delta2" not in values:
            self._last = (tuple(values[name] for name in _SHAPE_PARAMETERS), shape)
        return values["scale"] * shape - self.data

    def jacobian(self, params: lmfit.Parameters) -> np.ndarray:
        values = params.valuesdict()
        point = tuple(values[name] for name in _SHAPE_PARAMETERS)
        if self._last is None or self._last[0] != point:
            self._last = (point, self.model(self.bias, *point))
        curve = self._last[1]
        steps = np.array([_forward_step(params[name]) for name in _SHAPE_PARAMETERS])
        # row i of the shifted points moves parameter i by its step
        shifted = self.model(self.bias, *(np.array(point) + np.diag(steps)).T)
        columns = {name: values["scale"] * (row - curve) / step
                   for name, row, step in zip(_SHAPE_PARAMETERS, shifted, steps)}
        columns["scale"] = curve
        return np.column_stack([columns[name] for name, parameter in params.items() if parameter.vary])


def _forward_step(parameter: lmfit.Parameter) -> float:
    """least_squares' '2-point' step for one parameter, as the exactly representable difference."""
    x = parameter.value
    step = math.sqrt(np.finfo(float).eps) * max(1.0, abs(x)) * (1.0 if x >= 0 else -1.0)
    if not parameter.min <= x + step <= parameter.max:
        step = -step
    return (x + step) - x


def _shape(model: _CountingModel, bias, values: dict) -> np.ndarray:
    """G/G_N; with a delta2 the weighted sum of two one-gap curves (btk_two_gap's definition)."""
    if "delta2" not in values:
        return model(bias, values["delta"], values["z"], values["gamma"])
    # both gaps in one call, on the energy grid btk_two_gap would use
    first, second = model(bias, np.array([values["delta"], values["delta2"]]), values["z"], values["gamma"])
    return values["weight"] * first + (1.0 - values["weight"]) * second


def _best_two_gap(residual, one_gap: lmfit.Parameters):
    """Second gap started at a few fractions of the first; the lowest chi-square wins."""
    best = None
    for ratio in (0.3, 0.6):
        params = one_gap.copy()
        params.add("ratio", value=ratio, min=0.02, max=1.0)
        params.add("delta2", expr="ratio * delta")
        params.add("weight", value=0.6, min=0.0, max=1.0)
        result = lmfit.minimize(residual, params, method="least_squares")
        if best is None or result.chisqr < best.chisqr:
            best = result
    return best


def _high_bias_level(bias, data) -> float:
    outer = np.abs(bias) >= _OUTER_FRACTION * np.max(np.abs(bias))
    return float(np.median(data[outer]))


def _even_profile(bias, data, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The spectrum folded onto |V| on a uniform grid: mean of both polarities where measured."""
    order = np.argsort(bias, kind="stable")
    x, y = bias[order], data[order]
    grid = np.linspace(0.0, float(np.max(np.abs(x))), points)
    sides = []
    for sign in (1.0, -1.0):
        sides.append(np.interp(sign * grid, x, y, left=np.nan, right=np.nan))
    stacked = np.vstack(sides)
    measured = ~np.isnan(stacked)
    keep = measured.any(axis=0)  # a grid point neither polarity reaches is left out
    profile = np.where(measured, stacked, 0.0).sum(axis=0)[keep] / measured.sum(axis=0)[keep]
    return grid[keep], profile


def _gap_candidates(bias, data) -> list[float]:
    """Delta read off the curve: the coherence-peak position and the steepest fall beyond it.

    A tunnel-like contact has peaks at ~Delta; a transparent one a plateau that falls at
    ~Delta. The folded curve is smoothed over ~1 % of the window first so that noise neither
    makes a peak nor the steepest slope.
    """
    grid, profile = _even_profile(bias, data)
    kernel = np.ones(5) / 5.0
    smooth = np.convolve(np.pad(profile, 2, mode="edge"), kernel, mode="valid")
    peak = int(np.argmax(smooth[1:])) + 1  # the zero-bias point is not a coherence peak
    slope = np.gradient(smooth, grid)
    drop = peak + int(np.argmin(slope[peak:]))
    candidates = [grid[drop]]
    if 0.05 * grid[-1] < grid[peak] < 0.9 * grid[-1]:
        candidates.append(grid[peak])
    return [c for c in candidates if c > 0] or [0.2 * grid[-1]]


def _starting_values(model: _CountingModel, bias, data, level, is_normalised, delta_guess) -> dict:
    """Coarse grid around the read-off gap; G_N solved linearly at every node for raw data.

    The nodes are ranked with btk_conductance_coarse: its ~1e-4 error is far below the cost
    differences between nodes, and the fit itself uses the full model from the best one.
    """
    centres = [delta_guess] if delta_guess is not None else _gap_candidates(bias, data)
    deltas = sorted({c * f for c in centres for f in (0.6, 0.75, 0.9, 1.0, 1.1, 1.25)})
    best = (math.inf, {})
    for delta in deltas:
        for gamma in (0.02 * delta, 0.15 * delta):
            # all barriers of a (Delta, Gamma) node in one call: they share the energy grid
            shapes = model.coarse(bias, delta, _START_Z, gamma)
            scales = np.ones(len(_START_Z)) if is_normalised else shapes @ data / np.sum(shapes * shapes, axis=1)
            costs = np.sum((scales[:, None] * shapes - data) ** 2, axis=1)
            node = int(np.argmin(costs))  # the first of equal costs, as in a loop over Z
            if costs[node] < best[0]:
                scale = float(scales[node])
                best = (float(costs[node]), {"delta": delta, "z": float(_START_Z[node]), "gamma": gamma,
                                             "scale": scale if scale > 0 else level})
    return best[1]


@dataclasses.dataclass(frozen=True)
class GapFitResult:
    """BCS fit of Delta(T): Delta0, Tc and 2 Delta0/kB Tc (with the covariance in its error)."""

    delta0_meV: Estimate
    tc_K: Estimate
    ratio: Estimate
    reduced_chi2: float
    points: int
    success: bool
    message: str

    def model(self, temperature_K) -> np.ndarray:
        """Fitted Delta(T) in meV."""
        return bcs_gap(as_array("temperature_K", temperature_K, "K"), self.tc_K.value, self.delta0_meV.value)

    def as_dict(self) -> dict:
        return {"delta0_meV": self.delta0_meV.as_dict(), "tc_K": self.tc_K.as_dict(),
                "ratio": self.ratio.as_dict(), "reduced_chi2": self.reduced_chi2,
                "points": self.points, "success": self.success, "message": self.message}


def fit_gap(temperature_K, delta_meV, delta_stderr=None) -> GapFitResult:
    """Fit Delta(T) = Delta0 g(T/Tc) (exact weak-coupling BCS shape, bcs.bcs_gap), Delta0, Tc free.

    ratio = 2 Delta0 / (kB Tc) with sigma_r^2 / r^2 = (s_D/D0)^2 + (s_T/Tc)^2 - 2 cov(D0, Tc)/(D0 Tc).
    delta_stderr (optional, > 0) weights the points; the standard errors are scaled by the
    reduced chi-square either way, so they reflect the actual scatter about the BCS shape.
    Points above Tc with Delta = 0 are allowed and help to pin Tc; a point with NaN in any of
    the three arrays is left out.
    """
    temperature = as_array("temperature_K", temperature_K, "K")
    delta = as_array("delta_meV", delta_meV, "meV")
    if temperature.size != delta.size:
        raise AnalysisInputError(
            f"temperature_K has {temperature.size} points but delta_meV has {delta.size}; they must match")
    sigma = np.ones_like(delta)
    if delta_stderr is not None:
        sigma = as_array("delta_stderr", delta_stderr, "meV")
        if sigma.size != delta.size:
            raise AnalysisInputError(f"delta_stderr has {sigma.size} points but delta_meV has {delta.size}; they must match")
    keep = ~(np.isnan(temperature) | np.isnan(delta) | np.isnan(sigma))
    temperature, delta, sigma = temperature[keep], delta[keep], sigma[keep]
    if temperature.size < 3:
        raise AnalysisInputError(f"{temperature.size} usable (temperature_K, delta_meV) points; at least 3 are needed")
    if np.any(temperature < 0):
        raise AnalysisInputError(f"temperature_K = {temperature.min():g} K is negative; temperatures must be >= 0 K")
    if np.any(sigma <= 0):
        raise AnalysisInputError(f"delta_stderr = {sigma.min():g} meV; uncertainties must be > 0")
    if not np.max(delta) > 0:
        raise AnalysisInputError("delta_meV is never > 0; there is no gap to fit")

    tc_start, delta0_start = _bcs_start(temperature, delta, sigma)
    params = lmfit.Parameters()
    params.add("delta0", value=delta0_start, min=0.0)
    params.add("tc", value=tc_start, min=1e-3)
    result = lmfit.minimize(lambda p: (bcs_gap(temperature, p["tc"].value, p["delta0"].value) - delta) / sigma,
                            params, method="least_squares")
    fitted = estimates(result, ["delta0", "tc"])
    d0, tc = fitted["delta0"], fitted["tc"]
    ratio = float(gap_ratio_2delta_over_ktc(d0.value, tc.value))
    return GapFitResult(delta0_meV=d0, tc_K=tc, ratio=Estimate(ratio, _ratio_stderr(result, ratio)),
                        reduced_chi2=float(result.redchi), points=int(temperature.size),
                        success=bool(result.success), message=str(result.message))


def _bcs_start(temperature, delta, sigma) -> tuple[float, float]:
    """Tc scanned on a log grid; Delta0 is linear in the model, so it is solved at every Tc."""
    weight = 1.0 / sigma**2
    gapped = temperature[delta > 0.1 * np.max(delta)]
    lowest = max(float(np.max(gapped)), 1e-2) if gapped.size else float(np.max(temperature))
    best = (math.inf, lowest, float(np.max(delta)))
    for tc in np.geomspace(0.5 * lowest, 10.0 * lowest, 300):
        shape = bcs_gap(temperature, tc, 1.0)
        norm = float(np.sum(weight * shape * shape))
        if norm == 0.0:
            continue
        delta0 = float(np.sum(weight * shape * delta)) / norm
        cost = float(np.sum(weight * (delta0 * shape - delta) ** 2))
        if cost < best[0]:
            best = (cost, float(tc), delta0)
    return best[1], best[2]


def _ratio_stderr(result, ratio: float) -> float:
    if result.covar is None:
        return math.nan
    index = {name: i for i, name in enumerate(result.var_names)}
    d0, tc = result.params["delta0"].value, result.params["tc"].value
    cov = result.covar
    i, j = index["delta0"], index["tc"]
    relative = cov[i, i] / d0**2 + cov[j, j] / tc**2 - 2.0 * cov[i, j] / (d0 * tc)
    return float(abs(ratio) * math.sqrt(max(relative, 0.0)))
