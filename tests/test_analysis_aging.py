"""Tc aging fits against the simulated LaH10+x cell of paper 002 (truth from its sample file)."""

import math

import numpy as np
import pytest

from daclab.analysis.aging import AgingResult, aging_curve, fit_aging
from daclab.analysis.fitting import AnalysisInputError
from daclab.analysis.transitions import transition_temperatures
from daclab.sim.sample import load_sample

# R(T) runs as paper 002 made them: daily in the first week, then every few days.
SCHEDULE_DAYS = np.array([0.0, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 30, 40])


@pytest.fixture(scope="module")
def aging_cell():
    return load_sample("lah10_aging")


def measured_tc(sample, days, noise_K, seed):
    truth = np.array([sample.tc_in_field(0.0, d) for d in days])
    return truth + np.random.default_rng(seed).normal(0.0, noise_K, truth.size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_recovers_the_sample_files_aging(aging_cell, seed):
    result = fit_aging(SCHEDULE_DAYS, measured_tc(aging_cell, SCHEDULE_DAYS, 1.0, seed))
    assert isinstance(result, AgingResult)
    assert result.tc_final_K.value == pytest.approx(aging_cell.tc_final_K, rel=0.05)
    assert result.tau_days.value == pytest.approx(aging_cell.aging_time_constant_days, rel=0.05)
    assert result.tc0_K.value == pytest.approx(aging_cell.tc_at_age(0.0), rel=0.05)
    # the standard errors are honest: the truth lies within a few of them
    for estimate, truth in ((result.tc_final_K, aging_cell.tc_final_K),
                            (result.tau_days, aging_cell.aging_time_constant_days)):
        assert 0.0 < estimate.stderr and abs(estimate.value - truth) < 4.0 * estimate.stderr
    assert result.rms_residual_K == pytest.approx(1.0, rel=0.5)
    assert result.residuals_K.shape == SCHEDULE_DAYS.shape


def test_exact_data_give_the_exact_parameters(aging_cell):
    days = np.array([0.0, 1.0, 3.0, 7.0, 15.0])
    result = fit_aging(days, measured_tc(aging_cell, days, 0.0, 0))
    assert result.tc0_K.value == pytest.approx(aging_cell.tc_K, abs=1e-6)
    assert result.tc_final_K.value == pytest.approx(aging_cell.tc_final_K, abs=1e-6)
    assert result.tau_days.value == pytest.approx(aging_cell.aging_time_constant_days, abs=1e-6)
    assert result.predict(100.0) == pytest.approx(aging_cell.tc_at_age(100.0), abs=1e-4)


def test_aging_curve_limits():
    assert aging_curve(0.0, 160.0, 78.0, 6.0) == pytest.approx(160.0)
    assert aging_curve(6.0, 160.0, 78.0, 6.0) == pytest.approx(78.0 + 82.0 / math.e)
    assert aging_curve(1e4, 160.0, 78.0, 6.0) == pytest.approx(78.0)


def test_midpoints_of_aged_resistance_curves_give_the_aging(aging_cell):
    """The whole chain: R(T) on each day -> transition midpoint -> aging fit."""
    rng = np.random.default_rng(5)
    temperature = np.linspace(200.0, 40.0, 1600)
    midpoints = []
    for day in SCHEDULE_DAYS:
        resistance = aging_cell.resistance(temperature, 0.0, day) + rng.normal(0.0, 1e-4, temperature.size)
        midpoints.append(transition_temperatures(temperature, resistance).midpoint_K)
    result = fit_aging(SCHEDULE_DAYS, midpoints)
    assert result.tc_final_K.value == pytest.approx(aging_cell.tc_final_K, rel=0.02)
    assert result.tau_days.value == pytest.approx(aging_cell.aging_time_constant_days, rel=0.02)


def test_nan_points_are_dropped(aging_cell):
    tc = measured_tc(aging_cell, SCHEDULE_DAYS, 0.5, 3)
    with_gap = tc.copy()
    with_gap[4] = np.nan
    keep = ~np.isnan(with_gap)
    expected = fit_aging(SCHEDULE_DAYS[keep], tc[keep])
    result = fit_aging(SCHEDULE_DAYS, with_gap)
    assert result.tau_days.value == pytest.approx(expected.tau_days.value, rel=1e-9)
    assert result.residuals_K.size == keep.sum()


@pytest.mark.parametrize("days, tc, named", [
    ([0.0, 1.0, 2.0], [160.0, 140.0, 125.0], "at least 4"),
    ([0.0, 1.0, 2.0, np.nan], [160.0, 140.0, 125.0, 115.0], "at least 4"),
    ([0.0, 1.0, 2.0, 3.0], [160.0, 140.0, 125.0], "tc_K"),
    ([0.0, 0.0, 5.0, 5.0], [160.0, 158.0, 110.0, 111.0], "days"),
    ([-1.0, 1.0, 2.0, 3.0], [160.0, 140.0, 125.0, 115.0], "days"),
    ([0.0, 1.0, 2.0, 3.0], [160.0, 140.0, 0.0, 115.0], "tc_K"),
    ([0.0, 1.0, 2.0, np.inf], [160.0, 140.0, 125.0, 115.0], "days"),
])
def test_bad_input_raises_naming_the_argument(days, tc, named):
    with pytest.raises(AnalysisInputError, match=named):
        fit_aging(days, tc)
