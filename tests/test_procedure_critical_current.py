"""Pulsed critical-current runs on the virtual cryostat (CeH9 cell-1, paper 001), checked against
the sample model and against every command the 6221 received."""

import dataclasses
import math
import re

import numpy as np
import pytest
from pymeasure.experiment import Results
from scipy.optimize import brentq

from daclab import clock as clocks
from daclab import runner, sim
from daclab.lab import Lab
from daclab.limits import LimitError, SoftwareLimits
from daclab.procedures.critical_current import CriticalCurrent
from daclab.sim.binding import recording_commands
from daclab.connection import DEFAULT_POLICY, InstrumentFault

SOURCE = "keithley6221"
# Commands that set a current the 6221 may drive (manual's SCPI): value lists after the header.
CURRENT_COMMAND = re.compile(r"^SOUR:(LIST:CURR(:APP)?|PDEL:(HIGH|LOW)|CURR|DELT:(HIGH|LOW)|DCON:(STAR|STOP)) (.+)$")
PULSE_LIST = re.compile(r"^SOUR:LIST:CURR(:APP)? (.+)$")
STOP_V = 1e-4  # 0.1 mV: each sweep ends a few pulses past Ic
WIDTH_S = 1e-3


def currents_written(messages):
    """Every current value written to the 6221, in order."""
    values = []
    for device, text in messages:
        match = CURRENT_COMMAND.match(text) if device == SOURCE else None
        if match:
            values += [float(v) for v in match.group(match.lastindex).split(",")]
    return values


def pulses_sent(messages):
    """The pulse currents loaded for each run started (one LIST per INIT:IMM here)."""
    loaded, pulses = [], []
    for device, text in messages:
        if device != SOURCE:
            continue
        match = PULSE_LIST.match(text)
        if match:
            loaded = ([] if match.group(1) is None else loaded) + [float(v) for v in match.group(2).split(",")]
        elif text == "INIT:IMM":
            pulses.append(list(loaded))
    return pulses


def load(path):
    return Results.load(str(path), procedure_class=CriticalCurrent).data


def source_is_safe(world):
    state = world.instrument_state[SOURCE]
    return state["settings"]["output"] == 0 and state["run"] is None and state["armed"] is None


def model_ic_at_criterion(sample, temperature_K, criterion_V, high_A):
    """Independent reference: the current at which the model's noise-free pulsed V(I) reaches the criterion."""
    return brentq(lambda i: sample.four_probe_voltage(i, temperature_K, duration_s=WIDTH_S) - criterion_V,
                  1e-6, high_A, xtol=1e-7)


# ---- the command recorder of the simulator -----------------------------------------------------

def test_the_recorder_sees_every_message_that_reaches_a_twin_and_nothing_a_fault_swallowed():
    with Lab.open("simulated", start_K=60.0) as lab:
        source = lab.instrument("pulse")
        source.adapter.connection.timeout = 50  # ms of wall time for the swallowed query below
        with recording_commands() as outer:
            source.write("SOUR:CURR 0.001")
            with recording_commands() as inner:
                assert source.ask("SOUR:CURR?").strip() != ""
            lab.world.faults.add(sim.Fault(SOURCE, "timeout", count=DEFAULT_POLICY.attempts))
            with pytest.raises(InstrumentFault):
                source.ask("SOUR:CURR:RANG?")  # lost on the way: the instrument never saw it
        source.write("OUTP 0")
    assert outer == [(SOURCE, "SOUR:CURR 0.001"), (SOURCE, "SOUR:CURR?")]
    assert inner == [(SOURCE, "SOUR:CURR?")]


# ---- checks before any instrument ---------------------------------------------------------------

