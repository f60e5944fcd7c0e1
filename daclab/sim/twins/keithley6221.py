"""Keithley 6221 + 2182A twin: the 6221 drives the sample, the 2182A reads it.

Wiring (the virtual cryostat's): the 2182A's channel 1 is on the four-probe pads, channel 2
across the point contact; which one a reading uses is the 2182A's ``SENS:CHAN``, set through the
pass-through.

Runs in virtual time: ``INIT:IMM`` records the start and the moment each reading would be taken
(delta: delta delay + NPLC/60 per reversal; pulse delta: the pulse interval, or the sweep delay
per point; DCON: DCON delay + NPLC/60 per step). Readings exist only once the clock has passed
their moment (``TRAC:POIN:ACT?`` grows), and are computed from the model at the first query after
it, each with the thermal EMF at its own moment, so a drifting EMF cancels in delta and pulse
delta as on the real instrument. ``STAT:OPER:EVEN?`` reports bit 1 (2) once the last reading is
due, and clears on read.

Choices where the manual leaves room:
- Readings follow the instrument's fixed element order READ,TST,UNIT,RNUM,SOUR,COMP,AVOL,
  whatever order ``FORM:ELEM`` listed; ``FORM:ELEM?`` answers in that order too.
- UNIT: delta OHMS = V / ((HIGH - LOW) / 2), pulse delta OHMS = V / (HIGH - LOW), DCON OHMS =
  dV / dI; SIEM is the inverse, W = V x that current (peak power).
- A run drives the output (``OUTP?`` 1); it keeps ``world.source_current_A`` at 0, since the
  alternating drive has no DC value a standalone voltmeter could read. ``SOUR:SWE:ABOR``,
  ``SOUR:CLE`` and ``OUTP 0`` leave the output off.
- Pulse-delta sweeps: the cycle period of point i is ``SOUR:LIST:DEL`` i for a LIST sweep that
  has a delay per current, else ``SOUR:DEL``. Fixed pulses repeat every ``SOUR:PDEL:INT`` PLC.
- The 2182A ignores the link for 2 s after its ``*RST`` (commands sent then are lost), which is
  why a driver waits ~3 s. It answers a reading query after 2 NPLC (autozero) plus 10 ms.
- Power-line cycles are 1/60 s; the 6221-side averaging filter (``SENS:AVER``) and the 2182A
  filters are stored but do not change readings; a voltage beyond 1.2x a fixed 2182A range reads
  as the overflow value +9.9E37.
"""

from __future__ import annotations

import math

import numpy as np

from daclab.sim.binding import Twin, register_twin

ELEMENT_ORDER = ("READ", "TST", "UNIT", "RNUM", "SOUR", "COMP", "AVOL")
BUFFER_SIZE = 65536
MAX_CURRENT_A = 0.105
LIST_MAX = 65535
LINE_PERIOD_S = 1.0 / 60.0
SWEEP_DONE = 2
OVERFLOW_V = 9.9e37
NV_RESET_BUSY_S = 2.0
NV_REPLY_OVERHEAD_S = 0.01
UNIT_NAMES = {"V": "V", "OHMS": "OHM", "W": "W", "SIEM": "SIEM"}
ON_OFF = {"ON": 1, "OFF": 0, "1": 1, "0": 0}
NV_DEFAULTS = {
    "nv_channel": 1, "nv_nplc": 5.0, "nv_range_1": 100.0, "nv_range_2": 10.0, "nv_auto_range": 1,
    "nv_dfil": "ON", "nv_dfil_count": 10, "nv_dfil_window": 0.01, "nv_dfil_tcon": "MOV", "nv_lpas": "OFF",
}


def _count(value) -> float:
    """A count 1..65536, or INF (math.inf)."""
    text = str(value).strip().upper()
    if text == "INF":
        return math.inf
    number = float(text)
    if number != int(number) or not 1 <= number <= BUFFER_SIZE:
        raise ValueError(f"count = {value} outside 1-{BUFFER_SIZE} or INF")
    return int(number)


