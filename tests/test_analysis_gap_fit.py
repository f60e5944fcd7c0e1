"""BTK and BCS gap fits against the simulator's point contact and gap, and the FFT thermal
smearing against an independent per-point quadrature over a grid of gaps, barriers and
temperatures up to 300 K."""

import cmath
import dataclasses
import itertools
import math

import lmfit
import numpy as np
import pytest
from scipy.integrate import quad

from daclab.analysis import gap_fit
from daclab.analysis.btk import btk_conductance
from daclab.analysis.conductance import conductance_from_steps, process_spectrum
from daclab.analysis.constants import KB_MEV_PER_K
from daclab.analysis.fitting import AnalysisInputError
from daclab.analysis.gap_fit import (
    ASSUMED_NORMALISED,
    ASSUMED_RAW,
    analyse_spectrum,
    fit_btk,
    fit_gap,
)
from daclab.limits import LimitError
from daclab.sim.sample import load_sample

# ---- independent reference: the BTK integral point by point ---------------------------------

def reference_sigma0(energy, delta, z, gamma):
    """Plecenik's complex-energy BTK written out for one energy with cmath (no numpy)."""
    w = complex(energy, gamma)
    ratio = cmath.sqrt(w * w - delta * delta) / w
    if ratio.real < 0:  # the decaying branch
        ratio = -ratio
    u2, v2 = (1 + ratio) / 2, (1 - ratio) / 2
    denominator = abs(u2 + z * z * (u2 - v2)) ** 2
    andreev = abs(u2) * abs(v2) / denominator
    normal = abs(u2 - v2) ** 2 * z * z * (1 + z * z) / denominator
    return (1 + z * z) * (1 + andreev - normal)


def reference_conductance(bias, delta, z, gamma, temperature):
    """integral sigma0(E) (1/4kT) sech^2((E - eV)/2kT) dE by adaptive quadrature, per bias."""
    kt = KB_MEV_PER_K * temperature

    def fermi_window(x):
        y = abs(x) / (2 * kt)
        return 0.0 if y > 350 else 1.0 / (4 * kt * math.cosh(y) ** 2)

    out = []
    for v in np.atleast_1d(bias):
        lo, hi = v - 36 * kt, v + 36 * kt  # the window's weight beyond is 2 exp(-36)
        corners = [p for p in (-delta, delta, v) if lo < p < hi]
        out.append(quad(lambda e: reference_sigma0(e, delta, z, gamma) * fermi_window(e - v), lo, hi,
                        points=corners, limit=200, epsabs=1e-9, epsrel=1e-9)[0])
    return np.array(out)


@pytest.mark.parametrize("delta, z, gamma, temperature", [
    (delta, z, gamma, temperature)
    for delta, z, (gamma, temperature) in itertools.product(
        (5.0, 21.0, 100.0), (0.0, 0.5, 3.0), ((0.3, 2.0), (3.0, 30.0), (1.0, 300.0)))
])
def test_fft_smearing_matches_per_point_quadrature(delta, z, gamma, temperature):
    bias = np.array([0.0, 0.5, 0.9, 1.0, 1.05, 1.5, 3.0, -1.0]) * delta
    expected = reference_conductance(bias, delta, z, gamma, temperature)
    got = btk_conductance(bias, delta, z, gamma, temperature)
    assert np.max(np.abs(got / expected - 1)) < 1e-3


# ---- BTK fits ---------------------------------------------------------------------------------

def simulated_spectrum(sample, temperature_K=2.0, max_current_A=9e-3, points=401, seed=0):
    """Paper 001's protocol on the simulated contact: three current steps per bias point."""
    rng = np.random.default_rng(seed)
    centre = np.linspace(-max_current_A, max_current_A, points)
    step = 0.002 * max_current_A
    currents = centre[:, None] + np.array([-step, 0.0, step])[None, :]
    voltages = np.vectorize(lambda i: sample.contact_voltage(i, temperature_K))(currents)
    return conductance_from_steps(currents, voltages + rng.normal(0.0, 2e-7, currents.shape))


def test_ceh9_spectrum_through_the_chain_gives_the_preset_gap():
    sample = load_sample("ceh9_cell1")
    bias, didv = simulated_spectrum(sample)
    spectrum = process_spectrum(bias, didv, gap_window_V=0.11,
                                series_resistance_ohm=sample.spreading_resistance_ohm)
    result = fit_btk(spectrum.bias_mV, spectrum.conductance_norm, 2.0)
    assert result.assumed == ASSUMED_NORMALISED
    assert result.delta_meV.value == pytest.approx(sample.gap_meV, rel=0.05)
    assert result.z.value == pytest.approx(sample.barrier_z, abs=0.1)
    assert result.gamma_meV.value == pytest.approx(sample.gamma_meV, rel=0.5)
    assert result.delta_meV.stderr < 0.05 * sample.gap_meV
    assert result.normal_conductance.value == 1.0
    assert result.success and result.delta2_meV is None
    assert np.max(np.abs(result.model(spectrum.bias_mV) - spectrum.conductance_norm)) < 0.05


