"""An instrument that stops answering for longer than its retries: the ``instrument`` suspender
pauses the measurement until it answers again and retakes the segment; without the suspender, or
when the outage outlasts the suspender's time-out, the run ends in the safe state with every
point kept."""

import logging

import pytest
from pymeasure.experiment import Results

from daclab import runner
from daclab.lab import Lab
from daclab.procedures.critical_current import CriticalCurrent
from daclab.sequence_file import sequence_from_dict
from daclab.sim import Fault
from daclab.suspenders import InstrumentLost

SOURCE = "keithley6221"
TEMPERATURES = "60, 64, 67"
FAST = dict(temperatures_K=TEMPERATURES, max_current_mA=40.0, step_mA=4.0, thermalise_s=0.0, stable_s=10.0,
            stop_voltage_mV=0.1)


def run_pulses(tmp_path, outage_messages, suspenders, at_point=15):
    """Critical current at three temperatures; after ``at_point`` points the 6221 drops off for
    ``outage_messages`` messages (None: for good)."""
    events = []
    with Lab.open("simulated", start_K=60.0) as lab:
        procedure = CriticalCurrent(lab=lab, **FAST)
        procedure.suspenders = list(suspenders)

        def on_event(topic, record):
            events.append((topic, record))
            if topic == "results" and sum(t == "results" for t, _ in events) == at_point:
                lab.world.faults.add(Fault(SOURCE, "disconnect", count=1, lasts=outage_messages))

        outcome = runner.run(procedure, tmp_path / "ic.csv", on_event=on_event)
        lab.world.faults.clear()  # the cable back in, to read the twin's state as the user would see it
        state = lab.world.instrument_state[SOURCE]
        safe = state["settings"]["output"] == 0 and state["run"] is None and state["armed"] is None
    return outcome, events, safe


def rows(path):
    return Results.load(str(path), procedure_class=CriticalCurrent).data


def test_a_lost_source_pauses_the_run_which_retakes_the_temperature_once_it_answers(tmp_path, caplog):
    reference, _, _ = run_pulses(tmp_path / "clean", 1, [], at_point=10**6)  # never injected
    with caplog.at_level(logging.WARNING):
        outcome, events, safe = run_pulses(tmp_path, outage_messages=30, suspenders=[InstrumentLost(timeout_min=10)])
    assert outcome.status == "finished" and safe
    topics = [topic for topic, _ in events]
    assert topics.count("suspend") == 1 and topics.count("resume") == 1
    assert "failed 4 times; last: connection lost" in dict(events)["suspend"]["reason"]
    segments = [record for topic, record in events if topic == "segment"]
    assert [s["state"] for s in segments].count("discard") == 1
    # the interrupted temperature's rows were moved aside; the file holds each temperature once
    data, clean = rows(tmp_path / "ic.csv"), rows(tmp_path / "clean" / "ic.csv")
    aside = rows(tmp_path / "ic.interrupted-1.csv")
    assert len(aside) >= 1
    assert sorted(data["Setpoint (K)"].unique()) == sorted(clean["Setpoint (K)"].unique())
    assert len(data) == len(clean)
    messages = [r.getMessage() for r in caplog.records]
    assert any("suspended" in m for m in messages) and any("answers again" in m for m in messages)


def test_without_the_suspender_a_lost_source_ends_the_run_safely_with_the_points_kept(tmp_path):
    outcome, events, safe = run_pulses(tmp_path, outage_messages=30, suspenders=[])
    assert outcome.status == "failed" and "InstrumentFault" in outcome.error
    assert outcome.points == len(rows(tmp_path / "ic.csv")) == 15
    assert safe  # the shutdown's own retries outlast the rest of the outage


def test_an_outage_beyond_the_suspenders_time_out_ends_the_run_safely(tmp_path):
    outcome, events, _ = run_pulses(tmp_path, outage_messages=None, suspenders=[InstrumentLost(timeout_min=1)])
    assert outcome.status == "failed" and "SuspendTimeout" in outcome.error and "still not answering" in outcome.error
    suspend = [record for topic, record in events if topic == "suspend"]
    assert len(suspend) == 1
    # the rows of the segment in flight are set aside, those of finished segments stay
    assert len(rows(tmp_path / "ic.csv")) + len(rows(tmp_path / "ic.interrupted-1.csv")) == 15


def test_a_sequence_file_names_the_instrument_suspender_with_its_time_out():
    spec = sequence_from_dict({"name": "x", "lab": "simulated", "suspend": {"instrument": {"timeout_min": 20}},
                               "steps": [{"wait": {"minutes": 1}}]}, source="<test>")
    [suspender] = spec.suspenders
    assert isinstance(suspender, InstrumentLost) and suspender.timeout_min == 20
    with pytest.raises(ValueError, match=r"suspend.instrument.timeout_min = -1 min is outside"):
        sequence_from_dict({"name": "x", "lab": "simulated", "suspend": {"instrument": {"timeout_min": -1}},
                            "steps": [{"wait": {"minutes": 1}}]}, source="<test>")
