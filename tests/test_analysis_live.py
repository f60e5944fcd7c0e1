"""Live fitters: fed point by point from the simulated sample, they end on the batch fits' answers,
never hold up the caller while a fit runs, and turn failures into results with messages."""

import dataclasses
import threading

import numpy as np

from daclab.analysis.aging import fit_aging
from daclab.analysis.conductance import process_spectrum
from daclab.analysis.critical import fit_jc
from daclab.analysis.gap_fit import fit_btk, fit_gap
from daclab.analysis.hc2_fit import fit_hc2
from daclab.analysis.live import (BackgroundFit, LiveAging, LiveBtk, LiveGap, LiveHc2, LiveJc, LiveSeries, LiveSpectrum,
                                  LiveTransition)
from daclab.analysis.transitions import transition_temperatures
from daclab.sim.sample import load_sample

KB_MEV_PER_K = 8.617333262e-2  # CODATA 2018
WAIT_S = 60.0  # only a safety net against a hung test; no assertion depends on it


def same(a, b):
    """Equal field by field, NaN equal to NaN (results are dataclasses holding arrays and NaN)."""
    np.testing.assert_equal(dataclasses.astuple(a), dataclasses.astuple(b))




def cooling_curve(sample, field_T=0.0, points=250, seed=1):
    temperature = np.linspace(sample.tc_K + 25.0, sample.tc_K - 20.0, points)
    noise = np.random.default_rng(seed).normal(0.0, 2e-4 * sample.r_normal_ohm, points)
    return temperature, sample.resistance(temperature, field_T) + noise


# ---- transition --------------------------------------------------------------------------


def test_tc_markers_appear_in_order_as_the_cooling_sweep_crosses_them_and_end_on_the_batch_values(lace):
    temperature, resistance = cooling_curve(lace)
    first_seen = {}
    with LiveTransition() as live:
        for t, r in zip(temperature, resistance):
            live.add(t, r)
            live.finish(WAIT_S)  # one result per point, to watch the markers appear
            for name in live.markers():
                first_seen.setdefault(name, t)
        final = live.latest
    batch = transition_temperatures(temperature, resistance)
    same(final.value, batch)
    assert final.points == temperature.size
    assert abs(batch.midpoint_K - lace.tc_K) < 0.3  # the simulator's midpoint
    assert first_seen["onset"] > first_seen["midpoint"] > first_seen["zero"]
    for name, value in batch.criteria().items():
        if name != "intersection":  # an extrapolation: it may be known before the sweep reaches it
            assert first_seen[name] <= value + 0.5, name  # never before the sweep got there


def test_before_the_transition_there_are_no_markers(lace):
    temperature, resistance = cooling_curve(lace)
    normal = temperature > lace.tc_K + 8.0
    with LiveTransition() as live:
        assert live.latest is None and live.markers() == {}
        for t, r in zip(temperature[normal], resistance[normal]):
            live.add(t, r)
        result = live.finish(WAIT_S)
    assert result.ok and not result.value.has_transition
    assert live.markers() == {}


# ---- the shared machinery: never blocking, coalescing, errors ------------------------------


