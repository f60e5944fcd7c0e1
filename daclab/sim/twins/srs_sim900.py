"""SRS SIM900 twin: the mainframe, with a SIM921 AC resistance bridge in port 1 on the sample's pads.

Mainframe: ``SNDT p,"msg"`` hands ``msg`` to the module in port p at once and queues its reply
(with the module's CR LF) in the port's output queue; ``GETN? p,n`` takes up to n bytes from it as
``#3nnn<bytes>``; ``NINP? p`` counts them; ``FLSH [p]`` and ``SRST [p]`` empty the queues (SRST,
a break to the module, resets only its interface here, not its settings). ``CONN p,"esc"`` routes
every later message to the module in port p, its replies straight back, until a message equal to
``esc``. Ports 2-8 are empty: messages to them vanish and nothing comes back. pyvisa-sim cannot
express routing by connection state, so the twin routes each message itself (:meth:`route`);
the module's grammar stays in the YAML (channel group ``port``).

SIM921 wiring and choices:
- RVAL? is :meth:`VirtualCryostat.bridge_resistance` at the excitation current
  I = V(EXCI) / full scale of RANG (the excitation voltage across the range resistor), so a large
  excitation heats the sample as the model says. EXON 0 or EXCI -1: no current, the bridge
  demodulates noise only (voltage noise over the nominal current of the code, or of code 0).
- The output is a single-pole filter with the TCON time constant (-1 = off): each reading and
  each change of EXON, EXCI, RANG, TCON or an autorange moves the filtered value towards the
  present signal by 1 - exp(-dt / tau), so after a change the reading relaxes over ~5 tau and a
  sweep reads with a lag of tau. FRST restarts the filter at the present signal.
- The sample channel has no calibration curve: TVAL? and TDEV? read 0. RDEV? is the deviation
  from the resistance setpoint, which stays at its power-on 0 (not modelled): it equals RVAL?.
  PHAS? is 0 (a purely resistive sample). IEXC? is the current above, VEXC? the code's voltage
  (0 with the excitation off). MODE, FREQ, PHLD, ADIS, DISP and CURV are kept and read back only.
- AGAI ON picks at once the smallest range that holds the sample's low-current resistance and
  AGAI? reads 1 for 2 s of clock time; AGAI OFF ends the cycle.
- Errors: the module keeps its own *ESR? (CME 32 unknown command, EXE 16 value out of range,
  nothing changed); it is read and cleared through SNDT/GETN? or in transparent mode, while the
  mainframe's *ESR? collects the mainframe's own errors.
"""

from __future__ import annotations

import math

from pyvisa_sim.component import NoResponse

from daclab.sim.binding import Twin, register_twin

PORTS = range(1, 9)
MODULE_PORT = 1
MODULE_TERMINATOR = b"\r\n"
CME, EXE, QYE = 32, 16, 4
MAX_GETN_BYTES = 255
AUTOGAIN_S = 2.0

RANGE_OHM = [0.02 * 10.0 ** k for k in range(10)]  # RANG 0-9: 20 mohm ... 20 Mohm
# EXCI -1 off, 0-8: 3 uV ... 30 mV; TCON -1 off, 0-6: 0.3 s ... 300 s
EXCITATION_V = {-1: 0.0, 0: 3e-6, 1: 10e-6, 2: 30e-6, 3: 100e-6, 4: 300e-6, 5: 1e-3, 6: 3e-3, 7: 10e-3, 8: 30e-3}
TIME_CONSTANT_S = {-1: 0.0, 0: 0.3, 1: 1.0, 2: 3.0, 3: 10.0, 4: 30.0, 5: 100.0, 6: 300.0}
MODULE_ACTIONS = ("*RST", "*CLS", "FRST")  # module dialogues with an effect on the state


def _integer(value, name: str, low: int, high: int) -> int:
    number = float(value)
    if number != int(number) or not low <= number <= high:
        raise ValueError(f"{name} = {value} outside [{low}, {high}]")
    return int(number)


