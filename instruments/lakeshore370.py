"""Lakeshore Model 370 AC resistance bridge, and the ResistanceMeter role on one of its channels.

Interface: RS-232 at 9600 baud, 7 data bits, odd parity, 1 stop bit, CR LF terminators both ways
(IEEE-488 works with the same terminators). Commands get no reply; the instrument has no SCPI
error queue: an unknown command sets bit 5 (CME, 32) and a value out of range sets bit 4 (EXE, 16)
of the standard event status register, read and cleared with ``*ESR?`` (:meth:`check_errors`).

Channels 1-16 (the 3716 scanner) are ``bridge.ch_1`` ... ``bridge.ch_16``; the single control loop
(no output argument) lives on the instrument. The measurement frequency is fixed by the
instrument (paper 001 quotes 17 Hz): there is no command for it.

Index tables (RDGRNG) all step by a factor sqrt(10) (1.00, 3.16, 10.0, ... as printed):

- current excitation, index 1-22: 1.00 pA ... 31.6 mA. Index 18 is 316 uA (paper 001), index 17
  is 100 uA: 1 pA x sqrt(10)^(i - 1).
- voltage excitation, index 1-12: 2.00 uV ... 632 mV. [unsure] The top value is the twelfth term of
  the x sqrt(10) series from 2.00 uV; the manual text was not at hand to confirm that the
  instrument really offers 632 mV (and not, say, a shorter table). The driver accepts 1-12.
- resistance range, index 1-22: 2.00 mohm ... 63.2 Mohm.

Converters between physical values and indices pick the nearest entry on a log scale and refuse
(with :class:`daclab.limits.LimitError`) a value more than 5 % outside the ends of the table.

Other readings chosen where INSTRUMENTS.md gives no range [unsure, from memory of the manual]:
CSET heater limit is a heater range index 1-8 and heater resistance 1-100000 ohm; MOUT and HTR?
are in percent of the heater range; SETP is accepted from 0 to 1e8 (K or ohm, as CSET says).

Settling: after the scanner switches to a channel, the 370 waits the channel's *pause* (INSET,
3-200 s) for the relays and the current source to settle, then, with the channel's filter on,
the filter *settle* time (FILTER, 1-200 s) before it posts a valid reading. Changing the
excitation restarts the same sequence. :meth:`Lakeshore370Channel.settle_time_s` reads both and
the role adapter waits pause + settle + one second on :func:`daclab.clock.sleep`.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range
from pyvisa.constants import Parity, StopBits

from daclab import clock
from daclab.instruments import reply_grammar as g
from daclab.instruments.ieee488 import StandardEvent, StandardEventStatusMixin
from daclab.instruments.tables import nearest_index
from daclab.limits import LimitError, SoftwareLimits

# ---- index tables ---------------------------------------------------------------------------


def _sqrt10_series(first: float, count: int) -> tuple[float, ...]:
    return tuple(first * 10.0 ** (k / 2.0) for k in range(count))


CURRENT_EXCITATIONS_A = _sqrt10_series(1e-12, 22)  # index 1..22
VOLTAGE_EXCITATIONS_V = _sqrt10_series(2e-6, 12)  # index 1..12, top value [unsure]
RESISTANCE_RANGES_OHM = _sqrt10_series(2e-3, 22)  # index 1..22
HEATER_RANGES_A = (0.0,) + _sqrt10_series(10 ** -4.5, 8)  # HTRRNG 0 (off), 1 = 31.6 uA ... 8 = 100 mA


def excitation_current_index(current_A: float) -> int:
    return nearest_index(current_A, CURRENT_EXCITATIONS_A, "excitation current", "A")


def excitation_current(index: int) -> float:
    return CURRENT_EXCITATIONS_A[_checked_index(index, CURRENT_EXCITATIONS_A, "current excitation index") - 1]


def excitation_voltage_index(voltage_V: float) -> int:
    return nearest_index(voltage_V, VOLTAGE_EXCITATIONS_V, "excitation voltage", "V")


def excitation_voltage(index: int) -> float:
    return VOLTAGE_EXCITATIONS_V[_checked_index(index, VOLTAGE_EXCITATIONS_V, "voltage excitation index") - 1]


def resistance_range_index(resistance_ohm: float) -> int:
    return nearest_index(resistance_ohm, RESISTANCE_RANGES_OHM, "resistance range", "ohm")


def resistance_range(index: int) -> float:
    return RESISTANCE_RANGES_OHM[_checked_index(index, RESISTANCE_RANGES_OHM, "resistance range index") - 1]


def _checked_index(index: int, table: tuple[float, ...], name: str) -> int:
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= len(table):
        raise LimitError(f"{name} = {index!r} is outside the allowed range [1, {len(table)}]")
    return index


# ---- decoded replies ------------------------------------------------------------------------


class ReadingStatus(enum.IntFlag):
    """RDGST? bits; 0 means a valid reading."""

    CS_OVERLOAD = 1
    VCM_OVERLOAD = 2
    VMIX_OVERLOAD = 4
    VDIF_OVERLOAD = 8
    R_OVER = 16
    R_UNDER = 32
    T_OVER = 64
    T_UNDER = 128


# Bits that make the resistance itself invalid (T_OVER/T_UNDER only concern the curve).
RESISTANCE_INVALID = (ReadingStatus.CS_OVERLOAD | ReadingStatus.VCM_OVERLOAD | ReadingStatus.VMIX_OVERLOAD
                      | ReadingStatus.VDIF_OVERLOAD | ReadingStatus.R_OVER)


class ExcitationMode(enum.IntEnum):
    VOLTAGE = 0
    CURRENT = 1


class ReadingRange(NamedTuple):
    """RDGRNG fields: mode, excitation index, range index, autorange 0|1, excitation off 0|1."""

    mode: int
    excitation: int
    range: int
    autorange: int
    excitation_off: int


class InputSetup(NamedTuple):
    """INSET fields: channel on 0|1, dwell 1-200 s, pause 3-200 s, curve 0-20, tempco 1 neg|2 pos."""

    enabled: int
    dwell_s: int
    pause_s: int
    curve: int
    tempco: int


class FilterSetup(NamedTuple):
    """FILTER fields: on 0|1, settle time 1-200 s, window 1-80 %."""

    enabled: int
    settle_s: int
    window_percent: int


class Scanner(NamedTuple):
    channel: int
    autoscan: int


class ControlSetup(NamedTuple):
    """CSET fields: control channel 1-16, filtered reading 0|1, setpoint units 1 K|2 ohm,
    delay 1-255 s, heater display 1 current|2 power, heater limit range 1-8, heater resistance ohm."""

    channel: int
    filtered: int
    units: int
    delay_s: int
    heater_display: int
    heater_limit: int
    heater_resistance_ohm: float


class PID(NamedTuple):
    p: float
    i: float
    d: float


class Ramp(NamedTuple):
    enabled: int
    rate_K_per_min: float


def _fields_in(bounds):
    """Validator for a multi-field command: each field within its (low, high), integers kept as int."""

    def validate(value, _values=None):
        if len(value) != len(bounds):
            raise ValueError(f"expected {len(bounds)} fields, got {value!r}")
        checked = []
        for field, (low, high) in zip(value, bounds):
            strict_range(field, (low, high))
            integral = isinstance(low, int) and isinstance(high, int)
            if integral and float(field) != int(field):
                raise ValueError(f"{field!r} must be an integer in [{low}, {high}]")
            checked.append(int(field) if integral else float(field))
        return tuple(checked)

    return validate


_reading_range_fields = _fields_in(((0, 1), (1, 22), (1, 22), (0, 1), (0, 1)))


def _valid_reading_range(value, _values=None):
    mode, excitation, range_index, autorange, off = _reading_range_fields(value)
    top = len(VOLTAGE_EXCITATIONS_V) if mode == ExcitationMode.VOLTAGE else len(CURRENT_EXCITATIONS_A)
    if excitation > top:
        raise ValueError(f"excitation index {excitation} is outside [1, {top}] for mode {mode}")
    return ReadingRange(mode, excitation, range_index, autorange, off)


def _ints(values):
    return [int(v) for v in values]


# ---- reply formats ------------------------------------------------------------------------------

_CHANNEL = g.integer(range(1, 17))
# The manual's "±nnn.nnnE±nn": six digits with a floating point, a signed two-digit exponent
# (+1.23450E+03). Readings (RDGR?, RDGK?) keep all six; the twin prints power and the control
# values with five (+1.2345E-12), which the other formats accept.
_READING = g.exponent_form((6, 6), "±")
_VALUE = g.exponent_form((5, 6), "±")

REPLY_FORMATS = [
    # readings
    (g.query("RDGR?", _CHANNEL), _READING),
    (g.query("RDGK?", _CHANNEL), _READING),
    (g.query("RDGPWR?", _CHANNEL), _VALUE),
    (g.query("RDGST?", _CHANNEL), g.bit_sum(ReadingStatus, 3, "exact")),  # "nnn", 000 = valid
    (g.command("HTR?"), _VALUE),
    (g.command("SETP?"), _VALUE),
    # states
    (g.command("SCAN?"), g.fields(g.integer(range(1, 17), 2, "exact"), g.BOOLEAN)),  # nn,n
    (g.command("RAMPST?"), g.BOOLEAN),
    (g.command("HTRST?"), g.integer(range(0, 3))),
    (g.command("CMODE?"), g.integer(range(1, 5))),
    (g.command("HTRRNG?"), g.integer(range(0, 9))),
    (g.command("*ESR?"), g.bit_sum(StandardEvent, 3, "optional")),  # "nnn"; plain NR1 accepted too
    (g.command("*OPC?"), g.one_of("1")),
    # settings read back, the settling time among them
    (g.query("RDGRNG?", _CHANNEL), g.fields(g.BOOLEAN, g.integer(range(1, 23), 2, "exact"),
                                           g.integer(range(1, 23), 2, "exact"), g.BOOLEAN, g.BOOLEAN)),
    (g.query("INSET?", _CHANNEL), g.fields(g.BOOLEAN, g.integer(range(1, 201), 3, "exact"),
                                          g.integer(range(3, 201), 3, "exact"), g.integer(range(0, 21), 2, "exact"),
                                          g.integer((1, 2)))),  # n,nnn,nnn,nn,n
    (g.query("FILTER?", _CHANNEL), g.fields(g.BOOLEAN, g.integer(range(1, 201), 3, "exact"),
                                           g.integer(range(1, 81), 2, "exact"))),  # n,nnn,nn
    (g.command("CSET?"), g.fields(g.integer(range(1, 17), 2, "exact"), g.BOOLEAN, g.integer((1, 2)),
                                  g.integer(range(1, 256), 3, "exact"), g.integer((1, 2)), g.integer(range(1, 9)),
                                  _VALUE)),
    (g.command("MOUT?"), _VALUE),
    (g.command("PID?"), g.fields(g.decimal("±?"), g.decimal("±?"), g.decimal("±?"))),
    (g.command("RAMP?"), g.fields(g.BOOLEAN, g.decimal("+?"))),
    (g.command("STILL?"), g.fixed((1, 3), 2, "+")),
    (g.command("*IDN?"), g.identification("LSCI", "MODEL370")),
]


# ---- driver ---------------------------------------------------------------------------------


class Lakeshore370Channel(Channel):
    """One measurement channel (1-16) of the 370 scanner."""

    resistance = Channel.measurement("RDGR? {ch}", """Get the latest resistance reading (ohm).""")

    kelvin = Channel.measurement(
        "RDGK? {ch}", """Get the latest temperature reading (K); 0 without a calibration curve.""")

    excitation_power = Channel.measurement("RDGPWR? {ch}", """Get the power dissipated in the sensor (W).""")

    reading_status = Channel.measurement(
        "RDGST? {ch}", """Get the reading status as :class:`ReadingStatus` flags (0 = valid).""",
        cast=int, get_process=ReadingStatus)

    reading_range = Channel.control(
        "RDGRNG? {ch}", "RDGRNG {ch},%d,%d,%d,%d,%d",
        """Control excitation and range as :class:`ReadingRange` (mode 0 voltage|1 current,
        excitation index, range index, autorange 0|1, excitation off 0|1).""",
        validator=_valid_reading_range, cast=int, get_process_list=lambda v: ReadingRange(*_ints(v)))

    input_setup = Channel.control(
        "INSET? {ch}", "INSET {ch},%d,%d,%d,%d,%d",
        """Control the channel setup as :class:`InputSetup` (on, dwell s, pause s, curve, tempco).""",
        validator=_fields_in(((0, 1), (1, 200), (3, 200), (0, 20), (1, 2))),
        cast=int, get_process_list=lambda v: InputSetup(*_ints(v)))

    filter = Channel.control(
        "FILTER? {ch}", "FILTER {ch},%d,%d,%d",
        """Control the reading filter as :class:`FilterSetup` (on, settle s, window %).""",
        validator=_fields_in(((0, 1), (1, 200), (1, 80))),
        cast=int, get_process_list=lambda v: FilterSetup(*_ints(v)))

    def set_current_excitation(self, current_A: float) -> float:
        """Current excitation at the table entry nearest ``current_A``, excitation on, range kept.

        The index is found (and refused if off the table) before anything is written. Returns the
        current actually set.
        """
        index = excitation_current_index(current_A)
        present = self.reading_range
        self.reading_range = (ExcitationMode.CURRENT, index, present.range, present.autorange, 0)
        return excitation_current(index)

    def set_excitation_off(self, off: bool = True) -> None:
        """Turn the current source off (cs_off = 1) or back on, keeping the other settings."""
        present = self.reading_range
        self.reading_range = present._replace(excitation_off=int(bool(off)))

    def settle_time_s(self) -> float:
        """Time from a channel switch (or excitation change) to the first valid reading: the
        channel's pause plus, with its filter on, the filter settle time."""
        pause = self.input_setup.pause_s
        filter_setup = self.filter
        return float(pause + (filter_setup.settle_s if filter_setup.enabled else 0))


