"""The form that asks for one measurement, checks it as it is typed, and queues it.

Pick a step kind (R-T sweep, field series, Ic pulses, dI/dV, aging, or an action), fill in its
parameters, queue it; or load a whole sequence file. The inputs are those of the procedure's
pymeasure parameters (the way pymeasure's ManagedWindow builds its inputs), without the ones the
sequence supplies (the lab and who the sample is: the sample panel sets them with
:meth:`ParameterForm.set_context`).

Every edit is checked twice, so that nothing that would be refused at the cryostat can be
queued:

1. each field alone, through its pymeasure Parameter (type, range; units typed after the number
   must be the parameter's own);
2. the whole step exactly as the sequence engine checks a sequence file
   (:func:`daclab.sequence_file.sequence_from_dict`): the procedure's own rules against the lab's
   software limits, e.g. a window whose bottom is above its top.

Every field a message names (by its attribute name, e.g. ``upper_K``) gets a red border and the
message in its tooltip; all messages are listed under the form, and Queue stays disabled until
there are none. A number field whose default is NaN ("blank = ...") may be left empty: the step
then leaves that parameter out, so the procedure's default applies.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter, ListParameter, Parameter
from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QTextOption
from qtpy.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel,
                            QLineEdit, QPushButton, QScrollArea, QSizePolicy, QTextEdit, QVBoxLayout, QWidget)

from daclab.limits import LimitError, check_choice
from daclab.procedures.base import allowed_values
from daclab.sequence_file import (FROM_SEQUENCE, STEP_KINDS, SequenceError, SequenceSpec, load_sequence,
                                  sequence_from_dict)

# Names a physicist reads in the kind chooser, in the order of the chooser.
KIND_LABELS = {
    "rt_sweep": "R-T sweep",
    "field_series": "Field series (Hc2)",
    "critical_current": "Critical current (pulses)",
    "differential_conductance": "Differential conductance",
    "aging": "Aging",
    "wait": "Wait",
    "set_temperature": "Set temperature",
    "set_field": "Set field",
}
FORM_SOURCE = "form"  # what the sequence engine's messages start with for a step of this form
INVALID_STYLE = "border: 2px solid #c62828; border-radius: 3px;"
ERROR_COLOUR = "#b71c1c"


def step_parameters(kind: str) -> dict[str, Parameter]:
    """The parameters a step of ``kind`` sets itself (not the lab's and the sample's), by attribute
    name: the procedure's own first, then those of its bases, each class in the order it defines
    them (the measurement's window and rates before the shared temperature-hold and end settings)."""
    check_choice("kind", kind, STEP_KINDS)
    found: dict[str, Parameter] = {}
    for klass in STEP_KINDS[kind].__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, Parameter) and name not in FROM_SEQUENCE and name not in found:
                found[name] = value
    return found


def format_number(value: float | int) -> str:
    """A number as the field shows it: no trailing '.0', no float noise ('0.1', '7200', '1e-09')."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return format(float(value), ".15g")


def names_in(message: str, names) -> list[str]:
    """The attribute names among ``names`` that ``message`` mentions as whole words."""
    return [name for name in names if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message)]


class _Invalid(Exception):
    """A field's entry that its Parameter refuses; the message names it, the entry and the range."""


_BLANK = object()  # a NaN-default number left empty: the step leaves the parameter out


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


