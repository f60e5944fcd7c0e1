"""Faults injected into every instrument during every kind of step: the soak in small.

Each case runs one step twice on the virtual cryostat, without faults and then with time-outs,
garbled replies, dropped connections and slow replies spread over its instruments' traffic
(:mod:`daclab.sim.soak`, which ``make soak`` runs with 1000 faults over the overnight sequence).
The step must finish, every fault must be in the run's log, no point may be lost, every point
not flagged must agree with the clean run within the noise, and the twins must end safe.
"""

from pathlib import Path

import pytest

from daclab.sequence_file import sequence_from_dict
from daclab.sim.soak import run_soak

# A few percent of a short step's messages: faults in a row on one exchange stay rarer than the
# four that make it a lost instrument (that path has its own tests).
FAULTS = 25
FAST = {"thermalise_s": 120.0, "stable_s": 20.0}
RT = {"upper_K": 112.0, "lower_K": 92.0, "direction": "cooling and warming", "rate_K_per_min": 1.0,
      "point_every_K": 0.25, "readings_per_point": 1, "reading_interval_s": 0.0, "return_rate_K_per_min": 5.0, **FAST}

STEPS = {
    "rt_sweep, 6221/2182A delta": ({"rt_sweep": {**RT, "resistance_path": "delta"}}, "ceh9_cell1", 112.0),
    "rt_sweep, Lakeshore 370": ({"rt_sweep": {**RT, "resistance_path": "bridge370"}}, "ceh9_cell1", 112.0),
    "rt_sweep, SIM921": ({"rt_sweep": {**RT, "resistance_path": "bridge921"}}, "ceh9_cell1", 112.0),
    "field_series": ({"field_series": {**RT, "fields_T": "0, 4", "field_rate_T_per_min": 0.5,
                                       "direction": "cooling"}}, "ceh9_cell1", 112.0),
    "critical_current": ({"critical_current": {"temperatures_K": "60, 67", "max_current_mA": 80.0, "step_mA": 2.0,
                                               "stop_voltage_mV": 0.1, "width_um": 30.0, "thickness_um": 1.0,
                                               **FAST}}, "ceh9_cell1", 60.0),
    "dI/dV, current steps": ({"differential_conductance": {"method": "current steps", "temperatures_K": "20, 50",
                                                           "bias_points": 41, "max_current_A": 0.02, **FAST}},
                             "ceh9_cell1", 20.0),
    "dI/dV, DCON": ({"differential_conductance": {"method": "DCON", "temperatures_K": "10, 20, 30, 40, 50",
                                                  "bias_points": 101,
                                                  "max_current_A": 0.02, **FAST}}, "ceh9_cell1", 20.0),
    "aging": ({"aging": {**RT, "upper_K": 180.0, "lower_K": 150.0, "visits": 2, "interval_days": 1.0,
                         "resistance_path": "bridge921", "direction": "cooling"}}, "lah10_aging", 180.0),
    "field_series, Cryomagnetics 4G": ({"field_series": {**RT, "fields_T": "0, 4", "field_rate_T_per_min": 0.5,
                                                         "direction": "cooling"}}, "ceh9_cell1", 112.0),
    "set_temperature": ({"set_temperature": {"setpoint_K": 80.0, "rate_K_per_min": 1.0, "log_every_s": 5.0}},
                        "ceh9_cell1", 100.0),
    "set_field": ({"set_field": {"field_T": 2.0, "rate_T_per_min": 0.5, "log_every_s": 10.0}}, "ceh9_cell1", 100.0),
    "wait": ({"wait": {"minutes": 20.0, "log_every_s": 10.0}}, "ceh9_cell1", 100.0),
}


# the example lab with the magnet on a 4G supply; every other case runs in the built-in lab
LABS = {"field_series, Cryomagnetics 4G": Path(__file__).parents[1] / "examples" / "labs" / "simulated_4g.yaml"}


@pytest.mark.parametrize("name", list(STEPS))
def test_a_step_with_faults_in_every_instrument_finishes_with_the_clean_runs_data(tmp_path, name):
    step, sample, start_K = STEPS[name]
    spec = sequence_from_dict({"name": "faults", "lab": "simulated", "suspend": {"instrument": {"timeout_min": 20}},
                               "steps": [step]}, source="<test>")
    report = run_soak(faults=FAULTS, out=tmp_path, sample=sample, seed=2, spec=spec, start_K=start_K,
                      lab=LABS.get(name, "simulated"))
    print("\n".join(report.lines()))
    assert report.status == report.clean_status == "finished"
    # a short step's traffic takes fewer than planned (3 % of messages at most), but every
    # instrument it talks to gets some
    assert report.faults_injected >= 8
    assert set(report.faults_by_device) == set(report.devices)
    assert ("cryomagnetics4g" in report.devices) == (name in LABS)  # the lab's own magnet supply was the one used
    assert report.faults_logged == report.faults_injected  # every fault in the log, and nothing else
    assert report.points > 0 and report.points_lost == 0
    assert report.points_differing == 0, report.problems
    assert report.points_flagged > 0
    assert report.runs_unsafe == 0, report.problems
