"""R-T sweeps on the virtual cryostat, checked against the sample model and the thermal lag."""

import dataclasses
import math

import numpy as np
import pytest
from pymeasure.experiment import Results
from pymeasure.test import expected_protocol

from daclab import runner
from daclab.instruments.srs_sim921 import SIM921, SIM921ResistanceMeter, range_code_for_resistance
from daclab.lab import Lab, load_lab
from daclab.limits import LimitError
from daclab.procedures.rt_sweep import RTSweep, step_targets
from daclab.sim import Fault
from daclab.sim.binding import recording_commands
from daclab.connection import DEFAULT_POLICY

LACE = "lace_h10_cell2"  # (La,Ce)H9-10, Tc 172 K, paper 000


def simulated_lab(sample: str, start_K: float, seed: int = 1) -> Lab:
    """The built-in simulated lab on ``sample``, its SIM921 free to choose the range that holds
    the sample (a 0.02-0.5 ohm cell needs a 200 mohm or 2 ohm range for ~100 uA)."""
    config = load_lab("simulated")
    bridge = config.roles["bridge921"]
    roles = {**config.roles,
             "bridge921": dataclasses.replace(bridge, adapter_options={**bridge.adapter_options, "autorange": True})}
    simulation = dataclasses.replace(config.simulation, sample=sample, start_K=start_K, seed=seed)
    return Lab(dataclasses.replace(config, roles=roles, simulation=simulation))


@pytest.fixture
def lace_lab():
    with simulated_lab(LACE, 180.0) as lab:
        yield lab


def run(procedure, path, **kwargs):
    events = []
    outcome = runner.run(procedure, path, on_event=lambda topic, record: events.append((topic, record)), **kwargs)
    data = Results.load(str(path), procedure_class=type(procedure)).data
    return outcome, data, events


def analysis(outcome, kind):
    return [record for record in outcome.analysis if record["kind"] == kind]


# The excitation each path really drives for the papers' currents, from the instruments' tables:
# 6221 delta at 1 mA exactly; 370 index 18 = 1 pA x sqrt(10)^17 = 316.2 uA; SIM921 on its
# 200 mohm range (the smallest that can drive ~100 uA): 30 uV / 0.2 ohm = 150 uA.
DRIVEN_A = {"delta": 1e-3, "bridge370": 1e-12 * 10 ** 8.5, "bridge921": 30e-6 / 0.2}


@pytest.mark.parametrize("path", ["delta", "bridge370", "bridge921"])
def test_a_cooling_warming_pair_brackets_tc_by_the_thermal_lag_on_every_path(lace_lab, tmp_path, path):
    rate = 1.0  # K/min
    procedure = RTSweep(lab=lace_lab, resistance_path=path, direction="cooling and warming", upper_K=200.0,
                        lower_K=145.0, rate_K_per_min=rate, point_every_K=1.0, readings_per_point=2)
    with recording_commands() as messages:
        outcome, data, events = run(procedure, tmp_path / "rt.csv")
    assert outcome.status == "finished" and outcome.points == len(data) > 100
    assert [r for t, r in events if t == "progress"][-1] == 100.0

    cooling, warming = analysis(outcome, "tc")
    assert (cooling["direction"], warming["direction"]) == ("cooling", "warming")
    tc = lace_lab.world.sample.tc_K
    # The thermometer leads the sample by r tau: cooling reads Tc - r tau, warming Tc + r tau.
    # 2 r tau = 10 K here. Tolerance 0.4 K: the world's explicit 10 s steps make the effective lag
    # tau - 5 s (-0.17 K on the difference), the SIM921 filter adds 2 r x 3 s (+0.1 K), and a
    # midpoint interpolated between 1 K points is good to ~0.1 K.
    lag_K = 2 * rate / 60.0 * lace_lab.world.stage.parameters.sample_lag_s
    assert warming["midpoint_K"] - cooling["midpoint_K"] == pytest.approx(lag_K, abs=0.4)
    pair, = analysis(outcome, "tc_pair")
    assert pair["lag_K"]["midpoint"] == pytest.approx(warming["midpoint_K"] - cooling["midpoint_K"])
    # the mean cancels the lag; 0.5 K allows for R_n(T) curving under the 50 % line
    assert pair["mean_K"]["midpoint"] == pytest.approx(tc, abs=0.5)
    for leg in (cooling, warming):
        assert leg["has_transition"] and leg["width_K"] > 0 and leg["steps"]
        assert leg["onset_K"] > leg["midpoint_K"] > leg["zero_K"]
        assert math.isnan(leg["field_T"])

    assert list(data["Sweep direction"].unique()) == ["cooling", "warming"]
    assert np.allclose(data["Excitation (A)"], DRIVEN_A[path], rtol=1e-3)
    assert data["Elapsed time (s)"].is_monotonic_increasing
    assert (data["Resistance error (ohm)"] >= 0).all() and data["Field (T)"].isna().all()
    assert data["Temperature (K)"].max() > 199.0 and data["Temperature (K)"].min() < 146.0
    assert not any(device == "ami430" for device, _ in messages)  # no field asked: the magnet is left alone
    # the estimate from the parameters alone (two ramps, one approach) is close to the clock
    assert lace_lab.world.elapsed_s == pytest.approx(procedure.estimated_duration_s(), rel=0.2)


