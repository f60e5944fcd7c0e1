"""A process that runs sequences, resumes and run-index writes for tests/test_crash_kill.py to kill.

Started once with the venv's python (``python tests/crash_child.py``), it imports daclab and
then reads jobs from stdin, one JSON object a line. Each job runs in a fork of it, so a job
starts in milliseconds instead of paying for the imports again, and a SIGKILL to the fork is a
crash of a process that was doing nothing but that job. Protocol on stdout, one JSON object a
line: ``{"started": pid}`` once the fork runs; the parent may then kill ``pid``; it sends
``{"reap": pid}`` when it is done with it, and the answer is ``{"ended": pid, "code": c}``
(c < 0: killed by signal -c). The fork is reaped only then, so its pid cannot be reused by
another process while the parent may still send it a signal.

A job writes what it did to its own log file, one line per event, flushed as it happens (so
the lines written before a kill are all there): ``start STEP ROWS`` (rows already in the step's
file), ``point STEP`` once a point is in the file (the runner reports it after the write),
``segment STEP STATE KEY``, ``end STEP STATUS``, ``fsync NAME``, ``header``, ``report begin``,
``report end``, ``index begin``, ``index transaction`` (the write transaction is open),
``index end``, ``recorded N``, ``rebuild begin``, ``rebuild end``,
``exit STATUS``.

Slowing hooks (job key ``slow``, wall seconds): ``fsync`` sleeps before every fsync (the journal
append, the data file's segment sync, run.json), ``header`` inside the creation of a data file,
``index`` inside every SQLite write transaction of the run index. They widen the moments a
random kill should be able to hit; they change no data.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from pymeasure.experiment import Results

import daclab.report
import daclab.report_figures  # imported once here, not again in every fork
from daclab import run_index, sequence
from daclab.lab import import_driver, load_lab
from daclab.runner import count_rows
from daclab.sequence_file import load_sequence


class EventLog:
    def __init__(self, path: str):
        self.stream = open(path, "a", encoding="utf-8", buffering=1)

    def __call__(self, *words) -> None:
        self.stream.write(" ".join(str(word) for word in words) + "\n")  # line-buffered: one write per line


def preload() -> None:
    """Import once, before the forks, what each job would import again: the simulated lab's
    drivers (the lab imports them when it opens), the unit registry pint fills on first use (the
    procedures' columns have units) and what the report draws with."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401
    from pymeasure.units import ureg

    ureg.Quantity(1.0, "ohm").to("kohm")

    for binding in load_lab("simulated").roles.values():
        for spec in (binding.driver, binding.adapter):
            if spec:
                import_driver(spec)


def install_hooks(log: EventLog, slow: dict[str, float]) -> None:
    """Report (and, when asked, slow down) the writes a kill should be able to interrupt."""
    real_fsync = os.fsync

    def fsync(descriptor):
        log("fsync", Path(os.readlink(f"/proc/self/fd/{descriptor}")).name)
        time.sleep(slow.get("fsync", 0.0))
        real_fsync(descriptor)

    os.fsync = fsync

    real_header = Results.header

    def header(self):
        log("header")
        time.sleep(slow.get("header", 0.0))
        return real_header(self)

    Results.header = header

    real_report = daclab.report.write_report

    def write_report(*args, **kwargs):
        log("report begin")
        made = real_report(*args, **kwargs)
        log("report end")
        return made

    daclab.report.write_report = write_report

    real_record = run_index.RunIndex.record_run

    def record_run(self, *args, **kwargs):
        def inside():  # SQLite calls it every 10 instructions a statement runs
            if self.connection.in_transaction:
                if not inside.announced:
                    inside.announced = True
                    log("index transaction")
                time.sleep(slow.get("index", 0.0))
            return 0

        inside.announced = False
        self.connection.set_progress_handler(inside, 10)
        log("index begin")
        number = real_record(self, *args, **kwargs)
        log("index end")
        return number

    run_index.RunIndex.record_run = record_run


def sequence_listener(log: EventLog):
    def on_event(step, topic, record):
        if topic == "step start":
            path = Path(record["data_path"])
            log("start", step.index, count_rows(path) if path.exists() else 0)
        elif topic == "results":
            log("point", step.index)
        elif topic == "segment":
            log("segment", step.index, record["state"], record["key"].replace(" ", "_"))
        elif topic == "step end":
            log("end", step.index, record.status)

    return on_event


def run_job(job: dict) -> None:
    log = EventLog(job["log"])
    install_hooks(log, job.get("slow", {}))
    if job["kind"] == "run":
        outcome = sequence.run_sequence(load_sequence(job["sequence"]), out=job["out"], simulation=job["simulation"],
                                        report=job.get("report", True), on_event=sequence_listener(log))
    elif job["kind"] == "resume":
        outcome = sequence.resume(job["run_dir"], report=job.get("report", True), on_event=sequence_listener(log))
    elif job["kind"] == "index":
        index_loop(log, Path(job["root"]), [Path(p) for p in job["runs"]], job["rebuild_every"])
        return
    else:
        raise ValueError(f"unknown job kind {job['kind']!r}")
    log("exit", outcome.status)


def index_loop(log: EventLog, root: Path, runs: list[Path], rebuild_every: int) -> None:
    """Record the runs one after the other, with a full rebuild every ``rebuild_every`` records,
    until killed (the parent ends it)."""
    recorded = 0
    with run_index.RunIndex.at(root) as index:
        while True:
            for run_dir in runs:
                index.record_run(run_dir)
                recorded += 1
                log("recorded", recorded)
                if recorded % rebuild_every == 0:
                    log("rebuild begin")
                    index.rebuild(root)
                    log("rebuild end")


def serve() -> None:
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run_job(job)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"started": pid}), flush=True)
        request = json.loads(sys.stdin.readline() or "{}")
        if request.get("reap") != pid:  # the parent went away: the job must not outlive it
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise SystemExit(f"expected to reap {pid}, got {request}")
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"ended": pid, "code": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    preload()
    serve()
