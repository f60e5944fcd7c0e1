"""The whole window on the virtual cryostat, as a user drives it: pick a measurement, queue it,
watch it run with its fits, abort, browse the finished runs. Screenshots of every view at
1366x768 are saved under artifacts/screenshots/ for a person to look at."""

import math

import pytest
from qtpy.QtCore import Qt

from daclab.gui.main_window import MainWindow
from daclab.gui.view_base import MeasurementView
from daclab.runner import count_rows
from gui_helpers import save_screenshot, simulated_window

SOURCE = "keithley6221"  # the 6221's device name in sim_configs
RUN_TIMEOUT_MS = 120_000

# Coarse versions of the papers' protocols, so that each runs in seconds on the instant clock.
QUICK = {
    "rt_sweep": {"upper_K": 115.0, "lower_K": 60.0, "direction": "cooling and warming", "rate_K_per_min": 1.0,
                 "point_every_K": 0.25, "readings_per_point": 1, "reading_interval_s": 0.0,
                 "return_rate_K_per_min": 5.0, "thermalise_s": 300.0, "stable_s": 30.0},
    "field_series": {"fields_T": "0, 3, 6", "upper_K": 115.0, "lower_K": 55.0, "rate_K_per_min": 1.0,
                     "point_every_K": 0.5, "readings_per_point": 1, "reading_interval_s": 0.0,
                     "return_rate_K_per_min": 5.0, "thermalise_s": 300.0, "field_rate_T_per_min": 0.5},
    "critical_current": {"temperatures_K": "60, 64, 67", "max_current_mA": 80.0, "step_mA": 2.0,
                         "stop_voltage_mV": 0.1, "thermalise_s": 600.0, "stable_s": 30.0},
    "differential_conductance": {"max_current_A": 6e-3, "bias_points": 151, "gap_window_mV": 80.0,
                                 "temperatures_K": "2, 40, 70", "stable_s": 30.0, "thermalise_s": 60.0},
    "aging": {"visits": 4, "interval_days": 1.0, "upper_K": 115.0, "lower_K": 60.0, "rate_K_per_min": 1.0,
              "point_every_K": 0.5, "readings_per_point": 1, "reading_interval_s": 0.0,
              "return_rate_K_per_min": 5.0, "standby_K": 150.0},
    "set_temperature": {"setpoint_K": 100.0, "rate_K_per_min": 5.0},
}


@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory):
    with simulated_window(tmp_path_factory.mktemp("data")) as main:
        yield main


def queue_from_form(qtbot, window, kind, **changes):
    """Choose ``kind`` in the form, enter the quick parameters and press Queue."""
    window.form.set_kind(kind)
    window.form.set_parameters({**QUICK.get(kind, {}), **changes})
    assert window.form.is_valid(), window.form.errors()
    with qtbot.waitSignal(window.form.queue_requested, timeout=5000):
        qtbot.mouseClick(window.form.queue_button, Qt.MouseButton.LeftButton)


def wait_until_idle(qtbot, window):
    qtbot.waitUntil(lambda: not window.controller.is_running(), timeout=RUN_TIMEOUT_MS)
    window.tick()


def newest_view(window) -> MeasurementView:
    return list(window.views.values())[-1]


@pytest.mark.parametrize("kind, overlay_keys", [
    ("rt_sweep", ("midpoint_K",)),
    ("field_series", ("hc2_0_whh_T",)),
    ("critical_current", ("ic_mA",)),
    ("differential_conductance", ("delta_meV",)),
    ("aging", ("tc_K",)),
    ("set_temperature", ()),
])
def test_each_measurement_queued_from_the_form_runs_and_its_view_gets_the_data_and_the_fits(
        qtbot, window, kind, overlay_keys):
    before = len(window.views)
    queue_from_form(qtbot, window, kind)
    wait_until_idle(qtbot, window)
    item = window.controller.items()[-1]
    assert item.state == "finished", item
    assert len(window.views) == before + 1
    view = newest_view(window)
    assert view.step.kind == kind and window.tabs.currentWidget() is view
    assert count_rows(view.step.data_path) > 0
    assert view.wait_for_fits(30.0)
    window.tick()
    view.refresh()
    overlays = view.overlays()
    for key in overlay_keys:
        assert key in overlays and overlays[key], (key, overlays)
    save_screenshot(window, f"window_{kind}")


def test_invalid_parameters_cannot_be_queued(qtbot, window):
    window.form.set_kind("rt_sweep")
    queued = len(window.controller.items())
    window.form.set_parameters({"upper_K": 400.0})
    assert not window.form.is_valid() and not window.form.queue_button.isEnabled()
    assert any("upper_K" in message and "400" in message for message in window.form.errors())
    qtbot.mouseClick(window.form.queue_button, Qt.MouseButton.LeftButton)
    assert len(window.controller.items()) == queued
    qtbot.wait(100)  # let the layout settle around the message, as a user sees it
    save_screenshot(window, "window_invalid_parameters")
    window.form.set_parameters({"upper_K": 110.0})
    assert window.form.is_valid()


