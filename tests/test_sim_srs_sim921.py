"""The SIM900 + SIM921 drivers against their twin, end to end through pyvisa, checked against the model."""

import pytest
import pyvisa

from daclab import clock as clocks
from daclab import sim
from daclab.instruments.ieee488 import StandardEvent
from daclab.instruments.srs_sim921 import SIM900, SIM921ResistanceMeter, excitation_current
from sim_helpers import hold, model_reading, noise_ohm

TAU_S = 3.0  # TCON 2, the power-on time constant


@pytest.fixture
def mainframe(world):
    instrument = SIM900("ASRL6::INSTR", visa_library=f"{sim.sim_config('srs_sim900.yaml')}@sim", timeout=200)
    yield instrument
    instrument.adapter.close()


@pytest.fixture
def bridge(mainframe):
    return mainframe.sim921(1)


def test_identities_and_serial_settings(mainframe, bridge):
    assert mainframe.adapter.connection.baud_rate == 9600
    assert mainframe.id.startswith("Stanford_Research_Systems,SIM900")
    assert bridge.id.startswith("Stanford_Research_Systems,SIM921")


@pytest.mark.parametrize("kelvin", [150.0, 50.0])
def test_sim921_reads_the_sample_at_100_uA(world, bridge, kelvin):
    hold(world, kelvin)
    bridge.range_code = 1  # 200 mohm holds the ~70 mohm normal state
    meter = SIM921ResistanceMeter(bridge)
    actual = meter.set_excitation(100e-6)  # paper 002; nearest on this range: 30 uV / 0.2 ohm
    assert actual == pytest.approx(150e-6)
    assert bridge.excitation_current_A == pytest.approx(actual)
    assert bridge.excitation_voltage_V == pytest.approx(30e-6)
    clocks.sleep(20 * TAU_S)  # the filter forgets the power-on settings entirely
    reading = meter.resistance()
    expected = world.sample_resistance()
    assert reading == pytest.approx(expected, abs=5 * noise_ohm(world, actual))
    if kelvin > world.sample.tc_K:
        assert reading > 0.05
    else:
        assert expected < 1e-12
    assert bridge.temperature == 0.0 and bridge.temperature_deviation == 0.0  # no curve on the sample
    assert bridge.phase == 0.0
    assert bridge.resistance_deviation == pytest.approx(reading, abs=5 * noise_ohm(world, actual))


def test_the_reading_settles_with_the_time_constant(world, bridge):
    hold(world, 150.0)
    bridge.range_code = 1
    meter = SIM921ResistanceMeter(bridge)
    meter.set_excitation(150e-6)
    clocks.sleep(20 * TAU_S)
    settled = bridge.resistance
    meter.stop()  # EXON 0: the signal drops to noise, the filtered reading follows over tau
    assert bridge.resistance == pytest.approx(settled, rel=1e-3)
    clocks.sleep(TAU_S)
    assert bridge.resistance == pytest.approx(settled / 2.718, rel=0.01)
    clocks.sleep(10 * TAU_S)
    assert abs(bridge.resistance) < 5 * noise_ohm(world, 150e-6)
    assert bridge.excitation_current_A == 0.0 and bridge.excitation_voltage_V == 0.0
    # the role waits 5 tau after turning it back on: within exp(-5) = 0.7 % of the signal
    meter.set_excitation(150e-6)
    assert bridge.resistance == pytest.approx(model_reading(world, 150e-6), rel=0.01)
    # without the wait the reading is far off; FRST restarts the filter at the present signal
    bridge.excitation_enabled = False
    clocks.sleep(10 * TAU_S)
    bridge.excitation_enabled = True
    assert bridge.resistance < 0.5 * settled
    bridge.reset_filter()
    assert bridge.resistance == pytest.approx(model_reading(world, 150e-6), abs=5 * noise_ohm(world, 150e-6))


def test_too_large_an_excitation_heats_the_sample_as_the_model_says(world, bridge):
    hold(world, 97.0)
    bridge.range_code = 1
    meter = SIM921ResistanceMeter(bridge)
    small = meter.set_excitation(150e-6)
    clocks.sleep(20 * TAU_S)
    gentle = meter.resistance()
    large = meter.set_excitation(50e-3)  # 10 mV over 200 mohm
    assert large == pytest.approx(excitation_current(7, 1))
    clocks.sleep(20 * TAU_S)
    hot = meter.resistance()
    temperature, field, days = world.sample_conditions()
    assert world.sample.heating(large, temperature, field, days, None) > 1.0
    assert hot == pytest.approx(model_reading(world, large), abs=5 * noise_ohm(world, large))
    assert hot - gentle > 100 * noise_ohm(world, small)


