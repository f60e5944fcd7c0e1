"""Cryomagnetics 4G driver and adapter against its twin: the virtual cryostat's magnet, through pyvisa."""

import pytest
import pyvisa

from daclab import clock as clocks
from daclab import sim
from daclab.instruments.cryomagnetics4g import Cryomagnetics4G, Cryomagnetics4GMagnet, Reading
from daclab.instruments.magnet import Coil, MagnetQuenchError
from daclab.limits import LimitError, SoftwareLimits

RESOURCE = "GPIB0::4::INSTR"
COIL = Coil(tesla_per_amp=0.1, max_current_A=90.0)
HEAT_S = 20.0  # the adapter's wait for the switch; the twin's switch warms in 15 s


@pytest.fixture
def g4(world):
    supply = Cryomagnetics4G(RESOURCE, visa_library=f"{sim.sim_config('cryomagnetics4g.yaml')}@sim", timeout=200)
    supply.check_errors()  # the sim device (and its register) outlives a world: start clean
    yield supply
    supply.adapter.close()


@pytest.fixture
def magnet(g4):
    return Cryomagnetics4GMagnet(g4, COIL, SoftwareLimits(max_field_T=9.0, max_field_rate_T_per_min=0.5),
                                 switch_heating_s=HEAT_S)


def test_sweep_takes_distance_over_rate_and_the_field_follows(world, g4, magnet):
    magnet.set_ramp_rate(0.25)
    assert [g4.rate(r) for r in range(5)] == [pytest.approx(0.25 / 60 / 0.1, abs=1e-4)] * 5
    magnet.set_field(2.0)  # heats the switch (20 s), then sweeps UP to ULIM = 20 A
    start = world.clock.now()
    assert g4.upper_limit == 20.0 and g4.sweeping
    clocks.sleep(240)      # half of 2 T / 0.25 T/min
    assert magnet.field() == pytest.approx(1.0, abs=1e-4) and world.field() == pytest.approx(1.0, abs=1e-6)
    assert g4.magnet_reading == Reading(pytest.approx(10.0, abs=1e-4), "A")
    clocks.sleep(239)
    assert g4.sweeping and magnet.field() < 2.0
    magnet.wait_until_holding(timeout_s=600, poll_s=0.5)
    assert world.clock.now() - start == pytest.approx(480.0, abs=0.5)
    assert magnet.field() == pytest.approx(2.0) and not g4.sweeping and g4.status_byte == 0

    magnet.set_field(-0.5)  # sweeps DOWN to LLIM through zero: 2.5 T
    start = world.clock.now()
    assert g4.lower_limit == -5.0
    magnet.wait_until_holding(timeout_s=1200, poll_s=0.5)
    assert world.clock.now() - start == pytest.approx(600.0, abs=0.5)
    assert world.field() == pytest.approx(-0.5)


def test_sweep_up_and_down_go_to_the_limits(world, g4, magnet):
    magnet.set_ramp_rate(0.5)
    magnet.set_field(0.0)  # couples the supply (heats the switch)
    g4.upper_limit, g4.lower_limit = 10.0, 4.0
    g4.sweep("UP")
    clocks.sleep(120 + 1)
    assert g4.magnet_reading.value == pytest.approx(10.0) and not g4.sweeping
    g4.sweep("DOWN")
    clocks.sleep(30)
    assert g4.sweeping and g4.output_reading.value == pytest.approx(7.5)
    g4.sweep("PAUSE")
    clocks.sleep(100)
    assert not g4.sweeping and g4.output_reading.value == pytest.approx(7.5)


def test_ramp_rate_and_field_beyond_the_limits_are_refused_and_nothing_changes(world, g4, magnet):
    magnet.set_ramp_rate(0.2)
    with pytest.raises(LimitError, match=r"field ramp rate = 0.6 T/min is outside the allowed range \[0, 0.5\]"):
        magnet.set_ramp_rate(0.6)
    assert g4.rate(0) == pytest.approx(0.0333, abs=1e-4)
    with pytest.raises(LimitError, match=r"target field = 9.5 T is outside the allowed range \[-9, 9\] T"):
        magnet.set_field(9.5)
    clocks.sleep(60)
    assert g4.upper_limit == 0.0 and not g4.switch_heater_enabled and world.field() == 0.0
    assert g4.check_errors() == []


