"""The roles a 6221 + 2182A plays (:mod:`daclab.roles`): delta resistance, pulsed I-V, dI/dV.

dI/dV comes two ways: the 6221's DCON mode (:class:`DifferentialConductanceSource`), or DC
current steps with one 2182A reading at each (:class:`DCCurrentStepSource`, paper 001).

Each adapter wraps a :class:`~daclab.instruments.keithley6221.Keithley6221` and runs one of its
modes from arming to reading the buffer. Every value is checked against the hardware limits and
the :class:`~daclab.limits.SoftwareLimits` of the cell before the first command is written;
every wait goes through :mod:`daclab.clock`. ``stop()`` aborts the mode (``SOUR:SWE:ABOR``) and
turns the output off, the safe state at the end of a procedure.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from daclab import clock as clocks
from daclab.instruments.keithley2182 import is_overflow
from daclab.instruments.keithley6221 import BUFFER_SIZE, MAX_CURRENT_A, dcon_point_count
from daclab.limits import LimitError, SoftwareLimits, check_choice, check_range

# The 2182A's integration time in seconds is NPLC x the line period; 60 Hz mains is assumed for
# the expected duration of a run (on 50 Hz it is 20 % longer, well inside the time-out margin).
LINE_PERIOD_S = 1.0 / 60.0


class _Keithley6221Role:
    """What the three adapters share: the source, the limits, the 2182A channel, stop()."""

    def __init__(self, source, limits: SoftwareLimits | None, channel: int, nplc: float,
                 compliance_V: float | None):
        self.source = source
        self.limits = limits or SoftwareLimits()
        self.channel = check_choice("2182A channel", channel, (1, 2))
        self.nplc = check_range("2182A NPLC", nplc, 0.01, 60)
        if compliance_V is not None:
            check_range("compliance", compliance_V, 0.1, 105, "V")
            self.limits.compliance("compliance", compliance_V)
        self.compliance_V = compliance_V
        self.last_run: dict[str, np.ndarray] = {}

    def _check_current(self, parameter: str, value_A: float) -> None:
        """A current against the 6221's range, then against the software limits."""
        check_range(parameter, value_A, -MAX_CURRENT_A, MAX_CURRENT_A, "A")
        self.limits.current(parameter, value_A)

    def _duration_s(self, points: int, delay_s: float) -> float:
        """Expected length of a delta or DCON run: two readings start the three-point average,
        then one per point, each ``delay_s`` plus one 2182A integration."""
        return (points + 2) * (delay_s + self.nplc * LINE_PERIOD_S)

    def _prepare(self, elements: tuple[str, ...]) -> None:
        """Channel and speed of the 2182A, compliance, readings in volts with ``elements``."""
        self.source.nanovoltmeter.channel = self.channel
        self.source.nanovoltmeter.nplc = self.nplc
        if self.compliance_V is not None:
            self.source.source_compliance = self.compliance_V
        self.source.delta_unit = "V"
        self.source.data_elements = elements

    def _run(self, points: int, arm, expected_s: float) -> dict[str, np.ndarray]:
        """Size and clear the buffer, arm, run to completion, read, and abort (disarm)."""
        self.source.buffer_points = points
        self.source.clear_buffer()
        arm()
        try:
            self.last_run = self.source.run_and_read(expected_s=expected_s)
        finally:
            self.source.abort()
        return self.last_run

    def stop(self) -> None:
        """Abort the running mode, then output off."""
        self.source.abort()
        self.source.disable_source()


class DeltaResistanceMeter(_Keithley6221Role):
    """:class:`daclab.roles.ResistanceMeter` by delta mode (paper 000: 1 mA).

    The 6221 alternates +I and -I; each delta reading is the three-point combination
    (V1 - 2 V2 + V3) / 4 of consecutive alternating readings (sign-corrected), which equals
    R (HIGH - LOW) / 2 = R I for LOW = -HIGH and cancels a linearly drifting thermal EMF.
    :meth:`resistance` runs a burst of ``readings`` and returns mean(delta V) / I.
    """

    def __init__(self, source, limits: SoftwareLimits | None = None, current_A: float = 1e-3,
                 readings: int = 10, delay_s: float = 2e-3, nplc: float = 1.0, channel: int = 1,
                 compliance_V: float | None = None):
        super().__init__(source, limits, channel, nplc, compliance_V)
        self.readings = int(check_range("delta readings", readings, 1, BUFFER_SIZE))
        self.delay_s = check_range("delta delay", delay_s, 1e-3, 9999.999, "s")
        self.set_excitation(current_A)

    def set_excitation(self, current_A: float) -> None:
        """Delta amplitude (HIGH = I, LOW = -I); checked now, written at the next reading."""
        self._check_current("delta current", current_A)
        if current_A == 0:
            raise LimitError("delta current = 0 A cannot measure a resistance; it must be non-zero")
        self.current_A = float(current_A)

    def expected_duration_s(self) -> float:
        return self._duration_s(self.readings, self.delay_s)

    def resistance(self) -> float:
        """One resistance in ohm: mean of ``readings`` delta voltages divided by the current."""
        source = self.source
        self._prepare(("READ", "TST"))
        source.delta_high_source = self.current_A
        source.delta_low_source = -self.current_A
        source.delta_delay = self.delay_s
        source.delta_cycles = self.readings
        source.delta_measurement_sets = 1
        data = self._run(self.readings, source.delta_arm, self.expected_duration_s())
        return float(np.mean(data["reading"])) / self.current_A