def _numbers(text: str, low: float, high: float, what: str) -> list[float]:
    values = [float(v) for v in str(text).split(",") if v.strip()]
    if not values or any(not low <= v <= high for v in values):
        raise ValueError(f"{what} list {text!r}: each value must be in [{low}, {high}]")
    return values


def _staircase_points(span: float, step: float) -> int:
    """Points of a linear staircase over ``span`` in steps of ``step`` (> 0), both ends included."""
    return int(math.floor(span / step + 1e-9)) + 1


def _elements(text: str) -> str:
    names = {name.strip().upper() for name in str(text).split(",") if name.strip()}
    if "ALL" in names:
        return ",".join(ELEMENT_ORDER)
    if not names or names - set(ELEMENT_ORDER):
        raise ValueError(f"FORM:ELEM {text!r}: elements are {', '.join(ELEMENT_ORDER)} or ALL")
    return ",".join(e for e in ELEMENT_ORDER if e in names)


# Settings kept in state["settings"]: YAML property -> (power-on value, parser of the written
# value after the YAML specs have checked it). Each is echoed by its query.
SETTINGS = {
    "source_current": (0.0, float),
    "source_range": (0.1, lambda v: abs(float(v))),
    "source_auto_range": (0, int),
    "compliance": (10.0, float),
    "output": (0, int),
    "source_delay": (1e-3, float),
    "unit": ("V", str),
    "power_type": ("PEAK", str),
    "elements": ("READ,TST", _elements),
    "average_state": (0, int),
    "average_control": ("MOV", str),
    "average_count": (10, int),
    "average_window": (0.0, float),
    "trace_points": (100, int),
    "timestamp_format": ("ABS", str),
    "delta_high": (1e-3, float),
    "delta_low": (-1e-3, float),
    "delta_delay": (2e-3, float),
    "delta_count": (100, _count),
    "sweep_count": (1, _count),
    "delta_cab": (0, ON_OFF.__getitem__),
    "delta_csw": (0, ON_OFF.__getitem__),
    "pdel_high": (1e-3, float),
    "pdel_low": (0.0, float),
    "pdel_width": (110e-6, float),
    "pdel_sdel": (60e-6, float),
    "pdel_count": (10, _count),
    "pdel_range": ("BEST", str),
    "pdel_interval": (5, int),
    "pdel_sweep": (0, ON_OFF.__getitem__),
    "pdel_lme": (2, int),
    "sweep_spacing": ("LIN", str),
    "sweep_start": (0.0, float),
    "sweep_stop": (0.0, float),
    "sweep_step": (0.0, float),
    "sweep_points": (1, int),
    "sweep_ranging": ("BEST", str),
    "dcon_start": (-10e-6, float),
    "dcon_stop": (10e-6, float),
    "dcon_step": (1e-6, float),
    "dcon_delta": (1e-6, float),
    "dcon_delay": (2e-3, float),
    "dcon_cab": (0, ON_OFF.__getitem__),
}
COUNT_SETTINGS = ("delta_count", "sweep_count", "pdel_count")
# SOUR:LIST:CURR / SOUR:LIST:DEL (and their :APP): state key -> (low, high, what each value is)
LIST_BOUNDS = {
    "list_currents": (-MAX_CURRENT_A, MAX_CURRENT_A, "current"),
    "list_delays": (1e-3, 999999.999, "delay"),
}
MODE_DATA_TYPE = {"DELT": "DELT", "PDEL": "PULS", "DCON": "DCON"}


