"""SIM900 + SIM921 drivers: every command against the manuals' syntax, without an instrument.

Module commands are checked on SIM921 alone (any Adapter carries them); the two ways of carrying
them through the mainframe are checked on SIM900: SNDT/GETN? forwarding with #3nnn blocks, and
CONN transparent mode.
"""

import pytest
from pymeasure.test import expected_protocol

from daclab.instruments import srs_sim921 as srs
from daclab.instruments.ieee488 import StandardEvent
from daclab.instruments.srs_sim921 import SIM900, SIM921, SIM921ResistanceMeter
from daclab.limits import LimitError, SoftwareLimits


def block(payload: bytes) -> bytes:
    """What GETN? returns: #3nnn, the module's bytes, then the mainframe's CR LF."""
    return b"#3%03d" % len(payload) + payload + b"\r\n"


# ---- tables ---------------------------------------------------------------------------------

def test_excitation_current_is_the_voltage_over_the_range_full_scale():
    assert srs.excitation_current(3, 1) == pytest.approx(100e-6 / 0.2)  # 100 uV on 200 mohm: 500 uA
    assert srs.excitation_current(8, 0) == pytest.approx(30e-3 / 20e-3)  # 1.5 A
    assert srs.excitation_current(-1, 4) == 0.0


def test_nearest_excitation_code_on_a_range():
    # RANG 1 (200 mohm): 15 uA, 50 uA, 150 uA, 500 uA, ... 150 mA; 100 uA is nearer 150 uA on a log scale
    assert srs.excitation_code_for_current(100e-6, 1) == 2
    assert srs.excitation_code_for_current(50e-6, 1) == 1
    assert srs.excitation_code_for_current(150e-3, 1) == 8
    with pytest.raises(LimitError, match="off the table"):
        srs.excitation_code_for_current(1e-6, 1)


# ---- SIM921 commands ------------------------------------------------------------------------

def test_sim921_measurements():
    with expected_protocol(SIM921, [
        ("*IDN?", "Stanford_Research_Systems,SIM921,s/n012345,ver2.2"),
        ("RVAL?", "+7.037200E-02"), ("TVAL?", "+0.000000E+00"), ("RDEV?", "+7.037200E-02"),
        ("TDEV?", "+0.000000E+00"), ("PHAS?", "+1.2000E-01"), ("IEXC?", "+1.5000E-04"), ("VEXC?", "+3.0000E-05"),
        ("*ESR?", "48"), ("*ESR?", "16"), ("*CLS", None), ("*RST", None),
    ]) as bridge:
        assert bridge.id.startswith("Stanford_Research_Systems,SIM921")
        assert bridge.resistance == pytest.approx(0.070372)
        assert bridge.temperature == 0.0
        assert bridge.resistance_deviation == pytest.approx(0.070372)
        assert bridge.temperature_deviation == 0.0
        assert bridge.phase == pytest.approx(0.12)
        assert bridge.excitation_current_A == pytest.approx(150e-6)
        assert bridge.excitation_voltage_V == pytest.approx(30e-6)
        assert bridge.standard_event_status == StandardEvent.COMMAND_ERROR | StandardEvent.EXECUTION_ERROR
        assert bridge.check_errors() == [StandardEvent.EXECUTION_ERROR]
        bridge.clear()
        bridge.reset()


def test_sim921_settings():
    with expected_protocol(SIM921, [
        ("EXON 1", None), ("EXON?", "0"), ("EXCI -1", None), ("EXCI 8", None), ("EXCI?", "2"),
        ("MODE 2", None), ("MODE?", "1"), ("RANG 9", None), ("RANG?", "1"),
        ("FREQ 1.95", None), ("FREQ 61.1", None), ("FREQ?", "+1.3700E+01"),
        ("TCON -1", None), ("TCON 6", None), ("TCON?", "2"),
        ("PHLD 1", None), ("PHLD?", "0"), ("ADIS 0", None), ("ADIS?", "1"),
        ("DISP 8", None), ("DISP?", "0"), ("CURV 3", None), ("CURV?", "1"),
        ("FRST", None), ("ACAL", None), ("AGAI ON", None), ("AGAI?", "1"),
    ]) as bridge:
        bridge.excitation_enabled = True
        assert bridge.excitation_enabled is False
        bridge.excitation_code = -1
        bridge.excitation_code = 8
        assert bridge.excitation_code == 2
        bridge.mode = "voltage"
        assert bridge.mode == "current"
        bridge.range_code = 9
        assert bridge.range_code == 1
        bridge.frequency = 1.95
        bridge.frequency = 61.1
        assert bridge.frequency == 13.7
        bridge.time_constant_code = -1
        bridge.time_constant_code = 6
        assert bridge.time_constant_code == 2
        bridge.phase_hold = True
        assert bridge.phase_hold is False
        bridge.autorange_display = False
        assert bridge.autorange_display is True
        bridge.display = 8
        assert bridge.display == 0
        bridge.curve = 3
        assert bridge.curve == 1
        bridge.reset_filter()
        bridge.auto_calibrate()
        bridge.start_autorange_gain()
        assert bridge.autorange_gain_running is True


