"""Instrument faults on demand, for the reliability tests.

A fault names a simulated instrument (its device name in the pyvisa-sim file), what goes wrong,
from which virtual time on, with which probability per command, and optionally for how many
commands. What goes wrong:

- ``timeout``: the message is lost on the way. A query gets no reply (the read times out); a
  command is not acknowledged, so its write fails with a time-out, as on GPIB or USB.
- ``garbage``: the instrument carries the command out, and its reply arrives as random bytes.
- ``disconnect``: the connection is lost; every later message fails, for ``lasts`` messages
  (a cable that comes back) or, when ``lasts`` is None, until the fault is cleared.
- ``slow``: the instrument answers ``delay_s`` of lab time late (still within the VISA time-out).
- ``closed``: the connection is closed under the session that sent the message (a LAN
  instrument's socket dropped by a switch or its idle timer, a USB-serial adapter re-enumerated).
  That message is lost, and every later one on that session fails with VISA's "connection lost",
  however long one waits; a new session to the same instrument works, and finds the instrument
  as it was (it did not reset).

The injector draws from its own random generator, so adding faults never changes the noise of
the readings: a run with faults can be compared point by point with the same run without.
"""

from __future__ import annotations

import dataclasses

import numpy as np

KINDS = ("timeout", "garbage", "disconnect", "slow", "closed")


@dataclasses.dataclass
class Fault:
    device: str
    kind: str
    after_s: float = 0.0
    probability: float = 1.0
    count: int | None = None  # how many messages it hits; None: until cleared
    delay_s: float = 1.0  # lab time a ``slow`` reply takes
    lasts: int | None = None  # messages a ``disconnect`` outage lasts; None: until cleared

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"fault kind = {self.kind!r} is not allowed; allowed: {', '.join(KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability = {self.probability} is outside [0, 1]")
        if self.count is not None and self.count < 1:
            raise ValueError(f"fault count = {self.count} must be at least 1 (or None for no end)")
        if self.lasts is not None and self.lasts < 1:
            raise ValueError(f"fault lasts = {self.lasts} must be at least 1 message (or None until cleared)")
        if not 0.0 <= self.delay_s <= 3600.0:
            raise ValueError(f"fault delay_s = {self.delay_s} s is outside [0, 3600] s")


class FaultInjector:
    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._faults: list[Fault] = []
        self._disconnected: dict[str, tuple[Fault, int | None]] = {}  # device -> (its fault, messages left)
        self.injected: list[tuple[str, str, float]] = []  # (device, kind, virtual time): every message a fault hit

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def clear(self, device: str | None = None) -> None:
        """Remove the faults of one device (or all) and reconnect it."""
        self._faults = [f for f in self._faults if device is not None and f.device != device]
        if device is None:
            self._disconnected.clear()
        else:
            self._disconnected.pop(device, None)

    def check(self, device: str, now_s: float, query: bool = True) -> Fault | None:
        """The fault that hits this message to ``device`` at ``now_s``, if any. ``query``: the
        message asks for a reply (a ``garbage`` fault waits for one: a command has none to garble)."""
        outage = self._disconnected.get(device)
        if outage is not None:
            fault, remaining = outage
            if remaining is not None:
                if remaining <= 1:  # the outage's last message: the link is back after it
                    del self._disconnected[device]
                else:
                    self._disconnected[device] = (fault, remaining - 1)
            self.injected.append((device, fault.kind, now_s))
            return fault
        for fault in self._faults:
            if fault.device != device or now_s < fault.after_s or (fault.kind == "garbage" and not query):
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
            if fault.kind == "disconnect" and fault.lasts != 1:
                self._disconnected[device] = (fault, None if fault.lasts is None else fault.lasts - 1)
            self.injected.append((device, fault.kind, now_s))
            return fault
        return None

    def garbage(self) -> bytes:
        return bytes(self._rng.integers(33, 127, size=int(self._rng.integers(1, 24)), dtype=np.uint8))
