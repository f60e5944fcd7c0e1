"""Live views of the steps that follow a resistance against temperature, and of the actions.

    RTSweepView      R(T) of each leg (cooling blue, warming red) with the Tc criteria marked as
                     the sweep crosses them
    FieldSeriesView  the R(T) family, one curve per field, and mu0 Hc2(T) with WHH and GL fits
    AgingView        the R(T) of each visit and Tc against the days since synthesis, with the
                     exponential relaxation of paper 002
    ActionView       temperature, setpoint and field against time (wait, set_temperature,
                     set_field)

Every number drawn comes from the live fitters of :mod:`daclab.analysis.live`, which run the
batch functions (transition_temperatures, fit_hc2, fit_aging) on their own threads: ``add_rows``
only stores the points and hands them to the fitters, ``refresh`` draws the new points and,
when a fitter has a newer result, the markers and fit lines. The same path serves a finished run
opened again: its rows in batches, ``end_step``, ``wait_for_fits``, ``refresh``.

Where a Tc(H) or Tc(days) point comes from: each curve's own transition fit, once the curve is
complete (the next field or visit has started, the procedure's "tc" record for it has come, or
the step has ended) and its fitter has seen every point of it. The procedure's "tc" record only
says that a leg is over; its numbers are those of the same function on the same points, so the
view and the data file agree, and a re-plot without any record gives the same plot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QVBoxLayout, QWidget

from daclab.analysis.aging import day_crossed
from daclab.analysis.fitting import finite_number
from daclab.analysis.live import (
    Hc2Fits,
    LiveAging,
    LiveHc2,
    LiveResult,
    LiveTransition,
    transition_markers,
)
from daclab.analysis.transitions import (
    CRITERIA,
    MINIMUM_POINTS,
    TransitionResult,
    cooling_warming,
)
from daclab.gui.events import StepInfo
from daclab.gui.fastplot import LiveCurve
from daclab.analyze import FIELD_MATCH_RELATIVE, FIELD_MATCH_T
from daclab.gui.view_base import MeasurementView
from daclab.limits import LimitError, parse_numbers
from daclab.procedures.aging import DAYS, VISIT
from daclab.procedures.rt_sweep import (
    COOLING,
    DIRECTION,
    ELAPSED,
    FIELD,
    RESISTANCE,
    SETPOINT,
    TEMPERATURE,
    WARMING,
)
from daclab.report import with_error

__all__ = ["ActionView", "AgingView", "FieldSeriesView", "RTSweepView"]

# Paper colours on a white page, as in the report's figures.
INK = "k"
LEG_COLOURS = {COOLING: "#1f77b4", WARMING: "#d62728"}
OTHER_LEG_COLOUR = "#404040"
FIT_COLOURS = {"whh": "#d62728", "gl": "#1f77b4"}
CRITERION_SYMBOLS = {"onset": "t", "midpoint": "o", "zero": "s", "intersection": "d"}
FAMILY_COLOURS = pg.colormap.get("viridis")
FAMILY_COLOUR_SPAN = 0.85  # viridis' last yellows vanish on white
LINE_WIDTH = 1.6
MARKER_SIZE = 10
LEGEND_TEXT = "9pt"
MAX_FAMILY_LEGEND_ENTRIES = 8  # a taller legend would hide the curves at 600 px
WHH_CURVE_POINTS = 200
AGING_CURVE_POINTS = 300
FITTER_CLOSE_TIMEOUT_S = 1.0


# ---- small helpers -------------------------------------------------------------------------


def _styled_plot(plot: pg.PlotItem, bottom: tuple[str, str], left: tuple[str, str], si_prefix_left: bool = False,
                 legend_corner: tuple[int, int] | None = (0, 0)) -> pg.PlotItem:
    """Black axes and labels with units on a white page; SI prefixes only where asked (mOhm yes,
    kK or kT never); a framed legend in the given corner (0 = left/top, 1 = right/bottom)."""
    for side, (label, units), prefix in (("bottom", bottom, False), ("left", left, si_prefix_left)):
        axis = plot.getAxis(side)
        axis.setPen(INK)
        axis.setTextPen(INK)
        axis.enableAutoSIPrefix(prefix)
        axis.setLabel(label, units=units, color=INK)
    for side in ("top", "right"):  # a closed frame, as in the papers; it also keeps the last tick label inside
        plot.showAxis(side)
        axis = plot.getAxis(side)
        axis.setPen(INK)
        axis.setStyle(showValues=False)
    plot.showGrid(x=True, y=True, alpha=0.15)
    for side in ("top", "right"):
        plot.getAxis(side).setGrid(False)  # one grid, from the labelled axes
    if legend_corner is not None:
        offset = (10 if legend_corner[0] == 0 else -10, 10 if legend_corner[1] == 0 else -10)
        plot.addLegend(offset=offset, labelTextColor=INK, labelTextSize=LEGEND_TEXT, brush=pg.mkBrush(255, 255, 255, 215),
                       pen=pg.mkPen("#b0b0b0"))
    return plot


def _graphics(view: QWidget) -> pg.GraphicsLayoutWidget:
    """The view's one drawing surface, filling it."""
    graphics = pg.GraphicsLayoutWidget()
    graphics.setBackground("w")
    layout = QVBoxLayout(view)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(graphics)
    return graphics


def _pen(colour, style=Qt.PenStyle.SolidLine, width: float = LINE_WIDTH) -> Any:
    return pg.mkPen(colour, width=width, style=style)


