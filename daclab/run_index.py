"""The run index: one SQLite file per data root that lists every sequence run, its steps and
their main results, so that months of cooldowns can be searched ("every R-T sweep of cell 2
since October", "Tc of this sample against its age") without opening a thousand data files.

The index holds nothing of its own. Every row is derived from a run folder (daclab.rundir):
run.json says who and where, the journal says what happened (step start/end, analysis events
found while measuring), report/summary.json adds the results of the report when there is one.
``record_run`` rewrites all rows of one run in a single transaction, so that a reader (the GUI)
sees a run either as it was or as it is now, even when the writer is killed halfway: SQLite's
atomic commit throws an unfinished transaction away on the next open. A lost or damaged index is
remade from the folders with ``rebuild`` (``daclab runs --rebuild``). A run recorded as running
whose process has died (its folder's run.lock is free: daclab.rundir.measuring) reads as
interrupted, as a rebuild records it.

Tables (schema version in ``PRAGMA user_version``)::

    sequences     one row per run folder (run_dir is relative to the index's folder when the
                  run lies under it, so a data root can be copied elsewhere whole)
    measurements  one row per step that was started: kind, data file, status, points, age of
                  the sample (days since synthesis) and the error of a failed step
    results       name, value, standard error and unit of each number found for a step:
                  tc_midpoint_K, hc2_whh_T, jc0_A_cm2, delta0_meV, ratio_2delta_kTc ...

Where a result comes from: the analysis events of the journal give Tc (zero-field legs: the
mean of the first cooling and the first warming leg, which cancels the thermal lag, and
tc_lag_K = warming - cooling), Hc2(0), Jc(0), the BCS gap and the aging fit as the procedure
last fitted them; summary.json, when it exists, adds the numbers of each file and its tc / hc2
/ jc / gap / aging sections, and wins where both name the same result. The age of the sample
for a step is the mean age of its Tc legs when it has any (a decaying hydride's Tc belongs to
the moment it was measured), else the report's, else the data file header's (age at start).

The file is opened in WAL mode, which needs a local file system (not a network share).
``daclab runs`` lists the index on the command line (see :func:`main`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import math
import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from daclab.command_line import EXIT_USAGE, CommandParser, ParserExit, UsageError
from daclab.limits import check_choice
from daclab.rundir import (DEFAULT_ROOT, IDENTITY_NAME, INDEX_NAME, LOCK_NAME, REPORT_FOLDER, SUMMARY_NAME, Journal,
                           is_measuring, read_identity)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# A sequence commits a run in milliseconds; a reader or a second writer waits this long for the
# lock instead of failing with "database is locked".
BUSY_TIMEOUT_S = 30.0
# A leg at a field below this counts as zero field (the magnet's remanence and the readback
# offset of a supply at zero are well below 1 mT).
ZERO_FIELD_T = 1e-3
TC_CRITERIA = ("onset", "midpoint", "zero", "intersection")  # as daclab.analysis.transitions.CRITERIA
STEP_STATUSES = ("finished", "aborted", "failed", "interrupted", "running", "unknown")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sequences (
        id INTEGER PRIMARY KEY,
        run_dir TEXT NOT NULL UNIQUE,
        name TEXT,
        sample TEXT,
        cell TEXT,
        pressure_GPa REAL,
        pressure_scale TEXT,
        synthesis_date TEXT,
        lab TEXT,
        simulated INTEGER NOT NULL DEFAULT 0 CHECK (simulated IN (0, 1)),
        started TEXT,
        ended TEXT,
        status TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS measurements (
        id INTEGER PRIMARY KEY,
        sequence_id INTEGER NOT NULL REFERENCES sequences(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        kind TEXT,
        file TEXT,
        status TEXT NOT NULL,
        points INTEGER,
        started TEXT,
        ended TEXT,
        days_since_synthesis REAL,
        error TEXT,
        UNIQUE (sequence_id, step))""",
    """CREATE TABLE IF NOT EXISTS results (
        measurement_id INTEGER NOT NULL REFERENCES measurements(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value REAL,
        stderr REAL,
        unit TEXT,
        PRIMARY KEY (measurement_id, name))""",
    "CREATE INDEX IF NOT EXISTS sequences_by_sample ON sequences(sample, cell)",
    "CREATE INDEX IF NOT EXISTS results_by_name ON results(name, measurement_id)",
)

