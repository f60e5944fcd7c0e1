"""Instrument faults on demand, for the reliability tests.

A fault names a simulated instrument (its device name in the pyvisa-sim file), what goes wrong
(``timeout``: no reply; ``garbage``: a reply of random bytes; ``disconnect``: the connection is
lost and every later command fails until the fault is cleared), from which virtual time on, with
which probability per command, and optionally for how many commands.
"""

from __future__ import annotations

import dataclasses

import numpy as np

KINDS = ("timeout", "garbage", "disconnect")


@dataclasses.dataclass
class Fault:
    device: str
    kind: str
    after_s: float = 0.0
    probability: float = 1.0
    count: int | None = None  # None: until cleared

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"fault kind = {self.kind!r} is not allowed; allowed: {', '.join(KINDS)}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability = {self.probability} is outside [0, 1]")
        if self.count is not None and self.count < 1:
            raise ValueError(f"fault count = {self.count} must be at least 1 (or None for no end)")


class FaultInjector:
    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._faults: list[Fault] = []
        self._disconnected: set[str] = set()

    def add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def clear(self, device: str | None = None) -> None:
        """Remove the faults of one device (or all) and reconnect it."""
        self._faults = [f for f in self._faults if device is not None and f.device != device]
        if device is None:
            self._disconnected.clear()
        else:
            self._disconnected.discard(device)

    def check(self, device: str, now_s: float) -> str | None:
        """The fault that hits this command to ``device`` at ``now_s``, if any."""
        if device in self._disconnected:
            return "disconnect"
        for fault in self._faults:
            if fault.device != device or now_s < fault.after_s:
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
            if fault.kind == "disconnect":
                self._disconnected.add(device)
            return fault.kind
        return None

    def garbage(self) -> bytes:
        return bytes(self._rng.integers(33, 127, size=int(self._rng.integers(1, 24)), dtype=np.uint8))
