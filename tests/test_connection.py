"""The exchange layer (daclab/connection.py) and the simulator's faults it answers to.

Every fault here is injected in the virtual cryostat and reaches the driver through pyvisa-sim,
as a real one would through VISA.
"""

import logging
import math
import threading

import numpy as np
import pytest

from daclab.connection import (DEFAULT_POLICY, GarbledReply, InstrumentFault, check_format, guard,
                               faults_on_this_thread, single_attempt)
from daclab.lab import Lab
from daclab.sim import Fault
from daclab.sim.binding import is_query, recording_commands
from daclab.sim.faults import FaultInjector

LS350 = "lakeshore350"
SOURCE = "keithley6221"


@pytest.fixture
def lab():
    with Lab.open("simulated", start_K=80.0, seed=3) as opened:
        yield opened


def fault_records(caplog):
    return [record for record in caplog.records if record.name == "daclab.faults"]


# ---- retries -----------------------------------------------------------------------------------

def test_the_backoff_grows_from_0_2_s_by_five_and_four_tries_are_made():
    assert [DEFAULT_POLICY.wait_before(attempt) for attempt in (2, 3, 4)] == pytest.approx([0.2, 1.0, 5.0])
    assert DEFAULT_POLICY.attempts == 4


@pytest.mark.parametrize("kind", ["timeout", "garbage", "disconnect"])
def test_a_transient_fault_is_retried_logged_and_the_true_reading_returned(lab, caplog, kind):
    controller = lab.role("temperature")
    controller.temperature()  # connected
    lab.world.faults.add(Fault(LS350, kind, count=1, **({"lasts": 1} if kind == "disconnect" else {})))
    before, start = faults_on_this_thread(), lab.world.clock.now()
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        reading = controller.temperature()
    assert reading == pytest.approx(lab.world.stage_temperature(), abs=0.01)
    assert faults_on_this_thread() == before + 1
    assert lab.world.clock.now() - start == pytest.approx(0.2, abs=1e-6)  # one back-off on the lab clock
    [record] = fault_records(caplog)
    assert record.levelno == logging.WARNING
    assert "Lake Shore" in record.message and "KRDG? A" in record.message and "attempt 1 of 4" in record.message
    assert {"timeout": "time-out", "garbage": "GarbledReply", "disconnect": "connection lost"}[kind] in record.message


def test_a_fault_outlasting_every_retry_raises_instrument_fault_after_6_2_s(lab, caplog):
    controller = lab.role("temperature")
    controller.temperature()
    lab.world.faults.add(Fault(LS350, "disconnect", count=1, lasts=DEFAULT_POLICY.attempts))
    start = lab.world.clock.now()
    with caplog.at_level(logging.WARNING, logger="daclab.faults"), pytest.raises(InstrumentFault) as raised:
        controller.temperature()
    assert lab.world.clock.now() - start == pytest.approx(0.2 + 1.0 + 5.0)
    assert raised.value.attempts == 4 and raised.value.command == "KRDG? A"
    assert "failed 4 times; last: connection lost" in str(raised.value)
    assert [r.levelno for r in fault_records(caplog)] == [logging.WARNING] * 3 + [logging.ERROR]
    # the outage is over: the instrument answers its identification again (what the suspender asks)
    raised.value.probe()
    assert controller.temperature() == pytest.approx(lab.world.stage_temperature(), abs=0.05)


def test_a_lost_write_is_sent_again_and_carried_out_once(lab):
    source = lab.instrument("pulse")
    lab.world.faults.add(Fault(SOURCE, "timeout", count=1))
    with recording_commands() as messages:
        source.write("SOUR:CURR 0.002")
    # the lost message never reached the instrument; the second one did
    assert messages == [(SOURCE, "SOUR:CURR 0.002")]
    assert float(source.ask("SOUR:CURR?")) == pytest.approx(0.002)


def test_the_2182a_pass_through_query_is_retried_whole(lab, caplog, monkeypatch):
    meter = lab.instrument("pulse").nanovoltmeter
    meter.identification  # connected
    monkeypatch.setattr(meter, "reply_formats", raising=False, value=[(r'SYST:COMM:SER:SEND "\*IDN\?"', r"KEITHLEY INSTRUMENTS INC\.,.*")])
    lab.world.faults.add(Fault(SOURCE, "garbage", count=1))  # the first reply poll comes back garbled
    with caplog.at_level(logging.WARNING, logger="daclab.faults"), recording_commands() as messages:
        identity = meter.identification
    assert "2182" in identity
    [record] = fault_records(caplog)
    assert 'SYST:COMM:SER:SEND "*IDN?"' in record.message  # the 2182A's command, not the poll, is retried
    sends = [text for _, text in messages if text.startswith("SYST:COMM:SER:SEND")]
    assert sends == ['SYST:COMM:SER:SEND "*IDN?"'] * 2


def test_the_status_reader_tries_once(lab):
    controller = lab.role("temperature")
    controller.temperature()
    lab.world.faults.add(Fault(LS350, "timeout", count=1))
    start = lab.world.clock.now()
    with single_attempt(), pytest.raises(InstrumentFault) as raised:
        controller.temperature()
    assert raised.value.attempts == 1 and lab.world.clock.now() == start  # no back-off
    assert controller.temperature() == pytest.approx(lab.world.stage_temperature(), abs=0.05)  # policy restored


