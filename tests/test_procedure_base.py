"""The shared procedure behaviour: checks before instruments, metadata, progress, safe end, data on disk."""

import math
import threading

import pytest
from pymeasure.experiment import FloatParameter, IntegerParameter, Results

from daclab.lab import Lab
from daclab.limits import LimitError, parse_numbers
from daclab import runner
from daclab.procedures.base import LabProcedure


class ThermometerLog(LabProcedure):
    """Reads the thermometer every ``period_s``; fails at point ``fail_at`` when asked."""

    points = IntegerParameter("Points", default=5, minimum=1, maximum=1000)
    period_s = FloatParameter("Period", units="s", default=60.0, minimum=0.1, maximum=3600.0)
    fail_at = IntegerParameter("Fail at", default=-1, minimum=-1, maximum=1000)
    DATA_COLUMNS = ["Time (s)", "Temperature (K)"]

    def acquire(self):
        controller = self.role("temperature")
        for index in range(self.points):
            if index == self.fail_at:
                raise RuntimeError("instrument fell over")
            self.wait(self.period_s)
            self.emit("results", {"Time (s)": self.elapsed_s(), "Temperature (K)": controller.temperature()})
            self.report_progress((index + 1) / self.points)


@pytest.fixture
def lab():
    with Lab.open("simulated") as opened:
        yield opened


def test_an_unknown_parameter_is_refused_by_name():
    with pytest.raises(LimitError, match="unknown parameter.*pionts"):
        ThermometerLog(pionts=3)


