"""Aging: Tc of a decaying LaH10 cell followed over 30 simulated days (paper 002)."""

import dataclasses

import numpy as np
import pytest
from pymeasure.experiment import Results

from daclab import runner
from daclab.analysis.aging import aging_curve
from daclab.limits import LimitError
from daclab.clock import VirtualClock
from daclab.procedures.aging import DAYS, VISIT, Aging
from daclab.sim import Fault, VirtualCryostat, thermal
from daclab.sim.binding import recording_commands
from daclab.connection import DEFAULT_POLICY
from sim_helpers import hold
from test_procedure_rt_sweep import assert_safe, simulated_lab

RATE_K_PER_MIN = 0.5
STANDBY_K = 250.0


@pytest.fixture
def lah10_lab():
    with simulated_lab("lah10_aging", STANDBY_K) as lab:
        yield lab


def aging(lab, **parameters):
    values = dict(visits=11, interval_days=3.0, upper_K=180.0, lower_K=60.0, rate_K_per_min=RATE_K_PER_MIN,
                  point_every_K=2.0, readings_per_point=2, reading_interval_s=3.0, return_rate_K_per_min=5.0,
                  standby_K=STANDBY_K)
    values.update(parameters)
    return Aging(lab=lab, **values)


def test_thirty_days_of_visits_follow_the_decay_of_tc(lah10_lab, tmp_path):
    world = lah10_lab.world
    parked = []  # (day, stage K) once an hour, sampled while the run waits

    def should_stop():
        if not parked or world.elapsed_s - parked[-1][0] * 86400 >= 3600:
            parked.append((world.days_elapsed, world.stage_temperature()))
        return False

    progress = []
    outcome = runner.run(aging(lah10_lab), tmp_path / "aging.csv", should_stop=should_stop,
                         on_event=lambda topic, record: progress.append(record) if topic == "progress" else None)
    assert outcome.status == "finished" and progress[-1] == 100.0 and progress == sorted(progress)
    data = Results.load(str(tmp_path / "aging.csv"), procedure_class=Aging).data
    assert outcome.points == len(data) and sorted(data[VISIT].unique()) == list(range(1, 12))
    assert data[DAYS].is_monotonic_increasing
    # the synthesis date of the preset is day 0 of the world's clock
    assert data[DAYS].iloc[-1] == pytest.approx(world.days_elapsed, abs=0.05)
    assert world.days_elapsed > 30.0

    visits = [record for record in outcome.analysis if record["kind"] == "tc"]
    assert [record["visit"] for record in visits] == list(range(1, 12))
    days = np.array([record["days_since_synthesis"] for record in visits])
    measured = np.array([record["midpoint_K"] for record in visits])
    # Visits start 3 days apart and ramp down from the window's top at the same rate, so each
    # crossing comes (top - Tc read) / rate into its visit: as Tc falls, later in the sweep.
    into_sweep_days = (180.0 - measured) / RATE_K_PER_MIN / 1440.0
    visit_start_days = days - into_sweep_days - 3.0 * np.arange(11)
    assert np.ptp(visit_start_days) < 0.003  # a point every 4 min: the crossing is placed to +-2 min
    sample = world.sample
    # Tc of the preset when the transition was crossed, read by a thermometer leading a cooling
    # sample by r (tau - 5 s) (the cell's lag, shortened by the world's 10 s steps). Tc falls up
    # to 14 K a day, so the crossing time matters; 0.25 K covers the midpoint read from 2 K points.
    shift_K = RATE_K_PER_MIN / 60.0 * (world.stage.parameters.sample_lag_s - 5.0)
    truth = np.array([sample.tc_at_age(day) for day in days])
    assert truth == pytest.approx(aging_curve(days, sample.tc_K, sample.tc_final_K,
                                              sample.aging_time_constant_days))
    assert measured == pytest.approx(truth - shift_K, abs=0.25)
    assert measured[0] - measured[-1] > 75.0  # ~160 K down to ~78 K

    fits = [record for record in outcome.analysis if record["kind"] == "aging"]
    assert len(fits) == 11 - 3  # from the fourth visit on
    last = fits[-1]
    assert last["tau_days"]["value"] == pytest.approx(sample.aging_time_constant_days, rel=0.03)
    assert last["tc_final_K"]["value"] == pytest.approx(sample.tc_final_K - shift_K, abs=0.5)

    # parked at standby between visits: every hourly sample more than 2 h from a visit's start
    between = [kelvin for day, kelvin in parked if 0.3 < day % 3.0 < 2.9]
    assert between and np.allclose(between, STANDBY_K, atol=0.05)

    # paper 002's SIM921 at 100 uA: the 0.5 ohm cell is over 200 mohm, so the bridge moves to
    # its 2 ohm range, where 300 uV drives 150 uA
    assert np.allclose(data["Excitation (A)"].iloc[-1], 300e-6 / 2.0)
    assert world.instrument_state["srs_sim900"]["module"]["rang"] == 2


@pytest.mark.parametrize("parameters, message", [
    ({"interval_days": 0.1}, r"interval_days = 0.1 day is shorter than one visit's sweep, 4 h"),
    ({"visits": 0}, r"Visits \(visits\) = 0 is not allowed: allowed range \[1, 10000\]"),
    ({"standby_K": 330.0}, r"Standby temperature \(standby_K\) = 330.0 is not allowed"),
    ({"aging_criterion": "peak"}, r"\(aging_criterion\) = 'peak' is not allowed: allowed: onset, midpoint"),
])
def test_bad_parameters_are_refused_before_any_instrument_is_touched(lah10_lab, tmp_path, parameters, message):
    with recording_commands() as messages:
        with pytest.raises(LimitError, match=message):
            runner.run(aging(lah10_lab, **parameters), tmp_path / "aging.csv")
    assert messages == [] and not (tmp_path / "aging.csv").exists()