class _Input:
    """One parameter's input: its widget, reading it through the Parameter, writing a value to it."""

    def __init__(self, name: str, template: Parameter):
        self.name = name
        self.template = copy.deepcopy(template)  # conversions set its value; the class's stays untouched
        self.widget = self._make_widget()
        self.tooltip = self._describe()
        self.widget.setToolTip(self.tooltip)
        self.write(template.default)

    # -- per kind of parameter ------------------------------------------------------------
    def _make_widget(self) -> QWidget:
        raise NotImplementedError

    def read(self) -> Any:
        """The value (or _BLANK); _Invalid when the Parameter refuses the entry."""
        raise NotImplementedError

    def write(self, value: Any) -> None:
        raise NotImplementedError

    def raw(self) -> Any:
        """The entry as it stands, valid or not (kept while another kind is shown)."""
        return self.read()

    def connect(self, slot) -> None:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------
    @property
    def units(self) -> str:
        return getattr(self.template, "units", None) or ""

    def _describe(self) -> str:
        default = self.template.default
        if isinstance(self.template, (FloatParameter, IntegerParameter)):
            units = f" {self.units}" if self.units else ""
            allowed = f"allowed {self.template.minimum:g} to {self.template.maximum:g}{units}"
            default_text = "blank" if _is_nan(default) else f"{format_number(default)}{units}"
        elif isinstance(self.template, ListParameter):
            allowed = allowed_values(self.template)
            default_text = str(default)
        elif isinstance(self.template, BooleanParameter):
            allowed = "on or off"
            default_text = "on" if default else "off"
        else:
            allowed = "text"
            default_text = repr(default)
        return f"{self.template.name} ({self.name})\n{allowed}; default {default_text}"

    def refuse(self, entry: str, why: str) -> _Invalid:
        try:  # a number is shown as typed, anything else quoted (so that '' and 'abc' stand out)
            float(entry)
            shown = entry
        except ValueError:
            shown = repr(entry)
        return _Invalid(f"{self.template.name} ({self.name}) = {shown} is not allowed: "
                        f"{allowed_values(self.template)} ({why})")

    def mark(self, messages: list[str]) -> None:
        """Red border and the messages in the tooltip when there are any; plain otherwise."""
        self.widget.setStyleSheet(INVALID_STYLE if messages else "")
        self.widget.setProperty("invalid", bool(messages))
        self.widget.setToolTip("\n\n".join([self.tooltip, *messages]))


class _LineInput(_Input):
    """An entry typed as text: a wrong one stays visible and can be marked (a spin box would
    silently clamp it)."""

    def _make_widget(self) -> QLineEdit:
        return QLineEdit()

    def raw(self) -> str:
        return self.widget.text()

    def write(self, value: Any) -> None:
        self.widget.setText("" if value is None else str(value))
        self.widget.setCursorPosition(0)  # a long list shows its start

    def connect(self, slot) -> None:
        self.widget.textChanged.connect(slot)


class _NumberInput(_LineInput):
    """A float or an integer, converted by its pymeasure Parameter ("250", "2.5e2", "250 K")."""

    def _make_widget(self) -> QLineEdit:
        edit = QLineEdit()
        if _is_nan(self.template.default):
            edit.setPlaceholderText("blank")
        return edit

    def read(self) -> Any:
        text = self.widget.text().strip()
        if not text or text.lower() == "nan":
            if _is_nan(self.template.default):
                return _BLANK
            raise self.refuse(text, "empty: enter a number")
        try:
            self.template.value = text
        except (TypeError, ValueError) as error:
            raise self.refuse(text, self._reason(text, error)) from None
        value = self.template.value
        if isinstance(value, float) and not math.isfinite(value):
            raise self.refuse(text, "not a finite number")
        return value

    def _reason(self, text: str, error: Exception) -> str:
        message = str(error)
        if "non-float" in message or "non-integer" in message:  # pymeasure's words for text it cannot read
            try:
                float(text)
            except ValueError:
                return "not a number"
            return "not a whole number"
        return message.removeprefix(f"{type(self.template).__name__} value is ")  # "above the maximum"

    def write(self, value: Any) -> None:
        if value is None or _is_nan(value):
            super().write("")
        else:  # a string is an entry kept from before, valid or not
            super().write(value if isinstance(value, str) else format_number(value))


class _TextInput(_LineInput):
    """Free text (lists of temperatures or fields, "60, 65, 70"); the procedure's check reads it."""

    def read(self) -> str:
        return self.widget.text().strip()

    def write(self, value: Any) -> None:
        if isinstance(value, (list, tuple)):  # as a sequence file may write it: [0, 3, 6]
            value = ", ".join(format_number(item) for item in value)
        super().write(value)


