"""Safety at any moment: every measurement and action, stopped or broken at a random point, ends
with the twins safe and every point it emitted in its data file, and no current above the
sample's limit ever reaches the 6221, whether it comes from a procedure, a sequence file or the
window's form.

Each case draws its parameters, the end state of the temperature controller, the lab's current
limit (whole milliamps) and the moment of the interruption from a generator seeded by the case's
name, so every run of the suite replays the same cases. A reference run of the same plan without
interruption (the virtual cryostat is deterministic for a seed) tells how many points, messages,
events and seconds of lab time there are to choose the moment from.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from daclab.procedures.actions import SetField, SetTemperature, Wait
from daclab.procedures.aging import Aging
from daclab.procedures.base import END_TEMPERATURE_MODES
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.differential_conductance import DifferentialConductance
from daclab.procedures.field_series import FieldSeries
from daclab.procedures.rt_sweep import RTSweep
from pymeasure.experiment import Results
from qtpy.QtCore import Qt

from daclab import clock as clocks
from daclab import runner
from daclab.gui.parameter_form import ParameterForm
from daclab.lab import Lab, load_lab
from daclab.limits import LimitError
from daclab.sequence import run_sequence
from daclab.sequence_file import SequenceError, load_sequence
from daclab.sim import Fault
from daclab.sim.binding import recording_commands

SOURCE = "keithley6221"  # the devices' names in sim_configs
CONTROLLER = "lakeshore350"
MAGNET = "ami430"
BRIDGE_DEVICES = {"bridge370": "lakeshore370", "bridge921": "srs_sim900"}
LACE, CEH9, LAH10 = "lace_h10_cell2", "ceh9_cell1", "lah10_aging"

# ---- what reaches the 6221 ----------------------------------------------------------------------

# Commands whose numbers are current levels (INSTRUMENTS.md, Keithley 6221): DC, sweep ends, delta
# and pulse-delta levels, DCON bias, step and dI, and the values of a LIST sweep.
CURRENT_LEVEL_HEADERS = {
    "SOUR:CURR", "SOUR:CURR:STAR", "SOUR:CURR:STOP", "SOUR:DELT:HIGH", "SOUR:DELT:LOW", "SOUR:PDEL:HIGH",
    "SOUR:PDEL:LOW", "SOUR:DCON:STAR", "SOUR:DCON:STOP", "SOUR:DCON:STEP", "SOUR:DCON:DELT", "SOUR:LIST:CURR",
    "SOUR:LIST:CURR:APP",
}
# SOUR commands whose numbers are something else (range, compliance, times, counts, a sweep's step).
OTHER_NUMBER_HEADERS = {
    "SOUR:CURR:RANG", "SOUR:CURR:RANG:AUTO", "SOUR:CURR:COMP", "SOUR:CURR:STEP", "SOUR:DEL", "SOUR:DELT:DEL",
    "SOUR:DELT:COUN", "SOUR:SWE:COUN", "SOUR:SWE:POIN", "SOUR:PDEL:WIDT", "SOUR:PDEL:SDEL", "SOUR:PDEL:COUN",
    "SOUR:PDEL:INT", "SOUR:PDEL:LME", "SOUR:DCON:DEL", "SOUR:LIST:DEL", "SOUR:LIST:DEL:APP",
}
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# A level is written with 6 significant digits ("%g"); a limit of whole milliamps has fewer, so a
# level at the limit reads back as the limit itself. The DCON peak is a sum of two such numbers.
SUM_ROUNDING_A = 1e-12


def source_messages(messages: list[tuple[str, str]]) -> list[str]:
    return [text.strip() for device, text in messages if device == SOURCE]


def current_levels(text: str) -> tuple[str, list[float]] | None:
    """(header, the current levels) of one 6221 message, None when it sets no current level.
    AssertionError for a SOUR command with numbers that is in neither list above: a command
    this check does not know must not pass unseen."""
    header, _, argument = text.partition(" ")
    header = header.upper()
    if not header.startswith("SOUR") or header.endswith("?") or not argument:
        return None
    items = [item.strip() for item in argument.split(",")]
    if not all(NUMBER.match(item) for item in items):
        return None  # ON/OFF, LIST, BEST...: no number
    if header in OTHER_NUMBER_HEADERS:
        return None
    assert header in CURRENT_LEVEL_HEADERS, f"6221 command {text!r} is not classified as current level or not"
    return header, [float(item) for item in items]


def assert_currents_within(messages: list[tuple[str, str]], limit_A: float) -> int:
    """Every current level that reached the 6221 is within +-limit, and so is the peak of every
    DCON run armed (|bias| + dI at the ends of its staircase). Returns how many levels were seen."""
    seen = 0
    dcon: dict[str, float] = {}
    for text in source_messages(messages):
        if text.upper() == "SOUR:DCON:ARM" and dcon:
            peak = max(abs(dcon.get("SOUR:DCON:STAR", 0.0)), abs(dcon.get("SOUR:DCON:STOP", 0.0))) \
                + abs(dcon.get("SOUR:DCON:DELT", 0.0))
            assert peak <= limit_A + SUM_ROUNDING_A, f"DCON armed with a peak of {peak:g} A over {limit_A:g} A"
        found = current_levels(text)
        if found is None:
            continue
        header, values = found
        for value in values:
            seen += 1
            assert abs(value) <= limit_A, f"{text!r} exceeds the limit {limit_A:g} A"
        if header.startswith("SOUR:DCON"):
            dcon[header] = values[0]
    return seen


def test_the_current_check_knows_every_level_command_and_catches_one_over_the_limit():
    over = [(SOURCE, "SOUR:LIST:CURR 0.001,0.0081"), (SOURCE, "SOUR:LIST:DEL 2")]
    with pytest.raises(AssertionError, match="exceeds the limit 0.008 A"):
        assert_currents_within(over, 0.008)
    dcon = [(SOURCE, "SOUR:DCON:STAR -0.0079"), (SOURCE, "SOUR:DCON:STOP 0.0079"), (SOURCE, "SOUR:DCON:DELT 0.0002"),
            (SOURCE, "SOUR:DCON:ARM")]
    with pytest.raises(AssertionError, match="peak of 0.0081 A"):
        assert_currents_within(dcon, 0.008)
    with pytest.raises(AssertionError, match="not classified"):
        assert_currents_within([(SOURCE, "SOUR:CURR:FILT 3")], 0.008)
    fine = [(SOURCE, "SOUR:CURR -0.008"), (SOURCE, "SOUR:DELT:HIGH 0.008"), (SOURCE, "SOUR:PDEL:SWE ON"),
            (SOURCE, "SOUR:CURR:COMP 1"), ("lakeshore350", "SOUR:CURR 5")]
    assert assert_currents_within(fine, 0.008) == 2


# ---- plans: one measurement with random parameters ----------------------------------------------


@dataclasses.dataclass
class Plan:
    kind: str
    sample: str
    start_K: float
    procedure: type
    parameters: dict[str, Any]
    lab_limit_A: float
    sample_limit_A: float = math.inf  # a procedure's own, tighter limit
    levels_per_point: int = 0  # current levels one point writes (what may follow a stop)
    points_per_burst: int = 1  # points that arrive together (a DCON run)
    uses_magnet: bool = False
    bridge: str | None = None  # the resistance bridge role it reads, if any

    @property
    def limit_A(self) -> float:
        return min(self.lab_limit_A, self.sample_limit_A)

    def open_lab(self) -> Lab:
        config = load_lab("simulated")
        config = dataclasses.replace(
            config, limits=dataclasses.replace(config.limits, max_current_A=self.lab_limit_A),
            simulation=dataclasses.replace(config.simulation, sample=self.sample, start_K=self.start_K, seed=7))
        return Lab(config)


def _end_state(rng: random.Random) -> dict[str, Any]:
    return {"end_temperature": rng.choice(END_TEMPERATURE_MODES), "standby_K": float(rng.randrange(100, 300))}


def _resistance_path(rng: random.Random, limit_A: float, paths=("delta", "bridge370", "bridge921")) -> dict:
    path = rng.choice(paths)
    if path != "delta":
        return {"resistance_path": path}  # the bridge's paper excitation
    return {"resistance_path": "delta", "excitation_A": rng.choice([limit_A, min(1e-3, limit_A)])}


def _rt_window(rng: random.Random) -> dict[str, Any]:
    mode = rng.choice(["ramp", "steps"])
    window = {"upper_K": 180.0, "lower_K": 172.0, "sweep_mode": mode, "readings_per_point": 1, "stable_s": 10.0,
              "thermalise_s": 30.0, "return_rate_K_per_min": 5.0}
    if mode == "ramp":
        return {**window, "rate_K_per_min": 2.0, "point_every_K": 1.0}
    return {**window, "point_every_K": 2.0}


def plan_rt_sweep(rng: random.Random, limit_A: float, field: bool = False) -> Plan:
    path = _resistance_path(rng, limit_A)
    parameters = {**path, **_rt_window(rng), **_end_state(rng),
                  "direction": rng.choice(["cooling", "warming", "cooling and warming"])}
    if field:
        parameters.update(field_T=rng.choice([-0.5, 0.5, 1.0]), field_rate_T_per_min=0.5)
    return Plan("rt_sweep_field" if field else "rt_sweep", LACE, 180.0, RTSweep, parameters, limit_A,
                levels_per_point=2, uses_magnet=field, bridge=BRIDGE_DEVICES.get(path["resistance_path"]))


def plan_field_series(rng: random.Random, limit_A: float) -> Plan:
    path = _resistance_path(rng, limit_A, ("delta", "bridge370"))
    parameters = {**path, **_rt_window(rng), **_end_state(rng), "direction": rng.choice(["cooling", "warming"]),
                  "fields_T": rng.choice(["0, 1", "0.5, 1", "1, 0"]), "final_field_T": rng.choice([0.0, 0.5]),
                  "field_rate_T_per_min": 0.5}
    return Plan("field_series", LACE, 180.0, FieldSeries, parameters, limit_A, levels_per_point=2, uses_magnet=True,
                bridge=BRIDGE_DEVICES.get(path["resistance_path"]))


def plan_critical_current(rng: random.Random, limit_A: float) -> Plan:
    lab_mA = limit_A * 1e3
    sample_mA = rng.choice([lab_mA, float(rng.randrange(3, int(lab_mA) + 1))])  # at or below the lab's
    maximum_mA = rng.choice([sample_mA, round(sample_mA * rng.uniform(0.5, 1.0), 1)])
    parameters = {"temperatures_K": "60, 62", "max_current_mA": maximum_mA, "sample_limit_mA": sample_mA,
                  "step_mA": round(maximum_mA / rng.randint(3, 6), 3), "both_polarities": rng.random() < 0.5,
                  "period_s": 0.5, "thermalise_s": 0.0, "stable_s": 10.0, **_end_state(rng)}
    return Plan("critical_current", CEH9, 60.0, CriticalCurrent, parameters, limit_A, sample_limit_A=sample_mA / 1e3,
                levels_per_point=2)  # the low level and the pulse's list


def plan_differential_conductance(rng: random.Random, limit_A: float, method: str) -> Plan:
    step_percent = rng.choice([0.1, 0.25, 0.5])
    # the largest amplitude whose peak I_max + dI (dI = step_percent of 2 I_max) stays within the
    # limit, a millionth below it so that the float sum cannot land on the far side
    largest = limit_A / (1 + 2 * step_percent / 100) * (1 - 1e-6)
    amplitude = math.floor(largest * rng.choice([1.0, rng.uniform(0.1, 1.0)]) * 1e7) / 1e7
    dcon = method == "DCON"
    chunk = rng.randint(4, 8)
    parameters = {"method": method, "max_current_A": amplitude, "step_percent": step_percent,
                  "bias_points": 21 if dcon else 11, "dcon_chunk_points": chunk, "temperatures_K": "2, 4",
                  "rate_K_per_min": 0.0, "stable_s": 10.0, "thermalise_s": 10.0, "fit_btk": False, **_end_state(rng)}
    # a DCON run's points arrive together, and a lone last point joins the run before it
    return Plan("didv_dcon" if dcon else "didv_steps", CEH9, 2.0, DifferentialConductance, parameters, limit_A,
                levels_per_point=4 if dcon else 3, points_per_burst=chunk + 1 if dcon else 1)


def plan_aging(rng: random.Random, limit_A: float) -> Plan:
    path = _resistance_path(rng, limit_A, ("delta", "bridge921"))
    parameters = {**path, "visits": 2, "interval_days": 0.5, "upper_K": 180.0, "lower_K": 170.0,
                  "rate_K_per_min": 2.0, "point_every_K": 1.0, "readings_per_point": 1, "reading_interval_s": 0.0,
                  "return_rate_K_per_min": 10.0, "thermalise_s": 60.0, "stable_s": 10.0, **_end_state(rng)}
    return Plan("aging", LAH10, 250.0, Aging, parameters, limit_A, levels_per_point=2,
                bridge=BRIDGE_DEVICES.get(path["resistance_path"]))


def plan_wait(rng: random.Random, limit_A: float) -> Plan:
    parameters = {"minutes": float(rng.randint(3, 20)), "log_every_s": 60.0, **_end_state(rng)}
    return Plan("wait", CEH9, 100.0, Wait, parameters, limit_A)


def plan_set_temperature(rng: random.Random, limit_A: float) -> Plan:
    parameters = {"setpoint_K": float(rng.randint(80, 95)), "rate_K_per_min": rng.choice([0.0, 2.0, 5.0]),
                  "stable_s": 20.0, "log_every_s": 30.0, **_end_state(rng)}
    return Plan("set_temperature", CEH9, 100.0, SetTemperature, parameters, limit_A)


def plan_set_field(rng: random.Random, limit_A: float) -> Plan:
    parameters = {"field_T": rng.choice([-1.0, -0.5, 0.5, 1.5]), "rate_T_per_min": rng.choice([0.2, 0.5]),
                  "log_every_s": 30.0, **_end_state(rng)}
    return Plan("set_field", CEH9, 100.0, SetField, parameters, limit_A, uses_magnet=True)


PLANNERS: dict[str, Callable[[random.Random, float], Plan]] = {
    "rt_sweep": plan_rt_sweep,
    "rt_sweep_field": lambda rng, limit: plan_rt_sweep(rng, limit, field=True),
    "field_series": plan_field_series,
    "critical_current": plan_critical_current,
    "didv_dcon": lambda rng, limit: plan_differential_conductance(rng, limit, "DCON"),
    "didv_steps": lambda rng, limit: plan_differential_conductance(rng, limit, "current steps"),
    "aging": plan_aging,
    "wait": plan_wait,
    "set_temperature": plan_set_temperature,
    "set_field": plan_set_field,
}
INTERRUPTIONS = {"stop after points": "stop-points", "stop after messages": "stop-messages",
                 "exception in a callback": "callback-raises", "instrument disconnected": "disconnect"}


# ---- running a plan -------------------------------------------------------------------------------


class InjectedFailure(RuntimeError):
    """What a broken display callback raises in the middle of a run."""


@dataclasses.dataclass
class Run:
    """What one run of a plan did: its outcome, the rows it emitted, the messages the twins got."""

    outcome: runner.RunOutcome | None = None
    lab: Lab | None = None
    procedure: Any = None
    rows: list[dict] = dataclasses.field(default_factory=list)
    messages_at_row: list[int] = dataclasses.field(default_factory=list)  # messages sent before each row
    events: int = 0
    messages_at_last_event: int = 0  # what the measurement sent (the shutdown's messages follow)
    messages: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    stopped_at_message: int | None = None  # messages sent when the stop request became true
    lab_time_s: float = 0.0


def execute(plan: Plan, path: Path, stop_after_points: int | None = None, stop_after_messages: int | None = None,
            raise_at_event: int | None = None, fault: Fault | None = None) -> Run:
    run = Run()
    previous = clocks.current()
    lab = run.lab = plan.open_lab()
    run.procedure = plan.procedure(lab=lab, **plan.parameters)
    try:
        with recording_commands() as messages:
            if stop_after_points == 0 or stop_after_messages == 0:
                run.stopped_at_message = 0

            def should_stop() -> bool:
                if stop_after_messages is not None and len(messages) >= stop_after_messages:
                    if run.stopped_at_message is None:
                        run.stopped_at_message = stop_after_messages
                    return True
                return stop_after_points is not None and len(run.rows) >= stop_after_points

            def on_event(topic: str, record: Any) -> None:
                run.events += 1
                run.messages_at_last_event = len(messages)
                if topic == "results":
                    run.rows.append(dict(record))
                    run.messages_at_row.append(len(messages))
                    if len(run.rows) == stop_after_points:
                        run.stopped_at_message = len(messages)
                if run.events == raise_at_event:
                    raise InjectedFailure(f"display callback broken at event {run.events} ({topic})")

            if fault is not None:
                lab.world.faults.add(fault)
            run.outcome = runner.run(run.procedure, path, should_stop=should_stop, on_event=on_event)
            run.messages = list(messages)
        run.lab_time_s = lab.world.elapsed_s
    finally:
        lab.close()
        clocks.use(previous)
    return run


# ---- the checks ----------------------------------------------------------------------------------


def assert_rows_on_disk(plan: Plan, path: Path, run: Run) -> None:
    """Every row emitted is in the file, in order, with its values (and nothing else is)."""
    data = Results.load(str(path), procedure_class=plan.procedure).data
    assert run.outcome.points == len(run.rows) == len(data)
    for column in data.columns:
        emitted = [row.get(column, math.nan) for row in run.rows]
        if data[column].dtype.kind in "fiu":
            assert np.allclose(data[column].to_numpy(float), np.asarray(emitted, float), rtol=1e-12, equal_nan=True), \
                column
        else:
            assert list(data[column]) == emitted, column


def assert_safe(plan: Plan, run: Run, lost_device: str | None = None) -> None:
    """The twins in the safe state: 6221 off with nothing armed or running, bridges' excitation
    off, the magnet paused or holding, the LS350 in the run's end state. A twin whose connection
    was lost cannot be told anything and is not judged."""
    world, used = run.lab.world, run.procedure._used_roles
    source = world.instrument_state.get(SOURCE)
    if source is not None and lost_device != SOURCE:
        assert source["settings"]["output"] == 0 and source["armed"] is None and source["run"] is None
        assert world.source_current_A == 0.0
    if plan.bridge == "lakeshore370" and lost_device != plan.bridge and "bridge370" in used:
        assert world.instrument_state["lakeshore370"]["range"][1][4] == 1  # current source off
    if plan.bridge == "srs_sim900" and lost_device != plan.bridge and "bridge921" in used:
        assert world.instrument_state["srs_sim900"]["module"]["exon"] == 0
    if lost_device != MAGNET:
        assert world.magnet.state in ("paused", "holding", "at_zero"), world.magnet.state
        if "magnet" in used:  # the supply's last word on the ramp was to pause it
            ramp_commands = [text for device, text in run.messages
                             if device == MAGNET and text in ("RAMP", "PAUSE", "ZERO")]
            assert ramp_commands[-1:] == ["PAUSE"], ramp_commands[-3:]
    if lost_device != CONTROLLER and "temperature" in used:
        loop, mode = world.stage.loops[1], run.procedure.end_temperature
        if mode == "heater off":
            assert loop.heater_range == 0
        else:
            assert loop.heater_range > 0 and not loop.ramping
            held = run.procedure.standby_K if mode == "standby" else world.stage_temperature()
            assert loop.setpoint_K == pytest.approx(held, abs=0.05)


def assert_stop_honoured(plan: Plan, run: Run) -> None:
    """After the stop request became true: at most the points in flight (one, or one DCON run),
    at most one more instrument run started, and no more current levels than one point sends."""
    at = run.stopped_at_message
    assert at is not None
    late_rows = sum(1 for sent in run.messages_at_row if sent > at)
    assert late_rows <= plan.points_per_burst, (late_rows, at)
    late = source_messages(run.messages[at:])
    assert sum(1 for text in late if text.upper() == "INIT:IMM") <= 1
    assert sum(1 for text in late if current_levels(text)) <= plan.levels_per_point


CASES = [(kind, interruption) for kind in PLANNERS for interruption in INTERRUPTIONS]


@pytest.mark.parametrize("kind, interruption", CASES, ids=[f"{kind}-{INTERRUPTIONS[name]}" for kind, name in CASES])
def test_an_interruption_at_a_random_moment_leaves_the_setup_safe_and_the_points_on_disk(
        tmp_path, kind, interruption):
    rng = random.Random(f"{kind}/{interruption}")
    plan = PLANNERS[kind](rng, rng.randrange(5, 81) / 1e3)
    reference = execute(plan, tmp_path / "reference.csv")
    assert reference.outcome.status == "finished", reference.outcome.error
    assert reference.rows and len(reference.messages) > 2
    assert_safe(plan, reference)
    assert ("magnet" in reference.procedure._used_roles) == plan.uses_magnet
    levels = assert_currents_within(reference.messages, plan.limit_A)
    assert levels > 0 or plan.levels_per_point == 0 or plan.bridge  # the check saw the source at work

    path = tmp_path / "interrupted.csv"
    lost = None
    if interruption == "stop after points":
        run = execute(plan, path, stop_after_points=rng.randrange(len(reference.rows)))
    elif interruption == "stop after messages":
        run = execute(plan, path, stop_after_messages=rng.randint(1, reference.messages_at_last_event))
    elif interruption == "exception in a callback":
        run = execute(plan, path, raise_at_event=rng.randint(1, reference.events))
    else:
        lost = rng.choice(sorted({device for device, _ in reference.messages}))
        run = execute(plan, path, fault=Fault(lost, "disconnect", after_s=rng.uniform(0.0, reference.lab_time_s)))

    if interruption.startswith("stop"):
        assert run.outcome.status == "aborted", run.outcome.error
        assert_stop_honoured(plan, run)
    elif interruption.startswith("exception"):
        assert run.outcome.status == "failed" and "InjectedFailure" in run.outcome.error
    else:  # a device read only for an optional column may go without ending the run
        assert run.outcome.status in ("failed", "finished")
        assert (run.outcome.status == "failed") == bool(run.outcome.error)
    assert_rows_on_disk(plan, path, run)
    assert_safe(plan, run, lost)
    assert_currents_within(run.messages, plan.limit_A)


def test_the_hold_end_state_holds_a_cryostat_reading_below_the_lowest_allowed_temperature(tmp_path):
    """The cryostat sits at its 1.5 K base; the lab allows setpoints from 2 K. Holding "the present
    temperature" then means the nearest one allowed, with the heater on and no ramp."""
    config = load_lab("simulated")
    config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, min_temperature_K=2.0),
                                 simulation=dataclasses.replace(config.simulation, start_K=1.5))
    previous = clocks.current()
    with Lab(config) as lab:
        try:
            outcome = runner.run(Wait(lab=lab, minutes=2.0, end_temperature="hold"), tmp_path / "wait.csv")
        finally:
            clocks.use(previous)
        assert outcome.status == "finished" and lab.world.stage_temperature() < 2.0
        loop = lab.world.stage.loops[1]
        assert loop.heater_range > 0 and not loop.ramping
        assert loop.setpoint_K == pytest.approx(2.0)


