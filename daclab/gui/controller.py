"""The queue of the window and the thread that runs it.

Each queued item is a :class:`daclab.sequence_file.SequenceSpec`: a sequence file as loaded, or
one measurement from the parameter form as a one-step sequence; or the resume of an interrupted
run folder (:meth:`RunController.enqueue_resume`). Items run one after the other through
:func:`daclab.sequence.run_sequence` (a resume through :func:`daclab.sequence.resume`) on the
window's open lab, on a worker thread, so a run from the window is a run folder like any other
(journal, data files, report, run index, ``daclab resume``). The worker never touches a widget:
what it reports goes into a queue of :mod:`daclab.gui.events` records that the window drains on
its timer. A resumed step starts with the rows and the results its file and journal already
hold, so that its view shows the whole curve and not only what is measured now.

Abort stops the running item within one point (the procedure's shutdown leaves the setup safe)
and pauses the queue: after an abort nothing else starts until the user says so.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import threading
from pathlib import Path
from typing import Any

from qtpy.QtCore import QObject, Signal

from daclab.gui import events
from daclab.gui.parameter_form import FORM_SOURCE
from daclab.gui.view_base import load_rows
from daclab.rundir import Journal, RunBusyError, read_identity, sample_name
from daclab.sequence import WrongLabError, journal_state, resume, run_sequence
from daclab.sequence_file import SequenceSpec

log = logging.getLogger(__name__)

_ids = itertools.count(1)

# What daclab.sequence.resume raises before it writes anything: the item fails with the reason.
RESUME_REFUSALS = (WrongLabError, RunBusyError, FileNotFoundError)


@dataclasses.dataclass
class QueueItem:
    spec: SequenceSpec | None  # None for the resume of a run folder (read from the folder when it runs)
    title: str
    id: int = dataclasses.field(default_factory=lambda: next(_ids))
    state: str = "queued"  # queued, running, finished, aborted, failed
    run_dir: Path | None = None
    resume_of: Path | None = None  # the interrupted run folder this item goes on with
    error: str | None = None  # why it failed or was aborted, one line


def describe(spec: SequenceSpec) -> str:
    """A queue line: the sequence's name, or the kind of its only step, and the sample."""
    if len(spec.steps) == 1 and spec.source == FORM_SOURCE:
        what = spec.steps[0].kind.replace("_", " ")
    else:
        what = f"{spec.name} ({len(spec.steps)} steps)"
    return f"{what} - {spec.sample.name}" if spec.sample.name else what


