"""Fit of the upper critical field line Hc2(T) to Tc(H) points, and what follows from it.

Each point (T_i, H_i) is a transition temperature measured in the field H_i. The models
(PHYSICS.md section 3, daclab.analysis.whh) all have the form

    mu0 Hc2(T) = Hc2(0) * h(T / Tc),   h(0) = 1, h(1) = 0,

with h the WHH curve hbar(t)/hbar(0) (Werthamer, Helfand and Hohenberg, Phys. Rev. 147, 295
(1966); with or without the Maki parameter alpha and spin-orbit scattering lambda_so) or the
Ginzburg-Landau form (1 - t^2)/(1 + t^2). The fit is done in field space: the residuals are
H_i - Hc2(T_i) in tesla, with Hc2(0) and Tc both free.

Above Tc the curve is continued as the straight line through Tc with the slope at Tc
(negative fields). Clipping it to zero instead would make a point measured at H = 0 blind to a
fitted Tc below it; with the continuation that point pins Tc from both sides.

Hydride data usually cover only 0-9 T of an Hc2(0) of 30-220 T, the top few per cent of the
curve, so the result is an extrapolation dominated by the slope at Tc; the standard errors
come from the covariance of the fit scaled by the scatter of the residuals, and say so.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.optimize import least_squares

from daclab.limits import check_choice, check_range

from .fitting import AnalysisInputError, Estimate, paired
from .whh import (
    coherence_length_nm,
    gl_hc2,
    gl_tc_of_field,
    pauli_limit_T,
    whh_hc2,
    whh_hc2_zero_from_slope,
    whh_reduced_field,
    whh_tc_of_field,
)

MODELS = ("whh", "gl", "whh_spin")

ALPHA_MAX = 20.0
"""Upper bound of a fitted Maki parameter (hydrides: alpha of order 1)."""

LAMBDA_SO_MAX = 50.0
"""Upper bound of a fitted spin-orbit scattering strength."""

NEAR_TC_FIELD_FRACTION = 0.1
"""Points with H <= this fraction of the fitted Hc2(0) enter the slope estimate at Tc; there
the WHH curve is straight to within a few per cent."""

_SPLINE_KNOTS = 4097  # cubic spline of hbar(t): agrees with the direct solution to ~1e-14
_HBAR_SLOPE_AT_TC = 4.0 / math.pi**2  # |d hbar / dt| at t = 1 by the definition of hbar, for any alpha


class ReducedCurve:
    """h(t) = Hc2(t Tc) / Hc2(0) with dh/dt, for t >= 0, continued linearly above t = 1.

    ``inside(t)`` returns (h, dh/dt) for 0 <= t <= 1; ``slope_at_tc`` is dh/dt at t = 1.
    """

    def __init__(self, inside: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], slope_at_tc: float):
        self._inside = inside
        self.slope_at_tc = float(slope_at_tc)

    def __call__(self, t) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, dtype=float)
        value, slope = self._inside(np.minimum(t, 1.0))
        above = t > 1.0
        if above.any():
            value = np.where(above, self.slope_at_tc * (t - 1.0), value)
            slope = np.where(above, self.slope_at_tc, slope)
        return value, slope


def whh_curve(alpha: float = 0.0, lambda_so: float = 0.0) -> ReducedCurve:
    """The WHH curve hbar(t)/hbar(0) as a cubic spline through whh_reduced_field (built once).

    A fit evaluates the curve a few dozen times at a handful of temperatures; the spline
    costs microseconds where solving the WHH equation at each point costs near a millisecond.
    """
    return _whh_spline(float(alpha), float(lambda_so))


@functools.lru_cache(maxsize=16)
def _whh_spline(alpha: float, lambda_so: float) -> ReducedCurve:
    t = np.linspace(0.0, 1.0, _SPLINE_KNOTS)
    hbar = whh_reduced_field(t, alpha, lambda_so)
    return ReducedCurve(_UniformCubic(CubicSpline(t, hbar / hbar[0]).c), -_HBAR_SLOPE_AT_TC / hbar[0])


class _UniformCubic:
    """Value and slope of a cubic spline on the uniform knots of [0, 1], from its coefficients.

    On a uniform grid the cell is floor(t / step): no search, and value and slope share one
    pass, which makes it several times quicker than two CubicSpline calls on a few points.
    """

    def __init__(self, coefficients: np.ndarray):
        self._c = coefficients  # shape (4, cells): c0 dx^3 + c1 dx^2 + c2 dx + c3
        self._cells = coefficients.shape[1]

    def __call__(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scaled = t * self._cells
        cell = np.minimum(scaled.astype(int), self._cells - 1)
        dx = (scaled - cell) / self._cells
        c0, c1, c2, c3 = self._c[:, cell]
        return ((c0 * dx + c1) * dx + c2) * dx + c3, (3 * c0 * dx + 2 * c1) * dx + c2


def _gl_inside(t):
    return gl_hc2(t, 1.0, 1.0), -4.0 * t / (1.0 + t * t) ** 2


GL_CURVE = ReducedCurve(_gl_inside, -1.0)
"""Ginzburg-Landau (1 - t^2)/(1 + t^2); its slope at t = 1 is -1, so Hc2(0) = Tc |dHc2/dT|."""


@dataclasses.dataclass(frozen=True)
class Hc2FitResult:
    """Fitted Hc2(T) line with the numbers derived from it; fields in T, temperatures in K.

    residuals = measured H - model Hc2(T) in T, for the points used (NaN pairs dropped).
    alpha and lambda_so are None except for model "whh_spin" (stderr NaN when held fixed).
    slope_T_per_K and hc2_0_from_slope_T come from a straight line through the points with
    H <= NEAR_TC_FIELD_FRACTION * Hc2(0) (at least the three lowest fields):
    Hc2(0) = 0.693 Tc |dHc2/dT|_Tc (WHH 1966).
    """

    model: str
    hc2_0_T: Estimate
    tc_K: Estimate
    alpha: Estimate | None
    lambda_so: Estimate | None
    coherence_length_nm: Estimate
    slope_T_per_K: Estimate
    hc2_0_from_slope_T: Estimate
    pauli_limit_T: Estimate
    temperature_K: np.ndarray
    field_T: np.ndarray
    residuals: np.ndarray
    rms_residual_T: float
    success: bool
    message: str

    @property
    def exceeds_pauli_limit(self) -> bool:
        """True when the fitted Hc2(0) lies above the weak-coupling paramagnetic limit 1.84 Tc."""
        return self.hc2_0_T.value > self.pauli_limit_T.value

    def curve(self, temperature_K):
        """The fitted mu0 Hc2(T) in T (zero above Tc)."""
        tc, hc2 = self.tc_K.value, self.hc2_0_T.value
        if self.model == "gl":
            return gl_hc2(temperature_K, tc, hc2)
        return whh_hc2(temperature_K, tc, hc2, *self._spin())

    def tc_of_field(self, field_T):
        """The fitted line read the other way: Tc(H) in K."""
        tc, hc2 = self.tc_K.value, self.hc2_0_T.value
        if self.model == "gl":
            return gl_tc_of_field(field_T, tc, hc2)
        return whh_tc_of_field(field_T, tc, hc2, *self._spin())

    def _spin(self) -> tuple[float, float]:
        if self.alpha is None:
            return 0.0, 0.0
        return self.alpha.value, self.lambda_so.value


def fit_hc2(temperature_K, field_T, model: str = "whh", alpha: float | None = None,
            lambda_so: float | None = None) -> Hc2FitResult:
    """Fit mu0 Hc2(T) = Hc2(0) h(T/Tc) to Tc(H) points by least squares in field space.

    temperature_K: transition temperatures in K; field_T: the fields they were measured in, in T
    (sign ignored; points at H = 0 give Tc directly). NaN pairs are dropped.
    model: "whh" (dirty limit, no spin effects), "gl" ((1 - t^2)/(1 + t^2)) or "whh_spin"
    (WHH with Maki alpha and spin-orbit lambda_so; each is held at the value given, or fitted
    within [0, ALPHA_MAX] and [0, LAMBDA_SO_MAX] when None).
    Starting values come from a straight line through the lowest-field points (the slope at
    Tc), so the fit starts next to its answer even when the data cover only the top few per cent
    of the curve. Standard errors: covariance of the least-squares fit scaled by the reduced
    chi-square of the residuals (NaN with no degree of freedom left).
    """
    check_choice("model", model, MODELS)
    if model != "whh_spin":
        for name, value in (("alpha", alpha), ("lambda_so", lambda_so)):
            if value is not None:
                raise AnalysisInputError(f"{name} = {value!r} applies only to model='whh_spin', not model={model!r}")
    if alpha is not None:
        alpha = check_range("alpha", alpha, 0.0, ALPHA_MAX)
    if lambda_so is not None:
        lambda_so = check_range("lambda_so", lambda_so, 0.0, LAMBDA_SO_MAX)
    n_free = 2 + (alpha is None) + (lambda_so is None) if model == "whh_spin" else 2
    temperature, field = paired("temperature_K", temperature_K, "field_T", field_T, minimum=n_free + 1,
                                x_unit="K", y_unit="T")
    if np.any(temperature <= 0):
        raise AnalysisInputError(f"temperature_K = {temperature.min():g} K; transition temperatures must be > 0 K")
    field = np.abs(field)
    if np.ptp(temperature) == 0.0:
        raise AnalysisInputError("temperature_K: all points at one temperature; Hc2(T) needs a spread of Tc(H)")
    if not np.any(field > 0):
        raise AnalysisInputError("field_T: every point is at zero field; Hc2(T) needs points in field")

    if model == "gl":
        return _fit_fixed_curve(temperature, field, "gl", GL_CURVE)
    if model == "whh" or (alpha is not None and lambda_so is not None):
        spin = (alpha, lambda_so) if model == "whh_spin" else None
        return _fit_fixed_curve(temperature, field, model, whh_curve(*(spin or ())), spin)
    return _fit_spin_free(temperature, field, alpha, lambda_so)


def anisotropy(result_a: Hc2FitResult, result_b: Hc2FitResult) -> Estimate:
    """Hc2 anisotropy gamma = Hc2_a(0) / Hc2_b(0) with its error (the two fits independent).

    stderr = gamma * sqrt((s_a/Hc2_a)^2 + (s_b/Hc2_b)^2), first-order propagation.
    """
    a, b = result_a.hc2_0_T, result_b.hc2_0_T
    ratio = a.value / b.value
    return Estimate(ratio, abs(ratio) * math.hypot(a.stderr / a.value, b.stderr / b.value))


# ---- starting values and the near-Tc slope ----------------------------------------------------


def _line(temperature: np.ndarray, field: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Least-squares H = a + b T: (a, b, covariance scaled by the residual scatter, NaN if n < 3).

    Centred sums: b = S_TH / S_TT; var b = s^2 / S_TT, var a = s^2 (1/n + mean(T)^2 / S_TT),
    cov(a, b) = -mean(T) s^2 / S_TT, s^2 = sum(r^2)/(n - 2).
    """
    n, mean_t = temperature.size, temperature.mean()
    dt = temperature - mean_t
    s_tt = dt @ dt
    b = dt @ field / s_tt
    a = field.mean() - b * mean_t
    residuals = field - a - b * temperature
    scatter = residuals @ residuals / (n - 2) if n > 2 else math.nan
    cov = scatter / s_tt * np.array([[s_tt / n + mean_t**2, -mean_t], [-mean_t, 1.0]])
    return float(a), float(b), cov


