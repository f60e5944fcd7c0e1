"""Differential conductance from current steps, smoothing, background and normalisation,
against exact lines, hand-computed averages and the simulator's point contact."""

import dataclasses

import numpy as np
import pytest
from numpy.polynomial import Polynomial

from daclab.analysis.btk import btk_conductance
from daclab.analysis.conductance import (
    Spectrum,
    conductance_from_steps,
    fit_background,
    moving_average,
    normalise,
    process_spectrum,
    remove_series_resistance,
    step_conductance,
    symmetrise,
)
from daclab.limits import LimitError
from daclab.sim.sample import load_sample


def test_step_conductance_of_an_exact_line():
    # V = 3 mV + 25 ohm * I around 120 uA: slope 25 ohm, so dI/dV = 0.04 S
    currents = np.array([119e-6, 120e-6, 121e-6])
    voltages = 3e-3 + 25.0 * currents
    bias, didv = step_conductance(currents, voltages)
    assert bias == pytest.approx(3e-3 + 25.0 * 120e-6, rel=1e-12)
    assert didv == pytest.approx(0.04, rel=1e-9)


def test_step_conductance_uses_least_squares_over_all_steps():
    currents = np.array([0.0, 1.0, 2.0, 3.0]) * 1e-6
    voltages = np.array([0.0, 1.1, 1.9, 3.0]) * 1e-5
    # by hand: dI = (-1.5, -0.5, 0.5, 1.5) uA, dV = (-1.5, -0.4, 0.4, 1.5) x 10 uV,
    # slope = 10 ohm x 4.9 / 5 = 9.8 ohm
    bias, didv = step_conductance(currents, voltages)
    assert didv == pytest.approx(1 / 9.8, rel=1e-9)
    assert bias == pytest.approx(1.5e-5)


def test_step_conductance_drops_nan_and_flags_a_flat_branch():
    bias, didv = step_conductance([1e-6, 2e-6, np.nan, 3e-6], [1e-5, 2e-5, 5.0, 3e-5])
    assert didv == pytest.approx(0.1)
    assert step_conductance([1e-6, 2e-6, 3e-6], [4e-7, 4e-7, 4e-7]) == (pytest.approx(4e-7), np.inf)


@pytest.mark.parametrize("currents, voltages, name", [
    ([1e-6, 1e-6, 1e-6], [1e-5, 2e-5, 3e-5], "currents_A"),
    ([1e-6, 2e-6], [1e-5, 2e-5], "at least 3"),
    ([1e-6, 2e-6, 3e-6], [1e-5, 2e-5], "voltages_V"),
    (["a", 2e-6, 3e-6], [1e-5, 2e-5, 3e-5], "currents_A"),
])
def test_step_conductance_refuses_bad_steps(currents, voltages, name):
    with pytest.raises(ValueError, match=name):
        step_conductance(currents, voltages)


def test_whole_curve_from_steps_matches_each_line():
    resistance = np.array([20.0, 25.0, 30.0, 35.0])
    centre = np.array([-2e-3, -1e-3, 1e-3, 2e-3])
    currents = centre[:, None] + np.array([-5e-6, 0.0, 5e-6])[None, :]
    voltages = 1e-4 + resistance[:, None] * currents
    voltages[2, 1] = np.nan  # two usable steps left: the point is lost, not the curve
    bias, didv = conductance_from_steps(currents, voltages)
    expected = 1.0 / resistance
    assert np.allclose(didv[[0, 1, 3]], expected[[0, 1, 3]], rtol=1e-9)
    assert np.allclose(bias[[0, 1, 3]], (1e-4 + resistance * centre)[[0, 1, 3]], rtol=1e-12)
    assert np.isnan(bias[2]) and np.isnan(didv[2])
    with pytest.raises(ValueError, match="voltages_V"):
        conductance_from_steps(currents, voltages[:, :2])
    with pytest.raises(ValueError, match="currents_A"):
        conductance_from_steps(currents[0], voltages[0])


