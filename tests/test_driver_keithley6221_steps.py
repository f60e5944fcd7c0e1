"""DC current steps on the 6221 with 2182A readings (paper 001's dI/dV): commands as INSTRUMENTS.md
spells them, limits before any write, readings against the sample model through the twin."""

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from daclab import roles, sim
from daclab.analysis.conductance import step_conductance
from daclab.instruments.keithley6221 import Keithley6221
from daclab.instruments.keithley6221_modes import DCCurrentStepSource
from daclab.lab import Lab
from daclab.limits import LimitError, SoftwareLimits
from daclab.sim.binding import recording_commands
from sim_helpers import hold

NOISE_V = 3e-9  # the CeH9 preset's voltage noise


def nv(command):
    """A 2182A command as it travels through the 6221's serial pass-through."""
    return (f'SYST:COMM:SER:SEND "{command}"', None)


# ---- protocol ---------------------------------------------------------------------------------

def test_each_current_is_set_driven_settled_and_read_through_the_pass_through(virtual_clock):
    with expected_protocol(Keithley6221, [
        nv("SENS:CHAN 2"), nv("SENS:VOLT:NPLC 1"), ("SOUR:CURR:COMP 1", None),
        ("SOUR:CURR 0.001", None), ("OUTP 1", None), nv("READ?"), ("SYST:COMM:SER:ENT?", "+2.500000000E-02"),
        ("SOUR:CURR 0.00102", None), ("OUTP 1", None), nv("READ?"),
        ("SYST:COMM:SER:ENT?", ""), ("SYST:COMM:SER:ENT?", "+2.550000000E-02"),
    ]) as k:
        voltages = DCCurrentStepSource(k).voltages_at([1e-3, 1.02e-3], settle_s=0.1)
        assert voltages == pytest.approx([0.025, 0.0255])
    # two settling waits, then one poll of the serial buffer while the second reading was not in yet
    assert virtual_clock.now() == pytest.approx(2 * 0.1 + 0.05)


def test_channel_speed_and_compliance_are_the_adapters_and_an_overflow_reads_nan(virtual_clock):
    with expected_protocol(Keithley6221, [
        nv("SENS:CHAN 1"), nv("SENS:VOLT:NPLC 5"), ("SOUR:CURR:COMP 2.5", None),
        ("SOUR:CURR -0.0005", None), ("OUTP 1", None), nv("READ?"), ("SYST:COMM:SER:ENT?", "+9.9E37"),
    ]) as k:
        role = DCCurrentStepSource(k, channel=1, nplc=5, compliance_V=2.5)
        assert np.isnan(role.voltages_at([-5e-4], settle_s=0.0)).all()


def test_stop_turns_the_output_off():
    with expected_protocol(Keithley6221, [("SOUR:SWE:ABOR", None), ("OUTP 0", None)]) as k:
        DCCurrentStepSource(k).stop()


@pytest.mark.parametrize("limits, currents, settle, message", [
    (SoftwareLimits(max_current_A=0.01), [0.0, 0.011], 0.1,
     r"step current\[1\] = 0.011 A is outside the allowed range \[-0.01, 0.01\] A"),
    (SoftwareLimits(max_current_A=0.2), [0.05, -0.106], 0.1,
     r"step current\[1\] = -0.106 A is outside the allowed range \[-0.105, 0.105\] A"),
    (None, [], 0.1, "empty"),
    (None, [1e-3], -1.0, r"step settle time = -1 s is outside the allowed range \[0, 3600\] s"),
])
def test_every_current_is_checked_before_anything_is_written(limits, currents, settle, message):
    with expected_protocol(Keithley6221, []) as k:
        with pytest.raises(LimitError, match=message):
            DCCurrentStepSource(k, limits=limits).voltages_at(currents, settle)


def test_a_compliance_above_the_software_ceiling_is_refused():
    with expected_protocol(Keithley6221, []) as k:
        with pytest.raises(LimitError, match=r"compliance = 50 V .*\[0.1, 10\] V"):
            DCCurrentStepSource(k, compliance_V=50.0)
        with pytest.raises(LimitError, match="2182A channel"):
            DCCurrentStepSource(k, channel=3)


# ---- against the sample model ------------------------------------------------------------------

@pytest.fixture
def k6221(world):
    source = Keithley6221("GPIB0::12::INSTR", visa_library=f"{sim.sim_config('keithley6221.yaml')}@sim", timeout=200)
    source.check_errors()
    yield source
    source.adapter.close()


def test_readings_are_the_point_contact_voltage_at_each_dc_current(world, k6221):
    hold(world, 2.0)
    currents = [-3e-3, -1e-3, 0.0, 1e-3, 3e-3]
    start = world.clock.now()
    voltages = DCCurrentStepSource(k6221).voltages_at(currents, settle_s=0.2)
    assert world.clock.now() - start >= len(currents) * 0.2
    temperature = world.sample_temperature()
    emf = world.thermoelectric_emf()
    model = [world.sample.contact_voltage(i, temperature) for i in currents]
    assert voltages - emf == pytest.approx(model, abs=10 * NOISE_V)
    # the output stays on at the last current until stop() turns it off
    assert k6221.source_enabled is True and world.source_current_A == pytest.approx(3e-3)
    DCCurrentStepSource(k6221).stop()
    assert k6221.source_enabled is False and world.source_current_A == 0.0
    assert [int(code) for code, _ in k6221.check_errors()] == []


def test_three_steps_at_zero_bias_give_the_andreev_conductance_of_the_model(world, k6221):
    """Paper 001's point: dV/dI from the slope of three steps is the junction's 1/G(0) plus the
    spreading resistance in series; G(0) is the sample's BTK contact conductance at zero bias."""
    hold(world, 2.0)
    step = 30e-6
    currents = [-step, 0.0, step]
    voltages = DCCurrentStepSource(k6221).voltages_at(currents, settle_s=0.05)
    _, didv = step_conductance(currents, voltages)
    sample = world.sample
    expected_ohm = 1.0 / float(sample.contact_conductance(0.0, world.sample_temperature())) \
        + sample.spreading_resistance_ohm
    assert 1.0 / didv == pytest.approx(expected_ohm, rel=2e-3)
    assert 1.0 / didv < 0.8 * (sample.contact_normal_ohm + sample.spreading_resistance_ohm)  # enhanced


def test_channel_1_reads_the_superconducting_four_probe_pads(world, k6221):
    hold(world, 2.0)
    voltages = DCCurrentStepSource(k6221, channel=1).voltages_at([1e-3, 2e-3], settle_s=0.05)
    assert voltages == pytest.approx([world.thermoelectric_emf()] * 2, abs=10 * NOISE_V)  # R = 0 at 2 K


def test_the_simulated_lab_binds_the_steps_role_with_its_limits():
    with Lab.open("simulated", start_K=2.0) as lab:
        steps = lab.role("steps")
        assert isinstance(steps, DCCurrentStepSource) and isinstance(steps, roles.CurrentStepSource)
        assert steps.channel == 2
        with recording_commands() as sent, pytest.raises(LimitError, match=r"step current\[1\] = 0.09 A .*\[-0.08, 0.08\]"):
            steps.voltages_at([0.0, 0.09], 0.1)
        assert sent == []
