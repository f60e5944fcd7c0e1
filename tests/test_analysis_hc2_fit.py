"""Hc2(T) fits checked against data made independently of daclab.analysis.whh: the WHH equation
solved here with scipy's digamma and brentq, the GL form written out, and the simulated sample's
own transition line."""

import dataclasses
import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import digamma, polygamma
from test_physics_whh import matsubara_sum_residual

from daclab.analysis.hc2_fit import (
    ReducedCurve,
    anisotropy,
    best_scale_over_tc,
    fit_hc2,
    least_squares_fixed_curve,
    starting_values,
    whh_curve,
)
from daclab.analysis.whh import whh_reduced_field
from daclab.sim.sample import load_sample

HBAR0 = math.exp(-np.euler_gamma) / 2  # WHH reduced field at T = 0 without spin effects
PHI0_WB = 2.067833848e-15


def spin_whh_hbar(t, alpha=0.0, lambda_so=0.0):
    """hbar(t) from the closed WHH form with scipy's complex digamma and brentq."""

    def residual(h):
        g = np.sqrt(complex((alpha * h) ** 2 - (lambda_so / 2) ** 2))
        if abs(g) < 1e-12:  # alpha = 0 (or the g -> 0 point): the two digamma terms merge
            return digamma(0.5 + h / (2 * t)).real - digamma(0.5) + math.log(t)
        w = 0.5 + 1j * lambda_so / (4 * g)
        z = 0.5 + (h + lambda_so / 2) / (2 * t)
        s = w * digamma(z + 1j * g / (2 * t)) + (1 - w) * digamma(z - 1j * g / (2 * t))
        return s.real - digamma(0.5) + math.log(t)

    return brentq(residual, 1e-12, 0.2808, xtol=1e-15)


def whh_points(tc, hc2_0, temperatures, alpha=0.0, lambda_so=0.0):
    """mu0 Hc2 at each T from the WHH equation, normalised to Hc2(0)."""
    hbar0 = spin_whh_hbar(1e-4, alpha, lambda_so)
    return np.array([hc2_0 * spin_whh_hbar(T / tc, alpha, lambda_so) / hbar0 if T < tc else 0.0
                     for T in temperatures])


def hydride_data(tc, hc2_0, noise_K, seed, n=10):
    """Tc(H) points at 0-9 T: temperatures on the WHH line, then measured with noise_K scatter."""
    rng = np.random.default_rng(seed)
    slope = hc2_0 / (0.69267 * tc)
    # fields 0..9 T lie within 9/slope of Tc: sample that interval and solve for each field
    temperature = tc - np.linspace(0.0, 9.0, n) / slope * 1.02
    field = whh_points(tc, hc2_0, temperature)
    return temperature + rng.normal(0.0, noise_K, n), field


@pytest.mark.parametrize("tc, hc2_0", [(176.0, 216.0), (240.0, 30.0), (100.0, 150.0)])
def test_whh_fit_recovers_hc2_and_tc_from_the_top_of_the_curve(tc, hc2_0):
    temperature, field = hydride_data(tc, hc2_0, noise_K=0.05, seed=int(tc))
    assert field.max() < 0.31 * hc2_0 and field.max() == pytest.approx(9.0, rel=0.05)
    result = fit_hc2(temperature, field, "whh")
    assert result.success
    assert result.hc2_0_T.value == pytest.approx(hc2_0, rel=0.05)
    assert result.tc_K.value == pytest.approx(tc, abs=0.3)
    assert abs(result.hc2_0_T.value - hc2_0) < 4 * result.hc2_0_T.stderr
    assert abs(result.tc_K.value - tc) < 4 * result.tc_K.stderr
    assert np.allclose(result.residuals, field - result.curve(result.temperature_K), atol=1e-9)


