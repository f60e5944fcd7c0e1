"""Lakeshore 370 driver: index tables, and every command against the manual's syntax (no instrument)."""

import math

import pytest
from pymeasure.test import expected_protocol

from daclab.instruments import lakeshore370 as ls
from daclab.instruments.ieee488 import StandardEvent
from daclab.instruments.lakeshore370 import Lakeshore370, Lakeshore370ResistanceMeter
from daclab.limits import LimitError, SoftwareLimits


# ---- index tables (values computed by hand from the printed tables) -------------------------

@pytest.mark.parametrize("index, amperes", [
    (1, 1.00e-12), (2, 3.162e-12), (13, 1.00e-6), (17, 100e-6), (18, 316.2e-6), (19, 1.00e-3), (22, 31.62e-3),
])
def test_current_excitation_table(index, amperes):
    assert ls.excitation_current(index) == pytest.approx(amperes, rel=1e-3)
    assert ls.excitation_current_index(amperes) == index


def test_paper_001_current_316_uA_is_index_18_not_17():
    # 1 pA x sqrt(10)^(i-1) with index 22 = 31.6 mA puts 316 uA at index 18; index 17 is 100 uA.
    assert ls.excitation_current_index(316e-6) == 18
    assert ls.excitation_current(18) == pytest.approx(316e-6, rel=1e-3)
    assert ls.excitation_current(17) == pytest.approx(100e-6, rel=1e-9)


@pytest.mark.parametrize("index, volts", [(1, 2.00e-6), (2, 6.325e-6), (3, 20e-6), (7, 2.00e-3), (12, 0.6325)])
def test_voltage_excitation_table(index, volts):
    assert ls.excitation_voltage(index) == pytest.approx(volts, rel=1e-3)
    assert ls.excitation_voltage_index(volts) == index


@pytest.mark.parametrize("index, ohms", [(1, 2.00e-3), (4, 63.25e-3), (5, 0.200), (7, 2.00), (13, 2000.0), (22, 63.25e6)])
def test_resistance_range_table(index, ohms):
    assert ls.resistance_range(index) == pytest.approx(ohms, rel=1e-3)
    assert ls.resistance_range_index(ohms) == index


def test_heater_ranges():
    assert ls.HEATER_RANGES_A[0] == 0.0
    assert ls.HEATER_RANGES_A[1] == pytest.approx(31.6e-6, rel=1e-3)
    assert ls.HEATER_RANGES_A[8] == pytest.approx(100e-3, rel=1e-9)


def test_nearest_index_on_a_log_scale():
    assert ls.excitation_current_index(150e-6) == 17  # 1.5x above 100 uA, 2.1x below 316 uA
    assert ls.excitation_current_index(200e-6) == 18
    assert ls.excitation_current_index(32.5e-3) == 22  # within the rounding of the printed top value


@pytest.mark.parametrize("convert, value", [
    (ls.excitation_current_index, 40e-3), (ls.excitation_current_index, 0.5e-12), (ls.excitation_current_index, 0.0),
    (ls.excitation_current_index, -1e-3), (ls.excitation_current_index, math.nan), (ls.excitation_current_index, "a"),
    (ls.excitation_voltage_index, 1.0), (ls.resistance_range_index, 1e8), (ls.resistance_range_index, 1e-3),
])
def test_values_off_the_table_are_refused(convert, value):
    with pytest.raises(LimitError, match="table|not a number"):
        convert(value)


@pytest.mark.parametrize("convert, index", [(ls.excitation_current, 23), (ls.excitation_current, 0),
                                            (ls.excitation_voltage, 13), (ls.resistance_range, 1.5)])
def test_indices_off_the_table_are_refused(convert, index):
    with pytest.raises(LimitError):
        convert(index)


# ---- channel commands -----------------------------------------------------------------------

def test_readings():
    with expected_protocol(Lakeshore370, [
        ("RDGR? 1", "+4.93000E-02"), ("RDGK? 2", "+1.50002E+02"), ("RDGPWR? 1", "+4.9300E-09"), ("RDGST? 16", "129"),
    ]) as bridge:
        assert bridge.ch_1.resistance == pytest.approx(0.0493)
        assert bridge.ch_2.kelvin == pytest.approx(150.002)
        assert bridge.ch_1.excitation_power == pytest.approx(4.93e-9)
        status = bridge.ch_16.reading_status
        assert status == ls.ReadingStatus.CS_OVERLOAD | ls.ReadingStatus.T_UNDER
        assert status & ls.RESISTANCE_INVALID


def test_reading_range_get_and_set():
    with expected_protocol(Lakeshore370, [
        ("RDGRNG? 1", "1,18,05,0,0"), ("RDGRNG 1,1,18,5,0,0", None), ("RDGRNG 3,0,12,13,1,1", None),
    ]) as bridge:
        assert bridge.ch_1.reading_range == ls.ReadingRange(1, 18, 5, 0, 0)
        bridge.ch_1.reading_range = (1, 18, 5, 0, 0)
        bridge.ch_3.reading_range = ls.ReadingRange(ls.ExcitationMode.VOLTAGE, 12, 13, 1, 1)


