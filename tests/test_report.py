"""The report of a sequence run: a run folder measured on the virtual cryostat, analysed and drawn.

The truths are the simulated samples' own: the 50 % point of the model's normal fraction (shifted
by the thermometer lag of a swept leg), its WHH Hc2(0), the pinning law's Jc(0) and Tc, the BCS
gap and the aging time constant.
"""

import json
import math
import shutil
import struct

import numpy as np
import pytest
from pymeasure.experiment import Results
from scipy.optimize import brentq

from daclab import cli, rundir, runner
from daclab.analysis.constants import KB_MEV_PER_K
from daclab.analysis.hc2_fit import fit_hc2
from daclab.lab import Lab
from daclab.procedures.aging import Aging
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.differential_conductance import DifferentialConductance
from daclab.procedures.field_series import FieldSeries
from daclab.procedures.rt_sweep import RTSweep
from daclab.report import main, summarise, write_report

RATE_K_PER_MIN = 1.0  # every R-T leg of the runs below
FIELDS_T = (0.0, 4.5, 9.0)
IC_TEMPERATURES_K = (60.0, 64.0, 68.0)
DIDV_TEMPERATURES_K = (2.0, 40.0, 60.0)  # where the BTK fit follows the model's gap to ~5 %
# The world integrates the cell in 10 s steps, which shortens the effective sample lag by half a step.
WORLD_STEP_S = 10.0
SECTION_KEYS = {
    "tc": {"onset_K", "midpoint_K", "zero_K", "width_K", "lag_K", "file"},
    "hc2": {"whh_T", "gl_T", "tc_K", "criterion", "file"},
    "jc": {"jc0_A_cm2", "tc_K", "model", "file"},
    "gap": {"delta0_meV", "tc_K", "ratio_2delta_kTc", "file"},
    "aging": {"tau_days", "tc_final_K", "file"},
}


def _identity(run_dir, name, simulation):
    """run.json as the sequence engine writes it."""
    steps = [{"step": index, "kind": path.stem.split("_", 1)[1], "file": path.name, "parameters": {}}
             for index, path in enumerate(rundir.step_files(run_dir), 1)]
    rundir.write_json_atomic(run_dir / rundir.IDENTITY_NAME, {
        "sequence": name, "sequence_file": str(run_dir / "sequence.yaml"), "run_dir": str(run_dir),
        "started": "2026-11-21T20:00:00+00:00", "lab": "simulated",
        "sample": {"name": "CeH9", "cell": "cell-1", "pressure_GPa": 100.0, "pressure_scale": "akahama2006",
                   "synthesis_date": ""},
        "simulation": simulation, "steps": steps, "daclab_version": "0.1.0"})


def _sample_lag_s(lab) -> float:
    return lab.world.stage.parameters.sample_lag_s - WORLD_STEP_S / 2


def _run_steps(lab, run_dir, steps) -> None:
    for index, (kind, procedure) in enumerate(steps, 1):
        outcome = runner.run(procedure, run_dir / rundir.step_file_name(index, kind))
        assert outcome.status == "finished", outcome.error


