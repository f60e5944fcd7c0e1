"""Tc(H): R-T curves through the transition at a list of fields (paper 000: 0-9 T, WHH and GL).

For each field in turn: with the sample normal (at the window's top, so no flux is trapped and
every curve starts from the same state) the magnet ramps to the field and the run waits until
it holds; the temperature goes to the window's start at the return rate; one leg (cooling or
warming) crosses the window; its curve (``"rt_curve"``) and its transition, every criterion
(``"tc"``), are emitted with the field, and so is Tc(H) so far per criterion
(``"tc_of_field"``). From three fields on, mu0 Hc2(T) is fitted live, on the analysis thread
while the magnet ramps to the next field, to the Tc(H) points of the chosen criterion
(:func:`daclab.analysis.hc2_fit.fit_hc2`, WHH or GL) and emitted as ``"hc2"``; a fit that fails
is logged and the run goes on. The run ends with the
magnet at ``final_field_T``.

The leg machinery, the resistance paths and the columns are those of
:class:`~daclab.procedures.rt_sweep.RTSweepBase`.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import numpy as np
from pymeasure.experiment import FloatParameter, ListParameter, Parameter

from daclab.analysis.hc2_fit import fit_hc2
from daclab.analysis.fitting import plain
from daclab.analysis.transitions import CRITERIA
from daclab.lab import LabConfig
from daclab.limits import parse_numbers
from daclab.procedures.rt_sweep import COOLING, WARMING, RTSweepBase, leg_plan, transition_of

log = logging.getLogger(__name__)

HC2_MODELS = ("whh", "gl")
MIN_FIELDS_FOR_FIT = 3  # two free parameters, Hc2(0) and Tc, and one degree of freedom


class FieldSeries(RTSweepBase):
    """One R-T leg per field, Tc(H) per criterion as each curve finishes, a live Hc2(T) fit."""

    fields_T = Parameter("Fields (T)", default="0, 3, 6, 9")
    direction = ListParameter("Direction", choices=[COOLING, WARMING], default=COOLING)
    final_field_T = FloatParameter("Field at the end", units="T", default=0.0, minimum=-100.0, maximum=100.0)
    hc2_model = ListParameter("Hc2(T) model", choices=list(HC2_MODELS), default="whh")
    hc2_criterion = ListParameter("Tc criterion of the Hc2 fit", choices=list(CRITERIA), default="midpoint")

    def __init__(self, lab=None, **kwargs):
        super().__init__(lab=lab, **kwargs)
        self._fields: list[float] = []
        self._tc_by_field: list[tuple[float, dict[str, float]]] = []  # (field read during the leg, Tc by criterion)

    def uses_magnet(self) -> bool:
        return True

    def validate(self, config: LabConfig) -> None:
        super().validate(config)
        fields = parse_numbers("fields_T", self.fields_T, "T", "0, 3, 6, 9")
        for index, tesla in enumerate(fields):
            config.limits.field(f"fields_T[{index}]", tesla)
        config.limits.field("final_field_T", self.final_field_T)
        self._fields = fields

    def estimated_duration_s(self) -> float:
        fields = self._fields or parse_numbers("fields_T", self.fields_T, "T", "0, 3, 6, 9")
        ramps_T = sum(abs(b - a) for a, b in zip([0.0] + fields, fields + [self.final_field_T]))
        per_curve_s = self.leg_duration_s() + self.approach_duration_s(self.upper_K - self.lower_K)
        return len(fields) * per_curve_s + ramps_T / self.field_rate_T_per_min * 60.0

    def acquire(self) -> None:
        self.begin()
        (start, end), = leg_plan(self.direction, self.upper_K, self.lower_K)
        self.report_progress(0.0)
        for index, tesla in enumerate(self._fields):
            def measure_curve(index=index, tesla=tesla) -> None:
                self.prepare_curve(tesla, start)
                leg = self.sweep_leg(start, end, index / len(self._fields), 1.0 / len(self._fields))
                result = self.analyse_leg(leg, curve=index + 1, field_set_T=tesla)
                self._tc_by_field.append((leg.mean_field_T(), result.criteria()))
                self._emit_tc_of_field()
                self.analyse_in_background(functools.partial(self._fit_hc2, list(self._tc_by_field)))

            self.run_segment(f"{tesla:g} T", measure_curve)
        self.go_to_field(self.final_field_T)
        self.report_progress(1.0)

    def _emit_tc_of_field(self) -> None:
        """Tc(H) so far, per criterion ("tc_of_field"), for plotting the phase line as it grows."""
        fields = [field for field, _ in self._tc_by_field]
        tc = {name: [criteria[name] for _, criteria in self._tc_by_field] for name in CRITERIA}
        self.emit_analysis("tc_of_field", field_T=fields, tc_K=tc)

    def restore(self, records: list[dict[str, Any]]) -> None:
        """Tc(H) of the fields done before a resume, so that the Hc2 fit goes on using them."""
        self._tc_by_field = [(record["field_T"], transition_of(record).criteria())
                             for record in records if record["kind"] == "tc"]

    def _fit_hc2(self, tc_by_field: list[tuple[float, dict[str, float]]]) -> None:
        """Hc2(T) through the Tc(H) points so far of the chosen criterion, once there are three."""
        points = [(criteria[self.hc2_criterion], field) for field, criteria in tc_by_field]
        points = [(kelvin, tesla) for kelvin, tesla in points if not (math.isnan(kelvin) or math.isnan(tesla))]
        if len(points) < MIN_FIELDS_FOR_FIT:
            return
        temperature, field = (np.array(column) for column in zip(*points))
        try:
            fit = fit_hc2(temperature, field, model=self.hc2_model)
        except Exception as error:  # a fit must never end a measurement
            log.warning("Hc2(T) fit (%s, %s criterion) on %d fields failed: %s", self.hc2_model,
                        self.hc2_criterion, len(points), error)
            return
        self.emit_analysis("hc2", criterion=self.hc2_criterion, **plain(fit))


__all__ = ["FieldSeries", "WARMING", "COOLING"]
