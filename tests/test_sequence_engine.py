"""Sequences end to end on the virtual cryostat: the run folder, the journal, the report and the
index; stop and resume; and runs killed with SIGKILL at random moments, then resumed."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from pymeasure.experiment import Results

from daclab import cli
from daclab.procedures.base import ELAPSED_COLUMNS
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.rt_sweep import RTSweep
from daclab.run_index import RunIndex, read_run
from daclab.runner import count_rows
from daclab.rundir import IDENTITY_NAME, SEQUENCE_NAME, Journal, step_files
from daclab.lab import Lab
from daclab.sequence import WrongLabError, check_same_lab, journal_state, resume, run_sequence
from daclab.sequence_file import load_sequence

# Short enough for CI, long enough to be killed in the middle of every kind of step.
SEQUENCE = {
    "name": "short night",
    "lab": "simulated",
    "sample": {"name": "CeH9 test cell", "cell": "cell-1", "pressure_GPa": 100},
    "steps": [
        {"rt_sweep": {"upper_K": 115.0, "lower_K": 70.0, "direction": "cooling and warming", "rate_K_per_min": 1.0,
                      "point_every_K": 0.25, "readings_per_point": 1, "reading_interval_s": 0.0,
                      "return_rate_K_per_min": 5.0, "thermalise_s": 300.0, "stable_s": 30.0}},
        {"wait": {"minutes": 30}},
        {"critical_current": {"temperatures_K": "60, 64, 67", "max_current_mA": 80.0, "step_mA": 2.0,
                              "stop_voltage_mV": 0.1, "thermalise_s": 1800.0, "stable_s": 30.0,
                              "width_um": 30.0, "thickness_um": 1.0}},
    ],
}
SIMULATION = ["--sim", "ceh9_cell1", "--seed", "4"]


@pytest.fixture(scope="module")
def sequence_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("seq") / "short.yaml"
    path.write_text(yaml.safe_dump(SEQUENCE, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def uninterrupted(sequence_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    outcome = run_sequence(load_sequence(sequence_file), out=root,
                           simulation={"sample": "ceh9_cell1", "seed": 4})
    return outcome


def load_step(path):
    procedure = {"rt_sweep": RTSweep, "critical_current": CriticalCurrent}.get(path.stem.split("_", 1)[1])
    return Results.load(str(path), procedure_class=procedure).data if procedure else None


def segment_column(path):
    return "Sweep direction" if "rt_sweep" in path.name else "Setpoint (K)"


def test_a_sequence_runs_every_step_into_its_run_folder(uninterrupted, sequence_file):
    assert uninterrupted.status == "finished", uninterrupted.error
    run_dir = uninterrupted.run_dir
    assert [p.name for p in step_files(run_dir)] == ["01_rt_sweep.csv", "02_wait.csv", "03_critical_current.csv"]
    identity = json.loads((run_dir / IDENTITY_NAME).read_text())
    assert identity["sample"]["name"] == "CeH9 test cell" and identity["simulation"]["sample"] == "ceh9_cell1"
    assert load_sequence(run_dir / SEQUENCE_NAME) == load_sequence(sequence_file)  # what resume reads back
    events = [e["event"] for e in Journal(run_dir).events()]
    assert events[0] == "sequence start" and events[-1] == "sequence end"
    assert events.count("step start") == events.count("step end") == 3
    assert "analysis" in events and "segment done" in events
    assert (run_dir / "daclab.log").read_text().count("step ") >= 3


def test_the_report_and_summary_follow_the_run(uninterrupted):
    summary = json.loads((uninterrupted.report_dir / "summary.json").read_text())
    assert summary["sequence"]["name"] == "short night" and summary["sample"]["cell"] == "cell-1"
    midpoint = summary["tc"]["midpoint_K"]
    assert 80.0 < (midpoint["value"] if isinstance(midpoint, dict) else midpoint) < 105.0
    assert (uninterrupted.report_dir / "rt.png").stat().st_size > 10_000


def test_the_run_index_lists_the_run(uninterrupted, capsys):
    assert cli.main(["runs", "--data", str(uninterrupted.run_dir.parent), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["kind"] for row in rows} >= {"rt_sweep", "critical_current"}


def test_a_stopped_sequence_resumes_without_repeating_finished_steps(sequence_file, tmp_path):
    def stop_in_the_pulses():  # asked at every point: stop a few pulses into step 3's second temperature
        for run_dir in tmp_path.glob("*/"):
            done = [e["points"] for e in Journal(run_dir).events() if e["event"] == "segment done" and e["step"] == 3]
            if done and count_rows(run_dir / "03_critical_current.csv") > done[-1] + 5:
                return True
        return False

    first = run_sequence(load_sequence(sequence_file), out=tmp_path, should_stop=stop_in_the_pulses,
                         simulation={"sample": "ceh9_cell1", "seed": 4}, report=False)
    assert first.status == "aborted"
    state = journal_state(Journal(first.run_dir))
    assert state.finished_steps == {1, 2} and state.done_segments.get(3)
    sizes = {p.name: p.stat().st_size for p in step_files(first.run_dir)[:2]}
    second = resume(first.run_dir, report=False)
    assert second.status == "finished" and len(second.steps) == 1
    assert {p.name: p.stat().st_size for p in step_files(first.run_dir)[:2]} == sizes  # untouched
    assert_one_copy_of_every_segment(first.run_dir)
    # the Jc(T) fit after the resume uses the temperature done before the stop as well
    step3 = [e["record"] for e in Journal(first.run_dir).events() if e["event"] == "analysis" and e["step"] == 3]
    ic_temperatures = [record["temperature_K"] for record in step3 if record["kind"] == "ic"]
    assert [round(t) for t in ic_temperatures] == [60, 64, 67]
    [jc_fit] = [record for record in step3 if record["kind"] == "jc_fit"]
    assert jc_fit["temperature_K"] == ic_temperatures
    again = resume(first.run_dir, report=False)  # nothing left to measure: nothing is
    assert again.status == "finished" and again.steps == []


def test_a_cooling_warming_pair_cut_by_a_stop_is_paired_after_the_resume(sequence_file, tmp_path):
    def stop_while_warming():
        return any(e["event"] == "segment start" and e["key"] == "warming leg"
                   for run_dir in tmp_path.glob("*/") for e in Journal(run_dir).events())

    first = run_sequence(load_sequence(sequence_file), out=tmp_path, should_stop=stop_while_warming,
                         simulation={"sample": "ceh9_cell1", "seed": 4}, report=False)
    assert first.status == "aborted"
    assert read_run(first.run_dir).status == "aborted"
    seen_while_resuming = []

    def until_step_two():  # asked at every point of the resumed step: what does the index say meanwhile?
        if not seen_while_resuming:
            with RunIndex.at(tmp_path) as index:
                seen_while_resuming.extend((row["step"], row["status"]) for row in index.runs())
            seen_while_resuming.append(read_run(first.run_dir).status)
        return len(step_files(first.run_dir)) > 1

    second = resume(first.run_dir, report=False, should_stop=until_step_two)
    assert second.steps[0].status == "finished"
    # from the resume's start, not from its first step's end, the run is shown as running again
    assert seen_while_resuming == [(1, "running"), "running"]
    step1 = [e["record"] for e in Journal(first.run_dir).events() if e["event"] == "analysis" and e["step"] == 1]
    cooling, warming = ([r for r in step1 if r["kind"] == "tc" and r["direction"] == direction]
                        for direction in ("cooling", "warming"))
    assert len(cooling) == len(warming) == 1  # the warming leg cut by the stop left no record
    [pair] = [record for record in step1 if record["kind"] == "tc_pair"]
    assert pair["lag_K"]["midpoint"] == pytest.approx(warming[0]["midpoint_K"] - cooling[0]["midpoint_K"])
    assert pair["lag_K"]["midpoint"] > 0  # the cell lags the thermometer: warming reads it higher


def test_the_journal_gives_back_the_records_of_the_segments_done(tmp_path):
    journal = Journal(tmp_path)
    for event, fields in [
        ("segment start", {"key": "60 K"}), ("analysis", {"record": {"kind": "ic", "segment": "60 K"}}),
        ("segment done", {"key": "60 K", "offset": 100}),
        ("segment start", {"key": "64 K"}), ("analysis", {"record": {"kind": "ic", "segment": "64 K", "try": 1}}),
        ("segment discard", {"key": "64 K"}),  # a suspension: this attempt's records go with it
        ("segment start", {"key": "64 K"}),
        ("analysis", {"record": {"kind": "fit", "segment": "60 K"}}),  # a fit ending after its segment
        ("analysis", {"record": {"kind": "ic", "segment": "64 K", "try": 2}}),
        ("segment done", {"key": "64 K", "offset": 200}),
        ("segment start", {"key": "67 K"}), ("analysis", {"record": {"kind": "ic", "segment": "67 K"}}),
        ("analysis", {"record": {"kind": "note"}}),  # outside any segment
    ]:
        journal.append(event, step=3, **fields)
    state = journal_state(journal)
    assert state.done_segments == {3: {"60 K": 100, "64 K": 200}}
    assert state.segment_analysis[3] == [{"kind": "ic", "segment": "60 K"}, {"kind": "fit", "segment": "60 K"},
                                         {"kind": "ic", "segment": "64 K", "try": 2}]


def assert_one_copy_of_every_segment(run_dir, reference_dir=None):
    """Each segment's rows appear once, in one block, and (with a reference run) the same
    segments in the same order with about the same number of rows. The time column never runs
    backwards: a resumed step's time goes on from its first part."""
    for path in step_files(run_dir):
        data = load_step(path)
        if data is None:
            continue
        [time_column] = [name for name in ELAPSED_COLUMNS if name in data]
        assert np.all(np.diff(data[time_column].to_numpy(float)) >= 0), f"{path.name}: time runs backwards"
        column = segment_column(path)
        blocks = [key for key, _ in _runs(list(data[column]))]
        assert len(blocks) == len(set(blocks)), f"{path.name}: a segment appears twice: {blocks}"
        if reference_dir is not None:
            reference = load_step(Path(reference_dir) / path.name)
            assert blocks == [key for key, _ in _runs(list(reference[column]))]
            for (key, count), (_, expected) in zip(_runs(list(data[column])), _runs(list(reference[column]))):
                assert count == pytest.approx(expected, rel=0.1, abs=3), f"{path.name} {key}"


