"""The run index (daclab.run_index): run folders built by hand (run.json, journal lines, data
files, summary.json) go in, the rows and queries that come out are checked against the numbers
put in; concurrent readers, a writer killed mid-transaction and a rebuild keep it consistent."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from daclab.limits import LimitError
from daclab.run_index import RunIndex, RunIndexError, main, read_run
from daclab.rundir import INDEX_NAME, Journal, write_json_atomic

SYNTHESIS = "2026-08-01T00:00:00+00:00"


@pytest.fixture
def utc(monkeypatch):
    """Local time = UTC, so that whole-day filters fall where the test expects them."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def write_data_file(path, rows, days=None, torn_row=False):
    """A step's data file shaped like a pymeasure Results file: '#' header, column names, rows."""
    header = ["#Procedure: <daclab.procedures.rt_sweep.RTSweep>", "#Parameters:", "#\tUpper temperature: 250 K"]
    if days is not None:
        header += ["#Metadata:", f"#\tDays since synthesis at start: {days:.3f}"]
    header += ["#Data:", "Temperature (K),Resistance (ohm)"]
    body = [f"{200 + i},{0.01 * i}" for i in range(rows)]
    text = "\n".join(header + body) + "\n"
    if torn_row:
        text += "230,0.0"  # the point in flight when the process died: no newline
    path.write_text(text, encoding="utf-8")


def make_run(root, folder, *, sample="CeH9", cell="cell1", started="2026-10-01T20:00:00+00:00",
             synthesis=SYNTHESIS, steps=(), sequence_status="finished", simulation=None, summary=None):
    """A run folder as the sequence engine leaves it.

    steps: dicts with kind, start, end (None: no 'step end'), status, points, rows (data rows
    written), days (data file header), analysis (records), error.
    """
    run_dir = root / folder
    run_dir.mkdir(parents=True)
    planned = [{"step": n, "kind": s["kind"], "file": f"{n:02d}_{s['kind']}.csv", "parameters": {}}
               for n, s in enumerate(steps, 1)]
    write_json_atomic(run_dir / "run.json", {
        "sequence": folder, "sequence_file": "/seq.yaml", "run_dir": str(run_dir), "started": started,
        "lab": "simulated" if simulation else "cryostat-1",
        "sample": {"name": sample, "cell": cell, "pressure_GPa": 100.0, "pressure_scale": "akahama2006",
                   "synthesis_date": synthesis},
        "simulation": simulation, "steps": planned, "daclab_version": "0.1.0"})
    journal = Journal(run_dir)
    journal.append("sequence start", name=folder, steps=len(planned), time=started)
    for entry, step in zip(planned, steps):
        journal.append("step start", step=entry["step"], name=step["kind"], kind=step["kind"], file=entry["file"],
                       time=step.get("start", started))
        write_data_file(run_dir / entry["file"], step.get("rows", 3), step.get("days"), step.get("torn_row", False))
        for record in step.get("analysis", ()):
            journal.append("analysis", step=entry["step"], record=record)
        if step.get("end") is not None:
            journal.append("step end", step=entry["step"], status=step.get("status", "finished"),
                           points=step.get("points", step.get("rows", 3)), error=step.get("error"),
                           time=step["end"])
    if sequence_status is not None:
        journal.append("sequence end", status=sequence_status, time=steps[-1]["end"] if steps else started)
    if summary is not None:
        (run_dir / "report").mkdir()
        write_json_atomic(run_dir / "report" / "summary.json", summary)
    return run_dir


def rt_step(start, end, cooling_K, warming_K=None, days=None, **extra):
    """An R-T sweep step whose procedure found these zero-field midpoints (onset 3 K above)."""
    analysis = []
    for direction, midpoint in (("cooling", cooling_K), ("warming", warming_K)):
        if midpoint is not None:
            analysis.append({"kind": "tc", "direction": direction, "field_T": float("nan"),
                             "onset_K": midpoint + 3.0, "midpoint_K": midpoint, "zero_K": midpoint - 2.0,
                             "intersection_K": midpoint + 1.0, "width_K": 4.0, "has_transition": True,
                             "days_since_synthesis": days[direction] if days else None})
    return {"kind": "rt_sweep", "start": start, "end": end, "analysis": analysis, **extra}


