"""The Lakeshore 370 driver against its twin, end to end through pyvisa, checked against the model."""

import pytest
import pyvisa

from daclab import clock as clocks
from daclab import sim
from daclab.instruments.ieee488 import StandardEvent
from daclab.instruments.lakeshore370 import (
    BridgeReadingError, ExcitationMode, Lakeshore370, Lakeshore370ResistanceMeter, ReadingStatus,
    excitation_current, excitation_voltage, resistance_range,
)
from daclab.sim.twins.lakeshore370 import ruox_ohms
from sim_helpers import hold, model_reading, noise_ohm


@pytest.fixture
def bridge(world):
    instrument = Lakeshore370("ASRL5::INSTR", visa_library=f"{sim.sim_config('lakeshore370.yaml')}@sim", timeout=200)
    yield instrument
    instrument.adapter.close()


def test_the_driver_passes_the_serial_settings(bridge):
    connection = bridge.adapter.connection
    assert (connection.baud_rate, connection.data_bits) == (9600, 7)
    assert connection.parity == pyvisa.constants.Parity.odd
    assert bridge.id.startswith("LSCI,MODEL370")


@pytest.mark.parametrize("kelvin", [150.0, 50.0])
def test_sample_channel_reads_the_sample_at_316_uA(world, bridge, kelvin):
    hold(world, kelvin)
    meter = Lakeshore370ResistanceMeter(bridge, channel=1)
    assert meter.set_excitation(316e-6) == pytest.approx(excitation_current(18))
    reading = meter.resistance()
    expected = world.sample_resistance()
    assert reading == pytest.approx(expected, abs=5 * noise_ohm(world, excitation_current(18)))
    if kelvin > world.sample.tc_K:
        assert reading > 0.05  # the normal state, far above the noise
    else:
        assert expected < 1e-12  # zero resistance below Tc: the reading is noise only
    assert bridge.ch_1.kelvin == 0.0 and bridge.ch_1.reading_status & ReadingStatus.T_UNDER  # no curve


def test_too_large_an_excitation_heats_the_sample_as_the_model_says(world, bridge):
    hold(world, 97.0)  # inside the zero-field transition (midpoint 99 K)
    meter = Lakeshore370ResistanceMeter(bridge)
    small, large = excitation_current(18), excitation_current(22)  # 316 uA, 31.6 mA
    meter.set_excitation(small)
    gentle = meter.resistance()
    meter.set_excitation(large)
    hot = meter.resistance()
    temperature, field, days = world.sample_conditions()
    assert world.sample.heating(large, temperature, field, days, None) > 1.0  # kelvin of Joule heating
    assert hot == pytest.approx(model_reading(world, large), abs=5 * noise_ohm(world, large))
    assert hot - gentle > 100 * noise_ohm(world, small)  # the heated sample reads higher
    assert bridge.ch_1.excitation_power == pytest.approx(large ** 2 * hot, rel=1e-3)


def test_stop_leaves_noise_only(world, bridge):
    hold(world, 150.0)
    meter = Lakeshore370ResistanceMeter(bridge)
    meter.set_excitation(316e-6)
    meter.stop()
    assert bridge.ch_1.reading_range.excitation_off == 1
    clocks.sleep(bridge.ch_1.settle_time_s())
    assert abs(bridge.ch_1.resistance) < 5 * noise_ohm(world, excitation_current(18))
    assert bridge.ch_1.excitation_power == 0.0


def test_voltage_excitation_drives_voltage_over_the_range(world, bridge):
    hold(world, 150.0)
    bridge.ch_1.reading_range = (ExcitationMode.VOLTAGE, 7, 5, 0, 0)  # 2 mV over the 200 mohm range: 10 mA
    clocks.sleep(bridge.ch_1.settle_time_s())
    current = excitation_voltage(7) / resistance_range(5)
    reading = bridge.ch_1.resistance
    assert reading == pytest.approx(model_reading(world, current), abs=5 * noise_ohm(world, current))
    assert bridge.ch_1.excitation_power == pytest.approx(current ** 2 * reading, rel=1e-3)


def test_autorange_and_over_range(world, bridge):
    hold(world, 150.0)
    bridge.ch_1.reading_range = (1, 18, 1, 0, 0)  # 2 mohm range holds no 70 mohm sample
    clocks.sleep(bridge.ch_1.settle_time_s())
    assert bridge.ch_1.reading_status & ReadingStatus.R_OVER
    with pytest.raises(BridgeReadingError):
        Lakeshore370ResistanceMeter(bridge).resistance()
    bridge.ch_1.reading_range = (1, 18, 1, 1, 0)
    clocks.sleep(bridge.ch_1.settle_time_s())
    assert not bridge.ch_1.reading_status & ReadingStatus.R_OVER
    assert bridge.ch_1.reading_range.range == 5  # 200 mohm: the smallest that holds ~70 mohm


