"""The 6221/2182A driver against its twin, end to end through pyvisa, compared with the sample model."""

import numpy as np
import pytest
import pyvisa

from daclab import clock as clocks
from daclab import sim
from daclab.instruments.keithley6221 import Keithley6221
from daclab.instruments.keithley6221_modes import (
    DeltaResistanceMeter,
    DifferentialConductanceSource,
    PulseDeltaSource,
)
from daclab.limits import LimitError
from sim_helpers import hold

NOISE_V = 3e-9  # the CeH9 preset's voltage noise


@pytest.fixture
def k6221(world):
    source = Keithley6221("GPIB0::12::INSTR", visa_library=f"{sim.sim_config('keithley6221.yaml')}@sim", timeout=200)
    source.check_errors()  # the parsed device (and its error queue) is shared by the whole process
    yield source
    source.adapter.close()


def sent_commands(source, monkeypatch):
    """Record every command written to the instrument from now on."""
    log = []
    write = source.adapter.write

    def recording(command, **kwargs):
        log.append(command)
        write(command, **kwargs)
    monkeypatch.setattr(source.adapter, "write", recording)
    return log


def errors(source):
    return [int(code) for code, _ in source.check_errors()]


# ---- acceptance: delta mode -------------------------------------------------------------------

def test_delta_mode_at_1mA_reads_the_resistance_while_a_dc_reading_carries_the_emf(world, k6221):
    hold(world, 150.0)
    expected = float(world.sample.resistance(150.0))
    meter = DeltaResistanceMeter(k6221, current_A=1e-3, readings=20)
    resistance = meter.resistance()
    assert resistance == pytest.approx(expected, abs=10 * NOISE_V / 1e-3)
    assert np.std(meter.last_run["reading"]) < 3 * NOISE_V  # nanovolt scatter, no drift left
    assert k6221.delta_armed is False and k6221.source_enabled is False  # aborted after the burst

    # a plain DC reading at the same current: offset by the thermal EMF of the leads
    k6221.source_current = 1e-3
    k6221.enable_source()
    assert world.source_current_A == pytest.approx(1e-3)
    k6221.nanovoltmeter.channel = 1
    dc_resistance = k6221.nanovoltmeter.voltage / 1e-3
    emf = world.thermoelectric_emf()
    assert emf > 0.5e-6
    assert dc_resistance - expected == pytest.approx(emf / 1e-3, abs=10 * NOISE_V / 1e-3)
    assert abs(dc_resistance - expected) > 50 * abs(resistance - expected)
    k6221.disable_source()
    assert world.source_current_A == 0.0
    assert errors(k6221) == []


def test_delta_readings_cancel_the_emf_drift_over_minutes(world, k6221):
    hold(world, 150.0)
    start_emf = world.thermoelectric_emf()
    meter = DeltaResistanceMeter(k6221, current_A=1e-3, readings=30, delay_s=5.0)  # ~2.5 min
    resistance = meter.resistance()
    assert world.thermoelectric_emf() - start_emf > 20 * NOISE_V  # the EMF did drift meanwhile
    assert resistance == pytest.approx(float(world.sample.resistance(150.0)), abs=10 * NOISE_V / 1e-3)
    readings = meter.last_run["reading"]
    assert np.polyfit(meter.last_run["timestamp"], readings, 1)[0] * 150 < NOISE_V  # no trend left


def test_delta_buffer_fills_in_virtual_time_and_reports_done_once(world, k6221):
    hold(world, 150.0)
    k6221.nanovoltmeter.nplc = 1
    k6221.delta_high_source = 1e-3
    assert k6221.delta_low_source == -1e-3  # HIGH sets LOW = -HIGH
    k6221.delta_delay = 0.1
    k6221.delta_cycles = 10
    k6221.buffer_points = 10
    k6221.delta_arm()
    assert k6221.delta_armed
    _ = k6221.operation_event
    k6221.start()
    cycle = 0.1 + 1 / 60
    assert k6221.buffer_points_actual == 0
    clocks.sleep(6.5 * cycle)  # readings are due at 3, 4, ... 12 cycles
    assert k6221.buffer_points_actual == 4
    assert k6221.operation_event & 2 == 0
    clocks.sleep(6 * cycle)
    assert k6221.buffer_points_actual == 10
    assert k6221.operation_event == 2
    assert k6221.operation_event == 0  # reading the event register cleared it
    data = k6221.read_buffer()
    assert np.diff(data["timestamp"]) == pytest.approx(np.full(9, cycle), rel=1e-6)
    assert k6221.buffer_data_type == "DELT"
    k6221.abort()
    assert not k6221.delta_armed