def test_whh_stderr_matches_the_scatter_of_repeated_fits():
    tc, hc2_0 = 176.0, 216.0
    temperature, field = hydride_data(tc, hc2_0, noise_K=0.0, seed=0)
    rng = np.random.default_rng(11)
    fits = [fit_hc2(temperature + rng.normal(0.0, 0.05, temperature.size), field) for _ in range(60)]
    values = np.array([f.hc2_0_T.value for f in fits])
    errors = np.array([f.hc2_0_T.stderr for f in fits])
    tcs = np.array([f.tc_K.value for f in fits])
    tc_errors = np.array([f.tc_K.stderr for f in fits])
    assert np.mean(errors) == pytest.approx(np.std(values), rel=0.35)
    assert np.mean(tc_errors) == pytest.approx(np.std(tcs), rel=0.35)
    assert abs(np.mean(values) - hc2_0) < 3 * np.std(values) / math.sqrt(len(fits)) + 0.5


def test_gl_fit_recovers_its_parameters():
    tc, hc2_0 = 150.0, 120.0
    rng = np.random.default_rng(4)
    temperature = np.linspace(0.6, 1.0, 12) * tc
    t = temperature / tc
    field = hc2_0 * (1 - t**2) / (1 + t**2) + rng.normal(0.0, 0.05, t.size)
    result = fit_hc2(temperature, field, "gl")
    assert result.hc2_0_T.value == pytest.approx(hc2_0, rel=0.05)
    assert result.tc_K.value == pytest.approx(tc, abs=0.3)
    # GL falls with slope -Hc2(0)/Tc at Tc
    assert result.slope_T_per_K.value == pytest.approx(-hc2_0 / tc, rel=0.05)


def test_gl_fit_on_hydride_range_data():
    tc, hc2_0 = 176.0, 216.0
    rng = np.random.default_rng(8)
    field = np.linspace(0.0, 9.0, 10)
    h = field / hc2_0
    temperature = tc * np.sqrt((1 - h) / (1 + h)) + rng.normal(0.0, 0.05, h.size)
    result = fit_hc2(temperature, field, "gl")
    assert result.hc2_0_T.value == pytest.approx(hc2_0, rel=0.05)
    assert result.tc_K.value == pytest.approx(tc, abs=0.3)


def test_fit_of_the_simulated_sample_transition_line():
    sample = load_sample("lace_h10_cell2")
    field = np.linspace(0.0, 9.0, 10)
    temperature = np.array([sample.tc_in_field(h, 0.0) for h in field])
    result = fit_hc2(temperature, field, "whh")
    assert result.hc2_0_T.value == pytest.approx(sample.hc2_0_T, rel=0.05)
    assert result.tc_K.value == pytest.approx(sample.tc_K, abs=0.3)
    # with the field in the plane Hc2 is larger by the sample's anisotropy
    in_plane = dataclasses.replace(sample, field_angle_deg=90.0)
    other = fit_hc2([in_plane.tc_in_field(h, 0.0) for h in field], field, "whh")
    gamma = anisotropy(other, result)
    assert gamma.value == pytest.approx(sample.hc2_anisotropy, rel=0.02)


def test_derived_quantities():
    tc, hc2_0 = 176.0, 216.0
    temperature, field = hydride_data(tc, hc2_0, noise_K=0.05, seed=2)
    result = fit_hc2(temperature, field)
    h, s = result.hc2_0_T.value, result.hc2_0_T.stderr

    def xi_nm(b):
        return math.sqrt(PHI0_WB / (2 * math.pi * b)) * 1e9

    assert result.coherence_length_nm.value == pytest.approx(xi_nm(h), rel=1e-9)
    assert result.coherence_length_nm.value == pytest.approx(18.14 / math.sqrt(h), rel=1e-3)
    assert result.coherence_length_nm.stderr == pytest.approx((xi_nm(h - s) - xi_nm(h + s)) / 2, rel=0.01)
    assert result.pauli_limit_T.value == pytest.approx(1.84 * result.tc_K.value)
    assert result.pauli_limit_T.stderr == pytest.approx(1.84 * result.tc_K.stderr)
    assert result.exceeds_pauli_limit is False  # 216 T < 1.84 * 176 = 324 T
    # WHH slope at Tc is -Hc2(0)/(0.69267 Tc); the near-Tc line sees it and its estimate agrees
    assert result.slope_T_per_K.value == pytest.approx(-hc2_0 / (0.69267 * tc), rel=0.03)
    assert result.hc2_0_from_slope_T.value == pytest.approx(hc2_0, rel=0.03)
    assert result.hc2_0_from_slope_T.stderr > 0
    assert result.tc_of_field(field[5]) == pytest.approx(temperature[5], abs=0.2)