@pytest.fixture(scope="module")
def ceh9_run(tmp_path_factory):
    """A four-step run on the CeH9 cell-1 preset (two-step transition, Jc vanishing at jc_tc_K),
    its report written once; a segment moved aside after an interruption sits beside the data."""
    run_dir = tmp_path_factory.mktemp("ceh9") / "20261121-200000_ceh9_overnight"
    run_dir.mkdir()
    fast = dict(readings_per_point=1, reading_interval_s=0.0, thermalise_s=600.0, stable_s=60.0,
                rate_K_per_min=RATE_K_PER_MIN, point_every_K=1.0, return_rate_K_per_min=5.0, resistance_path="delta")
    with Lab.open("simulated", sample="ceh9_cell1", start_K=125.0, seed=0) as lab:
        _run_steps(lab, run_dir, [
            ("rt_sweep", RTSweep(lab=lab, upper_K=125.0, lower_K=60.0, direction="cooling and warming", **fast)),
            ("field_series", FieldSeries(lab=lab, upper_K=120.0, lower_K=45.0, fields_T=", ".join(map(str, FIELDS_T)),
                                         field_rate_T_per_min=0.5, **fast)),
            ("critical_current", CriticalCurrent(lab=lab, temperatures_K=", ".join(map(str, IC_TEMPERATURES_K)),
                                                 max_current_mA=80.0, step_mA=2.0, stable_s=60.0, thermalise_s=600.0,
                                                 width_um=30.0, thickness_um=1.0)),
            ("differential_conductance", DifferentialConductance(
                lab=lab, max_current_A=6e-3, bias_points=101, temperatures_K=", ".join(map(str, DIDV_TEMPERATURES_K)),
                gap_window_mV=63.0, series_resistance_ohm=2.0, stable_s=30.0, thermalise_s=60.0, rate_K_per_min=0.0,
                fit_btk=False)),
        ])
        sample, lag_s = lab.world.sample, _sample_lag_s(lab)
    _identity(run_dir, "ceh9 overnight", {"sample": "ceh9_cell1", "seed": 0, "start_K": 125.0})
    journal = rundir.Journal(run_dir)
    journal.append("sequence start", name="ceh9 overnight", steps=4)
    journal.append("sequence end", status="finished")
    # the first half of an interrupted sweep, moved aside: not data of the run
    lines = (run_dir / "01_rt_sweep.csv").read_text().splitlines()
    (run_dir / "01_rt_sweep.interrupted-1.csv").write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    folder = write_report(run_dir)
    summary = json.loads((folder / rundir.SUMMARY_NAME).read_text(), parse_constant=_no_constant)
    return dict(run_dir=run_dir, folder=folder, summary=summary, sample=sample, lag_s=lag_s)


@pytest.fixture(scope="module")
def aging_run(tmp_path_factory):
    """Five visits, three days apart, to a freshly synthesised LaH10 cell whose Tc decays."""
    run_dir = tmp_path_factory.mktemp("lah10") / "20261121-200000_lah10_aging"
    run_dir.mkdir()
    with Lab.open("simulated", sample="lah10_aging", start_K=200.0, seed=2) as lab:
        _run_steps(lab, run_dir, [("aging", Aging(
            lab=lab, visits=5, interval_days=3.0, upper_K=175.0, lower_K=60.0, rate_K_per_min=RATE_K_PER_MIN,
            point_every_K=2.5, readings_per_point=1, reading_interval_s=0.0, return_rate_K_per_min=5.0,
            standby_K=200.0, direction="cooling"))])
        sample, lag_s = lab.world.sample, _sample_lag_s(lab)
    _identity(run_dir, "lah10 aging", {"sample": "lah10_aging", "seed": 2, "start_K": 200.0})
    return dict(run_dir=run_dir, sample=sample, lag_s=lag_s)


def _no_constant(name):
    raise AssertionError(f"summary.json holds {name}; it must be strict JSON")


def _midpoint_truth(sample, field_T: float = 0.0) -> float:
    """Where the model's resistance is half its normal-state value: the midpoint criterion."""
    return brentq(lambda kelvin: float(sample.normal_fraction(kelvin, field_T)) - 0.5, 20.0, 300.0, xtol=1e-6)


# ---- the numbers against the samples' truths -----------------------------------------------------


