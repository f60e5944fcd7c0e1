"""``daclab analyze tc|hc2|ic|didv|aging FILE... [--json]``: the batch analyses on data files.

Reads the pymeasure Results files the procedures write (``#`` header with the parameters, then
a CSV table with "Name (unit)" columns) and plain CSV or whitespace tables from elsewhere, and
prints what daclab.analysis finds, with standard errors, or the same as JSON where every
fitted number is {"value": ..., "stderr": ...} (null where there is none).

    tc    transition temperatures of each R(T) curve (every criterion; cooling and warming
          halves of one sweep reported apart and averaged)
    hc2   Tc(H) from R(T) curves at several fields (the field from a Field column), or from a
          table of (Tc, H) points, fitted with WHH and GL per criterion
    ic    critical current of each I-V sweep at a voltage criterion; Jc and a pinning fit of
          Jc(T) when temperatures and the cross-section are known
    didv  each dI/dV spectrum processed (moving average, background, normalisation) and fitted
          with BTK at its temperature; a BCS fit of Delta(T) across three or more temperatures
    aging Tc of each visit of an aging series (every criterion; the mean of a visit's cooling
          and warming legs) against the days since synthesis, or a table of (days, Tc) points,
          fitted per criterion with the exponential relaxation Tc_inf + (Tc_0 - Tc_inf) exp(-d/tau)

Columns are found by name (Temperature, Resistance, Field, Current, Voltage, Bias, dI/dV ...;
units in brackets are converted: mK, mohm, mA, uV, mT ...). A plain file with two unnamed
columns is read in the order above (T,R / I,V / V,dI/dV / Tc,H / days,Tc). Mistakes in the input give one
line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from daclab.analysis.aging import day_crossed, fit_aging
from daclab.analysis.critical import JC_MODELS, critical_current_from_iv, fit_jc
from daclab.analysis.fitting import Estimate, plain
from daclab.analysis.gap_fit import analyse_spectrum, fit_gap
from daclab.analysis.hc2_fit import MODELS as HC2_FIT_MODELS
from daclab.analysis.hc2_fit import fit_hc2
from daclab.analysis.pinning import critical_current_density_A_cm2
from daclab.analysis.transitions import CRITERIA, TransitionResult, cooling_warming, transition_temperatures
from daclab.command_line import EXIT_USAGE, CommandParser, ParserExit, UsageError
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.differential_conductance import DifferentialConductance

HC2_MODELS = ("whh", "gl")  # fitted unless --model says otherwise (paper 000 shows both)
# Fields closer than this (absolute + relative) are one R(T) curve; the magnet holds to ~1e-4 T.
FIELD_MATCH_T = 0.005
FIELD_MATCH_RELATIVE = 0.001


# ---- reading data files --------------------------------------------------------------------

_PREFIXES = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6}
_UNIT_SPELLINGS = {"Ω": "ohm", "Ohm": "ohm", "ohms": "ohm", "Ohms": "ohm", "kelvin": "K", "tesla": "T",
                   "siemens": "S", "mho": "S", "d": "day", "days": "day"}


@dataclasses.dataclass(frozen=True)
class Quantity:
    """A column the analyses need: names it goes by (lower case, without unit) and its SI unit."""

    label: str
    names: tuple[str, ...]
    unit: str


TEMPERATURE = Quantity("temperature", ("temperature", "sample temperature", "t", "temp", "t (k)"), "K")
RESISTANCE = Quantity("resistance", ("resistance", "r", "sample resistance"), "ohm")
FIELD = Quantity("field", ("field", "magnetic field", "h", "b", "mu0h", "mu0 h", "field setpoint"), "T")
TC = Quantity("Tc", ("tc", "transition temperature", "temperature", "t"), "K")
CURRENT = Quantity("current", ("current", "i", "source current"), "A")
VOLTAGE = Quantity("voltage", ("voltage", "v", "sample voltage"), "V")
BIAS = Quantity("bias", ("bias", "bias voltage", "junction bias", "voltage", "v"), "V")
CONDUCTANCE = Quantity("dI/dV", ("di/dv", "didv", "conductance", "differential conductance", "g"), "S")
SETPOINT = Quantity("setpoint", ("setpoint", "temperature setpoint", "setpoint temperature"), "K")
POLARITY = Quantity("polarity", ("polarity",), "")
DIRECTION = Quantity("sweep direction", ("sweep direction", "direction"), "")
VISIT = Quantity("visit", ("visit",), "")
DAYS = Quantity("days since synthesis", ("days since synthesis", "days"), "day")


@dataclasses.dataclass(frozen=True)
class Table:
    """A data file: named columns of floats (NaN where a cell is not a number) and its header."""

    path: Path
    names: tuple[str, ...]  # as written, "Temperature (K)"
    values: np.ndarray  # rows x columns
    cells: tuple[tuple[str, ...], ...]  # the same as text, for columns of words
    parameters: dict[str, str]  # pymeasure '#Parameters:' entries, name -> "value unit"
    procedure: str  # pymeasure '#Procedure:' class, "" for a plain file

    def _index(self, quantity: Quantity) -> int | None:
        for alias in quantity.names:
            for index, name in enumerate(self.names):
                if _split_unit(name)[0].lower() == alias:
                    return index
        return None

    def find(self, quantity: Quantity, position: int | None = None) -> np.ndarray | None:
        """The column of ``quantity`` in SI units, found by name; in a two-column file whose column
        at ``position`` has no name daclab knows, that column; None when there is none.
        A column of NaN only counts as none."""
        index = self._index(quantity)
        if index is None and position is not None and len(self.names) == 2:
            if _split_unit(self.names[position])[0].lower() not in _KNOWN_NAMES:
                index = position
        if index is None or np.all(np.isnan(self.values[:, index])):
            return None
        name = self.names[index]
        return self.values[:, index] * _unit_scale(self.path, name, _split_unit(name)[1], quantity.unit)

    def has(self, quantity: Quantity) -> bool:
        """Whether a column of ``quantity`` is named in the file (numbers in it or not)."""
        return self._index(quantity) is not None

    def words(self, quantity: Quantity) -> list[str] | None:
        """A column of text (the sweep direction), None when there is none."""
        index = self._index(quantity)
        return None if index is None else [row[index] for row in self.cells]

    def need(self, quantity: Quantity, position: int | None = None) -> np.ndarray:
        """:meth:`find`, or a UsageError saying which column is missing or empty."""
        column = self.find(quantity, position)
        if column is not None:
            return column
        if self._index(quantity) is not None:
            raise UsageError(f"{self.path}: the {quantity.label} column holds no numbers (all NaN)")
        raise UsageError(f"{self.path}: no {quantity.label} column; columns are {', '.join(self.names)}")

    def parameter(self, name: str) -> float | None:
        """A numeric '#Parameters:' entry ("1 uV" -> 1.0), None when absent or not a number."""
        text = self.parameters.get(name)
        if text is None:
            return None
        try:
            return float(text.split()[0])
        except (ValueError, IndexError):
            return None


_KNOWN_NAMES = {alias for q in (TEMPERATURE, RESISTANCE, FIELD, TC, CURRENT, VOLTAGE, BIAS, CONDUCTANCE, SETPOINT)
                for alias in q.names}


def _split_unit(name: str) -> tuple[str, str]:
    """'Temperature (K)' -> ('Temperature', 'K'); 'T[mK]' -> ('T', 'mK'); 'R' -> ('R', '')."""
    match = re.fullmatch(r"\s*(.*?)\s*[\(\[]\s*([^\)\]]*?)\s*[\)\]]\s*", name)
    if match:
        return match.group(1), match.group(2)
    return name.strip(), ""


def _unit_scale(path: Path, column: str, unit: str, si: str) -> float:
    """Factor from ``unit`` to ``si`` (a prefix of it: mK, mohm, uA, mT, mS...); no unit means SI."""
    unit = _UNIT_SPELLINGS.get(unit, unit)
    if not si or unit in ("", si):
        return 1.0
    for spelling, canonical in _UNIT_SPELLINGS.items():
        if unit.endswith(spelling) and canonical == si:
            unit = unit[: -len(spelling)] + canonical
    if unit.endswith(si) and unit[: -len(si)] in _PREFIXES:
        return _PREFIXES[unit[: -len(si)]]
    raise UsageError(f"{path}: column {column!r} is in {unit!r}; expected {si} or {si} with a prefix "
                     f"(m{si}, u{si}, k{si}...)")


def read_table(path_text: str) -> Table:
    """A pymeasure Results file or a plain table (comma, semicolon, tab or space separated)."""
    path = Path(path_text)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a data file")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text data file") from None
    header = [line for line in lines if line.startswith("#")]
    body = [(number, line) for number, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    if not body:
        raise UsageError(f"{path}: no data in the file")
    separator = _separator(body[0][1])
    first = _cells(body[0][1], separator)
    if all(_is_number(cell) for cell in first):
        names = tuple(f"column {i + 1}" for i in range(len(first)))
        rows = body
    else:
        names = tuple(first)
        rows = body[1:]
    if not rows:
        raise UsageError(f"{path}: no data rows below the column names")
    values = np.full((len(rows), len(names)), np.nan)
    cells = []
    for row, (number, line) in enumerate(rows):
        cells.append(tuple(_cells(line, separator)))
        if len(cells[-1]) != len(names):
            raise UsageError(f"{path} line {number}: {len(cells[-1])} values where there are {len(names)} columns")
        values[row] = [_number(cell) for cell in cells[-1]]
    parameters, procedure = _pymeasure_header(header)
    return Table(path, names, values, tuple(cells), parameters, procedure)


def _separator(line: str) -> str | None:
    for candidate in (",", ";", "\t"):
        if candidate in line:
            return candidate
    return None  # runs of spaces


def _cells(line: str, separator: str | None) -> list[str]:
    return [cell.strip() for cell in line.split(separator)] if separator else line.split()


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _number(cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _pymeasure_header(lines: Iterable[str]) -> tuple[dict[str, str], str]:
    """'#Procedure: <module.Class>' and the '#\\tName: value' lines under '#Parameters:'."""
    parameters, procedure, section = {}, "", ""
    for line in lines:
        text = line[1:]
        if text.startswith("Procedure:"):
            procedure = text.split(":", 1)[1].strip().strip("<>")
        elif not text.startswith("\t") and text.rstrip().endswith(":"):
            section = text.strip()[:-1]
        elif section == "Parameters" and ":" in text:
            name, value = text.strip().split(":", 1)
            parameters[name.strip()] = value.strip()
    return parameters, procedure


# ---- splitting a file into curves ----------------------------------------------------------


def runs(values: np.ndarray, absolute: float, relative: float = 0.0) -> list[np.ndarray]:
    """Row indices of consecutive runs whose values stay within ``absolute + relative |v|`` of
    the run's first value: the fields of a field series, the set temperatures of a temperature
    series, the visits of an aging series. A NaN row stays in the run it sits in."""
    bounds, reference = [0], math.nan
    for index, value in enumerate(values):
        if math.isnan(value):
            continue
        if math.isnan(reference):
            reference = value
        elif abs(value - reference) > absolute + relative * abs(reference):
            bounds.append(index)
            reference = value
    bounds.append(len(values))
    return [np.arange(start, end) for start, end in zip(bounds, bounds[1:]) if end > start]


def turning_legs(temperature: np.ndarray, turn_fraction: float = 0.05) -> list[tuple[str, np.ndarray]]:
    """The cooling and warming legs of a temperature sweep in file order (positions into
    ``temperature``). A leg ends at the extreme the temperature has come back from by more than
    ``turn_fraction`` of the whole span, so reading noise makes no turns."""
    finite = np.flatnonzero(~np.isnan(temperature))
    if finite.size < 2:
        return [("sweep", finite)]
    values = temperature[finite]
    threshold = turn_fraction * float(np.ptp(values))
    legs, start, extreme, direction = [], 0, 0, 0
    for position in range(1, values.size):
        if direction == 0:
            if abs(values[position] - values[start]) > threshold:
                direction = 1 if values[position] > values[start] else -1
                extreme = position
        elif (values[position] - values[extreme]) * direction > 0:
            extreme = position
        elif abs(values[position] - values[extreme]) > threshold:
            legs.append((direction, finite[start:extreme + 1]))
            start, extreme, direction = extreme, position, -direction
    legs.append((direction, finite[start:]))
    names = {1: "warming", -1: "cooling", 0: "sweep"}
    return [(names[d], rows) for d, rows in legs]


@dataclasses.dataclass(frozen=True)
class Curve:
    """One R(T) leg of a file: its group (one visit at one field), field and days since
    synthesis (NaN when the file has none), direction and rows."""

    group: int
    field_T: float
    days: float
    leg: str
    rows: np.ndarray


def _subdivide(groups: list[np.ndarray], column: np.ndarray | None, absolute: float,
               relative: float = 0.0) -> list[np.ndarray]:
    if column is None:
        return groups
    return [rows[part] for rows in groups for part in runs(column[rows], absolute, relative)]


def curves(table: Table) -> list[Curve]:
    """Every R(T) leg in the file: runs of one visit (an aging series) and one field (a field
    series), each cut into legs by the file's sweep direction column (RTSweep writes one) or,
    without one, where the temperature turns round."""
    temperature = table.need(TEMPERATURE, 0)
    field, days, direction = table.find(FIELD), table.find(DAYS), table.words(DIRECTION)
    groups = _subdivide([np.arange(temperature.size)], table.find(VISIT), 0.0)
    groups = _subdivide(groups, field, FIELD_MATCH_T, FIELD_MATCH_RELATIVE)
    found = []
    for group, rows in enumerate(groups):
        if direction is not None:
            labels = [direction[row] for row in rows]
            starts = [0] + [i for i in range(1, len(rows)) if labels[i] != labels[i - 1]]
            legs = [(labels[a], rows[a:b]) for a, b in zip(starts, starts[1:] + [len(rows)])]
        else:
            legs = [(name, rows[positions]) for name, positions in turning_legs(temperature[rows])]
        field_T = _mean(field[rows]) if field is not None else math.nan
        found.extend(Curve(group, field_T, _mean(days[leg_rows]) if days is not None else math.nan, name,
                           leg_rows) for name, leg_rows in legs if leg_rows.size)
    return found


def _mean(values: np.ndarray) -> float:
    """Mean of the numbers among ``values`` (NaN if none), as the procedures average a curve's
    temperature or field."""
    finite = values[~np.isnan(values)]
    return float(np.mean(finite)) if finite.size else math.nan


# ---- the analyses --------------------------------------------------------------------------
# Each returns a list of reports (dicts); an item that could not be analysed carries "error".


def _criteria_report(criteria: dict[str, float], stderr: dict[str, float] | None = None) -> dict[str, Estimate]:
    return {f"{name}_K": Estimate(value, (stderr or {}).get(name, math.nan)) for name, value in criteria.items()}


def _transitions(table: Table) -> list[tuple[Curve, Any]]:
    """(curve, TransitionResult or the error text) for every leg of the file."""
    temperature, resistance = table.need(TEMPERATURE, 0), table.need(RESISTANCE, 1)
    found = []
    for curve in curves(table):
        try:
            found.append((curve, transition_temperatures(temperature[curve.rows], resistance[curve.rows])))
        except ValueError as error:
            found.append((curve, str(error)))
    return found


def _pairs(transitions: list[tuple[Curve, Any]]) -> dict[int, tuple[Curve, Any]]:
    """group -> (its cooling curve, PairResult) for every group with exactly one cooling and one
    warming leg through the transition."""
    by_group: dict[int, dict[str, list]] = {}
    for curve, result in transitions:
        if isinstance(result, TransitionResult) and result.has_transition:
            by_group.setdefault(curve.group, {}).setdefault(curve.leg, []).append((curve, result))
    pairs = {}
    for group, legs in by_group.items():
        if len(legs.get("cooling", ())) == 1 and len(legs.get("warming", ())) == 1:
            (curve, cooling), (_, warming) = legs["cooling"][0], legs["warming"][0]
            pairs[group] = (curve, cooling_warming(cooling, warming))
    return pairs


def _about(table: Table, curve: Curve, sweep: str | None = None) -> dict[str, Any]:
    """What every report on a leg starts with: file, sweep, field and days where known."""
    report: dict[str, Any] = {"file": str(table.path), "sweep": sweep or curve.leg}
    if not math.isnan(curve.field_T):
        report["field_T"] = curve.field_T
    if not math.isnan(curve.days):
        report["days_since_synthesis"] = curve.days
    return report


def analyse_tc(tables: Sequence[Table], options: argparse.Namespace) -> list[dict]:
    """Every criterion of every leg; a cooling-warming pair also as its mean, with half the
    difference of the two legs as the mean's uncertainty (the thermal lag, PHYSICS.md 2)."""
    reports = []
    for table in tables:
        transitions = _transitions(table)
        for curve, result in transitions:
            report = {**_about(table, curve), "points": int(curve.rows.size)}
            if isinstance(result, str):
                report["error"] = result
            else:
                report.update(_criteria_report(result.criteria()))
                report.update(width_K=Estimate(result.width_K), steps_K=list(result.steps),
                              normal_resistance_ohm=result.normal_resistance_ohm)
                if result.message:
                    report["note"] = result.message
            reports.append(report)
        for curve, pair in _pairs(transitions).values():
            report = _about(table, curve, "mean of cooling and warming")
            report.update(_criteria_report(pair.mean_K, {k: abs(v) / 2 for k, v in pair.lag_K.items()}))
            report["lag_K"] = dict(pair.lag_K)
            reports.append(report)
    return reports


