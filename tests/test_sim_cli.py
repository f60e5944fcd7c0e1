"""`daclab sim presets`: every sample preset with the truths its file and the formulas of
PHYSICS.md give, one preset file shown as written; the presets added for rehearsals load and
stay within what paper 001's instruments can reach."""

import json
import math
from pathlib import Path

import pytest
import yaml

from daclab.analysis.transitions import transition_temperatures
from daclab.sim import configs
from daclab.sim.sample import load_sample
from daclab.sim_cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "sim_configs" / "samples"
KB_MEV_PER_K = 8.617333262e-2
PULSE_LIMIT_A = 0.080  # paper 001's largest pulse
REHEARSAL_PRESETS = ("yh6_cell1", "lah10_cell1")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def preset_files():
    """Every preset file as YAML reads it, its numbers as floats (PyYAML reads 4.0e6 as text)."""
    files = {}
    for path in sorted(SAMPLES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        files[path.stem] = {key: float(value) if key.endswith(("_K", "_T", "_ohm", "_cm2", "_meV")) else value
                            for key, value in data.items()}
    return files


def ic_at_2K_mA(data):
    """Delta-l pinning (PHYSICS.md 4), Jc(t) = Jc(0) (1 - t^2)^(5/2) / (1 + t^2)^(1/2), vanishing at
    jc_tc_K or, without one, at the 10 % point of the transition (midpoint - half the 10-90 % width)."""
    tc_pin = data.get("jc_tc_K") or data["tc_K"] - 0.5 * data["transition_width_K"]
    t2 = (2.0 / tc_pin) ** 2
    jc = data["jc0_A_cm2"] * (1 - t2) ** 2.5 / math.sqrt(1 + t2)
    width_um, thickness_um = data["cross_section_um2"]
    return jc * width_um * thickness_um * 1e-8 * 1e3


def test_presets_json_gives_every_preset_file_with_its_truths(capsys):
    code, out, err = run(capsys, "presets", "--json")
    assert code == 0 and err == ""
    listed = {entry["preset"]: entry for entry in json.loads(out)["presets"]}
    files = preset_files()
    assert set(listed) == set(files) and set(REHEARSAL_PRESETS) <= set(listed)
    for preset, data in files.items():
        entry = listed[preset]
        assert entry["name"] == data["name"]
        assert entry["tc_K"] == data["tc_K"] and entry["transition_width_K"] == data["transition_width_K"]
        assert entry["gap_meV"] == data["gap_meV"] and entry["jc0_A_cm2"] == data["jc0_A_cm2"]
        assert entry["cross_section_um2"] == data["cross_section_um2"]
        assert entry["pressure_GPa"] == data.get("pressure_GPa")
        assert entry["age_days"] == data.get("days_since_synthesis", 0)
        # no preset tilts its field: Hc2(0) along the cell axis
        assert data.get("field_angle_deg", 0) == 0 and entry["hc2_0_T"] == pytest.approx(data["hc2_0_T"])
        assert entry["ic_2K_mA"] == pytest.approx(ic_at_2K_mA(data), rel=1e-9)
        assert entry["ratio_2delta_over_kTc"] == pytest.approx(2 * data["gap_meV"] / (KB_MEV_PER_K * data["tc_K"]))
        second = data.get("second_step")
        assert entry["second_step_tc_K"] == (second["tc_K"] if second else None)
        assert entry["tc_final_K"] == data.get("tc_final_K")
        assert entry["aging_time_constant_days"] == (data["aging_time_constant_days"] if "tc_final_K" in data else None)


def test_presets_table_has_a_line_per_preset_with_its_numbers(capsys):
    code, out, err = run(capsys, "presets")
    assert code == 0 and err == ""
    header, *lines = out.splitlines()
    assert header.split()[:3] == ["preset", "Tc", "K"]
    files = preset_files()
    assert [line.split()[0] for line in lines] == list(files)
    for line, data in zip(lines, files.values()):
        cells = line.split()
        assert float(cells[1]) == data["tc_K"] and float(cells[2]) == data["transition_width_K"]
        assert f"{ic_at_2K_mA(data):.1f}" in cells and data["name"] in line
        assert ("second step at" in line) == ("second_step" in data)
        assert ("Tc ages to" in line) == ("tc_final_K" in data)
    assert "Tc ages to 78 K, tau 6 d" in out  # the aging cell says where its Tc goes


def test_show_prints_the_preset_file_as_written(capsys):
    code, out, err = run(capsys, "presets", "--show", "yh6_cell1")
    assert code == 0 and err == ""
    assert out == (SAMPLES / "yh6_cell1.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("argv, expected", [
    (["presets", "--show", "nb3sn"], "no preset 'nb3sn'; presets: ceh9_cell1, ceh9_cell2"),
    (["presets", "--show", str(SAMPLES / "yh6_cell1.yaml")], "no preset"),  # names only, not paths
    (["presets", "--json", "--show", "yh6_cell1"], "not allowed with argument"),
    (["presets", "--colour"], "unrecognized arguments: --colour"),
    (["samples"], "invalid choice: 'samples'"),
    ([], "choose a command: presets"),
])
def test_a_mistake_is_one_line_on_stderr_and_exit_code_2(capsys, argv, expected):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("daclab sim: ") and err.count("\n") == 1 and expected in err


