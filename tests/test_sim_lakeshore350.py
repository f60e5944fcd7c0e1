"""The Lake Shore 350 driver against its twin in the virtual cryostat, end to end through pyvisa."""

import pytest
from pyvisa.constants import Parity

from daclab import clock as clocks
from daclab import sim
from daclab.instruments.lakeshore350 import (
    EventStatus, HeaterSetup, HeaterStatus, InputType, LakeShore350, OutputMode, OutputModeSetting, PID, Ramp,
    ReadingStatus, SensorType,
)
from daclab.limits import LimitError
from daclab.roles import TemperatureController


@pytest.fixture
def ls(world):
    driver = LakeShore350("ASRL3::INSTR", visa_library=f"{sim.sim_config('lakeshore350.yaml')}@sim", timeout=200)
    driver.clear()
    # Loop 1 regulates on input A, as in the cryostat's wiring.
    driver.output_1.output_mode = (OutputMode.CLOSED_LOOP, 1, False)
    driver.output_1.pid = (50, 20, 0)
    yield driver
    driver.adapter.close()


def test_the_connection_uses_the_manuals_serial_settings(ls):
    connection = ls.adapter.connection
    assert connection.read_termination == "\r\n" and connection.write_termination == "\r\n"
    assert (connection.baud_rate, connection.data_bits, connection.parity) == (57600, 7, Parity.odd)
    assert ls.id.startswith("LSCI,MODEL350")


def test_temperature_follows_a_ramped_setpoint_and_ramp_done_turns_true(world, ls):
    assert isinstance(ls, TemperatureController)
    start_K = ls.temperature()
    assert start_K == pytest.approx(world.stage_temperature(), abs=0.01)
    ls.set_setpoint(280, rate_K_per_min=0.5)
    assert ls.output_1.heater_range == 5  # the fresh world had the heater off: the role switched it on
    assert ls.output_1.ramp == Ramp(True, 0.5)
    assert ls.ramp_done() is False
    for minutes in (10, 20, 30):
        clocks.sleep(600)
        expected = start_K - 0.5 * minutes
        assert ls.output_1.setpoint == pytest.approx(expected, abs=0.01)
        assert ls.temperature() == pytest.approx(expected, abs=0.1)
        assert ls.ramp_done() is False
    clocks.sleep(15 * 60)
    assert ls.ramp_done() is True
    assert ls.temperature() == pytest.approx(280.0, abs=0.05)
    assert 0.0 < ls.output_1.heater_output < 100.0


def test_a_stepped_setpoint_is_reached_and_wait_for_temperature_returns(world, ls):
    ls.set_setpoint(250)
    assert ls.ramp_done() is True and ls.output_1.setpoint == 250.0
    start = world.clock.now()
    assert ls.wait_for_temperature(250, tolerance_K=0.05, stable_s=120, timeout_s=3600, poll_s=10) is True
    waited = world.clock.now() - start
    assert 120 <= waited < 3600
    assert world.stage_temperature() == pytest.approx(250, abs=0.05)


def test_wait_for_temperature_times_out_clearly_when_the_heater_range_is_too_low(world, ls):
    ls.output_1.heater_range = 1  # 7.5 mW cannot hold the stage anywhere near 280 K
    ls.set_setpoint(280)
    assert ls.output_1.heater_range == 1  # a range chosen by hand is left alone
    start = world.clock.now()
    with pytest.raises(TimeoutError) as error:
        ls.wait_for_temperature(280, tolerance_K=0.1, stable_s=60, timeout_s=1200, poll_s=20)
    assert world.clock.now() - start == pytest.approx(1200)
    message = str(error.value)
    assert "did not hold 280 K" in message and "heater range 1" in message and "range is too low" in message
    assert world.stage_temperature() < 270


def test_heater_off_leaves_range_zero_and_the_stage_cools(world, ls):
    ls.set_setpoint(290)
    clocks.sleep(600)
    ls.heater_off()
    assert ls.output_1.heater_range == 0 and world.stage.loops[1].heater_range == 0
    before = ls.temperature()
    clocks.sleep(1800)
    assert ls.temperature() < before - 10
    assert ls.output_1.heater_output == 0.0


