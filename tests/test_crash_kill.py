"""The crash proof: a sequence, its resume and the run index killed with SIGKILL at random moments.

A child process (tests/crash_child.py) runs a short sequence on the simulated lab and writes a
line for every point once the runner has saved it. It is killed at seeded random moments: after
a random number of points (the recorder writing), inside a journal append, while a data file is
created, while the report is drawn, inside a run-index transaction, or after a random wall
delay. After every kill:

- every data file (step files and the rows moved aside) loads with pymeasure's Results.load and
  the procedure class; the journal, run.json, summary.json parse; the run index passes SQLite's
  integrity check and ``daclab runs`` reads it;
- every point the child reported saved is in its file, and at most one point more (the one in
  flight) is there besides; rows of the first run are exactly an uninterrupted run's rows;
- the index lists the run whole or not at all, as a rebuild from the folder does (what it may
  lack: the step in flight and the report, which came after its last record), and a killed run
  reads "interrupted" there, never "running";

and every resume keeps the finished steps and the finished segments of the interrupted step
byte for byte, moves the rows of the segment in flight aside (kept, not lost), and the finished
run has every segment once, with the rows an uninterrupted run has.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml
from pymeasure.experiment import Results

from daclab import run_index
from daclab.run_cli import main_resume
from daclab.run_index import RunIndex
from daclab.rundir import (
    IDENTITY_NAME,
    INDEX_NAME,
    JOURNAL_NAME,
    REPORT_FOLDER,
    SEQUENCE_NAME,
    SUMMARY_NAME,
    Journal,
    RunBusyError,
    is_measuring,
    step_file_name,
)
from daclab.runner import count_rows
from daclab.sequence import journal_state, resume
from daclab.sequence_file import load_sequence

# About 1.5 s of wall time uninterrupted (3 s more for the report): two R-T legs, a wait, I-V
# pulses at two temperatures; every step has segments a resume keeps or retakes.
SEQUENCE = {
    "name": "crash proof",
    "lab": "simulated",
    "sample": {"name": "CeH9 test cell", "cell": "cell-1", "pressure_GPa": 100},
    "steps": [
        {"rt_sweep": {"upper_K": 100.0, "lower_K": 80.0, "direction": "cooling and warming", "rate_K_per_min": 2.0,
                      "point_every_K": 0.5, "readings_per_point": 1, "reading_interval_s": 0.0,
                      "return_rate_K_per_min": 5.0, "thermalise_s": 60.0, "stable_s": 10.0}},
        {"wait": {"minutes": 5}},
        {"critical_current": {"temperatures_K": "60, 66", "max_current_mA": 80.0, "step_mA": 4.0,
                              "stop_voltage_mV": 0.1, "thermalise_s": 1800.0, "stable_s": 10.0,
                              "width_um": 30.0, "thickness_um": 1.0}},
    ],
}
SIMULATION = {"sample": "ceh9_cell1", "seed": 4, "start_K": 101.0}
STEPS = (1, 2, 3)
CHILD = Path(__file__).with_name("crash_child.py")
JOB_TIMEOUT_S = 120.0


# ---- the child process ---------------------------------------------------------------------


@dataclasses.dataclass
class Job:
    """One job of the child: a fork that runs it and writes its events to ``log``."""

    child: Child
    pid: int
    log: Path
    ended: int | None = None  # exit code once reaped (negative: the signal that ended it)

    def lines(self) -> list[str]:
        text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
        return text.splitlines()

    def running(self) -> bool:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended, and waits to be reaped

    def wait_for(self, prefix: str, count: int = 1) -> bool:
        """Wait until the log has ``count`` lines starting with ``prefix``; False if the job ended first."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            if sum(line.startswith(prefix) for line in self.lines()) >= count:
                return True
            if not self.running():
                return False
            time.sleep(0.002)
        raise AssertionError(f"job {self.pid}: no {count} x {prefix!r} within {JOB_TIMEOUT_S} s: {self.lines()[-5:]}")

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)  # still our child's unreaped child: the pid cannot be anyone else's

    def reap(self) -> int:
        if self.ended is None:
            self.ended = self.child.reap(self.pid)
        return self.ended


