"""Critical current density against temperature: collective-pinning models and geometry.

Griessen et al., Phys. Rev. Lett. 72, 1910 (1994): with t = T/Tc and the Ginzburg-Landau
temperature dependences of the penetration depth and coherence length,
  delta-l pinning (spatial fluctuations of the mean free path):
      Jc(t) = Jc(0) (1 - t^2)^(5/2) (1 + t^2)^(-1/2)
  delta-Tc pinning (spatial fluctuations of Tc):
      Jc(t) = Jc(0) (1 - t^2)^(7/6) (1 + t^2)^(5/6)
At t = 0.5 these give 0.436 and 0.861 of Jc(0). Paper 001 (CeH9) fitted delta-l.
"""

from __future__ import annotations

import numpy as np


def _one_minus_and_plus_t2(T_K, tc_K):
    t2 = (np.asarray(T_K, dtype=float) / float(tc_K)) ** 2
    return np.clip(1.0 - t2, 0.0, None), 1.0 + t2  # clipping makes Jc = 0 for T >= Tc


def jc_delta_l(temperature_K, tc_K: float, jc0):
    """delta-l pinning Jc(T) = Jc0 (1 - t^2)^(5/2) / sqrt(1 + t^2), t = T/Tc (Griessen 1994).

    Same unit as jc0 (e.g. A/cm2); temperature_K, tc_K in K; 0 for T >= Tc.
    """
    minus, plus = _one_minus_and_plus_t2(temperature_K, tc_K)
    return jc0 * minus**2.5 / np.sqrt(plus)


def jc_delta_tc(temperature_K, tc_K: float, jc0):
    """delta-Tc pinning Jc(T) = Jc0 (1 - t^2)^(7/6) (1 + t^2)^(5/6), t = T/Tc (Griessen 1994).

    Same unit as jc0 (e.g. A/cm2); temperature_K, tc_K in K; 0 for T >= Tc.
    """
    minus, plus = _one_minus_and_plus_t2(temperature_K, tc_K)
    return jc0 * minus ** (7 / 6) * plus ** (5 / 6)


_UM2_TO_CM2 = 1e-8


def critical_current_A(jc_A_cm2, width_um, thickness_um):
    """Critical current Ic = Jc * width * thickness in A, Jc in A/cm2, sizes in um.

    Example (paper 001): 4 MA/cm2 through 30 um x 1 um = 3e-7 cm2 gives 1.2 A.
    """
    return np.asarray(jc_A_cm2, dtype=float) * width_um * thickness_um * _UM2_TO_CM2


def critical_current_density_A_cm2(ic_A, width_um, thickness_um):
    """Critical current density Jc = Ic / (width * thickness) in A/cm2, Ic in A, sizes in um."""
    return np.asarray(ic_A, dtype=float) / (width_um * thickness_um * _UM2_TO_CM2)
