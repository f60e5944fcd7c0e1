"""Point-contact spectroscopy: dI/dV against bias at each temperature of a list (paper 001).

Two ways to measure, chosen by ``method``:

- ``current steps`` (role ``steps``, paper 001's method): at each bias current I the voltage is
  read at the three DC currents I - dI, I, I + dI; the least-squares slope of V against I is
  dV/dI, its inverse dI/dV, and the bias is the mean of the three voltages
  (:func:`daclab.analysis.conductance.step_conductance`). dI is a fraction of the whole sweep
  2 I_max; paper 001 keeps it below 0.5 %, and so does this procedure.
- ``DCON`` (role ``conductance``): the 6221's differential conductance mode, the current
  alternating I +- dI at each bias of a staircase. The sweep is cut into runs of
  ``dcon_chunk_points`` biases, so that a stop request is honoured after at most one run
  (the points of the run in flight are lost; each run costs two extra readings to start
  its three-point average).

Both sweep from -I_max to +I_max, and each point is written as it is measured (one bias point,
or one DCON run of points). At each temperature of ``temperatures_K`` (reached at
``rate_K_per_min``, 0 = setpoint stepped at once) the thermometer is held within ``tolerance_K``
for ``stable_s``, then the procedure waits ``thermalise_s`` more: the sample in a diamond anvil
cell lags the thermometer by minutes, and a spectrum taken too early belongs to a colder or
warmer sample (:class:`~daclab.procedures.temperature_points.TemperaturePoints`). The output is off while the temperature moves.

Normalised column: dI/dV divided by the polynomial background of the previous spectrum (the
background of a point contact changes little with temperature); NaN during the first spectrum,
when none is known yet. With a series resistance R_s the point is first taken to the junction
(V_j = V - R_s I, G_j = G / (1 - R_s G), I the known bias current), as the processing does.

After each spectrum, paper 001's chain (:func:`daclab.analysis.gap_fit.analyse_spectrum`:
series-resistance correction, 3-point moving average, polynomial background fitted at
|V| > gap window, division) runs in line, since the next spectrum's normalised column needs its
background; the BTK and BCS fits run on the analysis thread while the next temperature is
approached. The analysis records

- ``spectrum``: temperature_K, bias_mV (junction bias), conductance (normalised), method;
- ``btk``: :func:`daclab.analysis.gap_fit.fit_spectrum` of that spectrum with T fixed to the
  measured temperature and G_N free (why: its docstring); the fields of ``BtkFitResult.as_dict``;
- ``gap_fit``: from three successful BTK fits on, :func:`daclab.analysis.gap_fit.fit_gap` of
  Delta(T) (temperature_K, delta_meV and the fields of ``GapFitResult.as_dict``).

A processing or fit failure is logged and the run goes on.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Callable

import numpy as np
from numpy.polynomial import Polynomial
from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter, ListParameter

from daclab.analysis import conductance, gap_fit
from daclab.analysis.fitting import AnalysisInputError
from daclab.lab import Lab, LabConfig
from daclab.procedures.base import LabProcedure
from daclab.procedures.temperature_points import TemperaturePoints, stable_parameter, temperatures_parameter
from daclab.roles import ConductanceSource, CurrentStepSource, TemperatureController
from daclab.runner import FAULTS_COLUMN

log = logging.getLogger(__name__)

STEPS, DCON = "current steps", "DCON"
METHOD_ROLES = {STEPS: "steps", DCON: "conductance"}
STEP_OFFSETS = np.array([-1.0, 0.0, 1.0])  # the three currents of a bias point, in units of dI
MAX_STEP_PERCENT = 0.5  # paper 001: dI below 0.5 % of the whole curve
SMOOTH_POINTS = 3  # paper 001: 3-point moving average
READING_S = 0.05  # one 2182A reading at 1 PLC through the pass-through, for the duration estimate

TIME, TEMPERATURE, CURRENT, BIAS = "Time (s)", "Temperature (K)", "Current (A)", "Bias (V)"
DVDI, DIDV, NORMALISED = "dV/dI (ohm)", "dI/dV (S)", "Normalised dI/dV"


def _polynomial_record(polynomial: Polynomial) -> dict[str, list[float]]:
    """A numpy Polynomial as plain lists, from which ``Polynomial(**record)`` rebuilds it."""
    return {"coef": polynomial.coef.tolist(), "domain": polynomial.domain.tolist(), "window": polynomial.window.tolist()}


def _spectrum_of(record: dict) -> conductance.Spectrum:
    """The processed spectrum a 'spectrum' analysis record holds (bias, normalised dI/dV, background)."""
    return conductance.Spectrum(np.asarray(record["bias_mV"], dtype=float),
                                np.asarray(record["conductance"], dtype=float), Polynomial(**record["background"]))


def dcon_runs(points: int, size: int) -> list[slice]:
    """Consecutive slices of at most ``size`` points covering ``points``; none of one point
    (a DCON run needs a start and a stop: a lone last point joins the run before it)."""
    starts = list(range(0, points, size))
    if len(starts) > 1 and points - starts[-1] < 2:
        starts.pop()
    return [slice(start, end) for start, end in zip(starts, starts[1:] + [points])]


class DifferentialConductance(TemperaturePoints, LabProcedure):
    """dI/dV(V) of a point contact by DC current steps or by the 6221's DCON (module docstring)."""

    method = ListParameter("Method", choices=list(METHOD_ROLES), default=STEPS)
    max_current_A = FloatParameter("Bias current amplitude I_max", units="A", default=6e-3, minimum=1e-9,
                                   maximum=1.0)
    bias_points = IntegerParameter("Bias points", default=301, minimum=5, maximum=65535)
    step_percent = FloatParameter("Current step dI", units="%", default=0.25, minimum=1e-4,
                                  maximum=MAX_STEP_PERCENT, description="share of the whole sweep 2 I_max")
    delay_s = FloatParameter("Delay per step", units="s", default=0.05, minimum=1e-3, maximum=9999.0)
    dcon_chunk_points = IntegerParameter("DCON points per run", default=10, minimum=2, maximum=65535)
    # The hold at each temperature and the ramp between them: TemperaturePoints.
    temperatures_K = temperatures_parameter("2, 10, 20, 30, 40, 50, 60, 70, 80, 90")  # paper 001: 2 to 90 K
    stable_s = stable_parameter(120.0)
    gap_window_mV = FloatParameter("Gap window", units="mV", default=80.0, minimum=0.0, maximum=1000.0,
                                   description="the background is fitted at |bias| beyond it")
    background_degree = IntegerParameter("Background degree", default=2, minimum=0, maximum=10)
    series_resistance_ohm = FloatParameter("Series resistance", units="ohm", default=0.0, minimum=0.0,
                                           maximum=1e6)
    fit_btk = BooleanParameter("Fit BTK", default=True)

    DATA_COLUMNS = [TIME, TEMPERATURE, CURRENT, BIAS, DVDI, DIDV, NORMALISED, FAULTS_COLUMN]

    def __init__(self, lab: Lab | None = None, **kwargs):
        super().__init__(lab, **kwargs)
        self.temperature_list: list[float] = []
        self.background = None  # dI/dV background (Polynomial, S against junction V) of the last spectrum
        self.gaps: list[tuple[float, float]] = []  # (temperature K, Delta meV) of the successful BTK fits
        self._unfitted: list[tuple[str, float, conductance.Spectrum]] = []  # restored spectra still to fit

    # ---- checks and plan ------------------------------------------------------------------

    def needed_roles(self) -> list[str]:
        return ["temperature", METHOD_ROLES[self.method]]

    @property
    def step_A(self) -> float:
        """dI: ``step_percent`` of the whole sweep 2 I_max."""
        return self.step_percent / 100.0 * 2.0 * self.max_current_A

    def bias_currents(self) -> np.ndarray:
        return np.linspace(-self.max_current_A, self.max_current_A, self.bias_points)

    def validate(self, config: LabConfig) -> None:
        self.temperature_list = self.validate_temperature_points(config.limits)
        peak = self.max_current_A + self.step_A  # the largest current either method drives
        config.limits.current(f"peak bias current I_max + dI (max_current_A = {self.max_current_A:g} A)", peak)

    def estimated_duration_s(self) -> float:
        """Stabilising at each temperature plus the sweeps (a 2182A reading taken as READING_S)."""
        temperatures = self.temperature_list or self.temperature_points()
        per_reading = self.delay_s + READING_S
        if self.method == STEPS:
            sweep = self.bias_points * len(STEP_OFFSETS) * per_reading
        else:
            runs = len(dcon_runs(self.bias_points, self.dcon_chunk_points))
            sweep = (self.bias_points + 2 * runs) * per_reading
        return self.ramp_time_s(temperatures) + len(temperatures) * (self.hold_s() + sweep)

    # ---- the measurement ------------------------------------------------------------------

    def acquire(self) -> None:
        for segment, kelvin, spectrum in self._unfitted:  # fitted while the next spectra are measured
            self.analyse_in_background(functools.partial(self._fit, kelvin, spectrum), segment=segment)
        self._unfitted = []
        controller = self.role("temperature")
        source = self.role(METHOD_ROLES[self.method])
        biases = self.bias_currents()
        count = len(self.temperature_list)
        sweep = self._steps_sweep if self.method == STEPS else self._dcon_sweep
        for index, kelvin in enumerate(self.temperature_list):
            def progress(fraction: float, index=index) -> None:
                self.report_progress((index + fraction) / count)

            def measure_spectrum(kelvin=kelvin, progress=progress) -> None:
                self.go_to_point(kelvin)  # the thermometer holds it, then the sample in the cell follows
                try:
                    rows = sweep(source, controller, biases, progress)
                finally:
                    source.stop()  # no current through the contact while the temperature moves
                self._analyse(rows)

            self.run_segment(f"{kelvin:g} K", measure_spectrum)
            self.report_progress((index + 1) / count)

    def _steps_sweep(self, source: CurrentStepSource, controller: TemperatureController, biases: np.ndarray,
                     progress: Callable[[float], None]) -> list[dict]:
        rows = []
        for number, current in enumerate(biases):
            self.raise_if_stopped()
            currents = current + self.step_A * STEP_OFFSETS
            voltages = source.voltages_at(currents, self.delay_s)
            try:
                bias, didv = conductance.step_conductance(currents, voltages)
            except AnalysisInputError as error:  # an overflowed reading: the point is kept, its dI/dV NaN
                log.warning("bias point %.6g A: %s", current, error)
                read = voltages[np.isfinite(voltages)]
                bias, didv = (float(read.mean()) if read.size else math.nan), math.nan
            rows.append(self._emit_point(controller.temperature(), current, bias, didv))
            progress((number + 1) / len(biases))
        return rows

    def _dcon_sweep(self, source: ConductanceSource, controller: TemperatureController, biases: np.ndarray,
                    progress: Callable[[float], None]) -> list[dict]:
        rows = []
        step = float(biases[1] - biases[0])
        for run in dcon_runs(len(biases), self.dcon_chunk_points):
            self.raise_if_stopped()
            chunk = biases[run]
            data = source.differential_conductance(float(chunk[0]), float(chunk[-1]), step, self.step_A, self.delay_s)
            kelvin = controller.temperature()
            for current, bias, didv in zip(data["current_A"], data["voltage_V"], data["didv_S"]):
                rows.append(self._emit_point(kelvin, current, bias, didv))
            progress(run.stop / len(biases))
        return rows

    def _emit_point(self, kelvin: float, current_A: float, bias_V: float, didv_S: float) -> dict:
        with np.errstate(divide="ignore", invalid="ignore"):
            dvdi = float(np.float64(1.0) / didv_S)
        row = {TIME: self.elapsed_s(), TEMPERATURE: float(kelvin), CURRENT: float(current_A), BIAS: float(bias_V),
               DVDI: dvdi, DIDV: float(didv_S), NORMALISED: self._normalised(current_A, bias_V, didv_S)}
        self.emit("results", row)
        return row

    def _normalised(self, current_A: float, bias_V: float, didv_S: float) -> float:
        """dI/dV over the previous spectrum's background at this point's junction bias; NaN if none."""
        if self.background is None or not (np.isfinite(didv_S) and np.isfinite(bias_V)):
            return math.nan
        resistance = self.series_resistance_ohm
        if resistance * didv_S >= 1.0:  # dV/dI below R_s: no junction left to normalise
            return math.nan
        junction_V = bias_V - resistance * current_A
        junction_S = didv_S / (1.0 - resistance * didv_S)
        try:
            return float(conductance.normalise([junction_V], [junction_S], self.background)[0])
        except AnalysisInputError:
            return math.nan

    # ---- analysis after each spectrum ----------------------------------------------------

    def _analyse(self, rows: list[dict]) -> None:
        """Process the spectrum, fit BTK and, from three gaps on, BCS; log, never raise, on failure."""
        kelvin = float(np.mean([row[TEMPERATURE] for row in rows]))
        bias = np.array([row[BIAS] for row in rows])
        didv = np.array([row[DIDV] for row in rows])
        usable = np.isfinite(bias) & np.isfinite(didv) & (didv > 0)
        if not usable.all():
            log.warning("spectrum at %.3f K: %d of %d points left out (not finite or dI/dV <= 0)",
                        kelvin, np.count_nonzero(~usable), usable.size)
        try:  # the fit apart, so that a spectrum whose fit fails is still recorded and normalises the next
            spectrum = gap_fit.analyse_spectrum(
                bias[usable], didv[usable], kelvin, self.gap_window_mV * 1e-3, self.background_degree, SMOOTH_POINTS,
                series_resistance_ohm=self.series_resistance_ohm, fit=False).spectrum
        except ValueError as error:
            log.warning("spectrum at %.3f K not processed: %s", kelvin, error)
            return
        self.background = spectrum.background
        self.emit_analysis("spectrum", temperature_K=kelvin, bias_mV=spectrum.bias_mV.tolist(),
                           conductance=spectrum.conductance_norm.tolist(), method=self.method,
                           background=_polynomial_record(spectrum.background))
        if self.fit_btk:
            self.analyse_in_background(functools.partial(self._fit, kelvin, spectrum))

    def restore(self, records: list[dict]) -> None:
        """The gaps of the spectra fitted before a resume, so that the BCS fit goes on using them,
        and the last spectrum's background, so that the next spectrum's normalised column is
        filled. A spectrum whose BTK fit had not ended when the run stopped (its record is
        there, its fit's is not) is fitted again from its record once the run goes on."""
        self.gaps = [(record["temperature_K"], record["delta_meV"]["value"])
                     for record in records if record["kind"] == "btk" and record["success"]]
        spectra = [record for record in records if record["kind"] == "spectrum" and "background" in record]
        if spectra:
            self.background = Polynomial(**spectra[-1]["background"])
        fitted = {record.get("segment") for record in records if record["kind"] == "btk"}
        self._unfitted = [(record.get("segment"), record["temperature_K"], _spectrum_of(record))
                          for record in spectra if record.get("segment") not in fitted] if self.fit_btk else []

    def _fit(self, kelvin: float, spectrum: conductance.Spectrum) -> None:
        """BTK fit of one spectrum, then BCS through the gaps so far (on the analysis thread,
        one spectrum after the other, so ``self.gaps`` grows in the order measured)."""
        try:
            btk = gap_fit.fit_spectrum(spectrum, kelvin)
        except Exception as error:  # a fit must never end the measurement
            log.warning("BTK fit at %.3f K failed: %s", kelvin, error)
            return
        self.emit_analysis("btk", **btk.as_dict())
        if not btk.success:
            log.warning("BTK fit at %.3f K did not converge (%s); its gap is left out of the BCS fit",
                        kelvin, btk.message)
            return
        self.gaps.append((kelvin, btk.delta_meV.value))
        if len(self.gaps) < 3:
            return
        temperatures, deltas = (list(column) for column in zip(*self.gaps))
        try:
            bcs = gap_fit.fit_gap(temperatures, deltas)
        except Exception as error:
            log.warning("BCS fit of the gap at %d temperatures failed: %s", len(temperatures), error)
            return
        self.emit_analysis("gap_fit", temperature_K=temperatures, delta_meV=deltas, **bcs.as_dict())
