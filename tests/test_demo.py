"""`make demo`: the short overnight sequence on the simulated CeH9 cell, end to end."""

import io
import re

import pytest
from pymeasure.experiment import Results

from daclab.demo import main
from daclab.procedures.rt_sweep import RTSweep
from daclab.sim.sample import load_sample


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    out = io.StringIO()
    code = main(["--out", str(folder), "--seed", "3"], out=out)
    return code, out.getvalue(), folder


def test_every_step_of_the_sequence_finishes_and_writes_its_file(demo):
    code, text, folder = demo
    assert code == 0, text
    assert len(re.findall(r": finished, \d+ points", text)) == 4
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["1_rt_cooldown.csv", "2_field_series.csv", "3_critical_current.csv",
                     "4_differential_conductance.csv"]
    data = Results.load(str(folder / files[0]), procedure_class=RTSweep).data
    assert set(data["Sweep direction"]) == {"cooling", "warming"}
    assert data["Temperature (K)"].max() > 290 and data["Temperature (K)"].min() < 60


def test_the_printed_results_match_the_simulated_sample(demo):
    _, text, _ = demo
    sample = load_sample("ceh9_cell1")
    mean = float(re.search(r"cooling/warming mean midpoint ([\d.]+) K", text).group(1))
    lower, upper = sample.second_step.tc_K, sample.tc_K  # the two-step transition's 50 % point lies between
    assert lower < mean < upper
    ic_60 = re.search(r"(6[01]\.\d) K: Ic ([\d.]+) mA", text)
    assert float(ic_60.group(2)) * 1e-3 == pytest.approx(sample.critical_current(float(ic_60.group(1))), rel=0.05)
    gap_2K = float(re.search(r" 2\.0 K: gap ([\d.]+) meV", text).group(1))
    assert gap_2K == pytest.approx(sample.gap_meV, rel=0.05)
    jc0 = float(re.search(r"Jc\(0\) \(delta_l\): ([\d.]+)", text).group(1))
    assert jc0 * 1e6 == pytest.approx(sample.jc0_A_cm2, rel=0.10)


def test_an_unknown_sample_is_refused_without_a_traceback(capsys, tmp_path):
    assert main(["--sample", "nowhere", "--out", str(tmp_path)], out=io.StringIO()) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
