"""Point-contact dI/dV on the virtual cryostat (CeH9 cell-1): both methods against the sample model,
refusals before any instrument, and the safe end after a stop or an instrument fault."""

import threading

import numpy as np
import pytest
from pymeasure.experiment import Results

from daclab import runner
from daclab.analysis import gap_fit
from daclab.lab import Lab
from daclab.limits import LimitError
from daclab.procedures.differential_conductance import DCON, STEPS, DifferentialConductance, dcon_runs
from daclab.rundir import Journal
from daclab.sim import Fault
from daclab.sim.binding import recording_commands
from daclab.connection import DEFAULT_POLICY

# 151 points over +-6 mA: about 1.3 mV of junction bias between points inside the gap, several
# gaps of bias on either side, and a background window (80 mV) well clear of the gap edges.
QUICK = dict(max_current_A=6e-3, bias_points=151, gap_window_mV=80.0, temperatures_K="2",
             stable_s=30.0, thermalise_s=60.0, rate_K_per_min=0.0)


@pytest.fixture
def lab():
    with Lab.open("simulated", start_K=2.0, seed=1) as opened:
        yield opened


def run(lab, path, should_stop=lambda: False, on_event=lambda topic, record: None, **parameters):
    """Run the procedure into ``path``; the outcome, the data read back from the file, and the events."""
    events = []

    def record(topic, value):
        events.append((topic, value))
        on_event(topic, value)

    procedure = DifferentialConductance(lab=lab, **{**QUICK, **parameters})
    outcome = runner.run(procedure, path, should_stop=should_stop, on_event=record)
    data = Results.load(str(path), procedure_class=DifferentialConductance).data
    return outcome, data, events


def analyses(outcome, kind):
    return [record for record in outcome.analysis if record["kind"] == kind]


def model_didv(sample, currents_A, step_A, kelvin):
    """dI/dV of three steps I - dI, I, I + dI: their least-squares slope is (V+ - V-) / 2 dI."""
    up = np.array([sample.contact_voltage(i + step_A, kelvin) for i in currents_A])
    down = np.array([sample.contact_voltage(i - step_A, kelvin) for i in currents_A])
    return 2 * step_A / (up - down)


def features(bias_mV, conductance):
    """Where the gap structure sits: the conductance maxima (the shoulders of the Andreev plateau)
    and the steepest fall on either side (the gap edges), as bias values."""
    slope = np.gradient(conductance, bias_mV)
    positive, negative = bias_mV > 0, bias_mV < 0
    return {"maximum +": bias_mV[positive][np.argmax(conductance[positive])],
            "maximum -": bias_mV[negative][np.argmax(conductance[negative])],
            "edge +": bias_mV[positive][np.argmin(slope[positive])],
            "edge -": bias_mV[negative][np.argmax(slope[negative])]}


def spacing_at(bias_mV, value_mV):
    """The larger of the two point spacings around ``value_mV`` on the measured bias axis."""
    index = int(np.argmin(np.abs(bias_mV - value_mV)))
    return float(np.max(np.diff(bias_mV)[max(index - 1, 0):index + 1]))


# ---- acceptance: the gap where the model puts it ---------------------------------------------------

