"""Keithley 2182A twin: a nanovoltmeter wired as the one behind the 6221.

Channel 1 reads the sample's four-probe pads, channel 2 the point contact, both under the DC
current the current source drives now (``world.source_current_A``, set by the 6221 twin or by a
test): what ``world.lead_voltage(channel, world.source_current_A)`` gives, i.e. signal + thermal EMF +
noise.

Choices where the instrument does more than the model needs:
- Time: ``READ?`` and ``INIT`` take their readings at the virtual time the command arrives; the
  twin cannot block, so no virtual time passes for the integration (NPLC / 60 s per reading, times
  the filter count on the real instrument). A procedure that paces its readings waits on
  daclab.clock itself, as it would at the cryostat.
- Digital filter on: each result is the mean of ``count`` model readings (noise / sqrt(count)),
  for both MOV and REP; the window is stored, not applied. LPAS, autozero, front autozero, line
  sync, NPLC and the trigger source and delay are stored and echoed; they change nothing.
- Range: autorange picks the smallest range holding the reading (120 % of full scale); a fixed
  range returns the overflow value +9.9E37 beyond 120 %. Setting a range switches autorange off.
- ``READ?`` and ``INIT`` take ``TRIG:COUN`` readings; ``FETC?`` returns the last ones again;
  ``SENS:DATA:FRES?`` returns the last reading once. With nothing to return they send no reply
  (the query times out) and queue -230, "Data corrupt or stale" [the real FRES? waits for a new
  reading, which an idle trigger model never brings].
- The temperature function reads overflow: no thermocouple is wired. Continuous initiation is
  not modelled: the instrument sits idle until triggered, as after *RST.
"""

from __future__ import annotations

from daclab.sim.binding import Twin, register_twin

OVERFLOW = 9.9e37
OVERRANGE = 1.2  # readings up to 120 % of a range are valid
RANGES_V = {1: (0.01, 0.1, 1.0, 10.0, 100.0), 2: (0.1, 1.0, 10.0)}
SWITCHES = ("filter", "analog_filter", "autozero", "front_autozero", "line_sync")


def _reading_text(values: list[float]) -> str:
    return ",".join(f"{v:+.7E}" for v in values)


def _range_holding(channel: int, volts: float, overrange: float = 1.0) -> float:
    """The smallest range of ``channel`` holding ``volts`` (up to ``overrange`` x full scale), else the largest."""
    ranges = RANGES_V[channel]
    return next((r for r in ranges if abs(volts) <= overrange * r), ranges[-1])


def _switch_value(text: str) -> int:
    return 1 if text.upper() in ("ON", "1") else 0


@register_twin
class Keithley2182Twin(Twin):
    device_name = "keithley2182"

    def initial_state(self) -> dict:
        """Settings after *RST: voltage on channel 1 at 5 NPLC, autorange on both channels, digital
        filter on (10 readings, moving, 0.01 %), analog filter off, autozero on, trigger immediate.
        [The filter and LPAS defaults are the Keithley 2000-family ones; unsure for the 2182A.]"""
        return {
            "function": "VOLT", "channel": 1, "nplc": 5.0,
            "range": {1: 100.0, 2: 10.0}, "autorange": {1: 1, 2: 1},
            "filter": 1, "filter_count": 10, "filter_window": 0.01, "filter_type": "MOV",
            "analog_filter": 0, "autozero": 1, "front_autozero": 1, "line_sync": 0,
            "trigger_source": "IMM", "trigger_count": 1, "trigger_delay": 0.0,
            "latest": None, "fresh": False,
        }

    def properties(self):
        props = {
            "function": (lambda: f'"{self.state["function"]}"', self._set_function),
            "channel": self._plain("channel", int),
            "nplc": self._plain("nplc", float),
            "filter_count": self._plain("filter_count", int),
            "filter_window": self._plain("filter_window", float),
            "filter_type": self._plain("filter_type", str),
            "trigger_source": self._plain("trigger_source", str),
            "trigger_count": self._plain("trigger_count", int),
            "trigger_delay": self._plain("trigger_delay", float),
        }
        props.update({name: self._plain(name, _switch_value) for name in SWITCHES})
        for channel in RANGES_V:
            props[f"range_{channel}"] = (lambda ch=channel: self.state["range"][ch], self._set_range(channel))
            props[f"autorange_{channel}"] = (lambda ch=channel: self.state["autorange"][ch],
                                             self._set_autorange(channel))
        return props

    def actions(self):
        return {
            "*RST": self._reset, "*CLS": self.clear_errors,
            ":INIT": self._initiate, ":READ?": self._read, ":FETC?": self._fetch,
            ":SENS:DATA:FRES?": self._fresh,
        }

    # ---- settings ---------------------------------------------------------------------------

    def _plain(self, key, parse):
        def get():
            return self.state[key]

        def set_(value):
            self.state[key] = parse(value)
        return get, set_

    def _set_function(self, value: str) -> None:
        self.state["function"] = value.strip("'\"")

    def _set_range(self, channel):
        def set_(expected_V: float) -> None:
            # The instrument takes the largest expected reading and picks the range that holds it.
            self.state["range"][channel] = _range_holding(channel, expected_V)
            self.state["autorange"][channel] = 0
        return set_

    def _set_autorange(self, channel):
        def set_(on: int) -> None:
            self.state["autorange"][channel] = on
        return set_

    def _reset(self) -> None:
        self.world.instrument_state[self.device_name] = self.initial_state()

    # ---- readings ---------------------------------------------------------------------------

    def _one_reading(self) -> float:
        state, world = self.state, self.world
        if state["function"] != "VOLT":
            return OVERFLOW
        channel = state["channel"]
        count = state["filter_count"] if state["filter"] else 1
        volts = world.lead_voltage(channel, world.source_current_A, averages=count)
        if state["autorange"][channel]:
            state["range"][channel] = _range_holding(channel, volts, OVERRANGE)
        return OVERFLOW if abs(volts) > OVERRANGE * state["range"][channel] else volts

    def _take_readings(self) -> list[float]:
        readings = [self._one_reading() for _ in range(self.state["trigger_count"])]
        self.state["latest"] = readings
        return readings

    def _initiate(self) -> None:
        self._take_readings()
        self.state["fresh"] = True

    def _read(self) -> str:
        text = _reading_text(self._take_readings())
        self.state["fresh"] = False
        return text

    def _fetch(self) -> str | None:
        if self.state["latest"] is None:
            self.device.error_response("data_stale")
            return None
        self.state["fresh"] = False
        return _reading_text(self.state["latest"])

    def _fresh(self) -> str | None:
        if not self.state["fresh"]:
            self.device.error_response("data_stale")
            return None
        self.state["fresh"] = False
        return _reading_text(self.state["latest"][-1:])
