"""Run one procedure in this thread, writing each point to its data file as it is measured.

The order is pymeasure's Worker's (startup, metadata into the header, execute, shutdown in any
case), and the file is a pymeasure Results file that pymeasure's own tools open; what differs is
that nothing waits in a queue: every point is written and flushed before the procedure goes on,
and the file is synced to disk every few seconds, so a crash loses at most the point in flight.
Scripts, the sequence engine and the tests run procedures this way; the GUI uses pymeasure's
Worker in a thread.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

from pymeasure.experiment import Procedure, Results

log = logging.getLogger(__name__)

SYNC_INTERVAL_S = 2.0  # wall seconds between fsyncs; a flush reaches the OS at every point


@dataclasses.dataclass
class RunOutcome:
    status: str  # "finished", "aborted" or "failed"
    data_path: Path
    points: int
    error: str | None = None
    analysis: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class _PointWriter:
    def __init__(self, results: Results, path: Path):
        self.results = results
        self.stream = open(path, "a", encoding=Results.ENCODING)
        self.points = 0
        self._last_sync = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(self.results.format(record) + Results.LINE_BREAK)
        self.stream.flush()
        self.points += 1
        if time.monotonic() - self._last_sync >= SYNC_INTERVAL_S:
            os.fsync(self.stream.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        self.stream.flush()
        os.fsync(self.stream.fileno())
        self.stream.close()


def run(procedure, data_path: str | Path, should_stop: Callable[[], bool] = lambda: False,
        on_event: Callable[[str, Any], None] = lambda topic, record: None) -> RunOutcome:
    """Run ``procedure`` (a :class:`procedures.base.LabProcedure`) into a new file ``data_path``.

    Bad parameters raise :class:`daclab.limits.LimitError` before the file is created or any
    instrument opened. Failures after that are caught: the procedure's shutdown makes the setup
    safe, and the outcome says "failed" with the error; every point emitted before is in the file.
    """
    path = Path(data_path)
    if path.exists():
        raise FileExistsError(f"data file {path} exists; a run never writes over measured data")
    procedure.check()
    path.parent.mkdir(parents=True, exist_ok=True)
    results = Results(procedure, str(path))
    writer: _PointWriter | None = None
    outcome = RunOutcome("failed", path, 0)

    def emit(topic: str, record: Any) -> None:
        if topic == "results":
            writer.write(record)
        elif topic == "batch results":
            columns = list(record)
            for values in zip(*(record[c] for c in columns)):
                writer.write(dict(zip(columns, values)))
        else:
            on_event(topic, record)

    procedure.emit = emit
    procedure.should_stop = should_stop
    procedure.status = Procedure.RUNNING
    try:
        procedure.startup()
        procedure.evaluate_metadata()
        results.store_metadata()
        writer = _PointWriter(results, path)
        procedure.execute()
        outcome.status = "aborted" if should_stop() else "finished"
    except Exception as error:
        log.exception("%s failed", type(procedure).__name__)
        outcome.error = f"{type(error).__name__}: {error}"
    finally:
        try:
            procedure.shutdown()
        finally:
            if writer is not None:
                outcome.points = writer.points
                writer.close()
    procedure.status = {"finished": Procedure.FINISHED, "aborted": Procedure.ABORTED}.get(outcome.status,
                                                                                          Procedure.FAILED)
    outcome.analysis = list(getattr(procedure, "analysis", []))
    return outcome
