"""Sequence files: a night of measurements written down, checked whole before anything runs.

A sequence file (YAML) names the lab, the sample and the steps in order::

    name: CeH9 overnight
    lab: simulated              # a built-in lab (daclab/labs/) or a lab file, relative to this file
    sample: samples/ceh9.yaml   # a sample file, relative to this file, or an inline mapping
    suspend:                    # optional: conditions that pause a step (daclab.suspenders)
      temperature: {below_K: 1.6, above_K: 320, timeout_min: 60}
    steps:
      - rt_sweep: {upper_K: 300, lower_K: 60, direction: cooling and warming, rate_K_per_min: 0.5}
      - wait: {minutes: 30}
      - field_series: {fields_T: "0, 3, 6, 9"}

Each step is a one-key mapping, the kind (:data:`STEP_KINDS`) and its parameters (those of the
procedure, their defaults where left out). A sample file holds ``name``, ``cell``,
``pressure_GPa``, ``pressure_scale`` and ``synthesis_date`` (each optional), and may also be a
virtual-cryostat sample model (the keys of ``sim_configs/samples/*.yaml``), for rehearsing a
sequence on a sample of one's own. Who the sample is and which lab runs it belong to the
sequence, not to a step: the loader writes them into every step.

A mistake found at 3 a.m. costs a night, so :func:`load_sequence` checks everything it can
without an instrument: the YAML, every key, every step's kind and parameters (types, ranges and
each procedure's own rules against the lab's software limits), that the lab file loads and the
sample file parses. The problems are reported together (the first of each step), one a line,
each as ``FILE:LINE: what is wrong`` with the parameter, its value and what is allowed. Only
plain YAML data is read (the safe loader): a tag that would build a Python object is refused.

``lab`` and ``steps`` are required; ``name`` defaults to the file's name, ``sample`` to a sample
known by nothing but what the lab knows (a simulated lab's preset).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import math
import reprlib
import re
from pathlib import Path
from typing import Any

import yaml
from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter, ListParameter, Parameter

from daclab.lab import LabConfig, lab_path, load_lab
from daclab.limits import LimitError
from daclab.procedures.actions import SetField, SetTemperature, Wait
from daclab.procedures.aging import Aging
from daclab.procedures.base import LabProcedure, allowed_values
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.differential_conductance import DifferentialConductance
from daclab.procedures.field_series import FieldSeries
from daclab.procedures.rt_sweep import RTSweep
from daclab.sample_info import SampleInfo
from daclab.sim.sample import Sample
from daclab.suspenders import KINDS as SUSPENDER_KINDS
from daclab.suspenders import Suspender, suspenders_from_spec
from daclab.yaml_file import read_yaml

log = logging.getLogger(__name__)

STEP_KINDS: dict[str, type[LabProcedure]] = {
    "rt_sweep": RTSweep,
    "field_series": FieldSeries,
    "critical_current": CriticalCurrent,
    "differential_conductance": DifferentialConductance,
    "aging": Aging,
    "wait": Wait,
    "set_temperature": SetTemperature,
    "set_field": SetField,
}
TOP_LEVEL_KEYS = ("name", "lab", "sample", "suspend", "steps")
# Step parameters that come from the sequence's lab and sample, never from a step.
FROM_LAB = ("lab_file",)
FROM_SAMPLE = ("sample_name", "cell_id", "pressure_GPa", "pressure_scale", "synthesis_date")
FROM_SEQUENCE = FROM_LAB + FROM_SAMPLE
SAMPLE_INFO_KEYS = tuple(field.name for field in dataclasses.fields(SampleInfo))
MODEL_KEYS = tuple(field.name for field in dataclasses.fields(Sample))
SAMPLE_FILE_KEYS = tuple(dict.fromkeys(SAMPLE_INFO_KEYS + MODEL_KEYS))
SCRIPT = "<script>"

_show = reprlib.Repr()  # values in messages: a huge or deeply nested one is cut short
_show.maxstring = _show.maxother = 80


class SequenceError(LimitError):
    """A sequence that cannot be run. Each line of the message is one problem, starting with
    ``FILE:LINE: `` where it is in a file (``SOURCE: `` otherwise); ``problems`` lists them."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclasses.dataclass