class Child:
    """tests/crash_child.py, started once; it forks a process per job (see its docstring)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.stderr = open(folder / "child.stderr", "w+", encoding="utf-8")
        self.process = subprocess.Popen([sys.executable, str(CHILD)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr, text=True, cwd=folder,
                                        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        self.jobs = 0
        self.unreaped: list[Job] = []

    def _send(self, message: dict) -> dict:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the child died: {self.errors()}")
        return json.loads(line)

    def start(self, kind: str, **arguments) -> Job:
        self.jobs += 1
        log = self.folder / f"job{self.jobs:02d}.log"
        answer = self._send({"kind": kind, "log": str(log), **arguments})
        job = Job(self, answer["started"], log)
        self.unreaped.append(job)
        return job

    def reap(self, pid: int) -> int:
        answer = self._send({"reap": pid})
        assert answer["ended"] == pid
        self.unreaped = [job for job in self.unreaped if job.pid != pid]
        return answer["code"]

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-3000:]

    def close(self) -> None:
        for job in self.unreaped:  # a test that failed half-way leaves no process behind
            job.kill()
            job.reap()
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.stderr.close()


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    made = Child(tmp_path_factory.mktemp("child"))
    yield made
    made.close()


@pytest.fixture(scope="module")
def sequence_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sequence") / "crash.yaml"
    path.write_text(yaml.safe_dump(SEQUENCE, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(child, sequence_file, tmp_path_factory):
    """The run folder of the same sequence, uninterrupted (same simulation, same seed)."""
    root = tmp_path_factory.mktemp("reference")
    job = child.start("run", sequence=str(sequence_file), out=str(root), simulation=SIMULATION, report=False)
    assert job.reap() == 0, child.errors()
    assert job.lines()[-1] == "exit finished"
    return run_folder(root)


# ---- what a run folder holds ---------------------------------------------------------------


def run_folder(root: Path) -> Path:
    found = [path for path in root.iterdir() if (path / IDENTITY_NAME).is_file()]
    assert len(found) == 1, found
    return found[0]


def step_path(run_dir: Path, step: int) -> Path:
    kind = next(iter(SEQUENCE["steps"][step - 1]))
    return run_dir / step_file_name(step, kind)


def procedure_classes(run_dir: Path) -> dict[int, type]:
    return {step.index: step.procedure_class for step in load_sequence(run_dir / SEQUENCE_NAME).steps}


def data_lines(path: Path) -> list[bytes]:
    """The data rows of a Results file, as bytes (the column line and the header left out)."""
    if not path.exists():
        return []
    lines = [line for line in path.read_bytes().splitlines(keepends=True) if line.strip() and not line.startswith(b"#")]
    return lines[1:]


def assert_files_parse(run_dir: Path) -> None:
    """Every data file loads with its procedure class; every JSON file of the run parses."""
    classes = procedure_classes(run_dir)
    for path in sorted(run_dir.glob("*.csv")):
        data = Results.load(str(path), procedure_class=classes[int(path.name.split("_", 1)[0])]).data
        assert len(data) == count_rows(path), path.name
        assert list(data.columns) == classes[int(path.name.split("_", 1)[0])].DATA_COLUMNS, path.name
    assert isinstance(json.loads((run_dir / IDENTITY_NAME).read_text(encoding="utf-8")), dict)
    journal = (run_dir / JOURNAL_NAME).read_bytes()
    assert journal.endswith(b"\n"), "a SIGKILL cannot tear a line written by one write call"
    for line in journal.splitlines():
        assert isinstance(json.loads(line), dict)
    summary = run_dir / REPORT_FOLDER / SUMMARY_NAME
    if summary.exists():
        assert isinstance(json.loads(summary.read_text(encoding="utf-8")), dict)


def assert_saved_points_are_in_the_files(run_dir: Path, job: Job) -> None:
    """Each step the job measured holds the rows it had when the job started it plus every
    point the job reported saved, and at most one more (written, killed before it was reported)."""
    lines = job.lines()
    for step in STEPS:
        starts = [int(line.split()[2]) for line in lines if line.startswith(f"start {step} ")]
        if not starts:
            continue
        reported = sum(line == f"point {step}" for line in lines)
        path = step_path(run_dir, step)
        rows = count_rows(path) if path.exists() else 0
        finished = f"end {step} finished" in lines
        assert starts[0] + reported <= rows <= starts[0] + reported + (0 if finished else 1), (
            f"step {step}: {rows} rows in the file, {starts[0]} before the job, {reported} reported saved")


def assert_first_run_rows_are_the_reference(run_dir: Path, reference: Path) -> None:
    """Before any resume the killed run measured what the uninterrupted one measured, row for row."""
    for step in STEPS:
        mine, theirs = data_lines(step_path(run_dir, step)), data_lines(step_path(reference, step))
        assert mine == theirs[:len(mine)], f"step {step}: rows differ from the uninterrupted run"


def index_rows(path: Path) -> list[dict]:
    with RunIndex(path, create=False) as index:
        return index.runs()


def rebuilt_rows(root: Path) -> list[dict]:
    """The rows a rebuild from the run folders gives, in an index file of its own beside the real one."""
    check = root / "check.sqlite"
    try:
        with RunIndex(check) as index:
            index.rebuild(root)
            return index.runs()
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(check) + suffix).unlink(missing_ok=True)


def assert_index_consistent(root: Path, final: bool = False, static: bool = False) -> None:
    """The index file is sound, ``daclab runs`` reads it, and each run it lists is listed whole,
    as a rebuild from its folder lists it. ``final``: the run is over, the index must be exactly
    the rebuild. ``static``: the folders did not change while the index was written, so each run
    listed must be exactly as rebuilt; otherwise a killed run may lack what came after its last
    record (the step in flight, the report), and reads "interrupted" (never "running": no
    process measures into it any more). A step is recorded at its start and at its end, so the
    last step listed may be the one in flight when the run was killed: "interrupted", with the
    points it had then."""
    path = root / INDEX_NAME
    if not path.exists():
        assert not final
        return
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        db.close()
    output = io.StringIO()
    with redirect_stdout(output):
        assert run_index.main(["--data", str(root), "--json"]) == 0
    listed = json.loads(output.getvalue())
    assert listed == index_rows(path)
    rebuilt = rebuilt_rows(root)
    if final:
        assert listed == rebuilt
        return
    by_step = {(row["run_dir"], row["step"]): row for row in rebuilt}
    statuses = {row["run_dir"]: row["sequence_status"] for row in rebuilt}
    recorded: dict[str, set[int]] = {}
    in_flight: dict[str, int] = {}
    for row in listed:
        expected = by_step[(row["run_dir"], row["step"])]
        recorded.setdefault(row["run_dir"], set()).add(row["step"])
        if static:
            assert row == expected
            continue
        assert row["sequence_status"] in (statuses[row["run_dir"]], "interrupted"), row
        if row["status"] == "finished":
            assert _identity(row) == _identity(expected), row
        else:  # recorded at its start: what it was then
            assert row["status"] == "interrupted" and row["ended"] is None, row
            assert {k: row[k] for k in ("kind", "file", "started", "sample")} == \
                {k: expected[k] for k in ("kind", "file", "started", "sample")}, row
            assert row["points"] is None or row["points"] <= expected["points"], row  # None: no file yet
            in_flight[row["run_dir"]] = row["step"]
    for run, steps in recorded.items():
        assert steps == set(range(1, len(steps) + 1)), f"{run}: a half entry, steps {steps}"
        assert in_flight.get(run, max(steps)) == max(steps), f"{run}: a step in flight before the last"


def _identity(row: dict) -> dict:
    return {key: row[key] for key in ("step", "kind", "file", "status", "points", "started", "ended", "sample")}


@dataclasses.dataclass
class Kept:
    """What a resume must leave as it is: the bytes of every finished step and of the finished
    segments of the interrupted one, and the rows of the segment in flight it is to move aside."""

    whole: dict[Path, bytes]
    prefix: dict[Path, bytes]
    moved_rows: dict[Path, list[bytes]]

    @classmethod
    def before_resume(cls, run_dir: Path) -> Kept:
        state = journal_state(Journal(run_dir))
        whole = {step_path(run_dir, step): step_path(run_dir, step).read_bytes() for step in state.finished_steps}
        prefix, moved = {}, {}
        first = min(set(STEPS) - state.finished_steps, default=None)
        path = step_path(run_dir, first) if first else None
        if path is not None and path.exists() and state.done_segments.get(first):
            content = path.read_bytes()
            offset = max(state.done_segments[first].values())
            prefix[path] = content[:offset]
            moved[path] = [line for line in content[offset:].splitlines(keepends=True) if line.strip()]
        elif path is not None and path.exists():
            moved[path] = data_lines(path)
        return cls(whole, prefix, moved)

    def check(self, run_dir: Path) -> None:
        for path, content in self.whole.items():
            assert path.read_bytes() == content, f"{path.name}: a finished step was changed by the resume"
        for path, content in self.prefix.items():
            assert path.read_bytes().startswith(content), f"{path.name}: a finished segment was changed"
        for path, rows in self.moved_rows.items():
            if not rows:
                continue
            aside = [data_lines(moved) for moved in sorted(run_dir.glob(f"{path.stem}.interrupted-*.csv"))]
            assert rows in aside, f"{path.name}: the rows of the interrupted segment were not kept aside"


def segment_counts(run_dir: Path) -> dict[int, list[tuple[str, int]]]:
    """Per step, its segments in file order with their row counts, from the journal: the last
    'segment done' of each key, and the rows between its start and its end."""
    starts, done = {}, {}
    for event in Journal(run_dir).events():
        key = (event.get("step"), event.get("key"))
        if event["event"] == "segment start":
            starts[key] = event["points"]
        elif event["event"] == "segment done":
            done[key] = (starts[key], event["points"])
    out: dict[int, list[tuple[str, int]]] = {}
    for (step, key), (first, last) in sorted(done.items(), key=lambda item: (item[0][0], item[1][0])):
        out.setdefault(step, []).append((key, last - first))
    return out


def assert_finished_like_the_reference(run_dir: Path, reference: Path) -> None:
    state = journal_state(Journal(run_dir))
    assert state.finished and state.finished_steps == set(STEPS)
    counts, expected = segment_counts(run_dir), segment_counts(reference)
    for step in STEPS:
        assert [key for key, _ in counts[step]] == [key for key, _ in expected[step]], f"step {step}"
        assert counts[step] == expected[step], f"step {step}: rows per segment"
        assert count_rows(step_path(run_dir, step)) == count_rows(step_path(reference, step))
        assert counts[step][-1] and sum(n for _, n in counts[step]) == count_rows(step_path(run_dir, step))


# ---- the sequence, killed ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Moment:
    """Kill after the ``count``-th log line starting with ``prefix`` and a random wall delay of up
    to ``delay_s``; ``slow`` widens the moment (see crash_child.py)."""

    prefix: str
    count: int = 1
    delay_s: float = 0.005
    slow: tuple[tuple[str, float], ...] = ()


def moments(seed: int, rng: random.Random, reference: Path) -> list[Moment]:
    """The seeded moments of one chain: the run is killed at the first, each resume at the next.
    Seed 1 goes through the kinds of work in the order the sequence does them; other seeds kill
    after random wall delays (anywhere), then once in the report."""
    if seed != 1:
        return [*(Moment("start", 1, rng.uniform(0.05, 1.2)) for _ in range(4)),
                Moment("report begin", 1, rng.uniform(0.05, 1.5))]
    first_temperature_rows = segment_counts(reference)[3][0][1]
    return [
        Moment("point 1", rng.randint(3, 70)),  # an R-T leg: the recorder writing
        Moment("index transaction", 1, 0.01, (("index", 0.0002),)),  # the run index recording step 1
        Moment("fsync journal.jsonl", rng.randint(2, 6), 0.015, (("fsync", 0.02),)),  # a journal append
        Moment("header", 1, 0.04, (("header", 0.05),)),  # a data file being created
        # I-V pulses of the second temperature: the recorder writing, a finished segment before it
        Moment("point 3", first_temperature_rows + rng.randint(2, 12)),
        # the resume moving those pulses aside: the copy written, the step's file not yet cut back
        Moment("fsync 03_critical_current.interrupted", 1, 0.04, (("fsync", 0.05),)),
        Moment("report begin", 1, rng.uniform(0.05, 1.5)),  # the report being drawn
    ]


def run_killed(child: Child, job: Job, moment: Moment, rng: random.Random) -> bool:
    """Kill ``job`` at ``moment``; False when it ended before (nothing killed)."""
    hit = job.wait_for(moment.prefix, moment.count)
    if hit:
        time.sleep(rng.uniform(0.0, moment.delay_s))
        job.kill()
    code = job.reap()
    assert code in (0, -signal.SIGKILL), child.errors()
    return code == -signal.SIGKILL


@pytest.mark.parametrize("seed", [1, 2])
def test_killed_at_random_moments_then_resumed(seed, child, sequence_file, reference, tmp_path):
    """The run is killed at the chain's first moment, each resume at the next, the last resume
    finishes: the checks of the module docstring after each kill and each resume."""
    rng = random.Random(seed)
    root = tmp_path / "data"
    run_dir: Path | None = None
    kills: list[str] = []
    for moment in [*moments(seed, rng, reference), None]:  # None: the last resume, left to finish
        slow = dict(moment.slow) if moment else {}
        if run_dir is None:
            job = child.start("run", sequence=str(sequence_file), out=str(root), simulation=SIMULATION, slow=slow)
        else:
            kept = Kept.before_resume(run_dir)
            job = child.start("resume", run_dir=str(run_dir), slow=slow)
        killed = run_killed(child, job, moment, rng) if moment else job.reap() == -signal.SIGKILL
        if run_dir is None:
            run_dir = run_folder(root)
            assert_first_run_rows_are_the_reference(run_dir, reference)
        else:
            kept.check(run_dir)
        assert_files_parse(run_dir)
        assert_saved_points_are_in_the_files(run_dir, job)
        assert_index_consistent(root)
        if not killed:
            assert job.lines()[-1] == "exit finished", child.errors()
            break
        kills.append(f"{moment.prefix} #{moment.count}")
    print(f"seed {seed}: killed at {kills}")
    assert len(kills) >= 3, f"seed {seed}: only {kills} were hit; the test proved too little"
    assert_finished_like_the_reference(run_dir, reference)
    assert_index_consistent(root, final=True)
    assert (run_dir / REPORT_FOLDER / SUMMARY_NAME).is_file()


def test_a_journal_torn_by_a_power_cut_is_resumed_on_a_line_of_its_own(child, sequence_file, reference, tmp_path):
    """A SIGKILL cannot tear a line written by one write call, but a power cut can: the resume
    after it must not glue its first event onto the torn one (both would be lost)."""
    root = tmp_path / "data"
    job = child.start("run", sequence=str(sequence_file), out=str(root), simulation=SIMULATION)
    assert run_killed(child, job, Moment("point 3", segment_counts(reference)[3][0][1] + 3), random.Random(5))
    run_dir = run_folder(root)
    journal = run_dir / JOURNAL_NAME
    whole = journal.read_bytes()
    last = whole.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(whole[:last + (len(whole) - last) // 2])  # half of the last event is on the disk
    events_before = list(Journal(run_dir).events())
    job = child.start("resume", run_dir=str(run_dir), report=False)
    assert job.reap() == 0, child.errors()
    assert job.lines()[-1] == "exit finished"
    lines = journal.read_bytes().splitlines()
    unreadable = [line for line in lines if not _parses(line)]
    assert unreadable == [whole[last:last + (len(whole) - last) // 2]]  # the torn half, on its own line
    events = list(Journal(run_dir).events())
    assert events[:len(events_before)] == events_before
    assert events[len(events_before)]["event"] == "sequence resume"
    assert_finished_like_the_reference(run_dir, reference)


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_a_run_being_measured_cannot_be_resumed_and_reads_interrupted_once_killed(child, sequence_file, tmp_path,
                                                                                   capsys):
    """While a process measures into a run folder a second resume is refused (it would append to
    the same files) and the index shows the run running; once that process is killed, the
    index shows it interrupted, as a rebuild does."""
    root = tmp_path / "data"
    job = child.start("run", sequence=str(sequence_file), out=str(root), simulation=SIMULATION,
                      slow={"fsync": 0.03})
    assert job.wait_for("index end")  # step 1 is recorded, with the run running
    run_dir = run_folder(root)
    assert is_measuring(run_dir)
    with pytest.raises(RunBusyError, match=f"pid {job.pid}"):
        resume(run_dir)
    assert main_resume([str(run_dir)]) == 2
    assert "being measured by another process" in capsys.readouterr().err
    assert {row["sequence_status"] for row in index_rows(root / INDEX_NAME)} == {"running"}
    job.kill()
    assert job.reap() == -signal.SIGKILL
    assert not is_measuring(run_dir)
    assert {row["sequence_status"] for row in index_rows(root / INDEX_NAME)} == {"interrupted"}
    assert {row["sequence_status"] for row in rebuilt_rows(root)} == {"interrupted"}
    assert_index_consistent(root)


def test_killed_before_its_identity_is_written_the_folder_is_no_run(child, sequence_file, tmp_path, capsys):
    """Killed while run.json is written: the folder holds no run.json (or a whole one), resume
    says it is no run folder, and the index does not list it."""
    root = tmp_path / "data"
    job = child.start("run", sequence=str(sequence_file), out=str(root), simulation=SIMULATION,
                      slow={"fsync": 0.05})
    assert run_killed(child, job, Moment("fsync run.json.tmp", 1, 0.03), random.Random(6))
    folder = next(root.iterdir())
    assert not (folder / IDENTITY_NAME).exists()
    assert load_sequence(folder / SEQUENCE_NAME).name == SEQUENCE["name"]
    assert main_resume([str(folder)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert run_index.main(["--data", str(root), "--rebuild", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


# ---- the run index, killed -------------------------------------------------------------------


def interrupted_copy(source: Path, target: Path) -> Path:
    """``source`` as a SIGKILL in its last step leaves it: the journal up to that step's first
    finished segment, the data file up to that segment's end."""
    shutil.copytree(source, target)
    events = list(Journal(target).events())
    cut = next(n for n, e in enumerate(events) if e["event"] == "segment done" and e["step"] == STEPS[-1])
    (target / JOURNAL_NAME).write_text("".join(json.dumps(e) + "\n" for e in events[:cut + 1]), encoding="utf-8")
    os.truncate(step_path(target, STEPS[-1]), events[cut]["offset"])
    return target


