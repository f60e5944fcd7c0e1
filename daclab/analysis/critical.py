"""Critical current from an I-V sweep, and Jc(T) fitted with collective-pinning models.

Ic is the current at which a measurable voltage first appears (PHYSICS.md section 4): a
voltage criterion on the pulsed I-V, or an electric-field criterion E_c (e.g. 1 uV/cm) times the
distance between the voltage contacts. Jc = Ic / cross-section is then fitted against T with
the delta-l or delta-Tc pinning laws of Griessen et al., Phys. Rev. Lett. 72, 1910 (1994).
"""

from __future__ import annotations

import dataclasses
import math

import lmfit
import numpy as np

from daclab.limits import check_choice, check_range

from . import pinning
from .fitting import AnalysisInputError, Estimate, as_array, estimates, paired
from .hc2_fit import best_scale_over_tc


def critical_current_from_iv(current_A, voltage_V, voltage_criterion_V: float) -> float:
    """Critical current in A: the smallest |I| at which |V| first exceeds ``voltage_criterion_V``.

    The points are taken in order of rising |I| (a monotonic sweep, from either side of zero)
    and Ic is interpolated linearly between the last point at or below the criterion and the
    first one above it. If the very first point already exceeds it, that |I| is returned (an
    upper bound: the sweep started too high). NaN when |V| never exceeds the criterion.
    NaN readings are dropped.
    """
    criterion = check_range("voltage_criterion_V", voltage_criterion_V, 0.0, math.inf, "V")
    if criterion == 0.0:
        raise AnalysisInputError("voltage_criterion_V = 0 V; it must be > 0 (above the noise of the voltmeter)")
    current, voltage = paired("current_A", current_A, "voltage_V", voltage_V, minimum=1, x_unit="A", y_unit="V")
    order = np.argsort(np.abs(current), kind="stable")
    i_abs, v_abs = np.abs(current[order]), np.abs(voltage[order])
    above = np.flatnonzero(v_abs > criterion)
    if above.size == 0:
        return math.nan
    k = int(above[0])
    if k == 0:
        return float(i_abs[0])
    i0, i1, v0, v1 = i_abs[k - 1], i_abs[k], v_abs[k - 1], v_abs[k]
    return float(i0 + (criterion - v0) * (i1 - i0) / (v1 - v0))


def voltage_criterion_from_field(field_criterion_V_per_cm: float, contact_distance_cm: float) -> float:
    """Voltage criterion V_c = E_c * L in V, E_c in V/cm (1e-6 for 1 uV/cm), L the voltage-contact distance in cm.

    In a diamond anvil cell L is tens of micrometres, so 1 uV/cm over 30 um is only 3 nV.
    """
    field = check_range("field_criterion_V_per_cm", field_criterion_V_per_cm, 0.0, math.inf, "V/cm")
    distance = check_range("contact_distance_cm", contact_distance_cm, 0.0, math.inf, "cm")
    if field == 0.0 or distance == 0.0:
        raise AnalysisInputError(
            f"field_criterion_V_per_cm = {field:g} and contact_distance_cm = {distance:g} must both be > 0")
    return field * distance


def critical_current_from_field_criterion(current_A, voltage_V, field_criterion_V_per_cm: float,
                                          contact_distance_cm: float) -> float:
    """Critical current in A at the electric-field criterion E_c (V/cm) over the contact distance (cm).

    Same rule as :func:`critical_current_from_iv` with V_c = E_c * L.
    """
    criterion = voltage_criterion_from_field(field_criterion_V_per_cm, contact_distance_cm)
    return critical_current_from_iv(current_A, voltage_V, criterion)


def differential_resistance(current_A, voltage_V) -> np.ndarray:
    """|dV/dI| in ohm at every point of the sweep (numpy.gradient, second-order in the interior).

    Same length as the input; a NaN reading makes its neighbours' slopes NaN rather than
    shifting the array. Repeated currents give inf there.
    """
    current, voltage = as_array("current_A", current_A, "A"), as_array("voltage_V", voltage_V, "V")
    if current.size != voltage.size:
        raise AnalysisInputError(f"current_A has {current.size} points but voltage_V has {voltage.size}; they must match")
    if current.size < 2:
        raise AnalysisInputError(f"current_A has {current.size} points; at least 2 are needed for a slope")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.gradient(voltage, current))


