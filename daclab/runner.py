"""Run one procedure in this thread, writing each point to its data file as it is measured.

The order is pymeasure's Worker's (startup, metadata into the header, execute, shutdown in any
case), and the file is a pymeasure Results file that pymeasure's own tools open; what differs is
that nothing waits in a queue: every point is written and flushed before the procedure goes on,
and the file is synced to disk every few seconds, so a crash loses at most the point in flight.
A new file appears with its whole header (parameters and metadata) or not at all.
Scripts, the sequence engine, the window (on a worker thread) and the tests run procedures
this way.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

from pymeasure.experiment import Procedure, Results
from pymeasure.experiment.results import CSVFormatter

from daclab.connection import faults_on_this_thread

log = logging.getLogger(__name__)

SYNC_INTERVAL_S = 2.0  # wall seconds between fsyncs; a flush reaches the OS at every point
# The flag of a point taken while instruments misbehaved: how many exchanges had to be retried or
# were slow since the point before (daclab.connection); the runner fills it for every procedure
# whose DATA_COLUMNS list it.
FAULTS_COLUMN = "Instrument faults"


@dataclasses.dataclass
class RunOutcome:
    status: str  # "finished", "aborted" or "failed"
    data_path: Path
    points: int
    error: str | None = None
    analysis: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class _PointWriter:
    def __init__(self, results: Results, path: Path, points_before: int = 0):
        self.results = results
        self.path = path
        self.stream = open(path, "a", encoding=Results.ENCODING)
        self.points = 0  # written by this run
        self.points_before = points_before  # rows already in the file when it was opened to append
        self._last_sync = time.monotonic()
        self._segment_start: tuple[int, int] | None = None  # (byte offset, points) at the segment's start

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(self.results.format(record) + Results.LINE_BREAK)
        self.stream.flush()
        self.points += 1
        if time.monotonic() - self._last_sync >= SYNC_INTERVAL_S:
            os.fsync(self.stream.fileno())
            self._last_sync = time.monotonic()

    def sync(self) -> None:
        self.stream.flush()
        os.fsync(self.stream.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        self.sync()
        self.stream.close()

    def position(self) -> tuple[int, int]:
        """(bytes in the file, rows in the file) after everything written so far."""
        self.stream.flush()
        return self.stream.tell(), self.points_before + self.points

    def segment(self, record: dict[str, Any]) -> dict[str, Any]:
        """A segment event from the procedure, completed with where the file stands.

        "start" remembers the position; "done" syncs the file, so that a resume never has to
        doubt a segment the journal calls done; "discard" moves the segment's rows aside.
        """
        state = record.get("state")
        if state == "start":
            self._segment_start = self.position()
        elif state == "done":
            self.sync()
        elif state == "discard" and self._segment_start is not None:
            offset, points = self._segment_start
            self.stream.flush()
            moved = set_aside_tail(self.path, offset)
            self.stream.seek(0, os.SEEK_END)
            self.points = points - self.points_before
            return {**record, "moved_to": moved.name if moved else None, "offset": offset, "points": points}
        offset, points = self.position()
        return {**record, "offset": offset, "points": points}


def aside_path(path: Path) -> Path:
    """The first free ``name.interrupted-N.csv`` beside ``path``, for rows that are kept but are
    not the step's data."""
    number = 1
    while (moved := path.with_name(f"{path.stem}.interrupted-{number}{path.suffix}")).exists():
        number += 1
    return moved


def last_row_value(path: str | Path, columns: tuple[str, ...]) -> float | None:
    """The number in the last data row of a Results file under the first of ``columns`` the
    file has; None without a row, such a column or a finite number there."""
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    header = lines[0].split(",") if lines else []
    column = next((name for name in columns if name in header), None)
    if len(lines) < 2 or column is None:
        return None
    try:
        value = float(lines[-1].split(",")[header.index(column)])
    except (ValueError, IndexError):
        return None
    return value if math.isfinite(value) else None


def set_aside_tail(path: str | Path, offset: int) -> Path | None:
    """Move the rows of ``path`` after byte ``offset`` into a new file beside it, then cut ``path``
    back to ``offset``. The new file gets ``path``'s header, so it is a data file of its own
    (``name.interrupted-N.csv``); None when there was nothing after ``offset``.

    Crash order: the copy is written and synced before the cut, so the rows exist at every moment
    (twice at worst, never nowhere).
    """
    path = Path(path)
    with open(path, "rb") as stream:
        head = stream.read(offset)
        tail = stream.read()
    if not tail.strip():
        if tail:
            os.truncate(path, offset)
        return None
    header = b"".join(line for line in head.splitlines(keepends=True) if line.startswith(b"#"))
    columns = next((line for line in head.splitlines(keepends=True) if not line.startswith(b"#")), b"")
    moved = aside_path(path)
    with open(moved, "wb") as stream:
        stream.write(header + columns + tail)
        stream.flush()
        os.fsync(stream.fileno())
    os.truncate(path, offset)
    log.warning("%d bytes of %s after an unfinished segment moved to %s", len(tail), path.name, moved.name)
    return moved


