"""The simulated sample against independent numbers (PHYSICS.md sections 2-6 and 8)."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import digamma

from daclab import sim
from daclab.sim.sample import Sample, SampleFileError

EULER_GAMMA = 0.5772156649015329


def midpoint(sample, field_T=0.0, days=0.0):
    """Where R(T) crosses half of the normal-state resistance, found on the model's own curve."""
    return brentq(lambda t: sample.normal_fraction(t, field_T, days) - 0.5, 0.5, 399.0)


def independent_whh_tc(field_T, tc_K, hc2_0_T):
    """Tc(H) from the dirty-limit WHH digamma equation, solved here from scratch."""
    def hbar(t):
        return brentq(lambda h: math.log(1 / t) - (digamma(0.5 + h / (2 * t)) - digamma(0.5)), 1e-12, 50.0)

    hbar0 = math.exp(-EULER_GAMMA) / 2
    return tc_K * brentq(lambda t: hc2_0_T * hbar(t) / hbar0 - field_T, 1e-4, 1 - 1e-9)


def plain(preset, **changes):
    """A preset without its second step, so that the midpoint is the main transition's."""
    base = sim.load_sample(preset)
    return Sample(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "second_step": None, **changes})


@pytest.mark.parametrize("preset", ["ceh9_cell1", "lace_h10_cell2", "lah10_aging"])
def test_zero_field_transition_sits_at_tc(preset):
    sample = plain(preset)
    assert midpoint(sample) == pytest.approx(sample.tc_K, abs=1e-3)
    # 10-90 % width as the sample file says
    t10 = brentq(lambda t: sample.normal_fraction(t) - 0.1, 1, 399)
    t90 = brentq(lambda t: sample.normal_fraction(t) - 0.9, 1, 399)
    assert t90 - t10 == pytest.approx(sample.transition_width_K, rel=1e-4)


@pytest.mark.parametrize("field_T", [1.0, 5.0, 9.0])
def test_tc_in_field_follows_whh_within_one_percent(field_T):
    sample = plain("ceh9_cell1")
    expected = independent_whh_tc(field_T, sample.tc_K, sample.hc2_0_T)
    assert midpoint(sample, field_T) == pytest.approx(expected, rel=0.01)
    assert midpoint(sample, field_T) < sample.tc_K


def test_high_field_sample_follows_whh_too():
    sample = plain("lace_h10_cell2", field_angle_deg=0.0)
    expected = independent_whh_tc(100.0, sample.tc_K, sample.hc2_0_T)
    assert midpoint(sample, 100.0) == pytest.approx(expected, rel=0.01)


def test_field_angle_raises_hc2_by_the_anisotropy():
    along = plain("lace_h10_cell2", field_angle_deg=0.0)
    across = plain("lace_h10_cell2", field_angle_deg=90.0)
    assert across.effective_hc2_0() == pytest.approx(along.hc2_0_T * along.hc2_anisotropy)
    assert midpoint(across, 50.0) > midpoint(along, 50.0)


def test_two_step_transition_has_two_drops():
    sample = sim.load_sample("ceh9_cell1")
    temperatures = np.linspace(70, 115, 4501)
    slope = np.gradient(sample.resistance(temperatures), temperatures)
    peaks = [i for i in range(1, len(slope) - 1) if slope[i] > slope[i - 1] and slope[i] > slope[i + 1]]
    assert len(peaks) == 2
    assert sorted(temperatures[peaks]) == pytest.approx([84.0, 100.0], abs=0.5)


def test_normal_state_resistance_is_r_normal_just_above_tc_and_rises_with_temperature():
    sample = plain("ceh9_cell1")
    assert sample.resistance(sample.tc_K + 10 * sample.transition_width_K) == pytest.approx(
        float(sample.normal_state_resistance(sample.tc_K + 10 * sample.transition_width_K)), rel=1e-6)
    assert float(sample.normal_state_resistance(sample.tc_K)) == pytest.approx(sample.r_normal_ohm)
    assert sample.normal_state_resistance(300.0) > sample.normal_state_resistance(150.0) > sample.r_normal_ohm
    assert float(sample.resistance(2.0)) == pytest.approx(0.0, abs=1e-12)


def test_critical_current_of_the_ceh9_preset_matches_paper_001():
    sample = sim.load_sample("ceh9_cell1")
    ic = sample.critical_current(60.0)
    assert ic == pytest.approx(0.074, rel=0.05)  # 74 mA at 60 K
    # Jc(0) x area = 4 MA/cm2 x 30 um2 = 1.2 A
    assert sample.critical_current(0.0) == pytest.approx(4e6 * 30e-8, rel=1e-9)


def test_pulsed_iv_is_zero_below_ic_and_resistive_above():
    sample = sim.load_sample("ceh9_cell1")
    ic = sample.critical_current(60.0)
    assert abs(sample.four_probe_voltage(0.9 * ic, 60.0, duration_s=0.01)) < 1e-10  # far below the nV noise
    above = sample.four_probe_voltage(1.2 * ic, 60.0, duration_s=0.01)
    assert above > 1e-4
    assert sample.four_probe_voltage(-1.2 * ic, 60.0, duration_s=0.01) == pytest.approx(-above)