# ---- the limit through a sequence file and through the form -------------------------------------

LAB_LIMIT_A = 0.010


@pytest.fixture
def tight_lab(tmp_path) -> Path:
    """The simulated lab with a 10 mA current limit, as a lab file of its own."""
    text = Path(load_lab("simulated").source).read_text(encoding="utf-8")
    limited = text.replace("max_current_A: 0.080", f"max_current_A: {LAB_LIMIT_A}")
    assert limited != text
    path = tmp_path / "tight_lab.yaml"
    path.write_text(limited, encoding="utf-8")
    return path


OVER_THE_LIMIT = [
    ("critical_current", "max_current_mA: 20, sample_limit_mA: 20",
     r"max_current_mA = 20 mA is above the lab's limit max_current_A = 10 mA"),
    ("critical_current", "max_current_mA: 5, sample_limit_mA: 4",
     r"max_current_mA = 5 mA is above the sample's limit sample_limit_mA = 4 mA"),
    ("rt_sweep", "excitation_A: 0.02",
     r"excitation_A = 0.02 A is outside the allowed range \[-0.01, 0.01\] A"),
    ("differential_conductance", "max_current_A: 0.00999, step_percent: 0.5",
     r"max_current_A = 0.00999 A\) = 0.0100899 A is outside the allowed range \[-0.01, 0.01\] A"),
]


