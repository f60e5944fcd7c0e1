"""Protocol tests of the Keithley 6221 / 2182A driver: every command it sends, as INSTRUMENTS.md spells it."""

import pytest
from pymeasure.test import expected_protocol

from daclab.instruments.keithley6221 import (
    Keithley6221,
    dcon_point_count,
    ordered_elements,
    split_readings,
)
from daclab.instruments.keithley6221_modes import (
    DeltaResistanceMeter,
    DifferentialConductanceSource,
    PulseDeltaSource,
)
from daclab.limits import LimitError, SoftwareLimits


def nv(command):
    """A 2182A command as it travels through the 6221's serial pass-through."""
    return (f'SYST:COMM:SER:SEND "{command}"', None)


# ---- DC source ------------------------------------------------------------------------------

@pytest.mark.parametrize("attribute, command, value, written", [
    ("source_current", "SOUR:CURR", 1e-3, "0.001"),
    ("source_current", "SOUR:CURR", -0.105, "-0.105"),
    ("source_range", "SOUR:CURR:RANG", 0.02, "0.02"),
    ("source_compliance", "SOUR:CURR:COMP", 5.0, "5"),
    ("source_delay", "SOUR:DEL", 2.0, "2"),
    ("sweep_start", "SOUR:CURR:STAR", -1e-3, "-0.001"),
    ("sweep_stop", "SOUR:CURR:STOP", 1e-3, "0.001"),
    ("sweep_step", "SOUR:CURR:STEP", 1e-4, "0.0001"),
    ("delta_high_source", "SOUR:DELT:HIGH", 1e-3, "0.001"),
    ("delta_low_source", "SOUR:DELT:LOW", -1e-3, "-0.001"),
    ("delta_delay", "SOUR:DELT:DEL", 2e-3, "0.002"),
    ("pulse_high_source", "SOUR:PDEL:HIGH", 0.08, "0.08"),
    ("pulse_low_source", "SOUR:PDEL:LOW", 0.0, "0"),
    ("pulse_width", "SOUR:PDEL:WIDT", 10e-3, "0.01"),
    ("pulse_source_delay", "SOUR:PDEL:SDEL", 5e-3, "0.005"),
    ("dcon_start", "SOUR:DCON:STAR", -4e-3, "-0.004"),
    ("dcon_stop", "SOUR:DCON:STOP", 4e-3, "0.004"),
    ("dcon_step", "SOUR:DCON:STEP", 2e-4, "0.0002"),
    ("dcon_delta", "SOUR:DCON:DELT", 2e-5, "2e-05"),
    ("dcon_delay", "SOUR:DCON:DEL", 2e-3, "0.002"),
    ("averaging_window", "SENS:AVER:WIND", 1.5, "1.5"),
])
def test_float_controls_write_and_read(attribute, command, value, written):
    with expected_protocol(Keithley6221, [(f"{command} {written}", None), (f"{command}?", "+1.000000E-03")]) as k:
        setattr(k, attribute, value)
        assert getattr(k, attribute) == pytest.approx(1e-3)


@pytest.mark.parametrize("attribute, value", [
    ("source_current", 0.2), ("source_current", -0.106), ("source_range", 0.2), ("source_compliance", 0.05),
    ("source_compliance", 106), ("delta_high_source", 0.11), ("delta_delay", 0.0), ("pulse_width", 20e-6),
    ("pulse_width", 13e-3), ("pulse_source_delay", 12e-3), ("pulse_interval", 4), ("dcon_delay", 1e4),
    ("buffer_points", 65537), ("buffer_points", 0), ("averaging_count", 1), ("averaging_count", 301),
    ("delta_cycles", 0), ("delta_cycles", 65537), ("delta_cycles", 2.5), ("pulse_count", "SOME"),
    ("source_delay", 5e-4), ("sweep_points", 0),
])
def test_out_of_range_values_raise_and_write_nothing(attribute, value):
    with expected_protocol(Keithley6221, []) as k:
        with pytest.raises(ValueError):
            setattr(k, attribute, value)


