"""Sequence steps that change or keep the state of the cryostat without measuring the sample.

An overnight sequence needs more than measurements: wait for a cell to thermalise, take the
cryostat to a temperature before the next step, set a field and leave it there. Each is a
:class:`~daclab.procedures.base.LabProcedure`, so it is checked against the lab's limits before
any instrument is opened, ends in the base class's safe state, and writes what it did as rows of
a data file like any measurement: elapsed time, thermometer, setpoint and field, every
``log_every_s``.

- :class:`Wait`: keeps the present state for ``minutes``.
- :class:`SetTemperature`: the controller to ``setpoint_K`` (ramped at ``rate_K_per_min``, or at
  once when it is 0), then waits until the thermometer holds it (``tolerance_K`` for
  ``stable_s``); with the default end state "hold" the controller stays there afterwards.
- :class:`SetField`: the magnet to ``field_T`` at ``rate_T_per_min``, then waits until the supply
  reports the field holding; the magnet role's safe end (pause) keeps the field where it is.

The field column of :class:`Wait` and :class:`SetTemperature` reads the lab's magnet when it has
one; those steps never command it, and a supply that cannot be read (switched off at a real
cryostat) leaves the column empty instead of ending the step.

Each action is one segment (:meth:`~daclab.procedures.base.LabProcedure.run_segment`): a
suspension retakes it whole (a wait interrupted by a helium transfer is waited again in full),
and a resumed sequence skips it when it was done.
"""

from __future__ import annotations

import logging
import math

from pymeasure.experiment import FloatParameter

from daclab import clock as clocks
from daclab.lab import LabConfig
from daclab.limits import LimitError
from daclab.procedures.base import WAIT_CHUNK_S, LabProcedure
from daclab.procedures.rt_sweep import ELAPSED, FIELD, SETPOINT, TEMPERATURE
from daclab.procedures.temperature_points import stable_parameter, tolerance_parameter
from daclab.runner import FAULTS_COLUMN

log = logging.getLogger(__name__)

ACTION_COLUMNS = [ELAPSED, TEMPERATURE, SETPOINT, FIELD, FAULTS_COLUMN]
MAX_WAIT_MIN = 7 * 24 * 60.0  # a week: longer is a typing error, not a plan
CLOCK_RESOLUTION_S = 1e-6  # what is left of a wait below this is rounding, not time
FIELD_SETTLE_MARGIN_S = 600.0  # beyond the ramp time, for the supply to report holding


def log_every_parameter(default_s: float = 60.0) -> FloatParameter:
    return FloatParameter("Log a row every", units="s", default=default_s, minimum=1.0, maximum=3600.0)


class Action(LabProcedure):
    """What the actions share: the log rows, their timing and the optional field reading."""

    log_every_s = log_every_parameter()

    DATA_COLUMNS = ACTION_COLUMNS

    def __init__(self, lab=None, **kwargs):
        super().__init__(lab=lab, **kwargs)
        self._controller = None
        self._magnet = None  # set by an action that drives the magnet
        self._field_unreadable = False

    def segment_key(self) -> str:
        return type(self).__name__

    def acquire(self) -> None:
        self._controller = self.role("temperature")
        self.begin()
        self.report_progress(0.0)
        self.run_segment(self.segment_key(), self.act)
        self.report_progress(1.0)

    def begin(self) -> None:
        """The roles an action drives besides the temperature controller (subclasses)."""

    def act(self) -> None:
        """The action itself (subclasses); logs rows with :meth:`log_row`."""
        raise NotImplementedError

    def field_now(self) -> float:
        """The magnet's field: the driven magnet, else the lab's magnet read without commanding
        it; NaN when the lab has none or its supply does not answer."""
        if self._magnet is not None:
            return self._magnet.field()
        if self._field_unreadable or "magnet" not in self.lab.config.roles:
            return math.nan
        try:
            return self.lab.role("magnet").field()
        except Exception as error:  # an optional reading must not end the step
            log.warning("%s: the field cannot be read (%s); the field column stays empty", type(self).__name__, error)
            self._field_unreadable = True
            return math.nan

    def log_row(self) -> None:
        controller = self._controller
        self.emit("results", {ELAPSED: self.elapsed_s(), TEMPERATURE: controller.temperature(),
                              SETPOINT: controller.setpoint(), FIELD: self.field_now()})


class Wait(Action):
    """Keep the present state (temperature controller, magnet) for ``minutes``."""

    minutes = FloatParameter("Wait", units="min", default=30.0, minimum=0.0, maximum=MAX_WAIT_MIN)

    def estimated_duration_s(self) -> float:
        return self.minutes * 60.0

    def act(self) -> None:
        clock = clocks.current()
        start = clock.now()
        end = start + self.minutes * 60.0
        self.log_row()
        row_due = start + self.log_every_s
        while end - clock.now() > CLOCK_RESOLUTION_S:
            self.wait(min(row_due, end) - clock.now())  # sees a stop request every WAIT_CHUNK_S
            self.log_row()  # every log_every_s, and once at the end
            row_due = next_due(row_due, self.log_every_s)
            self.report_progress((clock.now() - start) / (end - start))


