"""SRS SIM900 mainframe and SIM921 AC resistance bridge, and the ResistanceMeter role on the SIM921.

The PC talks to the SIM900 (RS-232 9600 baud 8N1; commands end in LF, replies in CR LF). A module
in one of the eight ports is reached in one of two ways, both offered by
:class:`SIM900PortAdapter`, a pymeasure Adapter, so that :class:`SIM921` is an ordinary
Instrument that does not know how it is reached:

- forwarding (default): each module command goes out as ``SNDT <port>,"<command>"``; the module's
  reply collects in the port's output queue and is fetched with ``GETN? <port>,<max bytes>``,
  which returns an IEEE 488.2 definite-length block ``#<d><d digits: n><n bytes>`` followed by the
  mainframe's own CR LF. The payload is the module's reply *with its own CR LF*; the adapter polls
  GETN? (waiting on :func:`daclab.clock.sleep`) until a whole line has arrived. Any number of
  modules can be used in turn this way.
- transparent (``transparent=True``): ``CONN <port>,"<escape>"`` once, after which every message
  goes straight to that module and its replies come straight back, until the escape string is
  sent (:meth:`SIM900PortAdapter.release`). Faster (one message per command) but only one port
  at a time; the mainframe tracks the open connection and closes it before it forwards to
  another port.

Errors: the mainframe and each module keep an IEEE 488.2 standard event status register
(``*ESR?``: 32 CME unknown command, 16 EXE parameter out of range, 4 QYE), read and cleared by
:meth:`SIM900.check_errors` / :meth:`SIM921.check_errors`.

SIM921 choices where INSTRUMENTS.md is unsure or silent:
- ``TCON -1`` is read as "filter off" [unsure]: :attr:`SIM921.time_constant_s` is 0 for it, so
  no settling wait follows a change.
- ``PHAS?`` is returned as the module sends it; its unit is taken to be degrees [unsure].
- Excitation current: the SIM921's excitation is a voltage amplitude (EXCI code) applied across
  the selected range, so the current is taken as I = V(EXCI) / full scale of RANG
  (:func:`excitation_current`). The real module also depends on MODE (current/voltage/power
  regulation); IEXC? reports what it actually drives.
- ``GETN?`` accepts up to 255 bytes per call here [unsure about the manual's maximum]; the
  adapter asks for 128.
"""

from __future__ import annotations

import logging

from pymeasure.adapters import Adapter
from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range
from pyvisa.constants import Parity, StopBits

from daclab import clock
from daclab.instruments import reply_grammar as g
from daclab.instruments.ieee488 import StandardEventStatusMixin
from daclab.instruments.tables import nearest_index
from daclab.limits import LimitError, SoftwareLimits, check_range

log = logging.getLogger(__name__)

PORTS = range(1, 9)
DEFAULT_ESCAPE = "xyz"  # the manual's example escape string

# SIM921 tables: RANG code -> full scale, EXCI code -> voltage amplitude, TCON code -> seconds.
RANGES_OHM = (20e-3, 200e-3, 2.0, 20.0, 200.0, 2e3, 20e3, 200e3, 2e6, 20e6)
EXCITATIONS_V = {-1: 0.0, 0: 3e-6, 1: 10e-6, 2: 30e-6, 3: 100e-6, 4: 300e-6, 5: 1e-3, 6: 3e-3, 7: 10e-3, 8: 30e-3}
TIME_CONSTANTS_S = {-1: 0.0, 0: 0.3, 1: 1.0, 2: 3.0, 3: 10.0, 4: 30.0, 5: 100.0, 6: 300.0}  # -1 off [unsure]


def excitation_current(code: int, range_code: int) -> float:
    """Excitation current amplitude in A for an EXCI code on a RANG code (0 when EXCI is -1)."""
    return EXCITATIONS_V[code] / RANGES_OHM[range_code]


def excitation_code_for_current(current_A: float, range_code: int) -> int:
    """The EXCI code (0-8) whose current on ``range_code`` is nearest ``current_A`` (log scale).

    Raises LimitError when the current is off this range's table (more than 5 % beyond its ends).
    """
    table = tuple(excitation_current(code, range_code) for code in range(9))
    return nearest_index(current_A, table, f"excitation current on range {RANGES_OHM[range_code]:g} ohm", "A") - 1