def test_dc_current_above_ic_heats_the_sample_and_a_1ms_pulse_does_not():
    sample = sim.load_sample("ceh9_cell1")
    current = 1.2 * sample.critical_current(60.0)
    dc_rise = sample.heating(current, 60.0, 0.0, 0.0, duration_s=None)
    pulse_rise = sample.heating(current, 60.0, 0.0, 0.0, duration_s=1e-3)
    assert dc_rise > 2.0  # kelvin
    assert pulse_rise < 0.05 * dc_rise
    # and the heating shows in the voltage: DC reads more than the pulse at the same current
    assert sample.four_probe_voltage(current, 60.0) > 1.5 * sample.four_probe_voltage(current, 60.0, duration_s=1e-3)


def test_btk_contact_conductance_is_twice_normal_inside_the_gap_for_z_zero():
    sample = plain("ceh9_cell1", barrier_z=0.0, gamma_meV=0.0, background_per_mV=(0.0,))
    g_n = 1 / sample.contact_normal_ohm
    inside = sample.contact_conductance(np.array([0.0, 5.0, -5.0]), 0.05)
    assert inside / g_n == pytest.approx([2.0, 2.0, 2.0], abs=1e-3)
    far = sample.contact_conductance(np.array([400.0]), 0.05)
    assert far[0] / g_n == pytest.approx(1.0, abs=2e-3)


def test_contact_voltage_integrates_the_conductance():
    sample = sim.load_sample("ceh9_cell1")
    # numerically differentiate V(I) at small bias and compare with the conductance
    d_i = 1e-6
    v0 = sample.contact_voltage(0.0, 2.0)
    v1 = sample.contact_voltage(d_i, 2.0)
    junction_mV = (v1 - v0 - d_i * sample.spreading_resistance_ohm) * 1e3
    g = sample.contact_conductance(np.array([junction_mV / 2]), 2.0)[0]
    assert d_i / ((v1 - v0) - d_i * sample.spreading_resistance_ohm) == pytest.approx(g, rel=0.01)
    assert sample.contact_voltage(-0.002, 2.0) == pytest.approx(-sample.contact_voltage(0.002, 2.0), rel=1e-6)


def test_gap_closes_at_tc_and_is_full_at_low_temperature():
    sample = plain("ceh9_cell1")
    assert sample.gap(0.5) == pytest.approx(sample.gap_meV, rel=1e-3)
    assert sample.gap(sample.tc_K + 1) == 0.0
    assert 0 < sample.gap(0.9 * sample.tc_K) < 0.6 * sample.gap_meV


def test_aging_preset_tc_falls_with_days():
    sample = sim.load_sample("lah10_aging")
    tcs = [midpoint(sample, days=d) for d in (0, 3, 10, 30, 80)]
    assert tcs[0] == pytest.approx(160.0, abs=0.01)
    assert all(a > b for a, b in zip(tcs, tcs[1:]))
    assert 70 <= tcs[-1] <= 85  # paper 002: converges to 70-85 K


def test_sample_file_errors_name_the_key_and_the_value(tmp_path):
    good = {"name": "x", "tc_K": 100, "transition_width_K": 2, "hc2_0_T": 50, "r_normal_ohm": 0.1,
            "jc0_A_cm2": 1e6, "cross_section_um2": [30, 1], "gap_meV": 20, "barrier_z": 0.5, "gamma_meV": 1}
    assert Sample.from_dict(good).tc_K == 100
    with pytest.raises(SampleFileError, match="missing required key.*gap_meV"):
        Sample.from_dict({k: v for k, v in good.items() if k != "gap_meV"})
    with pytest.raises(SampleFileError, match=r"tc_K = -5.0 is outside the allowed range \[0.5, 400.0\]"):
        Sample.from_dict({**good, "tc_K": -5})
    with pytest.raises(SampleFileError, match="unknown key.*tc_onset"):
        Sample.from_dict({**good, "tc_onset": 3})
    with pytest.raises(SampleFileError, match="hc2_0_T = 'high' must be a number"):
        Sample.from_dict({**good, "hc2_0_T": "high"})
    with pytest.raises(SampleFileError, match="cross_section_um2"):
        Sample.from_dict({**good, "cross_section_um2": 30})
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ntc_K: 50\ntransition_width_K: 1\nhc2_0_T: 10\nr_normal_ohm: 1\n"
                    "jc0_A_cm2: 1e5\ncross_section_um2: [10, 1]\ngap_meV: 8\nbarrier_z: 0.3\ngamma_meV: 0.5\n")
    assert sim.load_sample(path).name == "mine"
    with pytest.raises(FileNotFoundError, match="presets: .*ceh9_cell1"):
        sim.load_sample("no_such_preset")
