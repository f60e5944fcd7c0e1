"""`daclab analyze`: data files as the procedures write them (and plain tables) in, the batch
analyses' numbers out, matching the simulated sample's truth; mistakes are one line and exit 2."""

import json
import math
import re

import numpy as np
import pytest
from pymeasure.experiment import Results

from daclab import runner
from daclab.analysis.conductance import process_spectrum
from daclab.analysis.critical import critical_current_from_iv
from daclab.analysis.gap_fit import fit_btk
from daclab.analysis.hc2_fit import fit_hc2
from daclab.analysis.transitions import transition_temperatures
from daclab.analysis.whh import whh_tc_of_field
from daclab.analyze import main
from daclab.procedures import aging
from daclab.procedures import differential_conductance as dcon
from daclab.procedures import rt_sweep
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.field_series import FieldSeries
from daclab.sim.sample import load_sample
from test_procedure_rt_sweep import simulated_lab


def write_results(path, procedure, rows):
    """A data file exactly as the runner writes it: pymeasure's header, then one formatted row per point."""
    results = Results(procedure, str(path))
    with open(path, "a", encoding=Results.ENCODING) as stream:
        for row in rows:
            stream.write(results.format(row) + Results.LINE_BREAK)
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)["results"]




def rt_rows(sample, temperatures, direction, field_T=math.nan, shift_K=0.0, seed=0):
    """R(T) points of one leg; the sample is ``shift_K`` warmer than the thermometer (thermal lag)."""
    noise = np.random.default_rng(seed).normal(0.0, 1e-4 * sample.r_normal_ohm, len(temperatures))
    resistance = sample.resistance(np.asarray(temperatures) + shift_K, 0.0 if math.isnan(field_T) else field_T)
    resistance = resistance + noise
    return [{rt_sweep.ELAPSED: 6.0 * i, rt_sweep.TEMPERATURE: t, rt_sweep.SETPOINT: t, rt_sweep.FIELD: field_T,
             rt_sweep.RESISTANCE: r, rt_sweep.DIRECTION: direction}
            for i, (t, r) in enumerate(zip(temperatures, resistance))]


def columns(rows, *names):
    return [np.array([row[name] for row in rows]) for name in names]


# ---- tc --------------------------------------------------------------------------------------


def test_tc_of_a_cooling_and_warming_sweep_reports_both_legs_and_their_mean_at_the_true_tc(lace, tmp_path, capsys):
    lag = 1.5
    down = np.arange(190.0, 149.9, -0.2)
    cooling = rt_rows(lace, down, "cooling", shift_K=lag, seed=1)
    warming = rt_rows(lace, down[::-1], "warming", shift_K=-lag, seed=2)
    path = write_results(tmp_path / "rt.csv", rt_sweep.RTSweep(direction=rt_sweep.BOTH), cooling + warming)

    legs = run_json(capsys, "tc", path)
    assert [leg["sweep"] for leg in legs] == ["cooling", "warming", "mean of cooling and warming"]
    batch = transition_temperatures(*columns(cooling, rt_sweep.TEMPERATURE, rt_sweep.RESISTANCE))
    for name, value in batch.criteria().items():
        assert legs[0][f"{name}_K"] == {"value": value, "stderr": None}
    assert legs[0]["points"] == down.size and "field_T" not in legs[0]
    assert abs(legs[0]["midpoint_K"]["value"] - (lace.tc_K - lag)) < 0.2
    assert abs(legs[1]["midpoint_K"]["value"] - (lace.tc_K + lag)) < 0.2
    mean = legs[2]
    assert abs(mean["midpoint_K"]["value"] - lace.tc_K) < 0.1
    assert abs(mean["lag_K"]["midpoint"] - 2 * lag) < 0.2
    assert mean["midpoint_K"]["stderr"] == pytest.approx(mean["lag_K"]["midpoint"] / 2)

    code, text, err = run(capsys, "tc", path)
    assert code == 0 and err == ""
    assert re.search(rf"^midpoint +{batch.midpoint_K:.6g} K$", text, re.MULTILINE)
    assert "mean of cooling and warming" in text and " +- " in text


