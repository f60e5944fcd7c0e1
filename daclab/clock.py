"""The one clock through which everything in daclab waits.

Procedures, drivers and the sequence engine never call ``time.sleep`` themselves; they ask the
current clock. At the cryostat that is a :class:`RealClock`. In simulation a
:class:`VirtualClock` makes a wait advance virtual time at once (CI), or at a chosen speed-up
(a GUI rehearsal of a cooldown), and the virtual cryostat reads the same clock, so a 50-hour
cooldown runs in seconds and still looks like 50 hours to everything that measures it.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class Clock:
    """What every clock offers: the time, the epoch time for data files, and a wait."""

    def now(self) -> float:
        """Seconds on this clock's own time line (monotonic)."""
        raise NotImplementedError

    def timestamp(self) -> float:
        """Seconds since the Unix epoch, for time stamps written with the data."""
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def own_time(self) -> float:
        """A time line for timing what this thread does (how long one reply took): it moves with
        the clock while this thread waits or works, not while only other threads wait."""
        raise NotImplementedError


class RealClock(Clock):
    def now(self) -> float:
        return time.monotonic()

    def own_time(self) -> float:
        return time.monotonic()  # real time passes for every thread alike

    def timestamp(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock(Clock):
    """Simulated time.

    ``speedup=math.inf`` (the default) advances instantly; a finite speed-up sleeps
    ``seconds / speedup`` of wall time for each virtual wait, so a live display can follow.
    Thread-safe: a GUI thread may read the time while a measurement thread waits.
    """

    def __init__(self, start_epoch: float | None = None, speedup: float = math.inf):
        if not speedup > 0:
            raise ValueError(f"speedup = {speedup!r} is not allowed; it must be > 0 (inf = instant)")
        self._elapsed = 0.0
        self._start_epoch = time.time() if start_epoch is None else float(start_epoch)
        self.speedup = speedup
        self._lock = threading.Lock()
        self._waited = threading.local()  # virtual seconds each thread has slept on this clock

    def now(self) -> float:
        with self._lock:
            return self._elapsed

    def timestamp(self) -> float:
        return self._start_epoch + self.now()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"seconds = {seconds!r}: a clock cannot run backwards")
        with self._lock:
            self._elapsed += seconds

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if math.isfinite(self.speedup):
            time.sleep(seconds / self.speedup)
        self.advance(seconds)
        self._waited.seconds = self.own_time() + seconds

    def own_time(self) -> float:
        # Virtual time jumps when any thread waits: a status read on the window's thread would
        # otherwise seem to take the minutes a measurement thread slept meanwhile.
        return getattr(self._waited, "seconds", 0.0)


_current: Clock = RealClock()


def current() -> Clock:
    """The clock in force for this process (a RealClock unless a simulation installed one)."""
    return _current


def use(clock: Clock) -> Clock:
    """Install ``clock`` as the process clock and return the one it replaces."""
    global _current
    previous, _current = _current, clock
    return previous


def sleep(seconds: float) -> None:
    """Wait on the current clock; the only sleep procedures and drivers should call."""
    _current.sleep(seconds)


def poll_until(ready: Callable[[], T], timeout_s: float, interval_s: float,
               timed_out: Callable[[], Exception]) -> T:
    """Call ``ready`` until it returns something true, waiting ``interval_s`` on the current clock
    between calls; return that value. When ``timeout_s`` has passed without it, raise the
    exception ``timed_out()`` builds (it may first put the instrument in a safe state)."""
    clock = current()
    deadline = clock.now() + timeout_s
    while True:
        result = ready()
        if result:
            return result
        remaining = deadline - clock.now()
        if remaining <= 0:
            raise timed_out()
        clock.sleep(min(interval_s, remaining))