def test_an_endless_delta_run_fills_the_buffer_until_aborted(world, k6221):
    hold(world, 150.0)
    k6221.delta_cycles = "INF"
    assert k6221.delta_cycles == "INF"
    k6221.buffer_points = 5
    k6221.delta_arm()
    k6221.start()
    clocks.sleep(60.0)
    assert k6221.buffer_points_actual == 5  # the buffer is full, the run goes on
    assert k6221.operation_event == 0
    k6221.abort()
    assert not k6221.delta_armed and len(k6221.read_buffer()["reading"]) == 5


# ---- acceptance: pulsed I-V -----------------------------------------------------------------

def test_pulse_delta_sweep_at_60K_shows_no_voltage_below_ic_and_flux_flow_above(world, k6221):
    hold(world, 60.0)
    ic = world.sample.critical_current(60.0)
    assert 0.07 < ic < 0.076
    currents = np.linspace(0.05, 0.08, 16)
    start = clocks.current().now()
    iv = PulseDeltaSource(k6221).pulse_iv(currents, width_s=10e-3, period_s=2.0)
    assert clocks.current().now() - start >= 16 * 2.0  # one 10 ms pulse every 2 s
    assert iv[:, 0] == pytest.approx(currents)
    # a 10 ms pulse warms the sample by ~0.3 K, which lowers Ic by ~4 % (Ic falls ~15 %/K here)
    below, above = iv[currents < 0.95 * ic], iv[currents > 1.02 * ic]
    assert len(below) >= 9 and len(above) >= 2
    assert np.all(np.abs(below[:, 1]) < 10 * NOISE_V)
    assert np.all(above[:, 1] > 50e-6)
    model = [world.sample.four_probe_voltage(i, 60.0, duration_s=10e-3) for i in currents]
    assert iv[:, 1] == pytest.approx(model, rel=0.01, abs=10 * NOISE_V)
    assert errors(k6221) == []


def test_dc_current_heats_the_sample_where_a_pulse_does_not(world, k6221):
    hold(world, 60.0)
    pulsed = PulseDeltaSource(k6221).pulse_iv([0.065], width_s=10e-3, period_s=2.0)[0, 1]
    k6221.source_current = 0.065
    k6221.enable_source()
    k6221.nanovoltmeter.channel = 1
    dc = k6221.nanovoltmeter.voltage
    k6221.disable_source()
    assert abs(pulsed) < 10 * NOISE_V  # below Ic under a 10 ms pulse
    assert dc > 100e-6  # the same current as DC heats the sample out of the superconducting state


def test_pulse_above_the_80mA_ceiling_raises_before_any_write(world, k6221, monkeypatch):
    log = sent_commands(k6221, monkeypatch)
    with pytest.raises(LimitError, match=r"pulse current\[2\] = 0.085 A"):
        PulseDeltaSource(k6221).pulse_iv([0.07, 0.075, 0.085], width_s=10e-3, period_s=2.0)
    assert log == []


def test_fixed_pulse_train_uses_the_interval_in_line_cycles(world, k6221):
    hold(world, 60.0)
    k6221.pulse_sweep_enabled = False
    k6221.pulse_high_source = 0.01
    k6221.pulse_low_source = 0.0
    k6221.pulse_width = 1e-3
    k6221.pulse_source_delay = 0.5e-3
    k6221.pulse_interval = 60  # one pulse a second
    k6221.pulse_count = 5
    k6221.buffer_points = 5
    k6221.data_elements = ("READ", "TST", "SOUR")
    k6221.pulse_arm()
    assert k6221.pulse_armed and not k6221.delta_armed
    data = k6221.run_and_read(expected_s=5.0)
    k6221.abort()
    assert list(data["source_current"]) == [0.01] * 5
    assert np.diff(data["timestamp"]) == pytest.approx(np.ones(4))
    assert np.all(np.abs(data["reading"]) < 10 * NOISE_V)  # 10 mA at 60 K: superconducting


# ---- acceptance: differential conductance ----------------------------------------------------

