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
_TABLE_CELLS = 2**16  # cells of the interpolation tables on [0, 1]
_TABLE_FAR_T = 1e12  # last table point: the linear continuation reaches out to here
_HBAR_SLOPE_AT_TC = 4.0 / math.pi**2  # |d hbar / dt| at t = 1 by the definition of hbar, for any alpha
_EPS = float(np.finfo(float).eps)


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


class TabulatedCurve(ReducedCurve):
    """A ReducedCurve read from tables by linear interpolation (np.interp) plus a curvature term.

    Between grid points a < t < b, h(t) = L(t) - h''/2 (t - a)(b - t) + O(h''' dt^3), with L the
    straight line through the ends. (t - a)(b - t) is by how much the linear interpolation of
    t^2 overshoots t^2, so it comes from np.interp as well: two complex interpolations, of
    h + i dh/dt and of t_k^2 + i h''/2, give the value to ~1e-14 and the slope to ~1e-9 with no
    cell search in Python. (Near Tc that overshoot is the difference of two numbers near 1 and
    keeps only its absolute precision, ~1e-17 of Hc2(0), which is what a fit in field sees.)
    Grid points t_k = 1 - (1 - u_k)^2 on a uniform u crowd towards Tc, where h goes to zero. A
    last point far above t = 1 carries the straight continuation, with h'' = 0, which
    interpolation reproduces exactly: no branch at Tc.
    """

    def __init__(self, grid: np.ndarray, line: np.ndarray, bend: np.ndarray, slope_at_tc: float):
        self.slope_at_tc = float(slope_at_tc)  # the tables take the place of ``inside``
        self._grid, self._line, self._bend = grid, line, bend

    def __call__(self, t) -> tuple[np.ndarray, np.ndarray]:
        line = np.interp(t, self._grid, self._line)
        bend = np.interp(t, self._grid, self._bend)
        return line.real - bend.imag * (bend.real - t * t), line.imag


def whh_curve(alpha: float = 0.0, lambda_so: float = 0.0) -> TabulatedCurve:
    """The WHH curve hbar(t)/hbar(0), tabulated from a cubic spline through whh_reduced_field
    (built once per (alpha, lambda_so), in ~20 ms; 2 MB).

    A fit evaluates the curve a few times at a handful of temperatures: the table answers for
    ten in ~5 us, where solving the WHH equation at each (brentq) takes ~0.15 ms.
    """
    return _whh_table(float(alpha), float(lambda_so))


@functools.lru_cache(maxsize=1)
def _table_grid() -> np.ndarray:
    u = np.linspace(0.0, 1.0, _TABLE_CELLS + 1)
    # left writeable: np.interp copies a read-only array at every call
    return np.append(1.0 - (1.0 - u) ** 2, _TABLE_FAR_T)


@functools.lru_cache(maxsize=8)
def _whh_table(alpha: float, lambda_so: float) -> TabulatedCurve:
    knots = np.linspace(0.0, 1.0, _SPLINE_KNOTS)
    hbar = whh_reduced_field(knots, alpha, lambda_so)
    spline = CubicSpline(knots, hbar / hbar[0])
    grid = _table_grid()
    slope_at_tc = -_HBAR_SLOPE_AT_TC / hbar[0]
    inside = grid[:-1]
    value = np.append(spline(inside), slope_at_tc * (_TABLE_FAR_T - 1.0))
    slope = np.append(spline(inside, 1), slope_at_tc)
    half_curvature = np.append(0.5 * spline(inside, 2), 0.0)
    # t = 1 exactly, where the continuation starts; (t - a)(b - t) is zero there, and in the
    # last cell below, 1e-10 wide, the curvature term is below 1e-20 without h''(1)
    value[-2], slope[-2], half_curvature[-2] = 0.0, slope_at_tc, 0.0
    return TabulatedCurve(grid, value + 1j * slope, grid * grid + 1j * half_curvature, slope_at_tc)


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
    coldest = temperature.min()
    if coldest <= 0:
        raise AnalysisInputError(f"temperature_K = {coldest:g} K; transition temperatures must be > 0 K")
    field = np.abs(field)
    if temperature.max() == coldest:
        raise AnalysisInputError("temperature_K: all points at one temperature; Hc2(T) needs a spread of Tc(H)")
    if not field.max() > 0:
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