@pytest.mark.parametrize("attribute, command, value, written, reply", [
    ("source_enabled", "OUTP", True, "1", "1"),
    ("source_enabled", "OUTP", False, "0", "0"),
    ("source_auto_range", "SOUR:CURR:RANG:AUTO", True, "1", "1"),
    ("averaging_enabled", "SENS:AVER:STAT", False, "0", "0"),
    ("delta_compliance_abort_enabled", "SOUR:DELT:CAB", True, "ON", "1"),
    ("delta_cold_switch_enabled", "SOUR:DELT:CSW", False, "OFF", "0"),
    ("pulse_sweep_enabled", "SOUR:PDEL:SWE", True, "ON", "1"),
    ("dcon_compliance_abort_enabled", "SOUR:DCON:CAB", False, "OFF", "0"),
])
def test_boolean_controls(attribute, command, value, written, reply):
    with expected_protocol(Keithley6221, [(f"{command} {written}", None), (f"{command}?", reply)]) as k:
        setattr(k, attribute, value)
        assert getattr(k, attribute) is value


@pytest.mark.parametrize("attribute, command, value, written, reply, read", [
    ("delta_unit", "UNIT", "Ohms", "OHMS", "OHMS", "Ohms"),
    ("delta_unit", "UNIT", "Siemens", "SIEM", "SIEM", "Siemens"),
    ("power_type", "UNIT:POW:TYPE", "AVER", "AVER", "AVER", "AVER"),
    ("averaging_type", "SENS:AVER:TCON", "REP", "REP", "REP", "REP"),
    ("averaging_count", "SENS:AVER:COUN", 20, "20", "20", 20),
    ("buffer_points", "TRAC:POIN", 65536, "65536", "65536", 65536),
    ("timestamp_format", "TRAC:TST:FORM", "DELT", "DELT", "DELT", "DELT"),
    ("delta_cycles", "SOUR:DELT:COUN", 100, "100", "100", 100),
    ("delta_cycles", "SOUR:DELT:COUN", "INF", "INF", "INF", "INF"),
    ("delta_measurement_sets", "SOUR:SWE:COUN", 3, "3", "3", 3),
    ("pulse_count", "SOUR:PDEL:COUN", 65536, "65536", "65536", 65536),
    ("pulse_ranging", "SOUR:PDEL:RANG", "FIX", "FIX", "FIX", "FIX"),
    ("pulse_interval", "SOUR:PDEL:INT", 120, "120", "120", 120),
    ("pulse_low_measurements", "SOUR:PDEL:LME", 1, "1", "1", 1),
    ("sweep_spacing", "SOUR:SWE:SPAC", "LIST", "LIST", "LIST", "LIST"),
    ("sweep_points", "SOUR:SWE:POIN", 11, "11", "11", 11),
    ("sweep_ranging", "SOUR:SWE:RANG", "BEST", "BEST", "BEST", "BEST"),
])
def test_discrete_controls(attribute, command, value, written, reply, read):
    with expected_protocol(Keithley6221, [(f"{command} {written}", None), (f"{command}?", reply)]) as k:
        setattr(k, attribute, value)
        assert getattr(k, attribute) == read


def test_source_methods_and_safe_shutdown():
    with expected_protocol(Keithley6221, [
        ("OUTP 1", None), ("OUTP 0", None), ("SOUR:CLE", None), ("SOUR:SWE:ABOR", None), ("SOUR:WAVE:ABOR", None),
        ("*RST", None), ("SOUR:SWE:ABOR", None), ("OUTP 0", None),
    ]) as k:
        k.enable_source()
        k.disable_source()
        k.clear_source()
        k.abort()
        k.waveform_abort()
        k.reset()
        k.shutdown()
        assert k.isShutdown


# ---- elements and buffer --------------------------------------------------------------------

def test_elements_are_always_sent_and_parsed_in_the_fixed_order():
    with expected_protocol(Keithley6221, [
        ("FORM:ELEM READ,SOUR,AVOL", None), ("FORM:ELEM READ,TST,UNIT,RNUM,SOUR,COMP,AVOL", None),
        ("FORM:ELEM?", "READ,TST"), ("FORM:ELEM?", "READ"),
    ]) as k:
        k.data_elements = ("AVOL", "read", "SOUR")
        k.data_elements = "ALL"
        assert k.data_elements == ("READ", "TST")
        assert k.data_elements == ("READ",)
        with pytest.raises(ValueError, match="VOLT"):
            k.data_elements = ("READ", "VOLT")
    assert ordered_elements("TST,READ") == ("READ", "TST")