@pytest.mark.parametrize("method", [STEPS, DCON])
def test_both_methods_show_the_andreev_peak_and_the_gap_edges_where_the_model_puts_them(lab, tmp_path, method):
    sample = lab.world.sample
    with recording_commands() as sent:
        outcome, data, events = run(lab, tmp_path / "didv.csv", method=method,
                                    series_resistance_ohm=sample.spreading_resistance_ohm)
    assert (outcome.status, outcome.points, len(data)) == ("finished", 151, 151)
    # what the 6221 was told: dI = 0.25 % of the 12 mA sweep = 30 uA (SOUR:CURR, SOUR:DCON:DELT as in the manual)
    step = 0.25 / 100 * 2 * 6e-3
    biases = np.linspace(-6e-3, 6e-3, 151)
    told = [text.split() for device, text in sent if device == "keithley6221"]
    if method == STEPS:
        currents = [float(words[1]) for words in told if words[0] == "SOUR:CURR"]
        assert currents == pytest.approx((biases[:, None] + [-step, 0.0, step]).ravel(), abs=1e-12)
    else:
        deltas = [float(words[1]) for words in told if words[0] == "SOUR:DCON:DELT"]
        steps = [float(words[1]) for words in told if words[0] == "SOUR:DCON:STEP"]
        assert len(deltas) == len(steps) == len(dcon_runs(151, 10))
        assert deltas == pytest.approx([step] * len(deltas)) and steps == pytest.approx([12e-3 / 150] * len(steps))
    assert [value for topic, value in events if topic == "progress"][-1] == 100.0
    kelvin = lab.world.sample_temperature()
    assert data["Temperature (K)"].to_numpy() == pytest.approx(2.0, abs=0.05)

    # every point is the model's dI/dV at its bias current, and its bias the contact voltage there
    current = data["Current (A)"].to_numpy()
    assert current == pytest.approx(biases, abs=1e-12)
    assert data["dI/dV (S)"].to_numpy() == pytest.approx(model_didv(sample, current, step, kelvin), rel=1e-3)
    assert data["dV/dI (ohm)"].to_numpy() == pytest.approx(1 / data["dI/dV (S)"].to_numpy(), rel=1e-9)
    contact = np.array([sample.contact_voltage(i, kelvin) for i in current])
    assert data["Bias (V)"].to_numpy() == pytest.approx(contact, abs=10e-6)  # EMF and step curvature: a few uV
    assert data["Normalised dI/dV"].isna().all()  # the first spectrum has no background yet

    # the processed spectrum (junction bias) against the model's contact conductance at this temperature
    [spectrum] = analyses(outcome, "spectrum")
    bias_mV, normalised = np.array(spectrum["bias_mV"]), np.array(spectrum["conductance"])
    assert spectrum["temperature_K"] == pytest.approx(2.0, abs=0.05)
    grid = np.linspace(-120.0, 120.0, 24001)
    truth = features(grid, sample.contact_conductance(grid, kelvin))
    measured = features(bias_mV, normalised)
    for name, where in truth.items():
        # a feature is found at a measured point; smoothing and differences move it by less than
        # half a spacing, so it lies within one local point spacing of the model's position
        assert measured[name] == pytest.approx(where, abs=spacing_at(bias_mV, where)), name
    assert truth["edge +"] == pytest.approx(sample.gap(kelvin), abs=1.5)  # the edge is the gap, broadened
    # zero-bias Andreev enhancement G(0)/G_N: the background fitted beyond 80 mV still holds the
    # BTK tail (~1-2 % above G_N there), hence 5 %
    model_ratio = float(sample.contact_conductance(0.0, kelvin)) * sample.contact_normal_ohm
    assert model_ratio > 1.3
    assert np.interp(0.0, bias_mV, normalised) == pytest.approx(model_ratio, rel=0.05)

    [btk] = analyses(outcome, "btk")
    assert btk["delta_meV"]["value"] == pytest.approx(sample.gap(kelvin), rel=0.03)
    assert btk["z"]["value"] == pytest.approx(sample.barrier_z, abs=0.1)