def test_tc_of_plain_tables_with_units_in_the_header_or_no_header_at_all(lace, tmp_path, capsys):
    temperature = np.arange(195.0, 150.0, -0.25)
    resistance = lace.resistance(temperature)
    in_mohm = tmp_path / "rt_mohm.csv"
    in_mohm.write_text("T (K);R (mohm)\n" + "".join(f"{t};{1e3 * r}\n" for t, r in zip(temperature, resistance)))
    bare = tmp_path / "rt.dat"
    bare.write_text("# exported from another program\n"
                    + "".join(f"{t}  {r}\n" for t, r in zip(temperature, resistance)))

    scaled, plain = run_json(capsys, "tc", str(in_mohm), str(bare))
    batch = transition_temperatures(temperature, resistance)
    assert plain["midpoint_K"]["value"] == batch.midpoint_K
    assert scaled["midpoint_K"]["value"] == pytest.approx(batch.midpoint_K, abs=1e-9)
    assert scaled["normal_resistance_ohm"] == pytest.approx(batch.normal_resistance_ohm, rel=1e-9)
    assert plain["sweep"] == "cooling"  # told from the temperature going down


def aging_file(path, days_of_visits):
    """An Aging data file of one cooling leg per visit through the LaH10 cell's Tc of that day
    (the whole leg taken on that day)."""
    sample = load_sample("lah10_aging")
    rows = []
    for visit, days in enumerate(days_of_visits, 1):
        temperatures = np.arange(sample.tc_at_age(days) + 20.0, sample.tc_at_age(days) - 15.0, -0.25)
        for row, resistance in zip(rt_rows(sample, temperatures, "cooling", seed=visit),
                                   sample.resistance(temperatures, 0.0, days)):
            rows.append({**row, rt_sweep.RESISTANCE: resistance, aging.DAYS: days, aging.VISIT: visit})
    return write_results(path, aging.Aging(visits=len(days_of_visits)), rows)


def test_tc_of_an_aging_series_gives_each_visit_with_its_days_since_synthesis(tmp_path, capsys):
    sample = load_sample("lah10_aging")
    path = aging_file(tmp_path / "aging.csv", (0.0, 3.0, 10.0))
    visits = run_json(capsys, "tc", path)
    assert [v["days_since_synthesis"] for v in visits] == [0.0, 3.0, 10.0]
    for report in visits:
        assert abs(report["midpoint_K"]["value"] - sample.tc_at_age(report["days_since_synthesis"])) < 0.3


def test_a_plain_sweep_down_and_up_is_cut_where_it_turns(lace, tmp_path, capsys):
    temperature = np.concatenate([np.arange(190.0, 150.0, -0.25), np.arange(150.0, 190.0, 0.25)])
    resistance = lace.resistance(temperature) + np.random.default_rng(3).normal(0, 1e-5, temperature.size)
    path = _write(tmp_path / "both.csv", "T,R\n" + "".join(f"{t},{r}\n" for t, r in zip(temperature, resistance)))
    cooling, warming, mean = run_json(capsys, "tc", path)
    assert (cooling["sweep"], warming["sweep"], mean["sweep"]) == ("cooling", "warming", "mean of cooling and warming")
    assert cooling["points"] + warming["points"] == temperature.size + 1  # the turning point is in both
    half = temperature.size // 2
    assert cooling["midpoint_K"]["value"] == transition_temperatures(temperature[:half + 1],
                                                                     resistance[:half + 1]).midpoint_K
    assert abs(mean["midpoint_K"]["value"] - lace.tc_K) < 0.2


# ---- hc2 -------------------------------------------------------------------------------------


FIELDS = (0.0, 1.0, 3.0, 5.0, 7.0, 9.0)


def field_series_rows(sample):
    rows = []
    for index, field in enumerate(FIELDS):
        rows += rt_rows(sample, np.arange(185.0, 150.0, -0.25), "cooling", field_T=field, seed=index)
    return rows


