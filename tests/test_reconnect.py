"""A connection lost for good (a socket closed by a switch or an idle timer, a USB-serial adapter
re-enumerated): the exchange layer replaces the dead VISA session and goes on.

The ``closed`` fault of the virtual cryostat kills the session that sent the message: every later
message on it fails with "connection lost", while a new session to the same instrument works and
finds it as it was. Without a reopen no number of retries gets through.
"""

import logging

import pytest
import pyvisa
from pymeasure.adapters import VISAAdapter
from pymeasure.experiment import Results
from pyvisa.constants import Parity, StatusCode, StopBits

from daclab import clock as clocks
from daclab import runner
from daclab.connection import (DEFAULT_POLICY, ConnectionNotReopened, InstrumentFault, faults_on_this_thread, guard,
                               session_gone, single_attempt)
from daclab.instruments.lakeshore350 import LakeShore350
from daclab.lab import Lab
from daclab.procedures.actions import Wait
from daclab.sim import Fault
from daclab.sim.binding import recording_commands

LS350, LS350_RESOURCE = "lakeshore350", "ASRL3::INSTR"
SOURCE, SOURCE_RESOURCE = "keithley6221", "GPIB0::12::INSTR"
MAINFRAME, MAINFRAME_RESOURCE = "srs_sim900", "ASRL6::INSTR"


@pytest.fixture
def lab():
    with Lab.open("simulated", start_K=80.0, seed=3) as opened:
        yield opened


def fault_messages(caplog):
    return [record.getMessage() for record in caplog.records if record.name == "daclab.faults"]


def connection_lost(error):
    return isinstance(error, pyvisa.errors.VisaIOError) and error.error_code == StatusCode.error_connection_lost


# ---- the simulated fault -----------------------------------------------------------------------

def test_a_closed_session_stays_dead_while_a_new_one_finds_the_instrument_as_it_was(lab):
    lab.role("temperature").set_setpoint(75.0)
    adapter = lab.instrument("temperature").adapter
    session = adapter.connection  # the raw pyvisa resource, below the exchange layer
    lab.world.faults.add(Fault(LS350, "closed", count=1))
    with pytest.raises(pyvisa.errors.VisaIOError) as lost:
        session.query("SETP? 1")
    assert connection_lost(lost.value)
    lab.world.faults.clear()  # no fault left to inject: the session is dead all the same
    for use in (lambda: session.query("SETP? 1"), lambda: session.write("*CLS"), session.read):
        with pytest.raises(pyvisa.errors.VisaIOError) as lost:
            use()
        assert connection_lost(lost.value)
    fresh = adapter.manager.open_resource(LS350_RESOURCE, read_termination="\r\n", write_termination="\r\n",
                                          baud_rate=57600, data_bits=7, parity=Parity.odd)
    try:
        assert float(fresh.query("SETP? 1")) == pytest.approx(75.0)  # the 350 did not reset
    finally:
        fresh.close()
    assert [(device, kind) for device, kind, _ in lab.world.faults.injected] == [(LS350, "closed")]


# ---- reopened on a direct call -----------------------------------------------------------------

