"""Procedure parameters, valid-looking and hostile, drawn by hypothesis: ``check()`` refuses a bad
set with a LimitError naming a parameter and its value, or lets it pass only when every number
is inside its declared range and inside the lab's software limits. A refused procedure given to
the runner writes no file and sends nothing to any instrument."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import numpy as np
import pytest
from daclab.procedures.actions import SetField, SetTemperature, Wait
from daclab.procedures.aging import Aging
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.differential_conductance import DifferentialConductance
from daclab.procedures.field_series import FieldSeries
from daclab.procedures.rt_sweep import RESISTANCE_PATHS, RTSweep
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Parameter,
)

from daclab import runner
from daclab.lab import Lab, LabConfig, LabFileError, load_lab
from daclab.limits import LimitError, SoftwareLimits
from daclab.sim.binding import recording_commands

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

PROCEDURES = [RTSweep, FieldSeries, CriticalCurrent, DifferentialConductance, Aging, Wait, SetTemperature,
              SetField]
SIMULATED = load_lab("simulated")
# A stricter setup than the simulated one: a procedure must follow the lab it is given, not
# constants of its own.
STRICT = dataclasses.replace(SIMULATED, name="strict", limits=SoftwareLimits(
    max_current_A=0.01, max_compliance_V=5.0, max_field_T=4.0, max_field_rate_T_per_min=0.1,
    max_temperature_K=250.0, min_temperature_K=4.0, max_temperature_rate_K_per_min=2.0))
CONFIGS = [SIMULATED, STRICT]
LIST_TEXT = {"temperatures_K", "fields_T"}  # text parameters that are lists of numbers


def templates(cls) -> dict[str, Parameter]:
    """The pymeasure parameters of a procedure class, by attribute name."""
    return {name: getattr(cls, name) for name in cls.parameter_names()}


# ---- hostile values ---------------------------------------------------------------------------

WRONG_TYPES = st.sampled_from([None, [1.0, 2.0], {"a": 1}, (), b"5", 1 + 2j, object()])
NUMBER_WORDS = st.sampled_from(["", " ", "sixty", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "0x10", "1,5",
                                "5 furlongs", "60, sixty", "1e-400", "--1", "None"])
EXTREMES = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e300, -1e300, 1e-300, 10**30, -10**30,
                            10**400, np.float64("nan"), np.int64(-1), np.float32(1e30)])


def number_values(template: FloatParameter | IntegerParameter) -> st.SearchStrategy:
    low, high = template.minimum, template.maximum
    inside = (st.integers(math.ceil(low), int(high)) if isinstance(template, IntegerParameter)
              else st.floats(low, high, allow_nan=False))
    as_text = st.one_of(inside, st.floats(-1e6, 1e6)).map(str)
    with_unit = inside.map(lambda v: f"{v} {template.units}") if template.units else as_text
    return st.one_of(inside, inside, st.sampled_from([low, high]), st.floats(-1e7, 1e7),
                     st.floats(allow_nan=True, allow_infinity=True), EXTREMES, as_text, with_unit, NUMBER_WORDS,
                     st.booleans(), WRONG_TYPES)


def list_text_values(unit_examples: list[float]) -> st.SearchStrategy:
    numbers = st.lists(st.floats(-400, 400, allow_nan=False) | st.sampled_from(unit_examples), min_size=1,
                       max_size=5).map(lambda values: ", ".join(f"{v:g}" for v in values))
    return st.one_of(numbers, numbers, NUMBER_WORDS, st.text(max_size=12),
                     st.sampled_from(["60, sixty", "60;;65", ",,,", "60 65 70", "1e400, 2", "nan, 60", "[60, 65]",
                                      "60,\n65", ", ".join(["70"] * 2000)]),
                     st.floats(allow_nan=True), st.integers(-10, 10**6), WRONG_TYPES,
                     st.lists(st.floats(0, 300), min_size=1, max_size=3))


def values_for(name: str, template: Parameter) -> st.SearchStrategy:
    if isinstance(template, (FloatParameter, IntegerParameter)):
        return number_values(template)
    if isinstance(template, ListParameter):
        choices = list(template.choices)
        return st.one_of(st.sampled_from(choices), st.sampled_from(choices), st.text(max_size=10),
                         st.sampled_from([c.upper() for c in map(str, choices)] + [" " + str(choices[0])]),
                         st.integers(), st.floats(), WRONG_TYPES)
    if isinstance(template, BooleanParameter):
        return st.one_of(st.booleans(), st.sampled_from([0, 1, 2, -1, 0.5, "true", "False", "yes", "", math.nan]),
                         WRONG_TYPES)
    if name in LIST_TEXT:
        return list_text_values([0.0, 1.5, 4.0, 9.0, 9.5, 250.0, 320.0, -9.0])
    if name == "synthesis_date":
        return st.one_of(st.dates().map(str), st.datetimes().map(lambda d: d.isoformat()),
                         st.sampled_from(["", "yesterday", "2026-13-01", "2026-02-30", "2026-10-02T25:00"]),
                         st.integers(), st.floats(), WRONG_TYPES)
    return st.one_of(st.text(max_size=20), st.integers(), st.floats(), WRONG_TYPES)


# Parameters the fuzz leaves alone: the lab comes with the config, a real file name is not the point.
NOT_FUZZED = {"lab_file"}


@st.composite
def parameter_sets(draw, cls) -> dict[str, Any]:
    """Some of the class's parameters, each with a drawn value (the others at their defaults)."""
    names = sorted(set(templates(cls)) - NOT_FUZZED)
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=5, unique=True))
    return {name: draw(values_for(name, templates(cls)[name])) for name in chosen}


