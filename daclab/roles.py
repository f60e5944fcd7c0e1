"""The roles procedures depend on, instead of instrument brands.

A lab file binds each role to a driver and a VISA resource. Each role is small on purpose: what
a measurement needs, nothing a front panel has. Drivers (or thin adapters beside them in
``instruments/``) implement these methods; every wait inside them goes through
:func:`daclab.clock.sleep`, and every value is checked against the hardware limits and the
:class:`daclab.limits.SoftwareLimits` before a command is written.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class TemperatureController(Protocol):
    def temperature(self) -> float:
        """Control thermometer reading, K."""

    def set_setpoint(self, kelvin: float, rate_K_per_min: float | None = None) -> None:
        """Go to ``kelvin``; at ``rate_K_per_min`` if given (ramp), else at once."""

    def ramp_done(self) -> bool:
        """True when the setpoint has stopped moving."""

    def setpoint(self) -> float:
        """The control loop's present setpoint, K (moving during a ramp)."""

    def heater_output(self) -> float:
        """Heater output, percent of the present range (0 with the heater off)."""

    def wait_for_temperature(self, kelvin: float, tolerance_K: float, stable_s: float, timeout_s: float,
                             poll_s: float = 1.0, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait on the clock until ``kelvin`` is held within ``tolerance_K`` for ``stable_s``.

        True when settled, False when ``should_stop()`` ended the wait; TimeoutError after ``timeout_s``.
        """

    def heater_off(self) -> None:
        """Heater range off: the safe state at the end of a procedure."""


@runtime_checkable
class ResistanceMeter(Protocol):
    """Four-probe sample resistance: 6221/2182A delta mode, Lakeshore 370, or SIM921."""

    def resistance(self) -> float:
        """One reading in ohm (averaged as the meter is configured)."""

    def set_excitation(self, current_A: float) -> None:
        """Excitation current amplitude (delta high level, or bridge excitation)."""

    def stop(self) -> None:
        """Excitation off / measurement aborted: the safe state."""


@runtime_checkable
class PulseSource(Protocol):
    """Pulsed I-V (6221/2182A pulse delta)."""

    def pulse_iv(self, currents_A: Sequence[float], width_s: float, period_s: float) -> np.ndarray:
        """One pulse per current; returns an (n, 2) array of (current A, voltage V)."""

    def stop(self) -> None:
        ...


@runtime_checkable
class ConductanceSource(Protocol):
    """Differential conductance by current steps (6221/2182A DCON)."""

    def differential_conductance(self, start_A: float, stop_A: float, step_A: float, delta_A: float,
                                 delay_s: float) -> dict[str, np.ndarray]:
        """Keys: ``current_A``, ``voltage_V`` (average), ``dv_V`` (per dI), ``didv_S``."""

    def stop(self) -> None:
        ...


@runtime_checkable
class CurrentStepSource(Protocol):
    """DC current steps with a voltage reading at each (paper 001's dI/dV by three small steps)."""

    def voltages_at(self, currents_A: Sequence[float], settle_s: float) -> np.ndarray:
        """For each current in turn: source it (DC, output on), wait ``settle_s`` on the clock,
        read the voltage. Returns the voltages, V, one per current."""

    def stop(self) -> None:
        """Output off: the safe state."""


@runtime_checkable
class MagnetSupply(Protocol):
    def field(self) -> float:
        """Present field, T."""

    def set_ramp_rate(self, tesla_per_min: float) -> None:
        ...

    def set_field(self, tesla: float) -> None:
        """Set the target and start ramping to it."""

    def wait_until_holding(self, timeout_s: float) -> None:
        """Wait (on the clock) until the field holds at the target; raise on quench or time-out."""

    def pause(self) -> None:
        ...

    def zero(self) -> None:
        ...

    def quenched(self) -> bool:
        ...

    def state(self) -> str:
        """The supply's ramp state by name (e.g. 'holding', 'ramping', 'paused', 'quench')."""