def test_a_closed_connection_is_reopened_each_time_and_the_reading_returned(lab, caplog):
    controller = lab.role("temperature")
    controller.set_setpoint(75.0)
    adapter = lab.instrument("temperature").adapter
    adapter.connection.timeout = 3500  # not VISA's default: it must be carried over
    sessions = [adapter.connection]
    for round_ in range(2):  # the socket may be dropped again later in the night
        lab.world.faults.add(Fault(LS350, "closed", count=1, after_s=lab.world.clock.now() + 100.0))
        clocks.sleep(150.0)
        caplog.clear()
        before, start = faults_on_this_thread(), lab.world.clock.now()
        with caplog.at_level(logging.WARNING, logger="daclab.faults"):
            reading = controller.temperature()
        assert reading == pytest.approx(lab.world.stage_temperature(), abs=0.01)
        assert lab.world.clock.now() - start == pytest.approx(0.2, abs=1e-6)  # one back-off, then the new session
        assert faults_on_this_thread() == before + 1
        [message] = fault_messages(caplog)
        assert "KRDG? A" in message and "connection lost (attempt 1 of 4)" in message
        assert f"reopened the connection to {LS350_RESOURCE}" in message
        new = adapter.connection
        assert all(new is not old for old in sessions)
        with pytest.raises(pyvisa.errors.InvalidSession):
            _ = sessions[-1].session  # the dead one was closed
        sessions.append(new)
        # the new session talks as the 350 does (57600 baud, 7 data bits, odd parity, CR LF)
        assert (new.baud_rate, new.data_bits, new.parity, new.stop_bits) == (57600, 7, Parity.odd, StopBits.one)
        assert (new.read_termination, new.write_termination, new.timeout) == ("\r\n", "\r\n", 3500)
        # and the instrument kept its state
        assert controller.setpoint() == pytest.approx(75.0)
        assert lab.world.stage.loops[1].setpoint_K == pytest.approx(75.0)
    assert [kind for _, kind, _ in lab.world.faults.injected] == ["closed", "closed"]


def test_a_driver_with_something_to_do_on_a_new_session_is_told_once(lab, caplog):
    told = {"temperature": [], "delta": []}
    for role in told:  # the 350's session is lost, the 6221's is not
        lab.instrument(role).session_reopened = lambda role=role: told[role].append(lab.world.clock.now())
    lab.world.faults.add(Fault(LS350, "closed", count=1, after_s=lab.world.clock.now() + 100.0))
    clocks.sleep(150.0)
    lab.role("temperature").temperature()
    assert len(told["temperature"]) == 1 and told["delta"] == []
    # a greeting that fails is logged, and the retry goes on
    lab.instrument("temperature").session_reopened = lambda: 1 / 0
    lab.world.faults.add(Fault(LS350, "closed", count=1, after_s=lab.world.clock.now() + 100.0))
    clocks.sleep(150.0)
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        assert lab.role("temperature").temperature() == pytest.approx(lab.world.stage_temperature(), abs=0.01)
    assert any("after reopening: ZeroDivisionError" in message for message in fault_messages(caplog))


def test_the_status_reader_tries_once_but_leaves_a_live_session_for_its_next_poll(lab, caplog):
    controller = lab.role("temperature")
    controller.temperature()
    lab.world.faults.add(Fault(LS350, "closed", count=1))
    with caplog.at_level(logging.WARNING, logger="daclab.faults"), single_attempt():
        with pytest.raises(InstrumentFault) as raised:
            controller.temperature()
        assert raised.value.attempts == 1 and connection_lost(raised.value.cause)
        assert controller.temperature() == pytest.approx(lab.world.stage_temperature(), abs=0.05)
    [message] = fault_messages(caplog)
    assert f"reopened the connection to {LS350_RESOURCE}" in message


# ---- shared connections ------------------------------------------------------------------------

def test_the_2182a_behind_a_closed_6221_connection_is_reached_through_the_reopened_root(lab, caplog):
    source = lab.instrument("pulse")
    meter = source.nanovoltmeter
    meter.channel = 2
    source.write("SOUR:CURR 0.002")
    old = source.adapter.connection
    lab.world.faults.add(Fault(SOURCE, "closed", count=1))
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        assert meter.channel == 2
    [message] = fault_messages(caplog)
    assert 'SYST:COMM:SER:SEND "SENS:CHAN?"' in message  # the 2182A's query, retried whole
    assert f"reopened the connection to {SOURCE_RESOURCE}" in message
    assert source.adapter.connection is not old
    assert lab.instrument("delta") is source  # the roles on the 6221 share the driver, hence the new session
    assert float(source.ask("SOUR:CURR?")) == pytest.approx(0.002)  # the 6221 kept its setting too


