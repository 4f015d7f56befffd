"""The surface panel: the catalogue of surfaces, their parameters, and the number of steps."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from gui.document import Document
from gui.panels.param_editor import ParamEditor
from sim import catalogue
from sim.simulate import MAX_STEPS

MAX_GUI_STEPS = min(MAX_STEPS, 100_000)


class SurfacePanel(QWidget):
    """Choose a surface (built from `sim.catalogue()`) and edit its parameters."""

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self._doc = document
        self._shown_surface = ""
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        self.combo = QComboBox()
        for name, info in catalogue().items():
            self.combo.addItem(info.title, name)
            self.combo.setItemData(self.combo.count() - 1, f"{info.description}\nLecture: {info.lesson}",
                                   role=3)  # Qt.ToolTipRole
        self.combo.currentIndexChanged.connect(self._on_combo)
        lay.addWidget(self.combo)
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

    def _on_combo(self, _index: int) -> None:
        name = self.combo.currentData()
        if name and name != self._doc.scenario.surface:
            self._doc.set_surface(name)

    def sync(self) -> None:
        """Show the document's surface and parameters."""
        sc = self._doc.scenario
        info = catalogue()[sc.surface]
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(self.combo.findData(sc.surface))
        self.combo.blockSignals(False)
        self.description.setText(f"{info.description}<br><i>Lecture: {info.lesson}</i>")
        if sc.surface != self._shown_surface:
            self._shown_surface = sc.surface
            while self.form.rowCount():
                self.form.removeRow(0)
            self.editors = {}
            for p in info.params:
                value = sc.params.get(p.name, p.default)
                ed = ParamEditor(p, value, p.help)
                ed.valueChanged.connect(lambda v, n=p.name: self._doc.set_surface_param(n, v))
                self.form.addRow(p.name, ed)
                self.editors[p.name] = ed
        for name, ed in self.editors.items():
            if name in sc.params:
                ed.set_value(sc.params[name])
        self.steps.blockSignals(True)
        self.steps.setValue(sc.steps)
        self.steps.blockSignals(False)