def _tc_of_field(tables: Sequence[Table]) -> tuple[dict[str, list[tuple[float, float]]], list[dict]]:
    """Tc(H) points per criterion, and a report per R(T) leg they came from.

    Where a field has a cooling and a warming leg the point is their mean (the thermal lag
    cancels); a (Tc, H) table gives points of the criterion "given".
    """
    points: dict[str, list[tuple[float, float]]] = {}
    legs = []
    for table in tables:
        if not table.has(RESISTANCE) and table.find(TC, 0) is not None:
            tc, field = table.need(TC, 0), table.need(FIELD, 1)
            points.setdefault("given", []).extend(zip(field.tolist(), tc.tolist()))
            continue
        if not table.has(FIELD):
            raise UsageError(f"{table.path}: R(T) without a Field column; hc2 needs the field of each curve "
                             "(or give a two-column file of Tc, H points)")
        transitions = _transitions(table)
        pairs = _pairs(transitions)
        for curve, result in transitions:
            leg = _about(table, curve)
            if isinstance(result, str):
                leg["error"] = result
            else:
                leg.update(_criteria_report(result.criteria()))
                if curve.group not in pairs:
                    for name, value in result.criteria().items():
                        points.setdefault(name, []).append((curve.field_T, value))
            legs.append({"curve": leg})
        for curve, pair in pairs.values():
            for name, value in pair.mean_K.items():
                points.setdefault(name, []).append((curve.field_T, value))
    return points, legs


