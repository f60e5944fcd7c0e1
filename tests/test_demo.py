"""`make demo`: the overnight sequence on the virtual cryostat, end to end, for samples with
different truths; summary.json must give each sample's own numbers back."""

import io
import json
import math

import pytest
from scipy.optimize import brentq

from daclab.analysis.constants import KB_MEV_PER_K
from daclab.demo import main
from daclab.rundir import step_files
from daclab.sim.sample import load_sample

PRESETS = ["ceh9_cell1", "yh6_cell1"]  # a broad two-step CeH9 transition at 100 K, a sharp YH6 one at 220 K


@pytest.fixture(scope="module", params=PRESETS)
def demo(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    out = io.StringIO()
    code = main(["--sample", request.param, "--out", str(folder), "--seed", "3"], out=out)
    run_dir = next(p for p in folder.iterdir() if p.is_dir())
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    return dict(code=code, text=out.getvalue(), run_dir=run_dir, summary=summary,
                sample=load_sample(request.param))


def value(entry):
    return entry["value"] if isinstance(entry, dict) else entry


def test_every_step_finishes_into_the_run_folder_and_the_report_is_drawn(demo):
    assert demo["code"] == 0, demo["text"]
    assert [p.name for p in step_files(demo["run_dir"])] == [
        "01_rt_sweep.csv", "02_field_series.csv", "03_critical_current.csv", "04_differential_conductance.csv"]
    report = demo["run_dir"] / "report"
    for figure in ("rt", "hc2", "ic", "didv", "gap"):
        assert (report / f"{figure}.png").stat().st_size > 10_000 and (report / f"{figure}.pdf").exists()
    assert "summary.json" in demo["text"] and str(demo["run_dir"]) in demo["text"]


def test_summary_json_recovers_the_sample_truths(demo):
    sample, summary = demo["sample"], demo["summary"]
    # Tc midpoint: where the model's noise-free curve is half normal (its own 50 % point)
    truth_tc = brentq(lambda t: float(sample.normal_fraction(t)) - 0.5, 2.0, 2 * sample.tc_K)
    assert value(summary["tc"]["midpoint_K"]) == pytest.approx(truth_tc, abs=1.0)
    assert value(summary["hc2"]["whh_T"]) == pytest.approx(sample.hc2_0_T, rel=0.05)
    assert value(summary["jc"]["jc0_A_cm2"]) == pytest.approx(sample.jc0_A_cm2, rel=0.10)
    assert value(summary["gap"]["delta0_meV"]) == pytest.approx(sample.gap_meV, rel=0.05)
    truth_ratio = 2 * sample.gap_meV / (KB_MEV_PER_K * sample.tc_K)
    assert value(summary["gap"]["ratio_2delta_kTc"]) == pytest.approx(truth_ratio, rel=0.05)


def test_every_number_in_the_summary_is_a_number_null_or_a_value_with_its_error(demo):
    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"value", "stderr"}:
                assert isinstance(node["value"], (int, float)) and math.isfinite(node["value"])
                return
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
        else:
            assert node is None or isinstance(node, (str, int, float, bool))

    walk(demo["summary"])
    assert demo["summary"]["sample"]["name"] == demo["sample"].name


def test_an_unknown_sample_is_refused_without_a_traceback(capsys, tmp_path):
    assert main(["--sample", "nowhere", "--out", str(tmp_path)], out=io.StringIO()) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
