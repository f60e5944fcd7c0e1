"""Thermal model of the cryostat: a cold stage cooled by the helium bath and warmed by heaters.

The stage (the cell body with its thermometer) has a heat capacity C(T) and loses heat to the
bath through a link, P_cool = G (T - T_base). Up to two heater loops follow a setpoint the way a
Lakeshore 350 does: the setpoint may ramp at a chosen rate, the heater range caps the power in
decades, and the loop's gains set how tightly the stage follows (a loop with I = 0 droops below
its setpoint by P_cool / gain, as a real proportional-only loop does). The sample inside the
cell lags the stage with a time constant, so a cooling sweep and a warming sweep read the
transition at different thermometer temperatures.
"""

from __future__ import annotations

import dataclasses
import math

from daclab.sim.ramp import step_towards

HEATER_RANGES = 5  # Lakeshore 350 outputs 1-2: 1-5 are decades of power, 5 = full power
# A stage held on its setpoint stays there whatever the step (see ThermalStage.held), so days
# parked at a standby temperature take a few steps instead of ~10^4 per day.
HELD_STEP_S = 3600.0
HELD_TOLERANCE_K = 1e-6  # the loop's exponential approach closes any smaller gap within one step


@dataclasses.dataclass
class ThermalParameters:
    base_K: float = 1.5  # pumped helium bath
    max_K: float = 320.0  # the stage never warms beyond this (over-temperature protection)
    link_W_per_K: float = 0.02  # cooling power per kelvin above the bath
    heat_capacity_300K_J_per_K: float = 40.0  # cell, sample stage and thermometer block: hours to cool
    sample_lag_s: float = 300.0  # thermometer-to-sample time constant through the cell


@dataclasses.dataclass
class HeaterLoop:
    """One heater output and its control settings (what SETP, RAMP, RANGE, PID, OUTMODE set)."""

    setpoint_K: float = 300.0  # target written by the user
    ramp_enabled: bool = False
    ramp_rate_K_per_min: float = 0.0  # 0 = no limit
    ramping_setpoint_K: float = 300.0  # where the ramp has reached
    heater_range: int = 0
    p: float = 50.0
    i: float = 20.0
    d: float = 0.0
    mode: int = 1  # 0 off, 1 closed loop, 2 zone, 3 open loop, 4 monitor, 5 warm-up
    control_input: int = 1  # 1 = the thermometer on the stage; the other inputs have no sensor
    powerup: int = 0
    manual_output_percent: float = 0.0
    full_power_W: float = 75.0
    output_percent: float = 0.0  # last heater output, for HTR?

    @property
    def rate_limited(self) -> bool:
        """Whether setpoint changes ramp (a ramp rate of 0 means no limit)."""
        return self.ramp_enabled and self.ramp_rate_K_per_min > 0

    @property
    def ramping(self) -> bool:
        return self.rate_limited and self.ramping_setpoint_K != self.setpoint_K

    def set_setpoint(self, value_K: float) -> None:
        self.setpoint_K = value_K
        if not self.rate_limited:
            self.ramping_setpoint_K = value_K

    def range_power_W(self) -> float:
        if self.heater_range <= 0:
            return 0.0
        return self.full_power_W * 10.0 ** (self.heater_range - HEATER_RANGES)

    def advance_ramp(self, dt: float) -> None:
        if not self.rate_limited:
            self.ramping_setpoint_K = self.setpoint_K
            return
        self.ramping_setpoint_K = step_towards(self.ramping_setpoint_K, self.setpoint_K, self.ramp_rate_K_per_min / 60.0 * dt)