def test_slope_estimate_uses_the_points_near_tc():
    # a full WHH curve: a line through every point would be far too shallow at Tc
    tc, hc2_0 = 20.0, 40.0
    temperature = np.linspace(0.05, 1.0, 40) * tc
    field = whh_points(tc, hc2_0, temperature)
    result = fit_hc2(temperature, field)
    assert result.hc2_0_T.value == pytest.approx(hc2_0, rel=1e-4)
    assert result.hc2_0_from_slope_T.value == pytest.approx(hc2_0, rel=0.03)


def test_anisotropy_error_propagation():
    tc, hc2_0 = 176.0, 216.0
    a = fit_hc2(*hydride_data(tc, hc2_0 * 1.2, 0.05, seed=5))
    b = fit_hc2(*hydride_data(tc, hc2_0, 0.05, seed=6))
    gamma = anisotropy(a, b)
    ra, rb = a.hc2_0_T, b.hc2_0_T
    assert gamma.value == pytest.approx(ra.value / rb.value)
    upper = (ra.value + ra.stderr) / (rb.value - rb.stderr)
    lower = (ra.value - ra.stderr) / (rb.value + rb.stderr)
    assert lower < gamma.value - gamma.stderr < gamma.value + gamma.stderr < upper
    assert gamma.value == pytest.approx(1.2, abs=4 * gamma.stderr)


def test_zero_field_points_pin_tc_from_both_sides():
    tc, hc2_0 = 176.0, 216.0
    temperature, field = hydride_data(tc, hc2_0, noise_K=0.0, seed=0)
    for shift in (-0.5, 0.5):
        moved = temperature.copy()
        moved[0] += shift  # the zero-field point
        result = fit_hc2(moved, field)
        assert np.sign(result.tc_K.value - tc) == np.sign(shift)


def test_spin_model_with_fixed_alpha_and_lambda_so():
    tc, hc2_0, alpha, lambda_so = 176.0, 150.0, 1.5, 0.8
    rng = np.random.default_rng(9)
    temperature = tc * np.linspace(0.955, 1.0, 10)
    field = whh_points(tc, hc2_0, temperature, alpha, lambda_so)
    temperature = temperature + rng.normal(0.0, 0.03, temperature.size)
    result = fit_hc2(temperature, field, "whh_spin", alpha=alpha, lambda_so=lambda_so)
    assert result.hc2_0_T.value == pytest.approx(hc2_0, rel=0.05)
    assert result.tc_K.value == pytest.approx(tc, abs=0.3)
    assert (result.alpha.value, result.lambda_so.value) == (alpha, lambda_so)
    assert math.isnan(result.alpha.stderr)  # held fixed
    # without the spin terms the same data would read as a larger orbital field
    assert fit_hc2(temperature, field, "whh").hc2_0_T.value > 1.1 * hc2_0
    assert fit_hc2(temperature, field, "whh").alpha is None


def test_spin_model_fits_alpha_on_a_full_curve():
    tc, hc2_0, alpha, lambda_so = 20.0, 40.0, 1.0, 0.5
    rng = np.random.default_rng(10)
    temperature = tc * np.linspace(0.1, 1.0, 12)
    field = whh_points(tc, hc2_0, temperature, alpha, lambda_so) * (1 + rng.normal(0.0, 0.003, 12))
    result = fit_hc2(temperature, field, "whh_spin", lambda_so=lambda_so)
    assert result.alpha.value == pytest.approx(alpha, abs=0.1)
    assert 0 < result.alpha.stderr < 0.1
    assert result.hc2_0_T.value == pytest.approx(hc2_0, rel=0.01)
    assert result.lambda_so.value == lambda_so


