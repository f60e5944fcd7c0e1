"""Critical current from I-V sweeps and Jc(T) pinning fits, against numbers known by construction:
a flux-flow I-V with a chosen Ic, the simulated sample's own Ic, and pinning-law data."""

import dataclasses
import math

import numpy as np
import pytest

from daclab.analysis.critical import (
    critical_current_from_field_criterion,
    critical_current_from_iv,
    differential_resistance,
    fit_jc,
    fit_jc_from_ic,
    voltage_criterion_from_field,
)
from daclab.sim.sample import load_sample


def flux_flow_iv(ic_A, slope_ohm, currents):
    """V = 0 below Ic and R_ff (|I| - Ic) above it, odd in I."""
    return np.sign(currents) * slope_ohm * np.clip(np.abs(currents) - ic_A, 0.0, None)


def test_ic_of_a_flux_flow_sweep_with_noise():
    rng = np.random.default_rng(3)
    ic, r_ff, criterion = 0.041, 0.02, 1e-6
    current = np.linspace(0.0, 0.08, 161)  # Ic on a grid point: the bracket lies on the flux-flow line
    voltage = flux_flow_iv(ic, r_ff, current) + rng.normal(0.0, 3e-8, current.size)
    # the criterion is crossed criterion/R_ff above Ic; the 30 nV noise moves it by ~1.5 uA
    expected = ic + criterion / r_ff
    assert critical_current_from_iv(current, voltage, criterion) == pytest.approx(expected, abs=5e-6)


def test_ic_interpolates_between_the_bracketing_points():
    current = np.array([0.0, 1.0, 2.0, 3.0])
    voltage = np.array([0.0, 0.5e-6, 1.5e-6, 4e-6])
    # 1 uV lies halfway between 0.5 uV at 1 A and 1.5 uV at 2 A
    assert critical_current_from_iv(current, voltage, 1e-6) == pytest.approx(1.5)


def test_ic_is_the_same_on_a_negative_sweep_and_nan_when_never_reached():
    current = np.linspace(0.0, -0.05, 101)
    voltage = flux_flow_iv(0.03, 0.01, current)
    assert critical_current_from_iv(current, voltage, 1e-6) == pytest.approx(0.03 + 1e-4, rel=1e-9)
    assert math.isnan(critical_current_from_iv(current, voltage, 1.0))


def test_ic_when_the_sweep_starts_above_it_is_the_first_current():
    assert critical_current_from_iv([0.5, 0.6], [1e-3, 2e-3], 1e-6) == 0.5


def test_ic_of_the_simulated_sample_from_a_pulsed_sweep():
    sample = load_sample("ceh9_cell1")
    temperature = 60.0
    current = np.linspace(0.06, 0.08, 401)  # 50 uA steps
    voltage = np.array([sample.four_probe_voltage(i, temperature, duration_s=1e-3) for i in current])
    # the pulse warms the sample by a few hundredths of a kelvin, which lowers Ic: the model's
    # own Ic is the fixed point I = Ic(T + heating(I))
    truth = sample.critical_current(temperature)
    for _ in range(20):
        truth = sample.critical_current(temperature + sample.heating(truth, temperature, 0.0, 0.0, 1e-3))
    assert 0.06 < truth < 0.08  # paper 001: Ic = 74 mA at 60 K
    # a 1 uV criterion on a ~0.04 ohm flux-flow slope sits ~25 uA above Ic, and the step across
    # the onset shifts the interpolation by up to one 50 uA step
    assert critical_current_from_iv(current, voltage, 1e-6) == pytest.approx(truth, abs=8e-5)


def test_electric_field_criterion_is_field_times_contact_distance():
    assert voltage_criterion_from_field(1e-6, 0.003) == pytest.approx(3e-9)
    current = np.linspace(0.0, 0.02, 201)
    voltage = flux_flow_iv(0.01, 0.05, current)
    # 1 uV/cm over 0.5 cm is 0.5 uV: crossed 10 uA above Ic on a 50 mOhm slope
    assert critical_current_from_field_criterion(current, voltage, 1e-6, 0.5) == pytest.approx(0.01001, rel=1e-9)
    with pytest.raises(ValueError, match="contact_distance_cm"):
        voltage_criterion_from_field(1e-6, -1.0)