class RunController(QObject):
    """Runs queued items on ``lab`` into run folders under ``data_root``.

    Signals (on the GUI thread): ``queue_changed`` after any change of the queue or of an item's
    state, ``running_changed(bool)``.
    """

    queue_changed = Signal()
    running_changed = Signal(bool)
    _worker_done = Signal()

    def __init__(self, lab, data_root: str | Path, parent: QObject | None = None):
        super().__init__(parent)
        self.lab = lab
        self.data_root = Path(data_root)
        self._items: list[QueueItem] = []
        self._events: collections.deque = collections.deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: QueueItem | None = None
        self.paused = False
        self._worker_done.connect(self._after_item)

    # ---- the queue (GUI thread) ---------------------------------------------------------

    def items(self) -> list[QueueItem]:
        return list(self._items)

    def pending(self) -> list[QueueItem]:
        return [item for item in self._items if item.state == "queued"]

    def enqueue(self, spec: SequenceSpec, title: str | None = None) -> QueueItem:
        item = QueueItem(spec, title or describe(spec))
        self._items.append(item)
        log.info("queued: %s", item.title)
        self.queue_changed.emit()
        return item

    def enqueue_resume(self, run_dir: str | Path, title: str | None = None) -> QueueItem:
        """Queue going on with the interrupted run in ``run_dir`` (in its own folder, on this
        lab). Nothing is checked here: a folder that is no run, a run of another lab or one
        measured by another process makes the item fail with the reason when its turn comes."""
        run_dir = Path(run_dir)
        item = QueueItem(None, title or f"resume {run_dir.name}", run_dir=run_dir, resume_of=run_dir)
        self._items.append(item)
        log.info("queued: %s", item.title)
        self.queue_changed.emit()
        return item

    def remove(self, item_id: int) -> None:
        """Take a waiting item off the queue (the running one is aborted, not removed)."""
        item = self._find(item_id)
        if item.state == "running":
            raise ValueError(f"{item.title!r} is running; abort it instead")
        self._items.remove(item)
        self.queue_changed.emit()

    def move(self, item_id: int, offset: int) -> None:
        """Move a waiting item ``offset`` places (negative: earlier) among the waiting ones."""
        item = self._find(item_id)
        waiting = self.pending()
        if item not in waiting:
            raise ValueError(f"{item.title!r} is {item.state}; only waiting items move")
        target = waiting[max(0, min(len(waiting) - 1, waiting.index(item) + offset))]
        if target is item:  # already first (or last): taking it out would lose it
            return
        self._items.remove(item)
        self._items.insert(self._items.index(target) + (1 if offset > 0 else 0), item)
        self.queue_changed.emit()

    def clear_done(self) -> None:
        self._items = [item for item in self._items if item.state in ("queued", "running")]
        self.queue_changed.emit()

    def _find(self, item_id: int) -> QueueItem:
        for item in self._items:
            if item.id == item_id:
                return item
        raise KeyError(f"no queue item {item_id}")

    # ---- running ------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._current is not None

    def running_item(self) -> QueueItem | None:
        return self._current

    def start(self) -> bool:
        """Run the next waiting item (and the others after it); False when nothing waits or one
        is already running."""
        self.paused = False
        if self.is_running():
            return False
        waiting = self.pending()
        if not waiting:
            return False
        item = waiting[0]
        item.state = "running"
        self._current = item
        self._stop.clear()
        self._thread = threading.Thread(target=self._work, args=(item,), name=f"run {item.title}", daemon=True)
        self._thread.start()
        self.running_changed.emit(True)
        self.queue_changed.emit()
        return True

    def abort(self) -> None:
        """Stop the running item at the next point and hold the queue."""
        self.paused = True
        if self.is_running():
            log.warning("abort requested: %s", self._current.title)
            self._stop.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the worker thread ends (closing the window); True when it did."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            return not thread.is_alive()
        return True

    def drain(self) -> list[Any]:
        """The events since the last call, oldest first, points of one step merged into one
        :class:`events.Rows`."""
        drained: list[Any] = []
        while self._events:
            event = self._events.popleft()
            if isinstance(event, events.Rows) and drained and isinstance(drained[-1], events.Rows) \
                    and drained[-1].step == event.step:
                drained[-1].rows.extend(event.rows)
            else:
                drained.append(event)
        return drained

    def _work(self, item: QueueItem) -> None:
        """The worker thread: one item, start to end; nothing here may raise."""
        steps: dict[int, events.StepInfo] = {}
        percent: dict[int, float] = {}  # "progress" comes just before each "eta"
        sample = item.spec.sample.name if item.spec is not None else _sample_name(item.resume_of)

        def on_event(step, topic: str, record: Any) -> None:
            if topic == "step start":
                info = events.StepInfo(Path(record["run_dir"]), step.index, step.kind, dict(step.own_parameters()),
                                       Path(record["data_path"]), sample)
                steps[step.index] = info
                item.run_dir = info.run_dir
                self._events.append(events.StepStarted(info))
                if record.get("resumed"):  # read before the step appends a row
                    self._events.extend(_measured_before(info))
                return
            info = steps.get(step.index)
            if info is None:
                return
            if topic == "results":
                self._events.append(events.Rows(info, [record]))
            elif topic == "analysis":
                self._events.append(events.Analysis(info, record))
            elif topic == "eta":
                self._events.append(events.Progress(info, percent.get(step.index, 0.0), float(record)))
            elif topic == "progress":
                percent[step.index] = float(record)
            elif topic == "step end":
                self._events.append(events.StepEnded(info, record.status, record.points, record.error))

        try:
            if item.resume_of is not None:
                outcome = resume(item.resume_of, lab=self.lab, should_stop=self._stop.is_set, on_event=on_event)
            else:
                outcome = run_sequence(item.spec, out=self.data_root, lab=self.lab, should_stop=self._stop.is_set,
                                       on_event=on_event)
            item.state, item.run_dir, item.error = outcome.status, outcome.run_dir, outcome.error
            self._events.append(events.RunEnded(item.title, outcome.run_dir, outcome.status, outcome.error,
                                                item.resume_of is not None))
        except RESUME_REFUSALS as refusal:  # its message is the reason, and nothing was written
            log.error("%s refused: %s", item.title, refusal)
            self._fail(item, str(refusal))
        except Exception as error:  # refused before it started (a bad step): say so, keep the queue alive
            log.exception("%s could not run", item.title)
            self._fail(item, f"{type(error).__name__}: {error}")
        finally:
            self._worker_done.emit()

    def _fail(self, item: QueueItem, reason: str) -> None:
        item.state, item.error = "failed", reason
        self._events.append(events.RunEnded(item.title, item.run_dir, "failed", reason, item.resume_of is not None))

    def _after_item(self) -> None:
        """GUI thread, after the worker ended: go on with the queue unless it is held."""
        self._current = None
        self._thread = None
        self.queue_changed.emit()
        if self.paused or self._stop.is_set() or not self.pending():
            self.running_changed.emit(False)
            return
        self.start()


def _sample_name(run_dir: Path | None) -> str:
    """The sample's name as a run folder's run.json has it ("" when it has none)."""
    try:
        return sample_name(read_identity(run_dir))
    except (OSError, ValueError, AttributeError, TypeError):  # no folder or a damaged run.json: resume will say
        return ""


def _measured_before(step: events.StepInfo) -> list[Any]:
    """What a resumed step holds already: the rows left in its data file (the finished segments)
    and the analysis records of those segments, as the events a live run would have sent.
    Called on the worker at the step's start, before it appends; never raises (the
    measurement matters more than the display)."""
    try:
        rows = load_rows(step.data_path) if step.data_path.exists() else []
        records = journal_state(Journal(step.run_dir)).segment_analysis.get(step.index, [])
    except Exception:
        log.exception("the earlier points of %s could not be read for the display", step.data_path)
        return []
    return ([events.Rows(step, rows)] if rows else []) + [events.Analysis(step, record) for record in records]