def _check_port(port: int) -> int:
    if isinstance(port, bool) or port not in PORTS:
        raise ValueError(f"port = {port!r} is outside the allowed range [1, 8]")
    return port


def _check_text(name: str, text: str) -> str:
    """Refuse what would break the quoting or the framing of a forwarded message."""
    if not text or any(c in text for c in '"\r\n'):
        raise ValueError(f"{name} = {text!r} must be non-empty without quotes or line ends")
    return text


# ---- reply formats ------------------------------------------------------------------------------

MAINFRAME_REPLY_FORMATS = [
    (g.query("NINP?", g.integer(PORTS)), g.integer(range(0, 100000))),
    (g.command("*ESR?"), g.REGISTER_BYTE),
    (g.command("*IDN?"), g.identification("Stanford_Research_Systems", "SIM900")),
]

# The SIM921's numbers: a decimal with an optional sign and exponent (the twin writes
# +1.234567E+03). The module's digit count is not fixed by a source at hand, so the format asks
# only for a well-formed number; with TOKN OFF (the power-on state) settings answer as integers.
_NUMBER = g.decimal("±?", exponent=True)

MODULE_REPLY_FORMATS = [
    # readings
    (g.command("RVAL?", "TVAL?", "RDEV?", "TDEV?", "PHAS?", "IEXC?", "VEXC?", "FREQ?"), _NUMBER),
    # states and settings
    (g.command("EXON?", "PHLD?", "ADIS?", "AGAI?"), g.BOOLEAN),
    (g.command("EXCI?"), g.integer(EXCITATIONS_V)),
    (g.command("RANG?"), g.integer(range(len(RANGES_OHM)))),
    (g.command("TCON?"), g.integer(TIME_CONSTANTS_S)),
    (g.command("MODE?"), g.integer(range(0, 4))),
    (g.command("DISP?"), g.integer(range(0, 9))),
    (g.command("CURV?"), g.integer(range(1, 4))),
    (g.command("*ESR?"), g.REGISTER_BYTE),
    (g.command("*IDN?"), g.identification("Stanford_Research_Systems", "SIM921")),
]


# ---- mainframe ------------------------------------------------------------------------------


class SIM900Port(Channel):
    """One of the eight ports (slots) of the SIM900."""

    bytes_waiting = Channel.measurement(
        "NINP? {ch}", """Get the number of bytes from the module waiting in the port's output queue.""", cast=int)

    def flush(self) -> None:
        """Discard what waits in this port's queues (FLSH <port>)."""
        self.parent.flush(self.id)

    def reset(self) -> None:
        """Send a break to the module, resetting its interface (SRST <port>)."""
        self.parent.reset_port(self.id)

    def send(self, message: str) -> None:
        self.parent.send(self.id, message)

    def get_bytes(self, max_bytes: int = 128) -> bytes:
        return self.parent.get_bytes(self.id, max_bytes)


