"""Fits that follow a measurement as it runs, fed point by point or curve by curve.

Like bluesky's LiveFit, each class here keeps the data seen so far and refits it with the
batch function of daclab.analysis whenever new data arrive, so the numbers at the cryostat
(Tc markers while cooling through the transition, Hc2(0) after every field, the gap of each
spectrum, Jc(0), the aging rate) are those the batch analysis will give on the finished file.

They run off the acquisition path and never delay a reading: ``add`` only stores the numbers
and hands the fit to :class:`BackgroundFit`, which runs it on its own thread. When fits take
longer than the data take to arrive, the requests pile up into one: only the newest data are
fitted. A fit that fails becomes a :class:`LiveResult` with a message; nothing raises into the
measurement. Pure analysis: no Qt, no files. A GUI turns ``on_result`` into a signal.

Typical use in a procedure::

    live = LiveTransition(on_result=lambda result: show(transition_markers(result)))
    for ...:
        live.add(temperature_K, resistance_ohm)   # returns at once
    final = live.finish()                          # waits for the last fit
    live.close()
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import threading
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np

from .aging import MINIMUM_POINTS as AGING_MINIMUM_POINTS
from .aging import AgingResult, fit_aging
from .conductance import Spectrum
from .critical import JcFitResult, fit_jc
from .fitting import finite_number
from .gap_fit import BtkFitResult, GapFitResult, analyse_spectrum, fit_btk, fit_gap
from .hc2_fit import Hc2FitResult, fit_hc2
from .transitions import (
    CRITERIA,
    MINIMUM_POINTS,
    TransitionResult,
    transition_temperatures,
)

__all__ = [
    "BackgroundFit", "Hc2Fits", "LiveAging", "LiveBtk", "LiveGap", "LiveHc2", "LiveJc", "LiveResult",
    "LiveSeries", "LiveSpectrum", "LiveTransition", "SpectrumFit", "transition_markers",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LiveResult:
    """One fit of the data as they were when it was asked for.

    value: what the batch function returned, None when it raised; message: empty on success,
    otherwise the error ("AnalysisInputError: 2 usable points; at least 3 are needed").
    points: how many points (or curves) the fit saw. generation: order of the request, so of
    two results of one key the larger describes more data. key: which queue it belongs to (spectrum number,
    or None for a fitter with one queue).
    """

    value: Any
    message: str = ""
    points: int = 0
    generation: int = 0
    key: Hashable = None

    @property
    def ok(self) -> bool:
        return not self.message


ResultCallback = Callable[[LiveResult], None]


class BackgroundFit:
    """Runs ``fit(snapshot)`` on a worker thread; the caller's ``submit`` returns at once.

    Requests are queued per key: a new request for a key that is still waiting replaces the
    older one (only the newest data are fitted), while different keys are all fitted, oldest
    first (each spectrum of a series gets its own fit). The latest result of each key is kept
    for any thread to read, and ``on_result`` is called with each new one on the worker thread.
    Errors in the fit or in the callback are caught: a failed fit becomes a result with a
    message, a failing callback is logged.
    """

    def __init__(self, fit: Callable[[Any], Any], on_result: ResultCallback | None = None,
                 name: str = "live fit") -> None:
        self._fit = fit
        self._on_result = on_result
        self._name = name
        self._condition = threading.Condition()
        self._pending: dict[Hashable, tuple[int, Any, int]] = {}  # key -> (generation, snapshot, points)
        self._latest: dict[Hashable, LiveResult] = {}
        self._generation = 0
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, snapshot: Any, points: int = 0, key: Hashable = None) -> int:
        """Ask for a fit of ``snapshot``; returns its generation (0 once closed: nothing is fitted)."""
        with self._condition:
            if self._closed:
                return 0
            self._generation += 1
            self._pending[key] = (self._generation, snapshot, points)  # a waiting key keeps its turn
            if self._thread is None:
                # daemon: a fit hanging in a library must not keep the program from exiting
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify_all()
            return self._generation

    def latest(self, key: Hashable = None) -> LiveResult | None:
        """The newest result for ``key``, None before the first one."""
        with self._condition:
            return self._latest.get(key)

    def results(self) -> dict[Hashable, LiveResult]:
        """The newest result of every key, in the order the keys were first fitted."""
        with self._condition:
            return dict(self._latest)

    @property
    def idle(self) -> bool:
        with self._condition:
            return not self._pending and not self._busy

    def finish(self, timeout: float | None = None) -> bool:
        """Wait until every request so far is fitted and its callback has run; False on time-out.

        For the end of a run or a test: never call it from the acquisition loop, nor from an
        ``on_result`` callback (the worker would wait for itself).
        """
        with self._condition:
            return self._condition.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Fit what is still waiting, then stop the worker; later requests are ignored."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _work(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending or self._closed)
                if not self._pending:
                    return
                key = next(iter(self._pending))
                generation, snapshot, points = self._pending.pop(key)
                self._busy = True
            result = self._run(key, generation, snapshot, points)
            with self._condition:
                self._latest[key] = result
            self._notify(result)
            with self._condition:
                self._busy = False
                self._condition.notify_all()

    def _run(self, key: Hashable, generation: int, snapshot: Any, points: int) -> LiveResult:
        try:
            value = self._fit(snapshot)
        except Exception as error:  # noqa: BLE001 - the measurement must go on whatever the fit does
            if not isinstance(error, ValueError):  # a bad input is expected; anything else is a bug to see
                log.exception("%s: fit of %d points failed", self._name, points)
            return LiveResult(None, f"{type(error).__name__}: {error}", points, generation, key)
        return LiveResult(value, "", points, generation, key)

    def _notify(self, result: LiveResult) -> None:
        if self._on_result is None:
            return
        try:
            self._on_result(result)
        except Exception:  # noqa: BLE001 - a broken display must not stop the fits
            log.exception("%s: on_result callback failed", self._name)


class _LiveFitter:
    """What every live fitter shares: the background runner and access to its results."""

    def __init__(self, fit: Callable[[Any], Any], on_result: ResultCallback | None, name: str) -> None:
        self._runner = BackgroundFit(fit, on_result, name)

    @property
    def latest(self) -> LiveResult | None:
        """The newest result (None before the first fit)."""
        return self._runner.latest()

    def finish(self, timeout: float | None = None) -> LiveResult | None:
        """Wait for the fits still running or waiting, then return the newest result."""
        self._runner.finish(timeout)
        return self.latest

    def close(self, timeout: float | None = None) -> None:
        self._runner.close(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class LiveSeries(_LiveFitter):
    """Points of a few columns fed one at a time; ``fit(*columns)`` reruns on all points so far.

    A fit is asked for after every point once ``minimum_points`` are in. Values that are not
    finite numbers are stored as NaN, which the batch fits drop.
    """

    def __init__(self, fit: Callable[..., Any], columns: int, minimum_points: int = 1,
                 on_result: ResultCallback | None = None, name: str = "live series") -> None:
        super().__init__(self._fit_first, on_result, name)
        self._batch_fit = fit
        self._columns: tuple[list[float], ...] = tuple([] for _ in range(columns))
        self._lock = threading.Lock()
        self.minimum_points = int(minimum_points)

    def add(self, *values: Any) -> None:
        """One point: a value per column, in the order of the fit's arguments. Returns at once."""
        numbers = [finite_number(value) for value in values]
        with self._lock:
            for column, number in zip(self._columns, numbers):
                column.append(number)
            count = len(self._columns[0])
        if count >= self.minimum_points:
            self._runner.submit(count, points=count)

    def _fit_first(self, count: int):
        with self._lock:  # held only to copy: append never waits longer than that
            columns = [np.array(column[:count]) for column in self._columns]
        return self._batch_fit(*columns)

    def data(self) -> tuple[np.ndarray, ...]:
        """Copies of the columns fed so far."""
        with self._lock:
            return tuple(np.array(column) for column in self._columns)

    def __len__(self) -> int:
        with self._lock:
            return len(self._columns[0])