def _lowest_fields(field: np.ndarray, limit_T: float) -> np.ndarray:
    """Indices of the points with H <= limit_T, or of the three lowest fields if fewer qualify."""
    chosen = np.flatnonzero(field <= limit_T)
    return chosen if chosen.size >= 3 else np.argsort(field, kind="stable")[:3]


def _slope_estimate(temperature, field, hc2_0_T: float) -> tuple[Estimate, Estimate]:
    """dHc2/dT at Tc and Hc2(0) = 0.693 Tc |dHc2/dT| from a line through the near-Tc points.

    With H = a + b T, Tc = -a/b, so Tc |b| = a: the WHH estimate is 0.693 a and its error
    0.693 sigma_a.
    """
    near = _lowest_fields(field, NEAR_TC_FIELD_FRACTION * hc2_0_T)
    if np.ptp(temperature[near]) == 0.0:
        return Estimate(math.nan), Estimate(math.nan)
    a, b, cov = _line(temperature[near], field[near])
    hc2 = float(whh_hc2_zero_from_slope(-a / b, b)) if b < 0 else math.nan
    return Estimate(b, math.sqrt(cov[1, 1])), Estimate(hc2, float(whh_hc2_zero_from_slope(1.0, math.sqrt(cov[0, 0]))))


def starting_values(temperature, field, curve: ReducedCurve) -> tuple[float, float]:
    """(Hc2(0), Tc) from the line through the lower half of the fields: Tc where it reaches H = 0,
    Hc2(0) = Tc |slope| / |h'(1)|; a scan of Tc when that line does not fall with T."""
    lower = _lowest_fields(field, float(np.median(field)))
    if np.ptp(temperature[lower]) > 0:
        a, b, _ = _line(temperature[lower], field[lower])
        if b < 0 and a > 0:
            return a / -curve.slope_at_tc, -a / b
    return _scan_tc(temperature, field, curve)


