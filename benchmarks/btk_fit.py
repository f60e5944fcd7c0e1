"""A 1001-point BTK fit with thermal smearing and Dynes broadening (Delta = 21 meV, Z = 0.5,
Gamma = 1.5 meV at 10 K, 0.3 % noise): fit_btk with the FFT-convolved model, against the same
fit whose model integrates every bias point with scipy.integrate.quad (sigma0 x Fermi window,
both from daclab.analysis.btk). The quadrature fit would take minutes, so its model is timed on
a share of the bias points for one evaluation and scaled to 1001 points and to the number of
model evaluations the FFT fit needed. Goal: the FFT fit is at least 100 times faster.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import quad

from daclab.analysis.btk import btk_conductance, btk_sigma0, thermal_kernel
from daclab.analysis.constants import KB_MEV_PER_K
from daclab.analysis.gap_fit import fit_btk

GOAL_RATIO = 100.0
DELTA_MEV, Z, GAMMA_MEV, TEMPERATURE_K = 21.0, 0.5, 1.5, 10.0
POINTS = 1001
SLOW_SAMPLE_POINTS = 51  # bias points integrated by quad to time one slow model evaluation


def quad_conductance(bias_mV, delta_meV, z, gamma_meV, temperature_K) -> np.ndarray:
    """The thermally smeared BTK conductance, one adaptive quadrature per bias point."""
    kt = KB_MEV_PER_K * temperature_K
    out = np.empty(len(bias_mV))
    for k, v in enumerate(bias_mV):
        lo, hi = v - 36 * kt, v + 36 * kt
        corners = [p for p in (-delta_meV, delta_meV, v) if lo < p < hi]
        out[k] = quad(lambda e: float(btk_sigma0(e, delta_meV, z, gamma_meV) * thermal_kernel(e - v, temperature_K)),
                      lo, hi, points=corners, limit=200, epsabs=1e-9, epsrel=1e-9)[0]
    return out


def run() -> list[dict]:
    bias = np.linspace(-105.0, 105.0, POINTS)
    rng = np.random.default_rng(0)
    data = btk_conductance(bias, DELTA_MEV, Z, GAMMA_MEV, TEMPERATURE_K) + rng.normal(0.0, 3e-3, POINTS)

    fast_s, result = float("inf"), None
    for _ in range(3):
        start = time.perf_counter()
        result = fit_btk(bias, data, TEMPERATURE_K)
        fast_s = min(fast_s, time.perf_counter() - start)

    sample = bias[:: (POINTS - 1) // (SLOW_SAMPLE_POINTS - 1)]
    start = time.perf_counter()
    quad_conductance(sample, result.delta_meV.value, result.z.value, result.gamma_meV.value, TEMPERATURE_K)
    per_point_s = (time.perf_counter() - start) / sample.size
    slow_s = per_point_s * POINTS * result.evaluations
    ratio = slow_s / fast_s
    return [{
        "name": f"BTK fit of {POINTS} points at {TEMPERATURE_K:g} K, FFT smearing vs per-point quad",
        "fast_ms": fast_s * 1e3, "slow_ms": slow_s * 1e3, "ratio": ratio,
        "model_evaluations": result.evaluations,
        "slow_measured_on": f"{sample.size} quad points of 1 evaluation, scaled x{POINTS / sample.size:.3g}"
                            f" per evaluation and x{result.evaluations} evaluations",
        "slow_integrand": "btk_sigma0 x thermal_kernel called per energy (numpy scalars)",
        "fitted_delta_meV": result.delta_meV.value,
        "goal": f">= {GOAL_RATIO:g}x", "met": bool(ratio >= GOAL_RATIO),
    }]
