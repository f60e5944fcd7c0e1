"""The thermal stage, the magnet and the world's lazy time stepping."""

import numpy as np
import pytest

from daclab import clock as clocks
from daclab import sim
from daclab.sim.magnet import Magnet, MagnetParameters


def ramp(world, target_K, rate_K_per_min, heater_range=5):
    loop = world.stage.loops[1]
    world.update()
    loop.heater_range = heater_range
    loop.ramp_enabled, loop.ramp_rate_K_per_min = True, rate_K_per_min
    loop.set_setpoint(target_K)


def test_stage_follows_a_ramp_at_its_rate(world):
    ramp(world, 250.0, 1.0)
    clocks.sleep(1800)  # 30 min at 1 K/min
    assert world.stage_temperature() == pytest.approx(270.0, abs=0.2)
    clocks.sleep(3600)
    assert world.stage_temperature() == pytest.approx(250.0, abs=0.05)
    assert not world.stage.loops[1].ramping


def test_heater_off_lets_the_stage_cool_towards_the_bath(world):
    world.stage.loops[1].heater_range = 0
    clocks.sleep(24 * 3600)
    assert world.stage_temperature() < 2.0
    assert world.stage_temperature() >= world.stage.parameters.base_K


def test_too_low_a_heater_range_cannot_hold_a_high_setpoint(world):
    ramp(world, 300.0, 0.0, heater_range=2)  # range 2: 75 W / 1000
    clocks.sleep(3 * 3600)
    assert world.stage_temperature() < 280.0
    assert world.stage.loops[1].output_percent == pytest.approx(100.0)


def test_proportional_only_loop_droops_below_its_setpoint(world):
    loop = world.stage.loops[1]
    loop.heater_range, loop.p, loop.i = 5, 5.0, 0.0
    loop.set_setpoint(200.0)
    clocks.sleep(6 * 3600)
    droop = 200.0 - world.stage_temperature()
    expected = world.stage.cooling_power(200.0 - droop) / (loop.p / 100 * loop.range_power_W())
    assert droop == pytest.approx(expected, rel=0.05)
    assert droop > 0.1


def test_sample_lags_the_thermometer_so_cooling_and_warming_differ():
    world = sim.use(sim.VirtualCryostat("ceh9_cell1", start_K=120.0))
    rate = 1.0  # K/min
    lag_K = rate / 60 * world.stage.parameters.sample_lag_s
    ramp(world, 80.0, rate)
    clocks.sleep(20 * 60)
    cooling_offset = world.sample_temperature() - world.stage_temperature()
    ramp(world, 120.0, rate)
    clocks.sleep(20 * 60)
    warming_offset = world.sample_temperature() - world.stage_temperature()
    assert cooling_offset == pytest.approx(lag_K, rel=0.1)  # sample warmer while cooling
    assert warming_offset == pytest.approx(-lag_K, rel=0.1)  # and colder while warming


def test_lazy_stepping_gives_the_same_world_however_often_it_is_read():
    worlds = [sim.VirtualCryostat("ceh9_cell1", seed=3) for _ in range(2)]
    for w in worlds:
        ramp(w, 100.0, 2.0)
    worlds[0].clock.advance(7200)
    for _ in range(7200 // 37):
        worlds[1].clock.advance(37)
        worlds[1].update()
    worlds[1].clock.advance(7200 - 37 * (7200 // 37))
    assert worlds[0].stage_temperature() == pytest.approx(worlds[1].stage_temperature(), abs=0.02)


def test_magnet_ramps_holds_and_zeroes():
    magnet = Magnet()
    magnet.target_T, magnet.rate_T_per_min = 5.0, 0.25
    magnet.ramp()
    for _ in range(600):  # 10 min
        magnet.step(1.0)
    assert magnet.field_T == pytest.approx(2.5)
    assert magnet.state == "ramping"
    for _ in range(700):
        magnet.step(1.0)
    assert magnet.state == "holding" and magnet.field_T == 5.0
    magnet.zero()
    for _ in range(1300):
        magnet.step(1.0)
    assert magnet.state == "at_zero" and magnet.field_T == 0.0


def test_magnet_quenches_when_ramped_too_fast_and_warms_the_cryostat():
    world = sim.use(sim.VirtualCryostat("ceh9_cell1", start_K=4.0,
                                        magnet=MagnetParameters(stored_energy_at_rating_J=5.0)))
    world.stage.loops[1].heater_range = 0
    world.magnet.field_T, world.magnet.target_T, world.magnet.state = 4.0, 9.0, "holding"
    world.magnet.rate_T_per_min = 2.0  # four times the coil's safe rate
    before = world.stage_temperature()
    world.magnet.ramp()
    clocks.sleep(1.0)
    world.update()
    assert world.magnet.state == "quench"
    assert world.stage_temperature() > before + 1.0
    clocks.sleep(30.0)
    assert abs(world.field()) < 0.01


def test_magnet_field_lands_on_target_in_the_right_virtual_time(world):
    world.magnet.target_T, world.magnet.rate_T_per_min = 3.0, 0.3
    world.magnet.ramp()
    clocks.sleep(599.0)
    world.update()
    assert world.magnet.state == "ramping"
    clocks.sleep(1.0)
    assert world.field() == pytest.approx(3.0) and world.magnet.state == "holding"


def test_active_world_is_created_on_demand_and_replaced_by_use():
    first = sim.active()
    assert isinstance(first, sim.VirtualCryostat)
    second = sim.use(sim.VirtualCryostat("lah10_aging"))
    assert sim.active() is second
    assert clocks.current() is second.clock


def test_thermoelectric_emf_drifts_slowly(world):
    e0 = world.thermoelectric_emf()
    clocks.sleep(1.0)
    e1 = world.thermoelectric_emf()
    clocks.sleep(3600.0)
    e2 = world.thermoelectric_emf()
    assert abs(e1 - e0) < 1e-9 < abs(e2 - e0)
    assert np.std([world.voltage_noise() for _ in range(2000)]) == pytest.approx(world.sample.noise_nV * 1e-9, rel=0.1)


def test_lead_voltage_is_the_sample_signal_plus_emf_and_noise(world):
    world.stage.stage_K = world.stage.sample_K = 150.0
    signal = world.lead_signal(1, 1e-3)
    assert signal == pytest.approx(1e-3 * float(world.sample.resistance(150.0)), rel=1e-4)  # mK of Joule heat
    readings = [world.lead_voltage(1, 1e-3) for _ in range(400)]
    assert np.mean(readings) - signal == pytest.approx(world.thermoelectric_emf(), abs=1e-9)
    assert world.lead_signal(2, 1e-3) == pytest.approx(world.sample.contact_voltage(1e-3, 150.0))
    with pytest.raises(ValueError, match="channel = 3 is not wired"):
        world.lead_signal(3, 1e-3)
