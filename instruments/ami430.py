"""American Magnetics Model 430 magnet power supply programmer, and its MagnetSupply adapter.

Written after pymeasure's ``pymeasure.instruments.ami.AMI430``, keeping its names where they
were right (``coilconst``, ``target_current``, ``target_field``, ``magnet_current``,
``supply_current``, ``field``, ``state``, ``ramp``/``pause``/``zero``,
``has_persistent_switch_enabled``) and fixing its defects:

- the upper bound of a ramp segment was hard-coded (``CONF:RAMP:RATE:FIELD 1,<rate>,1.00``) and
  the current rate sent no bound at all: here every segment command takes its bound, and
  :class:`AMI430Magnet` derives it from the coil's rating;
- ``has_persistent_switch_enabled`` returned ``bool("0")``, always True: ``PS?`` is parsed;
- the ``state`` docstring described a field: the 11 codes of ``STATE?`` are documented and
  decoded (:attr:`AMI430.state_name`);
- two welcome lines were read on every connection: the 430 sends them only on a new TCP
  connection (port 7180), so reading them is an explicit step (``welcome_lines``); the
  simulated lab passes ``welcome_lines=0``, because pyvisa-sim cannot send unsolicited lines;
- waits used ``time.sleep``: every wait goes through :mod:`daclab.clock` (in the adapter);
- added the quench commands (``QU?``, ``QU 0``, ``QU:COUNT?``, ``QU:DET?``), ``PERS?``,
  ``PS:INST?``, the switch heater settings, the field units and the supply/magnet voltages.

Units: ``FIELD:UNITS`` (0 kG, 1 T) applies to every field value and the coil constant (kG/A or
T/A); ``CONF:RAMP:RATE:UNITS`` (0 per second, 1 per minute) to every ramp rate.

Error behaviour: the 430 does not answer a bad command; it queues an error that ``SYST:ERR?``
returns (:meth:`check_errors`, from pymeasure's SCPIMixin).

[unsure] choices, where INSTRUMENTS.md leaves room:
- the units are set with ``CONF:FIELD:UNITS <0|1>`` and read with ``FIELD:UNITS?``: INSTRUMENTS.md
  writes ``FIELD:UNITS 0|1``; every other 430 setting lives under ``CONFigure``, as the 430
  manual lists this one, so the CONF form is used;
- the switch heater settings are read back with ``PS:CURR?``, ``PS:HTIME?``, ``PS:CTIME?``
  (the query forms of the CONF commands INSTRUMENTS.md lists);
- the hardware ranges below (ramp rate, supply current, switch heater settings) are those of a
  430 with a 125 A four-quadrant supply; another supply model has other ranges.
"""

from __future__ import annotations

from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from daclab import clock as clocks
from daclab.instruments import reply_grammar as g
from daclab.instruments.ieee488 import scpi_next_error
from daclab.instruments.magnet import MagnetError, MagnetSupplyAdapter, MagnetTimeoutError

#: ``STATE?`` codes, as the 430 manual lists them.
STATE_NAMES = {
    1: "ramping",
    2: "holding",
    3: "paused",
    4: "manual_up",
    5: "manual_down",
    6: "zeroing",
    7: "quench",
    8: "at_zero",
    9: "heating_switch",
    10: "cooling_switch",
    11: "external_rampdown",
}
SEGMENTS = range(1, 11)  # the 430 holds up to 10 ramp segments
RAMP_RATE_RANGE_A_PER_S = (1e-4, 10.0)
MAX_CURRENT_A = 125.0
WELCOME_LINES_ON_TCP = 2


# The 430 prints its values as plain decimals whose number of digits the sources at hand leave
# open (the twin: 1.2345678 T, 12.345600 A, an optional minus), so a value must be a well-formed
# decimal; states and switches are strict.
_VALUE = g.decimal("±?", exponent=True)
_SEGMENT = g.integer(SEGMENTS)