def test_hc2_from_a_field_series_file_or_one_file_per_field_fits_whh_and_gl_per_criterion(lace, tmp_path, capsys):
    rows = field_series_rows(lace)
    series = write_results(tmp_path / "series.csv", FieldSeries(fields_T=", ".join(map(str, FIELDS))), rows)
    per_field = []
    for field in FIELDS:
        chosen = [row for row in rows if row[rt_sweep.FIELD] == field]
        per_field.append(write_results(tmp_path / f"rt_{field:g}T.csv", rt_sweep.RTSweep(field_T=field), chosen))

    reports = run_json(capsys, "hc2", series)
    curves = [r["curve"] for r in reports if "curve" in r]
    fits = {r["criterion"]: r for r in reports if "criterion" in r}
    assert [c["field_T"] for c in curves] == list(FIELDS)
    assert set(fits) == {"onset", "midpoint", "zero", "intersection"}

    tc_mid = []
    for field in FIELDS:
        chosen = [row for row in rows if row[rt_sweep.FIELD] == field]
        tc_mid.append(transition_temperatures(*columns(chosen, rt_sweep.TEMPERATURE, rt_sweep.RESISTANCE)).midpoint_K)
    for model in ("whh", "gl"):
        batch = fit_hc2(tc_mid, FIELDS, model=model)
        assert fits["midpoint"][model]["hc2_0_T"] == {"value": batch.hc2_0_T.value, "stderr": batch.hc2_0_T.stderr}
    whh = fits["midpoint"]["whh"]["hc2_0_T"]
    assert abs(whh["value"] - lace.effective_hc2_0()) < max(4 * whh["stderr"], 0.05 * lace.hc2_0_T)
    assert fits["midpoint"]["gl"]["hc2_0_T"]["value"] > whh["value"]  # GL extrapolates higher than WHH

    assert run_json(capsys, "hc2", *per_field)[len(FIELDS):] == reports[len(FIELDS):]


def test_hc2_from_a_table_of_tc_and_field_points(lace, tmp_path, capsys):
    fields = np.array([0.0, 2.0, 4.0, 6.0, 8.0, 9.0])
    tc = np.array([float(whh_tc_of_field(h, lace.tc_K, lace.hc2_0_T)) for h in fields])
    path = tmp_path / "tc_of_h.csv"
    path.write_text("".join(f"{t},{h}\n" for t, h in zip(tc, fields)))
    (report,) = run_json(capsys, "hc2", str(path), "--model", "whh")
    assert report["criterion"] == "given" and "gl" not in report
    assert report["whh"]["hc2_0_T"]["value"] == pytest.approx(lace.hc2_0_T, rel=1e-3)
    assert report["whh"]["tc_K"]["value"] == pytest.approx(lace.tc_K, rel=1e-5)
    assert report["whh"]["hc2_0_T"]["value"] == fit_hc2(tc, fields).hc2_0_T.value