class ThermalStage:
    def __init__(self, parameters: ThermalParameters | None = None, start_K: float = 300.0):
        self.parameters = parameters or ThermalParameters()
        self.stage_K = start_K
        self.sample_K = start_K
        self.loops = {1: HeaterLoop(setpoint_K=start_K, ramping_setpoint_K=start_K),
                      2: HeaterLoop(setpoint_K=start_K, ramping_setpoint_K=start_K, full_power_W=50.0, mode=0, control_input=0)}
        self._pending_heat_J = 0.0

    def heat_capacity(self, temperature_K: float) -> float:
        # Falls steeply at low temperature (lattice ~T^3 turning to ~T^1.5 over the range here).
        x = temperature_K / 300.0
        return self.parameters.heat_capacity_300K_J_per_K * (0.01 + 0.99 * x ** 1.5)

    def cooling_power(self, temperature_K: float) -> float:
        return self.parameters.link_W_per_K * (temperature_K - self.parameters.base_K)

    def deposit_heat(self, joules: float) -> None:
        """A heat pulse into the stage (e.g. a magnet quench), released on the next step."""
        self._pending_heat_J += joules

    def max_step_s(self) -> float:
        if self.held():
            return HELD_STEP_S
        # Explicit steps must stay well inside the stage's own relaxation time C/G.
        return min(10.0, 0.5 * self.heat_capacity(self.stage_K) / self.parameters.link_W_per_K)

    def held(self) -> bool:
        """Whether :meth:`step` leaves the stage where it is for any dt: no heat pending, no
        setpoint ramping, and either nothing heating with the stage on the bath, or one closed
        loop with integral action whose setpoint the stage sits on, with the power to stay there
        inside its range. The loop's approach and the sample's lag are exact exponentials, so
        long steps then give the same world as short ones."""
        if self._pending_heat_J or any(loop.ramping for loop in self.loops.values()):
            return False
        heating = [loop for loop in self.loops.values() if loop.range_power_W() > 0 and loop.mode not in (0, 4)
                   and (loop.mode == 3 or loop.control_input == 1)]
        if not heating:
            return self.stage_K == self.parameters.base_K
        if len(heating) != 1:
            return False
        loop = heating[0]
        if loop.mode == 3 or loop.i <= 0:  # open loop or droop: the stage still settles
            return False
        on_setpoint = abs(self.stage_K - loop.ramping_setpoint_K) <= HELD_TOLERANCE_K
        return on_setpoint and 0.0 <= self.cooling_power(self.stage_K) <= loop.range_power_W()

    def step(self, dt: float) -> None:
        c = self.heat_capacity(self.stage_K)
        p_cool = self.cooling_power(self.stage_K)
        heater_W = 0.0
        for loop in self.loops.values():
            loop.advance_ramp(dt)
            power = self._loop_power(loop, c, p_cool, heater_W, dt)
            full = loop.range_power_W()
            loop.output_percent = 100.0 * power / full if full > 0 else 0.0
            heater_W += power
        heat = self._pending_heat_J
        self._pending_heat_J = 0.0
        p = self.parameters
        self.stage_K += ((heater_W - p_cool) * dt + heat) / c
        self.stage_K = min(max(self.stage_K, p.base_K), p.max_K)
        self.sample_K = self.stage_K + (self.sample_K - self.stage_K) * math.exp(-dt / p.sample_lag_s)

    def _loop_power(self, loop: HeaterLoop, c: float, p_cool: float, other_W: float, dt: float) -> float:
        full = loop.range_power_W()
        if full <= 0 or loop.mode in (0, 4):
            return 0.0
        if loop.mode != 3 and loop.control_input != 1:  # closed loop on a missing sensor: no regulation
            return 0.0
        if loop.mode == 3:
            return full * min(max(loop.manual_output_percent, 0.0), 100.0) / 100.0
        gain_W_per_K = max(loop.p, 1e-6) / 100.0 * full  # output % = P x error
        target = loop.ramping_setpoint_K
        if loop.i <= 0:
            target -= p_cool / gain_W_per_K  # proportional-only droop
        tau = max(c / gain_W_per_K, 1e-3)
        wanted = target + (self.stage_K - target) * math.exp(-dt / tau)
        needed = c * (wanted - self.stage_K) / dt + p_cool - other_W
        return min(max(needed, 0.0), full)