# summary.json section -> {key in the section: result name}; the section's "file" says which
# step it belongs to. Keys not listed here are kept as "<section>_<key>".
SECTION_RESULTS = {
    "tc": {"onset_K": "tc_onset_K", "midpoint_K": "tc_midpoint_K", "zero_K": "tc_zero_K",
           "intersection_K": "tc_intersection_K", "width_K": "tc_width_K", "lag_K": "tc_lag_K"},
    "hc2": {"whh_T": "hc2_whh_T", "gl_T": "hc2_gl_T", "tc_K": "hc2_tc_K"},
    "jc": {"jc0_A_cm2": "jc0_A_cm2", "tc_K": "jc_tc_K"},
    "gap": {"delta0_meV": "delta0_meV", "tc_K": "gap_tc_K", "ratio_2delta_kTc": "ratio_2delta_kTc"},
    "aging": {"tau_days": "aging_tau_days", "tc_final_K": "aging_tc_final_K", "tc0_K": "aging_tc0_K"},
}

# The headline numbers of a measurement (a row of ``runs``): the first result present.
MAIN_RESULTS = {
    "tc_K": ("tc_midpoint_K",),
    "hc2_T": ("hc2_whh_T", "hc2_gl_T", "hc2_whh_spin_T"),
    "jc0_A_cm2": ("jc0_A_cm2",),
    "delta0_meV": ("delta0_meV",),
}

# Unit of a result from the end of its name, longest ending first.
_UNIT_SUFFIXES = (("_A_cm2", "A/cm^2"), ("_T_per_K", "T/K"), ("_meV", "meV"), ("_mV", "mV"), ("_GPa", "GPa"),
                  ("_ohm", "ohm"), ("_days", "day"), ("_nm", "nm"), ("_K", "K"), ("_T", "T"), ("_A", "A"),
                  ("_V", "V"), ("_S", "S"), ("_s", "s"))

# The metadata line the procedures write in each data file header (procedures/base.py run_days).
_DAYS_HEADER = re.compile(r"^#\s*Days since synthesis at start:\s*(\S+)")


class RunIndexError(Exception):
    """A run folder or an index that cannot be used; the message says which and what to do."""


Value = tuple[float, "float | None"]  # (value, standard error or None)


def unit_of(name: str) -> str:
    """The unit a result's name ends in ('tc_midpoint_K' -> 'K', 'jc0_A_cm2' -> 'A/cm^2'); '' if none."""
    for suffix, unit in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    return ""


# ---- reading a run folder ------------------------------------------------------------------


@dataclasses.dataclass
class StepRecord:
    """One step of a run as the index stores it."""

    step: int
    kind: str | None = None
    file: str | None = None
    status: str = "unknown"
    points: int | None = None
    started: str | None = None
    ended: str | None = None
    days_since_synthesis: float | None = None
    error: str | None = None
    results: dict[str, Value] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunRecord:
    """Everything the index stores of one run folder."""

    run_dir: Path
    name: str | None
    sample: str | None
    cell: str | None
    pressure_GPa: float | None
    pressure_scale: str | None
    synthesis_date: str | None
    lab: str | None
    simulated: bool
    started: str | None
    ended: str | None
    status: str
    steps: list[StepRecord]


def read_run(run_dir: str | Path, running: bool = False) -> RunRecord:
    """The rows of one run folder, from run.json, journal.jsonl and report/summary.json.

    A step with a 'step start' but no later 'step end' is "interrupted", or "running" when
    ``running`` says the sequence is still going: the engine that runs it says so, and so does
    the folder's lock while a process holds it (:func:`daclab.rundir.is_measuring`).
    """
    run_dir = Path(run_dir).resolve()
    running = running or is_measuring(run_dir)
    if not (run_dir / IDENTITY_NAME).is_file():
        raise RunIndexError(f"{run_dir}: no {IDENTITY_NAME}; not a run folder")
    try:
        identity = read_identity(run_dir)
    except (ValueError, OSError) as error:
        raise RunIndexError(f"{run_dir / IDENTITY_NAME}: unreadable ({error})") from None
    if not isinstance(identity, dict):
        raise RunIndexError(f"{run_dir / IDENTITY_NAME}: not a JSON object")
    summary = _read_summary(run_dir)
    try:
        journal = _JournalFacts.read(run_dir, identity, running)
    except (ValueError, OSError) as error:  # e.g. bytes that are not UTF-8 in the middle of the journal
        raise RunIndexError(f"{run_dir}: journal unreadable ({error})") from None

    steps = journal.steps
    for entry in summary.get("measurements") or []:
        if isinstance(entry, dict) and isinstance(entry.get("step"), int):
            _merge_summary_measurement(steps.setdefault(entry["step"], StepRecord(entry["step"])), entry, run_dir)
    _merge_summary_sections(steps, summary, run_dir)
    for step in steps.values():
        _fill_from_data_file(step, run_dir)

    sample = {**_dict(summary.get("sample")), **_dict(identity.get("sample"))}
    return RunRecord(
        run_dir=run_dir, name=_text(identity.get("sequence")), sample=_text(sample.get("name")),
        cell=_text(sample.get("cell")), pressure_GPa=_finite(sample.get("pressure_GPa")),
        pressure_scale=_text(sample.get("pressure_scale")), synthesis_date=_text(sample.get("synthesis_date")),
        lab=_text(identity.get("lab", summary.get("lab"))),
        simulated=bool(identity.get("simulation", summary.get("simulation"))),
        started=_text(identity.get("started")) or journal.started, ended=journal.ended, status=journal.status,
        steps=[steps[number] for number in sorted(steps)])