def test_moving_average_by_hand_keeps_length_and_ends():
    values = [1.0, 2.0, 4.0, 8.0, 16.0]
    assert np.allclose(moving_average(values), [1.0, 7 / 3, 14 / 3, 28 / 3, 16.0])
    assert np.allclose(moving_average(values, 5), [1.0, 7 / 3, 31 / 5, 28 / 3, 16.0])
    assert np.allclose(moving_average(values, 1), values)
    with_gap = moving_average([1.0, np.nan, 3.0, 5.0])
    assert np.allclose(with_gap, [1.0, 2.0, 4.0, 5.0])
    for bad in (2, 0, 1.5, True):
        with pytest.raises(ValueError, match="points"):
            moving_average(values, bad)


def test_moving_average_leaves_a_straight_line_unchanged():
    line = np.linspace(-3.0, 5.0, 41)
    assert np.allclose(moving_average(line, 3), line, atol=1e-12)


def test_background_ignores_the_gap_window():
    bias = np.linspace(-0.1, 0.1, 401)
    background = 0.04 * (1 + 0.5 * bias - 30 * bias**2)
    bump = np.where(np.abs(bias) < 0.03, 0.3 * np.cos(bias / 0.03 * np.pi / 2), 0.0)
    fitted = fit_background(bias, background * (1 + bump), gap_window_V=0.03)
    assert np.allclose(fitted.convert().coef, [0.04, 0.02, -1.2], rtol=1e-8)
    assert isinstance(fitted, Polynomial)
    assert np.allclose(normalise(bias, background * (1 + bump), fitted), 1 + bump, atol=1e-10)
    # a window too narrow lets the bump into the fit
    leaky = fit_background(bias, background * (1 + bump), gap_window_V=0.01)
    assert abs(leaky(0.0) - 0.04) > 1e-3


def test_background_refuses_a_window_that_leaves_too_few_points():
    bias = np.linspace(-0.1, 0.1, 21)
    with pytest.raises(ValueError, match="gap_window_V"):
        fit_background(bias, np.ones_like(bias), gap_window_V=0.095)
    with pytest.raises(ValueError, match="gap_window_V"):
        fit_background(bias, np.ones_like(bias), gap_window_V=-0.01)
    with pytest.raises(ValueError, match="degree"):
        fit_background(bias, np.ones_like(bias), gap_window_V=0.02, degree=-1)
    with pytest.raises(ValueError, match="didv_S"):
        fit_background(bias, np.ones(5), gap_window_V=0.02)


def test_normalise_refuses_a_non_positive_background():
    bias = np.linspace(-1, 1, 5)
    with pytest.raises(ValueError, match="background"):
        normalise(bias, np.ones(5), Polynomial([0.0, 1.0]))
    with pytest.raises(ValueError, match="background"):
        normalise(bias, np.ones(5), 3.0)


def test_symmetrise_removes_the_odd_part():
    bias = np.linspace(-1.0, 1.2, 221)  # not symmetric: the extra range has no mirror
    even = 1 + bias**2
    result = symmetrise(bias, even + 0.3 * bias + 0.1 * bias**3)
    inside = np.abs(bias) <= 1.0
    assert np.allclose(result[inside], even[inside], atol=1e-3)  # linear interpolation of x^2
    assert np.all(np.isnan(result[~inside]))


def test_series_resistance_is_taken_out():
    # junction G_j = G0 (1 + a V_j^2) has I = G0 (V_j + a V_j^3 / 3); in series with R_s the
    # meter sees V = V_j + R_s I and dV/dI = 1/G_j + R_s
    g0, a, r_s = 0.04, 50.0, 2.0
    v_j = np.linspace(-0.1, 0.1, 2001)
    g_j = g0 * (1 + a * v_j**2)
    current = g0 * (v_j + a * v_j**3 / 3)
    measured_bias = v_j + r_s * current
    measured_didv = 1.0 / (1.0 / g_j + r_s)
    bias, didv = remove_series_resistance(measured_bias, measured_didv, r_s)
    assert np.allclose(didv, g_j, rtol=1e-12)
    assert np.max(np.abs(bias - v_j)) < 1e-7
    with pytest.raises(LimitError, match="series_resistance_ohm"):
        remove_series_resistance(measured_bias, measured_didv, -1.0)
    with pytest.raises(ValueError, match="series_resistance_ohm"):
        remove_series_resistance(measured_bias, measured_didv, 30.0)


