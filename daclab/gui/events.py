"""What the window learns about a run, in the order it happens (see :mod:`daclab.gui.controller`).

The measurement runs on a worker thread; everything it reports is put in a queue as one of the
records below and taken out by the window's timer on the GUI thread, so no widget is ever
touched from the worker and a flood of points costs one redraw per timer tick.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class StepInfo:
    """One step of a run: where its data go and how it was asked for."""

    run_dir: Path
    index: int  # 1-based place in the sequence
    kind: str  # a key of daclab.sequence_file.STEP_KINDS
    parameters: dict[str, Any]  # the step's parameters as in the sequence file
    data_path: Path
    sample_name: str = ""

    @property
    def title(self) -> str:
        """A tab's name: the kind, the step's place and the time the run started (the run
        folder's name begins with it, YYYYMMDD-HHMMSS), e.g. "rt sweep 2 - 21:37"."""
        label = self.kind.replace("_", " ")
        stamp = self.run_dir.name[:15]
        started = f" - {stamp[9:11]}:{stamp[11:13]}" if len(stamp) == 15 and stamp[8] == "-" else ""
        return f"{label} {self.index}{started}"


@dataclasses.dataclass(frozen=True)
class StepStarted:
    step: StepInfo


@dataclasses.dataclass(frozen=True)
class Rows:
    """Points of the running step, each a dict keyed by the procedure's DATA_COLUMNS."""

    step: StepInfo
    rows: list[dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Analysis:
    """A result the procedure found while measuring (``record["kind"]``: tc, hc2, ic, btk...)."""

    step: StepInfo
    record: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Progress:
    step: StepInfo
    percent: float
    eta_s: float


@dataclasses.dataclass(frozen=True)
class StepEnded:
    step: StepInfo
    status: str  # finished, aborted, failed
    points: int
    error: str | None


@dataclasses.dataclass(frozen=True)
class RunEnded:
    title: str
    run_dir: Path | None
    status: str
    error: str | None
    resume: bool = False  # the item went on with an interrupted run (RunController.enqueue_resume)