def measurements(index, **filters):
    return [(row["sample"], row["kind"], row["status"]) for row in index.runs(**filters)]


# ---- recording and reading -----------------------------------------------------------------------


def test_schema_and_connection_settings(tmp_path):
    with RunIndex.at(tmp_path) as index:
        db = index.connection
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"sequences", "measurements", "results"} <= tables
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(RunIndexError, match="version 7.*--rebuild"):
        RunIndex(tmp_path / INDEX_NAME)


def test_results_from_the_journal_alone(tmp_path):
    """Before a report exists: Tc is the mean of the cooling and warming midpoints, the lag their
    difference, the age the mean of the legs'; the fit events give Hc2(0), Jc(0) and the gap."""
    hc2_fit = {"kind": "hc2", "model": "whh", "hc2_0_T": {"value": 95.0, "stderr": 1.5},
               "tc_K": {"value": 201.0, "stderr": 0.4}}
    early_fit = {**hc2_fit, "hc2_0_T": {"value": 80.0, "stderr": 9.0}}
    field_leg = {"kind": "tc", "direction": "cooling", "field_T": 2.0, "midpoint_K": 190.0, "has_transition": True}
    run_dir = make_run(tmp_path, "r1", steps=[
        rt_step("2026-10-01T20:00:00+00:00", "2026-10-01T23:00:00+00:00", 200.0, 202.5,
                days={"cooling": 61.0, "warming": 61.2}, rows=5),
        {"kind": "field_series", "start": "2026-10-01T23:00:00+00:00", "end": "2026-10-02T04:00:00+00:00",
         "analysis": [field_leg, early_fit, hc2_fit]},
        {"kind": "critical_current", "start": "2026-10-02T04:00:00+00:00", "end": "2026-10-02T05:00:00+00:00",
         "analysis": [{"kind": "jc_fit", "model": "delta_l", "jc0_A_cm2": {"value": 2.5e6, "stderr": 1e5},
                       "tc_K": {"value": 199.0, "stderr": 2.0}, "success": True}]},
        {"kind": "differential_conductance", "start": "2026-10-02T05:00:00+00:00", "end": "2026-10-02T06:00:00+00:00",
         "analysis": [{"kind": "gap_fit", "delta0_meV": {"value": 35.0, "stderr": 0.5},
                       "tc_K": {"value": 200.0, "stderr": 1.0}, "ratio": {"value": 4.06, "stderr": 0.07}}]},
    ])
    with RunIndex.at(tmp_path) as index:
        index.record_run(run_dir)
        rows = index.runs()
    assert [row["kind"] for row in rows] == ["rt_sweep", "field_series", "critical_current", "differential_conductance"]
    rt, field, jc, gap = rows
    assert rt["tc_K"] == pytest.approx((200.0 + 202.5) / 2)
    assert rt["results"]["tc_lag_K"]["value"] == pytest.approx(2.5)
    assert rt["results"]["tc_onset_K"] == {"value": pytest.approx(204.25), "stderr": None, "unit": "K"}
    assert rt["days_since_synthesis"] == pytest.approx(61.1)
    assert rt["points"] == 5 and rt["status"] == "finished"
    assert rt["path"] == str(run_dir / "01_rt_sweep.csv")
    assert "tc_midpoint_K" not in field["results"]  # a leg at 2 T is no zero-field Tc
    assert field["hc2_T"] == 95.0  # the last fit, through every field
    assert field["results"]["hc2_whh_T"] == {"value": 95.0, "stderr": 1.5, "unit": "T"}
    assert jc["jc0_A_cm2"] == 2.5e6 and jc["results"]["jc_tc_K"]["stderr"] == 2.0
    assert jc["results"]["jc0_A_cm2"]["unit"] == "A/cm^2"
    assert gap["delta0_meV"] == 35.0 and gap["results"]["ratio_2delta_kTc"]["value"] == 4.06
    assert rt["sample"] == "CeH9" and rt["cell"] == "cell1" and rt["pressure_GPa"] == 100.0