@dataclasses.dataclass
class _JournalFacts:
    steps: dict[int, StepRecord]
    started: str | None
    ended: str | None
    status: str

    @classmethod
    def read(cls, run_dir: Path, identity: dict[str, Any], running: bool) -> _JournalFacts:
        planned = {entry["step"]: entry for entry in identity.get("steps") or []
                   if isinstance(entry, dict) and isinstance(entry.get("step"), int)}
        steps: dict[int, StepRecord] = {}
        last_start: dict[int, int] = {}
        last_end: dict[int, int] = {}
        analysis: dict[int, list[dict[str, Any]]] = {}
        started = ended = status = None
        any_event = False
        for position, event in enumerate(Journal(run_dir).events()):
            if not isinstance(event, dict):
                continue
            any_event = True
            kind, number = event.get("event"), event.get("step")
            if kind == "sequence start":
                started = started or event.get("time")
            elif kind == "sequence end":
                ended, status = event.get("time"), event.get("status") or "unknown"
            elif kind == "sequence resume":  # the end written before it was not the last word
                ended = status = None
            elif not isinstance(number, int):
                continue
            elif kind == "step start":
                step = steps.setdefault(number, StepRecord(number))
                step.kind = event.get("kind") or step.kind
                step.file = _step_file(run_dir, event.get("file")) or step.file
                step.started = step.started or event.get("time")  # a resumed step began the first time
                last_start[number] = position
            elif kind == "step end":
                step = steps.setdefault(number, StepRecord(number))
                step.status = event.get("status") or "unknown"
                step.points = _count(event.get("points"))
                step.error = _text(event.get("error"))
                step.ended = event.get("time")
                last_end[number] = position
            elif kind == "analysis" and isinstance(event.get("record"), dict):
                analysis.setdefault(number, []).append(event["record"])
        open_steps = [number for number in last_start if last_end.get(number, -1) < last_start[number]]
        latest = max(open_steps, key=last_start.get, default=None)
        for number in open_steps:
            steps[number].status = "running" if running and status is None and number == latest else "interrupted"
            steps[number].ended = None
        for number, step in steps.items():
            entry = planned.get(number, {})
            step.kind = step.kind or _text(entry.get("kind"))
            step.file = step.file or _step_file(run_dir, entry.get("file"))
            step.results, days = _analysis_results(analysis.get(number, []))
            step.days_since_synthesis = days
        if status is None:
            status = "running" if running else ("interrupted" if any_event else "unknown")
        return cls(steps, started, ended, status)


def _analysis_results(records: Sequence[dict[str, Any]]) -> tuple[dict[str, Value], float | None]:
    """Results of one step from the analysis events the procedure emitted, and the sample's age
    at its zero-field Tc (None when there is none)."""
    results: dict[str, Value] = {}
    legs: dict[str, dict[str, Any]] = {}
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        kind = record.get("kind")
        if kind == "tc" and _at_zero_field(record.get("field_T")) and record.get("has_transition", True):
            legs.setdefault(str(record.get("direction", "")), record)  # the first leg of each direction
        elif kind in ("hc2", "jc_fit", "gap_fit", "aging"):
            latest[kind] = record  # fits are redone as points arrive: the last one used them all
    for criterion in (*TC_CRITERIA, "width"):
        values = [value for leg in legs.values() if (value := _finite(leg.get(f"{criterion}_K"))) is not None]
        if values:
            results[f"tc_{criterion}_K"] = (sum(values) / len(values), None)
    if "cooling" in legs and "warming" in legs:  # the direction names of procedures/rt_sweep.py
        down, up = (_finite(legs[name].get("midpoint_K")) for name in ("cooling", "warming"))
        if down is not None and up is not None:
            results["tc_lag_K"] = (up - down, None)
    if "hc2" in latest:
        model = str(latest["hc2"].get("model") or "whh")
        _put(results, f"hc2_{model}_T", latest["hc2"].get("hc2_0_T"))
        _put(results, "hc2_tc_K", latest["hc2"].get("tc_K"))
    if "jc_fit" in latest:
        _put(results, "jc0_A_cm2", latest["jc_fit"].get("jc0_A_cm2"))
        _put(results, "jc_tc_K", latest["jc_fit"].get("tc_K"))
    if "gap_fit" in latest:
        _put(results, "delta0_meV", latest["gap_fit"].get("delta0_meV"))
        _put(results, "gap_tc_K", latest["gap_fit"].get("tc_K"))
        _put(results, "ratio_2delta_kTc", latest["gap_fit"].get("ratio"))
    if "aging" in latest:
        for key in ("tau_days", "tc_final_K", "tc0_K"):
            _put(results, f"aging_{key}", latest["aging"].get(key))
    ages = [age for leg in legs.values() if (age := _finite(leg.get("days_since_synthesis"))) is not None]
    return results, (sum(ages) / len(ages) if ages else None)


