"""The form's "Pause and retake the segment when..." group (daclab.gui.parameter_form): what it
queues must be what the sequence loader makes of a ``suspend:`` mapping, what it refuses must be
refused by the loader's own words, and a measurement queued from it must wait out a lost
instrument instead of failing."""

from pathlib import Path

import pytest
import yaml
from qtpy.QtCore import Qt

from daclab.connection import DEFAULT_POLICY
from daclab.gui.parameter_form import SUSPEND_CONDITIONS, ParameterForm
from daclab.lab import lab_path
from daclab.rundir import Journal
from daclab.sequence_file import SequenceError, sequence_from_dict
from daclab.sim.faults import Fault
from daclab.suspenders import InstrumentLost, MagnetQuench, TemperatureBand
from gui_helpers import save_screenshot, simulated_window

SAMPLE = {"name": "ceh9_cell1"}
LEFT_COLUMN = (413, 455)  # the Measure tab of the window at 1366x768
# A short cooling sweep from 120 K: about 25 min of lab time, a few seconds on the instant clock.
SHORT_SWEEP = {"upper_K": 115.0, "lower_K": 95.0, "direction": "cooling", "rate_K_per_min": 1.0,
               "point_every_K": 0.5, "readings_per_point": 1, "reading_interval_s": 0.0,
               "return_rate_K_per_min": 5.0, "thermalise_s": 300.0, "stable_s": 30.0}


@pytest.fixture
def form(qtbot):
    widget = ParameterForm()
    qtbot.addWidget(widget)
    widget.set_context("simulated", SAMPLE)
    widget.resize(*LEFT_COLUMN)
    widget.show()
    return widget


def condition_on(qtbot, form, kind, **options):
    """Open the group, check ``kind`` and type its options, as a user does."""
    group = form.suspend_group
    if not group.is_open():
        qtbot.mouseClick(group.toggle, Qt.MouseButton.LeftButton)
    condition = group.condition(kind)
    if not condition.check.isChecked():
        condition.check.click()
    for option, text in options.items():
        entry = condition.entries[option]
        entry.clear()
        qtbot.keyClicks(entry, text)


def queued(qtbot, form):
    with qtbot.waitSignal(form.queue_requested, timeout=2000) as signal:
        qtbot.mouseClick(form.queue_button, Qt.MouseButton.LeftButton)
    return signal.args[0]


def test_closed_by_default_and_nothing_pauses_unless_checked(form, qtbot):
    group = form.suspend_group
    assert not group.is_open() and group.toggle.text() == "Pause and retake the segment when..."
    save_screenshot(form, "parameter_form_suspend_closed")
    assert queued(qtbot, form).suspenders == []
    qtbot.mouseClick(group.toggle, Qt.MouseButton.LeftButton)
    assert group.is_open()
    for kind, text in SUSPEND_CONDITIONS.items():
        check = group.condition(kind).check
        assert check.isVisible() and check.text() == text and not check.isChecked()
        assert "measures the interrupted segment again" in check.toolTip()
    assert queued(qtbot, form).suspenders == []


def test_an_instrument_that_stops_answering_is_waited_for(form, qtbot):
    timeout = form.suspend_group.condition("instrument").entries["timeout_min"]
    assert not timeout.isEnabled() and timeout.text() == "20"
    condition_on(qtbot, form, "instrument", timeout_min="15")
    assert timeout.isEnabled()
    lost, = queued(qtbot, form).suspenders
    assert lost == InstrumentLost(timeout_min=15.0)
    form.suspend_group.set_open(False)  # closed, the header still says a condition is on
    assert form.suspend_group.toggle.text().endswith("(1 on)")
    assert form.sequence().suspenders == [InstrumentLost(timeout_min=15.0)]


def test_the_temperature_band_has_the_edges_typed(form, qtbot):
    condition_on(qtbot, form, "temperature", below_K="1.6", above_K="320 K", timeout_min="45")
    band, = queued(qtbot, form).suspenders
    assert isinstance(band, TemperatureBand)
    assert (band.below_K, band.above_K, band.timeout_min) == (1.6, 320.0, 45.0)
    condition_on(qtbot, form, "temperature", below_K="")  # blank: open below, as a file leaving it out
    band, = form.sequence().suspenders
    from_file = {"lab": "simulated", "suspend": {"temperature": {"above_K": 320, "timeout_min": 45}},
                 "steps": [{"wait": {}}]}
    assert band == sequence_from_dict(from_file).suspenders[0]
    assert band.below_K == 0.0


