"""The side panels: instrument status (against the virtual cryostat's truth, and read from a
second thread while a measurement runs) and sample (pressure calculator against the scales and
textbook numbers, days since synthesis)."""

import datetime as dt
import math
import re
import threading

import numpy as np
import pytest
from pymeasure.experiment import Results
from qtpy.QtCore import QDate, Qt

from daclab import clock, runner
from daclab.analysis.pressure import (PRESSURE_SCALES, diamond_edge_akahama2006, diamond_edge_eremets2023,
                                      ruby_mao1986, ruby_shen2020)
from daclab.gui.sample_panel import SamplePanel, calculate_pressure
from daclab.gui.status_panel import StatusPanel, StatusPoller, read_status
from daclab.lab import Lab, parse_lab
from daclab.limits import LimitError
from daclab.procedures.critical_current import CriticalCurrent
from daclab.sample_info import SampleInfo
from daclab.sim import Fault, VirtualCryostat
from gui_helpers import save_screenshot

SOURCE = "keithley6221"  # device names of the twins in sim_configs
MAGNET = "ami430"
NOISE_K = 0.01  # the twin's thermometer noise is 2 mK rms


@pytest.fixture
def lab():
    with Lab.open("simulated", start_K=200.0, seed=1) as opened:
        yield opened


def kelvin_in(text: str) -> float:
    number, unit = text.split()
    assert unit == "K"
    return float(number)


def start_ramps(lab) -> float:
    """Field to 1 T at 0.5 T/min and setpoint to 150 K at 0.5 K/min, then one virtual minute:
    0.5 T, and the setpoint 0.5 K below where it started, which is returned. (set_field returns
    once the supply ramps, after the persistent switch has warmed while the stage cooled.)"""
    magnet = lab.role("magnet")
    magnet.set_ramp_rate(0.5)
    magnet.set_field(1.0)
    start_K = lab.world.stage_temperature()  # a ramp starts from the reading of the moment
    lab.role("temperature").set_setpoint(150.0, rate_K_per_min=0.5)
    clock.sleep(60.0)
    return start_K


# ---- read_status against the virtual cryostat -----------------------------------------------

def test_a_quiet_cryostat_reads_as_its_truth(lab):
    status = read_status(lab)
    world = lab.world
    assert status.problems == ()
    assert status.stage_K == pytest.approx(world.stage_temperature(), abs=NOISE_K)
    assert status.setpoint_K == pytest.approx(world.stage.loops[1].ramping_setpoint_K, abs=1e-3)
    assert status.ramping is False and status.heater_range == "off" and status.heater_percent == 0.0
    assert status.field_T == 0.0 and status.magnet_state == world.magnet.state == "at_zero"
    assert status.source_output_on is False and world.instrument_state[SOURCE]["settings"]["output"] == 0
    assert status.timestamp == pytest.approx(world.clock.timestamp())
    # The simulated lab's 350 has a second thermometer on the cell body (input B), which follows
    # the sample with its lag behind the stage.
    assert status.sample_K == pytest.approx(world.sample_temperature(), abs=NOISE_K)
    assert status.sample_sensor == "input B"


def test_a_ramp_the_source_output_and_the_field_show_as_the_twins_hold_them(lab):
    world = lab.world
    start_K = start_ramps(lab)
    lab.instrument("pulse").enable_source()  # the 6221's own OUTP 1, as a forgotten DC current would be
    magnet = lab.role("magnet")

    status = read_status(lab)
    loop = world.stage.loops[1]
    assert status.problems == ()
    assert status.ramping is True and status.ramp_rate_K_per_min == 0.5
    assert status.setpoint_K == pytest.approx(start_K - 0.5, abs=NOISE_K)
    assert status.setpoint_K == pytest.approx(loop.ramping_setpoint_K, abs=1e-3)
    assert status.heater_range == f"range {loop.heater_range}" == "range 5"
    assert status.heater_percent == pytest.approx(loop.output_percent, abs=0.05)
    assert status.stage_K == pytest.approx(world.stage_temperature(), abs=NOISE_K)
    assert status.source_output_on is True and world.instrument_state[SOURCE]["settings"]["output"] == 1
    assert status.field_T == pytest.approx(0.5, abs=1e-6) and status.field_T == pytest.approx(world.field())
    assert status.magnet_state == world.magnet.state == "ramping"

    magnet.wait_until_holding(timeout_s=600.0)
    lab.instrument("pulse").disable_source()
    status = read_status(lab)
    assert (status.field_T, status.magnet_state, status.source_output_on) == (pytest.approx(1.0), "holding", False)


