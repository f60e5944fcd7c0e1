"""The instrument status panel: what the cryostat is doing now, read about once a second.

The panel reads the instruments on a thread of its own while a measurement may be using them on
another. Every read of one instrument is grouped under the lock of its connection
(``lab.exclusive(role)``), so the group is one snapshot and no query of the measurement can slip
between a command and its reply. A read that has to wait for that lock waits on the poller's
thread, never on the GUI thread; the panel then marks the values stale.

What is read, through the lab's roles (so any brand that plays them works):

- temperature controller: the control thermometer (the stage: the cell body with its sensor),
  an optional second sensor on the sample, the setpoint (it moves during a ramp), whether it
  ramps and at what rate, the heater output and range;
- magnet supply: field and ramp state;
- current sources (every instrument behind a role that has an output switch): whether any
  output is on, shown as a large red badge, because a current left on heats the sample.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from typing import Any, Callable

from qtpy.QtCore import QObject, Qt, QTimer, Signal
from qtpy.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from daclab import clock
from daclab.connection import single_attempt
from daclab.lab import LabFileError, import_driver

NAN = math.nan
STALE_AFTER_S = 5.0
# Roles whose instrument may drive a current through the sample: the sources themselves and the
# meters that excite it (a 6221 in delta mode plays a resistance meter).
CURRENT_SOURCE_KINDS = ("pulse_source", "conductance_source", "current_step_source", "resistance_meter")
SOURCE_SWITCH = "source_enabled"  # the driver attribute that reads the output switch (OUTP?)


@dataclasses.dataclass(frozen=True)
class InstrumentStatus:
    """One snapshot of the instruments; NaN / None / '' where the lab has no such instrument or
    the read failed (then ``problems`` says which and why)."""

    timestamp: float = NAN  # epoch seconds on the lab's clock (virtual in a simulated lab)
    sample_K: float = NAN
    stage_K: float = NAN
    setpoint_K: float = NAN
    ramping: bool | None = None
    ramp_rate_K_per_min: float = NAN  # NaN: unknown; 0: the ramp has no rate limit
    heater_percent: float = NAN
    heater_range: str = ""  # "off", "range 3", '' unknown
    field_T: float = NAN
    magnet_state: str = ""  # the supply's state name, e.g. "holding", "ramping", "quench"
    source_output_on: bool | None = None  # None: no current source, or its switch could not be read
    sample_sensor: str = ""  # which sensor gives sample_K ("input B"); '' none configured
    current_sources: tuple[str, ...] = ()  # the roles whose output switch was asked
    problems: tuple[str, ...] = ()


# ---- reading -------------------------------------------------------------------------------


class _FailedRead(Exception):
    """One read of a group failed; the rest of that instrument's group is skipped."""