def analyse_hc2(tables: Sequence[Table], options: argparse.Namespace) -> list[dict]:
    models = options.models or HC2_MODELS
    points, reports = _tc_of_field(tables)
    errors = []
    for criterion, pairs in points.items():
        field, tc = (np.array(column, dtype=float) for column in zip(*pairs))
        order = np.argsort(field, kind="stable")
        report: dict[str, Any] = {"criterion": criterion, "fields_T": field[order].tolist(),
                                  "tc_K": tc[order].tolist()}
        for model in models:
            try:
                fit = fit_hc2(tc, field, model=model)
            except ValueError as error:
                report[model] = {"error": str(error)}
                errors.append(f"{criterion}, {model}: {error}")
                continue
            report[model] = {
                "hc2_0_T": fit.hc2_0_T, "tc_K": fit.tc_K, "coherence_length_nm": fit.coherence_length_nm,
                "slope_T_per_K": fit.slope_T_per_K, "hc2_0_from_slope_T": fit.hc2_0_from_slope_T,
                "pauli_limit_T": fit.pauli_limit_T, "rms_residual_T": fit.rms_residual_T,
            }
            if fit.alpha is not None:
                report[model].update(alpha=fit.alpha, lambda_so=fit.lambda_so)
        reports.append(report)
    if len(errors) == len(points) * len(models):
        raise UsageError(errors[0] if errors else "no Tc(H) points in the files")
    return reports


