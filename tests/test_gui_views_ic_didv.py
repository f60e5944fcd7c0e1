"""The critical-current and point-contact views, fed with real runs of the procedures on the
virtual cryostat (CeH9 cell-1): the curves hold the measured points, and the fits drawn agree
with the batch analysis of the same rows and with the sample model's truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from daclab import runner
from daclab.analysis.bcs import bcs_gap_ratio
from daclab.analysis.critical import critical_current_from_iv, differential_resistance, fit_jc
from daclab.analysis.gap_fit import fit_gap
from daclab.gui.events import StepInfo
from daclab.gui.view_base import load_rows, view_for
from daclab.gui.views_ic_didv import SPECTRUM_OFFSET, ConductanceView, CriticalCurrentView
from daclab.lab import Lab
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.differential_conductance import DCON, DifferentialConductance
from gui_helpers import save_screenshot

VIEW_SIZE = (1000, 620)  # the window's plot area at 1366 x 768, next to its side panel
BATCHES = 4

# Critical current: Ic from 75 mA (60 K) down to 9 mA (69 K) in 1 mA pulses, both polarities. The
# thermalisation wait lets the sample in the cell reach each setpoint before the pulses start.
IC_TEMPERATURES = (60.0, 63.0, 66.0, 69.0)
IC_STEP = dict(temperatures_K=", ".join(f"{t:g}" for t in IC_TEMPERATURES), max_current_mA=80.0, step_mA=1.0,
               both_polarities=True, stop_voltage_mV=0.1, criterion_uV=1.0, period_s=0.1, pulse_width_ms=1.0,
               stable_s=10.0, thermalise_s=1800.0, rate_K_per_min=0.0, width_um=30.0, thickness_um=1.0,
               jc_model="delta_l")
# Spectra: one DCON run of 121 biases per temperature, 50 min of thermalisation at each.
DIDV_TEMPERATURES = (2.0, 40.0, 70.0, 85.0)
DIDV_STEP = dict(method=DCON, max_current_A=6e-3, bias_points=121, dcon_chunk_points=121, gap_window_mV=80.0,
                 temperatures_K=", ".join(f"{t:g}" for t in DIDV_TEMPERATURES), stable_s=30.0,
                 thermalise_s=3000.0, rate_K_per_min=0.0, series_resistance_ohm=2.0)


def measure(tmp_path_factory, procedure_class, parameters, start_K, name):
    path = tmp_path_factory.mktemp(name) / f"{name}.csv"
    events = []
    with Lab.open("simulated", start_K=start_K, seed=1) as lab:
        outcome = runner.run(procedure_class(lab=lab, **parameters), path,
                             on_event=lambda topic, record: events.append((topic, record)))
        sample = lab.world.sample
    assert outcome.status == "finished"
    return dict(path=path, outcome=outcome, events=events, sample=sample, rows=load_rows(path))


@pytest.fixture(scope="module")
def ic_run(tmp_path_factory):
    return measure(tmp_path_factory, CriticalCurrent, IC_STEP, IC_TEMPERATURES[0], "ic")


@pytest.fixture(scope="module")
def didv_run(tmp_path_factory):
    return measure(tmp_path_factory, DifferentialConductance, DIDV_STEP, DIDV_TEMPERATURES[0], "didv")


def make_view(qtbot, kind, run, parameters):
    view = view_for(StepInfo(run["path"].parent, 1, kind, parameters, run["path"], "CeH9 cell-1"))
    qtbot.addWidget(view)
    view.resize(*VIEW_SIZE)
    view.show()
    return view


def replot(view, rows, status="finished"):
    """What the window does with a finished run: rows in batches, the end, the last fits."""
    for batch in np.array_split(np.arange(len(rows)), BATCHES):
        view.add_rows([rows[i] for i in batch])
        view.refresh()
    view.end_step(status)
    assert view.wait_for_fits(30.0)
    view.refresh()


def screenshot(qtbot, view, name):
    qtbot.wait(20)  # let the layout take the last texts in before the grab
    save_screenshot(view, name)


def sweeps_by_setpoint(rows):
    """{setpoint: {polarity: (current_A, voltage_V, temperature_K)}} straight from the file's rows."""
    out = {}
    for row in rows:
        columns = out.setdefault(row["Setpoint (K)"], {}).setdefault(int(row["Polarity"]), ([], [], []))
        for column, name in zip(columns, ("Current (A)", "Voltage (V)", "Temperature (K)")):
            column.append(float(row[name]))
    return {setpoint: {polarity: tuple(np.array(c) for c in columns) for polarity, columns in sweeps.items()}
            for setpoint, sweeps in out.items()}


