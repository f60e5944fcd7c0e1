"""Resuming an interrupted run from the window's run browser, on the virtual cryostat: the run
goes on in its own folder on the window's lab, its step's file gets the rest appended, the tab
shows the whole curve, and a resume the engine refuses says why and measures nothing."""

import itertools

import pytest
from qtpy.QtCore import Qt

from daclab.gui.view_base import load_rows
from daclab.run_index import RunIndex
from daclab.rundir import Journal, measuring
from daclab.runner import count_rows
from daclab.sequence import run_sequence
from daclab.sequence_file import sequence_from_dict
from gui_helpers import save_screenshot, simulated_window

RUN_TIMEOUT_MS = 60_000
UPPER_K, LOWER_K, POINT_EVERY_K = 115.0, 70.0, 0.5
POINTS_PER_LEG = round((UPPER_K - LOWER_K) / POINT_EVERY_K) + 1  # a point at each end of the window
# A coarse R-T sweep down and back up through the CeH9 transition: two segments (the legs).
RT_SWEEP = {"upper_K": UPPER_K, "lower_K": LOWER_K, "direction": "cooling and warming", "rate_K_per_min": 1.0,
            "point_every_K": POINT_EVERY_K, "readings_per_point": 1, "reading_interval_s": 0.0,
            "return_rate_K_per_min": 5.0, "thermalise_s": 300.0, "stable_s": 30.0}
WARMING_ROWS_AT_STOP = 10
DIRECTION = "Sweep direction"
TEMPERATURE = "Temperature (K)"


def rt_sequence(name, sample="CeH9 A"):
    return sequence_from_dict({"name": name, "lab": "simulated", "sample": {"name": sample},
                               "steps": [{"rt_sweep": RT_SWEEP}]})


@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory):
    with simulated_window(tmp_path_factory.mktemp("data")) as main:
        yield main


def stopped_mid_warming(window):
    """A run on the window's own lab, stopped after the cooling leg and a few warming points."""
    warming_rows = []

    def on_event(step, topic, record):
        if topic == "results" and record[DIRECTION] == "warming":
            warming_rows.append(record)

    outcome = run_sequence(rt_sequence("stopped sweep"), out=window.data_root, lab=window.lab, report=False,
                           should_stop=lambda: len(warming_rows) >= WARMING_ROWS_AT_STOP, on_event=on_event)
    assert outcome.status == "aborted", outcome.error
    return outcome.run_dir


def stopped_at_once(window, sample="CeH9 A", simulation=None):
    """A run stopped before its first point: on the window's lab, or on the virtual cryostat
    with ``simulation``'s settings (another lab than the window's)."""
    where = {"lab": window.lab} if simulation is None else {"simulation": simulation}
    outcome = run_sequence(rt_sequence("stopped at once", sample), out=window.data_root, report=False,
                           should_stop=lambda: True, **where)
    assert outcome.status == "aborted", outcome.error
    return outcome.run_dir


def select(window, run_dir):
    window.tabs.setCurrentWidget(window.browser)
    window.browser.refresh()
    assert window.browser.select_run(run_dir)


def click_resume_and_wait(qtbot, window):
    offered_while_running = []

    def started(running):
        if running:
            offered_while_running.append(window.browser.resume_button.isEnabled())

    window.controller.running_changed.connect(started)
    try:
        with qtbot.waitSignal(window.browser.resume_requested, timeout=5000):
            qtbot.mouseClick(window.browser.resume_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not window.controller.is_running(), timeout=RUN_TIMEOUT_MS)
    finally:
        window.controller.running_changed.disconnect(started)
    window.tick()
    # started at once, and while it was queued and running the run was not offered a second time
    assert offered_while_running == [False]


def index_status(window, run_dir):
    with RunIndex.at(window.data_root, create=False) as index:
        return next(run["status"] for run in index.sequences() if run["run_dir"] == str(run_dir))


