"""The soak: an overnight sequence on the virtual cryostat with a thousand instrument faults.

``make soak`` (``python -m daclab.sim.soak``) runs the main job's overnight sequence
(:func:`daclab.demo.plan`: R-T cooling and warming, a field series, pulsed I-V, dI/dV) twice on
the same virtual cryostat with the same noise seed: once without faults, then with ``--faults``
faults (default 1000) injected into every instrument the sequence uses: time-outs, garbled
replies, connections dropped for one or two messages, and slow replies. The faults are spread
over the night in proportion to each instrument's traffic in the clean run. Then it prints, and
checks:

- faults injected (messages a fault hit) and faults logged (warnings and errors of the
  ``daclab.faults`` logger in the run's log): every fault must be in the log;
- points flagged: rows whose ``Instrument faults`` column says an exchange was retried or slow;
- points lost: rows the clean run has and the faulty run has not (must be 0);
- points that differ: rows not flagged whose readings differ from the clean run's by more than
  the noise (a made-up number; must be 0);
- runs that ended unsafe: the current source on or armed, the magnet ramping, the temperature
  controller ramping or heating towards another temperature than the stage's (must be 0).

The faulty run's readings cannot equal the clean run's digit for digit: a garbled reply was
measured by the twin before it was garbled, so the retry draws new noise, and a back-off shifts a
point in time. "Within the noise" is therefore the test, and the noise is measured, not assumed:
a second clean run with another noise seed shows how much two faultless runs differ, column by
column. A point agrees when it is within six times that difference (root mean square over the
file), plus what the column changes between neighbouring points in ``TIMING_SLACK_S`` (a point
taken a little earlier or later: a ramping setpoint, a resistance in the transition), plus
``DRIFT_RELATIVE`` of its value (a spectrum taken in one buffered sweep a few seconds later, while
the sample still settles by millikelvin: rows of one sweep share their time, so the rate cannot
see it), plus two units of the column's last printed digit. A made-up number is none of these.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence, TextIO

import numpy as np
import pandas as pd

from daclab.lab import Lab
from daclab.procedures.base import ELAPSED_COLUMNS
from daclab.runner import FAULTS_COLUMN
from daclab.rundir import LOG_NAME, step_files
from daclab.sequence import SequenceOutcome, run_sequence
from daclab.sequence_file import SequenceSpec, sequence_from_dict
from daclab.sim.binding import is_query, recording_commands
from daclab.sim.faults import Fault

# Share of each fault kind; a dropped connection lasts one message or two.
KIND_SHARES = {"timeout": 0.3, "garbage": 0.3, "disconnect": 0.25, "slow": 0.15}
SLOW_DELAY_S = 1.5  # lab time of a slow reply: above the 1 s the exchange layer calls slow
FAULT_SPREAD = 1.25  # faults are drawn this much faster than the budget, so it is spent before dawn
# At most this share of any instrument's messages is hit: four faults in a row on one exchange
# (a lost instrument: the segment is retaken, which the soak does not compare) stay rarer than
# once in a night. A short sequence may therefore take fewer faults than asked for.
MAX_PROBABILITY = 0.03
NOISE_TOLERANCE = 6.0  # in units of the rms difference of two clean runs
TIMING_SLACK_S = 2.0  # a point may be read this much earlier or later than in the clean run
DRIFT_RELATIVE = 2e-4  # what the sample may drift while retries delay a buffered sweep


@dataclasses.dataclass
class SoakReport:
    faults_injected: int = 0
    faults_by_device: dict[str, int] = dataclasses.field(default_factory=dict)
    devices: tuple[str, ...] = ()  # the instruments the sequence talked to
    faults_logged: int = 0
    points: int = 0
    points_flagged: int = 0
    points_lost: int = 0
    points_differing: int = 0
    runs_unsafe: int = 0
    status: str = ""
    clean_status: str = ""
    wall_s: float = math.nan
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (self.status == self.clean_status == "finished" and self.faults_logged >= self.faults_injected > 0
                and self.points_lost == 0 and self.points_differing == 0 and self.runs_unsafe == 0)

    def lines(self) -> list[str]:
        by_device = ", ".join(f"{device} {count}" for device, count in sorted(self.faults_by_device.items()))
        return [f"faults injected:        {self.faults_injected} ({by_device})",
                f"faults logged:          {self.faults_logged}",
                f"points:                 {self.points}",
                f"points flagged:         {self.points_flagged}",
                f"points lost:            {self.points_lost}",
                f"points off the clean run beyond the noise: {self.points_differing}",
                f"runs that ended unsafe: {self.runs_unsafe}",
                f"sequence: {self.status} (clean run: {self.clean_status}); {self.wall_s:.0f} s of wall time",
                *(f"  problem: {problem}" for problem in self.problems),
                "SOAK PASSED" if self.passed else "SOAK FAILED"]


def overnight_spec(sample: str) -> SequenceSpec:
    """The main job's sequence for ``sample``, with a lost instrument waited for (20 min)."""
    from daclab.demo import plan
    from daclab.sim.sample import load_sample

    return sequence_from_dict({"name": "soak", "lab": "simulated", "suspend": {"instrument": {"timeout_min": 20}},
                               "steps": plan(load_sample(sample))}, source="<soak>")