@pytest.mark.parametrize("kind, parameters, message", OVER_THE_LIMIT)
def test_a_sequence_file_step_above_the_current_limit_is_refused_before_anything_runs(
        tmp_path, tight_lab, kind, parameters, message):
    sequence = tmp_path / "night.yaml"
    sequence.write_text(f"name: night\nlab: {tight_lab.name}\nsteps:\n  - wait: {{minutes: 1}}\n"
                        f"  - {kind}: {{{parameters}}}\n", encoding="utf-8")
    with recording_commands() as sent:
        with pytest.raises(SequenceError) as refused:
            load_sequence(sequence)
    problem, = refused.value.problems
    assert problem.startswith(f"{sequence}:5: step 2 ({kind}): ")  # the file, the line, the step
    assert re.search(message, problem), problem
    assert sent == []


def test_a_checked_sequence_changed_to_exceed_the_limit_is_refused_by_the_engine(tmp_path, tight_lab):
    sequence = tmp_path / "night.yaml"
    sequence.write_text(f"name: night\nlab: {tight_lab.name}\nsteps:\n  - critical_current: "
                        "{max_current_mA: 8, sample_limit_mA: 8, temperatures_K: '60'}\n", encoding="utf-8")
    spec = load_sequence(sequence)
    spec.steps[0].parameters.update(max_current_mA=12.0, sample_limit_mA=12.0)  # a script edits the plan
    out = tmp_path / "data"
    with recording_commands() as sent:
        with pytest.raises(LimitError, match=r"max_current_mA = 12 mA is above the lab's limit max_current_A = 10 mA"):
            run_sequence(spec, out=out, simulation={"sample": CEH9, "start_K": 60.0})
    assert sent == [] and not out.exists()


