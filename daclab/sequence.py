"""Run a sequence of measurements into a run folder, and resume one that was interrupted.

The sequence (a :class:`daclab.sequence_file.SequenceSpec`, from a file or from a script) is
validated whole before anything is opened. Each step then runs through :func:`daclab.runner.run`
into its own data file in a new run folder (:mod:`daclab.rundir`), one after the other on the same
lab; every step start and end, every segment of a measurement and every live result goes into
the folder's journal, synced before the run goes on. After the last step the report is written
and the run index updated.

A run killed at any moment (power cut, SIGKILL) leaves data files that parse and a journal that
says which steps and segments were finished. :func:`resume` continues such a run in the same
folder: finished steps are left alone; of the interrupted step the finished segments are kept
and skipped, the rows of the segment in flight are moved aside (``.interrupted-N.csv``: kept, not
part of the data), and the step goes on from there, appending to its file. The data of a resumed
run is therefore that of an uninterrupted run except for the segment that was retaken. The
process measuring into a run folder holds its lock (:func:`daclab.rundir.measuring`) until it
ends, however it ends: a second resume of a folder in use is refused, and the run index tells a
killed run from a running one.

Example::

    from daclab.sequence import run_sequence
    from daclab.sequence_file import load_sequence

    outcome = run_sequence(load_sequence("overnight.yaml"), out="data",
                           simulation={"sample": "ceh9_cell1"})
    print(outcome.status, outcome.run_dir)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import shutil
from pathlib import Path
from typing import Any, Callable

from daclab import __version__, runner
from daclab import clock as clocks
from daclab.lab import Lab, LabFileError, lab_path, load_lab
from daclab.procedures.base import ELAPSED_COLUMNS
from daclab.rundir import (DEFAULT_ROOT, IDENTITY_NAME, LOG_NAME, SEQUENCE_NAME, Journal, measuring,
                           new_run_dir, now_iso, read_identity, step_file_name, write_json_atomic)
from daclab.sequence_file import SequenceSpec, StepSpec, load_sequence

log = logging.getLogger(__name__)

DEFAULT_SIMULATION = {"sample": "ceh9_cell1", "seed": 0, "start_K": 300.0}


@dataclasses.dataclass
class StepReport:
    """What a step's progress callback receives: which step, how far, and the estimate of the rest."""

    step: int
    steps: int
    kind: str
    percent: float = 0.0
    eta_s: float = math.nan


@dataclasses.dataclass
class SequenceOutcome:
    status: str  # finished, aborted or failed
    run_dir: Path
    steps: list[runner.RunOutcome]
    report_dir: Path | None = None
    error: str | None = None


ProgressCallback = Callable[[StepReport], None]
EventCallback = Callable[[StepSpec, str, Any], None]  # (step, topic, record), on the measuring thread


def run_sequence(spec: SequenceSpec, out: str | Path = DEFAULT_ROOT, simulation: dict[str, Any] | None = None,
                 should_stop: Callable[[], bool] = lambda: False, progress: ProgressCallback | None = None,
                 report: bool = True, lab: Lab | None = None, on_event: EventCallback | None = None) -> SequenceOutcome:
    """Run every step of ``spec`` into a new run folder under ``out``.

    simulation: None for the lab the sequence names, or the virtual cryostat's settings
    (``sample``, ``seed``, ``start_K``, ``speedup``; missing ones from DEFAULT_SIMULATION).
    lab: an open lab to run on instead (the window keeps one open for a whole cooldown); it is
    left open. on_event(step, topic, record): "step start" ({run_dir, data_path, resumed}),
    everything the procedure reports (each point as "results" once saved, "analysis",
    "segment", "progress", "eta"), then "step end" (its RunOutcome); for a display. A fit's
    "analysis" may come from the procedure's analysis thread, so on_event must be thread-safe
    (appending to a deque or a list is).
    Every step is built and checked before the lab is opened (a LimitError names the step).
    """
    _check_steps(spec)
    if lab is not None:
        simulation = _simulation_of(lab)
    simulation = None if simulation is None else {**DEFAULT_SIMULATION, **simulation}
    run_dir = new_run_dir(out, spec.name)
    with measuring(run_dir):
        return _start_run(spec, run_dir, simulation, should_stop=should_stop, progress=progress, report=report,
                          lab=lab, on_event=on_event)