class Lakeshore370(StandardEventStatusMixin, Instrument):
    """Lakeshore Model 370 AC resistance bridge with a 16-channel scanner and one control loop.

    *ESR? (:attr:`standard_event_status`), :meth:`clear`, :meth:`reset` and :meth:`check_errors`
    come from :class:`~daclab.instruments.ieee488.StandardEventStatusMixin`.

    .. code-block:: python

        bridge = Lakeshore370("ASRL5::INSTR")
        bridge.ch_1.set_current_excitation(316e-6)   # index 18
        bridge.scanner = (1, 0)
        print(bridge.ch_1.resistance)

    Heater loop: :attr:`control_setup` (CSET), :attr:`control_mode` (CMODE), :attr:`heater_range`
    (HTRRNG 0-8, see :data:`HEATER_RANGES_A`), :attr:`setpoint`, :attr:`manual_output`,
    :attr:`pid`, :attr:`ramp`, :attr:`ramp_active`, :attr:`heater_output`, :attr:`heater_status`,
    :attr:`still_output`.
    """

    channels = Instrument.MultiChannelCreator(Lakeshore370Channel, list(range(1, 17)))
    # The channels' queries go out through this object (pymeasure channels forward to their
    # parent), so their reply formats are declared here.
    reply_formats = REPLY_FORMATS

    def __init__(self, adapter, name: str = "Lakeshore 370 AC resistance bridge", **kwargs):
        kwargs.setdefault("read_termination", "\r\n")
        kwargs.setdefault("write_termination", "\r\n")
        kwargs.setdefault("asrl", {"baud_rate": 9600, "data_bits": 7, "parity": Parity.odd,
                                   "stop_bits": StopBits.one})
        super().__init__(adapter, name, includeSCPI=False, **kwargs)

    id = Instrument.measurement("*IDN?", """Get the identification string.""", cast=str, maxsplit=0)

    scanner = Instrument.control(
        "SCAN?", "SCAN %d,%d",
        """Control the scanner as :class:`Scanner` (channel 1-16, autoscan 0|1).""",
        validator=_fields_in(((1, 16), (0, 1))), cast=int, get_process_list=lambda v: Scanner(*_ints(v)))

    # ---- control loop ----

    control_setup = Instrument.control(
        "CSET?", "CSET %d,%d,%d,%d,%d,%d,%g",
        """Control the loop setup as :class:`ControlSetup`.""",
        validator=_fields_in(((1, 16), (0, 1), (1, 2), (1, 255), (1, 2), (1, 8), (1.0, 100000.0))),
        get_process_list=lambda v: ControlSetup(*_ints(v[:6]), float(v[6])))

    control_mode = Instrument.control(
        "CMODE?", "CMODE %d", """Control the loop mode: 'pid', 'zone', 'open_loop' or 'off'.""",
        validator=strict_discrete_set, values={"pid": 1, "zone": 2, "open_loop": 3, "off": 4},
        map_values=True, cast=int)

    heater_range = Instrument.control(
        "HTRRNG?", "HTRRNG %d",
        """Control the sample heater range index 0-8 (0 off, then 31.6 uA ... 100 mA, see HEATER_RANGES_A).""",
        validator=strict_discrete_set, values=range(0, 9), cast=int)

    setpoint = Instrument.control(
        "SETP?", "SETP %g", """Control the setpoint, in the units chosen by CSET (K or ohm).""",
        validator=strict_range, values=(0.0, 1e8))

    manual_output = Instrument.control(
        "MOUT?", "MOUT %g", """Control the open-loop heater output in percent of the range.""",
        validator=strict_range, values=(0.0, 100.0))

    heater_output = Instrument.measurement("HTR?", """Get the heater output in percent of the range.""")

    heater_status = Instrument.measurement(
        "HTRST?", """Get the heater error status (0 = no error).""", cast=int)

    pid = Instrument.control(
        "PID?", "PID %g,%g,%g", """Control the loop gains as :class:`PID` (P 0.001-1000, I 0-10000, D 0-2500).""",
        validator=_fields_in(((0.001, 1000.0), (0.0, 10000.0), (0.0, 2500.0))),
        get_process_list=lambda v: PID(*map(float, v)))

    ramp = Instrument.control(
        "RAMP?", "RAMP %d,%g", """Control the setpoint ramp as :class:`Ramp` (on 0|1, 0.001-10 K/min).""",
        validator=_fields_in(((0, 1), (0.001, 10.0))),
        get_process_list=lambda v: Ramp(int(v[0]), float(v[1])))

    ramp_active = Instrument.measurement(
        "RAMPST?", """Get whether the setpoint is still ramping.""", cast=int, get_process=bool)

    still_output = Instrument.control(
        "STILL?", "STILL %g", """Control the still heater output in percent.""",
        validator=strict_range, values=(0.0, 100.0))


