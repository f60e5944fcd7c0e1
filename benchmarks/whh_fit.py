"""A WHH fit of 10 Tc(H) points (0-9 T, Tc = 176 K, Hc2(0) = 216 T): fit_hc2 as shipped against
the same fit_hc2 whose model solves the WHH digamma equation at each point with brentq.

Like for like: the reference is fit_hc2 itself with whh_curve swapped for BRENTQ_CURVE, so both
sides run the same input checks, starting values, Levenberg-Marquardt loop (analytic Jacobian;
the brentq side takes dh/dt from the implicit-function theorem), covariance and derived numbers;
only the curve differs. The reference is written to be quick: scipy's compiled digamma, the
trigamma as zeta(2, x) (polygamma(1, x) is a Python wrapper that costs as much as the root),
psi(1/2) and ln t outside the root's loop, brentq's default tolerance (the two fits then agree
to ~1e-10, Hc2(0), Tc and their errors). Goal: 100 times faster, as the analysis was asked to
be; it is not met, and the reasons follow. The result dict also gives the
searches alone (starting values + least squares, core_ratio) and, for scale, what one would
write first: scipy's curve_fit and lmfit's Model.fit on a brentq-per-point model with
finite-difference derivatives.

Measured on the 2-core development machine (best run, warm):
    fit_hc2, tabulated curve                0.085 ms   3 curve evaluations
    fit_hc2, brentq per point               0.50 ms    3 curve evaluations        ratio ~6
    the searches alone                      0.05 / 0.48 ms                        core_ratio ~10
    one 10-point curve                      5.5 us / 140 us                       model_eval_ratio ~27
    curve_fit, brentq per point             1.25 ms    10 evaluations             ~15x
    lmfit Model.fit, brentq per point       3.5 ms     15 evaluations             ~40x

Why about 6 is the end of it. A brentq root costs ~14 us (seven steps; mostly the call price of
brentq and of a scalar ufunc), so the reference pays ~140 us per evaluation of ten points. The
shipped fit pays ~10 us per iteration: two np.interp and four array operations for the curve,
then residuals and five dot products, some twenty numpy calls at ~0.5 us on 10-element arrays.
Three evaluations are the least a fit to 1e-12 can do from the starting line (two steps and the
one that shows the next is negligible), and both sides do exactly three. Around that sit ~40 us
of fixed work that both pay alike: input checks, starting values, covariance, the near-Tc slope
line and the derived numbers. Hence (3 x 140 + 45) / (3 x 10 + 45) ~ 6. 100x like for like
would need the whole fit in ~5 us, fewer numpy calls than its input checks alone make.

Two things inflate such a ratio when left in, and read 13 here with a cubic-spline fit of
0.35 ms: polygamma for the trigamma, and a loop that trusts comparisons of sums of squares below
their rounding. In the flat Hc2(0)-Tc valley the brentq curve's own rounding then sent such a
loop through 16 evaluations instead of 5, to stop 1e-8 short of the minimum (4.6 ms).
"""

from __future__ import annotations

import contextlib
import math
import time
from unittest import mock

import lmfit
import numpy as np
from scipy.optimize import brentq, curve_fit
from scipy.special import digamma, zeta

from daclab.analysis import hc2_fit
from daclab.analysis.hc2_fit import (
    ReducedCurve,
    fit_hc2,
    least_squares_fixed_curve,
    starting_values,
    whh_curve,
)
from daclab.analysis.whh import whh_tc_of_field

GOAL_RATIO = 100.0  # asked of the analysis; measured like for like it is out of reach (docstring)
ROUNDS, BLOCK = 10, 10
AGREEMENT = 1e-9  # relative: Hc2(0), Tc and their standard errors, shipped fit vs brentq fit
_HBAR0 = math.exp(-np.euler_gamma) / 2
_HBAR_SLOPE_AT_TC = 4.0 / math.pi**2
_PSI_HALF = float(digamma(0.5))


def _brentq_hbar(t: float) -> float:
    """hbar(t) for 0 < t < 1: the root of psi(1/2 + hbar/(2t)) - psi(1/2) + ln t = 0 (WHH 1966)."""
    log_t = math.log(t)
    return brentq(lambda h: digamma(0.5 + h / (2 * t)) - _PSI_HALF + log_t, 0.0, 0.2808)