def _start_run(spec: SequenceSpec, run_dir: Path, simulation: dict | None, should_stop: Callable[[], bool],
               progress: ProgressCallback | None, report: bool, lab: Lab | None,
               on_event: EventCallback | None) -> SequenceOutcome:
    (run_dir / SEQUENCE_NAME).write_text(spec.to_yaml(), encoding="utf-8")
    identity = {
        "sequence": spec.name, "sequence_file": str(spec.source), "run_dir": str(run_dir.resolve()),
        "started": now_iso(), "lab": "simulated" if simulation else str(spec.lab_file),
        "sample": _sample_dict(spec), "simulation": simulation,
        "steps": [{"step": step.index, "kind": step.kind, "file": step_file_name(step.index, step.kind),
                   "parameters": step.parameters} for step in spec.steps],
        "estimated_duration_s": spec.estimated_duration_s(),
        "daclab_version": __version__,
    }
    write_json_atomic(run_dir / IDENTITY_NAME, identity)
    Journal(run_dir).append("sequence start", name=spec.name, steps=len(spec.steps))
    return _run_steps(spec, run_dir, simulation, first_step=1, should_stop=should_stop,
                      progress=progress, report=report, lab=lab, on_event=on_event)


def resume(run_dir: str | Path, should_stop: Callable[[], bool] = lambda: False,
           progress: ProgressCallback | None = None, report: bool = True,
           on_event: EventCallback | None = None, lab: Lab | None = None) -> SequenceOutcome:
    """Continue an interrupted run in its own folder (see the module docstring). A run whose
    steps all finished gets its report and index entry written again, and nothing measured.
    on_event: as for :func:`run_sequence`, for the steps measured now. lab: an open lab to go on
    with (the window's); it must be the lab the run was measured on (:class:`WrongLabError`
    otherwise, before anything is written), and it is left open.
    Raises :class:`daclab.rundir.RunBusyError` while another process measures into the folder.
    """
    run_dir = Path(run_dir)
    if not (run_dir / SEQUENCE_NAME).exists() or not (run_dir / IDENTITY_NAME).exists():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no {SEQUENCE_NAME} and {IDENTITY_NAME})")
    if lab is not None:
        check_same_lab(run_dir, lab)
    with measuring(run_dir):
        return _resume(run_dir, should_stop=should_stop, progress=progress, report=report, on_event=on_event,
                       lab=lab)


class WrongLabError(ValueError):
    """A run would go on in another lab (or on another virtual sample) than it was measured in."""


def check_same_lab(run_dir: Path, lab: Lab) -> None:
    """Refuse to resume ``run_dir`` in ``lab`` unless it is the lab of its first part: a real
    run's lab file, or for a simulated run the virtual cryostat with the same sample."""
    identity = read_identity(run_dir)
    simulation = identity.get("simulation")
    if simulation:
        now = _simulation_of(lab)
        if now is None or now.get("sample") != simulation.get("sample"):
            here = f"the virtual cryostat with sample {now['sample']!r}" if now else f"lab {lab.config.name!r}"
            raise WrongLabError(f"{run_dir.name} was measured on the virtual cryostat with sample "
                                f"{simulation.get('sample')!r}; the open lab is {here}")
        return
    measured_in = str(identity.get("lab", ""))
    try:
        same = lab.world is None and lab_path(measured_in).resolve() == Path(lab.config.source).resolve()
    except (FileNotFoundError, LabFileError):
        same = False
    if not same:
        where = "the virtual cryostat" if lab.world is not None else lab.config.source
        raise WrongLabError(f"{run_dir.name} was measured in lab {measured_in!r}; the open lab is "
                            f"{lab.config.name!r} ({where})")


