"""The standalone 2182A driver against its twin: it reads the sample of the virtual cryostat."""

import numpy as np
import pytest
import pyvisa

from daclab import clock as clocks
from daclab import sim
from daclab.instruments.keithley2182 import Keithley2182A, is_overflow

CURRENT_A = 1e-3


@pytest.fixture
def nv(world):
    driver = Keithley2182A("GPIB0::7::INSTR", visa_library=f"{sim.sim_config('keithley2182.yaml')}@sim", timeout=200)
    driver.reset()  # settings per world, and an empty error queue (the device outlives a test)
    yield driver
    driver.adapter.close()


def expected_four_probe(world, current_A):
    """Ohm's law on the model's resistance at the sample's temperature, plus the thermal EMF."""
    return current_A * float(world.sample.resistance(world.sample_temperature())) + world.thermoelectric_emf()


def test_reads_i_times_r_of_t_plus_thermal_emf_in_the_normal_state(world, nv):
    assert nv.id.startswith("KEITHLEY INSTRUMENTS INC.,MODEL 2182A")
    nv.ch_1.setup_voltage(auto_range=True, nplc=5)
    world.source_current_A = CURRENT_A
    for kelvin in (300.0, 150.0):  # both well above Tc ~ 99 K: normal state
        world.stage.stage_K = world.stage.sample_K = kelvin
        reading = nv.voltage
        assert reading == pytest.approx(expected_four_probe(world, CURRENT_A), abs=20e-9)
        assert reading - world.thermoelectric_emf() > 50e-6  # the sample's signal, not only the EMF
    assert nv.ch_1.voltage_range == 0.01  # autoranged to the 10 mV range


def test_reads_the_thermal_emf_alone_at_zero_current_and_follows_its_drift(world, nv):
    world.source_current_A = 0.0
    first = nv.voltage
    assert first == pytest.approx(world.thermoelectric_emf(), abs=20e-9)
    clocks.sleep(30 * 60)
    second = nv.voltage
    assert second == pytest.approx(world.thermoelectric_emf(), abs=20e-9)
    assert abs(second - first) > 100e-9


def test_channel_2_reads_the_contact_voltage(world, nv):
    world.source_current_A = CURRENT_A
    nv.ch_2.setup_voltage(auto_range=True, nplc=1)
    assert nv.active_channel == 2
    assert nv.voltage == pytest.approx(world.lead_signal(2, CURRENT_A) + world.thermoelectric_emf(), abs=50e-9)
    assert nv.ch_2.voltage_range == 0.1


def test_a_reading_beyond_a_fixed_range_is_the_overflow_value(world, nv):
    world.source_current_A = 10e-3  # ~0.27 V across the contact
    nv.active_channel = 2
    nv.ch_2.voltage_range = 0.1
    assert nv.ch_2.voltage_range_auto_enabled is False
    reading = nv.voltage
    assert reading == 9.9e37 and is_overflow(reading)
    nv.ch_2.voltage_range_auto_enabled = True
    contact = world.lead_signal(2, world.source_current_A)
    assert nv.voltage == pytest.approx(contact + world.thermoelectric_emf(), abs=50e-9)
    assert nv.ch_2.voltage_range == 1.0


def test_the_digital_filter_averages_the_noise(world, nv):
    world.source_current_A = 0.0
    nv.active_channel = 2  # same noise as channel 1, and a model signal cheaper to evaluate
    nv.voltage_digital_filter_enabled = False
    unfiltered = np.std([nv.voltage for _ in range(40)])
    nv.voltage_digital_filter_type = "repeat"
    nv.voltage_digital_filter_count = 100
    nv.voltage_digital_filter_enabled = True
    filtered = np.std([nv.voltage for _ in range(40)])
    assert unfiltered == pytest.approx(world.sample.noise_nV * 1e-9, rel=0.4)
    assert filtered < unfiltered / 4


def test_settings_round_trip_and_reset_restores_them(world, nv):
    nv.voltage_nplc = 1
    nv.voltage_digital_filter_window = 0.5
    nv.voltage_analog_filter_enabled = True
    nv.line_sync_enabled = True
    nv.front_autozero_enabled = False
    nv.auto_zero_enabled = False
    nv.trigger_source = "bus"
    nv.trigger_delay = 0.25
    assert (nv.voltage_nplc, nv.voltage_digital_filter_window) == (1.0, 0.5)
    assert nv.voltage_analog_filter_enabled and nv.line_sync_enabled
    assert not nv.front_autozero_enabled and not nv.auto_zero_enabled
    assert (nv.trigger_source, nv.trigger_delay) == ("bus", 0.25)
    assert nv.channel_function == "voltage"
    nv.reset()
    assert (nv.voltage_nplc, nv.trigger_source, nv.auto_zero_enabled) == (5.0, "immediate", True)


def test_trigger_count_readings_fetch_and_fresh_reading(world, nv):
    world.source_current_A = CURRENT_A
    nv.trigger_count = 3
    readings = nv.voltage
    assert len(readings) == 3
    assert readings == pytest.approx([expected_four_probe(world, CURRENT_A)] * 3, abs=20e-9)
    assert nv.latest_reading == readings  # FETC? returns them again without a new measurement
    nv.trigger_count = 1
    nv.initiate()
    fresh = nv.fresh_reading
    assert fresh == pytest.approx(expected_four_probe(world, CURRENT_A), abs=20e-9)
    with pytest.raises(pyvisa.errors.VisaIOError):  # not new any more: no reply ...
        nv.fresh_reading
    assert nv.next_error[0] == -230  # ... and the error says why


def test_fetch_before_any_reading_is_an_error(world, nv):
    with pytest.raises(pyvisa.errors.VisaIOError):
        nv.latest_reading
    assert [int(code) for code, _ in nv.check_errors()] == [-230]


def test_unknown_commands_and_out_of_range_values_land_in_the_error_queue(world, nv):
    nv.write(":SENS:VOLT:FILTER 1")
    assert nv.next_error == [-113, '"Undefined header"']
    nv.write(":SENS:VOLT:DFIL:COUN 500")  # beyond 100: refused by the instrument
    assert nv.next_error == [-222, '"Data out of range"']
    assert nv.voltage_digital_filter_count == 10
    assert nv.next_error == [0, '"No error"']
