"""Keithley 2182A nanovoltmeter, talked to directly (GPIB or RS-232).

Built on pymeasure's ``Keithley2182`` (channels, NPLC, trigger count and delay, temperature,
buffer and statistics), with what it lacks and what it gets wrong:

- added: digital filter (``:SENS:VOLT:DFIL`` ON|OFF, ``:COUN`` 1-100, ``:WIND`` 0.01-10 %,
  ``:TCON`` MOV|REP), analog filter ``:SENS:VOLT:LPAS``, front autozero ``:SYST:FAZ``, line
  synchronisation ``:SYST:LSYN``, ``:FETC?`` (:attr:`latest_reading`), ``:SENS:DATA:FRES?``
  (:attr:`fresh_reading`), ``:INIT`` (:meth:`initiate`), ``:TRIG:SOUR`` as a property;
- fixed: the function is ``'VOLT'`` (pymeasure writes ``"VOLT:DC"``, a 2000-series name the 2182A
  does not have, and could not read the quoted reply back); the channel is 1 or 2 (channel 0, the
  internal temperature sensor, belongs to the temperature function only); channel 2's range and
  offset are limited to 12 V (pymeasure's per-channel limits never took effect); ``setup_voltage`` and
  the trigger helpers send one command per line instead of ``;``-joined lines ending in ``;``;
  ``reset`` sends ``*RST`` and ``*CLS`` (pymeasure's mixes lower-case SCPI with ``:*CLS``);
  ``wait_for_buffer`` waits on the daclab clock instead of ``time.sleep``; autozero is the
  ``:SYST:AZER ON|OFF`` form of the manual.
- NPLC: 0.01-50 by default, safe on either mains; on a 60 Hz line the instrument accepts up to
  60, which :meth:`auto_line_frequency` (from pymeasure, reads ``:SYST:LFR?``) enables.

Commands keep pymeasure's colon-rooted short forms (``:SENS:VOLT:NPLC``), which the instrument
takes exactly as the unrooted forms of INSTRUMENTS.md. Readings where the sources differ:

- autorange: INSTRUMENTS.md writes ``SENS:VOLT:RANG:AUTO``; the range lives under each channel's
  node in the 2182A's command tree (``:SENS:VOLT:CHAN1:RANG``), and so does its AUTO switch, which
  is the form pymeasure's channel property sends. This driver uses the per-channel form
  (``ch_1.voltage_range_auto_enabled``), the unambiguous one on a two-channel meter.
- autozero: ``:SYST:AZER ON|OFF`` as INSTRUMENTS.md lists it (pymeasure's ``:SYST:AZER:STAT``
  is the same command with its optional node spelled out).

A reading beyond 120 % of a fixed range comes back as the overflow value +9.9E37
(:data:`OVERFLOW`; test with :func:`is_overflow`). ``READ?`` blocks on the instrument for about
NPLC / line frequency per reading (times the filter count): give the VISA timeout room for it.
"""

from __future__ import annotations

from pymeasure.instruments import Instrument
from pymeasure.instruments.keithley.keithley2182 import Keithley2182, Keithley2182Channel
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from daclab import clock
from daclab.instruments import reply_grammar as g
from daclab.instruments.ieee488 import scpi_next_error

OVERFLOW = 9.9e37  # what the 2182A returns for a reading beyond its range
CHANNEL_RANGES_V = {1: (0.01, 0.1, 1.0, 10.0, 100.0), 2: (0.1, 1.0, 10.0)}

# A reading, and every other number the 2182A sends: SCPI NR3 with its sign, one digit before the
# point and a signed two-digit exponent (+1.4282699E-04; the overflow +9.9000000E+37). The
# number of decimals follows the resolution, so 1 to 9 are taken.
READING = g.nr3((1, 9), "±")
READINGS = g.repeated(READING)  # TRIG:COUN readings at once
IDENTIFICATION = g.identification("KEITHLEY INSTRUMENTS INC.", "MODEL 2182A")
_CHANNEL_NODE = ":SENS:VOLT:CHAN[12]"