def model_didv(sample, bias, delta, kelvin):
    up = np.array([sample.contact_voltage(b + delta, kelvin) for b in bias])
    down = np.array([sample.contact_voltage(b - delta, kelvin) for b in bias])
    return 2 * delta / (up - down)


def test_dcon_at_2K_shows_the_andreev_gap_structure_and_none_above_tc(world, k6221):
    delta = 20e-6
    role = DifferentialConductanceSource(k6221)  # 2182A channel 2: the point contact
    hold(world, 2.0)
    cold = role.differential_conductance(-4e-3, 4e-3, 0.2e-3, delta, 2e-3)
    bias, didv = cold["current_A"], cold["didv_S"]
    assert len(bias) == 41 and bias[20] == pytest.approx(0.0, abs=1e-12)
    assert didv == pytest.approx(model_didv(world.sample, bias, delta, 2.0), rel=1e-3)
    contact = world.sample.contact_voltage
    mean_of_up_and_down = [(contact(b + delta, 2.0) + contact(b - delta, 2.0)) / 2 for b in bias]
    average = cold["voltage_V"] - world.thermoelectric_emf()  # the average voltage keeps the EMF
    assert average == pytest.approx(mean_of_up_and_down, abs=10 * NOISE_V)
    # Andreev reflection: a zero-bias conductance peak, well above the conductance at large bias
    gap_V = world.sample.gap(2.0) * 1e-3
    in_gap = np.abs(cold["voltage_V"]) < 1.5 * gap_V
    large_bias = didv[[0, -1]].mean()
    assert didv[in_gap].max() > 1.3 * large_bias
    assert didv[20] > 1.3 * large_bias

    hold(world, 120.0)  # normal state: no gap, a flat conductance
    warm = role.differential_conductance(-4e-3, 4e-3, 0.2e-3, delta, 2e-3)["didv_S"]
    assert np.ptp(warm) / warm.mean() < 0.05
    assert errors(k6221) == []


# ---- buffer, limits and faults ---------------------------------------------------------------

def test_large_buffers_are_read_in_slices_and_65537_points_are_refused(world, k6221, monkeypatch):
    hold(world, 150.0)
    k6221.nanovoltmeter.nplc = 0.01
    k6221.delta_high_source = 1e-3
    k6221.delta_delay = 1e-3
    k6221.delta_cycles = 1200
    k6221.buffer_points = 1200
    k6221.delta_arm()
    log = sent_commands(k6221, monkeypatch)
    data = k6221.run_and_read(expected_s=1.5, slice_size=500)
    assert [c for c in log if c.startswith("TRAC:DATA")] == [
        "TRAC:DATA:SEL? 0,500", "TRAC:DATA:SEL? 500,500", "TRAC:DATA:SEL? 1000,200"]
    assert len(data["reading"]) == 1200
    assert np.median(data["reading"]) / 1e-3 == pytest.approx(float(world.sample.resistance(150.0)), rel=1e-3)
    k6221.abort()

    with pytest.raises(ValueError):
        k6221.buffer_points = 65537
    k6221.write("TRAC:POIN 65537")  # the instrument itself refuses it too
    assert errors(k6221) == [-222]
    assert k6221.buffer_points == 1200
    k6221.write("TRAC:DATA:SEL? 1100,200")  # beyond the stored readings
    assert errors(k6221) == [-222]


def test_a_timeout_fault_raises_a_visa_error_instead_of_hanging(world, k6221):
    world.faults.add(sim.Fault("keithley6221", "timeout", count=1))
    with pytest.raises(pyvisa.errors.VisaIOError) as failure:
        _ = k6221.source_current
    assert failure.value.error_code == pyvisa.constants.StatusCode.error_timeout
    assert k6221.source_current == 0.0  # healed after one command


# ---- the twin's grammar and state ------------------------------------------------------------

def test_unknown_commands_bad_values_and_conflicts_reach_the_error_queue(world, k6221):
    k6221.write("SOUR:CURRENT 0.001")
    assert errors(k6221) == [-113]
    k6221.write("SOUR:CURR 0.2")
    k6221.write("SOUR:PDEL:WIDT 0.02")
    k6221.write("FORM:ELEM READ,VOLT")
    k6221.write('SYST:COMM:SER:SEND "SENS:CHAN 3"')
    assert errors(k6221) == [-222] * 4
    assert k6221.source_current == 0.0 and k6221.pulse_width == pytest.approx(110e-6)
    k6221.start()  # nothing armed
    assert errors(k6221) == [-221]