def test_a_temperature_series_normalises_live_and_fits_the_bcs_gap(lab, tmp_path):
    sample = lab.world.sample
    temperatures = [2.0, 40.0, 70.0]
    # the cell lags the thermometer by 5 min: 50 min of dwell leaves the sample within mK
    outcome, data, _ = run(lab, tmp_path / "series.csv", method=STEPS, temperatures_K="2, 40, 70",
                           thermalise_s=3000.0, series_resistance_ohm=sample.spreading_resistance_ohm)
    assert (outcome.status, len(data)) == ("finished", 3 * 151)
    kinds = [record["kind"] for record in outcome.analysis]
    # spectra are processed in line; their fits come from the analysis thread, each after its spectrum
    assert sorted(kinds) == sorted(["spectrum", "btk"] * 3 + ["gap_fit"]) and kinds[-1] == "gap_fit"
    spectrum_at = [i for i, kind in enumerate(kinds) if kind == "spectrum"]
    btk_at = [i for i, kind in enumerate(kinds) if kind == "btk"]
    assert all(fit > spectrum for fit, spectrum in zip(btk_at, spectrum_at))

    spectra = [data.iloc[151 * k:151 * (k + 1)] for k in range(3)]
    for spectrum, kelvin in zip(spectra, temperatures):
        assert spectrum["Temperature (K)"].to_numpy() == pytest.approx(kelvin, abs=0.05)
    # the live normalised column: none in the first spectrum, then the previous background
    assert spectra[0]["Normalised dI/dV"].isna().all()
    for spectrum, kelvin in zip(spectra[1:], temperatures[1:]):
        normalised = spectrum["Normalised dI/dV"].to_numpy()
        assert np.isfinite(normalised).all()
        high_bias = np.abs(spectrum["Bias (V)"].to_numpy()) > 0.1
        assert normalised[high_bias] == pytest.approx(1.0, abs=0.03)
        zero_bias = normalised[np.argmin(np.abs(spectrum["Current (A)"].to_numpy()))]
        model_ratio = float(sample.contact_conductance(0.0, kelvin)) * sample.contact_normal_ohm
        assert zero_bias == pytest.approx(model_ratio, rel=0.05)

    btk = analyses(outcome, "btk")
    for fit, kelvin in zip(btk, temperatures):
        assert fit["temperature_K"] == pytest.approx(kelvin, abs=0.05)
        assert fit["delta_meV"]["value"] == pytest.approx(sample.gap(kelvin), rel=0.05)
    [bcs] = analyses(outcome, "gap_fit")
    assert bcs["points"] == 3
    assert bcs["delta_meV"] == [fit["delta_meV"]["value"] for fit in btk]
    assert bcs["delta0_meV"]["value"] == pytest.approx(sample.gap_meV, rel=0.03)
    assert bcs["tc_K"]["value"] == pytest.approx(sample.tc_K, rel=0.1)  # where the model's gap closes


def test_readings_beyond_the_2182A_range_stay_in_the_file_as_nan_and_the_rest_is_processed(lab, tmp_path):
    meter = lab.instrument("steps").nanovoltmeter
    meter.auto_range_enabled = False
    meter.channel2_range = 0.1  # overflows beyond 120 mV: the ends of the +-6 mA sweep
    outcome, data, _ = run(lab, tmp_path / "overflow.csv", method=STEPS)
    sample, kelvin = lab.world.sample, lab.world.sample_temperature()
    beyond = np.array([abs(sample.contact_voltage(i + step, kelvin)) > 0.12
                       for i in np.linspace(-6e-3, 6e-3, 151) for step in (-3e-5, 3e-5)]).reshape(151, 2).any(axis=1)
    assert 0 < beyond.sum() < 40
    assert outcome.status == "finished" and len(data) == 151
    assert data["dI/dV (S)"].isna().to_numpy().tolist() == beyond.tolist()
    [spectrum] = analyses(outcome, "spectrum")
    assert len(spectrum["bias_mV"]) == 151 - beyond.sum()


# ---- refused before any instrument -------------------------------------------------------------

@pytest.mark.parametrize("parameters, message", [
    (dict(step_percent=0.6), r"Current step dI \(step_percent\) = 0.6 is not allowed: allowed range \[0.0001, 0.5\] %"),
    (dict(max_current_A=0.08), r"peak bias current I_max \+ dI \(max_current_A = 0.08 A\) = 0.0804 A "
                               r"is outside the allowed range \[-0.08, 0.08\] A"),
    (dict(method=DCON, max_current_A=0.0796, step_percent=0.5), r"peak bias current .* = 0.080396 A .*\[-0.08, 0.08\]"),
    (dict(temperatures_K="2, 400"), r"temperatures_K\[1\] = 400 K is outside the allowed range \[1.5, 320\] K"),
    (dict(temperatures_K="2, warm"), r"temperatures_K = '2, warm': 'warm' is not a number in K.*e.g. '2, 10, 20'"),
    (dict(rate_K_per_min=20.0), r"rate_K_per_min = 20 K/min is outside the allowed range \[0, 10\] K/min"),
    (dict(method="lock-in"), r"Method \(method\) = 'lock-in' is not allowed: allowed: current steps, DCON"),
])
def test_bad_parameters_are_refused_before_any_instrument(lab, tmp_path, parameters, message):
    procedure = DifferentialConductance(lab=lab, **{**QUICK, **parameters})
    with recording_commands() as sent:
        with pytest.raises(LimitError, match=message):
            runner.run(procedure, tmp_path / "refused.csv")
    assert sent == [] and not (tmp_path / "refused.csv").exists()


