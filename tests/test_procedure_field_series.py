"""Tc(H) field series on the virtual cryostat, checked against the preset's WHH line."""

import numpy as np
import pytest
from pymeasure.experiment import Results

from daclab import runner
from daclab.analysis.whh import whh_tc_of_field
from daclab.limits import LimitError
from daclab.procedures.field_series import FieldSeries
from daclab.sim import Fault
from daclab.sim.binding import recording_commands
from daclab.connection import DEFAULT_POLICY
from test_procedure_rt_sweep import LACE, assert_safe, simulated_lab

FIELDS_T = (0.0, 3.0, 6.0, 9.0)
RATE_K_PER_MIN = 1.0


@pytest.fixture
def lace_lab():
    with simulated_lab(LACE, 180.0) as lab:
        yield lab


def series(lab, **parameters):
    values = dict(resistance_path="bridge370", fields_T="0, 3, 6, 9", direction="cooling", upper_K=188.0,
                  lower_K=155.0, rate_K_per_min=RATE_K_PER_MIN, point_every_K=0.5, readings_per_point=1,
                  return_rate_K_per_min=5.0, thermalise_s=900.0, field_rate_T_per_min=0.5)
    values.update(parameters)
    return FieldSeries(lab=lab, **values)


def test_tc_of_field_follows_the_whh_line_of_the_preset(lace_lab, tmp_path):
    progress = []
    outcome = runner.run(series(lace_lab, final_field_T=1.0), tmp_path / "fs.csv",
                         on_event=lambda topic, record: progress.append(record) if topic == "progress" else None)
    assert outcome.status == "finished" and progress[-1] == 100.0 and progress == sorted(progress)
    data = Results.load(str(tmp_path / "fs.csv"), procedure_class=FieldSeries).data
    assert outcome.points == len(data)

    sample = lace_lab.world.sample
    # Cooling at r reads every transition r tau low (tau the cell's lag); the world's 10 s steps
    # make the effective lag tau - 5 s.
    shift_K = RATE_K_PER_MIN / 60.0 * (lace_lab.world.stage.parameters.sample_lag_s - 5.0)
    curves = [record for record in outcome.analysis if record["kind"] == "tc"]
    assert [record["curve"] for record in curves] == [1, 2, 3, 4]
    measured = np.array([record["midpoint_K"] for record in curves])
    fields = np.array([record["field_T"] for record in curves])
    assert fields == pytest.approx(FIELDS_T, abs=1e-3)
    # The preset's truth, WHH with its Hc2(0) (the field along the cell axis).
    truth = np.array([sample.tc_in_field(field) for field in FIELDS_T])
    assert truth == pytest.approx([sample.tc_K] + [whh_tc_of_field(h, sample.tc_K, sample.effective_hc2_0())
                                                   for h in FIELDS_T[1:]], abs=1e-6)
    # 0.25 K: a midpoint read from 0.5 K points to ~0.1 K, plus the field's 3 % broadening of the
    # transition; the lag itself is known to better than 0.05 K.
    assert measured == pytest.approx(truth - shift_K, abs=0.25)
    # The lag is the same for every curve, so the suppression of Tc by the field is read directly:
    # 5 K at 9 T, to 0.15 K.
    assert measured[0] - measured == pytest.approx(truth[0] - truth, abs=0.15)

    # Tc(H) per criterion grows curve by curve; each curve is emitted whole for plotting
    growing = [record for record in outcome.analysis if record["kind"] == "tc_of_field"]
    assert [len(record["field_T"]) for record in growing] == [1, 2, 3, 4]
    assert growing[-1]["tc_K"]["midpoint"] == pytest.approx(measured)
    assert growing[-1]["tc_K"]["onset"] == pytest.approx([record["onset_K"] for record in curves])
    rt_curves = [record for record in outcome.analysis if record["kind"] == "rt_curve"]
    assert np.concatenate([record["resistance_ohm"] for record in rt_curves]) == pytest.approx(
        data["Resistance (ohm)"].to_numpy())

    # each curve ran at its own field, read from the magnet
    for field in FIELDS_T:
        at_field = data[np.isclose(data["Field (T)"], field, atol=1e-3)]
        assert len(at_field) > 50 and (at_field["Sweep direction"] == "cooling").all()

    # Hc2(T) fitted live from the third field on
    fits = [record for record in outcome.analysis if record["kind"] == "hc2"]
    assert len(fits) == 2 and all(fit["success"] and fit["model"] == "whh" for fit in fits)
    last = fits[-1]
    assert last["criterion"] == "midpoint" and last["field_T"] == pytest.approx(FIELDS_T, abs=1e-3)
    assert last["tc_K"]["value"] == pytest.approx(sample.tc_K - shift_K, abs=0.25)
    # Hc2(0) = 0.693 Tc |dH/dT|: the lag lowers Tc by 1.7 %, the slope is unchanged
    assert last["hc2_0_T"]["value"] == pytest.approx(sample.effective_hc2_0() * (1 - shift_K / sample.tc_K), rel=0.03)

    magnet = lace_lab.world.magnet
    assert magnet.field_T == pytest.approx(1.0) and magnet.state == "paused"


