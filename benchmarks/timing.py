"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time


def _wall(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def interleaved_ratio(fast, slow, rounds: int, fast_per_side: int = 2):
    """(median time of fast, median time of slow, median ratio slow/fast) over `rounds`
    rounds, each timing `fast` just before and just after one call of `slow`.

    This machine's speed drifts by tens of percent over seconds; a ratio of medians taken
    in two separate blocks of runs then mixes two speeds. A ratio per round compares runs
    made within a second or two of each other.
    """
    fast_times, slow_times, ratios = [], [], []
    for _ in range(rounds):
        before = [_wall(fast) for _ in range(fast_per_side)]
        slow_times.append(_wall(slow))
        after = [_wall(fast) for _ in range(fast_per_side)]
        around = statistics.median(before + after)
        fast_times += before + after
        ratios.append(slow_times[-1] / around)
    return statistics.median(fast_times), statistics.median(slow_times), statistics.median(ratios)


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