@pytest.mark.parametrize("fields", [(0, 13, 5, 0, 0), (1, 23, 5, 0, 0), (1, 18, 0, 0, 0), (2, 1, 1, 0, 0),
                                    (1, 18, 5, 2, 0), (1, 18.5, 5, 0, 0), (1, 18, 5, 0)])
def test_reading_range_refuses_bad_fields_without_writing(fields):
    with expected_protocol(Lakeshore370, []) as bridge:
        with pytest.raises(ValueError):
            bridge.ch_1.reading_range = fields


def test_input_setup_and_filter():
    with expected_protocol(Lakeshore370, [
        ("INSET? 1", "1,010,003,00,2"), ("INSET 3,1,10,3,0,2", None),
        ("FILTER? 1", "1,010,02"), ("FILTER 1,1,10,2", None),
    ]) as bridge:
        assert bridge.ch_1.input_setup == ls.InputSetup(1, 10, 3, 0, 2)
        bridge.ch_3.input_setup = (1, 10, 3, 0, 2)
        assert bridge.ch_1.filter == ls.FilterSetup(1, 10, 2)
        bridge.ch_1.filter = (1, 10, 2)
    with expected_protocol(Lakeshore370, []) as bridge:
        with pytest.raises(ValueError):
            bridge.ch_1.input_setup = (1, 10, 2, 0, 2)  # pause below 3 s
        with pytest.raises(ValueError):
            bridge.ch_1.filter = (1, 10, 90)  # window above 80 %


def test_channel_helpers():
    with expected_protocol(Lakeshore370, [
        ("RDGRNG? 1", "0,03,13,1,0"), ("RDGRNG 1,1,18,13,1,0", None),
        ("RDGRNG? 1", "1,18,05,0,0"), ("RDGRNG 1,1,18,5,0,1", None),
        ("INSET? 1", "1,010,003,00,2"), ("FILTER? 1", "1,010,02"),
        ("INSET? 2", "1,010,005,00,2"), ("FILTER? 2", "0,010,02"),
    ]) as bridge:
        assert bridge.ch_1.set_current_excitation(316e-6) == pytest.approx(316.2e-6, rel=1e-3)
        bridge.ch_1.set_excitation_off()
        assert bridge.ch_1.settle_time_s() == 13.0
        assert bridge.ch_2.settle_time_s() == 5.0


# ---- instrument commands --------------------------------------------------------------------

def test_scanner_identity_and_status():
    with expected_protocol(Lakeshore370, [
        ("*IDN?", "LSCI,MODEL370,370A5B/1234567,1.5"), ("SCAN?", "02,0"), ("SCAN 1,0", None),
        ("*ESR?", "48"), ("*ESR?", "32"), ("*CLS", None), ("*RST", None),
    ]) as bridge:
        assert bridge.id == "LSCI,MODEL370,370A5B/1234567,1.5"
        assert bridge.scanner == ls.Scanner(2, 0)
        bridge.scanner = (1, 0)
        assert bridge.standard_event_status == StandardEvent.COMMAND_ERROR | StandardEvent.EXECUTION_ERROR
        assert bridge.check_errors() == [StandardEvent.COMMAND_ERROR]
        bridge.clear()
        bridge.reset()
    with expected_protocol(Lakeshore370, []) as bridge:
        with pytest.raises(ValueError):
            bridge.scanner = (17, 0)


def test_control_loop_commands():
    with expected_protocol(Lakeshore370, [
        ("CSET 2,0,1,10,1,8,100", None), ("CSET?", "02,0,1,010,1,8,+1.0000E+02"),
        ("CMODE 1", None), ("CMODE?", "3"),
        ("HTRRNG 5", None), ("HTRRNG?", "5"),
        ("SETP 1.5", None), ("SETP?", "+1.5000E+00"),
        ("MOUT 42", None), ("MOUT?", "+4.2000E+01"),
        ("HTR?", "+1.2500E+01"), ("HTRST?", "0"),
        ("PID 10,20,0", None), ("PID?", "+10.000,+20.0,+0.0"),
        ("RAMP 1,0.1", None), ("RAMP?", "1,0.100"), ("RAMPST?", "1"),
        ("STILL 12.5", None), ("STILL?", "+12.50"),
    ]) as bridge:
        bridge.control_setup = (2, 0, 1, 10, 1, 8, 100.0)
        assert bridge.control_setup == ls.ControlSetup(2, 0, 1, 10, 1, 8, 100.0)
        bridge.control_mode = "pid"
        assert bridge.control_mode == "open_loop"
        bridge.heater_range = 5
        assert bridge.heater_range == 5
        bridge.setpoint = 1.5
        assert bridge.setpoint == 1.5
        bridge.manual_output = 42
        assert bridge.manual_output == 42.0
        assert bridge.heater_output == 12.5
        assert bridge.heater_status == 0
        bridge.pid = (10, 20, 0)
        assert bridge.pid == ls.PID(10.0, 20.0, 0.0)
        bridge.ramp = (1, 0.1)
        assert bridge.ramp == ls.Ramp(1, 0.1)
        assert bridge.ramp_active is True
        bridge.still_output = 12.5
        assert bridge.still_output == 12.5