def test_an_aborted_run_resumed_from_the_browser_goes_on_in_its_folder_and_its_tab_shows_the_whole_curve(
        qtbot, window):
    run_dir = stopped_mid_warming(window)
    data = run_dir / "01_rt_sweep.csv"
    before = data.read_bytes()
    cooling_done = next(e for e in Journal(run_dir).events()
                        if e["event"] == "segment done" and e["key"] == "cooling leg")
    cooling_tc = next(e["record"] for e in Journal(run_dir).events()
                      if e["event"] == "analysis" and e["record"].get("kind") == "tc")
    assert cooling_done["points"] == POINTS_PER_LEG
    assert count_rows(data) == POINTS_PER_LEG + WARMING_ROWS_AT_STOP
    assert index_status(window, run_dir) == "aborted"

    # looked at before going on: a tab holding the rows of the warming leg that will be retaken
    stale, = window.open_run(run_dir)
    assert sum(len(curve) for curve in stale.curves.values()) == POINTS_PER_LEG + WARMING_ROWS_AT_STOP

    select(window, run_dir)
    assert window.browser.resume_button.isEnabled()
    assert "interrupted, aborted or failed" in window.browser.resume_button.toolTip()
    save_screenshot(window.browser, "run_browser_resume")
    click_resume_and_wait(qtbot, window)

    item = window.controller.items()[-1]
    assert item.state == "finished" and item.run_dir == run_dir, item
    last = list(Journal(run_dir).events())[-1]
    assert (last["event"], last["status"]) == ("sequence end", "finished")
    # the finished cooling leg is kept byte for byte, the warming leg measured once, whole
    assert data.read_bytes()[:cooling_done["offset"]] == before[:cooling_done["offset"]]
    rows = load_rows(data)
    directions = [row[DIRECTION] for row in rows]
    assert directions == ["cooling"] * POINTS_PER_LEG + ["warming"] * POINTS_PER_LEG
    warming_K = [row[TEMPERATURE] for row in rows[POINTS_PER_LEG:]]
    assert all(b > a for a, b in itertools.pairwise(warming_K))
    assert warming_K[0] == pytest.approx(LOWER_K, abs=0.1) and warming_K[-1] == pytest.approx(UPPER_K, abs=0.1)
    aside, = run_dir.glob("01_rt_sweep.interrupted-*.csv")  # the cut-off attempt, kept out of the data
    assert count_rows(aside) == WARMING_ROWS_AT_STOP

    # the index and the browser say finished; nothing left to resume
    assert index_status(window, run_dir) == "finished"
    assert window.browser.select_run(run_dir)
    assert window.browser.selected_status() == "finished" and not window.browser.resume_button.isEnabled()

    # the step's tab was drawn anew: the rows already in the file, then the new ones
    view = next(v for v in window.views.values() if v.step.run_dir == run_dir)
    assert view is not stale and stale not in window.views.values()
    assert {name: len(curve) for name, curve in view.curves.items()} == {"cooling": POINTS_PER_LEG,
                                                                          "warming": POINTS_PER_LEG}
    assert view.wait_for_fits(30.0)
    window.tick()
    view.refresh()
    overlays = view.overlays()
    assert overlays["legs"]["cooling"]["midpoint_K"] == pytest.approx(cooling_tc["midpoint_K"], abs=0.5)
    assert "pair_lag_K" in overlays  # a cooling and a warming leg, one each
    window.tabs.setCurrentWidget(view)
    save_screenshot(window, "window_resumed_run")


def test_a_run_of_another_virtual_sample_is_refused_with_its_reason_and_nothing_is_measured(qtbot, window):
    run_dir = stopped_at_once(window, "LaCeH10 B", simulation={"sample": "lace_h10_cell2", "seed": 1, "start_K": 120.0})
    journal_before = (run_dir / "journal.jsonl").read_bytes()
    files_before = sorted(path.name for path in run_dir.iterdir())
    select(window, run_dir)
    assert window.browser.selected_status() == "aborted" and window.browser.resume_button.isEnabled()
    click_resume_and_wait(qtbot, window)

    item = window.controller.items()[-1]
    assert item.state == "failed" and "\n" not in item.error
    assert "lace_h10_cell2" in item.error and "ceh9_cell1" in item.error
    assert item.error in window.statusBar().currentMessage()
    row = [i.id for i in window.controller.items()].index(item.id)
    assert item.error in window.queue_panel.table.item(row, 2).toolTip()
    assert item.error in window.browser.message_text()  # whole, under the button just clicked
    save_screenshot(window, "window_resume_refused")
    assert (run_dir / "journal.jsonl").read_bytes() == journal_before
    assert sorted(path.name for path in run_dir.iterdir()) == files_before
    assert index_status(window, run_dir) == "aborted"
    assert window.browser.select_run(run_dir) and window.browser.resume_button.isEnabled()  # may be tried again


def test_a_run_another_process_measures_into_is_refused(qtbot, window):
    run_dir = stopped_at_once(window)
    journal_before = (run_dir / "journal.jsonl").read_bytes()
    select(window, run_dir)
    with measuring(run_dir):  # holds the folder's lock as a second process would
        click_resume_and_wait(qtbot, window)
    item = window.controller.items()[-1]
    assert item.state == "failed" and "being measured by another process" in item.error
    assert (run_dir / "journal.jsonl").read_bytes() == journal_before
