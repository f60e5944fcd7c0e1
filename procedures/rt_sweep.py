"""Resistance against temperature through a superconducting transition (papers 000, 001, 002).

:class:`RTSweep` sweeps a temperature window by a continuous ramp of the Lakeshore 350 setpoint
(RAMP, e.g. 0.1-2 K/min) or by stabilised steps, cooling, warming or both in one run, at a chosen
field or with the magnet left alone, and reads the sample through one of the lab's resistance
paths: the 6221/2182A delta mode (1 mA, paper 000), the Lakeshore 370 bridge (316 uA, paper 001)
or the SIM921 bridge (100 uA, paper 002).

Each point is ``readings_per_point`` readings of the resistance, each with a thermometer reading
beside it, ``reading_interval_s`` apart: the point is their means, and the resistance error is
the standard error of the mean, s / sqrt(n) with s the sample standard deviation (n - 1). It
assumes independent readings: on a filtered bridge space them by at least the filter's time
constant.

The thermometer sits on the cell body, the sample inside the cell a thermal time constant tau
away (minutes). Sweeping at a rate r the sample trails the thermometer by r tau, so a cooling
curve shows the transition at Tc - r tau and a warming curve at Tc + r tau (first-order lag in
steady state); the mean of a cooling-warming pair sits at Tc and their difference is 2 r tau
(PHYSICS.md section 2). Stabilised steps avoid the shift at the cost of time.

At the end of each leg its curve is emitted as analysis ``"rt_curve"`` and its transition,
every criterion of :func:`daclab.analysis.transitions.transition_temperatures`, as ``"tc"``; a
cooling-warming pair is also emitted as ``"tc_pair"`` (mean and lag per criterion).

:class:`RTSweepBase` holds what :class:`RTSweep`, :class:`~daclab.procedures.field_series.
FieldSeries` and :class:`~daclab.procedures.aging.Aging` share: the resistance path, one leg
from T1 to T2 in either mode, the approach to a temperature, the magnet, the analysis of a leg.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, Callable

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter

from daclab import clock as clocks
from daclab.analysis.fitting import AnalysisInputError
from daclab.analysis.transitions import TransitionResult, cooling_warming, transition_temperatures
from daclab.lab import LabConfig
from daclab.limits import LimitError, check_range
from daclab.procedures.base import LabProcedure
from daclab.procedures.temperature_points import TemperatureHold, thermalise_parameter
from daclab.sample_info import SECONDS_PER_DAY
from daclab.runner import FAULTS_COLUMN

log = logging.getLogger(__name__)

# Resistance paths (lab roles) and the excitation each paper used on it, A.
RESISTANCE_PATHS = {
    "delta": 1e-3,  # 6221/2182A delta mode, paper 000
    "bridge370": 316e-6,  # Lakeshore 370 at 17 Hz, paper 001
    "bridge921": 100e-6,  # SIM921, paper 002
}

COOLING, WARMING, BOTH = "cooling", "warming", "cooling and warming"
SWEEP_MODES = ("ramp", "steps")
MAX_POINTS_PER_LEG = 100_000  # a spacing that fine is a typing error, not a measurement
FIELD_MATCH_T = 1e-3  # a magnet this close to the field asked for is not ramped again
FIELD_SETTLE_MARGIN_S = 600.0  # beyond the ramp time, for the supply to report holding
FIELD_WAIT_CHUNK_S = 60.0  # a stop request is seen within this while the field ramps

ELAPSED = "Elapsed time (s)"
TEMPERATURE = "Temperature (K)"
SETPOINT = "Setpoint (K)"
FIELD = "Field (T)"
RESISTANCE = "Resistance (ohm)"
RESISTANCE_ERROR = "Resistance error (ohm)"
EXCITATION = "Excitation (A)"
HEATER = "Heater output (percent)"
DIRECTION = "Sweep direction"  # "cooling" or "warming"
COLUMNS = [ELAPSED, TEMPERATURE, SETPOINT, FIELD, RESISTANCE, RESISTANCE_ERROR, EXCITATION, HEATER, DIRECTION,
           FAULTS_COLUMN]


@dataclasses.dataclass
class Leg:
    """The points of one sweep from ``start_K`` to ``end_K``, as measured."""

    start_K: float
    end_K: float
    temperature_K: list[float] = dataclasses.field(default_factory=list)
    resistance_ohm: list[float] = dataclasses.field(default_factory=list)
    field_T: list[float] = dataclasses.field(default_factory=list)
    elapsed_s: list[float] = dataclasses.field(default_factory=list)

    @property
    def direction(self) -> str:
        return COOLING if self.end_K < self.start_K else WARMING

    def fraction_done(self, temperature_K: float) -> float:
        travelled = (temperature_K - self.start_K) / (self.end_K - self.start_K)
        return min(max(travelled, 0.0), 1.0)

    def mean_field_T(self) -> float:
        """The field over the leg (NaN when the magnet was not read)."""
        fields = np.asarray(self.field_T, dtype=float)
        return float(np.mean(fields)) if fields.size and not np.isnan(fields).all() else math.nan

    def elapsed_at(self, temperature_K: float) -> float:
        """When the leg passed ``temperature_K``: the elapsed time of the nearest point (NaN if none)."""
        if math.isnan(temperature_K) or not self.temperature_K:
            return math.nan
        nearest = int(np.argmin(np.abs(np.asarray(self.temperature_K) - temperature_K)))
        return self.elapsed_s[nearest]


def leg_plan(direction: str, upper_K: float, lower_K: float) -> list[tuple[float, float]]:
    """(start, end) of each leg for a direction: cooling runs top to bottom, warming back up."""
    down, up = (upper_K, lower_K), (lower_K, upper_K)
    return {COOLING: [down], WARMING: [up], BOTH: [down, up]}[direction]


def step_targets(start_K: float, end_K: float, step_K: float) -> list[float]:
    """Setpoints from start to end (both included) ``step_K`` apart; the last step may be shorter."""
    count = math.ceil(abs(end_K - start_K) / step_K - 1e-9)
    sign = 1.0 if end_K > start_K else -1.0
    return [start_K + sign * step_K * k for k in range(count)] + [end_K]


def mean_and_standard_error(readings: list[float]) -> tuple[float, float]:
    """Mean of repeated readings and its standard error s / sqrt(n), s the sample standard
    deviation (n - 1 degrees of freedom); NaN error for a single reading."""
    values = np.asarray(readings, dtype=float)
    if values.size < 2:
        return float(values.mean()), math.nan
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


class RTSweepBase(TemperatureHold, LabProcedure):
    """What every R-T measurement shares (see the module docstring); no ``acquire`` of its own."""

    resistance_path = ListParameter("Resistance reading", choices=list(RESISTANCE_PATHS), default="delta")
    excitation_A = FloatParameter("Excitation current (blank = the path's paper value)", units="A",
                                  default=math.nan, minimum=0.0, maximum=0.105)
    readings_per_point = IntegerParameter("Readings per point", default=3, minimum=1, maximum=1000)
    reading_interval_s = FloatParameter("Time between readings", units="s", default=1.0, minimum=0.0,
                                        maximum=600.0)
    sweep_mode = ListParameter("Sweep mode", choices=list(SWEEP_MODES), default="ramp")
    upper_K = FloatParameter("Window top", units="K", default=200.0, minimum=1.5, maximum=320.0)
    lower_K = FloatParameter("Window bottom", units="K", default=140.0, minimum=1.5, maximum=320.0)
    rate_K_per_min = FloatParameter("Sweep rate", units="K/min", default=0.1, minimum=0.001, maximum=100.0)
    # Ramp: a point each time the setpoint has moved this far; steps: the step.
    point_every_K = FloatParameter("Point every", units="K", default=0.1, minimum=0.001, maximum=100.0)
    return_rate_K_per_min = FloatParameter("Rate to the start of a sweep", units="K/min", default=2.0,
                                           minimum=0.001, maximum=100.0)
    # tolerance_K, stable_s, stabilise_timeout_s: TemperatureHold; a window's edges and the
    # stabilised steps are held like any temperature point, the sample thermalising for less.
    thermalise_s = thermalise_parameter(600.0)
    field_rate_T_per_min = FloatParameter("Field ramp rate", units="T/min", default=0.2, minimum=0.001,
                                          maximum=10.0)

    DATA_COLUMNS = COLUMNS

    def __init__(self, lab=None, **kwargs):
        super().__init__(lab=lab, **kwargs)
        self._controller = None
        self._meter = None
        self._magnet = None
        self._excitation_driven_A = math.nan
        self._restored_tc: dict[str, dict[str, Any]] = {}  # segment key -> "tc" record, done before a resume

    # ---- checks ---------------------------------------------------------------------------

    def uses_magnet(self) -> bool:
        """Whether this run sets a field (and so needs the magnet role)."""
        return False

    def needed_roles(self) -> list[str]:
        return ["temperature", self.resistance_path] + (["magnet"] if self.uses_magnet() else [])

    def excitation_current_A(self) -> float:
        """The excitation asked for: the parameter, or the path's paper value when it is blank."""
        return RESISTANCE_PATHS[self.resistance_path] if math.isnan(self.excitation_A) else self.excitation_A

    def validate(self, config: LabConfig) -> None:
        limits = config.limits
        limits.temperature("upper_K", self.upper_K)
        limits.temperature("lower_K", self.lower_K)
        if self.lower_K >= self.upper_K:
            raise LimitError(f"lower_K = {self.lower_K:g} K must be below upper_K = {self.upper_K:g} K")
        limits.temperature_rate("rate_K_per_min", self.rate_K_per_min)
        limits.temperature_rate("return_rate_K_per_min", self.return_rate_K_per_min)
        excitation = self.excitation_current_A()
        limits.current("excitation_A", excitation)
        if excitation <= 0:
            raise LimitError(f"excitation_A = {excitation:g} A cannot measure a resistance; it must be > 0")
        span = self.upper_K - self.lower_K
        check_range("point_every_K", self.point_every_K, span / MAX_POINTS_PER_LEG, span, "K")
        readings_s = (self.readings_per_point - 1) * self.reading_interval_s
        if self.sweep_mode == "ramp" and readings_s >= self.point_period_s():
            raise LimitError(f"(readings_per_point = {self.readings_per_point} - 1) x reading_interval_s = "
                             f"{self.reading_interval_s:g} s = {readings_s:g} s is not shorter than the time between "
                             f"points, point_every_K = {self.point_every_K:g} K / rate_K_per_min = "
                             f"{self.rate_K_per_min:g} K/min = {self.point_period_s():g} s")
        if self.uses_magnet():
            limits.field_rate("field_rate_T_per_min", self.field_rate_T_per_min)

    def point_period_s(self) -> float:
        """Time between points of a ramp."""
        return self.point_every_K / self.rate_K_per_min * 60.0

    def leg_duration_s(self) -> float:
        """Expected length of one leg across the window."""
        span = self.upper_K - self.lower_K
        if self.sweep_mode == "ramp":
            return span / self.rate_K_per_min * 60.0
        steps = math.ceil(span / self.point_every_K - 1e-9) + 1
        return steps * (self.point_every_K / self.return_rate_K_per_min * 60.0 + self.hold_s())

    def approach_duration_s(self, travel_K: float) -> float:
        return travel_K / self.return_rate_K_per_min * 60.0 + self.hold_s()

    # ---- the instruments ------------------------------------------------------------------

    def begin(self) -> None:
        """The temperature controller and the resistance path, excitation set."""
        self._controller = self.role("temperature")
        self._meter = self.role(self.resistance_path)
        requested = self.excitation_current_A()
        driven = self._meter.set_excitation(requested)
        self._excitation_driven_A = requested if driven is None else float(driven)  # delta mode drives it exactly
        log.info("%s: reading through %r at %.4g A", type(self).__name__, self.resistance_path,
                 self._excitation_driven_A)

    def go_to_temperature(self, kelvin: float, rate_K_per_min: float | None = None) -> None:
        """Ramp to ``kelvin`` (at the return rate unless given), wait until the thermometer holds it,
        then the thermalisation wait for the sample."""
        rate = self.return_rate_K_per_min if rate_K_per_min is None else rate_K_per_min
        controller = self._controller
        travel = abs(controller.temperature() - kelvin)
        controller.set_setpoint(kelvin, rate_K_per_min=rate)
        self.wait(travel / rate * 60.0)  # no polling while the setpoint is still on its way
        self.settle_at(kelvin, rate)

    def go_to_field(self, tesla: float) -> None:
        """Ramp the magnet to ``tesla`` and wait until it holds (a stop request is seen meanwhile)."""
        magnet = self._magnet = self.role("magnet")
        magnet.set_ramp_rate(self.field_rate_T_per_min)
        travel = abs(magnet.field() - tesla)
        magnet.set_field(tesla)
        clock = clocks.current()
        deadline = clock.now() + travel / self.field_rate_T_per_min * 60.0 + FIELD_SETTLE_MARGIN_S
        while True:
            try:
                magnet.wait_until_holding(min(FIELD_WAIT_CHUNK_S, max(deadline - clock.now(), 1.0)))
                return
            except TimeoutError:  # a quench is not a time-out: it ends the run at once
                self.raise_if_stopped()
                if clock.now() >= deadline:
                    raise

    def prepare_curve(self, field_T: float | None, start_K: float) -> None:
        """Set the field (with the sample normal, at the window's top, so no flux is trapped) if one
        is asked for and the magnet is elsewhere, then bring the temperature to ``start_K``."""
        if field_T is not None:
            magnet = self._magnet = self.role("magnet")
            if abs(magnet.field() - field_T) > FIELD_MATCH_T:
                self.go_to_temperature(self.upper_K)
                self.go_to_field(field_T)
                if start_K == self.upper_K:
                    return
        self.go_to_temperature(start_K)

    def field_now(self) -> float:
        return self._magnet.field() if self._magnet is not None else math.nan

    # ---- one leg ------------------------------------------------------------------------------

    def point_columns(self) -> dict[str, Any]:
        """Extra columns of every point (subclasses with more DATA_COLUMNS)."""
        return {}

    def take_point(self, leg: Leg) -> float:
        """Read the resistance ``readings_per_point`` times beside the thermometer, emit the point
        (means, standard error of the resistance), add it to ``leg``; returns its temperature."""
        self.raise_if_stopped()
        controller = self._controller
        temperatures, readings = [], []
        for index in range(self.readings_per_point):
            if index:
                self.wait(self.reading_interval_s)
            temperatures.append(controller.temperature())
            readings.append(self._meter.resistance())
        resistance, error = mean_and_standard_error(readings)
        temperature = float(np.mean(temperatures))
        field = self.field_now()
        elapsed = self.elapsed_s()
        self.emit("results", {
            ELAPSED: elapsed, TEMPERATURE: temperature, SETPOINT: controller.setpoint(), FIELD: field,
            RESISTANCE: resistance, RESISTANCE_ERROR: error, EXCITATION: self._excitation_driven_A,
            HEATER: controller.heater_output(), DIRECTION: leg.direction, **self.point_columns(),
        })
        leg.temperature_K.append(temperature)
        leg.resistance_ohm.append(resistance)
        leg.field_T.append(field)
        leg.elapsed_s.append(elapsed)
        return temperature

    def sweep_leg(self, start_K: float, end_K: float, progress_from: float = 0.0,
                  progress_share: float = 1.0) -> Leg:
        """One leg from ``start_K`` (where the temperature should already be) to ``end_K``."""
        leg = Leg(start_K, end_K)

        def report(temperature: float) -> None:
            self.report_progress(progress_from + progress_share * leg.fraction_done(temperature))

        if self.sweep_mode == "ramp":
            self._ramp(leg, report)
        else:
            self._steps(leg, report)
        return leg

    def _ramp(self, leg: Leg, report: Callable[[float], None]) -> None:
        """Points at fixed times while the setpoint ramps; ends once the ramp is done and the
        thermometer has arrived."""
        controller, clock = self._controller, clocks.current()
        controller.set_setpoint(leg.end_K, rate_K_per_min=self.rate_K_per_min)
        start = clock.now()
        deadline = start + abs(leg.end_K - leg.start_K) / self.rate_K_per_min * 60.0 + self.stabilise_timeout_s
        arrived_within = max(self.tolerance_K, self.point_every_K)
        period, index = self.point_period_s(), 0
        while True:
            index += 1
            temperature = self.take_point(leg)
            report(temperature)
            if controller.ramp_done() and abs(temperature - leg.end_K) <= arrived_within:
                return
            due = start + index * period
            if due > deadline:
                raise TimeoutError(f"{type(self).__name__}: the {leg.direction} ramp to {leg.end_K:g} K at "
                                   f"{self.rate_K_per_min:g} K/min has not arrived after "
                                   f"{clock.now() - start:.0f} s; last reading {temperature:.3f} K")
            self.wait(due - clock.now())

    def _steps(self, leg: Leg, report: Callable[[float], None]) -> None:
        """At each setpoint: hold, let the sample follow, then one point."""
        for kelvin in step_targets(leg.start_K, leg.end_K, self.point_every_K):
            self.settle_at(kelvin)
            report(self.take_point(leg))

    # ---- analysis -------------------------------------------------------------------------------

    def analyse_leg(self, leg: Leg, **context: Any) -> TransitionResult:
        """The leg's curve ("rt_curve") and every transition criterion of it ("tc")."""
        self.emit_analysis("rt_curve", direction=leg.direction, field_T=leg.mean_field_T(),
                           temperature_K=list(leg.temperature_K), resistance_ohm=list(leg.resistance_ohm), **context)
        try:
            result = transition_temperatures(leg.temperature_K, leg.resistance_ohm)
        except AnalysisInputError as error:  # too few points for a curve: say so, go on
            result = TransitionResult(message=f"no transition analysed: {error}")
        values = {f"{name}_K": value for name, value in result.criteria().items()}
        self.emit_analysis("tc", direction=leg.direction, field_T=leg.mean_field_T(), **values,
                           width_K=result.width_K, steps=list(result.steps),
                           normal_resistance_ohm=result.normal_resistance_ohm, has_transition=result.has_transition,
                           message=result.message, points=len(leg.temperature_K),
                           days_since_synthesis=self._days_when_crossed(leg, result.midpoint_K), **context)
        return result

    def restore(self, records: list[dict[str, Any]]) -> None:
        """The transitions of the legs done before a resume: a cooling-warming pair whose first
        leg was measured before it still gets its "tc_pair"."""
        self._restored_tc = {record["segment"]: record for record in records if record["kind"] == "tc"}

    def _days_when_crossed(self, leg: Leg, temperature_K: float) -> float:
        """The sample's age when the leg passed ``temperature_K`` (the leg's middle when NaN):
        a decaying hydride's Tc belongs to the moment it was measured (paper 002)."""
        crossed = leg.elapsed_at(temperature_K)
        if math.isnan(crossed):
            crossed = float(np.mean(leg.elapsed_s)) if leg.elapsed_s else self.elapsed_s()
        return self.days_since_synthesis() - (self.elapsed_s() - crossed) / SECONDS_PER_DAY

    def analyse_pair(self, cooling: TransitionResult, warming: TransitionResult, field_T: float,
                     **context: Any) -> None:
        """Mean and lag (warming - cooling) per criterion of a cooling-warming pair: "tc_pair"."""
        pair = cooling_warming(cooling, warming)
        self.emit_analysis("tc_pair", field_T=field_T, mean_K=pair.mean_K, lag_K=pair.lag_K, **context)


