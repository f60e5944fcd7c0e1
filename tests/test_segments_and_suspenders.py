"""Segments of a measurement: what a suspension retakes and what a resumed step skips; the runner
moving an interrupted segment's rows aside and appending to a file; the suspenders themselves."""

import dataclasses

import numpy as np
import pytest
from pymeasure.experiment import Results

from daclab import clock as clocks
from daclab import runner
from daclab.lab import Lab
from daclab.limits import LimitError
from daclab.procedures.critical_current import CriticalCurrent
from daclab.suspenders import (MagnetQuench, Suspender, TemperatureBand, suspenders_from_spec)

TEMPERATURES = (60.0, 64.0, 67.0)
FAST = dict(temperatures_K=", ".join(f"{t:g}" for t in TEMPERATURES), max_current_mA=40.0, step_mA=4.0,
            thermalise_s=0.0, stable_s=10.0, stop_voltage_mV=0.1)


@dataclasses.dataclass(frozen=True)
class TripsBetween(Suspender):
    """Trips while the lab clock is inside [start_s, end_s) after it was armed (a stand-in for a
    helium transfer: the procedure cannot tell it from a real condition)."""

    start_s: float = 0.0
    end_s: float = 0.0
    origin: list = dataclasses.field(default_factory=list, compare=False)

    name = "test window"
    role_kind = "temperature_controller"

    def tripped(self, role):
        now = clocks.current().now() - self.origin[0]
        return "inside the test window" if self.start_s <= now < self.end_s else None


def run_pulses(tmp_path, suspenders=(), done=(), append=False, name="ic.csv"):
    events = []
    with Lab.open("simulated", start_K=60.0) as lab:
        procedure = CriticalCurrent(lab=lab, **FAST)
        procedure.suspenders = list(suspenders)
        procedure.done_segments = set(done)
        for suspender in suspenders:
            if isinstance(suspender, TripsBetween):
                suspender.origin.append(clocks.current().now())
        outcome = runner.run(procedure, tmp_path / name, on_event=lambda t, r: events.append((t, r)), append=append)
        source_state = lab.world.instrument_state["keithley6221"]
    return outcome, events, source_state


def load(path):
    return Results.load(str(path), procedure_class=CriticalCurrent).data


def test_each_temperature_is_a_segment_with_its_file_offsets(tmp_path):
    outcome, events, _ = run_pulses(tmp_path)
    assert outcome.status == "finished"
    segments = [r for t, r in events if t == "segment"]
    assert [(r["key"], r["state"]) for r in segments] == [(f"{t:g} K", s) for t in TEMPERATURES
                                                          for s in ("start", "done")]
    size = (tmp_path / "ic.csv").stat().st_size
    assert segments[-1]["offset"] == size and segments[-1]["points"] == outcome.points
    data = load(tmp_path / "ic.csv")
    for start, done in zip(segments[::2], segments[1::2]):  # the rows between start and done are that segment's
        rows = data.iloc[start["points"]:done["points"]]
        assert set(rows["Setpoint (K)"]) == {float(start["key"].split()[0])}


def test_a_suspension_retakes_the_segment_and_moves_its_first_rows_aside(tmp_path):
    clean, _, _ = run_pulses(tmp_path, name="clean.csv")
    clean_data = load(tmp_path / "clean.csv")
    # the window opens while the second temperature's pulses run (found from the clean run's times)
    second = clean_data[clean_data["Setpoint (K)"] == TEMPERATURES[1]]["Time (s)"]
    window = TripsBetween(timeout_min=60.0, start_s=float(second.iloc[2]), end_s=float(second.iloc[2]) + 600.0)
    outcome, events, source_state = run_pulses(tmp_path, suspenders=[window])
    assert outcome.status == "finished"
    topics = [t for t, _ in events]
    assert "suspend" in topics and "resume" in topics
    discards = [r for t, r in events if t == "segment" and r["state"] == "discard"]
    assert [r["key"] for r in discards] == ["64 K"] and discards[0]["moved_to"] == "ic.interrupted-1.csv"
    data = load(tmp_path / "ic.csv")
    # every temperature once, as one sweep: the retaken one wholly after the window closed, and
    # about as long as in the uninterrupted run (where the sweep stops depends on the noise)
    assert list(dict.fromkeys(data["Setpoint (K)"])) == list(TEMPERATURES)
    retaken = data[data["Setpoint (K)"] == 64.0]
    positive = retaken[retaken["Polarity"] == 1]["Current (A)"]
    assert retaken["Time (s)"].min() >= window.end_s and np.all(np.diff(positive) > 0)
    assert len(retaken) == pytest.approx((clean_data["Setpoint (K)"] == 64.0).sum(), abs=3)
    aside = load(tmp_path / "ic.interrupted-1.csv")
    assert set(aside["Setpoint (K)"]) == {64.0} and 0 < len(aside) < len(retaken)
    assert aside["Time (s)"].max() < window.end_s
    assert source_state["settings"]["output"] == 0