@pytest.mark.parametrize("name, value", [
    ("excitation_code", 9), ("excitation_code", -2), ("range_code", 10), ("mode", "resistance"),
    ("frequency", 100), ("frequency", 1.9), ("time_constant_code", 7), ("time_constant_code", -2),
    ("display", 9), ("curve", 0), ("excitation_enabled", 2),
])
def test_sim921_refuses_values_outside_the_manual_without_writing(name, value):
    with expected_protocol(SIM921, []) as bridge:
        with pytest.raises(ValueError):
            setattr(bridge, name, value)


def test_autorange_gain_polls_agai_on_the_clock_until_done(virtual_clock):
    with expected_protocol(SIM921, [("AGAI ON", None), ("AGAI?", "1"), ("AGAI?", "1"), ("AGAI?", "0")]) as bridge:
        bridge.autorange_gain(poll_s=1.0)
    assert virtual_clock.now() == 2.0
    with expected_protocol(SIM921, [("AGAI ON", None), ("AGAI?", "1"), ("AGAI?", "1")]) as bridge:
        with pytest.raises(TimeoutError):
            bridge.autorange_gain(timeout_s=1.0, poll_s=1.0)


@pytest.mark.parametrize("code, seconds", [("-1", 0.0), ("0", 1.5), ("2", 15.0), ("6", 1500.0)])
def test_settling_waits_five_time_constants(virtual_clock, code, seconds):
    with expected_protocol(SIM921, [("TCON?", code)]) as bridge:
        bridge.wait_for_settling()
    assert virtual_clock.now() == pytest.approx(seconds)


# ---- SIM900: forwarding ---------------------------------------------------------------------

def test_mainframe_commands():
    with expected_protocol(SIM900, [
        ("*IDN?", "Stanford_Research_Systems,SIM900,s/n105794,ver3.6"), ("*ESR?", "32"), ("*CLS", None),
        ("NINP? 1", "14"), ("FLSH", None), ("FLSH 3", None), ("FLSH 8", None), ("SRST", None), ("SRST 2", None),
        ("SRST 1", None), ("*RST", None),
    ]) as mainframe:
        assert mainframe.id.startswith("Stanford_Research_Systems,SIM900")
        assert mainframe.check_errors() == [StandardEvent.COMMAND_ERROR]
        mainframe.clear()
        assert mainframe.port_1.bytes_waiting == 14
        mainframe.flush()
        mainframe.flush(3)
        mainframe.port_8.flush()
        mainframe.reset_port()
        mainframe.reset_port(2)
        mainframe.port_1.reset()
        mainframe.reset()


def test_sndt_and_getn_framing():
    with expected_protocol(SIM900, [
        ('SNDT 1,"RVAL?"', None), ("GETN? 1,128", block(b"+7.037200E-02\r\n")),
        ("GETN? 2,0", b"#3000\r\n"),
    ]) as mainframe:
        mainframe.send(1, "RVAL?")
        assert mainframe.get_bytes(1) == b"+7.037200E-02\r\n"
        assert mainframe.get_bytes(2, 0) == b""


@pytest.mark.parametrize("reply", [b"3012+7.03720E-02\r\n\r\n", b"#0+7.0E-02\r\n", b"#a012+7.03720E-02\r\n\r\n"])
def test_a_reply_that_is_not_a_definite_length_block_is_refused(reply):
    with expected_protocol(SIM900, [("GETN? 1,128", reply)]) as mainframe:
        with pytest.raises(ValueError, match="definite-length block"):
            mainframe.get_bytes(1)
        mainframe.adapter._read_buffer = None  # the rest of the garbage


def test_blocks_with_other_digit_counts_are_parsed_too():
    with expected_protocol(SIM900, [("GETN? 1,128", b"#2141.000000E+00\r\n\r\n")]) as mainframe:
        assert mainframe.get_bytes(1) == b"1.000000E+00\r\n"


@pytest.mark.parametrize("call", [
    lambda m: m.send(9, "RVAL?"), lambda m: m.send(0, "RVAL?"), lambda m: m.send(1, 'DISP "x"'),
    lambda m: m.send(1, ""), lambda m: m.get_bytes(1, 256), lambda m: m.flush(9), lambda m: m.connect(1, ""),
    lambda m: m.connect(1, 'x"y'), lambda m: m.sim921(9),
])
def test_mainframe_refuses_bad_ports_and_messages_without_writing(call):
    with expected_protocol(SIM900, []) as mainframe:
        with pytest.raises(ValueError):
            call(mainframe)


def test_sim921_through_sndt_getn():
    with expected_protocol(SIM900, [
        ('SNDT 1,"EXCI 3"', None),
        ('SNDT 1,"RVAL?"', None), ("GETN? 1,128", block(b"+7.037200E-02\r\n")),
        ('SNDT 1,"*IDN?"', None), ("GETN? 1,128", block(b"Stanford_Research_Systems,SIM921,s/n012345,ver2.2\r\n")),
    ]) as mainframe:
        bridge = mainframe.sim921(1)
        bridge.excitation_code = 3
        assert bridge.resistance == pytest.approx(0.070372)
        assert bridge.id == "Stanford_Research_Systems,SIM921,s/n012345,ver2.2"


