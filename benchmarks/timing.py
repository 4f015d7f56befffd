"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int, warm: bool = False) -> float:
    """Median wall time in seconds of `repeats` calls of fn (after one untimed call if `warm`)."""
    if warm:
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


class PaintCounter:
    """Counts paint events of a view's viewport: a frame counts only if the view painted it."""

    def __init__(self, view) -> None:
        from PySide6.QtCore import QEvent, QObject

        class Filter(QObject):
            count = 0

            def eventFilter(self, obj, ev) -> bool:  # noqa: N802 - Qt's name
                if ev.type() == QEvent.Paint:
                    self.count += 1
                return False

        self.filter = Filter()
        view.viewport().installEventFilter(self.filter)

    @property
    def count(self) -> int:
        return self.filter.count

    def reset(self) -> None:
        self.filter.count = 0


def playback_fps(app, doc, counters, frames: int = 300) -> float:
    """Frames as the playback timer makes them: move the cursor, let Qt paint what changed.
    Every frame must paint every counted view (checked), or it would not count."""
    doc.set_cursor(0)
    app.processEvents()
    step = max(1, doc.max_cursor // frames)
    for pc in counters:
        pc.reset()
    t0 = time.perf_counter()
    for f in range(frames):
        doc.set_cursor((f + 1) * step)
        app.processEvents()
    rate = frames / (time.perf_counter() - t0)
    assert all(pc.count >= frames for pc in counters), [pc.count for pc in counters]
    return rate
