"""Cryomagnetics 4G driver and its MagnetSupply adapter: every command against the 4G's syntax."""

import pytest
from pymeasure.test import expected_protocol

from daclab.instruments.cryomagnetics4g import Cryomagnetics4G, Cryomagnetics4GMagnet, Reading, parse_reading
from daclab.instruments.magnet import Coil, MagnetError, MagnetQuenchError, MagnetTimeoutError
from daclab.limits import LimitError, SoftwareLimits
from daclab.roles import MagnetSupply

COIL = Coil(tesla_per_amp=0.1, max_current_A=90.0)


def protocol(comm_pairs):
    return expected_protocol(Cryomagnetics4G, comm_pairs)


@pytest.mark.parametrize("reply, reading", [
    ("12.345kG", Reading(12.345, "kG")), ("-0.0100A", Reading(-0.01, "A")), ("1.5T", Reading(1.5, "T")),
    ("12345.0G", Reading(12345.0, "G")), (" 3.2e-1A\r", Reading(0.32, "A")), (".5A", Reading(0.5, "A")),
])
def test_readings_with_a_unit_suffix_are_parsed(reply, reading):
    assert parse_reading(reply) == reading


@pytest.mark.parametrize("reply", ["12.345", "kG", "12.3 mT", "1.2.3A", ""])
def test_a_reply_without_a_known_unit_is_refused(reply):
    with pytest.raises(ValueError, match="not a 4G reading"):
        parse_reading(reply)


# ---- driver ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, comm, value", [
    ("id", [("*IDN?", "CRYOMAGNETICS,4G,2845,1.72")], "CRYOMAGNETICS,4G,2845,1.72"),
    ("units", [("UNITS?", "kG")], "kG"),
    ("magnet_reading", [("IMAG?", "12.3450kG")], Reading(12.345, "kG")),
    ("output_reading", [("IOUT?", "-4.0000A")], Reading(-4.0, "A")),
    ("upper_limit", [("ULIM?", "30.0000A")], 30.0),
    ("lower_limit", [("LLIM?", "-1.5000T")], -1.5),
    ("switch_heater_enabled", [("PSHTR?", "1")], True),
    ("switch_heater_enabled", [("PSHTR?", "0")], False),
    ("status_byte", [("*STB?", "5")], 5),
    ("sweeping", [("*STB?", "1")], True),
    ("sweeping", [("*STB?", "4")], False),
    ("quench_present", [("*STB?", "4")], True),
    ("event_status", [("*ESR?", "48")], 48),
])
def test_readings(name, comm, value):
    with protocol(comm) as supply:
        assert getattr(supply, name) == value


@pytest.mark.parametrize("name, value, command", [
    ("units", "A", "UNITS A"), ("units", "kG", "UNITS kG"), ("units", "T", "UNITS T"), ("units", "G", "UNITS G"),
    ("upper_limit", 30.5, "ULIM 30.5"), ("lower_limit", -2, "LLIM -2"),
    ("switch_heater_enabled", True, "PSHTR ON"), ("switch_heater_enabled", False, "PSHTR OFF"),
])
def test_settings(name, value, command):
    with protocol([(command, None)]) as supply:
        setattr(supply, name, value)


@pytest.mark.parametrize("args, command", [
    (("UP",), "SWEEP UP"), (("DOWN",), "SWEEP DOWN"), (("PAUSE",), "SWEEP PAUSE"), (("ZERO",), "SWEEP ZERO"),
    (("UP", "SLOW"), "SWEEP UP SLOW"), (("DOWN", "FAST"), "SWEEP DOWN FAST"), (("ZERO", "FAST"), "SWEEP ZERO FAST"),
])
def test_sweep(args, command):
    with protocol([(command, None)]) as supply:
        supply.sweep(*args)