def test_a_condition_outlasting_its_timeout_ends_the_run_safe_with_the_finished_segments(tmp_path):
    forever = TripsBetween(timeout_min=30.0, start_s=0.0, end_s=np.inf)
    clean, _, _ = run_pulses(tmp_path, name="clean.csv")
    outcome, events, source_state = run_pulses(tmp_path, suspenders=[forever])
    assert outcome.status == "failed" and "SuspendTimeout" in outcome.error and "30 min" in outcome.error
    assert source_state["settings"]["output"] == 0 and source_state["run"] is None
    assert len(load(tmp_path / "ic.csv")) == 0  # tripped before the first pulse: nothing to move aside
    assert [r["moved_to"] for t, r in events if t == "segment" and r["state"] == "discard"] == [None]
    assert not (tmp_path / "ic.interrupted-1.csv").exists()


def test_done_segments_are_skipped_and_a_resumed_file_is_appended_to(tmp_path):
    outcome, events, _ = run_pulses(tmp_path)
    segments = [r for t, r in events if t == "segment" and r["state"] == "done"]
    # cut the file back to the end of the first segment, as a resume does after a crash
    moved = runner.set_aside_tail(tmp_path / "ic.csv", segments[0]["offset"])
    assert moved is not None and len(load(moved)) == outcome.points - segments[0]["points"]
    resumed, resumed_events, _ = run_pulses(tmp_path, done={"60 K"}, append=True)
    assert resumed.status == "finished"
    assert [r["key"] for t, r in resumed_events if t == "segment" and r["state"] == "start"] == ["64 K", "67 K"]
    data = load(tmp_path / "ic.csv")
    assert len(data) == outcome.points  # nothing lost, nothing twice
    assert list(dict.fromkeys(data["Setpoint (K)"])) == list(TEMPERATURES)
    with open(tmp_path / "ic.csv") as stream:
        assert sum(line.startswith("#Procedure") for line in stream) == 1  # one header


def test_set_aside_tail_with_nothing_after_the_offset_changes_nothing(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("#Procedure: <x>\nA (K)\n1\n")
    assert runner.set_aside_tail(path, path.stat().st_size) is None
    assert path.read_text() == "#Procedure: <x>\nA (K)\n1\n"


class _Role:
    def __init__(self, kelvin=10.0, quenched=False):
        self.kelvin, self._quenched = kelvin, quenched

    def temperature(self):
        return self.kelvin

    def quenched(self):
        return self._quenched


def test_the_suspenders_trip_on_their_conditions():
    band = TemperatureBand(below_K=1.6, above_K=320.0)
    assert band.tripped(_Role(10.0)) is None
    assert "above 320" in band.tripped(_Role(330.0))
    assert "below 1.6" in band.tripped(_Role(1.2))
    assert "nan" in band.tripped(_Role(float("nan")))
    assert MagnetQuench().tripped(_Role(quenched=True)) and MagnetQuench().tripped(_Role()) is None


@pytest.mark.parametrize("spec, message", [
    ({"temprature": {}}, "unknown condition 'temprature'"),
    ({"temperature": {"above": 3}}, "unknown option(s) above"),
    ({"temperature": {"above_K": "hot"}}, "must be a number"),
    ({"temperature": {"below_K": 300, "above_K": 10}}, "must be below"),
    ({"magnet_quench": {"timeout_min": -1}}, "timeout_min"),
    ([1, 2], "must be a mapping"),
])
def test_bad_suspender_specs_are_refused_with_what_is_allowed(spec, message):
    with pytest.raises(LimitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        suspenders_from_spec(spec)


def test_a_suspender_needs_its_role_in_the_lab(tmp_path):
    with Lab.open("simulated", start_K=60.0) as lab:
        lab.config = dataclasses.replace(lab.config, roles={k: v for k, v in lab.config.roles.items() if k != "magnet"})
        procedure = CriticalCurrent(lab=lab, **FAST)
        procedure.suspenders = [MagnetQuench()]
        with pytest.raises(LimitError, match="magnet_quench suspender needs a magnet"):
            runner.run(procedure, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