def test_summary_adds_and_overrides_results(tmp_path):
    steps = [rt_step("2026-10-01T20:00:00+00:00", "2026-10-01T23:00:00+00:00", 200.0, 202.0,
                     days={"cooling": 61.0, "warming": 61.2}),
             {"kind": "differential_conductance", "start": "2026-10-02T00:00:00+00:00",
              "end": "2026-10-02T02:00:00+00:00"}]
    summary = {
        "sequence": {"name": "r1", "run_dir": "", "started": "", "status": "finished"},
        "sample": {"name": "CeH9"}, "lab": "cryostat-1", "simulation": None,
        "tc": {"onset_K": 204.0, "midpoint_K": 201.3, "zero_K": None, "width_K": 3.9, "lag_K": 1.8,
               "file": "01_rt_sweep.csv"},
        "hc2": None, "jc": None,
        "gap": {"delta0_meV": {"value": 34.1, "stderr": 0.6}, "tc_K": 199.5, "ratio_2delta_kTc": 3.97,
                "file": "02_differential_conductance.csv"},
        "aging": None,
        "measurements": [
            {"step": 1, "kind": "rt_sweep", "file": "01_rt_sweep.csv", "points": 1234, "days_since_synthesis": 61.15,
             "results": {"cooling": {"midpoint_K": 200.1, "steps": [200.1]}, "has_transition": True,
                         "normal_resistance_ohm": {"value": 0.05, "stderr": 0.001}, "note": "two legs"}},
            {"step": 2, "kind": "differential_conductance", "file": "02_differential_conductance.csv",
             "points": 400, "days_since_synthesis": 62.0, "results": {}},
        ]}
    run_dir = make_run(tmp_path, "r1", steps=steps, summary=summary)
    with RunIndex.at(tmp_path) as index:
        index.record_run(run_dir)
        rt, gap = index.runs()
    assert rt["tc_K"] == 201.3  # the report's number wins over the journal's 201.0
    assert rt["results"]["tc_lag_K"]["value"] == 1.8
    assert "tc_zero_K" in rt["results"]  # null in the report: the journal's (mean of 198 and 200) stays
    assert rt["results"]["tc_zero_K"]["value"] == pytest.approx(199.0)
    assert rt["results"]["cooling_midpoint_K"]["value"] == 200.1
    assert rt["results"]["normal_resistance_ohm"] == {"value": 0.05, "stderr": 0.001, "unit": "ohm"}
    assert not {"has_transition", "note", "cooling_steps"} & set(rt["results"])
    assert rt["days_since_synthesis"] == pytest.approx(61.1)  # when the legs crossed Tc, not the file's start
    assert gap["days_since_synthesis"] == 62.0  # no Tc legs: the report says
    assert rt["points"] == 3  # the journal's 'step end' count is the record of what was written
    assert gap["results"]["delta0_meV"] == {"value": 34.1, "stderr": 0.6, "unit": "meV"}
    assert gap["results"]["ratio_2delta_kTc"]["value"] == 3.97 and gap["results"]["gap_tc_K"]["value"] == 199.5


