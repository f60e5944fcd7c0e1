"""The parameter form (daclab.gui.parameter_form) and the run browser (daclab.gui.run_browser).

The form is checked against the procedures' own Parameters and the sequence engine: what it
queues must be what sequence_from_dict makes of the same entries, what it refuses must be named.
The browser is checked against real run folders made by the sequence engine on the virtual
cryostat and against the run index's own rows."""

import json
import math
from pathlib import Path

import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog

from daclab.gui.parameter_form import ParameterForm
from daclab.gui.run_browser import COLUMNS, RunBrowser, analysis_records, run_steps
from daclab.run_index import RunIndex
from daclab.rundir import IDENTITY_NAME, INDEX_NAME, write_json_atomic
from daclab.sequence import run_sequence
from daclab.sequence_file import FROM_SEQUENCE, STEP_KINDS, load_sequence, sequence_from_dict
from gui_helpers import save_screenshot

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SAMPLE = {"name": "ceh9_cell1"}
# The names the chooser must show, as a physicist asked for them.
READABLE = {"rt_sweep": "R-T sweep", "field_series": "Field series (Hc2)",
            "critical_current": "Critical current (pulses)", "differential_conductance": "Differential conductance",
            "aging": "Aging", "wait": "Wait", "set_temperature": "Set temperature", "set_field": "Set field"}


@pytest.fixture
def form(qtbot):
    widget = ParameterForm()
    qtbot.addWidget(widget)
    widget.set_context("simulated", SAMPLE)
    widget.resize(380, 700)
    widget.show()
    return widget


def type_into(qtbot, form, name, text):
    """Replace the entry of ``name`` by typing ``text`` key by key, as a user does."""
    edit = form.input_widget(name)
    edit.clear()
    qtbot.keyClicks(edit, text)


def defaults_of(kind):
    """The step's own parameters with their procedure defaults (NaN ones are left out)."""
    cls = STEP_KINDS[kind]
    out = {}
    for name in cls.parameter_names():
        default = getattr(cls, name).default
        if name not in FROM_SEQUENCE and not (isinstance(default, float) and math.isnan(default)):
            out[name] = default
    return out


def one_step(kind, parameters, name):
    return sequence_from_dict({"name": name, "lab": "simulated", "sample": SAMPLE, "steps": [{kind: parameters}]})


# ---- the parameter form -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(STEP_KINDS))
def test_every_kind_shows_its_parameters_and_queues_its_defaults(form, kind):
    form.set_kind(kind)
    assert form.kind() == kind and form.kind_combo.currentText() == READABLE[kind]
    own = [name for name in STEP_KINDS[kind].parameter_names() if name not in FROM_SEQUENCE]
    for name in own:
        assert form.input_widget(name).isVisibleTo(form), name
    for name in FROM_SEQUENCE:  # the sample panel supplies these
        with pytest.raises(KeyError):
            form.input_widget(name)
    assert form.is_valid(), form.errors()
    assert form.queue_button.isEnabled()
    spec = form.sequence()
    assert [step.kind for step in spec.steps] == [kind]
    assert spec.steps[0].own_parameters() == defaults_of(kind)
    assert spec.lab_file == "simulated" and spec.sample.name == "ceh9_cell1"


def test_an_out_of_range_entry_is_marked_and_cannot_be_queued(form, qtbot):
    with qtbot.waitSignal(form.validity_changed, check_params_cb=lambda valid: valid is False):
        type_into(qtbot, form, "upper_K", "400")
    assert form.invalid_fields() == {"upper_K"}
    assert not form.is_valid() and not form.queue_button.isEnabled()
    message, = form.errors()
    assert "upper_K" in message and "400" in message and "[1.5, 320] K" in message
    edit = form.input_widget("upper_K")
    assert "border" in edit.styleSheet() and message in edit.toolTip()
    assert message in form.error_box.toPlainText() and form.error_box.isVisibleTo(form)
    with pytest.raises(Exception, match="upper_K"):
        form.sequence()
    qtbot.waitUntil(lambda: form.error_box.geometry().bottom() < form.queue_button.geometry().top())  # laid out
    path = save_screenshot(form, "parameter_form_invalid")
    assert path.stat().st_size > 0

    with qtbot.waitSignal(form.validity_changed, check_params_cb=lambda valid: valid is True):
        type_into(qtbot, form, "upper_K", "250")
    assert form.is_valid() and form.queue_button.isEnabled() and form.invalid_fields() == set()
    assert form.input_widget("upper_K").styleSheet() == "" and not form.error_box.isVisibleTo(form)


