"""Lakeshore 350 twin: input A is the thermometer on the cell; outputs 1-2 heat the stage.

Choices where the manual leaves room:
- ``SETP?`` during a ramp returns the setpoint the loop is regulating to at that moment (the
  ramping value), which is what the front panel shows; ``RAMPST?`` tells whether it still moves.
- Inputs B-D have no sensor: they read 0 K with status 1 (invalid reading).
- A loop regulates only when OUTMODE names input A (1) as its control input.
"""

from __future__ import annotations

from daclab.sim.binding import Twin, register_twin

HEATER_OHMS = {1: 25.0, 2: 50.0}
MAX_CURRENT_A = {1: 0.707, 2: 1.0, 3: 1.141, 4: 2.0}
MAX_POWER_W = {1: 75.0, 2: 50.0}  # output 1 is the 75 W loop, output 2 the 50 W one


def cernox_ohms(temperature_K: float) -> float:
    """A Cernox-like sensor: resistance rising steeply on cooling (30 ohm at 300 K)."""
    return 30.0 * (300.0 / max(temperature_K, 0.1)) ** 0.85


def _numbers(values, names, ranges):
    """Parse several arguments, raising ValueError naming the first bad one."""
    parsed = []
    for value, name, (low, high) in zip(values, names, ranges):
        number = float(value)
        if not low <= number <= high:
            raise ValueError(f"{name} = {number} outside [{low}, {high}]")
        parsed.append(number)
    return parsed


@register_twin
class Lakeshore350Twin(Twin):
    device_name = "lakeshore350"

    def _loop(self, output: int):
        return self.world.stage.loops[output]

    def properties(self):
        props = {
            "kelvin": (self._kelvin, None),
            "sensor_units": (self._sensor_units, None),
            "reading_status": (lambda ch: 0 if ch == "A" else 1, None),
        }
        for n in (1, 2):
            props.update({
                f"setpoint_{n}": (self._getter(n, lambda loop: loop.ramping_setpoint_K), self._set_setpoint(n)),
                f"ramp_{n}": (self._getter(n, lambda loop: f"{int(loop.ramp_enabled)},{loop.ramp_rate_K_per_min:.3f}"),
                              self._set_ramp(n)),
                f"ramp_status_{n}": (self._getter(n, lambda loop: int(loop.ramping)), None),
                f"range_{n}": (self._getter(n, lambda loop: loop.heater_range), self._set_range(n)),
                f"heater_{n}": (self._getter(n, lambda loop: loop.output_percent), None),
                f"pid_{n}": (self._getter(n, lambda loop: f"{loop.p:+.1f},{loop.i:+.1f},{loop.d:+.0f}"), self._set_pid(n)),
                f"output_mode_{n}": (self._getter(n, lambda loop: f"{loop.mode},{loop.control_input},{loop.powerup}"),
                                     self._set_output_mode(n)),
                f"manual_output_{n}": (self._getter(n, lambda loop: loop.manual_output_percent), self._set_manual(n)),
                f"heater_setup_{n}": (None, self._set_heater_setup(n)),
            })
        return props

    def actions(self):
        return {"KRDG? 0": self._all_kelvin, "*RST": self._reset}

    # ---- inputs -------------------------------------------------------------------------

    def _kelvin(self, channel: str) -> float:
        if channel != "A":
            return 0.0
        return self.world.stage_temperature() + self.world.thermometer_noise()

    def _sensor_units(self, channel: str) -> float:
        return cernox_ohms(self._kelvin("A")) if channel == "A" else 0.0

    def _all_kelvin(self) -> str:
        return ",".join(f"{self._kelvin(ch):+08.3f}" for ch in "ABCD")

    # ---- outputs ------------------------------------------------------------------------

    def _getter(self, output, read):
        def get():
            self.world.update()
            return read(self._loop(output))
        return get

    def _set_setpoint(self, output):
        def set_(value: float):
            self.world.update()
            self._loop(output).set_setpoint(value)
        return set_

    def _set_ramp(self, output):
        def set_(values):
            on, rate = _numbers(values, ("ramp on", "ramp rate K/min"), ((0, 1), (0, 100)))
            if on not in (0, 1) or 0 < rate < 0.001:
                raise ValueError(f"RAMP {values}: on must be 0|1, rate 0 or 0.001-100 K/min")
            self.world.update()
            loop = self._loop(output)
            loop.ramp_enabled, loop.ramp_rate_K_per_min = bool(on), rate
        return set_

    def _set_range(self, output):
        def set_(value: int):
            self.world.update()
            self._loop(output).heater_range = value
        return set_

    def _set_pid(self, output):
        def set_(values):
            p, i, d = _numbers(values, ("P", "I", "D"), ((0.1, 1000), (0.1, 1000), (0, 200)))
            self.world.update()
            loop = self._loop(output)
            loop.p, loop.i, loop.d = p, i, d
        return set_

    def _set_output_mode(self, output):
        def set_(values):
            mode, control_input, powerup = _numbers(values, ("mode", "input", "powerup"), ((0, 5), (0, 8), (0, 1)))
            self.world.update()
            loop = self._loop(output)
            loop.mode, loop.control_input, loop.powerup = int(mode), int(control_input), int(powerup)
        return set_

    def _set_manual(self, output):
        def set_(value: float):
            self.world.update()
            self._loop(output).manual_output_percent = value
        return set_

    def _set_heater_setup(self, output):
        def set_(values):
            resistance, current_code, user_max, _display = _numbers(
                values, ("resistance code", "max current code", "user max current A", "display"),
                ((1, 2), (0, 4), (0, 2), (1, 2)))
            current = user_max if current_code == 0 else MAX_CURRENT_A[int(current_code)]
            self.world.update()
            power = current ** 2 * HEATER_OHMS[int(resistance)]
            self._loop(output).full_power_W = min(power, MAX_POWER_W[output])
        return set_

    def _reset(self) -> None:
        """*RST: heaters off and ramps off, setpoints kept (the instrument's power-up defaults)."""
        self.world.update()
        for loop in self.world.stage.loops.values():
            loop.heater_range = 0
            loop.ramp_enabled = False
            loop.set_setpoint(loop.setpoint_K)
