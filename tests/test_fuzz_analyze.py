"""``daclab analyze tc|hc2|ic|didv|aging FILE [--json]`` on data files damaged by hypothesis (empty,
header only, NaN, shuffled, one row, wrong columns or delimiter, junk bytes, text in number cells,
duplicated rows, truncated) and on one huge R(T) file: each ends in a result (exit 0) or in one
line on stderr (exit 2), never a traceback or a warning; the file is read, never changed, and
nothing is written beside it.

The valid files are written exactly as the runner writes them (a pymeasure Results header, then
one formatted row per point), with the simulated samples' own R(T), I-V and dI/dV as the data.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from daclab.procedures import aging, rt_sweep
from daclab.procedures import differential_conductance as dcon
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.field_series import FieldSeries
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from pymeasure.experiment import Results

from daclab import cli
from daclab.sim.sample import Sample, load_sample

FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KINDS = ("tc", "hc2", "ic", "didv", "aging")


# ---- one valid file per kind ----------------------------------------------------------------------


def write_results(path: Path, procedure, rows: list[dict]) -> Path:
    """A data file as the runner writes it: pymeasure's header, then one formatted row per point."""
    results = Results(procedure, str(path))
    with open(path, "a", encoding=Results.ENCODING) as stream:
        stream.writelines(results.format(row) + Results.LINE_BREAK for row in rows)
    return path


def rt_rows(sample: Sample, temperatures: np.ndarray, direction: str, field_T: float = math.nan,
            days: float = 0.0, **extra) -> list[dict]:
    resistance = sample.resistance(temperatures, 0.0 if math.isnan(field_T) else field_T, days)
    return [{rt_sweep.ELAPSED: 5.0 * index, rt_sweep.TEMPERATURE: kelvin, rt_sweep.SETPOINT: kelvin,
             rt_sweep.FIELD: field_T, rt_sweep.RESISTANCE: ohm, rt_sweep.RESISTANCE_ERROR: 1e-6,
             rt_sweep.EXCITATION: 1e-3, rt_sweep.HEATER: 10.0, rt_sweep.DIRECTION: direction, **extra}
            for index, (kelvin, ohm) in enumerate(zip(temperatures, resistance))]


def tc_file(folder: Path) -> Path:
    sample, down = load_sample("lace_h10_cell2"), np.arange(190.0, 149.9, -0.5)
    rows = rt_rows(sample, down, "cooling") + rt_rows(sample, down[::-1], "warming")
    return write_results(folder / "tc.csv", rt_sweep.RTSweep(direction=rt_sweep.BOTH), rows)


def hc2_file(folder: Path) -> Path:
    sample, rows = load_sample("lace_h10_cell2"), []
    for field in (0.0, 3.0, 6.0, 9.0):
        rows += rt_rows(sample, np.arange(185.0, 150.0, -0.5), "cooling", field)
    return write_results(folder / "hc2.csv", FieldSeries(fields_T="0, 3, 6, 9"), rows)


def ic_file(folder: Path) -> Path:
    sample, rows = load_sample("ceh9_cell1"), []
    for setpoint in (60.0, 64.0, 67.0):
        for polarity in (1, -1):
            for current in polarity * 1e-3 * np.arange(1, 101):
                voltage = sample.four_probe_voltage(current, setpoint, duration_s=1e-3)
                rows.append({"Time (s)": 2.0 * len(rows), "Setpoint (K)": setpoint, "Temperature (K)": setpoint,
                             "Polarity": polarity, "Current (A)": current, "Voltage (V)": voltage,
                             "dV/dI (ohm)": math.nan})
                if abs(voltage) > 1e-3:  # the procedure's stop voltage
                    break
    procedure = CriticalCurrent(criterion_uV=1.0, width_um=30.0, thickness_um=1.0, temperatures_K="60, 64, 67")
    return write_results(folder / "ic.csv", procedure, rows)