def test_a_window_upside_down_marks_both_ends(form, qtbot):
    type_into(qtbot, form, "upper_K", "100")
    type_into(qtbot, form, "lower_K", "150")
    assert form.invalid_fields() == {"upper_K", "lower_K"}
    assert not form.queue_button.isEnabled()
    assert any("lower_K" in message and "upper_K" in message for message in form.errors())
    type_into(qtbot, form, "lower_K", "60")
    assert form.is_valid() and form.invalid_fields() == set()


def test_entries_that_are_not_numbers(form, qtbot):
    type_into(qtbot, form, "readings_per_point", "three")
    assert form.invalid_fields() == {"readings_per_point"}
    assert "not a number" in form.errors()[0] and "'three'" in form.errors()[0]
    type_into(qtbot, form, "readings_per_point", "2.5")
    assert "not a whole number" in form.errors()[0]
    type_into(qtbot, form, "rate_K_per_min", "")  # no default to fall back on: refused
    assert form.invalid_fields() == {"readings_per_point", "rate_K_per_min"}
    type_into(qtbot, form, "readings_per_point", "5")
    type_into(qtbot, form, "rate_K_per_min", "0.5 K/min")  # the parameter's own unit may be typed
    assert form.is_valid(), form.errors()
    assert form.parameters()["readings_per_point"] == 5 and form.parameters()["rate_K_per_min"] == 0.5


def test_a_list_of_temperatures_is_checked_by_the_procedure(form, qtbot):
    form.set_kind("critical_current")
    type_into(qtbot, form, "temperatures_K", "60, sixty-five")
    assert form.invalid_fields() == {"temperatures_K"}
    assert "'sixty-five'" in form.errors()[0]
    type_into(qtbot, form, "temperatures_K", "60, 65")
    assert form.is_valid()
    form.set_parameters({"max_current_mA": 90.0, "sample_limit_mA": 50.0})  # above the sample's limit
    assert form.invalid_fields() == {"max_current_mA", "sample_limit_mA"}


def test_blank_means_the_paper_value_where_the_default_is_nan(form, qtbot):
    assert form.input_widget("excitation_A").text() == "" and form.is_valid()
    assert "excitation_A" not in form.parameters() and "field_T" not in form.parameters()
    type_into(qtbot, form, "excitation_A", "0.001")
    assert form.parameters()["excitation_A"] == 0.001
    type_into(qtbot, form, "excitation_A", "0.2")  # the parameter allows 0 to 0.105 A
    assert form.invalid_fields() == {"excitation_A"}
    type_into(qtbot, form, "excitation_A", "")
    type_into(qtbot, form, "field_T", "20")  # allowed by the parameter, above the lab's 9 T
    assert form.invalid_fields() == {"field_T"}
    assert "9" in form.errors()[0]
    type_into(qtbot, form, "field_T", "")
    assert form.is_valid()


def test_queue_sends_what_the_sequence_engine_makes_of_the_entries(form, qtbot):
    form.set_parameters({"upper_K": 130.0, "lower_K": 60.0, "direction": "cooling and warming"})
    form.input_widget("sweep_mode").setCurrentText("steps")
    with qtbot.waitSignal(form.queue_requested) as queued:
        qtbot.mouseClick(form.queue_button, Qt.MouseButton.LeftButton)
    spec = queued.args[0]
    entered = {**defaults_of("rt_sweep"), "upper_K": 130.0, "lower_K": 60.0, "direction": "cooling and warming",
               "sweep_mode": "steps"}
    assert spec == one_step("rt_sweep", entered, spec.name)
    assert "ceh9_cell1" in spec.name


def test_the_context_is_what_the_step_is_checked_against(form):
    form.set_context("simulated", {"name": "CeH9", "cell": "cell-2", "pressure_GPa": 105.0,
                                   "pressure_scale": "akahama2006", "synthesis_date": "2026-08-01"})
    spec = form.sequence("night 1")
    assert spec.name == "night 1" and spec.sample.cell == "cell-2" and spec.sample.pressure_GPa == 105.0
    form.set_context("simulated", {"name": "CeH9", "pressure_GPa": math.nan})  # unknown, not an error
    assert form.is_valid()
    form.set_context("simulated", {"name": "CeH9", "pressure_scale": "guesswork"})
    assert not form.is_valid() and "pressure_scale" in form.errors()[0]
    form.set_context("no_such_lab", SAMPLE)
    assert not form.is_valid() and "no_such_lab" in form.errors()[0]


