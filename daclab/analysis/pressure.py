"""Pressure scales for diamond anvil cells, the figure of merit, and a registry of scale names.

Every scale returns GPa. Different scales disagree by several GPa to tens of GPa at megabar
pressures (paper 000 reports ~18 GPa between the diamond edge and the H2 vibron), so a
pressure is only meaningful together with its scale's name: PRESSURE_SCALES maps names to
scales, pressure_from(name, value) converts, and PressureReading keeps value and name together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .constants import TC_MGB2_K

# Plausible input ranges: wide enough for any real cell, narrow enough to catch a wavelength
# typed as a wavenumber, a missing unit conversion or a negative number.
DIAMOND_EDGE_RANGE_CM1 = (1200.0, 2600.0)
AK2010_RANGE_CM1 = (1455.0, 2600.0)  # below 1455 cm-1 the AK2010 quadratic turns over
RUBY_RANGE_NM = (680.0, 820.0)
RUBY_TEMPERATURE_RANGE_K = (0.0, 900.0)
DATCHI2007_RANGE_K = (296.0, 900.0)
T_REFERENCE_K = 296.0  # ruby calibrations refer to room temperature


def _checked(name: str, value, bounds, unit: str):
    """value as a float array, or ValueError naming the parameter, the value and the range."""
    arr = np.asarray(value, dtype=float)
    lo, hi = bounds
    bad = ~((arr >= lo) & (arr <= hi))  # NaN fails as well
    if np.any(bad):
        first = float(arr[bad].flat[0])
        raise ValueError(
            f"{name}={first!r} {unit} is outside the allowed range [{lo:g}, {hi:g}] {unit}")
    return arr


def _as_result(arr):
    return float(arr) if np.ndim(arr) == 0 else arr


# Readings of an unstressed cell on each scale.
AK2006_NU0_CM1 = 1334.0
EREMETS2023_NU0_CM1 = 1332.5
MAO1986_LAMBDA0_NM = 694.24
RUBY2020_LAMBDA0_NM = 694.25


def diamond_edge_akahama2006(nu_cm1):
    """Pressure in GPa from the high-frequency edge of the stressed-diamond Raman band.

    P = K0 x [1 + (K0' - 1) x / 2], x = (nu - nu0)/nu0, K0 = 547 GPa, K0' = 3.75,
    nu0 = 1334 cm-1 (Y. Akahama and H. Kawamura, J. Appl. Phys. 100, 043516 (2006)).
    nu_cm1: edge wavenumber in cm-1, 1200-2600.
    """
    nu = _checked("nu_cm1", nu_cm1, DIAMOND_EDGE_RANGE_CM1, "cm-1")
    x = (nu - AK2006_NU0_CM1) / AK2006_NU0_CM1
    return _as_result(547.0 * x * (1.0 + (3.75 - 1.0) * x / 2.0))


def diamond_edge_eremets2023(nu_cm1):
    """Pressure in GPa from the diamond Raman edge, Eremets et al. 2023 recalibration.

    P = 517 x + 764 x^2, x = (nu - nu0)/nu0, nu0 = 1332.5 cm-1 (2-3 % below AK2006 at
    150-250 GPa; M. I. Eremets et al., 2023). nu_cm1 in cm-1, 1200-2600.
    """
    nu = _checked("nu_cm1", nu_cm1, DIAMOND_EDGE_RANGE_CM1, "cm-1")
    x = (nu - EREMETS2023_NU0_CM1) / EREMETS2023_NU0_CM1
    return _as_result(517.0 * x + 764.0 * x * x)


def diamond_edge_akahama2010(nu_cm1):
    """Pressure in GPa from the diamond Raman edge above ~200 GPa.

    P = 3141 - 4.157 nu + 1.429e-3 nu^2 (Y. Akahama and H. Kawamura, J. Phys.: Conf. Ser.
    215, 012195 (2010); calibrated 200-410 GPa). nu_cm1 in cm-1, 1455-2600 (the quadratic
    has its minimum at 1455 cm-1 and means nothing below it).
    """
    nu = _checked("nu_cm1", nu_cm1, AK2010_RANGE_CM1, "cm-1")
    return _as_result(3141.0 - 4.157 * nu + 1.429e-3 * nu * nu)


def ruby_shift_datchi2007_nm(T_K):
    """Temperature shift of the ruby R1 line above room temperature, in nm.

    d_lambda(T) = 0.00746 dT - 3.01e-6 dT^2 + 8.76e-9 dT^3, dT = T - 296 K
    (F. Datchi et al., High Press. Res. 27, 447 (2007)); fitted for 296-900 K only. Below
    296 K this cubic runs away (it gives -2.65 nm at 4 K, where the line really moves by
    about -0.9 nm), so T_K below 296 K raises: use ruby_temperature_shift_nm.
    """
    dT = _checked("T_K", T_K, DATCHI2007_RANGE_K, "K") - T_REFERENCE_K
    return _as_result(0.00746 * dT - 3.01e-6 * dT**2 + 8.76e-9 * dT**3)


def ruby_shift_ragan1992_nm(T_K):
    """Temperature shift of the ruby R1 line relative to 296 K, in nm, for 0-600 K.

    From the R1 wavenumber nu(T) = 14423 + 4.49e-2 T - 4.81e-4 T^2 + 3.71e-7 T^3 cm-1
    (D. D. Ragan, R. Gustavsen and D. Schiferl, J. Appl. Phys. 72, 5539 (1992); measured
    15-600 K; below 50 K the fit wiggles by 0.03 nm, ~0.1 GPa):
    d_lambda = 1e7/nu(T) - 1e7/nu(296 K), about -0.93 nm at 4 K.
    """
    T = _checked("T_K", T_K, (0.0, 600.0), "K")

    def nu(temp):
        return 14423.0 + 4.49e-2 * temp - 4.81e-4 * temp**2 + 3.71e-7 * temp**3

    return _as_result(1e7 / nu(T) - 1e7 / nu(T_REFERENCE_K))


def ruby_temperature_shift_nm(T_K):
    """Ruby R1 shift d_lambda(T) relative to 296 K in nm, over 0-900 K.

    Ragan et al. 1992 below 296 K (the cryostat range), Datchi et al. 2007 from 296 K up;
    both are 0 at 296 K. Subtract it from the measured wavelength before applying a
    room-temperature ruby scale.
    """
    T = _checked("T_K", T_K, RUBY_TEMPERATURE_RANGE_K, "K")
    cold = ruby_shift_ragan1992_nm(np.minimum(T, T_REFERENCE_K))
    hot = ruby_shift_datchi2007_nm(np.maximum(T, T_REFERENCE_K))
    return _as_result(np.where(T < T_REFERENCE_K, cold, hot))


def _ruby_ratio(lambda_nm, lambda0_nm, T_K):
    lam = _checked("lambda_nm", lambda_nm, RUBY_RANGE_NM, "nm")
    if T_K is not None:
        lam = lam - ruby_temperature_shift_nm(T_K)
    return lam / lambda0_nm


def ruby_mao1986(lambda_nm, T_K=None):
    """Pressure in GPa from the ruby R1 wavelength, quasi-hydrostatic scale of Mao et al. 1986.

    P = (A/B) [(lambda/lambda0)^B - 1], A = 1904 GPa, B = 7.665, lambda0 = 694.24 nm
    (H. K. Mao, J. Xu and P. M. Bell, J. Geophys. Res. 91, 4673 (1986)). lambda_nm in nm,
    680-820; with T_K (K) the line is first corrected to 296 K by ruby_temperature_shift_nm.
    """
    ratio = _ruby_ratio(lambda_nm, MAO1986_LAMBDA0_NM, T_K)
    return _as_result(1904.0 / 7.665 * (ratio**7.665 - 1.0))


def ruby_shen2020(lambda_nm, T_K=None):
    """Pressure in GPa from the ruby R1 wavelength, Ruby2020 scale (valid to 150 GPa).

    P = 1870 (dl/l0) [1 + 5.63 (dl/l0)], dl = lambda - l0, l0 = 694.25 nm
    (G. Shen et al., High Press. Res. 40, 299 (2020)). lambda_nm in nm, 680-820; with T_K (K)
    the line is first corrected to 296 K by ruby_temperature_shift_nm.
    """
    x = _ruby_ratio(lambda_nm, RUBY2020_LAMBDA0_NM, T_K) - 1.0
    return _as_result(1870.0 * x * (1.0 + 5.63 * x))


def figure_of_merit(tc_K, pressure_GPa):
    """Hydride figure of merit S = Tc / sqrt(Tc_MgB2^2 + P^2), Tc in K, P in GPa, Tc_MgB2 = 39 K.

    S = 1 for MgB2 at ambient pressure; H3S (203 K, 155 GPa) 1.27; (La,Ce)H9 (176 K, 100 GPa)
    1.64. (Pickard, Errea and Eremets, Annu. Rev. Condens. Matter Phys. 11, 57 (2020).)
    """
    tc = _checked("tc_K", tc_K, (0.0, np.inf), "K")
    p = _checked("pressure_GPa", pressure_GPa, (0.0, np.inf), "GPa")
    return _as_result(tc / np.sqrt(TC_MGB2_K**2 + p**2))


@dataclass(frozen=True)
class PressureScale:
    """A named pressure calibration: what it reads, in which unit, and the conversion to GPa."""

    name: str
    reads: str
    unit: str
    to_gpa: Callable
    reference: str
    temperature_corrected: bool = False
    # the reading of an unstressed cell (0 GPa on the scale; for AK2010, calibrated above
    # 200 GPa only, the unstressed diamond line): a calculator checks a measured ambient line
    # against it to correct a spectrometer's offset
    ambient: float = math.nan


PRESSURE_SCALES: dict[str, PressureScale] = {
    s.name: s
    for s in (
        PressureScale("akahama2006", "diamond Raman edge", "cm-1", diamond_edge_akahama2006,
                      "Akahama & Kawamura, J. Appl. Phys. 100, 043516 (2006)", ambient=AK2006_NU0_CM1),
        PressureScale("eremets2023", "diamond Raman edge", "cm-1", diamond_edge_eremets2023,
                      "Eremets et al. (2023)", ambient=EREMETS2023_NU0_CM1),
        PressureScale("akahama2010", "diamond Raman edge", "cm-1", diamond_edge_akahama2010,
                      "Akahama & Kawamura, J. Phys. Conf. Ser. 215, 012195 (2010)", ambient=AK2006_NU0_CM1),
        PressureScale("mao1986", "ruby R1 line", "nm", ruby_mao1986,
                      "Mao, Xu & Bell, J. Geophys. Res. 91, 4673 (1986)", True, ambient=MAO1986_LAMBDA0_NM),
        PressureScale("ruby2020", "ruby R1 line", "nm", ruby_shen2020,
                      "Shen et al., High Press. Res. 40, 299 (2020)", True, ambient=RUBY2020_LAMBDA0_NM),
    )
}


def _scale(name: str) -> PressureScale:
    try:
        return PRESSURE_SCALES[name]
    except KeyError:
        raise ValueError(
            f"scale={name!r} is not a known pressure scale; known: {', '.join(PRESSURE_SCALES)}"
        ) from None


def pressure_from(scale: str, value, T_K=None):
    """Pressure in GPa from a reading (cm-1 or nm, see PRESSURE_SCALES[scale].unit).

    T_K (K) corrects ruby readings to 296 K; the diamond edge scales ignore it (the edge
    barely moves with temperature below room temperature). Raises ValueError for an unknown
    scale, listing the known ones.
    """
    s = _scale(scale)
    if s.temperature_corrected:
        return s.to_gpa(value, T_K)
    return s.to_gpa(value)


def _scale_reading(name: str, reads: str) -> PressureScale:
    scale = _scale(name)
    if scale.reads != reads:
        same = ", ".join(n for n, s in PRESSURE_SCALES.items() if s.reads == reads)
        raise ValueError(f"scale={name!r} reads the {scale.reads}, not the {reads}; {reads} scales: {same}")
    return scale


def diamond_edge_pressure(nu_cm1, scale: str = "akahama2006"):
    """Pressure in GPa from the high-frequency edge of the diamond Raman band (cm-1), on a
    diamond-edge scale: 'akahama2006' (default), 'eremets2023' or 'akahama2010' (above 200 GPa)."""
    return _scale_reading(scale, "diamond Raman edge").to_gpa(nu_cm1)


def ruby_pressure(lambda_nm, scale: str = "ruby2020", temperature_K=None):
    """Pressure in GPa from the ruby R1 line (nm), on 'ruby2020' (default) or 'mao1986';
    ``temperature_K`` corrects a reading taken below room temperature (see ruby_temperature_shift_nm)."""
    return _scale_reading(scale, "ruby R1 line").to_gpa(lambda_nm, temperature_K)


@dataclass(frozen=True)
class PressureReading:
    """A pressure with the scale it came from, so the two cannot be separated."""

    gpa: float
    scale: str
    reading: float
    unit: str

    @classmethod
    def from_reading(cls, scale: str, value: float, T_K=None) -> "PressureReading":
        """Convert one reading (cm-1 or nm) with the named scale and keep the name."""
        return cls(float(pressure_from(scale, value, T_K)), scale, float(value), _scale(scale).unit)

    def __str__(self) -> str:
        return f"{self.gpa:.1f} GPa ({self.scale})"