class LiveTransition(LiveSeries):
    """Transition temperatures of an R(T) sweep, re-evaluated after every reading.

    Each result's value is a :class:`~daclab.analysis.transitions.TransitionResult` of all the
    readings so far. While cooling, the onset appears first, then the midpoint, then zero
    resistance, as the sweep crosses them; :meth:`markers` gives the criteria found so far.
    """

    def __init__(self, on_result: ResultCallback | None = None,
                 fit: Callable[..., TransitionResult] = transition_temperatures) -> None:
        super().__init__(fit, 2, MINIMUM_POINTS, on_result, "live transition")

    def add(self, temperature_K: float, resistance_ohm: float) -> None:
        super().add(temperature_K, resistance_ohm)

    def markers(self) -> dict[str, float]:
        """Criteria found in the newest result ({} before the transition is crossed)."""
        return transition_markers(self.latest)


def transition_markers(result: LiveResult | None) -> dict[str, float]:
    """The criteria of a live transition result that have a temperature (NaN ones left out)."""
    if result is None or not result.ok or not result.value.has_transition:
        return {}
    return {name: value for name, value in result.value.criteria().items() if not math.isnan(value)}


@dataclasses.dataclass(frozen=True)
class Hc2Fits:
    """Hc2(T) fits of the Tc(H) points of every criterion.

    fits[criterion][model] is the Hc2FitResult; errors[criterion][model] says why a fit is
    missing (too few fields yet, no transition at a field...). points[criterion] are the
    (field_T, Tc_K) pairs fitted.
    """

    fits: dict[str, dict[str, Hc2FitResult]]
    errors: dict[str, dict[str, str]]
    points: dict[str, tuple[tuple[float, float], ...]]