def test_a_band_upside_down_is_refused_naming_its_edges_and_nothing_is_queued(form, qtbot):
    condition_on(qtbot, form, "temperature", below_K="300", above_K="10")
    assert not form.is_valid() and not form.queue_button.isEnabled()
    message, = form.errors()
    assert message.startswith("suspend.temperature") and "below_K = 300 K" in message and "above_K = 10 K" in message
    entries = form.suspend_group.condition("temperature").entries
    for edge in ("below_K", "above_K"):
        assert entries[edge].property("invalid") and message in entries[edge].toolTip()
    assert not entries["timeout_min"].property("invalid")
    assert message in form.error_box.toPlainText() and form.error_box.isVisibleTo(form)
    qtbot.waitUntil(lambda: form.error_box.geometry().bottom() < form.queue_button.geometry().top())  # laid out
    save_screenshot(form, "parameter_form_suspend_refused")
    with qtbot.assertNotEmitted(form.queue_requested):
        qtbot.mouseClick(form.queue_button, Qt.MouseButton.LeftButton)
    with pytest.raises(SequenceError, match="below_K"):
        form.sequence()
    # fixed: marks gone, queued
    condition_on(qtbot, form, "temperature", below_K="5")
    assert form.is_valid() and not entries["below_K"].property("invalid")


def test_a_bad_time_out_gets_the_loaders_message_even_beside_a_bad_parameter(form, qtbot):
    condition_on(qtbot, form, "instrument", timeout_min="-5")
    assert form.errors() == ["suspend.instrument.timeout_min = -5 min is outside the allowed range [0, 10080] min"]
    form.set_parameters({"upper_K": 400.0})  # a refused parameter does not hide the condition's problem
    assert len(form.errors()) == 2 and any("upper_K" in message for message in form.errors())
    condition_on(qtbot, form, "instrument", timeout_min="soon")
    assert "suspend.instrument.timeout_min = 'soon' must be a number" in form.errors()
    form.suspend_group.set_open(False)
    form.validate()
    assert form.suspend_group.is_open()  # a problem in the group shows itself


def test_the_conditions_stay_for_every_kind_and_every_queued_item(form, qtbot):
    condition_on(qtbot, form, "instrument", timeout_min="15")
    first = queued(qtbot, form)
    form.set_kind("critical_current")
    form.set_kind("wait")
    assert queued(qtbot, form).suspenders == first.suspenders == [InstrumentLost(timeout_min=15.0)]
    form.set_kind("rt_sweep")
    assert queued(qtbot, form).suspenders == first.suspenders


def test_the_magnet_quench_is_offered_only_on_a_lab_with_a_magnet(form, qtbot, tmp_path):
    condition_on(qtbot, form, "magnet_quench", timeout_min="30")
    assert form.sequence().suspenders == [MagnetQuench(timeout_min=30.0)]
    data = yaml.safe_load(lab_path("simulated").read_text())
    del data["roles"]["magnet"]
    no_magnet = tmp_path / "no_magnet.yaml"
    no_magnet.write_text(yaml.safe_dump(data))
    with pytest.raises(SequenceError, match="magnet"):  # the loader refuses it there
        sequence_from_dict({"lab": str(no_magnet), "suspend": {"magnet_quench": {}}, "steps": [{"wait": {}}]})
    form.set_context(str(no_magnet), SAMPLE)
    assert not form.suspend_group.condition("magnet_quench").check.isVisible()
    assert form.suspend_group.condition("instrument").check.isVisible()
    assert form.is_valid(), form.errors()
    assert form.sequence().suspenders == []
    form.set_context("simulated", SAMPLE)
    assert form.sequence().suspenders == [MagnetQuench(timeout_min=30.0)]


def test_a_sweep_queued_from_the_window_waits_for_a_lost_thermometer_and_finishes(qtbot, tmp_path):
    with simulated_window(tmp_path / "data") as window:
        form = window.form
        form.set_kind("rt_sweep")
        form.set_parameters(SHORT_SWEEP)
        condition_on(qtbot, form, "instrument", timeout_min="20")
        qtbot.waitUntil(lambda: form.suspend_group.body.isVisible())
        save_screenshot(window, "window_form_suspend")
        save_screenshot(form, "parameter_form_suspend")
        world = window.lab.world
        # the controller drops off mid-sweep (after going to the top and thermalising) for many
        # more messages than one exchange's retries
        outage = 10 * DEFAULT_POLICY.attempts
        world.faults.add(Fault("lakeshore350", "disconnect", after_s=world.elapsed_s + 900.0, count=1, lasts=outage))
        qtbot.mouseClick(form.queue_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(window.controller.items()) and not window.controller.is_running(),
                        timeout=60_000)
        item, = window.controller.items()
        assert item.state == "finished", item.error
        assert any(device == "lakeshore350" for device, _, _ in world.faults.injected)
        journal = list(Journal(Path(item.run_dir)).events())
        suspends = [event for event in journal if event["event"] == "suspend"]
        assert len(suspends) == 1 and "Lake Shore Model 350" in suspends[0]["reason"]
        assert f"failed {DEFAULT_POLICY.attempts} times" in suspends[0]["reason"]
        assert [event["event"] for event in journal].count("resume") == 1
        assert any(event["event"] == "segment discard" for event in journal)