class StepSpec:
    """One step: its place in the sequence (1-based), its kind and parameters (the sequence's lab
    and sample filled in), and the line of the file it was read from (0 when not from a file)."""

    index: int
    kind: str
    parameters: dict[str, Any]
    line: int = dataclasses.field(default=0, compare=False)

    @property
    def label(self) -> str:
        return f"step {self.index} ({self.kind})"

    @property
    def procedure_class(self) -> type[LabProcedure]:
        return STEP_KINDS[self.kind]

    def own_parameters(self) -> dict[str, Any]:
        """The parameters the step itself sets (without those filled in from the sequence)."""
        return {name: value for name, value in self.parameters.items() if name not in FROM_SEQUENCE}

    def build(self, lab=None) -> LabProcedure:
        """The procedure of this step, on ``lab`` (an open :class:`daclab.lab.Lab`) if given."""
        return self.procedure_class(lab=lab, **self.parameters)


@dataclasses.dataclass
class SequenceSpec:
    """A checked sequence. Two specs are equal when they would run the same way (where they were
    read from and the lines of their steps do not count)."""

    name: str
    source: str = dataclasses.field(compare=False)  # the file, or "<script>"
    lab_file: str  # a built-in lab's name, or the lab file's absolute path
    sample: SampleInfo
    sample_file: str | None = dataclasses.field(compare=False)  # absolute path; None when inline
    simulation_model: str | None  # the sample file when it is a virtual-cryostat model
    suspenders: list[Suspender]
    steps: list[StepSpec]

    def simulation_sample(self) -> Sample | None:
        """The virtual cryostat's sample model of :attr:`simulation_model` (None without one):
        the model keys of the sample file, without the keys that say who the sample is, which
        the simulator's own reader does not take. Open the simulated lab on it with
        ``Lab.open(spec.lab_file, sample=spec.simulation_sample())``."""
        if self.simulation_model is None:
            return None
        data, _ = _read_yaml(Path(self.simulation_model))
        return _model(data, self.simulation_model)

    def step_durations_s(self) -> list[float]:
        """Each step's expected length (its procedure's estimate; NaN where it has none)."""
        durations = []
        for step in self.steps:
            procedure = step.build()
            procedure.convert_parameters()
            durations.append(float(procedure.estimated_duration_s()))
        return durations

    def steps_without_estimate(self) -> list[str]:
        """Labels of the steps that cannot estimate their length (e.g. a set_field: where the
        field starts is known only at the cryostat)."""
        return _without_estimate(self.steps, self.step_durations_s())

    def estimated_duration_s(self) -> float:
        """The sum of the steps' estimates; steps without one count as 0 and are named in the log
        (and by :meth:`steps_without_estimate`)."""
        durations = self.step_durations_s()
        missing = _without_estimate(self.steps, durations)
        if missing:
            log.info("%s: no duration estimate for %s; the total leaves them out", self.name, ", ".join(missing))
        return float(sum(seconds for seconds in durations if not math.isnan(seconds)))

    def to_yaml(self) -> str:
        """A sequence file that :func:`load_sequence` reads back to an equal spec, wherever it is
        saved: the lab as a built-in name or an absolute path, the sample inlined (a virtual-
        cryostat model stays a file, by its absolute path: the simulation of a resumed run is
        made from it again), each step with the parameters it sets itself."""
        data: dict[str, Any] = {"name": self.name, "lab": self.lab_file}
        if self.simulation_model is not None:
            data["sample"] = self.simulation_model
        else:
            data["sample"] = _sample_mapping(self.sample)
        if self.suspenders:
            data["suspend"] = {suspender.name: _changed_fields(suspender) for suspender in self.suspenders}
        data["steps"] = [{step.kind: step.own_parameters()} for step in self.steps]
        header = f"# The sequence {self.name!r} as checked from {self.source!r}\n"
        return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _without_estimate(steps: list[StepSpec], durations: list[float]) -> list[str]:
    return [step.label for step, seconds in zip(steps, durations) if math.isnan(seconds)]


# ---- reading ------------------------------------------------------------------------------