def test_tc_is_the_mean_of_cooling_and_warming_and_the_lag_their_difference(ceh9_run):
    tc, sample = ceh9_run["summary"]["tc"], ceh9_run["sample"]
    assert tc["file"] == "01_rt_sweep.csv"
    # a leg swept at r trails the sample by r tau: cooling reads Tc - r tau, warming Tc + r tau (to 6 %:
    # the stage itself trails the controller's ramp a little on top of the cell's lag)
    shift_K = RATE_K_PER_MIN / 60.0 * ceh9_run["lag_s"]
    assert tc["lag_K"] == pytest.approx(2 * shift_K, rel=0.06)
    # the mean cancels the lag: the 50 % point of the two-step transition, between the two steps
    assert tc["midpoint_K"]["value"] == pytest.approx(_midpoint_truth(sample), abs=0.7)
    assert sample.second_step.tc_K < tc["midpoint_K"]["value"] < sample.tc_K
    assert tc["midpoint_K"]["stderr"] == pytest.approx(tc["lag_K"] / 2, rel=0.05)
    assert tc["onset_K"]["value"] > tc["midpoint_K"]["value"] > tc["zero_K"]["value"]
    assert tc["width_K"]["value"] == pytest.approx(tc["onset_K"]["value"] - tc["zero_K"]["value"], rel=0.3)


def test_hc2_follows_the_whh_line_of_the_sample_and_gl_lies_above_it(ceh9_run):
    hc2, sample = ceh9_run["summary"]["hc2"], ceh9_run["sample"]
    assert hc2["criterion"] == "midpoint" and hc2["file"] == "02_field_series.csv"
    # the truth: the model's midpoints in each field, read on cooling legs (r tau low), fitted by WHH
    shift_K = RATE_K_PER_MIN / 60.0 * ceh9_run["lag_s"]
    truth_tc = np.array([_midpoint_truth(sample, field) for field in FIELDS_T]) - shift_K
    reference = fit_hc2(truth_tc, FIELDS_T, model="whh")
    assert hc2["whh_T"]["value"] == pytest.approx(reference.hc2_0_T.value, rel=0.05)
    assert hc2["whh_T"]["value"] == pytest.approx(sample.hc2_0_T, rel=0.15)
    assert hc2["tc_K"]["value"] == pytest.approx(truth_tc[0], abs=0.5)
    assert 0 < hc2["whh_T"]["stderr"] < 0.05 * hc2["whh_T"]["value"]
    # near Tc both share the slope; GL = Tc |slope|, WHH = 0.693 Tc |slope|
    assert 1.1 < hc2["gl_T"]["value"] / hc2["whh_T"]["value"] < 1.6


def test_jc_comes_out_in_a_per_cm2_from_the_files_cross_section(ceh9_run):
    jc, sample = ceh9_run["summary"]["jc"], ceh9_run["sample"]
    assert jc["model"] == "delta_l" and jc["file"] == "03_critical_current.csv"
    assert jc["jc0_A_cm2"]["value"] == pytest.approx(sample.jc0_A_cm2, rel=0.10)
    assert jc["tc_K"]["value"] == pytest.approx(sample.jc_tc_K, abs=1.0)


def test_gap_is_the_bcs_fit_of_the_btk_gaps(ceh9_run):
    gap, sample = ceh9_run["summary"]["gap"], ceh9_run["sample"]
    assert gap["file"] == "04_differential_conductance.csv"
    assert gap["delta0_meV"]["value"] == pytest.approx(sample.gap_meV, rel=0.08)
    # three temperatures up to 0.6 Tc fix Tc only loosely; it must still lie above them, near the truth
    assert max(DIDV_TEMPERATURES_K) < gap["tc_K"]["value"]
    assert abs(gap["tc_K"]["value"] - sample.tc_K) < max(2 * gap["tc_K"]["stderr"], 0.1 * sample.tc_K)
    spectra = [report for report in ceh9_run["summary"]["measurements"][3]["results"]["analyses"]
               if "delta_meV" in report]
    assert spectra[0]["delta_meV"]["value"] == pytest.approx(sample.gap(spectra[0]["temperature_K"]), rel=0.06)
    ratio = 2 * gap["delta0_meV"]["value"] / (KB_MEV_PER_K * gap["tc_K"]["value"])
    assert gap["ratio_2delta_kTc"]["value"] == pytest.approx(ratio, rel=1e-6)


