"""Binds pyvisa-sim devices to the virtual cryostat.

pyvisa-sim answers from its YAML file alone: properties hold what was last written and
dialogues give fixed replies. daclab keeps those files genuine (resource names, terminators,
command grammar, specs and error replies are all in the YAML and work in plain pyvisa-sim) and
adds one layer: when pyvisa-sim builds a device whose name has a *twin* registered here, the
twin's getters and setters take over the named properties, and the twin's actions run when the
named dialogues are received. The values that change then come from the shared physical model,
through the very ``write``/``query`` calls a driver makes on real hardware.

Rules kept by every twin:
- a twin can only bind commands that its YAML declares (binding fails loudly otherwise), so the
  YAML stays the complete grammar of the instrument;
- a value is checked against the YAML specs before the twin sees it; a value outside them, or a
  twin setter raising ValueError, gets the instrument's error behaviour: the device's
  ``execution_error`` register bit or queue entry when the YAML declares one, otherwise
  pyvisa-sim's command error; nothing reaches the model;
- faults from the cryostat's injector are applied to every command before it is answered.

Tests that must show what an instrument was told (no pulse above a limit ever written, nothing
sent after a stop) collect the messages in :func:`recording_commands`.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import pyvisa.errors
from pyvisa import constants
from pyvisa_sim import parser as sim_parser
from pyvisa_sim.channels import Channels
from pyvisa_sim.component import NoResponse, Property, to_bytes
from pyvisa_sim.highlevel import SimVisaLibrary

from daclab.sim import cryostat as worlds

Getter = Callable[[], Any]
Setter = Callable[[Any], "str | None"]

_TWINS: dict[str, type[Twin]] = {}
_RECORDERS: list[list[tuple[str, str]]] = []


@contextlib.contextmanager
def recording_commands() -> Iterator[list[tuple[str, str]]]:
    """Collect, while in the block, every message that reaches a twin as (device name, text).

    A message lost to an injected disconnect, closed connection or time-out never reached the
    instrument and is not collected; one whose reply comes back garbled did reach it. Blocks may
    nest; each gets every message sent inside it.
    """
    messages: list[tuple[str, str]] = []
    _RECORDERS.append(messages)
    try:
        yield messages
    finally:
        _RECORDERS.remove(messages)


def register_twin(cls: type[Twin]) -> type[Twin]:
    """Class decorator: devices of this name in any sim_configs YAML get this twin."""
    _TWINS[cls.device_name] = cls
    return cls


class Twin:
    """Translates one instrument's YAML grammar to the virtual cryostat.

    Subclasses set ``device_name`` and return from :meth:`properties` a mapping
    ``property name -> (getter, setter)`` (either may be None; for a property inside a pyvisa-sim
    channel group both take the channel id first), and from :meth:`actions` a mapping
    ``dialogue query -> callable`` run when that dialogue arrives. A setter may return a string:
    it is then sent as the reply instead of the YAML's fixed one (for queries with arguments,
    which pyvisa-sim can only express as setters).
    """

    device_name: str = ""

    def __init__(self):
        self.device = None
        self.reply: str | None = None
        self.refused = False  # the command in hand was refused: send no reply at all

    @property
    def world(self) -> worlds.VirtualCryostat:
        # Looked up on every command: pyvisa keeps one parsed library per file for the whole
        # process, so a twin must follow whichever world is in use now.
        return worlds.active()

    @property
    def state(self) -> dict:
        """This instrument's internal state in the world in use (buffers, modes, settings)."""
        states = self.world.instrument_state
        if self.device_name not in states:  # built once per world, not on every access
            states[self.device_name] = self.initial_state()
        return states[self.device_name]

    def initial_state(self) -> dict:
        """The instrument's state at power-on; override in twins that keep state."""
        return {}

    def properties(self) -> dict[str, tuple[Getter | None, Setter | None]]:
        return {}

    def actions(self) -> dict[str, Callable[[], str | None]]:
        return {}

    def clear_errors(self) -> None:
        """*CLS: empty the YAML's error queues and status registers (pyvisa-sim alone keeps them)."""
        for queue in self.device._error_queues.values():
            queue.clear()
        for register in self.device._status_registers.values():
            register.clear()

    def bound(self, device) -> None:
        """Called once the device is bound: a place for checks on the YAML beyond the bindings."""

    def route(self, query: bytes, match: Callable[[bytes], Any]):
        """Answer one message; ``match`` is pyvisa-sim's own matcher for the YAML grammar.

        Override for an instrument whose replies depend on a connection state, such as a mainframe
        forwarding messages to a module.
        """
        return match(query)