def load_sequence(path: str | Path) -> SequenceSpec:
    """Read and check a sequence file (see the module docstring); SequenceError names every problem."""
    path = Path(path)
    data, root = _read_yaml(path)
    return _check(data, _Locator(str(path), root, in_file=True), path.parent)


def sequence_from_dict(data: dict, source: str = SCRIPT, base_dir: str | Path = ".") -> SequenceSpec:
    """Check a sequence given as data (the contents of a sequence file); relative lab and sample
    paths are taken from ``base_dir``. SequenceError names every problem, prefixed by ``source``."""
    return _check(data, _Locator(source), Path(base_dir))


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """The plain data of a sequence or sample file and its node tree (for the lines)."""
    return read_yaml(path, SequenceError, "sequence")


class _Locator:
    """Where a piece of the data was in its file: ``error(path, message)`` prefixes FILE:LINE."""

    def __init__(self, source: str, root: yaml.Node | None = None, in_file: bool = False):
        self.source = source
        self.root = root
        self.in_file = in_file

    def line(self, path: tuple = ()) -> int:
        """1-based line of the node at ``path`` (keys and list indices), or of the nearest node above
        it found; 0 without a file. A path ending in a mapping key gives the key's line."""
        node = self.root
        if node is None:
            return 1 if self.in_file else 0
        line = node.start_mark.line + 1
        for part in path:
            if isinstance(node, yaml.MappingNode):
                pair = next(((key, value) for key, value in node.value
                             if isinstance(key, yaml.ScalarNode) and key.value == str(part)), None)
                if pair is None:
                    break
                line, node = pair[0].start_mark.line + 1, pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def where(self, path: tuple = ()) -> str:
        line = self.line(path)
        return f"{self.source}:{line}: " if line else f"{self.source}: "

    def error(self, path: tuple, message: str) -> str:
        return self.where(path) + message


# ---- checking -----------------------------------------------------------------------------


def _check(data: Any, where: _Locator, base_dir: Path) -> SequenceSpec:
    """The whole sequence, every problem collected; the spec when there is none."""
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {type(data).__name__}"
        raise SequenceError(where.error((), f"a sequence is a mapping with the keys {', '.join(TOP_LEVEL_KEYS)}; "
                                            f"found {found}"))
    problems: list[str] = []
    unknown = [key for key in data if key not in TOP_LEVEL_KEYS]
    for key in unknown:
        problems.append(where.error((key,), f"unknown key {_show.repr(key)}; allowed: {', '.join(TOP_LEVEL_KEYS)}"))
    name = _sequence_name(data, where, problems)
    lab_file, config = _lab(data, where, base_dir, problems)
    sample, sample_file, model = _sample(data.get("sample"), where, base_dir, problems)
    suspenders = _suspenders(data.get("suspend"), where, config, problems)
    steps = _steps(data, where, config, lab_file, sample, problems)
    if problems:
        raise SequenceError(problems)
    return SequenceSpec(name, where.source, lab_file, sample, sample_file, model, suspenders, steps)


def _sequence_name(data: dict, where: _Locator, problems: list[str]) -> str:
    name = data.get("name")
    if name is None:
        return Path(where.source).stem if where.source != SCRIPT else "sequence"
    if isinstance(name, bool) or not isinstance(name, (str, int, float)) or not str(name).strip():
        problems.append(where.error(("name",), f"name = {_show.repr(name)} must be a line of text"))
        return "sequence"
    return str(name).strip()


def _lab(data: dict, where: _Locator, base_dir: Path, problems: list[str]) -> tuple[str, LabConfig | None]:
    """The lab entry: a built-in lab's name or a file relative to the sequence; its config."""
    if "lab" not in data:
        problems.append(where.error((), "no 'lab': give a built-in lab (e.g. lab: simulated) or a lab file"))
        return "", None
    lab = data["lab"]
    if not isinstance(lab, str) or not lab.strip():
        problems.append(where.error(("lab",), f"lab = {_show.repr(lab)} must be a lab name or a lab file path"))
        return "", None
    lab_file = lab
    try:
        relative = base_dir / lab
        if relative.is_file():
            lab_file = str(relative.resolve())
        return lab_file, _lab_config(lab_file)
    except (OSError, ValueError, TypeError, yaml.YAMLError) as error:  # a file name the system refuses, too
        problems.append(where.error(("lab",), f"lab = {_show.repr(lab)}: {error}"))
        return lab_file, None