def test_autorange_gain_picks_the_range_and_takes_two_seconds(world, bridge):
    hold(world, 150.0)
    bridge.range_code = 9
    start = world.clock.now()
    bridge.autorange_gain(poll_s=0.25)
    assert world.clock.now() - start == pytest.approx(2.0)
    assert bridge.range_code == 1  # the smallest full scale above ~70 mohm


def test_transparent_mode_talks_to_the_same_module(world, mainframe, bridge):
    direct = mainframe.sim921(1, transparent=True)
    direct.range_code = 3
    assert direct.id.startswith("Stanford_Research_Systems,SIM921")  # *IDN? reaches the module, not the mainframe
    assert bridge.range_code == 3  # forwarding closes the connection first
    assert mainframe.connected_port is None
    direct.frequency = 17.0
    direct.adapter.release()
    assert mainframe.id.startswith("Stanford_Research_Systems,SIM900")
    assert bridge.frequency == 17.0


def test_port_queues(world, mainframe):
    mainframe.send(1, "*IDN?")
    assert mainframe.port_1.bytes_waiting == 51
    first = mainframe.get_bytes(1, 10)
    assert first == b"Stanford_R"
    assert mainframe.port_1.bytes_waiting == 41
    assert (first + mainframe.get_bytes(1, 255)).endswith(b"ver2.2\r\n")
    mainframe.send(1, "RVAL?")
    mainframe.port_1.flush()
    assert mainframe.port_1.bytes_waiting == 0
    mainframe.send(2, "RVAL?")  # an empty slot: nothing answers
    assert mainframe.get_bytes(2) == b""
    mainframe.send(1, "RANG?")
    mainframe.reset_port()
    assert mainframe.get_bytes(1) == b""


@pytest.mark.parametrize("command, query, unchanged", [
    ("EXCI 12", "EXCI?", 2), ("FREQ 100", "FREQ?", 13.7), ("RANG 10", "RANG?", 5), ("TCON 7", "TCON?", 2),
    ("MODE 4", "MODE?", 1), ("EXON 2", "EXON?", 1), ("CURV 4", "CURV?", 1), ("AGAI MAYBE", "AGAI?", 0),
])
def test_module_values_out_of_range_set_the_modules_execution_error_and_change_nothing(world, mainframe, bridge,
                                                                                     command, query, unchanged):
    bridge.write(command)
    assert bridge.check_errors() == [StandardEvent.EXECUTION_ERROR]
    assert float(bridge.ask(query)) == unchanged
    assert mainframe.standard_event_status == 0  # the mainframe itself saw nothing wrong


def test_module_errors_in_transparent_mode_too(world, mainframe):
    direct = mainframe.sim921(1, transparent=True)
    direct.write("EXCI 12")
    direct.write("RVALUE?")
    assert direct.standard_event_status == StandardEvent.EXECUTION_ERROR | StandardEvent.COMMAND_ERROR
    assert direct.excitation_code == 2
    direct.adapter.release()


def test_unknown_module_command_sets_the_modules_command_error_and_gets_no_reply(world, mainframe, bridge):
    bridge.write("RVALUE?")
    assert mainframe.port_1.bytes_waiting == 0
    assert bridge.standard_event_status == StandardEvent.COMMAND_ERROR


def test_mainframe_errors(world, mainframe):
    mainframe.write("FOO 1")
    assert mainframe.check_errors() == [StandardEvent.COMMAND_ERROR]
    for bad in ('SNDT 9,"RVAL?"', "FLSH 9", 'CONN 0,"xyz"', 'CONN 1,""'):
        mainframe.write(bad)
        assert mainframe.standard_event_status == StandardEvent.EXECUTION_ERROR, bad
    for bad_query in ("GETN? 1,300", "NINP? 9"):
        mainframe.write(bad_query)
        with pytest.raises(pyvisa.errors.VisaIOError):
            mainframe.read()
        assert mainframe.standard_event_status == StandardEvent.EXECUTION_ERROR, bad_query
    assert mainframe.id.startswith("Stanford_Research_Systems,SIM900")  # still not connected anywhere


def test_module_reset_and_clear(world, bridge):
    bridge.range_code = 2
    bridge.write("EXCI 12")
    bridge.clear()
    assert bridge.standard_event_status == 0
    bridge.reset()
    assert bridge.range_code == 5
