"""BCS gap against an independent solution of the gap equation (quad + brentq), the
cut-off BCS model for Delta(0)/kTc, and the Ginzburg-Landau limit near Tc."""

import math
import time

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import expit, zeta

from daclab.analysis.bcs import (
    bcs_delta0_meV,
    bcs_gap,
    bcs_gap_interpolation,
    bcs_gap_ratio,
    gap_ratio_2delta_over_ktc,
)
from daclab.analysis.constants import KB_MEV_PER_K

PI_EXP_MINUS_GAMMA = math.pi * math.exp(-np.euler_gamma)


def gap_by_quadrature(t):
    """Delta/Delta0 from ln(Delta0/Delta) = 2 int_0^inf f(E)/E dxi, in units Delta0 = 1."""
    kt = t / PI_EXP_MINUS_GAMMA

    def equation(y):
        def integrand(xi):
            e = math.hypot(xi, y)
            return expit(-e / kt) / e

        integral = quad(integrand, 0.0, 60 * kt + y, points=[kt], limit=400,
                        epsabs=1e-15, epsrel=1e-13)[0]
        return math.log(1 / y) - 2 * integral

    return brentq(equation, 1e-9, 1.0, xtol=1e-15)


@pytest.mark.parametrize("t", [0.123, 0.25, 0.5, 0.6789, 0.9, 0.99])
def test_ratio_against_quadrature(t):
    assert bcs_gap_ratio(t) == pytest.approx(gap_by_quadrature(t), abs=1e-8)


def test_known_values_and_ends():
    # Muehlschlegel's table (1959): 0.9569 at t = 0.5, 0.5263 at t = 0.9 (also from quadrature)
    assert bcs_gap_ratio(0.5) == pytest.approx(0.9569, abs=1e-4)
    assert bcs_gap_ratio(0.9) == pytest.approx(0.5263, abs=1e-4)
    assert bcs_gap_ratio(0.0) == 1.0
    assert np.all(bcs_gap_ratio([1.0, 1.5]) == 0.0)
    assert bcs_gap_ratio(np.linspace(0, 1, 6).reshape(2, 3)).shape == (2, 3)
    with pytest.raises(ValueError):
        bcs_gap_ratio(-0.2)


def test_zero_temperature_gap_from_cutoff_bcs_model():
    # Weak-coupling BCS with coupling N(0)V = 0.2 and cut-off 1:
    # Delta0 = 1/sinh(1/N(0)V) and int_0^1 tanh(xi / 2kTc)/xi dxi = 1/N(0)V.
    coupling = 0.2
    delta0 = 1 / math.sinh(1 / coupling)
    ktc = brentq(lambda kt: quad(lambda xi: math.tanh(xi / (2 * kt)) / xi, 0, 1,
                                 points=[kt], limit=200)[0] - 1 / coupling, 1e-4, 0.1)
    assert delta0 / ktc == pytest.approx(1.7639, abs=2e-4)
    assert bcs_delta0_meV(10.0) / (KB_MEV_PER_K * 10.0) == pytest.approx(delta0 / ktc, rel=2e-4)
    assert gap_ratio_2delta_over_ktc(bcs_delta0_meV(10.0), 10.0) == pytest.approx(3.5278, abs=1e-4)


def test_ginzburg_landau_limit_near_tc():
    # Delta -> pi sqrt(8/(7 zeta(3))) kTc sqrt(1 - t) as t -> 1
    slope = math.pi * math.sqrt(8 / (7 * zeta(3))) / PI_EXP_MINUS_GAMMA
    t = 1 - 1e-5
    assert bcs_gap_ratio(t) / (slope * math.sqrt(1 - t)) == pytest.approx(1.0, abs=1e-4)


def test_interpolation_formula_within_two_percent():
    T = np.linspace(0.5, 99.5, 199)
    exact = bcs_gap(T, 100.0, 21.0)
    approx = bcs_gap_interpolation(T, 100.0, 21.0)
    assert np.max(np.abs(approx / exact - 1)) < 0.02
    assert bcs_gap_interpolation(0.0, 100.0, 21.0) == 21.0
    assert bcs_gap_interpolation(120.0, 100.0, 21.0) == 0.0


def test_gap_scaling_and_paper_ratio():
    assert bcs_gap(50.0, 100.0, 21.04) == pytest.approx(21.04 * bcs_gap_ratio(0.5))
    # paper 001: Delta0 = 21.04 meV with Tc = 112 K is 2 Delta/kTc = 4.36
    assert gap_ratio_2delta_over_ktc(21.04, 112.0) == pytest.approx(4.36, abs=0.01)


def test_evaluation_is_fast_after_the_table():
    t = np.linspace(0, 1, 1000)
    bcs_gap_ratio(t)
    start = time.perf_counter()
    bcs_gap_ratio(t)
    assert time.perf_counter() - start < 0.01
