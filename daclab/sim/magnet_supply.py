"""The supply side of the magnet circuit, shared by every simulated magnet supply.

A supply drives the cryostat's magnet (world.magnet) through its leads and a persistent switch:
with the switch warm the supply moves the coil; with it cold (persistent mode) the coil keeps
its current and the supply ramps only its leads. See :class:`SupplyCircuit`.
"""

from __future__ import annotations

import math

from daclab.sim.binding import Twin
from daclab.sim.magnet import Magnet, MagnetParameters

COIL_T_PER_A = 0.1           # the simulated 9 T magnet
INDUCTANCE_H = 20.0
LEAD_RESISTANCE_OHM = 0.005  # supply leads, warm and cold parts together
CURRENT_MATCH_A = 1e-3


def circuit_state(heat_s: float = 20.0, cool_s: float = 20.0) -> dict:
    """The power-on state of the supply's side of the circuit (kept in Twin.state)."""
    return {
        "switch_installed": True,
        "heater_on": False,
        "switch_changed_s": -math.inf,
        "heat_s": heat_s,
        "cool_s": cool_s,
        "leads": Magnet(MagnetParameters(rated_field_T=math.inf, safe_rate_T_per_min=math.inf)),
        "leads_t": None,
    }


class SupplyCircuit:
    """A supply, its leads and a persistent switch across world.magnet, at the present time.

    Built per command: it brings the world and the leads up to the clock first. Currents are in
    amperes; the Magnet objects count in tesla of the real coil (current * COIL_T_PER_A).
    """

    def __init__(self, world, state: dict):
        self.world, self.s = world, state
        world.update()
        now = world.clock.now()
        if self.s["leads_t"] is not None and now > self.s["leads_t"]:
            self.leads.step(now - self.s["leads_t"])
        self.s["leads_t"] = now

    @property
    def coil(self) -> Magnet:
        return self.world.magnet

    @property
    def leads(self) -> Magnet:
        return self.s["leads"]

    def switch_phase(self) -> str:
        """none (no switch), heating, warm, cooling or cold."""
        if not self.s["switch_installed"]:
            return "none"
        elapsed = self.world.clock.now() - self.s["switch_changed_s"]
        if self.s["heater_on"]:
            return "heating" if elapsed < self.s["heat_s"] else "warm"
        return "cooling" if elapsed < self.s["cool_s"] else "cold"

    def coupled(self) -> bool:
        return self.switch_phase() in ("none", "warm")

    def persistent(self) -> bool:
        return self.switch_phase() == "cold"

    def driven(self) -> Magnet:
        """What the supply's ramps move now: the coil, or only the leads."""
        return self.coil if self.coupled() else self.leads

    # ---- readings -------------------------------------------------------------------------

    def magnet_current_A(self) -> float:
        return self.coil.field_T / COIL_T_PER_A

    def supply_current_A(self) -> float:
        return self.magnet_current_A() if self.coupled() else self.leads.field_T / COIL_T_PER_A

    def state_name(self) -> str:
        if self.coil.state == "quench":
            return "quench"
        phase = self.switch_phase()
        if phase in ("heating", "cooling"):
            return f"{phase}_switch"
        return self.driven().state

    def magnet_volts(self) -> float:
        """L dI/dt while the supply moves the coil."""
        coil = self.coil
        if not self.coupled() or coil.state not in ("ramping", "zeroing"):
            return 0.0
        goal = coil.target_T if coil.state == "ramping" else 0.0
        direction = math.copysign(1.0, goal - coil.field_T) if goal != coil.field_T else 0.0
        return direction * INDUCTANCE_H * coil.rate_T_per_min / 60.0 / COIL_T_PER_A

    def supply_volts(self) -> float:
        return self.magnet_volts() + LEAD_RESISTANCE_OHM * self.supply_current_A()

    # ---- commands (raise ValueError when the instrument refuses) --------------------------

    def _check_settled(self, what: str) -> None:
        if self.switch_phase() in ("heating", "cooling"):
            raise ValueError(f"{what} refused while the persistent switch is {self.switch_phase()}")

    def set_rate(self, rate_A_per_s: float) -> None:
        self.driven().rate_T_per_min = rate_A_per_s * COIL_T_PER_A * 60.0

    def ramp(self, target_A: float, rate_A_per_s: float) -> None:
        self._check_settled("ramp")
        magnet = self.driven()
        magnet.target_T = target_A * COIL_T_PER_A
        self.set_rate(rate_A_per_s)
        magnet.ramp()

    def pause(self) -> None:
        self.driven().pause()

    def zero(self, rate_A_per_s: float) -> None:
        self._check_settled("zero")
        self.set_rate(rate_A_per_s)
        self.driven().zero()

    def set_heater(self, on: bool) -> None:
        if not self.s["switch_installed"]:
            raise ValueError("no persistent switch installed")
        if on == self.s["heater_on"]:
            return
        if on:
            if self.leads.state in ("ramping", "zeroing"):
                raise ValueError("switch heater refused while the supply ramps")
            if abs(self.supply_current_A() - self.magnet_current_A()) > CURRENT_MATCH_A:
                raise ValueError("switch heater refused: supply current differs from the magnet current")
        else:
            if self.coupled() and self.coil.state in ("ramping", "zeroing"):
                raise ValueError("switch heater stays on while the magnet ramps")
            self._leads_take_over()
        self.s["heater_on"] = on
        self.s["switch_changed_s"] = self.world.clock.now()

    def _leads_take_over(self) -> None:
        """The supply keeps the coil's current in its leads when the switch starts to cool."""
        coil, leads = self.coil, self.leads
        leads.field_T, leads.target_T, leads.rate_T_per_min = coil.field_T, coil.target_T, coil.rate_T_per_min
        leads.state = "at_zero" if coil.field_T == 0.0 else ("paused" if coil.state == "paused" else "holding")


class SupplyTwin(Twin):
    """Base of the supply twins: their state holds :func:`circuit_state`'s keys."""

    def circuit(self) -> SupplyCircuit:
        """The circuit brought up to the clock; build it afresh for each command."""
        return SupplyCircuit(self.world, self.state)


def finite(value) -> float:
    """The value as a float; ValueError (the instrument's refusal) for nan, inf or text."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number