# ---- what "named" and "inside the limits" mean --------------------------------------------------


def spellings(value: Any) -> set[str]:
    """Ways a message may show ``value``: as given, repr, and as the number it converts to."""
    shown = {repr(value), str(value)}
    if isinstance(value, str):
        shown.add(value.strip())
        number_text = value.strip().partition(" ")[0]
    else:
        number_text = value
    try:
        number = float(number_text)
    except (TypeError, ValueError, OverflowError):
        return shown
    shown |= {f"{number:g}", repr(number), str(number)}
    if number.is_integer() and math.isfinite(number):
        shown.add(str(int(number)))
    return shown


def names_a_parameter(message: str, cls, values: dict[str, list[Any]]) -> bool:
    """Whether ``message`` names one of the parameters of ``values`` (attribute name or label)
    together with one of its values (or, for a list typed as text, the index of the wrong item)."""
    for name, candidates in values.items():
        label = templates(cls)[name].name
        if not (re.search(rf"(?<!\w){re.escape(name)}(?!\w)", message) or label.lower() in message.lower()):
            continue
        if any(shown and shown in message for value in candidates for shown in spellings(value)):
            return True
        if name in LIST_TEXT and f"{name}[" in message:
            return True
    return False


def assert_inside_declared_ranges(procedure) -> None:
    """Every parameter converted: numbers in [minimum, maximum] (NaN only where blank is the
    default's meaning), a choice among the choices, a bool for a bool."""
    for name, template in templates(type(procedure)).items():
        value = getattr(procedure, name)
        if isinstance(template, (FloatParameter, IntegerParameter)):
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (name, value)
            blank_allowed = isinstance(template.default, float) and math.isnan(template.default)
            if math.isnan(value):
                assert blank_allowed, f"{name} = NaN passed the checks; its range is [{template.minimum}, " \
                                      f"{template.maximum}]"
            else:
                assert template.minimum <= value <= template.maximum, (name, value)
        elif isinstance(template, ListParameter):
            assert value in template.choices, (name, value)
        elif isinstance(template, BooleanParameter):
            assert isinstance(value, bool), (name, value)


def numbers(text: str) -> list[float]:
    return [float(item) for item in re.split(r"[,\s;]+", str(text).strip()) if item]


def assert_temperature(limits: SoftwareLimits, name: str, kelvin: float) -> None:
    assert limits.min_temperature_K <= kelvin <= limits.max_temperature_K, f"{name} = {kelvin} K passed"


def assert_current(limits: SoftwareLimits, name: str, ampere: float) -> None:
    assert abs(ampere) <= limits.max_current_A, f"{name} = {ampere} A passed, limit {limits.max_current_A} A"


def assert_field(limits: SoftwareLimits, name: str, tesla: float) -> None:
    assert abs(tesla) <= limits.max_field_T, f"{name} = {tesla} T passed, limit {limits.max_field_T} T"