def test_a_preset_the_model_refuses_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "samples").mkdir()
    data = preset_files()["yh6_cell1"]
    (tmp_path / "samples" / "broken.yaml").write_text(yaml.safe_dump({**data, "tc_K": 500.0}))
    monkeypatch.setattr(configs, "sim_configs_dir", lambda: tmp_path)
    code, out, err = run(capsys, "presets")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "preset 'broken' does not load" in err and "tc_K = 500.0 is outside the allowed range [0.5, 400.0]" in err


def test_help_exits_0(capsys):
    code, out, err = run(capsys, "presets", "--help")
    assert code == 0 and "--show NAME" in out and "--json" in out


# ---- the rehearsal presets --------------------------------------------------------------------


@pytest.mark.parametrize("preset", REHEARSAL_PRESETS)
def test_a_rehearsal_preset_is_within_reach_of_paper_001s_instruments(preset):
    sample = load_sample(preset)
    data = preset_files()[preset]
    # pulsed I-V reaches Ic even at 2 K, with room to see the voltage rise above it
    assert sample.critical_current(2.0) == pytest.approx(ic_at_2K_mA(data) * 1e-3, rel=1e-9)
    assert sample.critical_current(2.0) < 0.9 * PULSE_LIMIT_A
    # a dI/dV sweep to eight gaps of bias through the contact stays within the source's pulses
    contact_ohm = sample.contact_normal_ohm + sample.spreading_resistance_ohm
    assert 8 * sample.gap_meV * 1e-3 / contact_ohm < PULSE_LIMIT_A


@pytest.mark.parametrize("preset", REHEARSAL_PRESETS)
def test_a_rehearsal_preset_is_a_plausible_hydride_unlike_the_ceh9_cell(preset, ceh9):
    sample = load_sample(preset)
    # a single step whose midpoint is the preset's Tc (the 10-90 % width from a tanh step)
    temperature = [sample.tc_K + 0.05 * k for k in range(-600, 600)]
    found = transition_temperatures(temperature, sample.resistance(temperature))
    assert found.has_transition and len(found.steps) == 1
    assert found.midpoint_K == pytest.approx(sample.tc_K, abs=0.1)
    assert found.width_K == pytest.approx(sample.transition_width_K, rel=0.1)
    # strong coupling within the hydrides' 3.5-6 and Hc2(0) below the Pauli limit 1.84 T/K x Tc
    ratio = 2 * sample.gap_meV / (KB_MEV_PER_K * sample.tc_K)
    assert 3.5 < ratio < 6.0
    assert sample.hc2_0_T < 1.84 * sample.tc_K
    # different enough from the CeH9 cell that a demo recovering them proves something
    assert abs(sample.tc_K - ceh9.tc_K) > 100 and abs(sample.hc2_0_T / ceh9.hc2_0_T - 1) > 1
    assert abs(sample.gap_meV / ceh9.gap_meV - 1) > 0.5 and sample.critical_current(2.0) < 0.1 * ceh9.critical_current(2.0)
