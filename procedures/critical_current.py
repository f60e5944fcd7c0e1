"""Critical current by pulsed I-V at a list of temperatures (paper 001's protocol).

At each temperature the controller is stabilised, the sample is given time to follow the
thermometer, and a pulse-delta sweep runs from one step up to Imax (then, if asked, from one
step down to -Imax). Pulses of ms width every seconds keep the Joule heat of the contacts from
warming the sample: a pulse of width w reaches only 1 - exp(-w / tau) of the steady-state rise
(tau ~ 0.5 s in a cell), so 1 ms pulses heat ~500 times less than DC (PHYSICS.md section 4).

Protecting the sample: each pulse is its own one-point ``pulse_iv`` call, so the voltage of a
pulse is known before the next one is sent. Once |V| passes the stop voltage (or the 2182A
overflows) no further pulse of that polarity is sent; the other polarity starts again from the
smallest step, where the sample is superconducting. Every current is checked against the
sample's limit and the lab's ``SoftwareLimits.max_current_A`` before any instrument is opened.
Each call waits a full period on the clock (the 6221's own run time for one point) before its
reading, so pulses stay at least a period apart whatever the time spent between calls.

Analysis while measuring (:mod:`daclab.analysis.critical`): Ic per polarity at the voltage
criterion, |dV/dI| of each sweep, Jc = Ic / (width x thickness), and from three temperatures on
a pinning-model fit of Jc(T) (Griessen et al., Phys. Rev. Lett. 72, 1910 (1994)), which runs on
the analysis thread while the next temperature is approached.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math

import numpy as np
from pymeasure.experiment import BooleanParameter, FloatParameter, ListParameter

from daclab.analysis.critical import (JC_MODELS, critical_current_from_iv, differential_resistance,
                                      fit_jc)
from daclab.analysis.fitting import AnalysisInputError
from daclab.analysis.pinning import critical_current_density_A_cm2
from daclab.lab import LabConfig
from daclab.limits import LimitError, check_range
from daclab.procedures.base import LabProcedure
from daclab.procedures.temperature_points import TemperaturePoints, tolerance_parameter
from daclab.runner import FAULTS_COLUMN

log = logging.getLogger(__name__)

MAX_PULSES_PER_SWEEP = 10000  # a step that small is a typing error, not a measurement
# The 2182A reports a reading beyond its range as +9.9E37; it is no voltage.
OVERFLOW_V = 9.9e37
HARDWARE_MAX_CURRENT_MA = 105.0  # the 6221's largest output


@dataclasses.dataclass
class Sweep:
    """One polarity's pulses at one temperature, as measured."""

    polarity: int
    current_A: list[float] = dataclasses.field(default_factory=list)
    voltage_V: list[float] = dataclasses.field(default_factory=list)
    temperature_K: list[float] = dataclasses.field(default_factory=list)
    stopped_at_A: float = math.nan  # the pulse whose voltage passed the stop voltage

    @property
    def stopped_early(self) -> bool:
        return not math.isnan(self.stopped_at_A)