def test_arming_one_mode_disarms_the_others_and_abort_returns_idle(world, k6221):
    k6221.delta_arm()
    k6221.dcon_arm()
    assert (k6221.delta_armed, k6221.pulse_armed, k6221.dcon_armed) == (False, False, True)
    k6221.pulse_arm()
    assert (k6221.delta_armed, k6221.pulse_armed, k6221.dcon_armed) == (False, True, False)
    k6221.start()
    assert k6221.source_enabled
    k6221.abort()
    assert (k6221.delta_armed, k6221.pulse_armed, k6221.dcon_armed, k6221.source_enabled) == (False,) * 4
    k6221.pulse_source_delay = 1e-3  # not shorter than the 110 us default width: refused at arming
    k6221.pulse_arm()
    assert errors(k6221) == [-221] and not k6221.pulse_armed


def test_elements_and_units_shape_the_replies(world, k6221):
    hold(world, 150.0)
    resistance = float(world.sample.resistance(150.0))
    k6221.nanovoltmeter.nplc = 0.01
    k6221.delta_high_source = 1e-3
    k6221.delta_cycles = 3
    k6221.buffer_points = 3
    k6221.data_elements = "ALL"
    assert k6221.data_elements == ("READ", "TST", "UNIT", "RNUM", "SOUR", "COMP", "AVOL")
    k6221.delta_unit = "Ohms"
    k6221.delta_arm()
    data = k6221.run_and_read(expected_s=0.05)
    assert data["reading"] == pytest.approx([resistance] * 3, abs=1e-5)
    assert list(data["unit"]) == ["OHM"] * 3 and list(data["reading_number"]) == [0, 1, 2]
    assert list(data["source_current"]) == [1e-3] * 3 and list(data["compliance"]) == [0, 0, 0]
    assert len(k6221.values("TRAC:DATA?")) == 3 * 7
    k6221.delta_unit = "Siemens"
    k6221.data_elements = ("TST", "READ")  # listed out of order: the reply keeps the fixed order
    assert k6221.data_elements == ("READ", "TST")
    siemens = k6221.run_and_read(expected_s=0.05)["reading"]
    assert siemens == pytest.approx([1 / resistance] * 3, rel=1e-3)
    k6221.abort()


def test_dc_output_drives_the_world_and_compliance_limits_it(world, k6221):
    hold(world, 150.0)
    k6221.source_current = 0.02
    assert world.source_current_A == 0.0  # output still off
    k6221.enable_source()
    assert world.source_current_A == pytest.approx(0.02)
    k6221.source_compliance = 0.1  # 0.1 V across ~10 ohm of leads: about 10 mA at most
    ohms = world.sample.lead_resistance_ohm + float(world.sample.resistance(150.0))
    assert world.source_current_A == pytest.approx(0.1 / ohms)
    k6221.clear_source()
    assert world.source_current_A == 0.0 and k6221.source_enabled is False
    k6221.source_range = 0.01
    assert k6221.source_auto_range is False  # a fixed range turns auto range off


def test_the_2182A_ignores_the_link_until_its_reset_is_over(world, k6221):
    k6221.nanovoltmeter.channel = 2
    k6221.write('SYST:COMM:SER:SEND "*RST"')
    k6221.nanovoltmeter.channel = 2  # lost: the 2182A is still resetting
    clocks.sleep(3.0)
    assert k6221.nanovoltmeter.channel == 1
    k6221.nanovoltmeter.reset()  # the driver waits on the clock
    k6221.nanovoltmeter.channel = 2
    assert k6221.nanovoltmeter.channel == 2
    assert "2182A" in k6221.nanovoltmeter.identification


def test_v_zero_reads_the_emf_and_the_lan_socket_answers(world, k6221):
    hold(world, 150.0)
    assert k6221.dcon_voltage_zero == pytest.approx(world.thermoelectric_emf(), abs=10 * NOISE_V)
    lan = Keithley6221("TCPIP0::192.168.1.62::1394::SOCKET",
                       visa_library=f"{sim.sim_config('keithley6221.yaml')}@sim", timeout=200)
    assert "MODEL 6221" in lan.id and lan.delta_connected
    lan.adapter.close()