JC_MODELS = {"delta_l": pinning.jc_delta_l, "delta_tc": pinning.jc_delta_tc}


@dataclasses.dataclass(frozen=True)
class JcFitResult:
    """Pinning-model fit of Jc(T): jc0 in the unit of the data (A/cm2 from fit_jc_from_ic), Tc in K.

    residuals = measured Jc - model Jc at the points used (NaN pairs dropped).
    """

    model: str
    jc0: Estimate
    tc_K: Estimate
    temperature_K: np.ndarray
    jc: np.ndarray
    residuals: np.ndarray
    reduced_chi_square: float
    success: bool
    message: str

    def curve(self, temperature_K):
        """The fitted Jc(T), zero at and above Tc."""
        return JC_MODELS[self.model](temperature_K, self.tc_K.value, self.jc0.value)


def fit_jc(temperature_K, jc, model: str = "delta_l") -> JcFitResult:
    """Fit Jc(T) = Jc(0) f(T/Tc) with the delta-l or delta-Tc pinning law (Griessen et al. 1994).

    delta_l:  f(t) = (1 - t^2)^(5/2) (1 + t^2)^(-1/2);  delta_tc: f(t) = (1 - t^2)^(7/6) (1 + t^2)^(5/6).
    Jc(0) and Tc free (lmfit, Levenberg-Marquardt; standard errors scaled by the reduced
    chi-square). Starting values: the best Tc on a grid from 0.9 to 3 times the highest
    temperature, with Jc(0) solved exactly for each (the model is linear in it).
    NaN points (no Ic found) are dropped; at least three points are needed.
    """
    check_choice("model", model, tuple(JC_MODELS))
    temperature, jc_values = paired("temperature_K", temperature_K, "jc", jc, minimum=3, x_unit="K")
    if np.any(temperature < 0):
        raise AnalysisInputError(f"temperature_K = {temperature.min():g} K is negative; temperatures must be >= 0 K")
    if not np.any(temperature > 0):  # Tc is sought as a multiple of the highest temperature
        raise AnalysisInputError("temperature_K: every temperature is 0 K; Jc(T) needs temperatures above 0 K")
    if not np.any(jc_values > 0):
        raise AnalysisInputError("jc: no positive critical current density; nothing to fit")
    law = JC_MODELS[model]
    jc0_start, tc_start = best_scale_over_tc(temperature, jc_values, lambda t: law(t, 1.0, 1.0),
                                             temperature.max() * np.geomspace(0.9, 3.0, 300))

    params = lmfit.Parameters()
    params.add("jc0", value=jc0_start, min=0.0)
    # Tc stays above the lowest temperature, or every point would sit on the zero branch
    params.add("tc_K", value=tc_start, min=temperature.min() * (1 + 1e-9) + 1e-9)
    result = lmfit.minimize(lambda p: law(temperature, p["tc_K"].value, p["jc0"].value) - jc_values, params)
    fitted = estimates(result, ("jc0", "tc_K"))
    return JcFitResult(
        model=model,
        jc0=fitted["jc0"],
        tc_K=fitted["tc_K"],
        temperature_K=temperature,
        jc=jc_values,
        residuals=-np.asarray(result.residual),
        reduced_chi_square=float(result.redchi),
        success=bool(result.success),
        message=str(result.message),
    )


def fit_jc_from_ic(temperature_K, ic_A, width_um: float, thickness_um: float,
                   model: str = "delta_l") -> JcFitResult:
    """fit_jc on Jc = Ic / (width * thickness) in A/cm2 (Ic in A, sizes in um; paper 001: 30 x 1 um)."""
    width = check_range("width_um", width_um, 1e-3, 1e4, "um")
    thickness = check_range("thickness_um", thickness_um, 1e-3, 1e4, "um")
    temperature, ic = paired("temperature_K", temperature_K, "ic_A", ic_A, minimum=3, x_unit="K", y_unit="A")
    return fit_jc(temperature, pinning.critical_current_density_A_cm2(ic, width, thickness), model)
