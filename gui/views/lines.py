"""Light line items for what moves on every playback frame: trails up to the cursor, arrows.

A PlotDataItem re-derives bounds, display data sets and signals on every setData, which
costs more than stroking a thinned trail or a few arrows; a playback frame here only moves
an end index or replaces a handful of points.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRect, QRectF
from PySide6.QtGui import QImage, QPainter, QPainterPath, QTransform

_EMPTY = np.zeros(0)


def _padded(item: pg.GraphicsObject, rect: QRectF, pen) -> QRectF:
    """`rect` grown by half the pen's width in pixels, plus a pixel for antialiasing."""
    pad = 0.5 * max(1.0, pen.widthF()) + 1.0
    vx, vy = item.pixelVectors()
    if vx is None:
        return QRectF(rect)
    dx, dy = pad * (abs(vx.x()) + abs(vy.x())), pad * (abs(vx.y()) + abs(vy.y()))
    return rect.adjusted(-dx, -dy, dx, dy)


class SegmentsItem(pg.GraphicsObject):
    """Line segments from consecutive pairs of points (arrows: shaft and head strokes)."""

    def __init__(self, pen=None) -> None:
        super().__init__()
        self.opts = {"pen": pg.mkPen(pen if pen is not None else "w"),
                     "antialias": bool(pg.getConfigOption("antialias"))}
        self.xData = self.yData = _EMPTY
        self._rect = QRectF()
        self._path = QPainterPath()

    def setData(self, x=None, y=None) -> None:  # noqa: N802 - pyqtgraph's name
        """Points x, y (even length; no NaN); none to clear."""
        if x is None or not len(x):
            if not len(self.xData):
                return
            x = y = _EMPTY
        if len(x) <= 16:  # an arrow or two: plain Python beats numpy's per-call cost
            path = QPainterPath()
            for a in range(0, len(x) - 1, 2):
                path.moveTo(float(x[a]), float(y[a]))
                path.lineTo(float(x[a + 1]), float(y[a + 1]))
            x0, x1, y0, y1 = (min(x), max(x), min(y), max(y)) if len(x) else (0.0, 0.0, 0.0, 0.0)
        else:
            path = pg.arrayToQPath(np.asarray(x, float), np.asarray(y, float), connect="pairs",
                                   finiteCheck=False)
            x0, x1, y0, y1 = np.min(x), np.max(x), np.min(y), np.max(y)
        self.xData, self.yData = np.asarray(x, float), np.asarray(y, float)
        if len(x):
            self._path = path
            rect = QRectF(float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        else:
            self._path, rect = QPainterPath(), QRectF()
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def clear(self) -> None:
        self.setData()

    def setPen(self, pen) -> None:  # noqa: N802
        self.opts["pen"] = pg.mkPen(pen)
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802
        return _padded(self, self._rect, self.opts["pen"]) if len(self.xData) else QRectF()

    def paint(self, painter, *_args) -> None:
        if not len(self.xData):
            return
        painter.setRenderHint(painter.RenderHint.Antialiasing, bool(self.opts["antialias"]))
        painter.setPen(self.opts["pen"])
        painter.drawPath(self._path)


class TrailItem(pg.GraphicsObject):
    """The points of a polyline kept on screen (`set_points`), drawn up to row k (`set_end`).

    `xData`/`yData` are what is drawn: the kept points up to row k, ending exactly at row k.
    """

    def __init__(self, pen=None) -> None:
        super().__init__()
        self.opts = {"pen": pg.mkPen(pen if pen is not None else "w"),  # (read by legend samples too)
                     "antialias": bool(pg.getConfigOption("antialias"))}
        self._points: np.ndarray | None = None  # (n, 2) rows of the whole trajectory
        self._kx = self._ky = _EMPTY  # the kept points
        self._keep = np.zeros(0, np.int64)  # their rows
        self._lo = self._hi = np.zeros((0, 2))  # running min and max of the kept points
        self._j = 0  # kept points drawn
        self._k = -1  # the last row drawn (-1: nothing)
        self._rect = QRectF()
        self._path: QPainterPath | None = None
        self._painted: tuple | None = None  # (state of the last paint, its image or None)
        self._version = 0  # counts changes of what is drawn (points, end, pen)

    # ---- data ------------------------------------------------------------------------------
    def set_points(self, points: np.ndarray | None, keep: np.ndarray | None = None) -> None:
        """The trajectory's rows (n, 2) and the sorted rows `keep` to draw of them (all by
        default); draws nothing until `set_end`."""
        if points is None or len(points) == 0:
            self.clear()
            return
        if keep is None:
            keep = np.arange(len(points))
        self._points = points
        self._keep = keep
        kept = points[keep]
        self._kx, self._ky = kept[:, 0].copy(), kept[:, 1].copy()
        self._lo = np.minimum.accumulate(kept, axis=0)
        self._hi = np.maximum.accumulate(kept, axis=0)
        k, self._k = self._k, -2  # force set_end to redo its work on the new points
        self.set_end(k if k >= 0 else -1)

    def set_end(self, k: int) -> None:
        """Draw the kept points up to row k and row k itself (k < 0: nothing)."""
        if self._points is None or k < 0:
            k = -1
        else:
            k = min(int(k), len(self._points) - 1)
        if k == self._k:
            return
        self._k = k
        self._j = int(np.searchsorted(self._keep, k, side="right")) if k >= 0 else 0
        self._path = None
        self._version += 1
        rect = self._bounds()
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def clear(self) -> None:
        if self._points is None and self._k < 0:
            return
        self._points = None
        self._kx = self._ky = _EMPTY
        self._keep = np.zeros(0, np.int64)
        self._lo = self._hi = np.zeros((0, 2))
        self._k = 0
        self.set_end(-1)

    def setPen(self, pen) -> None:  # noqa: N802 - pyqtgraph's name
        self.opts["pen"] = pg.mkPen(pen)
        self._version += 1
        self.prepareGeometryChange()  # the width pads the bounds
        self.update()

    @property
    def end(self) -> int:
        """The last row drawn, -1 when nothing is."""
        return self._k

    def _tail(self) -> tuple[float, float] | None:
        """Row k when it is not a kept point (the trail must end exactly there)."""
        j, k = self._j, self._k
        if k < 0 or (j > 0 and self._keep[j - 1] == k):
            return None
        x, y = self._points[k]
        return float(x), float(y)

    @property
    def xData(self) -> np.ndarray:  # noqa: N802 - the name pyqtgraph's items use
        tail = self._tail()
        x = self._kx[:self._j]
        return x if tail is None else np.append(x, tail[0])

    @property
    def yData(self) -> np.ndarray:  # noqa: N802
        tail = self._tail()
        y = self._ky[:self._j]
        return y if tail is None else np.append(y, tail[1])

    # ---- drawing ---------------------------------------------------------------------------
    def _bounds(self) -> QRectF:
        if self._k < 0:
            return QRectF()
        j = self._j
        if j:
            (x0, y0), (x1, y1) = self._lo[j - 1], self._hi[j - 1]
        else:
            x0 = y0 = np.inf
            x1 = y1 = -np.inf
        tail = self._tail()
        if tail is not None:
            x0, x1 = min(x0, tail[0]), max(x1, tail[0])
            y0, y1 = min(y0, tail[1]), max(y1, tail[1])
        return QRectF(float(x0), float(y0), float(x1 - x0), float(y1 - y0))

    def boundingRect(self) -> QRectF:  # noqa: N802
        return _padded(self, self._rect, self.opts["pen"]) if self._k >= 0 else QRectF()

    def path(self) -> QPainterPath:
        """The polyline drawn (built when first painted after a change)."""
        if self._path is None:
            j = self._j
            if self._k < 0:
                self._path = QPainterPath()
            else:
                path = pg.arrayToQPath(self._kx[:j], self._ky[:j], connect="all", finiteCheck=False) \
                    if j else QPainterPath()
                tail = self._tail()
                if tail is not None:
                    if j:
                        path.lineTo(*tail)
                    else:
                        path.moveTo(*tail)
                self._path = path
        return self._path

    def paint(self, painter, *_args) -> None:
        if self._k < 0:
            return
        # A trail that did not change since its last paint (a paused cursor, another run
        # edited, a run that has ended) is blitted from an image of that paint: stroking a
        # long trail, above all a 2 px one, costs several times more. A trail that changes
        # on every frame is stroked directly and keeps no image.
        tr = painter.transform()
        dev = painter.device()
        state = (self._version, tr, dev.width(), dev.height(), self.opts["antialias"])
        if self._painted is not None and self._painted[0] == state:
            if self._painted[1] is None:
                self._painted = (state, self._render(tr, dev))
            cached = self._painted[1]
            if cached is not None:
                img, x0, y0 = cached
                painter.save()
                painter.resetTransform()
                painter.drawImage(QPointF(x0, y0), img)
                painter.restore()
                return
        self._painted = (state, None)
        painter.setRenderHint(painter.RenderHint.Antialiasing, bool(self.opts["antialias"]))
        painter.setPen(self.opts["pen"])
        painter.drawPath(self.path())

    def _render(self, tr: QTransform, dev) -> tuple[QImage, float, float] | None:
        """The trail as the painter with transform `tr` draws it on `dev`: an image of the
        device pixels it covers and their top-left corner; None if it covers none."""
        ratio = float(dev.devicePixelRatioF()) if hasattr(dev, "devicePixelRatioF") else 1.0
        area = tr.mapRect(self.boundingRect()).toAlignedRect().intersected(QRect(0, 0, dev.width(), dev.height()))
        if area.isEmpty():
            return None
        img = QImage(int(area.width() * ratio), int(area.height() * ratio), QImage.Format_ARGB32_Premultiplied)
        img.setDevicePixelRatio(ratio)
        img.fill(0)
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, bool(self.opts["antialias"]))
        p.translate(-area.x(), -area.y())
        p.setTransform(tr, True)
        p.setPen(self.opts["pen"])
        p.drawPath(self.path())
        p.end()
        return img, float(area.x()), float(area.y())
