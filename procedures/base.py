"""What every daclab measurement shares: the lab, the sample, checks, progress and the safe end.

A procedure is a pymeasure :class:`~pymeasure.experiment.Procedure`, so pymeasure's Worker, its
ManagedWindow and its Results files work with it unchanged; daclab's own runner
(:mod:`daclab.runner`) calls the same ``startup`` / ``execute`` / ``shutdown``.

- **Roles, not brands.** ``self.role("temperature")`` asks the lab for a role; the lab file
  binds it to a driver. Every role a procedure used is put in its safe state by ``shutdown``.
- **Checks first.** :meth:`LabProcedure.check` converts every parameter, refuses an out-of-range
  one with its name, value and allowed range, and checks the measurement's own rules against the
  lab's software limits, all before the first instrument is opened. ``startup`` calls it.
- **The safe end.** ``shutdown`` runs on success, abort and exception alike: current sources off
  and their sweeps aborted, the magnet paused where it is, the temperature controller holding the
  present temperature (or at a standby temperature, or with its heater off, as chosen). Each step
  runs even when an earlier one fails (a dropped instrument must not leave the others unsafe).
- **One clock.** Every wait goes through :mod:`daclab.clock`, so a simulated night takes seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

from pymeasure.experiment import (BooleanParameter, FloatParameter, IntegerParameter, ListParameter,
                                  Metadata, Parameter, Procedure)

from daclab import __version__
from daclab import clock as clocks
from daclab.analysis.pressure import PRESSURE_SCALES
from daclab.lab import Lab, LabConfig, load_lab
from daclab.limits import LimitError
from daclab.sample_info import SampleInfo

log = logging.getLogger(__name__)

END_TEMPERATURE_MODES = ("hold", "standby", "heater off")
# Role kinds whose stop() turns a current off; stopped first at shutdown.
SOURCE_KINDS = ("pulse_source", "conductance_source", "current_step_source", "resistance_meter")
WAIT_CHUNK_S = 10.0  # long waits are cut into chunks so an abort is seen within this time


class Stopped(Exception):
    """Raised inside ``execute`` when the user asked to stop; the runner treats it as an abort."""


class LabProcedure(Procedure):
    """Base of every daclab measurement (see the module docstring)."""

    lab_file = Parameter("Lab file", default="simulated")
    sample_name = Parameter("Sample", default="")
    cell_id = Parameter("Cell", default="")
    pressure_GPa = FloatParameter("Pressure", units="GPa", default=0.0, minimum=0.0, maximum=600.0)
    pressure_scale = ListParameter("Pressure scale", choices=list(PRESSURE_SCALES), default="akahama2006")
    synthesis_date = Parameter("Synthesis date", default="")
    end_temperature = ListParameter("Temperature controller at the end", choices=list(END_TEMPERATURE_MODES),
                                    default="hold")
    standby_K = FloatParameter("Standby temperature", units="K", default=300.0, minimum=1.5, maximum=320.0)

    # Resolved at startup (a simulated lab fills in its preset), written into the file header.
    run_sample = Metadata("Run sample", fget="_sample_name")
    run_cell = Metadata("Run cell", fget="_sample_cell")
    run_pressure = Metadata("Run pressure", fget="_sample_pressure")
    run_synthesis = Metadata("Run synthesis date", fget="_sample_synthesis")
    run_days = Metadata("Days since synthesis at start", fget="_days_at_start", fmt="%.3f")
    run_lab = Metadata("Lab", fget="_lab_name")
    run_lab_file = Metadata("Lab source", fget="_lab_source")
    run_instruments = Metadata("Instruments", fget="_instrument_identities")
    run_version = Metadata("daclab version", fget="_version")
    run_started = Metadata("Started", fget="_started_iso")

    def __init__(self, lab: Lab | None = None, **kwargs):
        unknown = sorted(set(kwargs) - set(self.parameter_names()))
        if unknown:
            raise LimitError(f"{type(self).__name__}: unknown parameter(s) {', '.join(unknown)}; "
                             f"parameters: {', '.join(self.parameter_names())}")
        super().__init__(**kwargs)
        self.lab = lab
        self._owns_lab = False
        self._used_roles: dict[str, str] = {}
        self.sample = SampleInfo()
        self.analysis: list[dict[str, Any]] = []
        self.eta_s = math.nan
        self._start_now = math.nan
        self._start_timestamp = math.nan

    # ---- parameters -----------------------------------------------------------------------

    @classmethod
    def parameter_names(cls) -> list[str]:
        return [name for name in dir(cls) if isinstance(getattr(cls, name, None), Parameter)]

    def convert_parameters(self) -> None:
        """Cast every parameter through its pymeasure Parameter; refuse one that does not fit,
        naming it, its value and what is allowed (pymeasure's own messages name neither)."""
        for name, template in self._parameters.items():
            value = getattr(self, name)
            try:
                template.value = value
            except (TypeError, ValueError) as error:
                raise LimitError(f"{template.name} ({name}) = {value!r} is not allowed: {_allowed(template)}"
                                 f" ({error})") from None
            setattr(self, name, template.value)

    def check(self, config: LabConfig | None = None) -> None:
        """Every check that needs no instrument: parameter types and ranges, the lab has the roles,
        the measurement's own rules (:meth:`validate`) against the lab's software limits."""
        self.convert_parameters()
        if config is None:
            config = self.lab.config if self.lab is not None else load_lab(self.lab_file)
        missing = [role for role in self.needed_roles() if role not in config.roles]
        if missing:
            raise LimitError(f"lab {config.name!r} has no role(s) {', '.join(missing)} needed by {type(self).__name__}; "
                             f"its roles: {', '.join(config.roles)}")
        config.limits.temperature("standby temperature (standby_K)", self.standby_K)
        SampleInfo(pressure_GPa=self.pressure_GPa or math.nan, pressure_scale=self.pressure_scale,
                   synthesis_date=self.synthesis_date)
        self.validate(config)

    def needed_roles(self) -> list[str]:
        """Names of the lab roles this run will use (checked against the lab file before opening it)."""
        return ["temperature"]

    def validate(self, config: LabConfig) -> None:
        """The measurement's own rules (e.g. a current below the lab's limit); raise LimitError."""

    def estimated_duration_s(self) -> float:
        """Expected length of the run on the lab clock, from the parameters alone."""
        return math.nan

    # ---- the pymeasure life cycle ---------------------------------------------------------

    def startup(self) -> None:
        self.check()
        if self.lab is None:
            self.lab = Lab.open(self.lab_file)
            self._owns_lab = True
        self.sample = self._resolve_sample()
        self._start_now = clocks.current().now()
        self._start_timestamp = clocks.current().timestamp()
        log.info("%s on %s: sample %r, cell %r", type(self).__name__, self.lab.config.name, self.sample.name,
                 self.sample.cell)

    def execute(self) -> None:
        """Runs :meth:`acquire`; a stop request ends it quietly, as pymeasure's Worker expects
        (the points taken so far are already written)."""
        try:
            self.acquire()
        except Stopped as stop:
            log.info("%s", stop)

    def acquire(self) -> None:
        """The measurement itself (subclasses): emit points, honour stop requests via
        :meth:`raise_if_stopped` or :meth:`wait`."""
        raise NotImplementedError

    def shutdown(self) -> None:
        """The safe state, whatever happened before (see the module docstring)."""
        if self.lab is None:
            return
        by_kind = sorted(self._used_roles.items(),
                         key=lambda item: (item[1] not in SOURCE_KINDS, item[1] != "magnet"))
        for name, kind in by_kind:
            try:
                self._make_safe(name, kind)
            except Exception:  # go on with the others: each must still be made safe
                log.exception("could not put role %r (%s) in its safe state", name, kind)
        if self._owns_lab:
            self.lab.close()
            self.lab, self._owns_lab = None, False

    def _make_safe(self, name: str, kind: str) -> None:
        role = self.lab.role(name)
        if kind in SOURCE_KINDS:
            role.stop()
        elif kind == "magnet":
            role.pause()
        elif kind == "temperature_controller":
            if self.end_temperature == "heater off":
                role.heater_off()
            elif self.end_temperature == "standby":
                role.set_setpoint(self.standby_K, rate_K_per_min=None)
            else:
                role.set_setpoint(role.temperature())

    # ---- for subclasses -------------------------------------------------------------------

    def role(self, name: str):
        """A lab role, remembered so that shutdown makes it safe."""
        role = self.lab.role(name)
        self._used_roles[name] = self.lab.config.roles[name].kind
        return role

    def elapsed_s(self) -> float:
        return clocks.current().now() - self._start_now

    def timestamp(self) -> float:
        return clocks.current().timestamp()

    def raise_if_stopped(self) -> None:
        if self.should_stop():
            raise Stopped(f"{type(self).__name__} stopped on request after {self.elapsed_s():.0f} s")

    def wait(self, seconds: float) -> None:
        """Wait on the lab clock, looking for a stop request every ``WAIT_CHUNK_S``."""
        end = clocks.current().now() + seconds
        while True:
            self.raise_if_stopped()
            remaining = end - clocks.current().now()
            if remaining <= 0:
                return
            clocks.sleep(min(remaining, WAIT_CHUNK_S))

    def stabilise(self, kelvin: float, tolerance_K: float, stable_s: float, timeout_s: float,
                  rate_K_per_min: float | None = None) -> float:
        """Go to ``kelvin`` (at ``rate_K_per_min`` if given) and wait until it holds; returns the
        temperature then read. Raises :class:`Stopped` on a stop request, TimeoutError on time-out."""
        controller = self.role("temperature")
        controller.set_setpoint(kelvin, rate_K_per_min=rate_K_per_min)
        if not controller.wait_for_temperature(kelvin, tolerance_K, stable_s, timeout_s,
                                               poll_s=min(1.0, stable_s or 1.0), should_stop=self.should_stop):
            self.raise_if_stopped()
        return controller.temperature()

    def report_progress(self, fraction: float) -> None:
        """Emit the fraction done (percent, pymeasure's 'progress') and the estimated time left."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        elapsed = self.elapsed_s()
        if fraction > 0:
            self.eta_s = elapsed * (1.0 - fraction) / fraction
        else:
            self.eta_s = self.estimated_duration_s()
        self.emit("progress", 100.0 * fraction)
        self.emit("eta", self.eta_s)

    def emit_analysis(self, kind: str, **values: Any) -> dict[str, Any]:
        """A result found while measuring (Tc of a curve, Ic at a temperature, a normalised
        spectrum): kept on the procedure and emitted as topic 'analysis'."""
        record = {"kind": kind, **values}
        self.analysis.append(record)
        self.emit("analysis", record)
        return record

    # ---- metadata -------------------------------------------------------------------------

    def _resolve_sample(self) -> SampleInfo:
        """The parameters as given; blanks filled in from what the lab knows of its sample."""
        given = SampleInfo(self.sample_name, self.cell_id, self.pressure_GPa or math.nan, self.pressure_scale,
                           self.synthesis_date)
        known = self.lab.known_sample()
        return SampleInfo(given.name or known.name, given.cell or known.cell,
                          known.pressure_GPa if math.isnan(given.pressure_GPa) else given.pressure_GPa,
                          given.pressure_scale, given.synthesis_date or known.synthesis_date)

    def days_since_synthesis(self) -> float:
        return self.sample.days_since_synthesis(self.timestamp())

    def _sample_name(self) -> str:
        return self.sample.name

    def _sample_cell(self) -> str:
        return self.sample.cell

    def _sample_pressure(self) -> str:
        if math.isnan(self.sample.pressure_GPa):
            return "not measured"
        return f"{self.sample.pressure_GPa:g} GPa ({self.sample.pressure_scale})"

    def _sample_synthesis(self) -> str:
        return self.sample.synthesis_date or "unknown"

    def _days_at_start(self) -> float:
        return self.sample.days_since_synthesis(self._start_timestamp)

    def _lab_name(self) -> str:
        return self.lab.config.name

    def _lab_source(self) -> str:
        return self.lab.config.source or self.lab_file

    def _instrument_identities(self) -> str:
        return "; ".join(f"{name}: {self.lab.identity(name)}" for name in self.needed_roles())

    def _version(self) -> str:
        return __version__

    def _started_iso(self) -> str:
        return dt.datetime.fromtimestamp(self._start_timestamp).astimezone().isoformat(timespec="seconds")


def _allowed(parameter: Parameter) -> str:
    if isinstance(parameter, (FloatParameter, IntegerParameter)):
        units = f" {parameter.units}" if parameter.units else ""
        return f"allowed range [{parameter.minimum:g}, {parameter.maximum:g}]{units}"
    if isinstance(parameter, ListParameter):
        return f"allowed: {', '.join(map(str, parameter.choices))}"
    if isinstance(parameter, BooleanParameter):
        return "allowed: true or false"
    return "it must be text"