def test_hc2_with_too_few_fields_says_so_in_one_line(tmp_path, capsys):
    path = tmp_path / "two.csv"
    path.write_text("Tc (K),Field (T)\n170,0\n168,2\n")
    code, out, err = run(capsys, "hc2", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "2 usable" in err and "at least 3" in err


# ---- ic --------------------------------------------------------------------------------------


SETPOINTS = (60.0, 62.0, 64.0, 66.0, 67.0)  # Ic of 17-75 mA, above the supercurrent left in the transition
STEP_A = 5e-4


def ic_rows(sample):
    """Pulsed sweeps as CriticalCurrent takes them: both polarities, stopped past 1 mV."""
    rng = np.random.default_rng(7)
    rows = []
    for setpoint in SETPOINTS:
        for polarity in (1, -1):
            for current in polarity * STEP_A * np.arange(1, 161):
                voltage = sample.four_probe_voltage(current, setpoint, duration_s=1e-3) + rng.normal(0, 3e-9)
                rows.append({"Time (s)": 2.0 * len(rows), "Setpoint (K)": setpoint, "Temperature (K)": setpoint,
                             "Polarity": polarity, "Current (A)": current, "Voltage (V)": voltage})
                if abs(voltage) > 1e-3:
                    break
    return rows


def test_ic_per_temperature_and_polarity_then_jc_and_the_pinning_fit(ceh9, tmp_path, capsys):
    rows = ic_rows(ceh9)
    path = write_results(tmp_path / "ic.csv", CriticalCurrent(criterion_uV=1.0, width_um=30.0, thickness_um=1.0), rows)
    reports = run_json(capsys, "ic", path)
    sweeps_found = [r for r in reports if "ic_A" in r]
    assert [(r["temperature_K"], r["polarity"]) for r in sweeps_found] == [(t, p) for t in SETPOINTS for p in (1, -1)]
    for report in sweeps_found:
        chosen = [row for row in rows if row["Setpoint (K)"] == report["temperature_K"]
                  and row["Polarity"] == report["polarity"]]
        current, voltage = columns(chosen, "Current (A)", "Voltage (V)")
        ic = report["ic_A"]["value"]
        assert ic == critical_current_from_iv(current, voltage, 1e-6)
        kelvin = report["temperature_K"]
        heated = kelvin + ceh9.heating(ic, kelvin, 0.0, 0.0, duration_s=1e-3)  # a pulse still warms a little
        assert abs(ic - ceh9.critical_current(heated)) < STEP_A
        assert report["jc_A_cm2"]["value"] == pytest.approx(ic / 30e-8)
    (fit,) = [r["jc_fit"] for r in reports if "jc_fit" in r]
    assert fit["model"] == "delta_l" and fit["temperatures_K"] == list(SETPOINTS)
    assert abs(fit["tc_K"]["value"] - ceh9.jc_tc_K) < 0.5
    assert abs(fit["jc0_A_cm2"]["value"] / ceh9.jc0_A_cm2 - 1) < 0.05

    narrower = run_json(capsys, "ic", path, "--width-um", "15", "--criterion-uV", "5")
    assert narrower[0]["criterion_uV"] == 5.0 and narrower[0]["width_um"] == 15.0


def test_ic_of_a_plain_iv_table_needs_the_criterion(ceh9, tmp_path, capsys):
    current = STEP_A * np.arange(1, 161)
    voltage = np.array([ceh9.four_probe_voltage(i, 65.0, duration_s=1e-3) for i in current])
    path = tmp_path / "iv.txt"
    path.write_text("I,V\n" + "".join(f"{i},{v}\n" for i, v in zip(current, voltage)))
    code, out, err = run(capsys, "ic", str(path))
    assert code == 2 and "--criterion-uV" in err and err.count("\n") == 1
    (report,) = run_json(capsys, "ic", str(path), "--criterion-uV", "2")
    assert report["ic_A"]["value"] == critical_current_from_iv(current, voltage, 2e-6)
    assert "temperature_K" not in report and "jc_A_cm2" not in report


# ---- didv ------------------------------------------------------------------------------------


SPECTRUM_TEMPERATURES = (2.0, 40.0, 70.0)
BIAS_V = np.linspace(-0.12, 0.12, 121)


def spectrum_rows(sample):
    rng = np.random.default_rng(11)
    rows = []
    for temperature in SPECTRUM_TEMPERATURES:
        didv = sample.contact_conductance(BIAS_V * 1e3, temperature) * (1 + rng.normal(0, 1e-3, BIAS_V.size))
        for bias, g in zip(BIAS_V, didv):
            rows.append({dcon.TIME: float(len(rows)), dcon.TEMPERATURE: temperature,
                         dcon.CURRENT: bias / sample.contact_normal_ohm, dcon.BIAS: bias, dcon.DVDI: 1 / g,
                         dcon.DIDV: g, dcon.NORMALISED: math.nan})
    return rows


def test_didv_fits_each_spectrum_of_a_run_with_btk_and_the_gaps_with_bcs(ceh9, tmp_path, capsys):
    rows = spectrum_rows(ceh9)
    path = write_results(tmp_path / "didv.csv", dcon.DifferentialConductance(gap_window_mV=60.0), rows)
    reports = run_json(capsys, "didv", path)
    spectra = [r for r in reports if "delta_meV" in r]
    assert [r["temperature_K"] for r in spectra] == list(SPECTRUM_TEMPERATURES)
    for index, report in enumerate(spectra):
        chosen = rows[index * BIAS_V.size:(index + 1) * BIAS_V.size]
        spectrum = process_spectrum(*columns(chosen, dcon.BIAS, dcon.DIDV), 0.06)
        batch = fit_btk(spectrum.bias_mV, spectrum.conductance_norm, report["temperature_K"], normalised=False)
        assert report["gap_window_mV"] == 60.0
        assert report["delta_meV"] == {"value": batch.delta_meV.value, "stderr": batch.delta_meV.stderr}
    gaps = [r["delta_meV"]["value"] for r in spectra]
    assert gaps[0] > gaps[1] > gaps[2]
    assert abs(gaps[0] / ceh9.gap(2.0) - 1) < 0.1
    (bcs,) = [r["gap_fit"] for r in reports if "gap_fit" in r]
    assert bcs["temperatures_K"] == list(SPECTRUM_TEMPERATURES) and bcs["delta0_meV"]["value"] > 0


def test_didv_of_a_plain_table_takes_its_temperature_from_the_command_line(ceh9, tmp_path, capsys):
    didv = ceh9.contact_conductance(BIAS_V * 1e3, 2.0)
    path = tmp_path / "spectrum.csv"
    path.write_text("".join(f"{v},{g}\n" for v, g in zip(BIAS_V, didv)))
    code, out, err = run(capsys, "didv", str(path))
    assert code == 2 and "--temperature-K" in err
    (report,) = run_json(capsys, "didv", str(path), "--temperature-K", "2", "--gap-window-mV", "60")
    spectrum = process_spectrum(BIAS_V, didv, 0.06)
    assert report["delta_meV"]["value"] == fit_btk(spectrum.bias_mV, spectrum.conductance_norm, 2.0,
                                                   normalised=False).delta_meV.value


# ---- aging ----------------------------------------------------------------------------------


AGING_VISITS = 8
AGING_RATE_K_PER_MIN = 0.5


@pytest.fixture(scope="module")
def aging_run(tmp_path_factory):
    """The Aging procedure on the decaying LaH10 cell: eight visits three days apart, each a
    cooling and a warming leg (their mean cancels the thermal lag). (data file, outcome, sample)."""
    path = tmp_path_factory.mktemp("aging") / "aging.csv"
    with simulated_lab("lah10_aging", 250.0) as lab:
        procedure = aging.Aging(lab=lab, visits=AGING_VISITS, interval_days=3.0, upper_K=180.0, lower_K=65.0,
                                direction=rt_sweep.BOTH, rate_K_per_min=AGING_RATE_K_PER_MIN, point_every_K=2.0,
                                readings_per_point=1, reading_interval_s=0.0, return_rate_K_per_min=5.0,
                                standby_K=250.0)
        outcome = runner.run(procedure, path)
        sample = lab.world.sample
    assert outcome.status == "finished", outcome.error
    return str(path), outcome, sample


def test_aging_of_a_run_finds_each_visit_at_the_true_tc_and_the_preset_decay(aging_run, capsys):
    path, outcome, sample = aging_run
    reports = run_json(capsys, "aging", path)
    visits = [r for r in reports if "visit" in r]
    fits = {r["criterion"]: r for r in reports if "criterion" in r}
    assert [v["visit"] for v in visits] == list(range(1, AGING_VISITS + 1))
    assert all(v["sweeps"] == ["cooling", "warming"] and "note" not in v for v in visits)

    # The thermometer leads the sample by the cell's lag (300 s, less the world's 10 s steps / 2):
    # it reads Tc low while cooling and high while warming, hours and kelvins of aging apart.
    lag_K = AGING_RATE_K_PER_MIN / 60.0 * (300.0 - 5.0)
    for visit in visits:
        day = visit["days_since_synthesis"]
        # the procedure dates each leg's Tc from its own clock while measuring
        legs = [r for r in outcome.analysis if r["kind"] == "tc" and r["visit"] == visit["visit"]]
        assert [leg["direction"] for leg in legs] == ["cooling", "warming"]
        assert day == pytest.approx(np.mean([leg["days_since_synthesis"] for leg in legs]), abs=0.005)
        cooling, warming = (sample.tc_at_age(leg["days_since_synthesis"]) + sign * lag_K
                            for leg, sign in zip(legs, (-1, 1)))
        assert visit["midpoint_K"]["stderr"] == pytest.approx(abs(warming - cooling) / 2, abs=0.1)
        # the mean of the legs is the sample's Tc on the visit's day: the lag cancels
        assert abs(visit["midpoint_K"]["value"] - sample.tc_at_age(day)) < 0.1

    for criterion in ("onset", "midpoint", "zero", "intersection"):
        assert fits[criterion]["tau_days"]["value"] == pytest.approx(sample.aging_time_constant_days, rel=0.1)
    midpoint = fits["midpoint"]
    assert midpoint["tau_days"]["value"] == pytest.approx(sample.aging_time_constant_days, rel=0.01)
    assert midpoint["days_since_synthesis"] == [v["days_since_synthesis"] for v in visits]
    assert abs(midpoint["tc_final_K"]["value"] - sample.tc_final_K) < 1.0
    assert abs(midpoint["tc0_K"]["value"] - sample.tc_K) < 1.0
    assert midpoint["tau_days"]["stderr"] > 0

    code, text, err = run(capsys, "aging", path)
    assert code == 0 and err == ""
    assert re.search(r"^tau +[0-9.]+ \+- [0-9.e-]+ days$", text, re.MULTILINE)
    assert re.search(r"^Tc final +[0-9.]+ \+- [0-9.e-]+ K$", text, re.MULTILINE)


def test_aging_of_a_table_of_days_and_tc_points(tmp_path, capsys):
    sample = load_sample("lah10_aging")
    days = np.array([0.0, 1.0, 2.0, 3.5, 5.0, 7.0, 10.0, 14.0, 20.0, 28.0])
    tc = np.array([sample.tc_at_age(day) for day in days])
    named = _write(tmp_path / "named.csv", "Days since synthesis (day),Tc (K)\n"
                   + "".join(f"{d},{t}\n" for d, t in zip(days, tc)))
    bare = _write(tmp_path / "bare.txt", "".join(f"{d} {t}\n" for d, t in zip(days, tc)))
    for path in (named, bare):
        (fit,) = run_json(capsys, "aging", path)
        assert fit["criterion"] == "given" and fit["days_since_synthesis"] == days.tolist()
        assert fit["tau_days"]["value"] == pytest.approx(sample.aging_time_constant_days, rel=1e-4)
        assert fit["tc_final_K"]["value"] == pytest.approx(sample.tc_final_K, abs=1e-3)
        assert fit["tc0_K"]["value"] == pytest.approx(sample.tc_K, abs=1e-3)
        assert fit["rms_residual_K"] < 1e-3


def test_aging_of_two_files_fits_their_points_together(tmp_path, capsys):
    sample = load_sample("lah10_aging")
    early, late = (0.0, 2.0, 4.0), (8.0, 15.0, 25.0)
    files = [_write(tmp_path / f"part{i}.csv", "days,Tc\n" + "".join(f"{d},{sample.tc_at_age(d)}\n" for d in part))
             for i, part in enumerate((early, late))]
    (fit,) = run_json(capsys, "aging", *files)
    assert fit["days_since_synthesis"] == list(early + late)
    assert fit["tau_days"]["value"] == pytest.approx(sample.aging_time_constant_days, rel=1e-4)
    code, out, err = run(capsys, "aging", files[0])  # three days alone cannot fix three parameters
    assert code == 2 and "at least 4" in err


# ---- mistakes --------------------------------------------------------------------------------


def _iv_file(tmp_path):
    path = tmp_path / "iv.csv"
    path.write_text("Current (A),Voltage (V)\n0.001,1e-9\n0.002,2e-9\n")
    return str(path)


MISTAKES = {
    "missing file": (lambda tmp: ["tc", str(tmp / "nowhere.csv")], "no such file"),
    "empty file": (lambda tmp: ["tc", _write(tmp / "empty.csv", "")], "no data"),
    "header only": (lambda tmp: ["tc", _write(tmp / "head.csv", "#Procedure: <x>\nTemperature (K),Resistance (ohm)\n")],
                    "no data rows"),
    "wrong columns": (lambda tmp: ["tc", _iv_file(tmp)], "no temperature column"),
    "NaN only": (lambda tmp: ["tc", _write(tmp / "nan.csv", "Temperature (K),Resistance (ohm)\n"
                                           + "".join(f"{t},nan\n" for t in range(100, 110)))],
                 "resistance column holds no numbers"),
    "ragged row": (lambda tmp: ["tc", _write(tmp / "ragged.csv", "T,R\n1,2\n3,4,5\n")], "line 3"),
    "unknown unit": (lambda tmp: ["tc", _write(tmp / "f.csv", "Temperature (F),Resistance (ohm)\n1,2\n")],
                     "expected K"),
    "folder": (lambda tmp: ["tc", str(tmp)], "folder"),
    "bad option": (lambda tmp: ["ic", _iv_file(tmp), "--criterion-uV", "-1"], "must be a number > 0"),
    "unknown analysis": (lambda tmp: ["fit", "x.csv"], "invalid choice"),
    "no analysis": (lambda tmp: [], "choose an analysis"),
    "no file": (lambda tmp: ["tc"], "FILE"),
    "aging: too few visits": (lambda tmp: ["aging", aging_file(tmp / "aging.csv", (0.0, 3.0, 10.0))],
                              "3 usable (days, tc_K) points; at least 4 are needed"),
    "aging: too few points": (lambda tmp: ["aging", _write(tmp / "d.csv", "days,Tc\n0,160\n3,125\n6,108\n")],
                              "at least 4 are needed"),
    "aging: one day only": (lambda tmp: ["aging", _write(tmp / "d.csv", "days,Tc\n" + "2,130\n" * 5)],
                            "at least 3 different days"),
    "aging: wrong columns": (lambda tmp: ["aging", _iv_file(tmp)], "no days since synthesis column"),
    "aging: R(T) without days": (lambda tmp: ["aging", _write(tmp / "rt.csv", "Temperature (K),Resistance (ohm)\n"
                                                              "170,1\n160,0.5\n150,0\n")],
                                 "without a days since synthesis column"),
}


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_is_one_line_on_stderr_and_exit_code_2(mistake, tmp_path, capsys):
    make_argv, expected = MISTAKES[mistake]
    code, out, err = run(capsys, *make_argv(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("daclab analyze: ") and err.count("\n") == 1 and "Traceback" not in err
    assert expected in err


def test_help_exits_0(capsys):
    code, out, err = run(capsys, "--help")
    assert code == 0 and "tc|hc2|ic|didv" in out
    code, out, err = run(capsys, "hc2", "--help")
    assert code == 0 and "--model" in out


def test_json_has_no_nan_and_a_curve_without_transition_is_reported_not_refused(lace, tmp_path, capsys):
    temperature = np.arange(200.0, 185.0, -0.5)  # all above Tc
    resistance = lace.resistance(temperature)
    path = _write(tmp_path / "normal.csv", "".join(f"{t},{r}\n" for t, r in zip(temperature, resistance)))
    code, out, err = run(capsys, "tc", path, "--json")
    assert code == 0
    (report,) = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))["results"]
    assert report["midpoint_K"] == {"value": None, "stderr": None} and "no transition" in report["note"]
