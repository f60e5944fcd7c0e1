"""A browser of the runs of a data folder, read from its run index (daclab.run_index).

One row per sequence run, newest first: when it started, the sequence, who the sample is (cell,
pressure on its scale), its steps, how it ended and the headline results the index found (Tc,
Hc2(0), Jc(0), the gap). A filter line narrows the rows by sample, cell, sequence or folder name;
two choosers by step kind and by status. Double-click (or Open) asks the window to open the run
folder (:attr:`RunBrowser.open_requested`); :func:`run_steps` then says which steps it holds and
where their data are, so that the window can re-plot each through its measurement view. Resume
asks the window to go on with a run that did not finish (:attr:`RunBrowser.resume_requested`):
it is offered only for an interrupted, aborted or failed run that the window is not already
measuring or holding in its queue (:meth:`RunBrowser.set_busy`).

The index is only read here, never written: a missing index is an empty browser with a hint (no
sequence has finished in this folder yet), a damaged one a message saying how to rebuild it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                            QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from daclab.gui.events import StepInfo
from daclab.run_index import STEP_STATUSES, RunIndex, RunIndexError
from daclab.rundir import INDEX_NAME, SEQUENCE_NAME, Journal, read_identity, sample_name, step_file_name
from daclab.sequence_file import FROM_SEQUENCE, STEP_KINDS, load_sequence

COLUMNS = ("Started", "Sequence", "Sample", "Cell", "Pressure", "Steps", "Status", "Results")
# Short names of the step kinds for the Steps column (the tooltip has the full list).
SHORT_KINDS = {"rt_sweep": "R-T", "field_series": "Hc2 series", "critical_current": "Ic",
               "differential_conductance": "dI/dV", "aging": "aging", "wait": "wait",
               "set_temperature": "set T", "set_field": "set H"}
# Headline results of a run (keys of RunIndex.runs rows, or of their "results"), as shown.
HEADLINES = (("tc_K", "Tc", ".1f", "K"), ("hc2_T", "Hc2(0)", ".1f", "T"), ("jc0_A_cm2", "Jc(0)", ".3g", "A/cm²"),
             ("delta0_meV", "Δ(0)", ".1f", "meV"), ("aging_tau_days", "τ", ".1f", "d"))
MOST_VALUES = 3  # of one result in a row (an aging run has a Tc per visit); the rest is "..."
STATUS_COLOURS = {"failed": "#b71c1c", "aborted": "#e65100", "interrupted": "#e65100", "running": "#1565c0"}
ANY = ""  # the choosers' "no filter" entry
RESUMABLE = ("interrupted", "aborted", "failed")  # a finished run has nothing left; a running one is measured
RESUME_TIP = ("Go on with the selected run in its own folder: finished steps and segments are kept, the\n"
              "segment that was cut off is measured again and its step appended to. Queued; starts at\n"
              "once when nothing is measuring. Only for an interrupted, aborted or failed run.")


def run_steps(run_dir: str | Path) -> list[StepInfo]:
    """The steps of a run folder that have a data file, in order, each as a StepInfo (index,
    kind, the parameters the step set itself, its data file, the sample's name). Read from
    run.json; from sequence.yaml when run.json lists no steps. FileNotFoundError when the folder
    is no run folder."""
    run_dir = Path(run_dir)
    identity = read_identity(run_dir)
    if not identity:
        raise FileNotFoundError(f"{run_dir}: no run.json; not a run folder")
    name = sample_name(identity)
    planned = identity.get("steps")
    if not isinstance(planned, list) or not planned:
        spec = load_sequence(run_dir / SEQUENCE_NAME)
        planned = [{"step": step.index, "kind": step.kind, "file": step_file_name(step.index, step.kind),
                    "parameters": step.parameters} for step in spec.steps]
    steps = []
    for entry in planned:
        data_path = run_dir / str(entry.get("file", ""))
        if not entry.get("file") or not data_path.is_file():  # a step the run never reached
            continue
        parameters = {name: value for name, value in (entry.get("parameters") or {}).items()
                      if name not in FROM_SEQUENCE}
        steps.append(StepInfo(run_dir, int(entry["step"]), str(entry["kind"]), parameters, data_path, name))
    return steps


def analysis_records(run_dir: str | Path) -> dict[int, list[dict[str, Any]]]:
    """What each step's procedure found while measuring (the journal's analysis events), by step
    number, in order: feed them to the step's view after its rows to redraw the fits it made."""
    found: dict[int, list[dict[str, Any]]] = {}
    for event in Journal(run_dir).events():
        if event.get("event") == "analysis" and isinstance(event.get("step"), int) \
                and isinstance(event.get("record"), dict):
            found.setdefault(event["step"], []).append(event["record"])
    return found


