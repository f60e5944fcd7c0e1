"""Lake Shore Model 350 cryogenic temperature controller.

Remote interface (Model 350 manual, chapter 6): USB (a virtual serial port at 57600 baud, 7 data
bits, odd parity, 1 stop bit), IEEE-488 or Ethernet (TCP port 7777); commands and replies end in
CR LF; a command gets no reply. Four sensor inputs A-D (D1-D5 with the 3062 scanner card) and four
outputs: 1 and 2 are heater outputs with ranges 0 (off) to 5 (full power, 75 W on output 1), 3 and
4 are analog outputs that a control loop can also drive (range 0 off, 1 on).

pymeasure 0.16 reaches the 350 only through its generic ``LakeShore3xx`` class, whose heater
channel maps the range to ``off/low/medium/high`` (0-3), so ranges 4 and 5 of the 350 cannot be
set, and which has no RAMP, RAMPST?, PID, OUTMODE, HTRSET, HTRST?, INTYPE or RDGST?. This module
keeps pymeasure's input channel (KRDG?, CRDG?, SRDG?) and replaces the rest:

- ``input_A`` .. ``input_D``: :class:`Input350` (readings, decoded reading status, input type);
- ``output_1``, ``output_2``: :class:`HeaterOutput350` (range 0-5, heater output, heater setup
  and status), ``output_3``, ``output_4``: :class:`Output350` (range 0-1);
- names changed from pymeasure's heater channel for clarity: ``range`` -> ``heater_range``,
  ``output`` -> ``heater_output``, ``mout`` -> ``manual_output``.

The driver also plays the :class:`daclab.roles.TemperatureController` role on one control loop
(``control_output`` regulated on ``control_input``): :meth:`LakeShore350.temperature`,
:meth:`~LakeShore350.set_setpoint`, :meth:`~LakeShore350.ramp_done`,
:meth:`~LakeShore350.heater_off`, plus :meth:`~LakeShore350.wait_for_temperature`. Setpoints and
ramp rates are checked against :class:`daclab.limits.SoftwareLimits` before anything is written;
every wait goes through :func:`daclab.clock.sleep`.

Units: the setpoint is in the preferred units of the control input (INTYPE units). The role
methods assume kelvin (INTYPE units 1, the instrument's default); do not use them on a loop whose
control input is set to Celsius or sensor units.

Readings chosen where the sources leave room:
- RAMP rate 0 is accepted (INSTRUMENTS.md: "0 = infinite"): with the ramp on it means no limit;
  :meth:`LakeShore350.set_setpoint` writes ``RAMP <out>,0,0`` for a step.
- INTYPE range: its allowed index depends on the sensor type; only the widest span (0-8, NTC
  RTD) is checked here, the instrument refuses the rest.
- ``SETP?`` during a ramp: taken to report the ramping value (the front panel's reading); the
  role's :meth:`~LakeShore350.ramp_done` relies on RAMPST? only, so it holds either way.
"""

from __future__ import annotations

import enum
from typing import Callable, NamedTuple

from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.lakeshore.lakeshore_base import LakeShoreTemperatureChannel
from pymeasure.instruments.validators import strict_discrete_set, strict_range
from pyvisa.constants import Parity, StopBits

from daclab import clock
from daclab.limits import SoftwareLimits
from daclab.instruments import reply_grammar as g
from daclab.instruments.ieee488 import StandardEvent, StandardEventStatusMixin


# ---- codes of the instrument ------------------------------------------------------------


class ReadingStatus(enum.IntFlag):
    """RDGST? bits; no flag set (0) is a valid reading."""

    INVALID_READING = 1
    TEMPERATURE_UNDERRANGE = 16
    TEMPERATURE_OVERRANGE = 32
    SENSOR_UNITS_ZERO = 64
    SENSOR_UNITS_OVERRANGE = 128


class HeaterStatus(enum.IntEnum):
    """HTRST? reply."""

    NO_ERROR = 0
    OPEN_LOAD = 1
    SHORT = 2


class OutputMode(enum.IntEnum):
    """First field of OUTMODE."""

    OFF = 0
    CLOSED_LOOP = 1
    ZONE = 2
    OPEN_LOOP = 3
    MONITOR_OUT = 4
    WARMUP_SUPPLY = 5


