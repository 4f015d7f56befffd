"""The playback bar: play/pause, step, reset, timeline, speed, loop."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QStyle, QToolButton, QWidget

from gui.document import Document
from gui.playback import Playback
from gui.status import set_steady_text


class PlaybackBar(QWidget):
    """Controls of the playback clock and a timeline slider bound to the cursor."""

    def __init__(self, document: Document, playback: Playback, parent=None) -> None:
        super().__init__(parent)
        self._doc = document
        self._pb = playback
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 2, 8, 2)
        st = self.style()

        def button(icon, tip, slot) -> QToolButton:
            b = QToolButton()
            b.setIcon(st.standardIcon(icon))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.clicked.connect(slot)
            lay.addWidget(b)
            return b

        self.reset_button = button(QStyle.SP_MediaSkipBackward, "reset to t = 0 (Home)", playback.reset)
        self.back_button = button(QStyle.SP_MediaSeekBackward, "step back (←)", lambda: playback.step(-1))
        self.play_button = button(QStyle.SP_MediaPlay, "play / pause (Space)", playback.toggle)
        self.fwd_button = button(QStyle.SP_MediaSeekForward, "step forward (→)", lambda: playback.step(1))
        self.timeline = QSlider(Qt.Horizontal)
        self.timeline.setToolTip("scrub the playback cursor t")
        self.timeline.valueChanged.connect(self._scrub)
        lay.addWidget(self.timeline, 1)
        self.step_label = QLabel()
        self.step_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lay.addWidget(self.step_label)
        lay.addWidget(QLabel("speed"))
        self.speed = QSpinBox()
        self.speed.setRange(1, 100_000)
        self.speed.setSuffix(" steps/s")
        self.speed.setToolTip("playback speed in optimizer steps per second")
        self.speed.setValue(int(playback.speed))
        self.speed.valueChanged.connect(playback.set_speed)
        lay.addWidget(self.speed)
        self.loop = QCheckBox("loop")
        self.loop.toggled.connect(playback.set_loop)
        lay.addWidget(self.loop)
        document.cursorChanged.connect(lambda _t: self.sync(shrink=False))
        document.scenarioChanged.connect(self.sync)
        playback.playingChanged.connect(self._on_playing)
        playback.speedChanged.connect(self._on_speed)
        playback.loopChanged.connect(self._on_loop)
        self.sync()

    def sync(self, shrink: bool = True) -> None:
        """Timeline and step label at the cursor (`shrink`: the label may narrow again)."""
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, self._doc.max_cursor)
        self.timeline.setValue(self._doc.cursor)
        self.timeline.blockSignals(False)
        set_steady_text(self.step_label, f"t = {self._doc.cursor} / {self._doc.max_cursor}", shrink, least=110)

    def _scrub(self, t: int) -> None:
        self._pb.pause()
        self._doc.set_cursor(t)

    def _on_playing(self, playing: bool) -> None:
        icon = QStyle.SP_MediaPause if playing else QStyle.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _on_speed(self, v: float) -> None:
        self.speed.blockSignals(True)
        self.speed.setValue(int(v))
        self.speed.blockSignals(False)

    def _on_loop(self, on: bool) -> None:
        self.loop.blockSignals(True)
        self.loop.setChecked(on)
        self.loop.blockSignals(False)