@register_twin
class Keithley6221Twin(Twin):
    device_name = "keithley6221"

    def initial_state(self) -> dict:
        return {
            "settings": _default_settings(),
            "nv": dict(NV_DEFAULTS),
            "nv_busy_until": -math.inf,
            "nv_reply": None,  # (ready at world time, text)
            "list_currents": [],
            "list_delays": [],
            "armed": None,  # "DELT" | "PDEL" | "DCON"
            "run": None,
            "buffer": _empty_buffer(),
            "data_type": "NONE",
            "operation_event": 0,
        }

    @property
    def settings(self) -> dict:
        return self.state["settings"]

    # ---- grammar -------------------------------------------------------------------------

    def properties(self):
        props = {name: (self._getter(name), self._setter(name)) for name in SETTINGS}
        props.update({
            "source_current": (self._getter("source_current"), self._set_source_current),
            "source_range": (self._getter("source_range"), self._set_source_range),
            "compliance": (self._getter("compliance"), self._set_compliance),
            "output": (self._getter("output"), self._set_output),
            "delta_high": (self._getter("delta_high"), self._set_delta_high),
            "sweep_step": (self._getter("sweep_step"), self._set_sweep_step),
            "sweep_points": (self._getter("sweep_points"), self._set_sweep_points),
            "trace_points_actual": (self._points_actual, None),
            "trace_data_type": (lambda: self.state["data_type"], None),
            "trace_select": (None, self._select),
            "operation_event": (self._operation_event, None),
            "delta_armed": (lambda: int(self.state["armed"] == "DELT"), None),
            "pdel_armed": (lambda: int(self.state["armed"] == "PDEL"), None),
            "dcon_armed": (lambda: int(self.state["armed"] == "DCON"), None),
            "dcon_voltage_zero": (self._voltage_zero, None),
            "list_currents": (None, self._set_list("list_currents", append=False)),
            "list_currents_append": (None, self._set_list("list_currents", append=True)),
            "list_delays": (None, self._set_list("list_delays", append=False)),
            "list_delays_append": (None, self._set_list("list_delays", append=True)),
        })
        for name in COUNT_SETTINGS:
            props[name] = (self._count_getter(name), props[name][1])
        for name in NV_DEFAULTS:
            props[name] = (None, self._nv_setter(name))
        return props

    def actions(self):
        nv = 'SYST:COMM:SER:SEND "{}"'.format
        return {
            "*RST": self._reset,
            "*CLS": self._clear_status,
            "SOUR:CLE": self._output_off,
            "SOUR:SWE:ABOR": self._abort,
            "SOUR:DELT:ARM": lambda: self._arm("DELT"),
            "SOUR:PDEL:ARM": lambda: self._arm("PDEL"),
            "SOUR:DCON:ARM": lambda: self._arm("DCON"),
            "INIT:IMM": self._start,
            "TRAC:CLE": self._clear_buffer,
            "TRAC:DATA?": self._trace_data,
            "SYST:COMM:SER:ENT?": self._nv_enter,
            nv("*RST"): self._nv_reset,
            nv("*IDN?"): lambda: self._nv_answer("KEITHLEY INSTRUMENTS INC.,MODEL 2182A,1234567,C02  /A02"),
            nv("SENS:CHAN?"): lambda: self._nv_answer(str(self.state["nv"]["nv_channel"])),
            nv("SENS:VOLT:NPLC?"): lambda: self._nv_answer(f"{self.state['nv']['nv_nplc']:+.6E}"),
            nv("READ?"): self._nv_read,
            nv("FETC?"): self._nv_read,
            nv("SENS:DATA:FRES?"): self._nv_read,
        }

    def _getter(self, name):
        return lambda: self.settings[name]

    def _count_getter(self, name):
        return lambda: "INF" if math.isinf(self.settings[name]) else str(self.settings[name])

    def _setter(self, name):
        parse = SETTINGS[name][1]

        def set_(value):
            self.settings[name] = parse(value)
        return set_

    # ---- DC source -----------------------------------------------------------------------

    def _set_source_current(self, value: float) -> None:
        self.settings["source_current"] = value
        self._drive_dc()

    def _set_source_range(self, value: float) -> None:
        self.settings["source_range"] = abs(value)
        self.settings["source_auto_range"] = 0  # a fixed range turns auto range off

    def _set_compliance(self, value: float) -> None:
        self.settings["compliance"] = value
        self._drive_dc()

    def _set_output(self, value: int) -> None:
        if value:
            self.settings["output"] = 1
            self._drive_dc()
        else:
            self._output_off()

    def _output_off(self) -> None:
        self.settings["output"] = 0
        self.world.source_current_A = 0.0

    def _drive_dc(self) -> None:
        """The DC current through the sample: the setting while the output is on and no run owns it."""
        if not self.settings["output"] or self._running():
            return
        current = self.settings["source_current"]
        # compliance: the source cannot push more than compliance / (leads + sample)
        ohms = self.world.sample.lead_resistance_ohm + self.world.sample_resistance()
        limit = self.settings["compliance"] / ohms
        self.world.source_current_A = math.copysign(min(abs(current), limit), current)

    def _set_delta_high(self, value: float) -> None:
        self.settings["delta_high"] = value
        self.settings["delta_low"] = -value  # HIGH sets LOW = -HIGH

    def _set_sweep_step(self, value: float) -> None:
        self.settings["sweep_step"] = value
        span = abs(self.settings["sweep_stop"] - self.settings["sweep_start"])
        if value > 0:
            self.settings["sweep_points"] = _staircase_points(span, value)

    def _set_sweep_points(self, value: int) -> None:
        self.settings["sweep_points"] = value
        span = abs(self.settings["sweep_stop"] - self.settings["sweep_start"])
        self.settings["sweep_step"] = span / (value - 1) if value > 1 else 0.0

    def _set_list(self, key: str, append: bool):
        low, high, what = LIST_BOUNDS[key]

        def set_(text):
            values = _numbers(text, low, high, what)
            combined = (self.state[key] if append else []) + values
            if len(combined) > LIST_MAX:
                raise ValueError(f"{what} list longer than {LIST_MAX}")
            self.state[key] = combined
        return set_

    # ---- modes and runs ------------------------------------------------------------------

    def _arm(self, mode: str) -> None:
        self._advance()
        problem = self._arm_problem(mode)
        if problem:
            self.device.error_response("settings_conflict")
            return
        self.state["armed"] = mode  # arming one mode disarms the others

    def _arm_problem(self, mode: str) -> str | None:
        s = self.settings
        if mode == "PDEL":
            if s["pdel_sdel"] >= s["pdel_width"]:
                return "source delay not shorter than the pulse width"
            if s["pdel_sweep"] and s["sweep_spacing"] == "LIST" and not self.state["list_currents"]:
                return "empty current list"
        if mode == "DCON" and s["dcon_delta"] <= 0:
            return "DCON delta is zero"
        return None

    def _start(self) -> None:
        self._advance()
        mode = self.state["armed"]
        if mode is None or self._running():
            self.device.error_response("settings_conflict")
            return
        # each plan holds at most TRAC:POIN readings: a run stores no more
        times, end, drive = {"DELT": self._delta_plan, "PDEL": self._pulse_plan, "DCON": self._dcon_plan}[mode]()
        self.state["run"] = {
            "mode": mode, "t0": self.world.elapsed_s, "times": np.asarray(times, dtype=float),
            "end": end, "drive": drive, "done": 0, "finished": False,
        }
        self.state["buffer"] = _empty_buffer()
        self.state["data_type"] = MODE_DATA_TYPE[mode]
        self.settings["output"] = 1
        self.world.source_current_A = 0.0

    def _running(self) -> bool:
        run = self.state["run"]
        return run is not None and not run["finished"]

    def _abort(self) -> None:
        self._advance()
        if self.state["run"] is not None:
            self.state["run"]["finished"] = True
        self.state["run"] = None
        self.state["armed"] = None
        self._output_off()

    def _reading_time(self) -> float:
        """One 2182A integration, s."""
        return self.state["nv"]["nv_nplc"] * LINE_PERIOD_S

    def _delta_plan(self):
        s = self.settings
        count, sets = s["delta_count"], s["sweep_count"]
        cycle = s["delta_delay"] + self._reading_time()
        n = int(min(count * sets, s["trace_points"]))
        k = np.arange(n)
        if math.isfinite(count):
            set_index, within = np.divmod(k, count)
        else:  # one endless set
            set_index, within = np.zeros(n, dtype=int), k
        per_set = count + 2  # two reversals start each set's three-point average
        times = (within + 3) * cycle + (set_index * per_set * cycle if math.isfinite(count) else 0.0)
        end = sets * per_set * cycle if math.isfinite(count * sets) else math.inf
        return times, end, {"high": s["delta_high"], "low": s["delta_low"], "cycle": cycle, "within": within}

    def _pulse_plan(self):
        s = self.settings
        if s["pdel_sweep"]:
            currents = self._sweep_currents()
            delays = self.state["list_delays"]
            use_list = s["sweep_spacing"] == "LIST" and len(delays) == len(currents)
            periods = list(delays) if use_list else [s["source_delay"]] * len(currents)
            repeats = s["sweep_count"]
        else:  # a fixed pulse train: PDEL:COUN pulses of HIGH every PDEL:INT line cycles
            currents, periods = [s["pdel_high"]], [s["pdel_interval"] * LINE_PERIOD_S]
            repeats = s["pdel_count"]
        n = int(min(len(currents) * repeats, s["trace_points"]))
        tiles = -(-n // len(currents))
        periods_all = np.tile(periods, tiles)[:n]
        end = sum(periods) * repeats if math.isfinite(repeats) else math.inf
        return np.cumsum(periods_all), end, {"currents": np.tile(currents, tiles)[:n], "periods": periods_all}

    def _sweep_currents(self) -> list[float]:
        s = self.settings
        if s["sweep_spacing"] == "LIST":
            return list(self.state["list_currents"])
        start, stop, points = s["sweep_start"], s["sweep_stop"], max(s["sweep_points"], 1)
        if s["sweep_spacing"] == "LOG" and start * stop > 0:
            return list(np.geomspace(start, stop, points))
        return list(np.linspace(start, stop, points))

    def _dcon_plan(self):
        s = self.settings
        start, stop, step = s["dcon_start"], s["dcon_stop"], s["dcon_step"]
        span = abs(stop - start)
        if step <= 0 or step > span:
            points, step = 100, span / 99  # a step beyond the span: the instrument takes 100 points
        else:
            points = _staircase_points(span, step)
        direction = 1.0 if stop >= start else -1.0
        biases = start + direction * step * np.arange(points)
        cycle = s["dcon_delay"] + self._reading_time()
        n = min(points, s["trace_points"])
        times = (np.arange(n) + 3) * cycle
        return times, (points + 2) * cycle, {"biases": biases, "delta": s["dcon_delta"], "cycle": cycle}

    def _advance(self) -> None:
        """Store the readings whose moment has passed; flag sweep done once the run is over."""
        run = self.state["run"]
        if run is None or run["finished"]:
            return
        elapsed = self.world.elapsed_s - run["t0"]
        due = int(np.searchsorted(run["times"], elapsed, side="right"))
        if due > run["done"]:
            self._store(run, run["done"], due)
            run["done"] = due
        if elapsed >= run["end"]:
            run["finished"] = True
            self.state["operation_event"] |= SWEEP_DONE

    def _store(self, run: dict, first: int, last: int) -> None:
        measure = {"DELT": self._delta_reading, "PDEL": self._pulse_reading, "DCON": self._dcon_reading}[run["mode"]]
        probe = _Probe(self.world, self.state["nv"])
        buffer, unit = self.state["buffer"], self.settings["unit"]
        for k in range(first, last):
            at = run["t0"] + run["times"][k]
            volts, source_A, per_A, average_V, compliance = measure(run, k, at, probe)
            buffer["READ"].append(_convert(volts, per_A, unit))
            buffer["TST"].append(run["times"][k] - run["times"][0])
            buffer["UNIT"].append(UNIT_NAMES[unit])
            buffer["SOUR"].append(source_A)
            buffer["COMP"].append(int(compliance))
            buffer["AVOL"].append(average_V)

    def _delta_reading(self, run, k, at, probe):
        d = run["drive"]
        high, low, cycle = d["high"], d["low"], d["cycle"]
        # reading k uses reversals k, k+1, k+2 of its set; even reversals are at HIGH
        first_high = d["within"][k] % 2 == 0
        currents = (high, low, high) if first_high else (low, high, low)
        volts = [probe.voltage(i, None, at - (2 - j) * cycle) for j, i in enumerate(currents)]
        delta = (volts[0] - 2 * volts[1] + volts[2]) / 4
        delta = delta if first_high else -delta  # sign-corrected, as the 6221 reports it
        return (probe.overflow(volts, delta), high, (high - low) / 2, float(np.mean(volts)),
                probe.in_compliance(max(abs(high), abs(low)), self.settings["compliance"]))

    def _pulse_reading(self, run, k, at, probe):
        s = self.settings
        current = run["drive"]["currents"][k]
        low, width = s["pdel_low"], s["pdel_width"]
        pulse = probe.voltage(current, width, at)
        before = probe.voltage(low, None, at - width)
        if s["pdel_lme"] == 2:
            after = probe.voltage(low, None, at + width)
            delta = pulse - (before + after) / 2
            volts = [before, pulse, after]
        else:
            delta = pulse - before
            volts = [before, pulse]
        return (probe.overflow(volts, delta), current, current - low, pulse,
                probe.in_compliance(abs(current), s["compliance"]))

    def _dcon_reading(self, run, k, at, probe):
        d = run["drive"]
        bias, dI, cycle = d["biases"][k], d["delta"], d["cycle"]
        up, down = bias + dI, bias - dI
        volts = [probe.voltage(i, None, at - (2 - j) * cycle) for j, i in enumerate((up, down, up))]
        dv = (volts[0] - 2 * volts[1] + volts[2]) / 4
        average = ((volts[0] + volts[2]) / 2 + volts[1]) / 2
        return (probe.overflow(volts, dv), bias, dI, average,
                probe.in_compliance(abs(bias) + dI, self.settings["compliance"]))

    # ---- status and buffer ---------------------------------------------------------------

    def _operation_event(self) -> int:
        self._advance()
        value, self.state["operation_event"] = self.state["operation_event"], 0
        return value

    def _points_actual(self) -> int:
        self._advance()
        return len(self.state["buffer"]["READ"])

    def _clear_buffer(self) -> None:
        self._advance()
        self.state["buffer"] = _empty_buffer()  # readings due later still arrive

    def _clear_status(self) -> None:
        self.state["operation_event"] = 0
        self.clear_errors()

    def _trace_data(self) -> str:
        self._advance()
        return self._format(0, len(self.state["buffer"]["READ"]))

    def _select(self, values) -> str:
        start, count = (int(v) for v in values)
        self._advance()
        stored = len(self.state["buffer"]["READ"])
        if start < 0 or count < 1 or start + count > stored:
            raise ValueError(f"TRAC:DATA:SEL? {start},{count}: {stored} readings stored")
        return self._format(start, count)

    def _format(self, start: int, count: int) -> str:
        buffer = self.state["buffer"]
        stamps = buffer["TST"]
        delta_stamps = self.settings["timestamp_format"] == "DELT"
        field = {  # element -> its text for reading k
            "READ": lambda k: f"{buffer['READ'][k]:+.7E}",
            "TST": lambda k: f"{stamps[k] - (stamps[k - 1] if delta_stamps and k > 0 else 0.0):+.7E}",
            "UNIT": lambda k: buffer["UNIT"][k],
            "RNUM": lambda k: f"{k:+06d}",
            "SOUR": lambda k: f"{buffer['SOUR'][k]:+.6E}",
            "COMP": lambda k: str(buffer["COMP"][k]),
            "AVOL": lambda k: f"{buffer['AVOL'][k]:+.7E}",
        }
        row = [field[name] for name in self.settings["elements"].split(",")]  # already in the fixed order
        return ",".join(text(k) for k in range(start, start + count) for text in row)

    def _voltage_zero(self) -> float:
        return self.world.lead_voltage(self.state["nv"]["nv_channel"], 0.0)

    # ---- reset ---------------------------------------------------------------------------

    def _reset(self) -> None:
        """*RST: the 6221's defaults, nothing armed, output off; the buffer is kept."""
        self._abort()
        self.state["settings"] = _default_settings()
        self.state["list_currents"], self.state["list_delays"] = [], []

    # ---- the 2182A behind the pass-through -----------------------------------------------

    def _nv_listening(self) -> bool:
        return self.world.elapsed_s >= self.state["nv_busy_until"]

    def _nv_setter(self, name):
        def set_(value):
            if self._nv_listening():
                self.state["nv"][name] = value
        return set_

    def _nv_reset(self) -> None:
        if self._nv_listening():
            self.state["nv"] = dict(NV_DEFAULTS)
            self.state["nv_reply"] = None
            self.state["nv_busy_until"] = self.world.elapsed_s + NV_RESET_BUSY_S

    def _nv_answer(self, text: str, after_s: float = 0.0) -> None:
        if self._nv_listening():
            ready = self.world.elapsed_s + after_s + NV_REPLY_OVERHEAD_S
            self.state["nv_reply"] = (ready, text)

    def _nv_read(self) -> None:
        """A DC reading of the selected channel with the 6221's DC output (heating included)."""
        nv = self.state["nv"]
        current = 0.0 if self._running() else self.world.source_current_A
        volts = self.world.lead_voltage(nv["nv_channel"], current)
        volts = _Probe(self.world, nv).overflow([volts], volts)
        self._nv_answer(f"{volts:+.9E}", after_s=2 * self._reading_time())

    def _nv_enter(self) -> str:
        reply = self.state["nv_reply"]
        if reply is None or self.world.elapsed_s < reply[0]:
            return ""
        self.state["nv_reply"] = None
        return reply[1]


class _Probe:
    """The 2182A reading the sample for one batch of buffered readings.

    The model's conditions do not change within one query, so the noise-free lead voltage is
    computed once per drive current and reused; each reading then gets its own noise and the
    thermal EMF at its own moment.
    """

    def __init__(self, world, nv: dict):
        self.world, self.channel = world, nv["nv_channel"]
        self.range_V = None if nv["nv_auto_range"] else nv[f"nv_range_{self.channel}"]
        self._signals: dict[tuple, float] = {}

    def signal(self, current_A: float, duration_s: float | None) -> float:
        key = (float(current_A), duration_s)
        if key not in self._signals:
            self._signals[key] = self.world.lead_signal(self.channel, current_A, duration_s)
        return self._signals[key]

    def voltage(self, current_A: float, duration_s: float | None, at_s: float) -> float:
        return self.signal(current_A, duration_s) + self.world.thermoelectric_emf(at_s) + self.world.voltage_noise()

    def overflow(self, volts, value: float) -> float:
        if self.range_V is not None and any(abs(v) > 1.2 * self.range_V for v in volts):
            return OVERFLOW_V
        return value

    def in_compliance(self, current_A: float, compliance_V: float) -> bool:
        ohms = self.world.sample.lead_resistance_ohm
        return current_A * ohms + abs(self.signal(current_A, None)) > compliance_V


def _convert(volts: float, per_A: float, unit: str) -> float:
    """A reading in the unit set by UNIT; ``per_A`` is the current the voltage belongs to."""
    if unit == "V" or volts == OVERFLOW_V:
        return volts
    if unit == "OHMS":
        return volts / per_A
    if unit == "SIEM":
        return per_A / volts if volts else math.inf
    return volts * per_A  # W


def _default_settings() -> dict:
    return {name: default for name, (default, _) in SETTINGS.items()}


def _empty_buffer() -> dict:
    return {name: [] for name in ELEMENT_ORDER if name != "RNUM"}
