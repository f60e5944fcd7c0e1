"""Lakeshore 350 twin: input A is the control thermometer on the stage that holds the cell,
input B a second one on the cell body, which follows the sample with its thermal lag; outputs
1-2 heat the stage.

Choices where the manual leaves room:
- ``SETP?`` during a ramp returns the setpoint the loop is regulating to at that moment (the
  ramping value), which is what the front panel shows; ``RAMPST?`` tells whether it still moves.
- Inputs C-D have no sensor: they read 0 K with status 1 (invalid reading).
- A loop regulates only when OUTMODE names input A (1) as its control input.
- ``INTYPE`` is kept per input; an input whose sensor type is 0 (disabled) reads 0 K with status
  1 (invalid), so disabling input A blinds the loop's thermometer as on the instrument. Units and
  ranges are stored, not modelled (readings stay in kelvin).
- Outputs 3-4 (analog outputs) keep SETP, RAMP, PID, MOUT, OUTMODE and RANGE per world but drive
  nothing; their setpoint never ramps (RAMPST? 0).
- ``HTRST?`` reads ``state["heater_status"][output]``: set it to 1 (open load) or 2 (short) to
  rehearse a heater fault.
"""

from __future__ import annotations

from daclab.limits import check_range
from daclab.sim.binding import Twin, register_twin

HEATER_OHMS = {1: 25.0, 2: 50.0}
MAX_CURRENT_A = {1: 0.707, 2: 1.0, 3: 1.141, 4: 2.0}
MAX_POWER_W = {1: 75.0, 2: 50.0}  # output 1 is the 75 W loop, output 2 the 50 W one


def cernox_ohms(temperature_K: float) -> float:
    """A Cernox-like sensor: resistance rising steeply on cooling (30 ohm at 300 K)."""
    return 30.0 * (300.0 / max(temperature_K, 0.1)) ** 0.85


DEFAULT_INPUT_TYPE = "3,1,0,1,1,1"  # NTC RTD (the Cernox), autorange, compensation, kelvin, 10 mV
ANALOG_OUTPUTS = (3, 4)


def _numbers(values, names, ranges):
    """Parse several arguments, raising ValueError naming the first bad one."""
    return [check_range(name, value, low, high) for value, name, (low, high) in zip(values, names, ranges)]


def _heater_power(output: int, values) -> float:
    """Full power of a heater output set up by HTRSET (resistance, max current, user max, display)."""
    resistance, current_code, user_max, _display = _numbers(
        values, ("resistance code", "max current code", "user max current A", "display"),
        ((1, 2), (0, 4), (0, 2), (1, 2)))
    current = user_max if current_code == 0 else MAX_CURRENT_A[int(current_code)]
    return min(current ** 2 * HEATER_OHMS[int(resistance)], MAX_POWER_W[output])


def _pid_text(values) -> str:
    """PID? as the 350 sends it: +P,+I,+D with one, one and no decimal (+50.0,+20.0,+0)."""
    p, i, d = Lakeshore350Twin._checked_pid(values)
    return f"{p:+.1f},{i:+.1f},{d:+.0f}"


def _heater_setup_text(values) -> str:
    """HTRSET? as the 350 sends it: resistance, max current, user max current (+n.nnn A), display."""
    resistance, current_code, user_max, display = (float(v) for v in values)
    return f"{int(resistance)},{int(current_code)},{user_max:+.3f},{int(display)}"


def _joined(check):
    """Parser of a several-field setting: check the fields, keep them as the instrument echoes them."""
    def parse(values):
        check(values)
        return ",".join(values)
    return parse