class SensorType(enum.IntEnum):
    """First field of INTYPE."""

    DISABLED = 0
    DIODE = 1
    PLATINUM_RTD = 2
    NTC_RTD = 3
    THERMOCOUPLE = 4
    CAPACITANCE = 5


class InputUnits(enum.IntEnum):
    """Preferred units of an input (INTYPE), which are also the units of a loop's setpoint."""

    KELVIN = 1
    CELSIUS = 2
    SENSOR = 3


EventStatus = StandardEvent  # the 350's *ESR? bits are the standard ones


# Control inputs as OUTMODE numbers them.
INPUT_NUMBERS = {"A": 1, "B": 2, "C": 3, "D": 4}


# ---- multi-field settings -----------------------------------------------------------------


class Ramp(NamedTuple):
    enabled: bool
    rate_K_per_min: float  # 0.001-100; 0 = no limit


class PID(NamedTuple):
    p: float
    i: float
    d: float


class OutputModeSetting(NamedTuple):
    mode: OutputMode
    input: int  # 0 none, 1-4 = A-D, 5-8 = D2-D5 (3062 card)
    powerup_enable: bool


class HeaterSetup(NamedTuple):
    resistance: int  # 1 = 25 ohm, 2 = 50 ohm
    max_current: int  # 0 user, 1 = 0.707 A, 2 = 1 A, 3 = 1.141 A, 4 = 2 A
    max_user_current_A: float
    display: int  # 1 current, 2 power


class InputType(NamedTuple):
    sensor_type: SensorType
    autorange: bool
    range: int
    compensation: bool
    units: InputUnits
    excitation: int  # NTC RTD only: 0 = 1 mV, 1 = 10 mV


class Span:
    """An inclusive range of allowed numbers, plus optional single values outside it."""

    def __init__(self, low: float, high: float, also: tuple = ()):
        self.low, self.high, self.also = low, high, also

    def __contains__(self, value) -> bool:
        return value in self.also or self.low <= value <= self.high

    def __str__(self) -> str:
        extra = "".join(f" or {v:g}" for v in self.also)
        return f"[{self.low:g}, {self.high:g}]{extra}"


def strict_fields(value, fields):
    """pymeasure validator for a comma-separated setting: check each field of ``value``.

    ``fields`` is a sequence of ``(name, allowed)``; ``allowed`` is a :class:`Span` or a set.
    """
    if not isinstance(value, (tuple, list)) or len(value) != len(fields):
        names = ", ".join(name for name, _ in fields)
        raise ValueError(f"{value!r} is not a setting of {len(fields)} fields ({names})")
    for item, (name, allowed) in zip(value, fields):
        try:
            ok = item in allowed
        except TypeError:
            ok = False
        if not ok:
            shown = allowed if isinstance(allowed, Span) else "{" + ", ".join(map(str, sorted(allowed))) + "}"
            raise ValueError(f"{name} = {item!r} is not allowed; allowed: {shown}")
    return tuple(value)


RAMP_FIELDS = (("ramp enable", {0, 1}), ("ramp rate K/min", Span(0.001, 100, also=(0,))))
PID_FIELDS = (("P", Span(0.1, 1000)), ("I", Span(0.1, 1000)), ("D %", Span(0, 200)))
OUTMODE_FIELDS = (("mode", set(range(6))), ("input", set(range(9))), ("powerup enable", {0, 1}))
HTRSET_FIELDS = (("heater resistance", {1, 2}), ("max current", set(range(5))),
                 ("max user current A", Span(0, 2)), ("current/power display", {1, 2}))
INTYPE_FIELDS = (("sensor type", set(range(6))), ("autorange", {0, 1}), ("range", set(range(9))),
                 ("compensation", {0, 1}), ("units", {1, 2, 3}), ("sensor excitation", {0, 1}))


# ---- waiting for a stable temperature -----------------------------------------------------


