"""AMI 430 driver and its MagnetSupply adapter: every command against the 430's syntax."""

import pytest
from pymeasure.test import expected_protocol

from daclab.instruments.ami430 import AMI430, AMI430Magnet
from daclab.instruments.magnet import Coil, MagnetError, MagnetQuenchError, MagnetTimeoutError
from daclab.limits import LimitError, SoftwareLimits
from daclab.roles import MagnetSupply

COIL = Coil(tesla_per_amp=0.1, max_current_A=90.0)
PREPARE = [("CONF:FIELD:UNITS 1", None), ("CONF:RAMP:RATE:UNITS 1", None), ("COIL?", "0.100000"),
           ("PS:INST?", "1")]


def protocol(comm_pairs, **kwargs):
    kwargs.setdefault("welcome_lines", 0)
    return expected_protocol(AMI430, comm_pairs, **kwargs)


# ---- driver ----------------------------------------------------------------------------------

def test_welcome_lines_are_read_only_when_asked():
    lines = [(None, "American Magnetics Model 430 IP Interface"), (None, "Hello.")]
    with protocol(lines, welcome_lines=2) as magnet:
        assert magnet.welcome == ["American Magnetics Model 430 IP Interface", "Hello."]
    with protocol([]) as magnet:  # nothing read: the simulated lab, serial connections
        assert magnet.welcome == []
    with expected_protocol(AMI430, []) as magnet:  # default: none on a non-TCP adapter
        assert magnet.welcome == []


def test_a_reopened_session_is_greeted_again_and_the_next_reply_is_the_reply():
    welcome = [(None, "American Magnetics Model 430 IP Interface"), (None, "Hello.")]
    with protocol(welcome + welcome + [("FIELD:MAG?", "1.2345678")], welcome_lines=2) as magnet:
        magnet.welcome = []
        magnet.session_reopened()  # what daclab.connection calls once it has a new session
        assert magnet.welcome == ["American Magnetics Model 430 IP Interface", "Hello."]
        assert magnet.field == pytest.approx(1.2345678)
    with protocol([("FIELD:MAG?", "0.5")]) as magnet:  # a serial port greets no one
        magnet.session_reopened()
        assert magnet.field == pytest.approx(0.5)


@pytest.mark.parametrize("name, comm, value", [
    ("field", [("FIELD:MAG?", "1.2345678")], 1.2345678),
    ("field_units", [("FIELD:UNITS?", "0")], "kG"),
    ("magnet_current", [("CURR:MAG?", "12.345600")], 12.3456),
    ("supply_current", [("CURR:SUPP?", "0.000000")], 0.0),
    ("supply_voltage", [("VOLT:SUPP?", "1.01500")], 1.015),
    ("magnet_voltage", [("VOLT:MAG?", "-1.00000")], -1.0),
    ("target_field", [("FIELD:TARG?", "1.5000000")], 1.5),
    ("target_current", [("CURR:TARG?", "15.000000")], 15.0),
    ("coilconst", [("COIL?", "0.100000")], 0.1),
    ("current_limit", [("CURR:LIMIT?", "90.0000")], 90.0),
    ("ramp_segments", [("RAMP:RATE:SEG?", "3")], 3),
    ("ramp_rate_units", [("RAMP:RATE:UNITS?", "1")], "min"),
    ("state", [("STATE?", "2")], 2),
    ("state_name", [("STATE?", "7")], "quench"),
    ("state_name", [("STATE?", "11")], "external_rampdown"),
    ("switch_installed", [("PS:INST?", "0")], False),
    ("switch_heater_enabled", [("PS?", "0")], False),
    ("switch_heater_enabled", [("PS?", "1")], True),
    ("persistent", [("PERS?", "1")], True),
    ("switch_heater_current", [("PS:CURR?", "30.0")], 30.0),
    ("switch_heating_time", [("PS:HTIME?", "20")], 20.0),
    ("switch_cooling_time", [("PS:CTIME?", "25")], 25.0),
    ("quenched", [("QU?", "1")], True),
    ("quench_count", [("QU:COUNT?", "2")], 2),
    ("quench_detection", [("QU:DET?", "1")], True),
    ("id", [("*IDN?", "AMERICAN MAGNETICS INC.,MODEL 430,2.65")], "AMERICAN MAGNETICS INC.,MODEL 430,2.65"),
])
def test_readings(name, comm, value):
    with protocol(comm) as magnet:
        assert getattr(magnet, name) == value


def test_persistent_switch_check_parses_the_reply():
    """pymeasure's version returned bool("0"), i.e. True, for a switch heater that is off."""
    with protocol([("PS?", "0")]) as magnet:
        assert magnet.has_persistent_switch_enabled() is False


