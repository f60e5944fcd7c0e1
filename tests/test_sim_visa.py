"""The Lakeshore 350 of the virtual cryostat, through pyvisa exactly as a driver talks to it."""

import pytest
import pyvisa
import yaml

from daclab import clock as clocks
from daclab import sim
from daclab.sim.binding import registered_twins


def test_readings_come_from_the_model_at_the_current_virtual_time(world, ls350):
    assert ls350.query("*IDN?").startswith("LSCI,MODEL350")
    assert float(ls350.query("KRDG? A")) == pytest.approx(300.0, abs=0.02)
    world.stage.stage_K = 123.4
    assert float(ls350.query("KRDG? A")) == pytest.approx(123.4, abs=0.02)
    assert float(ls350.query("SRDG? A")) > float(sim.twins.lakeshore350.cernox_ohms(300.0))
    assert ls350.query("RDGST? A") == "000" and ls350.query("RDGST? C") == "001"
    values = [float(v) for v in ls350.query("KRDG? 0").split(",")]
    assert values[0] == pytest.approx(123.4, abs=0.02) and values[2:] == [0.0, 0.0]
    assert values[1] == pytest.approx(world.sample_temperature(), abs=0.02)  # the cell lags the stage: still 300 K


def test_setpoint_and_ramp_change_what_krdg_returns_as_virtual_time_passes(world, ls350):
    ls350.write("OUTMODE 1,1,1,0;PID 1,50,20,0;RANGE 1,5")
    ls350.write("RAMP 1,1,0.5;SETP 1,280")
    assert ls350.query("RAMP? 1") == "1,0.500"
    assert ls350.query("RAMPST? 1") == "1"
    clocks.sleep(20 * 60)  # 20 min at 0.5 K/min: 10 K down
    assert float(ls350.query("SETP? 1")) == pytest.approx(290.0, abs=0.01)
    assert float(ls350.query("KRDG? A")) == pytest.approx(290.0, abs=0.1)
    assert float(ls350.query("HTR? 1")) > 0.0
    clocks.sleep(30 * 60)
    assert ls350.query("RAMPST? 1") == "0"
    assert float(ls350.query("KRDG? A")) == pytest.approx(280.0, abs=0.05)
    # without a ramp the setpoint steps at once and the stage follows within its own time constant
    ls350.write("RAMP 1,0,0;SETP 1,285")
    assert float(ls350.query("SETP? 1")) == 285.0
    clocks.sleep(600)
    assert float(ls350.query("KRDG? A")) == pytest.approx(285.0, abs=0.05)


def test_heater_range_zero_turns_the_heater_off_and_the_stage_cools(world, ls350):
    ls350.write("RANGE 1,0")
    assert ls350.query("RANGE? 1") == "0"
    clocks.sleep(3600)
    assert float(ls350.query("KRDG? A")) < 250.0
    assert float(ls350.query("HTR? 1")) == 0.0


def test_out_of_range_values_get_the_execution_error_bit_and_change_nothing(world, ls350):
    ls350.query("*ESR?")  # clear
    for command in ("RANGE 1,7", "SETP 1,-3", "RAMP 1,1,500", "PID 1,5000,20,0", "MOUT 1,120"):
        ls350.write(command)
        assert int(ls350.query("*ESR?")) & 16, command
    assert ls350.query("RANGE? 1") == "0"
    assert float(ls350.query("SETP? 1")) == 300.0
    assert ls350.query("RAMP? 1") == "0,0.000"
    assert ls350.query("PID? 1").startswith("+50.0")
    assert int(ls350.query("*ESR?")) == 0  # reading the register cleared it


def test_unknown_command_sets_the_command_error_bit_and_an_unknown_query_gets_no_reply(world, ls350):
    ls350.write("SETPOINT 1,10")
    assert int(ls350.query("*ESR?")) & 32
    with pytest.raises(pyvisa.errors.VisaIOError):
        ls350.query("KRDG? Q")


def test_heater_setup_caps_the_power_and_reads_back_in_the_manuals_layout(world, ls350):
    ls350.write("HTRSET 1,2,2,0,2")  # 50 ohm, 1 A: 50 W
    assert ls350.query("HTRSET? 1") == "2,2,+0.000,2"  # the user maximum as +n.nnn A
    assert world.stage.loops[1].full_power_W == pytest.approx(50.0)


def test_rst_turns_heaters_and_ramps_off(world, ls350):
    ls350.write("RANGE 1,5;RAMP 1,1,2;SETP 1,100")
    ls350.write("*RST")
    assert ls350.query("RANGE? 1") == "0" and ls350.query("RAMP? 1").startswith("0,")


def test_faults_on_demand(world, ls350):
    world.faults.add(sim.Fault("lakeshore350", "timeout", count=1))
    with pytest.raises(pyvisa.errors.VisaIOError) as timeout:
        ls350.query("KRDG? A")
    assert timeout.value.error_code == pyvisa.constants.StatusCode.error_timeout
    assert float(ls350.query("KRDG? A")) > 0  # healed after one command

    world.faults.add(sim.Fault("lakeshore350", "garbage", count=1))
    with pytest.raises(ValueError):
        float(ls350.query("KRDG? A"))

    world.faults.add(sim.Fault("lakeshore350", "disconnect", after_s=world.clock.now() + 60))
    assert float(ls350.query("KRDG? A")) > 0  # not yet
    clocks.sleep(61)
    for _ in range(2):
        with pytest.raises(pyvisa.errors.VisaIOError) as lost:
            ls350.query("KRDG? A")
        assert lost.value.error_code == pyvisa.constants.StatusCode.error_connection_lost
    world.faults.clear("lakeshore350")
    assert float(ls350.query("KRDG? A")) > 0


def test_fault_arguments_are_checked():
    with pytest.raises(ValueError, match="fault kind = 'smoke'"):
        sim.Fault("lakeshore350", "smoke")
    with pytest.raises(ValueError, match="probability = 2"):
        sim.Fault("lakeshore350", "timeout", probability=2)


def test_yaml_files_are_plain_pyvisa_sim_and_every_twin_binds_only_declared_commands():
    """Each sim config parses in pyvisa-sim; each registered twin has a device in some file."""
    declared = {}
    for path in sim.sim_configs_dir().glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        for name in data.get("devices", {}):
            declared[name] = path
        rm = pyvisa.ResourceManager(f"{path}@sim")  # binding raises if a twin names a missing command
        assert rm.list_resources("?*")
        rm.close()
    assert set(registered_twins()) <= set(declared)


def test_two_resource_managers_share_one_world(world, ls350):
    rm = pyvisa.ResourceManager(f"{sim.sim_config('lakeshore350.yaml')}@sim")
    other = rm.open_resource("ASRL3::INSTR", read_termination="\r\n", write_termination="\r\n")
    other.write("RANGE 1,3")
    assert ls350.query("RANGE? 1") == "3"
    rm.close()