def settle(read: Callable[[], float], kelvin: float, tolerance_K: float, stable_s: float, timeout_s: float,
           poll_s: float = 1.0, should_stop: Callable[[], bool] = lambda: False) -> tuple[str, float]:
    """Poll ``read`` on the daclab clock until it stays within ``tolerance_K`` of ``kelvin``.

    Returns ``("settled" | "stopped" | "timeout", last reading)``; stable means every reading
    for ``stable_s`` was within the tolerance.
    """
    if tolerance_K <= 0 or stable_s < 0 or timeout_s <= 0 or poll_s <= 0:
        raise ValueError(f"tolerance_K = {tolerance_K}, timeout_s = {timeout_s} and poll_s = {poll_s} must be > 0, "
                         f"stable_s = {stable_s} >= 0")
    now = clock.current().now
    start, within_since = now(), None
    while True:
        reading, t = read(), now()
        if abs(reading - kelvin) <= tolerance_K:
            within_since = t if within_since is None else within_since
            if t - within_since >= stable_s:
                return "settled", reading
        else:
            within_since = None
        if should_stop():
            return "stopped", reading
        if t - start >= timeout_s:
            return "timeout", reading
        clock.sleep(poll_s)


# ---- channels -------------------------------------------------------------------------------


class Input350(LakeShoreTemperatureChannel):
    """Sensor input A-D: ``kelvin`` (KRDG?), ``celsius`` (CRDG?), ``sensor`` (SRDG?) from pymeasure."""

    reading_status = Channel.measurement(
        "RDGST? {ch}",
        """Get the reading status as :class:`ReadingStatus` flags (empty = valid reading).""",
        get_process=lambda v: ReadingStatus(int(v)),
    )

    input_type = Channel.control(
        "INTYPE? {ch}", "INTYPE {ch},%d,%d,%d,%d,%d,%d",
        """Control the input configuration as :class:`InputType` (sensor type, autorange,
        range, compensation, units, sensor excitation). The allowed range index depends on the
        sensor type (diode 0-1, PTC RTD 0-6, NTC RTD 0-8, thermocouple 0); the driver checks only
        the widest span 0-8 and leaves the rest to the instrument.""",
        validator=strict_fields,
        values=INTYPE_FIELDS,
        get_process_list=lambda v: InputType(SensorType(int(v[0])), bool(v[1]), int(v[2]), bool(v[3]),
                                             InputUnits(int(v[4])), int(v[5])),
    )

    def wait_for_temperature(self, kelvin: float, tolerance_K: float, stable_s: float, timeout_s: float,
                             poll_s: float = 1.0, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait on the daclab clock until ``kelvin`` is held within ``tolerance_K`` for ``stable_s``.

        Replaces pymeasure's version (time.sleep, tolerance in percent, bare Exception).
        Returns True when settled, False when ``should_stop()`` ended the wait; raises
        TimeoutError after ``timeout_s``.
        """
        outcome, last = settle(lambda: self.kelvin, kelvin, tolerance_K, stable_s, timeout_s, poll_s, should_stop)
        if outcome == "timeout":
            raise TimeoutError(f"input {self.id} did not hold {kelvin:g} K +- {tolerance_K:g} K for {stable_s:g} s "
                               f"within {timeout_s:g} s; last reading {last:.3f} K")
        return outcome == "settled"


class Output350(Channel):
    """A control loop on output 1-4. Outputs 3 and 4 are analog outputs: range 0 (off) or 1 (on)."""

    setpoint = Channel.control(
        "SETP? {ch}", "SETP {ch},%g",
        """Control the setpoint in the preferred units of the control input (K by default).
        Not range-checked here, as its units depend on the input; the role method set_setpoint
        checks the software limits.""",
    )

    ramp = Channel.control(
        "RAMP? {ch}", "RAMP {ch},%d,%g",
        """Control the setpoint ramp as :class:`Ramp` (enabled, rate in K/min 0.001-100; 0 means no
        limit). With a ramp on, a new setpoint is approached at the rate from the present one.""",
        validator=strict_fields,
        values=RAMP_FIELDS,
        get_process_list=lambda v: Ramp(bool(v[0]), v[1]),
    )

    ramp_active = Channel.measurement(
        "RAMPST? {ch}",
        """Get whether the setpoint is ramping now (bool).""",
        get_process=lambda v: bool(int(v)),
    )

    heater_range = Channel.control(
        "RANGE? {ch}", "RANGE {ch},%d",
        """Control the output range: 0 off, 1 on (analog outputs 3 and 4).""",
        validator=strict_discrete_set,
        values=(0, 1),
        cast=int,
    )

    pid = Channel.control(
        "PID? {ch}", "PID {ch},%g,%g,%g",
        """Control the loop gains as :class:`PID` (P 0.1-1000, I 0.1-1000, D 0-200 %).""",
        validator=strict_fields,
        values=PID_FIELDS,
        get_process_list=lambda v: PID(*v),
    )

    manual_output = Channel.control(
        "MOUT? {ch}", "MOUT {ch},%g",
        """Control the manual output in percent (0-100); added to the loop's output in closed
        loop, the whole output in open loop.""",
        validator=strict_range,
        values=(0, 100),
    )

    output_mode = Channel.control(
        "OUTMODE? {ch}", "OUTMODE {ch},%d,%d,%d",
        """Control the output mode as :class:`OutputModeSetting` (mode 0-5, control input 0-8 with
        1-4 = A-D, powerup enable).""",
        validator=strict_fields,
        values=OUTMODE_FIELDS,
        get_process_list=lambda v: OutputModeSetting(OutputMode(int(v[0])), int(v[1]), bool(v[2])),
    )


class HeaterOutput350(Output350):
    """Heater output 1 or 2: ranges 0 (off) to 5 (full power), heater readback and setup."""

    heater_range = Channel.control(
        "RANGE? {ch}", "RANGE {ch},%d",
        """Control the heater range: 0 off, 1-5 decades of power, 5 = full power (75 W on
        output 1). pymeasure's generic class stops at 3.""",
        validator=strict_discrete_set,
        values=(0, 1, 2, 3, 4, 5),
        cast=int,
    )

    heater_output = Channel.measurement(
        "HTR? {ch}",
        """Get the heater output in percent of the present range's full scale.""",
    )

    heater_setup = Channel.control(
        "HTRSET? {ch}", "HTRSET {ch},%d,%d,%g,%d",
        """Control the heater setup as :class:`HeaterSetup` (resistance 1 = 25 ohm | 2 = 50 ohm,
        max current 0 user | 1 0.707 A | 2 1 A | 3 1.141 A | 4 2 A, user max current in A,
        display 1 current | 2 power).""",
        validator=strict_fields,
        values=HTRSET_FIELDS,
        get_process_list=lambda v: HeaterSetup(int(v[0]), int(v[1]), v[2], int(v[3])),
    )

    heater_status = Channel.measurement(
        "HTRST? {ch}",
        """Get the heater error as :class:`HeaterStatus` (0 none, 1 open load, 2 short).""",
        get_process=lambda v: HeaterStatus(int(v)),
    )