def test_a_point_is_the_mean_of_its_readings_with_their_standard_error(lace_lab, tmp_path):
    """Normal state, bridge370: each reading carries the model's voltage noise over the current,
    sigma = noise_nV / I, so the error column is sigma / sqrt(n) and the means scatter by as much
    about the smooth R(T)."""
    readings = 8
    procedure = RTSweep(lab=lace_lab, resistance_path="bridge370", direction="warming", upper_K=200.0,
                        lower_K=190.0, rate_K_per_min=0.5, point_every_K=0.25, readings_per_point=readings,
                        reading_interval_s=0.0)
    outcome, data, _ = run(procedure, tmp_path / "rt.csv")
    assert outcome.status == "finished" and len(data) == 41
    sigma = lace_lab.world.sample.noise_nV * 1e-9 / DRIVEN_A["bridge370"]
    standard_error = sigma / math.sqrt(readings)
    # the median of a sample standard deviation of 8 normal readings is 0.952 sigma (chi, 7 dof)
    assert np.median(data["Resistance error (ohm)"]) == pytest.approx(0.952 * standard_error, rel=0.15)
    temperature, resistance = data["Temperature (K)"].to_numpy(), data["Resistance (ohm)"].to_numpy()
    scatter = resistance - np.polyval(np.polyfit(temperature, resistance, 3), temperature)
    assert scatter.std(ddof=4) == pytest.approx(standard_error, rel=0.25)
    assert np.allclose(resistance, lace_lab.world.sample.resistance(temperature), rtol=0.03)


def test_stabilised_steps_show_no_lag(lace_lab, tmp_path):
    procedure = RTSweep(lab=lace_lab, resistance_path="bridge370", direction="cooling and warming",
                        sweep_mode="steps", upper_K=180.0, lower_K=164.0, point_every_K=2.0, stable_s=30.0,
                        thermalise_s=1200.0, readings_per_point=2)
    outcome, data, _ = run(procedure, tmp_path / "rt.csv")
    assert outcome.status == "finished" and outcome.points == 2 * len(step_targets(180.0, 164.0, 2.0)) == 18
    assert np.allclose(data["Setpoint (K)"][:9], np.arange(180.0, 163.0, -2.0))
    # every point is taken on a held setpoint, within the tolerance
    assert (data["Temperature (K)"] - data["Setpoint (K)"]).abs().max() <= procedure.tolerance_K
    cooling, warming = analysis(outcome, "tc")
    # after 1200 s = 4 lag times a 2 K step is followed to 2 K x exp(-4) = 0.04 K
    assert abs(warming["midpoint_K"] - cooling["midpoint_K"]) < 0.2
    for leg in (cooling, warming):
        assert leg["midpoint_K"] == pytest.approx(lace_lab.world.sample.tc_K, abs=0.5)


def test_step_targets_include_both_ends():
    assert step_targets(180.0, 175.0, 2.0) == [180.0, 178.0, 176.0, 175.0]
    assert step_targets(10.0, 14.0, 1.0) == [10.0, 11.0, 12.0, 13.0, 14.0]


