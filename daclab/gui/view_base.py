"""What every measurement view offers the window, and which view shows which step kind.

A view is fed the same way live and when a finished run is opened from the browser: rows as the
procedure emitted them (``add_rows``), the procedure's own results (``add_analysis``), then
``end_step``. The window calls ``refresh`` about ten times a second on the GUI thread; that is
the only place a view draws, so a flood of points costs one redraw per tick.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from qtpy.QtWidgets import QWidget

from daclab.gui.events import StepInfo

# Black on white, as the papers' figures (and as the exported PNGs are pasted into a logbook).
pg.setConfigOptions(background="w", foreground="k")

# step kind -> "module:class" of its view (imported when first needed)
VIEW_CLASSES = {
    "rt_sweep": "daclab.gui.views_rt:RTSweepView",
    "field_series": "daclab.gui.views_rt:FieldSeriesView",
    "aging": "daclab.gui.views_rt:AgingView",
    "wait": "daclab.gui.views_rt:ActionView",
    "set_temperature": "daclab.gui.views_rt:ActionView",
    "set_field": "daclab.gui.views_rt:ActionView",
    "critical_current": "daclab.gui.views_ic_didv:CriticalCurrentView",
    "differential_conductance": "daclab.gui.views_ic_didv:ConductanceView",
}


class MeasurementView(QWidget):
    """Base of the views: plots of one step with the live fits drawn on them."""

    def __init__(self, step: StepInfo, parent: QWidget | None = None):
        super().__init__(parent)
        self.step = step

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """New points, each keyed by the procedure's DATA_COLUMNS; store them, draw in refresh."""
        raise NotImplementedError

    def add_analysis(self, record: dict[str, Any]) -> None:
        """A result the procedure found (``record["kind"]``); views use what they show."""

    def end_step(self, status: str) -> None:
        """The step is over (finished, aborted or failed): last fits of what was measured."""

    def refresh(self) -> None:
        """Draw new points and the newest fit results (GUI thread, ~10 Hz)."""
        raise NotImplementedError

    def wait_for_fits(self, timeout_s: float = 10.0) -> bool:
        """Block until the live fitters have fitted everything given so far (tests, re-plots)."""
        return True

    def overlays(self) -> dict[str, Any]:
        """The fit results drawn now, by name (e.g. {"onset_K": 71.2, "hc2_0_whh_T": ...});
        empty before the first fit. For the status bar and the tests."""
        return {}

    def export_png(self, path: str | Path) -> Path:
        """Save the whole view (every panel, legends and axes) as a PNG."""
        path = Path(path)
        if not self.grab().save(str(path)):
            raise OSError(f"{path} could not be written")
        return path

    def close_fits(self) -> None:
        """Stop the live fitters' threads (the view is being closed)."""


def view_for(step: StepInfo, parent: QWidget | None = None) -> MeasurementView:
    """A new view for ``step``'s kind."""
    try:
        module_name, class_name = VIEW_CLASSES[step.kind].split(":")
    except KeyError:
        raise ValueError(f"step kind {step.kind!r} has no view; kinds: {', '.join(VIEW_CLASSES)}") from None
    return getattr(importlib.import_module(module_name), class_name)(step, parent)


def load_rows(data_path: str | Path) -> list[dict[str, Any]]:
    """The rows of a finished step's data file, as the procedure emitted them (numbers as float,
    text columns such as the sweep direction as text)."""
    import csv

    with open(data_path, encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(line for line in stream if not line.startswith("#"))
        return [{column: _cell(value) for column, value in row.items()} for row in reader]


def _cell(text: str | None) -> Any:
    try:
        return float(text)
    except (TypeError, ValueError):
        return text