class SIM900(StandardEventStatusMixin, Instrument):
    """SRS SIM900 mainframe. Ports are ``port_1`` ... ``port_8``; :meth:`sim921` opens a SIM921.
    *ESR?, *CLS, *RST and check_errors come from :class:`StandardEventStatusMixin`.

    .. code-block:: python

        mainframe = SIM900("ASRL6::INSTR")
        bridge = mainframe.sim921(port=1)                    # SNDT/GETN? forwarding
        fast = mainframe.sim921(port=1, transparent=True)    # CONN transparent mode
    """

    ports = Instrument.MultiChannelCreator(SIM900Port, list(PORTS), prefix="port_")
    # A module's replies come back inside GETN? blocks, read as bytes: they are checked by the
    # module's own formats (SIM921.reply_formats), not here.
    reply_formats = MAINFRAME_REPLY_FORMATS

    def __init__(self, adapter, name: str = "SRS SIM900 mainframe", **kwargs):
        kwargs.setdefault("read_termination", "\r\n")
        kwargs.setdefault("write_termination", "\n")
        kwargs.setdefault("asrl", {"baud_rate": 9600, "data_bits": 8, "parity": Parity.none,
                                   "stop_bits": StopBits.one})
        super().__init__(adapter, name, includeSCPI=False, **kwargs)
        self.connected_port: int | None = None
        self._escape: str | None = None

    id = Instrument.measurement("*IDN?", """Get the identification string.""", cast=str, maxsplit=0)

    def reset(self) -> None:
        """*RST: mainframe defaults; a transparent connection is closed."""
        super().reset()
        self.connected_port = None

    # ---- forwarding ----

    def send(self, port: int, message: str) -> None:
        """Forward ``message`` to the module in ``port`` (SNDT)."""
        self.write(f'SNDT {_check_port(port)},"{_check_text("message", message)}"')

    def get_bytes(self, port: int, max_bytes: int = 128) -> bytes:
        """Up to ``max_bytes`` from the port's output queue (GETN?), the block header removed."""
        strict_range(max_bytes, (0, 255))
        self.write(f"GETN? {_check_port(port)},{int(max_bytes)}")
        return self.read_definite_block()

    def read_definite_block(self) -> bytes:
        """Read ``#<d><length><data>`` and the CR LF after it; return the data."""
        head = self.read_bytes(2)
        if head[:1] != b"#" or not head[1:2].isdigit() or head[1:2] == b"0":
            raise ValueError(f"expected a definite-length block '#<d><length>...', got {head!r}")
        length = int(self.read_bytes(int(head[1:2])))
        data = self.read_bytes(length) if length else b""
        self.read_bytes(2)  # the mainframe's own CR LF after the block
        return data

    def flush(self, port: int | None = None) -> None:
        """Discard the queues of one port, or of all ports (FLSH)."""
        self.write("FLSH" if port is None else f"FLSH {_check_port(port)}")

    def reset_port(self, port: int | None = None) -> None:
        """Break to one port's module, or to all (SRST)."""
        self.write("SRST" if port is None else f"SRST {_check_port(port)}")

    # ---- transparent mode ----

    def connect(self, port: int, escape: str = DEFAULT_ESCAPE) -> None:
        """Open a transparent connection to ``port`` (CONN); a connection elsewhere is closed first."""
        if self.connected_port == port and self._escape == escape:
            return
        self.disconnect()
        self.write(f'CONN {_check_port(port)},"{_check_text("escape", escape)}"')
        self.connected_port, self._escape = port, escape

    def disconnect(self) -> None:
        """Send the escape string if a transparent connection is open."""
        if self.connected_port is not None:
            self.write(self._escape)
            self.connected_port = None

    # ---- modules ----

    def sim921(self, port: int, transparent: bool = False, **kwargs) -> SIM921:
        """The SIM921 in ``port``; kwargs go to :class:`SIM900PortAdapter`."""
        return SIM921(SIM900PortAdapter(getattr(self, f"port_{_check_port(port)}"), transparent, **kwargs))