def test_a_failed_read_is_nan_with_its_reason_and_the_other_instruments_are_still_read(lab):
    read_status(lab)  # connect everything first
    lab.world.faults.add(Fault(MAGNET, "disconnect"))
    lab.world.faults.add(Fault(SOURCE, "disconnect"))
    status = read_status(lab)
    assert math.isnan(status.field_T) and status.magnet_state == "" and status.source_output_on is None
    assert len(status.problems) == 2
    # read once, not retried: the panel asks again a second later
    assert status.problems[0].startswith("magnet: field: InstrumentFault") and "failed 1 times; last: connection lost" in status.problems[0]
    assert status.problems[1].startswith("delta: output: InstrumentFault")
    assert status.stage_K == pytest.approx(lab.world.stage_temperature(), abs=NOISE_K)


def test_a_sample_sensor_is_read_when_named_and_an_empty_input_is_a_problem(lab):
    named = read_status(lab, sample_input="A")  # the stage's own sensor stands in for a sample sensor
    assert named.sample_sensor == "input A"
    assert named.sample_K == pytest.approx(lab.world.stage_temperature(), abs=NOISE_K)
    empty = read_status(lab, sample_input="C")  # no sensor wired: the 350 flags the reading invalid
    assert math.isnan(empty.sample_K)
    assert empty.problems == ("temperature: input C reading is invalid (invalid reading)",)


def test_a_lab_without_magnet_or_source_reads_none_and_reports_no_problem():
    config = parse_lab({"simulation": {"start_K": 80.0}, "roles": {"temperature": {
        "kind": "temperature_controller", "driver": "lakeshore350:LakeShore350", "resource": "ASRL3::INSTR",
        "visa_library": "sim:lakeshore350.yaml"}}})
    with Lab(config) as small:
        status = read_status(small)
    assert status.problems == () and status.stage_K == pytest.approx(80.0, abs=NOISE_K)
    assert math.isnan(status.field_T) and status.magnet_state == ""
    assert status.source_output_on is None and status.current_sources == ()


# ---- reading from a second thread while a measurement runs -----------------------------------

def critical_current(lab):
    return CriticalCurrent(lab=lab, temperatures_K="60", max_current_mA=20.0, step_mA=2.0, thermalise_s=0.0,
                           stable_s=10.0)


def test_polling_every_10_ms_during_a_measurement_changes_nothing_it_measures(qtbot, tmp_path):
    with Lab.open("simulated", start_K=60.0, seed=3) as quiet:
        alone = runner.run(critical_current(quiet), tmp_path / "alone.csv")
    reference = Results.load(str(tmp_path / "alone.csv"), procedure_class=CriticalCurrent).data

    with Lab.open("simulated", start_K=60.0, seed=3) as lab:
        poller = StatusPoller(lab, interval_s=0.01)
        statuses = []
        poller.status.connect(statuses.append)
        poller.start()
        qtbot.waitUntil(lambda: len(statuses) >= 1, timeout=10000)  # as in the window: polling before the run
        interleaved = []

        def on_event(topic, record):
            # at every point, let the poller read twice mid-run before the measurement goes on
            if topic == "progress":
                reads = poller.reads
                interleaved.append(_wait_for_reads(poller, reads + 2))

        outcome = {}
        measuring = threading.Thread(target=lambda: outcome.update(
            run=runner.run(critical_current(lab), tmp_path / "polled.csv", on_event=on_event)))
        measuring.start()
        qtbot.waitUntil(lambda: not measuring.is_alive(), timeout=15000)
        assert poller.stop()
        data = Results.load(str(tmp_path / "polled.csv"), procedure_class=CriticalCurrent).data

    run = outcome["run"]
    assert (run.status, run.error) == ("finished", None) and alone.status == "finished"
    assert run.points == alone.points == len(data) == len(reference) > 10
    assert interleaved and all(interleaved)  # the poller really read in the middle of the run
    # Same pulses sent; the voltages differ only by the noise of the extra thermometer reads.
    np.testing.assert_array_equal(data["Current (A)"], reference["Current (A)"])
    assert np.all(np.abs(data["Temperature (K)"] - 60.0) < 0.1)
    assert np.allclose(data["Voltage (V)"], reference["Voltage (V)"], rtol=0.02, atol=2e-7)
    assert all(s.problems == () for s in statuses)
    assert all(abs(s.stage_K - 60.0) < 0.1 and s.source_output_on is not None for s in statuses)


