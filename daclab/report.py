"""``daclab report RUN_DIR [--json]``: what a sequence run found, for the group meeting.

Every step data file of a run folder (``NN_<kind>.csv``; files moved aside after an interruption
are not data of the run) is analysed by the batch analysis of :mod:`daclab.analyze` chosen by
the procedure class in its header:

    RTSweep                  transition temperatures of each leg, cooling-warming mean and lag
    FieldSeries              Tc(H) per criterion, WHH and GL fits of Hc2(T)
    CriticalCurrent          Ic of each pulsed I-V sweep, Jc, pinning fit of Jc(T)
    DifferentialConductance  BTK fit of each dI/dV spectrum, BCS fit of Delta(T)
    Aging                    Tc of each visit against the days since synthesis, exponential fit

The headline numbers of the run (Tc, Hc2(0), Jc(0), Delta(0), the aging time) come from the
first file of each kind that gives them, with their standard errors. The report folder
``RUN_DIR/report/`` receives summary.json (the numbers, see :func:`summarise`), summary.txt (the
same in words) and the figures of :mod:`daclab.report_figures`. A file that cannot be analysed
leaves its headline number null and says why in its measurement entry; the report never stops
on one bad file.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from daclab import rundir
from daclab.analysis.constants import BCS_2DELTA_OVER_KTC
from daclab.analysis.fitting import Estimate, plain
from daclab.analysis.transitions import CRITERIA
from daclab.analyze import (Table, analyse_aging, analyse_didv, analyse_hc2, analyse_ic, analyse_tc, build_parser,
                            read_table)
from daclab.command_line import EXIT_USAGE, CommandParser, ParserExit, UsageError
from daclab.procedures.aging import Aging
from daclab.procedures.base import LabProcedure
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.field_series import FieldSeries

log = logging.getLogger(__name__)

TEXT_NAME = "summary.txt"
ZERO_FIELD_T = 0.01  # below this a curve counts as measured in zero field (remanence of the magnet)
DEFAULT_CRITERION = "midpoint"
DAYS_METADATA = LabProcedure.run_days.name  # in the '#Metadata:' header of every data file

# Procedure class (as named in a data file's header) -> step kind of a sequence file.
KIND_OF_PROCEDURE = {
    "RTSweep": "rt_sweep", "FieldSeries": "field_series", "CriticalCurrent": "critical_current",
    "DifferentialConductance": "differential_conductance", "Aging": "aging",
}


class ReportError(Exception):
    """A run folder that cannot be reported on; the message is the one line the user sees."""


@dataclasses.dataclass
class StepAnalysis:
    """One step data file and what its analysis found.

    ``reports`` are the batch analysis' reports (:mod:`daclab.analyze`, "file" keys dropped),
    ``sections`` the headline numbers this file gives (section name -> values, Estimates where
    a fit gives an uncertainty), ``messages`` why a file or a fit gave nothing.
    """

    step: int
    kind: str
    path: Path
    points: int = 0
    days_since_synthesis: float = math.nan
    table: Table | None = None
    reports: list[dict] = dataclasses.field(default_factory=list)
    sections: dict[str, dict] = dataclasses.field(default_factory=dict)
    messages: list[str] = dataclasses.field(default_factory=list)

    @property
    def procedure(self) -> str:
        return self.table.procedure.rpartition(".")[2] if self.table is not None else ""

    def parameter_text(self, name: str, default: str) -> str:
        """A '#Parameters:' entry as written (a choice such as a criterion), ``default`` when absent."""
        if self.table is None:
            return default
        return self.table.parameters.get(name, default).strip() or default

    def criterion(self, name: str) -> str:
        """The Tc criterion a '#Parameters:' entry chose; the default one when absent or unknown."""
        chosen = self.parameter_text(name, DEFAULT_CRITERION)
        return chosen if chosen in CRITERIA else DEFAULT_CRITERION


@dataclasses.dataclass
class RunAnalysis:
    """Everything the report of a run shows: the summary and the steps behind it."""

    run_dir: Path
    summary: dict[str, Any]
    steps: list[StepAnalysis]
    sources: dict[str, StepAnalysis]  # section -> the step it came from


# ---- the run folder --------------------------------------------------------------------------


def _check_run_dir(run_dir: str | Path) -> Path:
    path = Path(run_dir)
    if not path.exists():
        raise ReportError(f"{path}: no such folder")
    if not path.is_dir():
        raise ReportError(f"{path}: not a folder; give a run folder (it holds run.json and the step files)")
    if not (path / rundir.IDENTITY_NAME).exists() and not (path / rundir.JOURNAL_NAME).exists():
        raise ReportError(f"{path}: not a run folder (no {rundir.IDENTITY_NAME} or {rundir.JOURNAL_NAME})")
    if not rundir.step_files(path):
        raise ReportError(f"{path}: no step data files (NN_<step>.csv) in the run folder")
    return path


def _sequence_status(run_dir: Path) -> str:
    """The status of the last 'sequence end' event of the journal; "unknown" without one."""
    status = "unknown"
    for event in rundir.Journal(run_dir).events():
        if event.get("event") == "sequence end":
            status = str(event.get("status", "unknown"))
    return status


def _metadata_number(path: Path, name: str) -> float:
    """A number of the file's '#Metadata:' section (NaN when absent or not a number)."""
    section = ""
    with open(path, encoding="utf-8-sig") as stream:
        for line in stream:
            if not line.startswith("#"):
                break
            text = line[1:]
            if not text.startswith("\t") and text.rstrip().endswith(":"):
                section = text.strip()[:-1]
            elif section == "Metadata" and ":" in text:
                key, value = text.strip().split(":", 1)
                if key.strip() == name:
                    try:
                        return float(value.split()[0])
                    except (ValueError, IndexError):
                        return math.nan
    return math.nan