@pytest.mark.parametrize("alpha, lambda_so", [(0.5, 0.0), (3.0, 1.0), (10.0, 20.0)])
@pytest.mark.parametrize("t", [0.02, 0.99])
def test_spin_closed_form_near_both_ends_against_the_matsubara_sum(alpha, lambda_so, t):
    # test_physics_whh covers t = 0.1-0.9; the ends of the curve and strong Pauli limiting here
    expected = brentq(lambda h: matsubara_sum_residual(h, t, alpha, lambda_so), 1e-12, 0.2808, xtol=1e-15)
    assert whh_reduced_field(t, alpha, lambda_so) == pytest.approx(expected, rel=1e-6)
    assert spin_whh_hbar(t, alpha, lambda_so) == pytest.approx(expected, rel=1e-6)


def test_best_scale_over_tc_finds_the_grid_point():
    temperature = np.linspace(1.0, 9.0, 9)
    values = 3.0 * (1 - (temperature / 10.0) ** 2)
    scale, tc = best_scale_over_tc(temperature, values, lambda t: 1 - t**2, np.linspace(5.0, 20.0, 151))
    assert (scale, tc) == (pytest.approx(3.0), pytest.approx(10.0))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(temperature_K=[170, 171], field_T=[1, 2, 3]), "field_T"),
        (dict(temperature_K=[170, 171], field_T=[1, 2]), "points"),
        (dict(model="bcs"), "model"),
        (dict(model="whh", alpha=1.0), "alpha"),
        (dict(model="gl", lambda_so=1.0), "lambda_so"),
        (dict(model="whh_spin", alpha=-1.0), "alpha"),
        (dict(model="whh_spin", lambda_so=1e3), "lambda_so"),
        (dict(temperature_K=[-1, 171, 172]), "temperature_K"),
        (dict(temperature_K=[170, 170, 170]), "temperature_K"),
        (dict(field_T=[0, 0, 0]), "field_T"),
        (dict(temperature_K=["a", "b", "c"]), "temperature_K"),
    ],
)
def test_bad_input_names_the_argument(kwargs, name):
    arguments = dict(temperature_K=[170.0, 171.0, 172.0], field_T=[4.0, 2.0, 0.0]) | kwargs
    with pytest.raises(ValueError, match=name):
        fit_hc2(**arguments)


def simple_whh_slope(t):
    """d hbar/dt of the spin-free curve by the implicit-function theorem on
    F = psi(1/2 + hbar/(2t)) - psi(1/2) + ln t: dhbar/dt = -F_t / F_hbar."""
    hbar = spin_whh_hbar(t)
    trigamma = float(polygamma(1, 0.5 + hbar / (2 * t)))
    return -(1.0 / t - trigamma * hbar / (2 * t * t)) / (trigamma / (2 * t))


def test_tabulated_whh_curve_against_the_direct_solution():
    t = np.concatenate([np.linspace(0.0, 1.0, 1001), np.linspace(0.999, 1.0, 101)[:-1], 1 - np.geomspace(1e-6, 1e-3, 7)])
    value = whh_curve()(t)[0]
    direct = whh_reduced_field(t) / whh_reduced_field(0.0)
    assert np.allclose(value, direct, rtol=1e-9, atol=1e-13)
    assert np.all(np.abs(value[t < 1] / direct[t < 1] - 1) < 1e-9)
    # the slope, the fit's Jacobian, against scipy's digamma on its own
    points = np.array([0.05, 0.3, 0.6, 0.9, 0.97, 0.999])
    expected = np.array([simple_whh_slope(p) for p in points]) / HBAR0
    assert np.allclose(whh_curve()(points)[1], expected, rtol=1e-8, atol=1e-9)
    # above Tc the straight continuation with the slope at Tc, -(4/pi^2)/hbar(0) (WHH 1966)
    above = np.array([1.0, 1.0 + 1e-9, 1.01, 1.5, 4.0, 1e3, 1e9])
    value, slope = whh_curve()(above)
    slope_at_tc = -4 / math.pi**2 / HBAR0
    assert np.allclose(value, slope_at_tc * (above - 1.0), rtol=1e-12, atol=1e-15)
    assert np.allclose(slope, slope_at_tc, rtol=1e-12)
    assert whh_curve().slope_at_tc == pytest.approx(slope_at_tc, rel=1e-12)