def simulated_steps(sample, temperature_K, max_current_A, points=401, seed=0):
    """Three steps per bias point (dI = 0.2 % of the sweep, as in paper 001) through the model."""
    rng = np.random.default_rng(seed)
    centre = np.linspace(-max_current_A, max_current_A, points)
    step = 0.002 * max_current_A
    currents = centre[:, None] + np.array([-step, 0.0, step])[None, :]
    voltages = np.vectorize(lambda i: sample.contact_voltage(i, temperature_K))(currents)
    return currents, voltages + rng.normal(0.0, 2e-7, currents.shape)


def test_chain_on_the_simulated_contact_gives_its_btk_curve():
    sample = load_sample("ceh9_cell1")
    currents, voltages = simulated_steps(sample, 2.0, 9e-3)
    bias, didv = conductance_from_steps(currents, voltages)
    spectrum = process_spectrum(bias, didv, gap_window_V=0.11,
                                series_resistance_ohm=sample.spreading_resistance_ohm)
    assert isinstance(spectrum, Spectrum)
    assert np.all(np.diff(spectrum.bias_mV) >= 0)
    assert spectrum.bias_mV.max() > 180
    truth = btk_conductance(spectrum.bias_mV, sample.gap(2.0), sample.barrier_z, sample.gamma_meV, 2.0)
    # what is left is the BTK tail above the window that the background absorbs (~1 %) and
    # the 3-point smoothing at the coherence peaks
    assert np.max(np.abs(spectrum.conductance_norm - truth)) < 0.03
    assert np.median(np.abs(spectrum.conductance_norm - truth)) < 0.01
    # the junction's own background (1 - 3e-6 V^2, V in mV) over 1/R_N is what was divided out
    v_mV = np.array([-150.0, 0.0, 150.0])
    model_background = (1 + sum(c * v_mV ** (n + 1) for n, c in enumerate(sample.background_per_mV))
                        ) / sample.contact_normal_ohm
    assert np.allclose(spectrum.background(v_mV * 1e-3), model_background, rtol=0.02)


def test_chain_without_the_series_correction_stretches_the_bias():
    sample = dataclasses.replace(load_sample("ceh9_cell1"), spreading_resistance_ohm=5.0)
    currents, voltages = simulated_steps(sample, 2.0, 6e-3, points=201)
    bias, didv = conductance_from_steps(currents, voltages)
    corrected = process_spectrum(bias, didv, 0.09, series_resistance_ohm=5.0)
    raw = process_spectrum(bias, didv, 0.09)
    assert np.allclose(raw.bias_mV, bias * 1e3)
    # the meter sees V_j + R_s I: the correction must take off R_s times the current that was set
    # (recovered from the integrated conductance alone)
    shift_mV = 5.0 * currents.mean(axis=1) * 1e3
    assert np.max(np.abs(raw.bias_mV - corrected.bias_mV - shift_mV)) < 0.01 * np.max(shift_mV)
    # uncorrected, the coherence peaks sit further out, by ~1 + R_s G there (>= 20 %)
    inside = np.abs(raw.bias_mV) < 60

    def peak(spectrum):
        return np.abs(spectrum.bias_mV[inside][np.argmax(spectrum.conductance_norm[inside])])

    assert peak(raw) / peak(corrected) > 1 + 5.0 / 25.0


def test_process_spectrum_refuses_bad_input():
    bias = np.linspace(-0.1, 0.1, 51)
    with pytest.raises(ValueError, match="didv_S"):
        process_spectrum(bias, np.full(51, -1.0), 0.03)
    with pytest.raises(ValueError, match="didv_S"):
        process_spectrum(bias, np.ones(50), 0.03)
    with pytest.raises(ValueError, match="gap_window_V"):
        process_spectrum(bias, np.ones(51), 0.2)
    with pytest.raises(ValueError, match="points"):
        process_spectrum(bias, np.ones(51), 0.03, smooth_points=4)


def test_series_correction_refuses_unsorted_or_nan_input():
    with pytest.raises(ValueError, match="sorted"):
        remove_series_resistance([0.1, 0.0, 0.2], [0.04, 0.04, 0.04], 1.0)
    with pytest.raises(ValueError, match="didv_S"):
        remove_series_resistance([0.0, 0.1, 0.2], [0.04, np.nan, 0.04], 1.0)
    with pytest.raises(ValueError, match="degree"):
        process_spectrum(np.linspace(-0.1, 0.1, 51), np.ones(51), 0.03, degree="2")