def _local_time(text: str | None) -> str:
    if not text:
        return ""
    with contextlib.suppress(ValueError):
        return dt.datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M")
    return text


def _pressure(run: dict[str, Any]) -> str:
    if run.get("pressure_GPa") is None:
        return ""
    scale = f" ({run['pressure_scale']})" if run.get("pressure_scale") else ""
    return f"{run['pressure_GPa']:g} GPa{scale}"


def _headlines(steps: list[dict[str, Any]]) -> str:
    """The headline results of a run's steps, e.g. "Tc 92.3, 93.1 K; Hc2(0) 30.2 T"."""
    parts = []
    for key, label, number_format, unit in HEADLINES:
        values = []
        for step in steps:
            value = step.get(key)
            if value is None:
                value = (step.get("results", {}).get(key) or {}).get("value")
            if value is not None:
                values.append(value)
        if values:
            numbers = ", ".join(format(value, number_format) for value in values[:MOST_VALUES])
            more = ", ..." if len(values) > MOST_VALUES else ""
            parts.append(f"{label} {numbers}{more} {unit}")
    return "; ".join(parts)


class RunBrowser(QWidget):
    """The runs of a data folder (see the module docstring)."""

    open_requested = Signal(object)  # the run folder, a Path
    resume_requested = Signal(object)  # the run folder, a Path

    def __init__(self, parent: QWidget | None = None, data_root: str | Path | None = None):
        super().__init__(parent)
        self._root: Path | None = None
        self._runs: list[dict[str, Any]] = []  # newest first, each with its "steps"
        self._problem: tuple[str, bool] | None = None  # (hint or error, is_error) instead of a count
        self._busy: set[Path] = set()  # resolved run folders the window measures or has queued
        self._build_ui()
        if data_root is not None:
            self.set_root(data_root)
        else:
            self._apply_filters()

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        filters = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: sample, cell, sequence, folder...")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._apply_filters)
        self.kind_filter = QComboBox()
        self.kind_filter.addItem("All kinds", ANY)
        for kind in STEP_KINDS:
            self.kind_filter.addItem(kind.replace("_", " "), kind)
        self.kind_filter.currentIndexChanged.connect(self._apply_filters)
        self.status_filter = QComboBox()
        self.status_filter.addItem("Any status", ANY)
        for status in STEP_STATUSES:
            self.status_filter.addItem(status, status)
        self.status_filter.currentIndexChanged.connect(self._apply_filters)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the run index again")
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Re-plot the selected run with its fits")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._open_selected)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip(RESUME_TIP)
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self._resume_selected)
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.kind_filter)
        filters.addWidget(self.status_filter)
        filters.addWidget(self.refresh_button)
        filters.addWidget(self.open_button)
        filters.addWidget(self.resume_button)
        layout.addLayout(filters)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)

    # ---- reading the index --------------------------------------------------------------------

    def root(self) -> Path | None:
        return self._root

    def set_root(self, data_root: str | Path) -> None:
        """Browse the runs of ``data_root`` (the folder holding runs.sqlite and the run folders)."""
        self._root = Path(data_root)
        self.refresh()

    def refresh(self) -> None:
        """Read the index again; the selected run stays selected when it is still listed."""
        selected = self.selected_run()
        self._runs, self._problem = [], None
        if self._root is None:
            self._problem = ("No data folder chosen.", False)
        elif not (self._root / INDEX_NAME).is_file():
            self._problem = (f"No runs yet in {self._root}: a run appears here when a sequence has run "
                             f"(a folder of older runs: daclab runs --rebuild --data {self._root}).", False)
        else:
            try:
                self._runs = self._read_index(self._root)
            except (RunIndexError, sqlite3.Error, OSError) as error:
                self._problem = (f"The run index {self._root / INDEX_NAME} cannot be read ({error}). "
                                 f"Remake it from the run folders: daclab runs --rebuild --data {self._root}", True)
        self._apply_filters()
        if selected is not None:
            self.select_run(selected)

    @staticmethod
    def _read_index(root: Path) -> list[dict[str, Any]]:
        with RunIndex.at(root, create=False) as index:
            runs = index.sequences()
            measurements = index.runs()
        steps: dict[str, list[dict[str, Any]]] = {}
        for row in measurements:
            steps.setdefault(row["run_dir"], []).append(row)
        for run in runs:
            run["steps"] = sorted(steps.get(run["run_dir"], []), key=lambda row: row["step"])
        return runs[::-1]  # the index lists oldest first

    # ---- filtering and showing ----------------------------------------------------------------

    def _matches(self, run: dict[str, Any]) -> bool:
        kind = self.kind_filter.currentData()
        if kind and kind not in {step["kind"] for step in run["steps"]}:
            return False
        status = self.status_filter.currentData()
        if status and run.get("status") != status:
            return False
        words = self.filter_edit.text().lower().split()
        haystack = " ".join(str(run.get(key) or "") for key in ("sample", "cell", "name", "lab", "run_dir")).lower()
        return all(word in haystack for word in words)

    def _apply_filters(self, *_args) -> None:
        shown = [run for run in self._runs if self._matches(run)]
        self.table.setRowCount(0)
        self.table.setRowCount(len(shown))
        for row, run in enumerate(shown):
            self._fill_row(row, run)
        for column in range(len(COLUMNS) - 1):  # Results takes the rest (the header stretches it)
            self.table.resizeColumnToContents(column)
            # a long sequence name must not push Results out of view (the tooltip has it whole)
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), 220))
        if self._problem is not None:
            self._show_message(*self._problem)
        else:
            hidden = len(self._runs) - len(shown)
            self._show_message(f"{len(shown)} run{'s' if len(shown) != 1 else ''}"
                               + (f" ({hidden} hidden by the filters)" if hidden else "") + f" in {self._root}")
        self._update_buttons()

    def _fill_row(self, row: int, run: dict[str, Any]) -> None:
        steps = run["steps"]
        kinds = ", ".join(SHORT_KINDS.get(step["kind"], str(step["kind"])) for step in steps)
        step_lines = [f"{step['step']} {step['kind']}: {step['status']}"
                      + (f", {step['points']} points" if step.get("points") is not None else "")
                      + (f" ({step['error']})" if step.get("error") else "") for step in steps]
        texts = [_local_time(run.get("started")), run.get("name") or "", run.get("sample") or "",
                 run.get("cell") or "", _pressure(run), f"{len(steps)}: {kinds}" if steps else "0",
                 run.get("status") or "", _headlines(steps)]
        tips = {5: "\n".join(step_lines), 7: "\n".join(step_lines)}
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            item.setToolTip(tips.get(column) or f"{text}\n{run['run_dir']}")
            if column == 0:
                item.setData(Qt.ItemDataRole.UserRole, run["run_dir"])
            if column == COLUMNS.index("Status") and text in STATUS_COLOURS:
                item.setForeground(QColor(STATUS_COLOURS[text]))
            self.table.setItem(row, column, item)

    def _show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b71c1c;" if error else "")

    def show_notice(self, text: str) -> None:
        """A problem to read under the table (e.g. why a resume was refused), in red and wrapped,
        until the list is read or filtered again."""
        self._show_message(text, error=True)

    def message_text(self) -> str:
        """What the line under the table says (the number of runs, a hint or a problem)."""
        return self.message.text()

    def shown_runs(self) -> list[Path]:
        """The run folders listed now, top to bottom."""
        return [Path(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)) for row in range(self.table.rowCount())]

    # ---- selection and opening ----------------------------------------------------------------

    def selected_run(self) -> Path | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return Path(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def select_run(self, run_dir: str | Path) -> bool:
        """Select the row of ``run_dir``; False when it is not listed."""
        wanted = Path(run_dir).resolve()
        for row, listed in enumerate(self.shown_runs()):
            if listed.resolve() == wanted:
                self.table.selectRow(row)
                return True
        return False

    def selected_status(self) -> str | None:
        """How the selected run ended as the index says (finished, aborted, interrupted...)."""
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        item = self.table.item(rows[0].row(), COLUMNS.index("Status")) if rows else None
        return item.text() if item is not None else None

    def set_busy(self, run_dirs: Iterable[str | Path]) -> None:
        """The run folders the window is measuring or holds in its queue: no Resume for them."""
        self._busy = {Path(run_dir).resolve() for run_dir in run_dirs}
        self._update_buttons()

    def can_resume(self) -> bool:
        run_dir = self.selected_run()
        return run_dir is not None and self.selected_status() in RESUMABLE and run_dir.resolve() not in self._busy

    def _update_buttons(self) -> None:
        self.open_button.setEnabled(self.selected_run() is not None)
        self.resume_button.setEnabled(self.can_resume())

    def _resume_selected(self) -> None:
        if self.can_resume():
            self.resume_requested.emit(self.selected_run())

    def _double_clicked(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.open_requested.emit(Path(item.data(Qt.ItemDataRole.UserRole)))

    def _open_selected(self) -> None:
        run_dir = self.selected_run()
        if run_dir is not None:
            self.open_requested.emit(run_dir)


__all__ = ["RunBrowser", "run_steps", "analysis_records", "COLUMNS", "RESUMABLE"]
