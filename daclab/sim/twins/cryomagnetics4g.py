"""Cryomagnetics 4G twin: the 4G's grammar driving the same magnet as the AMI 430 twin.

The circuit (supply, leads, persistent switch, coil) is the :class:`SupplyCircuit` the 430
twin uses too, with the same rules: switch installed, heater off at power-on; PSHTR ON only with
the output current equal to the magnet current; the switch takes ``HEAT_S`` to warm and
``COOL_S`` to cool, and no sweep may start meanwhile; with the switch cold, sweeps move only the
leads.

Sweep semantics mapped onto the Magnet:
- ``SWEEP UP`` ramps towards ULIM and ``SWEEP DOWN`` towards LLIM, from wherever the current is
  (the model goes to the limit on either side of it) [unsure: what the 4G does when ULIM lies
  below the present current]; once there the magnet holds, and ``*STB?`` bit 0 (sweep in
  progress) clears;
- ``SWEEP PAUSE`` stops where the current is; ``SWEEP ZERO`` ramps to zero;
- SLOW (or no speed) sweeps at the rate of the current range holding the present current
  (ranges 0-4 below 20, 40, 60, 80 A and beyond, fixed here; the rate is taken when the sweep
  starts or a rate changes); FAST sweeps at ``FAST_RATE_A_PER_S`` and is refused with the switch
  heater on, since it is meant for the leads alone;
- a limit beyond +-100 A (the 4G-100's output) or a rate outside 1e-4-20 A/s is refused.

``IMAG?``, ``IOUT?``, ``ULIM?`` and ``LLIM?`` answer in the units of ``UNITS`` with the unit as
a suffix, converting with the magnet's constant (the supply's field constant is taken as right).
Errors set ``*ESR?`` bits (the YAML): 32 for an unknown command, 16 for a refused value or
action; an unknown query gets no reply. ``*STB?`` bit 2 reports a quench; ``QRESET`` clears it.
"""

from __future__ import annotations

from daclab.sim.binding import register_twin
from daclab.sim.magnet_supply import COIL_T_PER_A, SupplyCircuit, SupplyTwin, circuit_state, finite

MAX_CURRENT_A = 100.0
RATE_RANGE_A_PER_S = (1e-4, 20.0)
RANGE_UPPER_A = (20.0, 40.0, 60.0, 80.0)  # ranges 0-3 end here; range 4 goes beyond
RANGES = range(len(RANGE_UPPER_A) + 1)
FAST_RATE_A_PER_S = 1.0
HEAT_S = 15.0
COOL_S = 15.0
UNIT_PER_AMP = {"A": 1.0, "kG": 10.0 * COIL_T_PER_A, "T": COIL_T_PER_A, "G": 1e4 * COIL_T_PER_A}
STB_SWEEPING, STB_QUENCH = 1, 4


def range_index(current_A: float) -> int:
    for index, upper in enumerate(RANGE_UPPER_A):
        if abs(current_A) < upper:
            return index
    return len(RANGE_UPPER_A)


@register_twin
class Cryomagnetics4GTwin(SupplyTwin):
    device_name = "cryomagnetics4g"

    def initial_state(self) -> dict:
        return {
            "units": "A",
            "upper_A": 0.0,
            "lower_A": 0.0,
            "rates": [0.1 / 60.0 / COIL_T_PER_A] * len(RANGES),  # 0.1 T/min
            "fast": False,
            **circuit_state(heat_s=HEAT_S, cool_s=COOL_S),
        }

    def properties(self):
        return {
            "units": (lambda: self.state["units"], self._set_units),
            "magnet_current": (lambda: self._reading(SupplyCircuit.magnet_current_A), None),
            "output_current": (lambda: self._reading(SupplyCircuit.supply_current_A), None),
            "upper_limit": (lambda: self._with_unit(self.state["upper_A"]), self._set_limit("upper_A")),
            "lower_limit": (lambda: self._with_unit(self.state["lower_A"]), self._set_limit("lower_A")),
            "sweep": (None, self._sweep),
            "rate": (None, self._set_rate),
            "rate_query": (None, self._rate_query),
            "switch_heater": (None, self._set_heater),
            "switch_heater_state": (lambda: int(self.state["heater_on"]), None),
            "status_byte": (self._status_byte, None),
        }

    def actions(self):
        return {"QRESET": self._reset_quench}

    # ---- readings -------------------------------------------------------------------------

    def _with_unit(self, amps: float) -> str:
        unit = self.state["units"]
        return f"{amps * UNIT_PER_AMP[unit]:.4f}{unit}"

    def _reading(self, read) -> str:
        return self._with_unit(read(self.circuit()))

    def _status_byte(self) -> int:
        state = self.circuit().state_name()
        return (STB_QUENCH if state == "quench" else 0) | (STB_SWEEPING if state in ("ramping", "zeroing") else 0)

    # ---- settings -------------------------------------------------------------------------

    def _set_units(self, value: str):
        self.state["units"] = value

    def _set_limit(self, key):
        def set_(value: str):
            state = self.state
            amps = finite(value) / UNIT_PER_AMP[state["units"]]
            if abs(amps) > MAX_CURRENT_A:
                raise ValueError(f"limit {amps} A beyond the supply's {MAX_CURRENT_A} A")
            state[key] = amps
        return set_

    def _set_rate(self, values):
        index, rate = (finite(v) for v in values)
        low, high = RATE_RANGE_A_PER_S
        if index not in RANGES or not low <= rate <= high:
            raise ValueError(f"RATE {values}: range 0-4, rate {low}-{high} A/s")
        circuit = self.circuit()
        self.state["rates"][int(index)] = rate
        circuit.set_rate(self._rate_now(circuit, self.state["fast"]))  # takes effect during a sweep too

    def _rate_query(self, index: int) -> str:
        return f"{self.state['rates'][index]:.4f}"  # the YAML's specs have checked the range

    def _rate_now(self, circuit: SupplyCircuit, fast: bool) -> float:
        if fast:
            return FAST_RATE_A_PER_S
        return self.state["rates"][range_index(circuit.supply_current_A())]

    def _set_heater(self, value: str):
        self.circuit().set_heater(value == "ON")

    # ---- sweeps ---------------------------------------------------------------------------

    def _sweep(self, value: str):
        mode, _, speed = value.partition(" ")
        fast = speed == "FAST"
        circuit, state = self.circuit(), self.state
        if fast and state["heater_on"]:
            raise ValueError("FAST sweeps are for the leads alone: switch heater off first")
        rate = self._rate_now(circuit, fast)
        if mode == "UP":
            circuit.ramp(state["upper_A"], rate)
        elif mode == "DOWN":
            circuit.ramp(state["lower_A"], rate)
        elif mode == "ZERO":
            circuit.zero(rate)
        else:
            circuit.pause()
            return
        state["fast"] = fast

    def _reset_quench(self):
        self.circuit().coil.reset_quench()