def assert_inside_lab_limits(procedure, limits: SoftwareLimits) -> None:
    """The lab's rules, written out again from the procedures' documented behaviour: what a
    passing procedure may send to an instrument."""
    assert_temperature(limits, "standby_K", procedure.standby_K)
    rate_max, field_rate_max = limits.max_temperature_rate_K_per_min, limits.max_field_rate_T_per_min
    if isinstance(procedure, (RTSweep, FieldSeries)):  # Aging is an RTSweep
        assert_temperature(limits, "upper_K", procedure.upper_K)
        assert_temperature(limits, "lower_K", procedure.lower_K)
        assert procedure.lower_K < procedure.upper_K
        assert 0 < procedure.rate_K_per_min <= rate_max and 0 < procedure.return_rate_K_per_min <= rate_max
        excitation = procedure.excitation_A
        if math.isnan(excitation):
            excitation = RESISTANCE_PATHS[procedure.resistance_path]
        assert excitation > 0
        assert_current(limits, "excitation", excitation)
        assert 0 < procedure.point_every_K <= procedure.upper_K - procedure.lower_K
        if isinstance(procedure, FieldSeries):
            for tesla in numbers(procedure.fields_T) + [procedure.final_field_T]:
                assert_field(limits, "fields_T", tesla)
            assert procedure.field_rate_T_per_min <= field_rate_max
        elif not math.isnan(procedure.field_T):
            assert_field(limits, "field_T", procedure.field_T)
            assert procedure.field_rate_T_per_min <= field_rate_max
    if isinstance(procedure, (CriticalCurrent, DifferentialConductance)):
        for kelvin in numbers(procedure.temperatures_K):
            assert_temperature(limits, "temperatures_K", kelvin)
        assert 0 <= procedure.rate_K_per_min <= rate_max
    if isinstance(procedure, CriticalCurrent):
        assert procedure.max_current_mA <= procedure.sample_limit_mA
        for polarity in (1, -1):
            currents = procedure._currents_A(polarity)  # what pulse_iv is sent, pulse by pulse
            assert currents.size <= 10000 and np.all(np.isfinite(currents))
            for current in currents:
                assert_current(limits, "pulse current", current)
        assert procedure.stop_voltage_mV * 1e3 > procedure.criterion_uV
    if isinstance(procedure, DifferentialConductance):
        peak = np.max(np.abs(procedure.bias_currents())) + procedure.step_A
        assert_current(limits, "bias current + dI", peak)
    if isinstance(procedure, SetTemperature):
        assert_temperature(limits, "setpoint_K", procedure.setpoint_K)
        assert 0 <= procedure.rate_K_per_min <= rate_max
    if isinstance(procedure, SetField):
        assert_field(limits, "field_T", procedure.field_T)
        assert 0 < procedure.rate_T_per_min <= field_rate_max


def note(text: str) -> None:
    """A hypothesis event (statistics of what the fuzz reached), outside a fuzz test nothing."""
    if currently_in_test_context():
        event(text)


def check_or_refuse(cls, chosen: dict[str, Any], config: LabConfig, blame_chosen: bool = True):
    """Build and check; returns the checked procedure, or None when it was refused (after
    asserting the refusal's type and message: it names a parameter with its value, one of
    ``chosen`` when ``blame_chosen``, else any, e.g. a default the lab does not allow)."""
    procedure = cls(**chosen)
    try:
        procedure.check(config)
    except LimitError as error:
        message = str(error)
        assert "\n" not in message.strip(), message
        suspects = chosen if blame_chosen else templates(cls)
        values = {name: [chosen.get(name, templates(cls)[name].default), getattr(procedure, name)]
                  for name in suspects}
        if not names_a_parameter(message, cls, values):
            raise AssertionError(f"{cls.__name__}({chosen!r}) refused with {message!r}")
        note("refused")
        return None
    note("passed")
    assert_inside_declared_ranges(procedure)
    assert_inside_lab_limits(procedure, config.limits)
    return procedure


# ---- the properties -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", PROCEDURES, ids=lambda cls: cls.__name__)
@FUZZ
@given(data=st.data(), config=st.sampled_from(CONFIGS))
def test_check_refuses_naming_a_parameter_or_passes_only_inside_every_limit(cls, data, config):
    check_or_refuse(cls, data.draw(parameter_sets(cls)), config, blame_chosen=False)


@pytest.mark.parametrize("cls", PROCEDURES, ids=lambda cls: cls.__name__)
@FUZZ
@given(data=st.data())
def test_one_bad_parameter_is_the_one_named(cls, data):
    """From the defaults, which the simulated lab accepts, one parameter changed: a refusal
    names that one (a rule between two parameters names both)."""
    name = data.draw(st.sampled_from(sorted(set(templates(cls)) - NOT_FUZZED)))
    check_or_refuse(cls, {name: data.draw(values_for(name, templates(cls)[name]))}, SIMULATED)


def test_the_defaults_pass_in_the_simulated_lab():
    for cls in PROCEDURES:
        check_or_refuse(cls, {}, SIMULATED)


@FUZZ
@given(chosen=parameter_sets(RTSweep), field=st.floats(allow_nan=False) | EXTREMES | st.floats(-12, 12),
       config=st.sampled_from(CONFIGS))