def model_ic_at_criterion(sample, temperature_K, criterion_V):
    """The current at which the model's noise-free 1 ms pulse voltage reaches the criterion."""
    return brentq(lambda i: sample.four_probe_voltage(i, temperature_K, duration_s=1e-3) - criterion_V,
                  1e-6, 0.2, xtol=1e-8)


# ---- critical current -----------------------------------------------------------------------------

def test_the_critical_current_view_replots_a_run_with_ic_and_the_pinning_fit_of_the_batch_analysis(qtbot, ic_run):
    view = make_view(qtbot, "critical_current", ic_run, IC_STEP)
    assert isinstance(view, CriticalCurrentView)
    replot(view, ic_run["rows"])
    overlays = view.overlays()
    sample = ic_run["sample"]
    sweeps = sweeps_by_setpoint(ic_run["rows"])
    assert list(sweeps) == list(IC_TEMPERATURES)

    # every pulse is on its curve, I in mA; |dV/dI| is the gradient of the same sweep
    drawn = {(t.setpoint_K, polarity): sweep for t in view._temperatures for polarity, sweep in t.sweeps.items()}
    assert set(drawn) == {(t, p) for t in IC_TEMPERATURES for p in (1, -1)}
    for (setpoint, polarity), sweep in drawn.items():
        current, voltage, _ = sweeps[setpoint][polarity]
        assert sweep.iv.x == pytest.approx(current * 1e3) and sweep.iv.y == pytest.approx(voltage)
        np.testing.assert_allclose(sweep.dvdi.y, differential_resistance(current, voltage), rtol=1e-12)
    assert sum(len(sweep.iv) for sweep in drawn.values()) == len(ic_run["rows"])

    criterion_V = IC_STEP["criterion_uV"] * 1e-6
    jc_points = []
    for setpoint, by_polarity in sweeps.items():
        for key, polarity in (("ic_mA", 1), ("ic_negative_mA", -1)):
            current, voltage, temperature = by_polarity[polarity]
            batch = critical_current_from_iv(current, voltage, criterion_V)
            assert overlays[key][setpoint] == pytest.approx(batch * 1e3, rel=1e-12)
            # against the model: the pulse ladder finds the crossing to within one 1 mA step
            truth = model_ic_at_criterion(sample, float(np.mean(temperature)), criterion_V)
            assert overlays[key][setpoint] == pytest.approx(truth * 1e3, abs=IC_STEP["step_mA"])
            # the dashed line of |dV/dI| sits at the signed Ic
            assert drawn[setpoint, polarity].ic_line.value() == pytest.approx(polarity * batch * 1e3)
        # and the pinning-law Ic of the model (the criterion adds tens of uA of flux flow)
        assert overlays["ic_mA"][setpoint] == pytest.approx(sample.critical_current(setpoint) * 1e3, abs=1.0)
        mean_K = float(np.mean(np.concatenate([by_polarity[p][2] for p in (1, -1)])))
        assert overlays["temperature_K"][setpoint] == pytest.approx(mean_K, rel=1e-12)
        ic_A = critical_current_from_iv(*by_polarity[1][:2], criterion_V)
        jc_points.append((mean_K, ic_A / (30e-4 * 1e-4)))  # 30 um x 1 um in cm2

    reference = fit_jc(*zip(*jc_points), model="delta_l")
    assert overlays["jc0_A_cm2"] == pytest.approx(reference.jc0.value, rel=1e-6)
    assert overlays["pinning_tc_K"] == pytest.approx(reference.tc_K.value, rel=1e-6)
    assert overlays["jc0_A_cm2"] == pytest.approx(sample.jc0_A_cm2, rel=0.03)
    assert overlays["pinning_tc_K"] == pytest.approx(sample.jc_tc_K, abs=0.5)
    # the Jc panel: points in MA/cm2, and the fit curve through them
    assert view.fit_points.y == pytest.approx([jc * 1e-6 for _, jc in jc_points], rel=1e-12)
    curve_T, curve_jc = view.fit_curve.getData()
    assert curve_T[0] == 0.0 and curve_jc[0] == pytest.approx(overlays["jc0_A_cm2"] * 1e-6)
    assert np.interp([t for t, _ in jc_points], curve_T, curve_jc) == pytest.approx(
        [jc * 1e-6 for _, jc in jc_points], rel=0.05)
    assert "Jc(0) = (" in view.summary.text() and "A/cm²" in view.summary.text()
    assert "model delta_l" in view.summary.text()
    screenshot(qtbot, view, "view_critical_current")
    view.close_fits()


