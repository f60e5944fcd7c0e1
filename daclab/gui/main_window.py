"""The main window: measurement form, sample, instrument status, queue, live views, runs, log.

Laid out for a 1366x768 lab laptop: on the left the form to queue a measurement (or load a
sequence file), the sample and below them the instrument status, always in sight; in the middle
one tab per measured step with its live plots and fits, and the browser of finished runs (where
an interrupted run is resumed); under them the queue and the log. Everything that measures or
fits runs elsewhere (the controller's worker thread, the live fitters' threads, the status
poller): a timer on the GUI thread takes what they reported ten times a second and draws it.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
from pathlib import Path

from pyqtgraph.util.garbage_collector import GarbageCollector
from qtpy.QtCore import QObject, Qt, QTimer, Signal
from qtpy.QtGui import QAction, QFont
from qtpy.QtWidgets import (QAbstractItemView, QDockWidget, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                            QMainWindow, QMessageBox, QPlainTextEdit, QProgressBar, QPushButton, QSplitter,
                            QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from daclab.gui import events
from daclab.gui.controller import QueueItem, RunController
from daclab.gui.parameter_form import ParameterForm
from daclab.gui.run_browser import RunBrowser, analysis_records, run_steps
from daclab.gui.sample_panel import SamplePanel
from daclab.gui.status_panel import StatusPanel
from daclab.gui.view_base import MeasurementView, load_rows, view_for

log = logging.getLogger(__name__)

TICK_MS = 100  # the window draws what arrived at most this often
REPLOT_BATCH = 5000  # rows fed to a view at a time when a finished run is opened


class _LogRelay(QObject, logging.Handler):
    """Log records from any thread, handed to the GUI thread as text."""

    line = Signal(str)

    def __init__(self):
        QObject.__init__(self)
        logging.Handler.__init__(self, logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        # daclab's own account, and other libraries only when they warn (pymeasure logs every parameter)
        self.addFilter(lambda record: record.name.startswith("daclab") or record.levelno >= logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.line.emit(self.format(record))
        except RuntimeError:  # the window is gone
            pass


class QueuePanel(QWidget):
    """The queue as a table, with the buttons that act on it."""

    COLUMNS = ("#", "Measurement", "State", "Run folder")

    def __init__(self, controller: RunController, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.run_button = QPushButton("Run queue")
        self.abort_button = QPushButton("Abort")
        self.abort_button.setStyleSheet("QPushButton:enabled { background: #c62828; color: white; font-weight: bold; }")
        self.up_button, self.down_button = QPushButton("Up"), QPushButton("Down")
        self.remove_button, self.clear_button = QPushButton("Remove"), QPushButton("Clear finished")
        buttons = QVBoxLayout()
        for button in (self.run_button, self.abort_button, self.up_button, self.down_button, self.remove_button,
                       self.clear_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.run_button.clicked.connect(controller.start)
        self.abort_button.clicked.connect(controller.abort)
        self.up_button.clicked.connect(lambda: self._act(lambda i: controller.move(i, -1)))
        self.down_button.clicked.connect(lambda: self._act(lambda i: controller.move(i, +1)))
        self.remove_button.clicked.connect(lambda: self._act(controller.remove))
        self.clear_button.clicked.connect(controller.clear_done)
        controller.queue_changed.connect(self.update_table)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.update_table()

    def selected_item(self) -> QueueItem | None:
        rows = self.table.selectionModel().selectedRows()
        items = self.controller.items()
        return items[rows[0].row()] if rows and rows[0].row() < len(items) else None

    def select(self, item_id: int) -> None:
        for row, item in enumerate(self.controller.items()):
            if item.id == item_id:
                self.table.selectRow(row)

    def _act(self, action) -> None:
        item = self.selected_item()
        if item is None:
            return
        try:
            action(item.id)
        except (KeyError, ValueError) as error:
            log.warning("%s", error)
        if item in self.controller.items():
            self.select(item.id)

    def update_table(self) -> None:
        selected = self.selected_item()
        items = self.controller.items()
        self.table.setRowCount(len(items))
        for row, item in enumerate(items):
            cells = (str(item.id), item.title, item.state, str(item.run_dir or ""))
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if item.state == "running":
                    cell.setFont(_bold())
                if item.error:
                    cell.setToolTip(f"{item.state}: {item.error}")
                self.table.setItem(row, column, cell)
        self.table.resizeColumnToContents(0)
        self.table.resizeColumnToContents(2)
        if selected is not None and selected in items:
            self.select(selected.id)
        self._update_buttons()

    def _update_buttons(self) -> None:
        item = self.selected_item()
        waiting = item is not None and item.state == "queued"
        self.run_button.setEnabled(not self.controller.is_running() and bool(self.controller.pending()))
        self.abort_button.setEnabled(self.controller.is_running())
        for button in (self.up_button, self.down_button, self.remove_button):
            button.setEnabled(waiting)


def _bold() -> QFont:
    font = QFont()
    font.setBold(True)
    return font


class MainWindow(QMainWindow):
    """The window on an open ``lab``; runs go into run folders under ``data_root``."""

    def __init__(self, lab, data_root: str | Path, lab_file: str = "simulated", title: str = "daclab"):
        super().__init__()
        self.lab = lab
        self.lab_file = lab_file
        self.data_root = Path(data_root)
        # Python's cycle collector runs on the GUI thread only: started by the measurement's or
        # a fitter's thread, it may delete a Qt object of this thread and deadlock with it.
        self._collector = GarbageCollector(interval=1.0)
        self.controller = RunController(lab, self.data_root, self)
        self.views: dict[tuple[Path, int], MeasurementView] = {}  # (run folder, step) -> its view
        self.setWindowTitle(title)

        self.form = ParameterForm()
        self.sample_panel = SamplePanel()
        self.status_panel = StatusPanel()
        self.browser = RunBrowser()
        self.queue_panel = QueuePanel(self.controller)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%p %")
        self.eta_label = QLabel("")

        self._lay_out()
        self._make_menus()
        self._connect()
        if lab.world is not None:
            self.sample_panel.set_sample_info(lab.known_sample())
        self._sample_changed()
        self.browser.set_root(self.data_root)
        self.status_panel.set_lab(lab)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.tick)
        self._timer.start(TICK_MS)
        self._log_relay = _LogRelay()
        self._log_relay.line.connect(self.log_view.appendPlainText)
        logging.getLogger().addHandler(self._log_relay)
        if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(logging.INFO)

    # ---- layout -------------------------------------------------------------------------

    def _lay_out(self) -> None:
        side_tabs = QTabWidget()
        side_tabs.addTab(self.form, "Measure")
        side_tabs.addTab(self.sample_panel, "Sample")
        self.side_tabs = side_tabs
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(side_tabs)
        side.addWidget(self.status_panel)
        side.setStretchFactor(0, 3)
        side.setStretchFactor(1, 2)
        dock = QDockWidget("Measurement and instruments")
        dock.setObjectName("side")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        dock.setWidget(side)
        dock.setMinimumWidth(360)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

        self.tabs.addTab(self.browser, "Runs")
        self.tabs.tabBar().setTabButton(0, self.tabs.tabBar().ButtonPosition.RightSide, None)  # the browser stays
        bottom = QTabWidget()
        bottom.addTab(self.queue_panel, "Queue")
        bottom.addTab(self.log_view, "Log")
        self.bottom_tabs = bottom
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.tabs)
        centre.addWidget(bottom)
        centre.setStretchFactor(0, 4)
        centre.setStretchFactor(1, 1)
        centre.setSizes([560, 170])
        self.setCentralWidget(centre)
        self.statusBar().addPermanentWidget(self.eta_label)
        self.statusBar().addPermanentWidget(self.progress)

    def _make_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.load_action = QAction("Load sequence file...", self)
        self.load_action.triggered.connect(self.form.load_button.click)
        self.export_action = QAction("Export plot as PNG...", self)
        self.export_action.triggered.connect(self.export_current_view)
        quit_action = QAction("Quit", self)
        quit_action.triggered.connect(self.close)
        for action in (self.load_action, self.export_action, quit_action):
            file_menu.addAction(action)
        run_menu = self.menuBar().addMenu("&Run")
        run_action = QAction("Run queue", self)
        run_action.triggered.connect(self.controller.start)
        abort_action = QAction("Abort", self)
        abort_action.triggered.connect(self.controller.abort)
        run_menu.addAction(run_action)
        run_menu.addAction(abort_action)

    def _connect(self) -> None:
        self.form.queue_requested.connect(self.queue)
        self.sample_panel.changed.connect(self._sample_changed)
        self.browser.open_requested.connect(self.open_run)
        self.browser.resume_requested.connect(self.resume_run)
        self.controller.queue_changed.connect(self._queue_changed)
        self.tabs.tabCloseRequested.connect(self._close_tab)
        self.controller.running_changed.connect(self._running_changed)

    def _sample_changed(self) -> None:
        sample = self.sample_panel.sample_info()
        data = dataclasses.asdict(sample)
        self.form.set_context(self.lab_file, data)

    # ---- actions ------------------------------------------------------------------------

    def queue(self, spec) -> QueueItem:
        """Queue a checked sequence; it starts at once when nothing runs and the queue is not held."""
        item = self.controller.enqueue(spec)
        if not self.controller.is_running() and not self.controller.paused:
            self.controller.start()
        return item

    def resume_run(self, run_dir: Path) -> QueueItem:
        """Queue going on with an interrupted run in its own folder; when nothing is measuring it
        goes first and the queue starts (the click says "go on now", also after an abort)."""
        item = self.controller.enqueue_resume(run_dir)
        if not self.controller.is_running():
            self.controller.move(item.id, -len(self.controller.pending()))
            self.controller.start()
        return item

    def open_run(self, run_dir: Path) -> list[MeasurementView]:
        """Re-plot a finished run: a tab per step, fed from its data files like a live run."""
        opened = []
        found = analysis_records(Path(run_dir))
        for step in run_steps(Path(run_dir)):  # only the steps that wrote a data file
            old = self.views.get(_view_key(step))
            if old is not None and self._is_measuring(old):  # the live tab has every row already
                opened.append(old)
                continue
            if old is not None:  # opened again: drawn anew from the file
                self._close_tab(self.tabs.indexOf(old))
            view = self._view(step)
            rows = load_rows(step.data_path)
            for start in range(0, len(rows), REPLOT_BATCH):
                view.add_rows(rows[start:start + REPLOT_BATCH])
            for record in found.get(step.index, []):
                view.add_analysis(record)
            view.end_step("finished")
            opened.append(view)
        if opened:
            self.tabs.setCurrentWidget(opened[0])
        return opened

    def export_current_view(self, path: str | Path | None = None) -> Path | None:
        view = self.tabs.currentWidget()
        if not isinstance(view, MeasurementView):
            QMessageBox.information(self, "Export plot", "Choose the tab of a measurement first.")
            return None
        if path is None:
            suggested = str(self.data_root / f"{view.step.data_path.stem}.png")
            path, _ = QFileDialog.getSaveFileName(self, "Export plot as PNG", suggested, "PNG image (*.png)")
            if not path:
                return None
        view.refresh()
        return view.export_png(path)

    # ---- the timer: everything reported since the last tick -----------------------------

    def tick(self) -> None:
        for event in self.controller.drain():
            self._handle(event)
        current = self.tabs.currentWidget()
        if isinstance(current, MeasurementView):
            current.refresh()

    def _handle(self, event) -> None:
        if isinstance(event, events.StepStarted):
            old = self.views.get(_view_key(event.step))
            if old is not None:  # a resumed step: its rows come again from the file, then the new ones
                self._discard_view(old)
            self.tabs.setCurrentWidget(self._view(event.step))
            self.progress.setValue(0)
        elif isinstance(event, events.Rows):
            self._view(event.step).add_rows(event.rows)
        elif isinstance(event, events.Analysis):
            self._view(event.step).add_analysis(event.record)
        elif isinstance(event, events.Progress):
            self.progress.setValue(int(event.percent))
            self.eta_label.setText(f"step {event.step.index}: {_duration(event.eta_s)} left (lab time)")
        elif isinstance(event, events.StepEnded):
            view = self._view(event.step)
            view.end_step(event.status)
            view.refresh()
            if event.error:
                log.error("step %d (%s) %s: %s", event.step.index, event.step.kind, event.status, event.error)
        elif isinstance(event, events.RunEnded):
            self.statusBar().showMessage(f"{event.title}: {event.status}" + (f" ({event.error})" if event.error else ""))
            self.browser.refresh()
            if event.resume and event.status == "failed" and event.error:  # under the Resume just clicked, whole
                self.browser.show_notice(f"{event.title} failed: {event.error}")

    def _view(self, step: events.StepInfo) -> MeasurementView:
        key = _view_key(step)
        view = self.views.get(key)
        if view is None:
            view = view_for(step)
            self.views[key] = view
            self.tabs.addTab(view, step.title)
            self.tabs.setTabToolTip(self.tabs.indexOf(view), f"{step.sample_name}\n{step.data_path}")
        return view

    def _close_tab(self, index: int) -> None:
        view = self.tabs.widget(index)
        if not isinstance(view, MeasurementView):
            return
        if self._is_measuring(view):
            self.statusBar().showMessage("the tab of the running measurement stays open")
            return
        self._discard_view(view)

    def _is_measuring(self, view: MeasurementView) -> bool:
        """Whether ``view`` shows a step of the run the queue is measuring now."""
        running = self.controller.running_item()
        return running is not None and running.run_dir is not None \
            and running.run_dir.resolve() == _view_key(view.step)[0]

    def _discard_view(self, view: MeasurementView) -> None:
        self.tabs.removeTab(self.tabs.indexOf(view))
        self.views.pop(_view_key(view.step), None)
        view.close_fits()
        view.deleteLater()

    def _queue_changed(self) -> None:
        """The browser offers no Resume for a run this window measures or has queued."""
        busy = [item.run_dir for item in self.controller.items()
                if item.state in ("queued", "running") and item.run_dir is not None]
        self.browser.set_busy(busy)

    def _running_changed(self, running: bool) -> None:
        if not running:
            self.eta_label.setText("queue held after an abort" if self.controller.paused else "")

    # ---- closing ------------------------------------------------------------------------

    def closeEvent(self, event) -> None:
        # asked only while the worker is alive: after shutdown() it has ended, though the queued
        # signal that clears the running item may not have been delivered yet
        if self.controller.is_running() and not self.controller.wait(0):
            answer = QMessageBox.question(self, "daclab", "A measurement is running. Abort it and quit?")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self, timeout_s: float = 120.0) -> None:
        """Abort what runs (its shutdown leaves the setup safe), stop the pollers and fits."""
        self.controller.abort()
        if not self.controller.wait(timeout_s):
            log.error("the measurement did not stop within %.0f s", timeout_s)
        self._timer.stop()
        self.status_panel.set_lab(None)
        for view in self.views.values():
            view.close_fits()
        logging.getLogger().removeHandler(self._log_relay)
        self._collector.timer.stop()
        gc.collect()
        gc.enable()


def _view_key(step: events.StepInfo) -> tuple[Path, int]:
    """(run folder, step) of a view; the folder resolved, as the browser and the engine may
    spell one folder differently."""
    return step.run_dir.resolve(), step.index


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    minutes = int(round(seconds / 60.0))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