@register_twin
class Lakeshore350Twin(Twin):
    device_name = "lakeshore350"

    def initial_state(self) -> dict:
        return {
            "input_type": {ch: DEFAULT_INPUT_TYPE for ch in "ABCD"},
            "heater_status": {1: 0, 2: 0},
            "heater_setup": {1: "1,4,+0.000,1", 2: "1,2,+0.000,1"},  # the YAML's power-on setups
            "analog": {n: {"setpoint": 0.0, "ramp": "0,0.000", "pid": "+50.0,+20.0,+0", "output_mode": "0,0,0",
                           "manual_output": 0.0, "range": 0} for n in ANALOG_OUTPUTS},
        }

    def _loop(self, output: int):
        """The model's heater loop on ``output``, brought up to the present virtual time."""
        self.world.update()
        return self.world.stage.loops[output]

    def properties(self):
        props = {
            "kelvin": (self._kelvin, None),
            "celsius": (lambda ch: self._kelvin(ch) - 273.15 if self._sensor_present(ch) else 0.0, None),
            "sensor_units": (self._sensor_units, None),
            "reading_status": (lambda ch: 0 if self._sensor_present(ch) else 1, None),
            "input_type": (lambda ch: self.state["input_type"][ch], self._set_input_type),
        }
        for n in (1, 2):
            props.update({
                f"setpoint_{n}": (self._getter(n, lambda loop: loop.ramping_setpoint_K),
                                  lambda value, n=n: self._loop(n).set_setpoint(value)),
                f"ramp_{n}": (self._getter(n, lambda loop: f"{int(loop.ramp_enabled)},{loop.ramp_rate_K_per_min:.3f}"),
                              self._setter(n, ("ramp_enabled", "ramp_rate_K_per_min"), self._checked_ramp)),
                f"ramp_status_{n}": (self._getter(n, lambda loop: int(loop.ramping)), None),
                f"range_{n}": (self._getter(n, lambda loop: loop.heater_range), self._setter(n, ("heater_range",))),
                # a range switched off reads 0 at once, not the output of the last model step
                f"heater_{n}": (self._getter(n, lambda loop: loop.output_percent if loop.heater_range else 0.0), None),
                f"pid_{n}": (self._getter(n, lambda loop: f"{loop.p:+.1f},{loop.i:+.1f},{loop.d:+.0f}"),
                             self._setter(n, ("p", "i", "d"), self._checked_pid)),
                f"output_mode_{n}": (self._getter(n, lambda loop: f"{loop.mode},{loop.control_input},{loop.powerup}"),
                                     self._setter(n, ("mode", "control_input", "powerup"), self._checked_output_mode)),
                f"manual_output_{n}": (self._getter(n, lambda loop: loop.manual_output_percent),
                                       self._setter(n, ("manual_output_percent",))),
                f"heater_setup_{n}": (lambda n=n: self.state["heater_setup"][n],
                                      lambda values, n=n: self._set_heater_setup(n, values)),
                f"heater_status_{n}": (lambda n=n: self.state["heater_status"][n], None),
            })
        for n in ANALOG_OUTPUTS:
            props.update({
                f"setpoint_{n}": self._analog(n, "setpoint", float),
                f"ramp_{n}": self._analog(n, "ramp", _joined(self._checked_ramp)),
                f"ramp_status_{n}": (lambda: 0, None),
                f"pid_{n}": self._analog(n, "pid", _pid_text),
                f"output_mode_{n}": self._analog(n, "output_mode", _joined(self._checked_output_mode)),
                f"manual_output_{n}": self._analog(n, "manual_output", float),
                f"range_{n}": self._analog(n, "range", int),
            })
        return props

    def actions(self):
        return {"KRDG? 0": self._all_kelvin, "*RST": self._reset, "*CLS": self.clear_errors}

    # ---- inputs -------------------------------------------------------------------------

    def _sensor_present(self, channel: str) -> bool:
        """Inputs A (stage) and B (cell body) have a Cernox wired, unless disabled."""
        return channel in "AB" and not self.state["input_type"][channel].startswith("0,")

    def _kelvin(self, channel: str) -> float:
        if not self._sensor_present(channel):
            return 0.0
        truth = self.world.stage_temperature() if channel == "A" else self.world.sample_temperature()
        return truth + self.world.thermometer_noise()

    def _sensor_units(self, channel: str) -> float:
        return cernox_ohms(self._kelvin(channel)) if self._sensor_present(channel) else 0.0

    def _set_input_type(self, channel: str, value: str):
        fields = value.split(",")
        if len(fields) != 6 or not all(f.strip().isdigit() for f in fields):
            raise ValueError(f"INTYPE {channel},{value}: six integer fields expected")
        _numbers(fields, ("sensor type", "autorange", "range", "compensation", "units", "excitation"),
                 ((0, 5), (0, 1), (0, 8), (0, 1), (1, 3), (0, 1)))
        self.state["input_type"][channel] = ",".join(f.strip() for f in fields)

    def _all_kelvin(self) -> str:
        return ",".join(f"{self._kelvin(ch):+08.3f}" for ch in "ABCD")

    # ---- outputs ------------------------------------------------------------------------

    def _getter(self, output, read):
        return lambda: read(self._loop(output))

    def _setter(self, output, attributes, check=lambda value: (value,)):
        """Setter of a loop setting: ``check`` the value (ValueError if refused) into one field per
        loop attribute, then bring the model up to now and store the fields in ``attributes``."""
        def set_(value):
            fields = check(value)
            loop = self._loop(output)
            for attribute, field in zip(attributes, fields, strict=True):
                setattr(loop, attribute, field)
        return set_

    @staticmethod
    def _checked_ramp(values):
        on, rate = _numbers(values, ("ramp on", "ramp rate K/min"), ((0, 1), (0, 100)))
        if on not in (0, 1) or 0 < rate < 0.001:
            raise ValueError(f"RAMP {values}: on must be 0|1, rate 0 or 0.001-100 K/min")
        return bool(on), rate

    def _set_heater_setup(self, output: int, values) -> None:
        power = _heater_power(output, values)  # refuses a field out of range before anything changes
        self._loop(output).full_power_W = power
        self.state["heater_setup"][output] = _heater_setup_text(values)

    @staticmethod
    def _checked_pid(values):
        return _numbers(values, ("P", "I", "D"), ((0.1, 1000), (0.1, 1000), (0, 200)))

    @staticmethod
    def _checked_output_mode(values):
        numbers = _numbers(values, ("mode", "input", "powerup"), ((0, 5), (0, 8), (0, 1)))
        if any(n != int(n) for n in numbers):
            raise ValueError(f"OUTMODE {values}: integer fields expected")
        return [int(n) for n in numbers]

    def _analog(self, output, key, parse):
        """Getter and setter of one setting of an analog output, kept in the world's state."""
        def get():
            return self.state["analog"][output][key]

        def set_(value):
            self.state["analog"][output][key] = parse(value)
        return get, set_

    def _reset(self) -> None:
        """*RST: heaters off and ramps off, setpoints kept (the instrument's power-up defaults)."""
        self.world.update()
        for loop in self.world.stage.loops.values():
            loop.heater_range = 0
            loop.ramp_enabled = False
            loop.set_setpoint(loop.setpoint_K)
        for analog in self.state["analog"].values():
            analog["range"] = 0
            analog["ramp"] = "0," + analog["ramp"].split(",")[1]
