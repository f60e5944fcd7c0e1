"""Keithley 2182A driver: every command it sends, in the manual's syntax (no instrument needed)."""

import pytest
from pymeasure.test import expected_protocol

from daclab.instruments.keithley2182 import OVERFLOW, Keithley2182A, is_overflow

# (attribute path, value, comm pairs) for settings; channel attributes as "ch_1.name".
SETTINGS = [
    ("active_channel", 1, [(":SENS:CHAN 1", None)]),
    ("active_channel", 2, [(":SENS:CHAN 2", None)]),
    ("channel_function", "voltage", [(":SENS:FUNC 'VOLT'", None)]),
    ("channel_function", "temperature", [(":SENS:FUNC 'TEMP'", None)]),
    ("voltage_nplc", 0.01, [(":SENS:VOLT:NPLC 0.01", None)]),
    ("voltage_nplc", 50, [(":SENS:VOLT:NPLC 50", None)]),
    ("voltage_digital_filter_enabled", True, [(":SENS:VOLT:DFIL ON", None)]),
    ("voltage_digital_filter_enabled", False, [(":SENS:VOLT:DFIL OFF", None)]),
    ("voltage_digital_filter_count", 1, [(":SENS:VOLT:DFIL:COUN 1", None)]),
    ("voltage_digital_filter_count", 100, [(":SENS:VOLT:DFIL:COUN 100", None)]),
    ("voltage_digital_filter_window", 0.01, [(":SENS:VOLT:DFIL:WIND 0.01", None)]),
    ("voltage_digital_filter_window", 10, [(":SENS:VOLT:DFIL:WIND 10", None)]),
    ("voltage_digital_filter_type", "moving", [(":SENS:VOLT:DFIL:TCON MOV", None)]),
    ("voltage_digital_filter_type", "repeat", [(":SENS:VOLT:DFIL:TCON REP", None)]),
    ("voltage_analog_filter_enabled", True, [(":SENS:VOLT:LPAS ON", None)]),
    ("voltage_analog_filter_enabled", False, [(":SENS:VOLT:LPAS OFF", None)]),
    ("auto_zero_enabled", False, [(":SYST:AZER OFF", None)]),
    ("front_autozero_enabled", True, [(":SYST:FAZ ON", None)]),
    ("line_sync_enabled", True, [(":SYST:LSYN ON", None)]),
    ("trigger_source", "immediate", [(":TRIG:SOUR IMM", None)]),
    ("trigger_source", "bus", [(":TRIG:SOUR BUS", None)]),
    ("trigger_source", "external", [(":TRIG:SOUR EXT", None)]),
    ("trigger_count", 5, [(":TRIG:COUN 5", None)]),
    ("trigger_delay", 0.5, [(":TRIG:DEL 0.5", None)]),
    ("ch_1.voltage_range", 0.01, [(":SENS:VOLT:CHAN1:RANG 0.01", None)]),
    ("ch_1.voltage_range", 100, [(":SENS:VOLT:CHAN1:RANG 100", None)]),
    ("ch_2.voltage_range", 10, [(":SENS:VOLT:CHAN2:RANG 10", None)]),
    ("ch_1.voltage_range_auto_enabled", True, [(":SENS:VOLT:CHAN1:RANG:AUTO 1", None)]),
    ("ch_2.voltage_range_auto_enabled", False, [(":SENS:VOLT:CHAN2:RANG:AUTO 0", None)]),
    # kept from pymeasure's Keithley2182
    ("display_enabled", False, [(":DISP:ENAB 0", None)]),
    ("thermocouple", "K", [(":SENS:TEMP:TC K", None)]),
    ("temperature_nplc", 1, [(":SENS:TEMP:NPLC 1", None)]),
    ("buffer_points", 100, [(":TRAC:POIN 100", None)]),
    ("ch_1.voltage_offset", 0.001, [(":SENS:VOLT:CHAN1:REF 0.001", None)]),
    ("ch_1.voltage_offset_enabled", True, [(":SENS:VOLT:CHAN1:REF:STAT 1", None)]),
    ("ch_1.temperature_offset", 10, [(":SENS:TEMP:CHAN1:REF 10", None)]),
    ("ch_1.temperature_offset_enabled", False, [(":SENS:TEMP:CHAN1:REF:STAT 0", None)]),
    ("temperature_reference_junction", "SIM", [(":SENS:TEMP:RJUN:RSEL SIM", None)]),
    ("temperature_simulated_reference", 23, [(":SENS:TEMP:RJUN:SIM 23", None)]),
]