class LiveHc2(_LiveFitter):
    """WHH and GL fits of Tc(H), per criterion, updated after each field.

    Fed one field at a time with the transition temperatures found there (a TransitionResult
    or a mapping criterion -> Tc in K; NaN for a criterion not found at that field).
    """

    def __init__(self, criteria: Sequence[str] = CRITERIA, models: Sequence[str] = ("whh", "gl"),
                 on_result: ResultCallback | None = None,
                 fit: Callable[..., Hc2FitResult] = fit_hc2) -> None:
        super().__init__(self._fit_all, on_result, "live Hc2")
        self.criteria = tuple(criteria)
        self.models = tuple(models)
        self._fit_one = fit
        self._points: list[tuple[float, dict[str, float]]] = []
        self._lock = threading.Lock()

    def add(self, field_T: float, tc_K: Mapping[str, float] | TransitionResult) -> None:
        found = tc_K.criteria() if isinstance(tc_K, TransitionResult) else tc_K
        try:
            numbers = {name: finite_number(found.get(name, math.nan)) for name in self.criteria}
        except AttributeError:  # not a mapping: the field counts, with nothing found at it
            numbers = dict.fromkeys(self.criteria, math.nan)
        with self._lock:
            self._points.append((finite_number(field_T), numbers))
            count = len(self._points)
        self._runner.submit(count, points=count)

    def _fit_all(self, count: int) -> Hc2Fits:
        with self._lock:
            points = self._points[:count]
        fits: dict[str, dict[str, Hc2FitResult]] = {}
        errors: dict[str, dict[str, str]] = {}
        used: dict[str, tuple[tuple[float, float], ...]] = {}
        for criterion in self.criteria:
            pairs = tuple((field, tcs[criterion]) for field, tcs in points
                          if not (math.isnan(field) or math.isnan(tcs[criterion])))
            used[criterion] = pairs
            fields = np.array([pair[0] for pair in pairs])
            temperatures = np.array([pair[1] for pair in pairs])
            for model in self.models:
                try:  # one criterion or model failing leaves the others standing
                    fits.setdefault(criterion, {})[model] = self._fit_one(temperatures, fields, model=model)
                except ValueError as error:
                    errors.setdefault(criterion, {})[model] = f"{type(error).__name__}: {error}"
        return Hc2Fits(fits, errors, used)


class _LiveCurves(_LiveFitter):
    """Whole curves, each fitted on its own: curve n is key n, so none is skipped."""

    def __init__(self, fit: Callable[[Any], Any], on_result: ResultCallback | None, name: str) -> None:
        super().__init__(fit, on_result, name)
        self._count = 0
        self._count_lock = threading.Lock()

    def _submit_curve(self, snapshot: Any, points: int) -> int:
        with self._count_lock:
            index = self._count
            self._count += 1
        self._runner.submit(snapshot, points=points, key=index)
        return index

    def result(self, index: int) -> LiveResult | None:
        """The result of curve ``index`` (0 for the first), None while it is being fitted."""
        return self._runner.latest(index)

    def results(self) -> list[LiveResult]:
        """Results of the curves fitted so far, in the order they were added."""
        return [result for _, result in sorted(self._runner.results().items())]

    @property
    def latest(self) -> LiveResult | None:
        """The result of the most recent curve that has one."""
        done = self._runner.results()
        return done[max(done)] if done else None


class LiveBtk(_LiveCurves):
    """A BTK fit (gap_fit.fit_btk) of each complete point-contact spectrum as it comes in.

    ``add_spectrum`` takes the bias in mV and the (normalised or raw) conductance with the
    measured temperature, and returns the spectrum's index for :meth:`result`.
    """

    def __init__(self, on_result: ResultCallback | None = None, fit: Callable[..., BtkFitResult] = fit_btk,
                 **fit_options: Any) -> None:
        super().__init__(self._fit_spectrum, on_result, "live BTK")
        self._fit_one = functools.partial(fit, **fit_options)

    def add_spectrum(self, bias_mV, conductance, temperature_K: float) -> int:
        bias, values = _copy(bias_mV), _copy(conductance)
        return self._submit_curve((bias, values, finite_number(temperature_K)), bias.size)

    def _fit_spectrum(self, snapshot) -> BtkFitResult:
        bias, values, temperature = snapshot
        return self._fit_one(bias, values, temperature)


@dataclasses.dataclass(frozen=True)
class SpectrumFit:
    """A raw dI/dV curve processed and fitted (gap_fit.analyse_spectrum), at its temperature."""

    temperature_K: float
    spectrum: Spectrum
    btk: BtkFitResult


