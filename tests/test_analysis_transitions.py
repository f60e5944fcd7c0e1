"""Transition temperatures from R(T) curves built from the simulated sample's own model.

The expected temperatures come from the model itself (brentq on its normal fraction, a quad
integral for the straight-line fit of the intersection criterion), never from the analysis.
"""

import dataclasses
import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

from daclab.analysis.fitting import AnalysisInputError
from daclab.analysis.transitions import (
    PairResult,
    TransitionResult,
    cooling_warming,
    transition_temperatures,
)
from daclab.sim.sample import load_sample

DELTA_MODE_CURRENT_A = 1e-3  # paper 000 reads R(T) in delta mode at 1 mA


def reading_noise_ohm(sample):
    """Resistance noise of one delta-mode reading: the sample's voltage noise over the current."""
    return sample.noise_nV * 1e-9 / DELTA_MODE_CURRENT_A


def sweep(sample, low_K, high_K, points=3000, seed=0, noise_ohm=None, field_T=0.0):
    """A cooling sweep high -> low of the model's R(T) with Gaussian reading noise."""
    rng = np.random.default_rng(seed)
    temperature = np.linspace(high_K, low_K, points)
    noise = reading_noise_ohm(sample) if noise_ohm is None else noise_ohm
    return temperature, sample.resistance(temperature, field_T) + rng.normal(0.0, noise, points)


def fraction_point(sample, fraction, low_K=2.0, high_K=399.0):
    """Highest temperature where the model's normal fraction equals ``fraction``."""
    grid = np.linspace(high_K, low_K, 20000)
    values = sample.normal_fraction(grid) - fraction
    i = int(np.flatnonzero(values < 0.0)[0])
    return brentq(lambda t: float(sample.normal_fraction(t)) - fraction, grid[i], grid[i - 1])


def zero_point(sample):
    """Where the model's R(T) reaches 1 % of R_n at the midpoint (far above the nV noise)."""
    threshold = 0.01 * float(sample.normal_state_resistance(fraction_point(sample, 0.5)))
    return brentq(lambda t: float(sample.resistance(t)) - threshold, 2.0, fraction_point(sample, 0.5))




@pytest.mark.parametrize("preset", ["ceh9_cell2", "lace_h10_cell2"])
def test_criteria_follow_the_model(preset):
    sample = load_sample(preset)
    result = transition_temperatures(*sweep(sample, 2.0, 300.0))
    assert result.has_transition and result.message == ""
    assert result.onset_K == pytest.approx(fraction_point(sample, 0.9), abs=0.3)
    assert result.midpoint_K == pytest.approx(fraction_point(sample, 0.5), abs=0.3)
    assert result.zero_K == pytest.approx(zero_point(sample), abs=0.3)
    assert result.width_K == pytest.approx(fraction_point(sample, 0.9) - fraction_point(sample, 0.1), abs=0.3)
    assert result.normal_resistance_ohm == pytest.approx(
        float(sample.normal_state_resistance(fraction_point(sample, 0.5))), rel=0.01)
    assert result.zero_K < result.midpoint_K < result.onset_K


def test_single_step_midpoint_and_width_match_the_sample_file(lace):
    result = transition_temperatures(*sweep(lace, 120.0, 220.0))
    assert result.midpoint_K == pytest.approx(lace.tc_K, abs=1.0)
    assert result.width_K == pytest.approx(lace.transition_width_K, rel=0.05)
    assert len(result.steps) == 1
    assert result.steps[0] == pytest.approx(lace.tc_K, abs=0.5)


def test_intersection_of_the_normal_state_and_the_steepest_line(lace):
    """For a tanh step R_n/2 (1 + tanh(k x)), x = T - Tc, the least-squares line over the stretch
    where the slope exceeds half its peak (|k x| <= asech(sqrt(1/2))) passes through R_n/2 at Tc
    with slope (R_n k/2) c, c = int u tanh u du / int u^2 du; it meets R_n at x = 1/(k c)."""
    u_max = math.acosh(math.sqrt(2.0))
    c = quad(lambda u: u * math.tanh(u), 0.0, u_max)[0] / (u_max**3 / 3.0)
    k = 2.0 * math.atanh(0.8) / lace.transition_width_K
    expected = lace.tc_K + 1.0 / (k * c)
    result = transition_temperatures(*sweep(lace, 120.0, 220.0))
    # the sloping normal state moves it by a few hundredths of a kelvin
    assert result.intersection_K == pytest.approx(expected, abs=0.15)
    assert result.steep_slope_ohm_per_K > result.normal_slope_ohm_per_K > 0.0


