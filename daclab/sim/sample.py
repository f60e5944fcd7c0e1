"""The simulated sample: a hydride in a diamond anvil cell, described by a sample file.

A sample file (YAML, see ``sim_configs/samples/``) has ten required keys, so that anyone can
describe a new cell, and optional keys for the finer effects of PHYSICS.md section 8. Every
quantity the simulated instruments read (four-probe voltage, bridge resistance, point-contact
voltage) comes from the functions of :class:`Sample`, which are pure: they take temperature,
field and age as arguments and keep no state, so the same sample answers the same way whichever
instrument asks.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from daclab.analysis.bcs import bcs_gap
from daclab.analysis.btk import btk_conductance
from daclab.analysis.pinning import jc_delta_l
from daclab.analysis.whh import whh_tc_of_field

# 10-90 % width of 0.5 (1 + tanh(x / w)) is 2 atanh(0.8) w.
_TANH_WIDTH_FACTOR = 2.0 * math.atanh(0.8)
# Once superconducting paths percolate the resistance is zero, not the endless tail of a tanh:
# resistive fractions below this are taken as none.
_PERCOLATION_FRACTION = 1e-5
# Inside the transition the superconducting paths still carry a small supercurrent even where
# the pinning model's Ic has vanished, so the I-V there is non-ohmic rather than normal (paper 001
# sees this between the offset and the onset): a fraction of Ic(0), scaled by the
# superconducting fraction left. Small enough (3.6 mA for the CeH9 cell) that the pinning law
# rules Ic(T) up to a few kelvin below its zero, yet above the 1 mA of delta mode over most of
# the transition, so R(T) read in delta mode matches the bridges there.
_TRANSITION_IC_FRACTION = 0.003

REQUIRED_KEYS = (
    "name", "tc_K", "transition_width_K", "hc2_0_T", "r_normal_ohm", "jc0_A_cm2",
    "cross_section_um2", "gap_meV", "barrier_z", "gamma_meV",
)


class SampleFileError(ValueError):
    """A sample file that cannot describe a sample; the message names the key and the value."""


@dataclasses.dataclass(frozen=True)
class SecondStep:
    """A second superconducting phase: a fraction of the resistance drops at its own Tc."""

    tc_K: float
    fraction: float
    width_K: float


@dataclasses.dataclass(frozen=True)
class Sample:
    # Required keys.
    name: str
    tc_K: float
    transition_width_K: float
    hc2_0_T: float
    r_normal_ohm: float
    jc0_A_cm2: float
    cross_section_um2: tuple[float, float]
    gap_meV: float
    barrier_z: float
    gamma_meV: float
    # Optional keys with their defaults.
    pressure_GPa: float | None = None
    jc_tc_K: float | None = None  # where Ic vanishes; default: the 10 % point of the transition
    second_step: SecondStep | None = None
    residual_resistance_ohm: float = 0.0
    residual_fraction: float = 0.5  # R_n(0) / R_n(Tc) of the normal state
    phonon_scale_K: float = 150.0  # where the phonon term turns from T^2 to linear
    hc2_anisotropy: float = 1.0  # Hc2(H in plane) / Hc2(H along the cell axis)
    field_angle_deg: float = 0.0  # angle of the field from the cell axis
    field_broadening: float = 0.5  # relative width increase at Hc2(0)
    contact_normal_ohm: float = 20.0  # point-contact junction resistance 1/G_N
    spreading_resistance_ohm: float = 1.0
    background_per_mV: tuple[float, ...] = (0.0, -2.0e-6)  # G_bg = 1 + c1 V + c2 V^2 + ..., V in mV
    lead_resistance_ohm: float = 10.0  # current leads + contacts, heated by the source current
    thermal_resistance_K_per_W: float = 300.0  # sample to cell body
    heating_time_constant_s: float = 0.5  # ms pulses stay far below it; DC reaches the steady rise
    noise_nV: float = 3.0
    thermoelectric_offset_uV: float = 1.0
    thermoelectric_drift_nV_per_min: float = 10.0
    days_since_synthesis: float = 0.0
    tc_final_K: float | None = None  # aging: Tc tends to this as hydrogen leaves
    aging_time_constant_days: float = 7.0

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "sample") -> Sample:
        if not isinstance(data, dict):
            raise SampleFileError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            raise SampleFileError(f"{source}: missing required key(s) {', '.join(missing)}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        known = set(fields)
        unknown = sorted(repr(key) if not isinstance(key, str) else key for key in data if key not in known)
        if unknown:
            raise SampleFileError(
                f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
            )
        values = dict(data)
        if isinstance(values["name"], (dict, list)) or values["name"] is None:
            raise SampleFileError(f"{source}: name = {_show(values['name'])} must be a line of text")
        values["name"] = str(values["name"])
        for key, value in list(values.items()):
            if key in ("name", "second_step", "cross_section_um2", "background_per_mV"):
                continue
            if value is not None or fields[key].default is not None:  # None: an optional key not given
                values[key] = _number(source, key, value)
        values["cross_section_um2"] = _pair(source, "cross_section_um2", values["cross_section_um2"])
        background = values.get("background_per_mV", cls.background_per_mV)
        if not isinstance(background, (list, tuple)):
            raise SampleFileError(f"{source}: background_per_mV = {_show(background)} must be a list of "
                                  f"coefficients [c1, c2, ...] per mV")
        values["background_per_mV"] = tuple(_number(source, "background_per_mV", c) for c in background)
        if values.get("second_step") is not None:
            step = values["second_step"]
            if not isinstance(step, dict) or set(step) != {"tc_K", "fraction", "width_K"}:
                raise SampleFileError(f"{source}: second_step needs exactly tc_K, fraction and width_K, "
                                      f"got {_show(step)}")
            values["second_step"] = SecondStep(**{k: _number(source, f"second_step.{k}", v) for k, v in step.items()})
        sample = cls(**values)
        sample._check_ranges(source)
        return sample

    def _check_ranges(self, source: str) -> None:
        checks = [
            ("tc_K", self.tc_K, 0.5, 400.0),
            ("transition_width_K", self.transition_width_K, 0.01, 100.0),
            ("hc2_0_T", self.hc2_0_T, 0.01, 1000.0),
            ("r_normal_ohm", self.r_normal_ohm, 1e-6, 1e6),
            ("jc0_A_cm2", self.jc0_A_cm2, 1.0, 1e10),
            ("gap_meV", self.gap_meV, 0.01, 200.0),
            ("barrier_z", self.barrier_z, 0.0, 20.0),
            ("gamma_meV", self.gamma_meV, 0.0, 50.0),
            ("residual_fraction", self.residual_fraction, 0.0, 1.0),
            ("hc2_anisotropy", self.hc2_anisotropy, 0.05, 20.0),
            ("contact_normal_ohm", self.contact_normal_ohm, 1e-3, 1e6),
            ("aging_time_constant_days", self.aging_time_constant_days, 1e-3, 1e4),
            # The optional keys: wide bounds, but each one the model divides by or heats with
            # stays away from zero and from a number that would overflow it.
            ("residual_resistance_ohm", self.residual_resistance_ohm, 0.0, 1e6),
            ("phonon_scale_K", self.phonon_scale_K, 1.0, 1e5),
            ("field_angle_deg", self.field_angle_deg, -360.0, 360.0),
            ("field_broadening", self.field_broadening, 0.0, 100.0),
            ("spreading_resistance_ohm", self.spreading_resistance_ohm, 0.0, 1e6),
            ("lead_resistance_ohm", self.lead_resistance_ohm, 0.0, 1e6),
            ("thermal_resistance_K_per_W", self.thermal_resistance_K_per_W, 0.0, 1e9),
            ("heating_time_constant_s", self.heating_time_constant_s, 1e-6, 1e6),
            ("noise_nV", self.noise_nV, 0.0, 1e9),
            ("thermoelectric_offset_uV", self.thermoelectric_offset_uV, -1e6, 1e6),
            ("thermoelectric_drift_nV_per_min", self.thermoelectric_drift_nV_per_min, -1e9, 1e9),
            ("days_since_synthesis", self.days_since_synthesis, 0.0, 1e5),
        ]
        if self.pressure_GPa is not None:
            checks.append(("pressure_GPa", self.pressure_GPa, 0.0, 600.0))
        if self.jc_tc_K is not None:
            checks.append(("jc_tc_K", self.jc_tc_K, 0.01, 400.0))
        checks += [("background_per_mV", c, -1e3, 1e3) for c in self.background_per_mV]
        if self.second_step is not None:
            checks += [
                ("second_step.tc_K", self.second_step.tc_K, 0.5, 400.0),
                ("second_step.fraction", self.second_step.fraction, 0.0, 1.0),
                ("second_step.width_K", self.second_step.width_K, 0.01, 100.0),
            ]
        if self.tc_final_K is not None:
            checks.append(("tc_final_K", self.tc_final_K, 0.0, self.tc_K))
        for name, value, low, high in checks:
            if not low <= value <= high:
                raise SampleFileError(f"{source}: {name} = {value} is outside the allowed range [{low}, {high}]")
        for name, value in zip(("width", "thickness"), self.cross_section_um2):
            if not 0.001 <= value <= 1000.0:
                raise SampleFileError(
                    f"{source}: cross_section_um2 {name} = {value} um is outside the allowed range [0.001, 1000]"
                )

    # ---- transition ---------------------------------------------------------------------

    def tc_at_age(self, days: float) -> float:
        """Zero-field midpoint Tc after ``days`` more since the sample file was written.

        Hydrogen diffuses out of a freshly laser-heated hydride and Tc decays towards
        ``tc_final_K`` (paper 002: 160 K down to 70-85 K over weeks).
        """
        if self.tc_final_K is None:
            return self.tc_K
        age = self.days_since_synthesis + days
        return self.tc_final_K + (self.tc_K - self.tc_final_K) * math.exp(-age / self.aging_time_constant_days)

    def effective_hc2_0(self) -> float:
        """Hc2(0) for the field angle: anisotropic GL, Hc2(theta) = Hc2_c / sqrt(cos^2 + sin^2/g^2)."""
        theta = math.radians(self.field_angle_deg)
        return self.hc2_0_T / math.sqrt(math.cos(theta) ** 2 + (math.sin(theta) / self.hc2_anisotropy) ** 2)

    def tc_in_field(self, field_T: float, days: float = 0.0, tc0: float | None = None) -> float:
        """Transition midpoint in a field, following WHH with the sample's Hc2(0)."""
        tc0 = self.tc_at_age(days) if tc0 is None else tc0
        if field_T == 0.0:
            return tc0
        hc2 = self.effective_hc2_0() * tc0 / self.tc_K  # Hc2(0) scales with Tc as the sample ages
        return _whh_tc(abs(field_T), tc0, hc2)

    def _field_broadening(self, field_T: float) -> float:
        """Factor by which a field widens every step of the transition."""
        return 1.0 + self.field_broadening * abs(field_T) / self.effective_hc2_0()

    def normal_fraction(self, temperature_K, field_T: float = 0.0, days: float = 0.0):
        """Fraction of the normal-state resistance left at T (0 superconducting, 1 normal)."""
        t = np.asarray(temperature_K, dtype=float)
        tc0 = self.tc_at_age(days)
        scale = tc0 / self.tc_K
        broadening = self._field_broadening(field_T)

        def step(tc_zero_field: float, width: float):
            tc = self.tc_in_field(field_T, days, tc_zero_field)
            return 0.5 * (1.0 + np.tanh((t - tc) * _TANH_WIDTH_FACTOR / (width * broadening)))

        fraction = step(tc0, self.transition_width_K)
        if self.second_step is not None:
            second = step(self.second_step.tc_K * scale, self.second_step.width_K)
            fraction = (1.0 - self.second_step.fraction) * fraction + self.second_step.fraction * second
        return np.clip((fraction - _PERCOLATION_FRACTION) / (1.0 - _PERCOLATION_FRACTION), 0.0, None)

    def normal_state_resistance(self, temperature_K):
        """R_n(T): residual plus a phonon term ~T^2 at low T turning linear, R_n(Tc) = r_normal_ohm."""
        t = np.asarray(temperature_K, dtype=float)

        def phonon(x):
            return x * x / (1.0 + x / self.phonon_scale_K)

        r0 = self.residual_fraction * self.r_normal_ohm
        return r0 + (self.r_normal_ohm - r0) * phonon(t) / phonon(self.tc_K)

    def resistance(self, temperature_K, field_T: float = 0.0, days: float = 0.0):
        """Four-probe resistance in the low-current limit."""
        return self.residual_resistance_ohm + self.normal_state_resistance(temperature_K) * self.normal_fraction(
            temperature_K, field_T, days
        )

    # ---- critical current and I-V -------------------------------------------------------

    @property
    def area_cm2(self) -> float:
        width_um, thickness_um = self.cross_section_um2
        return width_um * thickness_um * 1e-8

    def critical_current(self, temperature_K: float, field_T: float = 0.0, days: float = 0.0) -> float:
        """Ic in A from Jc(0), the delta-l pinning model and the cross-section.

        Ic vanishes at ``jc_tc_K`` (default: the lower edge of the transition), which ages and
        moves in field with the transition itself.
        """
        tc0 = self.tc_at_age(days)
        if self.jc_tc_K is not None:
            tc_pin = self.jc_tc_K * tc0 / self.tc_K
        else:
            tc_pin = max(tc0 - 0.5 * self.transition_width_K, 0.01)
        tc_pin *= self.tc_in_field(field_T, days) / tc0
        return float(jc_delta_l(temperature_K, tc_pin, self.jc0_A_cm2)) * self.area_cm2

    def transport_critical_current(self, temperature_K: float, field_T: float = 0.0, days: float = 0.0,
                                   normal_fraction: float | None = None) -> float:
        """The current at which a voltage appears: the pinning Ic, or near and inside the
        transition the small supercurrent its superconducting paths still carry."""
        f = self.normal_fraction(temperature_K, field_T, days) if normal_fraction is None else normal_fraction
        floor = _TRANSITION_IC_FRACTION * self.jc0_A_cm2 * self.area_cm2 * (1.0 - float(f))
        return max(self.critical_current(temperature_K, field_T, days), floor)

    def heating(self, current_A: float, temperature_K: float, field_T: float, days: float,
                duration_s: float | None) -> float:
        """Temperature rise of the sample under a current (Joule heat in leads and sample).

        ``duration_s=None`` is a DC current (steady state); a pulse of width w reaches only
        1 - exp(-w / tau) of the steady rise, which is why pulsed I-V avoids heating.
        """
        fraction = 1.0 if duration_s is None else -math.expm1(-duration_s / self.heating_time_constant_s)
        rise = 0.0
        for _ in range(4):  # the resistance depends on the temperature it causes
            r = float(self.resistance(temperature_K + rise, field_T, days))
            power = current_A ** 2 * (self.lead_resistance_ohm + r)
            rise = power * self.thermal_resistance_K_per_W * fraction
        return rise

    def four_probe_voltage(self, current_A: float, temperature_K: float, field_T: float = 0.0,
                           days: float = 0.0, duration_s: float | None = None) -> float:
        """Noise-free sample voltage for a source current, with Joule heating and flux flow.

        The resistive fraction f of the transition is ohmic; the superconducting rest carries up
        to Ic without voltage and flux-flows with the normal-state slope beyond it.
        """
        t = temperature_K + self.heating(current_A, temperature_K, field_T, days, duration_s)
        f = float(self.normal_fraction(t, field_T, days))
        r_n = float(self.normal_state_resistance(t))
        ic = self.transport_critical_current(t, field_T, days, f)
        excess = max(abs(current_A) - ic, 0.0)
        magnitude = self.residual_resistance_ohm * abs(current_A) + r_n * (f * abs(current_A) + (1.0 - f) * excess)
        return math.copysign(magnitude, current_A)

    # ---- point contact ------------------------------------------------------------------

    def gap(self, temperature_K: float, field_T: float = 0.0, days: float = 0.0) -> float:
        """Delta(T) in meV: BCS shape closing at the transition midpoint."""
        tc = self.tc_in_field(field_T, days)
        scale = self.tc_at_age(days) / self.tc_K
        return float(bcs_gap(temperature_K, tc, self.gap_meV * scale))

    def contact_conductance(self, junction_mV, temperature_K: float, field_T: float = 0.0, days: float = 0.0):
        """dI/dV of the junction in siemens: G_N x BTK(Delta(T), Z, Gamma, T) x smooth background."""
        v = np.asarray(junction_mV, dtype=float)
        delta = self.gap(temperature_K, field_T, days)
        if delta > 1e-6:
            normalised = btk_conductance(v, delta, self.barrier_z, self.gamma_meV, temperature_K)
        else:
            normalised = np.ones_like(v)
        background = 1.0 + sum(c * v ** (n + 1) for n, c in enumerate(self.background_per_mV))
        background = np.maximum(background, 0.1)  # a junction never conducts negatively
        return normalised * background / self.contact_normal_ohm

    def contact_voltage(self, current_A: float, temperature_K: float, field_T: float = 0.0, days: float = 0.0) -> float:
        """Voltage across the point contact (junction plus spreading resistance) in volts."""
        junction_mV, current = _contact_iv_table(self, round(temperature_K, 3), round(field_T, 4), round(days, 4))
        if abs(current_A) <= current[-1]:
            v_mV = float(np.interp(current_A, current, junction_mV))
        else:  # beyond the table the junction is ohmic with its end conductance
            end_slope = (junction_mV[-1] - junction_mV[-2]) / (current[-1] - current[-2])
            v_mV = math.copysign(junction_mV[-1] + (abs(current_A) - current[-1]) * end_slope, current_A)
        return v_mV * 1e-3 + current_A * self.spreading_resistance_ohm