def fault_plan(traffic: dict[str, tuple[int, int]], total: int, rng: np.random.Generator) -> list[Fault]:
    """``total`` faults over the instruments, each device's share in proportion to its messages.

    ``traffic``: device -> (messages, queries) of the clean run; a garbled reply needs a query.
    Each (device, kind) is one probabilistic fault with a budget, drawn at a rate that spends
    the budget over the first ~80 % of the night.
    """
    messages = sum(count for count, _ in traffic.values())
    faults, planned = [], 0
    cells = [(device, kind) for device in sorted(traffic) for kind in KIND_SHARES]
    for index, (device, kind) in enumerate(cells):
        sent, queries = traffic[device]
        budget = (total - planned if index == len(cells) - 1
                  else int(round(total * KIND_SHARES[kind] * sent / messages)))
        if budget <= 0:
            continue
        planned += budget
        exposed = queries if kind == "garbage" else sent
        hits, options = budget, {}
        if kind == "disconnect":  # an outage of two messages is two faults
            options["lasts"] = int(rng.integers(1, 3))
            hits = max(budget // options["lasts"], 1)
        if kind == "slow":
            options["delay_s"] = SLOW_DELAY_S
        probability = min(MAX_PROBABILITY * KIND_SHARES[kind], FAULT_SPREAD * hits / max(exposed, 1))
        faults.append(Fault(device, kind, probability=probability, count=hits, **options))
    return faults


def run_soak(faults: int = 1000, out: str | Path | None = None, sample: str = "ceh9_cell1",
             seed: int = 0, spec: SequenceSpec | None = None, start_K: float = 300.0,
             lab: str | Path = "simulated") -> SoakReport:
    """Run the soak (see the module docstring) into ``out`` (a temporary folder when None);
    ``spec``: another sequence instead of the overnight one; ``lab``: a simulated lab file
    other than the built-in one (other instruments playing the roles)."""
    spec = spec or overnight_spec(sample)
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(out or scratch)
        settings = {"lab_file": lab, "sample": sample, "start_K": start_K}
        clean = _run(spec, root / "clean", seed=seed, faults=[], **settings)
        rerun = _run(spec, root / "clean-other-noise", seed=seed + 1, faults=[], **settings)
        faulty = _run(spec, root / "faulty", seed=seed,
                      faults=fault_plan(clean.traffic, faults, np.random.default_rng(seed)), **settings)
        report = compare(clean.outcome, faulty.outcome, rerun.outcome)
        report.faults_injected = len(faulty.injected)
        report.faults_by_device = dict(collections.Counter(device for device, _, _ in faulty.injected))
        report.devices = tuple(sorted(clean.traffic))
        report.runs_unsafe = int(bool(faulty.unsafe))
        report.problems += faulty.unsafe
    report.wall_s = time.perf_counter() - wall
    return report


@dataclasses.dataclass
class _Run:
    outcome: SequenceOutcome
    traffic: dict[str, tuple[int, int]]  # device -> (messages, queries) that reached it
    injected: list[tuple[str, str, float]]  # the faults that hit, as the injector recorded them
    unsafe: list[str]  # what was not safe at the end


def _run(spec: SequenceSpec, out: Path, lab_file: str | Path, sample: str, seed: int, start_K: float,
         faults: list[Fault]) -> _Run:
    """One run of the sequence in the simulated lab ``lab_file`` with ``faults`` injected."""
    with Lab.open(lab_file, sample=sample, seed=seed, start_K=start_K) as lab, recording_commands() as sent:
        for fault in faults:
            lab.world.faults.add(fault)
        outcome = run_sequence(spec, out=out, lab=lab, report=False)
        unsafe, injected = unsafe_state(lab), lab.world.faults.injected
    traffic = collections.defaultdict(lambda: [0, 0])
    for device, message in sent:
        traffic[device][0] += 1
        traffic[device][1] += is_query(message.encode())
    return _Run(outcome, {device: tuple(counts) for device, counts in traffic.items()}, injected, unsafe)


def unsafe_state(lab: Lab) -> list[str]:
    """What is not safe in the simulated lab's twins now (empty when all is safe)."""
    world, problems = lab.world, []
    source = world.instrument_state.get("keithley6221")
    if source is not None:
        if source["settings"]["output"] != 0 or world.source_current_A != 0.0:
            problems.append("the 6221's output is on")
        if source["armed"] is not None or source["run"] is not None:
            problems.append("the 6221 has a sweep armed or running")
    if world.magnet.state not in ("paused", "holding", "at_zero"):
        problems.append(f"the magnet is {world.magnet.state}")
    loop = world.stage.loops[1]
    if loop.ramping:
        problems.append(f"the 350 is still ramping to {loop.setpoint_K:.2f} K")
    elif loop.heater_range > 0 and abs(loop.setpoint_K - world.stage_temperature()) > 0.5:
        problems.append(f"the 350 heats towards {loop.setpoint_K:.2f} K, away from the stage's "
                        f"{world.stage_temperature():.2f} K")
    return problems


def compare(clean: SequenceOutcome, faulty: SequenceOutcome, rerun: SequenceOutcome) -> SoakReport:
    """Points lost, flagged and off beyond the noise between the clean and the faulty run's data
    files; ``rerun`` (the clean run with other noise) measures the noise."""
    report = SoakReport(status=faulty.status, clean_status=clean.status)
    log_path = faulty.run_dir / LOG_NAME
    if log_path.exists():
        log_text = log_path.read_text(encoding="utf-8", errors="replace")
        report.faults_logged = sum(1 for line in log_text.splitlines() if " daclab.faults: " in line)
    for clean_path, faulty_path, rerun_path in zip(step_files(clean.run_dir), step_files(faulty.run_dir),
                                                   step_files(rerun.run_dir)):
        reference, data, other = _read(clean_path), _read(faulty_path), _read(rerun_path)
        report.points += len(reference)
        report.points_lost += max(len(reference) - len(data), 0)
        rows = min(len(reference), len(data))
        reference, data = reference.iloc[:rows], data.iloc[:rows]
        flagged = data[FAULTS_COLUMN].to_numpy() > 0 if FAULTS_COLUMN in data else np.zeros(rows, bool)
        report.points_flagged += int(flagged.sum())
        off = np.zeros(rows, bool)
        times = next((reference[c].to_numpy(float) for c in ELAPSED_COLUMNS if c in reference), None)
        for column in reference.columns:
            if column in ELAPSED_COLUMNS or column == FAULTS_COLUMN:  # a back-off shifts the time: not compared
                continue
            if not _numeric(reference[column]):  # text (a sweep direction) must be the same
                off |= reference[column].astype(str).to_numpy() != data[column].astype(str).to_numpy()
                continue
            expected, measured = reference[column].to_numpy(float), data[column].to_numpy(float)
            tolerance = (NOISE_TOLERANCE * noise(expected, other[column].to_numpy(float)) + 2 * resolution(expected)
                         + DRIFT_RELATIVE * np.abs(expected))
            if times is not None:
                tolerance = tolerance + TIMING_SLACK_S * neighbour_rate(expected, times)
            both_nan = np.isnan(expected) & np.isnan(measured)
            off |= ~both_nan & ~(np.abs(measured - expected) <= tolerance)
        differing = off & ~flagged
        if differing.any():
            report.problems.append(f"{faulty_path.name}: rows {np.flatnonzero(differing)[:10].tolist()} differ "
                                   f"from the clean run beyond the noise")
        report.points_differing += int(differing.sum())
    return report


def noise(clean: np.ndarray, other: np.ndarray) -> float:
    """The rms difference of a column between two clean runs with different noise."""
    rows = min(clean.size, other.size)
    difference = clean[:rows] - other[:rows]
    difference = difference[np.isfinite(difference)]
    return float(np.sqrt(np.mean(difference ** 2))) if difference.size else 0.0


def resolution(values: np.ndarray) -> float:
    """The smallest step between a column's distinct values (its last printed digit)."""
    distinct = np.unique(values[np.isfinite(values)])
    return float(np.diff(distinct).min()) if distinct.size > 1 else 0.0


def neighbour_rate(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """At every row, the larger change per second towards its previous and its next row (0 where
    a neighbour is missing or the time does not advance)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.abs(np.diff(values)) / np.diff(times)
    step = np.nan_to_num(np.where(np.diff(times) > 0, step, 0.0), nan=0.0, posinf=0.0)
    rate = np.zeros_like(values)
    rate[1:] = step
    rate[:-1] = np.maximum(rate[:-1], step)
    return rate


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m daclab.sim.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", type=int, default=1000, help="faults to inject (default 1000)")
    parser.add_argument("--sample", default="ceh9_cell1", help="sample preset (default ceh9_cell1)")
    parser.add_argument("--seed", type=int, default=0, help="noise and fault seed (default 0)")
    parser.add_argument("--out", default=None, help="keep both runs' folders here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if not 1 <= args.faults <= 100_000:
        parser.error(f"--faults = {args.faults} is outside the allowed range [1, 100000]")
    print(f"Soak: the overnight sequence on '{args.sample}', clean and with {args.faults} faults ...", file=out,
          flush=True)
    report = run_soak(args.faults, args.out, args.sample, args.seed)
    for line in report.lines():
        print(line, file=out)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