def test_two_steps_of_ceh9_cell1_are_found_at_both_tcs():
    sample = load_sample("ceh9_cell1")
    result = transition_temperatures(*sweep(sample, 2.0, 300.0))
    assert len(result.steps) == 2
    assert result.steps[0] == pytest.approx(sample.tc_K, abs=1.0)
    assert result.steps[1] == pytest.approx(sample.second_step.tc_K, abs=1.0)
    assert result.midpoint_K == pytest.approx(fraction_point(sample, 0.5), abs=0.5)


def test_close_steps_of_ceh9_cell2_are_resolved(ceh9_cell2):
    """5 K apart with widths of 6 and 3 K; the overall midpoint lies between them, 1.6 K
    below the main step's Tc, as the model's own fraction says."""
    result = transition_temperatures(*sweep(ceh9_cell2, 60.0, 130.0))
    assert len(result.steps) == 2
    assert result.steps[0] == pytest.approx(ceh9_cell2.tc_K, abs=1.0)
    assert result.steps[1] == pytest.approx(ceh9_cell2.second_step.tc_K, abs=1.0)
    assert result.steps[1] < result.midpoint_K < result.steps[0]


def test_single_step_sample_never_shows_two_under_stronger_noise(lace):
    result = transition_temperatures(*sweep(lace, 120.0, 220.0, noise_ohm=0.002 * lace.r_normal_ohm, seed=4))
    assert len(result.steps) == 1
    assert result.midpoint_K == pytest.approx(lace.tc_K, abs=0.3)


def test_residual_resistance_leaves_zero_undefined_and_the_rest_found(lace):
    sample = dataclasses.replace(lace, residual_resistance_ohm=0.03 * lace.r_normal_ohm)
    result = transition_temperatures(*sweep(sample, 120.0, 220.0))
    assert result.has_transition
    assert math.isnan(result.zero_K)
    assert "zero resistance" in result.message
    assert result.onset_K == pytest.approx(fraction_point(sample, 0.9), abs=0.3)
    # R_res lifts the whole curve: half of (R_res + R_n) is reached where the fraction is lower
    half = 0.5 - 0.5 * sample.residual_resistance_ohm / sample.r_normal_ohm
    assert result.midpoint_K == pytest.approx(fraction_point(sample, half), abs=0.3)
    assert not math.isnan(result.intersection_K) and not math.isnan(result.width_K)


def test_normal_metal_has_no_transition(ceh9_cell2):
    temperature = np.linspace(300.0, 2.0, 3000)
    resistance = ceh9_cell2.normal_state_resistance(temperature) + np.random.default_rng(1).normal(
        0.0, reading_noise_ohm(ceh9_cell2), temperature.size)
    result = transition_temperatures(temperature, resistance)
    assert not result.has_transition
    assert "no transition" in result.message
    assert all(math.isnan(value) for value in result.criteria().values())
    assert result.steps == ()


def test_constant_temperature_has_no_transition():
    result = transition_temperatures(np.full(50, 100.0), np.linspace(0.0, 0.05, 50))
    assert not result.has_transition
    assert "temperature_K" in result.message


def test_shuffled_input_gives_the_same_result(ceh9_cell2):
    temperature, resistance = sweep(ceh9_cell2, 60.0, 130.0)
    order = np.random.default_rng(2).permutation(temperature.size)
    ordered = transition_temperatures(temperature, resistance)
    shuffled = transition_temperatures(temperature[order], resistance[order])
    for key, value in ordered.criteria().items():
        assert shuffled.criteria()[key] == pytest.approx(value, abs=1e-9)
    assert shuffled.steps == pytest.approx(ordered.steps, abs=1e-9)


def test_cooling_and_warming_mixed_give_the_single_sweep_result(ceh9_cell2):
    single = transition_temperatures(*sweep(ceh9_cell2, 60.0, 130.0))
    rng = np.random.default_rng(3)
    down = np.linspace(130.0, 60.0, 1500)
    up = np.sort(rng.uniform(60.0, 130.0, 1500))  # the warming sweep logs other temperatures
    temperature = np.concatenate((down, up))
    resistance = ceh9_cell2.resistance(temperature) + rng.normal(0.0, reading_noise_ohm(ceh9_cell2), temperature.size)
    mixed = transition_temperatures(temperature, resistance)
    for key, value in single.criteria().items():
        assert mixed.criteria()[key] == pytest.approx(value, abs=0.1)
    assert len(mixed.steps) == 2