class PulseDeltaSource(_Keithley6221Role):
    """:class:`daclab.roles.PulseSource` by a pulse-delta LIST sweep.

    One pulse per current, ``width_s`` long, one every ``period_s`` (paper 001: 10 ms every 2 s,
    at most 80 mA: ``SoftwareLimits.max_current_A``). Each voltage is the pulse-delta reading
    V(pulse) - mean(V(low) before and after) (LME 2), with LOW = ``low_A`` (0 by default, so the
    reading is the sample voltage at the pulse current). The measurement starts
    ``source_delay_s`` into the pulse (default: half the width).
    """

    def __init__(self, source, limits: SoftwareLimits | None = None, low_A: float = 0.0,
                 source_delay_s: float | None = None, low_measurements: int = 2, channel: int = 1,
                 compliance_V: float | None = None):
        super().__init__(source, limits, channel, 1.0, compliance_V)
        self._check_current("pulse low current", low_A)
        self.low_A = float(low_A)
        if source_delay_s is not None:
            check_range("pulse source delay", source_delay_s, 16e-6, 11.966e-3, "s")
        self.source_delay_s = source_delay_s
        self.low_measurements = check_choice("pulse low measurements", low_measurements, (1, 2))

    def _check(self, currents_A: np.ndarray, width_s: float, period_s: float) -> float:
        if not 1 <= currents_A.size <= BUFFER_SIZE - 1:
            raise LimitError(f"pulse count = {currents_A.size} is outside the allowed range [1, {BUFFER_SIZE - 1}]")
        for index, current in enumerate(currents_A):
            self._check_current(f"pulse current[{index}]", current)
        check_range("pulse width", width_s, 50e-6, 12e-3, "s")
        check_range("pulse period", period_s, 1e-3, 999999.999, "s")
        if period_s <= width_s:
            raise LimitError(f"pulse period = {period_s:g} s must be longer than the pulse width {width_s:g} s")
        delay = min(max(width_s / 2, 16e-6), 11.966e-3) if self.source_delay_s is None else self.source_delay_s
        if delay >= width_s:
            raise LimitError(f"pulse source delay = {delay:g} s must be shorter than the pulse width {width_s:g} s")
        return delay

    def pulse_iv(self, currents_A: Sequence[float], width_s: float, period_s: float) -> np.ndarray:
        """(n, 2) array of (current A as the 6221 reports it, pulse-delta voltage V)."""
        currents = np.asarray(currents_A, dtype=float).ravel()
        delay = self._check(currents, width_s, period_s)
        source = self.source
        self._prepare(("READ", "TST", "SOUR"))
        source.pulse_low_source = self.low_A
        source.pulse_width = width_s
        source.pulse_source_delay = delay
        source.pulse_low_measurements = self.low_measurements
        source.pulse_sweep_enabled = True
        source.sweep_spacing = "LIST"
        source.sweep_ranging = "BEST"
        source.sweep_count = 1
        source.source_delay = period_s
        source.set_list_currents(currents)
        source.set_list_delays([period_s] * currents.size)  # the cycle period of each point
        data = self._run(currents.size, source.pulse_arm, currents.size * period_s)
        return np.column_stack([data["source_current"], data["reading"]])


