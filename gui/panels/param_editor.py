"""Editors for one numeric parameter: a spin box that shows any magnitude, with an
optional linear or logarithmic slider beside it."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QHBoxLayout, QSlider, QSpinBox, QWidget

from sim.surfaces import Param

SLIDER_STEPS = 1000

# Practical slider ranges where a parameter's allowed range is far wider than useful.
SOFT_RANGES: dict[str, tuple[float, float, bool]] = {
    "lr": (1e-5, 10.0, True),
    "damping": (1e-6, 1e2, True),
    "noise": (0.0, 20.0, False),
    "tau": (1.0, 1e5, True),
    "avg_tau": (1.0, 1e4, True),
    "eps": (1e-10, 1.0, True),
    "kappa": (1.0, 1e4, True),
    "b": (0.1, 1e4, True),
}


class SciSpinBox(QDoubleSpinBox):
    """A double spin box that prints 4–6 significant digits (1e-05 as well as 2500)."""

    def __init__(self, log: bool = False, parent=None) -> None:
        super().__init__(parent)
        self._log = log
        self.setDecimals(15)
        self.setKeyboardTracking(False)
        self.setAccelerated(True)

    def textFromValue(self, v: float) -> str:  # noqa: N802
        return f"{v:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        t = text.strip().replace(",", ".")
        try:
            v = float(t)
        except ValueError:
            return QValidator.Intermediate, text, pos
        ok = self.minimum() <= v <= self.maximum()
        return (QValidator.Acceptable if ok else QValidator.Intermediate), text, pos

    def stepBy(self, steps: int) -> None:  # noqa: N802
        v = self.value()
        if self._log and v > 0:
            self.setValue(v * 10 ** (0.1 * steps))
        else:
            step = 10 ** math.floor(math.log10(abs(v))) / 10 if v else 0.1
            self.setValue(v + steps * step)


class ParamEditor(QWidget):
    """Spin box (and slider for floats) for a `Param`; emits `valueChanged(float)`."""

    valueChanged = Signal(float)

    def __init__(self, param: Param, value: float, tooltip: str = "", parent=None) -> None:
        super().__init__(parent)
        self.param = param
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        self.slider: QSlider | None = None
        self.check: QCheckBox | None = None
        lo, hi, log = SOFT_RANGES.get(param.name, (param.lo, param.hi, param.log))
        self._slo, self._shi, self._slog = lo, hi, log and lo > 0
        if param.kind == "bool":
            self.check = QCheckBox()
            self.check.setChecked(bool(value))
            self.check.toggled.connect(lambda on: self.valueChanged.emit(1.0 if on else 0.0))
            lay.addWidget(self.check)
            lay.addStretch(1)
            self.spin = None
        elif param.kind == "int":
            self.spin = QSpinBox()
            self.spin.setRange(int(param.lo), int(min(param.hi, 2**31 - 1)))
            self.spin.setValue(int(value))
            self.spin.setKeyboardTracking(False)
            self.spin.valueChanged.connect(lambda v: self.valueChanged.emit(float(v)))
            lay.addWidget(self.spin, 1)
        else:
            self.spin = SciSpinBox(log=param.log)
            self.spin.setRange(param.lo, param.hi)
            self.spin.setValue(value)
            self.slider = QSlider(Qt.Horizontal)
            self.slider.setRange(0, SLIDER_STEPS)
            self.slider.setValue(self._to_slider(value))
            self.slider.valueChanged.connect(self._slider_moved)
            self.spin.valueChanged.connect(self._spin_changed)
            self.spin.setMinimumWidth(84)
            lay.addWidget(self.slider, 3)
            lay.addWidget(self.spin, 2)
        if tooltip:
            self.setToolTip(tooltip)
            for w in (self.spin, self.slider, self.check):
                if w is not None:
                    w.setToolTip(tooltip)

    def _to_slider(self, v: float) -> int:
        lo, hi = self._slo, self._shi
        if self._slog:
            v = min(max(v, lo), hi)
            f = math.log(v / lo) / math.log(hi / lo)
        else:
            f = (v - lo) / (hi - lo) if hi > lo else 0.0
        return int(round(min(max(f, 0.0), 1.0) * SLIDER_STEPS))

    def _from_slider(self, k: int) -> float:
        f = k / SLIDER_STEPS
        lo, hi = self._slo, self._shi
        v = lo * (hi / lo) ** f if self._slog else lo + f * (hi - lo)
        return float(f"{v:.3g}")

    def _slider_moved(self, k: int) -> None:
        v = self._from_slider(k)
        self.spin.blockSignals(True)
        self.spin.setValue(v)
        self.spin.blockSignals(False)
        self.valueChanged.emit(self.spin.value())

    def _spin_changed(self, v: float) -> None:
        if self.slider is not None:
            self.slider.blockSignals(True)
            self.slider.setValue(self._to_slider(v))
            self.slider.blockSignals(False)
        self.valueChanged.emit(v)

    def value(self) -> float:
        if self.check is not None:
            return 1.0 if self.check.isChecked() else 0.0
        return float(self.spin.value())

    def set_value(self, v: float) -> None:
        """Show `v` without emitting."""
        if self.check is not None:
            self.check.blockSignals(True)
            self.check.setChecked(bool(v))
            self.check.blockSignals(False)
            return
        v = int(v) if self.param.kind == "int" else v
        if self.spin.value() == v:
            return  # setValue would rewrite the text and repaint the box (and its parents)
        self.spin.blockSignals(True)
        self.spin.setValue(v)
        self.spin.blockSignals(False)
        if self.slider is not None:
            self.slider.blockSignals(True)
            self.slider.setValue(self._to_slider(v))
            self.slider.blockSignals(False)