REPLY_FORMATS = [
    # readings
    (g.command("FIELD:MAG?", "CURR:MAG?", "CURR:SUPP?", "VOLT:SUPP?", "VOLT:MAG?"), _VALUE),
    # states
    (g.command("STATE?"), g.integer(STATE_NAMES)),
    (g.command("PS?", "PS:INST?", "PERS?", "QU?", "QU:DET?", "FIELD:UNITS?", "RAMP:RATE:UNITS?"), g.BOOLEAN),
    (g.command("QU:COUNT?"), g.integer(range(0, 100000))),
    (g.command("*STB?"), g.REGISTER_BYTE),
    (g.command("*OPC?"), g.one_of("1")),
    (g.command("SYST:ERR?"), g.SCPI_ERROR),
    # settings read back: the coil constant is checked against the lab file before any ramp
    (g.command("FIELD:TARG?", "CURR:TARG?", "COIL?", "CURR:LIMIT?", "PS:CURR?", "PS:HTIME?", "PS:CTIME?"), _VALUE),
    (g.command("RAMP:RATE:SEG?"), _SEGMENT),
    (g.group(rf"RAMP:RATE:(?:FIELD|CURR):{_SEGMENT}\?"), g.fields(_VALUE, _VALUE)),  # rate,upper bound
    (g.command("*IDN?"), g.identification("AMERICAN MAGNETICS INC.", "MODEL 430", (1, 2))),
]


def _is_tcp_socket(adapter) -> bool:
    connection = getattr(adapter, "connection", None)
    return "SOCKET" in str(getattr(connection, "resource_name", "")).upper()


