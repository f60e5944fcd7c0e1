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

**Lost sessions reopened.** Some failures leave the VISA session itself dead: a LAN
instrument's socket closed by a switch or by the instrument's idle timer, a USB-serial adapter
that re-enumerated. Every later message on that session fails however long one waits, so after
such a failure (:func:`session_gone`) the session is replaced at once by a new one to the same
resource, from the same resource manager and with the old one's settings (terminations, time-out,
a serial port's line settings), before the back-off and the next try; the retry's log line says
so ("reopened the connection to ..."). The session replaced is the one at the root of the
connection (the 6221's for the 2182A behind it, the SIM900's for a module in it), and every
guarded driver holding that same session is moved to the new one, so none is left on a dead
one. When the new session cannot be opened yet (the adapter still re-enumerating), the next
exchange on that connection, of this thread or another, tries again before it sends anything.
The instrument itself was not reset, so its state (setpoints, ranges, an armed sweep) is the
same on the new session. A driver that has something to do on a new session defines
``session_reopened()``, which is called once the session is replaced (the AMI 430 reads the
welcome lines it sends on every new TCP connection, which would otherwise be taken for replies).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import re
import threading
import weakref
from typing import Any, Callable, Iterator

import pyvisa.errors
import pyvisa.rname
from pymeasure.instruments.common_base import CommonBase
from pyvisa.constants import InterfaceType, StatusCode

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

# Queries whose reading clears what they report (IEEE 488.2 *ESR?, SCPI event registers, the SCPI
# error queue): a garbled reply was read, and so cleared, in the instrument, and its retry reads
# only what came after. The log says so, since nothing can bring it back.
READ_AND_CLEAR = re.compile(r"\*ESR\?|SYST(EM)?:ERR(OR)?(:NEXT)?\?|:EVEN(T)?\?", re.IGNORECASE)


class GarbledReply(ValueError):
    """A reply that does not parse as the driver expected, or breaks its declared format."""


class ConnectionNotReopened(ConnectionError):
    """A lost session whose replacement could not be opened (yet): the attempt fails without a message sent."""


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
    """How many faults this thread's exchanges have met so far (retries, slow messages and
    connections reopened outside a retry; a running count)."""
    return getattr(_thread, "faults", 0)


def _count_fault() -> None:
    _thread.faults = faults_on_this_thread() + 1


# VISA status codes after which the session itself is useless, so that only a new session can
# talk to the instrument again (VPP-4.3):
# - VI_ERROR_CONN_LOST: "the connection for the given session has been lost" (a TCP socket closed
#   by the peer, a switch or an idle timer; a USB device gone). Nothing more can pass on it.
# - VI_ERROR_INV_OBJECT: the handle no longer names an open session (the VISA library closed it
#   under the driver, as it does when the device behind it is removed). pyvisa's own
#   InvalidSession, raised for a resource closed from Python (the lab closing), is not one: what
#   was closed on purpose stays closed.
SESSION_GONE_CODES = frozenset({StatusCode.error_connection_lost, StatusCode.error_invalid_object})
# VI_ERROR_IO ("could not perform operation because of I/O error") depends on the interface. A
# serial line's own faults have codes of their own (VI_ERROR_ASRL_PARITY, _FRAMING, _OVERRUN), so on
# ASRL it is the operating system refusing the port's handle: the USB-serial adapter behind it
# vanished or re-enumerated, and the handle will never work again. On a TCP/IP resource it is the
# socket call failing (reset by the peer), the socket dead likewise. On GPIB it can be a bus glitch
# on a healthy session, which a plain retry answers.
IO_ERROR_GONE_INTERFACES = frozenset({InterfaceType.asrl, InterfaceType.tcpip})