class DifferentialConductanceSource(_Keithley6221Role):
    """:class:`daclab.roles.ConductanceSource` by the 6221's DCON mode (paper 001's method).

    At each bias the current alternates bias +- dI; the reading dV is the three-point delta of
    the voltages (dV per dI), the average voltage is the bias voltage, and dI/dV = dI / dV.
    The point contact is on the 2182A's channel 2 by default.
    """

    def __init__(self, source, limits: SoftwareLimits | None = None, nplc: float = 1.0,
                 channel: int = 2, compliance_V: float | None = None):
        super().__init__(source, limits, channel, nplc, compliance_V)

    def _check(self, start_A, stop_A, step_A, delta_A, delay_s) -> int:
        for name, value in (("DCON start", start_A), ("DCON stop", stop_A)):
            self._check_current(name, value)
        check_range("DCON step", step_A, 0.0, MAX_CURRENT_A, "A")
        check_range("DCON delta", delta_A, 0.0, MAX_CURRENT_A, "A")
        if step_A <= 0 or delta_A <= 0:
            raise LimitError(f"DCON step = {step_A:g} A and delta = {delta_A:g} A must both be > 0")
        peak = max(abs(start_A), abs(stop_A)) + delta_A  # the largest current actually driven
        self._check_current("DCON peak current (bias + delta)", peak)
        check_range("DCON delay", delay_s, 1e-3, 9999.999, "s")
        points = dcon_point_count(start_A, stop_A, step_A)
        check_range("DCON points", points, 1, BUFFER_SIZE)
        return points

    def differential_conductance(self, start_A: float, stop_A: float, step_A: float, delta_A: float,
                                 delay_s: float) -> dict[str, np.ndarray]:
        """Keys ``current_A`` (bias), ``voltage_V`` (average), ``dv_V`` (per dI), ``didv_S``."""
        points = self._check(start_A, stop_A, step_A, delta_A, delay_s)
        source = self.source
        self._prepare(("READ", "TST", "SOUR", "AVOL"))
        source.dcon_start = start_A
        source.dcon_stop = stop_A
        source.dcon_step = step_A
        source.dcon_delta = delta_A
        source.dcon_delay = delay_s
        data = self._run(points, source.dcon_arm, self._duration_s(points, delay_s))
        dv = data["reading"]
        with np.errstate(divide="ignore"):
            didv = delta_A / dv
        return {"current_A": data["source_current"], "voltage_V": data["average_voltage"], "dv_V": dv, "didv_S": didv}


class DCCurrentStepSource(_Keithley6221Role):
    """:class:`daclab.roles.CurrentStepSource`: DC currents from the 6221, one 2182A reading at each.

    Paper 001's dI/dV: at each bias the voltage is read at three small current steps, and the
    slope of V against I gives dV/dI (:func:`daclab.analysis.conductance.step_conductance`).
    For each current the 6221 is set (``SOUR:CURR``), the output is on, the reading waits
    ``settle_s`` on the clock, then the 2182A reads (``READ?`` through the pass-through) on
    ``channel`` (2, the point contact, by default). The output stays on from one current to the
    next, so the contact sees steps and no off-on transients; :meth:`stop` turns it off.

    Compliance is written at every call (default 1 V: a contact of tens of ohms at a few mA
    needs a fraction of that, and a contact that opens is then not driven to the 6221's 10 V
    power-on compliance). The source range is left as the instrument has it.
    """

    def __init__(self, source, limits: SoftwareLimits | None = None, nplc: float = 1.0,
                 channel: int = 2, compliance_V: float = 1.0):
        super().__init__(source, limits, channel, nplc, compliance_V)

    def _check(self, currents_A: np.ndarray, settle_s: float) -> None:
        if currents_A.size == 0:
            raise LimitError("step currents: an empty list; give at least one current")
        for index, current in enumerate(currents_A):
            self._check_current(f"step current[{index}]", current)
        check_range("step settle time", settle_s, 0.0, 3600.0, "s")

    def voltages_at(self, currents_A: Sequence[float], settle_s: float) -> np.ndarray:
        """The 2182A voltage (V) after each current has flowed ``settle_s``; NaN for an overflow.

        Every current is checked against the 6221's +-105 mA and the software limit before the
        first command is written.
        """
        currents = np.asarray(currents_A, dtype=float).ravel()
        self._check(currents, settle_s)
        source = self.source
        source.nanovoltmeter.channel = self.channel
        source.nanovoltmeter.nplc = self.nplc
        source.source_compliance = self.compliance_V
        voltages = np.empty(currents.size)
        for index, current in enumerate(currents):
            source.source_current = current
            source.enable_source()
            clocks.sleep(settle_s)
            reading = float(source.nanovoltmeter.voltage)
            voltages[index] = np.nan if is_overflow(reading) else reading
        self.last_run = {"current_A": currents, "voltage_V": voltages}
        return voltages


__all__ = ["DeltaResistanceMeter", "PulseDeltaSource", "DifferentialConductanceSource", "DCCurrentStepSource"]
