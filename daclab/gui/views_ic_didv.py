"""Live views of the critical-current and point-contact spectroscopy steps.

Both follow the contract of :class:`~daclab.gui.view_base.MeasurementView`: ``add_rows`` only
stores the points (and hands finished curves to the live fitters of :mod:`daclab.analysis.live`,
which fit on their own threads); ``refresh`` is the only method that draws. A finished run is
re-plotted the same way: its rows in batches, then ``end_step``.

Where one curve ends and the next begins is read from the rows themselves, so that a data file
alone is enough: a critical-current temperature ends when the setpoint changes, a spectrum when
the bias current jumps back to -I_max. Live, the procedure's own records ("ic", "spectrum") close
a curve as soon as it is complete, without waiting for the next one to start.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from daclab.analysis.bcs import bcs_gap_ratio
from daclab.analysis.constants import BCS_2DELTA_OVER_KTC
from daclab.analysis.critical import (
    JC_MODELS,
    critical_current_from_iv,
    differential_resistance,
)
from daclab.analysis.fitting import finite_number
from daclab.analysis.live import LiveGap, LiveJc, LiveResult, LiveSpectrum
from daclab.analysis.pinning import critical_current_density_A_cm2
from daclab.gui.events import StepInfo
from daclab.gui.fastplot import LiveCurve
from daclab.gui.view_base import MeasurementView
from daclab.limits import LimitError, check_choice, parse_numbers
from daclab.procedures import differential_conductance as didv_procedure
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.differential_conductance import DifferentialConductance

__all__ = ["ConductanceView", "CriticalCurrentView"]

# Columns of CriticalCurrent.DATA_COLUMNS used here.
IC_SETPOINT, IC_TEMPERATURE, IC_POLARITY = "Setpoint (K)", "Temperature (K)", "Polarity"
IC_CURRENT, IC_VOLTAGE = "Current (A)", "Voltage (V)"

SPECTRUM_OFFSET = 0.5  # vertical shift between successive spectra, as in paper 001's Fig. 4b
FIT_CURVE_POINTS = 400
CLOSE_TIMEOUT_S = 5.0
LEGEND_COLUMNS = 6
LEGEND_LINE_PX = 20


# ---- helpers shared by the two views ------------------------------------------------------------

def _setting(step: StepInfo, procedure: type, name: str) -> Any:
    """A step parameter, or the procedure's default when the sequence left it out."""
    value = step.parameters.get(name)
    return getattr(procedure, name).default if value is None else value


def _float_setting(step: StepInfo, procedure: type, name: str) -> float:
    value = _setting(step, procedure, name)
    number = finite_number(value)
    if not math.isfinite(number):
        raise LimitError(f"{name} = {value!r} is not a number; the step's parameters must give one")
    return number