@pytest.mark.parametrize("parameters, message", [
    ({"max_current_mA": 90.0}, r"max_current_mA = 90 mA is above the sample's limit sample_limit_mA = 80 mA"),
    ({"max_current_mA": 90.0, "sample_limit_mA": 100.0},
     r"max_current_mA = 90 mA is above the lab's limit max_current_A = 80 mA"),
    ({"max_current_mA": 200.0}, r"Maximum current \(max_current_mA\) = 200.*\[0.001, 105\]"),
    ({"step_mA": 81.0}, r"step_mA = 81 mA is outside the allowed range \[0, 80\] mA"),
    ({"step_mA": 0.005}, r"step_mA = 0.005 mA gives 16000 pulses.*at most 10000"),
    ({"pulse_width_ms": 20.0}, r"Pulse width \(pulse_width_ms\) = 20.*\[0.05, 12\] ms"),
    ({"pulse_width_ms": 0.01}, r"Pulse width \(pulse_width_ms\) = 0.01.*\[0.05, 12\] ms"),
    ({"period_s": 0.05}, r"Pulse period \(period_s\) = 0.05.*\[0.1, 3600\] s"),
    ({"temperatures_K": "60, sixty"}, r"temperatures_K = '60, sixty': 'sixty' is not a number in K"),
    ({"temperatures_K": " "}, r"temperatures_K = ' ' is empty"),
    ({"temperatures_K": "60, 400"}, r"temperatures_K\[1\] = 400 K is outside the allowed range \[1.5, 320\] K"),
    ({"rate_K_per_min": 20.0}, r"rate_K_per_min = 20 K/min is outside the allowed range \[0, 10\] K/min"),
    ({"stop_voltage_mV": 0.0005},
     r"stop_voltage_mV = 0.0005 mV must be above the voltage criterion criterion_uV = 1 uV"),
])
def test_bad_parameters_are_refused_before_any_command(tmp_path, parameters, message):
    with Lab.open("simulated", start_K=60.0) as lab, recording_commands() as messages:
        with pytest.raises(LimitError, match=message):
            runner.run(CriticalCurrent(lab=lab, **parameters), tmp_path / "run.csv")
    assert messages == [] and not (tmp_path / "run.csv").exists()


def test_a_lab_limit_below_the_sample_limit_is_the_one_that_counts(tmp_path):
    with Lab.open("simulated", start_K=60.0) as lab, recording_commands() as messages:
        lab.config = dataclasses.replace(lab.config, limits=SoftwareLimits(max_current_A=0.05))
        with pytest.raises(LimitError, match=r"max_current_mA = 60 mA is above the lab's limit max_current_A = 50 mA"):
            runner.run(CriticalCurrent(lab=lab, max_current_mA=60.0), tmp_path / "run.csv")
    assert messages == []


def test_a_step_that_does_not_divide_imax_ends_exactly_at_imax_in_both_polarities(tmp_path):
    with Lab.open("simulated", start_K=60.0) as lab, recording_commands() as messages:
        procedure = CriticalCurrent(lab=lab, temperatures_K="60", max_current_mA=10.0, sample_limit_mA=10.0,
                                    step_mA=3.0, thermalise_s=0.0, stable_s=10.0)
        outcome = runner.run(procedure, tmp_path / "run.csv")
    assert outcome.status == "finished"
    assert [p[0] for p in pulses_sent(messages)] == pytest.approx([0.003, 0.006, 0.009, 0.010,
                                                                   -0.003, -0.006, -0.009, -0.010])
    assert max(abs(v) for v in currents_written(messages)) == 0.010  # the sample limit, never above


# ---- one run at four temperatures, Imax = the limit, both polarities ---------------------------

TEMPERATURES = (58.0, 60.0, 64.0, 67.0)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """58 K (Ic above 80 mA), then 60, 64, 67 K where the pinning model's Ic is 75, 37 and 17 mA."""
    path = tmp_path_factory.mktemp("ic") / "campaign.csv"
    lab = Lab.open("simulated", start_K=TEMPERATURES[0])
    world = lab.world
    events, sample_K, sample_K_during = [], [], []

    def on_event(topic, record):
        events.append((topic, record))
        if topic == "analysis" and record["kind"] == "ic":  # the sample's truth at the end of each temperature
            sample_K.append(world.sample_temperature())
        if topic == "progress":
            sample_K_during.append((record, world.sample_temperature()))

    procedure = CriticalCurrent(lab=lab, temperatures_K=", ".join(f"{t:g}" for t in TEMPERATURES),
                                max_current_mA=80.0, step_mA=0.5, both_polarities=True, stop_voltage_mV=STOP_V * 1e3)
    with recording_commands() as messages:
        outcome = runner.run(procedure, path, on_event=on_event)
    lab.close()
    yield dict(outcome=outcome, data=load(path), events=events, messages=list(messages), world=world,
               sample_K=sample_K, sample_K_during=sample_K_during, procedure=procedure)


def analysis(campaign, kind):
    return [record for topic, record in campaign["events"] if topic == "analysis" and record["kind"] == kind]


def test_the_run_finishes_with_every_pulse_on_disk_and_progress_at_100(campaign):
    outcome, data = campaign["outcome"], campaign["data"]
    assert outcome.status == "finished" and outcome.points == len(data) > 0
    progress = [record for topic, record in campaign["events"] if topic == "progress"]
    assert progress[-1] == 100.0 and progress == sorted(progress)
    assert list(data.columns) == CriticalCurrent.DATA_COLUMNS