def test_retries_hold_the_connection_so_no_other_thread_takes_the_late_reply(lab):
    controller = lab.role("temperature")
    controller.temperature()
    lab.world.faults.add(Fault(LS350, "timeout", count=2))
    setpoints = []
    reader = threading.Thread(target=lambda: setpoints.append(controller.setpoint()))
    lock = guard(lab.instrument("temperature"))
    with lock:  # the reader waits for the whole retried exchange below
        reader.start()
        reading = controller.temperature()
    reader.join(10)
    assert reading == pytest.approx(lab.world.stage_temperature(), abs=0.05)
    assert len(setpoints) == 1 and 1.0 < setpoints[0] < 400.0


# ---- replies checked ---------------------------------------------------------------------------

class Declared:
    reply_formats = [(r"KRDG\? [ABCD]", r"[+-]\d{3}\.\d{3}")]


@pytest.mark.parametrize("reply", ["+273.150", "+001.500"])
def test_a_reply_in_its_declared_format_passes(reply):
    check_format(Declared(), "KRDG? A", reply)


@pytest.mark.parametrize("reply", ["7", "+273.15", "+27e.150", "", "+273.150,+001.000", "Ab#"])
def test_a_reply_breaking_its_declared_format_is_garbled(reply):
    with pytest.raises(GarbledReply, match="breaks the instrument's format"):
        check_format(Declared(), "KRDG? A", reply)


def test_a_command_without_a_declared_format_is_not_judged_by_it():
    check_format(Declared(), "HTR? 1", "anything")


def test_a_field_that_does_not_cast_is_a_garbled_reply_not_text_in_the_data(lab):
    controller = lab.instrument("temperature")
    controller.values("*IDN?", cast=str)  # text asked for: text accepted
    with pytest.raises(InstrumentFault) as raised:
        with single_attempt():
            controller.values("*IDN?")  # a float asked for; the identification is no number
    assert isinstance(raised.value.cause, GarbledReply)


# ---- the simulated faults ----------------------------------------------------------------------

def test_only_a_message_with_a_question_outside_quotes_asks_for_a_reply():
    assert is_query(b"KRDG? A") and is_query(b"*IDN?") and is_query(b"OUTP 0;*OPC?")
    assert not is_query(b"SOUR:CURR 0.001") and not is_query(b'SYST:COMM:SER:SEND "FETC?"')


def test_garbage_waits_for_a_query_and_every_hit_is_counted():
    injector = FaultInjector(np.random.default_rng(0))
    injector.add(Fault("x", "garbage", count=1))
    assert injector.check("x", 0.0, query=False) is None  # a command has no reply to garble
    assert injector.check("x", 0.0, query=True).kind == "garbage"
    assert injector.check("x", 0.0, query=True) is None
    injector.add(Fault("x", "disconnect", count=1, lasts=3))
    assert [getattr(injector.check("x", 1.0), "kind", None) for _ in range(4)] == ["disconnect"] * 3 + [None]
    assert [kind for _, kind, _ in injector.injected] == ["garbage"] + ["disconnect"] * 3


def test_a_slow_reply_costs_lab_time_and_is_logged(lab, caplog):
    controller = lab.role("temperature")
    controller.temperature()
    lab.world.faults.add(Fault(LS350, "slow", count=1, delay_s=1.5))
    start = lab.world.clock.now()
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        assert math.isfinite(controller.temperature())
    assert lab.world.clock.now() - start == pytest.approx(1.5)
    [record] = fault_records(caplog)
    assert "slow instrument" in record.message and "KRDG? A" in record.message


def test_lab_time_that_another_thread_waits_during_a_reply_is_not_a_slow_reply(lab, caplog, monkeypatch):
    """The window's status read may run while the measurement thread sleeps through a pulse
    period: virtual time jumps, but the reply was not slow."""
    controller = lab.role("temperature")
    controller.temperature()
    connection = controller.adapter.connection
    plain_read = connection.read

    def read_while_another_thread_waits(*args, **kwargs):
        waiting = threading.Thread(target=lab.world.clock.sleep, args=(120.0,))
        waiting.start()
        waiting.join()
        return plain_read(*args, **kwargs)

    monkeypatch.setattr(connection, "read", read_while_another_thread_waits)
    start = lab.world.clock.now()
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        assert math.isfinite(controller.temperature())
    assert lab.world.clock.now() - start >= 120.0
    assert fault_records(caplog) == []


def test_a_garbled_read_and_clear_reply_is_logged_as_lost(lab, caplog):
    """*ESR? clears the register it reads: the retry cannot give back what the garbled reply
    held, and the log says so (an ordinary query's retry is logged without it)."""
    controller = lab.instrument("temperature")
    controller.check_errors()
    for query, lost in ((controller.check_errors, True), (lambda: controller.input_A.kelvin, False)):
        caplog.clear()
        lab.world.faults.add(Fault(LS350, "garbage", count=1))
        with caplog.at_level(logging.WARNING, logger="daclab.faults"):
            query()
        [record] = fault_records(caplog)
        assert ("what the garbled reply held is lost" in record.message) is lost, record.message


def test_fault_settings_out_of_range_are_refused_with_name_and_range():
    with pytest.raises(ValueError, match=r"lasts = 0 must be at least 1"):
        Fault(LS350, "disconnect", lasts=0)
    with pytest.raises(ValueError, match=r"delay_s = -1 s is outside \[0, 3600\] s"):
        Fault(LS350, "slow", delay_s=-1)


def test_faults_draw_from_their_own_stream_so_readings_stay_the_same():
    """Two worlds with the same seed read the same noise, one of them deciding faults in between."""
    def readings(with_faults: bool):
        with Lab.open("simulated", start_K=80.0, seed=5) as fresh:
            controller = fresh.role("temperature")
            if with_faults:  # consulted at every message, never hitting
                fresh.world.faults.add(Fault("ami430", "timeout", probability=0.5))
            return [controller.temperature() for _ in range(5)]

    assert readings(False) == readings(True)