def _step_kinds(identity: dict[str, Any]) -> dict[str, str]:
    """File name -> step kind, from run.json."""
    return {str(step.get("file")): str(step.get("kind")) for step in identity.get("steps", []) if step.get("file")}


# ---- the analyses by kind ---------------------------------------------------------------------


def _options(analysis: str, path: Path, *extra: str) -> argparse.Namespace:
    """The batch analysis' options as on its command line: the run's own settings by default."""
    return build_parser().parse_args([analysis, str(path), *extra])


def _without_file(reports: list[dict]) -> list[dict]:
    """Reports without their "file" (the measurement entry names it), wrappers opened."""
    out = []
    for report in reports:
        if len(report) == 1 and isinstance(next(iter(report.values())), dict) and "curve" in report:
            report = report["curve"]
        out.append({key: value for key, value in report.items() if key != "file"})
    return out


def _is_zero_field(report: dict) -> bool:
    field = report.get("field_T", math.nan)
    return math.isnan(field) or abs(field) < ZERO_FIELD_T


def _value(entry: Any) -> float:
    return entry.value if isinstance(entry, Estimate) else float(entry)


def _analyse_rt(step: StepAnalysis) -> None:
    """Transition temperatures of every leg; the "tc" section from a zero-field sweep (the mean of
    cooling and warming when both are there: the thermal lag cancels; lag = warming - cooling)."""
    step.reports = _without_file(analyse_tc([step.table], _options("tc", step.path)))
    legs = [report for report in step.reports if "lag_K" not in report]
    pairs = [report for report in step.reports if "lag_K" in report]
    if not all(_is_zero_field(report) for report in legs):
        return  # a sweep in a field: not the zero-field Tc
    found = [report for report in legs if "midpoint_K" in report and not math.isnan(_value(report["midpoint_K"]))]
    if pairs:
        pair = pairs[0]
        widths = [_value(report["width_K"]) for report in found if report["sweep"] in ("cooling", "warming")]
        width = Estimate(float(np.mean(widths)), abs(widths[-1] - widths[0]) / 2) if len(widths) == 2 \
            else Estimate(math.nan)
        step.sections["tc"] = {"onset_K": pair["onset_K"], "midpoint_K": pair["midpoint_K"], "zero_K": pair["zero_K"],
                               "width_K": width, "lag_K": pair["lag_K"]["midpoint"]}
    elif found:
        leg = found[0]
        step.sections["tc"] = {"onset_K": leg["onset_K"], "midpoint_K": leg["midpoint_K"], "zero_K": leg["zero_K"],
                               "width_K": leg["width_K"], "lag_K": math.nan}
    else:
        notes = "; ".join(sorted({report.get("note") or report.get("error", "") for report in legs} - {""}))
        step.messages.append(f"no superconducting transition found{': ' + notes if notes else ''}")