def test_ic_follows_the_model_within_5_percent_and_is_not_reached_above_80_mA(campaign):
    sample = campaign["world"].sample
    records = analysis(campaign, "ic")
    assert [r["setpoint_K"] for r in records] == list(TEMPERATURES)
    for record, sample_K in zip(records, campaign["sample_K"]):
        assert record["temperature_K"] == pytest.approx(record["setpoint_K"], abs=0.05)
        truth = sample.critical_current(sample_K)
        if truth > 0.080:
            assert record["reached"] is False and math.isnan(record["ic_A"]) and math.isnan(record["jc_A_cm2"])
            continue
        assert record["reached"] is True
        assert record["ic_A"] == pytest.approx(truth, rel=0.05)
        assert record["ic_negative_A"] == pytest.approx(truth, rel=0.05)
        assert record["jc_A_cm2"] == pytest.approx(record["ic_A"] / (30e-4 * 1e-4))  # paper 001's 30 x 1 um2
    reached = [r for r in records if r["reached"]]
    assert len(reached) == 3


def test_no_pulse_above_the_limit_ever_reaches_the_source_and_the_limit_itself_is_used(campaign):
    written = np.array(currents_written(campaign["messages"]))
    assert np.all(np.abs(written) <= 0.080)
    assert written.max() == 0.080 and written.min() == -0.080  # the 58 K sweeps went all the way, both ways


def test_each_pulse_sent_is_one_row_and_none_follows_a_pulse_past_the_stop_voltage(campaign):
    data = campaign["data"]
    pulses = pulses_sent(campaign["messages"])
    assert all(len(p) == 1 for p in pulses)
    assert np.allclose([p[0] for p in pulses], data["Current (A)"], rtol=1e-5, atol=1e-9)
    for (setpoint, polarity), sweep in data.groupby(["Setpoint (K)", "Polarity"], sort=False):
        voltages = np.abs(sweep["Voltage (V)"].to_numpy())
        assert np.all(voltages[:-1] <= STOP_V)  # every pulse but the last stayed below the stop voltage
        if voltages[-1] > STOP_V:
            assert abs(sweep["Current (A)"].iloc[-1]) < 0.080  # it stopped early, and nothing followed
        else:
            assert abs(sweep["Current (A)"].iloc[-1]) == pytest.approx(0.080)
    stopped = data.groupby(["Setpoint (K)", "Polarity"]).apply(lambda s: abs(s["Voltage (V)"].iloc[-1]) > STOP_V)
    assert stopped.sum() == 6  # 60, 64 and 67 K, both polarities


def test_each_sweep_stops_at_the_first_pulse_where_the_model_passes_the_stop_voltage(campaign):
    sample, data = campaign["world"].sample, campaign["data"]
    # one progress event per pulse, after the 0 % of the start: the sample's truth at each pulse
    at_pulse = [kelvin for _, kelvin in campaign["sample_K_during"][1:1 + len(data)]]
    data = data.assign(sample_K=at_pulse)
    for (setpoint, polarity), sweep in data.groupby(["Setpoint (K)", "Polarity"], sort=False):
        if setpoint == TEMPERATURES[0]:
            continue  # Ic above 80 mA: never stopped

        def model_V(row):
            return abs(sample.four_probe_voltage(row["Current (A)"], row["sample_K"], duration_s=WIDTH_S))
        assert model_V(sweep.iloc[-1]) > STOP_V and model_V(sweep.iloc[-2]) <= STOP_V


def test_pulses_keep_the_period_and_dvdi_is_zero_below_ic_and_the_flux_flow_slope_above(campaign):
    data, sample = campaign["data"], campaign["world"].sample
    for _, sweep in data.groupby(["Setpoint (K)", "Polarity"], sort=False):
        assert np.all(np.diff(sweep["Time (s)"]) >= 2.0 - 1e-9)
    sixty = data[(data["Setpoint (K)"] == 60.0) & (data["Polarity"] == -1)]
    below = sixty[sixty["Current (A)"].abs() < 0.070]
    # the zero-resistance plateau: only the nV noise over 0.5 mA steps, 1e-5 ohm, far below R_n
    assert below["dV/dI (ohm)"].iloc[1:].max() < 1e-4
    # past Ic the superconducting paths flux-flow with the normal-state slope R_n(T) (the model's)
    assert sixty["dV/dI (ohm)"].iloc[-1] == pytest.approx(float(sample.normal_state_resistance(60.0)), rel=0.05)
    iv = [r for r in analysis(campaign, "iv") if r["setpoint_K"] == 60.0 and r["polarity"] == -1][0]
    assert np.allclose(iv["current_A"], sixty["Current (A)"]) and len(iv["dvdi_ohm"]) == len(sixty)
    assert iv["dvdi_ohm"][-1] == pytest.approx(float(sample.normal_state_resistance(60.0)), rel=0.05)


