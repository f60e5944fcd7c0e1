"""Lakeshore 370 twin: channel 1 is the sample's four-probe pads, channel 2 a RuOx on the stage.

Wiring and the choices made where the instrument leaves room:
- Channel 1 (sample): RDGR? is :meth:`VirtualCryostat.bridge_resistance` at the excitation
  current of RDGRNG, so a large excitation heats the sample as the model's Joule heating says.
  Current mode: the current of the index. Voltage mode: the bridge drives the current that puts
  the chosen voltage across the full scale of the selected range, I = V / R_range; this stays
  finite on a superconducting sample (where V / R_sample would not) and is how a voltage-limited
  bridge sets its current for a range. There is no calibration curve on the sample: RDGK? is 0
  with status bit 128 (T under).
- Channel 2 (thermometer): RDGK? is the stage temperature, RDGR? the RuOx curve
  :func:`ruox_ohms` at that temperature.
- Channels 3-16 have no sensor: the open current leads overload the current source, so the
  reading is 0 with status bit 1 (CS overload).
- Excitation off (cs_off = 1): the bridge demodulates noise only: RDGR? is voltage noise over the
  nominal current, RDGPWR? is 0, and channel 2 loses its temperature (0 K, T under).
- Autorange picks the smallest range that holds the low-current resistance; without it a reading
  above the range's full scale sets status bit 16 (R over) and is still reported.
- Scanner: only the scanned channel measures; the others keep their last reading. After SCAN (or
  an RDGRNG change on the scanned channel) the channel reports its old reading until the pause
  (INSET) plus, with the filter on, the filter settle time (FILTER) have passed. Autoscan is kept
  and read back but does not step the scanner.
- Control loop: the 370's heater is not wired to the stage in this cryostat (the Lakeshore 350
  controls temperature), as if its output drove a dummy load. CSET, CMODE, HTRRNG, SETP, MOUT,
  PID, RAMP and STILL are kept and read back; SETP? ramps at the RAMP rate on the virtual clock
  and RAMPST? says whether it still moves. HTR? is 0 with the range off or mode off, MOUT in open
  loop, and in PID and zone modes a proportional estimate P x error (clipped to 0-100 %) from the
  control channel's latest reading: error = setpoint - T in kelvin units, R - setpoint in ohm
  units (a RuOx warms as its resistance falls); 0 when that channel has no valid reading.
  HTRST? is always 0 (no heater error).
"""

from __future__ import annotations

import math

from daclab.sim.binding import Twin, register_twin

CHANNELS = range(1, 17)
SAMPLE_CHANNEL, THERMOMETER_CHANNEL = 1, 2
CS_OVERLOAD, R_OVER, T_UNDER = 1, 16, 128

# Index tables, index i at position i - 1, each a factor sqrt(10) apart.
RANGE_OHM = [2e-3 * math.sqrt(10) ** k for k in range(22)]
CURRENT_A = [1e-12 * math.sqrt(10) ** k for k in range(22)]
VOLTAGE_V = [2e-6 * math.sqrt(10) ** k for k in range(12)]


def ruox_ohms(temperature_K: float) -> float:
    """A RuOx-like thermometer: 1 kohm at 300 K, rising as exp(sqrt(T0 / T)) on cooling (T0 = 4 K)."""
    t = max(temperature_K, 0.05)
    return 1000.0 * math.exp(math.sqrt(4.0 / t) - math.sqrt(4.0 / 300.0))


def _fields(values, spec):
    """Parse several arguments against (name, low, high, integer) tuples; ValueError names the first bad one."""
    if len(values) != len(spec):
        raise ValueError(f"expected {len(spec)} fields, got {values!r}")
    parsed = []
    for value, (name, low, high, integer) in zip(values, spec):
        number = float(value)
        if not low <= number <= high or (integer and number != int(number)):
            raise ValueError(f"{name} = {value} outside [{low}, {high}]")
        parsed.append(int(number) if integer else number)
    return parsed


CHANNEL = ("channel", 1, 16, True)
ON_OFF = ("on", 0, 1, True)