def test_analyse_spectrum_leaves_g_n_free_so_the_btk_tail_in_the_background_does_not_shrink_the_gap():
    # A gap window of ~3 Delta at 60 K: the smeared BTK tail is still above G_N there, so the
    # background comes out high and the normalised level a little below 1.
    sample = load_sample("ceh9_cell1")
    temperature, window_V = 60.0, 0.06
    bias, didv = simulated_spectrum(sample, temperature, points=201)
    analysis = analyse_spectrum(bias, didv, temperature, window_V, series_resistance_ohm=sample.spreading_resistance_ohm)
    truth = sample.gap(temperature)
    assert analysis.btk.assumed == ASSUMED_RAW and analysis.btk.success
    assert analysis.btk.normal_conductance.value < 1.0
    assert analysis.btk.delta_meV.value == pytest.approx(truth, rel=0.03)
    assert analysis.btk.temperature_K == temperature
    fixed = fit_btk(analysis.spectrum.bias_mV, analysis.spectrum.conductance_norm, temperature, normalised=True)
    assert fixed.delta_meV.value < 0.95 * truth  # what a fixed G_N = 1 would report


def test_analyse_spectrum_without_fit_is_the_processing_alone():
    sample = load_sample("ceh9_cell1")
    bias, didv = simulated_spectrum(sample, 2.0, points=101)
    analysis = analyse_spectrum(bias, didv, 2.0, 0.08, degree=1, smooth_points=5, series_resistance_ohm=0.5,
                                fit=False)
    processed = process_spectrum(bias, didv, 0.08, 1, 5, series_resistance_ohm=0.5)
    assert analysis.btk is None
    np.testing.assert_array_equal(analysis.spectrum.bias_mV, processed.bias_mV)
    np.testing.assert_array_equal(analysis.spectrum.conductance_norm, processed.conductance_norm)
    with pytest.raises(AnalysisInputError, match="didv_S must be finite and > 0"):
        analyse_spectrum(bias, -didv, 2.0, 0.08)


def flat_background(sample):
    return dataclasses.replace(sample, background_per_mV=(0.0,))


@pytest.mark.parametrize("temperature", [2.0, 40.0])
def test_raw_conductance_gets_a_fitted_normal_conductance(temperature):
    sample = flat_background(load_sample("lace_h10_cell2"))
    rng = np.random.default_rng(3)
    bias = np.linspace(-150.0, 150.0, 601)
    siemens = sample.contact_conductance(bias, temperature) * (1 + rng.normal(0, 0.003, bias.size))
    result = fit_btk(bias, siemens, temperature)
    assert result.assumed == ASSUMED_RAW
    assert result.normal_conductance.value == pytest.approx(1 / sample.contact_normal_ohm, rel=0.01)
    assert result.delta_meV.value == pytest.approx(sample.gap(temperature), rel=0.02)
    assert result.z.value == pytest.approx(sample.barrier_z, abs=0.05)
    # told that it is normalised, the same curve cannot be fitted (its level is 0.05)
    forced = fit_btk(bias, siemens, temperature, normalised=True)
    assert forced.assumed == ASSUMED_NORMALISED
    assert forced.reduced_chi2 > 100 * result.reduced_chi2


def test_hundred_meV_gap_at_300_K_from_quadrature_data():
    # a room-temperature superconductor with a 100 meV gap: smearing kT = 26 meV
    delta, z, gamma, temperature = 100.0, 0.5, 4.0, 300.0
    bias = np.linspace(-500.0, 500.0, 201)
    rng = np.random.default_rng(5)
    data = reference_conductance(bias, delta, z, gamma, temperature) + rng.normal(0, 0.003, bias.size)
    result = fit_btk(bias, data, temperature)
    assert result.assumed == ASSUMED_NORMALISED
    assert result.delta_meV.value == pytest.approx(delta, rel=0.03)
    assert result.z.value == pytest.approx(z, abs=0.1)