class AMI430(SCPIMixin, Instrument):
    """AMI Model 430 power supply programmer.

    .. code-block:: python

        magnet = AMI430("TCPIP0::192.168.1.40::7180::SOCKET")   # reads the 2 welcome lines
        magnet.field_units = "T"
        magnet.ramp_rate_units = "min"
        magnet.ramp_segments = 1
        magnet.set_ramp_rate_field(1, 0.2, 9.0)                  # 0.2 T/min up to 9 T
        magnet.target_field = 1.5
        magnet.ramp()
        magnet.state_name                                        # 'ramping', later 'holding'

    ``welcome_lines``: how many welcome lines to read after connecting; ``None`` (default) reads
    the 430's two on a TCP socket connection and none on others (RS-232 sends none). A
    connection that does not send them (the simulated lab) passes ``0``.
    """

    reply_formats = REPLY_FORMATS
    next_error = scpi_next_error()

    def __init__(self, adapter, name="AMI Model 430 magnet power supply", welcome_lines: int | None = None,
                 **kwargs):
        kwargs.setdefault("read_termination", "\r\n")
        kwargs.setdefault("write_termination", "\r\n")
        super().__init__(adapter, name, **kwargs)
        if welcome_lines is None:
            welcome_lines = WELCOME_LINES_ON_TCP if _is_tcp_socket(self.adapter) else 0
        self._welcome_lines = welcome_lines
        self._read_greeting()

    def read_welcome(self, lines: int = WELCOME_LINES_ON_TCP) -> list[str]:
        """Read the lines the 430 sends unasked on a new TCP connection, and return them."""
        return [self.read() for _ in range(lines)]

    def session_reopened(self) -> None:
        """A new session (daclab.connection reopens a lost one) is greeted like the first: read
        the welcome lines, which would otherwise be read as the replies to the next queries."""
        self._read_greeting()

    def _read_greeting(self) -> None:
        self.welcome = self.read_welcome(self._welcome_lines) if self._welcome_lines else []

    # ---- readings -------------------------------------------------------------------------

    field = Instrument.measurement(
        "FIELD:MAG?",
        """Get the magnet's field in the field units (kG or T, see ``field_units``); in
        persistent mode, the field the coil holds.""",
    )

    field_units = Instrument.control(
        "FIELD:UNITS?", "CONF:FIELD:UNITS %d",
        """Control the field units, ``"kG"`` or ``"T"``, used by every field value and the coil
        constant.""",
        validator=strict_discrete_set,
        values={"kG": 0, "T": 1},
        map_values=True,
    )

    magnet_current = Instrument.measurement("CURR:MAG?", """Get the current in the magnet, A.""")

    supply_current = Instrument.measurement("CURR:SUPP?", """Get the supply's output current, A.""")

    supply_voltage = Instrument.measurement("VOLT:SUPP?", """Get the supply's output voltage, V.""")

    magnet_voltage = Instrument.measurement(
        "VOLT:MAG?", """Get the voltage across the magnet, V (L dI/dt while ramping).""")

    # ---- targets and limits ---------------------------------------------------------------

    target_field = Instrument.control(
        "FIELD:TARG?", "CONF:FIELD:TARG %g",
        """Control the target field in the field units; ``ramp()`` goes there.""",
    )

    target_current = Instrument.control(
        "CURR:TARG?", "CONF:CURR:TARG %g",
        """Control the target current, A; ``ramp()`` goes there.""",
        validator=strict_range,
        values=[-MAX_CURRENT_A, MAX_CURRENT_A],
    )

    coilconst = Instrument.control(
        "COIL?", "CONF:COIL %g",
        """Control the coil constant, in kG/A or T/A as ``field_units`` says.""",
        validator=strict_range,
        values=[0.001, 999.99999],
    )

    current_limit = Instrument.control(
        "CURR:LIMIT?", "CONF:CURR:LIMIT %g",
        """Control the supply's current limit, A: targets beyond it are refused.""",
        validator=strict_range,
        values=[0, MAX_CURRENT_A],
    )

    # ---- ramp rates -----------------------------------------------------------------------

    ramp_segments = Instrument.control(
        "RAMP:RATE:SEG?", "CONF:RAMP:RATE:SEG %d",
        """Control the number of ramp segments in use (1-10).""",
        validator=strict_discrete_set,
        values=SEGMENTS,
        cast=int,
    )

    ramp_rate_units = Instrument.control(
        "RAMP:RATE:UNITS?", "CONF:RAMP:RATE:UNITS %d",
        """Control the time unit of ramp rates, ``"s"`` or ``"min"``.""",
        validator=strict_discrete_set,
        values={"s": 0, "min": 1},
        map_values=True,
    )

    def set_ramp_rate_field(self, segment: int, rate: float, upper_field: float) -> None:
        """Ramp ``segment`` at ``rate`` (field units per s or min) up to ``upper_field``."""
        self._write_segment("FIELD", segment, rate, upper_field, float("inf"))

    def ramp_rate_field(self, segment: int) -> tuple[float, float]:
        """``(rate, upper field)`` of ``segment``, in field units (per s or min)."""
        return self._read_segment("FIELD", segment)

    def set_ramp_rate_current(self, segment: int, rate_A: float, upper_A: float) -> None:
        """Ramp ``segment`` at ``rate_A`` (A per s or min) up to ``upper_A``."""
        self._write_segment("CURR", segment, rate_A, upper_A, MAX_CURRENT_A)

    def ramp_rate_current(self, segment: int) -> tuple[float, float]:
        """``(rate A per s or min, upper current A)`` of ``segment``."""
        return self._read_segment("CURR", segment)

    def _write_segment(self, quantity: str, segment: int, rate: float, upper: float, max_upper: float) -> None:
        strict_discrete_set(segment, SEGMENTS)
        strict_range(rate, [1e-12, float("inf")])
        strict_range(upper, [1e-12, max_upper])
        self.write(f"CONF:RAMP:RATE:{quantity} {segment:d},{rate:g},{upper:g}")

    def _read_segment(self, quantity: str, segment: int) -> tuple[float, float]:
        strict_discrete_set(segment, SEGMENTS)
        rate, upper = self.values(f"RAMP:RATE:{quantity}:{segment:d}?")
        return rate, upper

    # ---- ramping --------------------------------------------------------------------------

    state = Instrument.measurement(
        "STATE?",
        """Get the ramping state code: 1 ramping, 2 holding, 3 paused, 4 manual up, 5 manual
        down, 6 zeroing, 7 quench, 8 at zero, 9 heating switch, 10 cooling switch,
        11 external rampdown (``state_name`` decodes it).""",
        cast=int,
    )

    @property
    def state_name(self) -> str:
        """Get the ramping state by name (``STATE_NAMES``)."""
        code = self.state
        return STATE_NAMES.get(code, f"unknown state {code}")

    def ramp(self) -> None:
        """Start ramping to the target at the segment rates."""
        self.write("RAMP")

    def pause(self) -> None:
        """Stop ramping and hold the present field."""
        self.write("PAUSE")

    def zero(self) -> None:
        """Ramp to zero current at the segment rates."""
        self.write("ZERO")

    # ---- persistent switch ----------------------------------------------------------------

    switch_installed = Instrument.measurement(
        "PS:INST?", """Get whether a persistent switch is installed (bool).""",
        values={True: 1, False: 0}, map_values=True,
    )

    switch_heater_enabled = Instrument.control(
        "PS?", "PS %d",
        """Control the persistent switch heater (bool); the 430 then reports heating or cooling
        (``STATE?`` 9 or 10) for the switch's heating or cooling time.""",
        validator=strict_discrete_set,
        values={True: 1, False: 0},
        map_values=True,
    )

    def has_persistent_switch_enabled(self) -> bool:
        """Whether the switch heater is on (pymeasure's name; its version was always True)."""
        return self.switch_heater_enabled

    def enable_persistent_switch(self) -> None:
        """Turn the switch heater on."""
        self.switch_heater_enabled = True

    def disable_persistent_switch(self) -> None:
        """Turn the switch heater off (the magnet goes persistent once the switch is cold)."""
        self.switch_heater_enabled = False

    persistent = Instrument.measurement(
        "PERS?", """Get whether the magnet is in persistent mode (bool).""",
        values={True: 1, False: 0}, map_values=True,
    )

    switch_heater_current = Instrument.control(
        "PS:CURR?", "CONF:PS:CURR %g",
        """Control the switch heater current, mA.""",
        validator=strict_range,
        values=[0, 125],
    )

    switch_heating_time = Instrument.control(
        "PS:HTIME?", "CONF:PS:HTIME %g",
        """Control the time the switch takes to heat, s.""",
        validator=strict_range,
        values=[5, 120],
    )

    switch_cooling_time = Instrument.control(
        "PS:CTIME?", "CONF:PS:CTIME %g",
        """Control the time the switch takes to cool, s.""",
        validator=strict_range,
        values=[5, 3600],
    )

    # ---- quench ---------------------------------------------------------------------------

    quenched = Instrument.measurement(
        "QU?", """Get whether a quench has been detected (bool).""",
        values={True: 1, False: 0}, map_values=True,
    )

    def reset_quench(self) -> None:
        """Clear the quench condition, so the supply can ramp again."""
        self.write("QU 0")

    quench_count = Instrument.measurement("QU:COUNT?", """Get the number of quenches detected.""", cast=int)

    quench_detection = Instrument.measurement(
        "QU:DET?", """Get whether quench detection is enabled (bool).""",
        values={True: 1, False: 0}, map_values=True,
    )


