"""AMI 430 driver and adapter against its twin: the virtual cryostat's magnet, through pyvisa."""

import pytest
import pyvisa

from daclab import clock as clocks
from daclab import sim
from daclab.instruments.ami430 import AMI430, AMI430Magnet
from daclab.instruments.magnet import Coil, MagnetError, MagnetQuenchError, MagnetTimeoutError
from daclab.limits import LimitError, SoftwareLimits

RESOURCE = "TCPIP0::192.168.1.40::7180::SOCKET"
COIL = Coil(tesla_per_amp=0.1, max_current_A=90.0)


def library():
    return f"{sim.sim_config('ami430.yaml')}@sim"


@pytest.fixture
def ami(world):
    magnet = AMI430(RESOURCE, visa_library=library(), welcome_lines=0, timeout=200)
    magnet.check_errors()  # the sim device (and its queue) outlives a world: start clean
    yield magnet
    magnet.adapter.close()


@pytest.fixture
def supply(ami):
    return AMI430Magnet(ami, COIL, SoftwareLimits(max_field_T=9.0, max_field_rate_T_per_min=0.5))


def error_codes(ami):
    return [int(code) for code, _ in ami.check_errors()]


def test_real_tcp_default_would_wait_for_welcome_lines_the_twin_cannot_send(world):
    """Why the simulated lab opens the 430 with welcome_lines=0."""
    with pytest.raises(pyvisa.errors.VisaIOError):
        AMI430(RESOURCE, visa_library=library(), timeout=50)


def test_ramp_takes_distance_over_rate_and_the_field_follows(world, ami, supply):
    supply.set_ramp_rate(0.3)
    supply.set_field(1.5)  # heats the switch first (20 s), then ramps from 0
    start = world.clock.now()
    assert ami.state_name == "ramping" and ami.field == pytest.approx(0.0, abs=1e-6)
    clocks.sleep(150)      # half of 1.5 T / 0.3 T/min
    assert supply.field() == pytest.approx(0.75, abs=1e-5)
    assert world.field() == pytest.approx(0.75, abs=1e-5)
    assert ami.magnet_current == pytest.approx(7.5, abs=1e-4)
    assert ami.magnet_voltage == pytest.approx(20.0 * 0.05, rel=1e-3)  # L dI/dt, 0.05 A/s
    clocks.sleep(149)
    assert ami.state_name == "ramping" and supply.field() < 1.5
    supply.wait_until_holding(timeout_s=600, poll_s=0.5)
    assert world.clock.now() - start == pytest.approx(300.0, abs=0.5)
    assert supply.field() == pytest.approx(1.5) and ami.state == 2
    assert ami.target_field == pytest.approx(1.5) and ami.magnet_voltage == 0.0

    supply.set_field(0.6)  # down again: 0.9 T at 0.3 T/min
    start = world.clock.now()
    supply.wait_until_holding(timeout_s=600, poll_s=0.5)
    assert world.clock.now() - start == pytest.approx(180.0, abs=0.5)
    assert world.field() == pytest.approx(0.6)


def test_ramp_rate_above_the_limit_is_refused_and_nothing_changes(world, ami, supply):
    supply.set_ramp_rate(0.2)
    before = ami.ramp_rate_field(1)
    with pytest.raises(LimitError, match=r"field ramp rate = 0.8 T/min is outside the allowed range \[0, 0.5\]"):
        supply.set_ramp_rate(0.8)
    assert ami.ramp_rate_field(1) == before == (pytest.approx(0.2), pytest.approx(9.0))
    assert error_codes(ami) == []


def test_field_beyond_max_field_is_refused_and_the_magnet_stays(world, ami):
    supply = AMI430Magnet(ami, COIL, SoftwareLimits(max_field_T=2.0))
    with pytest.raises(LimitError, match=r"target field = 2.5 T is outside the allowed range \[-2, 2\] T"):
        supply.set_field(2.5)
    clocks.sleep(60)
    assert ami.state_name == "at_zero" and world.magnet.target_T == 0.0 and ami.switch_heater_enabled is False