def test_rates_per_range_and_plain_commands():
    comm = [("RATE 0 0.05", None), ("RATE 4 0.0125", None), ("RATE? 4", "0.0125"), ("QRESET", None),
            ("REMOTE", None), ("LOCAL", None), ("*CLS", None), ("*ESR?", "48")]
    with protocol(comm) as supply:
        supply.set_rate(0, 0.05)
        supply.set_rate(4, 0.0125)
        assert supply.rate(4) == 0.0125
        supply.reset_quench()
        supply.remote()
        supply.local()
        supply.clear()
        assert supply.check_errors() == ["command error", "execution error"]


@pytest.mark.parametrize("call", [
    lambda s: setattr(s, "units", "mT"), lambda s: s.sweep("SIDEWAYS"), lambda s: s.sweep("PAUSE", "FAST"),
    lambda s: s.sweep("UP", "MEDIUM"), lambda s: s.set_rate(5, 0.1), lambda s: s.set_rate(0, 25),
    lambda s: s.set_rate(0, 0), lambda s: s.rate(-1),
])
def test_values_outside_the_hardware_range_are_refused_before_writing(call):
    with protocol([]) as supply, pytest.raises(ValueError):
        call(supply)


# ---- MagnetSupply adapter --------------------------------------------------------------------

def role(supply, limits=None, **kwargs):
    return Cryomagnetics4GMagnet(supply, COIL, limits or SoftwareLimits(), **kwargs)


def test_adapter_is_a_magnet_supply():
    with protocol([]) as supply:
        assert isinstance(role(supply), MagnetSupply)


def test_field_converts_whatever_unit_the_supply_answers_in():
    comm = [("UNITS A", None), ("IMAG?", "15.0000A"), ("IMAG?", "12.0000kG"), ("IMAG?", "-0.5000T"),
            ("IMAG?", "3000.0G")]
    with protocol(comm) as supply:
        magnet = role(supply)
        assert magnet.field() == pytest.approx(1.5)
        assert magnet.field() == pytest.approx(1.2)
        assert magnet.field() == pytest.approx(-0.5)
        assert magnet.field() == pytest.approx(0.3)


def test_ramp_rate_goes_to_every_range_in_amperes_per_second():
    comm = [("UNITS A", None)] + [(f"RATE {r} 0.05", None) for r in range(5)]
    with protocol(comm) as supply:
        role(supply).set_ramp_rate(0.3)  # 0.3 T/min / 0.1 T/A / 60 s


@pytest.mark.parametrize("limits, rate, message", [
    (SoftwareLimits(max_field_rate_T_per_min=0.5), 0.51,
     r"field ramp rate = 0.51 T/min is outside the allowed range \[0, 0.5\]"),
    (SoftwareLimits(max_field_rate_T_per_min=500), 130,
     r"field ramp rate \(supply range\) = 130 T/min .*\[0.0006, 120\]"),
    (SoftwareLimits(), 0.0, r"field ramp rate \(supply range\) = 0 T/min"),
])
def test_ramp_rate_beyond_a_limit_is_refused_before_anything_is_written(limits, rate, message):
    with protocol([]) as supply, pytest.raises(LimitError, match=message):
        role(supply, limits).set_ramp_rate(rate)


@pytest.mark.parametrize("limits, field, message", [
    (SoftwareLimits(max_field_T=3.0), 3.1, r"target field = 3.1 T is outside the allowed range \[-3, 3\] T"),
    (SoftwareLimits(max_field_T=12.0), -9.01, r"target field \(coil rating\) = -9.01 T"),
])
def test_field_beyond_a_limit_is_refused_before_anything_is_written(limits, field, message):
    with protocol([]) as supply, pytest.raises(LimitError, match=message):
        role(supply, limits).set_field(field)


def test_set_field_sweeps_up_or_down_to_the_limit_on_the_targets_side():
    comm = [("UNITS A", None),
            ("PSHTR?", "1"), ("IOUT?", "0.0000A"), ("ULIM 15", None), ("SWEEP UP", None),
            ("PSHTR?", "1"), ("IOUT?", "15.0000A"), ("LLIM -5", None), ("SWEEP DOWN", None)]
    with protocol(comm) as supply:
        magnet = role(supply)
        magnet.set_field(1.5)
        magnet.set_field(-0.5)


