"""Lab files: roles bound to drivers and resources; the built-in simulated lab end to end."""

import math

import pytest
import pyvisa

from daclab import roles
from daclab.procedures.rt_sweep import RESISTANCE_PATHS
from daclab.lab import Lab, LabFileError, load_lab, parse_lab
from daclab.limits import LimitError
from sim_helpers import hold

MINIMAL = {"kind": "temperature_controller", "driver": "lakeshore350:LakeShore350", "resource": "ASRL3::INSTR",
           "visa_library": "sim:lakeshore350.yaml"}


@pytest.fixture
def simulated_lab():
    lab = Lab.open("simulated")
    yield lab
    lab.close()


def test_the_simulated_lab_binds_every_role_to_an_object_that_plays_it(simulated_lab):
    kinds = {name: binding.kind for name, binding in simulated_lab.config.roles.items()}
    assert set(kinds.values()) == {"temperature_controller", "resistance_meter", "pulse_source",
                                   "conductance_source", "current_step_source", "magnet"}
    for name, kind in kinds.items():
        assert isinstance(simulated_lab.role(name), {
            "temperature_controller": roles.TemperatureController, "resistance_meter": roles.ResistanceMeter,
            "pulse_source": roles.PulseSource, "conductance_source": roles.ConductanceSource,
            "current_step_source": roles.CurrentStepSource, "magnet": roles.MagnetSupply}[kind])
    # one 6221 serves the delta, pulse and conductance roles
    assert simulated_lab.role("delta").source is simulated_lab.role("pulse").source
    assert simulated_lab.roles_of_kind("resistance_meter") == ["delta", "bridge370", "bridge921"]


def test_the_three_resistance_paths_read_the_sample_at_the_virtual_temperature(simulated_lab):
    world = simulated_lab.world
    currents = {role: simulated_lab.role(role).set_excitation(current) for role, current in RESISTANCE_PATHS.items()}
    assert currents["delta"] is None  # delta mode drives exactly the current asked for
    assert currents["bridge370"] == pytest.approx(316e-6, rel=0.01)
    for temperature in (150.0, 40.0):
        hold(world, temperature)  # while the SIM921's output filter settles
        simulated_lab.role("bridge921").bridge.wait_for_settling(10.0)  # e^-10 of the step left
        expected = float(world.sample.resistance(temperature))
        for role in RESISTANCE_PATHS:
            value = simulated_lab.role(role).resistance()
            assert value == pytest.approx(expected, abs=max(2e-3 * expected, 5e-5)), (role, temperature)


def test_the_lab_limits_reach_a_driver_that_plays_its_role_itself(simulated_lab):
    controller = simulated_lab.role("temperature")
    with pytest.raises(LimitError, match=r"\[1.5, 320\] K"):
        controller.set_setpoint(400.0)
    with pytest.raises(LimitError, match=r"pulse current\[1\] = 0.09 A is outside the allowed range \[-0.08, 0.08\] A"):
        simulated_lab.role("pulse").pulse_iv([0.01, 0.09], width_s=0.01, period_s=2.0)


def test_a_lab_file_from_disk_with_tighter_limits(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text("name: one controller\nlimits: {max_temperature_K: 200}\nsimulation: {sample: lah10_aging}\n"
                    "roles:\n  temperature:\n" + "".join(f"    {k}: {v}\n" for k, v in MINIMAL.items()))
    with Lab.open(path) as lab:
        assert lab.world.sample.name.startswith("LaH10")
        with pytest.raises(LimitError, match=r"setpoint = 250 K is outside the allowed range \[1.5, 200\] K"):
            lab.role("temperature").set_setpoint(250.0)
        with pytest.raises(KeyError, match="no role 'magnet'; roles: temperature"):
            lab.role("magnet")


@pytest.mark.parametrize("change, message", [
    ({"kind": "thermometer"}, "kind = 'thermometer' is not a role; roles: temperature_controller"),
    ({"driver": "lakeshore350"}, "driver = 'lakeshore350' must be 'module:Class'"),
    ({"resource": ""}, "missing 'resource'"),
    ({"colour": "red"}, "unknown key.*colour"),
])
def test_bad_role_entries_are_refused_with_their_name(change, message):
    entry = {**MINIMAL, **change}
    with pytest.raises(LabFileError, match=f"roles.temperature: {message}"):
        parse_lab({"name": "x", "roles": {"temperature": entry}})


def test_bad_sections_are_refused():
    with pytest.raises(LabFileError, match="'roles' must map"):
        parse_lab({"name": "x", "roles": []})
    with pytest.raises(LabFileError, match="limits: unknown key.*max_pressure"):
        parse_lab({"name": "x", "roles": {"t": MINIMAL}, "limits": {"max_pressure": 3}})
    with pytest.raises(FileNotFoundError, match="built-in: simulated"):
        load_lab("no_such_lab")


def test_a_driver_that_does_not_play_its_role_is_refused():
    config = parse_lab({"name": "x", "simulation": {}, "roles": {
        "magnet": {**MINIMAL, "kind": "magnet"}}})
    with Lab(config) as lab, pytest.raises(LabFileError, match="LakeShore350 does not implement MagnetSupply"):
        lab.role("magnet")


def test_simulation_section_sets_the_clock_speed():
    config = parse_lab({"name": "x", "simulation": {"speedup": 50.0}, "roles": {"t": MINIMAL}})
    with Lab(config) as lab:
        assert lab.world.clock.speedup == 50.0
    assert math.isinf(parse_lab({"name": "x", "simulation": {}, "roles": {"t": MINIMAL}}).simulation.speedup)


def test_closing_the_lab_closes_every_visa_session():
    lab = Lab.open("simulated")
    for name in lab.config.roles:
        lab.role(name)
    sessions = [instrument.adapter for instrument in lab._instruments.values()]
    lab.close()
    for adapter in sessions:
        connection = getattr(adapter, "connection", None) or adapter.mainframe.adapter.connection
        with pytest.raises(pyvisa.errors.InvalidSession):
            connection.session


def test_two_modules_of_one_mainframe_are_two_instruments_on_one_session_and_one_lock():
    bridge = {"kind": "resistance_meter", "driver": "srs_sim921:sim921_in_mainframe", "resource": "ASRL6::INSTR",
              "visa_library": "sim:srs_sim900.yaml", "adapter": "srs_sim921:SIM921ResistanceMeter"}
    config = parse_lab({"name": "two bridges", "simulation": {},
                        "roles": {"temperature": MINIMAL, "sample": {**bridge, "options": {"port": 1}},
                                  "reference": {**bridge, "options": {"port": 2}}}})
    with Lab(config) as lab:
        sample, reference = lab.instrument("sample"), lab.instrument("reference")
        assert sample is not reference  # the options name different modules
        assert sample.adapter.port.id == 1 and reference.adapter.port.id == 2
        mainframes = {id(sample.adapter.mainframe.adapter.connection), id(reference.adapter.mainframe.adapter.connection)}
        assert len(mainframes) == 1  # one VISA session to the serial port
        assert lab.exclusive("sample") is lab.exclusive("reference")  # and one lock on it
        assert lab.role("sample").resistance() > 0  # port 1 holds the bridge on the sample
        with pytest.raises(Exception, match="failed 4 times"):  # port 2 of the simulated mainframe is empty
            reference.id