def test_entries_are_kept_per_kind(form, qtbot):
    type_into(qtbot, form, "upper_K", "999")
    form.set_kind("wait")
    assert form.is_valid()
    form.kind_combo.setCurrentIndex(form.kind_combo.findData("rt_sweep"))  # as the user picks it
    assert form.kind() == "rt_sweep" and form.input_widget("upper_K").text() == "999"
    assert form.invalid_fields() == {"upper_K"}
    with pytest.raises(ValueError, match="no_such"):
        form.set_parameters({"no_such": 1})


def test_loading_a_sequence_file_queues_it(form, qtbot, monkeypatch):
    path = EXAMPLES / "ceh9_overnight.yaml"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), "*.yaml"))
    with qtbot.waitSignal(form.queue_requested) as queued:
        qtbot.mouseClick(form.load_button, Qt.MouseButton.LeftButton)
    assert queued.args[0] == load_sequence(path)
    assert queued.args[0].name == "CeH9 overnight" and "Queued" in form.file_box.toPlainText()


def test_a_broken_sequence_file_is_shown_and_not_queued(form, qtbot, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nlab: simulated\nsteps:\n  - wait: {minutes: 5}\n"
                      "  - rt_sweep: {upper_K: 400, lower_K: 60}\n", encoding="utf-8")
    with qtbot.assertNotEmitted(form.queue_requested):
        assert form.load_sequence_file(broken) is None
    shown = form.file_box.toPlainText()
    assert f"{broken}:5:" in shown and "upper_K" in shown and "400" in shown
    assert form.file_box.isVisibleTo(form)
    not_yaml = tmp_path / "not_yaml.yaml"
    not_yaml.write_text("name: [unclosed\nlab: simulated\n", encoding="utf-8")
    with qtbot.assertNotEmitted(form.queue_requested):
        form.load_sequence_file(not_yaml)
    assert f"{not_yaml}:" in form.file_box.toPlainText()


# ---- the run browser ----------------------------------------------------------------------------

RT_PARAMETERS = {"upper_K": 125.0, "lower_K": 65.0, "direction": "cooling", "rate_K_per_min": 2.0,
                 "point_every_K": 0.5, "readings_per_point": 1, "reading_interval_s": 0.0,
                 "return_rate_K_per_min": 10.0, "thermalise_s": 60.0, "stable_s": 10.0}