def test_aging_fit_finds_the_decay_of_the_sample(aging_run):
    summary = summarise(aging_run["run_dir"])
    aging, sample = summary["aging"], aging_run["sample"]
    assert aging["file"] == "01_aging.csv"
    assert aging["tau_days"]["value"] == pytest.approx(sample.aging_time_constant_days, rel=0.05)
    shift_K = RATE_K_PER_MIN / 60.0 * aging_run["lag_s"]  # every visit is a cooling leg
    assert aging["tc_final_K"]["value"] == pytest.approx(sample.tc_final_K - shift_K, abs=1.0)
    assert summary["tc"] is None and summary["hc2"] is None  # an aging series is no zero-field R-T step
    assert summary["sequence"]["status"] == "unknown"  # no journal: the sequence's end is not known


# ---- the shape of summary.json ----------------------------------------------------------------


def _walk(value, where="summary"):
    """Every leaf: numbers finite, uncertainties as {"value", "stderr"}."""
    if isinstance(value, dict):
        if "value" in value or "stderr" in value:
            assert set(value) == {"value", "stderr"}, where
            for key in ("value", "stderr"):
                assert value[key] is None or isinstance(value[key], (int, float)), f"{where}.{key}"
        for key, item in value.items():
            _walk(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{where}[{index}]")
    else:
        assert value is None or isinstance(value, (str, bool, int, float)), f"{where}: {value!r}"
        if isinstance(value, float):
            assert math.isfinite(value), where


def test_summary_json_has_the_agreed_keys_and_only_plain_values(ceh9_run):
    summary = ceh9_run["summary"]
    assert set(summary) == {"sequence", "sample", "lab", "simulation", *SECTION_KEYS, "measurements"}
    assert summary["sequence"]["status"] == "finished"
    assert summary["sequence"]["name"] == "ceh9 overnight"
    assert summary["simulation"]["sample"] == "ceh9_cell1"
    for name, keys in SECTION_KEYS.items():
        if summary[name] is not None:
            assert set(summary[name]) == keys, name
    assert summary["aging"] is None
    _walk(summary)
    for name in ("midpoint_K", "onset_K", "zero_K", "width_K"):
        assert set(summary["tc"][name]) == {"value", "stderr"}


def test_every_step_file_is_a_measurement_and_moved_aside_segments_are_not(ceh9_run):
    measurements = ceh9_run["summary"]["measurements"]
    assert [(m["step"], m["kind"], m["file"]) for m in measurements] == [
        (1, "rt_sweep", "01_rt_sweep.csv"), (2, "field_series", "02_field_series.csv"),
        (3, "critical_current", "03_critical_current.csv"),
        (4, "differential_conductance", "04_differential_conductance.csv")]
    for entry, procedure in zip(measurements, (RTSweep, FieldSeries, CriticalCurrent, DifferentialConductance)):
        data = Results.load(str(ceh9_run["run_dir"] / entry["file"]), procedure_class=procedure).data
        assert entry["points"] == len(data)
        assert "message" not in entry, entry.get("message")
        assert entry["days_since_synthesis"] is not None and entry["days_since_synthesis"] >= 0
    spectra = [report for report in measurements[3]["results"]["analyses"] if "delta_meV" in report]
    assert [round(report["temperature_K"]) for report in spectra] == list(DIDV_TEMPERATURES_K)
    sweeps = [report for report in measurements[2]["results"]["analyses"] if report.get("polarity") == 1]
    at_60 = next(report for report in sweeps if round(report["temperature_K"]) == 60)
    assert at_60["ic_A"]["value"] == pytest.approx(ceh9_run["sample"].critical_current(60.0), rel=0.05)


def test_summary_text_reads_the_headline_numbers_with_units_and_errors(ceh9_run):
    text = (ceh9_run["folder"] / "summary.txt").read_text(encoding="utf-8")
    tc, hc2 = ceh9_run["summary"]["tc"], ceh9_run["summary"]["hc2"]
    assert f"midpoint {tc['midpoint_K']['value']:.1f} ± {tc['midpoint_K']['stderr']:.1f} K" in text
    assert f"WHH {hc2['whh_T']['value']:.2f} ± {hc2['whh_T']['stderr']:.2f} T" in text
    for unit in ("MA/cm2", "meV", "2 Delta(0)/kB Tc", "Not in this run: aging", "04_differential_conductance.csv"):
        assert unit in text


# ---- figures -------------------------------------------------------------------------------------


def _png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


def test_figures_for_the_data_of_the_run_as_png_and_pdf(ceh9_run):
    folder = ceh9_run["folder"]
    sizes = {"rt": (960, 720), "hc2": (1920, 720), "ic": (1920, 1440), "didv": (960, 720), "gap": (960, 720)}
    for name, size in sizes.items():
        assert _png_size(folder / f"{name}.png") == size, name  # 6.4 x 4.8 in panels at 150 dpi
        assert (folder / f"{name}.png").stat().st_size > 20_000
        pdf = (folder / f"{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
    assert not (folder / "aging.png").exists()  # no aging series in this run
    assert not list(folder.glob("*.tmp*"))


# ---- files that cannot be analysed, and the command ---------------------------------------------


@pytest.fixture
def broken_run(ceh9_run, tmp_path):
    """A run whose R-T file stopped after four points and whose Ic file holds no data rows."""
    run_dir = tmp_path / "broken"
    run_dir.mkdir()
    lines = (ceh9_run["run_dir"] / "01_rt_sweep.csv").read_text().splitlines()
    first_row = next(index for index, line in enumerate(lines) if not line.startswith("#")) + 1
    (run_dir / "01_rt_sweep.csv").write_text("\n".join(lines[: first_row + 4]) + "\n")
    ic_lines = (ceh9_run["run_dir"] / "03_critical_current.csv").read_text().splitlines()
    (run_dir / "02_critical_current.csv").write_text("\n".join(line for line in ic_lines if line.startswith("#")) +
                                                     "\n")
    shutil.copy(ceh9_run["run_dir"] / rundir.IDENTITY_NAME, run_dir)
    return run_dir


def test_a_file_that_cannot_be_analysed_gives_null_and_a_message(broken_run):
    summary = summarise(broken_run)
    assert summary["tc"] is None and summary["jc"] is None
    rt, ic = summary["measurements"]
    assert rt["points"] == 4 and "transition" in rt["message"]
    assert ic["points"] == 0 and "no data" in ic["message"]
    _walk(summary)


def test_the_command_writes_the_report_and_prints_the_summary(broken_run, aging_run, capsys):
    assert main([str(broken_run)]) == 0
    out = capsys.readouterr().out
    assert f"Report written to {broken_run / 'report'}" in out and "Not in this run: tc, hc2, jc, gap, aging" in out
    assert not list((broken_run / "report").glob("*.png"))  # nothing to draw
    assert main([str(aging_run["run_dir"]), "--json"]) == 0
    captured = capsys.readouterr()
    folder = aging_run["run_dir"] / "report"
    assert json.loads(captured.out) == json.loads((folder / rundir.SUMMARY_NAME).read_text())
    assert str(folder) in captured.err
    assert _png_size(folder / "aging.png") == (960, 720) and not (folder / "rt.png").exists()


@pytest.mark.parametrize("setup, message", [
    ("missing", "no such folder"),
    ("empty", "not a run folder"),
    ("no data", "no step data files"),
    ("file", "not a folder"),
])
def test_the_command_refuses_what_is_not_a_run_folder(tmp_path, capsys, setup, message):
    target = tmp_path / "run"
    if setup == "empty":
        target.mkdir()
    elif setup == "no data":
        target.mkdir()
        rundir.write_json_atomic(target / rundir.IDENTITY_NAME, {"sequence": "s"})
        (target / "01_rt_sweep.interrupted-1.csv").write_text("#Procedure: <x>\n")
    elif setup == "file":
        target.write_text("x")
    assert main([str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "report").exists()


def test_the_command_refuses_an_unknown_option(tmp_path, capsys):
    assert main([str(tmp_path), "--pdf-only"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--pdf-only" in err


def test_daclab_report_reaches_the_command(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("daclab report: ")
