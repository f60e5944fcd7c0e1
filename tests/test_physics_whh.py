"""WHH / GL upper critical field, checked against numbers obtained independently of the module:
scipy's digamma with brentq, the explicit Matsubara sum, and closed-form limits."""

import math
import time

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import polygamma, psi

from daclab.analysis.whh import (
    _digamma_trigamma,
    coherence_length_nm,
    gl_hc2,
    gl_tc_of_field,
    pauli_limit_T,
    whh_hc2,
    whh_hc2_zero_from_slope,
    whh_reduced_field,
    whh_tc_of_field,
)


def simple_whh_by_brentq(t):
    """ln(1/t) = psi(1/2 + h/(2t)) - psi(1/2), solved with scipy alone."""
    return brentq(lambda h: psi(0.5 + h / (2 * t)) - psi(0.5) - math.log(1 / t), 0.0, 0.3,
                  xtol=1e-15, rtol=1e-15)


def matsubara_sum_residual(h, t, alpha, lambda_so, n_terms=200_000):
    """Explicit WHH sum over nu in [-N, N-1] (each |2nu+1| twice) plus its 1/N tail.

    sum {1/x - [x + h/t + (alpha h/t)^2 / (x + (h + lambda_so)/t)]^-1} - ln(1/t), x = |2nu+1|.
    For large x a term is (h/t)/x^2, so the terms left out add up to (h/t)/(2N).
    """
    x = 2.0 * np.arange(n_terms) + 1.0
    a, b, c = h / t, (h + lambda_so) / t, (alpha * h / t) ** 2
    terms = 1.0 / x - 1.0 / (x + a + c / (x + b))
    return 2.0 * terms.sum() + a / (2 * n_terms) - math.log(1 / t)


def test_internal_digamma_matches_scipy():
    rng = np.random.default_rng(0)
    z = 0.5 + rng.uniform(0, 50, 500) + 1j * rng.uniform(-40, 40, 500)
    value, _ = _digamma_trigamma(z)
    assert np.allclose(value, psi(z), rtol=1e-14, atol=1e-14)
    x = np.concatenate([[0.5, 1.0, 1e7], 0.5 + rng.uniform(0, 100, 100)])
    value, slope = _digamma_trigamma(x)
    assert np.allclose(value, psi(x), rtol=1e-14, atol=1e-14)
    assert np.allclose(slope, polygamma(1, x), rtol=1e-14)


def test_reduced_field_zero_temperature_limit():
    assert whh_reduced_field(0.0) == pytest.approx(math.exp(-np.euler_gamma) / 2, abs=1e-12)
    assert whh_reduced_field(0.0) == pytest.approx(0.28073, abs=5e-6)
    assert whh_reduced_field(1e-3) == pytest.approx(0.28073, abs=5e-6)


def test_reduced_field_ends_and_shapes():
    assert whh_reduced_field(1.0) == 0.0
    assert np.all(whh_reduced_field([1.2, 5.0]) == 0.0)
    grid = np.linspace(0.0, 1.0, 12).reshape(3, 4)
    out = whh_reduced_field(grid)
    assert out.shape == (3, 4)
    assert np.all(np.diff(out.ravel()) < 0)  # Hc2 falls monotonically with T
    assert isinstance(whh_reduced_field(0.5), float)
    with pytest.raises(ValueError, match="t=-0.1"):
        whh_reduced_field([-0.1, 0.5])


@pytest.mark.parametrize("t", [0.02, 0.2, 0.5, 0.8, 0.95, 0.999])
def test_simple_form_against_brentq(t):
    assert whh_reduced_field(t) == pytest.approx(simple_whh_by_brentq(t), rel=1e-10, abs=1e-15)


def test_slope_at_tc_gives_whh_ratio():
    tc, hc2_0 = 12.0, 30.0
    d = 1e-3 * tc
    s1 = whh_hc2(tc - d, tc, hc2_0) / d
    s2 = whh_hc2(tc - 2 * d, tc, hc2_0) / (2 * d)
    slope = 2 * s1 - s2  # Richardson: removes the O(d) curvature term
    assert hc2_0 / (tc * slope) == pytest.approx(0.69267, abs=2e-5)
    assert whh_hc2_zero_from_slope(tc, -slope) == pytest.approx(hc2_0, rel=3e-5)
    exact = math.pi**2 * math.exp(-np.euler_gamma) / 8
    assert whh_hc2_zero_from_slope(1.0, 1.0) == pytest.approx(exact)


