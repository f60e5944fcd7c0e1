"""Lake Shore 350 driver: every command it sends, in the manual's syntax (no instrument needed)."""

import pytest
from pymeasure.test import expected_protocol

from daclab.instruments.lakeshore350 import (
    PID, EventStatus, HeaterSetup, HeaterStatus, InputType, InputUnits, LakeShore350, OutputMode,
    OutputModeSetting, Ramp, ReadingStatus, SensorType,
)
from daclab.limits import LimitError, SoftwareLimits
from daclab.roles import TemperatureController


# ---- properties: (channel, attribute, value, comm pairs) -------------------------------------

SETTINGS = [
    ("input_A", "input_type", (3, 1, 0, 1, 1, 1), [("INTYPE A,3,1,0,1,1,1", None)]),
    ("input_B", "input_type", InputType(SensorType.DIODE, False, 1, False, InputUnits.SENSOR, 0),
     [("INTYPE B,1,0,1,0,3,0", None)]),
    ("output_1", "setpoint", 280, [("SETP 1,280", None)]),
    ("output_4", "setpoint", 12.345, [("SETP 4,12.345", None)]),
    ("output_1", "ramp", (True, 0.5), [("RAMP 1,1,0.5", None)]),
    ("output_2", "ramp", Ramp(False, 0), [("RAMP 2,0,0", None)]),
    ("output_3", "ramp", (1, 100), [("RAMP 3,1,100", None)]),
    ("output_1", "ramp", (1, 0.001), [("RAMP 1,1,0.001", None)]),
    ("output_1", "heater_range", 0, [("RANGE 1,0", None)]),
    ("output_1", "heater_range", 4, [("RANGE 1,4", None)]),
    ("output_1", "heater_range", 5, [("RANGE 1,5", None)]),
    ("output_2", "heater_range", 5, [("RANGE 2,5", None)]),
    ("output_3", "heater_range", 1, [("RANGE 3,1", None)]),
    ("output_4", "heater_range", 0, [("RANGE 4,0", None)]),
    ("output_1", "pid", (50, 20, 0), [("PID 1,50,20,0", None)]),
    ("output_2", "pid", PID(0.1, 1000, 200), [("PID 2,0.1,1000,200", None)]),
    ("output_1", "manual_output", 12.5, [("MOUT 1,12.5", None)]),
    ("output_3", "manual_output", 100, [("MOUT 3,100", None)]),
    ("output_1", "output_mode", (OutputMode.CLOSED_LOOP, 1, False), [("OUTMODE 1,1,1,0", None)]),
    ("output_2", "output_mode", OutputModeSetting(OutputMode.OPEN_LOOP, 0, True), [("OUTMODE 2,3,0,1", None)]),
    ("output_1", "heater_setup", (1, 4, 0, 2), [("HTRSET 1,1,4,0,2", None)]),
    ("output_2", "heater_setup", HeaterSetup(2, 0, 0.5, 1), [("HTRSET 2,2,0,0.5,1", None)]),
]


@pytest.mark.parametrize("channel, attribute, value, comm", SETTINGS)
def test_settings_are_written_in_the_manuals_syntax(channel, attribute, value, comm):
    with expected_protocol(LakeShore350, comm) as ls:
        setattr(getattr(ls, channel), attribute, value)


READINGS = [
    ("input_A", "kelvin", [("KRDG? A", "+273.150")], 273.15),
    ("input_B", "celsius", [("CRDG? B", "-200.000")], -200.0),
    ("input_C", "sensor", [("SRDG? C", "+1234.56")], 1234.56),
    ("input_A", "reading_status", [("RDGST? A", "000")], ReadingStatus(0)),
    ("input_D", "input_type", [("INTYPE? D", "3,1,0,1,1,1")],
     InputType(SensorType.NTC_RTD, True, 0, True, InputUnits.KELVIN, 1)),
    ("output_1", "setpoint", [("SETP? 1", "+280.0000")], 280.0),
    ("output_1", "ramp", [("RAMP? 1", "1,0.500")], Ramp(True, 0.5)),
    ("output_4", "ramp", [("RAMP? 4", "0,0.000")], Ramp(False, 0.0)),
    ("output_1", "ramp_active", [("RAMPST? 1", "1")], True),
    ("output_2", "ramp_active", [("RAMPST? 2", "0")], False),
    ("output_1", "heater_range", [("RANGE? 1", "5")], 5),
    ("output_3", "heater_range", [("RANGE? 3", "1")], 1),
    ("output_1", "heater_output", [("HTR? 1", "+042.5")], 42.5),
    ("output_1", "pid", [("PID? 1", "+50.0,+20.0,+0")], PID(50.0, 20.0, 0.0)),
    ("output_2", "manual_output", [("MOUT? 2", "+012.50")], 12.5),
    ("output_1", "output_mode", [("OUTMODE? 1", "1,1,0")], OutputModeSetting(OutputMode.CLOSED_LOOP, 1, False)),
    ("output_1", "heater_setup", [("HTRSET? 1", "1,4,+0.000,2")], HeaterSetup(1, 4, 0.0, 2)),
    ("output_2", "heater_status", [("HTRST? 2", "0")], HeaterStatus.NO_ERROR),
]