def test_a_sim921_behind_a_closed_sim900_connection_is_reached_through_the_reopened_mainframe(lab, caplog):
    bridge = lab.instrument("bridge921")
    bridge.range_code = 4
    mainframe = bridge.adapter.mainframe
    old = mainframe.adapter.connection
    lab.world.faults.add(Fault(MAINFRAME, "closed", count=1))
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        assert bridge.range_code == 4
    [message] = fault_messages(caplog)
    assert "RANG?" in message and f"reopened the connection to {MAINFRAME_RESOURCE}" in message
    assert mainframe.adapter.connection is not old
    assert (mainframe.adapter.connection.baud_rate, mainframe.adapter.connection.read_termination) == (9600, "\r\n")
    assert mainframe.id.startswith("Stanford_Research_Systems,SIM900")  # the mainframe itself on the new session


def test_every_driver_on_a_shared_session_moves_to_the_new_one(lab, caplog):
    first = lab.instrument("temperature")
    second = LakeShore350(VISAAdapter(first.adapter))  # pymeasure's way to share one session
    guard(second, guard(first))
    assert second.adapter.connection is first.adapter.connection
    lab.world.faults.add(Fault(LS350, "closed", count=1))
    first.temperature()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        assert second.temperature() == pytest.approx(lab.world.stage_temperature(), abs=0.05)
    assert second.adapter.connection is first.adapter.connection
    assert fault_messages(caplog) == []  # not left on the dead session


# ---- a session that cannot be replaced ---------------------------------------------------------

def test_an_instrument_still_gone_after_the_reopen_ends_in_instrument_fault_after_every_attempt(lab, caplog):
    controller = lab.role("temperature")
    controller.temperature()
    lab.world.faults.add(Fault(LS350, "closed", count=1))
    lab.world.faults.add(Fault(LS350, "disconnect", count=1, lasts=DEFAULT_POLICY.attempts - 1))
    start = lab.world.clock.now()
    with caplog.at_level(logging.WARNING, logger="daclab.faults"), pytest.raises(InstrumentFault) as raised:
        controller.temperature()
    assert raised.value.attempts == 4 and connection_lost(raised.value.cause)
    assert lab.world.clock.now() - start == pytest.approx(0.2 + 1.0 + 5.0)
    assert [r.levelno for r in caplog.records if r.name == "daclab.faults"] == [logging.WARNING] * 3 + [logging.ERROR]
    raised.value.probe()  # the outage over: the instrument answers on the session reopened last
    assert controller.temperature() == pytest.approx(lab.world.stage_temperature(), abs=0.05)


def test_a_resource_that_cannot_be_opened_ends_in_instrument_fault_and_is_opened_once_it_is_back(
        lab, caplog, monkeypatch):
    controller = lab.role("temperature")
    controller.temperature()
    manager = lab.instrument("temperature").adapter.manager

    def port_gone(*args, **kwargs):
        raise pyvisa.errors.VisaIOError(StatusCode.error_resource_not_found)

    monkeypatch.setattr(manager, "open_resource", port_gone)
    lab.world.faults.add(Fault(LS350, "closed", count=1))
    with caplog.at_level(logging.WARNING, logger="daclab.faults"), recording_commands() as messages, \
            pytest.raises(InstrumentFault) as raised:
        controller.temperature()
    assert raised.value.attempts == 4 and isinstance(raised.value.cause, ConnectionNotReopened)
    assert messages == []  # nothing sent on a session known dead
    log = fault_messages(caplog)
    assert len(log) == 4 and f"could not reopen the connection to {LS350_RESOURCE}" in log[0]
    assert all("could not reopen" in message for message in log)
    monkeypatch.undo()  # the port is back
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        raised.value.probe()
        assert controller.temperature() == pytest.approx(lab.world.stage_temperature(), abs=0.05)
    assert fault_messages(caplog) == [f"{raised.value.instrument}: reopened the connection to {LS350_RESOURCE}"]


