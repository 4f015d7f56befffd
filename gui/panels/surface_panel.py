"""The surface panel: the catalogue of surfaces, their parameters, and the number of steps."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.document import Document
from gui.panels.param_editor import ParamEditor
from sim import catalogue
from sim.expression import CUSTOM_NAME, DEFAULT_BOX, FUNCTIONS
from sim.simulate import MAX_STEPS

MAX_GUI_STEPS = min(MAX_STEPS, 100_000)
# The first expression offered: two basins of different depth and a ravine-like valley.
DEFAULT_EXPR = "(x^2 - 1)^2 + 0.3*x + 2*(y - 0.5*x^2)^2"


def _format_box(box) -> str:
    return ", ".join(f"{v:g}" for v in box)


class SurfacePanel(QWidget):
    """Choose a surface (built from `sim.catalogue()`) and edit its parameters."""

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self._doc = document
        self._shown_surface = ""
        self._last_good = (DEFAULT_EXPR, _format_box(DEFAULT_BOX))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        self.combo = QComboBox()
        for name, info in catalogue().items():
            self.combo.addItem(info.title, name)
            self.combo.setItemData(self.combo.count() - 1, f"{info.description}\nLecture: {info.lesson}",
                                   role=3)  # Qt.ToolTipRole
        self.combo.addItem("Custom expression…", CUSTOM_NAME)
        self.combo.setItemData(self.combo.count() - 1,
                               "type your own cost E(x, y); its gradient and Hessian are derived "
                               "symbolically (the text is parsed, never run as code)", role=3)
        self.combo.currentIndexChanged.connect(self._on_combo)
        lay.addWidget(self.combo)
        self.custom = self._build_custom()
        lay.addWidget(self.custom)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: palette(placeholder-text);")
        lay.addWidget(self.description)
        self.form = QFormLayout()
        self.form.setContentsMargins(0, 4, 0, 0)
        lay.addLayout(self.form)
        self.editors: dict[str, ParamEditor] = {}
        self.steps = QSpinBox()
        self.steps.setRange(1, MAX_GUI_STEPS)
        self.steps.setSingleStep(100)
        self.steps.setKeyboardTracking(False)
        self.steps.setToolTip("number of steps T every run takes; playback scrubs 0…T")
        self.steps.valueChanged.connect(self._doc.set_steps)
        steps_form = QFormLayout()
        steps_form.addRow("Steps", self.steps)
        lay.addLayout(steps_form)
        lay.addStretch(1)
        document.scenarioChanged.connect(self.sync)
        self.sync()

    def _build_custom(self) -> QWidget:
        """The expression editor shown for custom surfaces: E(x, y), its box, Apply."""
        w = QWidget()
        form = QFormLayout(w)
        form.setContentsMargins(0, 0, 0, 0)
        self.expr_edit = QLineEdit(DEFAULT_EXPR)
        self.expr_edit.setToolTip("E(x, y) with + − * / ^ (or **), numbers, x, y, pi, e and "
                                  + ", ".join(sorted(FUNCTIONS)) + ". Press Enter to apply.")
        self.box_edit = QLineEdit(_format_box(DEFAULT_BOX))
        self.box_edit.setToolTip("the view box x0, x1, y0, y1: minima and saddles are searched in it")
        apply = QPushButton("Apply")
        apply.setToolTip("parse the expression and build the surface (Enter)")
        row = QHBoxLayout()
        row.addWidget(self.box_edit, 1)
        row.addWidget(apply)
        form.addRow("E(x, y)", self.expr_edit)
        form.addRow("Box", row)
        self.expr_error = QLabel()
        self.expr_error.setWordWrap(True)
        self.expr_error.setStyleSheet("color: #d62728;")
        self.expr_error.hide()
        form.addRow(self.expr_error)
        for trigger in (self.expr_edit.returnPressed, self.box_edit.returnPressed, apply.clicked):
            trigger.connect(self.apply_expression)
        w.hide()
        return w

    def apply_expression(self) -> bool:
        """Build the custom surface from the editor; a bad expression or box is shown, not raised."""
        try:
            box = [float(v) for v in self.box_edit.text().replace(";", ",").split(",")]
            self._doc.set_custom_surface(self.expr_edit.text(), box)
        except ValueError as e:
            msg = str(e)
            if "could not convert" in msg:
                msg = "box: give four numbers x0, x1, y0, y1"
            self.expr_error.setText(msg)
            self.expr_error.show()
            return False
        self.expr_error.hide()
        self._last_good = (self.expr_edit.text(), self.box_edit.text())
        return True

    def _on_combo(self, _index: int) -> None:
        name = self.combo.currentData()
        if name == CUSTOM_NAME:
            if self._doc.scenario.surface != CUSTOM_NAME:
                # Start from the last expression that built (it builds again).
                self.expr_edit.setText(self._last_good[0])
                self.box_edit.setText(self._last_good[1])
                if not self.apply_expression():
                    self.sync()
            return
        if name and name != self._doc.scenario.surface:
            self._doc.set_surface(name)

    def sync(self) -> None:
        """Show the document's surface and parameters."""
        sc = self._doc.scenario
        custom = sc.surface == CUSTOM_NAME
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(self.combo.findData(sc.surface))
        self.combo.blockSignals(False)
        self.custom.setVisible(custom)
        if custom:
            self.description.setText("Your own cost surface; gradient and Hessian derived symbolically.")
            if sc.expr is not None and not self.expr_error.isVisible():
                self.expr_edit.setText(sc.expr)
                self.box_edit.setText(_format_box(sc.expr_box or DEFAULT_BOX))
        else:
            info = catalogue()[sc.surface]
            self.description.setText(f"{info.description}<br><i>Lecture: {info.lesson}</i>")
        if sc.surface != self._shown_surface:
            self._shown_surface = sc.surface
            while self.form.rowCount():
                self.form.removeRow(0)
            self.editors = {}
            for p in () if custom else catalogue()[sc.surface].params:
                value = sc.params.get(p.name, p.default)
                ed = ParamEditor(p, value, p.help)
                ed.valueChanged.connect(lambda v, n=p.name: self._doc.set_surface_param(n, v))
                self.form.addRow(p.name, ed)
                self.editors[p.name] = ed
        for name, ed in self.editors.items():
            if name in sc.params:
                ed.set_value(sc.params[name])
        if self.steps.value() != sc.steps:
            self.steps.blockSignals(True)
            self.steps.setValue(sc.steps)
            self.steps.blockSignals(False)