def _runs(values):
    out = []
    for value in values:
        if out and out[-1][0] == value:
            out[-1][1] += 1
        else:
            out.append([value, 1])
    return [tuple(x) for x in out]


def _daclab(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "daclab", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            **kwargs)


KILLS_PER_RUN = 4


def _journal_lines(root):
    return sum(len(list(Journal(p).events())) for p in root.iterdir() if (p / IDENTITY_NAME).exists())


def _started_working(process, root, lines_before, timeout_s=60.0):
    """Wait until the process has written to a journal (it is past its imports), or has ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if _journal_lines(root) > lines_before:
            return
        time.sleep(0.05)


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_at_random_moments_then_resume_gives_the_data_of_an_uninterrupted_run(
        seed, sequence_file, uninterrupted, tmp_path):
    """Killed KILLS_PER_RUN times at random moments of its work (the first run, then each resume):
    every file parses after each kill, and the finished run holds the segments of an
    uninterrupted run, each once."""
    rng = random.Random(seed)
    process = _daclab("run", str(sequence_file), *SIMULATION, "--out", str(tmp_path))
    kills, killed_in = 0, []
    while True:
        _started_working(process, tmp_path, _journal_lines(tmp_path) if kills else 0)
        if kills == KILLS_PER_RUN:
            process.wait(timeout=300)
            break
        time.sleep(rng.uniform(0.05, 2.5))
        if process.poll() is not None:
            break  # it finished before the kill
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        run_dir = next(p for p in tmp_path.iterdir() if (p / IDENTITY_NAME).exists())
        for path in step_files(run_dir):  # every file parses at every kill
            load_step(path)
        state = journal_state(Journal(run_dir))
        killed_in.append(min(set(range(1, 4)) - state.finished_steps, default=None))
        process = _daclab("resume", str(run_dir))
    assert process.returncode == 0, process.stderr.read()[-2000:]
    assert kills >= 1, "never killed: the test proved nothing"
    run_dir = next(p for p in tmp_path.iterdir() if (p / IDENTITY_NAME).exists())
    assert journal_state(Journal(run_dir)).finished
    assert_one_copy_of_every_segment(run_dir, uninterrupted.run_dir)
    reference = load_step(uninterrupted.run_dir / "03_critical_current.csv")
    data = load_step(run_dir / "03_critical_current.csv")
    for kelvin in (60.0, 64.0, 67.0):  # the same physics, whichever process measured it
        mine, theirs = (np.abs(d[d["Setpoint (K)"] == kelvin]["Current (A)"]).max() for d in (data, reference))
        assert mine == pytest.approx(theirs, abs=0.005)
    print(f"seed {seed}: killed {kills} times, in steps {killed_in}")


def test_run_and_resume_report_user_mistakes_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlab: simulated\nsteps:\n  - rt_sweep: {lower_K: -3}\n")
    assert cli.main(["run", str(bad), "--sim"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:4" in err and "lower_K" in err and "Traceback" not in err
    assert cli.main(["resume", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert not any(tmp_path.glob("*/run.json"))


def test_a_run_resumes_in_the_open_lab_it_was_measured_in_and_nowhere_else(sequence_file, tmp_path):
    spec = load_sequence(sequence_file)
    # one simulated lab at a time: opening one makes its virtual cryostat the process's world
    with Lab.open("simulated", sample="ceh9_cell1", start_K=120.0, seed=4) as lab:
        first = run_sequence(spec, out=tmp_path, lab=lab, report=False,
                             should_stop=lambda: any(len(step_files(d)) > 1 for d in tmp_path.glob("*/")))
    assert first.status == "aborted"
    events_before = len(list(Journal(first.run_dir).events()))
    with Lab.open("simulated", sample="lace_h10_cell2") as other:
        with pytest.raises(WrongLabError, match="sample 'ceh9_cell1'; the open lab is .*'lace_h10_cell2'"):
            resume(first.run_dir, lab=other, report=False)
    with Lab.open(_real_lab_file(tmp_path)) as real:
        with pytest.raises(WrongLabError, match="virtual cryostat with sample 'ceh9_cell1'; the open lab is lab"):
            resume(first.run_dir, lab=real, report=False)
    assert len(list(Journal(first.run_dir).events())) == events_before  # refused before anything is written
    with Lab.open("simulated", sample="ceh9_cell1", start_K=60.0, seed=5) as lab:
        second = resume(first.run_dir, lab=lab, report=False)
        assert second.status == "finished" and [outcome.status for outcome in second.steps] == ["finished"] * 2
        assert lab.world.elapsed_s > 30 * 60  # the wait step and the pulses ran on this lab
        assert lab.role("temperature").temperature() > 0  # which is still open


def _real_lab_file(tmp_path):
    """A lab file of a real cryostat (opening it touches no instrument)."""
    path = tmp_path / "cryostat2.yaml"
    path.write_text("name: cryostat 2\nroles:\n  temperature:\n    kind: temperature_controller\n"
                    "    driver: lakeshore350:LakeShore350\n    resource: GPIB0::12::INSTR\n")
    return path


def test_a_real_run_resumes_only_in_its_own_lab_file(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    own = _real_lab_file(tmp_path)
    (run_dir / IDENTITY_NAME).write_text(json.dumps({"lab": str(own), "simulation": None}))
    with Lab.open(own) as lab:
        check_same_lab(run_dir, lab)  # no error
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with Lab.open(_real_lab_file(elsewhere)) as lab:
        with pytest.raises(WrongLabError, match=r"measured in lab '.*cryostat2.yaml'; the open lab is 'cryostat 2'"):
            check_same_lab(run_dir, lab)
    with Lab.open("simulated") as lab:
        with pytest.raises(WrongLabError, match="virtual cryostat"):
            check_same_lab(run_dir, lab)