def test_set_field_on_a_persistent_magnet_matches_the_leads_then_heats_the_switch(virtual_clock):
    comm = [("UNITS A", None), ("PSHTR?", "0"), ("IMAG?", "30.0000A"), ("IOUT?", "0.0000A"),
            ("IOUT?", "0.0000A"), ("ULIM 30", None), ("SWEEP UP", None),        # leads up to the coil's current
            ("*STB?", "1"), ("*STB?", "0"), ("IOUT?", "30.0000A"),             # ... until they hold
            ("PSHTR ON", None),                                                # then the heater, and its time
            ("IOUT?", "30.0000A"), ("LLIM 10", None), ("SWEEP DOWN", None)]
    with protocol(comm) as supply:
        role(supply, poll_s=10, switch_heating_s=45).set_field(1.0)
    assert virtual_clock.now() == 55.0


def test_without_a_switch_the_heater_is_never_asked():
    comm = [("UNITS A", None), ("IOUT?", "0.0000A"), ("ULIM 20", None), ("SWEEP UP", None)]
    with protocol(comm) as supply:
        role(supply, has_switch=False).set_field(2.0)


def test_wait_until_holding_reads_the_sweep_bit_and_the_output(virtual_clock):
    comm = [("UNITS A", None), ("PSHTR?", "1"), ("IOUT?", "0.0000A"), ("ULIM 15", None), ("SWEEP UP", None),
            ("*STB?", "1"), ("*STB?", "1"), ("*STB?", "0"), ("IOUT?", "15.0000A")]
    with protocol(comm) as supply:
        magnet = role(supply, poll_s=2)
        magnet.set_field(1.5)
        magnet.wait_until_holding(60)
    assert virtual_clock.now() == 4.0


def test_wait_until_holding_raises_on_quench(virtual_clock):
    comm = [("UNITS A", None), ("*STB?", "1"), ("*STB?", "5"), ("IMAG?", "3.0000A")]
    with protocol(comm) as supply, pytest.raises(MagnetQuenchError, match=r"quenched \(field now 0.3000 T\)"):
        role(supply).wait_until_holding(60)


def test_a_sweep_stopped_short_of_the_target_times_out_as_paused(virtual_clock):
    comm = [("UNITS A", None), ("PSHTR?", "1"), ("IOUT?", "0.0000A"), ("ULIM 15", None), ("SWEEP UP", None),
            ("*STB?", "0"), ("IOUT?", "7.0000A"), ("*STB?", "0"), ("IOUT?", "7.0000A"), ("IMAG?", "7.0000A")]
    with protocol(comm) as supply, pytest.raises(MagnetTimeoutError, match="'paused', field 0.7000 T"):
        magnet = role(supply, poll_s=5)
        magnet.set_field(1.5)
        magnet.wait_until_holding(5)


def test_pause_zero_quenched():
    comm = [("UNITS A", None), ("SWEEP PAUSE", None), ("PSHTR?", "1"), ("SWEEP ZERO", None),
            ("*STB?", "1"), ("*STB?", "0"), ("IOUT?", "0.0000A"), ("*STB?", "4")]
    with protocol(comm) as supply:
        magnet = role(supply)
        magnet.pause()
        magnet.zero()
        assert magnet._state() == "zeroing"
        assert magnet._state() == "at_zero"
        assert magnet.quenched() is True


def test_currents_in_other_units_are_not_mistaken_for_amperes():
    comm = [("UNITS A", None), ("PSHTR?", "1"), ("IOUT?", "1.0000kG")]
    with protocol(comm) as supply, pytest.raises(MagnetError, match="expected a current in A"):
        role(supply).set_field(1.0)