def _merge_summary_measurement(step: StepRecord, entry: dict[str, Any], run_dir: Path) -> None:
    step.kind = step.kind or _text(entry.get("kind"))
    step.file = step.file or _step_file(run_dir, entry.get("file"))
    if step.points is None:
        step.points = _count(entry.get("points"))
    if step.days_since_synthesis is None:  # the age when the legs crossed Tc is closer than the file's start
        step.days_since_synthesis = _finite(entry.get("days_since_synthesis"))
    step.results.update(flatten_results(entry.get("results")))


def _merge_summary_sections(steps: dict[int, StepRecord], summary: dict[str, Any], run_dir: Path) -> None:
    by_file = {step.file: step for step in steps.values() if step.file}
    for section, names in SECTION_RESULTS.items():
        content = summary.get(section)
        if not isinstance(content, dict):
            continue
        step = by_file.get(_step_file(run_dir, content.get("file")))
        if step is None:
            log.warning("summary.json %s section names file %r, which is no step of the run; not indexed",
                        section, content.get("file"))
            continue
        for key, value in content.items():
            if key != "file" and (number := _value(value)) is not None:
                step.results[names.get(key, f"{section}_{key}")] = number


def _fill_from_data_file(step: StepRecord, run_dir: Path) -> None:
    """Points (rows written) and the sample's age from the data file, where nothing better said."""
    if not step.file or (step.points is not None and step.days_since_synthesis is not None):
        return
    rows, days = _data_file_facts(run_dir / step.file)
    if step.points is None:
        step.points = rows
    if step.days_since_synthesis is None:
        step.days_since_synthesis = days


def _data_file_facts(path: Path) -> tuple[int | None, float | None]:
    """(data rows, days since synthesis at start) of a pymeasure Results file; None where unknown.
    A last line without its newline was torn by a crash and is not counted."""
    if not path.is_file():
        return None, None
    rows, days, names_seen = 0, None, False
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            if line.startswith("#"):
                if match := _DAYS_HEADER.match(line):
                    days = _finite(_float_or_none(match.group(1)))
                continue
            if not line.endswith("\n"):
                break
            if not line.strip():
                continue
            if names_seen:
                rows += 1
            names_seen = True  # the first line below the header holds the column names
    return rows, days


def flatten_results(results: Any, prefix: str = "") -> dict[str, Value]:
    """Numbers of a summary's per-file results as {name: (value, stderr)}: nested objects joined
    with '_' ({"cooling": {"midpoint_K": 1}} -> cooling_midpoint_K), {"value", "stderr"} kept as
    one result; text, flags, lists and nulls are not results and are left out."""
    out: dict[str, Value] = {}
    if not isinstance(results, dict):
        return out
    for key, item in results.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and not _is_estimate(item):
            out.update(flatten_results(item, name + "_"))
        elif (number := _value(item)) is not None:
            out[name] = number
    return out


def _read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / REPORT_FOLDER / SUMMARY_NAME
    if not path.is_file():
        return {}
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:  # the report can be remade; the journal still counts
        log.warning("%s: unreadable (%s); indexed from the journal only", path, error)
        return {}
    return summary if isinstance(summary, dict) else {}


def _step_file(run_dir: Path, file: Any) -> str | None:
    """A step's data file as its name inside the run folder (absolute only when it lies elsewhere)."""
    if not isinstance(file, str) or not file:
        return None
    path = Path(file)
    if path.is_absolute():
        with contextlib.suppress(ValueError):
            return path.relative_to(run_dir).as_posix()
    return path.as_posix()


def _is_estimate(item: dict[str, Any]) -> bool:
    return "value" in item and set(item) <= {"value", "stderr"}