def test_without_a_cross_section_the_view_fits_ic_in_ma(qtbot, ic_run):
    view = make_view(qtbot, "critical_current", ic_run, {**IC_STEP, "width_um": 0.0})
    replot(view, ic_run["rows"])
    overlays = view.overlays()
    assert "jc0_A_cm2" not in overlays and "jc_A_cm2" not in overlays
    assert "cross-section unknown" in view.fit_plot.getAxis("left").labelText
    assert view.fit_plot.getAxis("left").labelUnits == "mA"
    # the pinning law is linear in its prefactor: Ic(0) is Jc(0) times the model's 30 um2 cross-section
    assert overlays["ic0_mA"] == pytest.approx(ic_run["sample"].jc0_A_cm2 * 30e-8 * 1e3, rel=0.03)
    assert view.fit_points.y == pytest.approx([overlays["ic_mA"][t] for t in IC_TEMPERATURES])
    screenshot(qtbot, view, "view_critical_current_no_cross_section")
    view.close_fits()


def test_live_the_procedure_records_close_each_temperature_and_the_fit_matches_the_procedure(qtbot, ic_run):
    view = make_view(qtbot, "critical_current", ic_run, IC_STEP)
    events = ic_run["events"]
    # the procedure fits on its analysis thread: its first Jc(T) fit (of three temperatures) may
    # arrive after later points, so the view gets the events up to the third "ic" record
    third_ic = [i for i, (topic, record) in enumerate(events) if topic == "analysis" and record["kind"] == "ic"][2]
    for topic, record in events[:third_ic + 1]:
        if topic == "results":
            view.add_rows([record])
        elif topic == "analysis" and record["kind"] != "jc_fit":
            view.add_analysis(record)
    # no end_step: the third "ic" record alone has put the third temperature into the fit
    assert view.wait_for_fits(10.0)
    view.refresh()
    expected = next(record for topic, record in events if topic == "analysis" and record["kind"] == "jc_fit")
    overlays = view.overlays()
    assert overlays["fit_points"] == pytest.approx(expected["temperature_K"])
    assert overlays["jc0_A_cm2"] == pytest.approx(expected["jc0_A_cm2"]["value"], rel=1e-6)
    assert overlays["pinning_tc_K"] == pytest.approx(expected["tc_K"]["value"], rel=1e-6)
    screenshot(qtbot, view, "view_critical_current_live")
    view.close_fits()


# ---- differential conductance -------------------------------------------------------------------

def spectra_rows(rows):
    """The rows of each spectrum (each sweep starts again at -I_max)."""
    size = DIDV_STEP["bias_points"]
    assert len(rows) == size * len(DIDV_TEMPERATURES)
    return [rows[k * size:(k + 1) * size] for k in range(len(DIDV_TEMPERATURES))]


def procedure_records(run, kind):
    return [record for record in run["outcome"].analysis if record["kind"] == kind]


