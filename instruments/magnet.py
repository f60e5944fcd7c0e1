"""The MagnetSupply role (daclab.roles.MagnetSupply), written once for every magnet supply.

A supply driver speaks its own grammar (AMI 430, Cryomagnetics 4G); a small adapter beside it
fills in a few hooks, and :class:`MagnetSupplyAdapter` does what is common:

- the limit checks, before anything is written: the user's :class:`daclab.limits.SoftwareLimits`
  (``max_field_T``, ``max_field_rate_T_per_min``) and the hardware's own limits (the coil's rated
  current and the supply's ramp-rate range, converted with the coil constant);
- bringing the supply into driven mode when the magnet sits persistent: the supply's leads are
  first ramped to the coil's current (heating a switch across a current step would dump it into
  the coil), then the switch heater is turned on and given its time;
- waiting on :mod:`daclab.clock` until the field holds, raising at once on a quench and with the
  last state when the time is up.

The field is always in tesla and ramp rates in tesla per minute at this level; each adapter puts
its supply into units it knows before the first command that depends on them.
"""

from __future__ import annotations

import dataclasses

from daclab import clock as clocks
from daclab.limits import SoftwareLimits, check_range

#: Supply states (as the adapters name them) in which the field stands still where it was sent.
HOLDING_STATES = frozenset({"holding", "at_zero"})


class MagnetError(RuntimeError):
    """The supply or the magnet is not in a state that allows what was asked."""


class MagnetQuenchError(MagnetError):
    """The magnet quenched: its field collapsed and the cryostat took the stored energy."""


class MagnetTimeoutError(MagnetError, TimeoutError):
    """The field did not come to hold within the time allowed."""


@dataclasses.dataclass(frozen=True)
class Coil:
    """The magnet wired to the supply, from its data sheet (the lab file names it).

    ``tesla_per_amp`` is the coil constant; ``max_current_A`` the rated current, so the coil's
    own field limit is ``tesla_per_amp * max_current_A``.
    """

    tesla_per_amp: float
    max_current_A: float

    def __post_init__(self):
        check_range("coil constant", self.tesla_per_amp, 1e-6, 100.0, "T/A")
        check_range("coil rated current", self.max_current_A, 1e-3, 10_000.0, "A")

    @property
    def max_field_T(self) -> float:
        return self.tesla_per_amp * self.max_current_A

    def amps(self, tesla: float) -> float:
        return tesla / self.tesla_per_amp

    def tesla(self, amps: float) -> float:
        return amps * self.tesla_per_amp


