"""The figures of a run's report, drawn as the papers draw them (PNG at 150 dpi and PDF).

    rt.png     R(T) of the zero-field sweep, cooling and warming apart, Tc criteria marked
    hc2.png    the R(T) family of a field series, and mu0 Hc2(T) with the WHH and GL fits
    ic.png     pulsed I-V per temperature, |dV/dI|, and Jc(T) with the pinning fit
    didv.png   normalised dI/dV per temperature, offset for clarity, with the BTK fits
    gap.png    Delta(T)/Delta(0) against T/Tc with the weak-coupling BCS curve
    aging.png  Tc against the days since synthesis with the exponential fit

Only the figures for which the run has data are drawn. Each panel is 6.4 x 4.8 in, axes carry
their units. Figures are matplotlib ``Figure`` objects on the Agg canvas, never pyplot: drawing
a report inside the GUI must not switch the backend of the windows around it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from daclab.analysis.aging import aging_curve
from daclab.analysis.bcs import bcs_gap_ratio
from daclab.analysis.btk import btk_conductance
from daclab.analysis.critical import JC_MODELS, differential_resistance
from daclab.analysis.gap_fit import analyse_spectrum
from daclab.analysis.transitions import transition_temperatures
from daclab.analysis.whh import gl_hc2, whh_hc2
from daclab.analyze import (BIAS, CONDUCTANCE, CURRENT, RESISTANCE, TEMPERATURE, VOLTAGE, iv_sweeps, spectra,
                            curves)
from daclab.procedures.aging import Aging
from daclab.procedures.differential_conductance import SMOOTH_POINTS, DifferentialConductance
from daclab.report import RunAnalysis, StepAnalysis, split_estimate, with_error

log = logging.getLogger(__name__)

PANEL_IN = (6.4, 4.8)
DPI = 150
FORMATS = ("png", "pdf")
LEG_COLOURS = {"cooling": "tab:blue", "warming": "tab:red", "sweep": "0.25"}
CRITERION_MARKERS = {"onset": "v", "midpoint": "o", "zero": "s"}
PINNING_NAMES = {"delta_l": "δl", "delta_tc": "δ$T_c$"}
# Paper style: ticks inside on all four sides, no legend frame, a readable size at column width.
STYLE = {
    "font.size": 10, "axes.labelsize": 11, "axes.titlesize": 10, "legend.fontsize": 9,
    "xtick.direction": "in", "ytick.direction": "in", "xtick.top": True, "ytick.right": True,
"axes.linewidth": 0.8,
    "lines.linewidth": 1.4, "lines.markersize": 4, "legend.frameon": False,
}


def _figure(columns: int, rows: int = 1):
    """A figure of rows x columns panels of PANEL_IN each on the Agg canvas, and its axes (row by row)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(PANEL_IN[0] * columns, PANEL_IN[1] * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, list(axes.flat)


def _save(figure, folder: Path, name: str) -> list[Path]:
    paths = []
    for suffix in FORMATS:
        path = folder / f"{name}.{suffix}"
        temporary = path.with_name(f"{name}.tmp.{suffix}")
        figure.savefig(temporary, dpi=DPI, format=suffix)
        figure.set_layout_engine("none")  # the layout of the first format serves the others
        temporary.replace(path)
        paths.append(path)
    return paths


def _panel_letters(axes) -> None:
    if len(axes) > 1:
        for letter, axis in zip("abcdef", axes):
            axis.text(0.0, 1.015, f"({letter})", transform=axis.transAxes, va="bottom", ha="left", fontweight="bold")


def _resistance_unit(resistance: np.ndarray) -> tuple[float, str]:
    """Scale and unit that keep resistances readable (CeH9 cells read tens of milliohm)."""
    largest = float(np.nanmax(np.abs(resistance))) if np.isfinite(resistance).any() else 1.0
    return (1e3, "mΩ") if largest < 1.0 else (1.0, "Ω")


def _value(entry: Any) -> float:
    value, _ = split_estimate(entry)
    return math.nan if value is None else float(value)


def _stderr(entry: Any) -> float:
    _, stderr = split_estimate(entry)
    return 0.0 if stderr is None or not math.isfinite(stderr) else float(stderr)


def _title(axis, step: StepAnalysis, what: str) -> None:
    axis.set_title(f"{what} — step {step.step}, {step.path.name}", loc="right", fontsize=9, color="0.35")


def _at(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    """y of the curve at x (the data sorted by x, NaN left out)."""
    keep = np.isfinite(xs) & np.isfinite(ys)
    order = np.argsort(xs[keep])
    return float(np.interp(x, xs[keep][order], ys[keep][order]))


# ---- R(T) ---------------------------------------------------------------------------------------


def _transition_window(section: dict, temperature: np.ndarray) -> tuple[float, float]:
    """The temperatures around the transition: from below zero resistance to above the onset,
    with room on the normal side for the numbers beneath the normal-state line."""
    onset, zero = _value(section["onset_K"]), _value(section["zero_K"])
    if not (math.isfinite(onset) and math.isfinite(zero)):
        return float(np.nanmin(temperature)), float(np.nanmax(temperature))
    span = max(onset - zero, 1.0)
    return zero - 0.4 * span, onset + 0.8 * span


def draw_rt(step: StepAnalysis, section: dict) -> Any:
    """R(T) of each leg, cooling and warming in their colours, onset/midpoint/zero marked; a sweep
    much wider than its transition gets a first panel with all of it and the transition beside it."""
    from matplotlib.lines import Line2D

    table = step.table
    temperature, resistance = table.need(TEMPERATURE, 0), table.need(RESISTANCE, 1)
    scale, unit = _resistance_unit(resistance)
    low, high = _transition_window(section, temperature)
    whole = (float(np.nanmin(temperature)), float(np.nanmax(temperature)))
    zoomed = (whole[1] - whole[0]) > 1.5 * (high - low)
    figure, axes = _figure(2 if zoomed else 1)
    axis = axes[-1]
    for curve in curves(table):
        t, r = temperature[curve.rows], resistance[curve.rows]
        colour = LEG_COLOURS.get(curve.leg, "0.25")
        for target in axes:
            target.plot(t, r * scale, ".-", color=colour, label=curve.leg, markersize=2.5, linewidth=1.0)
        try:
            criteria = transition_temperatures(t, r).criteria()
        except ValueError:
            continue
        for name, marker in CRITERION_MARKERS.items():
            if math.isfinite(criteria[name]):
                axis.plot(criteria[name], _at(criteria[name], t, r) * scale, marker, color=colour,
                          markerfacecolor="white", markersize=8, markeredgewidth=1.5, zorder=3)
    handles, _ = axis.get_legend_handles_labels()
    handles += [Line2D([], [], linestyle="", marker=marker, color="0.2", markerfacecolor="white", markersize=8,
                       markeredgewidth=1.5, label=name) for name, marker in CRITERION_MARKERS.items()]
    axis.legend(handles=handles, loc="upper left")
    how = "mean of cooling and warming" if section.get("lag_K") is not None else "one sweep"
    lines = [f"$T_c$ = {with_error(section['midpoint_K'], 'K')} (midpoint,", f"{how})",
             f"onset {with_error(section['onset_K'], 'K')}", f"zero {with_error(section['zero_K'], 'K')}"]
    if section.get("lag_K") is not None:
        lines.append(f"lag (warming − cooling) {section['lag_K']:.2f} K")
    axis.text(0.97, 0.04, "\n".join(lines), transform=axis.transAxes, ha="right", va="bottom",
              bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=2.0))
    if zoomed:
        inside = (temperature >= low) & (temperature <= high)
        top = float(np.nanmax(resistance[inside])) * scale if inside.any() else axis.get_ylim()[1]
        axis.set_xlim(low, high)
        axis.set_ylim(-0.04 * top, 1.08 * top)
        axes[0].axvspan(low, high, color="0.9", zorder=0, label="range of (b)")
        axes[0].legend(loc="upper left")
        axes[0].set_ylim(bottom=min(0.0, axes[0].get_ylim()[0]))
    for target in axes:
        target.set_xlabel("Temperature (K)")
        target.set_ylabel(f"Resistance ({unit})")
    axis.set_ylim(bottom=min(0.0, axis.get_ylim()[0]))
    _panel_letters(axes)
    _title(axis, step, "R(T), zero field")
    return figure


# ---- Hc2 ----------------------------------------------------------------------------------------


def draw_hc2(step: StepAnalysis, section: dict | None) -> Any:
    """(a) the R(T) family, one curve per field; (b) mu0 Hc2(T) points with the WHH and GL lines."""
    from matplotlib import colormaps

    table = step.table
    criterion = section["criterion"] if section else "midpoint"
    temperature, resistance = table.need(TEMPERATURE, 0), table.need(RESISTANCE, 1)
    scale, unit = _resistance_unit(resistance)
    family = curves(table)
    fields = sorted({round(curve.field_T, 3) for curve in family if math.isfinite(curve.field_T)})
    colour_map = colormaps["viridis"]

    def colour(field: float):
        position = 0.0 if len(fields) < 2 else (field - fields[0]) / (fields[-1] - fields[0])
        return colour_map(0.85 * position)

    figure, (family_axis, hc2_axis) = _figure(2)
    labelled = set()
    for curve in family:
        t, r = temperature[curve.rows], resistance[curve.rows]
        field = round(curve.field_T, 3) if math.isfinite(curve.field_T) else 0.0
        label = None if field in labelled else f"{field:g} T"
        labelled.add(field)
        family_axis.plot(t, r * scale, color=colour(field), label=label)
        try:
            kelvin = transition_temperatures(t, r).criteria()[criterion]
        except ValueError:
            continue
        if math.isfinite(kelvin):
            family_axis.plot(kelvin, _at(kelvin, t, r) * scale, "o", color=colour(field), markerfacecolor="white",
                             markersize=6, markeredgewidth=1.3, zorder=3, clip_on=False)
    family_axis.legend(title=f"$\\mu_0H$ (○: {criterion} $T_c$)", loc="lower right")
    family_axis.set_xlabel("Temperature (K)")
    family_axis.set_ylabel(f"Resistance ({unit})")

    points = next((report for report in step.reports if report.get("criterion") == criterion), None)
    tc_max = 0.0
    if points is not None:
        hc2_axis.plot(points["tc_K"], np.abs(points["fields_T"]), "o", color="black", markersize=6,
                      label=f"$T_c$ ({criterion}) at each field", zorder=3, clip_on=False)
        tc_max = float(np.nanmax(points["tc_K"]))
        for model, draw, style in (("whh", whh_hc2, "-"), ("gl", gl_hc2, "--")):
            fit = points.get(model, {})
            tc, hc2 = _value(fit.get("tc_K")), _value(fit.get("hc2_0_T"))
            if not (math.isfinite(tc) and math.isfinite(hc2)):
                continue
            grid = np.linspace(0.0, tc, 200)
            hc2_axis.plot(grid, draw(grid, tc, hc2), style, color="tab:red" if model == "whh" else "tab:blue",
                          label=f"{model.upper()}: $\\mu_0H_{{c2}}(0)$ = {with_error(fit['hc2_0_T'], 'T')}")
            tc_max = max(tc_max, tc)
        hc2_axis.legend(loc="upper right")
    hc2_axis.set_xlim(0.0, 1.08 * tc_max if tc_max > 0 else None)
    hc2_axis.set_ylim(bottom=0.0)
    hc2_axis.set_xlabel("Temperature (K)")
    hc2_axis.set_ylabel("$\\mu_0H_{c2}$ (T)")
    _panel_letters([family_axis, hc2_axis])
    _title(hc2_axis, step, "upper critical field")
    return figure


# ---- critical current ---------------------------------------------------------------------------


def draw_ic(step: StepAnalysis, section: dict | None) -> Any:
    """(a) I-V at each temperature, (b) |V| on a log scale where it crosses the criterion,
    (c) |dV/dI|, (d) Jc(T) with the pinning fit (when the cross-section is known)."""
    from matplotlib import colormaps

    table = step.table
    current, voltage = table.need(CURRENT, 0), table.need(VOLTAGE, 1)
    sweeps = iv_sweeps(table, current)
    sweep_reports = [report for report in step.reports if "polarity" in report]
    jc_points = [(report["temperature_K"], _value(report["jc_A_cm2"])) for report in sweep_reports
                 if report.get("polarity") == 1 and "jc_A_cm2" in report and report.get("temperature_K") is not None]
    jc_points = [(kelvin, jc) for kelvin, jc in jc_points if math.isfinite(jc)]
    figure, axes = _figure(2, 2)
    iv_axis, log_axis, slope_axis, jc_axis = axes
    temperatures = sorted({round(kelvin, 2) for kelvin, _, _ in sweeps if math.isfinite(kelvin)})
    colour_map = colormaps["plasma"]

    def colour(kelvin: float):
        if len(temperatures) < 2 or not math.isfinite(kelvin):
            return colour_map(0.0)
        return colour_map(0.85 * (kelvin - temperatures[0]) / (temperatures[-1] - temperatures[0]))

    labelled = set()
    for index, (kelvin, sign, rows) in enumerate(sweeps):
        key = round(kelvin, 2) if math.isfinite(kelvin) else None
        label = None if key in labelled else (f"{kelvin:.1f} K" if key is not None else "sweep")
        labelled.add(key)
        i_mA, v_uV = current[rows] * 1e3, voltage[rows] * 1e6
        iv_axis.plot(i_mA, v_uV, ".-", color=colour(kelvin), label=label, markersize=2.5, linewidth=1.0)
        log_axis.plot(np.abs(i_mA), np.abs(v_uV), ".-" if sign == 1 else ".--", color=colour(kelvin),
                      markersize=2.5, linewidth=1.0)
        if rows.size >= 2:
            slope = differential_resistance(current[rows], voltage[rows])
            slope_axis.plot(i_mA, slope * 1e3, color=colour(kelvin), label=label, linewidth=1.0)
        report = sweep_reports[index] if index < len(sweep_reports) else {}
        ic = _value(report.get("ic_A"))
        if math.isfinite(ic):
            iv_axis.plot(sign * ic * 1e3, sign * report["criterion_uV"], "x", color="black", markersize=7, zorder=3)
            log_axis.plot(ic * 1e3, report["criterion_uV"], "x", color="black", markersize=7, zorder=3)
    criterion = next((report["criterion_uV"] for report in sweep_reports if "criterion_uV" in report), None)
    if criterion is not None:
        for sign in (1, -1):
            iv_axis.axhline(sign * criterion, color="0.5", linestyle=":", linewidth=1.0,
                            label=f"criterion ±{criterion:g} µV, × = $I_c$" if sign == 1 else None)
        log_axis.axhline(criterion, color="0.5", linestyle=":", linewidth=1.0,
                         label=f"criterion {criterion:g} µV, × = $I_c$")
    # colours as in (a); the line style tells the polarities apart
    log_axis.plot([], [], ".-", color="0.3", label="+I")
    log_axis.plot([], [], ".--", color="0.3", label="−I")
    iv_axis.legend(loc="upper left")
    iv_axis.set_xlabel("Current (mA)")
    iv_axis.set_ylabel("Voltage (µV)")
    log_axis.set_yscale("log", nonpositive="mask")
    low, high = log_axis.get_ylim()
    log_axis.set_ylim(low, high * (high / low) ** 0.3)  # headroom for the legend above the curves
    log_axis.set_xlabel("|Current| (mA)")
    log_axis.set_ylabel("|Voltage| (µV)")
    log_axis.legend(loc="upper left")
    slope_axis.set_xlabel("Current (mA)")
    slope_axis.set_ylabel("|dV/dI| (mΩ)")
    slope_axis.set_ylim(0.0, 1.3 * slope_axis.get_ylim()[1])  # the legend above the flux-flow plateaus
    slope_axis.legend(loc="upper center", ncols=min(len(labelled), 4))
    if jc_points:
        kelvin, jc = (np.array(column) for column in zip(*jc_points))
        jc_axis.plot(kelvin, jc * 1e-6, "o", color="black", markersize=6, label="$J_c$ = $I_c$ / (width × thickness)",
                     zorder=3, clip_on=False)
        fit = next((report["jc_fit"] for report in step.reports if "jc_fit" in report), {})
        tc, jc0 = _value(fit.get("tc_K")), _value(fit.get("jc0_A_cm2"))
        if math.isfinite(tc) and math.isfinite(jc0):
            grid = np.linspace(0.0, tc, 200)
            law = JC_MODELS[fit["model"]]
            jc_axis.plot(grid, law(grid, tc, jc0) * 1e-6, color="tab:red",
                         label=f"{PINNING_NAMES.get(fit['model'], fit['model'])} pinning: $J_c(0)$ = "
                               f"{with_error(fit['jc0_A_cm2'], 'MA/cm²', 1e-6)}\n"
                               f"$J_c$ vanishes at {with_error(fit['tc_K'], 'K')}")
        jc_axis.set_xlim(0.0, None)
        jc_axis.set_ylim(bottom=0.0)
        jc_axis.set_xlabel("Temperature (K)")
        jc_axis.set_ylabel("$J_c$ (MA/cm²)")
        jc_axis.legend(loc="upper right")
    else:
        jc_axis.text(0.5, 0.5, "no $J_c$: the run gives no sample width and thickness", transform=jc_axis.transAxes,
                     ha="center", va="center", color="0.4")
        jc_axis.set_axis_off()
    _panel_letters(axes)
    _title(log_axis, step, "critical current")
    return figure


# ---- point-contact spectra ------------------------------------------------------------------------


def _processed_spectra(step: StepAnalysis) -> list[tuple[float, np.ndarray, np.ndarray, dict]]:
    """(temperature, bias mV, normalised dI/dV, BTK report) of each spectrum the analysis fitted,
    processed again (no fit: the fit's numbers are in the report) with the run's settings."""
    table = step.table
    bias, didv = table.need(BIAS, 0), table.need(CONDUCTANCE, 1)
    degree = table.parameter(DifferentialConductance.background_degree.name)
    series = table.parameter(DifferentialConductance.series_resistance_ohm.name) or 0.0
    reports = [report for report in step.reports if "gap_window_mV" in report]
    found = []
    for rows, report in zip(spectra(bias, table.find(CURRENT)), reports):
        if "delta_meV" not in report:
            continue
        usable = rows[np.isfinite(bias[rows]) & np.isfinite(didv[rows]) & (didv[rows] > 0)]
        try:
            spectrum = analyse_spectrum(bias[usable], didv[usable], report["temperature_K"],
                                        report["gap_window_mV"] * 1e-3, int(2 if degree is None else degree),
                                        SMOOTH_POINTS, series_resistance_ohm=series, fit=False).spectrum
        except ValueError as error:
            log.warning("%s: spectrum at %.3g K not drawn: %s", step.path.name, report["temperature_K"], error)
            continue
        found.append((report["temperature_K"], spectrum.bias_mV, spectrum.conductance_norm, report))
    return sorted(found, key=lambda item: item[0])


def draw_didv(step: StepAnalysis, section: dict | None) -> Any:
    """Normalised dI/dV per temperature, each offset upwards for clarity, with its BTK fit."""
    from matplotlib.lines import Line2D

    processed = _processed_spectra(step)
    if not processed:
        return None
    figure, (axis,) = _figure(1)
    spans = [float(np.ptp(conductance / _value(report["normal_conductance"])))
             for _, _, conductance, report in processed]
    offset = round(max(0.2, 0.6 * max(spans)), 1)
    for index, (kelvin, bias_mV, conductance, report) in enumerate(processed):
        scale = _value(report["normal_conductance"])
        shift = index * offset
        axis.plot(bias_mV, conductance / scale + shift, "o", color=f"C{index % 10}", markersize=2.5, alpha=0.8)
        model = btk_conductance(bias_mV, _value(report["delta_meV"]), _value(report["z"]),
                                _value(report["gamma_meV"]), kelvin)
        axis.plot(bias_mV, model + shift, color="black", linewidth=1.1)
        # above the flat high-bias tail on the left, where no curve runs (the gaps are in gap.png)
        axis.text(bias_mV.min(), float(np.max(model[: max(3, model.size // 8)])) + shift + 0.04 * offset,
                  f"{kelvin:.0f} K", ha="left", va="bottom")
    axis.legend(handles=[Line2D([], [], linestyle="", marker="o", color="0.4", markersize=4, label="data"),
                         Line2D([], [], color="black", label="BTK fit")], loc="upper right")
    axis.set_xlabel("Bias (mV)")
    axis.set_ylabel(f"Normalised dI/dV (curves offset by {offset:g})")
    _title(axis, step, "point-contact spectra")
    return figure


def draw_gap(step: StepAnalysis, section: dict) -> Any:
    """Delta(T)/Delta(0) of the converged BTK fits against T/Tc, with the weak-coupling BCS curve."""
    delta0, tc = _value(section["delta0_meV"]), _value(section["tc_K"])
    gaps = [(report["temperature_K"], report["delta_meV"]) for report in step.reports
            if report.get("converged") and "delta_meV" in report]
    figure, (axis,) = _figure(1)
    reduced = np.linspace(0.0, 1.0, 300)
    axis.plot(reduced, bcs_gap_ratio(reduced), color="tab:red", label="BCS, weak coupling")
    kelvin = np.array([t for t, _ in gaps])
    delta = np.array([_value(entry) for _, entry in gaps])
    errors = np.array([_stderr(entry) for _, entry in gaps])
    axis.errorbar(kelvin / tc, delta / delta0, yerr=errors / delta0, fmt="o", color="black", markersize=6,
                  capsize=3, label="BTK gap at each temperature")
    axis.text(0.04, 0.05, f"Δ(0) = {with_error(section['delta0_meV'], 'meV')}\n$T_c$ = {with_error(section['tc_K'], 'K')}"
              f"\n2Δ(0)/$k_BT_c$ = {with_error(section['ratio_2delta_kTc'])}", transform=axis.transAxes,
              ha="left", va="bottom")
    axis.set_xlim(0.0, 1.1)
    axis.set_ylim(0.0, 1.2)
    axis.set_xlabel("$T/T_c$")
    axis.set_ylabel("Δ(T)/Δ(0)")
    axis.legend(loc="upper right")
    _title(axis, step, "gap")
    return figure


# ---- aging --------------------------------------------------------------------------------------


def _aging_points(step: StepAnalysis, criterion: str) -> dict | None:
    """The batch analysis' Tc(days) report of ``criterion`` (points and, when it worked, the fit)."""
    return next((report for report in step.reports if report.get("criterion") == criterion
                 and report.get("days_since_synthesis")), None)


def draw_aging(step: StepAnalysis, section: dict | None) -> Any:
    """Tc of each visit against the days since synthesis, with the exponential relaxation."""
    criterion = step.parameter_text(Aging.aging_criterion.name, "midpoint")
    points = _aging_points(step, criterion)
    if points is None:
        return None
    days, tc = np.array(points["days_since_synthesis"]), np.array(points["tc_K"])
    figure, (axis,) = _figure(1)
    axis.plot(days, tc, "o", color="black", markersize=6, label=f"$T_c$ ({criterion}) of each visit", zorder=3,
              clip_on=False)
    tau, tc0, tc_final = (_value(points.get(key)) for key in ("tau_days", "tc0_K", "tc_final_K"))
    if all(math.isfinite(value) for value in (tau, tc0, tc_final)):
        grid = np.linspace(0.0, 1.05 * float(days.max()), 300)
        axis.plot(grid, aging_curve(grid, tc0, tc_final, tau), color="tab:red",
                  label=f"$T_c(d) = T_{{c,\\infty}} + (T_{{c,0}} - T_{{c,\\infty}})\\,e^{{-d/\\tau}}$\n"
                        f"τ = {with_error(points['tau_days'], 'days')}, "
                        f"$T_{{c,\\infty}}$ = {with_error(points['tc_final_K'], 'K')}")
        axis.axhline(tc_final, color="tab:red", linestyle=":", linewidth=1.0,
                     label="$T_{c,\\infty}$, where $T_c$ settles")
        lowest = min(tc_final, float(np.nanmin(tc)))
        axis.set_ylim(bottom=lowest - 0.06 * (float(np.nanmax(tc)) - lowest))
    axis.set_xlim(left=0.0)
    axis.set_xlabel("Days since synthesis")
    axis.set_ylabel("$T_c$ (K)")
    axis.legend(loc="upper right")
    _title(axis, step, "aging")
    return figure


# ---- all of them --------------------------------------------------------------------------------


def _first(analysis: RunAnalysis, procedure: str, usable: Callable[[StepAnalysis], bool]) -> StepAnalysis | None:
    return next((step for step in analysis.steps if step.procedure == procedure and usable(step)), None)


def _plans(analysis: RunAnalysis) -> list[tuple[str, StepAnalysis | None, str, Callable]]:
    """(figure name, its step, the summary section it shows, drawing function)."""
    sources = analysis.sources

    def reported(step: StepAnalysis) -> bool:
        return bool(step.reports)

    return [
        ("rt", sources.get("tc"), "tc", draw_rt),
        ("hc2", sources.get("hc2") or _first(analysis, "FieldSeries", reported), "hc2", draw_hc2),
        ("ic", sources.get("jc") or _first(analysis, "CriticalCurrent", reported), "jc", draw_ic),
        ("didv", sources.get("gap") or _first(analysis, "DifferentialConductance", reported), "gap", draw_didv),
        ("gap", sources.get("gap"), "gap", draw_gap),
        ("aging", sources.get("aging") or _first(analysis, "Aging", reported), "aging", draw_aging),
    ]


def draw_all(analysis: RunAnalysis, folder: str | Path) -> list[Path]:
    """Draw every figure the run has data for into ``folder``; returns the files written.
    A figure that cannot be drawn is logged and left out: the rest of the report stands."""
    import matplotlib

    folder = Path(folder)
    written = []
    with matplotlib.rc_context(STYLE):
        for name, step, section_name, draw in _plans(analysis):
            for suffix in FORMATS:  # an earlier report's figure must not outlive its data
                (folder / f"{name}.{suffix}").unlink(missing_ok=True)
            if step is None or step.table is None:
                continue
            section = analysis.summary.get(section_name) if analysis.sources.get(section_name) is step else None
            try:
                figure = draw(step, section)
                if figure is not None:
                    written += _save(figure, folder, name)
            except Exception:  # a drawing problem must not cost the summary
                log.warning("%s: figure %s.png not drawn", step.path.name, name, exc_info=True)
    return written