@pytest.mark.parametrize("name, value, command", [
    ("field_units", "T", "CONF:FIELD:UNITS 1"),
    ("field_units", "kG", "CONF:FIELD:UNITS 0"),
    ("target_field", 1.5, "CONF:FIELD:TARG 1.5"),
    ("target_current", -12.5, "CONF:CURR:TARG -12.5"),
    ("coilconst", 0.1, "CONF:COIL 0.1"),
    ("current_limit", 90, "CONF:CURR:LIMIT 90"),
    ("ramp_segments", 2, "CONF:RAMP:RATE:SEG 2"),
    ("ramp_rate_units", "min", "CONF:RAMP:RATE:UNITS 1"),
    ("ramp_rate_units", "s", "CONF:RAMP:RATE:UNITS 0"),
    ("switch_heater_enabled", True, "PS 1"),
    ("switch_heater_enabled", False, "PS 0"),
    ("switch_heater_current", 30, "CONF:PS:CURR 30"),
    ("switch_heating_time", 20, "CONF:PS:HTIME 20"),
    ("switch_cooling_time", 60, "CONF:PS:CTIME 60"),
])
def test_settings(name, value, command):
    with protocol([(command, None)]) as magnet:
        setattr(magnet, name, value)


@pytest.mark.parametrize("name, value", [
    ("field_units", "gauss"), ("target_current", 200), ("coilconst", 0), ("current_limit", -1),
    ("ramp_segments", 11), ("ramp_rate_units", "h"), ("switch_heating_time", 1),
])
def test_settings_outside_the_hardware_range_are_refused_before_writing(name, value):
    with protocol([]) as magnet, pytest.raises(ValueError):
        setattr(magnet, name, value)


def test_actions_and_switch_and_quench_commands():
    comm = [("RAMP", None), ("PAUSE", None), ("ZERO", None), ("PS 1", None), ("PS 0", None),
            ("QU 0", None), ("*CLS", None)]
    with protocol(comm) as magnet:
        magnet.ramp()
        magnet.pause()
        magnet.zero()
        magnet.enable_persistent_switch()
        magnet.disable_persistent_switch()
        magnet.reset_quench()
        magnet.clear()


def test_ramp_segments_take_their_upper_bound():
    comm = [("CONF:RAMP:RATE:FIELD 2,0.3,7.5", None), ("RAMP:RATE:FIELD:2?", "0.3,7.5"),
            ("CONF:RAMP:RATE:CURR 1,0.05,45", None), ("RAMP:RATE:CURR:1?", "0.05,45")]
    with protocol(comm) as magnet:
        magnet.set_ramp_rate_field(2, 0.3, 7.5)
        assert magnet.ramp_rate_field(2) == (0.3, 7.5)
        magnet.set_ramp_rate_current(1, 0.05, 45)
        assert magnet.ramp_rate_current(1) == (0.05, 45)


@pytest.mark.parametrize("call", [
    lambda m: m.set_ramp_rate_field(0, 0.1, 9), lambda m: m.set_ramp_rate_field(11, 0.1, 9),
    lambda m: m.set_ramp_rate_field(1, -0.1, 9), lambda m: m.set_ramp_rate_current(1, 0.1, 500),
    lambda m: m.ramp_rate_field(12),
])
def test_bad_segment_arguments_are_refused_before_writing(call):
    with protocol([]) as magnet, pytest.raises(ValueError):
        call(magnet)


def test_error_queue_is_read_with_syst_err():
    comm = [("SYST:ERR?", '-101,"Unrecognized command"'), ("SYST:ERR?", '0,"No error"')]
    with protocol(comm) as magnet:
        errors = magnet.check_errors()
    assert len(errors) == 1 and errors[0][0] == -101


# ---- MagnetSupply adapter --------------------------------------------------------------------

def role(magnet, limits=None, **kwargs):
    return AMI430Magnet(magnet, COIL, limits or SoftwareLimits(), **kwargs)


def test_adapter_is_a_magnet_supply():
    with protocol([]) as magnet:
        assert isinstance(role(magnet), MagnetSupply)


def test_field_sets_tesla_units_and_checks_the_coil_constant_once():
    with protocol(PREPARE + [("FIELD:MAG?", "1.5"), ("FIELD:MAG?", "1.6")]) as magnet:
        supply = role(magnet)
        assert supply.field() == 1.5
        assert supply.field() == 1.6


def test_a_coil_constant_other_than_the_lab_files_is_refused():
    comm = [("CONF:FIELD:UNITS 1", None), ("CONF:RAMP:RATE:UNITS 1", None), ("COIL?", "0.120000")]
    with protocol(comm) as magnet, pytest.raises(MagnetError, match="coil constant is 0.12 T/A"):
        role(magnet).field()


def test_ramp_rate_is_one_segment_bounded_by_the_coil_rating():
    comm = PREPARE + [("CONF:RAMP:RATE:SEG 1", None), ("CONF:RAMP:RATE:FIELD 1,0.3,9", None)]
    with protocol(comm) as magnet:
        role(magnet).set_ramp_rate(0.3)