# ---- reply formats ----------------------------------------------------------------------------

# Inputs A-D (D1-D5 with the 3062 card), outputs 1-4 (1-2 heaters, 3-4 analog).
_INPUT = "(?:[A-D]|D[1-5])"
_OUTPUT, _HEATER, _ANALOG = "[1-4]", "[12]", "[34]"
# The manual's "+nnnnnn" / "±nnnnnn": six digits with a floating decimal point (+273.150,
# +4.21330). The twin zero-pads to three integer digits and prints 3-4 decimals, so a reading of
# 1000 K or more, sensor units of kiloohms and setpoints carry one or two digits more: the counts
# below take both, still refusing a number that lost its point, its sign or half its digits.
_KELVIN = g.floating((6, 7), "+")
_CELSIUS = g.floating((6, 7), "±")
_SENSOR_UNITS = g.floating((6, 8), "±")
_SETPOINT = g.floating((6, 9), "±")

REPLY_FORMATS = [
    # readings
    (g.query("KRDG?", _INPUT), _KELVIN),
    (g.query("CRDG?", _INPUT), _CELSIUS),
    (g.query("SRDG?", _INPUT), _SENSOR_UNITS),
    (g.query("RDGST?", _INPUT), g.bit_sum(ReadingStatus, 3, "exact")),  # "nnn", 000 = valid
    (g.query("HTR?", _HEATER), g.fixed(3, 1, "+")),  # +nnn.n percent
    (g.query("SETP?", _OUTPUT), _SETPOINT),
    # states
    (g.query("RAMPST?", _OUTPUT), g.BOOLEAN),
    (g.query("RANGE?", _HEATER), g.integer(range(0, 6))),
    (g.query("RANGE?", _ANALOG), g.BOOLEAN),
    (g.query("HTRST?", _HEATER), g.integer(HeaterStatus)),
    (g.command("*ESR?"), g.bit_sum(StandardEvent, 3, "optional")),  # "nnn"; plain NR1 accepted too
    (g.command("*OPC?"), g.one_of("1")),
    # settings read back
    (g.query("RAMP?", _OUTPUT), g.fields(g.BOOLEAN, g.floating((2, 7), "+?"))),  # on,rate K/min
    (g.query("MOUT?", _OUTPUT), g.fixed(3, 2, "+")),  # +nnn.nn percent
    (g.query("PID?", _OUTPUT), g.fields(g.fixed((1, 4), 1, "+"), g.fixed((1, 4), 1, "+"),
                                       g.integer(range(0, 201), sign="+"))),  # +P,+I,+D (%)
    (g.query("OUTMODE?", _OUTPUT), g.fields(g.integer(OutputMode), g.integer(range(0, 9)), g.BOOLEAN)),
    (g.query("HTRSET?", _HEATER), g.fields(g.integer((1, 2)), g.integer(range(0, 5)), g.fixed(1, 3, "+"),
                                          g.integer((1, 2)))),
    (g.query("INTYPE?", _INPUT), g.fields(g.integer(SensorType), g.BOOLEAN, g.integer(range(0, 9)), g.BOOLEAN,
                                         g.integer(InputUnits), g.BOOLEAN)),
    (g.command("*IDN?"), g.identification("LSCI", "MODEL350")),
]