class LiveSpectrum(_LiveCurves):
    """dI/dV points of a spectrum fed as measured; at :meth:`complete` it is processed and fitted.

    Processing and fit are gap_fit.analyse_spectrum, as in procedures.differential_conductance:
    paper 001's chain (3-point moving average, polynomial background above ``gap_window_V``,
    normalisation), then a BTK fit at the measured temperature with G_N free. ``fit_options``
    go to the BTK fit. Each spectrum is fitted on its own, none skipped when they come faster
    than the fits.
    """

    def __init__(self, gap_window_V: float, degree: int = 2, smooth_points: int = 3,
                 series_resistance_ohm: float = 0.0, on_result: ResultCallback | None = None,
                 **fit_options: Any) -> None:
        super().__init__(self._process_and_fit, on_result, "live spectrum")
        self._analyse = functools.partial(analyse_spectrum, gap_window_V=gap_window_V, degree=degree,
                                          smooth_points=smooth_points, series_resistance_ohm=series_resistance_ohm,
                                          **fit_options)
        self._bias: list[float] = []
        self._didv: list[float] = []
        self._lock = threading.Lock()

    def add(self, bias_V: float, didv_S: float) -> None:
        with self._lock:
            self._bias.append(finite_number(bias_V))
            self._didv.append(finite_number(didv_S))

    def complete(self, temperature_K: float) -> int:
        """End the spectrum being measured (taken at ``temperature_K``) and queue its fit; its index."""
        with self._lock:
            bias, didv = np.array(self._bias), np.array(self._didv)
            self._bias, self._didv = [], []
        return self._submit_curve((bias, didv, finite_number(temperature_K)), bias.size)

    def _process_and_fit(self, snapshot) -> SpectrumFit:
        bias, didv, temperature = snapshot
        analysis = self._analyse(bias, didv, temperature)
        return SpectrumFit(temperature, analysis.spectrum, analysis.btk)


class LiveGap(LiveSeries):
    """BCS fit of Delta(T) (gap_fit.fit_gap), updated as each temperature's gap comes in.

    ``delta_stderr_meV`` weights the points only when every point has a finite one; a mixture
    would make fit_gap drop the unweighted points.
    """

    def __init__(self, on_result: ResultCallback | None = None,
                 fit: Callable[..., GapFitResult] = fit_gap) -> None:
        super().__init__(self._weighted_fit, 3, 3, on_result, "live gap")
        self._fit_gap = fit

    def add(self, temperature_K: float, delta_meV: float, delta_stderr_meV: float = math.nan) -> None:
        super().add(temperature_K, delta_meV, delta_stderr_meV)

    def add_btk(self, result: BtkFitResult) -> None:
        """The gap of a BTK fit, at its temperature, with its standard error."""
        self.add(result.temperature_K, result.delta_meV.value, result.delta_meV.stderr)

    def _weighted_fit(self, temperature, delta, stderr) -> GapFitResult:
        weights = stderr if np.all(np.isfinite(stderr) & (stderr > 0)) else None
        return self._fit_gap(temperature, delta, weights)


class LiveJc(LiveSeries):
    """Pinning-law fit of Jc(T) (critical.fit_jc), updated as each temperature's Jc comes in.

    Feed Jc in A/cm2 (a NaN Jc, where no Ic was found, is kept out of the fit).
    """

    def __init__(self, model: str = "delta_l", on_result: ResultCallback | None = None,
                 fit: Callable[..., JcFitResult] = fit_jc) -> None:
        super().__init__(functools.partial(fit, model=model), 2, 3, on_result, "live Jc")

    def add(self, temperature_K: float, jc_A_cm2: float) -> None:
        super().add(temperature_K, jc_A_cm2)


class LiveAging(LiveSeries):
    """Relaxation of Tc with the days since synthesis (aging.fit_aging, paper 002), updated as each
    R(T) sweep gives its Tc; from aging.MINIMUM_POINTS sweeps on."""

    def __init__(self, on_result: ResultCallback | None = None,
                 fit: Callable[..., AgingResult] = fit_aging) -> None:
        super().__init__(fit, 2, AGING_MINIMUM_POINTS, on_result, "live aging")

    def add(self, days: float, tc_K: float) -> None:
        super().add(days, tc_K)


def _copy(values) -> np.ndarray:
    """A float copy of a curve handed over by the caller (who may reuse its buffer); NaN for
    entries that are not numbers, an empty curve for something that is not a sequence."""
    try:
        return np.array(values, dtype=float).ravel()
    except (TypeError, ValueError):
        try:
            return np.array([finite_number(value) for value in values], dtype=float)
        except TypeError:
            return np.array([], dtype=float)