def test_a_ramp_faster_than_the_coil_takes_quenches_it(world, ami, supply):
    world.magnet.parameters.safe_rate_T_per_min = 0.2  # the supply and the limits allow 0.5
    supply.set_ramp_rate(0.4)
    supply.set_field(2.0)
    with pytest.raises(MagnetQuenchError, match="quenched"):
        supply.wait_until_holding(timeout_s=600)
    assert ami.state == 7 and ami.state_name == "quench"
    assert supply.quenched() and ami.quenched and ami.quench_count == 1
    clocks.sleep(30)  # the field collapses on the coil's own time constant
    assert supply.field() == pytest.approx(0.0, abs=1e-6)
    ami.reset_quench()
    assert not supply.quenched() and ami.state_name == "at_zero"


def test_quench_forced_from_the_supply(world, ami, supply):
    supply.set_ramp_rate(0.5)
    supply.set_field(1.0)
    supply.wait_until_holding(timeout_s=600)
    ami.write("QU 1")
    assert supply.quenched() and ami.state == 7 and world.magnet.state == "quench"
    with pytest.raises(MagnetQuenchError):
        supply.wait_until_holding(timeout_s=60)


def test_zero_brings_the_field_down_at_the_set_rate(world, ami, supply):
    supply.set_ramp_rate(0.5)
    supply.set_field(1.2)
    supply.wait_until_holding(timeout_s=600)
    supply.set_ramp_rate(0.2)
    supply.zero()
    start = world.clock.now()
    clocks.sleep(180)
    assert ami.state_name == "zeroing" and supply.field() == pytest.approx(0.6, abs=1e-5)
    supply.wait_until_holding(timeout_s=600, poll_s=0.5)
    assert world.clock.now() - start == pytest.approx(360.0, abs=0.5)
    assert supply.field() == 0.0 and ami.state == 8


def test_pause_stops_the_field_and_a_short_wait_times_out(world, ami, supply):
    supply.set_ramp_rate(0.5)
    supply.set_field(2.0)
    clocks.sleep(60)
    supply.pause()
    held = supply.field()
    clocks.sleep(120)
    assert ami.state_name == "paused" and supply.field() == pytest.approx(held) == pytest.approx(0.5, abs=1e-5)
    with pytest.raises(MagnetTimeoutError, match="'paused'"):
        supply.wait_until_holding(timeout_s=30)


def test_kilogauss_and_per_second_units(world, ami, supply):
    supply.set_ramp_rate(0.3)
    supply.set_field(1.0)
    supply.wait_until_holding(timeout_s=600)
    ami.field_units = "kG"
    ami.ramp_rate_units = "s"
    assert ami.field == pytest.approx(10.0)
    assert ami.coilconst == pytest.approx(1.0)           # kG/A
    rate, upper = ami.ramp_rate_field(1)
    assert rate == pytest.approx(0.05) and upper == pytest.approx(90.0)  # 0.3 T/min = 0.05 kG/s
    assert ami.ramp_rate_current(1) == (pytest.approx(0.05), pytest.approx(90.0))  # A/s
    ami.target_field = 5.0  # kG
    assert ami.target_current == pytest.approx(5.0)


def test_the_supply_converts_with_the_coil_constant_it_is_given(world, ami):
    """A wrong constant on the supply makes its field wrong; the adapter refuses to work with it."""
    ami.coilconst = 0.12
    ami.write("PS 1")
    clocks.sleep(30)
    ami.target_current = 10.0
    ami.ramp()
    clocks.sleep(3600)
    assert world.field() == pytest.approx(1.0)   # 10 A in the real 0.1 T/A coil
    assert ami.field == pytest.approx(1.2)             # what the mis-set supply shows
    with pytest.raises(MagnetError, match="coil constant"):
        AMI430Magnet(ami, COIL).field()