def _read(problems: list[str], what: str, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as error:  # any failure of one instrument must leave the others readable
        problems.append(f"{what}: {type(error).__name__}: {error}")
        raise _FailedRead from error


def _flags(status) -> str:
    """A reading-status flag set in words: 'invalid reading, temperature underrange'."""
    name = getattr(status, "name", None) or str(status)
    return name.replace("|", ", ").replace("_", " ").lower()


def _first_role(lab, kind: str) -> str | None:
    names = lab.roles_of_kind(kind)
    return names[0] if names else None


def _snapshot(lab, role: str, problems: list[str], read: Callable[[Any, dict[str, Any]], None]) -> dict[str, Any]:
    """``read(role object, values)`` under the lock of the role's connection; the values read
    before a failure are kept, the failure becomes a problem."""
    values: dict[str, Any] = {}
    try:
        with lab.exclusive(role):
            read(lab.role(role), values)
    except _FailedRead:
        pass
    except Exception as error:  # opening the connection failed
        problems.append(f"{role}: {type(error).__name__}: {error}")
    return values


def _read_temperature(lab, problems: list[str], sample_input: str | None) -> dict[str, Any]:
    name = _first_role(lab, "temperature_controller")
    if name is None:
        return {}

    def read(controller, values: dict[str, Any]) -> None:
        sensor = getattr(controller, "control_sensor", None)
        # a sensor that is unplugged or disabled reads 0 K: say so instead of showing 0 K
        status = _read(problems, f"{name}: stage sensor status", lambda: sensor.reading_status) if sensor else 0
        if status:
            problems.append(f"{name}: stage sensor reading is invalid ({_flags(status)})")
        else:
            values["stage_K"] = _read(problems, f"{name}: stage temperature", controller.temperature)
        values["setpoint_K"] = _read(problems, f"{name}: setpoint", controller.setpoint)
        values["ramping"] = not _read(problems, f"{name}: ramp status", controller.ramp_done)
        values["heater_percent"] = _read(problems, f"{name}: heater output", controller.heater_output)
        loop = getattr(controller, "control_loop", None)  # brand-specific extras, when the driver has them
        if loop is not None:
            heater_range = _read(problems, f"{name}: heater range", lambda: loop.heater_range)
            values["heater_range"] = "off" if heater_range == 0 else f"range {heater_range}"
            ramp = _read(problems, f"{name}: ramp setting", lambda: loop.ramp)
            values["ramp_rate_K_per_min"] = ramp.rate_K_per_min if ramp.enabled else 0.0
        letter = sample_input or getattr(controller, "sample_input", None)
        if letter:
            values["sample_sensor"] = f"input {letter}"
            values["sample_K"] = _read_sensor(problems, name, controller, letter)

    return _snapshot(lab, name, problems, read)


def _read_sensor(problems: list[str], role: str, controller, letter: str) -> float:
    sensor = getattr(controller, f"input_{letter}", None)
    if sensor is None:
        problems.append(f"{role}: the controller has no input {letter!r}")
        return NAN
    status = _read(problems, f"{role}: input {letter} status", lambda: sensor.reading_status)
    if status:
        problems.append(f"{role}: input {letter} reading is invalid ({_flags(status)})")
        return NAN
    return _read(problems, f"{role}: input {letter}", lambda: sensor.kelvin)


def _read_magnet(lab, problems: list[str]) -> dict[str, Any]:
    name = _first_role(lab, "magnet")
    if name is None:
        return {}

    def read(magnet, values: dict[str, Any]) -> None:
        values["field_T"] = _read(problems, f"{name}: field", magnet.field)
        values["magnet_state"] = _read(problems, f"{name}: state", magnet.state)

    return _snapshot(lab, name, problems, read)


def _driver_has_source_switch(binding) -> bool:
    """Whether the driver class named in the lab file reads an output switch, decided without
    opening the instrument (a bridge the measurement does not use stays closed)."""
    try:
        driver = import_driver(binding.driver)
    except (ImportError, LabFileError):
        return False
    return hasattr(driver, SOURCE_SWITCH)


def current_source_roles(lab) -> list[str]:
    """One role per instrument that can drive a current through the sample and reports its
    output switch (one 6221 plays delta, pulse, conductance and steps: it is named once)."""
    chosen, seen = [], set()
    for name, binding in lab.config.roles.items():
        if binding.kind in CURRENT_SOURCE_KINDS and binding.instrument_key not in seen \
                and _driver_has_source_switch(binding):
            seen.add(binding.instrument_key)
            chosen.append(name)
    return chosen


def _read_sources(lab, problems: list[str]) -> dict[str, Any]:
    names = current_source_roles(lab)
    if not names:
        return {}
    states = []
    for name in names:
        def read(_role, values: dict[str, Any], name=name) -> None:
            instrument = lab.instrument(name)
            values["on"] = bool(_read(problems, f"{name}: output", lambda: getattr(instrument, SOURCE_SWITCH)))

        states.append(_snapshot(lab, name, problems, read).get("on"))
    # One output on is enough to warn; all off only when every switch was read.
    on = True if any(states) else False if all(s is False for s in states) else None
    return {"source_output_on": on, "current_sources": tuple(names)}


def read_status(lab, sample_input: str | None = None) -> InstrumentStatus:
    """Read every instrument the status panel shows; never raises.

    ``sample_input``: the temperature controller's input with a thermometer on the sample
    (e.g. "B"), if the cryostat has one besides the control sensor; default: the controller's
    own ``sample_input`` attribute if its driver has one, else none (sample_K NaN).
    """
    problems: list[str] = []
    values: dict[str, Any] = {}
    with single_attempt():
        _read_groups(lab, sample_input, problems, values)
    values = {key: (float(v) if key.endswith(("_K", "_T", "_percent", "_per_min")) else v) for key, v in values.items()}
    return InstrumentStatus(timestamp=clock.current().timestamp(), problems=tuple(problems), **values)


def _read_groups(lab, sample_input: str | None, problems: list[str], values: dict[str, Any]) -> None:
    for group in (lambda: _read_temperature(lab, problems, sample_input),
                  lambda: _read_magnet(lab, problems),
                  lambda: _read_sources(lab, problems)):
        try:
            values.update(group())
        except Exception as error:  # a fault in the lab itself must not end the polling
            problems.append(f"{type(error).__name__}: {error}")


# ---- polling -------------------------------------------------------------------------------


class StatusPoller(QObject):
    """Calls :func:`read_status` every ``interval_s`` of wall time on a thread of its own and
    emits each snapshot with :attr:`status` (delivered queued on the receiver's thread).

    One read at a time: the next starts ``interval_s`` after the previous one started, or at
    once when a read took longer (a read waiting for a busy instrument delays the next).
    """

    status = Signal(object)

    def __init__(self, lab, interval_s: float = 1.0, sample_input: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        if not interval_s > 0:
            raise ValueError(f"interval_s = {interval_s!r} must be > 0")
        self.lab = lab
        self.interval_s = interval_s
        self.sample_input = sample_input
        self.reads = 0  # completed reads, for tests and the log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.is_running():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="instrument status", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> bool:
        """Ask the thread to end and wait up to ``timeout_s`` for it; True when it has ended.

        A read blocked on a busy instrument finishes on its own later and emits nothing.
        """
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _poll(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            snapshot = read_status(self.lab, self.sample_input)
            if self._stop.is_set():
                return
            self.reads += 1
            try:
                self.status.emit(snapshot)
            except RuntimeError:  # the Qt object is gone: the window closed
                return
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))


# ---- showing -------------------------------------------------------------------------------


def _number(value: float, unit: str, decimals: int) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{decimals}f} {unit}"