def _run_parameter(table: Table, procedure: type, attribute: str) -> float | None:
    """A numeric parameter of a run of ``procedure`` (a daclab procedure class), read from the
    file's header by the parameter's display name; None for a file another procedure wrote."""
    if table.procedure.rpartition(".")[2] != procedure.__name__:
        return None
    return table.parameter(getattr(procedure, attribute).name)


def iv_sweeps(table: Table, current: np.ndarray) -> list[tuple[float, int, np.ndarray]]:
    """(temperature K or NaN, polarity, rows) of every I-V sweep: runs of one set temperature
    (or, without a setpoint column, of one measured temperature), split by polarity."""
    setpoint, temperature, polarity = table.find(SETPOINT), table.find(TEMPERATURE), table.find(POLARITY)
    if setpoint is not None:
        groups = runs(setpoint, 1e-6)
    elif temperature is not None:
        groups = runs(temperature, 0.5, 0.01)
    else:
        groups = [np.arange(current.size)]
    found = []
    for rows in groups:
        kelvin = _mean(temperature[rows]) if temperature is not None else math.nan
        signs = polarity[rows] if polarity is not None else np.sign(current[rows])
        for sign in (1, -1):
            chosen = rows[signs == sign]
            if chosen.size:
                found.append((kelvin, sign, chosen))
    return found


