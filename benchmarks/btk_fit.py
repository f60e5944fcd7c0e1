"""A 1001-point BTK fit with thermal smearing and Dynes broadening (Delta = 21 meV, Z = 0.5,
Gamma = 1.5 meV at 10 K, 0.3 % noise): fit_btk with the FFT-convolved model, against the same
fit whose model integrates every bias point with scipy.integrate.quad (sigma0 x Fermi window,
both from daclab.analysis.btk). The quadrature fit would take minutes, so its model is timed on
a share of the bias points for one curve and scaled to 1001 points and to the curves the FFT
fit computed. Those are of two kinds: the starting-value search ranks its grid with
btk_conductance_coarse (~1e-4), the fit itself uses btk_conductance; the quadrature stands in
for each at a matching tolerance (1e-4 and 1e-9). Goal: the FFT fit is at least 100 times
faster.
"""

from __future__ import annotations

import contextlib
import time
from unittest import mock

import numpy as np
from scipy.integrate import quad

from daclab.analysis import gap_fit
from daclab.analysis.btk import btk_conductance, btk_sigma0, thermal_kernel
from daclab.analysis.constants import KB_MEV_PER_K
from daclab.analysis.gap_fit import fit_btk

GOAL_RATIO = 100.0
DELTA_MEV, Z, GAMMA_MEV, TEMPERATURE_K = 21.0, 0.5, 1.5, 10.0
POINTS = 1001
SLOW_SAMPLE_POINTS = 51  # bias points integrated by quad to time one slow model curve
FULL_TOLERANCE, COARSE_TOLERANCE = 1e-9, 1e-4  # quad's stand-ins for the two kinds of curve
MODEL_FUNCTIONS = {"full": "btk_conductance", "coarse": "btk_conductance_coarse"}  # in gap_fit


def quad_conductance(bias_mV, delta_meV, z, gamma_meV, temperature_K, tolerance=FULL_TOLERANCE) -> np.ndarray:
    """The thermally smeared BTK conductance, one adaptive quadrature per bias point."""
    kt = KB_MEV_PER_K * temperature_K
    out = np.empty(len(bias_mV))
    for k, v in enumerate(bias_mV):
        lo, hi = v - 36 * kt, v + 36 * kt
        corners = [p for p in (-delta_meV, delta_meV, v) if lo < p < hi]
        out[k] = quad(lambda e, v=v: float(btk_sigma0(e, delta_meV, z, gamma_meV) * thermal_kernel(e - v, temperature_K)),
                      lo, hi, points=corners, limit=200, epsabs=tolerance, epsrel=tolerance)[0]
    return out


def curves_by_kind(bias, data) -> dict[str, int]:
    """The curves one fit computes, by kind, counted by wrapping the model functions gap_fit calls."""
    counts = dict.fromkeys(MODEL_FUNCTIONS, 0)

    def counting(kind, model):
        def wrapper(bias_mV, delta, z, gamma, temperature):
            counts[kind] += np.broadcast(delta, z, gamma).size
            return model(bias_mV, delta, z, gamma, temperature)
        return wrapper

    with contextlib.ExitStack() as stack:
        for kind, name in MODEL_FUNCTIONS.items():
            stack.enter_context(mock.patch.object(gap_fit, name, counting(kind, getattr(gap_fit, name))))
        fit_btk(bias, data, TEMPERATURE_K)
    return counts


def run() -> list[dict]:
    bias = np.linspace(-105.0, 105.0, POINTS)
    rng = np.random.default_rng(0)
    data = btk_conductance(bias, DELTA_MEV, Z, GAMMA_MEV, TEMPERATURE_K) + rng.normal(0.0, 3e-3, POINTS)

    fast_s, result = float("inf"), None
    for _ in range(3):
        start = time.perf_counter()
        result = fit_btk(bias, data, TEMPERATURE_K)
        fast_s = min(fast_s, time.perf_counter() - start)
    curves = curves_by_kind(bias, data)
    if sum(curves.values()) != result.evaluations:
        raise RuntimeError(f"counted {curves} curves but the fit reports {result.evaluations}")

    sample = bias[:: (POINTS - 1) // (SLOW_SAMPLE_POINTS - 1)]
    fitted = (result.delta_meV.value, result.z.value, result.gamma_meV.value, TEMPERATURE_K)
    slow_s = 0.0
    for kind, tolerance in (("full", FULL_TOLERANCE), ("coarse", COARSE_TOLERANCE)):
        start = time.perf_counter()
        quad_conductance(sample, *fitted, tolerance=tolerance)
        slow_s += (time.perf_counter() - start) / sample.size * POINTS * curves[kind]
    ratio = slow_s / fast_s
    return [{
        "name": f"BTK fit of {POINTS} points at {TEMPERATURE_K:g} K, FFT smearing vs per-point quad",
        "fast_ms": fast_s * 1e3, "slow_ms": slow_s * 1e3, "ratio": ratio,
        "model_evaluations": result.evaluations,
        "fast_ms_per_evaluation": fast_s * 1e3 / result.evaluations,
        "slow_measured_on": f"{sample.size} quad points of 1 curve, scaled x{POINTS / sample.size:.3g}"
                            f" per curve and x{curves['full']} full + x{curves['coarse']} coarse curves",
        "slow_integrand": "btk_sigma0 x thermal_kernel called per energy (numpy scalars)",
        "fitted_delta_meV": result.delta_meV.value,
        "goal": f">= {GOAL_RATIO:g}x", "met": bool(ratio >= GOAL_RATIO),
    }]