class _BoundProperty(Property):
    """A pyvisa-sim property whose value lives in the model instead of the YAML default.

    The original property is kept as the store for whatever the twin does not take over.
    """

    def __init__(self, original: Property, twin: Twin, getter, setter, channel: Channels | None):
        self.name, self.specs = original.name, original.specs
        self._original, self._twin, self._getter, self._setter, self._channel = original, twin, getter, setter, channel

    def _args(self):
        return (self._channel._selected,) if self._channel is not None else ()

    def get_value(self):
        if self._getter is None:
            return self._original.get_value()
        return self._getter(*self._args())

    def set_value(self, string_value) -> None:
        several = isinstance(string_value, (list, tuple))
        try:
            # Several arguments come as a list that the twin checks; one is checked against the specs.
            value = [str(v).strip() for v in string_value] if several else self.validate_value(str(string_value).strip())
            reply = self._setter(*self._args(), value) if self._setter else None
        except ValueError:
            if _signal_execution_error(self._twin.device):
                self._twin.refused = True
                return
            raise
        if reply is not None:
            self._twin.reply = reply
        # Keep what was written, so a query the twin does not answer echoes it like plain pyvisa-sim.
        self._original.set_value(",".join(value) if several else str(string_value).strip())


def _signal_execution_error(device) -> bool:
    """Flag an out-of-range value the way the YAML says the instrument does, if it says so."""
    known = "execution_error" in device._error_map or any(
        "execution_error" in queue._error_map for queue in device._error_queues.values()
    )
    if known:
        device.error_response("execution_error")
    return known


class _ActionDialogues(dict):
    """Dialogue table that runs the twin's action when its query is looked up.

    An action raising ValueError is refused like an out-of-range value: the instrument's
    execution error, no reply, nothing else changed.
    """

    def __init__(self, dialogues: dict, actions: dict, twin: Twin):
        super().__init__(dialogues)
        self._actions, self._twin = actions, twin

    def __getitem__(self, query: bytes):
        response = super().__getitem__(query)
        action = self._actions.get(query)
        if action is None:
            return response
        try:
            reply = action()
        except ValueError:
            if not _signal_execution_error(self._twin.device):
                raise
            self._twin.refused = True
            return NoResponse
        return response if reply is None else to_bytes(reply)


def bind(device, twin: Twin) -> None:
    """Attach ``twin`` to a freshly parsed pyvisa-sim ``device``."""
    twin.device = device
    groups = [(device, None)] + [(ch, ch) for ch in device._channels.values()]
    for name, (getter, setter) in twin.properties().items():
        for component, channel in groups:
            if name in component._properties:
                component._properties[name] = _BoundProperty(component._properties[name], twin, getter, setter, channel)
                break
        else:
            raise KeyError(f"twin {type(twin).__name__} binds property {name!r}, which {device.name} does not declare")
    actions = {to_bytes(q): fn for q, fn in twin.actions().items()}
    missing = [q.decode() for q in actions if q not in device._dialogues]
    if missing:
        raise KeyError(f"twin {type(twin).__name__} binds dialogue(s) {missing}, which {device.name} does not declare")
    device._dialogues = _ActionDialogues(device._dialogues, actions, twin)
    _wrap_match(device, twin)
    twin.bound(device)


