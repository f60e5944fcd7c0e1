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

Under the parameters, a group that opens on a click sets the conditions that pause a step and
retake its segment (a sequence file's ``suspend:``, :mod:`daclab.suspenders`): an instrument that
stops answering, the temperature leaving a band, a magnet quench (offered only when the lab has
a magnet). They are checked by the sequence loader with the step and kept for every kind.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from pathlib import Path
from typing import Any

from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter, ListParameter, Parameter
from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QTextOption
from qtpy.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFrame, QGridLayout, QHBoxLayout, QLabel,
                            QLineEdit, QPushButton, QScrollArea, QSizePolicy, QTextEdit, QToolButton, QVBoxLayout,
                            QWidget)

from daclab.lab import load_lab
from daclab.limits import LimitError, check_choice
from daclab.procedures.base import allowed_values
from daclab.sequence_file import (FROM_SEQUENCE, STEP_KINDS, SequenceError, SequenceSpec, load_sequence,
                                  sequence_from_dict)
from daclab.suspenders import KINDS as SUSPENDER_KINDS
from daclab.suspenders import MAX_TIMEOUT_MIN

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


def mark_widget(widget: QWidget, tooltip: str, messages: list[str], style: str = INVALID_STYLE) -> None:
    """``style`` (a red border) and the messages under the tooltip when there are any; plain
    otherwise. The "invalid" property lets tests and style sheets find what is marked."""
    widget.setStyleSheet(style if messages else "")
    widget.setProperty("invalid", bool(messages))
    widget.setToolTip("\n\n".join([tooltip, *messages]))


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
        mark_widget(self.widget, self.tooltip, messages)


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


SUSPEND_TITLE = "Pause and retake the segment when..."
# The conditions of daclab.suspenders the form offers, in the order they are met at the cryostat.
SUSPEND_CONDITIONS = {"instrument": "an instrument stops answering",
                      "temperature": "the temperature leaves a band",
                      "magnet_quench": "the magnet quenches"}
SUSPEND_HELP = {
    "instrument": "When an instrument still does not answer after its retries (a few seconds), the step "
                  "waits until it answers its identification again, then measures the interrupted segment "
                  "again. Unchecked, such an outage ends the run in the safe state.",
    "temperature": "When the stage temperature leaves the band (below its lower edge or above its upper "
                   "edge, e.g. during a helium transfer), the step waits until it is back inside, then "
                   "measures the interrupted segment again. A blank edge leaves the band open on that side.",
    "magnet_quench": "When the magnet supply reports a quench, the step waits until the quench is over, then "
                     "measures the interrupted segment again.",
}
# An instrument that was power-cycled or whose cable came loose answers again within minutes:
# twenty leave time to walk to the rack (the figure of the suspenders' own example).
FORM_TIMEOUTS_MIN = {"instrument": 20.0}
BAND_EDGES = ("below_K", "above_K")  # start blank: the band is open on a side left blank
OPTION_LABELS = {"below_K": "below", "above_K": "above"}
_SUSPEND_NAMED = re.compile(r"\bsuspend\.(\w+)|\bthe (\w+) suspender\b")


def suspend_condition(problem: str) -> str | None:
    """The condition (a key of the suspend mapping) a sequence loader's problem is about, or None
    when it is about a step or something else (a step's message names its step first)."""
    if problem.startswith(f"{FORM_SOURCE}: step "):
        return None
    match = _SUSPEND_NAMED.search(problem)
    return (match.group(1) or match.group(2)) if match else None


