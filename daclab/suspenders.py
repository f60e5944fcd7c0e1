"""Conditions that pause a running measurement until they clear, like bluesky's suspenders.

A helium transfer that sends the stage temperature out of its band, or a magnet quench, spoils
the points taken while it lasts. A procedure asks its suspenders at every point (no more often
than ``CHECK_INTERVAL_S`` on the lab clock, so that a quick measurement is not slowed by extra
queries). When one trips, the segment in progress is interrupted and its points are moved aside;
the procedure waits until every suspender is clear again, then takes the segment again from its
start. When a condition has not cleared within its ``timeout_min``, the run ends in the safe state.

The ``instrument`` suspender is not asked: it trips when an instrument stops answering (an
exchange still failing after its retries, :class:`daclab.connection.InstrumentFault`), and clears
once that instrument answers its identification again.

In a sequence file::

    suspend:
      temperature: {below_K: 1.6, above_K: 320, timeout_min: 60}
      magnet_quench: {timeout_min: 30}
      instrument: {timeout_min: 20}
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from daclab.limits import LimitError, check_range

CHECK_INTERVAL_S = 5.0
MAX_TIMEOUT_MIN = 7 * 24 * 60.0


class Suspended(Exception):
    """Raised inside a procedure when a suspender trips; the segment in progress is retaken."""

    def __init__(self, suspender: Suspender, reason: str):
        super().__init__(f"{suspender.name}: {reason}")
        self.suspender = suspender
        self.reason = reason


class SuspendTimeout(Exception):
    """A tripped condition did not clear within its time-out: the run ends in the safe state."""


@dataclasses.dataclass(frozen=True)
class Suspender:
    timeout_min: float = 60.0

    name = "suspender"
    role_kind = ""  # the lab role kind it reads; a lab without it cannot use it ("": reads none)
    polled = True  # asked at every point; False: tripped by an event instead

    def tripped(self, role) -> str | None:
        """Why the condition holds now, or None when clear. ``role`` is the lab role it reads."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class TemperatureBand(Suspender):
    """Trips while the stage temperature is outside [below_K, above_K] (or cannot be read)."""

    below_K: float = 0.0
    above_K: float = math.inf

    name = "temperature"
    role_kind = "temperature_controller"

    def tripped(self, role) -> str | None:
        kelvin = role.temperature()
        if not math.isfinite(kelvin):
            return f"temperature reads {kelvin}"
        if kelvin < self.below_K:
            return f"temperature {kelvin:.4g} K below {self.below_K:g} K"
        if kelvin > self.above_K:
            return f"temperature {kelvin:.4g} K above {self.above_K:g} K"
        return None


@dataclasses.dataclass(frozen=True)
class MagnetQuench(Suspender):
    """Trips while the magnet supply reports a quench."""

    name = "magnet_quench"
    role_kind = "magnet"

    def tripped(self, role) -> str | None:
        return "the magnet supply reports a quench" if role.quenched() else None


@dataclasses.dataclass(frozen=True)
class InstrumentLost(Suspender):
    """Trips when an instrument stops answering (its exchange failed every retry); clears when
    it answers again."""

    name = "instrument"
    polled = False

    def tripped(self, role) -> str | None:
        return None


KINDS: dict[str, type[Suspender]] = {"temperature": TemperatureBand, "magnet_quench": MagnetQuench,
                                     "instrument": InstrumentLost}


def suspenders_from_spec(spec: Mapping[str, Any] | None) -> list[Suspender]:
    """The suspenders of a sequence file's ``suspend:`` mapping (see the module docstring)."""
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        raise LimitError(f"suspend = {spec!r} must be a mapping of conditions: {', '.join(KINDS)}")
    made = []
    for kind, options in spec.items():
        if kind not in KINDS:
            raise LimitError(f"suspend: unknown condition {kind!r}; allowed: {', '.join(KINDS)}")
        options = {} if options is None else options
        if not isinstance(options, Mapping):
            raise LimitError(f"suspend.{kind} = {options!r} must be a mapping of options")
        cls = KINDS[kind]
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise LimitError(f"suspend.{kind}: unknown option(s) {', '.join(map(str, unknown))}; "
                             f"allowed: {', '.join(allowed)}")
        values = {}
        for key, value in options.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise LimitError(f"suspend.{kind}.{key} = {value!r} must be a number")
            values[key] = float(value)
        if "timeout_min" in values:
            check_range(f"suspend.{kind}.timeout_min", values["timeout_min"], 0.0, MAX_TIMEOUT_MIN, "min")
        for key in ("below_K", "above_K"):
            if key in values:
                check_range(f"suspend.{kind}.{key}", values[key], 0.0, 400.0, "K")
        suspender = cls(**values)
        if isinstance(suspender, TemperatureBand) and suspender.below_K >= suspender.above_K:
            raise LimitError(f"suspend.temperature: below_K = {suspender.below_K:g} K must be below "
                             f"above_K = {suspender.above_K:g} K")
        made.append(suspender)
    return made
