"""Physical constants and the dimensionless numbers of the models (SI unless the name says)."""

import math

KB_MEV_PER_K = 8.617333262e-2
"""Boltzmann constant in meV/K (CODATA 2018, exact)."""

PHI0_WB = 2.067833848e-15
"""Superconducting flux quantum h/2e in Wb (T m^2)."""

MU0_H_PER_M = 1.25663706212e-6
"""Vacuum permeability in H/m (CODATA 2018)."""

EULER_GAMMA = 0.5772156649015329
"""Euler-Mascheroni constant gamma_E."""

BCS_DELTA0_OVER_KTC = math.pi * math.exp(-EULER_GAMMA)
"""Weak-coupling BCS Delta(0)/(kB Tc) = pi exp(-gamma_E) = 1.76388."""

BCS_2DELTA_OVER_KTC = 2.0 * BCS_DELTA0_OVER_KTC
"""Weak-coupling BCS 2 Delta(0)/(kB Tc) = 3.52775."""

ZETA3 = 1.2020569031595942
"""Riemann zeta(3), which sets the BCS gap and specific-heat jump near Tc."""

BCS_SPECIFIC_HEAT_JUMP = 12.0 / (7.0 * ZETA3)
"""Weak-coupling BCS Delta C / (gamma_n Tc) = 12/(7 zeta(3)) = 1.426."""

BCS_GAP_NEAR_TC = math.pi * math.sqrt(8.0 / (7.0 * ZETA3))
"""Delta(T)/(kB Tc) -> BCS_GAP_NEAR_TC * sqrt(1 - T/Tc) as T -> Tc (= 3.0633)."""

WHH_HBAR0 = 0.5 * math.exp(-EULER_GAMMA)
"""WHH reduced field at T = 0 without spin effects: exp(-gamma_E)/2 = 0.28073."""

WHH_SLOPE_FACTOR = math.pi**2 * math.exp(-EULER_GAMMA) / 8.0
"""Hc2(0) / (Tc |dHc2/dT|_Tc) in the dirty limit: pi^2 exp(-gamma_E)/8 = 0.69267."""

PAULI_T_PER_K = 1.84
"""Clogston-Chandrasekhar paramagnetic limit mu0 Hp(0) / Tc in T/K (weak coupling, g = 2)."""

TC_MGB2_K = 39.0
"""Tc of MgB2 in K, the reference of the hydride figure of merit."""