def test_a_field_is_set_before_the_sweep_and_read_into_every_point(lace_lab, tmp_path):
    procedure = RTSweep(lab=lace_lab, resistance_path="bridge370", direction="warming", upper_K=182.0,
                        lower_K=176.0, rate_K_per_min=2.0, point_every_K=1.0, readings_per_point=1,
                        field_T=2.0, field_rate_T_per_min=0.5)
    outcome, data, _ = run(procedure, tmp_path / "rt.csv")
    assert outcome.status == "finished"
    assert np.allclose(data["Field (T)"], 2.0, atol=1e-3)
    assert data["Resistance error (ohm)"].isna().all()  # one reading per point has no spread
    tc, = analysis(outcome, "tc")
    assert tc["field_T"] == pytest.approx(2.0, abs=1e-3)
    magnet = lace_lab.world.magnet
    assert magnet.field_T == pytest.approx(2.0) and magnet.state == "paused"  # the safe end: held where it is


@pytest.mark.parametrize("parameters, message", [
    ({"lower_K": 200.0, "upper_K": 150.0}, r"lower_K = 200 K must be below upper_K = 150 K"),
    ({"rate_K_per_min": 20.0}, r"rate_K_per_min = 20 K/min is outside the allowed range \[0, 10\] K/min"),
    ({"excitation_A": 0.09}, r"excitation_A = 0.09 A is outside the allowed range \[-0.08, 0.08\] A"),
    ({"excitation_A": 0.2}, r"Excitation current .*\(excitation_A\) = 0.2 is not allowed: allowed range \[0, 0.105\] A"),
    ({"field_T": 12.0}, r"field_T = 12 T is outside the allowed range \[-9, 9\] T"),
    ({"field_T": 1.0, "field_rate_T_per_min": 2.0},
     r"field_rate_T_per_min = 2 T/min is outside the allowed range \[0, 0.5\] T/min"),
    ({"resistance_path": "bridge999"}, r"\(resistance_path\) = 'bridge999' is not allowed: allowed: delta, bridge370"),
    ({"point_every_K": 0.1, "rate_K_per_min": 1.0, "readings_per_point": 10, "reading_interval_s": 1.0},
     r"\(readings_per_point = 10 - 1\) x reading_interval_s = 1 s = 9 s is not shorter than the time between "
     r"points, point_every_K = 0.1 K / rate_K_per_min = 1 K/min = 6 s"),
    ({"upper_K": 400.0}, r"Window top \(upper_K\) = 400.0 is not allowed: allowed range \[1.5, 320\] K"),
])
def test_bad_parameters_are_refused_before_any_instrument_is_touched(lace_lab, tmp_path, parameters, message):
    with recording_commands() as messages:
        with pytest.raises(LimitError, match=message):
            runner.run(RTSweep(lab=lace_lab, **parameters), tmp_path / "rt.csv")
    assert messages == [] and not (tmp_path / "rt.csv").exists()


def assert_safe(lab, path):
    """The resistance path's excitation is off and the Lakeshore 350 holds where it is."""
    state = lab.world.instrument_state
    if path == "delta":
        assert state["keithley6221"]["settings"]["output"] == 0 and state["keithley6221"]["armed"] is None
        assert lab.world.source_current_A == 0.0
    elif path == "bridge370":
        assert state["lakeshore370"]["range"][1][4] == 1  # cs_off
    else:
        assert state["srs_sim900"]["module"]["exon"] == 0
    loop = lab.world.stage.loops[1]
    assert not loop.ramping and loop.setpoint_K == pytest.approx(lab.world.stage_temperature(), abs=0.05)


def test_a_stop_request_ends_the_sweep_within_a_point_with_every_point_on_disk(lace_lab, tmp_path):
    procedure = RTSweep(lab=lace_lab, resistance_path="delta", upper_K=180.0, lower_K=165.0, rate_K_per_min=2.0,
                        point_every_K=0.5, readings_per_point=2)
    progress = []
    outcome = runner.run(procedure, tmp_path / "rt.csv", should_stop=lambda: len(progress) >= 6,
                         on_event=lambda topic, record: progress.append(record) if topic == "progress" else None)
    data = Results.load(str(tmp_path / "rt.csv"), procedure_class=RTSweep).data
    assert outcome.status == "aborted" and outcome.points == len(data) == 5  # progress 0 came before the points
    assert_safe(lace_lab, "delta")