def test_split_readings_names_columns_and_keeps_text_columns():
    columns = split_readings([1e-6, 0.0, "V", 2e-6, 0.1, "V"], ("UNIT", "READ", "TST"))
    assert list(columns["reading"]) == [1e-6, 2e-6]
    assert list(columns["timestamp"]) == [0.0, 0.1]
    assert list(columns["unit"]) == ["V", "V"]
    assert split_readings([""], ("READ", "TST"))["reading"].size == 0
    with pytest.raises(ValueError, match="3 values"):
        split_readings([1.0, 2.0, 3.0], ("READ", "TST"))


def test_buffer_commands():
    with expected_protocol(Keithley6221, [
        ("TRAC:POIN 500", None), ("TRAC:POIN?", "500"), ("TRAC:POIN:ACT?", "17"), ("TRAC:DATA:TYPE?", "DELT"),
        ("TRAC:CLE", None),
    ]) as k:
        k.delta_buffer_points = 500
        assert k.buffer_points == 500
        assert k.buffer_points_actual == 17
        assert k.buffer_data_type == "DELT"
        k.clear_buffer()


def test_small_buffer_is_read_whole_and_split_into_pairs():
    with expected_protocol(Keithley6221, [
        ("FORM:ELEM?", "READ,TST"), ("TRAC:POIN:ACT?", "3"),
        ("TRAC:DATA?", "+1.0E-05,+0.0E+00,+1.1E-05,+1.0E-01,+1.2E-05,+2.0E-01"),
    ]) as k:
        data = k.delta_values
        assert list(data["reading"]) == [1.0e-5, 1.1e-5, 1.2e-5]
        assert list(data["timestamp"]) == [0.0, 0.1, 0.2]


def test_large_buffer_is_read_in_slices():
    with expected_protocol(Keithley6221, [
        ("TRAC:POIN:ACT?", "5"),
        ("TRAC:DATA:SEL? 0,2", "1,0.1,2,0.2"),
        ("TRAC:DATA:SEL? 2,2", "3,0.3,4,0.4"),
        ("TRAC:DATA:SEL? 4,1", "5,0.5"),
    ]) as k:
        data = k.read_buffer(elements=("READ", "TST"), slice_size=2)
        assert list(data["reading"]) == [1, 2, 3, 4, 5]
        assert list(data["timestamp"]) == [0.1, 0.2, 0.3, 0.4, 0.5]
    with expected_protocol(Keithley6221, []) as k:
        with pytest.raises(ValueError):
            k.buffer_slice(65000, 600)


# ---- completion -----------------------------------------------------------------------------

def test_run_and_read_clears_stale_events_starts_polls_and_reads(virtual_clock):
    with expected_protocol(Keithley6221, [
        ("STAT:OPER:EVEN?", "2"), ("INIT:IMM", None), ("STAT:OPER:EVEN?", "0"), ("STAT:OPER:EVEN?", "8"),
        ("STAT:OPER:EVEN?", "10"), ("FORM:ELEM?", "READ,TST,SOUR,AVOL"), ("TRAC:POIN:ACT?", "1"),
        ("TRAC:DATA?", "1e-3,0,0.002,0.5"),
    ]) as k:
        data = k.run_and_read(expected_s=1.0)
        assert data["average_voltage"][0] == 0.5 and data["source_current"][0] == 0.002
    assert virtual_clock.now() == pytest.approx(1.2)  # the expected second, then two polls of 0.1 s


def test_wait_for_completion_aborts_and_raises_on_time_out(virtual_clock):
    with expected_protocol(Keithley6221, [("STAT:OPER:EVEN?", "0")] * 3 + [("SOUR:SWE:ABOR", None)]) as k:
        with pytest.raises(TimeoutError, match="aborted"):
            k.wait_for_completion(timeout_s=1.0, poll_s=0.5)


# ---- modes ----------------------------------------------------------------------------------