def _analyse_field_series(step: StepAnalysis) -> None:
    """Tc(H) per criterion with WHH and GL fits; the "hc2" section at the run's own criterion."""
    criterion = step.criterion(FieldSeries.hc2_criterion.name)
    step.reports = _without_file(analyse_hc2([step.table], _options("hc2", step.path)))
    fits = next((report for report in step.reports if report.get("criterion") == criterion), None)
    if fits is None:
        step.messages.append(f"no {criterion} Tc at any field")
        return
    whh, gl = fits.get("whh", {}), fits.get("gl", {})
    errors = [f"{name.upper()}: {fit['error']}" for name, fit in (("whh", whh), ("gl", gl)) if "error" in fit]
    if len(errors) == 2:
        step.messages.append(f"Hc2(T) fits of the {criterion} Tc failed: {'; '.join(errors)}")
        return
    step.messages.extend(errors)
    tc = whh.get("tc_K") or gl.get("tc_K")
    step.sections["hc2"] = {"whh_T": whh.get("hc2_0_T", math.nan), "gl_T": gl.get("hc2_0_T", math.nan),
                            "tc_K": tc, "criterion": criterion}


def _analyse_ic(step: StepAnalysis) -> None:
    """Ic of every sweep, Jc on the file's cross-section, the pinning fit: the "jc" section."""
    model = step.parameter_text(CriticalCurrent.jc_model.name, "delta_l")
    try:
        options = _options("ic", step.path, "--model", model)
    except UsageError:  # a model this version does not know: the default law
        options = _options("ic", step.path)
    step.reports = _without_file(analyse_ic([step.table], options))
    fit = next((report["jc_fit"] for report in step.reports if "jc_fit" in report), None)
    if fit is None:
        if not any("ic_A" in report for report in step.reports):
            step.messages.append("no I-V sweep could be analysed")
        elif not any("jc_A_cm2" in report for report in step.reports):
            step.messages.append("no Jc: the file gives no sample width and thickness")
        else:
            temperatures = {round(report["temperature_K"], 3) for report in step.reports
                            if report.get("polarity") == 1 and "jc_A_cm2" in report
                            and not math.isnan(_value(report["jc_A_cm2"]))}
            step.messages.append(f"Jc(T) needs an Ic at three temperatures; found {len(temperatures)}")
    elif "error" in fit:
        step.messages.append(f"Jc(T) fit failed: {fit['error']}")
    else:
        step.sections["jc"] = {"jc0_A_cm2": fit["jc0_A_cm2"], "tc_K": fit["tc_K"], "model": fit["model"]}


def _analyse_didv(step: StepAnalysis) -> None:
    """BTK gap of every spectrum at its temperature, BCS fit of Delta(T): the "gap" section."""
    step.reports = _without_file(analyse_didv([step.table], _options("didv", step.path)))
    fit = next((report["gap_fit"] for report in step.reports if "gap_fit" in report), None)
    if fit is None:
        converged = sum(1 for report in step.reports if report.get("converged"))
        step.messages.append(f"Delta(T) needs converged BTK gaps at three temperatures; found {converged}")
    elif "error" in fit:
        step.messages.append(f"BCS fit of Delta(T) failed: {fit['error']}")
    else:
        step.sections["gap"] = {"delta0_meV": fit["delta0_meV"], "tc_K": fit["tc_K"],
                                "ratio_2delta_kTc": fit["ratio_2delta_over_kTc"]}


def _analyse_aging(step: StepAnalysis) -> None:
    """Tc of every visit against the days since synthesis and its exponential relaxation, per
    criterion; the "aging" section at the criterion the run followed."""
    criterion = step.criterion(Aging.aging_criterion.name)
    step.reports = _without_file(analyse_aging([step.table], _options("aging", step.path)))
    fit = next((report for report in step.reports if report.get("criterion") == criterion), None)
    if fit is None:
        step.messages.append(f"no {criterion} Tc on any visit")
    elif "error" in fit:
        step.messages.append(f"aging fit failed: {fit['error']}")
    else:
        step.sections["aging"] = {"tau_days": fit["tau_days"], "tc_final_K": fit["tc_final_K"]}


ANALYSES: dict[str, Callable[[StepAnalysis], None]] = {
    "RTSweep": _analyse_rt, "FieldSeries": _analyse_field_series, "CriticalCurrent": _analyse_ic,
    "DifferentialConductance": _analyse_didv, "Aging": _analyse_aging,
}