def test_a_sweep_faster_than_the_coil_takes_quenches_it(world, g4, magnet):
    world.magnet.parameters.safe_rate_T_per_min = 0.2
    magnet.set_ramp_rate(0.4)
    magnet.set_field(3.0)
    with pytest.raises(MagnetQuenchError):
        magnet.wait_until_holding(timeout_s=900)
    assert magnet.quenched() and g4.quench_present and g4.status_byte & 4
    assert world.magnet.quench_count == 1
    clocks.sleep(30)
    assert magnet.field() == pytest.approx(0.0, abs=1e-6)
    g4.reset_quench()
    assert not magnet.quenched()


def test_zero_brings_the_field_down_at_the_set_rate(world, g4, magnet):
    magnet.set_ramp_rate(0.5)
    magnet.set_field(1.0)
    magnet.wait_until_holding(timeout_s=600)
    magnet.set_ramp_rate(0.25)
    magnet.zero()
    start = world.clock.now()
    clocks.sleep(120)
    assert g4.sweeping and magnet.field() == pytest.approx(0.5, abs=1e-4)
    magnet.wait_until_holding(timeout_s=600, poll_s=0.5)
    assert world.clock.now() - start == pytest.approx(240.0, abs=0.5)
    assert magnet.field() == 0.0


def test_units_change_every_value_and_its_suffix(world, g4, magnet):
    magnet.set_ramp_rate(0.5)
    magnet.set_field(1.5)
    magnet.wait_until_holding(timeout_s=600)
    g4.units = "kG"
    assert g4.units == "kG" and g4.magnet_reading == Reading(pytest.approx(15.0), "kG")
    assert g4.upper_limit == pytest.approx(15.0)  # ULIM 15 A shown in kG
    assert magnet.field() == pytest.approx(1.5)    # the adapter reads any unit
    g4.units = "T"
    g4.upper_limit = 2.0
    g4.units = "G"
    assert g4.upper_limit == pytest.approx(20000.0)
    g4.units = "A"
    assert g4.upper_limit == pytest.approx(20.0)


def test_persistent_mode_keeps_the_coil_current_while_the_leads_run_down(world, g4, magnet):
    magnet.set_ramp_rate(0.5)
    magnet.set_field(1.5)
    magnet.wait_until_holding(timeout_s=600)
    g4.switch_heater_enabled = False
    clocks.sleep(20)
    g4.sweep("ZERO", "FAST")                     # leads only: allowed with the heater off
    clocks.sleep(20)
    assert g4.output_reading.value == pytest.approx(0.0) and g4.magnet_reading.value == pytest.approx(15.0)
    assert world.field() == pytest.approx(1.5)
    g4.switch_heater_enabled = True              # refused: output 0 A, magnet 15 A
    assert g4.check_errors() == ["execution error"] and not g4.switch_heater_enabled

    magnet.set_field(0.5)                        # leads back to 15 A, heat, then sweep down
    assert g4.switch_heater_enabled and g4.sweeping
    magnet.wait_until_holding(timeout_s=600)
    assert magnet.field() == pytest.approx(0.5) and g4.output_reading.value == pytest.approx(5.0)


def test_unknown_commands_and_refused_values_set_the_event_status_bits(world, g4):
    assert g4.id.startswith("CRYOMAGNETICS,4G")
    g4.write("SWEEP_UP")
    assert g4.event_status == 32
    with pytest.raises(pyvisa.errors.VisaIOError):
        g4.ask("FIELD?")                          # no reply to an unknown query
    assert g4.check_errors() == ["command error"]
    for command in ("ULIM 150", "LLIM -100.5", "RATE 5 0.1", "RATE 0 30", "RATE 0 nan", "UNITS mT",
                    "SWEEP SIDEWAYS", "PSHTR MAYBE", "RATE? 7"):
        g4.write(command)
        assert g4.check_errors() == ["execution error"], command
    g4.write("PSHTR ON")
    clocks.sleep(20)
    g4.write("SWEEP UP FAST")                     # FAST is for the leads alone
    assert g4.check_errors() == ["execution error"]
    g4.write("PSHTR OFF")
    g4.write("SWEEP UP")                          # refused while the switch cools
    assert g4.check_errors() == ["execution error"]
    assert g4.upper_limit == 0.0 and g4.lower_limit == 0.0 and g4.units == "A"
    assert g4.rate(0) == pytest.approx(0.0167, abs=1e-4)
    g4.remote()
    g4.local()
    g4.clear()
    assert g4.check_errors() == []