@lru_cache(maxsize=4096)
def _whh_tc(field_T: float, tc_K: float, hc2_0_T: float) -> float:
    # A sweep asks for the same field many times; the WHH root costs milliseconds.
    return float(whh_tc_of_field(field_T, tc_K, hc2_0_T))


@lru_cache(maxsize=64)
def _contact_iv_table(sample: Sample, temperature_K: float, field_T: float, days: float):
    """I(V) of the junction, integrated from its conductance on a grid wide enough for 6 gaps."""
    v_max = max(200.0, 8.0 * sample.gap_meV)
    v = np.linspace(-v_max, v_max, 4001)
    g = sample.contact_conductance(v, temperature_K, field_T, days)  # S
    # trapezoid integral from 0 so that I(0) = 0; mV * S = mA, hence 1e-3 to amperes
    cumulative = np.concatenate(([0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(v)))) * 1e-3
    current = cumulative - np.interp(0.0, v, cumulative)
    return v, current


def _show(value: Any) -> str:
    """A value in a message, cut short when it is huge (a file of junk must not flood the line)."""
    return reprlib.repr(value)


def _number(source: str, key: str, value: Any) -> float:
    """A finite number (NaN or infinity would pass no range check and poison every reading)."""
    if isinstance(value, bool):
        raise SampleFileError(f"{source}: {key} = {value!r} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SampleFileError(f"{source}: {key} = {_show(value)} must be a number") from None
    if not math.isfinite(number):
        raise SampleFileError(f"{source}: {key} = {_show(value)} must be a finite number")
    return number


def _pair(source: str, key: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise SampleFileError(f"{source}: {key} = {_show(value)} must be [width, thickness] in micrometres")
    return (_number(source, key, value[0]), _number(source, key, value[1]))


def load_sample(path_or_name: str | Path) -> Sample:
    """Load a sample file by path, or a preset by name (file stem in sim_configs/samples).

    Only plain YAML is read (a tag that would build an object is refused); every problem is a
    SampleFileError naming the file, and the line where the YAML itself is wrong.
    """
    from daclab.sim.configs import sample_path
    from daclab.yaml_file import read_yaml

    path = sample_path(path_or_name)
    data, _ = read_yaml(path, SampleFileError, "sample")
    return Sample.from_dict(data, source=str(path))