def test_arming_and_link_queries():
    with expected_protocol(Keithley6221, [
        ("SOUR:DELT:NVPR?", "1"), ("SOUR:DELT:ARM", None), ("SOUR:DELT:ARM?", "1"), ("INIT:IMM", None),
        ("SOUR:PDEL:ARM", None), ("SOUR:PDEL:ARM?", "0"), ("SOUR:DCON:ARM", None), ("SOUR:DCON:ARM?", "1"),
        ("SOUR:DCON:NVZ?", "+1.234E-06"), ("STAT:OPER:EVEN?", "2"),
    ]) as k:
        assert k.delta_connected is True
        k.delta_arm()
        assert k.delta_armed is True
        k.delta_start()
        k.pulse_arm()
        assert k.pulse_armed is False
        k.dcon_arm()
        assert k.dcon_armed is True
        assert k.dcon_voltage_zero == pytest.approx(1.234e-6)
        assert k.operation_event == 2


def test_lists_are_checked_whole_then_written_in_chunks():
    currents = [i * 1e-4 for i in range(150)]
    first = "SOUR:LIST:CURR " + ",".join(f"{c:g}" for c in currents[:100])
    rest = "SOUR:LIST:CURR:APP " + ",".join(f"{c:g}" for c in currents[100:])
    delays = ["SOUR:LIST:DEL " + ",".join(["2"] * 100), "SOUR:LIST:DEL:APP 2"]
    with expected_protocol(Keithley6221, [(first, None), (rest, None), (delays[0], None), (delays[1], None)]) as k:
        k.set_list_currents(currents)
        k.set_list_delays([2.0] * 101)
    with expected_protocol(Keithley6221, []) as k:
        with pytest.raises(ValueError):
            k.set_list_currents([1e-3, 0.2])
        with pytest.raises(ValueError):
            k.set_list_delays([])


def test_dcon_point_count():
    assert dcon_point_count(-4e-3, 4e-3, 2e-4) == 41
    assert dcon_point_count(1e-3, -1e-3, 1e-3) == 3
    assert dcon_point_count(0.0, 1e-3, 2e-3) == 100  # a step beyond the span
    assert Keithley6221.dcon_point_count(0.0, 1e-3, 1e-4) == 11


# ---- 2182A through the pass-through ----------------------------------------------------------

def test_nanovoltmeter_settings_travel_through_the_pass_through():
    with expected_protocol(Keithley6221, [
        nv("SENS:CHAN 2"), nv("SENS:VOLT:NPLC 5"), nv("SENS:VOLT:CHAN1:RANG 0.01"), nv("SENS:VOLT:CHAN2:RANG 1"),
        nv("SENS:VOLT:RANG:AUTO 0"), nv("SENS:VOLT:DFIL ON"), nv("SENS:VOLT:DFIL:COUN 10"),
        nv("SENS:VOLT:DFIL:WIND 0.01"), nv("SENS:VOLT:DFIL:TCON REP"), nv("SENS:VOLT:LPAS OFF"),
    ]) as k:
        meter = k.nanovoltmeter
        meter.channel = 2
        meter.nplc = 5
        meter.channel1_range = 0.01
        meter.channel2_range = 1
        meter.auto_range_enabled = False
        meter.digital_filter_enabled = True
        meter.digital_filter_count = 10
        meter.digital_filter_window = 0.01
        meter.digital_filter_type = "REP"
        meter.analog_filter_enabled = False
    with expected_protocol(Keithley6221, []) as k:
        for attribute, value in (("channel", 3), ("nplc", 100), ("channel2_range", 100), ("digital_filter_count", 0)):
            with pytest.raises(ValueError):
                setattr(k.nanovoltmeter, attribute, value)
        with pytest.raises(ValueError, match="quotes"):
            k.nanovoltmeter.write('SENS:FUNC "VOLT"')