# What a session was opened with, carried over to the session that replaces it: the framing and
# time-out of every resource, and a serial port's line settings (the 350 talks at 57600 baud,
# 7 data bits, odd parity: a new session at VISA's 9600 8N1 would read noise).
SESSION_SETTINGS = ("read_termination", "write_termination", "timeout", "encoding", "query_delay", "chunk_size",
                    "baud_rate", "data_bits", "parity", "stop_bits", "flow_control")

# Every guarded driver's VISA adapter -> the settings its session was last opened with (the
# fallback for those a dead session refuses to tell). Also the list searched for adapters that
# share one session, so that a reopen moves them all.
_session_settings: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_reopen_pending: weakref.WeakSet = weakref.WeakSet()  # adapters whose lost session could not be replaced yet
_session_users: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # adapter -> the guarded drivers on it
_registry_lock = threading.Lock()  # the two above are shared by every connection's thread


def session_gone(error: BaseException, resource_name: str) -> bool:
    """True when ``error`` means the session to ``resource_name`` can never carry a message
    again (see ``SESSION_GONE_CODES`` and ``IO_ERROR_GONE_INTERFACES``)."""
    if not isinstance(error, pyvisa.errors.VisaIOError):
        return False
    if error.error_code in SESSION_GONE_CODES:
        return True
    if error.error_code != StatusCode.error_io:
        return False
    try:
        interface = pyvisa.rname.parse_resource_name(str(resource_name)).interface_type_const
    except pyvisa.rname.InvalidResourceName:
        return False
    return interface in IO_ERROR_GONE_INTERFACES


def session_settings(resource: Any) -> dict[str, Any]:
    """The settings of ``SESSION_SETTINGS`` that ``resource`` has and will tell."""
    settings = {}
    for setting in SESSION_SETTINGS:
        try:
            settings[setting] = getattr(resource, setting)
        except Exception:  # not a setting of this kind of resource, or a dead session refusing
            continue
    return settings


def reopen_session(adapter: Any) -> None:
    """Replace ``adapter``'s VISA session, and that of every guarded adapter sharing it, with a
    new session to the same resource from the same resource manager, opened with the old one's
    settings. Raises whatever the opening raises; the adapters then keep the old (closed) session."""
    old = adapter.connection
    told = session_settings(old)
    with _registry_lock:
        settings = {**_session_settings.get(adapter, {}), **told}
        sharing = {holder for holder in list(_session_settings) if holder.connection is old}
    # Closed before the new one is opened: a serial port, or an instrument that takes one socket
    # at a time, may refuse a second session while the first is still open.
    try:
        old.close()
    except Exception:  # a dead session may fail to close; it is dropped either way
        pass
    new = adapter.manager.open_resource(adapter.resource_name, **settings)
    with _registry_lock:
        users = []
        for holder in sharing | {adapter}:
            holder.connection = new
            _session_settings[holder] = settings
            _reopen_pending.discard(holder)
            users.extend(_session_users.get(holder, ()))
    for user in users:  # e.g. the AMI 430, which greets every new TCP session with welcome lines
        greet = getattr(user, "session_reopened", None)
        if callable(greet):
            try:
                greet()
            except Exception as error:  # the retry's flush drops whatever is left unread
                fault_log.warning("%s: after reopening: %s", getattr(user, "name", type(user).__name__),
                                  describe(error))


def session_owner(target: Any) -> Any | None:
    """The adapter holding the VISA session that ``target``'s messages go through (found through
    a channel's parent and a module's mainframe), or None when it cannot be reopened."""
    node = _root(target)
    for _ in range(4):  # a module in a mainframe: two steps; never a cycle
        adapter = getattr(node, "adapter", None)
        if adapter is None:
            return None
        if hasattr(adapter, "connection"):
            reopenable = hasattr(adapter, "manager") and getattr(adapter, "resource_name", None)
            return adapter if reopenable else None
        mainframe = getattr(adapter, "mainframe", None)
        if mainframe is None:
            return None
        node = _root(mainframe)
    return None