def option_entry(text: str, unit: str) -> float | str | None:
    """A condition's option as typed: None when blank (the suspenders' default applies), a number
    (which may be followed by its unit), else the text itself, for the sequence loader to refuse
    by name."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text.removesuffix(unit).strip())
    except ValueError:
        return text


class _SuspendCondition:
    """One condition: its checkbox and an entry per option (the time-out; the band's edges)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.suspender = SUSPENDER_KINDS[kind]
        self.check = QCheckBox(SUSPEND_CONDITIONS[kind])
        self.check.setObjectName(f"suspend_{kind}")
        self.tooltip = f"{SUSPEND_HELP[kind]}\n(suspend.{kind} of a sequence file)"
        self.check.setToolTip(self.tooltip)
        self.entries: dict[str, QLineEdit] = {}
        self.tooltips: dict[str, str] = {}
        for option in dataclasses.fields(self.suspender):
            entry = QLineEdit()
            entry.setObjectName(f"suspend_{kind}_{option.name}")
            entry.setMaximumWidth(70)
            if option.name in BAND_EDGES:
                entry.setPlaceholderText("none")
            else:
                entry.setText(format_number(FORM_TIMEOUTS_MIN.get(kind, option.default)))
            self.tooltips[option.name] = self._describe(option.name)
            entry.setToolTip(self.tooltips[option.name])
            entry.setEnabled(False)
            self.entries[option.name] = entry
        self.check.toggled.connect(self._checked)
        self.widgets: list[QWidget] = [self.check]  # the row's widgets, hidden when not offered

    def _describe(self, option: str) -> str:
        key = f"suspend.{self.kind}.{option}"
        if option == "timeout_min":
            return (f"How long the step waits for this to clear; after that the run ends in the safe state.\n"
                    f"{key}, allowed 0 to {MAX_TIMEOUT_MIN:g} min")
        side = "lower" if option == "below_K" else "upper"
        return f"The band's {side} edge in K; blank: none on that side.\n{key}"

    def unit(self, option: str) -> str:
        return option.rsplit("_", 1)[-1]  # the options carry their unit in their name

    def _checked(self, on: bool) -> None:
        for entry in self.entries.values():
            entry.setEnabled(on)

    @property
    def offered(self) -> bool:
        return not self.check.isHidden()

    def offer(self, offered: bool) -> None:
        for widget in self.widgets:
            widget.setVisible(offered)

    def options(self) -> dict[str, Any]:
        """The options entered, each as :func:`option_entry` reads it; blank ones left out."""
        found = {option: option_entry(entry.text(), self.unit(option)) for option, entry in self.entries.items()}
        return {option: value for option, value in found.items() if value is not None}

    def mark(self, messages: list[str]) -> None:
        """Red border on each entry a message names (the checkbox when it names none)."""
        marks: dict[str, list[str]] = {option: [] for option in self.entries}
        unnamed = []
        for message in messages:
            named = names_in(message, self.entries)
            for option in named:
                marks[option].append(message)
            if not named:
                unnamed.append(message)
        for option, entry in self.entries.items():
            mark_widget(entry, self.tooltips[option], marks[option])
        mark_widget(self.check, self.tooltip, unnamed, style=f"color: {ERROR_COLOUR};")  # a checkbox: red text


class _SuspendGroup(QWidget):
    """The conditions that pause a step and retake its segment, under a header that opens and
    closes them (closed, the header says how many are on)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._lab_file: str | None = None
        self.conditions = {kind: _SuspendCondition(kind) for kind in SUSPEND_CONDITIONS}
        self.toggle = QToolButton()
        self.toggle.setObjectName("suspend_toggle")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setToolTip("Conditions that pause the running step: it waits until the condition clears, "
                               "then measures the interrupted segment again (a sequence file's suspend:). "
                               "Kept for every measurement queued from here.")
        self.toggle.toggled.connect(self.set_open)
        self.body = QWidget()
        self.body.setObjectName("suspend_conditions")
        self._lay_out_body()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toggle)
        layout.addWidget(self.body)
        for condition in self.conditions.values():
            condition.check.toggled.connect(self._edited)
            for entry in condition.entries.values():
                entry.textChanged.connect(self._edited)
        self.set_open(False)

    def _lay_out_body(self) -> None:
        grid = QGridLayout(self.body)
        grid.setContentsMargins(18, 0, 4, 2)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(0, 1)
        heading = QLabel("wait at most")
        heading.setToolTip("After this long the condition is given up on and the run ends in the safe state")
        grid.addWidget(heading, 0, 1, 1, 2)
        row = 1
        for condition in self.conditions.values():
            grid.addWidget(condition.check, row, 0)
            timeout = condition.entries["timeout_min"]
            unit = QLabel("min")
            grid.addWidget(timeout, row, 1)
            grid.addWidget(unit, row, 2)
            condition.widgets += [timeout, unit]
            edges = [option for option in condition.entries if option in BAND_EDGES]
            if edges:
                row += 1
                band = QWidget()
                line = QHBoxLayout(band)
                line.setContentsMargins(22, 0, 0, 0)
                for option in edges:
                    line.addWidget(QLabel(OPTION_LABELS[option]))
                    line.addWidget(condition.entries[option])
                    line.addWidget(QLabel(condition.unit(option)))
                    line.addSpacing(6)
                line.addStretch(1)
                grid.addWidget(band, row, 0, 1, 3)
                condition.widgets.append(band)
            row += 1

    # ---- state ----------------------------------------------------------------------------

    def is_open(self) -> bool:
        return self.body.isVisibleTo(self)

    def set_open(self, opened: bool) -> None:
        self.body.setVisible(opened)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if opened else Qt.ArrowType.RightArrow)
        if self.toggle.isChecked() != opened:
            self.toggle.setChecked(opened)
        self._show_summary()

    def condition(self, kind: str) -> _SuspendCondition:
        return self.conditions[kind]

    def set_lab(self, lab_file: str) -> None:
        """Offer only the conditions the lab has a role for (no quench without a magnet); when
        the lab cannot be read, all (the sequence check names the lab's problem)."""
        if lab_file == self._lab_file:
            return
        self._lab_file = lab_file
        try:
            kinds = {role.kind for role in load_lab(lab_file).roles.values()}
        except (OSError, ValueError, TypeError):
            kinds = None
        for condition in self.conditions.values():
            needs = condition.suspender.role_kind
            condition.offer(kinds is None or not needs or needs in kinds)
        self._show_summary()

    def spec(self) -> dict[str, dict[str, Any]]:
        """The suspend mapping of a sequence: the checked conditions the lab offers."""
        return {kind: condition.options() for kind, condition in self.conditions.items()
                if condition.offered and condition.check.isChecked()}

    def mark(self, messages: list[str]) -> None:
        """Mark what the sequence loader's ``messages`` name; open the group when there are any."""
        by_kind: dict[str, list[str]] = {kind: [] for kind in self.conditions}
        for message in messages:
            kind = suspend_condition(message)
            if kind in by_kind:
                by_kind[kind].append(message)
        for kind, condition in self.conditions.items():
            condition.mark(by_kind[kind])
        if messages:
            self.set_open(True)

    def _edited(self, *_args) -> None:
        self._show_summary()
        self.changed.emit()

    def _show_summary(self) -> None:
        on = len(self.spec())
        self.toggle.setText(SUSPEND_TITLE + ("" if self.is_open() or not on else f" ({on} on)"))


class ParameterForm(QWidget):
    """A step kind, its parameters with units, defaults and ranges, checked on every edit, and
    the conditions that pause it (:attr:`suspend_group`, the same for every kind); Queue sends
    the one-step sequence, "Load sequence file..." a whole file (both as
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
        self.suspend_group.set_lab(self._lab_file)
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

        # outside the scrolled page of the kind: its header stays in sight, its entries stay
        # with every kind
        self.suspend_group = _SuspendGroup()
        self.suspend_group.changed.connect(self._edited)
        layout.addWidget(self.suspend_group)

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
        self.suspend_group.set_lab(lab_file)
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
        data = {"name": name, "lab": self._lab_file, "sample": dict(self._sample), "steps": [{self._kind: values}]}
        suspend = self.suspend_group.spec()
        if suspend:
            data["suspend"] = suspend
        return data

    # ---- checking -------------------------------------------------------------------------

    def is_valid(self) -> bool:
        return not self._errors

    def errors(self) -> list[str]:
        """The problems, one a line, each naming the parameter, its value and what is allowed
        (without the "form: step 1 (kind): " the sequence engine puts in front); those of the
        pause conditions name their key (e.g. ``suspend.temperature``)."""
        return list(self._errors)

    def invalid_fields(self) -> set[str]:
        """Attribute names of the fields marked now."""
        return {name for name, field in self._inputs.items() if field.widget.property("invalid")}

    def validate(self) -> bool:
        """Check every field, then the whole step and its pause conditions; mark, list, enable
        Queue. True when valid."""
        values, problems = self._read_inputs()
        fields_refused = bool(problems)
        suspend_problems: list[str] = []
        try:
            sequence_from_dict(self._sequence_data(values, None), source=FORM_SOURCE)
        except SequenceError as error:
            for problem in error.problems:
                message = self._without_source(problem)
                if suspend_condition(problem) is not None:
                    suspend_problems.append(message)
                elif not fields_refused:  # a step check on a refused entry's default would blame the wrong field
                    problems.append((message, names_in(message, self._inputs)))
        self.suspend_group.mark(suspend_problems)
        problems += [(message, []) for message in suspend_problems]
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


__all__ = ["ParameterForm", "KIND_LABELS", "SUSPEND_CONDITIONS", "step_parameters", "format_number", "names_in",
           "suspend_condition", "option_entry"]