def test_dcon_runs_cover_the_sweep_without_a_one_point_run():
    for points, size in ((151, 10), (21, 10), (20, 10), (5, 2), (7, 100)):
        runs = dcon_runs(points, size)
        assert [i for run in runs for i in range(points)[run]] == list(range(points))
        assert all(2 <= run.stop - run.start <= size + 1 for run in runs)


# ---- the safe end --------------------------------------------------------------------------------

def assert_safe(lab):
    source = lab.instrument("steps")  # one 6221 plays 'steps' and 'conductance'
    assert source.source_enabled is False and source.dcon_armed is False
    assert lab.world.source_current_A == 0.0
    controller = lab.role("temperature")  # 'hold': ramp stopped, setpoint at the last reading
    assert controller.ramp_done()
    assert controller.setpoint() == pytest.approx(controller.temperature(), abs=0.05)


@pytest.mark.parametrize("method, rows_per_progress", [(STEPS, 1), (DCON, 10)])
def test_a_stop_mid_spectrum_leaves_the_source_off_and_every_point_on_disk(lab, tmp_path, method, rows_per_progress):
    progress = []
    outcome, data, _ = run(lab, tmp_path / "stopped.csv", method=method, should_stop=lambda: len(progress) >= 3,
                           on_event=lambda topic, value: progress.append(value) if topic == "progress" else None)
    # steps: one point per progress report; DCON: one run of ten points
    assert outcome.status == "aborted"
    assert outcome.points == len(data) == 3 * rows_per_progress
    assert outcome.analysis == []  # no spectrum was completed
    assert_safe(lab)


@pytest.mark.parametrize("method, rows_per_progress", [(STEPS, 1), (DCON, 10)])
def test_an_instrument_fault_mid_spectrum_fails_the_run_safely_with_the_points_kept(lab, tmp_path, method,
                                                                                     rows_per_progress):
    world = lab.world
    lab.instrument("steps").adapter.connection.timeout = 50  # ms: a lost reply costs little wall time
    injected = []

    def inject(topic, value):
        if topic == "progress" and not injected:
            # the next message to the 6221 once the clock moves on is lost (a reading, or a poll),
            # and so is every retry of it
            injected.append(world.faults.add(Fault("keithley6221", "timeout", after_s=world.clock.now() + 1e-6,
                                                   count=DEFAULT_POLICY.attempts)))

    outcome, data, _ = run(lab, tmp_path / "fault.csv", method=method, on_event=inject)
    assert outcome.status == "failed" and outcome.error
    assert outcome.points == len(data) == rows_per_progress
    assert_safe(lab)


def test_a_spectrum_is_measured_while_the_previous_one_is_fitted(lab, tmp_path, monkeypatch):
    """The first BTK fit is held until the second spectrum has begun; fitted in line, the second
    spectrum could never begin."""
    second_spectrum_begun, released = threading.Event(), []
    fit_spectrum = gap_fit.fit_spectrum

    def held_fit(spectrum, kelvin):
        if not released:
            released.append(second_spectrum_begun.wait(10.0))
        return fit_spectrum(spectrum, kelvin)

    monkeypatch.setattr(gap_fit, "fit_spectrum", held_fit)
    points = []

    def on_event(topic, record):
        if topic == "results":
            points.append(record)
            if len(points) == QUICK["bias_points"] + 1:
                second_spectrum_begun.set()

    outcome, data, _ = run(lab, tmp_path / "two.csv", on_event=on_event, temperatures_K="2, 4")
    assert released == [True]
    assert (outcome.status, len(data)) == ("finished", 2 * QUICK["bias_points"])
    assert [fit["temperature_K"] for fit in analyses(outcome, "btk")] == pytest.approx([2.0, 4.0], abs=0.05)