def _value(item: Any) -> Value | None:
    """(value, stderr) of a plain number or a {"value", "stderr"} object; None for anything else or NaN."""
    if isinstance(item, dict) and _is_estimate(item):
        value = _finite(item.get("value"))
        return None if value is None else (value, _finite(item.get("stderr")))
    value = _finite(item)
    return None if value is None else (value, None)


def _put(results: dict[str, Value], name: str, item: Any) -> None:
    if (number := _value(item)) is not None:
        results[name] = number


def _finite(item: Any) -> float | None:
    """A real number as float; None for NaN, infinities, flags, text and anything else."""
    if isinstance(item, bool) or not isinstance(item, (int, float)):
        return None
    return float(item) if math.isfinite(item) else None


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _count(item: Any) -> int | None:
    return int(item) if isinstance(item, int) and not isinstance(item, bool) and item >= 0 else None


def _text(item: Any) -> str | None:
    return item if isinstance(item, str) and item else None


def _dict(item: Any) -> dict[str, Any]:
    return item if isinstance(item, dict) else {}


def _at_zero_field(field_T: Any) -> bool:
    """No field read (NaN or null: no magnet) or one within ZERO_FIELD_T of zero."""
    field = _finite(field_T)
    return field is None or abs(field) <= ZERO_FIELD_T


# ---- the index -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Rebuilt:
    """What :meth:`RunIndex.rebuild` did: runs recorded, folders it could not read, rows dropped."""

    recorded: int
    skipped: tuple[str, ...]
    forgotten: int


