"""The virtual cryostat: one physical world shared by every simulated instrument.

It holds the clock, the thermal stage with its heater loops, the magnet, the sample and the
fault injector, and it advances lazily: whenever an instrument asks for a value, the world is
first brought up to the clock's present time. Simulated instruments therefore never run a
thread of their own, and a procedure that waits (on the same clock) finds the world moved on.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from daclab import clock as clocks
from daclab.sim.faults import FaultInjector
from daclab.sim.magnet import Magnet, MagnetParameters
from daclab.sim.sample import Sample, load_sample
from daclab.sim.thermal import ThermalParameters, ThermalStage

DEFAULT_PRESET = "ceh9_cell1"
SECONDS_PER_DAY = 86400.0


class VirtualCryostat:
    def __init__(
        self,
        sample: Sample | str = DEFAULT_PRESET,
        clock: clocks.VirtualClock | None = None,
        start_K: float = 300.0,
        seed: int = 0,
        thermal: ThermalParameters | None = None,
        magnet: MagnetParameters | None = None,
    ):
        self.sample = load_sample(sample) if isinstance(sample, str) else sample
        self.clock = clock or clocks.VirtualClock()
        self.rng = np.random.default_rng(seed)
        self.stage = ThermalStage(thermal, start_K=start_K)
        self.magnet = Magnet(magnet)
        self.faults = FaultInjector(np.random.default_rng([seed, 1]))  # faults never shift the noise
        # DC current the current source drives through the sample now (0 when its output is off);
        # a standalone voltmeter reads the sample under it.
        self.source_current_A = 0.0
        # Instrument-internal state that belongs with this world (buffers, configuration, modes),
        # keyed by device name; see Twin.state.
        self.instrument_state: dict[str, dict] = {}
        # Held by every instrument message (see daclab.sim.binding): the instruments of the
        # window's status panel and of the measurement talk from two threads to one world.
        self.lock = threading.RLock()
        self._lock = self.lock
        self._t = self.clock.now()
        self._t0 = self._t

    # ---- time ---------------------------------------------------------------------------

    def update(self) -> None:
        """Bring the world up to the clock's present time."""
        with self._lock:
            now = self.clock.now()
            while self._t < now:
                dt = min(now - self._t, self.stage.max_step_s(), self._magnet_step_s())
                heat = self.magnet.step(dt)
                if heat:
                    self.stage.deposit_heat(heat)
                self.stage.step(dt)
                self._t += dt

    def _magnet_step_s(self) -> float:
        # While the field moves, step no further than the time left to the target, so the
        # magnet lands on it exactly; a quench decays on its own time constant.
        if self.magnet.state == "quench" and self.magnet.field_T != 0.0:
            return self.magnet.parameters.quench_decay_s / 4
        if self.magnet.state in ("ramping", "zeroing"):
            return max(self.magnet.time_to_target_s(), 1e-3)
        return math.inf

    @property
    def elapsed_s(self) -> float:
        return self.clock.now() - self._t0

    @property
    def days_elapsed(self) -> float:
        return self.elapsed_s / SECONDS_PER_DAY

    # ---- readings (all bring the world up to date first) -------------------------------

    def stage_temperature(self) -> float:
        with self._lock:
            self.update()
            return self.stage.stage_K

    def sample_temperature(self) -> float:
        with self._lock:
            self.update()
            return self.stage.sample_K

    def field(self) -> float:
        with self._lock:
            self.update()
            return self.magnet.field_T

    def sample_conditions(self) -> tuple[float, float, float]:
        """(sample temperature K, field T, days since the sample file) right now."""
        with self._lock:
            self.update()
            return self.stage.sample_K, self.magnet.field_T, self.days_elapsed

    def thermoelectric_emf(self, elapsed_s: float | None = None) -> float:
        """Slowly drifting thermal EMF of the voltage leads, in volts (cancelled by delta mode).

        ``elapsed_s`` (world time since start) evaluates it at another moment, e.g. at each
        reading of a buffer filled over a while; default now.
        """
        s = self.sample
        minutes = (self.elapsed_s if elapsed_s is None else elapsed_s) / 60.0
        wander = 0.2 * math.sin(2 * math.pi * minutes / 37.0)  # slow, not quite linear
        return (s.thermoelectric_offset_uV * (1.0 + wander)) * 1e-6 + s.thermoelectric_drift_nV_per_min * minutes * 1e-9

    def voltage_noise(self) -> float:
        return float(self.rng.normal(0.0, self.sample.noise_nV * 1e-9))

    def thermometer_noise(self, sigma_K: float = 0.002) -> float:
        return float(self.rng.normal(0.0, sigma_K))

    # ---- what the wiring presents to the instruments ------------------------------------
    # The nanovoltmeter's channel 1 is wired to the sample's four-probe voltage pads, channel 2
    # across the point contact (junction plus spreading resistance); the current source drives
    # both. AC bridges measure the same four-probe pads.

    def sample_resistance(self) -> float:
        """The sample's four-probe resistance now, in the low-current limit."""
        return float(self.sample.resistance(*self.sample_conditions()))

    def lead_signal(self, channel: int, current_A: float, duration_s: float | None = None) -> float:
        """The sample's own voltage on a voltmeter ``channel`` with ``current_A`` flowing (no EMF, no noise).

        ``duration_s`` is the time the current has flowed (a pulse width); None is DC.
        """
        temperature, field, days = self.sample_conditions()
        if channel == 1:
            return self.sample.four_probe_voltage(current_A, temperature, field, days, duration_s)
        if channel == 2:
            return self.sample.contact_voltage(current_A, temperature, field, days)
        raise ValueError(f"voltmeter channel = {channel} is not wired; wired channels: 1 (four-probe), 2 (contact)")

    def lead_voltage(self, channel: int, current_A: float, duration_s: float | None = None, averages: int = 1) -> float:
        """What a voltmeter on ``channel`` reads now: the sample's signal, thermal EMF and noise,
        the noise averaged over ``averages`` readings (no time passes between them)."""
        noise = sum(self.voltage_noise() for _ in range(averages)) / averages
        return self.lead_signal(channel, current_A, duration_s) + self.thermoelectric_emf() + noise

    def bridge_resistance(self, excitation_A: float) -> float:
        """Four-wire AC resistance at an RMS excitation current, as a lock-in bridge reads it.

        The AC excitation cancels the thermal EMF; its Joule heat still warms the sample, so too
        high an excitation shifts or broadens the transition, as on a real cell.
        """
        if excitation_A <= 0:
            raise ValueError(f"excitation_A = {excitation_A} must be > 0 for a bridge reading")
        temperature, field, days = self.sample_conditions()
        signal = self.sample.four_probe_voltage(excitation_A, temperature, field, days)
        return (signal + self.voltage_noise()) / excitation_A


_active: VirtualCryostat | None = None
_active_lock = threading.Lock()


def use(cryostat: VirtualCryostat) -> VirtualCryostat:
    """Make ``cryostat`` the world that simulated instruments opened from now on bind to.

    Its clock becomes the process clock, so everything that waits advances this world.
    """
    global _active
    with _active_lock:
        _active = cryostat
        clocks.use(cryostat.clock)
    return cryostat


def active() -> VirtualCryostat:
    """The world in use; a default one (CeH9 preset, instant virtual clock) if none was chosen."""
    with _active_lock:
        existing = _active
    return existing if existing is not None else use(VirtualCryostat())
