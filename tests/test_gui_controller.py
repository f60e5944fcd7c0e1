"""The window's queue and its worker thread, on the virtual cryostat (no widgets needed)."""

import math

import pytest

from daclab.gui import events
from daclab.gui.controller import RunController
from daclab.lab import Lab
from daclab.runner import count_rows
from daclab.sequence_file import sequence_from_dict

SOURCE = "keithley6221"  # the 6221's device name in sim_configs


def one_step(kind, **parameters):
    return sequence_from_dict({"name": kind, "lab": "simulated", "sample": {"name": "ceh9_cell1"},
                               "steps": [{kind: parameters}]}, source="form")


def quick_wait(minutes=5.0):
    return one_step("wait", minutes=minutes, log_every_s=60.0)


def long_ic():
    # many fine steps at several temperatures: still running when the test aborts it
    return one_step("critical_current", temperatures_K="40, 45, 50, 55, 60", max_current_mA=80.0, step_mA=0.05,
                    stop_voltage_mV=100.0, thermalise_s=60.0, stable_s=10.0)


@pytest.fixture
def lab():
    with Lab.open("simulated", start_K=40.0, seed=2) as opened:
        yield opened


def collect(qtbot, controller, until, timeout_ms=60000):
    seen = []

    def done():
        seen.extend(controller.drain())
        return until(seen)

    qtbot.waitUntil(done, timeout=timeout_ms)
    return seen


def ended(seen):
    return any(isinstance(e, events.RunEnded) for e in seen)


def test_waiting_items_reorder_and_remove_and_the_running_one_cannot_be_removed(qtbot, lab, tmp_path):
    controller = RunController(lab, tmp_path)
    first, second, third = (controller.enqueue(quick_wait(m)) for m in (1.0, 2.0, 3.0))
    controller.move(third.id, -2)
    assert [item.id for item in controller.items()] == [third.id, first.id, second.id]
    controller.move(third.id, +1)
    assert [item.id for item in controller.items()] == [first.id, third.id, second.id]
    controller.remove(third.id)
    assert [item.id for item in controller.items()] == [first.id, second.id]
    with qtbot.waitSignal(controller.running_changed, timeout=5000):
        controller.start()
    controller.paused = True  # run only the first: the queue is held once it ends
    with pytest.raises(ValueError, match="running"):
        controller.remove(first.id)
    with pytest.raises(ValueError, match="running"):
        controller.move(first.id, 1)
    collect(qtbot, controller, ended)
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=5000)


def test_an_item_runs_into_a_run_folder_and_every_saved_point_reaches_the_window(qtbot, lab, tmp_path):
    controller = RunController(lab, tmp_path)
    item = controller.enqueue(quick_wait(20.0))
    controller.start()
    seen = collect(qtbot, controller, ended)
    started = [e for e in seen if isinstance(e, events.StepStarted)]
    rows = [row for e in seen if isinstance(e, events.Rows) for row in e.rows]
    assert len(started) == 1 and started[0].step.kind == "wait" and started[0].step.sample_name == "ceh9_cell1"
    assert started[0].step.data_path.parent == item.run_dir and item.run_dir.parent == tmp_path
    assert len(rows) == count_rows(started[0].step.data_path) > 0  # the window sees what the file holds
    end = next(e for e in seen if isinstance(e, events.StepEnded))
    assert end.status == "finished" and end.points == len(rows)
    assert next(e for e in seen if isinstance(e, events.RunEnded)).status == "finished"
    assert item.state == "finished"
    assert (item.run_dir / "report" / "summary.json").exists() and (tmp_path / "runs.sqlite").exists()


def test_abort_stops_within_a_point_leaves_the_source_safe_and_holds_the_queue(qtbot, lab, tmp_path):
    controller = RunController(lab, tmp_path)
    running = controller.enqueue(long_ic())
    waiting = controller.enqueue(quick_wait())
    controller.start()
    seen = collect(qtbot, controller, lambda s: sum(len(e.rows) for e in s if isinstance(e, events.Rows)) >= 20)
    controller.abort()
    seen += collect(qtbot, controller, ended)
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=5000)
    assert running.state == "aborted"
    state = lab.world.instrument_state[SOURCE]
    assert state["settings"]["output"] == 0 and state["run"] is None and state["armed"] is None
    assert waiting.state == "queued" and controller.paused  # nothing starts by itself after an abort
    data = next(e for e in seen if isinstance(e, events.StepStarted)).step.data_path
    received = sum(len(e.rows) for e in seen if isinstance(e, events.Rows))
    assert count_rows(data) == received  # every point measured before the abort is in the file
    assert controller.start() and controller.running_item() is waiting  # the user lets it go on
    collect(qtbot, controller, ended)
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=5000)
    assert waiting.state == "finished"


def test_the_queue_goes_on_by_itself_after_a_finished_item(qtbot, lab, tmp_path):
    controller = RunController(lab, tmp_path)
    items = [controller.enqueue(quick_wait(m)) for m in (1.0, 2.0)]
    controller.start()
    collect(qtbot, controller, lambda s: sum(isinstance(e, events.RunEnded) for e in s) == 2)
    assert [item.state for item in items] == ["finished", "finished"]
    assert items[0].run_dir != items[1].run_dir
    assert not math.isnan(lab.world.stage_temperature())