def test_a_setpoint_beyond_the_limits_changes_nothing_in_the_instrument(world, ls):
    with pytest.raises(LimitError, match="output 1 setpoint = 400 K"):
        ls.set_setpoint(400, rate_K_per_min=1)
    assert ls.output_1.setpoint == pytest.approx(world.stage.loops[1].setpoint_K) == 300.0
    assert ls.output_1.ramp == Ramp(False, 0.0) and ls.output_1.heater_range == 0


def test_reading_status_and_input_type_through_the_twin(world, ls):
    assert ls.input_A.reading_status == ReadingStatus(0)
    assert ls.input_C.reading_status == ReadingStatus.INVALID_READING  # no sensor on C
    assert ls.input_B.reading_status == ReadingStatus(0)  # the cell body's thermometer reads the sample
    assert ls.input_B.kelvin == pytest.approx(world.sample_temperature(), abs=0.01)
    assert ls.input_A.input_type.sensor_type is SensorType.NTC_RTD
    assert ls.input_A.celsius == pytest.approx(ls.input_A.kelvin - 273.15, abs=0.02)
    ls.input_A.input_type = (SensorType.DISABLED, 0, 0, 0, 1, 0)
    assert ls.input_A.input_type == InputType(SensorType.DISABLED, False, 0, False, 1, 0)
    assert ReadingStatus.INVALID_READING in ls.input_A.reading_status
    assert ls.input_A.kelvin == 0.0
    ls.input_A.input_type = (3, 1, 0, 1, 1, 1)
    assert ls.input_A.kelvin == pytest.approx(world.stage_temperature(), abs=0.01)


def test_loop_settings_round_trip_and_reach_the_model(world, ls):
    ls.output_1.pid = PID(80, 30, 5)
    assert ls.output_1.pid == PID(80.0, 30.0, 5.0)
    assert (world.stage.loops[1].p, world.stage.loops[1].i, world.stage.loops[1].d) == (80, 30, 5)
    ls.output_2.output_mode = OutputModeSetting(OutputMode.OPEN_LOOP, 0, True)
    assert ls.output_2.output_mode == (OutputMode.OPEN_LOOP, 0, True)
    ls.output_2.manual_output = 25
    assert ls.output_2.manual_output == 25.0
    ls.output_1.heater_setup = HeaterSetup(2, 2, 0, 2)  # 50 ohm at 1 A: 50 W
    assert ls.output_1.heater_setup == HeaterSetup(2, 2, 0.0, 2)
    assert world.stage.loops[1].full_power_W == pytest.approx(50.0)
    ls.output_1.heater_range = 4  # ranges above pymeasure's 'high' (3) reach the instrument
    assert world.stage.loops[1].heater_range == 4


def test_analog_outputs_keep_their_settings(world, ls):
    ls.output_3.pid = (10, 5, 1)
    ls.output_3.ramp = (1, 2.5)
    ls.output_3.setpoint = 42
    ls.output_4.heater_range = 1
    assert ls.output_3.pid == PID(10.0, 5.0, 1.0) and ls.output_3.ramp == Ramp(True, 2.5)
    assert ls.output_3.setpoint == 42.0 and ls.output_3.ramp_active is False
    assert ls.output_4.heater_range == 1 and ls.output_3.heater_range == 0
    assert ls.check_errors() == []


def test_heater_status_reports_a_fault_from_the_twin(world, ls):
    assert ls.output_1.heater_status is HeaterStatus.NO_ERROR
    world.instrument_state["lakeshore350"]["heater_status"][1] = HeaterStatus.OPEN_LOAD
    assert ls.output_1.heater_status is HeaterStatus.OPEN_LOAD


def test_errors_of_raw_commands_show_in_check_errors(ls):
    ls.write("RANGE 1,7")
    assert ls.check_errors() == [EventStatus.EXECUTION_ERROR]
    ls.write("SETPOINT 1,10")
    ls.clear()
    assert ls.check_errors() == []
    ls.write("SETPOINT 1,10")
    assert ls.check_errors() == [EventStatus.COMMAND_ERROR]


def test_an_analog_outputs_pid_reads_back_in_the_manuals_format_not_as_written(ls350):
    """As outputs 1-2 do (the drivers' reply formats expect that layout); HTRSET? likewise, in
    test_sim_visa."""
    ls350.write("HTRSET 1,1,0,1.5,2")
    assert ls350.query("HTRSET? 1") == "1,0,+1.500,2"
    ls350.write("PID 3,50,20,0")
    assert ls350.query("PID? 3") == "+50.0,+20.0,+0"