def test_the_conductance_view_replots_spectra_with_btk_fits_and_the_bcs_gap(qtbot, didv_run):
    view = make_view(qtbot, "differential_conductance", didv_run, DIDV_STEP)
    assert isinstance(view, ConductanceView)
    replot(view, didv_run["rows"])
    overlays = view.overlays()
    sample = didv_run["sample"]

    spectra = procedure_records(didv_run, "spectrum")
    fits = procedure_records(didv_run, "btk")
    assert len(view._spectra) == len(spectra) == len(fits) == len(DIDV_TEMPERATURES)
    for shown, rows, spectrum, btk in zip(view._spectra, spectra_rows(didv_run["rows"]), spectra, fits):
        kelvin = float(np.mean([row["Temperature (K)"] for row in rows]))
        # the curve is the processed spectrum, as the procedure processed it, shifted up
        assert shown.curve.x == pytest.approx(spectrum["bias_mV"], rel=1e-6, abs=1e-6)
        assert shown.curve.y == pytest.approx(np.array(spectrum["conductance"]) + shown.offset, rel=1e-6)
        key = round(kelvin, 2)
        assert overlays["delta_meV"][key] == pytest.approx(btk["delta_meV"]["value"], rel=1e-4)
        assert overlays["z"][key] == pytest.approx(btk["z"]["value"], rel=1e-3, abs=1e-3)
        assert overlays["delta_meV"][key] == pytest.approx(sample.gap(kelvin), rel=0.05)
        # the BTK curve drawn over the spectrum follows it
        fit_x, fit_y = shown.fit_item.getData()
        data_on_fit = np.interp(fit_x, shown.curve.x, shown.curve.y)
        assert np.max(np.abs(fit_y - data_on_fit)) < 0.05
    offsets = [shown.offset for shown in view._spectra]
    assert offsets == pytest.approx([k * SPECTRUM_OFFSET for k in range(len(DIDV_TEMPERATURES))])

    # the BCS fit of the procedure's own BTK gaps, weighted by their errors as the live fit weights them
    reference = fit_gap([btk["temperature_K"] for btk in fits], [btk["delta_meV"]["value"] for btk in fits],
                        [btk["delta_meV"]["stderr"] for btk in fits])
    assert overlays["delta0_meV"] == pytest.approx(reference.delta0_meV.value, rel=1e-3)
    assert overlays["tc_K"] == pytest.approx(reference.tc_K.value, rel=1e-3)
    assert overlays["delta0_meV"] == pytest.approx(sample.gap_meV, rel=0.03)
    assert overlays["tc_K"] == pytest.approx(sample.tc_K, rel=0.05)
    assert overlays["ratio_2delta_ktc"] == pytest.approx(2 * sample.gap_meV / (0.08617333262 * sample.tc_K), rel=0.06)

    # the reduced panel: gaps over Delta(0) against T/Tc on the BCS curve, which falls from 1 to 0 at Tc
    t, ratio = view.bcs_curve.getData()
    assert t[0] == 0.0 and ratio[0] == pytest.approx(1.0) and np.all(np.diff(ratio) <= 1e-12)
    assert ratio[t >= 1.0] == pytest.approx(0.0, abs=1e-9) and t[-1] >= 1.0
    reduced_t = np.array(list(overlays["delta_meV"])) / overlays["tc_K"]
    assert view.gap_points.x == pytest.approx(reduced_t, abs=1e-3)
    assert view.gap_points.y == pytest.approx(bcs_gap_ratio(reduced_t), abs=0.05)
    assert view.gap_plot.getAxis("bottom").labelText == "T / Tc"
    assert "Δ(0) = " in view.summary.text() and "2Δ(0)/k" in view.summary.text()
    screenshot(qtbot, view, "view_differential_conductance")
    view.close_fits()


def test_live_each_spectrum_is_fitted_when_the_procedure_reports_it(qtbot, didv_run):
    view = make_view(qtbot, "differential_conductance", didv_run, DIDV_STEP)
    events = didv_run["events"]
    first = next(i for i, (topic, record) in enumerate(events) if topic == "analysis" and record["kind"] == "spectrum")
    rows = [record for topic, record in events[:first] if topic == "results"]
    view.add_rows(rows)
    view.refresh()
    # while measured, the first spectrum (no background yet) is dI/dV over its first, normal-state point
    didv = np.array([row["dI/dV (S)"] for row in rows])
    assert view._spectra[0].curve.y == pytest.approx(didv / didv[0])
    view.add_analysis(events[first][1])
    assert view.wait_for_fits(10.0)
    view.refresh()
    overlays = view.overlays()
    [(kelvin, delta)] = overlays["delta_meV"].items()
    btk = next(record for topic, record in events if topic == "analysis" and record["kind"] == "btk")
    assert delta == pytest.approx(btk["delta_meV"]["value"], rel=1e-4)
    assert "delta0_meV" not in overlays and "from 3 fitted spectra on (1 so far)" in view.summary.text()
    # half of the next spectrum: its points show the procedure's normalised column, shifted up
    half = spectra_rows(didv_run["rows"])[1][:DIDV_STEP["bias_points"] // 2]
    view.add_rows(half)
    view.refresh()
    normalised = np.array([row["Normalised dI/dV"] for row in half])
    assert np.isfinite(normalised).all()
    assert view._spectra[1].curve.y == pytest.approx(normalised + SPECTRUM_OFFSET)
    assert view._spectra[1].curve.x == pytest.approx([row["Bias (V)"] * 1e3 for row in half])
    screenshot(qtbot, view, "view_differential_conductance_live")
    view.close_fits()


def test_empty_views_draw_nothing_and_say_what_they_wait_for(qtbot, tmp_path):
    for kind, view_class in (("critical_current", CriticalCurrentView), ("differential_conductance", ConductanceView)):
        view = view_for(StepInfo(tmp_path, 1, kind, {}, tmp_path / "none.csv"))
        qtbot.addWidget(view)
        assert isinstance(view, view_class)
        view.end_step("aborted")
        assert view.wait_for_fits(1.0)
        view.refresh()
        assert view.overlays() == {}
        assert "3" in view.summary.text()
        view.close_fits()


def test_a_bad_pinning_model_is_refused_by_name(qtbot, tmp_path):
    with pytest.raises(ValueError, match="jc_model"):
        CriticalCurrentView(StepInfo(tmp_path, 1, "critical_current", {"jc_model": "bean"}, tmp_path / "x.csv"))