def _bool_setting(step: StepInfo, procedure: type, name: str) -> bool:
    value = _setting(step, procedure, name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def _planned_temperatures(step: StepInfo) -> list[float]:
    """The step's temperature list, for the colour scale; empty when it cannot be read."""
    try:
        return parse_numbers("temperatures_K", step.parameters.get("temperatures_K", ""), "K", "60, 65")
    except LimitError:
        return []


class _TemperatureColours:
    """Cold curves blue, warm ones red (turbo colour map over the planned temperatures).

    The ends of the map are left out: they are too dark on the black background of the plots.
    Without a usable plan, colours go round a hue circle in the order the curves come.
    """

    def __init__(self, planned_K: list[float]):
        self._low, self._high = (min(planned_K), max(planned_K)) if planned_K else (math.nan, math.nan)
        self._map = pg.colormap.get("turbo")

    def __call__(self, temperature_K: float, index: int) -> QColor:
        span = self._high - self._low
        if span > 0 and self._low - 0.1 * span <= temperature_K <= self._high + 0.1 * span:
            position = 0.15 + 0.75 * min(max((temperature_K - self._low) / span, 0.0), 1.0)
            return self._map.map(position, mode="qcolor")
        return pg.intColor(index, hues=9, minValue=200)


def _contrast_colour(alpha: int = 255) -> QColor:
    """Near white on a dark plot background, near black on a light one (pyqtgraph's option)."""
    background = pg.mkColor(pg.getConfigOption("background"))
    level = 235 if background.lightness() < 128 else 25
    return QColor(level, level, level, alpha)


def _estimate_text(name: str, value: float, stderr: float, unit: str, digits: int = 3) -> str:
    """'name = value ± stderr unit' with the error's precision (no ± when there is none)."""
    if not math.isfinite(stderr) or stderr <= 0:
        return f"{name} = {value:.{digits}g} {unit}".rstrip()
    decimals = max(0, 1 - int(math.floor(math.log10(stderr))))
    return f"{name} = {value:.{decimals}f} ± {stderr:.{decimals}f} {unit}".rstrip()


def _label_axis(plot: pg.PlotItem, side: str, text: str, units: str | None = None, si_prefix: bool = False) -> None:
    """Axis title with its unit; the SI prefix only where a prefixed unit reads right (mV, mΩ)."""
    axis = plot.getAxis(side)
    axis.enableAutoSIPrefix(si_prefix)
    plot.setLabel(side, text, units=units)


class _PlotsView(MeasurementView):
    """Plots in one graphics layout above a line of text with the fit results."""

    def __init__(self, step: StepInfo, parent: QWidget | None = None):
        super().__init__(step, parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # room for the two lines of results from the start, so the plots do not jump when they come
        self.summary.setMinimumHeight(2 * self.summary.fontMetrics().lineSpacing() + 6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.summary)

    def _plot(self, row: int, column: int, title: str, rowspan: int = 1) -> pg.PlotItem:
        plot = self.graphics.addPlot(row=row, col=column, rowspan=rowspan, title=title)
        plot.showGrid(x=True, y=True, alpha=0.2)
        return plot

    def _set_column_shares(self, *shares: int) -> None:
        for column, share in enumerate(shares):
            self.graphics.ci.layout.setColumnStretchFactor(column, share)


def _wait_for(fitters: list, done, timeout_s: float) -> bool:
    """finish() each live fitter within one overall time-out, then whether ``done()`` holds."""
    deadline = time.monotonic() + timeout_s
    for fitter in fitters:
        fitter.finish(max(deadline - time.monotonic(), 0.0))
    return done()


def _series_fitted(fitter, minimum_points: int) -> bool:
    """A LiveSeries has a result for all its points (or too few points to be fitted)."""
    count = len(fitter)
    if count < minimum_points:
        return True
    latest = fitter.latest
    return latest is not None and latest.points == count


# ---- critical current -------------------------------------------------------------------------

class _IcSweep:
    """One polarity's pulses at one temperature: its I-V and |dV/dI| curves and its Ic."""

    def __init__(self, polarity: int, iv: LiveCurve, dvdi: LiveCurve, ic_line: pg.InfiniteLine):
        self.polarity = polarity
        self.iv, self.dvdi, self.ic_line = iv, dvdi, ic_line
        self.current_A: list[float] = []
        self.voltage_V: list[float] = []
        self.temperature_K: list[float] = []
        self.ic_A = math.nan  # as drawn
        self.stale = False

    def add(self, current_A: float, voltage_V: float, temperature_K: float) -> None:
        self.current_A.append(current_A)
        self.voltage_V.append(voltage_V)
        self.temperature_K.append(temperature_K)
        self.iv.append(current_A * 1e3, voltage_V)
        self.stale = True

    def critical_current_A(self, criterion_V: float) -> float:
        """Ic of the sweep as measured so far (NaN until the criterion is passed)."""
        try:
            return critical_current_from_iv(self.current_A, self.voltage_V, criterion_V)
        except ValueError:  # nothing readable yet (no point, or every voltage NaN)
            return math.nan

    def redraw(self, criterion_V: float) -> None:
        self.iv.refresh()
        if len(self.current_A) >= 2:
            self.dvdi.set_data(np.asarray(self.current_A) * 1e3,
                               differential_resistance(self.current_A, self.voltage_V))
        self.ic_A = self.critical_current_A(criterion_V)
        if math.isfinite(self.ic_A):
            self.ic_line.setPos(self.polarity * self.ic_A * 1e3)
            self.ic_line.show()
        else:
            self.ic_line.hide()
        self.stale = False


@dataclasses.dataclass(eq=False)
class _IcTemperature:
    """The sweeps at one setpoint, and what this temperature gives the Jc(T) fit once complete."""

    setpoint_K: float
    colour: QColor
    sweeps: dict[int, _IcSweep] = dataclasses.field(default_factory=dict)
    complete: bool = False
    temperature_K: float = math.nan  # mean measured temperature, known once complete
    fit_value: float = math.nan  # Jc in A/cm2 (or Ic in mA without a cross-section) given to the fit

    def mean_temperature_K(self) -> float:
        readings = [t for sweep in self.sweeps.values() for t in sweep.temperature_K if math.isfinite(t)]
        return float(np.mean(readings)) if readings else math.nan


class CriticalCurrentView(_PlotsView):
    """Pulsed I-V of a critical-current step: V(I), |dV/dI|(I) and Jc(T) with its pinning fit.

    Left: the I-V curves (current in mA, voltage with an SI prefix), one colour per
    temperature (one legend row above both plots), the voltage criterion as a dashed line and
    each curve's Ic as a symbol on it; below, |dV/dI| (numpy.gradient of each sweep) with Ic as
    a vertical line. Right: Jc(T) = Ic / (width x thickness) of the positive sweep at each
    temperature, in MA/cm2 as in paper 001, and the pinning-law fit (``jc_model``), drawn from
    0 K but shown over the measured temperatures (zoom out for Jc(0)). With an unknown
    cross-section (width or thickness 0) the right panel shows and fits Ic(T) in mA instead.
    A temperature joins the fit once complete: at the procedure's "ic" record, when the
    setpoint changes, or at ``end_step``.

    ``overlays()`` keys (temperatures keyed by setpoint in K; only what is drawn):
      ic_mA {T: Ic of the positive sweep}, ic_negative_mA {T: |Ic| of the negative sweep},
      temperature_K {T: mean measured temperature of a complete setpoint},
      jc_A_cm2 {T: Jc} (with a cross-section), jc_model,
      jc0_A_cm2 and jc0_stderr_A_cm2 (with a cross-section) or ic0_mA and ic0_stderr_mA
      (without), pinning_tc_K and pinning_tc_stderr_K (the fitted Tc of the pinning law),
      fit_points (temperatures the fit used), fit_message (why there is no fit, when there is none).
    """

    def __init__(self, step: StepInfo, parent: QWidget | None = None):
        super().__init__(step, parent)
        self.criterion_V = _float_setting(step, CriticalCurrent, "criterion_uV") * 1e-6
        width_um = _float_setting(step, CriticalCurrent, "width_um")
        thickness_um = _float_setting(step, CriticalCurrent, "thickness_um")
        self.cross_section_um = (width_um, thickness_um) if width_um > 0 and thickness_um > 0 else None
        self.jc_model = check_choice("jc_model", str(_setting(step, CriticalCurrent, "jc_model")), tuple(JC_MODELS))
        self._colours = _TemperatureColours(_planned_temperatures(step))
        self._temperatures: list[_IcTemperature] = []
        self._live_jc = LiveJc(self.jc_model)
        self._drawn_fit: LiveResult | None = None
        self._points_stale = False
        self._summary_stale = True
        self._build_plots()

    # unit of the right panel: MA/cm2 for Jc, mA for Ic
    @property
    def _fit_scale(self) -> float:
        return 1e-6 if self.cross_section_um else 1.0

    def _build_plots(self) -> None:
        # One legend row above the two current plots, which share the colours of the temperatures:
        # inside either plot it would cover curves that fill the whole width.
        self.legend = pg.LegendItem(colCount=LEGEND_COLUMNS, labelTextSize="8pt", verSpacing=-4)
        self.graphics.addItem(self.legend, row=0, col=0)
        self.iv_plot = self._plot(1, 0, "I-V (pulsed)")
        _label_axis(self.iv_plot, "bottom", "Current", "mA")
        _label_axis(self.iv_plot, "left", "Voltage", "V", si_prefix=True)
        self.criterion_lines = []
        for sign in (1, -1):
            line = pg.InfiniteLine(sign * self.criterion_V, angle=0,
                                   pen=pg.mkPen((160, 160, 160), style=Qt.PenStyle.DashLine))
            self.iv_plot.addItem(line)
            self.criterion_lines.append(line)
        self.ic_symbols = pg.ScatterPlotItem(symbol="d", size=11, pen=pg.mkPen(_contrast_colour(), width=1),
                                             brush=pg.mkBrush(160, 160, 160))
        self.iv_plot.addItem(self.ic_symbols)
        self._add_legend_entry(self.ic_symbols, f"Ic (criterion {self.criterion_V * 1e6:g} µV: dashed)")

        self.dvdi_plot = self._plot(2, 0, "|dV/dI| (dashed: Ic)")
        _label_axis(self.dvdi_plot, "bottom", "Current", "mA")
        _label_axis(self.dvdi_plot, "left", "|dV/dI|", "Ω", si_prefix=True)
        self.dvdi_plot.setXLink(self.iv_plot)

        self.fit_plot = self._plot(0, 1, "Jc(T)" if self.cross_section_um else "Ic(T)", rowspan=3)
        self.fit_plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.fit_plot.setAutoVisible(y=True)  # y follows what the x range (set on the points) shows
        _label_axis(self.fit_plot, "bottom", "Temperature", "K")
        if self.cross_section_um:
            width, thickness = self.cross_section_um
            _label_axis(self.fit_plot, "left", f"Jc ({width:g} × {thickness:g} µm²)", "MA/cm²")
            name = "Jc (positive sweep)"
        else:
            _label_axis(self.fit_plot, "left", "Ic, cross-section unknown", "mA")
            name = "Ic (positive sweep)"
        self.fit_points = LiveCurve(self.fit_plot, name=name, pen=None, symbol="o", symbol_size=8,
                                    brush=pg.mkBrush(255, 170, 60))
        self.fit_curve: pg.PlotDataItem | None = None  # added at the first fit, so the legend shows only what is there
        self._set_column_shares(3, 2)
        for row, share in enumerate((0, 1, 1)):
            self.graphics.ci.layout.setRowStretchFactor(row, share)

    # ---- feeding --------------------------------------------------------------------------

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            setpoint = finite_number(row.get(IC_SETPOINT))
            current = self._temperatures[-1] if self._temperatures else None
            if current is None or current.complete or not _same_setpoint(current.setpoint_K, setpoint):
                if current is not None:
                    self._complete(current)
                current = self._new_temperature(setpoint)
            polarity = -1 if finite_number(row.get(IC_POLARITY)) < 0 else 1
            sweep = current.sweeps.get(polarity) or self._new_sweep(current, polarity)
            sweep.add(finite_number(row.get(IC_CURRENT)), finite_number(row.get(IC_VOLTAGE)), finite_number(row.get(IC_TEMPERATURE)))

    def add_analysis(self, record: dict[str, Any]) -> None:
        """An "ic" record says the procedure is done with a temperature: it joins the fit now."""
        if record.get("kind") != "ic" or not self._temperatures:
            return
        current = self._temperatures[-1]
        if _same_setpoint(current.setpoint_K, finite_number(record.get("setpoint_K"))):
            self._complete(current)

    def end_step(self, status: str) -> None:
        if self._temperatures:
            self._complete(self._temperatures[-1])

    def _new_temperature(self, setpoint_K: float) -> _IcTemperature:
        temperature = _IcTemperature(setpoint_K, self._colours(setpoint_K, len(self._temperatures)))
        self._temperatures.append(temperature)
        return temperature

    def _add_legend_entry(self, item, name: str) -> None:
        """An entry of the legend row; the row keeps the height of its lines (a legend in a
        layout would otherwise take as much height as a plot)."""
        self.legend.addItem(item, name)
        rows = math.ceil(len(self.legend.items) / LEGEND_COLUMNS)
        self.graphics.ci.layout.setRowFixedHeight(0, rows * LEGEND_LINE_PX)

    def _new_sweep(self, temperature: _IcTemperature, polarity: int) -> _IcSweep:
        pen = pg.mkPen(temperature.colour, width=2)
        # one legend entry per temperature: the first sweep carries the name
        name = None if temperature.sweeps else f"{temperature.setpoint_K:g} K"
        iv = LiveCurve(self.iv_plot, pen=pen, symbol="o", symbol_size=4, brush=temperature.colour)
        if name is not None:
            self._add_legend_entry(iv.item, name)
        dvdi = LiveCurve(self.dvdi_plot, pen=pen)
        line = pg.InfiniteLine(angle=90, pen=pg.mkPen(temperature.colour, width=1, style=Qt.PenStyle.DashLine))
        line.hide()
        self.dvdi_plot.addItem(line)
        sweep = _IcSweep(polarity, iv, dvdi, line)
        temperature.sweeps[polarity] = sweep
        return sweep

    def _complete(self, temperature: _IcTemperature) -> None:
        """Hand the temperature's point to the Jc(T) fit (once): Ic of the positive sweep, as the
        procedure reports it, at the mean temperature of all its pulses."""
        if temperature.complete:
            return
        temperature.complete = True
        temperature.temperature_K = temperature.mean_temperature_K()
        positive = temperature.sweeps.get(1)
        ic_A = positive.critical_current_A(self.criterion_V) if positive else math.nan
        if self.cross_section_um:
            temperature.fit_value = float(critical_current_density_A_cm2(ic_A, *self.cross_section_um))
        else:
            temperature.fit_value = ic_A * 1e3
        self._live_jc.add(temperature.temperature_K, temperature.fit_value)
        self._points_stale = True

    # ---- drawing ----------------------------------------------------------------------------

    def refresh(self) -> None:
        markers_stale = False
        for temperature in self._temperatures:
            for sweep in temperature.sweeps.values():
                if sweep.stale:
                    sweep.redraw(self.criterion_V)
                    markers_stale = True
        if markers_stale:
            self._draw_ic_symbols()
            self._summary_stale = True
        if self._points_stale:
            done = [t for t in self._temperatures if t.complete]
            self.fit_points.set_data([t.temperature_K for t in done], [t.fit_value * self._fit_scale for t in done])
            self._points_stale = False
            self._focus_fit_plot()
        result = self._live_jc.latest
        if result is not None and (self._drawn_fit is None or result.generation != self._drawn_fit.generation):
            self._draw_fit(result)
            self._focus_fit_plot()
            self._summary_stale = True
        if self._summary_stale:
            self.summary.setText(self._summary_text())
            self._summary_stale = False

    def _focus_fit_plot(self) -> None:
        """Show the measured temperatures up to the fitted Tc: the points matter at the cryostat,
        and the curve down to 0 K (Jc(0), paper 001's inset) is one zoom-out ("View All") away."""
        measured = [t.temperature_K for t in self._temperatures if t.complete and math.isfinite(t.temperature_K)]
        if not measured:
            return
        low, high = min(measured), max(measured)
        fit = self._drawn_fit.value if self._drawn_fit is not None and self._drawn_fit.ok else None
        if fit is not None and math.isfinite(fit.tc_K.value):
            high = max(high, fit.tc_K.value)
        span = max(high - low, 1.0)
        self.fit_plot.setXRange(low - 0.15 * span, high + 0.05 * span, padding=0)
        self.fit_plot.enableAutoRange(axis="y")

    def _draw_ic_symbols(self) -> None:
        spots = [{"pos": (sweep.polarity * sweep.ic_A * 1e3, sweep.polarity * self.criterion_V),
                  "brush": pg.mkBrush(temperature.colour)}
                 for temperature in self._temperatures for sweep in temperature.sweeps.values()
                 if math.isfinite(sweep.ic_A)]
        self.ic_symbols.setData(spots)
        self.criterion_lines[1].setVisible(any(-1 in t.sweeps for t in self._temperatures))

    def _draw_fit(self, result: LiveResult) -> None:
        self._drawn_fit = result
        if not result.ok:
            if self.fit_curve is not None:
                self.fit_curve.setData([], [])
            return
        fit = result.value
        top = max(fit.tc_K.value, float(np.max(fit.temperature_K))) * 1.03
        grid = np.linspace(0.0, top, FIT_CURVE_POINTS)
        if self.fit_curve is None:
            self.fit_curve = self.fit_plot.plot(name=f"{fit.model} pinning fit", pen=pg.mkPen((90, 220, 110), width=2))
        self.fit_curve.setData(grid, fit.curve(grid) * self._fit_scale)

    def _fit_text(self) -> str:
        result = self._drawn_fit
        quantity = "Jc(T)" if self.cross_section_um else "Ic(T)"
        if result is None:
            count = sum(1 for t in self._temperatures if t.complete)
            return f"{quantity} fit ({self.jc_model}): from 3 temperatures on ({count} so far)"
        if not result.ok:
            return f"{quantity} fit ({self.jc_model}) failed: {result.message}"
        fit = result.value
        if self.cross_section_um:
            zero = _scientific_estimate("Jc(0)", fit.jc0.value, fit.jc0.stderr, "A/cm²")
        else:
            zero = _estimate_text("Ic(0)", fit.jc0.value, fit.jc0.stderr, "mA")
        tc = _estimate_text("Tc of the law", fit.tc_K.value, fit.tc_K.stderr, "K")
        return f"{zero}, {tc}, model {fit.model} ({len(fit.temperature_K)} temperatures)"

    def _summary_text(self) -> str:
        found = []
        for temperature in self._temperatures:
            sweep = temperature.sweeps.get(1)
            if sweep is not None and math.isfinite(sweep.ic_A):
                found.append(f"{temperature.setpoint_K:g} K: {sweep.ic_A * 1e3:.2f} mA")
        ic_text = (f"Ic at {self.criterion_V * 1e6:g} µV: " + ", ".join(found)) if found else \
            f"Ic at {self.criterion_V * 1e6:g} µV: not reached yet"
        return f"{ic_text}<br>{self._fit_text()}"

    # ---- results ------------------------------------------------------------------------------

    def wait_for_fits(self, timeout_s: float = 10.0) -> bool:
        return _wait_for([self._live_jc], lambda: _series_fitted(self._live_jc, self._live_jc.minimum_points),
                         timeout_s)

    def overlays(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, polarity in (("ic_mA", 1), ("ic_negative_mA", -1)):
            values = {t.setpoint_K: t.sweeps[polarity].ic_A * 1e3 for t in self._temperatures
                      if polarity in t.sweeps and math.isfinite(t.sweeps[polarity].ic_A)}
            if values:
                out[key] = values
        complete = [t for t in self._temperatures if t.complete]
        if complete:
            out["temperature_K"] = {t.setpoint_K: t.temperature_K for t in complete}
            if self.cross_section_um:
                out["jc_A_cm2"] = {t.setpoint_K: t.fit_value for t in complete if math.isfinite(t.fit_value)}
        result = self._drawn_fit
        if result is None:
            return out
        out["jc_model"] = self.jc_model
        if not result.ok:
            out["fit_message"] = result.message
            return out
        fit = result.value
        if self.cross_section_um:
            out.update(jc0_A_cm2=fit.jc0.value, jc0_stderr_A_cm2=fit.jc0.stderr)
        else:
            out.update(ic0_mA=fit.jc0.value, ic0_stderr_mA=fit.jc0.stderr)
        out.update(pinning_tc_K=fit.tc_K.value, pinning_tc_stderr_K=fit.tc_K.stderr,
                   fit_points=[float(t) for t in fit.temperature_K])
        return out

    def close_fits(self) -> None:
        self._live_jc.close(CLOSE_TIMEOUT_S)


def _same_setpoint(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _scientific_estimate(name: str, value: float, stderr: float, unit: str) -> str:
    """'name = (4.003 ± 0.012) × 10^6 unit' for large numbers such as Jc in A/cm²."""
    if not (math.isfinite(value) and value > 0):
        return _estimate_text(name, value, stderr, unit)
    exponent = int(math.floor(math.log10(abs(value))))
    mantissa = _estimate_text("", value / 10**exponent, stderr / 10**exponent, "", 4).removeprefix(" = ")
    if "±" in mantissa:
        mantissa = f"({mantissa})"
    return f"{name} = {mantissa} × 10<sup>{exponent}</sup> {unit}"


# ---- differential conductance -----------------------------------------------------------------

@dataclasses.dataclass(eq=False)
class _Spectrum:
    """One bias sweep: its points as measured, its curve and, once processed, its BTK fit."""

    number: int  # 0 for the first spectrum of the step
    colour: QColor
    curve: LiveCurve
    temperature_K: list[float] = dataclasses.field(default_factory=list)
    mean_temperature_K: float = math.nan  # known once complete
    last_current_A: float = math.nan
    reference_S: float = math.nan  # dI/dV of the first point (-I_max, normal state): scales the live curve
    complete: bool = False
    fit_key: int | None = None  # its index in the LiveSpectrum
    result: LiveResult | None = None  # the processed spectrum and BTK fit drawn
    fit_item: pg.PlotDataItem | None = None

    @property
    def offset(self) -> float:
        return self.number * SPECTRUM_OFFSET

    def btk(self):
        """The BTK fit drawn, or None."""
        if self.result is None or not self.result.ok:
            return None
        return self.result.value.btk


class ConductanceView(_PlotsView):
    """Point-contact spectra of a differential-conductance step and the gap they give.

    Left: normalised dI/dV against bias in mV, one colour per temperature, each spectrum
    shifted up by SPECTRUM_OFFSET from the one before (paper 001, Fig. 4b). While a spectrum is
    measured its points show the procedure's normalised column (the previous spectrum's
    background), or for the first spectrum dI/dV over its first point at -I_max (normal state).
    Once complete it is processed and fitted as the procedure does
    (:class:`daclab.analysis.live.LiveSpectrum`: series resistance, 3-point average, background
    beyond the gap window, BTK with T fixed) and redrawn at junction bias with the BTK curve over
    it. Right: the gaps of the successful BTK fits; from three of them on, the BCS fit
    (:class:`daclab.analysis.live.LiveGap`) reduces them to Delta/Delta(0) against T/Tc on the
    weak-coupling BCS curve (paper 001, Fig. 4c); before, Delta in meV against T in K.

    ``overlays()`` keys (spectra keyed by their mean temperature in K, rounded to 0.01 K):
      delta_meV, delta_stderr_meV, z, gamma_meV {T: value} of the BTK fits drawn,
      spectrum_message {T: why a spectrum has no fit}, and once the BCS fit is drawn
      delta0_meV, delta0_stderr_meV, tc_K, tc_stderr_K, ratio_2delta_ktc, ratio_stderr.
    """

    def __init__(self, step: StepInfo, parent: QWidget | None = None):
        super().__init__(step, parent)
        procedure = DifferentialConductance
        fit_options = {} if _bool_setting(step, procedure, "fit_btk") else {"fit": False}
        self._live_spectrum = LiveSpectrum(
            _float_setting(step, procedure, "gap_window_mV") * 1e-3,
            degree=int(_float_setting(step, procedure, "background_degree")),
            smooth_points=didv_procedure.SMOOTH_POINTS,
            series_resistance_ohm=_float_setting(step, procedure, "series_resistance_ohm"),
            on_result=self._on_spectrum_fitted, **fit_options)
        self._live_gap = LiveGap()
        self._colours = _TemperatureColours(_planned_temperatures(step))
        self._spectra: list[_Spectrum] = []
        self._named_fit: pg.PlotDataItem | None = None  # the fit curve that carries the legend entry
        self._drawn_gap: LiveResult | None = None
        self._gap_points_stale = False
        self._summary_stale = True
        self._build_plots()

    def _build_plots(self) -> None:
        self.spectra_plot = self._plot(0, 0, "Point-contact spectra")
        self.spectra_plot.addLegend(offset=(8, 8), labelTextSize="8pt")
        _label_axis(self.spectra_plot, "bottom", "Bias", "mV")
        _label_axis(self.spectra_plot, "left", f"Normalised dI/dV (+{SPECTRUM_OFFSET:g} per spectrum)")

        self.gap_plot = self._plot(0, 1, "Gap against BCS")
        self.gap_plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.gap_points = LiveCurve(self.gap_plot, name="BTK gap", pen=None, symbol="o", symbol_size=8,
                                    brush=pg.mkBrush(255, 170, 60))
        self.gap_errors = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), beam=0.0, pen=pg.mkPen(255, 170, 60))
        self.gap_plot.addItem(self.gap_errors)
        self.bcs_curve: pg.PlotDataItem | None = None  # added with the first BCS fit
        self._gap_axes(reduced=False)
        self._set_column_shares(3, 2)

    def _gap_axes(self, reduced: bool) -> None:
        if reduced:
            _label_axis(self.gap_plot, "bottom", "T / Tc")
            _label_axis(self.gap_plot, "left", "Δ(T) / Δ(0)")
        else:
            _label_axis(self.gap_plot, "bottom", "Temperature", "K")
            _label_axis(self.gap_plot, "left", "Δ", "meV")

    # ---- feeding --------------------------------------------------------------------------

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            current_A = finite_number(row.get(didv_procedure.CURRENT))
            spectrum = self._spectra[-1] if self._spectra else None
            # every sweep runs from -I_max up: a current below the last one starts the next spectrum
            if spectrum is None or spectrum.complete or current_A < spectrum.last_current_A:
                if spectrum is not None:
                    self._complete(spectrum)
                spectrum = self._new_spectrum(finite_number(row.get(didv_procedure.TEMPERATURE)))
            self._add_point(spectrum, row, current_A)

    def _add_point(self, spectrum: _Spectrum, row: dict[str, Any], current_A: float) -> None:
        bias_V = finite_number(row.get(didv_procedure.BIAS))
        didv_S = finite_number(row.get(didv_procedure.DIDV))
        spectrum.last_current_A = current_A
        spectrum.temperature_K.append(finite_number(row.get(didv_procedure.TEMPERATURE)))
        usable = math.isfinite(bias_V) and math.isfinite(didv_S) and didv_S > 0
        if not usable:  # left out as the procedure leaves it out of its own processing
            return
        self._live_spectrum.add(bias_V, didv_S)
        if math.isnan(spectrum.reference_S):
            spectrum.reference_S = didv_S
        shown = finite_number(row.get(didv_procedure.NORMALISED))
        if not math.isfinite(shown):
            shown = didv_S / spectrum.reference_S
        spectrum.curve.append(bias_V * 1e3, shown + spectrum.offset)

    def add_analysis(self, record: dict[str, Any]) -> None:
        """A "spectrum" record: the procedure has finished the sweep being shown; fit it now."""
        if record.get("kind") == "spectrum" and self._spectra:
            self._complete(self._spectra[-1])

    def end_step(self, status: str) -> None:
        if self._spectra:
            self._complete(self._spectra[-1])

    def _new_spectrum(self, temperature_K: float) -> _Spectrum:
        number = len(self._spectra)
        colour = self._colours(temperature_K, number)
        name = f"{round(temperature_K, 1):g} K" if math.isfinite(temperature_K) else f"spectrum {number + 1}"
        curve = LiveCurve(self.spectra_plot, name=name, pen=None, symbol="o", symbol_size=5, brush=colour)
        spectrum = _Spectrum(number, colour, curve)
        self._spectra.append(spectrum)
        legend = self.spectra_plot.legend
        if self._named_fit is not None:  # "BTK fit" stays the last entry, after the temperatures
            legend.removeItem(self._named_fit)
            legend.addItem(self._named_fit, "BTK fit")
        # a long temperature series keeps its legend short: two columns
        legend.setColumnCount(1 if len(self._spectra) <= 6 else 2)
        return spectrum

    def _complete(self, spectrum: _Spectrum) -> None:
        if spectrum.complete:
            return
        spectrum.complete = True
        readings = [t for t in spectrum.temperature_K if math.isfinite(t)]
        spectrum.mean_temperature_K = float(np.mean(readings)) if readings else math.nan
        spectrum.fit_key = self._live_spectrum.complete(spectrum.mean_temperature_K)

    def _on_spectrum_fitted(self, result: LiveResult) -> None:
        """Worker thread of the spectrum fits: a converged gap goes on to the BCS fit (as in the
        procedure, a fit that did not converge is left out of it). Touches no widget."""
        btk = result.value.btk if result.ok else None
        if btk is not None and btk.success:
            self._live_gap.add_btk(btk)

    # ---- drawing ----------------------------------------------------------------------------

    def refresh(self) -> None:
        for spectrum in self._spectra:
            spectrum.curve.refresh()
            if spectrum.fit_key is None:
                continue
            result = self._live_spectrum.result(spectrum.fit_key)
            if result is not None and result is not spectrum.result:
                self._draw_spectrum(spectrum, result)
                self._gap_points_stale = self._summary_stale = True
        gap = self._live_gap.latest
        if gap is not None and gap is not self._drawn_gap:
            self._drawn_gap = gap
            self._gap_points_stale = self._summary_stale = True
        if self._gap_points_stale:
            self._draw_gap_panel()
            self._gap_points_stale = False
        if self._summary_stale:
            self.summary.setText(self._summary_text())
            self._summary_stale = False

    def _draw_spectrum(self, spectrum: _Spectrum, result: LiveResult) -> None:
        spectrum.result = result
        if not result.ok:  # the measured points stay as they are
            return
        processed = result.value.spectrum
        spectrum.curve.set_data(processed.bias_mV, processed.conductance_norm + spectrum.offset)
        btk = result.value.btk
        if btk is None:
            return
        grid = np.linspace(float(np.min(processed.bias_mV)), float(np.max(processed.bias_mV)), FIT_CURVE_POINTS)
        if spectrum.fit_item is None:
            first = self._named_fit is None
            spectrum.fit_item = self.spectra_plot.plot(name="BTK fit" if first else None,
                                                       pen=pg.mkPen(_contrast_colour(200), width=1))
            if first:
                self._named_fit = spectrum.fit_item
        spectrum.fit_item.setData(grid, btk.model(grid) + spectrum.offset)

    def _fitted_gaps(self) -> list:
        """The converged BTK fits drawn, in the order of the spectra."""
        return [btk for btk in (s.btk() for s in self._spectra) if btk is not None and btk.success]

    def _bcs_fit(self):
        gap = self._drawn_gap
        return gap.value if gap is not None and gap.ok else None

    def _draw_gap_panel(self) -> None:
        fits = self._fitted_gaps()
        temperature = np.array([fit.temperature_K for fit in fits])
        delta = np.array([fit.delta_meV.value for fit in fits])
        error = np.nan_to_num(np.array([fit.delta_meV.stderr for fit in fits]))
        bcs = self._bcs_fit()
        if bcs is not None:
            x_scale, y_scale = 1.0 / bcs.tc_K.value, 1.0 / bcs.delta0_meV.value
            if self.bcs_curve is None:
                self.bcs_curve = self.gap_plot.plot(name="BCS, weak coupling", pen=pg.mkPen((150, 150, 255), width=2))
            reduced = np.linspace(0.0, max(1.05, float(np.max(temperature * x_scale, initial=0.0)) * 1.02),
                                  FIT_CURVE_POINTS)
            self.bcs_curve.setData(reduced, bcs_gap_ratio(reduced))
        else:
            x_scale = y_scale = 1.0
            if self.bcs_curve is not None:
                self.bcs_curve.setData([], [])
        self._gap_axes(reduced=bcs is not None)
        self.gap_points.set_data(temperature * x_scale, delta * y_scale)
        self.gap_errors.setData(x=temperature * x_scale, y=delta * y_scale, top=error * y_scale,
                                bottom=error * y_scale)

    def _summary_text(self) -> str:
        lines = []
        last = next((s for s in reversed(self._spectra) if s.result is not None), None)
        if last is not None:
            lines.append(self._spectrum_text(last))
        bcs, gap = self._bcs_fit(), self._drawn_gap
        if bcs is not None:
            ratio = _estimate_text("2Δ(0)/k<sub>B</sub>Tc", bcs.ratio.value, bcs.ratio.stderr, "")
            lines.append(f"BCS fit of {bcs.points} gaps: "
                         f"{_estimate_text('Δ(0)', bcs.delta0_meV.value, bcs.delta0_meV.stderr, 'meV')}, "
                         f"{_estimate_text('Tc', bcs.tc_K.value, bcs.tc_K.stderr, 'K')}, {ratio} "
                         f"(weak coupling {BCS_2DELTA_OVER_KTC:.2f})")
        elif gap is not None:
            lines.append(f"BCS fit failed: {gap.message}")
        else:
            lines.append(f"BCS fit of Δ(T): from 3 fitted spectra on ({len(self._fitted_gaps())} so far)")
        return "<br>".join(lines)

    @staticmethod
    def _spectrum_text(spectrum: _Spectrum) -> str:
        result = spectrum.result
        label = f"{spectrum.mean_temperature_K:.4g} K"
        if not result.ok:
            return f"{label}: not processed ({result.message})"
        btk = result.value.btk
        if btk is None:
            return f"{label}: normalised (no BTK fit asked for)"
        text = (f"BTK at {label}: {_estimate_text('Δ', btk.delta_meV.value, btk.delta_meV.stderr, 'meV')}, "
                f"Z = {btk.z.value:.2f}, Γ = {btk.gamma_meV.value:.2g} meV")
        return text if btk.success else f"{text} (did not converge: {btk.message})"

    # ---- results ------------------------------------------------------------------------------

    def wait_for_fits(self, timeout_s: float = 10.0) -> bool:
        def done() -> bool:
            spectra = all(self._live_spectrum.result(s.fit_key) is not None for s in self._spectra
                          if s.fit_key is not None)
            return spectra and _series_fitted(self._live_gap, self._live_gap.minimum_points)

        # the spectra first: their results feed the gap fitter from the spectra's worker thread
        return _wait_for([self._live_spectrum, self._live_gap], done, timeout_s)

    def overlays(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spectrum in self._spectra:
            result = spectrum.result
            if result is None:
                continue
            key = round(spectrum.mean_temperature_K, 2)
            if not result.ok:
                out.setdefault("spectrum_message", {})[key] = result.message
                continue
            btk = result.value.btk
            if btk is None:
                continue
            out.setdefault("delta_meV", {})[key] = btk.delta_meV.value
            out.setdefault("delta_stderr_meV", {})[key] = btk.delta_meV.stderr
            out.setdefault("z", {})[key] = btk.z.value
            out.setdefault("gamma_meV", {})[key] = btk.gamma_meV.value
            if not btk.success:
                out.setdefault("spectrum_message", {})[key] = btk.message
        bcs = self._bcs_fit()
        if bcs is not None:
            out.update(delta0_meV=bcs.delta0_meV.value, delta0_stderr_meV=bcs.delta0_meV.stderr,
                       tc_K=bcs.tc_K.value, tc_stderr_K=bcs.tc_K.stderr,
                       ratio_2delta_ktc=bcs.ratio.value, ratio_stderr=bcs.ratio.stderr)
        return out

    def close_fits(self) -> None:
        self._live_spectrum.close(CLOSE_TIMEOUT_S)
        self._live_gap.close(CLOSE_TIMEOUT_S)