REPLY_FORMATS = [
    # readings (:READ? serves the temperature function too)
    (g.command(":READ?", ":FETC?", ":SENS:DATA:FRES?"), READINGS),
    (g.command(*(f":CALC2:FORM {f};:CALC2:STAT ON;:CALC2:IMM?;" for f in ("MEAN", "MAX", "MIN", "SDEV"))), READING),
    # states and settings
    (g.command(":SENS:CHAN?"), g.integer(range(0, 3))),  # 0: the internal temperature sensor
    (g.command(":SENS:FUNC?"), g.group("|".join(f"{q}(?:VOLT|TEMP){q}" for q in ('"', "'", "")))),
    (g.command(":SENS:VOLT:NPLC?", ":SENS:VOLT:DFIL:WIND?", ":TRIG:DEL?", ":SENS:TEMP:RTEM?", ":SENS:TEMP:NPLC?"),
     READING),
    (_CHANNEL_NODE + g.command(":RANG?", ":REF?"), READING),
    (_CHANNEL_NODE + g.command(":RANG:AUTO?", ":REF:STAT?"), g.BOOLEAN),
    (g.command(":SENS:VOLT:DFIL?", ":SENS:VOLT:LPAS?", ":SYST:AZER?", ":SYST:FAZ?", ":SYST:LSYN?", ":DISP:ENAB?"),
     g.BOOLEAN),
    (g.command(":SENS:VOLT:DFIL:COUN?"), g.integer(range(1, 101))),
    (g.command(":SENS:VOLT:DFIL:TCON?"), g.one_of("MOV", "REP")),
    (g.command(":TRIG:SOUR?"), g.one_of("IMM", "BUS", "EXT", "TIM", "MAN")),
    (g.command(":TRIG:COUN?"), g.group(g.integer(range(1, 10000)) + "|" + READING)),  # INF reads as 9.9E37
    (g.command(":TRAC:POIN?"), g.integer(range(1, 1025))),
    (g.command(":SYST:LFR?"), g.group(g.integer((50, 60)) + "|" + READING)),
    (g.command("*STB?"), g.REGISTER_BYTE),
    (g.command("*OPC?"), g.one_of("1")),
    (g.command("SYST:ERR?"), g.SCPI_ERROR),
    (g.command("*IDN?"), IDENTIFICATION),
]


def is_overflow(reading: float) -> bool:
    """True for the instrument's overflow value (a reading beyond the range)."""
    return abs(reading) >= OVERFLOW / 10


def _switch(command: str, docs: str):
    """An ON|OFF setting; the instrument answers its query with 1|0."""
    return Instrument.control(
        f"{command}?", f"{command} %s", docs,
        validator=strict_discrete_set,
        values=(True, False),
        set_process=lambda v: "ON" if v else "OFF",
        get_process=lambda v: bool(int(v)),
    )


class Keithley2182AChannel(Keithley2182Channel):
    """Channel 1 (10 mV-100 V ranges) or 2 (100 mV-10 V, referenced to channel 1 LO).

    ``voltage_range`` (``:SENS:VOLT:CHAN<n>:RANG``) takes the largest reading expected; the
    instrument picks the smallest range holding it and switches autorange off.
    """

    def __init__(self, parent, id):
        super().__init__(parent, id)
        # pymeasure sets these before the dynamic-property machinery exists, so they never took
        # effect and channel 2 accepted 120 V; set again now that it does.
        limit = 1.2 * CHANNEL_RANGES_V[id][-1]  # 120 % of the top range: 120 V, or 12 V on channel 2
        self.voltage_range_values = (0, limit)
        self.voltage_offset_values = (-limit, limit)

    def setup_voltage(self, auto_range: bool = True, nplc: float = 5) -> None:
        """Make this channel the active one, measuring voltage at ``nplc`` (autorange if asked)."""
        self.parent.active_channel = self.id
        self.parent.channel_function = "voltage"
        self.parent.voltage_nplc = nplc
        if auto_range:
            self.voltage_range_auto_enabled = True