@pytest.mark.parametrize(
    "alpha, lambda_so",
    [(1.0, 0.5), (2.0, 5.0), (5.0, 0.1), (1.0, 0.0), (0.3, 2.0)],
)
@pytest.mark.parametrize("t", [0.1, 0.5, 0.9])
def test_closed_form_against_matsubara_sum(alpha, lambda_so, t):
    expected = brentq(lambda h: matsubara_sum_residual(h, t, alpha, lambda_so), 1e-9, 0.2808,
                      xtol=1e-13)
    assert whh_reduced_field(t, alpha, lambda_so) == pytest.approx(expected, rel=1e-7)


def test_both_branches_of_g_are_exercised():
    # g^2 = (alpha hbar)^2 - (lambda_so/2)^2 at the solution: real g for (5, 0.1),
    # imaginary g for (2, 5); the Matsubara test above covers both.
    h_real = whh_reduced_field(0.5, 5.0, 0.1)
    h_imag = whh_reduced_field(0.5, 2.0, 5.0)
    assert (5.0 * h_real) ** 2 - 0.05**2 > 0
    assert (2.0 * h_imag) ** 2 - 2.5**2 < 0


def test_general_path_reduces_to_simple_form():
    t = np.linspace(0.0, 1.0, 41)
    simple = whh_reduced_field(t)
    assert np.allclose(whh_reduced_field(t, 1e-12, 0.0), simple, atol=1e-12)
    # spin-orbit scattering alone changes nothing without Pauli paramagnetism
    assert np.allclose(whh_reduced_field(t, 1e-12, 3.0), simple, atol=1e-10)


def test_pauli_limiting_lowers_hc2():
    h = [whh_reduced_field(0.0, a) for a in (0.0, 0.5, 1.0, 2.0)]
    assert np.all(np.diff(h) < 0)
    # strong spin-orbit scattering restores most of the orbital field
    assert whh_reduced_field(0.0, 1.0, 10.0) > whh_reduced_field(0.0, 1.0, 0.1)


@pytest.mark.parametrize("alpha, lambda_so", [(0.0, 0.0), (1.0, 0.5), (3.0, 0.0)])
def test_tc_of_field_inverts_hc2(alpha, lambda_so):
    tc, hc2_0 = 150.0, 200.0
    T = np.linspace(0.0, tc, 60)
    H = whh_hc2(T, tc, hc2_0, alpha, lambda_so)
    T_back = whh_tc_of_field(H, tc, hc2_0, alpha, lambda_so)
    assert np.allclose(whh_hc2(T_back, tc, hc2_0, alpha, lambda_so), H, atol=1e-6 * hc2_0)
    if alpha == 0.0:  # monotonic curve: the temperature itself comes back
        assert np.allclose(T_back[1:], T[1:], atol=1e-6 * tc)
    assert whh_tc_of_field(0.0, tc, hc2_0, alpha, lambda_so) == tc


def test_tc_of_field_limits():
    assert whh_tc_of_field(216.0, 176.0, 216.0) == pytest.approx(0.0, abs=1e-4)
    assert whh_tc_of_field(300.0, 176.0, 216.0) == 0.0
    assert whh_tc_of_field(-9.0, 176.0, 216.0) == whh_tc_of_field(9.0, 176.0, 216.0)
    assert whh_hc2(200.0, 176.0, 216.0) == 0.0
    assert whh_hc2(0.0, 176.0, 216.0) == pytest.approx(216.0)


def test_gl_form():
    assert gl_hc2(5.0, 10.0, 100.0) == pytest.approx(60.0)
    assert gl_hc2(12.0, 10.0, 100.0) == 0.0
    assert gl_tc_of_field(60.0, 10.0, 100.0) == pytest.approx(5.0)
    assert gl_tc_of_field(150.0, 10.0, 100.0) == 0.0


def test_coherence_length_and_pauli_limit():
    assert coherence_length_nm(1.0) == pytest.approx(18.14, abs=0.005)
    assert coherence_length_nm(216.0) == pytest.approx(18.14 / math.sqrt(216.0), rel=1e-3)
    assert pauli_limit_T(100.0) == pytest.approx(184.0)


def best_time(fn, repeats=5):
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("alpha, lambda_so", [(0.0, 0.0), (1.0, 0.5)])
def test_two_hundred_points_are_fast(alpha, lambda_so):
    t = np.linspace(0.0, 1.0, 200)
    whh_tc_of_field(1.0, 10.0, 20.0, alpha, lambda_so)  # builds the cached table
    assert best_time(lambda: whh_reduced_field(t, alpha, lambda_so)) < 0.05
    assert best_time(lambda: whh_tc_of_field(np.linspace(0, 25, 200), 10.0, 20.0,
                                             alpha, lambda_so)) < 0.05
