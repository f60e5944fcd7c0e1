"""AMI Model 430 twin: the supply drives the cryostat's magnet (world.magnet).

The circuit (:class:`daclab.sim.magnet_supply.SupplyCircuit`, shared with the Cryomagnetics 4G
twin, which drives the same magnet with another grammar):

- the simulated magnet has ``COIL_T_PER_A`` = 0.1 T/A (9 T at 90 A). The supply converts with
  the coil constant *it is given* (``CONF:COIL``): a wrong one makes its field readings and
  targets wrong by the same factor, as on a real supply;
- a persistent switch is installed (``PS:INST?`` 1) and its heater is off at power-on, with the
  coil at zero. With the heater on and the switch warm, the supply drives the coil: RAMP, PAUSE
  and ZERO act on world.magnet. With the switch cold (persistent mode) the coil keeps its current
  whatever the supply does: the supply then ramps only its leads (a second Magnet in the twin's
  state, which cannot quench), and ``CURR:SUPP?`` and ``CURR:MAG?`` differ;
- the switch takes ``PS:HTIME`` s to heat (``STATE?`` 9) and ``PS:CTIME`` s to cool
  (``STATE?`` 10); a ramp asked for meanwhile is refused;
- the heater may only be turned on when the supply's current matches the coil's (within 1 mA)
  and the leads stand still, and off only when the coil is not ramping: heating the switch
  across a current step would force the step into the coil. Both refusals are execution errors.

Ramp rates: the 430 keeps its segments in amperes (rate per second, upper bound); the rate in
force for a ramp is that of the segment holding the supply's present current, taken when the
ramp starts or a rate changes (a ramp crossing into another segment keeps its rate: a
simplification). Field values follow ``FIELD:UNITS`` (tesla, or kG when 0) and rates
``CONF:RAMP:RATE:UNITS`` (per second when 0, per minute when 1).

Errors go to the ``SYST:ERR?`` queue declared in the YAML: unknown commands and queries (a
query gets no reply), out-of-range values, and refused actions (RAMP during a switch transition,
PS 1 with unequal currents). ``QU 1`` forces a quench, as the 430's own command does.
"""

from __future__ import annotations

from daclab.sim.binding import register_twin
from daclab.sim.magnet_supply import COIL_T_PER_A, SupplyCircuit, SupplyTwin, circuit_state, finite

MAX_CURRENT_A = 125.0
RATE_RANGE_A_PER_S = (1e-4, 10.0)
SEGMENTS = 10
STATE_CODES = {
    "ramping": 1, "holding": 2, "paused": 3, "zeroing": 6, "quench": 7, "at_zero": 8,
    "heating_switch": 9, "cooling_switch": 10,
}


def segment_rate(segments: list, count: int, current_A: float) -> float:
    """Rate (A/s) of the first segment whose upper bound lies above |current|, else the last."""
    for rate, upper in segments[:count]:
        if abs(current_A) < upper:
            return rate
    return segments[count - 1][0]


def _numbers(values, names) -> list[float]:
    try:
        return [finite(v) for v in values]
    except ValueError:
        raise ValueError(f"{', '.join(names)}: not finite numbers: {values}") from None