def analyse_step(path: Path, kind: str = "") -> StepAnalysis:
    """Read and analyse one step data file; never raises on a file it cannot use (``messages`` say why)."""
    step = StepAnalysis(step=int(path.name.split("_", 1)[0]), kind=kind, path=path)
    step.days_since_synthesis = _metadata_number(path, DAYS_METADATA)
    try:
        step.table = read_table(str(path))
    except (UsageError, OSError) as error:
        step.messages.append(str(error).replace(f"{path}: ", ""))
        step.kind = step.kind or path.stem.split("_", 1)[1]
        return step
    step.points = int(step.table.values.shape[0])
    step.kind = step.kind or KIND_OF_PROCEDURE.get(step.procedure, path.stem.split("_", 1)[1])
    analysis = ANALYSES.get(step.procedure)
    if analysis is None:
        return step  # an action (wait, set temperature, set field): nothing to analyse
    try:
        analysis(step)
    except Exception as error:  # one bad file must not cost the report of the others
        log.warning("%s: analysis failed", path, exc_info=True)
        step.sections.clear()
        step.messages.append(" ".join(str(error).replace(f"{path}: ", "").split()) or type(error).__name__)
    return step


# ---- the summary ------------------------------------------------------------------------------

SECTIONS = ("tc", "hc2", "jc", "gap", "aging")


def _measurement(step: StepAnalysis) -> dict[str, Any]:
    entry: dict[str, Any] = {"step": step.step, "kind": step.kind, "file": step.path.name, "points": step.points,
                             "days_since_synthesis": step.days_since_synthesis, "results": {}}
    if step.reports:
        entry["results"] = {"procedure": step.procedure, "analyses": step.reports}
    if step.messages:
        entry["message"] = "; ".join(step.messages)
    return entry


def analyse_run(run_dir: str | Path) -> RunAnalysis:
    """Analyse every step data file of a run folder; raises :class:`ReportError` when ``run_dir``
    is missing, not a run folder or holds no step data file."""
    path = _check_run_dir(run_dir)
    identity = rundir.read_identity(path)
    kinds = _step_kinds(identity)
    steps = [analyse_step(file, kinds.get(file.name, "")) for file in rundir.step_files(path)]
    sources: dict[str, StepAnalysis] = {}
    for step in steps:
        for name in step.sections:
            sources.setdefault(name, step)
    summary: dict[str, Any] = {
        "sequence": {"name": identity.get("sequence", path.name), "run_dir": str(path.resolve()),
                     "started": identity.get("started"), "status": _sequence_status(path)},
        "sample": identity.get("sample", {}),
        "lab": identity.get("lab"),
        "simulation": identity.get("simulation"),
    }
    for name in SECTIONS:
        source = sources.get(name)
        summary[name] = None if source is None else {**source.sections[name], "file": source.path.name}
    summary["measurements"] = [_measurement(step) for step in steps]
    return RunAnalysis(path, plain(summary, nan=None), steps, sources)


def summarise(run_dir: str | Path) -> dict[str, Any]:
    """The summary.json content of a run folder (module docstring; plain JSON values: each number
    a number, null, or {"value", "stderr"} where a fit gives an uncertainty)."""
    return analyse_run(run_dir).summary


# ---- summary.txt ------------------------------------------------------------------------------


def split_estimate(entry: Any) -> tuple[float | None, float | None]:
    """(value, stderr) of an Estimate, its {"value", "stderr"} form, or a plain number."""
    if isinstance(entry, Estimate):
        return entry.value, entry.stderr
    if isinstance(entry, dict):
        return entry.get("value"), entry.get("stderr")
    return entry, None


def with_error(entry: Any, unit: str = "", scale: float = 1.0) -> str:
    """'95.7 ± 2.4 K': a value with its standard error to two significant digits (the value to the
    same decimal place), or the value alone to four digits; "not found" for null."""
    value, stderr = split_estimate(entry)
    if value is None or not math.isfinite(value):
        return "not found"
    suffix = f" {unit}" if unit else ""
    value *= scale
    if stderr is None or not math.isfinite(stderr) or stderr <= 0:
        return f"{value:#.4g}".rstrip(".") + suffix
    stderr *= scale
    decimals = max(0, 1 - math.floor(math.log10(stderr)))
    return f"{value:.{decimals}f} ± {stderr:.{decimals}f}{suffix}"