def _line(temperature: np.ndarray, field: np.ndarray) -> tuple[float, float, float, float] | None:
    """Least-squares H = a + b T from centred sums: (a, b, mean(T), S_TT), b = S_TH / S_TT;
    None when every point is at one temperature (S_TT = 0)."""
    n = temperature.size
    mean_t = float(temperature.sum()) / n
    dt = temperature - mean_t
    s_tt = float(dt.dot(dt))
    if not s_tt > 0:
        return None
    b = float(dt.dot(field)) / s_tt
    return float(field.sum()) / n - b * mean_t, b, mean_t, s_tt


def _line_errors(temperature: np.ndarray, field: np.ndarray, line: tuple[float, float, float, float]
                 ) -> tuple[float, float]:
    """Standard errors (sigma_a, sigma_b) of a line from _line, scaled by the residual scatter:
    var b = s^2 / S_TT, var a = s^2 (1/n + mean(T)^2 / S_TT), s^2 = sum(r^2)/(n - 2), NaN if n < 3.
    """
    a, b, mean_t, s_tt = line
    n = temperature.size
    residuals = field - a - b * temperature
    scatter = float(residuals.dot(residuals)) / (n - 2) if n > 2 else math.nan
    return math.sqrt(scatter * (1.0 / n + mean_t**2 / s_tt)), math.sqrt(scatter / s_tt)


def _lowest_fields(field: np.ndarray, limit_T: float) -> np.ndarray | slice:
    """Index (mask, indices or slice) of the points with H <= limit_T, or of the three lowest
    fields if fewer qualify."""
    chosen = field <= limit_T
    count = np.count_nonzero(chosen)
    if count == field.size:
        return slice(None)  # no copy: near Tc on a hydride every point qualifies
    return chosen if count >= 3 else np.argsort(field, kind="stable")[:3]


def _slope_estimate(temperature, field, hc2_0_T: float) -> tuple[Estimate, Estimate]:
    """dHc2/dT at Tc and Hc2(0) = 0.693 Tc |dHc2/dT| from a line through the near-Tc points.

    With H = a + b T, Tc = -a/b, so Tc |b| = a: the WHH estimate is 0.693 a and its error
    0.693 sigma_a.
    """
    near = _lowest_fields(field, NEAR_TC_FIELD_FRACTION * hc2_0_T)
    temperature, field = temperature[near], field[near]
    line = _line(temperature, field)
    if line is None:
        return Estimate(math.nan), Estimate(math.nan)
    a, b = line[:2]
    sigma_a, sigma_b = _line_errors(temperature, field, line)
    hc2 = float(whh_hc2_zero_from_slope(-a / b, b)) if b < 0 else math.nan
    return Estimate(b, sigma_b), Estimate(hc2, float(whh_hc2_zero_from_slope(1.0, sigma_a)))


