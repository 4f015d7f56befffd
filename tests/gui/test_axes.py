"""Log axes thin their minor ticks to the room a decade has on screen."""

from __future__ import annotations

import math

import numpy as np

from gui.views.axes import LogAxis


def _minor(levels):
    return [v for spacing, vs in levels if spacing is None for v in vs]


def test_minor_ticks_follow_the_pixels_per_decade(qtbot):
    ax = LogAxis("left")
    lo, hi = math.log10(0.6), math.log10(60.0)  # two decades
    std = [(1.0, [0.0, 1.0]), (0.2, list(np.arange(-0.2, 1.8, 0.2)))]
    tall = _minor(ax.logTickValues(lo, hi, 1000, std))
    mid = _minor(ax.logTickValues(lo, hi, 200, std))
    short = ax.logTickValues(lo, hi, 80, std)
    assert len(tall) > len(mid) > 0
    # Only 2x and 5x when a decade has ~100 px: no labels crowd below the next power of 10.
    assert np.allclose(sorted(10 ** np.array(mid)), [2, 5, 20, 50])
    assert _minor(short) == [] and [t for _, t in short] == [[0.0, 1.0]]


def test_a_range_inside_one_decade_keeps_its_minor_labels(qtbot):
    ax = LogAxis("left")
    lo, hi = math.log10(2.5), math.log10(8.5)
    minor = _minor(ax.logTickValues(lo, hi, 60, [(0.1, [0.4, 0.5, 0.6, 0.7, 0.8, 0.9])]))
    assert np.allclose(10 ** np.array(minor), [3, 4, 5, 6, 7, 8])