# ---- role -----------------------------------------------------------------------------------


class BridgeReadingError(RuntimeError):
    """The bridge flagged its reading as invalid (overload or over range)."""


class Lakeshore370ResistanceMeter:
    """:class:`daclab.roles.ResistanceMeter` on one channel of a Lakeshore 370 (default 1, the sample).

    - :meth:`resistance` puts the scanner on the channel (autoscan off) if it is elsewhere and
      waits for the first valid reading (pause + filter settle + 1 s, on the daclab clock), then
      returns RDGR?; it raises :class:`BridgeReadingError` when RDGST? flags an overload or
      over-range (temperature-curve bits are ignored: the sample has no curve).
    - :meth:`set_excitation` checks the current, and the nearest table entry, against the software
      limits and the table before anything is written, sets the nearest current index (range and autorange kept),
      waits the settle time, and returns the current actually set.
    - :meth:`stop` turns the excitation off (cs_off = 1).
    """

    EXTRA_WAIT_S = 1.0  # one more second for the first filtered reading to be posted

    def __init__(self, bridge: Lakeshore370, channel: int = 1, limits: SoftwareLimits | None = None):
        if channel not in range(1, 17):
            raise LimitError(f"channel = {channel!r} is outside the allowed range [1, 16]")
        self.bridge = bridge
        self.channel_number = channel
        self.channel: Lakeshore370Channel = getattr(bridge, f"ch_{channel}")
        self.limits = limits or SoftwareLimits()

    def _wait_settled(self) -> None:
        clock.sleep(self.channel.settle_time_s() + self.EXTRA_WAIT_S)

    def resistance(self) -> float:
        if self.bridge.scanner.channel != self.channel_number:
            self.bridge.scanner = (self.channel_number, 0)
            self._wait_settled()
        value = self.channel.resistance
        status = self.channel.reading_status
        if status & RESISTANCE_INVALID:
            raise BridgeReadingError(f"channel {self.channel_number} reading {value:g} ohm is invalid: {status!r}")
        return value

    def set_excitation(self, current_A: float) -> float:
        self.limits.current("excitation current", current_A)
        index = excitation_current_index(current_A)  # refuses off-table values before the first query
        self.limits.current(f"excitation current (nearest, index {index})", excitation_current(index))
        actual = self.channel.set_current_excitation(current_A)
        self._wait_settled()
        return actual

    def stop(self) -> None:
        self.channel.set_excitation_off(True)


__all__ = [
    "Lakeshore370", "Lakeshore370Channel", "Lakeshore370ResistanceMeter", "BridgeReadingError",
    "ReadingStatus", "ExcitationMode", "ReadingRange", "InputSetup", "FilterSetup",
    "Scanner", "ControlSetup", "PID", "Ramp", "RESISTANCE_INVALID",
    "CURRENT_EXCITATIONS_A", "VOLTAGE_EXCITATIONS_V", "RESISTANCE_RANGES_OHM", "HEATER_RANGES_A",
    "excitation_current_index", "excitation_current",
    "excitation_voltage_index", "excitation_voltage", "resistance_range_index", "resistance_range",
]