@pytest.fixture
def form(qtbot, tight_lab):
    widget = ParameterForm()
    qtbot.addWidget(widget)
    widget.set_context(str(tight_lab), {"name": CEH9})
    return widget


# Entries within the 10 mA lab (the procedures' defaults are not all: 80 mA pulses are refused).
WITHIN = {"critical_current": {"max_current_mA": 8.0, "sample_limit_mA": 8.0}, "rt_sweep": {"excitation_A": 0.001},
          "differential_conductance": {"max_current_A": 0.009, "step_percent": 0.5}}


@pytest.mark.parametrize("kind, entries, marked, message", [
    ("critical_current", {"max_current_mA": 20.0, "sample_limit_mA": 20.0}, {"max_current_mA"},
     r"max_current_mA = 20 mA is above the lab's limit max_current_A = 10 mA"),
    ("critical_current", {"max_current_mA": 5.0, "sample_limit_mA": 4.0}, {"max_current_mA", "sample_limit_mA"},
     r"max_current_mA = 5 mA is above the sample's limit sample_limit_mA = 4 mA"),
    ("rt_sweep", {"excitation_A": 0.02}, {"excitation_A"}, r"excitation_A = 0.02 A is outside .* \[-0.01, 0.01\] A"),
    ("differential_conductance", {"max_current_A": 0.00999, "step_percent": 0.5}, {"max_current_A"},
     r"= 0.0100899 A is outside the allowed range \[-0.01, 0.01\] A"),
])
def test_the_form_refuses_a_current_above_the_limit_and_queues_nothing(qtbot, form, kind, entries, marked, message):
    form.set_kind(kind)
    form.set_parameters(WITHIN[kind])
    assert form.is_valid(), form.errors()
    queued = []
    form.queue_requested.connect(queued.append)
    form.set_parameters(entries)
    assert not form.is_valid() and not form.queue_button.isEnabled()
    assert form.invalid_fields() == marked
    assert any(re.search(message, line) for line in form.errors()), form.errors()
    qtbot.mouseClick(form.queue_button, Qt.MouseButton.LeftButton)
    with pytest.raises(SequenceError):
        form.sequence()
    assert queued == []