def _lab_config(lab_file: str) -> LabConfig:
    """The lab file's config, read once per version of the file (its name, time and size)."""
    path = lab_path(lab_file)
    status = path.stat()
    return _read_lab(str(path.resolve()), status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=16)
def _read_lab(path: str, mtime_ns: int, size: int) -> LabConfig:
    return load_lab(path)


def _sample(entry: Any, where: _Locator, base_dir: Path,
            problems: list[str]) -> tuple[SampleInfo, str | None, str | None]:
    """(SampleInfo, the sample file's absolute path or None, the same path when it is a
    virtual-cryostat model or None)."""
    if entry is None:
        return SampleInfo(), None, None
    if isinstance(entry, dict):
        return _sample_info(entry, where, ("sample",), SAMPLE_INFO_KEYS, problems), None, None
    if not isinstance(entry, str):
        problems.append(where.error(("sample",), f"sample = {_show.repr(entry)} must be a sample file path or a "
                                                 f"mapping of {', '.join(SAMPLE_INFO_KEYS)}"))
        return SampleInfo(), None, None
    try:
        path = (base_dir / entry).resolve()
        found = path.is_file()
    except (OSError, ValueError) as error:  # a file name the system refuses
        problems.append(where.error(("sample",), f"sample = {_show.repr(entry)}: {error}"))
        return SampleInfo(), None, None
    if not found:
        problems.append(where.error(("sample",), f"sample = {_show.repr(entry)}: no such file ({path})"))
        return SampleInfo(), None, None
    try:
        data, root = _read_yaml(path)
    except SequenceError as error:
        problems.extend(error.problems)
        return SampleInfo(), str(path), None
    in_file = _Locator(str(path), root, in_file=True)
    if not isinstance(data, dict):
        problems.append(in_file.error((), f"a sample file is a mapping with some of the keys "
                                          f"{', '.join(SAMPLE_INFO_KEYS)} (and a virtual-cryostat model's)"))
        return SampleInfo(), str(path), None
    before = len(problems)
    info = _sample_info(data, in_file, (), SAMPLE_FILE_KEYS, problems)
    model_keys = [key for key in data if key in MODEL_KEYS and key not in SAMPLE_INFO_KEYS]
    if not model_keys or len(problems) > before:
        return info, str(path), None
    try:
        _model(data, str(path))
    except (ValueError, TypeError) as error:
        message = str(error).removeprefix(f"{path}: ")
        key = _first_named(message, data) or model_keys[0]
        problems.append(in_file.error((key,), f"virtual-cryostat model: {message}"))
        return info, str(path), None
    return info, str(path), str(path)


def _model(data: dict, source: str) -> Sample:
    """The virtual-cryostat model in a sample file's mapping (its model keys only)."""
    return Sample.from_dict({key: value for key, value in data.items() if key in MODEL_KEYS}, source=source)