@pytest.mark.parametrize("channel, attribute, comm, expected", READINGS)
def test_queries_are_sent_in_the_manuals_syntax_and_decoded(channel, attribute, comm, expected):
    with expected_protocol(LakeShore350, comm) as ls:
        assert getattr(getattr(ls, channel), attribute) == expected


def test_reading_status_is_decoded_into_named_flags():
    with expected_protocol(LakeShore350, [("RDGST? A", "049"), ("RDGST? B", "192")]) as ls:
        status = ls.input_A.reading_status
        assert status == (ReadingStatus.INVALID_READING | ReadingStatus.TEMPERATURE_UNDERRANGE
                          | ReadingStatus.TEMPERATURE_OVERRANGE)
        assert ReadingStatus.SENSOR_UNITS_ZERO not in status
        assert ls.input_B.reading_status == ReadingStatus.SENSOR_UNITS_ZERO | ReadingStatus.SENSOR_UNITS_OVERRANGE


def test_heater_status_names_open_load_and_short():
    with expected_protocol(LakeShore350, [("HTRST? 1", "1"), ("HTRST? 1", "2")]) as ls:
        assert ls.output_1.heater_status is HeaterStatus.OPEN_LOAD
        assert ls.output_1.heater_status is HeaterStatus.SHORT


REFUSED = [
    ("output_1", "heater_range", 6),
    ("output_2", "heater_range", -1),
    ("output_3", "heater_range", 2),  # analog outputs: off or on
    ("output_1", "ramp", (1, 0.0005)),
    ("output_1", "ramp", (1, 101)),
    ("output_1", "ramp", (2, 1)),
    ("output_1", "ramp", 0.5),  # not a (enable, rate) pair
    ("output_1", "pid", (0.05, 20, 0)),
    ("output_1", "pid", (50, 20, 201)),
    ("output_1", "manual_output", 100.5),
    ("output_1", "output_mode", (6, 1, 0)),
    ("output_1", "output_mode", (1, 9, 0)),
    ("output_1", "heater_setup", (3, 4, 0, 1)),
    ("output_1", "heater_setup", (1, 5, 0, 1)),
    ("input_A", "input_type", (3, 1, 9, 1, 1, 1)),
    ("input_A", "input_type", (3, 1, 0, 1, 4, 1)),
    ("input_A", "input_type", (3, 1, 0, 1, 1)),
]


@pytest.mark.parametrize("channel, attribute, value", REFUSED)
def test_values_outside_the_hardware_range_are_refused_before_writing(channel, attribute, value):
    with expected_protocol(LakeShore350, []) as ls:
        with pytest.raises(ValueError):
            setattr(getattr(ls, channel), attribute, value)


def test_refusal_names_the_field_and_what_is_allowed():
    with expected_protocol(LakeShore350, []) as ls:
        with pytest.raises(ValueError, match=r"ramp rate K/min = 500 is not allowed; allowed: \[0.001, 100\] or 0"):
            ls.output_1.ramp = (1, 500)


def test_common_commands_and_error_register():
    comm = [("*IDN?", "LSCI,MODEL350,LSA1B2C/1234567,2.4"), ("*RST", None), ("*CLS", None),
            ("*ESR?", "48"), ("*ESR?", "0")]
    with expected_protocol(LakeShore350, comm) as ls:
        assert ls.id == "LSCI,MODEL350,LSA1B2C/1234567,2.4"
        ls.reset()
        ls.clear()
        assert ls.check_errors() == [EventStatus.COMMAND_ERROR, EventStatus.EXECUTION_ERROR]
        assert ls.check_errors() == []


# ---- the TemperatureController role -------------------------------------------------------------


def test_the_driver_implements_the_temperature_controller_role():
    with expected_protocol(LakeShore350, []) as ls:
        assert isinstance(ls, TemperatureController)


def test_temperature_reads_the_control_input():
    with expected_protocol(LakeShore350, [("KRDG? B", "+077.350")], control_input="B") as ls:
        assert ls.temperature() == 77.35


def test_ramped_setpoint_with_the_heater_on():
    comm = [("RANGE? 1", "5"), ("RAMP 1,1,0.5", None), ("SETP 1,280", None)]
    with expected_protocol(LakeShore350, comm) as ls:
        ls.set_setpoint(280, rate_K_per_min=0.5)


def test_stepped_setpoint_turns_a_running_ramp_off():
    comm = [("RANGE? 2", "3"), ("RAMP 2,0,0", None), ("SETP 2,150", None)]
    with expected_protocol(LakeShore350, comm, control_output=2) as ls:
        ls.set_setpoint(150)


def test_a_ramp_after_heater_off_starts_from_the_present_temperature():
    comm = [("RANGE? 1", "0"), ("RAMP 1,0,0", None), ("KRDG? A", "+250.000"), ("SETP 1,250", None),
            ("RANGE 1,4", None), ("RAMP 1,1,2", None), ("SETP 1,10", None)]
    with expected_protocol(LakeShore350, comm, default_heater_range=4) as ls:
        ls.set_setpoint(10, rate_K_per_min=2)