class _ChoiceInput(_Input):
    def _make_widget(self) -> QComboBox:
        combo = QComboBox()
        for choice in self.template.choices:
            combo.addItem(str(choice), choice)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(8)
        return combo

    def read(self) -> Any:
        return self.widget.currentData()

    def write(self, value: Any) -> None:
        position = self.widget.findData(value)
        if position < 0:
            raise LimitError(f"{self.template.name} ({self.name}) = {value!r} is not allowed: "
                             f"{allowed_values(self.template)}")
        self.widget.setCurrentIndex(position)

    def connect(self, slot) -> None:
        self.widget.currentIndexChanged.connect(slot)


class _FlagInput(_Input):
    def _make_widget(self) -> QCheckBox:
        return QCheckBox()

    def read(self) -> bool:
        return self.widget.isChecked()

    def write(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise LimitError(f"{self.template.name} ({self.name}) = {value!r} is not allowed: true or false")
        self.widget.setChecked(value)

    def connect(self, slot) -> None:
        self.widget.toggled.connect(slot)


def _input_for(name: str, template: Parameter) -> _Input:
    if isinstance(template, BooleanParameter):
        return _FlagInput(name, template)
    if isinstance(template, ListParameter):
        return _ChoiceInput(name, template)
    if isinstance(template, (FloatParameter, IntegerParameter)):
        return _NumberInput(name, template)
    return _TextInput(name, template)


class _MessageBox(QTextEdit):
    """A few lines of messages under the form, as tall as they need up to MAX_HEIGHT (then it
    scrolls), wrapped anywhere if need be (a long file path must not widen the side panel),
    hidden when there is nothing to say."""

    MAX_HEIGHT = 130

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setAcceptRichText(False)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.hide()

    def show_lines(self, lines: list[str], error: bool = True) -> None:
        self.setPlainText("\n".join(lines))
        self.setStyleSheet(f"color: {ERROR_COLOUR};" if error else "")
        self.setVisible(bool(lines))
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        document = self.document()
        document.setTextWidth(self.viewport().width())
        height = math.ceil(document.size().height()) + 2 * self.frameWidth()
        self.setFixedHeight(min(self.MAX_HEIGHT, max(height, self.fontMetrics().height() + 8)))


class ParameterForm(QWidget):
    """A step kind, its parameters with units, defaults and ranges, checked on every edit; Queue
    sends the one-step sequence, "Load sequence file..." a whole file (both as
    :class:`~daclab.sequence_file.SequenceSpec` through :attr:`queue_requested`)."""

    validity_changed = Signal(bool)
    queue_requested = Signal(object)  # a SequenceSpec

    def __init__(self, parent: QWidget | None = None, kind: str = "rt_sweep"):
        super().__init__(parent)
        self._lab_file = "simulated"
        self._sample: dict[str, Any] = {}
        self._inputs: dict[str, _Input] = {}
        self._kind = ""
        self._remembered: dict[str, dict[str, Any]] = {}  # entries of the kinds not shown now
        self._errors: list[str] = []
        self._valid: bool | None = None
        self._quiet = False  # set while many inputs change at once: check once at the end
        self._last_folder = str(Path.cwd())
        self._build_ui()
        self.set_kind(kind)

    # ---- layout ---------------------------------------------------------------------------

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        chooser_row = QHBoxLayout()
        chooser_row.addWidget(QLabel("Measurement"))
        self.kind_combo = QComboBox()
        for kind in STEP_KINDS:
            self.kind_combo.addItem(KIND_LABELS.get(kind, kind), kind)
        self.kind_combo.currentIndexChanged.connect(self._kind_chosen)
        chooser_row.addWidget(self.kind_combo, 1)
        layout.addLayout(chooser_row)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.scroll, 1)

        self.error_box = _MessageBox()
        self.error_box.setObjectName("errors")
        layout.addWidget(self.error_box)
        self.file_box = _MessageBox()
        self.file_box.setObjectName("file_messages")
        layout.addWidget(self.file_box)

        buttons = QHBoxLayout()
        self.load_button = QPushButton("Load sequence file...")
        self.load_button.setToolTip("Check a sequence file (*.yaml) and queue all its steps")
        self.load_button.clicked.connect(self._choose_sequence_file)
        self.queue_button = QPushButton("Queue")
        self.queue_button.setToolTip("Queue this measurement on the lab and sample of the sample panel")
        self.queue_button.setDefault(True)
        self.queue_button.clicked.connect(self._queue_clicked)
        buttons.addWidget(self.load_button)
        buttons.addStretch(1)
        buttons.addWidget(self.queue_button)
        layout.addLayout(buttons)

    def _build_inputs(self, kind: str) -> None:
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 4, 0)
        grid.setHorizontalSpacing(6)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 4)
        self._inputs = {}
        for row, (name, template) in enumerate(step_parameters(kind).items()):
            field = _input_for(name, template)
            field.widget.setObjectName(name)
            label = QLabel(template.name)
            label.setWordWrap(True)
            label.setToolTip(field.tooltip)
            label.setBuddy(field.widget)
            field.widget.setMinimumWidth(90)
            grid.addWidget(label, row, 0)
            if field.units:
                grid.addWidget(field.widget, row, 1)
                grid.addWidget(QLabel(field.units), row, 2)
            else:
                grid.addWidget(field.widget, row, 1, 1, 2)
            field.connect(self._edited)
            self._inputs[name] = field
        grid.setRowStretch(len(self._inputs), 1)
        self.scroll.setWidget(page)  # the page of the previous kind is deleted with it

    # ---- kind -----------------------------------------------------------------------------

    def kind(self) -> str:
        return self._kind

    def set_kind(self, kind: str) -> None:
        """Show the inputs of ``kind`` (a key of STEP_KINDS); entries made for another kind are
        kept and come back when it is chosen again."""
        check_choice("kind", kind, STEP_KINDS)
        if kind == self._kind:
            return
        if self._kind:
            self._remembered[self._kind] = {name: field.raw() for name, field in self._inputs.items()}
        self._kind = kind
        self._quiet = True
        try:
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
            self._build_inputs(kind)
            for name, entry in self._remembered.get(kind, {}).items():
                self._inputs[name].write(entry)
        finally:
            self._quiet = False
        self.validate()

    def _kind_chosen(self, position: int) -> None:
        kind = self.kind_combo.itemData(position)
        if kind and kind != self._kind:
            self.set_kind(kind)

    # ---- values ---------------------------------------------------------------------------

    def parameters(self) -> dict[str, Any]:
        """The step's own parameters as entered (attribute -> value), ready for a sequence's step;
        a blank NaN-default number is left out (the procedure's default applies). Raises
        SequenceError naming every field whose entry its Parameter refuses."""
        values, problems = self._read_inputs()
        if problems:
            raise SequenceError([message for message, _ in problems])
        return values

    def set_parameters(self, values: dict[str, Any]) -> None:
        """Enter ``values`` (attribute -> value; the others keep their entries). NaN or None in a
        number field leaves it blank. LimitError for a name the step does not have."""
        unknown = [name for name in values if name not in self._inputs]
        if unknown:
            raise LimitError(f"{self._kind} has no parameter(s) {', '.join(map(repr, unknown))}; "
                             f"parameters: {', '.join(self._inputs)}")
        self._quiet = True
        try:
            for name, value in values.items():
                self._inputs[name].write(value)
        finally:
            self._quiet = False
        self.validate()

    def input_widget(self, name: str) -> QWidget:
        """The input of parameter ``name`` (to type into it, or to look at its mark)."""
        return self._inputs[name].widget

    def set_context(self, lab_file: str, sample: dict[str, Any]) -> None:
        """The lab and the sample the step is checked against and queued with. ``sample`` holds
        the keys of a sequence file's inline sample (name, cell, pressure_GPa, pressure_scale,
        synthesis_date); a key whose value is None or NaN is unknown and left out."""
        self._lab_file = lab_file
        self._sample = {key: value for key, value in sample.items() if value is not None and not _is_nan(value)}
        self.validate()

    def sequence(self, name: str | None = None) -> SequenceSpec:
        """The one-step sequence to queue (named ``name``, or by the kind and the sample); raises
        SequenceError, every problem a line, when the form is not valid."""
        values = self.parameters()
        return sequence_from_dict(self._sequence_data(values, name), source=FORM_SOURCE)

    def _sequence_data(self, values: dict[str, Any], name: str | None) -> dict[str, Any]:
        if name is None:
            sample_name = self._sample.get("name")
            name = KIND_LABELS.get(self._kind, self._kind) + (f" ({sample_name})" if sample_name else "")
        return {"name": name, "lab": self._lab_file, "sample": dict(self._sample),
                "steps": [{self._kind: values}]}

    # ---- checking -------------------------------------------------------------------------

    def is_valid(self) -> bool:
        return not self._errors

    def errors(self) -> list[str]:
        """The problems, one a line, each naming the parameter, its value and what is allowed
        (without the "form: step 1 (kind): " the sequence engine puts in front)."""
        return list(self._errors)

    def invalid_fields(self) -> set[str]:
        """Attribute names of the fields marked now."""
        return {name for name, field in self._inputs.items() if field.widget.property("invalid")}

    def validate(self) -> bool:
        """Check every field, then the whole step; mark, list, enable Queue. True when valid."""
        values, problems = self._read_inputs()
        if not problems:  # a step check on a refused entry's default would blame the wrong field
            try:
                sequence_from_dict(self._sequence_data(values, None), source=FORM_SOURCE)
            except SequenceError as error:
                for problem in error.problems:
                    message = self._without_source(problem)
                    problems.append((message, names_in(message, self._inputs)))
        marks: dict[str, list[str]] = {name: [] for name in self._inputs}
        for message, names in problems:
            for name in names:
                marks[name].append(message)
        for name, field in self._inputs.items():
            field.mark(marks[name])
        self._errors = [message for message, _ in problems]
        self.error_box.show_lines(self._errors)
        valid = not self._errors
        self.queue_button.setEnabled(valid)
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        return valid

    def _read_inputs(self) -> tuple[dict[str, Any], list[tuple[str, list[str]]]]:
        values: dict[str, Any] = {}
        problems: list[tuple[str, list[str]]] = []
        for name, field in self._inputs.items():
            try:
                value = field.read()
            except _Invalid as error:
                problems.append((str(error), [name]))
                continue
            if value is not _BLANK:
                values[name] = value
        return values, problems

    def _without_source(self, problem: str) -> str:
        for prefix in (f"{FORM_SOURCE}: step 1 ({self._kind}): ", f"{FORM_SOURCE}: "):
            if problem.startswith(prefix):
                return problem[len(prefix):]
        return problem

    def _edited(self, *_args) -> None:
        if not self._quiet:
            self.validate()

    # ---- queueing -------------------------------------------------------------------------

    def _queue_clicked(self) -> None:
        try:
            spec = self.sequence()
        except SequenceError:
            self.validate()  # e.g. the lab file changed on disk since the last check
            return
        self.queue_requested.emit(spec)

    def _choose_sequence_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a sequence file", self._last_folder,
                                              "Sequence files (*.yaml *.yml);;All files (*)")
        if path:
            self.load_sequence_file(path)

    def load_sequence_file(self, path: str | Path) -> SequenceSpec | None:
        """Check the sequence file at ``path`` and queue it (queue_requested); on a problem show
        its FILE:LINE lines under the form, queue nothing and return None."""
        path = Path(path)
        self._last_folder = str(path.parent)
        try:
            spec = load_sequence(path)
        except SequenceError as error:
            self.file_box.show_lines([f"{path.name} was not queued:", *error.problems], error=True)
            return None
        steps = len(spec.steps)
        self.file_box.show_lines([f"Queued {spec.name!r} from {path.name} ({steps} step{'s' if steps != 1 else ''})"],
                                 error=False)
        self.queue_requested.emit(spec)
        return spec


__all__ = ["ParameterForm", "KIND_LABELS", "step_parameters", "format_number", "names_in"]