@pytest.mark.parametrize("z", [0.0, 2.5])
def test_starting_values_from_the_zero_bias_structure(z):
    # Z = 0 is a plateau falling at Delta, Z = 2.5 a tunnel gap with coherence peaks; a gap
    # that is a small share of the window must still be found without a guess
    sample = flat_background(dataclasses.replace(load_sample("lah10_aging"), barrier_z=z, gamma_meV=1.0))
    bias = np.linspace(-400.0, 400.0, 1001)
    normalised = sample.contact_conductance(bias, 4.2) * sample.contact_normal_ohm
    result = fit_btk(bias, normalised, 4.2)
    assert result.delta_meV.value == pytest.approx(sample.gap(4.2), rel=0.01)
    assert result.z.value == pytest.approx(z, abs=0.05)


def test_two_gaps_are_separated():
    bias = np.linspace(-120.0, 120.0, 801)
    large = flat_background(dataclasses.replace(load_sample("ceh9_cell1"), gamma_meV=0.8, barrier_z=0.6))
    small = dataclasses.replace(large, gap_meV=7.0)
    weight = 0.6
    data = (weight * large.contact_conductance(bias, 2.0)
            + (1 - weight) * small.contact_conductance(bias, 2.0)) * large.contact_normal_ohm
    result = fit_btk(bias, data, 2.0, two_gap=True)
    assert result.delta_meV.value == pytest.approx(large.gap(2.0), rel=0.03)
    assert result.delta2_meV.value == pytest.approx(small.gap(2.0), rel=0.05)
    assert result.weight.value == pytest.approx(weight, abs=0.05)
    assert set(result.as_dict()) >= {"delta_meV", "delta2_meV", "weight", "z", "gamma_meV", "assumed"}


def test_delta_guess_is_used():
    sample = flat_background(load_sample("ceh9_cell1"))
    bias = np.linspace(-100.0, 100.0, 401)
    normalised = sample.contact_conductance(bias, 10.0) * sample.contact_normal_ohm
    result = fit_btk(bias, normalised, 10.0, delta_guess_meV=15.0)
    assert result.delta_meV.value == pytest.approx(sample.gap(10.0), rel=0.01)


class RecordingModel(gap_fit._CountingModel):
    """The fit's model, remembering every parameter value it was called with."""

    def __init__(self, temperature_K):
        super().__init__(temperature_K)
        self.values = {"delta": [], "z": [], "gamma": []}

    def __call__(self, bias_mV, delta, z, gamma):
        for name, value in zip(self.values, np.broadcast_arrays(delta, z, gamma)):
            self.values[name].extend(np.atleast_1d(value))
        return super().__call__(bias_mV, delta, z, gamma)


@pytest.mark.parametrize("at_upper_bound", [False, True])
def test_fit_jacobian_matches_central_differences_of_the_model(at_upper_bound):
    # the fit's batched forward differences against central differences of btk_conductance
    bias = np.linspace(-60.0, 60.0, 121)
    point = {"delta": 21.0, "z": 0.5, "gamma": 1.5}
    scale = 0.05  # raw conductance: G_N is a fitted parameter too
    params = lmfit.Parameters()
    for name, value in point.items():
        params.add(name, value=value, min=0.0, max=value if at_upper_bound else 100.0)
    params.add("scale", value=scale, min=0.0)
    model = RecordingModel(10.0)
    residual = gap_fit._Residual(model, bias, np.zeros_like(bias))
    residual(params)
    jacobian = residual.jacobian(params)

    def curve(**shift):
        shifted = {name: value + shift.get(name, 0.0) for name, value in point.items()}
        return btk_conductance(bias, shifted["delta"], shifted["z"], shifted["gamma"], 10.0)

    h = 1e-4
    expected = np.column_stack([scale * (curve(**{name: h}) - curve(**{name: -h})) / (2 * h) for name in point]
                               + [curve()])
    # the fit differentiates on one energy grid; the reference moves the grid with Gamma, which
    # the model's own ~1e-6 discretisation error turns into ~2e-4 of the Gamma column
    assert np.allclose(jacobian, expected, rtol=0, atol=1e-3 * np.max(np.abs(expected), axis=0))
    assert model.calls == 1 + 3  # the unshifted curve is the residual's; three shifted ones
    # no curve beyond a bound: there the step goes down
    assert all(max(model.values[name]) <= params[name].max for name in point)