def test_a_step_after_heater_off_sets_the_setpoint_before_heating():
    comm = [("RANGE? 1", "0"), ("RAMP 1,0,0", None), ("SETP 1,4.2", None), ("RANGE 1,5", None)]
    with expected_protocol(LakeShore350, comm) as ls:
        ls.set_setpoint(4.2)


@pytest.mark.parametrize("kelvin, rate, parameter, shown", [
    (350, None, "output 1 setpoint", "350 K is outside the allowed range [1.5, 320] K"),
    (1.0, 1.0, "output 1 setpoint", "1 K is outside the allowed range [1.5, 320] K"),
    (200, 20, "output 1 ramp rate", "20 K/min is outside the allowed range [0, 10] K/min"),
    (200, -1, "output 1 ramp rate", "-1 K/min is outside the allowed range [0, 10] K/min"),
])
def test_setpoint_beyond_the_software_limits_raises_and_writes_nothing(kelvin, rate, parameter, shown):
    with expected_protocol(LakeShore350, []) as ls:
        with pytest.raises(LimitError) as error:
            ls.set_setpoint(kelvin, rate_K_per_min=rate)
    assert str(error.value) == f"{parameter} = {shown}"


def test_limits_are_those_given_to_the_driver():
    limits = SoftwareLimits(max_temperature_K=200)
    with expected_protocol(LakeShore350, [], limits=limits) as ls:
        with pytest.raises(LimitError, match=r"output 1 setpoint = 250 K is outside the allowed range \[1.5, 200\] K"):
            ls.set_setpoint(250)


def test_ramp_rate_beyond_the_hardware_is_refused_before_writing():
    limits = SoftwareLimits(max_temperature_rate_K_per_min=1000)
    with expected_protocol(LakeShore350, [], limits=limits) as ls:
        with pytest.raises(ValueError, match="ramp rate K/min = 200"):
            ls.set_setpoint(100, rate_K_per_min=200)


def test_ramp_done_and_heater_off():
    comm = [("RAMPST? 1", "1"), ("RAMPST? 1", "0"), ("RANGE 1,0", None)]
    with expected_protocol(LakeShore350, comm) as ls:
        assert ls.ramp_done() is False
        assert ls.ramp_done() is True
        ls.heater_off()


@pytest.mark.parametrize("kwargs, message", [
    ({"control_input": "E"}, "control_input = 'E'"),
    ({"control_output": 3}, "control_output = 3"),
    ({"default_heater_range": 6}, "default_heater_range = 6"),
])
def test_role_settings_are_checked_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        with expected_protocol(LakeShore350, [], **kwargs):
            pass


# ---- waiting for a stable temperature on the clock ------------------------------------------


def test_wait_for_temperature_needs_readings_within_tolerance_for_the_stable_time(virtual_clock):
    readings = ["+279.000", "+279.950", "+280.030", "+279.500", "+280.010", "+279.990", "+280.000"]
    comm = [("KRDG? A", r) for r in readings]
    with expected_protocol(LakeShore350, comm) as ls:
        assert ls.wait_for_temperature(280, tolerance_K=0.05, stable_s=20, timeout_s=600, poll_s=10) is True
    # settled from the 5th reading (t = 40 s) for 20 s: the 7th reading at t = 60 s
    assert virtual_clock.now() == 60


def test_wait_for_temperature_times_out_clearly(virtual_clock):
    comm = [("KRDG? A", "+010.000")] * 4 + [("HTR? 1", "+100.0"), ("SETP? 1", "+280.0000"), ("RANGE? 1", "1")]
    with expected_protocol(LakeShore350, comm) as ls:
        with pytest.raises(TimeoutError) as error:
            ls.wait_for_temperature(280, tolerance_K=0.1, stable_s=10, timeout_s=30, poll_s=10)
    message = str(error.value)
    assert "did not hold 280 K +- 0.1 K for 10 s within 30 s" in message
    assert "last reading 10.000 K" in message and "heater range 1" in message
    assert "range is too low" in message
    assert virtual_clock.now() == 30


def test_wait_for_temperature_stops_when_asked(virtual_clock):
    with expected_protocol(LakeShore350, [("KRDG? A", "+100.000")]) as ls:
        assert ls.wait_for_temperature(280, 0.1, 10, 600, should_stop=lambda: True) is False
    assert virtual_clock.now() == 0


def test_input_channel_wait_goes_through_the_clock(virtual_clock):
    comm = [("KRDG? B", "+004.200")] * 3
    with expected_protocol(LakeShore350, comm) as ls:
        assert ls.input_B.wait_for_temperature(4.2, tolerance_K=0.01, stable_s=4, timeout_s=60, poll_s=2) is True
        with pytest.raises(ValueError, match="tolerance_K = 0"):
            ls.input_B.wait_for_temperature(4.2, tolerance_K=0, stable_s=4, timeout_s=60)
    assert virtual_clock.now() == 4