def test_warming_curves_are_field_cooled_from_the_window_top(lace_lab, tmp_path):
    """Warming: the field is changed at the window's top, then the cell cools to the start."""
    seen = []

    def should_stop():
        # the magnet's state while it ramps, with the stage temperature at that moment
        if lace_lab.world.magnet.state == "ramping":
            seen.append(lace_lab.world.stage_temperature())
        return False

    outcome = runner.run(series(lace_lab, fields_T="0, 3", direction="warming", upper_K=180.0, lower_K=160.0),
                         tmp_path / "fs.csv", should_stop=should_stop)
    assert outcome.status == "finished"
    assert seen and min(seen) > 180.0 - 0.1  # normal state all along the ramp to 3 T (Tc 172 K)
    curves = [record for record in outcome.analysis if record["kind"] == "tc"]
    assert [record["direction"] for record in curves] == ["warming", "warming"]


@pytest.mark.parametrize("parameters, message", [
    ({"fields_T": "0, 3, x"}, r"fields_T = '0, 3, x': 'x' is not a number in T"),
    ({"fields_T": " "}, r"fields_T = ' ' is empty"),
    ({"fields_T": "0, 12"}, r"fields_T\[1\] = 12 T is outside the allowed range \[-9, 9\] T"),
    ({"final_field_T": -10.0}, r"final_field_T = -10 T is outside the allowed range \[-9, 9\] T"),
    ({"field_rate_T_per_min": 1.0}, r"field_rate_T_per_min = 1 T/min is outside the allowed range \[0, 0.5\] T/min"),
    ({"direction": "cooling and warming"}, r"\(direction\) = 'cooling and warming' is not allowed: allowed: cooling, "
                                           r"warming"),
    ({"hc2_model": "bcs"}, r"\(hc2_model\) = 'bcs' is not allowed: allowed: whh, gl"),
])
def test_bad_parameters_are_refused_before_any_instrument_is_touched(lace_lab, tmp_path, parameters, message):
    with recording_commands() as messages:
        with pytest.raises(LimitError, match=message):
            runner.run(series(lace_lab, **parameters), tmp_path / "fs.csv")
    assert messages == [] and not (tmp_path / "fs.csv").exists()


def test_a_stop_during_a_field_ramp_pauses_the_magnet_where_it_is(lace_lab, tmp_path):
    outcome = runner.run(series(lace_lab, fields_T="0, 3"), tmp_path / "fs.csv",
                         should_stop=lambda: lace_lab.world.magnet.state == "ramping")
    data = Results.load(str(tmp_path / "fs.csv"), procedure_class=FieldSeries).data
    assert outcome.status == "aborted"
    assert outcome.points == len(data) > 50 and np.allclose(data["Field (T)"], 0.0)  # the first curve, all of it
    magnet = lace_lab.world.magnet
    assert magnet.state == "paused" and 0.0 < magnet.field_T < 3.0  # stopped within a minute of the request
    assert_safe(lace_lab, "bridge370")


def test_a_fault_during_the_second_curve_fails_the_run_safely(lace_lab, tmp_path):
    progress = []

    def on_event(topic, record):
        if topic == "progress":
            progress.append(record)
            if len(progress) == 100:  # one progress before the points, 67 points in the first curve
                lace_lab.world.faults.add(Fault("lakeshore370", "garbage", count=DEFAULT_POLICY.attempts))

    outcome = runner.run(series(lace_lab), tmp_path / "fs.csv", on_event=on_event)
    data = Results.load(str(tmp_path / "fs.csv"), procedure_class=FieldSeries).data
    assert outcome.status == "failed" and outcome.points == len(data) == 99
    assert np.isclose(data["Field (T)"].iloc[-1], 3.0, atol=1e-3)
    assert lace_lab.world.magnet.state == "paused" and lace_lab.world.magnet.field_T == pytest.approx(3.0)
    assert_safe(lace_lab, "bridge370")


def test_a_resumed_series_fits_hc2_through_the_fields_done_before(lace_lab, tmp_path):
    """The first run stops once two fields are done; the resumed one measures the third and its
    Hc2 fit uses all three Tc(H) points, as the uninterrupted run's would."""
    done = []

    def on_event(topic, record):
        if topic == "segment" and record["state"] == "done":
            done.append(record["key"])

    first = runner.run(series(lace_lab, fields_T="0, 3, 6"), tmp_path / "fs.csv", on_event=on_event,
                       should_stop=lambda: len(done) == 2)
    assert first.status == "aborted" and done == ["0 T", "3 T"]
    assert not [record for record in first.analysis if record["kind"] == "hc2"]  # two points: no fit yet
    resumed = series(lace_lab, fields_T="0, 3, 6")
    resumed.done_segments = set(done)
    resumed.restore([record for record in first.analysis if record.get("segment") in done])
    second = runner.run(resumed, tmp_path / "fs.csv", append=True)
    assert second.status == "finished"
    tc = [record for run in (first, second) for record in run.analysis if record["kind"] == "tc"]
    assert [record["segment"] for record in tc] == ["0 T", "3 T", "6 T"]
    [hc2] = [record for record in second.analysis if record["kind"] == "hc2"]
    assert hc2["temperature_K"] == pytest.approx([record["midpoint_K"] for record in tc])
    assert hc2["field_T"] == pytest.approx([record["field_T"] for record in tc])