def test_nanovoltmeter_queries_poll_the_serial_buffer_on_the_clock(virtual_clock):
    with expected_protocol(Keithley6221, [
        nv("SENS:CHAN?"), ("SYST:COMM:SER:ENT?", ""), ("SYST:COMM:SER:ENT?", "2"),
        nv("READ?"), ("SYST:COMM:SER:ENT?", "+7.123456789E-05"),
        nv("SENS:VOLT:NPLC?"), ("SYST:COMM:SER:ENT?", "+5.000000E+00"),
        nv("*IDN?"), ("SYST:COMM:SER:ENT?", "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,1,C02"),
    ]) as k:
        assert k.nanovoltmeter.channel == 2
        assert virtual_clock.now() == pytest.approx(0.05)
        assert k.nanovoltmeter.voltage == pytest.approx(7.123456789e-5)
        assert k.nanovoltmeter.nplc == 5.0
        assert "2182A" in k.nanovoltmeter.identification


def test_nanovoltmeter_reset_waits_and_silence_times_out(virtual_clock):
    with expected_protocol(Keithley6221, [nv("*RST")]) as k:
        k.nanovoltmeter.reset()
    assert virtual_clock.now() == pytest.approx(3.0)
    silent = [nv("READ?")] + [("SYST:COMM:SER:ENT?", "")] * 5  # at 0, 0.25, ... 1.0 s
    with expected_protocol(Keithley6221, silent) as k:
        k.nanovoltmeter.reply_timeout_s, k.nanovoltmeter.reply_poll_s = 1.0, 0.25
        with pytest.raises(TimeoutError, match="2182A"):
            _ = k.nanovoltmeter.voltage


# ---- role adapters ---------------------------------------------------------------------------

def _run(points_reply, data_reply, elements):
    return [
        ("STAT:OPER:EVEN?", "0"), ("INIT:IMM", None), ("STAT:OPER:EVEN?", "2"),
        ("FORM:ELEM?", elements), ("TRAC:POIN:ACT?", points_reply), ("TRAC:DATA?", data_reply),
        ("SOUR:SWE:ABOR", None),
    ]


def test_delta_resistance_protocol_and_value(virtual_clock):
    with expected_protocol(Keithley6221, [
        nv("SENS:CHAN 1"), nv("SENS:VOLT:NPLC 1"), ("UNIT V", None), ("FORM:ELEM READ,TST", None),
        ("SOUR:DELT:HIGH 0.001", None), ("SOUR:DELT:LOW -0.001", None), ("SOUR:DELT:DEL 0.002", None),
        ("SOUR:DELT:COUN 3", None), ("SOUR:SWE:COUN 1", None), ("TRAC:POIN 3", None), ("TRAC:CLE", None),
        ("SOUR:DELT:ARM", None),
        *_run("3", "7.0E-05,0,7.2E-05,0.02,7.4E-05,0.04", "READ,TST"),
    ]) as k:
        meter = DeltaResistanceMeter(k, current_A=1e-3, readings=3)
        assert meter.resistance() == pytest.approx(0.072)
    # two reversals start the average, then one per reading, each delay + 1 PLC
    assert virtual_clock.now() == pytest.approx(5 * (0.002 + 1 / 60))


def test_delta_limits_are_checked_before_anything_is_written():
    with expected_protocol(Keithley6221, []) as k:
        limits = SoftwareLimits(max_current_A=0.01)
        with pytest.raises(LimitError, match="delta current = 0.02"):
            DeltaResistanceMeter(k, limits=limits, current_A=0.02)
        meter = DeltaResistanceMeter(k, limits=limits, current_A=1e-3)
        with pytest.raises(LimitError, match=r"delta current = 0.5 A .*\[-0.105, 0.105\]"):
            meter.set_excitation(0.5)
        with pytest.raises(LimitError, match="non-zero"):
            meter.set_excitation(0.0)
        with pytest.raises(LimitError, match="delta readings"):
            DeltaResistanceMeter(k, readings=65537)
        with pytest.raises(LimitError, match="compliance"):
            DeltaResistanceMeter(k, compliance_V=50)  # software ceiling 10 V
        assert meter.current_A == 1e-3


