"""Sequence files: good ones load (the examples too), bad ones are refused with FILE:LINE and the
parameter, value and range, whatever the input, and nothing ever opens an instrument."""

import math
import re
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter, ListParameter, Parameter

from daclab.lab import Lab, load_lab
from daclab.procedures.actions import SetField, SetTemperature, Wait
from daclab.procedures.rt_sweep import RTSweep
from daclab.sample_info import SampleInfo
from daclab.sequence_file import (STEP_KINDS, SequenceError, SequenceSpec, StepSpec, load_sequence,
                                  sequence_from_dict)
from daclab.suspenders import MagnetQuench, TemperatureBand

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FILLED = ("lab_file", "sample_name", "cell_id", "pressure_GPa", "pressure_scale", "synthesis_date")
HYPOTHESIS = settings(max_examples=100, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def no_lab_is_opened(monkeypatch):
    """Loading a sequence must never open a lab (or touch an instrument)."""
    def refuse(*args, **kwargs):
        raise AssertionError("a lab was opened while loading a sequence")

    monkeypatch.setattr(Lab, "open", classmethod(refuse))
    monkeypatch.setattr(Lab, "__init__", refuse)


def line_of(text: str, fragment: str) -> int:
    """1-based number of the first line of ``text`` containing ``fragment``."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> SequenceError:
    with pytest.raises(SequenceError) as caught:
        load_sequence(path)
    return caught.value


# ---- good files ---------------------------------------------------------------------------


def test_the_overnight_example_loads_with_its_sample_lab_and_steps():
    path = EXAMPLES / "ceh9_overnight.yaml"
    text = path.read_text()
    spec = load_sequence(path)
    assert spec.name == "CeH9 overnight" and spec.lab_file == "simulated" and spec.simulation_model is None
    assert spec.sample == SampleInfo("CeH9", "cell-1", 100.0, "akahama2006", spec.sample.synthesis_date)
    assert spec.sample.synthesis_date.startswith("2026-08-01")
    assert spec.sample_file == str((EXAMPLES / "samples" / "ceh9_cell1.yaml").resolve())
    assert spec.suspenders == [TemperatureBand(timeout_min=60.0, below_K=1.6, above_K=320.0),
                               MagnetQuench(timeout_min=30.0)]
    kinds = re.findall(r"^  - (\w+):", text, flags=re.MULTILINE)
    assert [step.kind for step in spec.steps] == kinds
    assert [step.index for step in spec.steps] == list(range(1, len(kinds) + 1))
    step_lines = [number for number, line in enumerate(text.splitlines(), 1) if re.match(r"^  - \w+:", line)]
    assert [step.line for step in spec.steps] == step_lines
    field_series = next(step for step in spec.steps if step.kind == "field_series")
    assert field_series.parameters["fields_T"] == "0, 3, 6, 9"  # a YAML list of numbers is the text list
    for step in spec.steps:
        assert {name: step.parameters[name] for name in FILLED} == {
            "lab_file": "simulated", "sample_name": "CeH9", "cell_id": "cell-1", "pressure_GPa": 100.0,
            "pressure_scale": "akahama2006", "synthesis_date": spec.sample.synthesis_date}


def test_every_example_builds_procedures_that_pass_their_own_checks():
    for path in sorted(EXAMPLES.glob("*.yaml")):
        spec = load_sequence(path)
        config = load_lab(spec.lab_file)
        for step in spec.steps:
            procedure = step.build()
            assert type(procedure) is STEP_KINDS[step.kind]
            procedure.check(config)
            assert procedure.sample_name == spec.sample.name


def test_a_sample_file_that_is_a_virtual_cryostat_model():
    spec = load_sequence(EXAMPLES / "yh6_rehearsal.yaml")
    model = str((EXAMPLES / "samples" / "yh6_virtual.yaml").resolve())
    assert spec.simulation_model == spec.sample_file == model
    assert (spec.sample.name, spec.sample.cell, spec.sample.pressure_GPa) == ("YH6 (virtual)", "", 165.0)
    # the virtual cryostat's model: the file's model keys, without who the sample is
    written = yaml.safe_load(Path(model).read_text())
    sample = spec.simulation_sample()
    assert (sample.tc_K, sample.hc2_0_T, sample.cross_section_um2) == (written["tc_K"], written["hc2_0_T"],
                                                                        tuple(written["cross_section_um2"]))
    assert sample.name == written["name"]
    assert load_sequence(EXAMPLES / "ceh9_overnight.yaml").simulation_sample() is None


def test_a_model_sample_file_may_also_say_who_the_sample_is(tmp_path):
    model = (EXAMPLES / "samples" / "yh6_virtual.yaml").read_text()
    write(tmp_path / "samples", "m.yaml", model + "cell: c7\npressure_scale: eremets2023\nsynthesis_date: 2026-09-30\n")
    spec = load_sequence(write(tmp_path, "seq.yaml", GOOD_HEAD + "sample: samples/m.yaml\nsteps:\n  - wait:\n"))
    assert (spec.sample.cell, spec.sample.pressure_scale, spec.sample.synthesis_date) == (
        "c7", "eremets2023", "2026-09-30")
    assert spec.simulation_model == str((tmp_path / "samples" / "m.yaml").resolve())
    assert spec.simulation_sample().tc_K == yaml.safe_load(model)["tc_K"]


@pytest.mark.parametrize("example", ["ceh9_overnight.yaml", "yh6_rehearsal.yaml"])
def test_to_yaml_reads_back_to_an_equal_spec_from_another_folder(tmp_path, example):
    spec = load_sequence(EXAMPLES / example)
    copy = write(tmp_path / "run", "sequence.yaml", spec.to_yaml())
    again = load_sequence(copy)
    assert again == spec
    assert again.source == str(copy) and again.steps[0].parameters == spec.steps[0].parameters
    # self-contained: the sample is inlined unless the virtual cryostat needs its model file
    assert yaml.safe_load(copy.read_text())["sample"] == (spec.simulation_model or {
        "name": "CeH9", "cell": "cell-1", "pressure_GPa": 100.0, "pressure_scale": "akahama2006",
        "synthesis_date": spec.sample.synthesis_date})


def test_a_lab_file_relative_to_the_sequence_and_an_inline_sample(tmp_path):
    simulated = Path(load_lab("simulated").source).read_text()
    write(tmp_path / "labs", "cryostat2.yaml", simulated.replace("max_field_T: 9.0", "max_field_T: 5.0"))
    path = write(tmp_path, "seq.yaml", "lab: labs/cryostat2.yaml\n"
                                       "sample: {name: LaH10, cell: c2, pressure_scale: eremets2023}\n"
                                       "steps:\n  - set_field: {field_T: 4}\n  - wait:\n")
    spec = load_sequence(path)
    assert spec.name == "seq"  # the file's name when the sequence has none
    assert spec.lab_file == str((tmp_path / "labs" / "cryostat2.yaml").resolve())
    assert spec.sample == SampleInfo(name="LaH10", cell="c2", pressure_scale="eremets2023")
    assert spec.sample_file is None and spec.steps[1].parameters["sample_name"] == "LaH10"
    assert math.isnan(spec.sample.pressure_GPa) and spec.steps[0].parameters["pressure_GPa"] == 0.0
    assert load_sequence(write(tmp_path / "elsewhere", "copy.yaml", spec.to_yaml())) == spec
    # the lab file's own limits apply: 5 T here
    error = refused(write(tmp_path, "high.yaml", "lab: labs/cryostat2.yaml\nsteps:\n  - set_field: {field_T: 6}\n"))
    assert "field_T = 6 T is outside the allowed range [-5, 5] T" in str(error)


def test_a_script_builds_the_same_spec_as_the_file(tmp_path):
    text = "name: s\nlab: simulated\nsteps:\n  - wait: {minutes: 5}\n  - rt_sweep: {upper_K: 150, lower_K: 120}\n"
    from_file = load_sequence(write(tmp_path, "s.yaml", text))
    from_script = sequence_from_dict(yaml.safe_load(text))
    assert from_script == from_file and from_script.source == "<script>"
    with pytest.raises(SequenceError, match=r"^<script>: step 1 \(wait\): .*minutes.* = -3 .*\[0, 10080\] min"):
        sequence_from_dict({"lab": "simulated", "steps": [{"wait": {"minutes": -3}}]})


def test_duration_is_the_sum_of_the_steps_and_names_those_without_an_estimate():
    spec = sequence_from_dict({"lab": "simulated", "steps": [
        {"wait": {"minutes": 30}},
        {"rt_sweep": {"upper_K": 150, "lower_K": 120, "rate_K_per_min": 1.0, "direction": "cooling"}},
        {"set_field": {"field_T": 1.0}}]})
    rt = RTSweep(upper_K=150, lower_K=120, rate_K_per_min=1.0, direction="cooling").estimated_duration_s()
    assert spec.estimated_duration_s() == pytest.approx(30 * 60.0 + rt)
    assert spec.steps_without_estimate() == ["step 3 (set_field)"]
    durations = spec.step_durations_s()
    assert durations[0] == 1800.0 and math.isnan(durations[2])


def test_step_specs_build_their_procedure_on_a_lab():
    step = StepSpec(1, "set_temperature", {"setpoint_K": 80.0, "lab_file": "simulated"}, line=3)
    sentinel = object()
    procedure = step.build(lab=sentinel)
    assert isinstance(procedure, SetTemperature) and procedure.lab is sentinel and procedure.setpoint_K == 80.0
    assert step == StepSpec(1, "set_temperature", {"setpoint_K": 80.0, "lab_file": "simulated"}, line=9)


# ---- hand-written bad files ---------------------------------------------------------------

GOOD_HEAD = "name: t\nlab: simulated\n"

BAD_FILES = {
    "yaml syntax": (GOOD_HEAD + "steps:\n  - wait: {minutes: 3\n  - wait: {}\n", "- wait: {}", ["YAML"]),
    "unknown top-level key": (GOOD_HEAD + "stpes:\n  - wait:\n", "stpes", ["stpes", "name, lab, sample, suspend, steps"]),
    "unknown kind": (GOOD_HEAD + "steps:\n  - wait:\n  - rt_swep: {upper_K: 200}\n", "rt_swep",
                     ["step 2", "'rt_swep'", "rt_sweep, field_series"]),
    "parameters not indented": (GOOD_HEAD + "steps:\n  - rt_sweep:\n    upper_K: 200\n", "- rt_sweep",
                                ["one key", "rt_sweep", "upper_K", "indented"]),
    "unknown parameter": (GOOD_HEAD + "steps:\n  - rt_sweep:\n      upper: 200\n", "upper:",
                          ["step 1 (rt_sweep)", "'upper'", "upper_K", "lower_K"]),
    "parameter out of its range": (GOOD_HEAD + "steps:\n  - rt_sweep:\n      lower_K: 100\n      upper_K: 400\n",
                                   "upper_K: 400", ["upper_K", "400", "[1.5, 320] K"]),
    "field beyond the lab's limit": (GOOD_HEAD + "steps:\n  - field_series:\n      upper_K: 120\n"
                                     "      lower_K: 60\n      fields_T: 0, 3, 12\n", "fields_T",
                                     ["fields_T[2]", "12 T", "[-9, 9] T"]),
    "rule between parameters": (GOOD_HEAD + "steps:\n  - wait:\n  - rt_sweep:\n      upper_K: 100\n"
                                "      lower_K: 150\n", "lower_K: 150", ["lower_K = 150 K", "upper_K = 100 K"]),
    "text for a number": (GOOD_HEAD + "steps:\n  - rt_sweep: {rate_K_per_min: fast}\n", "rate_K_per_min",
                          ["rate_K_per_min", "'fast'", "not a number", "[0.001, 100] K/min"]),
    "number for a choice": (GOOD_HEAD + "steps:\n  - rt_sweep:\n      direction: 3\n", "direction",
                            ["direction", "3", "cooling, warming, cooling and warming"]),
    "fraction for a whole number": (GOOD_HEAD + "steps:\n  - rt_sweep:\n      readings_per_point: 2.5\n",
                                    "readings_per_point", ["readings_per_point", "2.5", "whole number", "[1, 1000]"]),
    "sample set in a step": (GOOD_HEAD + "steps:\n  - wait:\n      sample_name: other\n", "sample_name",
                             ["sample_name", "sample"]),
    "lab set in a step": (GOOD_HEAD + "steps:\n  - wait:\n      lab_file: x.yaml\n", "lab_file",
                          ["lab_file", "'lab'"]),
    "no steps": (GOOD_HEAD + "steps: []\n", "steps:", ["steps", "list"]),
    "unknown lab": ("name: t\nlab: cryostat9\nsteps:\n  - wait:\n", "lab:", ["cryostat9", "simulated"]),
    "missing sample file": (GOOD_HEAD + "sample: samples/none.yaml\nsteps:\n  - wait:\n", "sample:",
                            ["samples/none.yaml", "no such file"]),
    "inline sample pressure scale": (GOOD_HEAD + "sample:\n  name: x\n  pressure_scale: guess\nsteps:\n  - wait:\n",
                                     "pressure_scale", ["pressure scale", "'guess'", "akahama2006"]),
    "model keys inline": (GOOD_HEAD + "sample:\n  name: x\n  tc_K: 100\nsteps:\n  - wait:\n", "tc_K",
                          ["tc_K", "sample file", "synthesis_date"]),
    "unknown suspend condition": (GOOD_HEAD + "suspend:\n  pressure: {above_GPa: 3}\nsteps:\n  - wait:\n",
                                  "pressure:", ["'pressure'", "temperature, magnet_quench"]),
    "suspend band the wrong way": (GOOD_HEAD + "suspend:\n  temperature:\n    below_K: 300\n    above_K: 10\n"
                                   "steps:\n  - wait:\n", "below_K", ["below_K = 300 K", "above_K = 10 K"]),
    "boolean for a number": (GOOD_HEAD + "steps:\n  - set_temperature: {setpoint_K: yes}\n", "setpoint_K",
                             ["setpoint_K", "True", "not a number"]),
    "empty value": (GOOD_HEAD + "steps:\n  - set_field:\n      field_T:\n", "field_T", ["field_T", "no value"]),
    "temperature rate beyond the lab": (GOOD_HEAD + "steps:\n  - set_temperature: {rate_K_per_min: 50}\n",
                                        "set_temperature", ["rate_K_per_min = 50 K/min", "[0, 10] K/min"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_names_the_line_and_what_is_wrong(tmp_path, case):
    text, fragment, expected = BAD_FILES[case]
    path = write(tmp_path, "bad.yaml", text)
    error = refused(path)
    message = str(error)
    assert message.startswith(f"{path}:{line_of(text, fragment)}: "), message
    for piece in expected:
        assert piece in message, (piece, message)


def test_the_problem_of_every_step_is_reported(tmp_path):
    text = (GOOD_HEAD + "steps:\n  - wait: {minutes: -1}\n  - set_field: {field_T: 20}\n"
            "  - set_temperature: {setpoint_K: 100}\n  - rt_sweep: {upper_K: 0}\n")
    path = write(tmp_path, "bad.yaml", text)
    error = refused(path)
    lines = [line_of(text, fragment) for fragment in ("minutes: -1", "field_T: 20", "upper_K: 0")]
    assert [problem.split(": ")[0] for problem in error.problems] == [f"{path}:{line}" for line in lines]
    assert str(error).splitlines() == error.problems


def test_a_bad_sample_file_is_reported_at_its_own_line(tmp_path):
    sample_text = "name: CeH9\ncell: c1\nsynthesis: 2026-08-01\n"
    write(tmp_path / "samples", "c1.yaml", sample_text)
    path = write(tmp_path, "seq.yaml", GOOD_HEAD + "sample: samples/c1.yaml\nsteps:\n  - wait:\n")
    message = str(refused(path))
    assert message.startswith(f"{(tmp_path / 'samples' / 'c1.yaml').resolve()}:3: ")
    assert "'synthesis'" in message and "synthesis_date" in message and "tc_K" in message  # the allowed keys


def test_a_bad_virtual_cryostat_model_names_its_key(tmp_path):
    model = (EXAMPLES / "samples" / "yh6_virtual.yaml").read_text().replace("tc_K: 220.0", "tc_K: 900.0")
    sample = write(tmp_path / "samples", "m.yaml", model)
    path = write(tmp_path, "seq.yaml", GOOD_HEAD + "sample: samples/m.yaml\nsteps:\n  - wait:\n")
    message = str(refused(path))
    assert message.startswith(f"{sample.resolve()}:{line_of(model, 'tc_K: 900')}: ")
    assert "tc_K = 900.0" in message and "[0.5, 400.0]" in message


def test_aging_at_a_real_lab_needs_the_synthesis_date_of_the_sample(tmp_path):
    real = "\n".join(line for line in Path(load_lab("simulated").source).read_text().splitlines()
                     if not line.startswith("simulation:"))
    write(tmp_path, "real.yaml", real)
    text = "lab: real.yaml\nsample:\n  name: LaH10\nsteps:\n  - aging: {visits: 3}\n"
    message = str(refused(write(tmp_path, "seq.yaml", text)))
    assert message.startswith(f"{tmp_path / 'seq.yaml'}:{line_of(text, 'sample:')}: step 1 (aging): synthesis_date")
    text = text.replace("name: LaH10", "name: LaH10\n  synthesis_date: 2026-10-02")
    assert load_sequence(write(tmp_path, "seq2.yaml", text)).steps[0].parameters["synthesis_date"] == "2026-10-02"


def test_a_suspender_needs_its_role_in_the_lab(tmp_path):
    write(tmp_path, "nomagnet.yaml", "name: bare\nroles:\n  temperature:\n    kind: temperature_controller\n"
                                     "    driver: lakeshore350:LakeShore350\n    resource: ASRL3::INSTR\n")
    text = "lab: nomagnet.yaml\nsuspend:\n  magnet_quench: {timeout_min: 5}\nsteps:\n  - wait:\n"
    message = str(refused(write(tmp_path, "seq.yaml", text)))
    assert message.startswith(f"{tmp_path / 'seq.yaml'}:{line_of(text, 'magnet_quench')}: ")
    assert "magnet" in message


def test_tags_that_would_build_objects_are_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system"):
        text = GOOD_HEAD + f"steps:\n  - wait: {tag} ['touch {marker}']\n"
        path = write(tmp_path, "evil.yaml", text)
        message = str(refused(path))
        assert message.startswith(f"{path}:4: ") and "not allowed" in message
    text = GOOD_HEAD + "sample: !!python/object:daclab.sample_info.SampleInfo {name: x}\nsteps:\n  - wait:\n"
    assert "python/object" in str(refused(write(tmp_path, "obj.yaml", text)))
    assert not marker.exists()


def test_files_that_are_not_sequences(tmp_path):
    assert str(refused(tmp_path / "absent.yaml")).startswith(f"{tmp_path / 'absent.yaml'}: cannot be read")
    assert str(refused(write(tmp_path, "empty.yaml", ""))).startswith(f"{tmp_path / 'empty.yaml'}:1: ")
    assert str(refused(write(tmp_path, "list.yaml", "- wait\n"))).startswith(f"{tmp_path / 'list.yaml'}:1: ")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: x\nlab: \xff\xfe\n")
    assert str(refused(binary)).startswith(f"{binary}:2: not UTF-8")
    two = write(tmp_path, "two.yaml", GOOD_HEAD + "steps: [wait: {}]\n---\nname: again\n")
    assert str(refused(two)).startswith(f"{two}:")


# ---- generated bad input --------------------------------------------------------------------

SCALARS = (st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=12))
STRUCTURES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(string.ascii_lowercase + "_", max_size=10) | st.integers(), inner,
                                            max_size=4), max_leaves=20)
TOP_KEYS = st.sampled_from(["name", "lab", "sample", "suspend", "steps"]) | st.text(max_size=8)


def expect_sequence_error_or_spec(path: Path):
    try:
        return load_sequence(path)
    except SequenceError as error:
        assert str(error) and str(error).startswith(f"{path}:"), str(error)
        return error


@HYPOTHESIS
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_garbage_text_is_a_sequence_error(tmp_path, text):
    path = tmp_path / "garbage.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = expect_sequence_error_or_spec(path)
    assert isinstance(outcome, SequenceError)  # garbage never makes a runnable sequence (no steps)


@HYPOTHESIS
@given(data=st.dictionaries(TOP_KEYS, STRUCTURES, max_size=5)
       | st.builds(lambda steps, extra: {"lab": "simulated", "steps": steps, **extra},
                   st.lists(st.dictionaries(st.sampled_from(list(STEP_KINDS)) | st.text(max_size=6),
                                            st.none() | st.dictionaries(st.text(max_size=12), SCALARS, max_size=3),
                                            min_size=1, max_size=2), max_size=3),
                   st.dictionaries(TOP_KEYS, STRUCTURES, max_size=2)))
def test_random_structures_load_or_give_a_sequence_error(tmp_path, data):
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    outcome = expect_sequence_error_or_spec(path)
    if isinstance(outcome, SequenceSpec):  # then it really is a runnable sequence
        assert outcome.steps and all(step.kind in STEP_KINDS for step in outcome.steps)


def own_parameters(kind: str) -> list[tuple[str, Parameter]]:
    cls = STEP_KINDS[kind]
    return [(name, getattr(cls, name)) for name in cls.parameter_names() if name not in FILLED]


def wrong_values(template: Parameter) -> st.SearchStrategy:
    """Values the parameter's own type or range refuses, derived from the Parameter itself."""
    not_scalar = st.lists(st.integers(), min_size=1, max_size=2).map(lambda v: {"a": v}) | st.none()
    if isinstance(template, (FloatParameter, IntegerParameter)):
        below = st.floats(-1e12, template.minimum, exclude_max=True, allow_nan=False)
        above = st.floats(template.maximum, 1e12, exclude_min=True, allow_nan=False)
        return (below | above | st.just(math.nan) | st.text(string.ascii_letters, min_size=1, max_size=6)
                | st.booleans() | not_scalar | st.lists(st.floats(0, 1), min_size=1, max_size=2))
    if isinstance(template, ListParameter):
        return st.text(max_size=10).filter(lambda v: v not in map(str, template.choices)) | not_scalar
    if isinstance(template, BooleanParameter):
        return st.text(max_size=5) | st.integers() | not_scalar
    return st.booleans() | not_scalar | st.lists(st.text(max_size=3), min_size=1, max_size=2)


@st.composite
def one_bad_parameter(draw):
    kind = draw(st.sampled_from(list(STEP_KINDS)))
    name, template = draw(st.sampled_from(own_parameters(kind)))
    return kind, name, template, draw(wrong_values(template))


@HYPOTHESIS
@given(case=one_bad_parameter(), position=st.integers(0, 1))
def test_a_wrong_parameter_is_refused_at_its_line_naming_it(tmp_path, case, position):
    kind, name, template, value = case
    if isinstance(template, (FloatParameter, IntegerParameter)) and isinstance(value, float) and math.isfinite(value):
        assume(not template.minimum <= value <= template.maximum)
    steps = [{"wait": None}]
    steps.insert(position, {kind: {name: value}})
    text = yaml.safe_dump({"name": "generated", "lab": "simulated", "steps": steps}, sort_keys=False)
    path = write(tmp_path, "generated.yaml", text)
    message = str(refused(path))
    assert message.startswith(f"{path}:{line_of(text, f'{name}:')}: step {position + 1} ({kind}): "), message
    assert name in message and "is not allowed" in message
    if isinstance(template, (FloatParameter, IntegerParameter)):
        assert f"[{template.minimum:g}, {template.maximum:g}]" in message  # the range from the Parameter


@HYPOTHESIS
@given(kind=st.sampled_from(list(STEP_KINDS)), data=st.data())
def test_values_of_the_right_type_load_or_are_refused_cleanly(tmp_path, kind, data):
    """In-range values of each parameter's type may still break a rule between parameters or a
    lab limit: the outcome is a spec or a SequenceError, never another exception."""
    chosen = data.draw(st.lists(st.sampled_from(own_parameters(kind)), max_size=4, unique_by=lambda p: p[0]))
    parameters = {}
    for name, template in chosen:
        if isinstance(template, IntegerParameter):
            value = data.draw(st.integers(template.minimum, min(template.maximum, 10**6)))
        elif isinstance(template, FloatParameter):
            value = data.draw(st.floats(template.minimum, template.maximum, allow_nan=False))
        elif isinstance(template, ListParameter):
            value = data.draw(st.sampled_from(list(template.choices)))
        elif isinstance(template, BooleanParameter):
            value = data.draw(st.booleans())
        else:
            value = data.draw(st.lists(st.floats(-400, 400), min_size=1, max_size=4).map(
                lambda values: ", ".join(f"{v:g}" for v in values)) | st.text(max_size=6))
        parameters[name] = value
    path = write(tmp_path, "typed.yaml", yaml.safe_dump({"lab": "simulated", "steps": [{kind: parameters}]}))
    outcome = expect_sequence_error_or_spec(path)
    event(type(outcome).__name__)
    if isinstance(outcome, SequenceSpec):
        outcome.steps[0].build().check(load_lab("simulated"))  # what loaded also passes the procedure's check
        assert load_sequence(write(tmp_path / "run", "sequence.yaml", outcome.to_yaml())) == outcome


@settings(HYPOTHESIS, max_examples=50)
@given(options=st.dictionaries(st.sampled_from(["below_K", "above_K", "timeout_min", "other"]), SCALARS,
                               max_size=3),
       kind=st.sampled_from(["temperature", "magnet_quench", "helium"]))
def test_random_suspend_options_load_or_give_a_sequence_error(tmp_path, options, kind):
    path = write(tmp_path, "suspend.yaml",
                 yaml.safe_dump({"lab": "simulated", "suspend": {kind: options}, "steps": [{"wait": None}]}))
    outcome = expect_sequence_error_or_spec(path)
    if isinstance(outcome, SequenceSpec):
        assert len(outcome.suspenders) == 1


def test_the_actions_are_step_kinds():
    assert (STEP_KINDS["wait"], STEP_KINDS["set_temperature"], STEP_KINDS["set_field"]) == (Wait, SetTemperature,
                                                                                            SetField)
