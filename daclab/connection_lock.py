"""One lock per instrument connection, so that two threads can share an instrument.

The measurement runs on one thread while the window's status panel reads the same instruments
from another. A query is a write followed by a read: if another thread's command slips in
between, one of them reads the other's reply. :func:`guard` makes every query, write and read
of a driver (and of its channels, such as the 2182A behind the 6221's serial port, whose query
is a pass-through send followed by polls of the 6221) hold the connection's lock, and the lock
is re-entrant, so a driver method built of several queries can hold it across all of them
(``with lab.exclusive(role): ...``) to read one consistent snapshot.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from pymeasure.instruments.common_base import CommonBase

# The CommonBase methods every exchange with the instrument goes through.
GUARDED_METHODS = ("write", "read", "ask", "values", "binary_values", "write_bytes", "read_bytes",
                   "write_binary_values", "read_binary_values")


def guard(instrument: Any, lock: threading.RLock | None = None) -> threading.RLock:
    """Make ``instrument``'s exchanges (and those of its channels) hold ``lock``; return it.

    Idempotent: an instrument already guarded keeps its lock.
    """
    existing = getattr(instrument, "connection_lock", None)
    if existing is not None:
        return existing
    lock = lock or threading.RLock()
    for target in [instrument, *_channels(instrument)]:
        for name in GUARDED_METHODS:
            method = getattr(target, name, None)
            if callable(method):
                # an instance attribute shadows the class's method for every caller, including
                # pymeasure's properties, which call self.values()/self.write()
                setattr(target, name, _locked(method, lock))
        target.connection_lock = lock
    return lock


def _locked(method, lock: threading.RLock):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with lock:
            return method(*args, **kwargs)

    return call


def _channels(instrument: Any, depth: int = 2) -> list[Any]:
    """The pymeasure channels hanging off ``instrument`` (they talk through it)."""
    found = []
    for value in list(vars(instrument).values()):
        if isinstance(value, CommonBase) and getattr(value, "parent", None) is instrument:
            found.append(value)
            if depth > 1:
                found.extend(_channels(value, depth - 1))
    return found