@pytest.mark.parametrize("path", ["delta", "bridge370", "bridge921"])
def test_an_instrument_fault_mid_sweep_fails_the_run_safely_with_the_points_kept(lace_lab, tmp_path, path):
    procedure = RTSweep(lab=lace_lab, resistance_path=path, upper_K=180.0, lower_K=165.0, rate_K_per_min=2.0,
                        point_every_K=0.5, readings_per_point=1)
    progress = []

    def on_event(topic, record):
        if topic == "progress":
            progress.append(record)
            if len(progress) == 8:
                # seven points in, the controller answers its next query (is the ramp done?) with
                # garbage, and every retry of it
                lace_lab.world.faults.add(Fault("lakeshore350", "garbage", count=DEFAULT_POLICY.attempts))

    outcome = runner.run(procedure, tmp_path / "rt.csv", on_event=on_event)
    data = Results.load(str(tmp_path / "rt.csv"), procedure_class=RTSweep).data
    assert outcome.status == "failed" and outcome.error
    assert outcome.points == len(data) == 7
    assert_safe(lace_lab, path)


# ---- the SIM921 adapter's range choice ------------------------------------------------------

def test_sim921_range_for_a_resistance_is_the_smallest_full_scale_holding_it():
    assert [range_code_for_resistance(r) for r in (0.01, 0.02, 0.021, 0.2, 0.5, 2e7)] == [0, 0, 1, 1, 2, 9]
    with pytest.raises(LimitError, match=r"range_ohm = 3e\+07 ohm is outside the allowed range \[0, 2e\+07\] ohm"):
        range_code_for_resistance(3e7)


def test_sim921_autorange_starts_on_the_smallest_range_that_drives_the_current(virtual_clock):
    # 100 uA: 20 mohm offers 150 uA at the least (3 uV), so 200 mohm (30 uV -> 150 uA) is the first
    with expected_protocol(SIM921, [("RANG 1", None), ("EXCI 2", None), ("EXON 1", None), ("TCON?", "2")]) as bridge:
        meter = SIM921ResistanceMeter(bridge, autorange=True)
        assert meter.set_excitation(100e-6) == pytest.approx(150e-6)
        assert meter.range_ohm == pytest.approx(0.2) and virtual_clock.now() == pytest.approx(15.0)


def test_sim921_autorange_moves_up_when_a_reading_nears_full_scale(virtual_clock):
    with expected_protocol(SIM921, [
        ("RANG 1", None), ("EXCI 2", None), ("EXON 1", None), ("TCON?", "2"),
        ("RVAL?", "+5.300000E-01"),  # above 0.9 x 200 mohm: over range
        ("RANG 2", None), ("EXCI 4", None), ("EXON 1", None), ("TCON?", "2"),  # 300 uV / 2 ohm = 150 uA
        ("RVAL?", "+5.310000E-01"),
        ("RVAL?", "+1.000000E-06"),  # superconducting: the range stays
    ]) as bridge:
        meter = SIM921ResistanceMeter(bridge, autorange=True)
        meter.set_excitation(100e-6)
        assert meter.resistance() == pytest.approx(0.531)
        assert meter.range_ohm == pytest.approx(2.0) and virtual_clock.now() == pytest.approx(30.0)
        assert meter.resistance() == pytest.approx(1e-6)


def test_sim921_range_option_writes_the_range_holding_the_sample():
    with expected_protocol(SIM921, [("RANG 2", None), ("EXCI 4", None), ("EXON 1", None), ("TCON?", "-1"),
                                    ("RVAL?", "+5.300000E-01")]) as bridge:
        meter = SIM921ResistanceMeter(bridge, range_ohm=0.6)
        assert meter.set_excitation(100e-6) == pytest.approx(150e-6)
        assert meter.resistance() == pytest.approx(0.53)  # no autorange: read as it is