def _scan_tc(temperature, field, curve: ReducedCurve) -> tuple[float, float]:
    """Start from the best Tc on a grid up to four times the highest temperature."""
    scale, tc = best_scale_over_tc(temperature, field, lambda t: curve(t)[0],
                                   temperature.max() * np.geomspace(0.9, 4.0, 400))
    return max(scale, float(field.max())), tc


def best_scale_over_tc(temperature, values, shape: Callable[[np.ndarray], np.ndarray],
                       tc_grid) -> tuple[float, float]:
    """(s, Tc) minimising sum (values - s shape(T/Tc))^2 over a grid of Tc with s > 0.

    For a model linear in its scale s the best s at each Tc is exact, sum(y f)/sum(f^2), so a
    one-dimensional scan gives starting values that do not depend on a guess.
    """
    tc_grid = np.asarray(tc_grid, dtype=float)
    f = shape(temperature[None, :] / tc_grid[:, None])
    norm = np.sum(f * f, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norm > 0, f @ values / norm, 0.0)
    cost = np.sum((values - scale[:, None] * f) ** 2, axis=1)
    best = int(np.argmin(np.where(scale > 0, cost, np.inf)))
    return float(scale[best]), float(tc_grid[best])


# ---- the fits -----------------------------------------------------------------------------


