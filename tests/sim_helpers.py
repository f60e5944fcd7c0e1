"""Helpers shared by the tests that run drivers against the virtual cryostat."""


def hold(world, kelvin):
    """Stage and sample at ``kelvin``, held there by the Lakeshore 350's loop 1 (closed loop on input A)."""
    world.update()
    loop = world.stage.loops[1]
    loop.mode, loop.control_input, loop.heater_range, loop.ramp_enabled = 1, 1, 5, False
    loop.set_setpoint(kelvin)
    world.stage.stage_K = world.stage.sample_K = kelvin


def noise_ohm(world, current_A):
    return world.sample.noise_nV * 1e-9 / current_A


def model_reading(world, current_A):
    """The noise-free four-probe resistance at ``current_A`` now (Joule heating included)."""
    temperature, field, days = world.sample_conditions()
    return world.sample.four_probe_voltage(current_A, temperature, field, days) / current_A