def analyse_ic(tables: Sequence[Table], options: argparse.Namespace) -> list[dict]:
    """Ic of each sweep at the criterion; Jc = Ic / (width x thickness); a pinning fit of Jc(T)
    over the positive sweeps of all files once three temperatures have a Jc."""
    reports, jc_points = [], []
    for table in tables:
        current, voltage = table.need(CURRENT, 0), table.need(VOLTAGE, 1)
        criterion_uV = options.criterion_uV or _run_parameter(table, CriticalCurrent, "criterion_uV")
        if not criterion_uV:
            raise UsageError(f"{table.path}: give the voltage criterion with --criterion-uV")
        width = options.width_um or _run_parameter(table, CriticalCurrent, "width_um")
        thickness = options.thickness_um or _run_parameter(table, CriticalCurrent, "thickness_um")
        for kelvin, sign, rows in iv_sweeps(table, current):
            report: dict[str, Any] = {"file": str(table.path)}
            if not math.isnan(kelvin):
                report["temperature_K"] = kelvin
            report.update(polarity=sign, points=int(rows.size), criterion_uV=criterion_uV)
            try:
                ic = critical_current_from_iv(current[rows], voltage[rows], criterion_uV * 1e-6)
            except ValueError as error:
                reports.append({**report, "error": str(error)})
                continue
            report["ic_A"] = Estimate(ic)
            if width and thickness:
                jc = float(critical_current_density_A_cm2(ic, width, thickness))
                report.update(jc_A_cm2=Estimate(jc), width_um=width, thickness_um=thickness)
                if sign == 1 and not math.isnan(kelvin):
                    jc_points.append((kelvin, jc))
            if math.isnan(ic):
                report["note"] = f"|V| never exceeds the criterion of {criterion_uV:g} uV"
            reports.append(report)
    if len(jc_points) >= 3:
        temperature, jc = (np.array(column) for column in zip(*jc_points))
        fit_report: dict[str, Any] = {"model": options.model}
        try:
            fit = fit_jc(temperature, jc, options.model)
            fit_report.update(jc0_A_cm2=fit.jc0, tc_K=fit.tc_K, temperatures_K=temperature.tolist(),
                              jc_A_cm2=jc.tolist())
        except ValueError as error:
            fit_report["error"] = str(error)
        reports.append({"jc_fit": fit_report})
    return reports