def _wait_for_reads(poller, count, timeout_s=5.0):
    """Wait (wall time, on the measurement's thread) until the poller has read ``count`` times."""
    pause = threading.Event()  # never set: its wait is the wall-clock pause
    for _ in range(int(timeout_s / 0.001)):
        if poller.reads >= count:
            return True
        pause.wait(0.001)
    return poller.reads >= count


# ---- the panel ----------------------------------------------------------------------------------

class RecordingPanel(StatusPanel):
    """Notes the thread each status is shown on."""

    def __init__(self, **options):
        super().__init__(**options)
        self.shown_on = []

    def show_status(self, status):
        if status is not None:  # None: the panel clearing itself, also from __init__
            self.shown_on.append(threading.current_thread())
        super().show_status(status)


def test_the_panel_shows_the_instruments_and_the_source_on_badge(qtbot, lab):
    panel = RecordingPanel(interval_s=0.05)
    qtbot.addWidget(panel)
    panel.resize(330, 600)
    panel.show()
    start_K = start_ramps(lab)
    panel.set_lab(lab)
    qtbot.waitUntil(lambda: panel.latest() is not None, timeout=10000)
    assert panel.badge.text() == "source off"

    lab.instrument("pulse").enable_source()
    qtbot.waitUntil(lambda: panel.badge.text() == "SOURCE ON", timeout=5000)
    assert "#c62828" in panel.badge.styleSheet()  # red, besides the words
    values = {key: label.text() for key, label in panel.values.items()}
    assert kelvin_in(values["stage"]) == pytest.approx(lab.world.stage_temperature(), abs=NOISE_K)
    assert kelvin_in(values["setpoint"]) == pytest.approx(start_K - 0.5, abs=NOISE_K)
    assert values["ramp"] == "ramping at 0.5 K/min"
    assert values["heater"] == f"{lab.world.stage.loops[1].output_percent:.1f} % (range 5)"
    assert values["field"] == "0.5000 T" and values["magnet"] == "ramping"
    assert kelvin_in(values["sample"]) == pytest.approx(lab.world.sample_temperature(), abs=NOISE_K)
    assert panel.stale.isHidden() and panel.problems.text() == ""
    assert set(panel.shown_on) == {threading.main_thread()}  # widgets touched on the GUI thread only
    path = save_screenshot(panel, "status_panel_source_on")
    assert path.stat().st_size > 0

    panel.set_lab(None)
    assert panel.poller is None and panel.badge.text() == "source: no reading yet"


def test_the_panel_marks_a_status_older_than_5_s_as_stale_and_lists_problems(qtbot, lab):
    now = [100.0]
    panel = StatusPanel(now=lambda: now[0])
    qtbot.addWidget(panel)
    lab.world.faults.add(Fault(MAGNET, "disconnect"))
    status = read_status(lab)
    panel.show_status(status)
    assert not panel.is_stale() and panel.stale.isHidden()
    assert panel.values["field"].text() == "—" and "magnet: field: InstrumentFault" in panel.problems.text()
    now[0] += 5.5
    panel.check_stale()
    assert panel.is_stale() and not panel.stale.isHidden()
    assert panel.stale.text().startswith("STALE: no reading for 6 s")
    assert panel.badge.text() == "source off"
    panel.resize(330, 600)
    panel.show()
    assert save_screenshot(panel, "status_panel_stale_problem").stat().st_size > 0
    panel.show_status(status)
    assert panel.stale.isHidden() and panel.latest() is status


