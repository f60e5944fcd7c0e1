"""The R(T) views and the action view, fed with data the procedures measured on the simulated lab.

Each run writes its data file with daclab.runner; the view is fed the file's rows in batches
(view_base.load_rows, the re-plot path, with a refresh after each batch as the window's timer
would). What the views draw is checked against the batch analysis of the same rows and against
the simulator's truth; every view leaves a screenshot at about 1000 x 620 (the window's
plotting area on a 1366 x 768 screen) under artifacts/screenshots/.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest

from daclab import runner
from daclab.analysis.aging import fit_aging
from daclab.analysis.hc2_fit import fit_hc2
from daclab.analysis.transitions import CRITERIA, transition_temperatures
from daclab.gui.events import StepInfo
from daclab.gui.view_base import load_rows, view_for
from daclab.gui.views_rt import ActionView, AgingView, FieldSeriesView, RTSweepView
from daclab.lab import Lab
from daclab.procedures.actions import SetField, SetTemperature
from daclab.procedures.aging import DAYS, VISIT, Aging
from daclab.procedures.field_series import FieldSeries
from daclab.procedures.rt_sweep import DIRECTION, ELAPSED, FIELD, RESISTANCE, SETPOINT, TEMPERATURE, RTSweep
from gui_helpers import save_screenshot

VIEW_SIZE = (1000, 620)
RATE_K_PER_MIN = 1.0
LACE = "lace_h10_cell2"  # (La,Ce)H9-10, Tc 172 K


@dataclasses.dataclass
class Run:
    path: Path
    analysis: list[dict]
    truth: dict[str, float]

    def rows(self) -> list[dict]:
        return load_rows(self.path)


def measure(procedure, path: Path) -> list[dict]:
    outcome = runner.run(procedure, path)
    assert outcome.status == "finished", outcome.error
    return outcome.analysis


def cooling_shift_K(lab: Lab) -> float:
    """How far below the sample's Tc a cooling ramp reads it: r (tau - 5 s), tau the cell's lag
    (the world's 10 s steps shorten it by half a step; see the procedures' tests)."""
    return RATE_K_PER_MIN / 60.0 * (lab.world.stage.parameters.sample_lag_s - 5.0)


@pytest.fixture(scope="module")
def rt_run(tmp_path_factory) -> Run:
    path = tmp_path_factory.mktemp("rt") / "rt.csv"
    with Lab.open("simulated", sample=LACE, start_K=190.0, seed=1) as lab:
        analysis = measure(RTSweep(lab=lab, resistance_path="bridge370", direction="cooling and warming",
                                   upper_K=190.0, lower_K=150.0, rate_K_per_min=RATE_K_PER_MIN, point_every_K=0.5,
                                   readings_per_point=1), path)
        truth = {"tc_K": lab.world.sample.tc_K, "shift_K": cooling_shift_K(lab)}
    return Run(path, analysis, truth)


@pytest.fixture(scope="module")
def field_run(tmp_path_factory) -> Run:
    path = tmp_path_factory.mktemp("fs") / "fs.csv"
    with Lab.open("simulated", sample=LACE, start_K=180.0, seed=1) as lab:
        analysis = measure(FieldSeries(lab=lab, resistance_path="bridge370", fields_T="0, 3, 6, 9", direction="cooling",
                                       upper_K=188.0, lower_K=155.0, rate_K_per_min=RATE_K_PER_MIN, point_every_K=0.5,
                                       readings_per_point=1, return_rate_K_per_min=5.0, thermalise_s=900.0,
                                       field_rate_T_per_min=0.5), path)
        truth = {"tc_K": lab.world.sample.tc_K, "hc2_0_T": lab.world.sample.effective_hc2_0(),
                 "shift_K": cooling_shift_K(lab)}
    return Run(path, analysis, truth)


@pytest.fixture(scope="module")
def aging_run(tmp_path_factory) -> Run:
    path = tmp_path_factory.mktemp("aging") / "aging.csv"
    with Lab.open("simulated", sample="lah10_aging", start_K=250.0, seed=1) as lab:
        analysis = measure(Aging(lab=lab, resistance_path="bridge370", visits=6, interval_days=2.5, upper_K=180.0,
                                 lower_K=60.0, rate_K_per_min=RATE_K_PER_MIN, point_every_K=2.0, readings_per_point=1,
                                 return_rate_K_per_min=5.0, standby_K=250.0), path)
        sample = lab.world.sample
        truth = {"tau_days": sample.aging_time_constant_days, "tc_final_K": sample.tc_final_K,
                 "shift_K": cooling_shift_K(lab)}
    return Run(path, analysis, truth)


@pytest.fixture(scope="module")
def action_runs(tmp_path_factory) -> dict[str, Run]:
    folder = tmp_path_factory.mktemp("actions")
    with Lab.open("simulated", start_K=150.0, seed=3) as lab:
        lab.role("temperature").set_setpoint(150.0)
        measure(SetTemperature(lab=lab, setpoint_K=160.0, rate_K_per_min=1.0, log_every_s=30.0, stable_s=120.0),
                folder / "set_temperature.csv")
        measure(SetField(lab=lab, field_T=2.0, rate_T_per_min=0.5, log_every_s=15.0), folder / "set_field.csv")
    return {kind: Run(folder / f"{kind}.csv", [], {}) for kind in ("set_temperature", "set_field")}


@pytest.fixture
def open_view(qtbot):
    """Makes the view of a step kind for a data file, shown at VIEW_SIZE; stops its fits after."""
    views = []

    def make(kind: str, path: Path, parameters: dict | None = None):
        view = view_for(StepInfo(path.parent, 1, kind, parameters or {}, path, "test cell"))
        qtbot.addWidget(view)
        view.resize(*VIEW_SIZE)
        view.show()
        views.append(view)
        return view

    yield make
    for view in views:
        view.close_fits()


def replay(view, rows: list[dict], batch: int = 40) -> None:
    """Rows in batches with a refresh after each (as the window's timer would), then the end."""
    for start in range(0, len(rows), batch):
        view.add_rows(rows[start:start + batch])
        view.refresh()
    view.end_step("finished")
    assert view.wait_for_fits(10.0)
    view.refresh()


def column(rows: list[dict], name: str) -> np.ndarray:
    return np.array([row[name] for row in rows], dtype=float)


def batch_transition(rows: list[dict]):
    return transition_temperatures(column(rows, TEMPERATURE), column(rows, RESISTANCE))


def marker_positions(plot: pg.PlotItem) -> np.ndarray:
    """x of every marker drawn on ``plot`` (scatter items with data; legend samples have none)."""
    xs = [item.getData()[0] for item in plot.items if isinstance(item, pg.ScatterPlotItem)]
    return np.sort(np.concatenate([x for x in xs if len(x)])) if xs else np.array([])


# ---- R(T) sweep ---------------------------------------------------------------------------------


def test_a_sweep_view_draws_each_leg_and_the_criteria_of_the_batch_analysis(rt_run, open_view):
    rows = rt_run.rows()
    view = open_view("rt_sweep", rt_run.path)
    assert isinstance(view, RTSweepView)
    replay(view, rows)

    legs = {direction: [row for row in rows if row[DIRECTION] == direction] for direction in ("cooling", "warming")}
    assert set(view.curves) == set(legs)
    for direction, leg_rows in legs.items():
        curve = view.curves[direction]
        np.testing.assert_array_equal(curve.x, column(leg_rows, TEMPERATURE))
        np.testing.assert_array_equal(curve.y, column(leg_rows, RESISTANCE))

    overlays = view.overlays()
    batch = {direction: batch_transition(leg_rows).criteria() for direction, leg_rows in legs.items()}
    for direction in legs:
        drawn = overlays["legs"][direction]
        assert drawn == pytest.approx({f"{name}_K": batch[direction][name] for name in CRITERIA}, rel=1e-12)
    assert overlays["leg"] == "warming" and overlays["midpoint_K"] == overlays["legs"]["warming"]["midpoint_K"]
    # every criterion of both legs is marked on the plot, and written below it
    expected = np.sort([kelvin for criteria in batch.values() for kelvin in criteria.values()])
    np.testing.assert_allclose(marker_positions(view.plot), expected, rtol=1e-12)
    assert f"{batch['cooling']['midpoint']:.2f} K" in view.text.text

    # The simulator: cooling reads Tc low and warming high by r (tau - 5 s) each; the mean of
    # the pair sits at the sample's Tc to 0.5 K (R_n(T) curving under the 50 % line).
    shift = rt_run.truth["shift_K"]
    assert overlays["legs"]["cooling"]["midpoint_K"] == pytest.approx(rt_run.truth["tc_K"] - shift, abs=0.5)
    assert overlays["pair_mean_K"]["midpoint"] == pytest.approx(rt_run.truth["tc_K"], abs=0.5)
    assert overlays["pair_lag_K"]["midpoint"] == pytest.approx(2 * shift, abs=0.3)
    save_screenshot(view, "views_rt_sweep")


def test_criteria_appear_as_the_cooling_sweep_crosses_them(rt_run, open_view):
    cooling = [row for row in rt_run.rows() if row[DIRECTION] == "cooling"]
    final = batch_transition(cooling).criteria()
    view = open_view("rt_sweep", rt_run.path)
    first_seen: dict[str, tuple[int, float]] = {}  # criterion -> (rows fed, lowest temperature fed)
    for count in range(1, len(cooling) + 1):  # a point per refresh, as while measuring
        view.add_rows(cooling[count - 1:count])
        assert view.wait_for_fits(5.0)
        view.refresh()
        for name in CRITERIA:
            if f"{name}_K" in view.overlays() and name not in first_seen:
                first_seen[name] = (count, cooling[count - 1][TEMPERATURE])
    assert set(first_seen) == set(CRITERIA)
    # found in the order the sweep crosses them: onset, then midpoint, then zero resistance ...
    assert first_seen["onset"][0] < first_seen["midpoint"][0] < first_seen["zero"][0]
    for name in ("onset", "midpoint", "zero"):
        lowest_K = first_seen[name][1]
        # ... only once crossed, and within two points (1 K) of crossing
        assert final[name] - 1.0 < lowest_K < final[name], name
    view.end_step("finished")
    assert view.wait_for_fits(5.0)
    view.refresh()
    assert {key: view.overlays()[key] for key in ("onset_K", "midpoint_K", "zero_K", "intersection_K")} == (
        pytest.approx({f"{name}_K": value for name, value in final.items()}, rel=1e-12))


# ---- field series ---------------------------------------------------------------------------------


def test_a_field_series_view_fits_hc2_like_the_batch_fit_and_near_the_presets_truth(field_run, open_view):
    rows = field_run.rows()
    view = open_view("field_series", field_run.path, {"fields_T": "0, 3, 6, 9", "hc2_criterion": "midpoint"})
    assert isinstance(view, FieldSeriesView)

    # Three fields measured, the third still open: only the first two are in Tc(H) ...
    first_three = [row for row in rows if row[FIELD] < 7.0]
    view.add_rows(first_three)
    assert view.wait_for_fits(5.0)
    view.refresh()
    assert view.overlays()["fields_T"] == pytest.approx([0.0, 3.0], abs=1e-3)
    assert "hc2_0_whh_T" not in view.overlays()
    # ... until the procedure reports the third curve finished
    third, = [record for record in field_run.analysis if record["kind"] == "tc" and record["curve"] == 3]
    view.add_analysis(third)
    assert view.wait_for_fits(5.0)
    view.refresh()
    assert view.overlays()["fields_T"] == pytest.approx([0.0, 3.0, 6.0], abs=1e-3)
    assert "hc2_0_whh_T" in view.overlays() and "hc2_0_gl_T" in view.overlays()

    replay(view, rows[len(first_three):])
    by_field = {field: [row for row in rows if abs(row[FIELD] - field) < 0.01] for field in (0.0, 3.0, 6.0, 9.0)}
    assert set(view.curves) == {"0 T", "3 T", "6 T", "9 T"}
    for field, field_rows in by_field.items():
        np.testing.assert_array_equal(view.curves[f"{field:g} T"].y, column(field_rows, RESISTANCE))

    overlays = view.overlays()
    batch_tc = np.array([batch_transition(field_rows).midpoint_K for field_rows in by_field.values()])
    batch_field = np.array([column(field_rows, FIELD).mean() for field_rows in by_field.values()])
    assert overlays["tc_K"] == pytest.approx(batch_tc, rel=1e-12)
    assert overlays["fields_T"] == pytest.approx(batch_field, rel=1e-12)
    for model in ("whh", "gl"):
        batch = fit_hc2(batch_tc, batch_field, model=model)
        assert overlays[f"hc2_0_{model}_T"] == pytest.approx(batch.hc2_0_T.value, abs=batch.hc2_0_T.stderr)
        assert overlays[f"tc_{model}_K"] == pytest.approx(batch.tc_K.value, abs=batch.tc_K.stderr)
        # the fitted line is drawn from 0 K, where it reaches Hc2(0), to Tc, where it vanishes
        x, y = view.fit_lines[model].xData, view.fit_lines[model].yData
        assert x[0] == 0.0 and x[-1] == pytest.approx(overlays[f"tc_{model}_K"])
        assert y[0] == pytest.approx(overlays[f"hc2_0_{model}_T"], rel=1e-6) and y[-1] == pytest.approx(0.0, abs=1e-6)
        # the legend says it: "... = 207.47 ± 0.11 T (WHH)"
        legend_text = view.hc2_plot.legend.getLabel(view.fit_lines[model]).text
        value, stderr = (float(number) for number in re.search(r"= ([\d.]+) ± ([\d.]+) T", legend_text).groups())
        assert legend_text.endswith(f"({model.upper()})")
        assert value == pytest.approx(batch.hc2_0_T.value, abs=stderr) and stderr == pytest.approx(batch.hc2_0_T.stderr,
                                                                                                   rel=0.1)
    np.testing.assert_allclose(view.points.getData()[0], batch_tc)

    # The preset: every Tc read r (tau - 5 s) low by the cooling ramp, the WHH line's Tc too (0.25 K:
    # midpoints from 0.5 K points). Its Hc2(0) is extrapolated 24-fold from 9 T, through Tc(H)
    # read on transitions the field broadens by 3 %: within 10 % of the preset's.
    assert overlays["tc_whh_K"] == pytest.approx(field_run.truth["tc_K"] - field_run.truth["shift_K"], abs=0.25)
    assert overlays["hc2_0_whh_T"] == pytest.approx(field_run.truth["hc2_0_T"], rel=0.1)
    save_screenshot(view, "views_rt_field_series")


# ---- aging ----------------------------------------------------------------------------------------


def visit_points(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(days, Tc) per visit from the rows alone: the midpoint of the visit's sweep, dated by the
    reading nearest to it."""
    days, tc = [], []
    for visit in sorted({row[VISIT] for row in rows}):
        visit_rows = [row for row in rows if row[VISIT] == visit]
        kelvin = batch_transition(visit_rows).midpoint_K
        nearest = np.argmin(np.abs(column(visit_rows, TEMPERATURE) - kelvin))
        days.append(visit_rows[nearest][DAYS])
        tc.append(kelvin)
    return np.array(days), np.array(tc)


def test_an_aging_view_follows_tc_over_the_days_like_the_batch_fit(aging_run, open_view):
    rows = aging_run.rows()
    view = open_view("aging", aging_run.path, {"visits": 6, "aging_criterion": "midpoint"})
    assert isinstance(view, AgingView)
    replay(view, rows)

    assert len(view.curves) == 6
    np.testing.assert_array_equal(np.concatenate([curve.x for curve in view.curves.values()]),
                                  column(rows, TEMPERATURE))
    days, tc = visit_points(rows)
    overlays = view.overlays()
    assert overlays["days"] == pytest.approx(days, rel=1e-12) and overlays["tc_K"] == pytest.approx(tc, rel=1e-12)
    batch = fit_aging(days, tc)
    for name in ("tc0_K", "tc_final_K", "tau_days"):
        estimate = getattr(batch, name)
        assert overlays[name] == pytest.approx(estimate.value, abs=estimate.stderr), name
    assert overlays["initial_rate_K_per_day"] == pytest.approx(
        -(batch.tc0_K.value - batch.tc_final_K.value) / batch.tau_days.value, rel=1e-6)
    x, y = view.fit_line.xData, view.fit_line.yData
    np.testing.assert_allclose(y, batch.predict(x), rtol=1e-6)

    # The preset relaxes with tau = 6 days towards 78 K, read r (tau_cell - 5 s) low on cooling;
    # six visits over 12.5 days fix tau to a few per cent.
    assert overlays["tau_days"] == pytest.approx(aging_run.truth["tau_days"], rel=0.05)
    assert overlays["tc_final_K"] == pytest.approx(aging_run.truth["tc_final_K"] - aging_run.truth["shift_K"], abs=1.0)
    save_screenshot(view, "views_rt_aging")


def test_a_long_aging_series_keeps_a_short_legend_from_first_to_last_visit(aging_run, open_view):
    rows = aging_run.rows()
    # 24 visits: the six measured ones, four times over on later days
    repeated = [{**row, VISIT: row[VISIT] + 6 * copy, DAYS: row[DAYS] + 15.0 * copy} for copy in range(4) for row in rows]
    view = open_view("aging", aging_run.path, {"visits": 24})
    replay(view, repeated, batch=200)
    assert len(view.curves) == 24
    labels = [label.text for _, label in view.family_legend.items]
    visits = [text for text in labels if text.startswith("visit")]
    assert len(visits) <= 8 and visits[0].startswith("visit 1 ") and visits[-1].startswith("visit 24 ")
    assert len(view.overlays()["tc_K"]) == 24
    save_screenshot(view, "views_rt_aging_24_visits")


# ---- actions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["set_temperature", "set_field"])
def test_an_action_view_draws_temperature_setpoint_and_field_against_time(action_runs, open_view, kind):
    run = action_runs[kind]
    rows = run.rows()
    view = open_view(kind, run.path)
    assert isinstance(view, ActionView)
    replay(view, rows, batch=5)
    minutes = column(rows, ELAPSED) / 60.0
    for name, key in (("temperature", TEMPERATURE), ("setpoint", SETPOINT), ("field", FIELD)):
        np.testing.assert_array_equal(view.curves[name].x, minutes)
        np.testing.assert_array_equal(view.curves[name].y, column(rows, key))
    overlays = view.overlays()
    assert overlays == pytest.approx({"temperature_K": rows[-1][TEMPERATURE], "setpoint_K": rows[-1][SETPOINT],
                                      "field_T": rows[-1][FIELD], "elapsed_min": minutes[-1]})
    # the step ended where it was asked to: 160 K held, or 2 T reached
    if kind == "set_temperature":
        assert overlays["temperature_K"] == pytest.approx(160.0, abs=0.1)
    else:
        assert overlays["field_T"] == pytest.approx(2.0, abs=1e-3) and column(rows, FIELD)[0] == pytest.approx(0.0)
    save_screenshot(view, f"views_rt_{kind}")


def test_a_wait_without_a_field_reading_says_so(open_view, tmp_path):
    view = open_view("wait", tmp_path / "wait.csv")
    view.add_rows([{ELAPSED: 60.0 * minute, TEMPERATURE: 4.2, SETPOINT: 4.2, FIELD: math.nan} for minute in range(5)])
    view.refresh()
    assert "field not read" in view.field_plot.titleLabel.text
    assert math.isnan(view.overlays()["field_T"]) and view.overlays()["temperature_K"] == 4.2