class RunIndex:
    """The run index of a data root, ``<root>/runs.sqlite`` (open with :meth:`at`).

    One object holds one connection: use one per thread (or process). Readers never block the
    writer nor see half a run; a writer waits up to BUSY_TIMEOUT_S for another writer.
    """

    def __init__(self, path: str | Path, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise RunIndexError(f"no run index at {self.path}")
        self.root = self.path.resolve().parent
        # Autocommit at the driver level: every write below opens its own explicit transaction.
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys = ON")  # per connection; ON DELETE CASCADE needs it
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":  # e.g. a network share; rollback journal still commits atomically
                log.warning("%s: journal mode %s (WAL unavailable); readers may wait for writers", self.path, mode)
            # NORMAL rather than FULL: in WAL mode NORMAL can lose the last commits on a power cut,
            # never consistency, and everything here can be rebuilt from the run folders; FULL
            # would add an fsync to every commit of a sequence that is measuring.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._ensure_schema()
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def at(cls, root: str | Path = DEFAULT_ROOT, create: bool = True) -> RunIndex:
        """The index of the data root ``root``."""
        return cls(Path(root) / INDEX_NAME, create=create)

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection, for queries of one's own (read only: rows belong to record_run)."""
        return self._db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ---- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock up front, so a wait for another
        writer happens here (within the busy timeout) and never as a failure halfway."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """Several queries on one snapshot (a writer may commit between two statements otherwise)."""
        self._db.execute("BEGIN")
        try:
            yield self._db
        finally:
            self._db.execute("COMMIT")

    def _ensure_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise RunIndexError(f"{self.path}: index schema version {version}, this daclab reads version "
                                f"{SCHEMA_VERSION}; the index only repeats the run folders: delete it and run "
                                f"'daclab runs --rebuild --data {self.root}'")
        with self._write() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _key(self, run_dir: Path) -> str:
        path = run_dir.resolve()
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    def _run_path(self, key: str) -> Path:
        return self.root / key  # an absolute key stays as it is

    def record_run(self, run_dir: str | Path, running: bool = False) -> int:
        """(Re)write every row of one run folder in one transaction; returns the sequence id.

        ``running``: the caller is the sequence still running this folder, so its open step is
        "running" rather than "interrupted". Raises RunIndexError for a folder without run.json.
        """
        run = read_run(run_dir, running)
        key = self._key(run.run_dir)
        with self._write() as db:
            db.execute("DELETE FROM measurements WHERE sequence_id IN (SELECT id FROM sequences WHERE run_dir = ?)",
                       (key,))
            sequence_id = db.execute(
                """INSERT INTO sequences (run_dir, name, sample, cell, pressure_GPa, pressure_scale, synthesis_date,
                                          lab, simulated, started, ended, status)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (run_dir) DO UPDATE SET
                       name = excluded.name, sample = excluded.sample, cell = excluded.cell,
                       pressure_GPa = excluded.pressure_GPa, pressure_scale = excluded.pressure_scale,
                       synthesis_date = excluded.synthesis_date, lab = excluded.lab, simulated = excluded.simulated,
                       started = excluded.started, ended = excluded.ended, status = excluded.status
                   RETURNING id""",
                (key, run.name, run.sample, run.cell, run.pressure_GPa, run.pressure_scale, run.synthesis_date,
                 run.lab, int(run.simulated), run.started, run.ended, run.status)).fetchall()[0][0]
            for step in run.steps:
                measurement_id = db.execute(
                    """INSERT INTO measurements (sequence_id, step, kind, file, status, points, started, ended,
                                                 days_since_synthesis, error)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                    (sequence_id, step.step, step.kind, step.file, step.status, step.points, step.started,
                     step.ended, step.days_since_synthesis, step.error)).fetchall()[0][0]
                db.executemany("INSERT INTO results (measurement_id, name, value, stderr, unit) VALUES (?, ?, ?, ?, ?)",
                               [(measurement_id, name, value, stderr, unit_of(name))
                                for name, (value, stderr) in sorted(step.results.items())])
        return sequence_id

    def forget(self, run_dir: str | Path) -> bool:
        """Drop one run's rows (its folder was deleted); True when there were any."""
        return self._forget_keys([self._key(Path(run_dir))]) > 0

    def _forget_keys(self, keys: Sequence[str]) -> int:
        with self._write() as db:
            return sum(db.execute("DELETE FROM sequences WHERE run_dir = ?", (key,)).rowcount for key in keys)

    def rebuild(self, root: str | Path | None = None) -> Rebuilt:
        """Re-record every run folder (a folder with run.json) under ``root`` (default: the
        index's own folder), one transaction each, and drop the rows of runs under ``root``
        whose folder is gone. A folder that cannot be read is skipped and named in the answer."""
        root = Path(root).resolve() if root is not None else self.root
        if not root.is_dir():
            raise RunIndexError(f"{root}: no such data folder")
        recorded, skipped = 0, []
        for run_dir in find_run_dirs(root):
            try:
                self.record_run(run_dir)
                recorded += 1
            except RunIndexError as error:
                skipped.append(str(error))
        gone = [key for (key,) in self._db.execute("SELECT run_dir FROM sequences")
                if (path := self._run_path(key).resolve()).is_relative_to(root) and not (path / IDENTITY_NAME).is_file()]
        self._forget_keys(gone)
        return Rebuilt(recorded, tuple(skipped), len(gone))

    # ---- queries -----------------------------------------------------------------------------

    def runs(self, sample: str | None = None, cell: str | None = None, since: Any = None, until: Any = None,
             kind: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """One dict per measurement, oldest first, with its run's sample, cell and start, the
        headline results (tc_K, hc2_T, jc0_A_cm2, delta0_meV: None where unknown) and every
        result under "results" as {name: {"value", "stderr", "unit"}}.

        since / until: a date ('2026-10-01', whole days in local time, both included) or an ISO
        date-time, compared with the measurement's start. status: one of STEP_STATUSES.
        """
        if status is not None:
            check_choice("status", status, STEP_STATUSES)
        where, parameters = _filters(sample=sample, cell=cell, since=since, until=until)
        if kind is not None:
            where.append("m.kind = ?")
            parameters.append(kind)
        condition = " AND ".join(where) or "1"
        with self._read() as db:
            rows = db.execute(
                f"""SELECT m.id, s.run_dir, s.name AS sequence, s.sample, s.cell, s.pressure_GPa, s.simulated,
                           s.started AS sequence_started, s.status AS sequence_status, m.step, m.kind, m.file,
                           m.status, m.points, m.started, m.ended, m.days_since_synthesis, m.error
                    FROM measurements AS m JOIN sequences AS s ON s.id = m.sequence_id
                    WHERE {condition}
                    ORDER BY julianday(COALESCE(m.started, s.started)), s.run_dir, m.step""", parameters).fetchall()
            found: dict[int, dict[str, dict[str, Any]]] = {}
            for result in db.execute(
                    f"""SELECT r.measurement_id, r.name, r.value, r.stderr, r.unit
                        FROM results AS r JOIN measurements AS m ON m.id = r.measurement_id
                                          JOIN sequences AS s ON s.id = m.sequence_id
                        WHERE {condition}""", parameters):
                found.setdefault(result["measurement_id"], {})[result["name"]] = {
                    "value": result["value"], "stderr": result["stderr"], "unit": result["unit"]}
        out = []
        settle = self._settler()
        for row in rows:
            entry = dict(row)
            entry["run_dir"] = str(self._run_path(row["run_dir"]))
            entry["path"] = str(Path(entry["run_dir"]) / row["file"]) if row["file"] else None
            entry["simulated"] = bool(row["simulated"])
            entry["status"] = settle(row["run_dir"], row["status"])
            entry["sequence_status"] = settle(row["run_dir"], row["sequence_status"])
            if status is not None and entry["status"] != status:
                continue
            results = found.get(entry.pop("id"), {})
            for key, names in MAIN_RESULTS.items():
                entry[key] = next((results[name]["value"] for name in names if name in results), None)
            entry["results"] = results
            out.append(entry)
        return out

    def sequences(self, sample: str | None = None, cell: str | None = None, since: Any = None, until: Any = None,
                  status: str | None = None) -> list[dict[str, Any]]:
        """One dict per run, oldest first (the columns of ``sequences`` and ``measurements``: how
        many steps it has rows for); since / until compare with the run's start."""
        if status is not None:
            check_choice("status", status, STEP_STATUSES)
        where, parameters = _filters(sample=sample, cell=cell, since=since, until=until, started="s.started")
        rows = self._db.execute(
            f"""SELECT s.*, (SELECT COUNT(*) FROM measurements AS m WHERE m.sequence_id = s.id) AS measurements
                FROM sequences AS s WHERE {" AND ".join(where) or "1"}
                ORDER BY julianday(s.started), s.run_dir""", parameters).fetchall()
        out = []
        settle = self._settler()
        for row in rows:
            entry = dict(row)
            entry["run_dir"] = str(self._run_path(row["run_dir"]))
            entry["simulated"] = bool(row["simulated"])
            entry["status"] = settle(row["run_dir"], row["status"])
            if status is None or entry["status"] == status:
                out.append(entry)
        return out

    def _settler(self):
        """status(key, recorded) -> the status to show: a run recorded as "running" whose folder
        lock is free was killed (nothing was left to record its end), so it and its running step
        are "interrupted", as a rebuild would record them. Asked once per run."""
        dead: dict[str, bool] = {}

        def settle(key: str, recorded: str | None) -> str | None:
            if recorded != "running":
                return recorded
            if key not in dead:
                folder = self._run_path(key)
                dead[key] = (folder / LOCK_NAME).is_file() and not is_measuring(folder)
            return "interrupted" if dead[key] else recorded

        return settle

    def tc_against_days(self, sample: str, criterion: str = "midpoint") -> list[tuple[float, float, str]]:
        """(days since synthesis, Tc in K, data file) of every measurement of ``sample`` with a
        zero-field Tc of ``criterion`` and a known age, by age: the decay of a hydride (paper 002)."""
        check_choice("criterion", criterion, TC_CRITERIA)
        rows = self._db.execute(
            """SELECT m.days_since_synthesis, r.value, s.run_dir, m.file
               FROM results AS r JOIN measurements AS m ON m.id = r.measurement_id
                                 JOIN sequences AS s ON s.id = m.sequence_id
               WHERE s.sample = ? AND r.name = ? AND r.value IS NOT NULL AND m.days_since_synthesis IS NOT NULL
               ORDER BY m.days_since_synthesis, s.run_dir, m.step""", (sample, f"tc_{criterion}_K")).fetchall()
        return [(days, tc, str(self._run_path(run_dir) / (file or ""))) for days, tc, run_dir, file in rows]


def find_run_dirs(root: str | Path) -> Iterator[Path]:
    """Every folder under ``root`` with a run.json, in name order; a run folder's own subfolders
    (report/) are not searched."""
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        if IDENTITY_NAME in files:
            subfolders.clear()
            yield Path(folder)


def _filters(sample: str | None, cell: str | None, since: Any, until: Any,
             started: str = "COALESCE(m.started, s.started)") -> tuple[list[str], list[Any]]:
    where: list[str] = []
    parameters: list[Any] = []
    if sample is not None:
        where.append("s.sample = ?")
        parameters.append(sample)
    if cell is not None:
        where.append("s.cell = ?")
        parameters.append(cell)
    # julianday() reads the ISO offsets the journal writes, so runs from other time zones compare right.
    if since is not None:
        where.append(f"julianday({started}) >= julianday(?)")
        parameters.append(_moment("since", since, end_of_day=False))
    if until is not None:
        where.append(f"julianday({started}) < julianday(?)")
        parameters.append(_moment("until", until, end_of_day=True))
    return where, parameters


def _moment(parameter: str, value: Any, end_of_day: bool) -> str:
    """A bound in UTC ISO form. A date is a whole local day: since = its start, until = the start of
    the next day (the comparison excludes it); a date-time is taken as it is (until: included)."""
    from daclab.sample_info import parse_date  # the analysis stack it imports is not needed to list runs

    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.astimezone()
        is_date = False
    elif isinstance(value, dt.date):
        moment, is_date = dt.datetime(value.year, value.month, value.day).astimezone(), True
    else:
        text = str(value).strip()
        moment = parse_date(parameter, text)
        if moment is None:
            raise RunIndexError(f"{parameter} is empty; give a date as YYYY-MM-DD")
        is_date = len(text) == 10
    if end_of_day:
        moment += dt.timedelta(days=1) if is_date else dt.timedelta(microseconds=1)
    return moment.astimezone(dt.timezone.utc).isoformat()


# ---- daclab runs -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="daclab runs", description="List the measurements of the run index of a data folder.")
    parser.add_argument("--data", default=DEFAULT_ROOT, help=f"data folder holding {INDEX_NAME} (default: %(default)s)")
    parser.add_argument("--sample", help="only this sample")
    parser.add_argument("--cell", help="only this cell")
    parser.add_argument("--since", help="only measurements started on or after this date (YYYY-MM-DD)")
    parser.add_argument("--until", help="only measurements started on or before this date (YYYY-MM-DD)")
    parser.add_argument("--kind", help="only this step kind (rt_sweep, field_series, critical_current ...)")
    parser.add_argument("--status", help=f"only steps with this status ({', '.join(STEP_STATUSES)})")
    parser.add_argument("--tc-vs-days", metavar="SAMPLE", help="Tc of SAMPLE against days since synthesis")
    parser.add_argument("--criterion", default="midpoint", help="Tc criterion for --tc-vs-days (default: %(default)s)")
    parser.add_argument("--rebuild", action="store_true", help="re-read every run folder of the data folder first")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


_COLUMNS = (("date", "started"), ("sample", "sample"), ("cell", "cell"), ("step", "kind"), ("status", "status"),
            ("points", "points"), ("Tc (K)", "tc_K"), ("Hc2 (T)", "hc2_T"), ("Jc (A/cm2)", "jc0_A_cm2"),
            ("gap (meV)", "delta0_meV"), ("file", "path"))
_FORMATS = {"tc_K": "{:.2f}", "hc2_T": "{:.1f}", "jc0_A_cm2": "{:.3g}", "delta0_meV": "{:.2f}"}


def render_runs(rows: Iterable[dict[str, Any]]) -> str:
    """The measurements as an aligned text table, blank where a value is unknown."""
    table = [[title for title, _ in _COLUMNS]]
    for row in rows:
        table.append([_cell(key, row.get(key) if key != "started" else row.get("started") or row.get("sequence_started"))
                      for _, key in _COLUMNS])
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in table]
    return "\n".join(lines) + "\n"