@register_twin
class Lakeshore370Twin(Twin):
    device_name = "lakeshore370"

    def initial_state(self) -> dict:
        return {
            "range": {ch: [0, 3, 13, 0, 0] for ch in CHANNELS},  # mode, excitation, range, autorange, cs_off
            "inset": {ch: [1, 10, 3, 0, 2] for ch in CHANNELS},  # on, dwell, pause, curve, tempco
            "filter": {ch: [0, 10, 2] for ch in CHANNELS},  # on, settle, window
            # last reading (ohm, K, W, status); a channel without a sensor reads overload from the start
            "last": {ch: (0.0, 0.0, 0.0, 0 if ch in (SAMPLE_CHANNEL, THERMOMETER_CHANNEL) else CS_OVERLOAD)
                     for ch in CHANNELS},
            "scan": [1, 0],
            "valid_from": -math.inf,
            "cset": [THERMOMETER_CHANNEL, 0, 1, 10, 1, 8, 100.0],
            "cmode": 4, "htrrng": 0, "mout": 0.0, "still": 0.0,
            "pid": [10.0, 20.0, 0.0],
            "ramp": [0, 0.1],
            "setpoint": {"target": 0.0, "origin": 0.0, "t0": 0.0},
        }

    def properties(self):
        return {
            "resistance": (lambda ch: self._reading(ch)[0], None),
            "kelvin": (lambda ch: self._reading(ch)[1], None),
            "power": (lambda ch: self._reading(ch)[2], None),
            "status": (lambda ch: self._reading(ch)[3], None),
            # pyvisa-sim hands channel ids over as strings
            "reading_range": (lambda ch: "{},{:02d},{:02d},{},{}".format(*self.state["range"][int(ch)]), None),
            "input_setup": (lambda ch: "{},{:03d},{:03d},{:02d},{}".format(*self.state["inset"][int(ch)]), None),
            "filter_setup": (lambda ch: "{},{:03d},{:02d}".format(*self.state["filter"][int(ch)]), None),
            "scanner": (lambda: "{:02d},{}".format(*self.state["scan"]), self._set_scan),
            "set_reading_range": (None, self._set_reading_range),
            "set_input_setup": (None, self._set_input_setup),
            "set_filter_setup": (None, self._set_filter_setup),
            "control_setup": (lambda: "{:02d},{},{},{:03d},{},{},{:+.4E}".format(*self.state["cset"]), self._set_control_setup),
            "control_mode": self._kept("cmode"),
            "heater_range": self._kept("htrrng"),
            "setpoint": (self._setpoint_now, self._set_setpoint),
            "manual_output": self._kept("mout"),
            "heater_output": (self._heater_output, None),
            "heater_status": (lambda: 0, None),
            "pid": (lambda: "{:+.3f},{:+.1f},{:+.1f}".format(*self.state["pid"]), self._set_pid),
            "ramp": (lambda: "{},{:.3f}".format(*self.state["ramp"]), self._set_ramp),
            "ramp_status": (lambda: int(self._ramping()), None),
            "still": self._kept("still"),
        }

    def actions(self):
        return {"*RST": self._reset}

    def _reset(self) -> None:
        self.world.instrument_state[self.device_name] = self.initial_state()

    def _now(self) -> float:
        return self.world.clock.now()

    def _kept(self, key):
        """(getter, setter) of a setting the twin only stores and reads back, under ``key``."""
        def set_(value):
            self.state[key] = value
        return (lambda: self.state[key]), set_

    # ---- readings -----------------------------------------------------------------------

    def _reading(self, channel) -> tuple[float, float, float, int]:
        channel, state = int(channel), self.state
        if channel == state["scan"][0] and self._now() >= state["valid_from"]:
            state["last"][channel] = self._measure(channel)
        return state["last"][channel]

    def _measure(self, channel: int):
        if channel not in (SAMPLE_CHANNEL, THERMOMETER_CHANNEL):
            return 0.0, 0.0, 0.0, CS_OVERLOAD
        world = self.world
        settings = self.state["range"][channel]
        stage_K = world.stage_temperature() + world.thermometer_noise() if channel == THERMOMETER_CHANNEL else None
        if settings[3]:  # autorange on the low-current resistance
            if channel == SAMPLE_CHANNEL:
                estimate = world.sample_resistance()
            else:
                estimate = ruox_ohms(stage_K)
            settings[2] = next((i + 1 for i, full in enumerate(RANGE_OHM) if full >= estimate), len(RANGE_OHM))
        mode, excitation, range_index, _auto, off = settings
        current = CURRENT_A[excitation - 1] if mode == 1 else VOLTAGE_V[excitation - 1] / RANGE_OHM[range_index - 1]
        if off:
            return world.voltage_noise() / current, 0.0, 0.0, T_UNDER
        if channel == SAMPLE_CHANNEL:
            ohms, kelvin, status = world.bridge_resistance(current), 0.0, T_UNDER
        else:
            ohms, kelvin, status = ruox_ohms(stage_K), stage_K, 0
        if abs(ohms) > RANGE_OHM[range_index - 1]:
            status |= R_OVER
        return ohms, kelvin, current ** 2 * abs(ohms), status

    def _restart_settling(self, channel: int) -> None:
        pause = self.state["inset"][channel][2]
        filter_on, settle = self.state["filter"][channel][:2]
        self.state["valid_from"] = self._now() + pause + (settle if filter_on else 0)

    def _set_scan(self, values):
        channel, autoscan = _fields(values, (CHANNEL, ("autoscan", 0, 1, True)))
        self.state["scan"] = [channel, autoscan]
        self._restart_settling(channel)

    def _set_reading_range(self, values):
        channel, mode, excitation, range_index, autorange, off = _fields(values, (
            CHANNEL, ("mode", 0, 1, True), ("excitation", 1, 22, True), ("range", 1, 22, True),
            ("autorange", 0, 1, True), ("cs_off", 0, 1, True)))
        if mode == 0 and excitation > len(VOLTAGE_V):
            raise ValueError(f"voltage excitation index {excitation} outside [1, {len(VOLTAGE_V)}]")
        self.state["range"][channel] = [mode, excitation, range_index, autorange, off]
        if channel == self.state["scan"][0]:
            self._restart_settling(channel)

    def _set_input_setup(self, values):
        channel, *setup = _fields(values, (CHANNEL, ON_OFF, ("dwell", 1, 200, True), ("pause", 3, 200, True),
                                           ("curve", 0, 20, True), ("tempco", 1, 2, True)))
        self.state["inset"][channel] = setup

    def _set_filter_setup(self, values):
        channel, *setup = _fields(values, (CHANNEL, ON_OFF, ("settle", 1, 200, True), ("window", 1, 80, True)))
        self.state["filter"][channel] = setup

    # ---- control loop (kept, not wired) -------------------------------------------------

    def _set_control_setup(self, values):
        self.state["cset"] = _fields(values, (
            CHANNEL, ("filter", 0, 1, True), ("units", 1, 2, True), ("delay", 1, 255, True),
            ("display", 1, 2, True), ("limit", 1, 8, True), ("resistance", 1, 1e5, False)))

    def _set_pid(self, values):
        self.state["pid"] = _fields(values, (("P", 0.001, 1000, False), ("I", 0, 10000, False), ("D", 0, 2500, False)))

    def _setpoint_now(self) -> float:
        setpoint = self.state["setpoint"]
        on, rate = self.state["ramp"]
        if not on:
            return setpoint["target"]
        step = rate * (self._now() - setpoint["t0"]) / 60.0
        gap = setpoint["target"] - setpoint["origin"]
        return setpoint["target"] if abs(gap) <= step else setpoint["origin"] + math.copysign(step, gap)

    def _ramping(self) -> bool:
        return self._setpoint_now() != self.state["setpoint"]["target"]

    def _set_setpoint(self, value: float):
        self.state["setpoint"] = {"target": value, "origin": self._setpoint_now(), "t0": self._now()}

    def _set_ramp(self, values):
        on, rate = _fields(values, (ON_OFF, ("rate", 0.001, 10, False)))
        present = self._setpoint_now()  # the ramp goes on from where it is, at the new rate
        self.state["setpoint"].update(origin=present, t0=self._now())
        self.state["ramp"] = [on, rate]

    def _heater_output(self) -> float:
        state = self.state
        if state["htrrng"] == 0 or state["cmode"] == 4:
            return 0.0
        if state["cmode"] == 3:
            return state["mout"]
        channel, _filtered, units = state["cset"][:3]
        ohms, kelvin, _power, status = self._reading(channel)
        if status & (CS_OVERLOAD | R_OVER) or (units == 1 and status & T_UNDER):
            return 0.0
        error = self._setpoint_now() - kelvin if units == 1 else ohms - self._setpoint_now()
        return min(max(state["pid"][0] * error, 0.0), 100.0)