def test_filters(tmp_path, utc):
    make_run(tmp_path, "a", sample="CeH9", cell="cell1", started="2026-10-01T20:00:00+00:00", steps=[
        rt_step("2026-10-01T20:00:00+00:00", "2026-10-01T22:00:00+00:00", 200.0),
        {"kind": "critical_current", "start": "2026-10-01T22:00:00+00:00", "end": "2026-10-01T23:00:00+00:00",
         "status": "failed", "error": "compliance"}])
    # 23:30 at UTC-5 is already 16 October in UTC: a comparison of the text would say the 15th.
    make_run(tmp_path, "b", sample="CeH9", cell="cell2", started="2026-10-15T23:30:00-05:00", steps=[
        rt_step("2026-10-15T23:30:00-05:00", "2026-10-16T02:00:00-05:00", 198.0)])
    make_run(tmp_path, "c", sample="LaH10", cell="cell2", started="2026-11-02T08:00:00+00:00", steps=[
        rt_step("2026-11-02T08:00:00+00:00", "2026-11-02T10:00:00+00:00", 245.0),
        {"kind": "field_series", "start": "2026-11-02T10:00:00+00:00", "end": "2026-11-02T18:00:00+00:00"}])
    with RunIndex.at(tmp_path) as index:
        index.rebuild()
        assert len(index.runs()) == 5
        assert measurements(index, sample="LaH10") == [("LaH10", "rt_sweep", "finished"),
                                                        ("LaH10", "field_series", "finished")]
        assert [row["tc_K"] for row in index.runs(cell="cell2", kind="rt_sweep")] == [198.0, 245.0]
        assert measurements(index, status="failed") == [("CeH9", "critical_current", "failed")]
        assert index.runs(status="failed")[0]["error"] == "compliance"
        assert [row["tc_K"] for row in index.runs(since="2026-10-16", kind="rt_sweep")] == [198.0, 245.0]
        assert [row["tc_K"] for row in index.runs(until="2026-10-15", kind="rt_sweep")] == [200.0]
        assert [row["tc_K"] for row in index.runs(since="2026-10-02", until="2026-10-31")] == [198.0]
        assert [row["tc_K"] for row in index.runs(since="2026-10-16T05:00:00+00:00", kind="rt_sweep")] == [245.0]
        assert index.runs(sample="CeH9", cell="cell1", kind="field_series") == []
        assert [(run["sample"], run["measurements"]) for run in index.sequences(cell="cell2")] == [
            ("CeH9", 1), ("LaH10", 2)]
        assert [run["sample"] for run in index.sequences(since="2026-11-01")] == ["LaH10"]
        with pytest.raises(LimitError, match="since = 'last week' is not a date"):
            index.runs(since="last week")
        with pytest.raises(LimitError, match="status = 'done'"):
            index.runs(status="done")


def test_tc_against_days(tmp_path):
    """One point per measurement with a zero-field Tc and a known age, by age, across runs."""
    def aging_run(folder, start, cooling, warming, days, sample="CeH9", synthesis=SYNTHESIS):
        make_run(tmp_path, folder, sample=sample, started=start, synthesis=synthesis, steps=[
            rt_step(start, start, cooling, warming, days={"cooling": days, "warming": days + 0.1})])

    aging_run("day30", "2026-08-31T00:00:00+00:00", 208.0, 210.0, 30.0)
    aging_run("day90", "2026-10-30T00:00:00+00:00", 196.0, 197.0, 90.0)
    aging_run("day60", "2026-09-30T00:00:00+00:00", 201.0, 203.0, 60.0)
    aging_run("other", "2026-09-30T00:00:00+00:00", 240.0, 242.0, 10.0, sample="LaH10")
    make_run(tmp_path, "no_age", started="2026-10-05T00:00:00+00:00", synthesis="", steps=[
        rt_step("2026-10-05T00:00:00+00:00", "2026-10-05T02:00:00+00:00", 199.0)])
    # no analysis event, but the data file's header knows the age, and the report the Tc
    run_dir = make_run(tmp_path, "day120", started="2026-11-29T00:00:00+00:00", steps=[
        {"kind": "rt_sweep", "start": "2026-11-29T00:00:00+00:00", "end": "2026-11-29T02:00:00+00:00", "days": 120.0}],
        summary={"tc": {"onset_K": 195.0, "midpoint_K": 192.0, "file": "01_rt_sweep.csv"}, "measurements": []})
    with RunIndex.at(tmp_path) as index:
        index.rebuild()
        points = index.tc_against_days("CeH9")
        assert points == [(pytest.approx(30.05), 209.0, str(tmp_path / "day30" / "01_rt_sweep.csv")),
                          (pytest.approx(60.05), 202.0, str(tmp_path / "day60" / "01_rt_sweep.csv")),
                          (pytest.approx(90.05), 196.5, str(tmp_path / "day90" / "01_rt_sweep.csv")),
                          (120.0, 192.0, str(run_dir / "01_rt_sweep.csv"))]
        assert [tc for _, tc, _ in index.tc_against_days("CeH9", "onset")] == [212.0, 205.0, 199.5, 195.0]
        assert index.tc_against_days("YH6") == []
        with pytest.raises(LimitError, match="criterion = 'half'"):
            index.tc_against_days("CeH9", "half")


