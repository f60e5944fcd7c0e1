"""``daclab run SEQUENCE`` and ``daclab resume RUN_DIR``: sequences from the command line.

Both print the plan with its estimated duration, a progress line per step with the time left,
and at the end where the data, the log and the report are. Ctrl-C asks the running step to stop
(it ends in the safe state with every point written); the run can be resumed later.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Sequence, TextIO

from daclab.command_line import EXIT_USAGE
from daclab.limits import LimitError
from daclab.rundir import DEFAULT_ROOT, LOG_NAME, RunBusyError
from daclab.sequence import SequenceOutcome, StepReport, resume, run_sequence
from daclab.sequence_file import SequenceSpec, load_sequence
from daclab.sim.sample import load_sample



class ProgressPrinter:
    """One line per step, rewritten in place on a terminal, every 10 % otherwise (a log file)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.live = stream.isatty()
        self._last: tuple[int, int] = (0, -1)

    def __call__(self, report: StepReport) -> None:
        tenth = int(report.percent // 10)
        if not self.live and (report.step, tenth) == self._last:
            return
        self._last = (report.step, tenth)
        eta = "" if not math.isfinite(report.eta_s) else f", about {format_duration(report.eta_s)} left (lab time)"
        line = f"[{report.step}/{report.steps}] {report.kind}: {report.percent:5.1f} %{eta}"
        if self.live:
            self.stream.write("\r" + line.ljust(78))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end_line(self) -> None:
        if self.live:
            self.stream.write("\n")


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def print_plan(spec: SequenceSpec, out: TextIO) -> None:
    durations = spec.step_durations_s()
    total = sum(seconds for seconds in durations if math.isfinite(seconds))
    print(f"Sequence '{spec.name}': {len(spec.steps)} steps, estimated {format_duration(total)} of lab time", file=out)
    for step, seconds in zip(spec.steps, durations):
        print(f"  {step.index:2d}. {step.kind:<26} {format_duration(seconds)}", file=out)


def print_outcome(outcome: SequenceOutcome, out: TextIO) -> None:
    for result in outcome.steps:
        error = f" ({result.error})" if result.error else ""
        print(f"  {result.data_path.name}: {result.status}, {result.points} points{error}", file=out)
    print(f"Sequence {outcome.status}. Run folder: {outcome.run_dir}", file=out)
    if outcome.error:
        print(f"  why: {outcome.error}", file=out)
    print(f"  log: {outcome.run_dir / LOG_NAME}", file=out)
    if outcome.report_dir is not None:
        print(f"  report: {outcome.report_dir}/ (summary.json, summary.txt, figures)", file=out)
    if outcome.status != "finished":
        print(f"  continue it with: daclab resume {outcome.run_dir}", file=out)


class _StopOnInterrupt:
    """Ctrl-C (or SIGTERM) sets a flag the running step polls; a second Ctrl-C quits at once."""

    def __init__(self):
        self.event = threading.Event()

    def __enter__(self):
        self._previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in self._previous:
            signal.signal(sig, self._handle)
        return self.event.is_set

    def _handle(self, signum, frame):
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()
        print("\nstopping: the step ends in the safe state (Ctrl-C again to quit at once)", file=sys.stderr)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def main_run(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = _parser("daclab run", "Run a sequence file: each step into its own data file in a new run "
                                   "folder, then the report.")
    parser.add_argument("sequence", help="sequence file (YAML)")
    parser.add_argument("--sim", nargs="?", const="", default=None, metavar="SAMPLE",
                        help="run on the virtual cryostat (sample preset or file; default: the sequence's "
                             "sample file when it is a model, else ceh9_cell1)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the virtual cryostat")
    parser.add_argument("--out", default=DEFAULT_ROOT, help=f"data folder (default: ./{DEFAULT_ROOT})")
    parser.add_argument("--check", action="store_true", help="validate and print the plan; run nothing")
    args = parser.parse_args(argv)
    try:
        spec = load_sequence(args.sequence)
        print_plan(spec, out)
    except (LimitError, OSError) as error:
        print(f"daclab run: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        return 0
    simulation = None
    if args.sim is not None:
        simulation = {"sample": args.sim or spec.simulation_model or "ceh9_cell1", "seed": args.seed}
        try:
            load_sample(simulation["sample"])  # a bad sample file is refused before any run folder exists
        except (ValueError, OSError) as error:
            print(f"daclab run: {error}", file=sys.stderr)
            return EXIT_USAGE
    printer = ProgressPrinter(sys.stderr)
    wall = time.perf_counter()
    with _StopOnInterrupt() as stop_requested:
        try:
            outcome = run_sequence(spec, out=args.out, simulation=simulation, should_stop=stop_requested,
                                   progress=printer)
        except (LimitError, OSError) as error:
            printer.end_line()
            print(f"daclab run: {error}", file=sys.stderr)
            return EXIT_USAGE
    printer.end_line()
    print(f"({time.perf_counter() - wall:.1f} s of wall time)", file=out)
    print_outcome(outcome, out)
    return 0 if outcome.status == "finished" else 1


def main_resume(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = _parser("daclab resume", "Continue an interrupted sequence in its run folder: finished steps "
                                      "and segments are kept, the segment in flight is taken again.")
    parser.add_argument("run_dir", help="the run folder of the interrupted sequence")
    args = parser.parse_args(argv)
    printer = ProgressPrinter(sys.stderr)
    with _StopOnInterrupt() as stop_requested:
        try:
            outcome = resume(Path(args.run_dir), should_stop=stop_requested, progress=printer)
        except (LimitError, OSError, ValueError, RunBusyError) as error:
            printer.end_line()
            print(f"daclab resume: {error}", file=sys.stderr)
            return EXIT_USAGE
    printer.end_line()
    print_outcome(outcome, out)
    return 0 if outcome.status == "finished" else 1