RUNS = {  # name: (started, sample, steps, stop at once)
    "quick rt": ("2026-10-01T20:00:00+00:00", {"name": "CeH9 A", "cell": "cell-1", "pressure_GPa": 100},
                 [{"rt_sweep": RT_PARAMETERS}], False),
    "just wait": ("2026-10-03T09:00:00+00:00", {"name": "LaH10 B", "cell": "cell-2"},
                  [{"wait": {"minutes": 1, "log_every_s": 30}}, {"set_temperature": {"setpoint_K": 90,
                                                                                     "rate_K_per_min": 0}}], False),
    "stopped": ("2026-10-02T12:00:00+00:00", {"name": "YH6 C"},
                [{"set_temperature": {"setpoint_K": 90, "rate_K_per_min": 1}}, {"wait": {"minutes": 1}}], True),
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """Three real runs on the virtual cryostat, dated on three days (then the index rebuilt)."""
    root = tmp_path_factory.mktemp("data")
    folders = {}
    for name, (started, sample, steps, stop) in RUNS.items():
        spec = sequence_from_dict({"name": name, "lab": "simulated", "sample": sample, "steps": steps})
        outcome = run_sequence(spec, out=root, simulation={"sample": "ceh9_cell1", "seed": 1, "start_K": 125.0},
                               report=False, should_stop=lambda stop=stop: stop)
        assert outcome.status == ("aborted" if stop else "finished"), outcome.error
        identity = json.loads((outcome.run_dir / IDENTITY_NAME).read_text())
        write_json_atomic(outcome.run_dir / IDENTITY_NAME, {**identity, "started": started})
        folders[name] = outcome.run_dir
    with RunIndex.at(root) as index:
        index.rebuild(root)
    return root, folders


@pytest.fixture
def browser(qtbot, data_root):
    widget = RunBrowser()
    qtbot.addWidget(widget)
    widget.resize(1000, 400)
    widget.show()
    widget.set_root(data_root[0])
    return widget


def column(browser, title):
    index = COLUMNS.index(title)
    return [browser.table.item(row, index).text() for row in range(browser.table.rowCount())]


def test_the_browser_lists_the_runs_newest_first(browser, data_root):
    root, folders = data_root
    assert browser.shown_runs() == [folders["just wait"], folders["stopped"], folders["quick rt"]]
    assert column(browser, "Sample") == ["LaH10 B", "YH6 C", "CeH9 A"]
    assert column(browser, "Cell") == ["cell-2", "", "cell-1"]
    assert column(browser, "Status") == ["finished", "aborted", "finished"]
    assert column(browser, "Sequence") == ["just wait", "stopped", "quick rt"]
    assert column(browser, "Pressure")[2] == "100 GPa (akahama2006)"
    assert column(browser, "Steps")[0].startswith("2:") and "R-T" in column(browser, "Steps")[2]
    with RunIndex.at(root, create=False) as index:
        tc = next(row["tc_K"] for row in index.runs(sample="CeH9 A"))
    assert 60 < tc < 110  # the simulated CeH9 cell goes superconducting in the window swept
    assert column(browser, "Results")[2] == f"Tc {tc:.1f} K"
    assert "3 runs" in browser.message_text()
    save_screenshot(browser, "run_browser")


def test_filters_narrow_the_list(browser, data_root, qtbot):
    _, folders = data_root
    qtbot.keyClicks(browser.filter_edit, "lah10")
    assert browser.shown_runs() == [folders["just wait"]]
    assert "2 hidden" in browser.message_text()
    browser.filter_edit.clear()
    browser.kind_filter.setCurrentIndex(browser.kind_filter.findData("rt_sweep"))
    assert browser.shown_runs() == [folders["quick rt"]]
    browser.kind_filter.setCurrentIndex(0)
    browser.status_filter.setCurrentIndex(browser.status_filter.findData("aborted"))
    assert browser.shown_runs() == [folders["stopped"]]
    browser.status_filter.setCurrentIndex(0)
    qtbot.keyClicks(browser.filter_edit, "cell-1 CeH9")  # every word must match
    assert browser.shown_runs() == [folders["quick rt"]]


def test_double_click_and_open_ask_for_the_run_folder(browser, data_root, qtbot):
    _, folders = data_root
    assert browser.selected_run() is None and not browser.open_button.isEnabled()
    item = browser.table.item(2, 0)
    point = browser.table.visualItemRect(item).center()
    with qtbot.waitSignal(browser.open_requested) as opened:
        qtbot.mouseClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=point)
        qtbot.mouseDClick(browser.table.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert opened.args[0] == folders["quick rt"]
    assert browser.selected_run() == folders["quick rt"] and browser.open_button.isEnabled()
    browser.refresh()  # the selection survives a refresh
    assert browser.selected_run() == folders["quick rt"]
    with qtbot.waitSignal(browser.open_requested) as opened:
        qtbot.mouseClick(browser.open_button, Qt.MouseButton.LeftButton)
    assert opened.args[0] == folders["quick rt"]


def test_run_steps_gives_each_step_and_its_data(data_root, tmp_path):
    _, folders = data_root
    step, = run_steps(folders["quick rt"])
    assert (step.index, step.kind, step.sample_name) == (1, "rt_sweep", "CeH9 A")
    assert step.parameters == RT_PARAMETERS
    assert step.data_path == folders["quick rt"] / "01_rt_sweep.csv" and step.data_path.is_file()
    assert step.run_dir == folders["quick rt"]
    assert [(s.index, s.kind) for s in run_steps(folders["just wait"])] == [(1, "wait"), (2, "set_temperature")]
    stopped = run_steps(folders["stopped"])  # the second step was never reached: no data, not listed
    assert [s.kind for s in stopped] == ["set_temperature"] and stopped[0].data_path.is_file()
    records = analysis_records(folders["quick rt"])
    assert any(record.get("kind") == "tc" for record in records[1])

    # a run.json without its step list: the steps come from sequence.yaml
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folders["quick rt"].iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    identity = json.loads((copy / IDENTITY_NAME).read_text())
    del identity["steps"]
    write_json_atomic(copy / IDENTITY_NAME, identity)
    again, = run_steps(copy)
    assert (again.kind, again.parameters, again.data_path) == ("rt_sweep", RT_PARAMETERS, copy / "01_rt_sweep.csv")
    with pytest.raises(FileNotFoundError, match="run.json"):
        run_steps(tmp_path)


def test_a_missing_or_damaged_index(qtbot, tmp_path):
    widget = RunBrowser(data_root=tmp_path)
    qtbot.addWidget(widget)
    assert widget.table.rowCount() == 0 and "No runs yet" in widget.message_text()
    assert not (tmp_path / INDEX_NAME).exists()  # looking does not make an index
    (tmp_path / INDEX_NAME).write_bytes(b"this is not a database" * 100)
    widget.refresh()
    assert widget.table.rowCount() == 0
    assert "cannot be read" in widget.message_text() and "--rebuild" in widget.message_text()