class _ModuleStatusRegister:
    """Takes the place of the device's status register while a message is routed to the module,
    so that pyvisa-sim's error reporting lands in the module's own *ESR?."""

    BITS = {"command_error": CME, "execution_error": EXE, "query_error": QYE}

    def __init__(self, module: dict):
        self.module = module

    def set(self, error_key: str) -> None:
        self.module["esr"] |= self.BITS[error_key]


@register_twin
class SIM900Twin(Twin):
    device_name = "srs_sim900"

    def initial_state(self) -> dict:
        return {"connected": None, "escape": "", "routing": None, "queues": {p: b"" for p in PORTS},
                "module": self._module_power_on()}

    @staticmethod
    def _module_power_on() -> dict:
        return {"exon": 1, "exci": 2, "mode": 1, "rang": 5, "freq": 13.7, "tcon": 2, "phld": 0, "adis": 1,
                "disp": 0, "curv": 1, "esr": 0, "filtered": None, "filtered_at": 0.0, "autogain_until": -math.inf}

    @property
    def module(self) -> dict:
        return self.state["module"]

    # ---- routing ------------------------------------------------------------------------

    def bound(self, device) -> None:
        declared = device._channels["port"]._dialogues["__default__"]
        missing = [q for q in MODULE_ACTIONS if q.encode() not in declared]
        if missing:
            raise KeyError(f"twin {type(self).__name__} acts on module dialogue(s) {missing}, "
                           f"which {device.name} does not declare")

    def route(self, query: bytes, match):
        """While a CONN connection is open, messages go to the module until the escape string."""
        state = self.state
        if state["connected"] is None:
            return match(query)
        message = query.decode(errors="replace")
        if message == state["escape"]:
            state["connected"] = None
            return NoResponse
        return self._to_module(state["connected"], message)

    def _to_module(self, port: int, message: str):
        """The module's reply to ``message`` (bytes) or NoResponse; errors go to the module's *ESR?."""
        if port != MODULE_PORT:
            return NoResponse  # an empty slot
        device, state = self.device, self.state
        saved_errors = device._error_map
        device._error_map = dict.fromkeys(_ModuleStatusRegister.BITS, _ModuleStatusRegister(self.module))
        state["routing"] = port
        try:
            response = device._channels["port"].match(message.encode())
        finally:
            device._error_map, state["routing"] = saved_errors, None
        if response is None:
            self.module["esr"] |= CME
            return NoResponse
        if message in MODULE_ACTIONS:
            {"*RST": self._module_reset, "*CLS": self._module_clear, "FRST": self._filter_reset}[message]()
        return response

    # ---- bindings -----------------------------------------------------------------------

    def properties(self):
        return {
            "send": (None, self._send),
            "get_bytes": (None, self._get_bytes),
            "bytes_waiting": (None, lambda port: str(len(self.state["queues"][port]))),
            "flush_port": (None, self._flush),
            "reset_port": (None, self._flush),
            "selected_channel": (self._selected_port, self._connect),
            # the SIM921 in port 1 (getters and setters take the channel id first)
            "module_status": (lambda _ch: self._read_and_clear_status(), None),
            "resistance": (lambda _ch: self._filtered_reading(), None),
            "resistance_deviation": (lambda _ch: self._filtered_reading(), None),
            "temperature": (lambda _ch: 0.0, None),
            "temperature_deviation": (lambda _ch: 0.0, None),
            "phase": (lambda _ch: 0.0, None),
            "excitation_current": (lambda _ch: self._current(), None),
            "excitation_voltage": (lambda _ch: EXCITATION_V[self.module["exci"]] if self._current() else 0.0, None),
            "excitation_on": self._setting("exon", signal=True),
            "excitation_code": self._setting("exci", signal=True),
            "range_code": self._setting("rang", signal=True),
            "time_constant": self._setting("tcon", signal=True),
            "mode": self._setting("mode"),
            "frequency": self._setting("freq"),
            "phase_hold": self._setting("phld"),
            "autorange_display": self._setting("adis"),
            "display": self._setting("disp"),
            "curve": self._setting("curv"),
            "autorange_gain": (lambda _ch: int(self._now() < self.module["autogain_until"]), self._autorange_gain),
        }

    def actions(self):
        return {"*RST": self._mainframe_reset, "FLSH": self._flush_all, "SRST": self._flush_all}

    def _now(self) -> float:
        return self.world.clock.now()

    # ---- mainframe ----------------------------------------------------------------------

    def _selected_port(self):
        routing = self.state["routing"]
        return None if routing is None else str(routing)  # pyvisa-sim keeps channel ids as strings

    def _send(self, values):
        port, message = _integer(values[0], "port", 1, 8), values[1]
        reply = self._to_module(port, message)
        if reply is not NoResponse:
            self.state["queues"][port] += bytes(reply) + MODULE_TERMINATOR

    def _get_bytes(self, values):
        port, count = _integer(values[0], "port", 1, 8), _integer(values[1], "max bytes", 0, MAX_GETN_BYTES)
        queues = self.state["queues"]
        data, queues[port] = queues[port][:count], queues[port][count:]
        return f"#3{len(data):03d}" + data.decode()

    def _flush(self, port: int) -> None:
        self.state["queues"][port] = b""

    def _flush_all(self) -> None:
        for port in PORTS:
            self._flush(port)

    def _connect(self, values):
        port, escape = _integer(values[0], "port", 1, 8), values[1]
        if not escape:
            raise ValueError("empty escape string")
        self.state.update(connected=port, escape=escape)

    def _mainframe_reset(self) -> None:
        self.state["connected"] = None
        self._flush_all()

    # ---- module -------------------------------------------------------------------------

    def _read_and_clear_status(self) -> int:
        value, self.module["esr"] = self.module["esr"], 0
        return value

    def _module_reset(self) -> None:
        self.state["module"] = self._module_power_on()

    def _module_clear(self) -> None:
        self.module["esr"] = 0

    def _filter_reset(self) -> None:
        self.module["filtered"] = None

    def _current(self) -> float:
        module = self.module
        if not module["exon"] or module["exci"] < 0:
            return 0.0
        return EXCITATION_V[module["exci"]] / RANGE_OHM[module["rang"]]

    def _signal(self) -> float:
        """What the demodulator sees now, before the output filter."""
        current = self._current()
        if current > 0:
            return self.world.bridge_resistance(current)
        nominal = EXCITATION_V[max(self.module["exci"], 0)] / RANGE_OHM[self.module["rang"]]
        return self.world.voltage_noise() / nominal

    def _filtered_reading(self) -> float:
        module, now = self.module, self._now()
        signal = self._signal()
        tau = TIME_CONSTANT_S[module["tcon"]]
        if module["filtered"] is None or tau == 0:
            module["filtered"] = signal
        else:
            module["filtered"] = signal + (module["filtered"] - signal) * math.exp(-(now - module["filtered_at"]) / tau)
        module["filtered_at"] = now
        return module["filtered"]

    def _setting(self, key: str, signal: bool = False):
        """(getter, setter) of the module setting ``key``. With ``signal`` the signal depends on it:
        the filter catches up under the old value before the new one is stored."""
        def set_(_channel, value) -> None:
            if signal:
                self._filtered_reading()
            self.module[key] = value
        return (lambda _channel: self.module[key]), set_

    def _autorange_gain(self, _channel, value: str) -> None:
        module = self.module
        if value in ("OFF", "0"):
            module["autogain_until"] = -math.inf
            return
        self._filtered_reading()
        low_current = abs(self.world.sample_resistance())
        module["rang"] = next((code for code, full in enumerate(RANGE_OHM) if full >= low_current), len(RANGE_OHM) - 1)
        module["autogain_until"] = self._now() + AUTOGAIN_S
