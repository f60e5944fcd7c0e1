"""Who the sample is: the metadata that travels with every run.

A cell takes weeks to make and is measured over many cooldowns, so every data file names the
sample, the cell, the pressure with the scale it was read on (scales differ by up to ~18 GPa at
100 GPa, paper 000), and the synthesis date, from which the age of a decaying hydride follows
(paper 002).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from daclab.analysis.pressure import PRESSURE_SCALES
from daclab.limits import LimitError, check_choice, check_range

SECONDS_PER_DAY = 86400.0
MAX_PRESSURE_GPA = 600.0  # beyond any diamond anvil cell


def parse_date(parameter: str, text: str) -> dt.datetime | None:
    """An ISO 8601 date or date-time ('2026-10-02', '2026-10-02T14:30'); '' is unknown (None).

    A date without a time zone is taken as local time, as a lab notebook writes it.
    """
    if text is None:
        return None
    if not isinstance(text, str):  # a number or a list is no date, and has no .strip()
        raise LimitError(f"{parameter} = {text!r} is not a date; write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    text = text.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise LimitError(f"{parameter} = {text!r} is not a date; write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    try:  # the local time zone of year 1 or 9999 is beyond what the system's clock can tell
        moment = moment if moment.tzinfo else moment.astimezone()
        moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise LimitError(f"{parameter} = {text!r} is outside the dates this computer can count days from; "
                         f"a synthesis date is a recent one") from None
    return moment


def _is_nan(value) -> bool:
    """NaN of any float type; False for what is no number at all (check_range names that)."""
    try:
        return math.isnan(value)
    except TypeError:
        return False


@dataclasses.dataclass(frozen=True)
class SampleInfo:
    name: str = ""
    cell: str = ""
    pressure_GPa: float = math.nan  # NaN: not measured
    pressure_scale: str = "akahama2006"
    synthesis_date: str = ""  # ISO 8601; '' unknown

    def __post_init__(self):
        if not _is_nan(self.pressure_GPa):  # check_range refuses what is not a number, naming it
            check_range("pressure", self.pressure_GPa, 0.0, MAX_PRESSURE_GPA, "GPa")
        check_choice("pressure scale", self.pressure_scale, tuple(PRESSURE_SCALES))
        parse_date("synthesis date", self.synthesis_date)

    def synthesis_timestamp(self) -> float | None:
        moment = parse_date("synthesis date", self.synthesis_date)
        return None if moment is None else moment.timestamp()

    def days_since_synthesis(self, timestamp: float) -> float:
        """Days from synthesis to the epoch time ``timestamp``; NaN when the date is unknown."""
        synthesis = self.synthesis_timestamp()
        return math.nan if synthesis is None else (timestamp - synthesis) / SECONDS_PER_DAY

    @classmethod
    def of_simulation(cls, world) -> SampleInfo:
        """The simulated sample as a user would describe it: its synthesis date follows from the
        preset's age at the start of the virtual clock."""
        sample = world.sample
        synthesis = world.clock.timestamp() - world.elapsed_s - sample.days_since_synthesis * SECONDS_PER_DAY
        date = dt.datetime.fromtimestamp(synthesis).astimezone().isoformat(timespec="seconds")
        pressure = math.nan if sample.pressure_GPa is None else float(sample.pressure_GPa)
        return cls(name=sample.name, cell="virtual cryostat", pressure_GPa=pressure, synthesis_date=date)