def _register_session(instrument: Any) -> None:
    owner = session_owner(instrument)
    if owner is None:
        return
    with _registry_lock:
        if owner not in _session_settings:
            _session_settings[owner] = session_settings(owner.connection)
        _session_users.setdefault(owner, weakref.WeakSet()).add(instrument)


def _replace_lost_session(owner: Any | None, failure: BaseException) -> tuple[bool, str]:
    """After ``failure``: reopen ``owner``'s session if the failure left it dead. Returns whether
    it was reopened and the note for the log line."""
    if owner is None or not session_gone(failure, owner.resource_name):
        return False, ""
    try:
        reopen_session(owner)
    except Exception as error:  # the resource not back yet: the next attempt tries again
        with _registry_lock:
            _reopen_pending.add(owner)
        return False, f"; could not reopen the connection to {owner.resource_name} ({describe(error)})"
    return True, f"; reopened the connection to {owner.resource_name}"


def _reopen_if_pending(target: Any, name: str) -> None:
    """Before an attempt: replace a lost session whose first reopen failed, or raise
    :class:`ConnectionNotReopened` (nothing is sent on a session known dead)."""
    if not _reopen_pending:
        return
    owner = session_owner(target)
    if owner is None or owner not in _reopen_pending:
        return
    try:
        reopen_session(owner)
    except Exception as error:
        raise ConnectionNotReopened(f"could not reopen the connection to {owner.resource_name} "
                                    f"({describe(error)})") from error
    _count_fault()
    fault_log.warning("%s: reopened the connection to %s", name, owner.resource_name)


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
    _register_session(instrument)
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
    started = clocks.current().own_time() if timed else 0.0
    result = method(*args, **kwargs)
    took = clocks.current().own_time() - started if timed else 0.0
    if took > SLOW_REPLY_S:
        _count_fault()
        fault_log.warning("%s: %r: slow instrument, %.3g s for one %s", getattr(target, "name", type(target).__name__),
                          target._last_command, took, method_name)
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
            _reopen_if_pending(target, name)
            return _checked(target, method_name, method, args, kwargs)
        except (pyvisa.errors.VisaIOError, GarbledReply, TimeoutError, ConnectionNotReopened) as error:
            failure = error
        except ValueError as error:  # a reply a driver's own parsing refused
            if method_name not in REPLY_METHODS:
                raise
            failure = error
        command = target._last_command or command
        # reopened first, so that the flush below (a SIM900 port's FLSH is a message) goes out on a live session
        reopened, note = _replace_lost_session(session_owner(target), failure)
        if isinstance(failure, ValueError) and READ_AND_CLEAR.search(command):  # a reply came: it was read
            note += "; the query clears what it reports, so what the garbled reply held is lost"
        _discard_pending_reply(target)
        if attempt == policy.attempts:
            if policy.attempts > 1:  # a single try's caller reports it itself (the status panel, every second)
                fault_log.error("%s: %r failed %d times (%s)%s; giving up", name, command, attempt, describe(failure),
                                note)
            elif reopened:  # ... but not the new session it will find at its next try
                _count_fault()
                fault_log.warning("%s: %r: %s%s", name, command, describe(failure), note)
            raise InstrumentFault(name, command, failure, attempt, probe=lambda: target.ask("*IDN?")) from failure
        wait_s = policy.wait_before(attempt + 1)
        _count_fault()
        fault_log.warning("%s: %r: %s (attempt %d of %d)%s; retrying in %.2g s", name, command, describe(failure),
                          attempt, policy.attempts, note, wait_s)
        clocks.sleep(wait_s)


def _root(target: Any) -> Any:
    """The instrument at the root of ``target``'s channels (the one holding the adapter)."""
    while getattr(target, "parent", None) is not None:
        target = target.parent
    return target


def _discard_pending_reply(target: Any) -> None:
    """Drop a reply that may still arrive for the failed command, so the retry reads its own."""
    adapter = getattr(_root(target), "adapter", None)
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