def test_persistent_mode_keeps_the_coil_field_while_the_leads_run_down(world, ami, supply):
    supply.set_ramp_rate(0.5)
    supply.set_field(1.5)
    supply.wait_until_holding(timeout_s=600)
    ami.disable_persistent_switch()
    assert ami.state_name == "cooling_switch"
    ami.zero()                                   # refused while the switch cools
    assert error_codes(ami) == [-105]
    clocks.sleep(25)
    assert ami.persistent and ami.state_name == "holding"
    ami.zero()                                   # now only the leads
    clocks.sleep(600)
    assert ami.supply_current == pytest.approx(0.0, abs=1e-6) and ami.state_name == "at_zero"
    assert ami.magnet_current == pytest.approx(15.0) and supply.field() == pytest.approx(1.5)
    assert world.field() == pytest.approx(1.5)
    ami.enable_persistent_switch()               # refused: leads at 0 A, coil at 15 A
    assert error_codes(ami) == [-105] and ami.switch_heater_enabled is False

    supply.set_field(0.5)                        # leads up to 15 A, heat the switch, then ramp
    assert ami.switch_heater_enabled and not ami.persistent
    assert world.field() == pytest.approx(1.5) and ami.state_name == "ramping"
    supply.wait_until_holding(timeout_s=600)
    assert supply.field() == pytest.approx(0.5) and ami.supply_current == pytest.approx(5.0)


def test_unknown_commands_and_out_of_range_values_go_to_the_error_queue(world, ami):
    ami.write("CONF:FIELD:TARGET 1")
    assert error_codes(ami) == [-101]
    with pytest.raises(pyvisa.errors.VisaIOError):
        ami.ask("FIELD:MAGNITUDE?")               # no reply to an unknown query
    assert ami.next_error[0] == -101
    for command in ("CONF:FIELD:TARG 12", "CONF:CURR:TARG -95", "CONF:RAMP:RATE:SEG 11",
                    "CONF:RAMP:RATE:FIELD 1,0.000001,9", "CONF:RAMP:RATE:FIELD 11,0.1,9",
                    "CONF:RAMP:RATE:CURR 1,20,90", "CONF:FIELD:UNITS 2", "PS 2", "CONF:PS:HTIME 500",
                    "CONF:COIL nan", "CONF:CURR:LIMIT 200", "QU 3"):
        ami.write(command)
        assert error_codes(ami) == [-105], command
    assert ami.target_field == 0.0 and ami.ramp_segments == 1 and ami.field_units == "T"
    assert ami.ramp_rate_field(1)[1] == pytest.approx(9.0) and ami.switch_heating_time == 20.0
    assert ami.coilconst == pytest.approx(0.1) and ami.current_limit == 90.0
    ami.write("CONF:CURR:TARG 5")
    ami.write("RAMP")                            # the switch is cold: nothing to ramp but the leads
    assert error_codes(ami) == []
    ami.write("PS 1")
    ami.write("RAMP")                            # refused while the switch heats
    assert error_codes(ami) == [-105]


def test_identity_and_switch_settings(world, ami):
    assert ami.id.startswith("AMERICAN MAGNETICS INC.,MODEL 430")
    assert ami.switch_installed and ami.quench_detection
    ami.switch_heating_time = 40
    ami.switch_cooling_time = 60
    ami.switch_heater_current = 25
    assert (ami.switch_heating_time, ami.switch_cooling_time, ami.switch_heater_current) == (40, 60, 25)
    ami.enable_persistent_switch()
    clocks.sleep(39)
    assert ami.state_name == "heating_switch"
    clocks.sleep(2)
    assert ami.state_name == "at_zero" and not ami.persistent


def test_a_lab_file_binds_the_magnet_role(world, tmp_path):
    from daclab.lab import Lab, load_lab
    from daclab.roles import MagnetSupply

    path = tmp_path / "lab.yaml"
    path.write_text(f"""
name: simulated 430
limits: {{max_field_T: 5, max_field_rate_T_per_min: 0.4}}
roles:
  magnet:
    kind: magnet
    driver: ami430:AMI430
    resource: "{RESOURCE}"
    visa_library: sim:ami430.yaml
    options: {{welcome_lines: 0, timeout: 200}}
    adapter: ami430:AMI430Magnet
    adapter_options: {{coil: {{tesla_per_amp: 0.1, max_current_A: 90}}}}
""")
    lab = Lab(load_lab(path))
    try:
        magnet = lab.role("magnet")
        assert isinstance(magnet, MagnetSupply) and magnet.coil == COIL
        with pytest.raises(LimitError, match=r"\[0, 0.4\]"):
            magnet.set_ramp_rate(0.45)
        magnet.set_ramp_rate(0.4)
        magnet.set_field(0.2)
        magnet.wait_until_holding(timeout_s=120)
        assert world.field() == pytest.approx(0.2)
    finally:
        lab.close()