class CriticalCurrent(TemperaturePoints, LabProcedure):
    """Pulsed I-V sweeps 0 -> Imax (and 0 -> -Imax) at each temperature; Ic, |dV/dI|, Jc(T).

    Paper 001 (CeH9 at ~100 GPa): 10 (1) ms pulses every 2 s, at most 80 mA to protect the
    electrodes, Ic = 74 mA at 60 K, Jc on a 30 x 1 um2 cross-section fitted with delta-l pinning.
    """

    # temperatures_K, rate_K_per_min and the hold at each temperature: TemperaturePoints.
    tolerance_K = tolerance_parameter(0.1)
    max_current_mA = FloatParameter("Maximum current", units="mA", default=80.0, minimum=0.001,
                                    maximum=HARDWARE_MAX_CURRENT_MA)
    sample_limit_mA = FloatParameter("Sample current limit", units="mA", default=80.0, minimum=0.001,
                                     maximum=HARDWARE_MAX_CURRENT_MA)
    step_mA = FloatParameter("Current step", units="mA", default=0.5, minimum=0.001, maximum=HARDWARE_MAX_CURRENT_MA)
    both_polarities = BooleanParameter("Both polarities", default=True)
    pulse_width_ms = FloatParameter("Pulse width", units="ms", default=1.0, minimum=0.05, maximum=12.0)
    # The 6221 repeats pulses at 5 line cycles (83 ms) at the fastest; paper 001 used 2 s.
    period_s = FloatParameter("Pulse period", units="s", default=2.0, minimum=0.1, maximum=3600.0)
    # The 2182A reads the sample to ~3 nV, so 1 uV is far above the noise while the flux-flow slope
    # past Ic (~R_n, tens of milliohm) reaches it within tens of microamps. An electric-field
    # criterion of 1 uV/cm over the ~30 um between the voltage contacts would be 3 nV: the noise.
    criterion_uV = FloatParameter("Voltage criterion", units="uV", default=1.0, minimum=0.01, maximum=10000.0)
    stop_voltage_mV = FloatParameter("Stop voltage", units="mV", default=1.0, minimum=0.0001, maximum=100.0)
    width_um = FloatParameter("Sample width (0 = unknown)", units="um", default=30.0, minimum=0.0, maximum=1000.0)
    thickness_um = FloatParameter("Sample thickness (0 = unknown)", units="um", default=1.0, minimum=0.0,
                                  maximum=1000.0)
    jc_model = ListParameter("Jc(T) pinning model", choices=list(JC_MODELS), default="delta_l")

    DATA_COLUMNS = ["Time (s)", "Setpoint (K)", "Temperature (K)", "Polarity", "Current (A)", "Voltage (V)",
                    "dV/dI (ohm)", FAULTS_COLUMN]

    def __init__(self, lab=None, **kwargs):
        super().__init__(lab=lab, **kwargs)
        self._temperatures: list[float] = []
        self._fit_points: list[tuple[float, float]] = []  # (temperature K, Jc A/cm2) per temperature

    # ---- checks ---------------------------------------------------------------------------

    def needed_roles(self) -> list[str]:
        return ["temperature", "pulse"]

    def validate(self, config: LabConfig) -> None:
        limits = config.limits
        temperatures = self.validate_temperature_points(limits)
        if self.max_current_mA > self.sample_limit_mA:
            raise LimitError(f"max_current_mA = {self.max_current_mA:g} mA is above the sample's limit "
                             f"sample_limit_mA = {self.sample_limit_mA:g} mA")
        lab_limit_mA = limits.max_current_A * 1e3
        if self.max_current_mA / 1e3 > limits.max_current_A:
            raise LimitError(f"max_current_mA = {self.max_current_mA:g} mA is above the lab's limit "
                             f"max_current_A = {lab_limit_mA:g} mA ({config.source or config.name})")
        check_range("step_mA", self.step_mA, 0.0, self.max_current_mA, "mA")
        pulses = self._pulses_per_sweep()
        if pulses > MAX_PULSES_PER_SWEEP:
            raise LimitError(f"step_mA = {self.step_mA:g} mA gives {pulses} pulses up to {self.max_current_mA:g} mA; "
                             f"at most {MAX_PULSES_PER_SWEEP} are allowed per sweep")
        if self.stop_voltage_mV * 1e3 <= self.criterion_uV:
            raise LimitError(f"stop_voltage_mV = {self.stop_voltage_mV:g} mV must be above the voltage criterion "
                             f"criterion_uV = {self.criterion_uV:g} uV, or a sweep stops before Ic")
        self._temperatures = temperatures

    def _pulses_per_sweep(self) -> int:
        return max(1, math.ceil(self.max_current_mA / self.step_mA - 1e-9))

    def _currents_A(self, polarity: int) -> np.ndarray:
        """step, 2 step, ... up to Imax (never beyond it), with the sign of ``polarity``."""
        imax_A = self.max_current_mA / 1e3
        ladder = np.arange(1, self._pulses_per_sweep() + 1) * (self.step_mA / 1e3)
        return polarity * np.minimum(ladder, imax_A)

    def _polarities(self) -> tuple[int, ...]:
        return (1, -1) if self.both_polarities else (1,)

    def estimated_duration_s(self) -> float:
        temperatures = self._temperatures or self.temperature_points()
        pulses = self._pulses_per_sweep() * len(self._polarities())
        return self.ramp_time_s(temperatures) + len(temperatures) * (self.hold_s() + pulses * self.period_s)

    # ---- the measurement --------------------------------------------------------------------

    def acquire(self) -> None:
        controller = self.role("temperature")
        source = self.role("pulse")
        sweeps_total = len(self._temperatures) * len(self._polarities())
        self.report_progress(0.0)
        for index, setpoint in enumerate(self._temperatures):
            def measure_temperature(index=index, setpoint=setpoint) -> None:
                self.go_to_point(setpoint)
                sweeps = []
                for polarity in self._polarities():
                    done = index * len(self._polarities()) + len(sweeps)
                    sweeps.append(self._sweep(source, controller, setpoint, polarity, done / sweeps_total,
                                              1.0 / sweeps_total))
                self._analyse(setpoint, sweeps)

            self.run_segment(f"{setpoint:g} K", measure_temperature)
        self.report_progress(1.0)

    def _sweep(self, source, controller, setpoint: float, polarity: int, progress_from: float,
               progress_share: float) -> Sweep:
        """One pulse per call, so that nothing follows a pulse whose voltage passed the stop voltage."""
        width_s, stop_V = self.pulse_width_ms / 1e3, self.stop_voltage_mV / 1e3
        sweep = Sweep(polarity)
        currents = self._currents_A(polarity)
        for index, request in enumerate(currents):
            self.raise_if_stopped()
            (current, reading), = source.pulse_iv([request], width_s, self.period_s)
            temperature = controller.temperature()
            voltage = math.nan if abs(reading) >= OVERFLOW_V else float(reading)
            sweep.current_A.append(float(current))
            sweep.voltage_V.append(voltage)
            sweep.temperature_K.append(temperature)
            self.emit("results", {
                "Time (s)": self.elapsed_s(), "Setpoint (K)": setpoint, "Temperature (K)": temperature,
                "Polarity": polarity, "Current (A)": float(current), "Voltage (V)": voltage,
                "dV/dI (ohm)": self._last_slope(sweep),
            })
            self.report_progress(progress_from + progress_share * (index + 1) / currents.size)
            if not abs(reading) <= stop_V:  # NaN and the 2182A's overflow stop it too
                sweep.stopped_at_A = float(current)
                log.info("%.4g K: |V| = %.3g V passed the stop voltage %.3g V at %.4g A; no further pulse of "
                         "polarity %+d", setpoint, abs(reading), stop_V, current, polarity)
                break
        return sweep

    @staticmethod
    def _last_slope(sweep: Sweep) -> float:
        """|dV/dI| between the last two pulses (NaN for the first)."""
        if len(sweep.current_A) < 2:
            return math.nan
        return float(differential_resistance(sweep.current_A[-2:], sweep.voltage_V[-2:])[-1])

    # ---- analysis ---------------------------------------------------------------------------

    def _analyse(self, setpoint: float, sweeps: list[Sweep]) -> None:
        """Per temperature: an 'iv' event per sweep (V(I) and |dV/dI| by numpy.gradient), then 'ic'.

        ``ic_A`` is the positive sweep's Ic, ``ic_negative_A`` the magnitude of the negative one's
        (NaN when not swept or not reached); Jc = ic_A / (width x thickness) when both are given.
        """
        criterion_V = self.criterion_uV * 1e-6
        temperature = float(np.mean([t for sweep in sweeps for t in sweep.temperature_K]))
        ic_by_polarity = {}
        for sweep in sweeps:
            ic_by_polarity[sweep.polarity] = _critical_current(sweep, criterion_V)
            if len(sweep.current_A) >= 2:
                self.emit_analysis("iv", setpoint_K=setpoint, temperature_K=float(np.mean(sweep.temperature_K)),
                                   polarity=sweep.polarity, current_A=list(sweep.current_A),
                                   voltage_V=list(sweep.voltage_V),
                                   dvdi_ohm=differential_resistance(sweep.current_A, sweep.voltage_V).tolist())
        ic = ic_by_polarity[1]
        values = {
            "setpoint_K": setpoint, "temperature_K": temperature, "ic_A": ic,
            "ic_negative_A": ic_by_polarity.get(-1, math.nan), "criterion_V": criterion_V,
            "reached": all(not math.isnan(value) for value in ic_by_polarity.values()),
            "stopped_early": any(sweep.stopped_early for sweep in sweeps),
        }
        if self.width_um > 0 and self.thickness_um > 0:
            values["jc_A_cm2"] = float(critical_current_density_A_cm2(ic, self.width_um, self.thickness_um))
            self._fit_points.append((temperature, values["jc_A_cm2"]))
        self.emit_analysis("ic", **values)
        self.analyse_in_background(functools.partial(self._fit_jc, list(self._fit_points)))

    def restore(self, records: list[dict]) -> None:
        """Jc of the temperatures done before a resume, so that the Jc(T) fit goes on using them."""
        self._fit_points = [(record["temperature_K"], record["jc_A_cm2"])
                            for record in records if record["kind"] == "ic" and "jc_A_cm2" in record]

    def _fit_jc(self, fit_points: list[tuple[float, float]]) -> None:
        """Jc(T) by the chosen pinning law once three temperatures have a Jc; a failed fit is logged only."""
        points = [(t, jc) for t, jc in fit_points if not math.isnan(jc)]
        if len(points) < 3:
            return
        temperature, jc = (np.array(column) for column in zip(*points))
        try:
            fit = fit_jc(temperature, jc, self.jc_model)
        except Exception as error:  # a fit must never end a measurement
            log.warning("Jc(T) fit (%s) on %d temperatures failed: %s", self.jc_model, len(points), error)
            return
        self.emit_analysis("jc_fit", model=fit.model, jc0_A_cm2=fit.jc0.as_dict(), tc_K=fit.tc_K.as_dict(),
                           reduced_chi_square=fit.reduced_chi_square, success=fit.success, message=fit.message,
                           temperature_K=temperature.tolist(), jc_A_cm2=jc.tolist())


def _critical_current(sweep: Sweep, criterion_V: float) -> float:
    """Ic of one sweep at the criterion; NaN when it was never passed (or nothing was read)."""
    try:
        return critical_current_from_iv(sweep.current_A, sweep.voltage_V, criterion_V)
    except AnalysisInputError:  # no usable reading in the sweep
        return math.nan


__all__ = ["CriticalCurrent"]
