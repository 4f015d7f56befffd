"""The light line items of the contour view: trails up to a row, arrows as segment pairs."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage

from gui.views.drawing import arrow_points, arrow_segments, pixel_keep, trail_upto
from gui.views.lines import SegmentsItem, TrailItem


def _points(n: int = 50) -> np.ndarray:
    t = np.linspace(0.0, 3.0, n)
    return np.column_stack([np.cos(t) * t, np.sin(t)])


def test_trail_draws_the_kept_rows_up_to_k_and_ends_at_k(qtbot):
    pts = _points()
    keep = np.arange(0, 50, 7)  # rows 0, 7, ..., 49
    item = TrailItem()
    item.set_points(pts, keep)
    assert len(item.xData) == 0 and item.end == -1  # nothing until an end is set
    for k in (0, 3, 7, 20, 49):
        item.set_end(k)
        x, y = trail_upto(pts, keep, k)
        np.testing.assert_array_equal(item.xData, x)
        np.testing.assert_array_equal(item.yData, y)
        assert (item.xData[-1], item.yData[-1]) == tuple(pts[k])
    item.set_end(5)  # back in time: shorter again
    np.testing.assert_array_equal(item.xData, trail_upto(pts, keep, 5)[0])
    item.set_end(-1)
    assert len(item.xData) == 0


def test_trail_bounds_cover_the_drawn_part_only(qtbot):
    pts = _points()
    item = TrailItem()
    item.set_points(pts, pixel_keep(pts[:, 0], pts[:, 1], 0.01))
    item.set_end(10)
    r = item._rect
    assert r.left() == pts[:11, 0].min() and r.right() == pts[:11, 0].max()
    assert r.top() == pts[:11, 1].min() and r.bottom() == pts[:11, 1].max()
    path = item.path()
    assert path.elementCount() == len(item.xData)


def test_new_points_keep_the_end_and_clear_empties(qtbot):
    item = TrailItem()
    item.set_points(_points(), None)
    item.set_end(30)
    other = _points() + 1.0
    item.set_points(other, None)  # a recompute: same cursor, new trajectory
    assert item.end == 30 and (item.xData[-1], item.yData[-1]) == tuple(other[30])
    item.clear()
    assert item.end == -1 and len(item.xData) == 0 and item.boundingRect().isEmpty()


def test_segments_hold_arrows_as_pairs(qtbot):
    item = SegmentsItem(pg.mkPen("r"))
    x, y = arrow_points(0.5, -1.0, 0.3, 0.2, head=0.3)
    ref = arrow_segments(0.5, -1.0, 0.3, 0.2, head=0.3)
    np.testing.assert_allclose(x, ref[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(y, ref[1], rtol=0, atol=1e-15)
    item.setData(x, y)
    assert len(item.xData) == 6
    item.setData([], [])
    assert len(item.xData) == 0 and item.boundingRect().isEmpty()
    many = arrow_segments(np.arange(5.0), np.zeros(5), np.ones(5), np.ones(5))
    item.setData(*many)
    np.testing.assert_array_equal(item.xData, many[0])


def _pixels(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(QImage.Format_RGB32)
    return np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes()).reshape(img.height(), -1).copy()


def test_an_unchanged_trail_paints_the_same_pixels_from_its_image(window):
    """The second paint of an unchanged trail blits what the first one stroked."""
    window.document.set_selected(0)  # a 2 px trail among 1 px ones
    window.document.set_cursor(150)
    first = _pixels(window.contour)  # stroked
    trail = window.contour._runs[0].trail
    assert trail._painted is not None and trail._painted[1] is None
    second = _pixels(window.contour)  # from the image of the first paint
    assert trail._painted[1] is not None
    third = _pixels(window.contour)
    diff = np.abs(first.astype(int) - second.astype(int))
    assert diff.max() <= 2  # (8-bit rounding of antialiased edges, composited once more)
    np.testing.assert_array_equal(second, third)
    window.document.set_cursor(151)  # a new end: stroked again, no stale image
    fourth = _pixels(window.contour)
    assert trail._painted[1] is None and not np.array_equal(fourth, third)