def _brentq_inside(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """hbar(t)/hbar(0) and its t-derivative, one brentq root per point; dhbar/dt = -F_t / F_h."""
    value, slope = np.zeros_like(t), np.full_like(t, -_HBAR_SLOPE_AT_TC / _HBAR0)
    for i, ti in np.ndenumerate(t):
        if ti >= 1.0:
            continue
        ti = max(ti, 1e-6)
        hbar = _brentq_hbar(ti)
        trigamma = zeta(2, 0.5 + hbar / (2 * ti))
        dF_dh, dF_dt = trigamma / (2 * ti), 1.0 / ti - trigamma * hbar / (2 * ti * ti)
        value[i], slope[i] = hbar / _HBAR0, -dF_dt / dF_dh / _HBAR0
    return value, slope


BRENTQ_CURVE = ReducedCurve(_brentq_inside, -_HBAR_SLOPE_AT_TC / _HBAR0)


def brentq_field(temperature_K, hc2_0_T: float, tc_K: float) -> np.ndarray:
    """Hc2(0) hbar(T/Tc)/hbar(0), continued linearly above Tc, by brentq at each point: the model
    a generic fitter is handed (no derivatives)."""
    out = np.empty(len(temperature_K))
    for i, temperature in enumerate(temperature_K):
        t = temperature / tc_K
        h = _brentq_hbar(max(t, 1e-6)) / _HBAR0 if t < 1.0 else -_HBAR_SLOPE_AT_TC / _HBAR0 * (t - 1.0)
        out[i] = hc2_0_T * h
    return out


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    field = np.linspace(0.0, 9.0, 10)
    temperature = whh_tc_of_field(field, 176.0, 216.0) + np.random.default_rng(seed).normal(0.0, 0.05, 10)
    return temperature, field


def _best_times_ms(*calls, rounds: int = ROUNDS, block: int = BLOCK) -> list[float]:
    """Fastest run of each call, in rounds of ``block`` runs of one call after another: within a
    block a call runs warm, as it would in a loop of fits, and the rounds alternate so that a busy
    machine slows every call alike. A call given as (context factory, call) runs inside that
    context, which is not timed."""
    best = [math.inf] * len(calls)
    for _ in range(rounds):
        for k, call in enumerate(calls):
            context, call = call if isinstance(call, tuple) else (contextlib.nullcontext, call)
            with context():
                for _ in range(block):
                    start = time.perf_counter()
                    call()
                    best[k] = min(best[k], time.perf_counter() - start)
    return [b * 1e3 for b in best]


def _brentq_patch():
    """Inside it, fit_hc2 fits with BRENTQ_CURVE where it would take the tabulated WHH curve."""
    return mock.patch.object(hc2_fit, "whh_curve", lambda *spin: BRENTQ_CURVE)


def _largest_difference(a: hc2_fit.Hc2FitResult, b: hc2_fit.Hc2FitResult) -> float:
    pairs = [(a.hc2_0_T.value, b.hc2_0_T.value), (a.tc_K.value, b.tc_K.value),
             (a.hc2_0_T.stderr, b.hc2_0_T.stderr), (a.tc_K.stderr, b.tc_K.stderr)]
    return max(abs(x - y) / abs(y) for x, y in pairs)


def run() -> list[dict]:
    temperature, field = _data()
    start = starting_values(temperature, field, whh_curve())

    def fast():
        return fit_hc2(temperature, field, "whh")

    def search(curve):
        return lambda: least_squares_fixed_curve(temperature, field, curve, starting_values(temperature, field, curve))

    def with_curve_fit():
        return curve_fit(brentq_field, temperature, field, p0=start)

    lmfit_model = lmfit.Model(brentq_field)

    def with_lmfit():
        return lmfit_model.fit(field, temperature_K=temperature, hc2_0_T=start[0], tc_K=start[1])

    fast_result = fast()
    with _brentq_patch():
        slow_result = fit_hc2(temperature, field, "whh")
    difference = _largest_difference(fast_result, slow_result)
    generic = [with_curve_fit()[0][0], with_lmfit().best_values["hc2_0_T"]]
    fast_ms, slow_ms, fast_core_ms, slow_core_ms, curve_fit_ms, lmfit_ms = _best_times_ms(
        fast, (_brentq_patch, fast), search(whh_curve()), search(BRENTQ_CURVE), with_curve_fit, with_lmfit)
    t = temperature / fast_result.tc_K.value
    table_ms, brentq_ms = _best_times_ms(lambda: whh_curve()(t), lambda: BRENTQ_CURVE(t))
    ratio = slow_ms / fast_ms
    return [{
        "name": "WHH fit of 10 Tc(H) points: fit_hc2 vs fit_hc2 with brentq per point",
        "goal": f">= {GOAL_RATIO:g}x", "met": bool(ratio >= GOAL_RATIO and difference <= AGREEMENT),
        "ratio": ratio, "fast_ms": fast_ms, "slow_ms": slow_ms,
        "core_ratio": slow_core_ms / fast_core_ms, "model_eval_ratio": brentq_ms / table_ms,
        "curve_fit_brentq_ms": curve_fit_ms, "ratio_vs_curve_fit_brentq": curve_fit_ms / fast_ms,
        "lmfit_brentq_ms": lmfit_ms, "ratio_vs_lmfit_brentq": lmfit_ms / fast_ms,
        "hc2_0_T": fast_result.hc2_0_T.value, "largest_relative_difference": difference,
        "generic_hc2_0_relative_difference": max(abs(value / fast_result.hc2_0_T.value - 1) for value in generic),
    }]
