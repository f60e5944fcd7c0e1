"""Sequence, lab and sample files, valid ones damaged and made-up ones, drawn by hypothesis: each
loads, or is refused with its loader's own error naming the file (and the line where the YAML
itself is wrong), never a bare KeyError/TypeError or a YAML traceback; a tag that would build a
Python object runs nothing, and no file is changed by being read."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math
import re
import shutil
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from daclab.lab import LabConfig, LabFileError, load_lab
from daclab.sequence_file import (
    SequenceError,
    SequenceSpec,
    load_sequence,
    sequence_from_dict,
)
from daclab.sim import sim_configs_dir
from daclab.sim.sample import Sample, SampleFileError, load_sample

FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SEQUENCE = EXAMPLES / "ceh9_overnight.yaml"
SAMPLE_INFO = EXAMPLES / "samples" / "ceh9_cell1.yaml"  # who the sample is, as the sequence names it
LAB = ROOT / "daclab" / "labs" / "simulated.yaml"
PRESETS = sorted((sim_configs_dir() / "samples").glob("*.yaml"))


# ---- damaging a valid file ----------------------------------------------------------------------

HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.sampled_from([10**400, -10**30, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308]),
    st.text(max_size=15), st.sampled_from(["", "60, sixty", "1e400", "NaN", "yes", "~", "2026-13-45"]),
    st.binary(max_size=6), st.dates(), st.datetimes(),
    st.lists(st.integers(-3, 3) | st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(string.ascii_lowercase, max_size=5), st.integers() | st.none(), max_size=2),
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
DOCUMENTS = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), inner, max_size=4),
                         max_leaves=20)


def places(data: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a YAML document: mapping keys' values and list items, nested."""
    found = [path] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += places(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += places(value, path + (index,))
    return found


def put(data: Any, path: tuple, value: Any) -> Any:
    changed = copy.deepcopy(data)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def tag_lines(marker: Path) -> list[str]:
    """YAML that would run a command (or build an object) under an unsafe loader; the command
    creates ``marker``, so a test sees whether it ran."""
    command = f"touch {marker}"
    return [f'!!python/object/apply:os.system ["{command}"]',
            f'!!python/object/apply:subprocess.call [["touch", "{marker}"]]',
            f'!!python/object/new:os.system ["{command}"]', "!!python/name:os.system", "!!python/module:os",
            f'!!python/object/apply:builtins.exec ["open(\'{marker}\', \'w\')"]', "!Ref other", "!!set {a, b}",
            "!!binary aGVsbG8=", "!!timestamp 2026-01-01", "!!float nan_text"]


@st.composite
def damaged(draw, original: Path, marker: Path) -> bytes:
    """``original`` damaged one way: truncated, a value of a wrong type, an unknown key, a YAML
    tag, or replaced whole by junk or a random document."""
    raw = original.read_bytes()
    data = yaml.safe_load(raw)
    how = draw(st.sampled_from(["truncate", "wrong type", "unknown key", "tag", "binary", "text", "document",
                                "empty"]))
    event(how)
    if how == "truncate":
        return raw[:draw(st.integers(0, len(raw)))]
    if how == "binary":
        return draw(st.binary(max_size=300))
    if how == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    if how == "document":
        return dump(draw(DOCUMENTS)).encode()
    if how == "empty":
        return draw(st.sampled_from([b"", b"\n", b"# only a comment\n", b"---\n", b"...\n", b"--- \n---\n"]))
    place = draw(st.sampled_from(places(data)))
    if how == "wrong type":
        return dump(put(data, place, draw(HOSTILE))).encode()
    if how == "unknown key":
        parent = place[:-1]
        container = data
        for part in parent:
            container = container[part]
        if isinstance(container, dict):
            return dump(put(data, parent + (draw(st.text(string.ascii_letters + "_", min_size=1, max_size=9)),),
                            draw(HOSTILE))).encode()
        return dump(put(data, place, {draw(st.text(string.ascii_letters, min_size=1, max_size=5)): 1})).encode()
    text = dump(put(data, place, "TAG_PLACEHOLDER"))
    return text.replace("TAG_PLACEHOLDER", draw(st.sampled_from(tag_lines(marker))), 1).encode()


# ---- what a clean refusal looks like ------------------------------------------------------------

def note(text: str) -> None:
    if currently_in_test_context():
        event(text)


def assert_one_clean_line_each(message: str, files: list[Path]) -> None:
    """Every line of the message starts with one of ``files`` (as FILE: or FILE:LINE:)."""
    assert message.strip(), "an empty message"
    for line in message.splitlines():
        assert any(line.startswith(f"{file}:") for file in files), f"{line!r} names none of {files}"
        assert "Traceback" not in line, line
        if "python/" in line:  # a tag that would build an object is named as refused
            assert "is not allowed" in line, line


def finite_numbers(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (tuple, list)):
        return all(finite_numbers(item) for item in value)
    if dataclasses.is_dataclass(value):
        return all(finite_numbers(getattr(value, field.name)) for field in dataclasses.fields(value))
    return True


def lab_is_usable(config: LabConfig) -> bool:
    """Whether a loaded lab holds what opening it needs; its limits must be numbers already
    (SoftwareLimits checks them)."""
    assert isinstance(config.name, str)
    assert finite_numbers(config.limits) and config.limits.max_current_A > 0
    usable = all(isinstance(name, str) and isinstance(role.kind, str) and isinstance(role.driver, str)
                 and isinstance(role.resource, str) and isinstance(role.options, dict)
                 and isinstance(role.adapter_options, dict) for name, role in config.roles.items())
    if config.simulation is not None:
        simulation = config.simulation
        usable &= (isinstance(simulation.sample, str) and isinstance(simulation.seed, int)
                   and isinstance(simulation.start_K, (int, float)) and math.isfinite(simulation.start_K)
                   and simulation.start_K > 0 and isinstance(simulation.speedup, (int, float)))
    return usable


def assert_usable_sample(sample: Sample) -> None:
    assert isinstance(sample.name, str)
    assert finite_numbers(sample), sample
    assert len(sample.cross_section_um2) == 2 and min(sample.cross_section_um2) > 0
    assert 0 < sample.tc_K and (sample.tc_final_K is None or sample.tc_final_K <= sample.tc_K)


def load_lab_or_refuse(path: Path) -> None:
    try:
        config = load_lab(path)
    except LabFileError as error:
        assert_one_clean_line_each(str(error), [path])
        note("refused")
        return
    assert lab_is_usable(config), config
    note("loaded")


def load_sample_or_refuse(path: Path) -> None:
    try:
        sample = load_sample(path)
    except SampleFileError as error:
        assert_one_clean_line_each(str(error), [path])
        note("refused")
        return
    assert_usable_sample(sample)
    note("loaded")


def load_sequence_or_refuse(path: Path, sample_file: Path) -> None:
    try:
        spec = load_sequence(path)
    except SequenceError as error:
        assert error.problems and str(error) == "\n".join(error.problems)
        assert_one_clean_line_each(str(error), [path, sample_file])
        for line in str(error).splitlines():  # a problem in a file is at a line of it
            assert re.match(rf"({re.escape(str(path))}|{re.escape(str(sample_file))}):\d+: \S", line), line
        note("refused")
        return
    assert isinstance(spec, SequenceSpec) and spec.steps
    note("loaded")


# ---- the properties -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A copy of the example sequence beside its sample folder, to damage."""
    place = tmp_path_factory.mktemp("files")
    shutil.copy(SEQUENCE, place / SEQUENCE.name)
    shutil.copytree(EXAMPLES / "samples", place / "samples")
    return place


def write_and_load(path: Path, raw: bytes, load, marker: Path) -> None:
    """Write ``raw`` to ``path``, load it, and check that reading it changed nothing and that no
    tag ran (``marker``, the file its command would create, does not exist)."""
    path.write_bytes(raw)
    load()
    assert path.read_bytes() == raw
    assert not marker.exists(), "a YAML tag ran a command"


@FUZZ
@given(data=st.data())
def test_a_damaged_sequence_file_loads_or_names_its_line(folder, data):
    path = folder / SEQUENCE.name
    raw = data.draw(damaged(SEQUENCE, folder / "ran"))
    try:
        write_and_load(path, raw, lambda: load_sequence_or_refuse(path, folder / "samples" / SAMPLE_INFO.name),
                       folder / "ran")
    finally:
        shutil.copy(SEQUENCE, path)


@FUZZ
@given(data=st.data(), original=st.sampled_from([SAMPLE_INFO, EXAMPLES / "samples" / "yh6_virtual.yaml"]))
def test_a_sequence_whose_sample_file_is_damaged_names_the_sample_file(folder, data, original):
    sequence = folder / "with_sample.yaml"
    sequence.write_text(f"lab: simulated\nsample: samples/{original.name}\nsteps:\n  - wait: {{minutes: 1}}\n")
    sample_file = folder / "samples" / original.name
    raw = data.draw(damaged(original, folder / "ran"))
    try:
        write_and_load(sample_file, raw, lambda: load_sequence_or_refuse(sequence, sample_file), folder / "ran")
    finally:
        shutil.copy(original, sample_file)


@FUZZ
@given(data=st.data())
def test_a_damaged_sequence_given_as_data_is_refused_naming_the_script(data):
    """sequence_from_dict: the same checks without a file, each problem prefixed <script>."""
    original = yaml.safe_load(SEQUENCE.read_text())
    place = data.draw(st.sampled_from(places(original)))
    damaged_data = put(original, place, data.draw(HOSTILE))
    try:
        spec = sequence_from_dict(damaged_data, base_dir=EXAMPLES)
    except SequenceError as error:
        for line in str(error).splitlines():
            assert line.startswith(("<script>: ", f"{EXAMPLES / 'samples'}")), line
        return
    assert spec.steps


@FUZZ
@given(data=st.data())
def test_a_damaged_lab_file_loads_or_is_a_lab_file_error_naming_it(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("lab")
    path = folder / "lab.yaml"
    write_and_load(path, data.draw(damaged(LAB, folder / "ran")), lambda: load_lab_or_refuse(path), folder / "ran")


@FUZZ
@given(data=st.data(), original=st.sampled_from(PRESETS))
def test_a_damaged_sample_preset_loads_or_is_a_sample_file_error_naming_it(tmp_path_factory, data, original):
    folder = tmp_path_factory.mktemp("sample")
    path = folder / original.name
    write_and_load(path, data.draw(damaged(original, folder / "ran")), lambda: load_sample_or_refuse(path),
                   folder / "ran")


# ---- single cases the fuzz may not reach -----------------------------------------------------------


def test_every_preset_and_example_loads_as_it_is():
    for preset in PRESETS:
        assert_usable_sample(load_sample(preset))
    assert lab_is_usable(load_lab(LAB))
    assert load_sequence(SEQUENCE).steps


@pytest.mark.parametrize("text, line", [
    ("name: x\ntc_K: [unclosed\n", 2),
    ("name: x\n\ttc_K: 5\n", 2),
    ("name: x\ntc_K: !!python/object/apply:os.system ['touch ran']\n", 2),
    ("a: " + "[" * 600 + "]" * 600 + "\n", 1),
])
def test_a_sample_file_that_is_not_plain_yaml_is_refused_at_its_line(tmp_path, monkeypatch, text, line):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "sample.yaml"
    path.write_text(text)
    with pytest.raises(SampleFileError, match=rf"^{re.escape(str(path))}:{line}: "):
        load_sample(path)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("text", ["name: [unclosed\n", "roles: !!python/object/apply:os.system ['touch ran']\n",
                                  "name: 2026-02-30\n", "name: !!float abc\n"])
def test_a_lab_file_that_is_not_plain_yaml_is_a_lab_file_error_at_its_line(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    with pytest.raises(LabFileError, match=rf"^{re.escape(str(path))}:1: "):
        load_lab(path)
    assert not (tmp_path / "ran").exists()


def test_a_date_that_is_no_date_in_a_sequence_names_its_line(tmp_path):
    """YAML reads 2026-02-30 as a date and PyYAML fails on it with a bare ValueError."""
    path = tmp_path / "night.yaml"
    path.write_text("lab: simulated\nsample:\n  name: x\n  synthesis_date: 2026-02-30\nsteps:\n  - wait: {}\n")
    with pytest.raises(SequenceError, match=rf"^{re.escape(str(path))}:4: '2026-02-30' is not a valid YAML timestamp"):
        load_sequence(path)


@pytest.mark.parametrize("text", ["lab: simulated\nsteps: &x [*x]\n", "lab: &l [*l]\nsteps:\n  - wait: {}\n",
                                  "lab: simulated\nsample: &s {name: *s}\nsteps:\n  - wait: {}\n",
                                  "lab: simulated\nsteps:\n  - field_series: {fields_T: &f [1, *f]}\n"])
def test_a_sequence_that_contains_itself_is_refused(tmp_path, text):
    """A YAML alias inside its own anchor makes a list or mapping that contains itself."""
    path = tmp_path / "loop.yaml"
    path.write_text(text)
    with pytest.raises(SequenceError, match=rf"^{re.escape(str(path))}:\d+: "):
        load_sequence(path)


@pytest.mark.parametrize("key, value", [
    ("tc_K", None), ("tc_K", ".nan"), ("r_normal_ohm", ".inf"), ("jc0_A_cm2", "9" * 400),
    ("heating_time_constant_s", 0), ("phonon_scale_K", 0), ("noise_nV", -1), ("lead_resistance_ohm", ".nan"),
    ("background_per_mV", 5), ("background_per_mV", "[.nan]"), ("name", "[a, b]"), ("days_since_synthesis", -3),
    ("second_step", "{tc_K: .nan, fraction: 0.5, width_K: 2}"), ("pressure_GPa", "-5"), ("jc_tc_K", ".inf"),
])
def test_a_sample_value_the_model_cannot_use_is_refused_by_its_key(tmp_path, key, value):
    """Each of these loaded before (or failed deep inside a reading): NaN and infinities pass no
    range check, a zero time constant or phonon scale is a division by zero at the first reading."""
    data = yaml.safe_load(PRESETS[0].read_text())
    text = dump({k: v for k, v in data.items() if k != key}) + f"{key}: {'~' if value is None else value}\n"
    path = tmp_path / "sample.yaml"
    path.write_text(text)
    with pytest.raises(SampleFileError, match=rf"^{re.escape(str(path))}: {key}"):
        load_sample(path)


@pytest.mark.parametrize("limits", ["{max_current_A: lots}", "{max_current_A: -0.08}", "{max_field_T: .nan}",
                                    "{max_temperature_K: 1.0}", "{max_current_A: true}", "{max_field_rate_T_per_min: 0}",
                                    "{max_current_A: " + "9" * 400 + "}"])
def test_lab_limits_that_are_no_limits_are_refused_naming_the_file_and_key(tmp_path, limits):
    """A limit of NaN would let every value through; one of text would fail only at the first
    check, in the middle of a run."""
    text = LAB.read_text().replace("limits:\n", f"limits: {limits}\nold_limits:\n", 1)
    text = re.sub(r"old_limits:\n(  .*\n)+", "", text)
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    key = re.search(r"\{(\w+):", limits).group(1)
    with pytest.raises(LabFileError, match=rf"^{re.escape(str(path))}: limits: .*{key}"):
        load_lab(path)


# ---- single cases the fuzz found (each failed before its fix) ------------------------------------


@pytest.mark.parametrize("old, new", [("start_K: 300.0", "start_K: hot"), ("seed: 0", "seed: abc"),
                                      ("kind: magnet", "kind: [magnet]"), ("options: {port: 1}", "options: [1]")])
def test_a_lab_entry_of_the_wrong_type_is_refused_when_read(tmp_path, old, new):
    path = tmp_path / "lab.yaml"
    path.write_text(LAB.read_text().replace(old, new, 1))
    with pytest.raises(LabFileError, match=re.escape(str(path))):
        load_lab(path)


def test_dates_in_a_sample_info_file_are_read_as_dates():
    """YAML reads an unquoted date as a date: the sequence's sample keeps it as ISO text."""
    assert load_sequence(SEQUENCE).sample.synthesis_date == dt.date(2026, 8, 1).isoformat()
