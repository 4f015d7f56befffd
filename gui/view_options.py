"""What the views show: overlays, loss axes, theme. A small observable record."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

DEFAULTS: dict[str, object] = {
    "velocity": False,  # velocity (momentum) vector at each run's current point
    "gradient": False,  # gradient arrow at each run's current point
    "average": False,  # dashed trail of the iterate average θ̃ (eq. 11)
    "field": False,  # gradient field over the view (section 2)
    "loss_log": True,  # log scale on the loss axes
    "loss_examples": False,  # x axis: examples seen (t × B) instead of steps
    "theme": "light",
}

TITLES = {
    "velocity": "Velocity vectors",
    "gradient": "Gradient arrows",
    "average": "Iterate average θ̃ (eq. 11)",
    "field": "Gradient field",
    "loss_log": "Log scale on loss axes",
    "loss_examples": "Loss against examples seen (t × B)",
}


class ViewOptions(QObject):
    """Named display options; `changed(name)` fires only when a value changes."""

    changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._values = dict(DEFAULTS)

    def __getitem__(self, name: str) -> object:
        return self._values[name]

    def set(self, name: str, value: object) -> None:
        if name not in self._values:
            raise KeyError(name)
        if self._values[name] != value:
            self._values[name] = value
            self.changed.emit(name)

    def items(self):
        return self._values.items()
