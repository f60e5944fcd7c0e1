"""IEEE 488.2 standard event status, shared by the instruments that report errors through *ESR?
(Lakeshore 350 and 370, SRS SIM900/SIM921) rather than a SCPI error queue; and the SCPI error
queue's ``SYST:ERR?`` for those that have one (Keithley 6221 and 2182A, AMI 430)."""

from __future__ import annotations

import enum
import logging

from pymeasure.instruments import Instrument

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


class StandardEventStatusMixin:
    """*ESR?, *CLS, *RST and :meth:`check_errors` for an instrument without a SCPI error queue.

    List it before ``Instrument`` among the bases, so that its clear/reset/check_errors take the
    place of pymeasure's SCPI ones.
    """

    standard_event_status = Instrument.measurement(
        "*ESR?", """Get and clear the standard event status register as :class:`StandardEvent` flags.""",
        cast=int, get_process=StandardEvent)

    def clear(self) -> None:
        """Clear the status registers (*CLS)."""
        self.write("*CLS")

    def reset(self) -> None:
        """Return to power-on settings (*RST)."""
        self.write("*RST")

    def check_errors(self) -> list[StandardEvent]:
        """Read (and thereby clear) *ESR?; return, and log, the error bits that are set."""
        return standard_event_errors(self, self.standard_event_status)


def _scpi_error(fields: list[str]) -> list:
    code, _, message = ",".join(fields).partition(",")
    return [int(code), message.strip()]


def scpi_next_error():
    """``next_error`` for a SCPI instrument: ``SYST:ERR?`` as ``[code, message]`` (the message as
    sent, in its quotes), which pymeasure's ``check_errors`` reads.

    pymeasure's version casts both fields to float, so the message stays text in a numeric reply,
    which the exchange layer (:mod:`daclab.connection`) rightly refuses as garbled: every
    ``check_errors`` of a guarded driver then failed. Here the reply is read as text (its format,
    ``code,"message"``, is checked by the driver's ``reply_formats``) and split once.
    """
    return Instrument.measurement(
        "SYST:ERR?",
        """Get the next error in the queue as ``[code, message]``; code 0 means the queue is empty.""",
        cast=str, maxsplit=1, get_process_list=_scpi_error,
    )
