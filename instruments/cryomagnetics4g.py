"""Cryomagnetics Model 4G superconducting magnet power supply, and its MagnetSupply adapter.

pymeasure has no 4G driver; this one follows the 4G's remote grammar (INSTRUMENTS.md "Magnet
power supplies"): values are set and read in the units chosen with ``UNITS`` and read back with
the unit as a suffix (``IMAG?`` -> ``"12.3450kG"``); the supply sweeps up to the upper limit
``ULIM``, down to the lower limit ``LLIM``, pauses or zeroes (``SWEEP UP|DOWN|PAUSE|ZERO
[SLOW|FAST]``); ramp rates are set per current range (``RATE <range 0-4> <A/s>``); ``PSHTR
ON|OFF`` switches the persistent switch heater.

[unsure] choices, where INSTRUMENTS.md leaves room:
- ``UNITS`` accepts A, kG, T and G: INSTRUMENTS.md lists A|G, and its kG reply suffix shows that
  kG is a unit of the supply too; T is in the 4G manual's list as remembered. The adapter uses A.
- state and errors use the IEEE-488.2 registers the 4G implements: ``*STB?`` bit 0 (1) = a sweep
  is in progress, bit 2 (4) = quench condition; ``*ESR?`` bit 5 (32) = command error (unknown
  command), bit 4 (16) = execution error (value out of range). A bad command gets no reply.
- ``QRESET`` clears a quench; ``PSHTR?`` answers 0 or 1; ``RATE? <range>`` reads a rate back.
- rate range 1e-4 to 20 A/s and output range +-100 A: a 4G-100.
- GPIB terminators: commands end in LF, replies in CR LF (read with LF, whitespace stripped).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from daclab import clock as clocks
from daclab.instruments import reply_grammar as g
from daclab.instruments.ieee488 import standard_event_errors
from daclab.instruments.magnet import MagnetError, MagnetSupplyAdapter

UNITS = ("A", "kG", "T", "G")
TESLA_PER_UNIT = {"kG": 0.1, "T": 1.0, "G": 1e-4}  # A needs the coil constant
RATE_RANGES = range(0, 5)
RATE_RANGE_A_PER_S = (1e-4, 20.0)
MAX_CURRENT_A = 100.0
SWEEP_MODES = ("UP", "DOWN", "PAUSE", "ZERO")
SWEEP_SPEEDS = (None, "SLOW", "FAST")
STB_SWEEPING = 1
STB_QUENCH = 4

_READING = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(kG|A|T|G)\s*$")


# A value with its unit as a suffix (12.3450kG, -0.5000T); the number of decimals is the 4G's
# display resolution, which the sources at hand do not fix, so any well-formed decimal is taken.
READING = g.group(g.decimal("±?") + r" ?" + g.one_of(*UNITS))

REPLY_FORMATS = [
    # readings
    (g.command("IMAG?", "IOUT?"), READING),
    # states
    (g.command("*STB?", "*ESR?"), g.REGISTER_BYTE),
    (g.command("PSHTR?"), g.BOOLEAN),
    # settings read back
    (g.command("ULIM?", "LLIM?"), READING),
    (g.command("UNITS?"), g.one_of(*UNITS)),
    (g.query("RATE?", g.integer(RATE_RANGES)), g.decimal("+?")),  # A/s
    (g.command("*IDN?"), g.identification("CRYOMAGNETICS", "4G")),
]


class Reading(NamedTuple):
    value: float
    unit: str


def parse_reading(reply: str) -> Reading:
    """``"12.345kG"`` -> ``Reading(12.345, "kG")``; a reply without a known unit raises ValueError."""
    match = _READING.match(str(reply))
    if match is None:
        raise ValueError(f"not a 4G reading with a unit (A, kG, T, G): {reply!r}")
    return Reading(float(match.group(1)), match.group(2))


class Cryomagnetics4G(Instrument):
    """Cryomagnetics 4G magnet power supply.

    .. code-block:: python

        supply = Cryomagnetics4G("GPIB0::4::INSTR")
        supply.units = "A"
        for r in range(5):
            supply.set_rate(r, 0.05)        # A/s in every range
        supply.upper_limit = 30.0           # A, the present units
        supply.sweep("UP")
        supply.magnet_reading               # Reading(value=..., unit='A')
    """

    reply_formats = REPLY_FORMATS

    def __init__(self, adapter, name="Cryomagnetics 4G magnet power supply", **kwargs):
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        super().__init__(adapter, name, includeSCPI=False, **kwargs)

    id = Instrument.measurement("*IDN?", """Get the identification string.""", cast=str, maxsplit=0)

    def clear(self) -> None:
        """Clear the status registers (``*CLS``)."""
        self.write("*CLS")

    def remote(self) -> None:
        """Take remote control (front panel locked)."""
        self.write("REMOTE")

    def local(self) -> None:
        """Give control back to the front panel."""
        self.write("LOCAL")

    units = Instrument.control(
        "UNITS?", "UNITS %s",
        """Control the units of every value set and read: ``"A"``, ``"kG"``, ``"T"`` or ``"G"``.""",
        validator=strict_discrete_set,
        values=UNITS,
        cast=str,
    )

    magnet_reading = Instrument.measurement(
        "IMAG?",
        """Get the magnet current (or field) as a ``Reading(value, unit)``; in persistent mode
        the current the coil holds.""",
        cast=str,
        get_process=parse_reading,
    )

    output_reading = Instrument.measurement(
        "IOUT?",
        """Get the supply's output current (or field) as a ``Reading(value, unit)``.""",
        cast=str,
        get_process=parse_reading,
    )

    upper_limit = Instrument.control(
        "ULIM?", "ULIM %g",
        """Control the upper sweep limit, in the present units (read back without the unit).""",
        cast=str,
        get_process=lambda reply: parse_reading(reply).value,
    )

    lower_limit = Instrument.control(
        "LLIM?", "LLIM %g",
        """Control the lower sweep limit, in the present units (read back without the unit).""",
        cast=str,
        get_process=lambda reply: parse_reading(reply).value,
    )

    def sweep(self, mode: str, speed: str | None = None) -> None:
        """``SWEEP UP|DOWN|PAUSE|ZERO [SLOW|FAST]``: to ULIM, to LLIM, stop, or to zero.

        FAST is for the leads alone, with the switch heater off.
        """
        strict_discrete_set(mode, SWEEP_MODES)
        strict_discrete_set(speed, SWEEP_SPEEDS)
        if mode == "PAUSE" and speed is not None:
            raise ValueError("SWEEP PAUSE takes no speed")
        self.write(f"SWEEP {mode}" + (f" {speed}" if speed else ""))

    def set_rate(self, range_index: int, amps_per_s: float) -> None:
        """Sweep rate of current range ``range_index`` (0-4), A/s."""
        strict_discrete_set(range_index, RATE_RANGES)
        strict_range(amps_per_s, RATE_RANGE_A_PER_S)
        self.write(f"RATE {range_index:d} {amps_per_s:g}")

    def rate(self, range_index: int) -> float:
        """Sweep rate of current range ``range_index``, A/s."""
        strict_discrete_set(range_index, RATE_RANGES)
        return float(self.ask(f"RATE? {range_index:d}").strip())

    switch_heater_enabled = Instrument.control(
        "PSHTR?", "PSHTR %s",
        """Control the persistent switch heater (bool).""",
        validator=strict_discrete_set,
        values={True: "ON", False: "OFF"},
        map_values=True,
        get_process=lambda reply: "ON" if int(reply) else "OFF",
        cast=str,
    )

    def reset_quench(self) -> None:
        """Clear the quench condition."""
        self.write("QRESET")

    status_byte = Instrument.measurement("*STB?", """Get the IEEE-488.2 status byte.""", cast=int)

    @property
    def sweeping(self) -> bool:
        """Get whether a sweep is in progress (status byte bit 0)."""
        return bool(self.status_byte & STB_SWEEPING)

    @property
    def quench_present(self) -> bool:
        """Get whether a quench condition is present (status byte bit 2)."""
        return bool(self.status_byte & STB_QUENCH)

    event_status = Instrument.measurement(
        "*ESR?", """Get (and clear) the standard event status register.""", cast=int)

    def check_errors(self) -> list[str]:
        """Read the event status register and return (and log) the errors it reports, by name:
        ``"command error"``, ``"execution error"``, ``"query error"``."""
        errors = standard_event_errors(self, self.event_status)
        return [error.name.lower().replace("_", " ") for error in errors]