def didv_file(folder: Path) -> Path:
    """One spectrum (a BTK fit per spectrum is the slow part of the analysis)."""
    sample, bias = load_sample("ceh9_cell1"), np.linspace(-0.12, 0.12, 41)
    conductance = sample.contact_conductance(bias * 1e3, 2.0)
    rows = [{dcon.TIME: float(index), dcon.TEMPERATURE: 2.0, dcon.CURRENT: volt / sample.contact_normal_ohm,
             dcon.BIAS: volt, dcon.DVDI: 1 / siemens, dcon.DIDV: siemens, dcon.NORMALISED: math.nan}
            for index, (volt, siemens) in enumerate(zip(bias, conductance))]
    procedure = dcon.DifferentialConductance(gap_window_mV=60.0, temperatures_K="2")
    return write_results(folder / "didv.csv", procedure, rows)


def aging_file(folder: Path) -> Path:
    sample, rows = load_sample("lah10_aging"), []
    for visit, day in enumerate((0.0, 3.0, 6.0, 10.0, 15.0), 1):
        rows += rt_rows(sample, np.arange(180.0, 60.0, -2.0), "cooling", days=day,
                        **{aging.DAYS: sample.days_since_synthesis + day, aging.VISIT: visit})
    return write_results(folder / "aging.csv", aging.Aging(), rows)


MAKERS = {"tc": tc_file, "hc2": hc2_file, "ic": ic_file, "didv": didv_file, "aging": aging_file}


class ValidFiles(dict):
    """kind -> the bytes of its valid file (shown short in a failure report)."""

    def __repr__(self) -> str:
        return f"<valid files: {', '.join(f'{kind} {len(raw)} bytes' for kind, raw in self.items())}>"


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> ValidFiles:
    folder = tmp_path_factory.mktemp("valid")
    return ValidFiles({kind: make(folder).read_bytes() for kind, make in MAKERS.items()})


# ---- running the command ----------------------------------------------------------------------------