def spectra(bias: np.ndarray, current: np.ndarray | None) -> list[np.ndarray]:
    """Rows of each spectrum: a new one starts where the bias sweep starts over."""
    sweep = current if current is not None else bias
    finite = np.flatnonzero(~np.isnan(sweep))
    if finite.size < 2:
        return [np.arange(bias.size)]
    direction = 1.0 if sweep[finite[-1]] >= sweep[finite[0]] else -1.0
    restarts = finite[1:][np.diff(sweep[finite]) * direction < 0]
    return [rows for rows in np.split(np.arange(bias.size), restarts) if rows.size]


def analyse_didv(tables: Sequence[Table], options: argparse.Namespace) -> list[dict]:
    """Paper 001's chain and a BTK fit at its temperature on each spectrum (gap_fit.analyse_spectrum,
    as the procedure does), and a BCS fit of Delta(T) once three spectra have a converged gap."""
    reports, gaps = [], []
    for table in tables:
        bias, didv = table.need(BIAS, 0), table.need(CONDUCTANCE, 1)
        temperature = table.find(TEMPERATURE)
        if temperature is None and options.temperature_K is None:
            raise UsageError(f"{table.path}: no temperature column; give the temperature with --temperature-K")
        settings = {name: _run_parameter(table, DifferentialConductance, name)
                    for name in ("gap_window_mV", "background_degree", "series_resistance_ohm")}
        degree = options.degree if options.degree is not None else int(settings["background_degree"] or 2)
        series = options.series_resistance_ohm
        if series is None:
            series = settings["series_resistance_ohm"] or 0.0
        for rows in spectra(bias, table.find(CURRENT)):
            kelvin = options.temperature_K or _mean(temperature[rows])
            usable = rows[np.isfinite(bias[rows]) & np.isfinite(didv[rows]) & (didv[rows] > 0)]
            window_mV = options.gap_window_mV or settings["gap_window_mV"] or (
                500.0 * float(np.max(np.abs(bias[usable]), initial=0.0)))  # half the sweep, in mV
            report: dict[str, Any] = {"file": str(table.path), "temperature_K": kelvin, "points": int(usable.size),
                                      "gap_window_mV": window_mV}
            try:
                fit = analyse_spectrum(bias[usable], didv[usable], kelvin, window_mV * 1e-3, degree,
                                       series_resistance_ohm=series).btk
            except ValueError as error:
                reports.append({**report, "error": str(error)})
                continue
            report.update(delta_meV=fit.delta_meV, z=fit.z, gamma_meV=fit.gamma_meV,
                          normal_conductance=fit.normal_conductance, reduced_chi2=fit.reduced_chi2,
                          converged=fit.success)
            reports.append(report)
            if fit.success:
                gaps.append((kelvin, fit.delta_meV.value))
    if len(gaps) >= 3:
        temperature, delta = (np.array(column) for column in zip(*gaps))
        fit_report: dict[str, Any] = {}
        try:
            bcs = fit_gap(temperature, delta)
            fit_report.update(delta0_meV=bcs.delta0_meV, tc_K=bcs.tc_K, ratio_2delta_over_kTc=bcs.ratio,
                              temperatures_K=temperature.tolist(), delta_meV=delta.tolist())
        except ValueError as error:
            fit_report["error"] = str(error)
        reports.append({"gap_fit": fit_report})
    return reports


def _aging_visits(table: Table, points: dict[str, list[tuple[float, float]]]) -> list[dict]:
    """A report per visit of an aging series (R(T) with days since synthesis), adding its
    (days, Tc) point of each criterion to ``points``. A visit's Tc is the mean of its legs
    through the transition, so a cooling-warming pair cancels the thermal lag; half their
    spread is its uncertainty, as for the pairs of ``tc``."""
    if not table.has(DAYS):
        raise UsageError(f"{table.path}: R(T) without a days since synthesis column; aging needs the age of "
                         "each visit (or give a two-column file of days, Tc points)")
    days = table.need(DAYS)
    temperature, visit = table.need(TEMPERATURE, 0), table.find(VISIT)
    visits: dict[int, list[tuple[Curve, Any]]] = {}
    for index, (curve, result) in enumerate(_transitions(table)):
        # without visit numbers each leg stands alone: legs of different days cannot be paired
        visits.setdefault(curve.group if visit is not None else index, []).append((curve, result))
    reports = []
    for legs in visits.values():
        report: dict[str, Any] = {"file": str(table.path)}
        if visit is not None:
            report["visit"] = int(_mean(visit[legs[0][0].rows]))
        report["sweeps"] = [curve.leg for curve, _ in legs]
        crosses = [isinstance(result, TransitionResult) and result.has_transition for _, result in legs]
        found = [leg for leg, through in zip(legs, crosses) if through]
        reasons = [f"{curve.leg}: {result if isinstance(result, str) else result.message}"
                   for (curve, result), through in zip(legs, crosses) if not through]
        if not found:
            report["error"] = "; ".join(reasons)
            reports.append(report)
            continue
        if reasons:  # the visit's Tc rests on its other legs
            report["note"] = "; ".join(reasons)
        crossed = {name: np.array([day_crossed(temperature[curve.rows], days[curve.rows], result.criteria()[name])
                                   for curve, result in found]) for name in CRITERIA}
        report["days_since_synthesis"] = _mean(crossed["midpoint"])
        for name in CRITERIA:
            tc = np.array([result.criteria()[name] for _, result in found])
            finite = tc[~np.isnan(tc)]
            spread = float(np.ptp(finite)) / 2 if finite.size > 1 else math.nan
            report[f"{name}_K"] = Estimate(_mean(tc), spread)
            if finite.size:
                points.setdefault(name, []).append((_mean(crossed[name]), _mean(tc)))
        reports.append(report)
    return reports


