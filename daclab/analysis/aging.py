"""Decay of Tc with the days since synthesis: exponential relaxation to a final value.

Freshly laser-heated hydrides lose hydrogen to the cell (paper 002, LaH10+x at ~170 GPa: Tc
~160 K just after heating, falling within days and settling at 70-85 K). Tc against the days d
since synthesis is fitted with

    Tc(d) = Tc_inf + (Tc_0 - Tc_inf) exp(-d / tau)

where Tc_0 is Tc at d = 0, Tc_inf the value it settles at and tau the relaxation time in days.
The model is linear in Tc_inf and Tc_0 for a given tau, so the start values come from a scan of
tau with exact linear least squares at each step; lmfit then refines all three and gives their
standard errors.
"""

from __future__ import annotations

import dataclasses
import math

import lmfit
import numpy as np

from .fitting import AnalysisInputError, Estimate, estimates, paired

__all__ = ["AgingResult", "aging_curve", "fit_aging"]

MINIMUM_POINTS = 4  # three parameters and at least one degree of freedom
# The tau scan spans relaxations much faster than the first interval to much slower than the
# whole series; beyond either end the data cannot tell tau apart.
_TAU_SCAN_DECADES_BELOW = 2.0
_TAU_SCAN_DECADES_ABOVE = 2.0
_TAU_SCAN_STEPS = 81


def aging_curve(days, tc0_K: float, tc_final_K: float, tau_days: float):
    """Tc(d) = Tc_inf + (Tc_0 - Tc_inf) exp(-d / tau) in K, d in days (paper 002)."""
    return tc_final_K + (tc0_K - tc_final_K) * np.exp(-np.asarray(days, dtype=float) / tau_days)


@dataclasses.dataclass(frozen=True)
class AgingResult:
    """Fitted aging of Tc; ``residuals_K`` are data minus fit, in the order of the (NaN-free) input."""

    tc0_K: Estimate
    tc_final_K: Estimate
    tau_days: Estimate
    days: np.ndarray
    tc_K: np.ndarray
    residuals_K: np.ndarray
    rms_residual_K: float

    def predict(self, days) -> np.ndarray:
        """The fitted Tc at the given days since synthesis, in K."""
        return aging_curve(days, self.tc0_K.value, self.tc_final_K.value, self.tau_days.value)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {"tc0_K": self.tc0_K.as_dict(), "tc_final_K": self.tc_final_K.as_dict(),
                "tau_days": self.tau_days.as_dict()}


def _linear_amplitudes(days: np.ndarray, tc: np.ndarray, tau: float) -> tuple[float, float, float]:
    """(Tc_0, Tc_inf, sum of squared residuals) for a fixed tau, by linear least squares."""
    decay = np.exp(-days / tau)
    design = np.column_stack((decay, 1.0 - decay))
    (tc0, tc_final), *_ = np.linalg.lstsq(design, tc, rcond=None)
    residual = tc - design @ np.array([tc0, tc_final])
    return float(tc0), float(tc_final), float(residual @ residual)


def _start_values(days: np.ndarray, tc: np.ndarray) -> tuple[float, float, float]:
    """The best (Tc_0, Tc_inf, tau) over a logarithmic scan of tau."""
    span = float(days.max() - days.min())
    shortest = float(np.min(np.diff(np.unique(days))))
    taus = np.logspace(np.log10(shortest) - _TAU_SCAN_DECADES_BELOW, np.log10(span) + _TAU_SCAN_DECADES_ABOVE,
                       _TAU_SCAN_STEPS)
    best = min(taus, key=lambda tau: _linear_amplitudes(days, tc, tau)[2])
    tc0, tc_final, _ = _linear_amplitudes(days, tc, best)
    return tc0, tc_final, float(best)


def fit_aging(days, tc_K) -> AgingResult:
    """Fit Tc(d) = Tc_inf + (Tc_0 - Tc_inf) exp(-d / tau) to Tc measured on several days.

    ``days`` (days since synthesis, >= 0) and ``tc_K`` (K, > 0) are equal-length sequences;
    NaN pairs are dropped. Needs at least 4 points on at least 3 different days, else raises
    :class:`AnalysisInputError` naming the argument. Returns Estimates of Tc_0, Tc_inf and tau
    with their standard errors (NaN when the data cannot fix them) and the residuals.
    Reference: paper 002 (LaH10+x, Tc from ~160 K to 70-85 K over days).
    """
    d, tc = paired("days", days, "tc_K", tc_K, MINIMUM_POINTS, "days", "K")
    if (d < 0.0).any():
        raise AnalysisInputError(f"days must be >= 0 (days since synthesis); got minimum {d.min():g}")
    if (tc <= 0.0).any():
        raise AnalysisInputError(f"tc_K must be > 0 K; got minimum {tc.min():g} K")
    if np.unique(d).size < 3:
        raise AnalysisInputError(
            f"days holds {np.unique(d).size} different value(s); a relaxation needs Tc on at least 3 different days")

    tc0, tc_final, tau = _start_values(d, tc)
    params = lmfit.Parameters()
    params.add("tc0_K", value=tc0)
    params.add("tc_final_K", value=tc_final)
    params.add("tau_days", value=tau, min=tau * 1e-3, max=tau * 1e3)
    model = lmfit.Model(aging_curve, independent_vars=["days"])
    fit = model.fit(tc, params, days=d)
    values = estimates(fit, ("tc0_K", "tc_final_K", "tau_days"))
    residuals = tc - fit.best_fit
    return AgingResult(
        tc0_K=values["tc0_K"], tc_final_K=values["tc_final_K"], tau_days=values["tau_days"],
        days=d, tc_K=tc, residuals_K=residuals, rms_residual_K=float(np.sqrt(np.mean(residuals**2))),
    )


def day_crossed(temperature_K, days, kelvin: float) -> float:
    """Days since synthesis at the reading of one R(T) leg nearest ``kelvin``: when the sweep
    crossed that Tc. While Tc falls by kelvins a day, the leg's mean day would misplace it (the
    procedure, too, dates each leg's Tc at its crossing). NaN without a usable reading."""
    temperature, days = np.asarray(temperature_K, dtype=float), np.asarray(days, dtype=float)
    usable = np.flatnonzero(np.isfinite(temperature) & np.isfinite(days))
    if math.isnan(kelvin) or usable.size == 0:
        return math.nan
    return float(days[usable[np.argmin(np.abs(temperature[usable] - kelvin))]])