# ---- the pressure calculator -----------------------------------------------------------------

@pytest.fixture
def sample_panel(qtbot):
    panel = SamplePanel(today=lambda: dt.date(2026, 3, 10))
    qtbot.addWidget(panel)
    panel.resize(330, 500)
    return panel


def calculate(panel, scale, reading, reference=None, temperature_K=None):
    calculator = panel.calculator
    calculator.set_scale(scale)
    calculator.reading.setValue(reading)
    calculator.reference.setValue(PRESSURE_SCALES[scale].ambient if reference is None else reference)
    if temperature_K is not None:
        calculator.temperature.setValue(temperature_K)
    return calculator.current()


@pytest.mark.parametrize("scale, reading, temperature_K, expected", [
    ("akahama2006", 1800.0, None, diamond_edge_akahama2006(1800.0)),
    ("eremets2023", 1650.0, None, diamond_edge_eremets2023(1650.0)),
    ("mao1986", 705.0, None, ruby_mao1986(705.0)),
    ("ruby2020", 700.0, 80.0, ruby_shen2020(700.0, 80.0)),
])
def test_the_calculator_gives_the_scales_own_numbers(sample_panel, scale, reading, temperature_K, expected):
    result = calculate(sample_panel, scale, reading, temperature_K=temperature_K)
    assert result.scale == scale and result.gpa == pytest.approx(expected, rel=1e-12)
    assert sample_panel.calculator.result.text() == f"{expected:.2f} GPa"
    assert sample_panel.calculator.use_button.isEnabled()


def test_the_calculator_agrees_with_textbook_numbers(sample_panel):
    # Ruby R1 at ambient (694.24 nm, Mao 1986) is 0 GPa; at low pressure the line moves
    # 0.365 nm/GPa (Piermarini et al. 1975), so +0.73 nm is 2.0 GPa.
    assert calculate(sample_panel, "mao1986", 694.24).gpa == 0.0
    assert calculate(sample_panel, "mao1986", 694.24 + 0.73).gpa == pytest.approx(2.0, abs=0.02)
    # Akahama & Kawamura 2006: dP/dnu at the ambient edge is K0/nu0 = 547 GPa / 1334 cm-1, so
    # an edge 2 cm-1 up is 0.820 GPa.
    assert calculate(sample_panel, "akahama2006", 1336.0).gpa == pytest.approx(2 * 547 / 1334, abs=0.002)


def test_an_ambient_reference_off_the_scales_removes_the_spectrometer_offset(sample_panel):
    # A spectrometer reading 2 cm-1 high shows the ambient edge at 1336 and a 1800 edge at 1802.
    assert calculate(sample_panel, "akahama2006", 1802.0, reference=1336.0).gpa == \
        pytest.approx(diamond_edge_akahama2006(1800.0), rel=1e-12)
    assert calculate(sample_panel, "ruby2020", 700.5, reference=694.75).gpa == pytest.approx(ruby_shen2020(700.0))


def test_every_scale_reference_is_the_ambient_line_of_its_formula():
    for name in ("akahama2006", "eremets2023", "mao1986", "ruby2020"):  # AK2010 has no ambient point
        assert calculate_pressure(name, PRESSURE_SCALES[name].ambient).gpa == 0.0
    assert all(math.isfinite(scale.ambient) for scale in PRESSURE_SCALES.values())  # each calculator has one


def test_use_puts_the_value_and_its_scale_into_the_sample(qtbot, sample_panel):
    calculate(sample_panel, "eremets2023", 1700.0)
    changes = []
    sample_panel.changed.connect(lambda: changes.append(1))
    qtbot.mouseClick(sample_panel.calculator.use_button, Qt.LeftButton)
    assert changes == [1]  # value and scale arrive as one change
    info = sample_panel.sample_info()
    assert info.pressure_scale == "eremets2023"
    assert info.pressure_GPa == pytest.approx(diamond_edge_eremets2023(1700.0), rel=1e-12)
    assert sample_panel.pressure.text() == f"{diamond_edge_eremets2023(1700.0):.2f}"