def test_pulses_do_not_heat_the_sample(campaign):
    """A DC current of Ic would warm the sample past the zero-resistance temperature; 1 ms pulses leave it alone."""
    sample = campaign["world"].sample
    during_58K = [kelvin for fraction, kelvin in campaign["sample_K_during"] if 0 < fraction <= 25.0]  # both sweeps
    assert len(during_58K) > 300 and max(during_58K) - min(during_58K) < 0.01  # 320 pulses up to 80 mA
    sixty = analysis(campaign, "ic")[1]
    dc_rise = sample.heating(sixty["ic_A"], 60.0, 0.0, 0.0, duration_s=None)
    assert dc_rise > 10.0 and sample.critical_current(60.0 + dc_rise) == 0.0
    assert sixty["ic_A"] == pytest.approx(sample.critical_current(campaign["sample_K"][1]), rel=0.02)


def test_jc_is_fitted_from_three_temperatures_on_with_the_preset_pinning_law(campaign):
    fits = analysis(campaign, "jc_fit")
    assert len(fits) == 1 and fits[0]["model"] == "delta_l" and fits[0]["success"]
    sample = campaign["world"].sample
    assert fits[0]["tc_K"]["value"] == pytest.approx(sample.jc_tc_K, abs=0.5)
    assert fits[0]["jc0_A_cm2"]["value"] == pytest.approx(sample.jc0_A_cm2, rel=0.05)


# ---- near the top of the transition, and the safe ends -----------------------------------------

def test_near_the_zero_resistance_temperature_ic_is_where_the_model_iv_passes_the_criterion(tmp_path):
    """At 74 K the pinning model has almost no Ic left (0.2 mA), but superconducting paths inside the
    transition still carry a supercurrent: the measured Ic is the model's own V(I) crossing."""
    with Lab.open("simulated", start_K=74.0) as lab:
        events = []
        outcome = runner.run(CriticalCurrent(lab=lab, temperatures_K="74", max_current_mA=20.0, step_mA=0.25,
                                             both_polarities=False, thermalise_s=600.0, stop_voltage_mV=0.1),
                             tmp_path / "run.csv",
                             on_event=lambda t, r: events.append((r, lab.world.sample_temperature()))
                             if t == "analysis" and r["kind"] == "ic" else None)
        (record, sample_K), = events
    assert outcome.status == "finished"
    truth = model_ic_at_criterion(lab.world.sample, sample_K, 1e-6, 0.02)
    assert record["ic_A"] == pytest.approx(truth, rel=0.05) and math.isnan(record["ic_negative_A"])


def small_run(lab, **parameters):
    defaults = dict(temperatures_K="60", max_current_mA=80.0, step_mA=2.0, thermalise_s=0.0, stable_s=10.0)
    return CriticalCurrent(lab=lab, **{**defaults, **parameters})


def test_an_abort_mid_sweep_leaves_the_source_off_the_temperature_held_and_the_points_on_disk(tmp_path):
    with Lab.open("simulated", start_K=60.0) as lab:
        progress = []
        outcome = runner.run(small_run(lab), tmp_path / "run.csv", should_stop=lambda: len(progress) >= 6,
                             on_event=lambda t, r: progress.append(r) if t == "progress" and r > 0 else None)
        assert outcome.status == "aborted" and outcome.points == 6 == len(load(tmp_path / "run.csv"))
        assert source_is_safe(lab.world)
        controller = lab.role("temperature")
        assert controller.setpoint() == pytest.approx(controller.temperature(), abs=0.05)


def test_an_instrument_fault_mid_sweep_fails_the_run_safely_with_the_points_on_disk(tmp_path):
    with Lab.open("simulated", start_K=60.0) as lab:
        lab.instrument("pulse").adapter.connection.timeout = 100  # ms of wall time for the lost reply
        world, progress = lab.world, []

        def on_event(topic, record):
            if topic == "progress" and record > 0:
                progress.append(record)
                if len(progress) == 4:  # during the next pulse's wait: its completion poll goes unanswered, every time
                    world.faults.add(sim.Fault(SOURCE, "timeout", after_s=world.clock.now() + 1.0,
                                               count=DEFAULT_POLICY.attempts))
        outcome = runner.run(small_run(lab, end_temperature="heater off"), tmp_path / "run.csv", on_event=on_event)
        assert outcome.status == "failed" and "InstrumentFault" in outcome.error and "time-out" in outcome.error
        assert outcome.points == 4 == len(load(tmp_path / "run.csv"))
        assert source_is_safe(world)
        controller = lab.role("temperature")
        assert controller.control_loop.heater_range == 0
        clocks.sleep(1.0)  # the simulated HTR? reports the output of the last step of the model
        assert controller.heater_output() == 0.0