def test_thermometer_channel_and_scanner_settling(world, bridge):
    hold(world, 150.0)
    bridge.ch_2.filter = (1, 5, 2)
    bridge.scanner = (2, 0)
    assert bridge.ch_2.kelvin == 0.0  # not measured yet: the pause and the filter settle are running
    clocks.sleep(3 + 5 - 0.5)
    assert bridge.ch_2.kelvin == 0.0
    clocks.sleep(1.0)
    kelvin = bridge.ch_2.kelvin
    assert kelvin == pytest.approx(world.stage_temperature(), abs=0.01)
    assert bridge.ch_2.resistance == pytest.approx(ruox_ohms(world.stage_temperature()), rel=1e-3)
    assert bridge.ch_2.reading_status == 0
    # the role goes back to the sample channel and waits channel 1's pause (3 s) + 1 s
    start = world.clock.now()
    Lakeshore370ResistanceMeter(bridge, channel=1).resistance()
    assert world.clock.now() - start == pytest.approx(4.0)
    assert bridge.scanner.channel == 1


def test_channels_without_a_sensor_flag_an_overload(world, bridge):
    bridge.scanner = (7, 0)
    clocks.sleep(bridge.ch_7.settle_time_s())
    assert bridge.ch_7.resistance == 0.0
    assert bridge.ch_7.reading_status & ReadingStatus.CS_OVERLOAD
    assert bridge.ch_9.reading_status & ReadingStatus.CS_OVERLOAD  # never scanned


def test_the_control_loop_is_kept_and_read_back_but_heats_nothing(world, bridge):
    hold(world, 150.0)
    bridge.scanner = (2, 0)
    clocks.sleep(bridge.ch_2.settle_time_s())
    bridge.control_setup = (2, 0, 1, 10, 1, 8, 100.0)
    bridge.pid = (10, 20, 0)
    bridge.heater_range = 5
    bridge.control_mode = "pid"
    bridge.setpoint = 151.0
    assert bridge.heater_output == pytest.approx(10 * (151.0 - world.stage_temperature()), abs=0.2)
    bridge.setpoint = 100.0
    assert bridge.heater_output == 0.0
    bridge.control_mode, bridge.manual_output = "open_loop", 42
    assert bridge.heater_output == 42.0
    bridge.heater_range = 0
    assert bridge.heater_output == 0.0
    assert bridge.heater_status == 0
    # full open-loop output with the 350 off: the stage still cools (the 370's heater is not wired)
    bridge.heater_range, bridge.manual_output = 8, 100
    world.stage.loops[1].heater_range = 0
    clocks.sleep(600)
    assert world.stage_temperature() < 140.0


def test_setpoint_ramps_on_the_virtual_clock(world, bridge):
    bridge.setpoint = 10.0
    bridge.ramp = (1, 1.0)
    bridge.setpoint = 20.0
    assert bridge.ramp_active
    clocks.sleep(5 * 60)
    assert bridge.setpoint == pytest.approx(15.0)
    clocks.sleep(6 * 60)
    assert bridge.setpoint == 20.0 and not bridge.ramp_active
    assert bridge.ramp == (1, 1.0)


@pytest.mark.parametrize("command, query, unchanged", [
    ("HTRRNG 9", "HTRRNG?", "0"),
    ("CMODE 5", "CMODE?", "4"),
    ("SETP -1", "SETP?", "+0.0000E+00"),
    ("MOUT 120", "MOUT?", "+0.0000E+00"),
    ("STILL 101", "STILL?", "+00.00"),
    ("PID 5000,20,0", "PID?", "+10.000,+20.0,+0.0"),
    ("RAMP 1,20", "RAMP?", "0,0.100"),
    ("SCAN 17,0", "SCAN?", "01,0"),
    ("RDGRNG 1,1,23,5,0,0", "RDGRNG? 1", "0,03,13,0,0"),
    ("RDGRNG 1,0,13,5,0,0", "RDGRNG? 1", "0,03,13,0,0"),  # voltage index above 12
    ("INSET 1,1,10,2,0,2", "INSET? 1", "1,010,003,00,2"),
    ("FILTER 1,1,10,90", "FILTER? 1", "0,010,02"),
    ("CSET 17,0,1,10,1,8,100", "CSET?", "02,0,1,010,1,8,+1.0000E+02"),
])
def test_out_of_range_values_set_the_execution_error_bit_and_change_nothing(world, bridge, command, query, unchanged):
    bridge.standard_event_status  # clear
    bridge.write(command)
    assert bridge.standard_event_status & StandardEvent.EXECUTION_ERROR
    assert bridge.ask(query) == unchanged
    assert bridge.standard_event_status == 0


def test_unknown_commands_set_the_command_error_bit_and_unknown_queries_get_no_reply(world, bridge):
    bridge.write("FREQ 17")
    assert bridge.check_errors() == [StandardEvent.COMMAND_ERROR]
    with pytest.raises(pyvisa.errors.VisaIOError):
        bridge.ask("RDGR? 17")


def test_reset_restores_the_power_on_settings(world, bridge):
    bridge.ch_1.reading_range = (1, 18, 5, 0, 0)
    bridge.heater_range = 3
    bridge.reset()
    assert bridge.ch_1.reading_range == (0, 3, 13, 0, 0)
    assert bridge.heater_range == 0