def analyse_aging(tables: Sequence[Table], options: argparse.Namespace) -> list[dict]:
    """Tc of every visit, then Tc(days) fitted per criterion (paper 002's decay of Tc as
    hydrogen leaves the cell); a table of (days, Tc) points is fitted as the criterion "given"."""
    points: dict[str, list[tuple[float, float]]] = {}
    reports = []
    for table in tables:
        if table.has(RESISTANCE):
            reports.extend(_aging_visits(table, points))
        else:
            days, tc = table.need(DAYS, 0), table.need(TC, 1)
            points.setdefault("given", []).extend(zip(days.tolist(), tc.tolist()))
    errors = []
    for criterion, pairs in points.items():
        days, tc = (np.array(column, dtype=float) for column in zip(*pairs))
        order = np.argsort(days, kind="stable")
        report: dict[str, Any] = {"criterion": criterion, "days_since_synthesis": days[order].tolist(),
                                  "tc_K": tc[order].tolist()}
        try:
            fit = fit_aging(days, tc)
        except ValueError as error:
            report["error"] = f"Tc ({criterion}) against days since synthesis: {error}"
            errors.append(report["error"])
        else:
            report.update(tc0_K=fit.tc0_K, tc_final_K=fit.tc_final_K, tau_days=fit.tau_days,
                          rms_residual_K=fit.rms_residual_K)
        reports.append(report)
    if len(errors) == len(points):
        raise UsageError(errors[0] if errors else "no Tc found on any visit in the files")
    return reports


# ---- output --------------------------------------------------------------------------------

# Key suffixes and the units they stand for, longest first so that "_T_per_K" is not read as "_K".
_UNITS = (("_A_cm2", "A/cm2"), ("_T_per_K", "T/K"), ("_meV", "meV"), ("_ohm", "ohm"), ("_days", "days"),
          ("_nm", "nm"), ("_um", "um"), ("_uV", "uV"), ("_mV", "mV"), ("_K", "K"), ("_T", "T"), ("_A", "A"),
          ("_V", "V"), ("_S", "S"))


# Names as physicists write them; other keys are shown with spaces for underscores.
_NAMES = {"tc": "Tc", "hc2_0": "Hc2(0)", "hc2_0_from_slope": "Hc2(0) from slope", "slope": "dHc2/dT at Tc",
          "ic": "Ic", "jc": "Jc", "jc0": "Jc(0)", "delta": "Delta", "delta0": "Delta(0)", "z": "Z",
          "gamma": "Gamma", "ratio_2delta_over_kTc": "2 Delta(0)/kB Tc", "lambda_so": "lambda_so",
          "tc0": "Tc at synthesis", "tc_final": "Tc final", "tau": "tau"}


def _label(key: str) -> tuple[str, str]:
    """(label, unit) of a report key: 'hc2_0_T' -> ('Hc2(0)', 'T')."""
    name, unit = key, ""
    for suffix, suffix_unit in _UNITS:
        if key.endswith(suffix):
            name, unit = key[: -len(suffix)], suffix_unit
            break
    return _NAMES.get(name, name.replace("_", " ")), unit


def _show(value: Any, unit: str) -> str:
    suffix = f" {unit}" if unit else ""
    if isinstance(value, Estimate):
        if math.isnan(value.value):
            return "not found"
        if math.isnan(value.stderr):
            return f"{value.value:.6g}{suffix}"
        return f"{value.value:.6g} +- {value.stderr:.2g}{suffix}"
    if isinstance(value, (float, np.floating)):
        return "not found" if math.isnan(value) else f"{value:.6g}{suffix}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(item, "") for item in value) + suffix if value else "none"
    return f"{value}{suffix}"


def render(reports: Sequence[dict], indent: int = 0) -> str:
    """Reports as indented 'label  value unit' lines, one block per report."""
    lines = []
    for report in reports:
        lines.extend(_render_mapping(report, indent))
        if indent == 0:
            lines.append("")
    return "\n".join(lines)


def _render_mapping(mapping: dict, indent: int, inherited_unit: str = "") -> list[str]:
    lines = []
    width = max((len(_label(key)[0]) for key in mapping), default=0)
    for key, value in mapping.items():
        label, unit = _label(key)
        unit = unit or inherited_unit
        if isinstance(value, dict):
            lines.append(" " * indent + f"{label}:")
            lines.extend(_render_mapping(value, indent + 2, unit))
        else:
            lines.append(" " * indent + f"{label:<{width}}  {_show(value, unit)}")
    return lines


