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
- **Segments.** A measurement is made of segments (one R-T leg, one field, one temperature of
  pulses or spectra, one aging visit) that :meth:`LabProcedure.run_segment` runs. They are what a
  suspension (:mod:`daclab.suspenders`) retakes and what a resumed sequence skips when done
  (``done_segments``): a leg resumed half-way would carry a different thermal lag, and a
  spectrum or an I-V half taken at another moment is not one curve, so the unit of a retake is
  the segment, never a lone point. Every analysis record names the segment it belongs to
  (``"segment"``), so that a resumed procedure gets back the records of the segments it skips
  (:meth:`LabProcedure.restore`) and its fits go on using every field, temperature or spectrum.
- **Fits off the acquisition path.** A fit of what is measured so far (Hc2(T) after a field,
  Jc(T) after a temperature, the BTK fit of a spectrum, the aging rate) runs on the procedure's
  analysis thread (:meth:`LabProcedure.analyse_in_background`), so the next reading never waits
  for it; ``shutdown`` lets the fits asked for finish, so every one is in the step's records.
  The quick reductions a later point needs (the Tc of a leg, the Ic of a sweep, a spectrum's
  background for the next spectrum's normalised column) stay in line.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from typing import Any, Callable, TypeVar

from pymeasure.experiment import (BooleanParameter, FloatParameter, IntegerParameter, ListParameter,
                                  Metadata, Parameter, Procedure)

from daclab import __version__
from daclab import clock as clocks
from daclab.analysis.live import BackgroundFit
from daclab.analysis.pressure import PRESSURE_SCALES
from daclab.connection import InstrumentFault
from daclab.lab import Lab, LabConfig, load_lab
from daclab.limits import LimitError
from daclab.sample_info import SampleInfo
from daclab.suspenders import CHECK_INTERVAL_S, InstrumentLost, Suspended, Suspender, SuspendTimeout

log = logging.getLogger(__name__)

END_TEMPERATURE_MODES = ("hold", "standby", "heater off")
# Role kinds whose stop() turns a current off; stopped first at shutdown.
SOURCE_KINDS = ("pulse_source", "conductance_source", "current_step_source", "resistance_meter")
ELAPSED_COLUMNS = ("Time (s)", "Elapsed time (s)")  # the data columns that hold elapsed_s()
WAIT_CHUNK_S = 10.0  # long waits are cut into chunks so an abort is seen within this time
ANALYSIS_FINISH_S = 600.0  # wall time shutdown gives the fits still running (a BTK fit takes ~0.1 s)


T = TypeVar("T")


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
        self._resumed_time: tuple[float | None, float] | None = None  # see continue_elapsed_time
        self._elapsed_before_s = 0.0  # a resumed step's time before this part began
        self.done_segments: set[str] = set()  # segments finished before (a resumed sequence sets it)
        self.suspenders: list[Suspender] = []  # set by the sequence engine
        self._in_segment = False
        self._segment: str | None = None  # key of the segment running, for the analysis records
        self._work_segment = threading.local()  # the same for the work on the analysis thread
        self._next_suspender_check = -math.inf
        self._analysis_thread: BackgroundFit | None = None
        self._analysis_requests = 0

    # ---- parameters -----------------------------------------------------------------------

    @classmethod
    def parameter_names(cls) -> list[str]:
        return [name for name in dir(cls) if isinstance(getattr(cls, name, None), Parameter)]

    def convert_parameters(self) -> None:
        """Cast every parameter through its pymeasure Parameter; refuse one that does not fit,
        naming it, its value and what is allowed (pymeasure's own messages name neither)."""
        for name, template in self._parameters.items():
            value = getattr(self, name)
            if value is None:
                raise LimitError(f"{template.name} ({name}) = None: give a value; {allowed_values(template)}")
            try:
                template.value = value
                converted = template.value
            except (TypeError, ValueError, OverflowError) as error:
                raise LimitError(f"{template.name} ({name}) = {value!r} is not allowed: {allowed_values(template)}"
                                 f" ({error})") from None
            # pymeasure's range check is false for NaN, which would pass; only "blank" parameters
            # (NaN by default) may be NaN
            if (isinstance(template, FloatParameter) and math.isnan(converted)
                    and not (isinstance(template.default, float) and math.isnan(template.default))):
                raise LimitError(f"{template.name} ({name}) = {value!r} is not a number: {allowed_values(template)}")
            setattr(self, name, converted)

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
        self.check_suspenders(config)
        self.validate(config)

    def needed_roles(self) -> list[str]:
        """Names of the lab roles this run will use (checked against the lab file before opening it)."""
        return ["temperature"]

    def check_suspenders(self, config: LabConfig) -> None:
        """Every suspender reads a role kind the lab has."""
        kinds = {role.kind for role in config.roles.values()}
        for suspender in self.suspenders:
            if suspender.role_kind and suspender.role_kind not in kinds:
                raise LimitError(f"the {suspender.name} suspender needs a {suspender.role_kind} role; lab "
                                 f"{config.name!r} has none")

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
        self._elapsed_before_s = 0.0
        if self._resumed_time is not None:
            first_started, last_kept_s = self._resumed_time
            since_first = -math.inf if first_started is None else self._start_timestamp - first_started
            self._elapsed_before_s = max(since_first, last_kept_s)
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
        self._finish_analysis()
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
                # a thermometer at base may read a little below the lowest setpoint allowed
                limits = self.lab.config.limits
                role.set_setpoint(min(max(role.temperature(), limits.min_temperature_K), limits.max_temperature_K))

    # ---- for subclasses -------------------------------------------------------------------

    def role(self, name: str):
        """A lab role, remembered so that shutdown makes it safe."""
        role = self.lab.role(name)
        self._used_roles[name] = self.lab.config.roles[name].kind
        return role

    def elapsed_s(self) -> float:
        """Lab seconds since the step started (its first part's start, for a resumed step)."""
        return clocks.current().now() - self._start_now + self._elapsed_before_s

    def continue_elapsed_time(self, first_started: float | None, last_kept_s: float) -> None:
        """A resumed step: its elapsed time (the data's time column) goes on from its first part
        rather than from 0. It counts from ``first_started``, the time stamp at which the step
        first started, so the time the run was down shows as a gap; where that is unknown or
        runs backwards (a virtual cryostat started again in another process has its own time
        line), from ``last_kept_s``, the time of the last row kept."""
        self._resumed_time = (first_started, last_kept_s)

    def timestamp(self) -> float:
        return clocks.current().timestamp()

    def raise_if_stopped(self) -> None:
        """Raise :class:`Stopped` on a stop request, :class:`Suspended` when a suspender trips
        inside a segment (asked at most every ``CHECK_INTERVAL_S`` of lab time)."""
        if self.should_stop():
            raise Stopped(f"{type(self).__name__} stopped on request after {self.elapsed_s():.0f} s")
        if self._in_segment and self.suspenders and clocks.current().now() >= self._next_suspender_check:
            self._next_suspender_check = clocks.current().now() + CHECK_INTERVAL_S
            tripped = self._tripped_suspenders()
            if tripped:
                raise Suspended(*tripped[0])

    def run_segment(self, key: str, body: Callable[[], T]) -> T | None:
        """Run one segment of the measurement (see the module docstring); returns what ``body``
        returns, or None when the segment was done before (a resumed sequence).

        A suspender tripping inside it discards the segment's points (the runner moves them
        aside), waits until every condition clears and runs ``body`` again from its start; a
        condition that outlasts its time-out raises :class:`SuspendTimeout`, which ends the run
        in the safe state.
        """
        if key in self.done_segments:
            log.info("%s: segment %s was done before; skipped", type(self).__name__, key)
            return None
        while True:
            self.emit("segment", {"key": key, "state": "start"})
            self._in_segment, self._segment, self._next_suspender_check = True, key, -math.inf
            try:
                value = body()
            except Suspended as suspension:
                self.emit("segment", {"key": key, "state": "discard", "reason": str(suspension)})
                self._wait_until_clear(suspension)
                continue
            except InstrumentFault as fault:
                lost = next((s for s in self.suspenders if isinstance(s, InstrumentLost)), None)
                if lost is None:
                    raise
                self.emit("segment", {"key": key, "state": "discard", "reason": str(fault)})
                self._wait_for_instrument(fault, lost)
                continue
            finally:
                self._in_segment, self._segment = False, None
            self.emit("segment", {"key": key, "state": "done"})
            self.done_segments.add(key)
            return value

    def _tripped_suspenders(self) -> list[tuple[Suspender, str]]:
        tripped = []
        for suspender in self.suspenders:
            if not suspender.polled:
                continue
            reason = suspender.tripped(self._suspender_role(suspender))
            if reason:
                tripped.append((suspender, reason))
        return tripped

    def _suspender_role(self, suspender: Suspender):
        for name, role in self.lab.config.roles.items():
            if role.kind == suspender.role_kind:
                return self.role(name)
        raise LimitError(f"lab {self.lab.config.name!r} has no {suspender.role_kind} for the "
                         f"{suspender.name} suspender")

    def _wait_until_clear(self, suspension: Suspended) -> None:
        """Poll the suspenders until none trips."""
        def still() -> str | None:
            tripped = self._tripped_suspenders()
            return f"{tripped[0][0].name}: {tripped[0][1]}, still" if tripped else None

        self._wait_suspended(suspension, suspension.suspender.timeout_min, still, "every suspender is clear")

    def _wait_for_instrument(self, fault: InstrumentFault, suspender: InstrumentLost) -> None:
        """Ask the lost instrument for its identification until it answers."""
        def still() -> str | None:
            try:
                fault.probe()
            except (InstrumentFault, OSError, ValueError):
                return f"{fault.instrument} still not answering"
            return None

        self._wait_suspended(fault, suspender.timeout_min, still, f"{fault.instrument} answers again")

    def _wait_suspended(self, cause: Exception, timeout_min: float, still: Callable[[], str | None],
                        cleared: str) -> None:
        """Wait while ``still()`` says why the run cannot go on, asking every ``CHECK_INTERVAL_S``;
        SuspendTimeout once that has lasted ``timeout_min``."""
        clock = clocks.current()
        deadline = clock.now() + timeout_min * 60.0
        log.warning("%s suspended: %s", type(self).__name__, cause)
        self.emit("suspend", {"reason": str(cause)})
        while True:
            if self.should_stop():
                raise Stopped(f"{type(self).__name__} stopped on request while suspended ({cause})")
            why = still()
            if why is None:
                log.warning("%s resumes: %s", type(self).__name__, cleared)
                self.emit("resume", {"after": str(cause)})
                return
            if clock.now() >= deadline:
                raise SuspendTimeout(f"{why} after {timeout_min:g} min; the run ends in the safe state")
            clock.sleep(CHECK_INTERVAL_S)

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
        temperature then read. Raises :class:`Stopped` on a stop request, TimeoutError when it does
        not hold ``timeout_s`` after the ramp would have arrived (the ramp's own time is not the
        controller's fault: from 300 K to 2 K at 1 K/min is five hours)."""
        controller = self.role("temperature")
        ramp_s = abs(controller.temperature() - kelvin) / rate_K_per_min * 60.0 if rate_K_per_min else 0.0
        controller.set_setpoint(kelvin, rate_K_per_min=rate_K_per_min)
        if not controller.wait_for_temperature(kelvin, tolerance_K, stable_s, timeout_s + ramp_s,
                                               poll_s=min(1.0, stable_s or 1.0), should_stop=self.should_stop):
            self.raise_if_stopped()
        return controller.temperature()

    def report_progress(self, fraction: float) -> None:
        """Emit the fraction done (percent, pymeasure's 'progress') and the estimated time left."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        elapsed = clocks.current().now() - self._start_now  # this part's own pace, not a resumed step's gap
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
        segment = getattr(self._work_segment, "key", self._segment)  # set only on the analysis thread
        if segment is not None:
            record["segment"] = segment
        self.analysis.append(record)
        self.emit("analysis", record)
        return record

    def analyse_in_background(self, work: Callable[[], None], segment: str | None = None) -> None:
        """Run ``work`` (a fit of data already taken, which emits its own analysis records and
        logs its own failures) on the procedure's analysis thread, after the work asked for
        before it. Returns at once: the measurement goes on while it runs. Give ``work`` copies
        of the data it fits, since the measurement keeps appending to its own lists. Its records
        belong to the segment being measured, or to ``segment`` (data of a segment done before)."""
        if self._analysis_thread is None:
            self._analysis_thread = BackgroundFit(self._run_work, name=f"{type(self).__name__} analysis")
        self._analysis_requests += 1  # a key of its own: every request is done, none replaced by a newer one
        self._analysis_thread.submit((segment if segment is not None else self._segment, work),
                                     key=self._analysis_requests)

    def _run_work(self, request: tuple[str | None, Callable[[], None]]) -> None:
        """On the analysis thread: the work's records belong to the segment that asked for it."""
        self._work_segment.key, work = request
        work()

    def restore(self, records: list[dict[str, Any]]) -> None:
        """Before a resume: the analysis records of the segments done before, in the order they
        were measured (:func:`daclab.sequence.journal_state`). A procedure whose fits use earlier
        segments (Tc(H) of the fields done, Jc of the temperatures done) takes their inputs
        back from here; by default nothing is needed."""

    def _finish_analysis(self) -> None:
        """Let the fits asked for finish (shutdown, once the instruments are safe)."""
        if self._analysis_thread is None:
            return
        thread, self._analysis_thread = self._analysis_thread, None
        thread.close(ANALYSIS_FINISH_S)
        if not thread.idle:
            log.warning("%s: fits still running after %.0f s; their results are not in this step's records",
                        type(self).__name__, ANALYSIS_FINISH_S)

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


def allowed_values(parameter: Parameter) -> str:
    if isinstance(parameter, (FloatParameter, IntegerParameter)):
        units = f" {parameter.units}" if parameter.units else ""
        return f"allowed range [{parameter.minimum:g}, {parameter.maximum:g}]{units}"
    if isinstance(parameter, ListParameter):
        return f"allowed: {', '.join(map(str, parameter.choices))}"
    if isinstance(parameter, BooleanParameter):
        return "allowed: true or false"
    return "it must be text"