def test_fit_btk_refuses_bad_input():
    bias = np.linspace(-50.0, 50.0, 101)
    ones = np.ones_like(bias)
    with pytest.raises(LimitError, match="temperature_K"):
        fit_btk(bias, ones, 500.0)
    with pytest.raises(LimitError, match="temperature_K"):
        fit_btk(bias, ones, -1.0)
    with pytest.raises(ValueError, match="conductance"):
        fit_btk(bias, ones[:-1], 2.0)
    with pytest.raises(ValueError, match="bias_mV"):
        fit_btk(np.zeros(10), np.ones(10), 2.0)
    with pytest.raises(ValueError, match="normalised"):
        fit_btk(bias, ones, 2.0, normalised="yes")
    with pytest.raises(LimitError, match="delta_guess_meV"):
        fit_btk(bias, ones, 2.0, delta_guess_meV=500.0)
    with pytest.raises(ValueError, match="conductance"):
        fit_btk(bias, -ones, 2.0)


# ---- BCS fit of Delta(T) ----------------------------------------------------------------------

def simulated_gap_series(sample, temperatures, noise_meV, seed=7):
    rng = np.random.default_rng(seed)
    gaps = np.array([sample.gap(t) for t in temperatures])
    return gaps + rng.normal(0.0, noise_meV, gaps.size)


def test_gap_series_of_the_model_gives_delta0_and_the_ratio():
    sample = load_sample("ceh9_cell1")
    temperatures = np.array([2.0, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90])
    gaps = simulated_gap_series(sample, temperatures, 0.2)
    result = fit_gap(temperatures, gaps, np.full(gaps.size, 0.2))
    tc = sample.tc_in_field(0.0)  # the model's gap closes here
    expected_ratio = 2 * sample.gap_meV / (KB_MEV_PER_K * tc)
    assert result.delta0_meV.value == pytest.approx(sample.gap_meV, rel=0.05)
    assert result.tc_K.value == pytest.approx(tc, rel=0.05)
    assert result.ratio.value == pytest.approx(expected_ratio, rel=0.05)
    assert 0 < result.ratio.stderr < 0.05 * expected_ratio
    assert result.points == temperatures.size
    assert np.allclose(result.model(temperatures), gaps, atol=1.0)


def test_ratio_error_matches_lmfit_propagation():
    # lmfit propagates a derived parameter through the covariance with the uncertainties package
    sample = load_sample("lah10_aging")
    temperatures = np.linspace(5.0, 150.0, 12)
    gaps = simulated_gap_series(sample, temperatures, 0.8, seed=11)
    result = fit_gap(temperatures, gaps)
    from daclab.analysis.bcs import bcs_gap

    params = lmfit.Parameters()
    params.add("delta0", value=40.0, min=0)
    params.add("tc", value=150.0, min=1e-3)
    params.add("ratio", expr=f"2 * delta0 / ({KB_MEV_PER_K!r} * tc)")
    check = lmfit.minimize(lambda p: bcs_gap(temperatures, p["tc"].value, p["delta0"].value) - gaps,
                           params, method="least_squares")
    assert result.ratio.value == pytest.approx(check.params["ratio"].value, rel=1e-4)
    assert result.ratio.stderr == pytest.approx(check.params["ratio"].stderr, rel=0.02)
    # Delta0 and Tc are correlated, so the propagated error is not the uncorrelated sum
    uncorrelated = result.ratio.value * math.hypot(result.delta0_meV.stderr / result.delta0_meV.value,
                                                   result.tc_K.stderr / result.tc_K.value)
    assert abs(result.ratio.stderr - uncorrelated) > 0.05 * uncorrelated


def test_points_above_tc_pin_it():
    sample = load_sample("ceh9_cell1")
    temperatures = np.array([2.0, 20, 40, 60, 75, 100, 110, 120])
    gaps = np.array([sample.gap(t) for t in temperatures])
    result = fit_gap(temperatures, gaps)
    assert result.tc_K.value == pytest.approx(sample.tc_in_field(0.0), rel=1e-3)
    assert result.delta0_meV.value == pytest.approx(sample.gap_meV, rel=1e-3)


def test_fit_gap_refuses_bad_input():
    t = np.array([2.0, 20.0, 40.0, 60.0])
    d = np.array([20.0, 19.0, 17.0, 12.0])
    with pytest.raises(ValueError, match="delta_meV"):
        fit_gap(t, d[:3])
    with pytest.raises(ValueError, match="at least 3"):
        fit_gap(t[:2], d[:2])
    with pytest.raises(ValueError, match="delta_stderr"):
        fit_gap(t, d, [0.1, 0.1, 0.0, 0.1])
    with pytest.raises(ValueError, match="delta_stderr"):
        fit_gap(t, d, [0.1, 0.1])
    with pytest.raises(ValueError, match="temperature_K"):
        fit_gap(-t, d)
    with pytest.raises(ValueError, match="delta_meV"):
        fit_gap(t, np.zeros(4))