# ---- the command ---------------------------------------------------------------------------

ANALYSES: dict[str, Callable[[Sequence[Table], argparse.Namespace], list[dict]]] = {
    "tc": analyse_tc, "hc2": analyse_hc2, "ic": analyse_ic, "didv": analyse_didv, "aging": analyse_aging,
}


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="daclab analyze", description="Transition temperatures, Hc2(T), critical currents, "
                     "gaps and the aging of Tc from data files, with standard errors.",
                     epilog="Mistakes in the command or the files: one line on stderr, exit code 2.")
    commands = parser.add_subparsers(dest="analysis", metavar="tc|hc2|ic|didv|aging", parser_class=CommandParser)
    helps = {"tc": "transition temperatures of R(T) curves",
             "hc2": "Hc2(T) from R(T) curves at fields or from Tc(H) points",
             "ic": "critical current of I-V sweeps, Jc(T) pinning fit",
             "didv": "BTK fit of dI/dV spectra, BCS fit of the gap",
             "aging": "Tc of each visit against days since synthesis, exponential relaxation fit"}
    for name, text in helps.items():
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("files", nargs="+", metavar="FILE", help="a run's data file or a plain table")
        command.add_argument("--json", action="store_true", help="print JSON ({\"value\", \"stderr\"} objects)")
        if name == "hc2":
            command.add_argument("--model", dest="models", action="append", choices=HC2_FIT_MODELS,
                                 help=f"model to fit (repeat for several; default {' and '.join(HC2_MODELS)})")
        if name == "ic":
            command.add_argument("--criterion-uV", type=_positive, metavar="UV",
                                 help="voltage criterion in uV (default: the run's own; needed for plain files)")
            command.add_argument("--width-um", type=_positive, metavar="UM",
                                 help="sample width for Jc (default: the run's)")
            command.add_argument("--thickness-um", type=_positive, metavar="UM",
                                 help="sample thickness for Jc (default: the run's)")
            command.add_argument("--model", choices=tuple(JC_MODELS), default="delta_l",
                                 help="pinning law of the Jc(T) fit")
        if name == "didv":
            command.add_argument("--temperature-K", type=_positive, metavar="K",
                                 help="temperature of the spectra (default: the Temperature column)")
            command.add_argument("--gap-window-mV", type=_positive, metavar="MV",
                                 help="background fitted beyond this |bias| (default: the run's, else half the sweep)")
            command.add_argument("--degree", type=int, choices=range(0, 11), metavar="0-10",
                                 help="background polynomial degree (default: the run's, else 2)")
            command.add_argument("--series-resistance-ohm", type=_non_negative, metavar="OHM",
                                 help="series (spreading) resistance to remove (default: the run's, else 0)")
    return parser


def _errors(reports: Sequence[dict]) -> list[str]:
    """The error of every report whose analysis failed (a report, or the one block it wraps)."""
    errors = []
    for report in reports:
        inner = report
        if "error" not in report and len(report) == 1 and isinstance(next(iter(report.values())), dict):
            (inner,) = report.values()
        if "error" in inner:
            errors.append(f"{inner['file']}: {inner['error']}" if "file" in inner else inner["error"])
    return errors


@contextlib.contextmanager
def quiet_numerics() -> Iterator[None]:
    """No floating-point warnings on the terminal: a fit on unusable data (a column of zeros,
    readings of 1e300) overflows or divides by zero on its way, and numpy's and lmfit's warnings
    about it would break the one-line contract; what could not be found is reported as such
    ("not found", or the item's error)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", np.exceptions.RankWarning)
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """``daclab analyze ...``; 0 on success, 2 on a mistake in the command or the files."""
    argv = list(sys.argv[1:] if argv is None else argv)
    tables: list[Table] = []
    try:
        options = build_parser().parse_args(argv)
        if options.analysis is None:
            raise UsageError("choose an analysis: tc, hc2, ic, didv or aging (daclab analyze --help)")
        tables = [read_table(path) for path in options.files]
        with quiet_numerics():
            reports = ANALYSES[options.analysis](tables, options)
        errors = _errors(reports)
        if len(errors) == len(reports):  # nothing could be analysed: a mistake in the files
            raise UsageError(errors[0] if errors else "nothing to analyse in the files")
    except ParserExit as done:
        return done.status
    except (UsageError, ValueError, OSError) as error:
        message = " ".join(str(error).split())
        if tables and not any(str(table.path) in message for table in tables):  # a fit across the files
            message = f"{', '.join(str(table.path) for table in tables)}: {message}"
        print("daclab analyze: " + message, file=sys.stderr)
        return EXIT_USAGE
    if options.json:
        results = plain(reports, nan=None)
        print(json.dumps({"analysis": options.analysis, "results": results}, indent=2, allow_nan=False))
    else:
        print(render(reports), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