@pytest.mark.parametrize("seed", [3])
def test_index_writer_killed_at_random_moments(seed, child, reference, tmp_path):
    """A writer recording real run folders over and over (a full rebuild every few records),
    killed inside its write transactions: the index always lists each run whole or not at all,
    and a rebuild after the last kill gives the rows a fresh rebuild gives."""
    rng = random.Random(seed)
    root = tmp_path / "data"
    runs = [shutil.copytree(reference, root / f"run{n}") for n in range(4)]
    runs.append(interrupted_copy(reference, root / "run-killed"))
    inside = 0
    for attempt in range(6):
        job = child.start("index", root=str(root), runs=[str(p) for p in runs], rebuild_every=rng.randint(3, 7),
                          slow={"index": 0.0001})
        prefix = rng.choice(["index transaction", "rebuild begin", "recorded"])
        assert run_killed(child, job, Moment(prefix, rng.randint(1, 8), 0.03), rng)
        last = [line for line in job.lines() if line.startswith("index ")][-1:]
        inside += last == ["index transaction"]  # killed with a write transaction open
        assert_index_consistent(root, static=True)
        listed = {row["run_dir"] for row in index_rows(root / INDEX_NAME)}
        assert listed <= {str(path.resolve()) for path in runs}
    assert inside >= 1, "no kill landed inside a write transaction: the test proved too little"
    with RunIndex.at(root) as index:
        index.rebuild(root)
    assert_index_consistent(root, final=True)
    statuses = {Path(row["run_dir"]).name: row["sequence_status"] for row in index_rows(root / INDEX_NAME)}
    assert statuses == {**{f"run{n}": "finished" for n in range(4)}, "run-killed": "interrupted"}
