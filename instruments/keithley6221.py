"""Keithley 6221 current source with a Keithley 2182A nanovoltmeter behind it.

The PC talks to the 6221 only (GPIB, or LAN socket port 1394); the 2182A hangs off the 6221's
RS-232 port (plus a Trigger Link cable) and is reached through the serial pass-through
``SYST:COMM:SER:SEND "<cmd>"`` / ``SYST:COMM:SER:ENT?``. Together they run delta mode, pulse
delta and differential conductance (DCON), storing readings in the 6221's buffer.

This driver builds on pymeasure's :class:`~pymeasure.instruments.keithley.Keithley6221` and
changes what is wrong or missing there:

- ``delta_values`` returned the flat reading,timestamp,reading,timestamp list; here the buffer
  is split into named columns (:func:`split_readings`) following ``FORM:ELEM``.
- the buffer holds 65536 readings (pymeasure allowed 1e6 in ``delta_buffer_points`` and
  truncated ``buffer_points`` to 1024); large buffers are read in slices with
  ``TRAC:DATA:SEL? <start>,<count>``.
- currents, ranges and compliance use strict validators: a value out of range raises instead of
  being silently clipped to the nearest limit (a truncated 0.2 A would become 0.105 A).
- added: pulse delta, sweeps and lists, DCON, ``FORM:ELEM``, ``UNIT``, ``SENS:AVER``, ``ARM?``
  queries, completion polling of ``STAT:OPER:EVEN?`` on :mod:`daclab.clock`, and the 2182A
  through the pass-through (:class:`Nanovoltmeter2182A`).
- commands use the manual's short form without a leading colon, one form per command.

Readings of the :class:`~daclab.roles` (delta-mode resistance, pulsed I-V, differential
conductance) are in :mod:`daclab.instruments.keithley6221_modes`, re-exported here.

Choices where INSTRUMENTS.md is [unsure]:

- Element order of ``FORM:ELEM``: whether the 6221 returns the elements in the order listed or
  in its own fixed order is unsure. The driver always *sends* them in the fixed order
  READ,TST,UNIT,RNUM,SOUR,COMP,AVOL and parses replies in that order, so both readings of the
  manual give the same columns.
- ``SOUR:DELT:HIGH``/``LOW`` signs: the manual's range for both is -105 mA..+105 mA (Keithley's
  examples use either sign); pymeasure restricted HIGH to >= 0 and LOW to <= 0. Both accept
  +-105 mA here; the role adapter always uses LOW = -HIGH.
- ``TRAC:DATA:SEL?`` counts readings from 0 (the first reading is 0).
- DCON point count: |stop - start| / step + 1 (both ends included, as a linear staircase from
  start to stop has), and 100 points when the step exceeds the span (:meth:`dcon_point_count`).
- The elements UNIT and COMP come back as text columns when they are not numbers: the parser
  keeps any column that does not convert to float as strings rather than guessing a format.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.keithley import Keithley6221 as _PymeasureKeithley6221
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from daclab import clock as clocks
from daclab.connection import faults_on_this_thread
from daclab.instruments import reply_grammar as g
from daclab.instruments.ieee488 import scpi_next_error
from daclab.instruments.keithley2182 import IDENTIFICATION as NANOVOLTMETER_IDENTIFICATION
from daclab.instruments.keithley2182 import READING

MAX_CURRENT_A = 0.105
BUFFER_SIZE = 65536  # readings the 6221 buffer holds
SWEEP_DONE = 2  # bit 1 of the operation event register: sweep (delta, pulse delta, DCON) done
LIST_CHUNK = 100  # values per SOUR:LIST command; the rest follow with :APP

# The instrument's own order of the reading elements, and the column each becomes.
ELEMENT_ORDER = ("READ", "TST", "UNIT", "RNUM", "SOUR", "COMP", "AVOL")
ELEMENT_COLUMNS = {
    "READ": "reading",
    "TST": "timestamp",
    "UNIT": "unit",
    "RNUM": "reading_number",
    "SOUR": "source_current",
    "COMP": "compliance",
    "AVOL": "average_voltage",
}

_BOOL_1_0 = {True: 1, False: 0}
_ON_OFF = {True: "ON", False: "OFF"}


# ---- helpers for the buffer -------------------------------------------------------------

def ordered_elements(elements: str | Sequence[str]) -> tuple[str, ...]:
    """Element names in the instrument's fixed order; ``"ALL"`` means every element.

    Accepts a comma-separated string (as ``FORM:ELEM?`` replies) or a sequence of names.
    """
    if isinstance(elements, str):
        elements = elements.split(",")
    names = {str(e).strip().upper() for e in elements if str(e).strip()}
    if "ALL" in names:
        return ELEMENT_ORDER
    unknown = sorted(names - set(ELEMENT_ORDER))
    if unknown or not names:
        raise ValueError(f"elements = {sorted(names)} invalid; allowed: {', '.join(ELEMENT_ORDER)} or ALL")
    return tuple(e for e in ELEMENT_ORDER if e in names)


def _elements_validator(value, values):
    return ",".join(ordered_elements(value))


def split_readings(values: Sequence, elements: str | Sequence[str]) -> dict[str, np.ndarray]:
    """Split a flat buffer reply into named columns, one entry per reading.

    ``values`` is the reply split at the commas (numbers, or strings where they are not);
    ``elements`` the ``FORM:ELEM`` list in force. Columns are named after
    :data:`ELEMENT_COLUMNS` (``reading``, ``timestamp``, ``source_current``, ...); numeric
    columns are float arrays, any other column an array of strings.
    """
    names = ordered_elements(elements)
    flat = [v for v in values if not (isinstance(v, str) and not v.strip())]
    if len(flat) % len(names):
        raise ValueError(
            f"{len(flat)} values do not split into readings of {len(names)} elements ({','.join(names)})"
        )
    columns = {}
    for offset, name in enumerate(names):
        column = flat[offset::len(names)]
        try:
            columns[ELEMENT_COLUMNS[name]] = np.asarray(column, dtype=float)
        except (TypeError, ValueError):
            columns[ELEMENT_COLUMNS[name]] = np.asarray([str(v).strip() for v in column])
    return columns


def _count_validator(value, values):
    """A count 1..65536 or ``"INF"``, sent as an integer."""
    if isinstance(value, str) and value.strip().upper() == "INF":
        return "INF"
    number = float(value)
    low, high = values
    if number != int(number) or not low <= number <= high:
        raise ValueError(f"count = {value!r} invalid; allowed: an integer in [{low}, {high}] or 'INF'")
    return str(int(number))


def _count_getter(value):
    text = str(value).strip()
    return "INF" if text.upper() == "INF" else int(float(text))


def _on_off_control(get_command: str, set_command: str, docs: str):
    """A boolean setting written as ON|OFF and read back as 1|0."""
    return Instrument.control(
        get_command, set_command, docs,
        validator=strict_discrete_set, values=_ON_OFF, map_values=True,
        get_process=lambda v: "ON" if int(v) else "OFF",
    )


def dcon_point_count(start_A: float, stop_A: float, step_A: float) -> int:
    """Readings of a DCON sweep: |stop - start| / step + 1, or 100 when the step exceeds the span.

    [unsure] in INSTRUMENTS.md (one driver: |stop - start| / step + 1; Keithley's example:
    ceil((stop - start) / step)); this reading counts both ends of the staircase.
    """
    span = abs(stop_A - start_A)
    if step_A <= 0 or step_A > span:
        return 100
    return int(math.floor(span / step_A + 1e-9)) + 1


def _chunks(values: Sequence, size: int):
    for start in range(0, len(values), size):
        yield values[start:start + size]


# ---- reply formats ------------------------------------------------------------------------------

# Numbers come as SCPI NR3 with their sign (+1.000000E-03), as from the 2182A.
NUMBER = READING
# One field per buffer element. UNIT and COMP are words or flags whose exact spelling the sources
# at hand leave open (the twin writes OHM, V, W, SIEM and 0|1): short upper-case words or digits.
ELEMENT_FORMATS = {
    "READ": NUMBER,
    "TST": NUMBER,
    "UNIT": g.group("[A-Z]{1,4}"),
    "RNUM": g.integer(range(BUFFER_SIZE), 5, "optional", sign="+?"),
    "SOUR": NUMBER,
    "COMP": g.group("[A-Z0-9]{1,4}"),
    "AVOL": NUMBER,
}
BUFFER_QUERY = g.group(r"TRAC:DATA\?|TRAC:DATA:SEL\? \d+,\d+|:SENS:DATA\?")
# The buffer when the elements in force are not known: any list of element fields. The field
# alternatives are made disjoint (a number with its point, an integer, a word starting with a
# letter): overlapping alternatives inside a repetition would make a long refused reply take
# exponential time to refuse.
ANY_BUFFER = g.repeated(g.group("|".join((NUMBER, g.integer(range(BUFFER_SIZE), 5, "optional", sign="+?"),
                                          "[A-Z][A-Z0-9]{0,3}"))))


@functools.lru_cache(maxsize=None)
def buffer_format(elements: tuple[str, ...]) -> str:
    """A buffer reply of whole readings, each with one field per element in force, in order."""
    return g.repeated(g.fields(*(ELEMENT_FORMATS[e] for e in ordered_elements(elements))))


_NUMBER_QUERIES = (
    "SOUR:CURR?", "SOUR:CURR:RANG?", "SOUR:CURR:COMP?", "SOUR:DEL?", "SENS:AVER:WIND?",
    "SOUR:DELT:HIGH?", "SOUR:DELT:LOW?", "SOUR:DELT:DEL?",
    "SOUR:PDEL:HIGH?", "SOUR:PDEL:LOW?", "SOUR:PDEL:WIDT?", "SOUR:PDEL:SDEL?",
    "SOUR:CURR:STAR?", "SOUR:CURR:STOP?", "SOUR:CURR:STEP?",
    "SOUR:DCON:STAR?", "SOUR:DCON:STOP?", "SOUR:DCON:STEP?", "SOUR:DCON:DELT?", "SOUR:DCON:DEL?", "SOUR:DCON:NVZ?",
)
_STATE_QUERIES = (  # 0|1
    "OUTP?", "SOUR:CURR:RANG:AUTO?", "SENS:AVER:STAT?", "SOUR:DELT:CAB?", "SOUR:DELT:CSW?", "SOUR:PDEL:SWE?",
    "SOUR:DCON:CAB?", "SOUR:DELT:ARM?", "SOUR:PDEL:ARM?", "SOUR:DCON:ARM?", "SOUR:DELT:NVPR?", ":DISP:ENAB?",
    ":OUTP:LTE?",
)
_REGISTER_WORD = g.integer(range(0, 65536))  # a 16-bit status register, NR1

REPLY_FORMATS = [
    # readings and run status (the buffer's format is added per instance: Keithley6221.reply_formats)
    (g.command(*_NUMBER_QUERIES), NUMBER),
    (g.command(*_STATE_QUERIES), g.BOOLEAN),
    (g.command("TRAC:POIN:ACT?"), g.integer(range(0, BUFFER_SIZE + 1))),
    (g.command("STAT:OPER:EVEN?", *(f":STAT:{r}{e}?" for r in ("OPER", "MEAS", "QUES") for e in ("", ":ENAB"))),
     _REGISTER_WORD),
    (g.command("*ESR?", "*STB?", "*SRE?"), g.REGISTER_BYTE),
    (g.command("*OPC?"), g.one_of("1")),
    (g.command("SYST:ERR?"), g.SCPI_ERROR),
    # settings read back
    (g.command("SOUR:DELT:COUN?", "SOUR:SWE:COUN?", "SOUR:PDEL:COUN?"),  # n or INF (9.9E37 as a number)
     g.group("|".join((g.integer(range(1, BUFFER_SIZE + 1)), g.one_of("INF"), NUMBER)))),
    (g.command("TRAC:POIN?"), g.integer(range(1, BUFFER_SIZE + 1))),
    (g.command("SOUR:SWE:POIN?"), g.integer(range(1, BUFFER_SIZE))),
    (g.command("SOUR:PDEL:INT?"), g.integer(range(5, 1000000))),
    (g.command("SOUR:PDEL:LME?"), g.integer((1, 2))),
    (g.command("SENS:AVER:COUN?"), g.integer(range(2, 301))),
    (g.command("UNIT?"), g.one_of("V", "OHMS", "W", "SIEM")),
    (g.command("UNIT:POW:TYPE?"), g.one_of("PEAK", "AVER")),
    (g.command("FORM:ELEM?"), g.repeated(g.one_of(*ELEMENT_ORDER))),
    (g.command("TRAC:DATA:TYPE?"), g.one_of("NONE", "DELT", "DCON", "PULS")),
    (g.command("TRAC:TST:FORM?"), g.one_of("ABS", "DELT")),
    (g.command("SOUR:PDEL:RANG?"), g.one_of("BEST", "FIX")),
    (g.command("SOUR:SWE:SPAC?"), g.one_of("LIN", "LOG", "LIST")),
    (g.command("SOUR:SWE:RANG?"), g.one_of("AUTO", "BEST", "FIX")),
    (g.command("SENS:AVER:TCON?"), g.one_of("MOV", "REP")),
    (g.command("*IDN?"), g.identification("KEITHLEY INSTRUMENTS INC.", "MODEL 6221")),
    # No format for SYST:COMM:SER:ENT?: its reply is the 2182A's (empty while it has not
    # answered yet), checked against the 2182A's own formats by Nanovoltmeter2182A.read.
]


def _through_link(*commands: str) -> str:
    """The pass-through commands carrying the 2182A ``commands`` (as the channel records them)."""
    return g.command(*(f'SYST:COMM:SER:SEND "{c}"' for c in commands))


NANOVOLTMETER_REPLY_FORMATS = [
    (_through_link("READ?", "FETC?", "SENS:DATA:FRES?"), READING),  # one reading: TRIG:COUN stays 1
    (_through_link("SENS:VOLT:NPLC?"), READING),
    (_through_link("SENS:CHAN?"), g.integer(range(0, 3))),
    (_through_link("*IDN?"), NANOVOLTMETER_IDENTIFICATION),
]


# ---- the 2182A behind the pass-through ------------------------------------------------------

class Nanovoltmeter2182A(Channel):
    """The 2182A on the 6221's RS-232 port, commanded through the serial pass-through.

    Every command is wrapped as ``SYST:COMM:SER:SEND "<command>"``; a query's reply is collected
    by polling ``SYST:COMM:SER:ENT?`` (empty while the 2182A has not answered yet) on the daclab
    clock. Commands must not contain double quotes; the 2182A's own strings use single quotes.
    """

    # Its read() returns the 2182A's reply (polled through the 6221), checked here against the
    # 2182A's formats, keyed by the pass-through command that carried the query.
    reply_formats = NANOVOLTMETER_REPLY_FORMATS

    reply_timeout_s = 5.0
    reply_poll_s = 0.05
    reset_wait_s = 3.0  # the 2182A ignores the link for ~2-3 s after *RST

    def insert_id(self, command: str) -> str:
        if '"' in command or ";" in command:
            raise ValueError(f"2182A command {command!r}: no double quotes or ';' inside the pass-through")
        return f'SYST:COMM:SER:SEND "{command}"'

    def read(self, **kwargs) -> str:
        """The 2182A's reply, polled from the 6221's serial buffer until it arrives."""
        return clocks.poll_until(
            lambda: self.parent.ask("SYST:COMM:SER:ENT?").strip(), self.reply_timeout_s, self.reply_poll_s,
            lambda: TimeoutError(f"no reply from the 2182A through the 6221 within {self.reply_timeout_s} s"))

    def reset(self) -> None:
        """``*RST`` the 2182A and wait (on the daclab clock) until it listens again."""
        self.write("*RST")
        clocks.sleep(self.reset_wait_s)

    identification = Channel.measurement("*IDN?", """Get the 2182A identification.""", cast=str, maxsplit=0)

    channel = Channel.control(
        "SENS:CHAN?", "SENS:CHAN %d",
        """Control the measured channel: 1 (four-probe pads) or 2 (point contact).""",
        validator=strict_discrete_set, values=[1, 2], cast=int,
    )

    nplc = Channel.control(
        "SENS:VOLT:NPLC?", "SENS:VOLT:NPLC %g",
        """Control the integration time in power-line cycles (0.01-60).""",
        validator=strict_range, values=[0.01, 60],
    )

    channel1_range = Channel.setting(
        "SENS:VOLT:CHAN1:RANG %g",
        """Set the channel 1 range in V (10 mV, 100 mV, 1, 10, 100 V; the next range up is used).""",
        validator=strict_range, values=[0, 120],
    )

    channel2_range = Channel.setting(
        "SENS:VOLT:CHAN2:RANG %g",
        """Set the channel 2 range in V (0.1, 1, 10 V; the next range up is used).""",
        validator=strict_range, values=[0, 12],
    )

    auto_range_enabled = Channel.setting(
        "SENS:VOLT:RANG:AUTO %d", """Set auto ranging on (True) or off.""",
        validator=strict_discrete_set, values=_BOOL_1_0, map_values=True,
    )

    digital_filter_enabled = Channel.setting(
        "SENS:VOLT:DFIL %s", """Set the digital filter on (True) or off.""",
        validator=strict_discrete_set, values=_ON_OFF, map_values=True,
    )

    digital_filter_count = Channel.setting(
        "SENS:VOLT:DFIL:COUN %d", """Set the digital filter count (1-100).""",
        validator=strict_range, values=[1, 100],
    )

    digital_filter_window = Channel.setting(
        "SENS:VOLT:DFIL:WIND %g", """Set the digital filter window in % (0.01-10).""",
        validator=strict_range, values=[0.01, 10],
    )

    digital_filter_type = Channel.setting(
        "SENS:VOLT:DFIL:TCON %s", """Set the digital filter type: 'MOV' (moving) or 'REP' (repeating).""",
        validator=strict_discrete_set, values=["MOV", "REP"],
    )

    analog_filter_enabled = Channel.setting(
        "SENS:VOLT:LPAS %s", """Set the analog low-pass filter on (True) or off.""",
        validator=strict_discrete_set, values=_ON_OFF, map_values=True,
    )

    voltage = Channel.measurement(
        "READ?", """Measure one voltage (V) on the selected channel with the present settings.""",
    )


# ---- the 6221 -------------------------------------------------------------------------------

class Keithley6221(_PymeasureKeithley6221):
    """Keithley 6221 current source, with the 2182A nanovoltmeter as :attr:`nanovoltmeter`.

    .. code-block:: python

        k = Keithley6221("GPIB0::12::INSTR")
        k.nanovoltmeter.channel = 1
        k.delta_high_source = 1e-3          # LOW follows as -HIGH
        k.delta_cycles = 10
        k.buffer_points = 10
        k.delta_arm()
        data = k.run_and_read(expected_s=2.0)
        k.abort()
        resistance = data["reading"].mean() / 1e-3

    The roles of :mod:`daclab.roles` are in :class:`DeltaResistanceMeter`,
    :class:`PulseDeltaSource` and :class:`DifferentialConductanceSource`.
    """

    nanovoltmeter = Instrument.ChannelCreator(Nanovoltmeter2182A)
    next_error = scpi_next_error()

    @property
    def reply_formats(self) -> list[tuple[str, str]]:
        """The 6221's reply formats; the buffer's follows the elements last read or given
        (``read_buffer``), so that a reply missing a field of a reading is refused."""
        elements = self.__dict__.get("_buffer_elements")
        buffer = ANY_BUFFER if elements is None else buffer_format(elements)
        return [(BUFFER_QUERY, buffer), *REPLY_FORMATS]

    def __init__(self, adapter, name="Keithley 6221 current source", **kwargs):
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, **kwargs)

    # ---- DC source -------------------------------------------------------------------------

    source_current = Instrument.control(
        "SOUR:CURR?", "SOUR:CURR %g",
        """Control the DC output current in A (-0.105 to 0.105).""",
        validator=strict_range, values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    source_range = Instrument.control(
        "SOUR:CURR:RANG?", "SOUR:CURR:RANG %g",
        """Control the fixed source range in A (0 to 0.105; the instrument picks the range that
        holds the value). Selecting a range turns auto range off.""",
        validator=strict_range, values=[0, MAX_CURRENT_A],
    )

    source_auto_range = Instrument.control(
        "SOUR:CURR:RANG:AUTO?", "SOUR:CURR:RANG:AUTO %d",
        """Control auto ranging of the DC source (bool).""",
        validator=strict_discrete_set, values=_BOOL_1_0, map_values=True,
    )

    source_compliance = Instrument.control(
        "SOUR:CURR:COMP?", "SOUR:CURR:COMP %g",
        """Control the voltage compliance in V (0.1 to 105).""",
        validator=strict_range, values=[0.1, 105],
    )

    source_enabled = Instrument.control(
        "OUTP?", "OUTP %d",
        """Control whether the output is on (bool).""",
        validator=strict_discrete_set, values=_BOOL_1_0, map_values=True,
    )

    source_delay = Instrument.control(
        "SOUR:DEL?", "SOUR:DEL %g",
        """Control the sweep delay in s (1e-3 to 999999.999): the cycle period of each point of a
        sweep, also of a pulse-delta sweep.""",
        validator=strict_range, values=[1e-3, 999999.999],
    )

    def enable_source(self):
        """Turn the output on."""
        self.write("OUTP 1")

    def disable_source(self):
        """Turn the output off."""
        self.write("OUTP 0")

    def clear_source(self):
        """Zero the output and turn it off."""
        self.write("SOUR:CLE")

    def abort(self):
        """Abort delta, pulse delta, DCON or a sweep, disarm it, and return the 2182A to local."""
        self.write("SOUR:SWE:ABOR")

    delta_abort = abort

    def waveform_abort(self):
        """Abort the waveform output and disarm it."""
        self.write("SOUR:WAVE:ABOR")

    def reset(self):
        """Reset the 6221 to its defaults (the 2182A has its own :meth:`Nanovoltmeter2182A.reset`)."""
        self.write("*RST")

    def shutdown(self):
        """Leave the source safe: abort any mode, then output off."""
        self.abort()
        self.disable_source()
        Instrument.shutdown(self)

    # ---- readings: units, elements, 6221-side filter ---------------------------------------

    delta_unit = Instrument.control(
        "UNIT?", "UNIT %s",
        """Control the unit of stored readings (all modes): 'V', 'Ohms', 'W' or 'Siemens'.""",
        validator=strict_discrete_set,
        values={"V": "V", "Ohms": "OHMS", "W": "W", "Siemens": "SIEM"}, map_values=True,
        cast=str,  # a word: cast to float it stayed text, which the exchange layer refuses as garbled
    )

    power_type = Instrument.control(
        "UNIT:POW:TYPE?", "UNIT:POW:TYPE %s",
        """Control the pulse-delta power reading: 'PEAK' or 'AVER'.""",
        validator=strict_discrete_set, values=["PEAK", "AVER"], cast=str,
    )

    data_elements = Instrument.control(
        "FORM:ELEM?", "FORM:ELEM %s",
        """Control the elements stored with each reading, as a tuple of names from
        READ, TST, UNIT, RNUM, SOUR, COMP, AVOL (or 'ALL'). Always sent in that fixed order.""",
        validator=_elements_validator, cast=str, get_process=ordered_elements, get_process_list=ordered_elements,
    )

    averaging_enabled = Instrument.control(
        "SENS:AVER:STAT?", "SENS:AVER:STAT %d",
        """Control the 6221's averaging filter of readings (bool).""",
        validator=strict_discrete_set, values=_BOOL_1_0, map_values=True,
    )

    averaging_type = Instrument.control(
        "SENS:AVER:TCON?", "SENS:AVER:TCON %s",
        """Control the averaging filter type: 'MOV' or 'REP' (DCON accepts only 'REP').""",
        validator=strict_discrete_set, values=["MOV", "REP"], cast=str,
    )

    averaging_count = Instrument.control(
        "SENS:AVER:COUN?", "SENS:AVER:COUN %d",
        """Control the averaging filter count (2-300).""",
        validator=strict_range, values=[2, 300], cast=int,
    )

    averaging_window = Instrument.control(
        "SENS:AVER:WIND?", "SENS:AVER:WIND %g",
        """Control the averaging filter window in % (0-10).""",
        validator=strict_range, values=[0, 10],
    )

    # ---- buffer ------------------------------------------------------------------------------

    buffer_points = Instrument.control(
        "TRAC:POIN?", "TRAC:POIN %d",
        """Control the buffer size in readings (1-65536); set it to the number of readings.""",
        validator=strict_range, values=[1, BUFFER_SIZE], cast=int,
    )

    delta_buffer_points = buffer_points

    buffer_points_actual = Instrument.measurement(
        "TRAC:POIN:ACT?", """Get the number of readings stored so far.""", cast=int,
    )

    buffer_data_type = Instrument.measurement(
        "TRAC:DATA:TYPE?", """Get which mode filled the buffer: NONE, DELT, DCON or PULS.""", cast=str,
    )

    timestamp_format = Instrument.control(
        "TRAC:TST:FORM?", "TRAC:TST:FORM %s",
        """Control the time stamps: 'ABS' (since the first reading) or 'DELT' (since the previous).""",
        validator=strict_discrete_set, values=["ABS", "DELT"], cast=str,
    )

    def clear_buffer(self):
        """Clear the stored readings."""
        self.write("TRAC:CLE")

    def buffer_slice(self, start: int, count: int) -> list:
        """The flat reply for ``count`` readings from reading ``start`` (0 = first)."""
        start, count = int(start), int(count)
        if start < 0 or count < 1 or start + count > BUFFER_SIZE:
            raise ValueError(f"buffer slice start = {start}, count = {count} outside the {BUFFER_SIZE}-reading buffer")
        return self.values(f"TRAC:DATA:SEL? {start},{count}")

    def read_buffer(self, elements: Sequence[str] | None = None, slice_size: int = 1000) -> dict[str, np.ndarray]:
        """All stored readings as named columns (see :func:`split_readings`).

        ``elements`` defaults to the ``FORM:ELEM`` in force (one query). Up to ``slice_size``
        readings come in one ``TRAC:DATA?``; more are read in slices of that size, so that no
        single reply grows to megabytes.
        """
        if slice_size < 1:
            raise ValueError(f"slice_size = {slice_size} must be at least 1")
        elements = ordered_elements(elements) if elements is not None else self.data_elements
        self._buffer_elements = tuple(elements)  # the buffer reply's format (reply_formats)
        stored = self.buffer_points_actual
        if stored <= slice_size:
            values = self.values("TRAC:DATA?")
        else:
            values = []
            for start in range(0, stored, slice_size):
                values += self.buffer_slice(start, min(slice_size, stored - start))
        return split_readings(values, elements)

    @property
    def delta_values(self) -> dict[str, np.ndarray]:
        """The stored readings as named columns (``reading``, ``timestamp``, ...)."""
        return self.read_buffer()

    # ---- completion ----------------------------------------------------------------------

    operation_event = Instrument.measurement(
        "STAT:OPER:EVEN?",
        """Get the operation event register (reading clears it); bit 1 (value 2) = sweep done.""",
        cast=int,
    )

    def start(self):
        """Start the armed mode (delta, pulse delta or DCON)."""
        self.write("INIT:IMM")

    delta_start = start

    def wait_for_completion(self, timeout_s: float, poll_s: float = 0.1, first_wait_s: float = 0.0) -> None:
        """Wait on the daclab clock until the operation event register reports sweep done.

        Waits ``first_wait_s`` (the expected duration) before the first poll, then polls every
        ``poll_s``. Raises TimeoutError after ``timeout_s`` (the mode is aborted first).
        """
        first_wait_s = min(first_wait_s, timeout_s)
        clocks.sleep(first_wait_s)

        def timed_out() -> TimeoutError:
            self.abort()
            return TimeoutError(f"{self.name}: sweep not done within {timeout_s:g} s; aborted")

        def done() -> bool:
            faults_before = faults_on_this_thread()
            if self.operation_event & SWEEP_DONE:
                return True
            # The register clears when read: a read whose reply was lost and retried may have taken
            # the done bit with it. A full buffer then says what the bit would have said.
            return faults_on_this_thread() > faults_before and self.buffer_points_actual >= self.buffer_points

        clocks.poll_until(done, timeout_s - first_wait_s, poll_s, timed_out)

    def run_and_read(self, expected_s: float, timeout_s: float | None = None,
                     slice_size: int = 1000) -> dict[str, np.ndarray]:
        """Start the armed mode, wait until it is done and return the buffer's columns.

        A stale sweep-done bit is cleared (by reading the register) before starting.
        ``timeout_s`` defaults to twice the expected duration plus 10 s.
        """
        _ = self.operation_event  # reading clears the register
        self.start()
        timeout = 2.0 * expected_s + 10.0 if timeout_s is None else timeout_s
        self.wait_for_completion(timeout, poll_s=max(0.05, min(1.0, expected_s / 10)), first_wait_s=expected_s)
        return self.read_buffer(slice_size=slice_size)

    # ---- 2182A link ----------------------------------------------------------------------

    delta_connected = Instrument.measurement(
        "SOUR:DELT:NVPR?", """Get whether a 2182A answers on the link (bool).""", cast=bool,
    )

    # ---- delta mode -----------------------------------------------------------------------

    delta_high_source = Instrument.control(
        "SOUR:DELT:HIGH?", "SOUR:DELT:HIGH %g",
        """Control the delta high current in A (-0.105 to 0.105); setting it sets LOW to -HIGH.""",
        validator=strict_range, values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    delta_low_source = Instrument.control(
        "SOUR:DELT:LOW?", "SOUR:DELT:LOW %g",
        """Control the delta low current in A (-0.105 to 0.105).""",
        validator=strict_range, values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    delta_delay = Instrument.control(
        "SOUR:DELT:DEL?", "SOUR:DELT:DEL %g",
        """Control the delay in s between a current reversal and the reading (1e-3 to 9999.999).""",
        validator=strict_range, values=[1e-3, 9999.999],
    )

    delta_cycles = Instrument.control(
        "SOUR:DELT:COUN?", "SOUR:DELT:COUN %s",
        """Control the number of delta readings (1-65536 or 'INF').""",
        validator=_count_validator, values=[1, BUFFER_SIZE], cast=str, get_process=_count_getter,
    )

    delta_measurement_sets = Instrument.control(
        "SOUR:SWE:COUN?", "SOUR:SWE:COUN %s",
        """Control the number of repeated sets (delta) or sweeps (1-65536 or 'INF').""",
        validator=_count_validator, values=[1, BUFFER_SIZE], cast=str, get_process=_count_getter,
    )

    sweep_count = delta_measurement_sets

    delta_compliance_abort_enabled = _on_off_control(
        "SOUR:DELT:CAB?", "SOUR:DELT:CAB %s", """Control whether delta aborts on compliance (bool).""",
    )

    delta_cold_switch_enabled = _on_off_control(
        "SOUR:DELT:CSW?", "SOUR:DELT:CSW %s", """Control cold switching in delta mode (bool).""",
    )

    def delta_arm(self):
        """Arm delta mode (disarms pulse delta and DCON)."""
        self.write("SOUR:DELT:ARM")

    delta_armed = Instrument.measurement("SOUR:DELT:ARM?", """Get whether delta mode is armed.""", cast=bool)

    # ---- pulse delta -------------------------------------------------------------------------

    pulse_high_source = Instrument.control(
        "SOUR:PDEL:HIGH?", "SOUR:PDEL:HIGH %g",
        """Control the pulse high current in A (-0.105 to 0.105).""",
        validator=strict_range, values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    pulse_low_source = Instrument.control(
        "SOUR:PDEL:LOW?", "SOUR:PDEL:LOW %g",
        """Control the current between pulses in A (-0.105 to 0.105).""",
        validator=strict_range, values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    pulse_width = Instrument.control(
        "SOUR:PDEL:WIDT?", "SOUR:PDEL:WIDT %g",
        """Control the pulse width in s (50e-6 to 12e-3).""",
        validator=strict_range, values=[50e-6, 12e-3],
    )

    pulse_source_delay = Instrument.control(
        "SOUR:PDEL:SDEL?", "SOUR:PDEL:SDEL %g",
        """Control the delay from the pulse edge to the measurement in s (16e-6 to 11.966e-3).""",
        validator=strict_range, values=[16e-6, 11.966e-3],
    )

    pulse_count = Instrument.control(
        "SOUR:PDEL:COUN?", "SOUR:PDEL:COUN %s",
        """Control the number of pulse-delta readings of a fixed output (1-65536 or 'INF').""",
        validator=_count_validator, values=[1, BUFFER_SIZE], cast=str, get_process=_count_getter,
    )

    pulse_ranging = Instrument.control(
        "SOUR:PDEL:RANG?", "SOUR:PDEL:RANG %s",
        """Control the source range of a fixed pulse output: 'BEST' or 'FIX'.""",
        validator=strict_discrete_set, values=["BEST", "FIX"], cast=str,
    )

    pulse_interval = Instrument.control(
        "SOUR:PDEL:INT?", "SOUR:PDEL:INT %d",
        """Control the pulse period of a fixed output in power-line cycles (5-999999).""",
        validator=strict_range, values=[5, 999999], cast=int,
    )

    pulse_sweep_enabled = _on_off_control(
        "SOUR:PDEL:SWE?", "SOUR:PDEL:SWE %s",
        """Control whether the pulses follow the sweep (SOUR:SWE, SOUR:LIST) instead of HIGH (bool).""",
    )

    pulse_low_measurements = Instrument.control(
        "SOUR:PDEL:LME?", "SOUR:PDEL:LME %d",
        """Control the low measurements per pulse: 2 (low-high-low, default) or 1 (less heating).""",
        validator=strict_discrete_set, values=[1, 2], cast=int,
    )

    def pulse_arm(self):
        """Arm pulse delta (disarms delta and DCON)."""
        self.write("SOUR:PDEL:ARM")

    pulse_armed = Instrument.measurement("SOUR:PDEL:ARM?", """Get whether pulse delta is armed.""", cast=bool)

    # ---- sweeps and lists ----------------------------------------------------------------------

    sweep_spacing = Instrument.control(
        "SOUR:SWE:SPAC?", "SOUR:SWE:SPAC %s",
        """Control the sweep spacing: 'LIN', 'LOG' or 'LIST'.""",
        validator=strict_discrete_set, values=["LIN", "LOG", "LIST"], cast=str,
    )

    sweep_start = Instrument.control(
        "SOUR:CURR:STAR?", "SOUR:CURR:STAR %g",
        """Control the first current of a LIN/LOG sweep in A.""",
        validator=strict_range, values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    sweep_stop = Instrument.control(
        "SOUR:CURR:STOP?", "SOUR:CURR:STOP %g",
        """Control the last current of a LIN/LOG sweep in A.""",
        validator=strict_range, values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    sweep_step = Instrument.control(
        "SOUR:CURR:STEP?", "SOUR:CURR:STEP %g",
        """Control the step of a LIN sweep in A (sets the point count).""",
        validator=strict_range, values=[0, 2 * MAX_CURRENT_A],
    )

    sweep_points = Instrument.control(
        "SOUR:SWE:POIN?", "SOUR:SWE:POIN %d",
        """Control the number of sweep points (1-65535; sets the step of a LIN sweep).""",
        validator=strict_range, values=[1, 65535], cast=int,
    )

    sweep_ranging = Instrument.control(
        "SOUR:SWE:RANG?", "SOUR:SWE:RANG %s",
        """Control the source ranging of a sweep: 'AUTO', 'BEST' or 'FIX'.""",
        validator=strict_discrete_set, values=["AUTO", "BEST", "FIX"], cast=str,
    )

    def set_list_currents(self, currents_A: Sequence[float]) -> None:
        """Load the current list of a LIST sweep (``SOUR:LIST:CURR`` then ``:APP`` in chunks).

        Every value is checked before the first command is written.
        """
        currents = [strict_range(float(c), [-MAX_CURRENT_A, MAX_CURRENT_A]) for c in currents_A]
        self._write_list("SOUR:LIST:CURR", currents)

    def set_list_delays(self, delays_s: Sequence[float]) -> None:
        """Load the per-point delay (cycle period) list of a LIST sweep (``SOUR:LIST:DEL``)."""
        self._write_list("SOUR:LIST:DEL", [strict_range(float(d), [1e-3, 999999.999]) for d in delays_s])

    def _write_list(self, command: str, values: list[float]) -> None:
        if not values or len(values) > BUFFER_SIZE - 1:
            raise ValueError(f"{command}: {len(values)} values; a list holds 1 to {BUFFER_SIZE - 1}")
        for index, chunk in enumerate(_chunks(values, LIST_CHUNK)):
            head = command if index == 0 else f"{command}:APP"
            self.write(f"{head} " + ",".join(f"{v:g}" for v in chunk))

    # ---- differential conductance ----------------------------------------------------------

    dcon_start = Instrument.control(
        "SOUR:DCON:STAR?", "SOUR:DCON:STAR %g",
        """Control the first bias current in A (the middle step of the first cycle).""",
        validator=strict_range, values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    dcon_stop = Instrument.control(
        "SOUR:DCON:STOP?", "SOUR:DCON:STOP %g",
        """Control the last bias current in A.""",
        validator=strict_range, values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    dcon_step = Instrument.control(
        "SOUR:DCON:STEP?", "SOUR:DCON:STEP %g",
        """Control the bias step (magnitude) in A.""",
        validator=strict_range, values=[0, MAX_CURRENT_A],
    )

    dcon_delta = Instrument.control(
        "SOUR:DCON:DELT?", "SOUR:DCON:DELT %g",
        """Control the modulation dI in A: the current alternates bias +- dI.""",
        validator=strict_range, values=[0, MAX_CURRENT_A],
    )

    dcon_delay = Instrument.control(
        "SOUR:DCON:DEL?", "SOUR:DCON:DEL %g",
        """Control the delay in s before each reading (1e-3 to 9999.999).""",
        validator=strict_range, values=[1e-3, 9999.999],
    )

    dcon_compliance_abort_enabled = _on_off_control(
        "SOUR:DCON:CAB?", "SOUR:DCON:CAB %s", """Control whether DCON aborts on compliance (bool).""",
    )

    dcon_voltage_zero = Instrument.measurement(
        "SOUR:DCON:NVZ?", """Get the voltage the 2182A reads with zero current (V-zero), V.""",
    )

    def dcon_arm(self):
        """Arm differential conductance (disarms delta and pulse delta)."""
        self.write("SOUR:DCON:ARM")

    dcon_armed = Instrument.measurement("SOUR:DCON:ARM?", """Get whether DCON is armed.""", cast=bool)

    dcon_point_count = staticmethod(dcon_point_count)


# The role adapters live in keithley6221_modes (which imports this module); they are offered
# here too, loaded on first use so that either module can be imported first.
_ROLE_ADAPTERS = ("DeltaResistanceMeter", "PulseDeltaSource", "DifferentialConductanceSource", "DCCurrentStepSource")


def __getattr__(name: str):
    if name in _ROLE_ADAPTERS:
        from daclab.instruments import keithley6221_modes

        return getattr(keithley6221_modes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Keithley6221", "Nanovoltmeter2182A", "split_readings", "ordered_elements", "dcon_point_count",
    "ELEMENT_ORDER", "ELEMENT_COLUMNS", "BUFFER_SIZE", "MAX_CURRENT_A", "SWEEP_DONE", *_ROLE_ADAPTERS,
]
