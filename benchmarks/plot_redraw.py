"""Redraw time of a plot holding 10^6 points while the run is still adding to it.

The curve is an overnight-length R(T) cooldown: the simulated LaCeH10 cell's resistance
(daclab.sim sample model, Tc ~ 172 K) read 10^6 times while the temperature is swept from 300 K
to 2 K, with 10 mK of thermometer noise (so x is not monotonic), 0.2 % reading noise and a few
failed readings (NaN). Each "update" is what happens between two timer ticks of a live plot: 10
new points arrive, the plot takes them and the widget is painted. The paint is forced
synchronously with ``QWidget.grab()``, which renders the whole plot (axes, curve) into a pixmap,
so the time covers the real drawing and not only the hand-over of the data.

Side by side in the same run, on two plot widgets of the same size:

* daclab: a pyqtgraph PlotWidget with a :class:`daclab.gui.fastplot.LiveCurve` (append + refresh);
* pymeasure's stock ManagedWindow plot: ``pymeasure.display.widgets.PlotWidget`` with the
  ``ResultsCurve`` it creates for a run, fed through a pymeasure Results data file holding the
  same points; each update appends 10 rows to that file (as pymeasure's recorder does) and calls
  ``update_data()``, what the ManagedWindow's plot timer calls.

Goals: a daclab redraw under 30 ms with 10^6 points (also when zoomed in on a hundredth of the
sweep, where the curve is clipped to the view), and at least 30 times faster than the stock plot.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from pymeasure.experiment import Procedure, Results

GOAL_MS = 30.0
GOAL_SPEEDUP = 30.0
POINTS = 1_000_000
POINTS_PER_UPDATE = 10
DAC_UPDATES = 60
PYMEASURE_UPDATES = 8  # each takes a large fraction of a second
PLOT_SIZE_PX = (900, 500)
SAMPLE = "lace_h10_cell2"
COLUMNS = ["Temperature (K)", "Resistance (ohm)"]


class CooldownRecording(Procedure):
    """Only the shape of an R(T) run's data file, for pymeasure's Results."""

    DATA_COLUMNS = COLUMNS


def _application():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qtpy.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def overnight_cooldown(points: int = POINTS, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(measured temperature K, measured resistance ohm) of a 300 -> 2 K sweep, in reading order."""
    from daclab.sim.sample import load_sample

    rng = np.random.default_rng(seed)
    true_K = np.linspace(300.0, 2.0, points)
    resistance = load_sample(SAMPLE).resistance(true_K)
    measured_R = resistance * (1.0 + rng.normal(0.0, 2e-3, points)) + rng.normal(0.0, 2e-5, points)
    measured_K = true_K + rng.normal(0.0, 0.01, points)
    failed = rng.choice(points, size=10, replace=False)
    measured_R[failed] = np.nan
    return measured_K, measured_R


def _median_ms(update, count: int) -> tuple[float, float]:
    """Median time of ``update(k)`` over ``count`` calls, and median of the paint in it: update
    returns the perf_counter reading taken just before it paints."""
    totals, paints = [], []
    for k in range(count):
        start = time.perf_counter()
        painting = update(k)
        end = time.perf_counter()
        totals.append(end - start)
        paints.append(end - painting)
    return 1e3 * statistics.median(totals), 1e3 * statistics.median(paints)


def _daclab_redraw_ms(temperature: np.ndarray, resistance: np.ndarray,
                      zoom: tuple[float, float] | None) -> tuple[float, float]:
    import pyqtgraph as pg

    from daclab.gui.fastplot import LiveCurve

    history = POINTS - DAC_UPDATES * POINTS_PER_UPDATE
    widget = pg.PlotWidget(background="w")
    widget.resize(*PLOT_SIZE_PX)
    widget.show()
    plot = widget.getPlotItem()
    plot.setLabel("bottom", "Temperature", units="K")
    plot.setLabel("left", "Resistance", units="ohm")
    curve = LiveCurve(plot, name="R(T)", pen=pg.mkPen("b", width=1))
    curve.append(temperature[:history], resistance[:history])
    curve.refresh()
    if zoom is not None:
        plot.setXRange(*zoom, padding=0.0)
    widget.grab()

    def update(k: int) -> float:
        new = slice(history + k * POINTS_PER_UPDATE, history + (k + 1) * POINTS_PER_UPDATE)
        curve.append(temperature[new], resistance[new])
        curve.refresh()
        painting = time.perf_counter()
        widget.grab()
        return painting

    try:
        return _median_ms(update, DAC_UPDATES)
    finally:
        widget.close()


