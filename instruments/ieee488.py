"""IEEE 488.2 standard event status, shared by the instruments that report errors through *ESR?
(Lakeshore 350 and 370, SRS SIM900/SIM921) rather than a SCPI error queue."""

from __future__ import annotations

import enum
import logging

log = logging.getLogger(__name__)


class StandardEvent(enum.IntFlag):
    """Bits of the standard event status register (*ESR?)."""

    OPERATION_COMPLETE = 1
    QUERY_ERROR = 4
    EXECUTION_ERROR = 16  # a parameter out of range
    COMMAND_ERROR = 32  # an unknown command
    POWER_ON = 128


ERROR_EVENTS = (StandardEvent.COMMAND_ERROR, StandardEvent.EXECUTION_ERROR, StandardEvent.QUERY_ERROR)


def standard_event_errors(instrument, status: int) -> list[StandardEvent]:
    """The error bits set in a *ESR? value, each logged under the instrument's name."""
    errors = [bit for bit in ERROR_EVENTS if status & bit]
    for error in errors:
        log.error("%s: %s", instrument.name, error.name)
    return errors