def _resolve(instrument, path):
    *parents, name = path.split(".")
    for parent in parents:
        instrument = getattr(instrument, parent)
    return instrument, name


@pytest.mark.parametrize("path, value, comm", SETTINGS)
def test_settings_are_written_in_the_manuals_syntax(path, value, comm):
    with expected_protocol(Keithley2182A, comm) as nv:
        target, name = _resolve(nv, path)
        setattr(target, name, value)


QUERIES = [
    ("active_channel", [(":SENS:CHAN?", "2")], 2),
    ("channel_function", [(":SENS:FUNC?", '"VOLT"')], "voltage"),
    ("channel_function", [(":SENS:FUNC?", '"TEMP"')], "temperature"),
    ("voltage_nplc", [(":SENS:VOLT:NPLC?", "+5.000000E+00")], 5.0),
    ("voltage_digital_filter_enabled", [(":SENS:VOLT:DFIL?", "1")], True),
    ("voltage_digital_filter_count", [(":SENS:VOLT:DFIL:COUN?", "10")], 10),
    ("voltage_digital_filter_window", [(":SENS:VOLT:DFIL:WIND?", "+1.000000E-02")], 0.01),
    ("voltage_digital_filter_type", [(":SENS:VOLT:DFIL:TCON?", "REP")], "repeat"),
    ("voltage_analog_filter_enabled", [(":SENS:VOLT:LPAS?", "0")], False),
    ("auto_zero_enabled", [(":SYST:AZER?", "1")], True),
    ("front_autozero_enabled", [(":SYST:FAZ?", "0")], False),
    ("line_sync_enabled", [(":SYST:LSYN?", "1")], True),
    ("trigger_source", [(":TRIG:SOUR?", "BUS")], "bus"),
    ("trigger_count", [(":TRIG:COUN?", "3")], 3),
    ("trigger_delay", [(":TRIG:DEL?", "+0.000000E+00")], 0.0),
    ("voltage", [(":READ?", "+1.4282699E-04")], 1.4282699e-4),
    ("voltage", [(":READ?", "+1.0E-06,+2.0E-06")], [1e-6, 2e-6]),
    ("latest_reading", [(":FETC?", "-3.2100000E-07")], -3.21e-7),
    ("fresh_reading", [(":SENS:DATA:FRES?", "+9.9000000E+37")], OVERFLOW),
    ("line_frequency", [(":SYST:LFR?", "60")], 60),
    ("ch_1.voltage_range", [(":SENS:VOLT:CHAN1:RANG?", "+1.000000E-02")], 0.01),
    ("ch_2.voltage_range_auto_enabled", [(":SENS:VOLT:CHAN2:RANG:AUTO?", "1")], True),
    ("next_error", [("SYST:ERR?", '-113,"Undefined header"')], [-113, '"Undefined header"']),
    ("id", [("*IDN?", "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,1234567,C02  /A02")],
     "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,1234567,C02  /A02"),
    ("internal_temperature", [(":SENS:TEMP:RTEM?", "+2.350000E+01")], 23.5),
]


@pytest.mark.parametrize("path, comm, expected", QUERIES)
def test_queries_are_sent_in_the_manuals_syntax_and_decoded(path, comm, expected):
    with expected_protocol(Keithley2182A, comm) as nv:
        target, name = _resolve(nv, path)
        assert getattr(target, name) == expected


REFUSED = [
    ("active_channel", 0),
    ("active_channel", 3),
    ("channel_function", "resistance"),
    ("voltage_nplc", 0.005),
    ("voltage_nplc", 60),  # only on a 60 Hz line, after auto_line_frequency()
    ("voltage_digital_filter_count", 0),
    ("voltage_digital_filter_count", 101),
    ("voltage_digital_filter_window", 0.001),
    ("voltage_digital_filter_window", 11),
    ("voltage_digital_filter_type", "average"),
    ("voltage_digital_filter_enabled", "ON"),
    ("line_sync_enabled", 2),
    ("trigger_source", "timer"),
    ("trigger_count", 10000),
    ("ch_1.voltage_range", 121),
    ("ch_2.voltage_range", 13),
    ("ch_2.voltage_offset", -12.5),
]