def _headline(summary: dict[str, Any]) -> list[str]:
    lines = []
    tc = summary["tc"]
    if tc:
        how = "mean of cooling and warming" if tc["lag_K"] is not None else "one sweep"
        lines.append(f"Tc (zero field, {how}, {tc['file']}):")
        lines.append(f"  midpoint {with_error(tc['midpoint_K'], 'K')}, onset {with_error(tc['onset_K'], 'K')}, "
                     f"zero resistance {with_error(tc['zero_K'], 'K')}")
        lag = f"; thermal lag (warming - cooling) {tc['lag_K']:.2f} K" if tc["lag_K"] is not None else ""
        lines.append(f"  transition width (10-90 %) {with_error(tc['width_K'], 'K')}{lag}")
    hc2 = summary["hc2"]
    if hc2:
        lines.append(f"Upper critical field ({hc2['criterion']} Tc, {hc2['file']}):")
        lines.append(f"  mu0 Hc2(0) WHH {with_error(hc2['whh_T'], 'T')}, GL {with_error(hc2['gl_T'], 'T')}; "
                     f"Tc(0 T) {with_error(hc2['tc_K'], 'K')}")
    jc = summary["jc"]
    if jc:
        lines.append(f"Critical current density ({jc['model'].replace('_', '-')} pinning, {jc['file']}):")
        lines.append(f"  Jc(0) {with_error(jc['jc0_A_cm2'], 'MA/cm2', 1e-6)}, Jc vanishes at "
                     f"{with_error(jc['tc_K'], 'K')}")
    gap = summary["gap"]
    if gap:
        lines.append(f"Superconducting gap (BCS fit of the BTK gaps, {gap['file']}):")
        lines.append(f"  Delta(0) {with_error(gap['delta0_meV'], 'meV')}, Tc {with_error(gap['tc_K'], 'K')}, "
                     f"2 Delta(0)/kB Tc {with_error(gap['ratio_2delta_kTc'])} "
                     f"(weak-coupling BCS: {BCS_2DELTA_OVER_KTC:.2f})")
    aging = summary["aging"]
    if aging:
        lines.append(f"Aging ({aging['file']}):")
        lines.append(f"  Tc relaxes with tau = {with_error(aging['tau_days'], 'days')} towards "
                     f"{with_error(aging['tc_final_K'], 'K')}")
    missing = [name for name in SECTIONS if not summary[name]]
    if missing:
        lines.append(f"Not in this run: {', '.join(missing)}")
    return lines


def _measurement_lines(entry: dict[str, Any]) -> list[str]:
    """A few lines per data file: what was measured and what it showed."""
    analyses = entry["results"].get("analyses", []) if entry["results"] else []
    lines = []
    for report in analyses:
        if "visit" in report:  # one visit of an aging series
            day = report.get("days_since_synthesis")
            when = f"visit {report['visit']}" + (f", day {day:.2f}" if day is not None else "")
            if "error" in report:
                lines.append(f"{when}: {report['error']}")
                continue
            lines.append(f"{when} ({' and '.join(report['sweeps'])}): midpoint {with_error(report['midpoint_K'], 'K')}, "
                         f"onset {with_error(report['onset_K'], 'K')}, zero {with_error(report['zero_K'], 'K')}")
        elif "sweep" in report and "lag_K" not in report:  # an R-T leg
            where = f"{report['field_T']:g} T, " if report.get("field_T") is not None else ""
            visit = (f"day {report['days_since_synthesis']:.2f}, "
                     if report.get("days_since_synthesis") is not None else "")
            if "error" in report:
                lines.append(f"{visit}{where}{report['sweep']}: {report['error']}")
                continue
            lines.append(f"{visit}{where}{report['sweep']}: midpoint {with_error(report.get('midpoint_K'), 'K')}, "
                         f"onset {with_error(report.get('onset_K'), 'K')}, zero {with_error(report.get('zero_K'), 'K')}")
        elif "polarity" in report:  # an I-V sweep
            sign = "+" if report["polarity"] == 1 else "-"
            where = f"{report['temperature_K']:.2f} K" if report.get("temperature_K") is not None else "sweep"
            if "error" in report:
                lines.append(f"{where} ({sign}): {report['error']}")
                continue
            jc = f", Jc {with_error(report['jc_A_cm2'], 'MA/cm2', 1e-6)}" if "jc_A_cm2" in report else ""
            lines.append(f"{where} ({sign}): Ic {with_error(report['ic_A'], 'mA', 1e3)}{jc}")
        elif "delta_meV" in report or ("gap_window_mV" in report and "error" in report):  # a spectrum
            where = f"{report['temperature_K']:.2f} K" if report.get("temperature_K") is not None else "spectrum"
            if "error" in report:
                lines.append(f"{where}: {report['error']}")
                continue
            converged = "" if report.get("converged") else " (fit did not converge)"
            lines.append(f"{where}: Delta {with_error(report['delta_meV'], 'meV')}, Z {with_error(report['z'])}, "
                         f"Gamma {with_error(report['gamma_meV'], 'meV')}{converged}")
    return lines