def analyze(*argv: str) -> tuple[int, str, str, list[str]]:
    """``daclab analyze ARGV`` in this process: exit code, stdout, stderr and the warnings raised."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        code = cli.main(["analyze", *argv])
    return code, out.getvalue(), err.getvalue(), [f"{w.category.__name__}: {w.message}" for w in caught]


def note(text: str) -> None:
    if currently_in_test_context():
        event(text)


def no_nan_json(text: str):
    def refuse(constant: str):
        raise AssertionError(f"{constant} in the JSON output")
    return json.loads(text, parse_constant=refuse)


def assert_result_or_one_line(kind: str, path: Path, as_json: bool) -> int:
    """Run the analysis on ``path`` and check how it ended; the file and its folder stay as they were."""
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    neighbours = sorted(path.parent.iterdir())
    code, out, err, caught = analyze(kind, str(path), *(["--json"] if as_json else []))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "the data file was changed"
    assert sorted(path.parent.iterdir()) == neighbours, "a file was written beside the data file"
    assert caught == [], f"warnings reach the user's terminal: {caught}"
    if code == 0:
        note(f"{kind}: result")
        assert out.strip() and err == ""
        if as_json:
            document = no_nan_json(out)
            assert document["analysis"] == kind and document["results"]
    else:
        note(f"{kind}: refused")
        assert code == 2 and out == ""
        assert err.startswith("daclab analyze: ") and err.endswith("\n") and err.count("\n") == 1, err
        assert "Traceback" not in err
        assert str(path) in err, f"the error does not name the file: {err!r}"
    return code


# ---- damaging a valid file ----------------------------------------------------------------------------

JUNK_CELLS = st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "abc", "1,5", "--", "0x10", "1e-400",
                              "0", "-0", "1e308", "-1e308", "cooling", "warming", " ", "None", "\u00b5", "5 K"])


def split(raw: bytes) -> tuple[list[str], list[str], list[list[str]]]:
    """(header lines, column names, rows of cells) of a valid file."""
    lines = raw.decode(Results.ENCODING).splitlines()
    header = [line for line in lines if line.startswith("#")]
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    return header, body[0].split(","), [line.split(",") for line in body[1:]]


def join(header: list[str], columns: list[str], rows: list[list[str]], separator: str = ",",
         line_break: str = "\n") -> bytes:
    lines = header + [separator.join(columns)] + [separator.join(row) for row in rows]
    return (line_break.join(lines) + line_break).encode("utf-8")


@st.composite
def damaged(draw, raw: bytes) -> bytes:
    header, columns, rows = split(raw)
    how = draw(st.sampled_from(["empty", "header only", "single row", "nan filled", "shuffled", "duplicated rows",
                                "wrong columns", "dropped column", "wrong delimiter", "binary junk", "junk inserted",
                                "text in cells", "truncated", "ragged", "constant", "line endings", "few rows",
                                "scaled column", "random column"]))
    event(how)
    if how == "empty":
        return draw(st.sampled_from([b"", b"\n", b"\n\n  \n", b"#Procedure: <x>\n", b"\xef\xbb\xbf"]))
    if how == "header only":
        return join(header, columns, [])
    if how == "single row":
        return join(header, columns, [draw(st.sampled_from(rows))])
    if how == "few rows":
        start = draw(st.integers(0, len(rows) - 1))
        return join(header, columns, rows[start:start + draw(st.integers(2, 4))])
    if how == "nan filled":
        share = draw(st.sampled_from([1.0, 0.5, 0.9]))
        chosen = draw(st.randoms(use_true_random=False))
        return join(header, columns, [[cell if chosen.random() > share else "nan" for cell in row] for row in rows])
    if how == "shuffled":
        return join(header, columns, draw(st.permutations(rows)))
    if how == "duplicated rows":
        chosen = draw(st.randoms(use_true_random=False))
        return join(header, columns, [row for row in rows for _ in range(chosen.choice([1, 1, 2, 5]))])
    if how == "wrong columns":
        names = draw(st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_characters=",\n\r#"), max_size=12)
                              | st.sampled_from(["Temperature (K)", "Resistance (ohm)", "Field (mT)", "T (F)",
                                                 "Current (furlong)", "Voltage", "Bias (V)", "Days"]),
                              min_size=len(columns), max_size=len(columns)))
        return join(header, names, rows)
    if how == "dropped column":
        index = draw(st.integers(0, len(columns) - 1))
        return join(header, columns[:index] + columns[index + 1:], [row[:index] + row[index + 1:] for row in rows])
    if how == "wrong delimiter":
        return join(header, columns, rows, draw(st.sampled_from([";", "\t", " ", "|", ", ", ";;"])))
    if how == "binary junk":
        return draw(st.binary(max_size=400))
    if how == "junk inserted":
        position = draw(st.integers(0, len(raw)))
        return raw[:position] + draw(st.binary(min_size=1, max_size=40)) + raw[position:]
    if how == "text in cells":
        chosen = draw(st.randoms(use_true_random=False))
        share = draw(st.sampled_from([0.01, 0.1, 0.5]))
        junk = draw(st.lists(JUNK_CELLS, min_size=1, max_size=5))
        return join(header, columns, [[chosen.choice(junk) if chosen.random() < share else cell for cell in row]
                                      for row in rows])
    if how == "truncated":
        return raw[:draw(st.integers(0, len(raw)))]
    if how == "ragged":
        index = draw(st.integers(0, len(rows) - 1))
        return join(header, columns, rows[:index] + [rows[index][:-1]] + rows[index + 1:])
    if how in ("scaled column", "random column"):
        index = draw(st.integers(0, len(columns) - 1))
        if how == "scaled column":
            factor = draw(st.sampled_from([0.0, -1.0, 1e300, -1e300, 1e-300, 1e6, -1e-6]))
            cells = [_scaled(row[index], factor) for row in rows]
        else:
            cells = [repr(value) for value in draw(st.lists(st.floats(allow_nan=True, allow_infinity=True)
                                                            | st.integers(-3, 3), min_size=len(rows),
                                                            max_size=len(rows)))]
        return join(header, columns, [row[:index] + [cell] + row[index + 1:] for row, cell in zip(rows, cells)])
    if how == "constant":
        return join(header, columns, [rows[len(rows) // 2]] * len(rows))
    return ("\ufeff" if draw(st.booleans()) else "").encode() + join(header, columns, rows, line_break="\r\n")


def _scaled(cell: str, factor: float) -> str:
    try:
        return repr(float(cell) * factor)
    except ValueError:  # a column of words stays as it is
        return cell


# ---- the properties -------------------------------------------------------------------------------------


def test_each_valid_file_gives_a_result(valid, tmp_path):
    for kind, raw in valid.items():
        path = tmp_path / f"{kind}.csv"
        path.write_bytes(raw)
        assert assert_result_or_one_line(kind, path, as_json=True) == 0


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "didv"])
@FUZZ
@given(data=st.data(), as_json=st.booleans())
def test_a_damaged_file_gives_a_result_or_one_line(valid, tmp_path_factory, kind, data, as_json):
    folder = tmp_path_factory.mktemp(kind)
    path = folder / f"{kind}.csv"
    path.write_bytes(data.draw(damaged(valid[kind])))
    assert_result_or_one_line(kind, path, as_json)


@settings(FUZZ, max_examples=12)
@given(data=st.data(), as_json=st.booleans())
def test_a_damaged_spectrum_gives_a_result_or_one_line(valid, tmp_path_factory, data, as_json):
    folder = tmp_path_factory.mktemp("didv")
    path = folder / "didv.csv"
    path.write_bytes(data.draw(damaged(valid["didv"])))
    assert_result_or_one_line("didv", path, as_json)


@settings(FUZZ, max_examples=15)
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_a_file_of_another_kind_gives_a_result_or_one_line(valid, tmp_path_factory, data, kind):
    """The right columns for another analysis: ic on an R(T) file, aging on a spectrum..."""
    other = data.draw(st.sampled_from([k for k in KINDS if k != kind]))
    folder = tmp_path_factory.mktemp("other")
    path = folder / f"{other}.csv"
    path.write_bytes(valid[other])
    assert_result_or_one_line(kind, path, as_json=True)


def test_a_huge_rt_file_is_analysed(tmp_path):
    """300 000 points of R(T), as a week of slow sweeps writes: a result, the file untouched."""
    sample = load_sample("lace_h10_cell2")
    temperature = np.linspace(190.0, 150.0, 300_000)
    resistance = sample.resistance(temperature)
    path = tmp_path / "huge.csv"
    header = "".join(line + "\n" for line in tc_file(tmp_path).read_text().splitlines() if line.startswith("#"))
    table = np.column_stack([temperature, resistance])
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(header + "Temperature (K),Resistance (ohm)\n")
        np.savetxt(stream, table, delimiter=",", fmt="%.6f")
    assert assert_result_or_one_line("tc", path, as_json=True) == 0


def test_an_infinite_number_is_null_in_the_json(tmp_path):
    """Currents near the largest float give a finite Ic but an infinite Jc: JSON has no
    infinity, so it is null like a number not found (json.dumps used to raise on it)."""
    path = tmp_path / "iv.csv"
    path.write_text("Current (A),Voltage (V)\n1e300,0\n1e306,0\n1e307,1\n1e308,2\n")
    code, out, err, caught = analyze("ic", str(path), "--criterion-uV", "1", "--width-um", "1", "--thickness-um", "1",
                                     "--json")
    assert (code, err, caught) == (0, "", [])
    (report,) = no_nan_json(out)["results"]
    # |V| first passes 1 uV between (1e306 A, 0 V) and (1e307 A, 1 V): linear interpolation
    assert report["ic_A"]["value"] == pytest.approx(1e306 + 1e-6 * (1e307 - 1e306))
    assert report["jc_A_cm2"]["value"] is None