def test_re_recording_a_run_replaces_its_rows(tmp_path):
    step1 = rt_step("2026-10-01T20:00:00+00:00", "2026-10-01T22:00:00+00:00", 200.0)
    run_dir = make_run(tmp_path, "r1", steps=[step1], sequence_status=None,
                       summary={"measurements": [{"step": 1, "results": {"old_K": 1.0}}]})
    with RunIndex.at(tmp_path) as index:
        first = index.record_run(run_dir, running=True)
        assert index.record_run(run_dir, running=True) == first
        assert [run["status"] for run in index.sequences()] == ["running"]
        # the sequence goes on: a second step, the end of the run, a new report
        journal = Journal(run_dir)
        journal.append("step start", step=2, name="ic", kind="critical_current", file="02_critical_current.csv")
        journal.append("step end", step=2, status="aborted", points=7, error=None)
        journal.append("sequence end", status="aborted")
        write_json_atomic(run_dir / "report" / "summary.json",
                          {"measurements": [{"step": 1, "results": {"new_K": 2.0}}]})
        assert index.record_run(run_dir) == first  # the run keeps its id
        db = index.connection
        assert db.execute("SELECT COUNT(*) FROM sequences").fetchone()[0] == 1
        assert [tuple(row) for row in db.execute("SELECT step, status, points FROM measurements ORDER BY step")] == [
            (1, "finished", 3), (2, "aborted", 7)]
        names = {name for (name,) in db.execute("SELECT name FROM results")}
        assert "new_K" in names and "old_K" not in names
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == len(names)
        assert [run["status"] for run in index.sequences()] == ["aborted"]


def test_interrupted_step(tmp_path):
    """A step started but never ended (the process died): "interrupted", with the rows it wrote;
    the row in flight (no newline) does not count."""
    run_dir = make_run(tmp_path, "crashed", sequence_status=None, steps=[
        rt_step("2026-10-01T20:00:00+00:00", "2026-10-01T22:00:00+00:00", 200.0),
        {"kind": "field_series", "start": "2026-10-01T22:00:00+00:00", "end": None, "rows": 4, "torn_row": True,
         "days": 61.5}])
    record = read_run(run_dir)
    assert record.status == "interrupted"
    assert [(s.step, s.status, s.points, s.ended) for s in record.steps] == [
        (1, "finished", 3, "2026-10-01T22:00:00+00:00"), (2, "interrupted", 4, None)]
    assert record.steps[1].days_since_synthesis == 61.5
    assert read_run(run_dir, running=True).steps[1].status == "running"
    with RunIndex.at(tmp_path) as index:
        index.record_run(run_dir)
        assert measurements(index, status="interrupted") == [("CeH9", "field_series", "interrupted")]


def test_a_run_being_resumed_is_no_longer_shown_with_the_end_it_had(tmp_path):
    """An aborted run whose journal says 'sequence resume' after its 'sequence end' goes on: it
    is running while the engine holds it, interrupted if the resume died too."""
    run_dir = make_run(tmp_path, "resumed", sequence_status="aborted", steps=[
        rt_step("2026-10-01T20:00:00+00:00", "2026-10-01T22:00:00+00:00", 200.0, status="aborted")])
    assert read_run(run_dir).status == "aborted"
    journal = Journal(run_dir)
    journal.append("sequence resume", step=1, done_segments=["cooling leg"])
    journal.append("step start", step=1, kind="rt_sweep", file="01_rt_sweep.csv")
    assert (read_run(run_dir, running=True).status, read_run(run_dir, running=True).steps[0].status) == (
        "running", "running")
    assert read_run(run_dir).status == "interrupted"
    journal.append("step end", step=1, status="finished", points=3, error=None)
    journal.append("sequence end", status="finished", error=None)
    assert read_run(run_dir).status == "finished"


def test_torn_last_journal_line(tmp_path):
    """The process died while writing 'step end': the half line is ignored, the step is interrupted."""
    run_dir = make_run(tmp_path, "torn", sequence_status=None, steps=[
        {"kind": "rt_sweep", "start": "2026-10-01T20:00:00+00:00", "end": None, "rows": 2}])
    with open(run_dir / "journal.jsonl", "a", encoding="utf-8") as stream:
        stream.write('{"event": "step end", "step": 1, "status": "fini')
    with RunIndex.at(tmp_path) as index:
        index.record_run(run_dir)
        [row] = index.runs()
    assert (row["status"], row["points"], row["ended"]) == ("interrupted", 2, None)