def test_differential_resistance_of_flux_flow_and_of_a_parabola():
    current = np.linspace(0.0, 0.08, 81)
    dvdi = differential_resistance(current, flux_flow_iv(0.04, 0.02, current))
    assert dvdi.shape == current.shape
    assert np.allclose(dvdi[:39], 0.0) and np.allclose(dvdi[42:], 0.02)
    # V = 3 I^2 - 2 I on an uneven grid, negative slope: |dV/dI| = |6 I - 2| in the interior
    current = np.sort(np.random.default_rng(1).uniform(0.0, 1.0, 50))
    dvdi = differential_resistance(current, 3 * current**2 - 2 * current)
    assert np.allclose(dvdi[1:-1], np.abs(6 * current[1:-1] - 2), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: critical_current_from_iv([0, 1, 2], [0, 1], 1e-6), "voltage_V"),
        (lambda: critical_current_from_iv([0, 1], [0, 1], -1e-6), "voltage_criterion_V"),
        (lambda: critical_current_from_iv([0, 1], [0, 1], 0.0), "voltage_criterion_V"),
        (lambda: critical_current_from_iv(["a", "b"], [0, 1], 1e-6), "current_A"),
        (lambda: differential_resistance([0, 1, 2], [0, 1]), "voltage_V"),
        (lambda: differential_resistance([0.0], [0.0]), "current_A"),
        (lambda: fit_jc([1, 2, 3], [1, 2], "delta_l"), "jc"),
        (lambda: fit_jc([1, 2, 3], [1, 2, 3], "collective"), "model"),
        (lambda: fit_jc([-1, 2, 3], [1, 2, 3]), "temperature_K"),
        (lambda: fit_jc([1, 2, 3], [0, 0, 0]), "jc"),
        (lambda: fit_jc_from_ic([1, 2, 3], [1, 2, 3], 0.0, 1.0), "width_um"),
        (lambda: fit_jc_from_ic([1, 2, 3], [1, 2], 30.0, 1.0), "ic_A"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("model, law", [
    ("delta_l", lambda t: (1 - t**2) ** 2.5 / np.sqrt(1 + t**2)),
    ("delta_tc", lambda t: (1 - t**2) ** (7 / 6) * (1 + t**2) ** (5 / 6)),
])
def test_jc_fit_recovers_the_pinning_parameters(model, law):
    rng = np.random.default_rng(7)
    jc0, tc = 4.0e6, 75.0
    temperature = np.linspace(5.0, 72.0, 14)
    clean = jc0 * law(temperature / tc)  # Griessen et al. 1994, written out here
    jc = clean + rng.normal(0.0, 0.03 * jc0, temperature.size)
    result = fit_jc(temperature, jc, model)
    assert result.success
    assert result.jc0.value == pytest.approx(jc0, rel=0.10)
    assert result.tc_K.value == pytest.approx(tc, abs=2.0)
    assert abs(result.jc0.value - jc0) < 4 * result.jc0.stderr
    assert np.allclose(result.residuals, jc - result.curve(temperature))
    assert np.std(result.residuals) == pytest.approx(0.03 * jc0, rel=0.5)


def test_jc_fit_tells_the_two_pinning_laws_apart():
    temperature = np.linspace(5.0, 70.0, 12)
    jc = 1e6 * (1 - (temperature / 75.0) ** 2) ** 2.5 / np.sqrt(1 + (temperature / 75.0) ** 2)
    right, wrong = fit_jc(temperature, jc, "delta_l"), fit_jc(temperature, jc, "delta_tc")
    assert right.reduced_chi_square < 1e-6 * wrong.reduced_chi_square


def test_jc_fit_of_the_simulated_sample_from_its_critical_currents():
    # CeH9 cell-1 (paper 001): delta-l pinning, Jc(0) = 4 MA/cm2 vanishing at jc_tc_K
    sample = load_sample("ceh9_cell1")
    temperature = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 65.0, 70.0, np.nan])
    ic = np.array([sample.critical_current(t) if t == t else 0.0 for t in temperature])
    ic *= 1 + np.random.default_rng(5).normal(0.0, 0.02, ic.size)
    result = fit_jc_from_ic(temperature, ic, *sample.cross_section_um2)
    assert result.temperature_K.size == 8  # the NaN point is dropped
    assert result.jc0.value == pytest.approx(sample.jc0_A_cm2, rel=0.10)
    assert result.tc_K.value == pytest.approx(sample.jc_tc_K, abs=1.0)


def test_jc_fit_starts_well_when_tc_is_far_above_the_data():
    # only the low-temperature end measured: Tc must be extrapolated
    temperature = np.linspace(2.0, 30.0, 8)
    sample = dataclasses.replace(load_sample("ceh9_cell1"), jc_tc_K=90.0)
    ic = np.array([sample.critical_current(t) for t in temperature])
    result = fit_jc_from_ic(temperature, ic, *sample.cross_section_um2)
    assert result.tc_K.value == pytest.approx(90.0, rel=1e-4)
    assert result.jc0.value == pytest.approx(sample.jc0_A_cm2, rel=1e-4)