@pytest.mark.parametrize("name, value", [
    ("heater_range", 9), ("control_mode", "warm"), ("setpoint", -1), ("manual_output", 120), ("still_output", 101),
    ("pid", (5000, 20, 0)), ("pid", (10, 20, 3000)), ("ramp", (1, 20)), ("ramp", (1, 0)),
    ("control_setup", (17, 0, 1, 10, 1, 8, 100)), ("control_setup", (2, 0, 3, 10, 1, 8, 100)),
])
def test_control_loop_refuses_out_of_range_values_without_writing(name, value):
    with expected_protocol(Lakeshore370, []) as bridge:
        with pytest.raises(ValueError):
            setattr(bridge, name, value)


# ---- role -----------------------------------------------------------------------------------

def test_role_reads_the_channel_already_scanned_without_waiting(virtual_clock):
    with expected_protocol(Lakeshore370, [("SCAN?", "01,0"), ("RDGR? 1", "+4.93000E-02"), ("RDGST? 1", "128")]) as bridge:
        assert Lakeshore370ResistanceMeter(bridge).resistance() == pytest.approx(0.0493)
    assert virtual_clock.now() == 0.0


def test_role_switches_the_scanner_and_waits_pause_plus_settle(virtual_clock):
    with expected_protocol(Lakeshore370, [
        ("SCAN?", "02,0"), ("SCAN 1,0", None), ("INSET? 1", "1,010,003,00,2"), ("FILTER? 1", "1,010,02"),
        ("RDGR? 1", "+4.93000E-02"), ("RDGST? 1", "128"),
    ]) as bridge:
        assert Lakeshore370ResistanceMeter(bridge, channel=1).resistance() == pytest.approx(0.0493)
    assert virtual_clock.now() == pytest.approx(3 + 10 + 1)


def test_role_refuses_an_invalid_reading(virtual_clock):
    with expected_protocol(Lakeshore370, [("SCAN?", "01,0"), ("RDGR? 1", "+9.90000E-01"), ("RDGST? 1", "016")]) as bridge:
        with pytest.raises(ls.BridgeReadingError, match="R_OVER"):
            Lakeshore370ResistanceMeter(bridge).resistance()


def test_role_sets_the_nearest_current_index_and_waits(virtual_clock):
    with expected_protocol(Lakeshore370, [
        ("RDGRNG? 1", "0,03,13,0,0"), ("RDGRNG 1,1,18,13,0,0", None),
        ("INSET? 1", "1,010,003,00,2"), ("FILTER? 1", "0,010,02"),
    ]) as bridge:
        assert Lakeshore370ResistanceMeter(bridge).set_excitation(316e-6) == pytest.approx(316.2e-6, rel=1e-3)
    assert virtual_clock.now() == pytest.approx(3 + 1)


@pytest.mark.parametrize("current, limits, match", [
    (0.09, SoftwareLimits(), "excitation current = 0.09 A is outside the allowed range"),
    (5e-3, SoftwareLimits(max_current_A=1e-3), "excitation current = 0.005 A"),
    (40e-3, SoftwareLimits(max_current_A=0.1), "off the table"),
    (0.0, SoftwareLimits(), "off the table"),
    (-1e-3, SoftwareLimits(), "off the table"),
])
def test_role_refuses_bad_currents_before_writing_anything(current, limits, match):
    with expected_protocol(Lakeshore370, []) as bridge:
        with pytest.raises(LimitError, match=match):
            Lakeshore370ResistanceMeter(bridge, limits=limits).set_excitation(current)


def test_role_stop_turns_the_excitation_off():
    with expected_protocol(Lakeshore370, [("RDGRNG? 1", "1,18,05,0,0"), ("RDGRNG 1,1,18,5,0,1", None)]) as bridge:
        Lakeshore370ResistanceMeter(bridge).stop()


def test_role_channel_must_exist():
    with expected_protocol(Lakeshore370, []) as bridge:
        with pytest.raises(LimitError, match="channel = 17"):
            Lakeshore370ResistanceMeter(bridge, channel=17)


def test_role_refuses_a_nearest_entry_above_the_software_limit():
    # 0.6 mA is nearer 1 mA (index 19) than 316 uA on a log scale: above a 0.7 mA ceiling
    with expected_protocol(Lakeshore370, []) as bridge:
        with pytest.raises(LimitError, match="nearest, index 19"):
            Lakeshore370ResistanceMeter(bridge, limits=SoftwareLimits(max_current_A=0.7e-3)).set_excitation(0.6e-3)