def _sample_info(data: dict, where: _Locator, path: tuple, allowed: tuple[str, ...],
                 problems: list[str]) -> SampleInfo:
    """The SampleInfo fields of a sample mapping, each checked on its own (for its line)."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        at = path + (key,)
        if key not in allowed:
            hint = " (a virtual-cryostat model must be a sample file)" if key in MODEL_KEYS else ""
            problems.append(where.error(at, f"unknown sample key {_show.repr(key)}{hint}; allowed: "
                                            f"{', '.join(allowed)}"))
        elif key in SAMPLE_INFO_KEYS:
            try:
                values[key] = _sample_value(key, value)
                SampleInfo(**{key: values[key]})
            except LimitError as error:
                problems.append(where.error(at, f"sample {key}: {error}"))
                values.pop(key, None)
    return SampleInfo(**values)


def _sample_value(key: str, value: Any) -> Any:
    if key == "pressure_GPa":
        if value is None:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LimitError(f"pressure_GPa = {_show.repr(value)} must be a number in GPa (or left out)")
        return _finite(key, value, "GPa")
    if key == "synthesis_date" and isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()  # YAML reads an unquoted date as a date
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise LimitError(f"{key} = {_show.repr(value)} must be text")
    return str(value)


def _suspenders(spec: Any, where: _Locator, config: LabConfig | None, problems: list[str]) -> list[Suspender]:
    """The ``suspend:`` conditions, each checked on its own, and against the lab's roles."""
    if spec is None:
        return []
    if not isinstance(spec, dict):
        problems.append(where.error(("suspend",), f"suspend = {_show.repr(spec)} must be a mapping of conditions: "
                                                  f"{', '.join(SUSPENDER_KINDS)}"))
        return []
    made = []
    for kind, options in spec.items():
        at = ("suspend", kind)
        if isinstance(options, dict):
            odd = [key for key, value in options.items() if not _plain_number(value)]
            if odd:
                problems.append(where.error(at + (odd[0],), f"suspend.{kind}.{odd[0]} = "
                                                            f"{_show.repr(options[odd[0]])} must be a number"))
                continue
        elif options is not None:
            problems.append(where.error(at, f"suspend.{kind} = {_show.repr(options)} must be a mapping of options"))
            continue
        try:
            condition, = suspenders_from_spec({kind: options})
            if config is not None:
                probe = Wait()
                probe.suspenders = [condition]
                probe.check_suspenders(config)
        except (LimitError, TypeError) as error:
            key = _first_named(str(error), options or {})
            problems.append(where.error(at + ((key,) if key else ()), str(error)))
            continue
        made.append(condition)
    return made