def test_the_abort_button_stops_the_run_and_leaves_the_source_safe(qtbot, window):
    # thousands of pulses: the run cannot end by itself between the check below and the click;
    # reached quickly (10 K/min, short holds), so that little is simulated before the first pulse
    queue_from_form(qtbot, window, "critical_current", temperatures_K="40, 45, 50, 55, 60, 65", step_mA=0.01,
                    stop_voltage_mV=100.0, rate_K_per_min=10.0, thermalise_s=60.0, stable_s=10.0)
    view = None

    def measuring():
        nonlocal view
        window.tick()
        if not window.views:
            return False
        view = newest_view(window)
        # the view comes with the step's start, a moment before its data file is created
        return view.step.kind == "critical_current" and view.step.data_path.exists() \
            and count_rows(view.step.data_path) > 20

    qtbot.waitUntil(measuring, timeout=RUN_TIMEOUT_MS)
    assert window.queue_panel.abort_button.isEnabled()
    qtbot.mouseClick(window.queue_panel.abort_button, Qt.MouseButton.LeftButton)
    wait_until_idle(qtbot, window)
    assert window.controller.items()[-1].state == "aborted"
    state = window.lab.world.instrument_state[SOURCE]
    assert state["settings"]["output"] == 0 and state["run"] is None and state["armed"] is None
    status = window.status_panel.latest()
    qtbot.waitUntil(lambda: window.status_panel.latest() is not status and window.status_panel.latest().source_output_on
                    is False, timeout=10_000)
    window.controller.paused = False


def test_the_status_panel_shows_the_virtual_cryostats_values(qtbot, window):
    world = window.lab.world
    old = window.status_panel.latest()
    qtbot.waitUntil(lambda: window.status_panel.latest() is not None and window.status_panel.latest() is not old,
                    timeout=10_000)
    status = window.status_panel.latest()
    assert status.stage_K == pytest.approx(world.stage_temperature(), abs=0.5)
    assert status.sample_K == pytest.approx(world.sample_temperature(), abs=0.5)
    assert status.field_T == pytest.approx(world.field(), abs=0.01)
    assert status.source_output_on is False
    assert not math.isnan(status.setpoint_K)
    save_screenshot(window.status_panel, "window_status_panel")


def test_a_finished_run_opened_from_the_browser_is_replotted_with_its_fits(qtbot, window):
    window.browser.refresh()
    finished = [item for item in window.controller.items() if item.state == "finished"
                and item.spec.steps[0].kind == "rt_sweep"]
    assert finished
    live_view = next(v for v in window.views.values() if v.step.run_dir == finished[0].run_dir)
    live = live_view.overlays()
    window.tabs.setCurrentWidget(window.browser)
    opened = window.open_run(finished[0].run_dir)
    # the tab of the live run is replaced by one drawn from the data file alone
    assert opened and opened[0].step.kind == "rt_sweep" and opened[0] is not live_view
    assert live_view not in window.views.values()
    assert opened[0].wait_for_fits(30.0)
    window.tick()
    opened[0].refresh()
    assert opened[0].overlays()["midpoint_K"] == pytest.approx(live["midpoint_K"], abs=0.05)
    save_screenshot(window, "window_reopened_run")
    window.tabs.setCurrentWidget(window.browser)
    save_screenshot(window, "window_run_browser")


def test_a_plot_exports_as_png(window, tmp_path):
    view = newest_view(window)
    window.tabs.setCurrentWidget(view)
    path = window.export_current_view(tmp_path / "plot.png")
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_sample_tab_reads_the_simulated_sample(window):
    sample = window.sample_panel.sample_info()
    assert sample.name == window.lab.world.sample.name
    assert sample.pressure_GPa == pytest.approx(window.lab.world.sample.pressure_GPa)
    window.side_tabs.setCurrentWidget(window.sample_panel)
    save_screenshot(window, "window_sample_tab")
    window.side_tabs.setCurrentWidget(window.form)


def test_daclab_gui_sim_opens_the_window_on_the_chosen_sample_and_speed(qapp, tmp_path, monkeypatch):
    from qtpy.QtCore import QEventLoop, QTimer

    from daclab import cli

    monkeypatch.chdir(tmp_path)
    seen = {}
    # The command's main loop runs as a local loop: ending the application's own main loop would
    # leave the test session's QApplication closing, and later windows would not get the signals
    # their worker threads send.
    loop = QEventLoop()
    monkeypatch.setattr(type(qapp), "exec", lambda app: loop.exec())

    def look_and_close():
        shown = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
                 and w.lab.world is not None and w.lab.world.sample.name.startswith("LaH10+x")]
        seen.update(count=len(shown), speedup=shown[0].lab.world.clock.speedup, title=shown[0].windowTitle(),
                    root=shown[0].data_root)
        shown[0].close()
        loop.quit()

    QTimer.singleShot(1000, look_and_close)
    assert cli.main(["gui", "--sim", "lah10_aging", "--speedup", "3000"]) == 0
    assert seen["count"] == 1 and seen["speedup"] == 3000.0 and "lah10_aging" in seen["title"]
    assert str(seen["root"]) == "daclab-sim"  # rehearsals stay out of the real data folder


@pytest.mark.parametrize("arguments, message", [
    (["gui"], "--lab LAB_FILE"),
    (["gui", "--sim", "no_such_sample"], "no_such_sample"),
    (["gui", "--sim", "--speedup", "0"], "--speedup = 0.0"),
    (["gui", "--sim", "--start-K", "500"], "allowed range [1.5, 320] K"),
    (["gui", "--sim", "--lab", "simulated"], "exclude each other"),
])
def test_daclab_gui_refuses_bad_options_with_a_clear_line(arguments, message, capsys):
    from daclab import cli

    assert cli.main(arguments) == 2
    assert message in capsys.readouterr().err
