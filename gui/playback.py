"""The playback clock: moves the document's cursor in time, nothing else (principle 1)."""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal

from gui.document import Document


class Playback(QObject):
    """Play/pause, step, reset, speed in steps per second, loop."""

    playingChanged = Signal(bool)
    speedChanged = Signal(float)
    loopChanged = Signal(bool)

    FRAME_MS = 16

    def __init__(self, document: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._doc = document
        self._speed = 300.0
        self._loop = False
        self._carry = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setInterval(self.FRAME_MS)
        self._timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def loop(self) -> bool:
        return self._loop

    def set_speed(self, steps_per_second: float) -> None:
        v = max(1.0, float(steps_per_second))
        if v != self._speed:
            self._speed = v
            self.speedChanged.emit(v)

    def set_loop(self, on: bool) -> None:
        if bool(on) != self._loop:
            self._loop = bool(on)
            self.loopChanged.emit(self._loop)

    def play(self) -> None:
        if self.playing:
            return
        if self._doc.cursor >= self._doc.max_cursor:
            self._doc.set_cursor(0)
        self._carry = 0.0
        self._clock.start()
        self._timer.start()
        self.playingChanged.emit(True)

    def pause(self) -> None:
        if self.playing:
            self._timer.stop()
            self.playingChanged.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def step(self, n: int = 1) -> None:
        """Pause and move the cursor by n steps."""
        self.pause()
        self._doc.set_cursor(self._doc.cursor + n)

    def reset(self) -> None:
        self.pause()
        self._doc.set_cursor(0)

    def advance(self, seconds: float) -> None:
        """Move the cursor by `seconds` of play at the current speed (the timer's tick)."""
        self._carry += seconds * self._speed
        n = int(self._carry)
        if n <= 0:
            return
        self._carry -= n
        end = self._doc.max_cursor
        t = self._doc.cursor + n
        if t >= end:
            if self._loop and self._doc.cursor >= end:
                t = 0
            else:
                t = end
                if not self._loop:
                    self._doc.set_cursor(t)
                    self.pause()
                    return
        self._doc.set_cursor(t)

    def _tick(self) -> None:
        dt = self._clock.restart() / 1000.0
        self.advance(min(dt, 0.1))
