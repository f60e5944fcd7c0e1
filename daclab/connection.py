"""Every exchange with an instrument: one at a time per connection, its reply checked, and a
transient fault retried.

**One at a time.** The measurement runs on one thread while the window's status panel reads the
same instruments from another. A query is a write followed by a read: if another thread's command
slips in between, one of them reads the other's reply. :func:`guard` makes every query, write and
read of a driver (and of its channels, such as the 2182A behind the 6221's serial port, whose
query is a pass-through send followed by polls of the 6221) hold the connection's lock. The lock
is re-entrant, so a driver method built of several queries can hold it across all of them
(``with lab.exclusive(role): ...``) to read one consistent snapshot.

**Replies checked.** A reply is garbled when a field does not convert to the type the driver asked
for (pymeasure's ``values()`` would hand the text on in its place), or when it does not match the
format the driver declares for that command in its ``reply_formats`` (a list of
``(command regex, reply regex)``, both matched whole). Instruments send fixed formats (the 350's
``+273.150``, the 2182A's ``+1.2345678E-03``), so a reading corrupted on the line, truncated or
replaced by noise fails its format instead of entering the data as a made-up number.

**Transient faults retried.** A time-out, a lost connection or a garbled reply is retried: the
whole exchange (a query's command and its reply) is sent again after a back-off on the lab clock
(:class:`RetryPolicy`), and every retry is logged as a warning on the ``daclab.faults`` logger,
naming the instrument, the command, the fault and the attempt. Only the outermost exchange of a
thread retries, so a composite query (the 2182A's pass-through) is retried whole, never in parts,
and the retries hold the connection lock, so no other thread's command can take a late reply.
When the attempts are used up :class:`InstrumentFault` is raised: the measurement's segment waits
for the instrument (the ``instrument`` suspender) or the run ends in the safe state.

A single message that takes longer than ``SLOW_REPLY_S`` of lab time is logged too (a slow
instrument is the first sign of one about to fail). Each thread counts the faults its exchanges
met, retries and slow messages (:func:`faults_on_this_thread`): the runner flags every point
taken while one happened, since its readings came late.

A re-sent write is safe because a write that failed with a VISA error was not taken by the
instrument (a GPIB or USB transfer not acknowledged; a connection already down).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
import threading
from typing import Any, Callable, Iterator

import pyvisa.errors
from pymeasure.instruments.common_base import CommonBase

from daclab import clock as clocks

fault_log = logging.getLogger("daclab.faults")

# The CommonBase methods every exchange with the instrument goes through.
GUARDED_METHODS = ("write", "read", "ask", "values", "binary_values", "write_bytes", "read_bytes",
                   "write_binary_values", "read_binary_values")
# Of those, the ones that send a command (remembered, to check the reply against its format).
SENDING_METHODS = ("write", "ask", "values", "binary_values", "write_bytes", "write_binary_values")
# And the ones whose result is (part of) a reply that can arrive garbled.
REPLY_METHODS = ("read", "ask", "values", "binary_values", "read_bytes", "read_binary_values")


SLOW_REPLY_S = 1.0  # lab time a single write or read may take before it is logged as slow


class GarbledReply(ValueError):
    """A reply that does not parse as the driver expected, or breaks its declared format."""


class InstrumentFault(IOError):
    """An exchange still failing after every retry: the instrument is not answering usefully."""

    def __init__(self, instrument: str, command: str, cause: BaseException, attempts: int,
                 probe: Callable[[], Any] = lambda: None):
        super().__init__(f"{instrument}: {command!r} failed {attempts} times; last: {describe(cause)}")
        self.instrument, self.command, self.cause, self.attempts = instrument, command, cause, attempts
        self.probe = probe  # asks the instrument for its identification: raises while it is still lost


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed exchange is tried again.

    ``attempts`` tries in all; the waits between them grow from ``first_wait_s`` by ``factor``
    (0.2, 1, 5 s by default: a reply lost to noise is back at once, a serial adapter re-enumerating
    takes seconds; anything longer is the suspenders' business).
    """

    attempts: int = 4
    first_wait_s: float = 0.2
    factor: float = 5.0

    def wait_before(self, attempt: int) -> float:
        """The back-off before try number ``attempt`` (2, 3, ...)."""
        return self.first_wait_s * self.factor ** (attempt - 2)


DEFAULT_POLICY = RetryPolicy()

_thread = threading.local()


@contextlib.contextmanager
def single_attempt() -> Iterator[None]:
    """Exchanges of this thread in the block are tried once, and a failure is left to the caller
    to report: for a reader that polls again soon anyway (the status panel) and must not hold a
    connection through back-offs."""
    previous = getattr(_thread, "policy", None)
    _thread.policy = RetryPolicy(attempts=1)
    try:
        yield
    finally:
        _thread.policy = previous


def faults_on_this_thread() -> int:
    """How many faults this thread's exchanges have met so far (retries and slow messages; a
    running count)."""
    return getattr(_thread, "faults", 0)


def _count_fault() -> None:
    _thread.faults = faults_on_this_thread() + 1


def describe(error: BaseException) -> str:
    if isinstance(error, pyvisa.errors.VisaIOError):
        return {pyvisa.constants.StatusCode.error_timeout: "time-out",
                pyvisa.constants.StatusCode.error_connection_lost: "connection lost"}.get(
            error.error_code, f"VISA error {error.abbreviation}")
    return f"{type(error).__name__}: {error}"


