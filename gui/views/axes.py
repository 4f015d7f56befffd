"""Axis items: log axes whose minor labels never pile up at the top of a decade."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

# Pixels per decade below which minor ticks get no label at all, and below which only
# 2× and 5× are labelled: log spacing crowds 6…9 into the top fifth of a decade.
_BARE = 60.0
_SPARSE = 220.0


class LogAxis(pg.AxisItem):
    """An axis that, in log mode, thins its minor ticks to what the decade's height allows."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802 - pyqtgraph's name
        # Powers of ten are the major ticks: pyqtgraph's own levels when they are whole
        # decades (it thins them over many decades), else every power inside the range.
        majors = [(spacing, t) for spacing, t in stdTicks if spacing >= 1.0]
        decades = list(range(math.ceil(minVal), math.floor(maxVal) + 1))
        if not majors and decades:
            majors = [(1.0, [float(d) for d in decades])]
        span = max(maxVal - minVal, 1e-12)
        per_decade = size / span
        has_major = bool(decades)
        if has_major and per_decade < _BARE:
            return majors
        if per_decade >= _SPARSE or not has_major:
            factors = np.arange(2, 10)
        else:
            factors = np.array([2, 5])
        minor = [v + math.log10(f) for v in range(int(math.floor(minVal)), int(math.ceil(maxVal)))
                 for f in factors]
        minor = [x for x in minor if minVal < x < maxVal]
        return [*majors, (None, minor)]