@pytest.mark.parametrize("limits, rate, message", [
    (SoftwareLimits(max_field_rate_T_per_min=0.5), 0.6,
     r"field ramp rate = 0.6 T/min is outside the allowed range \[0, 0.5\]"),
    (SoftwareLimits(max_field_rate_T_per_min=0.5), -0.1, r"field ramp rate = -0.1 T/min"),
    # the 430 ramps at most 10 A/s: 60 T/min with 0.1 T/A
    (SoftwareLimits(max_field_rate_T_per_min=100), 70, r"field ramp rate \(supply range\) = 70 T/min .*\[0.0006, 60\]"),
    (SoftwareLimits(), float("nan"), r"field ramp rate = nan"),
])
def test_ramp_rate_beyond_a_limit_is_refused_before_anything_is_written(limits, rate, message):
    with protocol([]) as magnet, pytest.raises(LimitError, match=message):
        role(magnet, limits).set_ramp_rate(rate)


@pytest.mark.parametrize("limits, field, message", [
    (SoftwareLimits(max_field_T=5.0), 5.5, r"target field = 5.5 T is outside the allowed range \[-5, 5\] T"),
    (SoftwareLimits(max_field_T=5.0), -6, r"target field = -6 T"),
    (SoftwareLimits(max_field_T=20.0), 9.5, r"target field \(coil rating\) = 9.5 T .*\[-9, 9\] T"),
])
def test_field_beyond_a_limit_is_refused_before_anything_is_written(limits, field, message):
    with protocol([]) as magnet, pytest.raises(LimitError, match=message):
        role(magnet, limits).set_field(field)


def test_set_field_with_the_switch_warm_sets_the_target_and_ramps(virtual_clock):
    comm = PREPARE + [("PS?", "1"), ("STATE?", "2"), ("CONF:FIELD:TARG 1.5", None), ("RAMP", None)]
    with protocol(comm) as magnet:
        role(magnet).set_field(1.5)


def test_set_field_heats_a_cold_switch_and_waits_on_the_clock(virtual_clock):
    comm = PREPARE + [("PS?", "0"), ("CURR:MAG?", "0.000000"), ("CURR:SUPP?", "0.000000"), ("PS 1", None),
                      ("STATE?", "9"), ("STATE?", "9"), ("STATE?", "8"),
                      ("CONF:FIELD:TARG 1.5", None), ("RAMP", None)]
    with protocol(comm) as magnet:
        role(magnet, poll_s=10).set_field(1.5)
    assert virtual_clock.now() == 20.0


def test_set_field_on_a_persistent_magnet_first_brings_the_leads_to_its_current(virtual_clock):
    comm = PREPARE + [("PS?", "0"), ("CURR:MAG?", "15.000000"), ("CURR:SUPP?", "0.000000"),
                      ("CONF:CURR:TARG 15", None), ("RAMP", None), ("STATE?", "1"), ("STATE?", "2"),
                      ("PS 1", None), ("STATE?", "9"), ("STATE?", "2"),
                      ("CONF:FIELD:TARG 0.5", None), ("RAMP", None)]
    with protocol(comm) as magnet:
        role(magnet, poll_s=30).set_field(0.5)
    assert virtual_clock.now() == 60.0


def test_set_field_without_a_switch_goes_straight_to_the_ramp():
    comm = PREPARE[:3] + [("PS:INST?", "0"), ("CONF:FIELD:TARG -2", None), ("RAMP", None)]
    with protocol(comm) as magnet:
        role(magnet).set_field(-2)


def test_wait_until_holding_polls_the_state_on_the_clock(virtual_clock):
    comm = PREPARE + [("STATE?", "1"), ("STATE?", "1"), ("STATE?", "2")]
    with protocol(comm) as magnet:
        role(magnet, poll_s=5).wait_until_holding(60)
    assert virtual_clock.now() == 10.0


def test_wait_until_holding_accepts_at_zero(virtual_clock):
    with protocol(PREPARE + [("STATE?", "6"), ("STATE?", "8")]) as magnet:
        role(magnet).wait_until_holding(60)


def test_wait_until_holding_raises_on_quench(virtual_clock):
    comm = PREPARE + [("STATE?", "1"), ("STATE?", "7"), ("FIELD:MAG?", "0.2")]
    with protocol(comm) as magnet, pytest.raises(MagnetQuenchError, match="quenched"):
        role(magnet).wait_until_holding(60)


def test_wait_until_holding_times_out_naming_the_state(virtual_clock):
    comm = PREPARE + [("STATE?", "1"), ("STATE?", "3"), ("STATE?", "3"), ("FIELD:MAG?", "0.7")]
    with protocol(comm) as magnet, pytest.raises(MagnetTimeoutError, match="'paused', field 0.7000 T"):
        role(magnet, poll_s=1).wait_until_holding(2)
    assert virtual_clock.now() == 2.0


def test_switch_that_never_warms_times_out(virtual_clock):
    comm = PREPARE + [("PS?", "1")] + [("STATE?", "9")] * 3
    with protocol(comm) as magnet, pytest.raises(MagnetTimeoutError, match="heating_switch"):
        role(magnet, poll_s=1, switch_timeout_s=2).set_field(1)


def test_pause_zero_and_quenched():
    comm = PREPARE + [("PAUSE", None), ("PS?", "1"), ("STATE?", "3"), ("ZERO", None), ("QU?", "0")]
    with protocol(comm) as magnet:
        supply = role(magnet)
        supply.pause()
        supply.zero()
        assert supply.quenched() is False
