"""The sample panel: which sample and cell, at what pressure on which scale, and how old it is.

A pressure means little without the scale it was read on (the diamond-edge and vibron scales
differ by ~18 GPa near 150 GPa, paper 000), so the panel never takes one without the other: the
calculator's "Use" fills in the value and its scale together. The age of the hydride since
synthesis is shown in days, because a decaying sample (paper 002) changes from one day to the
next.

Calculator: the reading (diamond Raman edge in cm^-1 or ruby R1 line in nm) goes through the
scales of :mod:`daclab.analysis.pressure`. An ambient reference measured on the same
spectrometer (an unstressed part of the anvil, or a ruby chip outside the cell at room
temperature) removes the spectrometer's calibration offset::

    offset = reference_measured - reference_of_scale        P = scale(reading - offset [, T])

Ruby readings are also corrected from the ruby's temperature T to 296 K (Ragan 1992 below
296 K, Datchi 2007 above, see ``ruby_temperature_shift_nm``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Callable

from qtpy.QtCore import QDate, Qt, QTimer, Signal
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDateEdit, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                            QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget)

from daclab.analysis.pressure import PRESSURE_SCALES, PressureReading, pressure_from
from daclab.limits import LimitError, check_choice, check_range
from daclab.sample_info import MAX_PRESSURE_GPA, SampleInfo, parse_date

DIAMOND, RUBY = "diamond Raman edge", "ruby R1 line"  # PressureScale.reads of the two methods
METHOD_LABELS = {DIAMOND: "Diamond Raman edge", RUBY: "Ruby R1 line"}
UNIT_LABELS = {"cm-1": " cm⁻¹", "nm": " nm"}
# The ambient line each scale's own formula is built on (nu0, lambda0 in daclab.analysis.pressure).
# Akahama & Kawamura 2010 has no nu0 of its own: it is a polynomial in the absolute edge, fitted by
# the same authors who put the ambient edge at 1334 cm^-1 (2006), so that is its reference.
# A measured ambient line further than this from the scale's is a wrong peak or a wrong unit,
# not a spectrometer offset.
REFERENCE_TOLERANCE = {"cm-1": 10.0, "nm": 2.0}
ROOM_TEMPERATURE_K = 296.0
PRESSURE_DECIMALS = 2


def scales_reading(reads: str) -> list[str]:
    """Names of the pressure scales that read ``reads`` (DIAMOND or RUBY), in registry order."""
    check_choice("pressure method", reads, (DIAMOND, RUBY))
    return [name for name, scale in PRESSURE_SCALES.items() if scale.reads == reads]


def calculate_pressure(scale: str, reading: float, reference: float | None = None,
                       temperature_K: float | None = None) -> PressureReading:
    """Pressure from one spectrometer reading on ``scale``, kept with the scale's name.

    ``reading``: diamond edge (cm^-1) or ruby R1 (nm), as the scale reads. ``reference``: the
    ambient line measured on the same spectrometer; the reading is shifted by
    ``reference - PRESSURE_SCALES[scale].ambient`` before the scale is applied (None: no offset).
    ``temperature_K``: the ruby's temperature, corrected to 296 K (ignored by diamond scales).
    Raises LimitError / ValueError naming the parameter, its value and the allowed range, also
    for a pressure below 0 (a reading below the ambient line).
    """
    check_choice("pressure scale", scale, tuple(PRESSURE_SCALES))
    unit = PRESSURE_SCALES[scale].unit
    corrected = reading
    if reference is not None:
        nominal, tolerance = PRESSURE_SCALES[scale].ambient, REFERENCE_TOLERANCE[unit]
        check_range(f"ambient {PRESSURE_SCALES[scale].reads}", reference, nominal - tolerance, nominal + tolerance,
                    unit)
        corrected = reading - (reference - nominal)
    gpa = float(pressure_from(scale, corrected, temperature_K))
    gpa = 0.0 if abs(gpa) < 1e-9 else gpa  # rounding at the ambient line is not a negative pressure
    check_range(f"pressure on {scale}", gpa, 0.0, MAX_PRESSURE_GPA, "GPa")
    return PressureReading(gpa, scale, float(reading), unit)


def days_since_text(synthesis: dt.date | None, today: dt.date) -> str:
    if synthesis is None:
        return "synthesis date unknown"
    days = (today - synthesis).days
    if days < 0:
        return f"synthesis date is {-days} day{'s' if days != -1 else ''} in the future"
    if days == 0:
        return "synthesised today"
    return f"{days} day{'s' if days != 1 else ''} since synthesis"


def _qdate(day: dt.date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _spin(low: float, high: float, decimals: int, step: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(decimals)
    spin.setSingleStep(step)
    spin.setKeyboardTracking(False)  # recalculate when a number is complete, not at every digit
    return spin


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet("color: #b71c1c;")
    label.hide()
    return label


def _show_error(label: QLabel, message: str) -> None:
    label.setText(message)
    label.setVisible(bool(message))


class PressureCalculator(QGroupBox):
    """Method, scale, reading, ambient reference (and ruby temperature) -> pressure; ``use``
    is emitted with the :class:`PressureReading` when the user takes it."""

    use = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Pressure calculator", parent)
        self._result: PressureReading | None = None
        self._scale_shown: str | None = None
        form = QFormLayout(self)
        self.method = QComboBox()
        for reads, label in METHOD_LABELS.items():
            self.method.addItem(label, reads)
        form.addRow("Method:", self.method)
        self.scale = QComboBox()
        form.addRow("Scale:", self.scale)
        self.reading = _spin(0.0, 100000.0, 2, 1.0)  # wide: an out-of-range value gets its message
        self.reading_label = QLabel("Reading:")
        form.addRow(self.reading_label, self.reading)
        self.reference = _spin(0.0, 100000.0, 2, 0.1)
        self.reference.setToolTip("The ambient line measured on the same spectrometer; its difference from the "
                                  "scale's own ambient line is removed from the reading as a calibration offset.")
        self.reference_label = QLabel("Ambient ref.:")
        form.addRow(self.reference_label, self.reference)
        self.temperature = _spin(0.0, 1000.0, 1, 1.0)
        self.temperature.setSuffix(" K")
        self.temperature.setValue(ROOM_TEMPERATURE_K)
        self.temperature.setToolTip("Temperature of the ruby; its R1 line is corrected to 296 K.")
        self.temperature_label = QLabel("Ruby temp.:")
        form.addRow(self.temperature_label, self.temperature)
        self.result = QLabel("—")
        self.result.setStyleSheet("font-weight: bold;")
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip("Put this pressure and its scale into the sample's pressure")
        row = QHBoxLayout()
        row.addWidget(self.result, 1)
        row.addWidget(self.use_button)
        form.addRow("Pressure:", row)
        self.message = _error_label()
        form.addRow(self.message)

        self.method.currentIndexChanged.connect(self._method_changed)
        self.scale.currentIndexChanged.connect(self._scale_changed)
        for spin in (self.reading, self.reference, self.temperature):
            spin.valueChanged.connect(self.recalculate)
        self.use_button.clicked.connect(self._use_clicked)
        self._method_changed()

    # ---- choices ----------------------------------------------------------------------------

    def set_method(self, reads: str) -> None:
        self.method.setCurrentIndex(self.method.findData(check_choice("pressure method", reads, (DIAMOND, RUBY))))

    def set_scale(self, name: str) -> None:
        """Choose ``name`` (switching the method to the one it reads)."""
        check_choice("pressure scale", name, tuple(PRESSURE_SCALES))
        self.set_method(PRESSURE_SCALES[name].reads)
        self.scale.setCurrentIndex(self.scale.findData(name))

    def _method_changed(self) -> None:
        reads = self.method.currentData()
        self.scale.blockSignals(True)
        self.scale.clear()
        for name in scales_reading(reads):
            self.scale.addItem(name, name)
        self.scale.blockSignals(False)
        first = self.scale.currentData()
        unit = PRESSURE_SCALES[first].unit
        for spin in (self.reading, self.reference):
            spin.blockSignals(True)
            spin.setSuffix(UNIT_LABELS[unit])
            spin.setDecimals(2 if unit == "cm-1" else 3)
            spin.setValue(PRESSURE_SCALES[first].ambient)  # 0 GPa until a reading is typed
            spin.blockSignals(False)
        self.reading_label.setText("Edge:" if reads == DIAMOND else "R1 line:")
        self.reference_label.setText("Ambient edge:" if reads == DIAMOND else "Ambient R1:")
        ruby = reads == RUBY
        self.temperature_label.setVisible(ruby)
        self.temperature.setVisible(ruby)
        self._scale_shown = first
        self.recalculate()

    def _scale_changed(self) -> None:
        name = self.scale.currentData()
        if name is None:
            return
        # An ambient reference left at the previous scale's own line follows the new scale's.
        if self._scale_shown is not None and self.reference.value() == PRESSURE_SCALES[self._scale_shown].ambient:
            self.reference.blockSignals(True)
            self.reference.setValue(PRESSURE_SCALES[name].ambient)
            self.reference.blockSignals(False)
        self._scale_shown = name
        self.recalculate()

    # ---- result -----------------------------------------------------------------------------

    def _use_clicked(self) -> None:
        if self._result is not None:
            self.use.emit(self._result)

    def current(self) -> PressureReading | None:
        """The pressure shown now (None while the input is invalid)."""
        return self._result

    def recalculate(self) -> None:
        scale = self.scale.currentData()
        temperature = self.temperature.value() if self.method.currentData() == RUBY else None
        try:
            self._result = calculate_pressure(scale, self.reading.value(), self.reference.value(), temperature)
        except ValueError as error:  # LimitError included: the message names parameter, value, range
            self._result = None
            self.result.setText("—")
            _show_error(self.message, str(error))
        else:
            self.result.setText(f"{self._result.gpa:.{PRESSURE_DECIMALS}f} GPa")
            _show_error(self.message, "")
        self.use_button.setEnabled(self._result is not None)


class SamplePanel(QWidget):
    """Name, cell, pressure with its scale, synthesis date and days since, and the calculator.

    ``sample_info()`` / ``set_sample_info()`` read and fill it; ``changed`` is emitted after any
    edit (and once after ``set_sample_info``). ``today`` gives the date the age is counted to.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, today: Callable[[], dt.date] = dt.date.today):
        super().__init__(parent)
        self._today = today
        self._loading = False
        self._exact_pressure: tuple[str, float] | None = None  # (text shown, full value) from Use or a set
        self._synthesis_given: tuple[dt.date, str] | None = None  # a given date-time kept while its day stands

        layout = QVBoxLayout(self)
        title = QLabel("Sample")
        title.setStyleSheet("font-weight: bold; font-size: 12pt;")
        layout.addWidget(title)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. CeH9")
        form.addRow("Sample:", self.name)
        self.cell = QLineEdit()
        self.cell.setPlaceholderText("e.g. cell 1")
        form.addRow("Cell:", self.cell)
        self.pressure = QLineEdit()
        self.pressure.setPlaceholderText("not measured")
        pressure_row = QHBoxLayout()
        pressure_row.addWidget(self.pressure, 1)
        pressure_row.addWidget(QLabel("GPa"))
        form.addRow("Pressure:", pressure_row)
        self.scale = QComboBox()
        for name, scale in PRESSURE_SCALES.items():
            self.scale.addItem(f"{name} ({'ruby' if scale.reads == RUBY else 'diamond edge'})", name)
            self.scale.setItemData(self.scale.count() - 1, scale.reference, Qt.ToolTipRole)
        form.addRow("Scale:", self.scale)
        self.pressure_message = _error_label()
        form.addRow(self.pressure_message)
        self.synthesis_known = QCheckBox()
        self.synthesis_known.setToolTip("Synthesis date known")
        self.synthesis = QDateEdit()
        self.synthesis.setCalendarPopup(True)
        self.synthesis.setDisplayFormat("yyyy-MM-dd")
        self.synthesis.setDate(_qdate(self._today()))
        date_row = QHBoxLayout()
        date_row.addWidget(self.synthesis_known)
        date_row.addWidget(self.synthesis, 1)
        form.addRow("Synthesis:", date_row)
        self.days = QLabel()
        form.addRow("Age:", self.days)
        layout.addLayout(form)
        self.calculator = PressureCalculator()
        layout.addWidget(self.calculator)
        layout.addStretch(1)

        self.calculator.use.connect(self.use_pressure)
        for edit in (self.name, self.cell, self.pressure):
            edit.textChanged.connect(self._edited)
        self.scale.currentIndexChanged.connect(self._edited)
        self.synthesis_known.toggled.connect(self._edited)
        self.synthesis.dateChanged.connect(self._edited)
        # the age moves on at midnight while the window stays open for a cooldown
        self._day_timer = QTimer(self)
        self._day_timer.timeout.connect(self.refresh_age)
        self._day_timer.start(10 * 60 * 1000)
        self._edited()

    # ---- the sample ---------------------------------------------------------------------------

    def sample_info(self) -> SampleInfo:
        """The fields as a :class:`SampleInfo`; LimitError (naming the field) if one is invalid."""
        return SampleInfo(name=self.name.text().strip(), cell=self.cell.text().strip(),
                          pressure_GPa=self._pressure_GPa(), pressure_scale=self.scale.currentData(),
                          synthesis_date=self._synthesis_text())

    def set_sample_info(self, info: SampleInfo) -> None:
        self._loading = True
        try:
            self.name.setText(info.name)
            self.cell.setText(info.cell)
            self._set_pressure(info.pressure_GPa, info.pressure_scale)
            self.calculator.set_scale(info.pressure_scale)
            moment = parse_date("synthesis date", info.synthesis_date)
            self._synthesis_given = None if moment is None else (moment.date(), info.synthesis_date)
            self.synthesis_known.setChecked(moment is not None)
            if moment is not None:
                self.synthesis.setDate(_qdate(moment.date()))
        finally:
            self._loading = False
        self._edited()

    def use_pressure(self, reading: PressureReading) -> None:
        """Take a calculated pressure: value and scale go in together."""
        self._set_pressure(reading.gpa, reading.scale)

    def _set_pressure(self, gpa: float, scale: str) -> None:
        text = "" if math.isnan(gpa) else f"{gpa:.{PRESSURE_DECIMALS}f}"
        self._exact_pressure = (text, gpa)
        loading, self._loading = self._loading, True  # one 'changed' for the pair, not two
        try:
            self.pressure.setText(text)
            self.scale.setCurrentIndex(self.scale.findData(scale))
        finally:
            self._loading = loading
        self._edited()

    def _pressure_GPa(self) -> float:
        text = self.pressure.text().strip()
        if self._exact_pressure is not None and text == self._exact_pressure[0]:
            return self._exact_pressure[1]
        if not text:
            return math.nan
        try:
            return float(text)
        except ValueError:
            raise LimitError(f"pressure = {text!r} is not a number; give it in GPa, or leave it empty "
                             "if not measured") from None

    def _synthesis_date(self) -> dt.date | None:
        return self.synthesis.date().toPython() if self.synthesis_known.isChecked() else None

    def _synthesis_text(self) -> str:
        day = self._synthesis_date()
        if day is None:
            return ""
        if self._synthesis_given is not None and self._synthesis_given[0] == day:
            return self._synthesis_given[1]  # keep the time of day a simulated sample or a file gave
        return day.isoformat()

    # ---- display ------------------------------------------------------------------------------

    def days_since_synthesis(self) -> int | None:
        """Whole days from the synthesis date to ``today`` (None when unknown)."""
        day = self._synthesis_date()
        return None if day is None else (self._today() - day).days

    def refresh_age(self) -> None:
        self.days.setText(days_since_text(self._synthesis_date(), self._today()))

    def _edited(self, *_) -> None:
        self.synthesis.setEnabled(self.synthesis_known.isChecked())
        self.refresh_age()
        try:
            SampleInfo(pressure_GPa=self._pressure_GPa())
        except ValueError as error:
            _show_error(self.pressure_message, str(error))
        else:
            _show_error(self.pressure_message, "")
        if not self._loading:
            self.changed.emit()