def test_not_a_run_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with RunIndex.at(tmp_path) as index, pytest.raises(RunIndexError, match="no run.json"):
        index.record_run(tmp_path / "empty")


# ---- several connections ----------------------------------------------------------------------------

STEPS = 20


def marked_run(root, folder, steps=STEPS):
    run_dir = make_run(root, folder, steps=[
        {"kind": "rt_sweep", "start": f"2026-10-01T{10 + i // 6:02d}:{i % 6 * 10:02d}:00+00:00",
         "end": "2026-10-01T20:00:00+00:00"} for i in range(steps)])
    (run_dir / "report").mkdir()
    mark(run_dir, 0, steps)
    return run_dir


def mark(run_dir, marker, steps=STEPS):
    """A report whose every measurement carries ``marker`` (and three more results)."""
    write_json_atomic(run_dir / "report" / "summary.json", {"measurements": [
        {"step": n, "results": {"marker": marker, "a_K": n, "b_T": n, "c_meV": n}} for n in range(1, steps + 1)]})


def markers(rows):
    return {row["results"]["marker"]["value"] for row in rows}


def test_a_reader_and_a_writer_at_once(tmp_path):
    """The GUI reading while a sequence writes: every read is one whole version of the run."""
    run_dir = marked_run(tmp_path, "live")
    with RunIndex.at(tmp_path) as index:
        index.record_run(run_dir)
    failures, versions = [], 15

    def write():
        try:
            with RunIndex.at(tmp_path) as writer:
                for version in range(1, versions + 1):
                    mark(run_dir, version)
                    writer.record_run(run_dir)
        except Exception as error:  # reported by the main thread
            failures.append(error)

    thread = threading.Thread(target=write)
    seen = set()
    with RunIndex.at(tmp_path) as reader:
        thread.start()
        while thread.is_alive():
            rows = reader.runs()
            assert len(rows) == STEPS and len(markers(rows)) == 1
            assert all(len(row["results"]) == 4 for row in rows)
            seen |= markers(rows)
        thread.join()
        assert not failures
        assert markers(reader.runs()) == {versions}
    assert seen  # the reader did read while the writer wrote