def test_an_rt_sweep_in_a_field_is_refused_or_inside_the_magnet_limits(chosen, field, config):
    """RTSweep's field variant: a field given (not blank) means the magnet is driven."""
    chosen = {**chosen, "field_T": field}
    procedure = check_or_refuse(RTSweep, chosen, config, blame_chosen=False)
    if procedure is not None:
        assert procedure.uses_magnet() and "magnet" in procedure.needed_roles()


def test_currents_above_the_lab_limit_are_refused_by_name_in_every_current_procedure():
    """The 80 mA of the simulated lab (paper 001) and the strict lab's 10 mA, one step above each."""
    for config in CONFIGS:
        limit_A = config.limits.max_current_A
        inside = {"standby_K": 200.0}  # the strict lab's limits allow it
        cases = [(CriticalCurrent, {"max_current_mA": limit_A * 1e3 * 1.01, "sample_limit_mA": 105.0, **inside}),
                 (DifferentialConductance, {"max_current_A": limit_A, "temperatures_K": "10, 20", **inside}),  # + dI
                 (RTSweep, {"excitation_A": limit_A * 1.01, **inside})]
        for cls, chosen in cases:
            with pytest.raises(LimitError) as refused:
                cls(**chosen).check(config)
            name = next(iter(chosen))
            message = str(refused.value)
            assert name in message, message
            assert f"{limit_A:g}" in message or f"{limit_A * 1e3:g} mA" in message, message


# ---- the runner with a refused procedure --------------------------------------------------------

REFUSED = [
    (CriticalCurrent, {"max_current_mA": 100.0, "sample_limit_mA": 105.0}),
    (CriticalCurrent, {"temperatures_K": "60, sixty"}),
    (DifferentialConductance, {"max_current_A": 0.5}),
    (RTSweep, {"field_T": 12.0}),
    (RTSweep, {"upper_K": math.nan}),
    (FieldSeries, {"fields_T": "0, 3, 6, 9, 12"}),
    (SetField, {"rate_T_per_min": 5.0}),
    (SetTemperature, {"setpoint_K": 1.0}),
    (Wait, {"minutes": -1.0}),
    (Aging, {"interval_days": 0.001}),
]


@pytest.mark.parametrize("cls, chosen", REFUSED, ids=lambda case: getattr(case, "__name__", None))
def test_the_runner_refuses_before_any_file_or_instrument(tmp_path, cls, chosen):
    folder = tmp_path / "runs"
    folder.mkdir()
    path = folder / "data" / "run.csv"
    with Lab.open("simulated") as lab, recording_commands() as messages:
        procedure = cls(lab=lab, **chosen)
        with pytest.raises(LimitError):
            runner.run(procedure, path)
    assert messages == []
    assert not path.exists() and list(folder.rglob("*")) == []


def test_a_check_without_a_lab_refuses_a_lab_file_that_is_not_one(tmp_path):
    """With no open lab, check() reads the lab file the parameters name: a wrong one is refused
    with its name, never a bare TypeError."""
    for lab_file in [str(tmp_path / "absent.yaml"), ""]:
        with pytest.raises((LimitError, LabFileError, FileNotFoundError)) as refused:
            Wait(lab_file=lab_file).check()
        assert str(lab_file) in str(refused.value) or repr(lab_file) in str(refused.value)


# ---- single cases the fuzz found (each failed before its fix) ------------------------------------


def refused_naming(cls, chosen: dict[str, Any]) -> None:
    with pytest.raises(LimitError) as refused:
        cls(**chosen).check(SIMULATED)
    name = next(iter(chosen))
    assert name in str(refused.value) or templates(cls)[name].name.lower() in str(refused.value).lower()


def test_nan_pulse_period_is_refused():
    refused_naming(CriticalCurrent, {"period_s": math.nan})


def test_nan_maximum_current_is_refused_by_its_own_name():
    refused_naming(CriticalCurrent, {"max_current_mA": math.nan})


def test_a_huge_integer_for_a_float_is_refused():
    refused_naming(Wait, {"minutes": 10**400})


def test_an_infinite_count_is_refused():
    refused_naming(DifferentialConductance, {"bias_points": math.inf})


def test_none_for_a_text_parameter_is_refused():
    refused_naming(CriticalCurrent, {"temperatures_K": None})


def test_the_readings_rule_gives_each_value():
    with pytest.raises(LimitError) as refused:
        RTSweep(readings_per_point=61, reading_interval_s=1.0, rate_K_per_min=0.1, point_every_K=0.1).check(SIMULATED)
    assert "readings_per_point = 61" in str(refused.value) and "point_every_K = 0.1" in str(refused.value)


def test_a_lab_file_that_is_a_number_is_refused():
    with pytest.raises((LimitError, LabFileError)) as refused:
        Wait(lab_file=42).check()
    assert "42" in str(refused.value)