def test_a_port_back_after_two_back_offs_is_reopened_before_the_third_try(lab, caplog, monkeypatch):
    """A USB-serial adapter re-enumerating: its port is missing for a while, then back."""
    controller = lab.role("temperature")
    controller.temperature()
    manager = lab.instrument("temperature").adapter.manager
    plain_open, refusals = manager.open_resource, [0]

    def re_enumerating(*args, **kwargs):
        if refusals[0] < 2:
            refusals[0] += 1
            raise pyvisa.errors.VisaIOError(StatusCode.error_resource_not_found)
        return plain_open(*args, **kwargs)

    monkeypatch.setattr(manager, "open_resource", re_enumerating)
    lab.world.faults.add(Fault(LS350, "closed", count=1))
    start = lab.world.clock.now()
    with caplog.at_level(logging.WARNING, logger="daclab.faults"):
        reading = controller.temperature()
    assert reading == pytest.approx(lab.world.stage_temperature(), abs=0.05)
    assert lab.world.clock.now() - start == pytest.approx(0.2 + 1.0)
    log = fault_messages(caplog)
    assert len(log) == 3
    assert "connection lost (attempt 1 of 4); could not reopen" in log[0]
    assert "ConnectionNotReopened" in log[1] and "(attempt 2 of 4)" in log[1]
    assert log[2].endswith(f"reopened the connection to {LS350_RESOURCE}")


# ---- mid-run -----------------------------------------------------------------------------------

def test_a_run_goes_on_through_two_closed_connections_with_the_points_after_them_flagged(tmp_path, caplog):
    with Lab.open("simulated", start_K=150.0, seed=3) as lab:
        lab.role("temperature").set_setpoint(150.0)
        now = lab.world.clock.now()
        for after_s in (150.0, 400.0):
            lab.world.faults.add(Fault(LS350, "closed", count=1, after_s=now + after_s))
        with caplog.at_level(logging.WARNING, logger="daclab.faults"):
            outcome = runner.run(Wait(lab=lab, minutes=10, log_every_s=60), tmp_path / "wait.csv")
        assert outcome.status == "finished"
        data = Results.load(str(tmp_path / "wait.csv"), procedure_class=Wait).data
        assert len(data) == 11
        assert (data["Setpoint (K)"] == 150.0).all()
        # the first point read after each drop (at 180 s and 420 s) met it; no other did
        flagged = data.loc[data["Instrument faults"] > 0, "Elapsed time (s)"].tolist()
        assert flagged == pytest.approx([180.0, 420.0])
        assert [abs(t - 150.0) < 0.5 for t in data["Temperature (K)"]] == [True] * 11
    reopened = [m for m in fault_messages(caplog) if f"reopened the connection to {LS350_RESOURCE}" in m]
    assert len(reopened) == 2


# ---- which failures mean the session is gone ---------------------------------------------------

@pytest.mark.parametrize("code, resource, gone", [
    (StatusCode.error_connection_lost, "TCPIP0::192.168.1.40::7180::SOCKET", True),
    (StatusCode.error_connection_lost, "GPIB0::12::INSTR", True),
    (StatusCode.error_invalid_object, "ASRL3::INSTR", True),
    (StatusCode.error_io, "ASRL3::INSTR", True),  # the serial port's handle refused: the adapter gone
    (StatusCode.error_io, "TCPIP0::192.168.1.40::7180::SOCKET", True),
    (StatusCode.error_io, "GPIB0::12::INSTR", False),  # a bus glitch on a live session
    (StatusCode.error_timeout, "TCPIP0::192.168.1.40::7180::SOCKET", False),
    (StatusCode.error_serial_framing, "ASRL3::INSTR", False),  # noise on a live line
])
def test_only_failures_that_leave_the_session_dead_call_for_a_new_one(code, resource, gone):
    assert session_gone(pyvisa.errors.VisaIOError(code), resource) is gone


def test_a_resource_closed_on_purpose_is_not_a_lost_one():
    assert not session_gone(pyvisa.errors.InvalidSession(), "ASRL3::INSTR")
    assert not session_gone(TimeoutError("no reply"), "ASRL3::INSTR")