def _resume(run_dir: Path, should_stop: Callable[[], bool], progress: ProgressCallback | None, report: bool,
            on_event: EventCallback | None, lab: Lab | None = None) -> SequenceOutcome:
    spec = load_sequence(run_dir / SEQUENCE_NAME)
    identity = read_identity(run_dir)
    state = journal_state(Journal(run_dir))
    first = next((step.index for step in spec.steps if step.index not in state.finished_steps), None)
    if state.finished or first is None:  # killed after the last step, while writing the report
        log.info("%s: every step finished; only the report and the index are brought up to date", run_dir)
        if not state.finished:
            Journal(run_dir).append("sequence end", status="finished", error=None)
        report_dir = _write_report(run_dir) if report else None
        _record(run_dir)
        return SequenceOutcome("finished", run_dir, [], report_dir)
    kind = spec.steps[first - 1].kind
    done = state.done_segments.get(first, {})
    path = run_dir / step_file_name(first, kind)
    if path.exists():
        if done:
            runner.set_aside_tail(path, max(offset for offset in done.values()))
        else:
            _set_aside_whole(path)
    simulation = identity.get("simulation")
    if simulation and lab is None:  # a real cryostat stays where it was when the software died; the virtual one must be told
        simulation = {**simulation, "start_K": _last_temperature(run_dir, first) or simulation.get("start_K")}
    Journal(run_dir).append("sequence resume", step=first, done_segments=sorted(done))
    resume_point = None
    if done:  # the step goes on in its file (else it starts afresh)
        kept_s = runner.last_row_value(path, ELAPSED_COLUMNS) if path.exists() else None
        resume_point = ResumePoint(set(done), state.segment_analysis.get(first, []), state.step_started.get(first),
                                   kept_s or 0.0)
    return _run_steps(spec, run_dir, simulation, first_step=first, should_stop=should_stop, progress=progress,
                      report=report, lab=lab, on_event=on_event, resume_point=resume_point)


@dataclasses.dataclass
class ResumePoint:
    """Where a resumed step goes on in its own file: the segments it finished, their analysis
    records (the inputs of its fits), and its clock (see LabProcedure.continue_elapsed_time)."""
    done_segments: set[str]
    records: list[dict]
    started: float | None  # the lab's time stamp when the step's file was begun
    last_kept_s: float  # the time column's last kept value

    def apply(self, procedure) -> None:
        procedure.done_segments = set(self.done_segments)
        procedure.restore(list(self.records))
        procedure.continue_elapsed_time(self.started, self.last_kept_s)


@dataclasses.dataclass
class JournalState:
    finished: bool
    finished_steps: set[int]
    done_segments: dict[int, dict[str, int]]  # step -> {segment key: file offset after it}
    segment_analysis: dict[int, list[dict]]  # step -> analysis records of its done segments, in order
    step_started: dict[int, float]  # step -> the lab's time stamp when its data file was begun (where recorded)


