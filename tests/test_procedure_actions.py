"""The non-measuring sequence steps (wait, set_temperature, set_field) on the virtual cryostat."""

import math

import numpy as np
import pytest
from pymeasure.experiment import Results

from daclab import runner
from daclab.lab import Lab
from daclab.limits import LimitError
from daclab.procedures.actions import SetField, SetTemperature, Wait
from daclab.procedures.base import WAIT_CHUNK_S
from daclab.sim import Fault

ELAPSED, TEMPERATURE, SETPOINT, FIELD = "Elapsed time (s)", "Temperature (K)", "Setpoint (K)", "Field (T)"


@pytest.fixture
def lab():
    with Lab.open("simulated", start_K=150.0, seed=3) as opened:
        yield opened


def run(procedure, path, **kwargs):
    outcome = runner.run(procedure, path, **kwargs)
    data = Results.load(str(path), procedure_class=type(procedure)).data
    return outcome, data


def stop_at(lab, seconds_from_now):
    """A stop request that becomes true once the lab clock passes ``seconds_from_now``."""
    due = lab.world.clock.now() + seconds_from_now
    return lambda: lab.world.clock.now() >= due


def test_a_wait_holds_the_temperature_and_logs_a_row_every_interval(lab, tmp_path):
    controller = lab.role("temperature")
    controller.set_setpoint(150.0)  # heater on, holding where the cryostat starts
    start = lab.world.clock.now()
    outcome, data = run(Wait(lab=lab, minutes=10, log_every_s=60), tmp_path / "wait.csv")
    assert outcome.status == "finished"
    assert lab.world.clock.now() - start == pytest.approx(600.0, abs=1.0)
    # a row at the start, one a minute, the last at the end: 0, 60, ..., 600 s
    np.testing.assert_allclose(data[ELAPSED], np.arange(0.0, 601.0, 60.0), atol=1e-6)
    assert np.all(np.abs(data[TEMPERATURE] - 150.0) < 0.2)
    assert np.all(data[SETPOINT] == 150.0)
    assert np.all(data[FIELD] == lab.world.magnet.field_T)  # the magnet is read, never commanded
    assert lab.world.magnet.state != "ramping"
    assert controller.setpoint() == pytest.approx(150.0, abs=0.2)


def test_a_wait_stops_within_one_wait_chunk(lab, tmp_path):
    lab.role("temperature").set_setpoint(150.0)
    start = lab.world.clock.now()
    outcome, data = run(Wait(lab=lab, minutes=60, log_every_s=60), tmp_path / "wait.csv",
                        should_stop=stop_at(lab, 125.0))
    waited = lab.world.clock.now() - start
    assert outcome.status == "aborted"
    assert 125.0 <= waited <= 125.0 + WAIT_CHUNK_S
    assert list(data[ELAPSED]) == pytest.approx([0.0, 60.0, 120.0])  # every row before the stop is kept


def test_a_wait_with_a_magnet_that_does_not_answer_leaves_the_field_empty(lab, tmp_path):
    lab.role("temperature").set_setpoint(150.0)
    lab.world.faults.add(Fault("ami430", "disconnect"))
    outcome, data = run(Wait(lab=lab, minutes=3, log_every_s=60), tmp_path / "wait.csv")
    assert outcome.status == "finished" and len(data) == 4
    assert data[FIELD].isna().all() and data[TEMPERATURE].notna().all()


def test_set_temperature_ramps_at_the_rate_and_ends_holding_the_setpoint(lab, tmp_path):
    rate, target = 2.0, 120.0
    procedure = SetTemperature(lab=lab, setpoint_K=target, rate_K_per_min=rate, tolerance_K=0.1, stable_s=60,
                               log_every_s=60)
    outcome, data = run(procedure, tmp_path / "setT.csv")
    assert outcome.status == "finished"
    controller = lab.role("temperature")
    assert controller.setpoint() == pytest.approx(target, abs=0.1)  # "hold" keeps it there
    assert lab.world.stage_temperature() == pytest.approx(target, abs=0.1)
    # While ramping, the setpoint column follows 150 K - rate x t, a row every log_every_s.
    ramping = data[data[ELAPSED] < (150.0 - target) / rate * 60.0]
    assert len(ramping) == 15
    np.testing.assert_allclose(ramping[SETPOINT], 150.0 - rate * ramping[ELAPSED] / 60.0, atol=0.01)
    assert data[TEMPERATURE].iloc[-1] == pytest.approx(target, abs=0.1)
    assert data[ELAPSED].iloc[-1] >= (150.0 - target) / rate * 60.0 + 60.0  # the ramp, then stable_s