class Cryomagnetics4GMagnet(MagnetSupplyAdapter):
    """The MagnetSupply role on a Cryomagnetics 4G (see :mod:`daclab.instruments.magnet`).

    It works in amperes (``UNITS A``, set before its first command) and converts with the coil
    constant. ``set_field`` reads the output current and sweeps UP to ``ULIM`` or DOWN to
    ``LLIM``, whichever side the target lies on. ``set_ramp_rate`` writes the same rate to all
    five current ranges: the role has one rate, so a magnet that must ramp slower at high field
    should get that rate from its SoftwareLimits. The field holds when no sweep is in progress
    and the output current has reached the last target; it stands "paused" otherwise.

    The 4G does not report when the switch is warm: after ``PSHTR ON`` the adapter waits
    ``switch_heating_s`` on the clock. ``has_switch=False`` for a magnet without a switch.
    """

    rate_range_A_per_s = RATE_RANGE_A_PER_S

    def __init__(self, supply, coil, limits=None, poll_s=1.0, switch_timeout_s=600.0,
                 has_switch: bool = True, switch_heating_s: float = 30.0):
        super().__init__(supply, coil, limits, poll_s, switch_timeout_s)
        self.has_switch = has_switch
        self.switch_heating_s = switch_heating_s
        self._target_A: float | None = None

    def _prepare(self) -> None:
        self.supply.units = "A"

    def _tesla(self, reading: Reading) -> float:
        if reading.unit == "A":
            return self.coil.tesla(reading.value)
        return reading.value * TESLA_PER_UNIT[reading.unit]

    def _amps(self, reading: Reading) -> float:
        if reading.unit != "A":
            raise MagnetError(f"{self._name()}: expected a current in A, got {reading}")
        return reading.value

    def _field_T(self) -> float:
        return self._tesla(self.supply.magnet_reading)

    def _write_ramp_rate(self, tesla_per_min: float) -> None:
        amps_per_s = self.coil.amps(tesla_per_min) / 60.0
        for range_index in RATE_RANGES:
            self.supply.set_rate(range_index, amps_per_s)

    def _ramp_to(self, tesla: float) -> None:
        self._sweep_to(self.coil.amps(tesla))

    def _sweep_to(self, amps: float) -> None:
        present = self._amps(self.supply.output_reading)
        if amps >= present:
            self.supply.upper_limit = amps
            self.supply.sweep("UP")
        else:
            self.supply.lower_limit = amps
            self.supply.sweep("DOWN")
        self._target_A = amps

    def _state(self) -> str:
        status = self.supply.status_byte
        if status & STB_QUENCH:
            return "quench"
        if status & STB_SWEEPING:
            return "zeroing" if self._target_A == 0.0 else "ramping"
        if self._target_A is None:
            return "holding"
        arrived = abs(self._amps(self.supply.output_reading) - self._target_A) <= self.current_match_A
        if not arrived:
            return "paused"
        return "at_zero" if self._target_A == 0.0 else "holding"

    def _pause(self) -> None:
        self.supply.sweep("PAUSE")

    def _zero(self) -> None:
        self.supply.sweep("ZERO")
        self._target_A = 0.0

    def _quenched(self) -> bool:
        return self.supply.quench_present

    # persistent switch

    def _switch_installed(self) -> bool:
        return self.has_switch

    def _switch_heater_on(self) -> bool:
        return self.supply.switch_heater_enabled

    def _magnet_current_A(self) -> float:
        return self._amps(self.supply.magnet_reading)

    def _supply_current_A(self) -> float:
        return self._amps(self.supply.output_reading)

    def _ramp_leads_to(self, amps: float) -> None:
        self._sweep_to(amps)

    def _heat_switch(self) -> None:
        self.supply.switch_heater_enabled = True
        clocks.sleep(self.switch_heating_s)


__all__ = ["Cryomagnetics4G", "Cryomagnetics4GMagnet", "Reading", "parse_reading"]