def journal_state(journal: Journal) -> JournalState:
    """What a run's journal says was finished (the last word on each step counts).

    An analysis record belongs to the latest attempt at the segment it names: a discarded
    attempt's records go with it, and a fit that finished after its segment still counts.
    """
    finished, finished_steps, done, started = False, set(), {}, {}
    attempts: dict[int, dict[str, list[dict]]] = {}  # step -> segment key -> records of its latest attempt
    for event in journal.events():
        kind, step = event.get("event"), event.get("step")
        if kind == "sequence end":
            finished = event.get("status") == "finished"
        elif kind == "step end" and event.get("status") == "finished":
            finished_steps.add(step)
        elif kind == "step start" and isinstance(event.get("lab_timestamp"), (int, float)):
            if not event.get("resumed") or step not in started:  # a fresh start (a new file) counts anew
                started[step] = float(event["lab_timestamp"])
        elif kind == "segment start":
            attempts.setdefault(step, {}).pop(event["key"], None)  # re-inserted last: the order measured
            attempts[step][event["key"]] = []
        elif kind == "segment done":
            done.setdefault(step, {})[event["key"]] = int(event["offset"])
        elif kind == "segment discard":
            done.get(step, {}).pop(event["key"], None)
            attempts.get(step, {}).pop(event["key"], None)
        elif kind == "analysis" and isinstance(event.get("record"), dict):
            records = attempts.get(step, {}).get(event["record"].get("segment"))
            if records is not None:
                records.append(event["record"])
    analysis = {step: [record for key, records in by_key.items() if key in done.get(step, {}) for record in records]
                for step, by_key in attempts.items()}
    return JournalState(finished, finished_steps, done, analysis, started)


def _run_steps(spec: SequenceSpec, run_dir: Path, simulation: dict | None, first_step: int,
               should_stop: Callable[[], bool], progress: ProgressCallback | None, report: bool,
               lab: Lab | None = None, on_event: EventCallback | None = None,
               resume_point: ResumePoint | None = None) -> SequenceOutcome:
    journal = Journal(run_dir)
    outcomes: list[runner.RunOutcome] = []
    status, error = "finished", None
    handler = _attach_log(run_dir)
    try:
        with contextlib.nullcontext(lab) if lab is not None else _open_lab(spec, simulation) as lab:
            for step in spec.steps[first_step - 1:]:
                path = run_dir / step_file_name(step.index, step.kind)
                procedure = step.build(lab=lab)
                procedure.suspenders = list(spec.suspenders)
                resuming = step.index == first_step and resume_point is not None
                if resuming:
                    resume_point.apply(procedure)
                journal.append("step start", step=step.index, kind=step.kind, file=path.name, resumed=resuming,
                               lab_timestamp=clocks.current().timestamp())  # the lab's clock: virtual in simulation
                _record(run_dir, running=True)  # the run browser shows the step running from its start
                if on_event is not None:
                    on_event(step, "step start", {"run_dir": run_dir, "data_path": path, "resumed": resuming})
                log.info("step %d/%d: %s -> %s", step.index, len(spec.steps), step.kind, path.name)
                outcome = runner.run(procedure, path, should_stop=should_stop, append=resuming,
                                     on_event=_journal_events(journal, step, len(spec.steps), progress, on_event))
                outcomes.append(outcome)
                journal.append("step end", step=step.index, status=outcome.status, points=outcome.points,
                               error=outcome.error)
                if on_event is not None:
                    on_event(step, "step end", outcome)
                _record(run_dir, running=True)
                if outcome.status != "finished":
                    status, error = outcome.status, outcome.error
                    break
    except Exception as failure:  # the lab would not open, or the engine itself failed: say so in the journal
        log.exception("sequence %s failed", spec.name)
        status, error = "failed", f"{type(failure).__name__}: {failure}"
    journal.append("sequence end", status=status, error=error)
    report_dir = None
    if report:
        report_dir = _write_report(run_dir)
    _record(run_dir)
    logging.getLogger().removeHandler(handler)
    handler.close()
    return SequenceOutcome(status, run_dir, outcomes, report_dir, error)


def _journal_events(journal: Journal, step, steps: int, progress: ProgressCallback | None,
                    listener: EventCallback | None = None):
    state = StepReport(step.index, steps, step.kind)

    def on_event(topic: str, record: Any) -> None:
        if listener is not None:
            listener(step, topic, record)
        if topic == "segment":
            journal.append(f"segment {record['state']}", step=step.index,
                           **{k: v for k, v in record.items() if k != "state"})
        elif topic == "analysis":
            journal.append("analysis", step=step.index, record=record)
        elif topic in ("suspend", "resume"):
            journal.append(topic, step=step.index, **record)
        elif topic == "progress":
            state.percent = float(record)
        elif topic == "eta" and progress is not None:  # always follows a "progress"
            state.eta_s = float(record)
            progress(state)

    return on_event


