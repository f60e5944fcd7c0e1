"""Hc2(T) fits checked against data made independently of daclab.analysis.whh: the WHH equation
solved here with scipy's digamma and brentq, the GL form written out, and the simulated sample's
own transition line."""

import dataclasses
import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import digamma
from test_physics_whh import matsubara_sum_residual

from daclab.analysis.hc2_fit import anisotropy, best_scale_over_tc, fit_hc2
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