def _wrap_match(device, twin: Twin) -> None:
    plain_match = device._match

    def match(query: bytes):
        with twin.world.lock:  # one message at a time in a world shared by several threads
            return _match_one(query)

    def _match_one(query: bytes):
        world = twin.world
        fault = world.faults.check(device.name, world.clock.now(), query=is_query(query))
        kind = fault.kind if fault is not None else None
        if kind == "disconnect":
            raise pyvisa.errors.VisaIOError(constants.StatusCode.error_connection_lost)
        if kind == "closed":
            raise SessionClosed()
        if kind == "timeout":
            if not is_query(query):  # a command not acknowledged: the write itself fails
                raise pyvisa.errors.VisaIOError(constants.StatusCode.error_timeout)
            device._reply_lost = True  # a query lost: its read times out
            return NoResponse
        if kind == "slow":  # the thread that asked waits for the reply
            world.clock.sleep(fault.delay_s)
        if _RECORDERS:
            message = (device.name, query.decode("ascii", errors="replace"))
            for messages in _RECORDERS:
                messages.append(message)
        response = _twin_response(twin, query, plain_match)
        # A garbled reply: the command was carried out, its answer is corrupted on the way back.
        # A command without a reply has nothing to garble (no stale reply may be left queued).
        if kind == "garbage" and response is not NoResponse:
            return world.faults.garbage()
        return response

    device._match = match
    device._reply_lost = False
    plain_read = device.read

    def read():
        # The read of a lost query fails at once, as after the VISA time-out: the twin knows no
        # reply is coming, and a wall-clock wait would only make runs depend on the machine's load.
        if device._reply_lost:
            device._reply_lost = False
            raise pyvisa.errors.VisaIOError(constants.StatusCode.error_timeout)
        return plain_read()

    device.read = read


def is_query(message: bytes) -> bool:
    """True for a message that asks for a reply: a '?' outside quoted text (the 6221's
    ``SYST:COMM:SER:SEND "FETC?"`` carries a query for another instrument but is a command)."""
    unquoted = b"".join(message.split(b'"')[::2])
    return b"?" in unquoted


def _twin_response(twin: Twin, query: bytes, plain_match):
    twin.reply, twin.refused = None, False
    response = twin.route(query, plain_match)
    if twin.refused:
        return NoResponse
    return to_bytes(twin.reply) if twin.reply is not None else response


def _get_device_with_twin(name, device_dict, loader, resource_dict):
    device = _plain_get_device(name, device_dict, loader, resource_dict)
    twin_class = _TWINS.get(name)
    if twin_class is not None:
        bind(device, twin_class())
    return device


_plain_get_device = sim_parser.get_device


class SessionClosed(pyvisa.errors.VisaIOError):
    """A device's connection closed under the session that sent the message (a ``closed`` fault):
    the library marks that session dead on its way out."""

    def __init__(self):
        super().__init__(constants.StatusCode.error_connection_lost)


_plain_write, _plain_read = SimVisaLibrary.write, SimVisaLibrary.read


def _on_live_session(operation):
    """``operation`` (the library's read or write) for a session still connected; a session whose
    connection was closed under it fails every message with "connection lost", as on real VISA
    until the resource is opened again."""

    def call(library, session, *args):
        state = library.sessions.get(session)
        if getattr(state, "connection_closed", False):
            raise pyvisa.errors.VisaIOError(constants.StatusCode.error_connection_lost)
        try:
            return operation(library, session, *args)
        except SessionClosed:
            state.connection_closed = True
            raise

    return call


def _flush(library, session, mask):
    """VISA's viFlush, which pyvisa-sim lacks: discarding the read buffer drops the replies the
    device has queued, so a driver recovering from a fault can start clean as on real VISA."""
    discard = constants.BufferOperation.discard_read_buffer | constants.BufferOperation.discard_receive_buffer
    try:
        device = library.sessions[session].device
    except (KeyError, AttributeError):
        return constants.StatusCode.error_invalid_object
    if mask & discard:
        device._output_buffers.clear()
        device._reply_lost = False
    return constants.StatusCode.success


def install() -> None:
    """Route pyvisa-sim's device construction through the twins, give its library VISA's flush,
    and let a session's connection be closed under it (idempotent)."""
    sim_parser.get_device = _get_device_with_twin
    SimVisaLibrary.flush = _flush
    SimVisaLibrary.write = _on_live_session(_plain_write)
    SimVisaLibrary.read = _on_live_session(_plain_read)


def registered_twins() -> dict[str, type[Twin]]:
    return dict(_TWINS)


__all__ = ["Twin", "register_twin", "bind", "install", "registered_twins", "recording_commands"]