def _plain_number(value: Any) -> bool:
    """A YAML number that a float holds (not a bool, not an integer too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _steps(data: dict, where: _Locator, config: LabConfig | None, lab_file: str, sample: SampleInfo,
           problems: list[str]) -> list[StepSpec]:
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        at = ("steps",) if "steps" in data else ()
        problems.append(where.error(at, f"'steps' must be a list of steps, each '- kind: {{parameters}}' with kind "
                                        f"one of {', '.join(STEP_KINDS)}; found {_show.repr(steps)}"))
        return []
    filled = {"lab_file": lab_file, "sample_name": sample.name, "cell_id": sample.cell,
              "pressure_GPa": 0.0 if math.isnan(sample.pressure_GPa) else sample.pressure_GPa,
              "pressure_scale": sample.pressure_scale, "synthesis_date": sample.synthesis_date}
    made = []
    for position, entry in enumerate(steps):
        try:
            made.append(_step(position, entry, where, config, filled))
        except SequenceError as error:
            problems.extend(error.problems)
    return made


def _step(position: int, entry: Any, where: _Locator, config: LabConfig | None, filled: dict) -> StepSpec:
    """One step, checked; SequenceError with its first problem."""
    index, at = position + 1, ("steps", position)

    def fail(path: tuple, message: str) -> SequenceError:
        return SequenceError(where.error(path, message))

    if not isinstance(entry, dict) or len(entry) != 1:
        found = (f"the keys {', '.join(map(_show.repr, entry))} (are the parameters indented under the kind?)"
                 if isinstance(entry, dict) else _show.repr(entry))
        raise fail(at, f"step {index} must be a mapping with one key, its kind ({', '.join(STEP_KINDS)}); "
                       f"found {found}")
    (kind, given), = entry.items()
    if kind not in STEP_KINDS:
        raise fail(at + (kind,), f"step {index}: unknown kind {_show.repr(kind)}; kinds: {', '.join(STEP_KINDS)}")
    label, at = f"step {index} ({kind})", at + (kind,)
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise fail(at, f"{label}: the parameters must be a mapping name: value; found {_show.repr(given)}")
    cls = STEP_KINDS[kind]
    allowed = [name for name in cls.parameter_names() if name not in FROM_SEQUENCE]
    parameters = {}
    for name, value in given.items():
        if name in FROM_SEQUENCE:
            origin = "lab" if name in FROM_LAB else "sample"
            raise fail(at + (name,), f"{label}: {name} cannot be set in a step: it comes from the sequence's "
                                     f"'{origin}' entry")
        if name not in allowed:
            raise fail(at + (name,), f"{label}: unknown parameter {_show.repr(name)}; parameters of {kind}: "
                                     f"{', '.join(allowed)}")
        try:
            parameters[name] = _parameter_value(name, getattr(cls, name), value)
        except LimitError as error:
            raise fail(at + (name,), f"{label}: {error}") from None
    step = StepSpec(index, kind, {**parameters, **filled}, where.line(at[:-1]))
    if config is not None:
        try:
            step.build().check(config)
        except (LimitError, TypeError, ArithmeticError) as error:
            message = str(error) if isinstance(error, LimitError) else f"{type(error).__name__}: {error}"
            raise fail(_parameter_path(message, at, parameters), f"{label}: {message}") from None
    return step


def _parameter_value(name: str, template: Parameter, value: Any) -> Any:
    """A step parameter as YAML gave it, refused (LimitError: name, value, what is allowed) when
    it is not of the parameter's type; pymeasure's conversion checks the range later."""
    def refuse(why: str) -> LimitError:
        return LimitError(f"{template.name} ({name}) = {_show.repr(value)} is not allowed: {allowed_values(template)} "
                          f"({why})")

    if value is None:
        raise refuse("no value: leave the key out for the default")
    if isinstance(template, BooleanParameter):
        if not isinstance(value, bool):
            raise refuse("not true or false")
        return value
    if isinstance(template, (FloatParameter, IntegerParameter)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise refuse("not a number")
        number = _finite(name, value, template.units or "", refuse)
        if isinstance(template, IntegerParameter):
            if not number.is_integer():
                raise refuse("not a whole number")
            return int(value)
        return value
    if isinstance(template, ListParameter):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise refuse("not one of the choices")
        return value
    # Text; a list of numbers may be written as a YAML list: [0, 3, 6] is "0, 3, 6".
    if isinstance(value, list) and value and all(isinstance(item, (int, float)) and not isinstance(item, bool)
                                                 for item in value):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise LimitError(f"{template.name} ({name}) = {_show.repr(value)} is not allowed: it must be text "
                         f"(or a list of numbers)")
    return value if isinstance(value, str) else str(value)


def _finite(name: str, value: int | float, unit: str, refuse=None) -> float:
    """``value`` as a finite float (a huge integer or NaN is refused, naming the parameter)."""
    try:
        number = float(value)
    except OverflowError:
        number = math.nan
    if math.isnan(number):
        if refuse is not None:
            raise refuse("not a finite number")
        raise LimitError(f"{name} = {_show.repr(value)} is not a finite number ({unit})")
    return number


def _first_named(message: str, names) -> str | None:
    """The name among ``names`` (strings) that ``message`` mentions first, as a whole word."""
    found = []
    for name in names:
        if isinstance(name, str) and name:
            match = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message)
            if match:
                found.append((match.start(), name))
    return min(found)[1] if found else None


def _parameter_path(message: str, at: tuple, given: dict) -> tuple:
    """Where a step's problem is: the parameter of the step it names first, else the sequence's
    lab or sample entry when it is about one of theirs, else the step."""
    name = _first_named(message, given)
    if name is not None:
        return at + (name,)
    named = _first_named(message, FROM_SEQUENCE)
    if named is not None:
        return ("lab",) if named in FROM_LAB else ("sample",)
    return at[:-1]


# ---- writing ------------------------------------------------------------------------------


def _sample_mapping(sample: SampleInfo) -> dict[str, Any]:
    mapping = dataclasses.asdict(sample)
    if math.isnan(sample.pressure_GPa):
        del mapping["pressure_GPa"]
    return mapping


def _changed_fields(suspender: Suspender) -> dict[str, float]:
    """A suspender's options that differ from their defaults (an open band's infinite edge is a
    default, and a number YAML cannot give the checks back)."""
    return {field.name: getattr(suspender, field.name) for field in dataclasses.fields(suspender)
            if getattr(suspender, field.name) != field.default}


__all__ = ["STEP_KINDS", "SequenceError", "StepSpec", "SequenceSpec", "load_sequence", "sequence_from_dict",
           "FROM_SEQUENCE", "SAMPLE_FILE_KEYS"]