def guard(instrument: Any, lock: threading.RLock | None = None,
          policy: RetryPolicy = DEFAULT_POLICY) -> threading.RLock:
    """Make ``instrument``'s exchanges (and those of its channels) hold ``lock``, check their
    replies and retry transient faults (see the module docstring); return the lock.

    Idempotent: an instrument already guarded keeps its lock.
    """
    existing = getattr(instrument, "connection_lock", None)
    if existing is not None:
        return existing
    lock = lock or threading.RLock()
    name = getattr(instrument, "name", type(instrument).__name__)
    for target in [instrument, *_channels(instrument)]:
        target._last_command = ""
        for method_name in GUARDED_METHODS:
            method = getattr(target, method_name, None)
            if callable(method):
                # an instance attribute shadows the class's method for every caller, including
                # pymeasure's properties, which call self.values()/self.write()
                setattr(target, method_name, _exchange(target, method_name, method, lock, policy, name))
        target.connection_lock = lock
    return lock


def _exchange(target: Any, method_name: str, method, lock: threading.RLock, policy: RetryPolicy, name: str):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with lock:
            if getattr(_thread, "depth", 0):  # part of an exchange already under way: no retry of its own
                return _checked(target, method_name, method, args, kwargs)
            _thread.depth = 1
            try:
                return _with_retries(target, method_name, method, args, kwargs, policy, name)
            finally:
                _thread.depth = 0

    return call


def _checked(target: Any, method_name: str, method, args, kwargs):
    """One call of ``method``, with what it sends remembered and what it returns checked."""
    if method_name in SENDING_METHODS and args:
        insert_id = getattr(target, "insert_id", None)  # a channel's command names its channel
        try:
            target._last_command = insert_id(str(args[0])) if callable(insert_id) else str(args[0])
        except (KeyError, ValueError, IndexError):  # braces that are not a channel placeholder
            target._last_command = str(args[0])
    # timed where a message meets the connection itself (not a channel or a mainframe's module)
    timed = (method_name in ("write", "read") and getattr(target, "parent", None) is None
             and hasattr(getattr(target, "adapter", None), "connection"))
    started = clocks.current().now() if timed else 0.0
    result = method(*args, **kwargs)
    if timed and clocks.current().now() - started > SLOW_REPLY_S:
        _count_fault()
        fault_log.warning("%s: %r: slow instrument, %.3g s for one %s", getattr(target, "name", type(target).__name__),
                          target._last_command, clocks.current().now() - started, method_name)
    if method_name == "read":
        check_format(target, target._last_command, result)
    elif method_name == "values":
        cast = kwargs.get("cast", float)
        if cast is not str and any(isinstance(value, str) for value in result):
            raise GarbledReply(f"reply to {args[0]!r} has a field that is not a {getattr(cast, '__name__', cast)}: "
                               f"{result!r}")
    return result


def check_format(target: Any, command: str, reply: str) -> None:
    """Raise :class:`GarbledReply` when ``reply`` breaks the format ``target`` declares for ``command``."""
    for command_pattern, reply_pattern in getattr(target, "reply_formats", ()):
        if re.fullmatch(command_pattern, command.strip()):
            if re.fullmatch(reply_pattern, reply.strip()) is None:
                raise GarbledReply(f"reply {reply.strip()!r} to {command.strip()!r} breaks the instrument's format "
                                   f"for it")
            return


def _with_retries(target, method_name, method, args, kwargs, policy: RetryPolicy, name: str):
    policy = getattr(_thread, "policy", None) or policy
    command = str(args[0]) if args else method_name
    attempt = 0
    while True:
        attempt += 1
        try:
            return _checked(target, method_name, method, args, kwargs)
        except (pyvisa.errors.VisaIOError, GarbledReply, TimeoutError) as error:
            failure = error
        except ValueError as error:  # a reply a driver's own parsing refused
            if method_name not in REPLY_METHODS:
                raise
            failure = error
        command = target._last_command or command
        _discard_pending_reply(target)
        if attempt == policy.attempts:
            if policy.attempts > 1:  # a single try's caller reports it itself (the status panel, every second)
                fault_log.error("%s: %r failed %d times (%s); giving up", name, command, attempt, describe(failure))
            raise InstrumentFault(name, command, failure, attempt, probe=lambda: target.ask("*IDN?")) from failure
        wait_s = policy.wait_before(attempt + 1)
        _count_fault()
        fault_log.warning("%s: %r: %s (attempt %d of %d); retrying in %.2g s", name, command, describe(failure),
                          attempt, policy.attempts, wait_s)
        clocks.sleep(wait_s)


def _discard_pending_reply(target: Any) -> None:
    """Drop a reply that may still arrive for the failed command, so the retry reads its own."""
    root = target
    while getattr(root, "parent", None) is not None:
        root = root.parent
    adapter = getattr(root, "adapter", None)
    try:
        adapter.flush_read_buffer()
    except Exception:  # an adapter without the operation (a test double) has nothing queued
        pass


def _channels(instrument: Any, depth: int = 2) -> list[Any]:
    """The pymeasure channels hanging off ``instrument`` (they talk through it)."""
    found = []
    for value in list(vars(instrument).values()):
        if isinstance(value, CommonBase) and getattr(value, "parent", None) is instrument:
            found.append(value)
            if depth > 1:
                found.extend(_channels(value, depth - 1))
    return found