class AMI430Magnet(MagnetSupplyAdapter):
    """The MagnetSupply role on an AMI 430 (see :mod:`daclab.instruments.magnet`).

    Before its first command it sets tesla and per-minute units and checks that the 430's coil
    constant is the one of ``coil`` (a wrong constant would make every field wrong): a mismatch
    raises MagnetError. One ramp segment is used, bounded by the coil's rated field.
    """

    rate_range_A_per_s = RAMP_RATE_RANGE_A_PER_S
    coil_tolerance = 1e-3  # relative

    def _prepare(self) -> None:
        self.supply.field_units = "T"
        self.supply.ramp_rate_units = "min"
        configured = self.supply.coilconst
        if abs(configured - self.coil.tesla_per_amp) > self.coil_tolerance * self.coil.tesla_per_amp:
            raise MagnetError(f"{self._name()}: coil constant is {configured:g} T/A on the supply, "
                              f"{self.coil.tesla_per_amp:g} T/A in the lab file; fix one before ramping")
        self._has_switch = self.supply.switch_installed

    def _field_T(self) -> float:
        return self.supply.field

    def _write_ramp_rate(self, tesla_per_min: float) -> None:
        self.supply.ramp_segments = 1
        self.supply.set_ramp_rate_field(1, tesla_per_min, self.coil.max_field_T)

    def _ramp_to(self, tesla: float) -> None:
        self.supply.target_field = tesla
        self.supply.ramp()

    def _state(self) -> str:
        return self.supply.state_name

    def _pause(self) -> None:
        self.supply.pause()

    def _zero(self) -> None:
        self.supply.zero()

    def _quenched(self) -> bool:
        return self.supply.quenched

    # persistent switch

    def _switch_installed(self) -> bool:
        return self._has_switch

    def _switch_heater_on(self) -> bool:
        return self.supply.switch_heater_enabled

    def _magnet_current_A(self) -> float:
        return self.supply.magnet_current

    def _supply_current_A(self) -> float:
        return self.supply.supply_current

    def _ramp_leads_to(self, amps: float) -> None:
        self.supply.target_current = amps
        self.supply.ramp()

    def _heat_switch(self) -> None:
        self.supply.switch_heater_enabled = True

    def _wait_for_switch(self) -> None:
        state = None

        def switch_settled() -> bool:
            nonlocal state
            state = self.supply.state_name
            return state not in ("heating_switch", "cooling_switch")

        clocks.poll_until(switch_settled, self.switch_timeout_s, self.poll_s, lambda: MagnetTimeoutError(
            f"{self._name()}: switch still {state!r} after {self.switch_timeout_s:g} s"))


__all__ = ["AMI430", "AMI430Magnet", "STATE_NAMES"]