def _legend_proxy(plot: pg.PlotItem, name: str, symbol: str) -> pg.ScatterPlotItem:
    """An empty scatter whose only use is a legend entry explaining a marker shape."""
    item = pg.ScatterPlotItem(name=name, symbol=symbol, size=MARKER_SIZE, pen=pg.mkPen(INK, width=1.5),
                              brush=pg.mkBrush("w"))
    plot.addItem(item)
    return item


def _legend_cell(graphics: pg.GraphicsLayoutWidget, row: int, col: int, width: float | None = None,
                 height: float | None = None, columns: int = 1, right: bool = False) -> pg.LegendItem:
    """A frameless legend in a layout cell of its own (its top left corner, or top right), for
    plots whose every corner may hold data."""
    cell = graphics.addLayout(row=row, col=col)
    if width is not None:
        cell.setFixedWidth(width)
    if height is not None:
        cell.setFixedHeight(height)
    legend = pg.LegendItem(offset=(-10, 0) if right else (12, 10), labelTextColor=INK,
                           labelTextSize=LEGEND_TEXT, frame=False, colCount=columns)
    legend.setParentItem(cell)
    return legend


def _value_at(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """y of the curve at x, interpolated on the curve sorted by x (NaN pairs left out)."""
    keep = np.isfinite(xs) & np.isfinite(ys)
    if not keep.any() or math.isnan(x):
        return math.nan
    order = np.argsort(xs[keep])
    return float(np.interp(x, xs[keep][order], ys[keep][order]))


def _mean(values: Iterable[float]) -> float:
    finite = [value for value in values if not math.isnan(value)]
    return float(np.mean(finite)) if finite else math.nan


def _parameter_numbers(parameters: dict[str, Any], name: str) -> list[float]:
    """A list parameter of the step, typed as text ("0, 3, 6") or given as a list; [] when absent
    or unreadable (the view then learns the values from the rows)."""
    value = parameters.get(name)
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [number for number in map(finite_number, value) if not math.isnan(number)]
    try:
        return parse_numbers(name, str(value), "", "")
    except LimitError:
        return []


def _family_colour(position: float):
    """Colour of a curve at ``position`` (0 to 1) along a family (fields, visits)."""
    return FAMILY_COLOURS.mapToQColor(FAMILY_COLOUR_SPAN * min(max(position, 0.0), 1.0))


def _positions(values: list[float]) -> list[float]:
    """Where each value lies between the smallest and the largest (0 for a single value)."""
    finite = [value for value in values if not math.isnan(value)]
    if len(finite) < 2 or max(finite) == min(finite):
        return [0.0] * len(values)
    low, span = min(finite), max(finite) - min(finite)
    return [0.0 if math.isnan(value) else (value - low) / span for value in values]


def _is_fitted(result: LiveResult | None, count: int, minimum: int) -> bool:
    """Whether a live fitter fed ``count`` points has a result for all of them (or never will)."""
    return count < minimum or (result is not None and result.points >= count)


def _finish_all(finishers: Iterable[Callable[[float], Any]], deadline: float) -> None:
    for finish in finishers:
        finish(max(deadline - time.monotonic(), 0.0))


# ---- one R(T) leg --------------------------------------------------------------------------


class _Leg:
    """One R(T) curve of a view: its points, its live transition fit and its markers.

    A leg is a run of rows with one sweep direction (and one field, one visit). ``group`` is
    what it belongs to (a field, a visit; None for a plain sweep).
    """

    def __init__(self, plot: pg.PlotItem, label: str, colour, direction: str, group: Hashable,
                 style=Qt.PenStyle.SolidLine):
        self.label = label
        self.direction = direction
        self.group = group
        self.style = style
        self.curve = LiveCurve(plot, name=label, pen=_pen(colour, style))
        self.transition = LiveTransition()
        self.fields: list[float] = []
        self.days: list[float] = []
        self.complete = False
        self.taken = False  # its Tc has gone into the Hc2 or aging fit
        self.drawn_generation = 0
        self.drawn_criteria: dict[str, float] = {}
        self.drawn_result: TransitionResult | None = None
        self.markers = pg.ScatterPlotItem(size=MARKER_SIZE, pxMode=True)
        self.markers.setZValue(10)
        plot.addItem(self.markers)
        self.colour = colour

    def add(self, temperature_K: list[float], resistance_ohm: list[float], field_T: list[float],
            days: list[float]) -> None:
        """Points of the leg, in the order measured (one append of the curve for all of them)."""
        self.curve.append(temperature_K, resistance_ohm)
        for kelvin, ohm in zip(temperature_K, resistance_ohm):
            self.transition.add(kelvin, ohm)
        self.fields.extend(field_T)
        self.days.extend(days)

    def end(self) -> None:
        """No more points: the fitter fits what it has, then its thread stops (no join)."""
        if not self.complete:
            self.complete = True
            self.transition.close(timeout=0.0)
            self.drawn_generation = 0  # the newest fit is drawn as it is, even without a transition

    def fitted(self) -> bool:
        return _is_fitted(self.transition.latest, len(self.transition), MINIMUM_POINTS)

    def result(self) -> TransitionResult | None:
        """The transition drawn now (None before one is found)."""
        return self.drawn_result

    def criteria(self) -> dict[str, float]:
        """The criteria drawn now, in K (those not found left out)."""
        return self.drawn_criteria

    def field_T(self) -> float:
        return _mean(self.fields)

    def day_crossed(self, temperature_K: float) -> float:
        """Days since synthesis of the reading nearest ``temperature_K``: when the sweep crossed
        that Tc (a decaying Tc belongs to the moment it was measured)."""
        return day_crossed(self.curve.x, self.days, temperature_K)

    def set_colour(self, colour) -> None:
        self.colour = colour
        self.curve.item.setPen(_pen(colour, self.style))
        self.drawn_generation = 0  # markers take the new colour at the next refresh

    def draw_markers(self, criteria: Iterable[str]) -> bool:
        """Markers of ``criteria`` at the newest fit; True when something new was drawn.

        A criterion sits on the curve at its temperature; the intersection sits on the
        normal-state line, where the two straight lines of its construction meet.
        """
        latest = self.transition.latest
        generation = latest.generation if latest is not None else 0
        if generation == self.drawn_generation:
            return False
        self.drawn_generation = generation
        found = transition_markers(latest)
        if not found and self.drawn_criteria and not self.complete:
            # A sweep stopped on the steepest part of the drop can hide it from the fit for a point
            # or two; the markers found before stay until the next fit finds it again.
            return False
        self.drawn_criteria = found
        self.drawn_result = latest.value if found else None
        spots = []
        for name in criteria:
            kelvin = self.drawn_criteria.get(name, math.nan)
            if math.isnan(kelvin):
                continue
            if name == "intersection":
                result = self.drawn_result
                ohm = result.normal_slope_ohm_per_K * kelvin + result.normal_intercept_ohm
            else:
                ohm = _value_at(kelvin, self.curve.x, self.curve.y)
            spots.append({"pos": (kelvin, ohm), "symbol": CRITERION_SYMBOLS[name], "brush": pg.mkBrush("w"),
                          "pen": pg.mkPen(self.colour, width=2.0)})
        self.markers.setData(spots)
        return True

    def close(self) -> None:
        self.transition.close(timeout=FITTER_CLOSE_TIMEOUT_S)


# ---- what the three R(T) views share -----------------------------------------------------------


class _RTView(MeasurementView):
    """Rows cut into legs (a new leg when the direction, or the subclass' group, changes, or
    after the procedure said the leg is over), each with its live transition fit."""

    marked_criteria: tuple[str, ...] = CRITERIA

    def __init__(self, step: StepInfo, parent: QWidget | None = None):
        super().__init__(step, parent)
        self.graphics = _graphics(self)
        self._legs: list[_Leg] = []
        self._drawn_state: list[tuple[bool, int]] = []
        self._ended = False

    # the subclasses' part
    def _group(self, row: dict[str, Any]) -> Hashable:
        return None

    def _same_group(self, group: Hashable, other: Hashable) -> bool:
        return group == other

    def _new_leg(self, direction: str, group: Hashable, row: dict[str, Any]) -> _Leg:
        raise NotImplementedError

    def _legs_added(self) -> None:
        """After new legs were made (recolour the family, thin the legend)."""

    def _feed_fits(self) -> None:
        """Hand the Tc of completed curves to the series fit (Hc2, aging); GUI thread."""

    def _series_fitters(self) -> list:
        return []

    def _draw_fits(self) -> None:
        """Draw the series fit if it has a newer result."""

    def _draw_text(self) -> None:
        """Numbers beside the plots, after markers changed."""

    # MeasurementView
    @property
    def curves(self) -> dict[str, LiveCurve]:
        """Every leg's curve by its legend label (a repeated label gets " (2)"...)."""
        named: dict[str, LiveCurve] = {}
        for leg in self._legs:
            name, number = leg.label, 2
            while name in named:
                name, number = f"{leg.label} ({number})", number + 1
            named[name] = leg.curve
        return named

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        made = False
        columns: tuple[list[float], ...] = ([], [], [], [])  # T, R, field, days of the rows of the newest leg

        def flush() -> None:
            if columns[0]:
                self._legs[-1].add(*columns)
                for column in columns:
                    column.clear()

        for row in rows:
            direction = str(row.get(DIRECTION, "") or "")
            group = self._group(row)
            leg = self._legs[-1] if self._legs else None
            if leg is None or leg.complete or leg.direction != direction or not self._same_group(leg.group, group):
                flush()
                if leg is not None:
                    leg.end()
                self._legs.append(self._new_leg(direction, group, row))
                made = True
            for column, name in zip(columns, (TEMPERATURE, RESISTANCE, FIELD, DAYS)):
                column.append(finite_number(row.get(name)))
        flush()
        if made:
            self._legs_added()

    def add_analysis(self, record: dict[str, Any]) -> None:
        """A "tc" record closes the leg it describes (the procedure has finished it)."""
        if record.get("kind") != "tc" or not self._legs:
            return
        leg = self._legs[-1]
        if record.get("direction") in (None, leg.direction) and self._record_matches(leg, record):
            leg.end()

    def _record_matches(self, leg: _Leg, record: dict[str, Any]) -> bool:
        """Whether a "tc" record is about ``leg`` beyond its direction (its field, its visit)."""
        return True

    def end_step(self, status: str) -> None:
        self._ended = True
        for leg in self._legs:
            leg.end()

    def refresh(self) -> None:
        for leg in self._legs:
            leg.curve.refresh()
            leg.draw_markers(self.marked_criteria)
        state = [(leg.complete, leg.drawn_generation) for leg in self._legs]
        if state != self._drawn_state:  # new markers, or a leg now known to be whole
            self._drawn_state = state
            self._draw_text()
        self._feed_fits()
        self._draw_fits()

    def wait_for_fits(self, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        _finish_all((leg.transition.finish for leg in self._legs), deadline)
        self._feed_fits()
        _finish_all((fitter.finish for fitter in self._series_fitters()), deadline)
        return all(leg.fitted() for leg in self._legs) and self._series_fitted()

    def _series_fitted(self) -> bool:
        return True

    def close_fits(self) -> None:
        for leg in self._legs:
            leg.close()
        for fitter in self._series_fitters():
            fitter.close(timeout=FITTER_CLOSE_TIMEOUT_S)


# ---- R(T) sweep ---------------------------------------------------------------------------------


def _criteria_text(criteria: dict[str, float], final: bool) -> str:
    """'onset 171.20 K, midpoint ...' for the criteria found; ``final``: the curve is whole."""
    found = [f"{name} {criteria[name]:.2f} K" for name in CRITERIA if name in criteria]
    if found:
        return ", ".join(found)
    return "no transition found" if final else "no transition yet"


class RTSweepView(_RTView):
    """R(T) of an RTSweep step: one curve per leg (cooling blue, warming red), and the Tc
    criteria of each leg marked as its live transition fit finds them (onset first while
    cooling, then midpoint, zero; the intersection on the normal-state line). Below the plot,
    the criteria of each leg in K, and for a cooling-warming pair their mean and lag.

    ``overlays()`` keys: "leg" (direction of the newest leg with a transition), "onset_K",
    "midpoint_K", "zero_K", "intersection_K" (that leg's criteria found so far), "legs"
    ({leg label: {criterion_K: value}} for every leg with a transition) and, once a cooling and
    a warming leg both have one, "pair_mean_K" and "pair_lag_K" ({criterion: K}, warming minus
    cooling).
    """

    TEXT_LINES = 4
    LEGEND_PX = 330

    def __init__(self, step: StepInfo, parent: QWidget | None = None):
        super().__init__(step, parent)
        self.plot = _styled_plot(self.graphics.addPlot(row=0, col=0, colspan=2), ("Temperature", "K"),
                                 ("Resistance", "Ω"), si_prefix_left=True, legend_corner=None)
        self.text = self.graphics.addLabel("", row=1, col=0, justify="left", color=INK, size="10pt")
        # room for a cooling-warming pair (two legs, mean, lag) from the start: the plot does not jump
        self.text.setText("<br>".join(["&nbsp;"] * self.TEXT_LINES))
        text_height = self.text.item.boundingRect().height()
        self.text.setFixedHeight(text_height)  # else the row shares the plot's spare height
        self._text_height = text_height
        # the legend beside the numbers, below the plot: a cooling-warming pair in a narrow window
        # leaves no corner of the plot empty
        self.legend = _legend_cell(self.graphics, 1, 1, width=self.LEGEND_PX, height=text_height, columns=3)
        for name, symbol in CRITERION_SYMBOLS.items():
            self.legend.addItem(_legend_proxy(self.plot, name, symbol), name)
        self._pair: tuple[dict[str, float], dict[str, float]] | None = None

    def _new_leg(self, direction: str, group: Hashable, row: dict[str, Any]) -> _Leg:
        count = sum(leg.direction == direction for leg in self._legs)
        label = (direction or "sweep") + (f" {count + 1}" if count else "")
        return _Leg(self.plot, label, LEG_COLOURS.get(direction, OTHER_LEG_COLOUR), direction, group)

    def _legs_added(self) -> None:
        shown = {sample.item for sample, _ in self.legend.items}
        for leg in self._legs:
            if leg.curve.item not in shown:
                self.legend.addItem(leg.curve.item, leg.label)

    def _draw_text(self) -> None:
        lines = [f"<b style='color:{pg.mkColor(leg.colour).name()}'>{leg.label}</b>: "
                 f"{_criteria_text(leg.criteria(), leg.complete and leg.fitted())}" for leg in self._legs]
        self._pair = self._cooling_warming()
        if self._pair is not None:
            mean, lag = self._pair
            lines.append(f"<b>mean</b>: {_criteria_text(mean, True)}")
            if "midpoint" in lag:
                lines.append(f"<b>lag</b> (warming − cooling) at the midpoint: {lag['midpoint']:.2f} K")
        self.text.setText("<br>".join(lines))
        self.text.setFixedHeight(max(self._text_height, self.text.item.boundingRect().height()))  # a retaken leg
        self.graphics.ci.layout.activate()  # a longer text takes its room now, not at the next event

    def _cooling_warming(self) -> tuple[dict[str, float], dict[str, float]] | None:
        """Mean and lag per criterion of the first complete cooling and warming legs (the
        thermometer leads the sample in opposite directions, so the mean cancels the lag)."""
        found = {}
        for leg in self._legs:
            result = leg.result()
            if leg.complete and leg.direction in (COOLING, WARMING) and leg.direction not in found and result:
                found[leg.direction] = result
        if len(found) < 2:
            return None
        pair = cooling_warming(found[COOLING], found[WARMING])
        keep = [name for name in CRITERIA if not math.isnan(pair.mean_K[name])]
        return {name: pair.mean_K[name] for name in keep}, {name: pair.lag_K[name] for name in keep}

    def overlays(self) -> dict[str, Any]:
        drawn = {leg.label: leg for leg in self._legs if leg.criteria()}
        if not drawn:
            return {}
        newest = list(drawn.values())[-1]
        values: dict[str, Any] = {"leg": newest.direction}
        values.update({f"{name}_K": kelvin for name, kelvin in newest.criteria().items()})
        values["legs"] = {name: {f"{c}_K": k for c, k in leg.criteria().items()} for name, leg in drawn.items()}
        if self._pair is not None:
            values["pair_mean_K"], values["pair_lag_K"] = dict(self._pair[0]), dict(self._pair[1])
        return values


# ---- the two family views: a series of curves and a fit through their Tc ------------------------------


def _chosen_criterion(parameters: dict[str, Any], name: str) -> str:
    """The step's Tc criterion parameter, the procedures' default (midpoint) when absent."""
    value = str(parameters.get(name, "midpoint"))
    return value if value in CRITERIA else "midpoint"


def _set_legend_text(legend: pg.LegendItem, item, text: str) -> None:
    label = legend.getLabel(item)
    if label is not None and label.text != text:
        label.setText(text)
        legend.updateSize()


def _legend_entries(count: int, limit: int = MAX_FAMILY_LEGEND_ENTRIES) -> list[int]:
    """Which of ``count`` curves of a family get a legend entry: all up to ``limit``, else every
    k-th from the first, and always the last (the colours run in between)."""
    stride = max(1, math.ceil(count / limit))
    chosen = list(range(0, count, stride))
    if count and chosen[-1] != count - 1:
        chosen[-1] = count - 1  # the last replaces the one before it, so the count stays within limit
    return chosen


class _FamilyView(_RTView):
    """Left, the R(T) family: one colour per group of legs (a field, a visit) along the series,
    the step's Tc criterion marked on each curve; right, the series plot (Hc2(T), Tc(days)) with
    the Tc of each complete group and the live fit through them.

    The family's legend has a column of its own between the panels: depending on the window
    and on how far Tc moves (a few K with the field, 80 K over an aging series), any corner of
    the family plot may hold curves.
    """

    criterion_parameter = ""
    LEGEND_COLUMN_PX = 130

    def __init__(self, step: StepInfo, parent: QWidget | None, series_x: tuple[str, str],
                 series_y: tuple[str, str], points_label: str):
        super().__init__(step, parent)
        self.criterion = _chosen_criterion(step.parameters, self.criterion_parameter)
        self.marked_criteria = (self.criterion,)
        self.family = _styled_plot(self.graphics.addPlot(row=0, col=0), ("Temperature", "K"), ("Resistance", "Ω"),
                                   si_prefix_left=True, legend_corner=None)
        marker = _legend_proxy(self.family, f"{self.criterion} T<sub>c</sub>", CRITERION_SYMBOLS[self.criterion])
        self.family_legend = _legend_cell(self.graphics, 0, 1, width=self.LEGEND_COLUMN_PX)
        self.family_legend.addItem(marker, marker.name())
        # upper right: a falling Hc2(T) or Tc(days) leaves it empty
        self.series_plot = _styled_plot(self.graphics.addPlot(row=0, col=2), series_x, series_y, legend_corner=(1, 0))
        self.points = pg.ScatterPlotItem(name=points_label, symbol="o", size=9, brush=pg.mkBrush(INK), pen=None)
        self.points.setZValue(10)
        self.series_plot.addItem(self.points)
        self._series: list[tuple[float, float]] = []  # the points of the series plot, (x, y)
        self._fed = 0  # groups handed to the series fit
        self._drawn_points = 0
        self._drawn_generation = 0

    # the subclasses' part
    def _group_value(self, legs: list[_Leg]) -> float:
        """Where a group sits along the series (its colour)."""
        raise NotImplementedError

    def _planned_values(self) -> list[float]:
        """The series' planned values from the step's parameters (the colour scale's ends)."""
        return []

    def _group_complete(self, legs: list[_Leg], last: bool) -> bool:
        return all(leg.complete and leg.fitted() for leg in legs)

    def _take(self, legs: list[_Leg]) -> tuple[float, float] | None:
        """Feed a complete group to the series fit; its point on the series plot (None: no Tc)."""
        raise NotImplementedError

    def _draw_series_fit(self, latest: LiveResult) -> None:
        raise NotImplementedError

    def _series_fitter(self):
        raise NotImplementedError

    # shared
    def _groups(self) -> list[list[_Leg]]:
        """The legs grouped (consecutive legs of one field or visit), in the order measured."""
        groups: list[list[_Leg]] = []
        for leg in self._legs:
            if groups and self._same_group(groups[-1][0].group, leg.group):
                groups[-1].append(leg)
            else:
                groups.append([leg])
        return groups

    def _legs_added(self) -> None:
        """Recolour along the series (a new field or visit can widen it) and choose the legend's
        entries: a group's first leg, at most MAX_FAMILY_LEGEND_ENTRIES of them."""
        groups = self._groups()
        scale = _positions([self._group_value(legs) for legs in groups] + self._planned_values())
        for legs, position in zip(groups, scale):
            for leg in legs:
                leg.set_colour(_family_colour(position))
        legend = self.family_legend
        curve_items = {leg.curve.item for leg in self._legs}
        for sample, _ in list(legend.items):
            if sample.item in curve_items:
                legend.removeItem(sample.item)
        for index in _legend_entries(len(groups)):
            legend.addItem(groups[index][0].curve.item, groups[index][0].label)

    def _feed_fits(self) -> None:
        groups = self._groups()
        for index, legs in enumerate(groups):
            if legs[0].taken:
                continue
            if not self._group_complete(legs, index == len(groups) - 1):
                break  # groups go in in the order measured
            for leg in legs:
                leg.taken = True
            self._fed += 1
            point = self._take(legs)
            if point is not None:
                self._series.append(point)

    def _series_fitters(self) -> list:
        return [self._series_fitter()]

    def _draw_fits(self) -> None:
        if len(self._series) != self._drawn_points:
            self._drawn_points = len(self._series)
            self.points.setData([x for x, _ in self._series], [y for _, y in self._series])
        latest = self._series_fitter().latest
        if latest is not None and latest.generation != self._drawn_generation:
            self._drawn_generation = latest.generation
            self._draw_series_fit(latest)


# ---- field series -----------------------------------------------------------------------------------


class FieldSeriesView(_FamilyView):
    """R(T) curves of a FieldSeries step, one per field (viridis from the lowest field to the
    highest, legend "0 T", "3 T"...), each with its Tc of the step's ``hc2_criterion``
    (default midpoint) marked; beside them mu0 Hc2(T): the Tc of every finished field and the
    WHH and GL fits through them (daclab.analysis.live.LiveHc2, hence hc2_fit.fit_hc2), drawn
    from 0 K to their Tc, their Hc2(0) with standard error in the legend.

    A field's Tc is the transition fit of its whole curve, taken when the curve is complete
    (the field changes, the procedure's "tc" record for it arrives, or the step ends).

    ``overlays()`` keys: "criterion"; "fields_T" (|mu0 H|, T) and "tc_K" (the Tc(H) points
    drawn, in the order measured); per model m in ("whh", "gl") once fitted: "hc2_0_{m}_T",
    "hc2_0_{m}_stderr_T", "tc_{m}_K", "tc_{m}_stderr_K".
    """

    criterion_parameter = "hc2_criterion"
    MODELS = ("whh", "gl")

    def __init__(self, step: StepInfo, parent: QWidget | None = None):
        criterion = _chosen_criterion(step.parameters, self.criterion_parameter)
        super().__init__(step, parent, ("Temperature", "K"), ("μ<sub>0</sub>H<sub>c2</sub>", "T"),
                         f"T<sub>c</sub> ({criterion}) of each field")
        self._planned_fields = _parameter_numbers(step.parameters, "fields_T")
        self.fit_lines = {
            "whh": pg.PlotDataItem([], [], name="WHH", pen=_pen(FIT_COLOURS["whh"])),
            "gl": pg.PlotDataItem([], [], name="GL", pen=_pen(FIT_COLOURS["gl"], Qt.PenStyle.DashLine)),
        }
        for line in self.fit_lines.values():
            self.series_plot.addItem(line)
        self.hc2 = LiveHc2(criteria=(self.criterion,), models=self.MODELS)
        self._drawn_fits: dict[str, Any] = {}
        self._label_fits()

    @property
    def hc2_plot(self) -> pg.PlotItem:
        return self.series_plot

    def _group(self, row: dict[str, Any]) -> float:
        return finite_number(row.get(FIELD))

    def _same_group(self, group: float, other: float) -> bool:
        if math.isnan(group) or math.isnan(other):
            return True  # an unread field stays with the curve it sits in
        return abs(group - other) <= FIELD_MATCH_T + FIELD_MATCH_RELATIVE * abs(group)

    def _record_matches(self, leg: _Leg, record: dict[str, Any]) -> bool:
        return self._same_group(leg.group, finite_number(record.get("field_T")))

    def _new_leg(self, direction: str, group: float, row: dict[str, Any]) -> _Leg:
        label = "field not read" if math.isnan(group) else f"{round(group, 2):g} T"
        return _Leg(self.family, label, OTHER_LEG_COLOUR, direction, group)

    def _group_value(self, legs: list[_Leg]) -> float:
        return _mean(leg.field_T() for leg in legs)

    def _planned_values(self) -> list[float]:
        return self._planned_fields

    def _groups(self) -> list[list[_Leg]]:
        """Each curve on its own: a field series measures one leg per field, and a file with two
        at one field (cooling and warming) gives a Tc(H) point for each."""
        return [[leg] for leg in self._legs]

    def _take(self, legs: list[_Leg]) -> tuple[float, float] | None:
        (leg,) = legs
        latest = leg.transition.latest
        found = latest.value if latest is not None and latest.ok else {}
        field = leg.field_T()
        self.hc2.add(field, found)
        kelvin = found.criteria()[self.criterion] if isinstance(found, TransitionResult) else math.nan
        if math.isnan(kelvin) or math.isnan(field):
            return None
        return kelvin, abs(field)

    def _series_fitter(self) -> LiveHc2:
        return self.hc2

    def _series_fitted(self) -> bool:
        return _is_fitted(self.hc2.latest, self._fed, 1)

    def _draw_series_fit(self, latest: LiveResult) -> None:
        fits: Hc2Fits | None = latest.value if latest.ok else None
        self._drawn_fits = dict(fits.fits.get(self.criterion, {})) if fits is not None else {}
        for model, line in self.fit_lines.items():
            fit = self._drawn_fits.get(model)
            if fit is None:
                line.setData([], [])
                continue
            grid = np.linspace(0.0, fit.tc_K.value, WHH_CURVE_POINTS)
            line.setData(grid, fit.curve(grid))
        self._label_fits()

    def _label_fits(self) -> None:
        for model, line in self.fit_lines.items():
            name = model.upper()
            fit = self._drawn_fits.get(model)
            if fit is not None:
                text = f"μ<sub>0</sub>H<sub>c2</sub>(0) = {with_error(fit.hc2_0_T, 'T')} ({name})"
            elif len(self._series) < 3:
                text = f"{name} fit from 3 fields on"
            else:
                text = f"{name} fit failed"
            _set_legend_text(self.series_plot.legend, line, text)

    def overlays(self) -> dict[str, Any]:
        drawn = self._series[:self._drawn_points]
        if not drawn:
            return {}
        values: dict[str, Any] = {"criterion": self.criterion, "fields_T": [field for _, field in drawn],
                                  "tc_K": [kelvin for kelvin, _ in drawn]}
        for model, fit in self._drawn_fits.items():
            values[f"hc2_0_{model}_T"] = fit.hc2_0_T.value
            values[f"hc2_0_{model}_stderr_T"] = fit.hc2_0_T.stderr
            values[f"tc_{model}_K"] = fit.tc_K.value
            values[f"tc_{model}_stderr_K"] = fit.tc_K.stderr
        return values


# ---- aging ------------------------------------------------------------------------------------------


class AgingView(_FamilyView):
    """R(T) of every visit of an Aging step (viridis from the first visit to the last, warming
    legs dashed, a legend of at most eight visits beside the plot), each with its Tc of the
    step's ``aging_criterion`` (default midpoint) marked; beside them Tc against the days since
    synthesis with the exponential relaxation Tc(d) = Tc_inf + (Tc_0 - Tc_inf) exp(-d / tau)
    (paper 002; daclab.analysis.live.LiveAging, hence aging.fit_aging) from the fourth visit on.

    A visit's Tc is the mean of its legs through the transition (a cooling-warming pair cancels
    the thermal lag), dated at the days since synthesis when each leg crossed it; it is taken
    when the visit is complete (all its legs reported by the procedure's "tc" records, the next
    visit started, or the step ended).

    ``overlays()`` keys: "criterion"; "days" and "tc_K" (the points drawn); once fitted "tc0_K",
    "tc_final_K", "tau_days", each with its standard error ("tc0_stderr_K", "tc_final_stderr_K",
    "tau_stderr_days"), and "initial_rate_K_per_day" = -(Tc_0 - Tc_inf) / tau, the slope at
    synthesis.
    """

    criterion_parameter = "aging_criterion"
    def __init__(self, step: StepInfo, parent: QWidget | None = None):
        criterion = _chosen_criterion(step.parameters, self.criterion_parameter)
        super().__init__(step, parent, ("Time since synthesis", "days"), ("T<sub>c</sub>", "K"),
                         f"T<sub>c</sub> ({criterion}) of each visit")
        self._legs_per_visit = 2 if step.parameters.get("direction") == f"{COOLING} and {WARMING}" else 1
        visits = finite_number(step.parameters.get("visits"))
        self._planned_visits = [] if math.isnan(visits) else [1.0, visits]
        self.fit_line = pg.PlotDataItem([], [], name="exponential fit from 4 visits on", pen=_pen(FIT_COLOURS["whh"]))
        self.series_plot.addItem(self.fit_line)
        # Tc_inf as a dotted segment over the fitted days, so the autorange shows where Tc settles
        self.final_line = pg.PlotDataItem([], [], pen=_pen(FIT_COLOURS["whh"], Qt.PenStyle.DotLine, 1.2))
        self.series_plot.addItem(self.final_line)
        self.aging = LiveAging()
        self._drawn_fit = None

    @property
    def aging_plot(self) -> pg.PlotItem:
        return self.series_plot

    def _group(self, row: dict[str, Any]) -> float:
        return finite_number(row.get(VISIT))

    def _same_group(self, group: float, other: float) -> bool:
        return math.isnan(group) or math.isnan(other) or group == other

    def _record_matches(self, leg: _Leg, record: dict[str, Any]) -> bool:
        return self._same_group(leg.group, finite_number(record.get("visit")))

    def _new_leg(self, direction: str, group: float, row: dict[str, Any]) -> _Leg:
        days = finite_number(row.get(DAYS))
        label = "visit" if math.isnan(group) else f"visit {group:g}"
        if not math.isnan(days):
            label += f" ({days:.1f} d)"
        style = Qt.PenStyle.DashLine if direction == WARMING else Qt.PenStyle.SolidLine
        return _Leg(self.family, label, OTHER_LEG_COLOUR, direction, group, style)

    def _group_value(self, legs: list[_Leg]) -> float:
        return float(legs[0].group)

    def _planned_values(self) -> list[float]:
        return self._planned_visits

    def _group_complete(self, legs: list[_Leg], last: bool) -> bool:
        whole = not last or self._ended or len(legs) >= self._legs_per_visit
        return whole and super()._group_complete(legs, last)

    def _take(self, legs: list[_Leg]) -> tuple[float, float] | None:
        tc, days = [], []
        for leg in legs:
            latest = leg.transition.latest
            found = latest.value if latest is not None and latest.ok and latest.value.has_transition else None
            kelvin = found.criteria()[self.criterion] if found is not None else math.nan
            if not math.isnan(kelvin):
                tc.append(kelvin)
                days.append(leg.day_crossed(kelvin))
        if not tc:
            return None
        point = (_mean(days), _mean(tc))
        self.aging.add(*point)
        return point

    def _series_fitter(self) -> LiveAging:
        return self.aging

    def _series_fitted(self) -> bool:
        return _is_fitted(self.aging.latest, len(self.aging), self.aging.minimum_points)

    def _draw_series_fit(self, latest: LiveResult) -> None:
        fit = self._drawn_fit = latest.value if latest.ok else None
        if fit is None:
            self.fit_line.setData([], [])
            self.final_line.setData([], [])
            _set_legend_text(self.series_plot.legend, self.fit_line, "exponential fit failed")
            return
        grid = np.linspace(0.0, 1.05 * float(np.max(fit.days)), AGING_CURVE_POINTS)
        self.fit_line.setData(grid, fit.predict(grid))
        self.final_line.setData(grid[[0, -1]], [fit.tc_final_K.value] * 2)
        _set_legend_text(self.series_plot.legend, self.fit_line,
                         f"fit: τ = {with_error(fit.tau_days, 'days')}<br>"
                         f"T<sub>c,0</sub> = {with_error(fit.tc0_K, 'K')}<br>"
                         f"T<sub>c,∞</sub> = {with_error(fit.tc_final_K, 'K')} (dotted)")

    def overlays(self) -> dict[str, Any]:
        drawn = self._series[:self._drawn_points]
        if not drawn:
            return {}
        values: dict[str, Any] = {"criterion": self.criterion, "days": [days for days, _ in drawn],
                                  "tc_K": [tc for _, tc in drawn]}
        fit = self._drawn_fit
        if fit is not None:
            values.update(tc0_K=fit.tc0_K.value, tc0_stderr_K=fit.tc0_K.stderr, tc_final_K=fit.tc_final_K.value,
                          tc_final_stderr_K=fit.tc_final_K.stderr, tau_days=fit.tau_days.value,
                          tau_stderr_days=fit.tau_days.stderr,
                          initial_rate_K_per_day=-(fit.tc0_K.value - fit.tc_final_K.value) / fit.tau_days.value)
        return values


# ---- actions ----------------------------------------------------------------------------------------


class ActionView(MeasurementView):
    """A wait, set_temperature or set_field step: thermometer and setpoint against time above,
    the field against time below (the x axes linked), in minutes since the step started.

    No fits: ``overlays()`` gives the newest readings drawn, "temperature_K", "setpoint_K" and
    "field_T" (NaN when not read), and "elapsed_min".
    """

    TEMPERATURE_COLOUR = LEG_COLOURS[COOLING]
    SETPOINT_COLOUR = "#7f7f7f"
    FIELD_COLOUR = "#7b3294"
    LEGEND_ROW_PX = 26
    LEFT_AXIS_PX = 70

    def __init__(self, step: StepInfo, parent: QWidget | None = None):
        super().__init__(step, parent)
        self.graphics = _graphics(self)
        time_axis = ("Elapsed time", "min")
        # the legend above the plots: a ramp or a settling curve may pass through any corner
        legend = _legend_cell(self.graphics, 0, 0, height=self.LEGEND_ROW_PX, columns=2, right=True)
        self.temperature_plot = _styled_plot(self.graphics.addPlot(row=1, col=0), time_axis, ("Temperature", "K"),
                                             legend_corner=None)
        self.temperature_plot.getAxis("bottom").setLabel(None)  # the field plot below names the shared axis
        self.field_plot = _styled_plot(self.graphics.addPlot(row=2, col=0), time_axis, ("Field", "T"),
                                       legend_corner=None)
        self.field_plot.setXLink(self.temperature_plot)
        for plot in (self.temperature_plot, self.field_plot):
            plot.getAxis("left").setWidth(self.LEFT_AXIS_PX)  # the two time axes line up
        self.graphics.ci.layout.setRowStretchFactor(1, 3)  # the temperature is what a step is waiting for
        self.graphics.ci.layout.setRowStretchFactor(2, 2)
        # the setpoint first, so that the thermometer is drawn over it where they coincide
        self.setpoint = LiveCurve(self.temperature_plot, pen=_pen(self.SETPOINT_COLOUR, Qt.PenStyle.DashLine))
        self.temperature = LiveCurve(self.temperature_plot, pen=_pen(self.TEMPERATURE_COLOUR))
        self.field = LiveCurve(self.field_plot, pen=_pen(self.FIELD_COLOUR))
        legend.addItem(self.temperature.item, "thermometer")
        legend.addItem(self.setpoint.item, "setpoint")
        self._field_read = False
        self._drawn: dict[str, float] = {}

    @property
    def curves(self) -> dict[str, LiveCurve]:
        return {"temperature": self.temperature, "setpoint": self.setpoint, "field": self.field}

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        minutes = np.array([finite_number(row.get(ELAPSED)) for row in rows]) / 60.0
        self.temperature.append(minutes, [finite_number(row.get(TEMPERATURE)) for row in rows])
        self.setpoint.append(minutes, [finite_number(row.get(SETPOINT)) for row in rows])
        fields = np.array([finite_number(row.get(FIELD)) for row in rows])
        self.field.append(minutes, fields)
        self._field_read |= bool(np.isfinite(fields).any())

    def refresh(self) -> None:
        drew = [curve.refresh() for curve in self.curves.values()]
        if not any(drew):
            return
        self.field_plot.setTitle(None if self._field_read else "field not read (no magnet, or its supply does not answer)", color=INK)
        newest = {name: float(curve.y[-1]) if len(curve) else math.nan for name, curve in self.curves.items()}
        self._drawn = {"temperature_K": newest["temperature"], "setpoint_K": newest["setpoint"],
                       "field_T": newest["field"],
                       "elapsed_min": float(self.temperature.x[-1]) if len(self.temperature) else math.nan}

    def overlays(self) -> dict[str, Any]:
        return dict(self._drawn)
