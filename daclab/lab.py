"""Lab files: which driver, on which VISA resource, plays each role.

A lab file (YAML) names the roles of the setup; procedures ask the lab for a role and never see
a brand. The same procedures run at the cryostat and on the virtual cryostat: only the lab file
differs (``daclab/labs/simulated.yaml`` binds every role to a sim_configs twin)::

    name: Cryostat 2, Keithley delta + Lakeshore 370
    limits: {max_current_A: 0.08, max_field_T: 9}          # SoftwareLimits fields
    simulation: {sample: ceh9_cell1, start_K: 300}          # only in a simulated lab
    roles:
      temperature:
        kind: temperature_controller
        driver: lakeshore350:LakeShore350                   # module in daclab.instruments : class or factory
        resource: ASRL3::INSTR
        visa_library: sim:lakeshore350.yaml                 # sim:<file> = that sim config @sim
        options: {}                                         # keyword arguments of the driver
      delta:
        kind: resistance_meter
        driver: keithley6221:Keithley6221
        adapter: keithley6221:DeltaResistanceMeter          # wraps the driver when it is not the role itself
        adapter_options: {current_A: 1.0e-3}
        ...

Entries that name the same driver, resource and library share one instrument object (one 6221
serves delta, pulse and conductance roles).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import os
import pkgutil
import re
import threading
from pathlib import Path
from typing import Any


from daclab import roles
from daclab.connection import guard, session_owner
from daclab.limits import SoftwareLimits
from daclab.yaml_file import read_yaml

ROLE_KINDS: dict[str, type] = {
    "temperature_controller": roles.TemperatureController,
    "resistance_meter": roles.ResistanceMeter,
    "pulse_source": roles.PulseSource,
    "conductance_source": roles.ConductanceSource,
    "current_step_source": roles.CurrentStepSource,
    "magnet": roles.MagnetSupply,
}

LABS_DIR = Path(__file__).parent / "labs"


class LabFileError(ValueError):
    """A lab file that cannot be used; the message names the entry, the key and the value."""


@dataclasses.dataclass(frozen=True)
class RoleBinding:
    name: str
    kind: str
    driver: str
    resource: str
    visa_library: str = ""
    options: dict = dataclasses.field(default_factory=dict)
    adapter: str | None = None
    adapter_options: dict = dataclasses.field(default_factory=dict)

    @property
    def connection_key(self) -> tuple[str, str]:
        """The VISA connection the role talks through."""
        return self.resource, self.visa_library

    @property
    def instrument_key(self) -> tuple[str, str, str, str]:
        """Roles with the same key share one driver object: the same driver on the same
        connection with the same options (two SIM921s in ports 1 and 2 of one SIM900 differ in
        their options only, and are two instruments)."""
        return self.driver, self.resource, self.visa_library, json.dumps(self.options, sort_keys=True, default=str)


@dataclasses.dataclass(frozen=True)
class Simulation:
    sample: str = "ceh9_cell1"
    start_K: float = 300.0
    seed: int = 0
    speedup: float = math.inf  # virtual seconds per wall second; inf = instant

    def __post_init__(self):
        # checked when the file is read, not when the lab is opened hours later
        if not isinstance(self.sample, str) and not hasattr(self.sample, "tc_K"):
            raise ValueError(f"sample = {self.sample!r} must be a preset name or a sample file path")
        if isinstance(self.start_K, bool) or not isinstance(self.start_K, (int, float)) \
                or not 0.0 < self.start_K <= 400.0:
            raise ValueError(f"start_K = {self.start_K!r} is outside the allowed range (0, 400] K")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed = {self.seed!r} must be a whole number")
        if isinstance(self.speedup, bool) or not isinstance(self.speedup, (int, float)) or not self.speedup > 0:
            raise ValueError(f"speedup = {self.speedup!r} is not allowed; it must be > 0 (inf = instant)")


@dataclasses.dataclass(frozen=True)
class LabConfig:
    name: str
    roles: dict[str, RoleBinding]
    limits: SoftwareLimits = SoftwareLimits()
    simulation: Simulation | None = None
    source: str = ""  # the file it was read from

    @property
    def knows_its_sample(self) -> bool:
        """A simulated lab knows its sample (name, pressure, synthesis date) from the preset;
        at a real cryostat the user gives them."""
        return self.simulation is not None


def lab_path(path_or_name: str | Path) -> Path:
    if not isinstance(path_or_name, (str, os.PathLike)):
        raise LabFileError(f"lab = {path_or_name!r} is not a lab name or a lab file path")
    path = Path(path_or_name)
    if path.is_file():
        return path
    named = LABS_DIR / f"{path_or_name}.yaml"
    if named.is_file():
        return named
    known = ", ".join(sorted(p.stem for p in LABS_DIR.glob("*.yaml")))
    raise FileNotFoundError(f"lab {str(path_or_name)!r} is neither a file nor a built-in lab; built-in: {known}")


def load_lab(path_or_name: str | Path) -> LabConfig:
    path = lab_path(path_or_name)
    data, _ = read_yaml(path, LabFileError, "lab")  # the safe loader; a bad file is one LabFileError line
    return parse_lab(data, source=str(path))


def parse_lab(data: Any, source: str = "lab") -> LabConfig:
    if not isinstance(data, dict):
        raise LabFileError(f"{source}: expected a mapping with name, roles (and limits, simulation)")
    _only_keys(source, data, {"name", "roles", "limits", "simulation"})
    if not isinstance(data.get("roles"), dict) or not data["roles"]:
        raise LabFileError(f"{source}: 'roles' must map role names to driver entries")
    bindings = {name: _binding(source, name, entry) for name, entry in data["roles"].items()}
    limits = _dataclass_from(source, "limits", SoftwareLimits, data.get("limits") or {})
    simulation = None
    if data.get("simulation") is not None:
        simulation = _dataclass_from(source, "simulation", Simulation, data["simulation"])
    return LabConfig(str(data.get("name", source)), bindings, limits, simulation, source)


def _binding(source: str, name: str, entry: Any) -> RoleBinding:
    where = f"{source}: roles.{name}"
    if not isinstance(entry, dict):
        raise LabFileError(f"{where}: expected a mapping with kind, driver, resource")
    _only_keys(where, entry, {f.name for f in dataclasses.fields(RoleBinding)} - {"name"})
    for key in ("kind", "driver", "resource"):
        if not entry.get(key):
            raise LabFileError(f"{where}: missing '{key}'")
    for key in ("kind", "driver", "resource", "visa_library", "adapter"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise LabFileError(f"{where}: {key} = {entry[key]!r} must be text")
    for key in ("options", "adapter_options"):
        if entry.get(key) is not None and not isinstance(entry[key], dict):
            raise LabFileError(f"{where}: {key} = {entry[key]!r} must be a mapping of keyword: value")
    if entry["kind"] not in ROLE_KINDS:
        raise LabFileError(f"{where}: kind = {entry['kind']!r} is not a role; roles: {', '.join(ROLE_KINDS)}")
    for key in ("driver", "adapter"):
        if entry.get(key) is not None:
            try:
                import_driver(str(entry[key]))  # resolved now: a lab file names drivers, nothing else
            except LabFileError as error:
                raise LabFileError(f"{where}: {key} = {error}") from None
    return RoleBinding(name=name, **entry)


def _only_keys(where: str, data: dict, allowed: set[str]) -> None:
    unknown = sorted(key if isinstance(key, str) else repr(key) for key in set(data) - allowed)
    if unknown:
        raise LabFileError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _dataclass_from(source: str, section: str, cls, values: dict):
    if not isinstance(values, dict):
        raise LabFileError(f"{source}: '{section}' must be a mapping")
    _only_keys(f"{source}: {section}", values, {f.name for f in dataclasses.fields(cls)})
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise LabFileError(f"{source}: {section}: {error}") from None


def import_driver(spec: str):
    """The class (or factory) a lab file names as 'module:Class' in daclab.instruments.

    Only a class or function defined in one of daclab's instrument modules is accepted, so a lab
    file cannot reach anything else (a module's imports, builtins, another package).
    """
    import daclab.instruments

    module_name, _, class_name = spec.partition(":")
    modules = {info.name for info in pkgutil.iter_modules(daclab.instruments.__path__)}
    if not re.fullmatch(r"[a-z][a-z0-9_]*", module_name) or module_name not in modules:
        raise LabFileError(f"{spec!r}: {module_name!r} is not a module of daclab.instruments; "
                           f"modules: {', '.join(sorted(modules))}")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", class_name):
        raise LabFileError(f"{spec!r} must be 'module:Class', a class or factory of daclab.instruments")
    module = importlib.import_module(f"daclab.instruments.{module_name}")
    found = getattr(module, class_name, None)
    if not ((inspect.isclass(found) or inspect.isfunction(found))
            and getattr(found, "__module__", "").startswith("daclab.instruments.")):
        raise LabFileError(f"{spec!r}: daclab.instruments.{module_name} defines no class or factory "
                           f"{class_name!r}")
    return found


def visa_library_argument(visa_library: str) -> str:
    """'sim:<file>' -> '<path of that sim config>@sim'; anything else unchanged ('' = default)."""
    if visa_library.startswith("sim:"):
        from daclab.sim import sim_config

        return f"{sim_config(visa_library[4:])}@sim"
    return visa_library


class Lab:
    """An opened lab: instruments are connected on first use of a role and closed together."""

    def __init__(self, config: LabConfig):
        self.config = config
        self.world = None
        if config.simulation is not None:
            from daclab import clock, sim

            s = config.simulation
            self.world = sim.use(sim.VirtualCryostat(s.sample, clock.VirtualClock(speedup=s.speedup),
                                                     start_K=s.start_K, seed=s.seed))
        self._instruments: dict[tuple, Any] = {}
        self._roles: dict[str, Any] = {}
        # one VISA session and one lock per connection, whatever number of drivers use it (the
        # modules of one SIM900, say): a second session to a serial port is refused or steals
        # its bytes, and two locks would let two drivers' messages interleave
        self._sessions: dict[tuple[str, str], Any] = {}
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        # two threads asking for a role at once (the status panel and a measurement) must get
        # one driver, not two drivers with a lock each on one connection
        self._opening = threading.Lock()

    @classmethod
    def open(cls, path_or_name: str | Path, **simulation: Any) -> Lab:
        """Open a lab file; for a simulated lab, keywords override its ``simulation`` section
        (``sample``, ``start_K``, ``seed``, ``speedup``), e.g. ``Lab.open("simulated", sample="lah10_aging")``."""
        config = load_lab(path_or_name)
        if simulation:
            if config.simulation is None:
                raise LabFileError(f"{config.source}: not a simulated lab; {', '.join(simulation)} cannot be set")
            changed = _dataclass_from(config.source, "simulation", Simulation,
                                      {**dataclasses.asdict(config.simulation), **simulation})
            config = dataclasses.replace(config, simulation=changed)
        return cls(config)

    def role(self, name: str):
        if name not in self.config.roles:
            raise KeyError(f"the lab has no role {name!r}; roles: {', '.join(self.config.roles)}")
        with self._opening:
            if name not in self._roles:
                self._roles[name] = self._build(self.config.roles[name])
            return self._roles[name]

    def instrument(self, role_name: str):
        """The driver object behind a role (shared by the roles on one instrument)."""
        self.role(role_name)
        return self._instruments[self.config.roles[role_name].instrument_key]

    def exclusive(self, role_name: str) -> threading.RLock:
        """The lock of the connection behind a role, to hold across several reads that must form
        one snapshot (``with lab.exclusive("temperature"): ...``); each single query holds it
        anyway (:mod:`daclab.connection`)."""
        return guard(self.instrument(role_name))

    def identity(self, role_name: str) -> str:
        """The instrument's own identification (*IDN?) behind a role, for the data file header."""
        instrument = self.instrument(role_name)
        try:
            return " ".join(str(instrument.id).split())
        except Exception as error:  # an unanswered *IDN? must not stop a measurement
            return f"{getattr(instrument, 'name', type(instrument).__name__)} (no identification: {error})"

    def known_sample(self):
        """What the lab itself knows of its sample (a :class:`daclab.sample_info.SampleInfo`):
        the preset of a simulated lab; nothing (blank fields) at a real cryostat."""
        from daclab.sample_info import SampleInfo

        return SampleInfo() if self.world is None else SampleInfo.of_simulation(self.world)

    def roles_of_kind(self, kind: str) -> list[str]:
        return [name for name, b in self.config.roles.items() if b.kind == kind]

    def _build(self, binding: RoleBinding):
        instrument = self._instruments.get(binding.instrument_key)
        if instrument is None:
            instrument = self._connect(binding)
            self._instruments[binding.instrument_key] = instrument
        role = instrument
        if binding.adapter:
            role = import_driver(binding.adapter)(instrument, limits=self.config.limits, **binding.adapter_options)
        expected = ROLE_KINDS[binding.kind]
        if not isinstance(role, expected):
            raise LabFileError(f"roles.{binding.name}: {type(role).__name__} does not implement {expected.__name__}")
        return role

    def _connect(self, binding: RoleBinding):
        """A new driver object for ``binding``, through the connection's session when another
        driver opened it already, and guarded with the connection's lock."""
        driver = import_driver(binding.driver)
        kwargs = dict(binding.options)
        session = self._sessions.get(binding.connection_key)
        if session is None:
            library = visa_library_argument(binding.visa_library)
            if library:
                kwargs["visa_library"] = library
        if not binding.adapter and "limits" in inspect.signature(driver).parameters:
            kwargs["limits"] = self.config.limits  # a driver that plays the role itself checks them
        instrument = driver(binding.resource if session is None else session, **kwargs)
        # The status panel reads it from another thread. A module in a mainframe (a SIM921 in
        # its SIM900) talks through the mainframe, which takes the connection's lock too.
        lock = self._locks.setdefault(binding.connection_key, threading.RLock())
        mainframe = getattr(getattr(instrument, "adapter", None), "mainframe", None)
        if mainframe is not None:
            guard(mainframe, lock)
        guard(instrument, lock)
        self._sessions.setdefault(binding.connection_key, session_owner(instrument))
        return instrument

    def close(self) -> None:
        for instrument in self._instruments.values():
            try:
                instrument.adapter.close()
            except Exception:  # closing must go on for the others
                pass
        self._instruments.clear()
        self._roles.clear()
        self._sessions.clear()
        self._locks.clear()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
