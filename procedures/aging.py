"""Tc against the days since synthesis: the same R-T sweep repeated on a schedule (paper 002).

A freshly laser-heated hydride loses hydrogen to the cell and its Tc falls over days (LaH10+x:
~160 K down to 70-85 K within weeks). Visit n starts ``(n - 1) * interval_days`` after the first
(at once, with a warning, when the previous visit ran late) and is one
:class:`~daclab.procedures.rt_sweep.RTSweep` sweep, field and all; between visits the cryostat
is parked at ``standby_K`` (the base procedure's standby temperature, reached at the return
rate) and the run waits on the clock.

Every point carries the days since synthesis (from the sample's synthesis date) and its visit;
every leg's ``"tc"`` event carries ``visit`` and ``days_since_synthesis`` at the moment the
transition was crossed, which matters while Tc moves by several kelvin a day. From four visits
on, Tc(days) of the chosen criterion (the mean of a visit's legs, so a cooling-warming pair
cancels the thermal lag) is fitted with :func:`daclab.analysis.aging.fit_aging` on the analysis
thread and emitted as ``"aging"``; a fit that fails is logged and the run goes on.

The schedule counts from the step's start, and a resumed step's start is its first part's
(:meth:`~daclab.procedures.base.LabProcedure.continue_elapsed_time`): after a resume the next
visit keeps its time, and the visits done before are not waited for again.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter

from daclab import clock as clocks
from daclab.analysis.aging import fit_aging
from daclab.analysis.fitting import plain
from daclab.analysis.transitions import CRITERIA
from daclab.lab import LabConfig
from daclab.limits import LimitError
from daclab.procedures.rt_sweep import COLUMNS, RESISTANCE_PATHS, RTSweep, leg_plan
from daclab.sample_info import SECONDS_PER_DAY

log = logging.getLogger(__name__)

DAYS = "Days since synthesis (day)"
VISIT = "Visit"
MIN_VISITS_FOR_FIT = 4  # Tc_0, Tc_inf, tau and one degree of freedom


class Aging(RTSweep):
    """R-T sweeps repeated every ``interval_days``; Tc against days since synthesis, live fit."""

    # Paper 002 read its aging cells with the SIM921 at 100 uA.
    resistance_path = ListParameter("Resistance reading", choices=list(RESISTANCE_PATHS), default="bridge921")
    visits = IntegerParameter("Visits", default=21, minimum=1, maximum=10000)
    interval_days = FloatParameter("Time between visits", units="day", default=1.0, minimum=0.001, maximum=365.0)
    aging_criterion = ListParameter("Tc criterion followed", choices=list(CRITERIA), default="midpoint")

    DATA_COLUMNS = COLUMNS + [DAYS, VISIT]

    def __init__(self, lab=None, **kwargs):
        super().__init__(lab=lab, **kwargs)
        self._visit = 0
        self._tc_by_visit: list[tuple[float, float]] = []  # (days since synthesis, Tc K)

    def validate(self, config: LabConfig) -> None:
        super().validate(config)
        if not self.synthesis_date.strip() and not config.knows_its_sample:
            raise LimitError("synthesis_date = '' is blank: Aging follows Tc against the days since synthesis; "
                             "give the date as YYYY-MM-DD or YYYY-MM-DDTHH:MM")
        sweep_s = self._sweep_duration_s()
        if sweep_s > self.interval_days * SECONDS_PER_DAY:
            raise LimitError(f"interval_days = {self.interval_days:g} day is shorter than one visit's sweep, "
                             f"{sweep_s / 3600:.3g} h from upper_K = {self.upper_K:g} K to lower_K = "
                             f"{self.lower_K:g} K ({self.direction}) at rate_K_per_min = {self.rate_K_per_min:g} K/min")

    def _sweep_duration_s(self) -> float:
        return len(leg_plan(self.direction, self.upper_K, self.lower_K)) * self.leg_duration_s()

    def estimated_duration_s(self) -> float:
        return (self.visits - 1) * self.interval_days * SECONDS_PER_DAY + super().estimated_duration_s()

    def point_columns(self) -> dict[str, Any]:
        return {DAYS: self.days_since_synthesis(), VISIT: self._visit}

    def acquire(self) -> None:
        self.begin()
        first = clocks.current().timestamp() - self.elapsed_s()  # the step's start (a resumed step's first part's)
        self.report_progress(0.0)
        for visit in range(1, self.visits + 1):
            key = f"visit {visit}"
            if visit > 1 and key not in self.done_segments:
                self._park_until(first + (visit - 1) * self.interval_days * SECONDS_PER_DAY, visit)

            def measure_visit(visit=visit) -> None:
                self._visit = visit
                self.sweep((visit - 1) / self.visits, 1.0 / self.visits, segmented=False, visit=visit)
                self._record_visit(visit)

            self.run_segment(key, measure_visit)
        self.report_progress(1.0)

    def _park_until(self, due: float, visit: int) -> None:
        """Standby temperature, then wait on the clock until the visit's time (epoch seconds)."""
        self._controller.set_setpoint(self.standby_K, rate_K_per_min=self.return_rate_K_per_min)
        late_s = clocks.current().timestamp() - due
        if late_s > 0:
            log.warning("visit %d starts %.2g h late: the previous visit took longer than interval_days", visit,
                        late_s / 3600)
        self.wait(max(-late_s, 0.0))

    def _record_visit(self, visit: int) -> None:
        """The visit's Tc (mean of its legs) against its age; the aging fit from four visits on."""
        point = self._visit_point(visit, [record for record in self.analysis if record["kind"] == "tc"])
        if point is None:
            log.warning("visit %d: no %s Tc; left out of the aging fit", visit, self.aging_criterion)
            return
        self._tc_by_visit.append(point)
        self.analyse_in_background(functools.partial(self._fit_aging, list(self._tc_by_visit)))

    def _visit_point(self, visit: int, tc_records: list[dict]) -> tuple[float, float] | None:
        """(days since synthesis, Tc) of a visit: the means over its legs; None without a Tc."""
        legs = [record for record in tc_records if record.get("visit") == visit]
        tc = [record[f"{self.aging_criterion}_K"] for record in legs]
        if not legs or any(math.isnan(value) for value in tc):
            return None
        return float(np.mean([record["days_since_synthesis"] for record in legs])), float(np.mean(tc))

    def restore(self, records: list[dict]) -> None:
        """Tc of the visits done before a resume, so that the aging fit goes on using them."""
        tc_records = [record for record in records if record["kind"] == "tc"]
        visits = sorted({record["visit"] for record in tc_records})
        self._tc_by_visit = [point for visit in visits if (point := self._visit_point(visit, tc_records))]

    def _fit_aging(self, tc_by_visit: list[tuple[float, float]]) -> None:
        if len(tc_by_visit) < MIN_VISITS_FOR_FIT:
            return
        days, tc = (np.array(column) for column in zip(*tc_by_visit))
        try:
            fit = fit_aging(days, tc)
        except Exception as error:  # a fit must never end a measurement
            log.warning("aging fit of Tc (%s) on %d visits failed: %s", self.aging_criterion, days.size, error)
            return
        self.emit_analysis("aging", criterion=self.aging_criterion, **plain(fit))


__all__ = ["Aging", "DAYS", "VISIT"]