class RTSweep(RTSweepBase):
    """R-T sweep across a window: ramp or steps, cooling, warming or both, at a field or none.

    ``field_T`` blank (NaN): the magnet is left alone (the magnet role is not used, the field
    column is empty); a value: the magnet is ramped there with the sample normal and the sweep
    starts once it holds; the field column then reads the magnet.
    """

    direction = ListParameter("Direction", choices=[COOLING, WARMING, BOTH], default=COOLING)
    field_T = FloatParameter("Field (blank = magnet left alone)", units="T", default=math.nan, minimum=-100.0,
                             maximum=100.0)

    def uses_magnet(self) -> bool:
        return not math.isnan(self.field_T)

    def validate(self, config: LabConfig) -> None:
        super().validate(config)
        if self.uses_magnet():
            config.limits.field("field_T", self.field_T)

    def estimated_duration_s(self) -> float:
        legs = len(leg_plan(self.direction, self.upper_K, self.lower_K))
        return legs * self.leg_duration_s() + self.approach_duration_s(0.0)

    def acquire(self) -> None:
        self.begin()
        self.report_progress(0.0)
        self.sweep()
        self.report_progress(1.0)

    def sweep(self, progress_from: float = 0.0, progress_share: float = 1.0, segmented: bool = True,
              **context: Any) -> None:
        """The legs of one sweep with their analysis.

        Each leg is a segment (``segmented``; a caller whose own segment holds the whole sweep
        passes False). The first leg starts with the approach (field, then start temperature);
        a later leg starts where the one before ended, unless a retake or a resume finds the
        temperature elsewhere.
        """
        legs = leg_plan(self.direction, self.upper_K, self.lower_K)
        field = self.field_T if self.uses_magnet() else None
        measured: dict[int, tuple[float, TransitionResult]] = {}  # leg -> (mean field, transition)
        for index, (start, end) in enumerate(legs):
            def measure_leg(index=index, start=start, end=end) -> tuple[Leg, TransitionResult]:
                if index == 0 or abs(self._controller.temperature() - start) > max(self.tolerance_K, self.point_every_K):
                    self.prepare_curve(field, start)
                leg = self.sweep_leg(start, end, progress_from + progress_share * index / len(legs),
                                     progress_share / len(legs))
                return leg, self.analyse_leg(leg, **context)

            key = f"{COOLING if end < start else WARMING} leg"
            done = self.run_segment(key, measure_leg) if segmented else measure_leg()
            if done is not None:
                leg, result = done
                measured[index] = (leg.mean_field_T(), result)
            elif key in self._restored_tc:
                measured[index] = (self._restored_tc[key]["field_T"], transition_of(self._restored_tc[key]))
        if self.direction == BOTH and len(measured) == 2:
            (cooling_field, cooling_result), (warming_field, warming_result) = measured[0], measured[1]
            field_T = float(np.mean([cooling_field, warming_field]))
            self.analyse_pair(cooling_result, warming_result, field_T=field_T, **context)


def transition_of(record: dict[str, Any]) -> TransitionResult:
    """The transition a "tc" record (:meth:`RTSweepBase.analyse_leg`) was made from, as far as
    the record carries it (criteria, width, steps, normal resistance, message)."""
    return TransitionResult(
        onset_K=record["onset_K"], midpoint_K=record["midpoint_K"], zero_K=record["zero_K"],
        intersection_K=record["intersection_K"], width_K=record["width_K"],
        normal_resistance_ohm=record["normal_resistance_ohm"], has_transition=record["has_transition"],
        message=record["message"], steps=tuple(record["steps"]))


__all__ = ["RTSweep", "RTSweepBase", "Leg", "leg_plan", "step_targets", "mean_and_standard_error",
           "transition_of", "COLUMNS", "COOLING", "WARMING", "BOTH"]