def test_forwarded_reads_poll_until_a_whole_line_has_arrived(virtual_clock):
    with expected_protocol(SIM900, [
        ('SNDT 1,"RVAL?"', None), ("GETN? 1,128", block(b"")), ("GETN? 1,128", block(b"+7.0372")),
        ("GETN? 1,128", block(b"00E-02\r\n")),
    ]) as mainframe:
        assert mainframe.sim921(1, poll_interval_s=0.1).resistance == pytest.approx(0.070372)
    assert virtual_clock.now() == pytest.approx(0.2)


def test_forwarded_reads_time_out_on_the_clock(virtual_clock):
    with expected_protocol(SIM900, [('SNDT 1,"RVAL?"', None)] + [("GETN? 1,128", block(b""))] * 3) as mainframe:
        with pytest.raises(TimeoutError, match="port 1"):
            mainframe.sim921(1, timeout_s=0.2, poll_interval_s=0.1).resistance


# ---- SIM900: transparent mode ---------------------------------------------------------------

def test_sim921_through_a_transparent_connection():
    with expected_protocol(SIM900, [
        ('CONN 1,"xyz"', None), ("RVAL?", "+7.037200E-02"), ("EXON 0", None), ("xyz", None),
    ]) as mainframe:
        bridge = mainframe.sim921(1, transparent=True)
        assert bridge.resistance == pytest.approx(0.070372)
        bridge.excitation_enabled = False
        assert mainframe.connected_port == 1
        bridge.adapter.release()
        assert mainframe.connected_port is None
        bridge.adapter.release()  # nothing more to send


def test_forwarding_closes_an_open_transparent_connection_first():
    with expected_protocol(SIM900, [
        ('CONN 1,"esc"', None), ("RANG?", "1"), ("esc", None), ('SNDT 1,"RANG?"', None), ("GETN? 1,128", block(b"1\r\n")),
    ]) as mainframe:
        assert mainframe.sim921(1, transparent=True, escape="esc").range_code == 1
        assert mainframe.sim921(1).range_code == 1


def test_a_command_containing_the_escape_string_is_refused():
    with expected_protocol(SIM900, [('CONN 1,"xyz"', None)]) as mainframe:
        mainframe.connect(1)
        bridge = mainframe.sim921(1, transparent=True)
        with pytest.raises(ValueError, match="escape"):
            bridge.write("xyz")


def test_reset_forgets_the_transparent_connection():
    with expected_protocol(SIM900, [('CONN 2,"xyz"', None), ("*RST", None)]) as mainframe:
        mainframe.connect(2)
        mainframe.connect(2)  # already open: nothing sent
        mainframe.reset()
        assert mainframe.connected_port is None


# ---- role -----------------------------------------------------------------------------------

def test_role_sets_the_nearest_code_for_the_range_turns_on_and_waits(virtual_clock):
    with expected_protocol(SIM921, [
        ("RANG?", "1"), ("EXCI 2", None), ("EXON 1", None), ("TCON?", "2"), ("RVAL?", "+7.037200E-02"),
    ]) as bridge:
        meter = SIM921ResistanceMeter(bridge)
        assert meter.set_excitation(100e-6) == pytest.approx(150e-6)
        assert virtual_clock.now() == pytest.approx(5 * 3.0)
        assert meter.resistance() == pytest.approx(0.070372)


@pytest.mark.parametrize("current, limits, match", [
    (0.09, SoftwareLimits(), "excitation current = 0.09 A is outside the allowed range"),
    (2e-3, SoftwareLimits(max_current_A=1e-3), "excitation current = 0.002 A"),
    (2.0, SoftwareLimits(max_current_A=10.0), "off the table"),
    (0.0, SoftwareLimits(), "off the table"),
])
def test_role_refuses_bad_currents_before_writing_anything(current, limits, match):
    with expected_protocol(SIM921, []) as bridge:
        with pytest.raises(LimitError, match=match):
            SIM921ResistanceMeter(bridge, limits=limits).set_excitation(current)


def test_role_refuses_a_current_off_the_present_range_after_reading_it_only():
    with expected_protocol(SIM921, [("RANG?", "9")]) as bridge:  # 20 Mohm: 0.15 pA ... 1.5 nA
        with pytest.raises(LimitError, match="on range 2e\\+07 ohm"):
            SIM921ResistanceMeter(bridge).set_excitation(1e-3)


def test_role_refuses_a_nearest_code_above_the_software_limit():
    # RANG 0 (20 mohm): 50 mA or 150 mA; 95 mA is nearer 150 mA, above a 100 mA limit
    with expected_protocol(SIM921, [("RANG?", "0")]) as bridge:
        with pytest.raises(LimitError, match="nearest EXCI 6"):
            SIM921ResistanceMeter(bridge, limits=SoftwareLimits(max_current_A=0.1)).set_excitation(95e-3)


def test_role_stop_turns_the_excitation_off():
    with expected_protocol(SIM921, [("EXON 0", None)]) as bridge:
        SIM921ResistanceMeter(bridge).stop()