@pytest.mark.parametrize("scale, reading, reference, temperature_K, message", [
    ("akahama2006", 500.0, None, None, "nu_cm1=500.0 cm-1 is outside the allowed range [1200, 2600] cm-1"),
    ("akahama2006", 1300.0, None, None, r"pressure on akahama2006 = -1\d\.\d+ GPa is outside the allowed range "
                                        r"\[0, 600\] GPa"),
    ("akahama2010", 1400.0, None, None, "nu_cm1=1400.0 cm-1 is outside the allowed range [1455, 2600] cm-1"),
    ("akahama2006", 1800.0, 1360.0, None, "ambient diamond Raman edge = 1360 cm-1 is outside the allowed range "
                                          "[1324, 1344] cm-1"),
    ("ruby2020", 700.0, None, 950.0, "T_K=950.0 K is outside the allowed range [0, 900] K"),
])
def test_bad_input_shows_its_message_and_disables_use(sample_panel, scale, reading, reference, temperature_K,
                                                       message):
    assert calculate(sample_panel, scale, reading, reference, temperature_K) is None
    calculator = sample_panel.calculator
    assert not calculator.use_button.isEnabled() and not calculator.message.isHidden()
    pattern = message if message.startswith("pressure") else re.escape(message)
    assert re.fullmatch(pattern, calculator.message.text())
    with pytest.raises(ValueError, match=pattern):
        calculate_pressure(scale, reading, reference, temperature_K)


# ---- the sample fields ----------------------------------------------------------------------------

def test_days_since_synthesis_count_to_the_injected_today(sample_panel):
    sample_panel.set_sample_info(SampleInfo(name="LaH10", synthesis_date="2026-02-28"))
    assert sample_panel.days_since_synthesis() == 10  # 28 Feb -> 10 Mar 2026 (not a leap year)
    assert sample_panel.days.text() == "10 days since synthesis"
    sample_panel.synthesis.setDate(QDate(2026, 3, 9))
    assert sample_panel.days.text() == "1 day since synthesis"
    assert sample_panel.sample_info().synthesis_date == "2026-03-09"
    sample_panel.synthesis_known.setChecked(False)
    assert sample_panel.days.text() == "synthesis date unknown" and sample_panel.sample_info().synthesis_date == ""


def test_sample_info_round_trips_and_a_simulated_sample_keeps_its_time_of_day(sample_panel):
    info = SampleInfo(name="CeH9", cell="cell 1", pressure_GPa=93.456, pressure_scale="eremets2023",
                      synthesis_date="2026-02-28T14:30:00+01:00")
    sample_panel.set_sample_info(info)
    assert sample_panel.sample_info() == info
    simulated = SampleInfo.of_simulation(VirtualCryostat("lah10_aging"))
    sample_panel.set_sample_info(simulated)
    assert sample_panel.sample_info() == simulated
    sample_panel.set_sample_info(SampleInfo())
    assert sample_panel.sample_info() == SampleInfo()


def test_a_pressure_that_is_no_number_or_out_of_range_is_named(sample_panel):
    sample_panel.pressure.setText("abc")
    assert "pressure = 'abc' is not a number" in sample_panel.pressure_message.text()
    with pytest.raises(LimitError, match="pressure = 'abc' is not a number"):
        sample_panel.sample_info()
    sample_panel.pressure.setText("700")
    with pytest.raises(LimitError, match=r"pressure = 700 GPa is outside the allowed range \[0, 600\] GPa"):
        sample_panel.sample_info()


def test_sample_panel_screenshot(qtbot, sample_panel):
    sample_panel.set_sample_info(SampleInfo(name="CeH9", cell="cell 1 (BeCu, 100 um culet)", pressure_GPa=93.5,
                                            pressure_scale="akahama2006", synthesis_date="2026-02-28"))
    calculate(sample_panel, "akahama2006", 1300.0)  # below the ambient edge: the message shows
    sample_panel.show()
    assert save_screenshot(sample_panel, "sample_panel_bad_input").stat().st_size > 0
    calculate(sample_panel, "ruby2020", 697.5, temperature_K=20.0)
    assert save_screenshot(sample_panel, "sample_panel_ruby").stat().st_size > 0