class Keithley2182A(Keithley2182):
    """Keithley 2182A nanovoltmeter.

    .. code-block:: python

        nv = Keithley2182A("GPIB0::7::INSTR")
        nv.reset()
        nv.ch_1.setup_voltage(auto_range=True, nplc=5)
        nv.voltage_digital_filter_count = 10
        nv.voltage_digital_filter_enabled = True
        v = nv.voltage                       # :READ?, one reading (a list if trigger_count > 1)
    """

    # The channels' queries go out through this object (pymeasure channels forward to their
    # parent), so their reply formats are declared here.
    reply_formats = REPLY_FORMATS

    ch_1 = Instrument.ChannelCreator(Keithley2182AChannel, 1)
    ch_2 = Instrument.ChannelCreator(Keithley2182AChannel, 2)
    next_error = scpi_next_error()

    def __init__(self, adapter, name: str = "Keithley 2182A Nanovoltmeter", **kwargs):
        # GPIB ends messages with LF (+EOI); on RS-232 pass the terminator set on the front panel.
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, **kwargs)

    # ---- function and channel (pymeasure's versions fixed) -------------------------------

    active_channel = Instrument.control(
        ":SENS:CHAN?", ":SENS:CHAN %d",
        """Control the measured channel: 1 or 2.""",
        validator=strict_discrete_set,
        values=(1, 2),
        cast=int,
    )

    channel_function = Instrument.control(
        ":SENS:FUNC?", ":SENS:FUNC '%s'",
        """Control the function: ``voltage`` or ``temperature`` (thermocouple on channel 1).""",
        validator=strict_discrete_set,
        values={"voltage": "VOLT", "temperature": "TEMP"},
        map_values=True,
        cast=str,
        preprocess_reply=lambda reply: reply.strip().strip("\"'"),
    )

    voltage_nplc_values = (0.01, 50)

    # ---- filters, autozero, line sync ----------------------------------------------------

    voltage_digital_filter_enabled = _switch(
        ":SENS:VOLT:DFIL", """Control the digital (averaging) filter of the voltage function (bool).""")

    voltage_digital_filter_count = Instrument.control(
        ":SENS:VOLT:DFIL:COUN?", ":SENS:VOLT:DFIL:COUN %d",
        """Control the number of readings the digital filter averages (1-100).""",
        validator=strict_range,
        values=(1, 100),
        cast=int,
    )

    voltage_digital_filter_window = Instrument.control(
        ":SENS:VOLT:DFIL:WIND?", ":SENS:VOLT:DFIL:WIND %g",
        """Control the filter window in percent of range (0.01-10): a reading outside it restarts
        the average, so a real step is followed at once.""",
        validator=strict_range,
        values=(0.01, 10),
    )

    voltage_digital_filter_type = Instrument.control(
        ":SENS:VOLT:DFIL:TCON?", ":SENS:VOLT:DFIL:TCON %s",
        """Control the filter type: ``moving`` (a running average) or ``repeat`` (a fresh
        block of readings per result).""",
        validator=strict_discrete_set,
        values={"moving": "MOV", "repeat": "REP"},
        map_values=True,
        cast=str,
    )

    voltage_analog_filter_enabled = _switch(
        ":SENS:VOLT:LPAS", """Control the analog low-pass filter on the input (bool).""")

    auto_zero_enabled = _switch(
        ":SYST:AZER", """Control autozero, which corrects the zero drift at each reading (bool).""")

    front_autozero_enabled = _switch(
        ":SYST:FAZ", """Control front autozero, which corrects the front-end offset (bool); off doubles
        the reading rate at the cost of drift.""")

    line_sync_enabled = _switch(
        ":SYST:LSYN", """Control line synchronisation: readings start at the same phase of the mains,
        which rejects line pickup (bool).""")

    # ---- triggering and readings ---------------------------------------------------------

    trigger_source = Instrument.control(
        ":TRIG:SOUR?", ":TRIG:SOUR %s",
        """Control the trigger source: ``immediate``, ``bus`` (``*TRG``) or ``external`` (Trigger Link).""",
        validator=strict_discrete_set,
        values={"immediate": "IMM", "bus": "BUS", "external": "EXT"},
        map_values=True,
        cast=str,
    )

    latest_reading = Instrument.measurement(
        ":FETC?",
        """Get the latest reading(s) without triggering a new one (error -230 if there is none).""",
    )

    fresh_reading = Instrument.measurement(
        ":SENS:DATA:FRES?",
        """Get the latest reading if it has not been read before; otherwise the instrument waits
        for a new one.""",
    )

    def initiate(self) -> None:
        """Start one trigger cycle (``trigger_count`` readings); collect them with :attr:`latest_reading`."""
        self.write(":INIT")

    def trigger_immediately(self) -> None:
        self.trigger_source = "immediate"

    def trigger_on_bus(self) -> None:
        self.trigger_source = "bus"

    def reset(self) -> None:
        """*RST then *CLS: default settings, empty error queue."""
        self.write("*RST")
        self.write("*CLS")

    def wait_for_buffer(self, should_stop=lambda: False, timeout: float = 60, interval: float = 0.1) -> None:
        """Wait on the daclab clock until the buffer is full; TimeoutError after ``timeout`` s."""
        now = clock.current().now
        start = now()
        while not self.is_buffer_full():
            if should_stop():
                return
            if now() - start > timeout:
                raise TimeoutError(f"{self.name}: buffer not full after {timeout:g} s")
            clock.sleep(interval)