# ---- the instrument -------------------------------------------------------------------------


class LakeShore350(StandardEventStatusMixin, Instrument):
    """Lake Shore Model 350, with the TemperatureController role on one control loop.

    .. code-block:: python

        ls = LakeShore350("ASRL3::INSTR", limits=SoftwareLimits(max_temperature_K=300))
        ls.output_1.output_mode = (OutputMode.CLOSED_LOOP, 1, False)   # loop 1 on input A
        ls.output_1.pid = (50, 20, 0)
        ls.set_setpoint(280, rate_K_per_min=0.5)   # checked against the limits, then ramps
        ls.wait_for_temperature(280, tolerance_K=0.05, stable_s=120, timeout_s=3600)

    :param limits: software limits checked by :meth:`set_setpoint` before anything is written.
    :param control_input: the input the role reads (A-D); it should be the loop's OUTMODE input.
    :param control_output: the heater output (1 or 2) the role drives.
    :param default_heater_range: the range :meth:`set_setpoint` turns the heater on to when it
        finds it off (after :meth:`heater_off`); a range chosen by hand is left alone.
    """

    # The inputs' and outputs' queries go out through this object (pymeasure channels forward to
    # their parent), so their reply formats are declared here.
    reply_formats = REPLY_FORMATS

    input_A = Instrument.ChannelCreator(Input350, "A")
    input_B = Instrument.ChannelCreator(Input350, "B")
    input_C = Instrument.ChannelCreator(Input350, "C")
    input_D = Instrument.ChannelCreator(Input350, "D")
    output_1 = Instrument.ChannelCreator(HeaterOutput350, 1)
    output_2 = Instrument.ChannelCreator(HeaterOutput350, 2)
    output_3 = Instrument.ChannelCreator(Output350, 3)
    output_4 = Instrument.ChannelCreator(Output350, 4)

    def __init__(self, adapter, name: str = "Lake Shore Model 350 Temperature Controller", *,
                 limits: SoftwareLimits | None = None, control_input: str = "A", control_output: int = 1,
                 default_heater_range: int = 5, sample_input: str | None = None, **kwargs):
        if control_input not in INPUT_NUMBERS:
            raise ValueError(f"control_input = {control_input!r} is not an input; inputs: A, B, C, D")
        if sample_input is not None and sample_input not in INPUT_NUMBERS:
            raise ValueError(f"sample_input = {sample_input!r} is not an input; inputs: A, B, C, D (or none)")
        if control_output not in (1, 2):
            raise ValueError(f"control_output = {control_output!r} is not a heater output; heater outputs: 1, 2")
        if default_heater_range not in range(1, 6):
            raise ValueError(f"default_heater_range = {default_heater_range!r} is not allowed; allowed: 1-5")
        kwargs.setdefault("read_termination", "\r\n")
        kwargs.setdefault("write_termination", "\r\n")
        # USB presents a serial port fixed at 57600 baud, 7 data bits, odd parity.
        kwargs.setdefault("asrl", {"baud_rate": 57600, "data_bits": 7, "parity": Parity.odd,
                                   "stop_bits": StopBits.one})
        super().__init__(adapter, name, includeSCPI=False, **kwargs)
        self.limits = limits or SoftwareLimits()
        # the input of a thermometer on the cell itself, if one is wired (read for display only:
        # the loop regulates on control_input)
        self.sample_input = sample_input
        self.control_input = control_input
        self.control_output = control_output
        self.default_heater_range = default_heater_range

    # ---- IEEE-488.2 common commands (the 350 has no SCPI error queue) --------------------

    id = Instrument.measurement("*IDN?", """Get the identification (manufacturer,model,serial,firmware).""",
                                cast=str, maxsplit=0)

    # ---- TemperatureController role ------------------------------------------------------

    @property
    def control_loop(self) -> HeaterOutput350:
        return getattr(self, f"output_{self.control_output}")

    @property
    def control_sensor(self) -> Input350:
        return getattr(self, f"input_{self.control_input}")

    def temperature(self) -> float:
        """The control input's reading in K."""
        return self.control_sensor.kelvin

    def set_setpoint(self, kelvin: float, rate_K_per_min: float | None = None) -> None:
        """Go to ``kelvin``: ramp at ``rate_K_per_min`` if given, else step at once.

        The setpoint and rate are checked against the software limits (and the rate against the
        instrument's 0.001-100 K/min) before anything is written. If the heater is off the
        loop's old setpoint is stale, so a ramp starts from the present temperature and the
        heater is switched on to ``default_heater_range``.
        """
        self.limits.temperature(f"output {self.control_output} setpoint", kelvin)
        if rate_K_per_min is not None:
            self.limits.temperature_rate(f"output {self.control_output} ramp rate", rate_K_per_min)
            strict_fields((1, rate_K_per_min), RAMP_FIELDS)
        loop = self.control_loop
        if loop.heater_range == 0:
            loop.ramp = Ramp(False, 0)
            loop.setpoint = kelvin if rate_K_per_min is None else self.temperature()
            loop.heater_range = self.default_heater_range
            if rate_K_per_min is None:
                return
        loop.ramp = Ramp(rate_K_per_min is not None, rate_K_per_min or 0)
        loop.setpoint = kelvin

    def ramp_done(self) -> bool:
        """True when the control loop's setpoint has stopped moving (RAMPST? 0)."""
        return not self.control_loop.ramp_active

    def setpoint(self) -> float:
        """The control loop's setpoint in K (it moves while a ramp runs)."""
        return self.control_loop.setpoint

    def heater_output(self) -> float:
        """The control loop's heater output in percent of its range (0 when the range is off)."""
        return self.control_loop.heater_output

    def heater_off(self) -> None:
        """Heater range 0 on the control output: the safe state at the end of a procedure."""
        self.control_loop.heater_range = 0

    def wait_for_temperature(self, kelvin: float, tolerance_K: float, stable_s: float, timeout_s: float,
                             poll_s: float = 1.0, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait on the daclab clock until the control input holds ``kelvin`` +- ``tolerance_K``
        for ``stable_s``.

        Returns True when settled, False if ``should_stop()`` ended the wait. Raises TimeoutError
        after ``timeout_s``, naming the last reading and the loop's setpoint, range and heater
        output, so that a heater range too low to reach the setpoint is plain to see.
        """
        outcome, last = settle(self.temperature, kelvin, tolerance_K, stable_s, timeout_s, poll_s, should_stop)
        if outcome == "timeout":
            loop = self.control_loop
            heater = loop.heater_output
            hint = "; the heater is at full scale: its range is too low to reach the setpoint" if heater >= 99.5 else ""
            raise TimeoutError(
                f"{self.name}: input {self.control_input} did not hold {kelvin:g} K +- {tolerance_K:g} K for "
                f"{stable_s:g} s within {timeout_s:g} s; last reading {last:.3f} K, output {self.control_output} "
                f"setpoint {loop.setpoint:g} K, heater range {loop.heater_range}, heater output {heater:.1f} %{hint}")
        return outcome == "settled"