class SIM900PortAdapter(Adapter):
    """A pymeasure Adapter to the module in one SIM900 port, by forwarding or transparent mode.

    :param port: the mainframe's port channel, e.g. ``mainframe.port_1``.
    :param transparent: False: SNDT/GETN? forwarding; True: CONN transparent connection.
    :param escape: escape string of the transparent connection.
    :param timeout_s: how long a forwarded read waits (on the daclab clock) for a whole reply.
    :param poll_interval_s: wait between GETN? polls while the reply is incomplete.
    :param max_bytes: bytes asked for per GETN?.
    """

    def __init__(self, port: SIM900Port, transparent: bool = False, escape: str = DEFAULT_ESCAPE,
                 timeout_s: float = 2.0, poll_interval_s: float = 0.05, max_bytes: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.port, self.mainframe = port, port.parent
        self.transparent, self.escape = transparent, _check_text("escape", escape)
        self.timeout_s, self.poll_interval_s, self.max_bytes = timeout_s, poll_interval_s, max_bytes
        self._received = b""

    def _write(self, command: str, **kwargs) -> None:
        if self.transparent:
            if self.escape in command:
                raise ValueError(f"command {command!r} contains the escape string {self.escape!r}")
            self.mainframe.connect(self.port.id, self.escape)
            self.mainframe.write(command)
        else:
            self.mainframe.disconnect()
            self.port.send(command)

    def _read(self, **kwargs) -> str:
        if self.transparent:
            return self.mainframe.read()
        def whole_line() -> bool:
            if b"\n" not in self._received:
                self._received += self.port.get_bytes(self.max_bytes)
            return b"\n" in self._received

        clock.poll_until(whole_line, self.timeout_s, self.poll_interval_s, lambda: TimeoutError(
            f"no complete reply from port {self.port.id} within {self.timeout_s} s"))
        line, _, self._received = self._received.partition(b"\n")
        return line.rstrip(b"\r").decode()

    def flush_read_buffer(self) -> None:
        """Drop every reply on the way: what the mainframe's connection holds (the rest of a
        garbled GETN? block), what this adapter kept of a line, and the port's queue (FLSH)."""
        self.mainframe.adapter.flush_read_buffer()
        self._received = b""
        self.port.flush()

    def release(self) -> None:
        """Close the transparent connection (send the escape string); nothing to do when forwarding."""
        if self.transparent and self.mainframe.connected_port == self.port.id:
            self.mainframe.disconnect()

    def close(self) -> None:
        """Close the mainframe's own connection. It sends nothing (pymeasure also closes on garbage
        collection): end a transparent connection with :meth:`release` first."""
        self.mainframe.adapter.close()


# ---- SIM921 ---------------------------------------------------------------------------------

_BOOL = {True: 1, False: 0}


class SIM921(StandardEventStatusMixin, Instrument):
    """SRS SIM921 AC resistance bridge, reached through any Adapter (usually a SIM900PortAdapter).
    The module's own *ESR?, *CLS, *RST and check_errors come from :class:`StandardEventStatusMixin`."""

    reply_formats = MODULE_REPLY_FORMATS

    def __init__(self, adapter, name: str = "SRS SIM921 AC resistance bridge", **kwargs):
        kwargs.setdefault("read_termination", "\r\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, includeSCPI=False, **kwargs)

    id = Instrument.measurement("*IDN?", """Get the identification string.""", cast=str, maxsplit=0)

    resistance = Instrument.measurement("RVAL?", """Get the (filtered) resistance reading, ohm.""")
    temperature = Instrument.measurement("TVAL?", """Get the temperature from the active curve, K.""")
    resistance_deviation = Instrument.measurement("RDEV?", """Get the resistance deviation from the setpoint, ohm.""")
    temperature_deviation = Instrument.measurement("TDEV?", """Get the temperature deviation from the setpoint, K.""")
    phase = Instrument.measurement("PHAS?", """Get the phase of the signal (degrees [unsure]).""")
    excitation_current_A = Instrument.measurement("IEXC?", """Get the excitation current amplitude, A.""")
    excitation_voltage_V = Instrument.measurement("VEXC?", """Get the excitation voltage amplitude, V.""")

    excitation_enabled = Instrument.control(
        "EXON?", "EXON %d", """Control whether the excitation is on.""",
        validator=strict_discrete_set, values=_BOOL, map_values=True, cast=int)

    excitation_code = Instrument.control(
        "EXCI?", "EXCI %d", """Control the excitation code: -1 off, 0 3 uV, 1 10 uV ... 8 30 mV.""",
        validator=strict_discrete_set, values=range(-1, 9), cast=int)

    mode = Instrument.control(
        "MODE?", "MODE %d", """Control the excitation mode: 'passive', 'current', 'voltage' or 'power'.""",
        validator=strict_discrete_set, values={"passive": 0, "current": 1, "voltage": 2, "power": 3},
        map_values=True, cast=int)

    range_code = Instrument.control(
        "RANG?", "RANG %d", """Control the range code 0-9: 20 mohm, 200 mohm, 2 ohm ... 20 Mohm.""",
        validator=strict_discrete_set, values=range(0, 10), cast=int)

    frequency = Instrument.control(
        "FREQ?", "FREQ %g", """Control the excitation frequency, 1.95-61.1 Hz.""",
        validator=strict_range, values=(1.95, 61.1))

    time_constant_code = Instrument.control(
        "TCON?", "TCON %d", """Control the filter time constant code: -1 off [unsure], 0 0.3 s ... 6 300 s.""",
        validator=strict_discrete_set, values=range(-1, 7), cast=int)

    phase_hold = Instrument.control(
        "PHLD?", "PHLD %d", """Control whether the phase is held.""",
        validator=strict_discrete_set, values=_BOOL, map_values=True, cast=int)

    autorange_gain_running = Instrument.measurement(
        "AGAI?", """Get whether an autorange-gain cycle is still running.""", cast=int, get_process=bool)

    autorange_display = Instrument.control(
        "ADIS?", "ADIS %d", """Control display autoranging.""",
        validator=strict_discrete_set, values=_BOOL, map_values=True, cast=int)

    display = Instrument.control(
        "DISP?", "DISP %d", """Control the display mode 0-8.""",
        validator=strict_discrete_set, values=range(0, 9), cast=int)

    curve = Instrument.control(
        "CURV?", "CURV %d", """Control the active calibration curve 1-3.""",
        validator=strict_discrete_set, values=(1, 2, 3), cast=int)

    def reset_filter(self) -> None:
        """Restart the output filter from the present signal (FRST)."""
        self.write("FRST")

    def auto_calibrate(self) -> None:
        """Start the module's automatic calibration (ACAL)."""
        self.write("ACAL")

    def start_autorange_gain(self) -> None:
        self.write("AGAI ON")

    def autorange_gain(self, timeout_s: float = 10.0, poll_s: float = 0.5) -> None:
        """Run an autorange-gain cycle (~2 s) and wait, on the daclab clock, until AGAI? reads 0."""
        self.start_autorange_gain()
        waited = 0.0
        while self.autorange_gain_running:
            if waited >= timeout_s:
                raise TimeoutError(f"autorange gain still running after {timeout_s} s")
            clock.sleep(poll_s)
            waited += poll_s

    @property
    def time_constant_s(self) -> float:
        """Filter time constant in seconds (0 with the filter off)."""
        return TIME_CONSTANTS_S[self.time_constant_code]

    def wait_for_settling(self, time_constants: float = 5.0) -> None:
        """Wait ``time_constants`` filter time constants on the daclab clock (reads TCON?)."""
        clock.sleep(time_constants * self.time_constant_s)


def sim921_in_mainframe(resource, port: int = 1, transparent: bool = False, **kwargs) -> SIM921:
    """The SIM921 in ``port`` of the SIM900 at ``resource``: what a lab file names as the bridge's driver."""
    return SIM900(resource, **kwargs).sim921(port, transparent)


class SIM921ResistanceMeter:
    """:class:`daclab.roles.ResistanceMeter` on a SIM921 wired to the sample's four-probe pads.

    - :meth:`resistance`: RVAL?.
    - :meth:`set_excitation`: refuses a current above the software limit or off every range's
      table before anything is written; reads the range (RANG?), picks the nearest EXCI code on it
      (refusing a current off this range's table, or a nearest code whose current exceeds the
      software limit, before any setting is written), turns the excitation on and waits 5 filter
      time constants. Returns the current actually driven.
    - :meth:`stop`: EXON 0.

    The range must hold the sample: the excitation is a voltage across the range's full scale,
    so a range far above the sample's resistance cannot drive a bridge current of ~100 uA at
    all (paper 002), and a reading beyond full scale is an overload. Two lab-file options choose it:

    - ``range_ohm``: the smallest range whose full scale holds this resistance is written
      (RANG) before the excitation code is chosen, instead of keeping the module's range;
    - ``autorange=True``: :meth:`set_excitation` starts from the smallest range (at least
      ``range_ohm``) on which the current can be driven, and :meth:`resistance` moves up a range
      whenever a reading reaches ``OVER_RANGE_FRACTION`` of full scale (the excitation code
      nearest the current asked for is picked again on the new range and the filter given its
      settling time before the reading is taken again). The range never moves down: in an R-T
      sweep the normal state, the largest resistance, sets it once, and zero readings in the
      superconducting state cannot make it hunt. The EXCI voltages step 3, 10, 30 ... like the
      ranges' decades, so the next range up offers the same current (short of the top code).
    """

    SETTLING_TIME_CONSTANTS = 5.0
    OVER_RANGE_FRACTION = 0.9  # headroom below full scale: the reading of a range near its end is unreliable
    _ALL_CURRENTS_A = tuple(sorted(excitation_current(c, r) for c in range(9) for r in range(len(RANGES_OHM))))

    def __init__(self, bridge: SIM921, limits: SoftwareLimits | None = None, range_ohm: float | None = None,
                 autorange: bool = False):
        self.bridge = bridge
        self.limits = limits or SoftwareLimits()
        self.minimum_range_code = None if range_ohm is None else range_code_for_resistance(range_ohm)
        self.autorange = bool(autorange)
        self._range_code: int | None = None  # the range the excitation was set on
        self._requested_A: float | None = None

    def resistance(self) -> float:
        value = self.bridge.resistance
        while self.autorange and self._over_range(value):
            higher = self._range_driving(self._requested_A, self._range_code + 1)
            if higher is None:
                log.warning("SIM921 reading %.6g ohm is at the top of range %g ohm and no higher range can drive "
                            "%.3g A", value, RANGES_OHM[self._range_code], self._requested_A)
                break
            self._apply(self._requested_A, higher)
            value = self.bridge.resistance
        return value

    def set_excitation(self, current_A: float) -> float:
        self.limits.current("excitation current", current_A)
        nearest_index(current_A, self._ALL_CURRENTS_A, "excitation current", "A")
        if self.autorange:
            range_code = self._range_driving(current_A, self.minimum_range_code or 0)
            if range_code is None:
                raise LimitError(f"excitation current = {current_A:g} A cannot be driven on any range from "
                                 f"{RANGES_OHM[self.minimum_range_code or 0]:g} ohm up")
        elif self.minimum_range_code is not None:
            range_code = self.minimum_range_code
        else:
            range_code = self.bridge.range_code
        return self._apply(current_A, range_code)

    def stop(self) -> None:
        self.bridge.excitation_enabled = False

    @property
    def range_ohm(self) -> float | None:
        """Full scale of the range the excitation was last set on (None before)."""
        return None if self._range_code is None else RANGES_OHM[self._range_code]

    def _apply(self, current_A: float, range_code: int) -> float:
        """Checks the code nearest ``current_A`` on ``range_code`` first, then writes range (if chosen
        here), code and excitation on, and waits for the filter."""
        code = excitation_code_for_current(current_A, range_code)
        actual = excitation_current(code, range_code)
        self.limits.current(f"excitation current (nearest EXCI {code} on RANG {range_code})", actual)
        if self.autorange or self.minimum_range_code is not None:
            self.bridge.range_code = range_code
        self.bridge.excitation_code = code
        self.bridge.excitation_enabled = True
        self.bridge.wait_for_settling(self.SETTLING_TIME_CONSTANTS)
        self._range_code, self._requested_A = range_code, float(current_A)
        return actual

    def _over_range(self, value: float) -> bool:
        return self._range_code is not None and abs(value) >= self.OVER_RANGE_FRACTION * RANGES_OHM[self._range_code]

    @staticmethod
    def _range_driving(current_A: float, lowest_code: int) -> int | None:
        """The smallest range from ``lowest_code`` up whose EXCI table holds ``current_A``."""
        for range_code in range(lowest_code, len(RANGES_OHM)):
            try:
                excitation_code_for_current(current_A, range_code)
            except LimitError:
                continue
            return range_code
        return None


def range_code_for_resistance(resistance_ohm: float) -> int:
    """The RANG code of the smallest full scale that holds ``resistance_ohm`` (LimitError beyond 20 Mohm)."""
    check_range("range_ohm", resistance_ohm, 0.0, RANGES_OHM[-1], "ohm")
    return next(code for code, full_scale in enumerate(RANGES_OHM) if full_scale >= resistance_ohm)


__all__ = [
    "SIM900", "SIM900Port", "SIM900PortAdapter", "SIM921", "SIM921ResistanceMeter", "sim921_in_mainframe",
    "RANGES_OHM", "EXCITATIONS_V", "TIME_CONSTANTS_S", "DEFAULT_ESCAPE",
    "excitation_current", "excitation_code_for_current", "range_code_for_resistance",
]