def test_reads_go_on_while_a_writer_holds_the_lock_and_a_writer_waits(tmp_path):
    run_dir = marked_run(tmp_path, "live", steps=2)
    with RunIndex.at(tmp_path) as index:
        index.record_run(run_dir)
        other = sqlite3.connect(tmp_path / INDEX_NAME, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("DELETE FROM results")  # uncommitted: nobody else sees it
        assert len(index.runs()[0]["results"]) == 4
        errors = []

        def record():
            try:
                with RunIndex.at(tmp_path) as writer:
                    writer.record_run(run_dir)
            except Exception as error:
                errors.append(error)

        thread = threading.Thread(target=record)
        thread.start()
        thread.join(0.2)
        assert thread.is_alive() and not errors  # waiting for the lock, not failing on it
        other.execute("ROLLBACK")
        other.close()
        thread.join()
        assert not errors
        assert len(index.runs()) == 2


# ---- crash and rebuild ---------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from daclab.run_index import RunIndex
    from daclab.rundir import write_json_atomic

    root, mode, steps, version = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    runs = [root / "first", root / "second"]
    index = RunIndex.at(root)

    def mark(run_dir, marker):
        write_json_atomic(run_dir / "report" / "summary.json", {"measurements": [
            {"step": n, "results": {"marker": marker, "a_K": n, "b_T": n, "c_meV": n}} for n in range(1, steps + 1)]})

    def die_inside():  # SQLite calls this every 200 instructions while it works
        die_inside.calls += 1
        if die_inside.calls > int(sys.argv[5]):
            print("inside" if index.connection.in_transaction else "outside", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return 0
    die_inside.calls = 0

    def announce():  # tells the parent, once per record_run, that the write transaction is open
        if index.connection.in_transaction and not announce.done:
            announce.done = True
            print("busy", flush=True)
        return 0

    while True:
        version += 1
        for run_dir in runs:
            mark(run_dir, version)
            if mode == "inside" and run_dir == runs[1]:
                index.connection.set_progress_handler(die_inside, 200)
            elif mode == "loop":
                announce.done = False
                index.connection.set_progress_handler(announce, 50)
            index.record_run(run_dir)
        print(version, flush=True)
""")


def check_consistent(path, steps):
    """The index file is sound and each run is one whole version; returns {run: marker}."""
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("SELECT COUNT(*) FROM measurements WHERE sequence_id NOT IN "
                          "(SELECT id FROM sequences)").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM results WHERE measurement_id NOT IN "
                          "(SELECT id FROM measurements)").fetchone()[0] == 0
        found = {}
        for run_dir, sequence_id in db.execute("SELECT run_dir, id FROM sequences"):
            rows = db.execute("SELECT m.step, r.name, r.value FROM measurements AS m JOIN results AS r "
                              "ON r.measurement_id = m.id WHERE m.sequence_id = ?", (sequence_id,)).fetchall()
            assert len(rows) == 4 * steps
            assert {step for step, _, _ in rows} == set(range(1, steps + 1))
            values = {value for _, name, value in rows if name == "marker"}
            assert len(values) == 1, f"{run_dir} mixes versions {values}"
            found[run_dir] = int(values.pop())
        return found
    finally:
        db.close()


def start_child(root, mode, steps, version, die_after=0):
    return subprocess.Popen([sys.executable, "-c", CHILD, str(root), mode, str(steps), str(version), str(die_after)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def two_runs(tmp_path):
    steps = 40
    for folder in ("first", "second"):
        marked_run(tmp_path, folder, steps)
    with RunIndex.at(tmp_path) as index:
        index.rebuild()
    return tmp_path, steps


@pytest.mark.parametrize("die_after", [2, 25, 60])
def test_writer_killed_inside_the_transaction(two_runs, die_after):
    """Killed by SIGKILL early, midway or late in rewriting the second run (die_after x 200
    SQLite instructions): on the next open the first run is new and the second old, each whole."""
    root, steps = two_runs
    child = start_child(root, "inside", steps, 0, die_after)
    out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    assert out.split() == ["inside"]
    assert check_consistent(root / INDEX_NAME, steps) == {"first": 1, "second": 0}
    with RunIndex.at(root) as index:  # and it goes on being written
        index.record_run(root / "second")
        assert markers(index.runs()) == {1}


def test_writer_killed_from_outside_in_a_loop(two_runs):
    """A sequence recording runs over and over, killed by another process as soon as it says a
    write transaction is open: each run is whole, at the version last reported or the one
    after (committed before it could say so)."""
    root, steps = two_runs
    version = 0
    for transactions_before_kill in (1, 2, 3, 5, 8):
        child = start_child(root, "loop", steps, version)
        lines = []
        while lines.count("busy") < transactions_before_kill:
            line = child.stdout.readline()
            if not line or len(lines) > 100:  # it died, or it records without a transaction
                child.kill()
                pytest.fail(f"no write transaction seen in {lines[-5:]}: {child.communicate()[1]}")
            lines.append(line.strip())
        child.kill()
        out, _ = child.communicate(timeout=30)
        reported = [int(text) for text in lines + out.split() if text != "busy"]
        last = reported[-1] if reported else version
        found = check_consistent(root / INDEX_NAME, steps)
        assert found["first"] in (last, last + 1) and found["second"] in (last, last + 1)
        assert found["second"] <= found["first"]
        version = found["first"]


def test_rebuild_after_losing_the_index(tmp_path):
    for n, sample in enumerate(("CeH9", "CeH9", "LaH10")):
        make_run(tmp_path / "2026", f"run{n}", sample=sample, started=f"2026-10-0{n + 1}T20:00:00+00:00", steps=[
            rt_step(f"2026-10-0{n + 1}T20:00:00+00:00", f"2026-10-0{n + 1}T22:00:00+00:00", 200.0 + n, 201.0 + n,
                    days={"cooling": 60.0 + n, "warming": 60.2 + n})])
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "run.json").write_text("{not json", encoding="utf-8")
    with RunIndex.at(tmp_path) as index:
        rebuilt = index.rebuild()
        assert (rebuilt.recorded, rebuilt.forgotten) == (3, 0)
        assert len(rebuilt.skipped) == 1 and "junk" in rebuilt.skipped[0]
        before = index.runs()
        curve = index.tc_against_days("CeH9")
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / (INDEX_NAME + suffix)).unlink(missing_ok=True)
    with RunIndex.at(tmp_path) as index:
        assert index.runs() == []
        index.rebuild(tmp_path)
        assert index.runs() == before
        assert index.tc_against_days("CeH9") == curve == [(pytest.approx(60.1), 200.5, curve[0][2]),
                                                         (pytest.approx(61.1), 201.5, curve[1][2])]
        for path in (tmp_path / "2026" / "run2").iterdir():
            path.unlink()
        (tmp_path / "2026" / "run2").rmdir()
        assert index.rebuild().forgotten == 1
        assert {row["sample"] for row in index.runs()} == {"CeH9"}


def test_a_copied_data_root_keeps_its_index(tmp_path):
    """Run folders are stored relative to the index: the copy's rows point into the copy."""
    import shutil

    make_run(tmp_path / "lab", "r1", steps=[rt_step("2026-10-01T20:00:00+00:00", "2026-10-01T22:00:00+00:00", 200.0)])
    with RunIndex.at(tmp_path / "lab") as index:
        index.rebuild()
    shutil.copytree(tmp_path / "lab", tmp_path / "laptop")
    with RunIndex.at(tmp_path / "laptop") as index:
        [row] = index.runs()
    assert row["path"] == str(tmp_path / "laptop" / "r1" / "01_rt_sweep.csv")
    assert os.path.exists(row["path"])


# ---- daclab runs -----------------------------------------------------------------------------------


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli(tmp_path, capsys, utc):
    data = tmp_path / "data"
    make_run(data, "20261001-200000_cool", steps=[
        rt_step("2026-10-01T20:00:00+00:00", "2026-10-01T22:00:00+00:00", 200.0, 202.0,
                days={"cooling": 61.0, "warming": 61.0}),
        {"kind": "critical_current", "start": "2026-10-01T22:00:00+00:00", "end": "2026-10-01T23:00:00+00:00",
         "analysis": [{"kind": "jc_fit", "jc0_A_cm2": {"value": 2.5e6, "stderr": 1e5}}]}])
    code, out, err = run_cli(capsys, "--data", str(data))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "daclab runs --rebuild --data" in err

    code, out, err = run_cli(capsys, "--data", str(data), "--rebuild")
    assert code == 0 and "indexed 1 run" in err
    header, rt, ic = out.splitlines()
    assert header.split()[:5] == ["date", "sample", "cell", "step", "status"]
    assert rt.split() == ["2026-10-01", "20:00", "CeH9", "cell1", "rt_sweep", "finished", "3", "201.00",
                          "20261001-200000_cool/01_rt_sweep.csv"]
    assert "2.5e+06" in ic.split() and "critical_current" in ic.split()

    code, out, _ = run_cli(capsys, "--data", str(data), "--kind", "rt_sweep", "--json")
    [row] = json.loads(out)
    assert code == 0 and row["tc_K"] == 201.0 and row["results"]["tc_lag_K"]["value"] == 2.0

    code, out, _ = run_cli(capsys, "--data", str(data), "--tc-vs-days", "CeH9", "--json")
    assert json.loads(out) == [{"days_since_synthesis": 61.0, "tc_K": 201.0,
                                "file": str(data / "20261001-200000_cool" / "01_rt_sweep.csv")}]
    code, out, _ = run_cli(capsys, "--data", str(data), "--tc-vs-days", "CeH9")
    assert code == 0 and out.splitlines()[-1].split()[:2] == ["61.00", "201.00"]

    code, out, _ = run_cli(capsys, "--data", str(data), "--since", "2026-10-02")
    assert code == 0 and len(out.splitlines()) == 1  # the header alone

    for argv, message in ((["--since", "yesterday"], "since = 'yesterday' is not a date"),
                          (["--tc-vs-days", "CeH9", "--criterion", "half"], "criterion = 'half'"),
                          (["--bogus"], "unrecognized arguments")):
        code, out, err = run_cli(capsys, "--data", str(data), *argv)
        assert code == 2 and out == "" and err.count("\n") == 1 and message in err
    code, _, err = run_cli(capsys, "--data", str(tmp_path / "nowhere"), "--rebuild")
    assert code == 2 and "no such data folder" in err
