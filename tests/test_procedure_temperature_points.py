"""The shared 'measure at each temperature of a list' parameters and steps, on the virtual cryostat."""

import pytest
from pymeasure.experiment import Results

from daclab import runner
from daclab.lab import Lab
from daclab.limits import LimitError
from daclab.procedures.base import LabProcedure
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.differential_conductance import DifferentialConductance
from daclab.procedures.rt_sweep import RTSweep
from daclab.procedures.temperature_points import TemperaturePoints

HOLD = {"tolerance_K", "stable_s", "thermalise_s", "stabilise_timeout_s"}
POINTS = HOLD | {"temperatures_K", "rate_K_per_min"}


class PointLog(TemperaturePoints, LabProcedure):
    """Goes to each temperature and records when it got there, the thermometer and the sample."""

    DATA_COLUMNS = ["Time (s)", "Temperature (K)", "Sample temperature (K)"]

    def validate(self, config):
        self.points = self.validate_temperature_points(config.limits)

    def acquire(self):
        for kelvin in self.points:
            thermometer = self.go_to_point(kelvin)
            self.emit("results", {"Time (s)": self.elapsed_s(), "Temperature (K)": thermometer,
                                  "Sample temperature (K)": self.lab.world.sample_temperature()})


def test_the_procedures_share_one_set_of_names():
    assert POINTS <= set(CriticalCurrent.parameter_names())
    assert POINTS <= set(DifferentialConductance.parameter_names())
    assert HOLD <= set(RTSweep.parameter_names())


def test_the_ramp_estimate_is_the_travel_over_the_rate():
    procedure = PointLog(temperatures_K="10, 40, 20", rate_K_per_min=2.0)
    assert procedure.ramp_time_s(procedure.temperature_points()) == pytest.approx((30 + 20) / 2.0 * 60.0)
    stepped = PointLog(temperatures_K="10, 40, 20", rate_K_per_min=0.0)
    assert stepped.ramp_time_s(stepped.temperature_points()) == 0.0


@pytest.mark.parametrize("parameters, message", [
    ({"temperatures_K": "10, 500"}, r"temperatures_K\[1\] = 500 K is outside the allowed range \[1.5, 320\] K"),
    ({"temperatures_K": "10; x"}, r"temperatures_K = '10; x': 'x' is not a number in K.*e.g. '60, 65, 70'"),
    ({"rate_K_per_min": 50.0}, r"rate_K_per_min = 50 K/min is outside the allowed range \[0, 10\] K/min"),
])
def test_a_bad_list_or_rate_is_refused_by_name(tmp_path, parameters, message):
    with Lab.open("simulated", start_K=10.0) as lab:
        with pytest.raises(LimitError, match=message):
            runner.run(PointLog(lab=lab, **parameters), tmp_path / "refused.csv")


def test_each_point_is_held_then_the_sample_is_given_time_to_follow(tmp_path):
    parameters = dict(temperatures_K="12, 8", rate_K_per_min=1.0, tolerance_K=0.05, stable_s=30.0,
                      thermalise_s=1200.0)
    with Lab.open("simulated", start_K=10.0, seed=2) as lab:
        outcome = runner.run(PointLog(lab=lab, **parameters), tmp_path / "points.csv")
        assert outcome.status == "finished"
    data = Results.load(str(tmp_path / "points.csv"), procedure_class=PointLog).data
    assert data["Temperature (K)"].to_numpy() == pytest.approx([12.0, 8.0], abs=0.05)
    # 20 min after the thermometer settled the sample, minutes behind it, is there too.
    assert data["Sample temperature (K)"].to_numpy() == pytest.approx([12.0, 8.0], abs=0.05)
    # The second point: a 4 K ramp at 1 K/min (within tolerance 3 s before its end), then at least
    # the stable time and the wait.
    assert data["Time (s)"].diff().iloc[1] >= (4.0 - 0.05) * 60.0 + 30.0 + 1200.0