def test_tabulated_curve_with_spin_terms_against_brentq():
    alpha, lambda_so = 1.5, 0.8
    t = np.array([0.0, 0.1, 0.5, 0.8, 0.95, 0.99, 0.999])
    expected = np.array([spin_whh_hbar(max(p, 1e-7), alpha, lambda_so) for p in t])
    value, _ = whh_curve(alpha, lambda_so)(t)
    assert np.allclose(value, expected / expected[0], rtol=1e-9)
    grid = np.linspace(0.0, 1.0, 501)
    direct = whh_reduced_field(grid, alpha, lambda_so)
    assert np.allclose(whh_curve(alpha, lambda_so)(grid)[0], direct / direct[0], rtol=1e-9, atol=1e-13)


def brentq_curve():
    """The spin-free WHH curve solved point by point here (scipy brentq, implicit slope)."""

    def inside(t):
        points = np.maximum(np.asarray(t, float), 1e-4)
        value = np.array([spin_whh_hbar(p) if p < 1 else 0.0 for p in points])
        slope = np.array([simple_whh_slope(p) if p < 1 else -4 / math.pi**2 for p in points])
        return value / HBAR0, slope / HBAR0

    return ReducedCurve(inside, -4 / math.pi**2 / HBAR0)


def gauss_newton(curve, temperature, field, hc2_0, tc):
    """Jacobian, residuals and the relative Gauss-Newton step of Hc2(0) h(T/Tc) at (Hc2(0), Tc)."""
    t = temperature / tc
    value, slope = curve(t)
    jacobian = np.column_stack([value, -hc2_0 * slope * t / tc])
    residuals = field - hc2_0 * value
    step = np.linalg.lstsq(jacobian, residuals, rcond=None)[0]
    return jacobian, residuals, step / [hc2_0, tc]


@pytest.mark.parametrize("tc, hc2_0", [(176.0, 216.0), (240.0, 30.0), (100.0, 150.0)])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fit_ends_at_the_least_squares_minimum(tc, hc2_0, seed):
    # On the top few per cent of the curve Hc2(0) and Tc trade off along a valley in which the
    # sum of squares is flat to its rounding well before the parameters stop moving; the end
    # point must still be where the gradient vanishes: a Gauss-Newton step from there, with the
    # curve solved here point by point, is nil to rounding.
    temperature, field = hydride_data(tc, hc2_0, noise_K=0.05, seed=seed)
    curve = brentq_curve()
    by_brentq = least_squares_fixed_curve(temperature, field, curve, starting_values(temperature, field, curve))
    result = fit_hc2(temperature, field)
    for end in ((by_brentq.hc2_0_T, by_brentq.tc_K), (result.hc2_0_T.value, result.tc_K.value)):
        _, _, step = gauss_newton(curve, temperature, field, *end)
        assert np.all(np.abs(step) < 1e-10)
    # standard errors: (J^T J)^-1 scaled by sum(r^2)/(n - 2) at the end point
    jacobian, residuals, _ = gauss_newton(curve, temperature, field, result.hc2_0_T.value, result.tc_K.value)
    covariance = np.linalg.inv(jacobian.T @ jacobian) * (residuals @ residuals) / (temperature.size - 2)
    assert result.hc2_0_T.stderr == pytest.approx(math.sqrt(covariance[0, 0]), rel=1e-8)
    assert result.tc_K.stderr == pytest.approx(math.sqrt(covariance[1, 1]), rel=1e-8)