class SetTemperature(Action):
    """Take the temperature controller to ``setpoint_K`` and wait until the thermometer holds it."""

    setpoint_K = FloatParameter("Setpoint", units="K", default=300.0, minimum=1.5, maximum=320.0)
    rate_K_per_min = FloatParameter("Ramp rate (0 = at once)", units="K/min", default=1.0, minimum=0.0,
                                    maximum=100.0)
    tolerance_K = tolerance_parameter(0.1)
    stable_s = stable_parameter(120.0)
    timeout_min = FloatParameter("Time-out", units="min", default=240.0, minimum=0.1, maximum=2880.0)

    def validate(self, config: LabConfig) -> None:
        config.limits.temperature("setpoint_K", self.setpoint_K)
        config.limits.temperature_rate("rate_K_per_min", self.rate_K_per_min)
        if self.timeout_min * 60.0 <= self.stable_s:
            raise LimitError(f"timeout_min = {self.timeout_min:g} min is not longer than stable_s = "
                             f"{self.stable_s:g} s: the temperature could never be found stable in time")

    def estimated_duration_s(self) -> float:
        """The ramp from the present temperature plus the stable time; NaN without an open lab
        (where the ramp starts is not known) or for a step at once (the cryostat sets the pace)."""
        if self._controller is None or self.rate_K_per_min <= 0:
            return math.nan
        travel_K = abs(self._controller.temperature() - self.setpoint_K)
        return travel_K / self.rate_K_per_min * 60.0 + self.stable_s

    def act(self) -> None:
        controller, clock = self._controller, clocks.current()
        rate = self.rate_K_per_min or None
        start, start_K = clock.now(), controller.temperature()
        deadline = start + self.timeout_min * 60.0
        controller.set_setpoint(self.setpoint_K, rate_K_per_min=rate)
        self.log_row()
        row_due = clock.now() + self.log_every_s
        # Rows while the temperature travels; the stable wait itself is the controller's.
        while True:
            kelvin = controller.temperature()
            if controller.ramp_done() and abs(kelvin - self.setpoint_K) <= self.tolerance_K:
                break
            if clock.now() >= deadline:
                raise TimeoutError(f"SetTemperature: {self.setpoint_K:g} K not reached within timeout_min = "
                                   f"{self.timeout_min:g} min; last reading {kelvin:.3f} K")
            self.wait(min(row_due, deadline) - clock.now())
            self.log_row()
            row_due = next_due(row_due, self.log_every_s)
            self.report_progress(0.9 * _travelled(start_K, controller.temperature(), self.setpoint_K))
        # What is left of the time-out, but at least one stable window: the thermometer is there.
        self.stabilise(self.setpoint_K, self.tolerance_K, self.stable_s, max(deadline - clock.now(), self.stable_s),
                       rate)
        self.log_row()


class SetField(Action):
    """Ramp the magnet to ``field_T`` at ``rate_T_per_min`` and wait until the field holds."""

    field_T = FloatParameter("Field", units="T", default=0.0, minimum=-100.0, maximum=100.0)
    rate_T_per_min = FloatParameter("Field ramp rate", units="T/min", default=0.2, minimum=0.001, maximum=10.0)

    def needed_roles(self) -> list[str]:
        return ["temperature", "magnet"]

    def validate(self, config: LabConfig) -> None:
        config.limits.field("field_T", self.field_T)
        config.limits.field_rate("rate_T_per_min", self.rate_T_per_min)

    def estimated_duration_s(self) -> float:
        """The ramp from the present field; NaN without an open lab (where it starts is not known)."""
        if self._magnet is None:
            return math.nan
        return abs(self._magnet.field() - self.field_T) / self.rate_T_per_min * 60.0

    def begin(self) -> None:
        self._magnet = self.role("magnet")

    def act(self) -> None:
        magnet, clock = self._magnet, clocks.current()
        start, start_T = clock.now(), magnet.field()
        magnet.set_ramp_rate(self.rate_T_per_min)
        magnet.set_field(self.field_T)
        deadline = start + abs(start_T - self.field_T) / self.rate_T_per_min * 60.0 + FIELD_SETTLE_MARGIN_S
        self.log_row()
        log_due = clock.now() + self.log_every_s
        while True:
            # Chunks short enough to see a stop request; a quench raises at once.
            chunk = max(min(WAIT_CHUNK_S, log_due - clock.now(), deadline - clock.now()), 1.0)
            try:
                magnet.wait_until_holding(chunk)
                break
            except TimeoutError:
                self.raise_if_stopped()
                if clock.now() >= deadline:
                    raise
            if clock.now() >= log_due:
                self.log_row()
                log_due = next_due(log_due, self.log_every_s)
                self.report_progress(0.95 * _travelled(start_T, magnet.field(), self.field_T))
        self.log_row()


def next_due(due: float, every_s: float) -> float:
    """The next time on the grid ``due + k * every_s`` still ahead of the clock: rows stay on a
    fixed grid from the step's start, so a late row (an instrument retried) does not shift the
    ones after it."""
    now = clocks.current().now()
    due += every_s
    if due <= now:
        due += math.ceil((now - due) / every_s + 1e-9) * every_s
    return due


def _travelled(start: float, now: float, target: float) -> float:
    """Fraction of the way from ``start`` to ``target`` covered at ``now`` (0 to 1)."""
    if start == target:
        return 1.0
    return min(max((now - start) / (target - start), 0.0), 1.0)


__all__ = ["Action", "Wait", "SetTemperature", "SetField", "ACTION_COLUMNS", "log_every_parameter"]