def sample_text(status: InstrumentStatus) -> str:
    if not status.sample_sensor:
        return "no sample thermometer"
    return _number(status.sample_K, "K", 3)


def ramp_text(status: InstrumentStatus) -> str:
    """'ramping at 0.1 K/min', 'holding', 'heater off' or '—' (unknown).

    The ramp's end point is not shown: the 350 reports only the setpoint of the moment
    (SETP? follows the ramp), which is the Setpoint row.
    """
    if status.ramping is None:
        return "—"
    if status.ramping:
        rate = status.ramp_rate_K_per_min
        return "ramping" if math.isnan(rate) else f"ramping at {rate:.3g} K/min"
    return "heater off" if status.heater_range == "off" else "holding"


def heater_text(status: InstrumentStatus) -> str:
    if status.heater_range == "off":
        return "off"
    percent = _number(status.heater_percent, "%", 1)
    return f"{percent} ({status.heater_range})" if status.heater_range else percent


def magnet_text(status: InstrumentStatus) -> str:
    return status.magnet_state.replace("_", " ") if status.magnet_state else "—"


def source_badge(status: InstrumentStatus | None) -> tuple[str, str]:
    """(text, style sheet) of the current-source badge: text and colour both tell the state."""
    base = "border-radius: 4px; padding: 6px; font-weight: bold;"
    if status is None:
        return "source: no reading yet", f"{base} background: #e0e0e0; color: #616161;"
    if not status.current_sources:
        return "no current source", f"{base} background: #e0e0e0; color: #616161;"
    if status.source_output_on is None:
        return "SOURCE ? (not read)", f"{base} background: #ffb300; color: black; font-size: 15pt;"
    if status.source_output_on:
        return "SOURCE ON", f"{base} background: #c62828; color: white; font-size: 18pt;"
    return "source off", f"{base} background: #e0e0e0; color: #424242; font-size: 12pt;"