class MagnetSupplyAdapter:
    """Implements daclab.roles.MagnetSupply on top of one supply driver.

    Subclasses set :attr:`rate_range_A_per_s` (the supply's own ramp-rate range) and implement
    the hooks below; nothing else. In a lab file::

        magnet:
          kind: magnet
          driver: ami430:AMI430
          resource: TCPIP0::192.168.1.40::7180::SOCKET
          visa_library: sim:ami430.yaml
          options: {welcome_lines: 0}          # the twin sends no welcome lines
          adapter: ami430:AMI430Magnet
          adapter_options: {coil: {tesla_per_amp: 0.1, max_current_A: 90}}

    ``poll_s`` is the interval at which waits ask the supply for its state;
    ``switch_timeout_s`` bounds the wait for a persistent switch to heat.
    """

    #: The ramp rates the supply accepts, A/s (its hardware limit, converted with the coil).
    rate_range_A_per_s: tuple[float, float] = (0.0, float("inf"))
    #: How closely the supply's current must match the coil's before the switch is heated.
    current_match_A: float = 1e-3

    def __init__(self, supply, coil: Coil | dict, limits: SoftwareLimits | None = None, poll_s: float = 1.0,
                 switch_timeout_s: float = 600.0):
        self.supply = supply
        # A lab file gives the coil as a mapping: adapter_options: {coil: {tesla_per_amp: .., max_current_A: ..}}
        self.coil = coil if isinstance(coil, Coil) else Coil(**coil)
        self.limits = limits or SoftwareLimits()
        self.poll_s = check_range("poll interval", poll_s, 1e-3, 3600.0, "s")
        self.switch_timeout_s = switch_timeout_s
        self._prepared = False

    # ---- the role -------------------------------------------------------------------------

    def field(self) -> float:
        """Present field of the coil, T (the persistent field when the switch is cold)."""
        self._ensure_prepared()
        return self._field_T()

    def supply_rate_range_T_per_min(self) -> tuple[float, float]:
        low, high = self.rate_range_A_per_s
        return self.coil.tesla(low) * 60.0, self.coil.tesla(high) * 60.0

    def set_ramp_rate(self, tesla_per_min: float) -> None:
        """Ramp rate for the next ramps, T/min.

        Checked against ``SoftwareLimits.max_field_rate_T_per_min`` and the supply's own range
        before anything is written; a value outside either raises LimitError.
        """
        rate = self.limits.field_rate("field ramp rate", tesla_per_min)
        low, high = self.supply_rate_range_T_per_min()
        check_range("field ramp rate (supply range)", rate, low, high, "T/min")
        self._ensure_prepared()
        self._write_ramp_rate(rate)

    def set_field(self, tesla: float) -> None:
        """Set the target and start ramping to it, at the rate last set.

        Checked against ``SoftwareLimits.max_field_T`` and the coil's rated field before
        anything is written. A persistent magnet is first brought into driven mode (see the
        module docstring), which waits on the clock for the switch.
        """
        target = self.limits.field("target field", tesla)
        check_range("target field (coil rating)", target, -self.coil.max_field_T, self.coil.max_field_T, "T")
        self._ensure_prepared()
        self._ensure_driven()
        self._ramp_to(target)

    def wait_until_holding(self, timeout_s: float, poll_s: float | None = None) -> None:
        """Wait on the clock until the field holds at the target (or at zero).

        Raises MagnetQuenchError as soon as the supply reports a quench, and MagnetTimeoutError
        naming the last state if the field still moves (or stands paused) after ``timeout_s``.
        """
        self._ensure_prepared()
        interval = self.poll_s if poll_s is None else poll_s
        state = None

        def holding() -> bool:
            nonlocal state
            state = self._state()
            if state == "quench":
                raise MagnetQuenchError(f"{self._name()}: the magnet quenched (field now {self._field_T():.4f} T)")
            return state in HOLDING_STATES

        clocks.poll_until(holding, timeout_s, interval, lambda: MagnetTimeoutError(
            f"{self._name()}: field not holding after {timeout_s:g} s: state {state!r}, "
            f"field {self._field_T():.4f} T"))

    def pause(self) -> None:
        """Stop the ramp where the field is now."""
        self._ensure_prepared()
        self._pause()

    def zero(self) -> None:
        """Ramp the field to zero at the rate last set (driving a persistent magnet first)."""
        self._ensure_prepared()
        self._ensure_driven()
        self._zero()

    def quenched(self) -> bool:
        return self._quenched()

    def state(self) -> str:
        self._ensure_prepared()
        return self._state()

    # ---- shared procedure -----------------------------------------------------------------

    def _ensure_prepared(self) -> None:
        if not self._prepared:
            self._prepare()
            self._prepared = True

    def _ensure_driven(self) -> None:
        """Couple the supply to the coil, heating the persistent switch if it is cold."""
        if not self._switch_installed():
            return
        if self._switch_heater_on():
            self._wait_for_switch()
            return
        coil_A = self._magnet_current_A()
        if abs(self._supply_current_A() - coil_A) > self.current_match_A:
            self._ramp_leads_to(coil_A)
            self.wait_until_holding(self.switch_timeout_s)
        self._heat_switch()
        self._wait_for_switch()

    def _name(self) -> str:
        return getattr(self.supply, "name", type(self.supply).__name__)

    # ---- hooks ----------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Put the supply into the units the hooks rely on (run once, before the first use)."""

    def _field_T(self) -> float:
        raise NotImplementedError

    def _write_ramp_rate(self, tesla_per_min: float) -> None:
        raise NotImplementedError

    def _ramp_to(self, tesla: float) -> None:
        raise NotImplementedError

    def _state(self) -> str:
        """One of: ramping, holding, paused, zeroing, at_zero, quench, or a supply-specific name."""
        raise NotImplementedError

    def _pause(self) -> None:
        raise NotImplementedError

    def _zero(self) -> None:
        raise NotImplementedError

    def _quenched(self) -> bool:
        raise NotImplementedError

    def _switch_installed(self) -> bool:
        return False

    def _switch_heater_on(self) -> bool:
        raise NotImplementedError

    def _magnet_current_A(self) -> float:
        raise NotImplementedError

    def _supply_current_A(self) -> float:
        raise NotImplementedError

    def _ramp_leads_to(self, amps: float) -> None:
        raise NotImplementedError

    def _heat_switch(self) -> None:
        raise NotImplementedError

    def _wait_for_switch(self) -> None:
        """Return once the switch heater has done its work (heated or cooled)."""


__all__ = ["Coil", "MagnetSupplyAdapter", "MagnetError", "MagnetQuenchError", "MagnetTimeoutError",
           "HOLDING_STATES"]