@pytest.mark.parametrize("path, value", REFUSED)
def test_values_outside_the_hardware_range_are_refused_before_writing(path, value):
    with expected_protocol(Keithley2182A, []) as nv:
        target, name = _resolve(nv, path)
        with pytest.raises(ValueError):
            setattr(target, name, value)


def test_setup_voltage_sends_one_command_per_line():
    comm = [(":SENS:CHAN 2", None), (":SENS:FUNC 'VOLT'", None), (":SENS:VOLT:NPLC 1", None),
            (":SENS:VOLT:CHAN2:RANG:AUTO 1", None)]
    with expected_protocol(Keithley2182A, comm) as nv:
        nv.ch_2.setup_voltage(auto_range=True, nplc=1)
    with expected_protocol(Keithley2182A, comm[:3]) as nv:
        nv.ch_2.setup_voltage(auto_range=False, nplc=1)


def test_nplc_up_to_60_on_a_60_hz_line():
    comm = [(":SYST:LFR?", "60"), (":SENS:VOLT:NPLC 60", None)]
    with expected_protocol(Keithley2182A, comm) as nv:
        nv.auto_line_frequency()
        nv.voltage_nplc = 60


def test_commands_without_a_value():
    comm = [("*RST", None), ("*CLS", None), (":INIT", None), ("*TRG", None), (":TRIG:SOUR IMM", None),
            (":TRIG:SOUR BUS", None), (":ABOR", None)]
    with expected_protocol(Keithley2182A, comm) as nv:
        nv.reset()
        nv.initiate()
        nv.trigger()
        nv.trigger_immediately()
        nv.trigger_on_bus()
        nv.stop_buffer()


def test_methods_kept_from_pymeasure():
    comm = [(":SENS:VOLT:CHAN1:REF:ACQ", None), (":SENS:TEMP:CHAN1:REF:ACQ", None),
            (":SENS:CHAN 1;:SENS:FUNC 'TEMP';:SENS:TEMP:NPLC 5", None), ("SYST:ERR?", '0,"No error"'),
            (":CALC2:FORM MEAN;:CALC2:STAT ON;:CALC2:IMM?;", "+1.0E-06"),
            (":INIT", None), (":TRAC:FEED:CONT NEV", None), (":TRIG:SOUR IMM", None),
            ("*STB?", "65"), (":FORM:DATA ASCII", None), (":TRAC:DATA?", "+1.0E-06,+2.0E-06")]
    with expected_protocol(Keithley2182A, comm) as nv:
        nv.ch_1.acquire_voltage_reference()
        nv.ch_1.acquire_temperature_reference()
        nv.ch_1.setup_temperature()
        assert nv.mean == 1e-6
        nv.start_buffer()
        nv.sample_continuously()
        assert nv.is_buffer_full()
        assert list(nv.buffer_data) == [1e-6, 2e-6]


def test_check_errors_reads_the_queue_until_no_error():
    comm = [("SYST:ERR?", '-113,"Undefined header"'), ("SYST:ERR?", '-222,"Data out of range"'),
            ("SYST:ERR?", '0,"No error"')]
    with expected_protocol(Keithley2182A, comm) as nv:
        assert [int(code) for code, _ in nv.check_errors()] == [-113, -222]


def test_wait_for_buffer_waits_on_the_clock(virtual_clock):
    comm = [("*STB?", "0"), ("*STB?", "0"), ("*STB?", "65")]
    with expected_protocol(Keithley2182A, comm) as nv:
        nv.wait_for_buffer(timeout=10, interval=0.5)
    assert virtual_clock.now() == 1.0
    with expected_protocol(Keithley2182A, [("*STB?", "0")] * 3) as nv:
        with pytest.raises(TimeoutError, match="buffer not full after 1 s"):
            nv.wait_for_buffer(timeout=1, interval=0.6)


def test_overflow_value():
    assert is_overflow(OVERFLOW) and is_overflow(-OVERFLOW)
    assert not is_overflow(120.0) and not is_overflow(1e-9)