def test_nan_readings_are_dropped(ceh9_cell2):
    temperature, resistance = sweep(ceh9_cell2, 60.0, 130.0)
    resistance_with_gaps, temperature_with_gaps = resistance.copy(), temperature.copy()
    resistance_with_gaps[::7] = np.nan
    temperature_with_gaps[3::11] = np.nan
    keep = ~(np.isnan(resistance_with_gaps) | np.isnan(temperature_with_gaps))
    expected = transition_temperatures(temperature[keep], resistance[keep])
    result = transition_temperatures(temperature_with_gaps, resistance_with_gaps)
    assert result.criteria() == pytest.approx(expected.criteria(), abs=1e-9)


def test_live_sweep_reaching_only_the_middle_reports_the_onset(ceh9_cell2):
    temperature, resistance = sweep(ceh9_cell2, 96.0, 130.0, points=700)
    result = transition_temperatures(temperature, resistance)
    assert result.has_transition
    assert result.onset_K == pytest.approx(fraction_point(ceh9_cell2, 0.9), abs=0.3)
    assert result.midpoint_K == pytest.approx(fraction_point(ceh9_cell2, 0.5), abs=0.3)
    assert math.isnan(result.zero_K) and math.isnan(result.width_K)
    assert "10 % point" in result.message


def test_sweep_starting_inside_the_transition_has_no_normal_state(ceh9_cell2):
    temperature, resistance = sweep(ceh9_cell2, 60.0, 100.0, points=700)
    result = transition_temperatures(temperature, resistance)
    assert not result.has_transition
    assert "normal state" in result.message


def test_field_moves_the_transition_down(lace):
    zero_field = transition_temperatures(*sweep(lace, 120.0, 220.0))
    in_field = transition_temperatures(*sweep(lace, 120.0, 220.0, field_T=9.0))
    expected_shift = lace.tc_in_field(9.0) - lace.tc_K
    assert in_field.midpoint_K - zero_field.midpoint_K == pytest.approx(expected_shift, abs=0.2)


def test_cooling_warming_mean_and_lag(lace):
    """A thermometer lagging the sample by d: cooling shows the transition d lower, warming d higher."""
    lag_K = 0.4
    temperature = np.linspace(220.0, 120.0, 2000)
    cooling = transition_temperatures(temperature, lace.resistance(temperature + lag_K))
    warming = transition_temperatures(temperature[::-1], lace.resistance(temperature[::-1] - lag_K))
    centred = transition_temperatures(temperature, lace.resistance(temperature))
    pair = cooling_warming(cooling, warming)
    assert isinstance(pair, PairResult)
    assert set(pair.mean_K) == set(pair.lag_K) == {"onset", "midpoint", "zero", "intersection"}
    for key, value in centred.criteria().items():
        assert pair.lag_K[key] == pytest.approx(2 * lag_K, abs=0.05)
        assert pair.mean_K[key] == pytest.approx(value, abs=0.05)


def test_cooling_warming_keeps_nan_where_a_sweep_has_no_value(lace):
    found = transition_temperatures(*sweep(lace, 120.0, 220.0))
    pair = cooling_warming(found, TransitionResult(message="no transition"))
    assert all(math.isnan(value) for value in pair.mean_K.values())
    assert all(math.isnan(value) for value in pair.lag_K.values())
    with pytest.raises(AnalysisInputError, match="warming"):
        cooling_warming(found, {"onset": 1.0})


@pytest.mark.parametrize("temperature, resistance, named", [
    ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 2.0, 3.0, 4.0, 5.0], "resistance_ohm"),
    ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], "at least 5"),
    ([1.0, 2.0, np.nan, 4.0, 5.0, 6.0], [1.0, np.nan, 3.0, 4.0, 5.0, 6.0], "at least 5"),
    ([1.0, 2.0, 3.0, np.inf, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0], "temperature_K"),
    ([1.0, 2.0, 3.0, 4.0, 5.0], ["a", "b", "c", "d", "e"], "resistance_ohm"),
    (np.ones((5, 2)), np.ones(10), "temperature_K"),
])
def test_malformed_input_raises_naming_the_argument(temperature, resistance, named):
    with pytest.raises(AnalysisInputError, match=named):
        transition_temperatures(temperature, resistance)


def test_result_as_dict_carries_every_criterion(lace):
    result = transition_temperatures(*sweep(lace, 120.0, 220.0))
    values = result.as_dict()
    assert values["midpoint_K"] == result.midpoint_K and values["has_transition"] is True
    assert values["steps"] == list(result.steps)
    pair = cooling_warming(result, result).as_dict()
    assert pair["lag_K"] == {"onset": 0.0, "midpoint": 0.0, "zero": 0.0, "intersection": 0.0}