def stopped_after_two_temperatures(lab, path):
    """A 2, 40, 70 K series stopped once 2 and 40 K are done: its outcome, the segments done and
    the series' parameters (to resume it with)."""
    done = []

    def on_event(topic, record):
        if topic == "segment" and record["state"] == "done":
            done.append(record["key"])

    series = dict(method=STEPS, temperatures_K="2, 40, 70", thermalise_s=3000.0,
                  series_resistance_ohm=lab.world.sample.spreading_resistance_ohm)
    first, _, _ = run(lab, path, on_event=on_event, should_stop=lambda: len(done) == 2, **series)
    assert first.status == "aborted" and done == ["2 K", "40 K"]
    return first, done, series


def test_a_resumed_series_fits_the_bcs_gap_through_the_spectra_done_before(lab, tmp_path):
    first, done, series = stopped_after_two_temperatures(lab, tmp_path / "series.csv")
    assert not analyses(first, "gap_fit")
    resumed = DifferentialConductance(lab=lab, **{**QUICK, **series})
    resumed.done_segments = set(done)
    resumed.restore([record for record in first.analysis if record.get("segment") in done])
    second = runner.run(resumed, tmp_path / "series.csv", append=True)
    assert second.status == "finished"
    # the spectrum after the resume is normalised by the background of the one before it
    data = Results.load(str(tmp_path / "series.csv"), procedure_class=DifferentialConductance).data
    after = data.iloc[2 * QUICK["bias_points"]:]
    assert len(after) == QUICK["bias_points"] and np.isfinite(after["Normalised dI/dV"]).all()
    assert after["Normalised dI/dV"][np.abs(after["Bias (V)"]) > 0.1].to_numpy() == pytest.approx(1.0, abs=0.03)
    btk = analyses(first, "btk") + analyses(second, "btk")
    assert [round(fit["temperature_K"]) for fit in btk] == [2, 40, 70]
    [bcs] = analyses(second, "gap_fit")
    assert bcs["delta_meV"] == [fit["delta_meV"]["value"] for fit in btk]


def test_a_spectrum_whose_fit_was_cut_off_by_the_stop_is_fitted_when_the_series_goes_on(lab, tmp_path):
    """The run died after the 40 K spectrum was recorded but before its BTK fit was: the
    journal holds the spectrum and no fit. The resumed series fits it from its record, under
    its own segment, and the BCS fit uses all three gaps."""
    first, done, series = stopped_after_two_temperatures(lab, tmp_path / "series.csv")
    journal = Journal(tmp_path)
    for record in first.analysis:  # what the journal kept: the 40 K fit never got there
        if record.get("segment") in done and not (record["kind"] == "btk" and record["segment"] == "40 K"):
            journal.append("analysis", step=1, record=record)
    kept = [event["record"] for event in journal.events()]
    assert sorted((r["segment"], r["kind"]) for r in kept) == [("2 K", "btk"), ("2 K", "spectrum"),
                                                                ("40 K", "spectrum")]
    resumed = DifferentialConductance(lab=lab, **{**QUICK, **series})
    resumed.done_segments = set(done)
    resumed.restore(kept)
    second = runner.run(resumed, tmp_path / "series.csv", append=True)
    assert second.status == "finished"
    refit = [fit for fit in analyses(second, "btk") if fit["segment"] == "40 K"]
    [lost] = [fit for fit in analyses(first, "btk") if fit["segment"] == "40 K"]
    assert len(refit) == 1 and refit[0]["success"]
    assert refit[0]["delta_meV"]["value"] == pytest.approx(lost["delta_meV"]["value"], rel=1e-6)
    [bcs] = analyses(second, "gap_fit")
    assert sorted(round(t) for t in bcs["temperature_K"]) == [2, 40, 70]