def test_a_real_lab_needs_the_synthesis_date(lah10_lab):
    real = dataclasses.replace(lah10_lab.config, simulation=None)
    with pytest.raises(LimitError, match=r"synthesis_date = '' is blank: Aging follows Tc against the days"):
        aging(lah10_lab).check(real)
    aging(lah10_lab, synthesis_date="2026-10-02").check(real)


def test_a_stop_while_parked_ends_the_run_with_the_first_visit_on_disk(lah10_lab, tmp_path):
    world = lah10_lab.world
    outcome = runner.run(aging(lah10_lab, end_temperature="standby", upper_K=175.0, lower_K=140.0),
                         tmp_path / "aging.csv", should_stop=lambda: world.days_elapsed > 1.5)
    data = Results.load(str(tmp_path / "aging.csv"), procedure_class=Aging).data
    assert outcome.status == "aborted" and outcome.points == len(data) > 10
    assert (data[VISIT] == 1).all()
    assert world.days_elapsed < 1.5 + 1e-3  # seen within one wait chunk
    assert world.instrument_state["srs_sim900"]["module"]["exon"] == 0
    assert world.stage.loops[1].setpoint_K == STANDBY_K  # the end state asked for


def test_a_fault_at_the_second_visit_fails_the_run_safely(lah10_lab, tmp_path):
    world = lah10_lab.world

    def on_event(topic, record):
        if topic == "analysis" and record["kind"] == "tc":
            # first visit done: the controller's first reading of the next visit comes back as
            # garbage, and so does every retry of it
            world.faults.add(Fault("lakeshore350", "garbage", after_s=world.elapsed_s + 86400.0,
                                   count=DEFAULT_POLICY.attempts))

    outcome = runner.run(aging(lah10_lab, upper_K=175.0, lower_K=140.0), tmp_path / "aging.csv", on_event=on_event)
    data = Results.load(str(tmp_path / "aging.csv"), procedure_class=Aging).data
    assert outcome.status == "failed" and outcome.points == len(data) > 10
    assert (data[VISIT] == 1).all() and world.days_elapsed > 3.0
    assert_safe(lah10_lab, "bridge921")


def test_days_parked_on_a_setpoint_are_stepped_long_yet_give_the_same_world(monkeypatch):
    """The thermal model takes hour-long steps while the stage is held on its setpoint; the world
    that follows (two days parked, then a cooling ramp) is the one of 10 s steps throughout."""

    def park_then_ramp():
        world = VirtualCryostat("lah10_aging", VirtualClock(), start_K=250.0)
        hold(world, 250.0)
        world.stage.sample_K = 240.0  # the sample still catching up: an exact exponential either way
        assert world.stage.held()
        world.clock.advance(2 * 86400.0)
        world.update()
        loop = world.stage.loops[1]
        loop.ramp_enabled, loop.ramp_rate_K_per_min = True, 2.0
        loop.set_setpoint(200.0)
        world.clock.advance(1200.0)
        return world.stage_temperature(), world.sample_temperature()

    long_steps = park_then_ramp()
    monkeypatch.setattr(thermal, "HELD_STEP_S", 10.0)
    assert park_then_ramp() == pytest.approx(long_steps, abs=1e-6)
    assert long_steps[0] == pytest.approx(250.0 - 2.0 * 20.0, abs=0.05)


def test_a_resumed_schedule_fits_the_visits_done_before(lah10_lab, tmp_path):
    """Stopped once three visits are done (too few for the fit) and resumed a day later, as the
    sequence engine resumes a step: the aging fits after the resume use all the visits, the first
    three included, and visits 4 and 5 come when the schedule said."""
    done = []

    def on_event(topic, record):
        if topic == "segment" and record["state"] == "done":
            done.append(record["key"])

    quick = dict(visits=5, point_every_K=4.0, readings_per_point=1)
    clock = lah10_lab.world.clock
    began = clock.timestamp()
    first = runner.run(aging(lah10_lab, **quick), tmp_path / "aging.csv", on_event=on_event,
                       should_stop=lambda: len(done) == 3)
    assert first.status == "aborted" and done == ["visit 1", "visit 2", "visit 3"]
    assert not [record for record in first.analysis if record["kind"] == "aging"]
    clock.sleep(86400.0)  # the software was down for a day
    resumed = aging(lah10_lab, **quick)
    resumed.done_segments = set(done)
    resumed.restore([record for record in first.analysis if record.get("segment") in done])
    resumed.continue_elapsed_time(began, 0.0)
    second = runner.run(resumed, tmp_path / "aging.csv", append=True)
    assert second.status == "finished"
    tc = [record for run in (first, second) for record in run.analysis if record["kind"] == "tc"]
    assert [record["visit"] for record in tc] == [1, 2, 3, 4, 5]
    fits = [record for record in second.analysis if record["kind"] == "aging"]
    assert [len(fit["days"]) for fit in fits] == [4, 5]
    assert fits[-1]["tc_K"] == pytest.approx([record["midpoint_K"] for record in tc])
    # the schedule keeps its times: visits 4 and 5 are due 9 and 12 days after visit 1, as if
    # nothing had stopped (the visits done are not waited for again from the resume)
    days = {}
    for record in tc:
        days.setdefault(record["visit"], []).append(record["days_since_synthesis"])
    after_first = [np.mean(days[visit]) - np.mean(days[1]) for visit in range(1, 6)]
    assert after_first == pytest.approx([0.0, 3.0, 6.0, 9.0, 12.0], abs=0.25)  # counted from the resume: +7 d