def test_set_temperature_at_once_steps_the_setpoint(lab, tmp_path):
    outcome, data = run(SetTemperature(lab=lab, setpoint_K=140.0, rate_K_per_min=0, stable_s=30),
                        tmp_path / "setT.csv")
    assert outcome.status == "finished"
    assert np.all(data[SETPOINT] == 140.0)
    assert data[TEMPERATURE].iloc[0] == pytest.approx(150.0, abs=0.1)
    assert data[TEMPERATURE].iloc[-1] == pytest.approx(140.0, abs=0.1)


def test_set_temperature_can_end_with_the_heater_off(lab, tmp_path):
    outcome, _ = run(SetTemperature(lab=lab, setpoint_K=145.0, rate_K_per_min=5, stable_s=30,
                                    end_temperature="heater off"), tmp_path / "setT.csv")
    assert outcome.status == "finished"
    assert lab.role("temperature").heater_output() == 0.0


def test_set_field_ramps_the_magnet_and_leaves_it_at_the_field(lab, tmp_path):
    rate, target = 0.5, 2.0
    outcome, data = run(SetField(lab=lab, field_T=target, rate_T_per_min=rate, log_every_s=30),
                        tmp_path / "setB.csv")
    assert outcome.status == "finished"
    assert lab.world.magnet.field_T == pytest.approx(target, abs=1e-6)
    assert lab.world.magnet.state in ("holding", "paused")
    assert data[FIELD].iloc[-1] == pytest.approx(target, abs=1e-4)
    # between rows inside the ramp the field grows by rate x time
    inside = data[(data[FIELD] > 0.0) & (data[FIELD] < target)]
    steps = np.diff(inside[FIELD]) / np.diff(inside[ELAPSED]) * 60.0
    assert len(steps) >= 4
    np.testing.assert_allclose(steps, rate, rtol=1e-3)


def test_set_field_stopped_mid_ramp_pauses_the_magnet(lab, tmp_path):
    outcome, data = run(SetField(lab=lab, field_T=3.0, rate_T_per_min=0.5), tmp_path / "setB.csv",
                        should_stop=stop_at(lab, 120.0))
    assert outcome.status == "aborted" and len(data) >= 1
    field = lab.world.magnet.field_T
    assert 0.5 < field < 3.0
    assert lab.world.magnet.state == "paused"
    lab.world.clock.advance(600.0)
    assert lab.world.magnet.field_T == pytest.approx(field)  # it stays where it was stopped


def refuse_instruments(monkeypatch):
    def no_instrument(self, name):
        raise AssertionError(f"role {name!r} opened before the parameters were checked")

    monkeypatch.setattr(Lab, "role", no_instrument)


@pytest.mark.parametrize("procedure, pattern", [
    (SetTemperature(setpoint_K=400.0), r"setpoint_K\) = 400.0 is not allowed: allowed range \[1.5, 320\] K"),
    (SetTemperature(setpoint_K=100.0, rate_K_per_min=20.0),
     r"rate_K_per_min = 20 K/min is outside the allowed range \[0, 10\] K/min"),
    (SetTemperature(setpoint_K=100.0, stable_s=120.0, timeout_min=1.0), r"timeout_min = 1 min .* stable_s = 120 s"),
    (SetField(field_T=12.0), r"field_T = 12 T is outside the allowed range \[-9, 9\] T"),
    (SetField(field_T=1.0, rate_T_per_min=2.0), r"rate_T_per_min = 2 T/min is outside the allowed range \[0, 0.5\]"),
    (Wait(minutes=-1.0), r"minutes\) = -1.0 is not allowed: allowed range \[0, 10080\] min"),
    (Wait(minutes=1.0, log_every_s=0.1), r"log_every_s\) = 0.1 is not allowed: allowed range \[1, 3600\] s"),
], ids=["setpoint", "temperature rate", "timeout", "field", "field rate", "minutes", "log interval"])
def test_out_of_range_values_are_refused_before_any_instrument(lab, tmp_path, monkeypatch, procedure, pattern):
    procedure.lab = lab
    refuse_instruments(monkeypatch)
    with pytest.raises(LimitError, match=pattern):
        runner.run(procedure, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_set_field_needs_a_magnet(tmp_path):
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text("name: no magnet\nroles:\n  temperature:\n    kind: temperature_controller\n"
                        "    driver: lakeshore350:LakeShore350\n    resource: ASRL3::INSTR\n")
    with pytest.raises(LimitError, match="no role.*magnet"):
        SetField(lab_file=str(lab_file), field_T=1.0).check()
    SetTemperature(lab_file=str(lab_file), setpoint_K=100.0).check()  # no magnet needed


def test_duration_estimates(lab):
    assert Wait(minutes=45).estimated_duration_s() == 45 * 60.0
    # where a ramp starts is known only once the instruments are open
    assert math.isnan(SetTemperature(setpoint_K=100.0).estimated_duration_s())
    assert math.isnan(SetField(field_T=1.0).estimated_duration_s())