def starting_values(temperature, field, curve: ReducedCurve) -> tuple[float, float]:
    """(Hc2(0), Tc) from the line through the lower half of the fields: Tc where it reaches H = 0,
    Hc2(0) = Tc |slope| / |h'(1)|; a scan of Tc when that line does not fall with T."""
    ordered = np.sort(field)
    median = 0.5 * float(ordered[(ordered.size - 1) // 2] + ordered[ordered.size // 2])
    lower = _lowest_fields(field, median)
    line = _line(temperature[lower], field[lower])
    if line is not None:
        a, b = line[:2]
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
    return _covariance_from_normal(jacobian.T @ jacobian, float(residuals @ residuals), jacobian.shape[0])


def _covariance_from_normal(normal: np.ndarray, cost: float, n: int) -> np.ndarray:
    """_covariance from the normal matrix J^T J and the sum of squares of n residuals."""
    p = normal.shape[0]
    if n <= p:
        return np.full((p, p), np.nan)
    try:
        inverse = np.linalg.inv(normal)
    except np.linalg.LinAlgError:
        return np.full((p, p), np.nan)
    return inverse * (cost / (n - p))


def _stderrs(covariance: np.ndarray) -> list[float]:
    """Square roots of the diagonal; NaN where rounding left a variance negative or none exists."""
    return [math.sqrt(v) if v >= 0 else math.nan for v in covariance.diagonal().tolist()]


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

    J = [h(t), -Hc2(0) t h'(t) / Tc] at t = T/Tc. The model is linear in Hc2(0), so the search
    first sets Hc2(0) to its exact best value for the starting Tc, sum(H h) / sum(h^2), which
    removes most of the distance to the minimum along the valley where Hc2(0) and Tc trade off.
    Marquardt's damping scaled by the diagonal of J^T J; a trial step that makes Hc2(0) or Tc
    non-positive counts as a failed step. The 2 x 2 normal equations are formed from five dot
    products and solved in Python floats: on a few dozen points a numpy call costs more than
    its arithmetic, so an iteration is one curve evaluation and a handful of calls.
    Converged when the next step would change the parameters by less than 1e-12 relative (it is
    not taken: the result is the last point evaluated, with its own residuals and covariance),
    or when no step lowers the sum of squares any more (the minimum to rounding).

    Along the Hc2(0)-Tc valley the sum of squares changes less than its own rounding (each
    residual carries ~eps (|H| + Hc2(0) |t h'|) from t = T/Tc alone) long before the parameters
    stop moving, so the last steps cannot be checked against it. A step whose predicted decrease
    is below that rounding is taken when the sum does not rise beyond it either: the end point
    is where the gradient J^T r vanishes, not wherever the comparisons lost their resolution.
    """
    hc2, tc = float(start[0]), float(start[1])
    t = temperature / tc
    shape, slope = curve(t)
    norm, overlap = float(shape.dot(shape)), float(shape.dot(field))
    if norm > 0 and overlap > 0:
        hc2 = overlap / norm
    residuals = field - hc2 * shape
    cost = float(residuals.dot(residuals))
    normal = _normal_equations(hc2, tc, t, shape, slope, residuals)
    field_norm = math.sqrt(float(field.dot(field)))
    damping = 1e-6  # from the near-Tc line the first Gauss-Newton step already lands close
    success, message = False, f"no convergence in {max_iterations} iterations"
    for _ in range(max_iterations):
        n00, n01, n11, g0, g1 = normal
        if not n00 * n11 > 0:
            message = "Hc2(0) or Tc has no effect on the model at these points"
            break
        # sum |r_i| * 8 eps (|H_i| + Hc2(0) |t h'|_i), bounded by Cauchy-Schwarz; sqrt(n11) Tc = Hc2(0) |t h'|
        resolution = 8 * _EPS * math.sqrt(cost) * (field_norm + tc * math.sqrt(n11))
        while damping < 1e12:
            # (J^T J + damping diag(J^T J)) step = J^T r, solved by hand: 2 x 2
            m00, m11 = n00 * (1 + damping), n11 * (1 + damping)
            det = m00 * m11 - n01 * n01
            step_hc2, step_tc = (m11 * g0 - n01 * g1) / det, (m00 * g1 - n01 * g0) / det
            if abs(step_hc2) <= 1e-12 * hc2 and abs(step_tc) <= 1e-12 * tc:
                success, message = True, "parameters converged to 1e-12 relative"
                break
            trial_hc2, trial_tc = hc2 + step_hc2, tc + step_tc
            if trial_hc2 > 0 and trial_tc > 0:
                trial_t = temperature / trial_tc
                trial_shape, trial_slope = curve(trial_t)
                trial_residuals = field - trial_hc2 * trial_shape
                trial_cost = float(trial_residuals.dot(trial_residuals))
                if trial_cost <= cost:
                    break
                predicted = step_hc2 * g0 + step_tc * g1 + damping * (n00 * step_hc2**2 + n11 * step_tc**2)
                if predicted <= resolution and trial_cost <= cost + resolution:
                    break
            damping *= 10.0
        else:
            success, message = True, "no step lowers the sum of squares: minimum to rounding"
        if success:
            break
        hc2, tc, residuals, cost = trial_hc2, trial_tc, trial_residuals, trial_cost
        normal = _normal_equations(hc2, tc, trial_t, trial_shape, trial_slope, residuals)
        damping = max(damping / 10.0, 1e-12)
    n00, n01, n11 = normal[:3]
    return CurveFit(hc2, tc, _covariance_from_normal(np.array([[n00, n01], [n01, n11]]), cost, field.size),
                    residuals, success, message)


def _normal_equations(hc2, tc, t, shape, slope, residuals) -> tuple[float, float, float, float, float]:
    """(J^T J)_00, _01, _11 and (J^T r)_0, _1 for J = [h, c t h'], c = -Hc2(0)/Tc."""
    log_slope = slope * t
    c = -hc2 / tc
    return (float(shape.dot(shape)), c * float(shape.dot(log_slope)), c * c * float(log_slope.dot(log_slope)),
            float(shape.dot(residuals)), c * float(log_slope.dot(residuals)))


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
        rms_residual_T=math.sqrt(float(residuals.dot(residuals)) / residuals.size),
        success=bool(success),
        message=str(message),
    )