def render_tc_against_days(sample: str, criterion: str, points: Sequence[tuple[float, float, str]]) -> str:
    lines = [f"{sample}: Tc ({criterion}) against days since synthesis", f"{'days':>10}  {'Tc (K)':>8}  file"]
    lines += [f"{days:10.2f}  {tc:8.2f}  {file}" for days, tc, file in points]
    return "\n".join(lines) + "\n"


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "started":
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M")
        return str(value)
    if key == "path":  # the run folder's name and the file: enough to find it under the data root
        return Path(value).relative_to(Path(value).parent.parent).as_posix()
    if key in _FORMATS:
        return _FORMATS[key].format(value)
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """``daclab runs ...``; 0 on success, 2 on a mistake in the command or a missing index."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        options = build_parser().parse_args(argv)
        root = Path(options.data)
        if options.rebuild:
            if not root.is_dir():
                raise UsageError(f"{root}: no such data folder")
            with RunIndex.at(root) as index:
                rebuilt = index.rebuild(root)
            for problem in rebuilt.skipped:
                print(f"daclab runs: skipped {problem}", file=sys.stderr)
            print(f"daclab runs: indexed {rebuilt.recorded} run(s), dropped {rebuilt.forgotten} gone",
                  file=sys.stderr)
        elif not (root / INDEX_NAME).is_file():
            raise UsageError(f"no run index at {root / INDEX_NAME}; make one with: daclab runs --rebuild --data {root}")
        with RunIndex.at(root, create=False) as index:
            if options.tc_vs_days is not None:
                points = index.tc_against_days(options.tc_vs_days, options.criterion)
                output = (json.dumps([{"days_since_synthesis": d, "tc_K": t, "file": f} for d, t, f in points],
                                     indent=2) + "\n" if options.json
                          else render_tc_against_days(options.tc_vs_days, options.criterion, points))
            else:
                rows = index.runs(sample=options.sample, cell=options.cell, since=options.since, until=options.until,
                                  kind=options.kind, status=options.status)
                output = json.dumps(rows, indent=2) + "\n" if options.json else render_runs(rows)
    except ParserExit as done:
        return done.status
    except (UsageError, RunIndexError, ValueError, OSError, sqlite3.Error) as error:
        print("daclab runs: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_USAGE
    print(output, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