class StatusPanel(QWidget):
    """Side panel with the latest :class:`InstrumentStatus`: temperatures, setpoint and ramp,
    heater, field and magnet state, a source-output badge, a stale warning and the problems.

    ``now`` is the wall clock the stale check uses (``time.monotonic``; injectable for tests).
    """

    ROWS = (("sample", "Sample"), ("stage", "Stage"), ("setpoint", "Setpoint"), ("ramp", "Ramp"),
            ("heater", "Heater"), ("field", "Field"), ("magnet", "Magnet"), ("read_at", "Read at"))

    def __init__(self, parent: QWidget | None = None, interval_s: float = 1.0, stale_after_s: float = STALE_AFTER_S,
                 now: Callable[[], float] = time.monotonic):
        super().__init__(parent)
        self.interval_s = interval_s
        self.stale_after_s = stale_after_s
        self._now = now
        self._latest: InstrumentStatus | None = None
        self._received_at: float | None = None
        self._attached_at: float | None = None  # when polling began (stale if nothing comes)
        self.poller: StatusPoller | None = None

        layout = QVBoxLayout(self)
        title = QLabel("Instruments")
        title.setStyleSheet("font-weight: bold; font-size: 12pt;")
        layout.addWidget(title)
        self.badge = QLabel()
        self.badge.setAlignment(Qt.AlignCenter)
        layout.addWidget(self.badge)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.values: dict[str, QLabel] = {}
        for key, caption in self.ROWS:
            label = QLabel("—")
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            label.setWordWrap(True)
            self.values[key] = label
            form.addRow(f"{caption}:", label)
        layout.addLayout(form)
        self.stale = QLabel()
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("background: #ffb300; color: black; padding: 3px; font-weight: bold;")
        layout.addWidget(self.stale)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #b71c1c;")
        layout.addWidget(self.problems)
        layout.addStretch(1)

        self._stale_timer = QTimer(self)
        self._stale_timer.timeout.connect(self.check_stale)
        self._stale_timer.start(1000)
        self.show_status(None)

    # ---- the lab --------------------------------------------------------------------------

    def set_lab(self, lab, sample_input: str | None = None) -> None:
        """Poll ``lab`` from now on (None: stop polling and clear the panel)."""
        if self.poller is not None:
            self.poller.stop()
            self.poller.status.disconnect(self._receive)
            self.poller = None
        self._latest, self._received_at, self._attached_at = None, None, None
        self.show_status(None)
        if lab is not None:
            self._attached_at = self._now()
            self.poller = StatusPoller(lab, self.interval_s, sample_input, parent=self)
            self.poller.status.connect(self._receive)  # a method of this widget: queued to the GUI thread
            self.poller.start()

    def closeEvent(self, event) -> None:
        self.set_lab(None)
        super().closeEvent(event)

    # ---- display --------------------------------------------------------------------------

    def latest(self) -> InstrumentStatus | None:
        """The last status shown (None before the first)."""
        return self._latest

    def _receive(self, status: InstrumentStatus) -> None:
        # a snapshot already queued by a poller that has since been replaced is dropped
        if self.poller is not None and self.sender() is self.poller:
            self.show_status(status)

    def show_status(self, status: InstrumentStatus | None) -> None:
        if status is not None:
            self._latest, self._received_at = status, self._now()
        text, style = source_badge(status)
        self.badge.setText(text)
        self.badge.setStyleSheet(style)
        if status is None:
            for label in self.values.values():
                label.setText("—")
            self.problems.setText("")
            self.check_stale()
            return
        shown = {
            "sample": sample_text(status),
            "stage": _number(status.stage_K, "K", 3),
            "setpoint": _number(status.setpoint_K, "K", 3),
            "ramp": ramp_text(status),
            "heater": heater_text(status),
            "field": _number(status.field_T, "T", 4),
            "magnet": magnet_text(status),
            "read_at": "—" if math.isnan(status.timestamp) else time.strftime("%H:%M:%S",
                                                                               time.localtime(status.timestamp)),
        }
        for key, text in shown.items():
            self.values[key].setText(text)
        self.problems.setText("\n".join(status.problems))
        self.check_stale()

    def seconds_since_reading(self) -> float | None:
        """Wall seconds since the last status came (or since polling began); None if neither."""
        since = self._received_at if self._received_at is not None else self._attached_at
        return None if since is None else self._now() - since

    def is_stale(self) -> bool:
        """True when no status came for longer than ``stale_after_s``."""
        age = self.seconds_since_reading()
        return age is not None and age > self.stale_after_s

    def check_stale(self) -> None:
        if self.is_stale():
            self.stale.setText(f"STALE: no reading for {self.seconds_since_reading():.0f} s "
                               "(an instrument is busy or not answering)")
            self.stale.show()
        else:
            self.stale.hide()