def _check_steps(spec: SequenceSpec) -> None:
    """Build and check every step, as the file loader did (a script's spec may be hand-made)."""
    for step in spec.steps:
        step.build().check()


def _open_lab(spec: SequenceSpec, simulation: dict | None) -> Lab:
    if simulation is None:
        if spec.simulation_model and load_lab(spec.lab_file).simulation is not None:
            return Lab.open(spec.lab_file, sample=spec.simulation_sample())  # a simulated lab takes the sample file's model
        return Lab.open(spec.lab_file)
    settings = {k: v for k, v in simulation.items() if v is not None}
    if spec.simulation_model and settings.get("sample") == spec.simulation_model:
        settings["sample"] = spec.simulation_sample()  # the model without the keys naming the sample
    return Lab.open("simulated", **settings)


def _simulation_of(lab: Lab) -> dict[str, Any] | None:
    """The settings that would open ``lab``'s virtual cryostat again where it is now (for a
    resume); None for a real lab."""
    if lab.world is None:
        return None
    settings = dataclasses.asdict(lab.config.simulation)
    settings["start_K"] = round(float(lab.world.sample_temperature()), 3)
    if not isinstance(settings.get("sample"), str):  # a model object: a resume uses the sequence's sample file
        settings["sample"] = lab.world.sample.name
    settings["speedup"] = None if math.isinf(settings["speedup"]) else settings["speedup"]
    return settings


def _sample_dict(spec: SequenceSpec) -> dict[str, Any]:
    sample = dataclasses.asdict(spec.sample)
    if isinstance(sample.get("pressure_GPa"), float) and math.isnan(sample["pressure_GPa"]):
        sample["pressure_GPa"] = None
    return sample


def _last_temperature(run_dir: Path, up_to_step: int) -> float | None:
    """The temperature of the last row written by the steps up to ``up_to_step`` (files moved
    aside included: they hold the latest rows), None when no row has one."""
    latest: tuple[float, float] | None = None  # (file modification time, kelvin)
    for path in sorted(run_dir.glob("*.csv")):
        if int(path.name.split("_", 1)[0]) > up_to_step:
            continue
        kelvin = runner.last_row_value(path, ("Temperature (K)",))
        if kelvin is not None and (latest is None or path.stat().st_mtime >= latest[0]):
            latest = (path.stat().st_mtime, kelvin)
    return None if latest is None else latest[1]


def _set_aside_whole(path: Path) -> None:
    """An interrupted step with no finished segment starts a fresh file; the old one is kept aside."""
    moved = runner.aside_path(path)
    shutil.move(path, moved)
    log.warning("%s had no finished segment; moved to %s and the step starts again", path.name, moved.name)


def _attach_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / LOG_NAME, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    # daclab's own account of the run; other libraries only when they warn (pymeasure logs every parameter)
    handler.addFilter(lambda record: record.name.startswith("daclab") or record.levelno >= logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def _write_report(run_dir: Path) -> Path | None:
    from daclab.report import write_report

    try:
        return write_report(run_dir)
    except Exception:  # a report that cannot be drawn must not hide that the data are there
        log.exception("the report of %s could not be written", run_dir)
        return None


def _record(run_dir: Path, running: bool = False) -> None:
    """Bring the run index of the data root up to date with this run (rebuildable, so best effort)."""
    from daclab.run_index import RunIndex

    try:
        with RunIndex.at(run_dir.parent) as index:
            index.record_run(run_dir, running=running)
    except Exception:
        log.exception("the run index could not record %s", run_dir)