@register_twin
class AMI430Twin(SupplyTwin):
    device_name = "ami430"

    def initial_state(self) -> dict:
        default_rate = 0.1 / 60.0 / COIL_T_PER_A  # 0.1 T/min
        return {
            "field_units": 1,  # tesla
            "rate_units": 0,   # per second
            "coil_T_per_A": COIL_T_PER_A,
            "current_limit_A": 90.0,
            "target_A": 0.0,
            "segment_count": 1,
            "segments": [[default_rate, 90.0] for _ in range(SEGMENTS)],
            **circuit_state(),
        }

    def properties(self):
        return {
            "field_units": self._kept("field_units", int),
            "rate_units": self._kept("rate_units", int),
            "coil": (self._coil_in_units, self._set_coil),
            "current_limit": (lambda: self.state["current_limit_A"], self._set_current_limit),
            "field": (lambda: self._field_in_units(self._reading(SupplyCircuit.magnet_current_A)), None),
            "magnet_current": (lambda: self._reading(SupplyCircuit.magnet_current_A), None),
            "supply_current": (lambda: self._reading(SupplyCircuit.supply_current_A), None),
            "magnet_voltage": (lambda: self._reading(SupplyCircuit.magnet_volts), None),
            "supply_voltage": (lambda: self._reading(SupplyCircuit.supply_volts), None),
            "target_field": (lambda: self._field_in_units(self.state["target_A"]), self._set_target_field),
            "target_current": (lambda: self.state["target_A"], self._set_target_current),
            "segment_count": (lambda: self.state["segment_count"], self._set_segment_count),
            "segment_field": (None, self._set_segment_field),
            "segment_current": (None, self._set_segment_current),
            "rate_field": (self._segment_field, None),
            "rate_current": (self._segment_current, None),
            "state": (lambda: STATE_CODES.get(self._reading(SupplyCircuit.state_name), 3), None),
            "switch_heater": (lambda: int(self.state["heater_on"]), self._set_heater),
            "switch_installed": (lambda: int(self.state["switch_installed"]), None),
            "persistent": (lambda: int(self._reading(SupplyCircuit.persistent)), None),
            "switch_current": (None, None),  # bound only so that a value out of range is an execution error
            "switch_heat_time": self._kept("heat_s"),
            "switch_cool_time": self._kept("cool_s"),
            "quench": (self._quench_state, self._set_quench),
            "quench_count": (lambda: self._reading(lambda c: c.coil.quench_count), None),
        }

    def actions(self):
        return {"RAMP": self._ramp, "PAUSE": self._pause, "ZERO": self._zero, "*CLS": self.clear_errors}

    # ---- units ----------------------------------------------------------------------------

    def _field_factor(self) -> float:
        """Field-unit value per tesla: 1 for T, 10 for kG."""
        return 1.0 if self.state["field_units"] == 1 else 10.0

    def _time_factor(self) -> float:
        """Seconds per rate time unit."""
        return 60.0 if self.state["rate_units"] == 1 else 1.0

    def _field_in_units(self, amps: float) -> float:
        """What the 430 shows for a current: through its configured coil constant."""
        return amps * self.state["coil_T_per_A"] * self._field_factor()

    def _amps_from_field(self, value: float) -> float:
        return value / self._field_factor() / self.state["coil_T_per_A"]

    def _coil_in_units(self) -> float:
        return self.state["coil_T_per_A"] * self._field_factor()

    def _reading(self, read):
        return read(self.circuit())

    # ---- settings -------------------------------------------------------------------------

    def _kept(self, key, parse=finite):
        """(getter, setter) of a setting the twin only stores, under ``key`` in its state."""
        def set_(value):
            self.state[key] = parse(value)
        return (lambda: self.state[key]), set_

    def _set_coil(self, value: float):
        self.state["coil_T_per_A"] = finite(value) / self._field_factor()

    def _set_current_limit(self, value: float):
        state = self.state
        if abs(state["target_A"]) > finite(value):
            raise ValueError(f"current limit {value} A below the present target")
        state["current_limit_A"] = value

    def _set_target_current(self, value: float):
        circuit, state = self.circuit(), self.state
        if abs(finite(value)) > state["current_limit_A"]:
            raise ValueError(f"target {value} A beyond the current limit {state['current_limit_A']} A")
        state["target_A"] = value
        driven = circuit.driven()
        if driven.state == "ramping":  # the 430 follows a new target during a ramp
            driven.target_T = value * COIL_T_PER_A

    def _set_target_field(self, value: float):
        self._set_target_current(self._amps_from_field(value))

    def _set_segment_count(self, value: int):
        self.state["segment_count"] = value
        self._apply_rate()

    def _set_segment(self, values, to_amps):
        segment, rate, upper = _numbers(values, ("segment", "rate", "upper bound"))
        rate_A_s, upper_A = to_amps(rate) / self._time_factor(), to_amps(upper)
        low, high = RATE_RANGE_A_PER_S
        if segment != int(segment) or not 1 <= segment <= SEGMENTS:
            raise ValueError(f"segment {segment} outside 1-{SEGMENTS}")
        if not low <= rate_A_s <= high or not 0 < upper_A <= MAX_CURRENT_A:
            raise ValueError(f"rate {rate_A_s} A/s or bound {upper_A} A out of range")
        self.state["segments"][int(segment) - 1] = [rate_A_s, upper_A]
        self._apply_rate()

    def _set_segment_field(self, values):
        self._set_segment(values, self._amps_from_field)

    def _set_segment_current(self, values):
        self._set_segment(values, lambda amps: amps)

    def _segment(self, channel) -> tuple[float, float]:
        rate_A_s, upper_A = self.state["segments"][int(channel) - 1]
        return rate_A_s * self._time_factor(), upper_A

    def _segment_field(self, channel) -> str:
        rate, upper = self._segment(channel)
        return f"{self._field_in_units(rate):.8g},{self._field_in_units(upper):.8g}"

    def _segment_current(self, channel) -> str:
        rate, upper = self._segment(channel)
        return f"{rate:.8g},{upper:.8g}"

    def _rate_now(self, circuit: SupplyCircuit) -> float:
        state = self.state
        return segment_rate(state["segments"], state["segment_count"], circuit.supply_current_A())

    def _apply_rate(self) -> None:
        """A new rate takes effect at once, also during a ramp."""
        circuit = self.circuit()
        circuit.set_rate(self._rate_now(circuit))

    def _set_heater(self, value: int):
        self.circuit().set_heater(bool(value))

    def _quench_state(self) -> int:
        return int(self._reading(lambda c: c.coil.state == "quench"))

    def _set_quench(self, value: int):
        circuit = self.circuit()
        if value == 0:
            circuit.coil.reset_quench()
        elif circuit.coil.state != "quench":  # QU 1: a quench triggered from the supply
            circuit.coil.state = "quench"
            circuit.coil.quench_count += 1

    # ---- actions --------------------------------------------------------------------------

    def _ramp(self):
        circuit = self.circuit()
        circuit.ramp(self.state["target_A"], self._rate_now(circuit))  # ValueError: refused

    def _pause(self):
        self.circuit().pause()

    def _zero(self):
        circuit = self.circuit()
        circuit.zero(self._rate_now(circuit))  # ValueError: refused