class SlowFit:
    """A fit that holds until released, recording how many points each call saw."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = []

    def __call__(self, *columns):
        self.calls.append(len(columns[0]))
        self.started.set()
        if not self.release.wait(WAIT_S):
            raise RuntimeError("never released")
        return len(columns[0])


def test_feeding_goes_on_while_a_slow_fit_runs_and_only_the_newest_data_are_fitted_next():
    slow = SlowFit()
    with LiveSeries(slow, columns=2, minimum_points=5) as live:
        for i in range(5):
            live.add(i, i)
        assert slow.started.wait(WAIT_S)
        for i in range(5, 1000):  # the fit of the first 5 points is still held
            live.add(i, 2 * i)
        assert not slow.release.is_set() and slow.calls == [5]
        assert live.latest is None and len(live) == 1000
        slow.release.set()
        result = live.finish(WAIT_S)
    assert slow.calls == [5, 1000]  # the requests made while the first fit ran collapsed into the newest
    assert result.ok and result.value == 1000 and result.points == 1000


def test_different_keys_are_all_fitted_in_order_and_a_waiting_key_takes_the_newest_data():
    slow = SlowFit()
    seen = []

    def fit(snapshot):
        slow(snapshot)
        return snapshot

    runner = BackgroundFit(fit, on_result=seen.append)
    runner.submit([0], key="a")
    assert slow.started.wait(WAIT_S)
    runner.submit([1], key="b")
    runner.submit([2, 2], key="c")
    runner.submit([1, 1, 1], key="b")  # replaces b's waiting request, keeps b's turn
    slow.release.set()
    assert runner.finish(WAIT_S)
    runner.close()
    assert [(r.key, r.value) for r in seen] == [("a", [0]), ("b", [1, 1, 1]), ("c", [2, 2])]
    assert [r.generation for r in seen] == [1, 4, 3]
    assert runner.latest("b").value == [1, 1, 1]


def test_a_failing_fit_becomes_a_result_with_its_message_and_the_next_fit_still_runs():
    def fragile(x, y):
        if len(x) < 4:
            raise ValueError(f"{len(x)} points are too few")
        if len(x) == 4:
            raise ZeroDivisionError("division by zero")
        return float(np.sum(y))

    results = []
    with LiveSeries(fragile, columns=2, on_result=results.append) as live:
        for i in range(5):
            live.add(i, 1.0)  # never raises, whatever the fit does
            live.finish(WAIT_S)
    assert [r.ok for r in results] == [False, False, False, False, True]
    assert results[0].value is None and results[0].message == "ValueError: 1 points are too few"
    assert results[3].message == "ZeroDivisionError: division by zero"
    assert results[4].value == 5.0


def test_a_failing_callback_does_not_stop_the_fits():
    calls = []

    def broken_display(result):
        calls.append(result.points)
        raise RuntimeError("plot window closed")

    with LiveSeries(lambda x: x.size, columns=1, on_result=broken_display) as live:
        live.add(1.0)
        live.finish(WAIT_S)
        live.add(2.0)
        result = live.finish(WAIT_S)
    assert calls == [1, 2] and result.value == 2


def test_values_that_are_not_numbers_are_kept_as_nan_for_the_fit_to_drop():
    with LiveSeries(lambda x, y: (x.copy(), y.copy()), columns=2) as live:
        live.add("cold", 1.0)
        live.add(None, float("inf"))
        live.add(3, np.float32(2.5))
        x, y = live.finish(WAIT_S).value
    np.testing.assert_equal(x, [np.nan, np.nan, 3.0])
    np.testing.assert_equal(y, [1.0, np.nan, 2.5])


def test_after_close_new_data_are_ignored_and_the_last_result_stays():
    live = LiveSeries(lambda x: x.size, columns=1)
    live.add(1.0)
    live.close(WAIT_S)
    live.add(2.0)  # no worker any more: stored, not fitted, and no error
    assert live.finish(WAIT_S).value == 1


def test_a_real_analysis_error_reaches_the_caller_as_a_message():
    with LiveGap() as live:
        for temperature in (2.0, 20.0, 40.0):
            live.add(temperature, 0.0)
        result = live.finish(WAIT_S)
    assert not result.ok and "delta_meV is never > 0" in result.message


# ---- Hc2, gap, Jc --------------------------------------------------------------------------


def test_hc2_fits_update_after_each_field_and_end_on_the_batch_fits(lace):
    fields = (0.0, 1.0, 3.0, 5.0, 7.0, 9.0)
    tc_by_field = {}
    results = []
    with LiveHc2(models=("whh", "gl"), on_result=results.append) as live:
        for index, field in enumerate(fields):
            temperature, resistance = cooling_curve(lace, field, seed=index)
            transition = transition_temperatures(temperature, resistance)
            tc_by_field[field] = transition.criteria()
            live.add(field, transition)
            live.finish(WAIT_S)
    assert len(results) == len(fields)
    first_two = results[1].value
    assert "at least 3" in first_two.errors["midpoint"]["whh"] and not first_two.fits
    final = results[-1].value
    assert not final.errors
    for criterion in ("onset", "midpoint", "zero", "intersection"):
        temperatures = [tc_by_field[f][criterion] for f in fields]
        for model in ("whh", "gl"):
            same(final.fits[criterion][model], fit_hc2(temperatures, fields, model=model))
    whh = final.fits["midpoint"]["whh"].hc2_0_T
    assert abs(whh.value - lace.effective_hc2_0()) < max(4 * whh.stderr, 0.05 * lace.hc2_0_T)


def test_gap_fit_updates_with_each_temperature_and_ends_on_the_batch_fit(ceh9):
    rng = np.random.default_rng(3)
    temperatures = np.array([2.0, 20.0, 40.0, 60.0, 75.0, 85.0, 92.0, 97.0])
    gaps = np.array([ceh9.gap(t) for t in temperatures]) + rng.normal(0, 0.1, temperatures.size)
    errors = np.full(temperatures.size, 0.1)
    with LiveGap() as live:
        for t, d, e in zip(temperatures, gaps, errors):
            live.add(t, d, e)
            live.finish(WAIT_S)
        final = live.latest
    same(final.value, fit_gap(temperatures, gaps, errors))
    truth = 2 * ceh9.gap_meV / (KB_MEV_PER_K * ceh9.tc_K)
    assert abs(final.value.ratio.value - truth) < max(4 * final.value.ratio.stderr, 0.05 * truth)


def test_jc_pinning_fit_ends_on_the_batch_fit_and_the_simulated_truth(ceh9):
    temperatures = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0])
    rng = np.random.default_rng(4)
    jc = np.array([ceh9.critical_current(t) / ceh9.area_cm2 for t in temperatures])
    jc *= 1 + rng.normal(0, 0.01, jc.size)
    jc[2] = np.nan  # no Ic found at one temperature
    with LiveJc() as live:
        for t, j in zip(temperatures, jc):
            live.add(t, j)
        final = live.finish(WAIT_S)
    same(final.value, fit_jc(temperatures, jc))
    assert abs(final.value.tc_K.value - ceh9.jc_tc_K) < 1.0
    assert abs(final.value.jc0.value / ceh9.jc0_A_cm2 - 1) < 0.05


# ---- spectra -------------------------------------------------------------------------------


def raw_spectrum(sample, temperature_K, seed):
    bias_V = np.linspace(-0.12, 0.12, 121)
    rng = np.random.default_rng(seed)
    return bias_V, sample.contact_conductance(bias_V * 1e3, temperature_K) * (1 + rng.normal(0, 1e-3, bias_V.size))


def test_each_spectrum_gets_its_own_fit_even_when_they_come_faster_than_the_fits(ceh9):
    temperatures = (2.0, 40.0, 70.0)
    spectra = [raw_spectrum(ceh9, t, seed) for seed, t in enumerate(temperatures)]
    with LiveSpectrum(gap_window_V=0.06) as live:
        for (bias, didv), temperature in zip(spectra, temperatures):  # no waiting: they queue behind the fits
            for v, g in zip(bias, didv):
                live.add(v, g)
            live.complete(temperature)
        live.finish(WAIT_S)
        results = live.results()
    assert [r.key for r in results] == [0, 1, 2]
    gaps = []
    for (bias, didv), temperature, result in zip(spectra, temperatures, results):
        spectrum = process_spectrum(bias, didv, 0.06)
        same(result.value.btk, fit_btk(spectrum.bias_mV, spectrum.conductance_norm, temperature, normalised=False))
        assert result.value.temperature_K == temperature
        gaps.append(result.value.btk.delta_meV.value)
    truth = [ceh9.gap(t) for t in temperatures]
    assert gaps[0] > gaps[1] > gaps[2]  # the gap closes on warming, as the sample's does
    assert abs(gaps[0] / truth[0] - 1) < 0.1


def test_btk_fits_of_whole_spectra_match_the_batch_fit_and_feed_the_gap_fit(ceh9):
    bias_mV = np.linspace(-120, 120, 121)
    gap_fit = LiveGap()
    with LiveBtk(on_result=lambda result: gap_fit.add_btk(result.value)) as live:
        conductance = ceh9.contact_conductance(bias_mV, 2.0) * ceh9.contact_normal_ohm  # G/G_N times background
        index = live.add_spectrum(bias_mV, conductance, 2.0)
        result = live.finish(WAIT_S)
    assert index == 0 and result.key == 0
    same(result.value, fit_btk(bias_mV, conductance, 2.0))
    temperature, delta, stderr = gap_fit.data()
    assert temperature.tolist() == [2.0] and delta[0] == result.value.delta_meV.value
    assert stderr[0] == result.value.delta_meV.stderr
    gap_fit.close()


def test_a_spectrum_too_short_to_process_gives_a_message_not_an_exception():
    with LiveSpectrum(gap_window_V=0.05) as live:
        live.add(0.0, 0.05)
        live.add(0.01, 0.05)
        live.complete(2.0)
        result = live.finish(WAIT_S)
    assert not result.ok and result.value is None and "2 usable (bias_V, didv_S) points" in result.message


def test_aging_fit_starts_at_four_sweeps_and_ends_on_the_batch_fit_and_the_sample_truth():
    sample = load_sample("lah10_aging")
    days = np.array([0.5, 1.0, 2.0, 4.0, 7.0, 10.0, 14.0, 21.0, 28.0])
    rng = np.random.default_rng(5)
    tc = np.array([sample.tc_at_age(d) for d in days]) + rng.normal(0, 0.3, days.size)
    fitted_after = []
    with LiveAging(on_result=lambda result: fitted_after.append(result.points)) as live:
        for d, t in zip(days, tc):
            live.add(d, t)
            live.finish(WAIT_S)
        final = live.latest
    assert fitted_after == list(range(4, days.size + 1))
    same(final.value, fit_aging(days, tc))
    tau = final.value.tau_days
    assert abs(tau.value - sample.aging_time_constant_days) < max(4 * tau.stderr, 0.1 * sample.aging_time_constant_days)
