"""The folder of one sequence run, and the data root that holds the runs and their index.

A data root (``--out``; default ``daclab-data`` in the working folder) holds one folder per
sequence run and the run index::

    <root>/runs.sqlite                       the run index (daclab.run_index)
    <root>/<YYYYmmdd-HHMMSS>_<sequence>/     one run folder:
        sequence.yaml                        the sequence as it was run (resume reads it back)
        run.json                             who and where: sequence, sample, lab, simulation
        run.lock                             locked by the process measuring into the folder
        journal.jsonl                        what happened, one JSON object per line, appended
        daclab.log                           the log of the run
        01_<step>.csv, 02_<step>.csv ...     one pymeasure Results file per step
        01_<step>.interrupted-<n>.csv        points of an interrupted segment, moved aside
        report/                              figures, summary.txt, summary.json

The journal is the record a crash cannot corrupt: each line is written whole, flushed and synced
before the run goes on. A torn last line (a power cut mid-write) is ignored on reading, and the
next append (a resume) starts on a line of its own.
Its events (key ``event``), with ``time`` (ISO 8601 wall time) on each:

    sequence start   name, steps (count)
    step start       step (1-based index), name, kind, file
    segment start    step, key, offset (bytes of the data file before the segment's first row),
                     points (rows before it)
    segment done     step, key, offset (bytes after its last row), points
    segment discard  step, key, reason, moved_to (file the rows went to, or null)
    analysis         step, record (what the procedure emitted, plain JSON)
    suspend          step, reason;  resume: step
    step end         step, status (finished|aborted|failed), points, error
    sequence end     status (finished|aborted|failed)

A step's segments are the parts a resume or a suspension restarts whole: one leg of an R-T sweep,
one field of a field series, one temperature of Ic pulses or dI/dV, one aging visit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

DEFAULT_ROOT = "daclab-data"
INDEX_NAME = "runs.sqlite"
SEQUENCE_NAME = "sequence.yaml"
IDENTITY_NAME = "run.json"
JOURNAL_NAME = "journal.jsonl"
LOG_NAME = "daclab.log"
LOCK_NAME = "run.lock"
REPORT_FOLDER = "report"
SUMMARY_NAME = "summary.json"

_STEP_FILE = re.compile(r"^(\d{2,})_([A-Za-z0-9_\-]+)\.csv$")


def now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


SAFE_NAME_LENGTH = 80  # a run folder's name stays far below the file systems' 255 bytes


def safe_name(text: str) -> str:
    """``text`` reduced to letters, digits, '-' and '_' and to ``SAFE_NAME_LENGTH`` characters
    (a file-name part that cannot leave its folder)."""
    name = re.sub(r"[^A-Za-z0-9_\-]+", "_", text.strip())[:SAFE_NAME_LENGTH].strip("_")
    return name or "run"


def step_file_name(index: int, name: str) -> str:
    return f"{index:02d}_{safe_name(name)}.csv"


def step_files(run_dir: str | Path) -> list[Path]:
    """The step data files of a run folder in step order (files moved aside are not included)."""
    found = [(int(m.group(1)), path) for path in Path(run_dir).iterdir()
             if (m := _STEP_FILE.match(path.name))]
    return [path for _, path in sorted(found)]


def new_run_dir(root: str | Path, sequence_name: str) -> Path:
    """A new, empty run folder under ``root`` named by the wall time and the sequence."""
    root = Path(root)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        suffix = f"-{attempt}" if attempt else ""
        path = root / f"{stamp}{suffix}_{safe_name(sequence_name)}"
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run folder name under {root}")


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON so that ``path`` holds either the old or the new content, never half."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=2, allow_nan=True)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


class RunBusyError(RuntimeError):
    """Another process is measuring into the run folder."""


@contextlib.contextmanager
def measuring(run_dir: str | Path) -> Iterator[None]:
    """Hold the run folder's lock while measuring into it (a new run, or a resume).

    The operating system drops the lock when the process ends, however it ends, so a run whose
    lock is free has no process left measuring into it (:func:`is_measuring`); and two resumes of
    one folder cannot append to the same file at once. Raises RunBusyError when it is held.
    """
    path = Path(run_dir) / LOCK_NAME
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(descriptor, exclusive=True):
            try:
                owner = os.read(descriptor, 64).decode("ascii", "replace").strip() or "unknown"
            except OSError:  # Windows: the locked byte cannot be read either
                owner = "unknown"
            raise RunBusyError(f"{Path(run_dir)} is being measured by another process (pid {owner}); "
                               f"resume it once that one has ended")
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        os.close(descriptor)  # releases the lock


def is_measuring(run_dir: str | Path) -> bool:
    """True while a process holds the run folder's lock (:func:`measuring`). A folder without a
    lock file (written before there was one) says nothing: False."""
    path = Path(run_dir) / LOCK_NAME
    try:
        descriptor = os.open(path, os.O_RDONLY)  # an archive on read-only media can be asked too
    except OSError:
        return False
    try:
        if not _try_lock(descriptor, exclusive=False):
            return True
        if fcntl is None:  # Windows frees a lock at close only eventually: free it now
            msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
        return False
    finally:
        os.close(descriptor)


def _try_lock(descriptor: int, exclusive: bool) -> bool:
    """Lock the open file without waiting; False when another holder has it. flock (not lockf),
    so that two descriptors of one process exclude each other too: the window reads the index
    while its own worker thread measures."""
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        else:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def read_identity(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / IDENTITY_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def sample_name(identity: dict[str, Any]) -> str:
    """The sample's name in a run's identity (read_identity), "" when it names none."""
    return str((identity.get("sample") or {}).get("name") or "")


_APPEND_LOCK = threading.Lock()


class Journal:
    """The append-only event log of a run folder (see the module docstring)."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / JOURNAL_NAME

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {"event": event, "time": now_iso(), **fields}
        line = json.dumps(record, default=_jsonable, allow_nan=True)
        # a procedure's analysis thread appends too; a long line is more than one write
        with _APPEND_LOCK, open(self.path, "a", encoding="utf-8") as stream:
            if self._torn_end():  # a power cut mid-append: end the torn line, so that this one stands alone
                line = "\n" + line
            stream.write(line + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        return record

    def _torn_end(self) -> bool:
        """True when the journal's last line has no newline (its writer died mid-line)."""
        with open(self.path, "rb") as stream:
            if stream.seek(0, os.SEEK_END) == 0:
                return False
            stream.seek(-1, os.SEEK_END)
            return stream.read(1) != b"\n"

    def events(self) -> Iterator[dict[str, Any]]:
        """Every whole event in order; a torn last line (a crash mid-write) is skipped."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as stream:
            for line in stream:
                if not line.endswith("\n"):
                    return
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue


def _jsonable(value: Any) -> Any:
    """numpy numbers and arrays, paths and anything else as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