def test_pulse_iv_protocol(virtual_clock):
    with expected_protocol(Keithley6221, [
        nv("SENS:CHAN 1"), nv("SENS:VOLT:NPLC 1"), ("UNIT V", None), ("FORM:ELEM READ,TST,SOUR", None),
        ("SOUR:PDEL:LOW 0", None), ("SOUR:PDEL:WIDT 0.01", None), ("SOUR:PDEL:SDEL 0.005", None),
        ("SOUR:PDEL:LME 2", None), ("SOUR:PDEL:SWE ON", None), ("SOUR:SWE:SPAC LIST", None),
        ("SOUR:SWE:RANG BEST", None), ("SOUR:SWE:COUN 1", None), ("SOUR:DEL 2", None),
        ("SOUR:LIST:CURR 0.07,0.078", None), ("SOUR:LIST:DEL 2,2", None), ("TRAC:POIN 2", None),
        ("TRAC:CLE", None), ("SOUR:PDEL:ARM", None),
        *_run("2", "1.0E-09,2,+7.0E-02,3.0E-04,4,+7.8E-02", "READ,TST,SOUR"),
    ]) as k:
        iv = PulseDeltaSource(k).pulse_iv([0.07, 0.078], width_s=10e-3, period_s=2.0)
        assert iv.shape == (2, 2)
        assert list(iv[:, 0]) == [0.07, 0.078] and list(iv[:, 1]) == [1e-9, 3e-4]
    assert virtual_clock.now() == pytest.approx(4.0)


@pytest.mark.parametrize("currents, width, period, message", [
    ([0.07, 0.085], 10e-3, 2.0, r"pulse current\[1\] = 0.085 A is outside the allowed range \[-0.08, 0.08\]"),
    ([0.07], 20e-3, 2.0, "pulse width"),
    ([0.07], 10e-3, 5e-3, "longer than the pulse width"),
    ([], 10e-3, 2.0, "pulse count"),
])
def test_pulse_limits_are_checked_before_anything_is_written(currents, width, period, message):
    with expected_protocol(Keithley6221, []) as k:
        with pytest.raises(LimitError, match=message):
            PulseDeltaSource(k).pulse_iv(currents, width, period)


def test_differential_conductance_protocol(virtual_clock):
    with expected_protocol(Keithley6221, [
        nv("SENS:CHAN 2"), nv("SENS:VOLT:NPLC 1"), ("UNIT V", None), ("FORM:ELEM READ,TST,SOUR,AVOL", None),
        ("SOUR:DCON:STAR -0.001", None), ("SOUR:DCON:STOP 0.001", None), ("SOUR:DCON:STEP 0.001", None),
        ("SOUR:DCON:DELT 1e-05", None), ("SOUR:DCON:DEL 0.002", None), ("TRAC:POIN 3", None),
        ("TRAC:CLE", None), ("SOUR:DCON:ARM", None),
        *_run("3", "2.5E-4,0,-1E-3,-0.027,2.0E-4,0.1,0,0,2.5E-4,0.2,1E-3,0.027", "READ,TST,SOUR,AVOL"),
    ]) as k:
        result = DifferentialConductanceSource(k).differential_conductance(-1e-3, 1e-3, 1e-3, 1e-5, 2e-3)
        assert list(result["current_A"]) == [-1e-3, 0.0, 1e-3]
        assert list(result["voltage_V"]) == [-0.027, 0.0, 0.027]
        assert result["didv_S"] == pytest.approx([0.04, 0.05, 0.04])


@pytest.mark.parametrize("args, message", [
    ((-0.09, 0.09, 1e-3, 1e-5, 2e-3), "DCON start = -0.09"),
    ((-0.08, 0.08, 1e-3, 1e-5, 2e-3), r"peak current \(bias \+ delta\) = 0.08001"),
    ((-1e-3, 1e-3, 0.0, 1e-5, 2e-3), "must both be > 0"),
    ((-1e-3, 1e-3, 1e-3, 1e-5, 1e-4), "DCON delay"),
])
def test_dcon_limits_are_checked_before_anything_is_written(args, message):
    with expected_protocol(Keithley6221, []) as k:
        with pytest.raises(LimitError, match=message):
            DifferentialConductanceSource(k).differential_conductance(*args)


def test_stop_aborts_then_turns_the_output_off():
    with expected_protocol(Keithley6221, [("SOUR:SWE:ABOR", None), ("OUTP 0", None)] * 3) as k:
        for role in (DeltaResistanceMeter(k), PulseDeltaSource(k), DifferentialConductanceSource(k)):
            role.stop()