def test_an_out_of_range_parameter_names_itself_its_value_and_the_range(lab, tmp_path):
    procedure = ThermometerLog(lab=lab, period_s=0.01)
    with pytest.raises(LimitError, match=r"Period \(period_s\) = 0.01 is not allowed: allowed range \[0.1, 3600\] s"):
        runner.run(procedure, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_a_missing_role_is_found_before_any_instrument_is_opened(tmp_path):
    lab_file = tmp_path / "lab.yaml"
    lab_file.write_text("name: bare\nroles:\n  delta:\n    kind: resistance_meter\n    driver: keithley6221:Keithley6221\n"
                        "    resource: GPIB0::12::INSTR\n")
    with pytest.raises(LimitError, match="no role.*temperature"):
        ThermometerLog(lab_file=str(lab_file)).check()


def test_a_run_writes_points_metadata_and_progress(lab, tmp_path):
    events = []
    outcome = runner.run(ThermometerLog(lab=lab), tmp_path / "run.csv", on_event=lambda t, r: events.append((t, r)))
    assert (outcome.status, outcome.points) == ("finished", 5)
    data = Results.load(str(tmp_path / "run.csv"), procedure_class=ThermometerLog).data
    assert len(data) == 5 and data["Time (s)"].iloc[-1] == pytest.approx(300.0)
    header = (tmp_path / "run.csv").read_text()
    assert "Run sample: CeH9 cell-1" in header and "Run pressure: 100 GPa (akahama2006)" in header
    assert "LSCI,MODEL350" in header
    progress = [r for t, r in events if t == "progress"]
    assert progress[-1] == 100.0 and progress == sorted(progress)
    assert [r for t, r in events if t == "eta"][-1] == 0.0


def test_a_failure_mid_run_keeps_the_points_and_holds_the_temperature(lab, tmp_path):
    controller = lab.role("temperature")
    controller.set_setpoint(10.0, rate_K_per_min=1.0)
    outcome = runner.run(ThermometerLog(lab=lab, fail_at=3), tmp_path / "run.csv")
    assert outcome.status == "failed" and "instrument fell over" in outcome.error and outcome.points == 3
    # 'hold': the ramp is stopped and the setpoint is the temperature read at the end
    assert controller.ramp_done() and controller.setpoint() == pytest.approx(controller.temperature(), abs=0.05)


def test_a_stop_request_ends_the_run_within_one_point(lab, tmp_path):
    taken = []
    outcome = runner.run(ThermometerLog(lab=lab, points=50), tmp_path / "run.csv",
                         should_stop=lambda: len(taken) >= 2,
                         on_event=lambda t, r: taken.append(r) if t == "progress" else None)
    assert outcome.status == "aborted" and outcome.points == 2


def test_the_heater_off_end_state(lab, tmp_path):
    runner.run(ThermometerLog(lab=lab, points=1, end_temperature="heater off"), tmp_path / "run.csv")
    assert lab.role("temperature").heater_output() == 0.0
    assert lab.role("temperature").control_loop.heater_range == 0


def test_days_since_synthesis_come_from_the_simulated_preset(tmp_path):
    with Lab.open("simulated") as lab:
        procedure = ThermometerLog(lab=lab, points=1, period_s=3600.0)
        runner.run(procedure, tmp_path / "run.csv")
        # the synthesis date is written to the second
        assert procedure.days_since_synthesis() == pytest.approx(lab.world.days_elapsed, abs=1.5 / 86400)
        assert not math.isnan(procedure.days_since_synthesis())


def test_number_lists_typed_as_text():
    assert parse_numbers("fields_T", "0, 3 6;9", "T", "0, 3") == [0.0, 3.0, 6.0, 9.0]
    with pytest.raises(LimitError, match=r"temperatures_K = '60, x': 'x' is not a number in K; .* e.g. '60, 65'"):
        parse_numbers("temperatures_K", "60, x", "K", "60, 65")
    with pytest.raises(LimitError, match="is empty"):
        parse_numbers("fields_T", " , ", "T", "0, 3")
    with pytest.raises(LimitError, match="'nan' is not a number"):
        parse_numbers("fields_T", "1, nan", "T", "0, 3")


def test_an_unknown_end_state_is_refused_with_the_choices(lab):
    with pytest.raises(LimitError, match=r"end_temperature\) = 'warm' is not allowed: allowed: hold, standby, heater off"):
        ThermometerLog(lab=lab, end_temperature="warm").check()


class FittedLog(ThermometerLog):
    """A thermometer log whose "fit" after each point runs on the analysis thread."""

    def acquire(self):
        self.fitted = []
        controller = self.role("temperature")
        for index in range(self.points):
            self.wait(self.period_s)
            self.emit("results", {"Time (s)": self.elapsed_s(), "Temperature (K)": controller.temperature()})
            self.analyse_in_background(lambda index=index: self.fit(index))
            if index == self.fail_at:
                raise RuntimeError("instrument fell over")

    def fit(self, index):
        self.on_fit(index)
        self.emit_analysis("fit", index=index, thread=threading.current_thread().name)


def test_fits_run_in_order_beside_the_measurement_and_all_end_in_the_records(lab, tmp_path):
    first_fit_may_end = threading.Event()
    procedure = FittedLog(lab=lab, points=4)
    # the first fit waits for the last point: done in line, the measurement could never reach it
    released = []
    procedure.on_fit = lambda index: index == 0 and released.append(first_fit_may_end.wait(10.0))
    points = []

    def on_event(topic, record):
        if topic == "results":
            points.append(record)
            if len(points) == 4:
                first_fit_may_end.set()

    outcome = runner.run(procedure, tmp_path / "run.csv", on_event=on_event)
    assert outcome.status == "finished" and outcome.points == 4
    assert released == [True]  # the last point came while the first fit was running
    fits = [record for record in outcome.analysis if record["kind"] == "fit"]
    assert [record["index"] for record in fits] == [0, 1, 2, 3]  # all of them, in the order asked
    assert {record["thread"] for record in fits} == {"FittedLog analysis"}


def test_a_failing_fit_is_logged_and_a_failed_run_still_records_the_fits_asked_for(lab, tmp_path, caplog):
    procedure = FittedLog(lab=lab, points=4, fail_at=2)

    def on_fit(index):
        if index == 1:
            raise ArithmeticError("fit diverged")

    procedure.on_fit = on_fit
    outcome = runner.run(procedure, tmp_path / "run.csv")
    assert outcome.status == "failed" and outcome.points == 3
    assert [record["index"] for record in outcome.analysis] == [0, 2]
    assert "fit diverged" in caplog.text


@pytest.mark.parametrize("started_before_s, kept_s, first_time_s", [
    (1000.0, 200.0, 1060.0),  # the step began 1000 s ago: its clock counts the time the run was down
    (-5000.0, 200.0, 260.0),  # a begin in the future (another virtual time line): on from the last row kept
    (None, 200.0, 260.0),  # a journal without the time stamp: on from the last row kept
])
def test_a_resumed_step_goes_on_with_its_own_time(lab, tmp_path, started_before_s, kept_s, first_time_s):
    procedure = ThermometerLog(lab=lab, points=2)
    now = lab.world.clock.timestamp()
    procedure.continue_elapsed_time(None if started_before_s is None else now - started_before_s, kept_s)
    events = []
    runner.run(procedure, tmp_path / "run.csv", on_event=lambda t, r: events.append((t, r)))
    data = Results.load(str(tmp_path / "run.csv"), procedure_class=ThermometerLog).data
    assert list(data["Time (s)"]) == pytest.approx([first_time_s, first_time_s + 60.0], abs=0.5)
    # the time left is this part's own pace (60 s a point), not stretched by the time before it
    assert [r for t, r in events if t == "eta"][0] == pytest.approx(60.0, abs=0.5)