def _pymeasure_redraw_ms(temperature: np.ndarray, resistance: np.ndarray, folder: Path) -> tuple[float, float]:
    import pandas as pd
    from pymeasure.display.widgets import PlotWidget

    history = POINTS - PYMEASURE_UPDATES * POINTS_PER_UPDATE
    results = Results(CooldownRecording(), str(folder / "cooldown.csv"))
    frame = pd.DataFrame({COLUMNS[0]: temperature[:history], COLUMNS[1]: resistance[:history]})
    frame.to_csv(results.data_filename, mode="a", header=False, index=False, float_format="%.10g")

    panel = PlotWidget("Results Graph", COLUMNS, x_axis=COLUMNS[0], y_axis=COLUMNS[1])
    panel.plot_frame.timer.stop()  # the updates below stand in for its ticks
    widget = panel.plot_frame.plot_widget
    widget.setFixedSize(*PLOT_SIZE_PX)
    panel.show()
    curve = panel.new_curve(results)
    panel.load(curve)  # what the ManagedWindow does for a new run: reads the file, plots it
    widget.grab()

    def update(k: int) -> float:
        first = history + k * POINTS_PER_UPDATE
        with open(results.data_filename, "a", encoding=Results.ENCODING) as data_file:
            for i in range(first, first + POINTS_PER_UPDATE):
                data_file.write(results.format({COLUMNS[0]: temperature[i], COLUMNS[1]: resistance[i]}) + "\n")
        curve.update_data()
        painting = time.perf_counter()
        widget.grab()
        return painting

    try:
        return _median_ms(update, PYMEASURE_UPDATES)
    finally:
        panel.close()


def run() -> list[dict]:
    _application()
    temperature, resistance = overnight_cooldown()
    daclab_ms, daclab_paint_ms = _daclab_redraw_ms(temperature, resistance, zoom=None)
    zoom_K = (170.0, 173.0)  # the middle of the transition, 1 % of the sweep
    zoomed_ms, _ = _daclab_redraw_ms(temperature, resistance, zoom=zoom_K)
    with tempfile.TemporaryDirectory() as folder:
        pymeasure_ms, pymeasure_paint_ms = _pymeasure_redraw_ms(temperature, resistance, Path(folder))
    speedup = pymeasure_ms / daclab_ms
    return [
        {"name": f"Live R(T) plot, {POINTS:,} points, +{POINTS_PER_UPDATE} per redraw (daclab LiveCurve)",
         "daclab_ms": daclab_ms, "paint_ms": daclab_paint_ms, "updates": DAC_UPDATES,
         "goal": f"< {GOAL_MS:g} ms", "met": daclab_ms < GOAL_MS},
        {"name": f"Same, zoomed in on {zoom_K[0]:g}-{zoom_K[1]:g} K",
         "daclab_ms": zoomed_ms, "updates": DAC_UPDATES, "goal": f"< {GOAL_MS:g} ms", "met": zoomed_ms < GOAL_MS},
        {"name": "Same points in pymeasure's stock ManagedWindow plot (Results file + ResultsCurve.update_data)",
         "daclab_ms": daclab_ms, "pymeasure_ms": pymeasure_ms, "pymeasure_paint_ms": pymeasure_paint_ms,
         "pymeasure_updates": PYMEASURE_UPDATES, "speedup": speedup,
         "goal": f">= {GOAL_SPEEDUP:g}x faster", "met": speedup >= GOAL_SPEEDUP},
    ]