def _covariance(jacobian: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    """(J^T J)^-1 * sum(r^2)/(n - p): the parameter covariance at the least-squares minimum."""
    n, p = jacobian.shape
    if n <= p:
        return np.full((p, p), np.nan)
    try:
        inverse = np.linalg.inv(jacobian.T @ jacobian)
    except np.linalg.LinAlgError:
        return np.full((p, p), np.nan)
    return inverse * (np.sum(residuals**2) / (n - p))


def _stderrs(covariance: np.ndarray) -> list[float]:
    """Square roots of the diagonal; NaN where rounding left a variance negative or none exists."""
    return [math.sqrt(v) if v >= 0 else math.nan for v in np.diag(covariance)]


@dataclasses.dataclass(frozen=True)
class CurveFit:
    """Least-squares Hc2(0) h(T/Tc) through the points: values, covariance, H - model in T."""

    hc2_0_T: float
    tc_K: float
    covariance: np.ndarray
    residuals: np.ndarray
    success: bool
    message: str


def least_squares_fixed_curve(temperature, field, curve: ReducedCurve, start: tuple[float, float],
                              max_iterations: int = 200) -> CurveFit:
    """Levenberg-Marquardt on (Hc2(0), Tc) with the analytic Jacobian of Hc2(0) h(T/Tc).

    Marquardt's damping scaled by the diagonal of J^T J; a trial step that makes Hc2(0) or Tc
    non-positive counts as a failed step. With two parameters and a model that costs
    microseconds, this loop takes a fraction of the time of a general least-squares driver.
    Converged when a step changes the parameters by less than 1e-12 relative, or when no step
    lowers the sum of squares any more (the minimum to rounding).
    """

    def evaluate(x):
        t = temperature / x[1]
        shape, slope = curve(t)
        return field - x[0] * shape, np.column_stack([shape, -x[0] * slope * t / x[1]])

    x = np.array(start, dtype=float)
    residuals, jacobian = evaluate(x)
    cost, damping = residuals @ residuals, 1e-3
    success, message = False, f"no convergence in {max_iterations} iterations"
    for _ in range(max_iterations):
        (n00, n01), (_, n11) = jacobian.T @ jacobian
        g0, g1 = jacobian.T @ residuals
        if not n00 * n11 > 0:
            message = "Hc2(0) or Tc has no effect on the model at these points"
            break
        while damping < 1e12:
            # (J^T J + damping diag(J^T J)) step = J^T r, solved by hand: 2 x 2
            m00, m11 = n00 * (1 + damping), n11 * (1 + damping)
            det = m00 * m11 - n01 * n01
            step = np.array([m11 * g0 - n01 * g1, m00 * g1 - n01 * g0]) / det
            trial = x + step
            if trial.min() > 0:
                trial_residuals, trial_jacobian = evaluate(trial)
                trial_cost = trial_residuals @ trial_residuals
                if trial_cost <= cost:
                    break
            damping *= 10.0
        else:
            success, message = True, "no step lowers the sum of squares: minimum to rounding"
            break
        x, residuals, jacobian, cost = trial, trial_residuals, trial_jacobian, trial_cost
        damping = max(damping / 10.0, 1e-12)
        if np.all(np.abs(step) <= 1e-12 * np.abs(x)):
            success, message = True, "parameters converged to 1e-12 relative"
            break
    return CurveFit(float(x[0]), float(x[1]), _covariance(jacobian, residuals), residuals, success, message)


def _fit_fixed_curve(temperature, field, model: str, curve: ReducedCurve,
                     spin: tuple[float, float] | None = None) -> Hc2FitResult:
    fit = least_squares_fixed_curve(temperature, field, curve, starting_values(temperature, field, curve))
    spin_estimates = tuple(Estimate(v) for v in spin) if spin else (None, None)
    return _result(model, temperature, field, (fit.hc2_0_T, fit.tc_K, *spin_estimates), fit.covariance,
                   fit.residuals, fit.success, fit.message)


def _fit_spin_free(temperature, field, alpha: float | None, lambda_so: float | None) -> Hc2FitResult:
    """WHH with alpha and/or lambda_so free: bounded trust-region fit with numerical derivatives.

    Starts from the spin-free WHH fit: Hc2(0) from the Maki relation Hc2 = Hc2_orb / sqrt(1 +
    alpha^2) with alpha = sqrt(2) Hc2_orb / H_P unless given, lambda_so = 1 unless given.
    Near Tc alpha only bends the curve (second order in 1 - t), so on data close to Tc the
    errors of alpha and lambda_so, and with them that of Hc2(0), come out large; there the
    search is cut at 60 evaluations (success False) rather than wandering along the valley.
    """
    spin_free = least_squares_fixed_curve(temperature, field, whh_curve(),
                                          starting_values(temperature, field, whh_curve()))
    orbital, tc0 = spin_free.hc2_0_T, spin_free.tc_K
    alpha0 = alpha if alpha is not None else min(math.sqrt(2) * orbital / float(pauli_limit_T(tc0)), ALPHA_MAX / 2)
    lambda0 = lambda_so if lambda_so is not None else 1.0
    free = [name for name, value in (("alpha", alpha), ("lambda_so", lambda_so)) if value is None]

    def unpack(x):
        spin = dict(alpha=alpha0, lambda_so=lambda0)
        spin.update(zip(free, x[2:]))
        return math.exp(x[0]), math.exp(x[1]), float(spin["alpha"]), float(spin["lambda_so"])

    def model_minus_data(x):
        hc2, tc, a, ls = unpack(x)
        hbar0 = float(whh_reduced_field(0.0, a, ls))
        t = temperature / tc
        inside = hc2 * whh_reduced_field(np.minimum(t, 1.0), a, ls) / hbar0
        return np.where(t > 1.0, -hc2 * _HBAR_SLOPE_AT_TC / hbar0 * (t - 1.0), inside) - field

    start = [math.log(orbital / math.sqrt(1 + alpha0**2)), math.log(tc0)]
    start += [{"alpha": alpha0, "lambda_so": lambda0}[name] for name in free]
    upper = [np.inf, np.inf] + [{"alpha": ALPHA_MAX, "lambda_so": LAMBDA_SO_MAX}[name] for name in free]
    solution = least_squares(model_minus_data, start, bounds=([-np.inf, -np.inf] + [0.0] * len(free), upper),
                             method="trf", x_scale="jac", xtol=1e-10, ftol=1e-10, max_nfev=60)
    hc2, tc, a, ls = unpack(solution.x)
    residuals = -solution.fun
    cov = _covariance(solution.jac, residuals)
    to_linear = np.array([hc2, tc] + [1.0] * len(free))  # d value / d x: exp for the logarithms
    cov = cov * np.outer(to_linear, to_linear)
    spin_errors = dict(zip(free, _stderrs(cov)[2:]))
    spin = (Estimate(a, float(spin_errors.get("alpha", math.nan))),
            Estimate(ls, float(spin_errors.get("lambda_so", math.nan))))
    return _result("whh_spin", temperature, field, (hc2, tc, *spin), cov[:2, :2], residuals,
                   solution.success, solution.message)


def _result(model, temperature, field, values, cov, residuals, success, message) -> Hc2FitResult:
    hc2, tc, alpha, lambda_so = values
    hc2_err, tc_err = _stderrs(cov)
    xi = float(coherence_length_nm(hc2))
    slope, from_slope = _slope_estimate(temperature, field, hc2)
    return Hc2FitResult(
        model=model,
        hc2_0_T=Estimate(hc2, hc2_err),
        tc_K=Estimate(tc, tc_err),
        alpha=alpha,
        lambda_so=lambda_so,
        coherence_length_nm=Estimate(xi, xi * hc2_err / (2 * hc2)),  # xi ~ Hc2^(-1/2)
        slope_T_per_K=slope,
        hc2_0_from_slope_T=from_slope,
        pauli_limit_T=Estimate(float(pauli_limit_T(tc)), float(pauli_limit_T(tc_err))),
        temperature_K=temperature,
        field_T=field,
        residuals=residuals,
        rms_residual_T=float(np.sqrt(np.mean(residuals**2))),
        success=bool(success),
        message=str(message),
    )