def count_rows(path: str | Path) -> int:
    """Data rows of a Results file (lines after the header and the column line)."""
    with open(path, "rb") as stream:
        lines = [line for line in stream if line.strip() and not line.startswith(b"#")]
    return max(len(lines) - 1, 0)


def run(procedure, data_path: str | Path, should_stop: Callable[[], bool] = lambda: False,
        on_event: Callable[[str, Any], None] = lambda topic, record: None, append: bool = False) -> RunOutcome:
    """Run ``procedure`` (a :class:`procedures.base.LabProcedure`) into a new file ``data_path``.

    Bad parameters raise :class:`daclab.limits.LimitError` before the file is created or any
    instrument opened. Failures after that are caught: the procedure's shutdown makes the setup
    safe, and the outcome says "failed" with the error; every point emitted before is in the file.
    ``append``: continue an existing file of the same procedure (a resumed step): its header and
    rows stay as they are and the new rows follow them.
    Every point reaches ``on_event`` as topic "results" once it is in the file (a display
    shows only what is saved). Segment events of the procedure (topic "segment") reach ``on_event`` with the file's byte
    offset and row count; a discarded segment's rows are moved aside (:func:`set_aside_tail`).
    """
    path = Path(data_path)
    if path.exists() and not append:
        raise FileExistsError(f"data file {path} exists; a run never writes over measured data")
    procedure.check()
    path.parent.mkdir(parents=True, exist_ok=True)
    continuing = append and path.exists()
    results = _results_for_append(procedure, path) if continuing else _staged_results(procedure, path)
    writer: _PointWriter | None = None
    outcome = RunOutcome("failed", path, 0)

    def emit(topic: str, record: Any) -> None:
        if topic == "results":
            record = {**record, **faults_since_last_point()}
            writer.write(record)
            on_event(topic, record)
        elif topic == "batch results":
            columns = list(record)
            faults = faults_since_last_point()  # every row of a batch came from the same exchanges
            for values in zip(*(record[c] for c in columns)):
                row = {**dict(zip(columns, values)), **faults}
                writer.write(row)
                on_event("results", row)
        elif topic == "segment" and writer is not None:
            on_event(topic, writer.segment(record))
        else:
            on_event(topic, record)

    faults_seen = faults_on_this_thread()
    flags_points = FAULTS_COLUMN in getattr(procedure, "DATA_COLUMNS", ())

    def faults_since_last_point() -> dict[str, int]:
        """The point's flag column: the instrument faults met since the previous point (nothing
        for a procedure without the column)."""
        nonlocal faults_seen
        if not flags_points:
            return {}
        now = faults_on_this_thread()
        faults, faults_seen = now - faults_seen, now
        return {FAULTS_COLUMN: faults}

    procedure.emit = emit
    procedure.should_stop = should_stop
    procedure.status = Procedure.RUNNING
    try:
        procedure.startup()
        procedure.evaluate_metadata()
        if not continuing:
            results.store_metadata()
        _publish(results, path)
        writer = _PointWriter(results, path, count_rows(path) if continuing else 0)
        procedure.execute()
        outcome.status = "aborted" if should_stop() else "finished"
    except Exception as error:
        log.exception("%s failed", type(procedure).__name__)
        outcome.error = f"{type(error).__name__}: {error}"
    finally:
        try:
            procedure.shutdown()
        finally:
            _publish(results, path)  # a step that failed before its first point keeps its file (the header)
            if writer is not None:
                outcome.points = writer.points
                writer.close()
    procedure.status = {"finished": Procedure.FINISHED, "aborted": Procedure.ABORTED}.get(outcome.status,
                                                                                          Procedure.FAILED)
    outcome.analysis = list(getattr(procedure, "analysis", []))
    return outcome


def _staged_results(procedure, path: Path) -> Results:
    """A Results for a new data file ``path`` whose header pymeasure writes into a staging file
    beside it (``name.csv.partial``), where the metadata is added once known; :func:`_publish`
    then renames it to ``path``. pymeasure creates the file empty and writes the header after,
    and rewrites it in place to add the metadata: a crash at either moment would leave a data
    file that no loader reads."""
    staging = path.with_name(path.name + ".partial")
    staging.unlink(missing_ok=True)  # left by a run killed before it published its file
    return Results(procedure, str(staging))


def _publish(results: Results, path: Path) -> None:
    """Move the staged file with its complete header to ``path`` in one rename (nothing to do once
    done, or for a file continued): the data file is whole or absent at every moment."""
    staging = Path(results.data_filename)
    if staging == path:
        return
    with open(staging, "rb") as stream:
        os.fsync(stream.fileno())
    os.replace(staging, path)
    results.data_filename, results.data_filenames = str(path), [str(path)]


def _results_for_append(procedure, path: Path) -> Results:
    """A Results that formats rows for ``path`` without touching it (pymeasure's constructor
    reads an existing file back, or writes a header into a new one)."""
    results = Results.__new__(Results)
    results.procedure, results.procedure_class = procedure, type(procedure)
    results.parameters = procedure.parameter_objects()
    results.formatter = CSVFormatter(columns=procedure.DATA_COLUMNS)
    results.data_filename, results.data_filenames = str(path), [str(path)]
    return results