def summary_text(summary: dict[str, Any]) -> str:
    """summary.txt: the run, the sample, the headline numbers, then each measurement."""
    sequence, sample = summary["sequence"], summary["sample"] or {}
    lines = [f"Run '{sequence['name']}': {sequence['status']}" +
             (f", started {_when(sequence['started'])}" if sequence.get("started") else ""),
             f"Folder: {sequence['run_dir']}"]
    described = [sample.get("name") or "unnamed sample"]
    if sample.get("cell"):
        described.append(f"cell {sample['cell']}")
    if sample.get("pressure_GPa") is not None:
        described.append(f"{sample['pressure_GPa']:g} GPa ({sample.get('pressure_scale', 'scale not given')})")
    if sample.get("synthesis_date"):
        described.append(f"synthesised {_when(sample['synthesis_date'])}")
    lines.append("Sample: " + ", ".join(described))
    lab = summary.get("lab") or "not recorded"
    simulation = summary.get("simulation")
    if simulation:
        lab += (f" (virtual cryostat: preset {simulation.get('sample')}, seed {simulation.get('seed')}, "
                f"start {simulation.get('start_K')} K)")
    lines += [f"Lab: {lab}", "", "Results"]
    lines += ["  " + line for line in _headline(summary)]
    lines += ["", "Measurements"]
    for entry in summary["measurements"]:
        days = entry["days_since_synthesis"]
        age = f", day {days:.1f} since synthesis" if days is not None else ""
        lines.append(f"  {entry['step']}. {entry['kind']} ({entry['file']}): {entry['points']} points{age}")
        lines += ["       " + line for line in _measurement_lines(entry)]
        if entry.get("message"):
            lines.append(f"       note: {entry['message']}")
    return "\n".join(lines) + "\n"


def _when(text: str) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM' (the text itself if it is not one)."""
    try:
        return dt.datetime.fromisoformat(str(text)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(text)


# ---- the report folder ------------------------------------------------------------------------


def write_report(run_dir: str | Path) -> Path:
    """Analyse the run and write RUN_DIR/report/: summary.json, summary.txt and the figures
    (PNG and PDF) for which the run has data. Returns the report folder."""
    from daclab import report_figures  # matplotlib is loaded only when figures are drawn

    analysis = analyse_run(run_dir)
    folder = analysis.run_dir / rundir.REPORT_FOLDER
    folder.mkdir(exist_ok=True)
    rundir.write_json_atomic(folder / rundir.SUMMARY_NAME, analysis.summary)
    temporary = folder / (TEXT_NAME + ".tmp")
    temporary.write_text(summary_text(analysis.summary), encoding="utf-8")
    temporary.replace(folder / TEXT_NAME)
    report_figures.draw_all(analysis, folder)
    return folder


# ---- the command ------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="daclab report", description="Analyse every data file of a sequence run and write "
                     "RUN_DIR/report/: summary.json, summary.txt and figures (PNG and PDF).",
                     epilog="Mistakes (no such folder, not a run folder, no data files): one line on stderr, "
                     "exit code 2.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (it holds run.json and NN_<step>.csv)")
    parser.add_argument("--json", action="store_true",
                        help="print summary.json instead of summary.txt (the report folder is named on stderr)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``daclab report RUN_DIR [--json]``; 0 on success, 2 on a mistake in the command or the folder."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        options = _build_parser().parse_args(argv)
        folder = write_report(options.run_dir)
    except ParserExit as done:
        return done.status
    except (ReportError, UsageError, OSError) as error:
        print("daclab report: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_USAGE
    summary = json.loads((folder / rundir.SUMMARY_NAME).read_text(encoding="utf-8"))
    if options.json:
        print(f"daclab report: written to {folder}", file=sys.stderr)
        print(json.dumps(summary, indent=2, allow_nan=False))
    else:
        print(f"Report written to {folder}/\n")
        print((folder / TEXT_NAME).read_text(encoding="utf-8"), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
