"""The contour view: the surface as an image with log-spaced level sets, and every run on it.

Trajectories are drawn up to the document's cursor by slicing precomputed arrays into
pre-created items, so playback never rebuilds items or recomputes the background. A run with
particles > 1 also shows its cloud at the cursor: every particle as a dot, the mean and the
1σ and 2σ covariance ellipses (section 3).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView, QLabel

from gui.document import Document
from gui.theme import LIGHT, THEMES, Theme, style_plot
from gui.view_options import ViewOptions
from gui.views.drawing import (
    arrow_points,
    arrow_segments,
    isoline_segments,
    log_image,
    log_levels,
    nice_field_grid,
    pixel_keep,
    set_curve,
)
from gui.views.lines import SegmentsItem, TrailItem
from sim.cloud_geometry import SIGMA_LEVELS, ellipse_points

GRID_POINTS = 240  # background resolution along the longer side of the visible box
PICK_PIXELS = 10.0  # how close a press must be to a start marker to drag it


class Background:
    """The surface over a box as the contour view draws it: log-cost image, its colour
    levels and rectangle, and log-spaced level sets. Computed once, applied to any number
    of image and isoline items (the comparison grid shares one between its panels)."""

    def __init__(self, img: np.ndarray, levels: tuple[float, float], rect: QRectF,
                 iso: tuple[np.ndarray, np.ndarray]) -> None:
        self.img, self.levels, self.rect, self.iso = img, levels, rect, iso

    @classmethod
    def of(cls, surface, box: tuple[float, float, float, float], points: int = GRID_POINTS,
           count: int = 18) -> "Background | None":
        """The background of `surface` over `box` on a grid of `points` along the longer
        side, with `count` level sets; None for an empty box."""
        x0, x1, y0, y1 = box
        w, h = x1 - x0, y1 - y0
        if not (w > 0 and h > 0):
            return None
        nx = points if w >= h else max(16, int(points * w / h))
        ny = points if h >= w else max(16, int(points * h / w))
        xs = np.linspace(x0, x1, nx)
        ys = np.linspace(y0, y1, ny)
        z = surface.grid(xs, ys)
        levels, base, floor = log_levels(z, surface.lowest_cost, count=count)
        img = log_image(z, base, floor)
        lo, hi = float(np.log10(floor)), float(np.percentile(img, 99.0))
        dx, dy = xs[1] - xs[0], ys[1] - ys[0]
        rect = QRectF(x0 - dx / 2, y0 - dy / 2, w + dx, h + dy)
        return cls(img, (lo, max(hi, lo + 1e-9)), rect, isoline_segments(z, xs, ys, levels))

    def apply(self, image: pg.ImageItem, isolines: pg.PlotDataItem) -> None:
        image.setImage(self.img, autoLevels=False)
        image.setLevels(self.levels)
        image.setRect(self.rect)
        isolines.setData(*self.iso)


class ContourViewBox(pg.ViewBox):
    """A ViewBox that reports left clicks and lets start markers be dragged."""

    clicked = Signal(float, float, bool)  # x, y, shift held
    startDragged = Signal(int, float, float, bool)  # run, x, y, finished

    def __init__(self) -> None:
        super().__init__(enableMenu=False)  # (building the menu costs start-up time; it is never shown)
        self.starts: list[tuple[int, float, float]] = []  # (run, x, y) of draggable markers
        self._drag_run: int | None = None

    def _pick(self, scene_pos: QPointF) -> int | None:
        best, best_d = None, PICK_PIXELS
        for i, x, y in self.starts:
            p = self.mapViewToScene(QPointF(x, y))
            d = ((p.x() - scene_pos.x()) ** 2 + (p.y() - scene_pos.y()) ** 2) ** 0.5
            if d <= best_d:
                best, best_d = i, d
        return best

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (Qt naming)
        if ev.button() == Qt.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self.clicked.emit(p.x(), p.y(), bool(ev.modifiers() & Qt.ShiftModifier))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        if ev.button() == Qt.LeftButton and ev.isStart():
            self._drag_run = self._pick(ev.buttonDownScenePos())
        if self._drag_run is None or ev.button() != Qt.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        run = self._drag_run
        if ev.isFinish():
            self._drag_run = None
        self.startDragged.emit(run, p.x(), p.y(), ev.isFinish())


class _StyleCache:
    """Pens and brushes made once per colour: a scatter item re-renders its symbols for every
    new pen or brush object, which would happen on every frame of playback."""

    def __init__(self) -> None:
        self._pens: dict[tuple[str, float], object] = {}
        self._brushes: dict[str, object] = {}

    def pen(self, color: str, width: float):
        key = (color, width)
        if key not in self._pens:
            self._pens[key] = pg.mkPen(color, width=width)
        return self._pens[key]

    def brush(self, color: str):
        if color not in self._brushes:
            self._brushes[color] = pg.mkBrush(color)
        return self._brushes[color]


def _mix(a: QColor, b: QColor, f: float) -> QColor:
    """a moved a fraction f of the way to b."""
    return QColor.fromRgbF(*(x + f * (y - x) for x, y in zip(a.getRgbF()[:3], b.getRgbF()[:3])))


def particle_alpha(particles: int) -> float:
    """Opacity of one drawn particle: a cloud of any size shows its density, not a blot."""
    return float(min(0.85, max(0.18, 20.0 / math.sqrt(max(particles, 1)))))


DOT_PIXELS = 2  # a particle is a DOT_PIXELS × DOT_PIXELS square of screen pixels
MAX_STACK = 255  # particles on one pixel beyond this add no visible opacity


class ParticleDots(pg.GraphicsObject):
    """Thousands of same-coloured translucent dots, one small square per particle.

    A ScatterPlotItem spends ~25 ms rebuilding its per-point records for 10,000 new
    positions, and QPainter strokes 10,000 points in ~2 ms a pass. This item instead counts
    the particles on each screen pixel and paints one premultiplied image over their
    bounding box: k particles of opacity a on a pixel give opacity 1 − (1 − a)^k, exactly
    what k painted dots would give, for well under a millisecond per frame. No particle is
    dropped: each covers its own pixels.
    """

    def __init__(self) -> None:
        super().__init__()
        self._xy = np.zeros((0, 2), np.float32)
        self._rect = QRectF()
        self._lut = np.zeros(MAX_STACK + 1, np.uint32)  # stack count -> ARGB32 premultiplied
        self._look: tuple | None = None

    def set_color(self, color: str, alpha: float) -> None:
        look = (color, round(alpha, 4))
        if look == self._look:
            return
        self._look = look
        c = QColor(color)
        k = np.arange(MAX_STACK + 1)
        a = 1.0 - (1.0 - alpha) ** k  # opacity of k stacked dots
        a8 = np.round(a * 255).astype(np.uint32)
        r, g, b = (np.round(a * v).astype(np.uint32) for v in (c.red(), c.green(), c.blue()))
        self._lut = (a8 << 24) | (r << 16) | (g << 8) | b
        self.update()

    def set_points(self, xy: np.ndarray) -> None:
        """(n, 2) positions in data coordinates (kept by reference: pass an immutable slice)."""
        self._xy = xy
        if len(xy):
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            rect = QRectF(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
        else:
            rect = QRectF()
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def positions(self) -> np.ndarray:
        """The points drawn, (n, 2)."""
        return self._xy

    def boundingRect(self) -> QRectF:  # noqa: N802
        if not len(self._xy):
            return QRectF()
        # Dots reach past their centres by up to two pixels: pad the data box by three.
        vx, vy = self.pixelVectors()
        dx = 3.0 * math.hypot(vx.x(), vx.y()) if vx is not None else 0.0
        dy = 3.0 * math.hypot(vy.x(), vy.y()) if vy is not None else 0.0
        return self._rect.adjusted(-dx, -dy, dx, dy)

    def splat(self, transform, width: int, height: int, ratio: float = 1.0):
        """(image array, x0, y0): the dots as ARGB32 premultiplied pixels over their bounding
        box within a width × height device, or None when none is on it."""
        tr = transform
        # Data to device pixels: the view neither rotates nor shears.
        px = np.floor((self._xy[:, 0] * tr.m11() + tr.dx()) * ratio).astype(np.int64)
        py = np.floor((self._xy[:, 1] * tr.m22() + tr.dy()) * ratio).astype(np.int64)
        size = max(1, int(round(DOT_PIXELS * ratio)))
        on = (px > -size) & (px < width) & (py > -size) & (py < height)
        if not on.all():
            px, py = px[on], py[on]
        if px.size == 0:
            return None
        x0, y0 = max(int(px.min()), 0), max(int(py.min()), 0)
        x1, y1 = min(int(px.max()) + size, width), min(int(py.max()) + size, height)
        w, h = x1 - x0, y1 - y0
        # Count the particles whose dot starts on each pixel (a margin of size − 1 holds those
        # starting just left of or above the box), then sum each pixel's size × size window.
        pad = size - 1
        counts = np.bincount((py - y0 + pad) * (w + pad) + (px - x0 + pad),
                             minlength=(h + pad) * (w + pad)).reshape(h + pad, w + pad)
        win = counts[pad:, pad:].copy()
        for dy in range(size):
            for dx in range(size):
                if dx or dy:
                    win += counts[pad - dy:pad - dy + h, pad - dx:pad - dx + w]
        img = self._lut[np.minimum(win, MAX_STACK)]
        return img, x0, y0

    def paint(self, painter, *_args) -> None:
        if not len(self._xy):
            return
        dev = painter.device()
        ratio = float(dev.devicePixelRatioF()) if hasattr(dev, "devicePixelRatioF") else 1.0
        out = self.splat(painter.transform(), int(dev.width() * ratio), int(dev.height() * ratio), ratio)
        if out is None:
            return
        img, x0, y0 = out
        qimg = pg.functions.ndarray_to_qimage(img, QImage.Format_ARGB32_Premultiplied)
        qimg.setDevicePixelRatio(ratio)
        painter.save()
        painter.resetTransform()
        painter.drawImage(QPointF(x0 / ratio, y0 / ratio), qimg)
        painter.restore()


class _CloudItems:
    """The cloud of one run: particles, θ̃ particles (at the end) and covariance ellipses."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.dots = ParticleDots()
        self.avg_dots = ParticleDots()
        self.ellipses = [pg.PlotDataItem(connect="finite", skipFiniteCheck=True) for _ in SIGMA_LEVELS]
        self.drawn: tuple | None = None  # (cloud, frame, average shown): skip unchanged frames
        for z, item in ((15, self.dots), (16, self.avg_dots), *((23, e) for e in self.ellipses)):
            item.setZValue(z)
            plot.addItem(item, ignoreBounds=True)

    def items(self) -> list:
        return [self.dots, self.avg_dots, *self.ellipses]

    def clear(self) -> None:
        if self.drawn is None:
            return
        self.drawn = None
        for d in (self.dots, self.avg_dots):
            d.set_points(np.zeros((0, 2), np.float32))
        for e in self.ellipses:
            set_curve(e)

    def remove(self, plot: pg.PlotItem) -> None:
        for item in self.items():
            plot.removeItem(item)


class _RunItems:
    """The items of one run: trail, average trail, velocity and gradient arrows, cloud."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.trail = TrailItem()
        self.avg = TrailItem()
        self.drawn: tuple | None = None  # (trajectory, pixel cell) whose kept points the trails hold
        self.vel = SegmentsItem()
        self.grad = SegmentsItem()
        for z, item in ((20, self.trail), (19, self.avg), (22, self.vel), (22, self.grad)):
            item.setZValue(z)
            # The view's range is set explicitly: a growing trail must not make the view box
            # recompute the bounds of its children on every frame.
            plot.addItem(item, ignoreBounds=True)
        self.cloud = _CloudItems(plot)

    def remove(self, plot: pg.PlotItem) -> None:
        for item in (self.trail, self.avg, self.vel, self.grad):
            plot.removeItem(item)
        self.cloud.remove(plot)


class ContourView(pg.PlotWidget):
    """Surface image, level sets, critical points, trajectories, probe, click-to-start."""

    def __init__(self, document: Document, options: ViewOptions, parent=None) -> None:
        vb = ContourViewBox()
        super().__init__(parent=parent, viewBox=vb)
        self.vb = vb
        self._doc = document
        self._opt = options
        self._theme: Theme = LIGHT
        plot = self.getPlotItem()
        plot.setAspectLocked(True)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setLabel("bottom", "θ₁ (w₁)")
        plot.setLabel("left", "θ₂ (w₂)")
        plot.showAxis("top")
        plot.showAxis("right")
        for side in ("top", "right"):
            plot.getAxis(side).setStyle(showValues=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-100)
        self.isolines = pg.PlotDataItem(connect="pairs", skipFiniteCheck=True)
        self.isolines.setZValue(-50)
        self.field = pg.PlotDataItem(connect="pairs", skipFiniteCheck=True)
        self.field.setZValue(-40)
        self.minima = pg.ScatterPlotItem(pxMode=True)
        self.minima.setZValue(10)
        self.starts = pg.ScatterPlotItem(pxMode=True)
        self.starts.setZValue(25)
        self.markers = pg.ScatterPlotItem(pxMode=True)
        self.markers.setZValue(30)
        self.cloud_means = pg.ScatterPlotItem(pxMode=True)  # the mean of each cloud
        self.cloud_means.setZValue(29)
        self.probe_arrow = pg.PlotDataItem(connect="pairs", skipFiniteCheck=True)
        self.probe_arrow.setZValue(40)
        self.probe_text = pg.TextItem(anchor=(0, 1))
        self.probe_text.setZValue(41)
        self.probe_arrow.setVisible(False)  # until the pointer is over the view
        self.probe_text.setVisible(False)
        for item in (self.image, self.isolines, self.field, self.minima, self.starts, self.markers,
                     self.cloud_means, self.probe_arrow, self.probe_text):
            plot.addItem(item, ignoreBounds=item is not self.image)
        # The background changes only with the surface or the view box: paint it once into a
        # pixmap, so playback frames only stroke the trajectories.
        # (A PlotDataItem draws through its child curve: the cache goes on the child.)
        for item in (self.image, self.isolines.curve, self.field.curve, self.minima):
            item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        # Repaint one rectangle around everything that changed: with pyqtgraph's default (the
        # minimal region, a union of many rectangles) every trail is stroked through a complex
        # clip, which costs about as much again as the stroking itself.
        self.setViewportUpdateMode(QGraphicsView.BoundingRectViewportUpdate)
        self.legend = plot.addLegend(offset=(10, 10), labelTextSize="9pt")
        self._runs: list[_RunItems] = []
        self._keep_cache: dict[int, tuple] = {}
        self._speeds: dict[int, tuple] = {}  # run -> (trajectory, its largest ‖v_t‖)
        self._style = _StyleCache()
        self._trail_width: float | None = None  # None: 1 px, 2 px for the selected run
        self._starts_drawn: tuple | None = None
        self._looks: tuple = ()
        self._box: tuple[float, float, float, float] | None = None
        self._bg_timer = QTimer(self)
        self._bg_timer.setSingleShot(True)
        self._bg_timer.setInterval(60)
        self._bg_timer.timeout.connect(self.update_background)
        self._overlay = QLabel("Preparing numerical kernels…\nthe first start compiles them once "
                               "(about 15 s); later starts take a moment.", self)
        self._overlay.setAlignment(Qt.AlignCenter)
        self._overlay.setStyleSheet("QLabel { background: rgba(30, 34, 42, 200); color: white; "
                                    "padding: 18px; border-radius: 8px; font-size: 11pt; }")
        self._overlay.setVisible(not document.ready)

        self.vb.sigRangeChanged.connect(lambda *_: self._bg_timer.start())
        self.vb.clicked.connect(self._on_click)
        self.vb.startDragged.connect(self._on_drag)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        document.readyChanged.connect(lambda r: self._overlay.setVisible(not r))
        document.surfaceChanged.connect(self._on_surface)
        document.scenarioChanged.connect(self._on_scenario)
        # Results are recomputed before scenarioChanged fires: one handler redraws both.
        document.cursorChanged.connect(self.redraw_runs)
        document.selectionChanged.connect(lambda _i: self._on_scenario())
        options.changed.connect(self._on_option)
        self.set_theme(THEMES.get(str(options["theme"]), LIGHT))

    # ---- look ------------------------------------------------------------------------------
    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.setBackground(theme.background)
        style_plot(self.getPlotItem(), theme)
        self.image.setColorMap(theme.colormap())
        self.isolines.setPen(pg.mkPen(theme.contour, width=1))
        self.field.setPen(pg.mkPen(theme.field, width=1))
        self.probe_arrow.setPen(pg.mkPen(theme.probe, width=2))
        self.probe_text.setColor(theme.probe)
        self.probe_text.fill = pg.mkBrush(theme.background + "d0")
        self.legend.setBrush(pg.mkBrush(theme.background + "c8"))
        self.legend.setPen(pg.mkPen(theme.foreground + "40"))
        self.legend.setLabelTextColor(theme.foreground)
        self._draw_critical_points()
        self._on_scenario()

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        if "_overlay" not in self.__dict__:
            return  # the base class resizes before __init__ has built the overlay
        self._overlay.adjustSize()
        self._overlay.move((self.width() - self._overlay.width()) // 2,
                           (self.height() - self._overlay.height()) // 2)

    # ---- the surface -----------------------------------------------------------------------
    def _on_surface(self) -> None:
        s = self._doc.surface
        if s is None:
            return
        x0, x1, y0, y1 = self._doc.scenario.box or s.box
        self.vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.0)
        self._draw_critical_points()
        self.update_background()

    def visible_box(self) -> tuple[float, float, float, float]:
        (x0, x1), (y0, y1) = self.vb.viewRange()
        return float(x0), float(x1), float(y0), float(y1)

    def update_background(self) -> None:
        """Recompute the image, level sets and field for the visible box."""
        s = self._doc.surface
        if s is None:
            return
        self._bg_timer.stop()
        box = self.visible_box()
        bg = Background.of(s, box)
        if bg is None:
            return
        bg.apply(self.image, self.isolines)
        self._box = box
        self._draw_field()

    def _draw_field(self) -> None:
        s = self._doc.surface
        if s is None or not self._opt["field"] or self._box is None:
            self.field.setData([], [])
            return
        fx, fy = nice_field_grid(self._box, 21)
        gx, gy = s.gradient_grid(fx, fy)
        X, Y = np.meshgrid(fx, fy)
        norm = np.hypot(gx, gy)
        norm[norm == 0] = 1.0
        cell = 0.4 * min(fx[1] - fx[0], fy[1] - fy[0])
        # The gradient points uphill, orthogonal to the level set through its foot.
        ux, uy = gx / norm * cell, gy / norm * cell
        self.field.setData(*arrow_segments((X - ux / 2).ravel(), (Y - uy / 2).ravel(), ux.ravel(),
                                           uy.ravel(), head=0.35))

    def _draw_critical_points(self) -> None:
        s = self._doc.surface
        self.minima.clear()
        if s is None:
            return
        edge = pg.mkPen(self._theme.marker_edge, width=1.2)
        spots = []
        for m in s.minima:
            if m.kind == "global":
                spots.append({"pos": (m.x, m.y), "symbol": "star", "size": 17, "pen": edge,
                              "brush": pg.mkBrush("#ffd92f"), "data": "global minimum"})
            else:
                spots.append({"pos": (m.x, m.y), "symbol": "o", "size": 10, "pen": edge,
                              "brush": pg.mkBrush("#ffffff"), "data": "local minimum"})
        for p in s.saddles:
            spots.append({"pos": (p.x, p.y), "symbol": "x", "size": 12, "pen": edge,
                          "brush": pg.mkBrush(self._theme.marker_edge), "data": "saddle"})
        self.minima.addPoints(spots)

    # ---- runs ------------------------------------------------------------------------------
    def set_trail_width(self, width: float | None) -> None:
        """Draw every trail `width` pixels wide (a figure for slides); None: the screen's look."""
        self._trail_width = width
        self._looks = ()
        self._on_scenario()

    def _on_scenario(self) -> None:
        """Colours, widths, labels and visibility of the runs; then redraw."""
        plot = self.getPlotItem()
        runs = self._doc.scenario.runs
        if len(self._runs) != len(runs):
            self._looks = ()
        while len(self._runs) < len(runs):
            self._runs.append(_RunItems(plot))
        while len(self._runs) > len(runs):
            self._runs.pop().remove(plot)
        looks = (tuple((r.color, r.visible, r.particles) for r in runs), self._doc.selected,
                 self._theme.name)
        if looks == self._looks:
            # Only titles may differ (an unlabeled run is titled by its hyperparameters).
            visible = [r for r in runs if r.visible]
            for (_sample, label), run in zip(self.legend.items, visible):
                if label.text != run.full_title:
                    label.setText(run.full_title)
        else:
            self._looks = looks
            self.legend.clear()
            for i, (run, items) in enumerate(zip(runs, self._runs)):
                selected = i == self._doc.selected
                # Width-1 pens take Qt's fast cosmetic stroker: six 5,000-point trails at 60 fps.
                width = self._trail_width or (2.0 if selected else 1.0)
                trail_color = QColor(run.color)
                if run.is_cloud:
                    # The representative path stays behind its cloud: paler, but opaque and
                    # 1 px wide. A translucent or wide pen on a noisy, self-crossing path takes
                    # Qt's slow stroker (7 ms a frame for 1,000 steps, a third of the budget).
                    trail_color = _mix(trail_color, QColor(self._theme.background), 0.6)
                    width = 1.0 if self._trail_width is None else max(1.0, 0.5 * self._trail_width)
                items.trail.setPen(pg.mkPen(trail_color, width=width))
                items.avg.setPen(pg.mkPen(run.color, width=1.0, style=Qt.DashLine))
                items.vel.setPen(pg.mkPen(run.color, width=2.0))
                items.grad.setPen(pg.mkPen(self._theme.probe, width=1.5))
                for item in (items.trail, items.avg, items.vel, items.grad):
                    item.setVisible(run.visible)
                cloud = items.cloud
                cloud.dots.set_color(run.color, particle_alpha(run.particles))
                # θ̃ particles and the ellipses: the run's colour pushed away from the background
                # (darker on light, lighter on dark), so they read on top of the dots.
                toward = QColor("#000000" if self._theme.name == "light" else "#ffffff")
                cloud.avg_dots.set_color(_mix(QColor(run.color), toward, 0.45).name(),
                                         particle_alpha(run.particles))
                line = _mix(QColor(run.color), toward, 0.25)
                for e, k in zip(cloud.ellipses, SIGMA_LEVELS):
                    e.setPen(pg.mkPen(line, width=2.2 if k == 1 else 1.6,
                                      style=Qt.SolidLine if k == 1 else Qt.DashLine))
                cloud.drawn = ()  # colours changed: draw the frame again
                for item in cloud.items():
                    item.setVisible(run.visible)
                if run.visible:
                    self.legend.addItem(items.trail, run.full_title)
        self.redraw_runs()

    def _kept(self, i: int, traj, cell: float) -> tuple[np.ndarray, np.ndarray]:
        """Per run, the trail points that fall in a new `cell` (cached per result and zoom)."""
        hit = self._keep_cache.get(i)
        if hit is not None and hit[0] is traj and hit[1] == cell:
            return hit[2], hit[3]
        keep = pixel_keep(traj.theta[:, 0], traj.theta[:, 1], cell)
        keep_avg = pixel_keep(traj.avg[:, 0], traj.avg[:, 1], cell)
        self._keep_cache[i] = (traj, cell, keep, keep_avg)
        return keep, keep_avg

    def _top_speed(self, i: int, traj) -> float:
        """The largest ‖v_t‖ of run i (its velocity arrows are drawn relative to it)."""
        hit = self._speeds.get(i)
        if hit is None or hit[0] is not traj:
            hit = self._speeds[i] = (traj, float(np.hypot(traj.velocity[:, 0], traj.velocity[:, 1]).max()) or 1.0)
        return hit[1]

    def hideEvent(self, ev) -> None:  # noqa: N802
        # Another tab is in front: playback must not pay for trails nobody sees. (A view that
        # was never shown, as the exporter's, is never hidden, so it always draws.)
        super().hideEvent(ev)
        self._hidden = True

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        if getattr(self, "_hidden", False):
            self._hidden = False
            self.redraw_runs()

    def redraw_runs(self, *_args) -> None:
        """Every run up to the cursor: slices of the precomputed arrays, no new items."""
        if getattr(self, "_hidden", False):
            return  # drawn when shown again
        doc, opt = self._doc, self._opt
        t = doc.cursor
        runs, results = doc.scenario.runs, doc.results
        mk_pos, mk_brush, mk_sym, mk_size = [], [], [], []
        cm_pos, cm_pen = [], []
        st_pos, st_pen = [], []
        starts = []
        (x0, x1), (y0, y1) = self.vb.viewRange()
        arrow_len = 0.09 * max(x1 - x0, y1 - y0)
        px = self.vb.viewPixelSize()
        cell = 0.5 * min(px) if px else 0.0  # half a pixel, in data units
        for i, items in enumerate(self._runs):
            run = runs[i] if i < len(runs) else None
            traj = results[i] if i < len(results) else None
            if run is None or traj is None or not run.visible or doc.surface is None:
                items.trail.clear()
                items.avg.clear()
                items.drawn = None
                for item in (items.vel, items.grad):
                    set_curve(item)
                items.cloud.clear()
                continue
            cloud = doc.cloud_of(i) if run.is_cloud else None
            if cloud is None:
                items.cloud.clear()
            else:
                m = self._draw_cloud(items.cloud, cloud, t, opt["average"])
                cm_pos.append(m)
                cm_pen.append(self._style.pen(run.color, 2.5))
            k = traj.at(t)
            th = traj.theta
            if items.drawn is None or items.drawn[0] is not traj or items.drawn[1] != cell:
                keep, keep_avg = self._kept(i, traj, cell)
                items.trail.set_points(th, keep)
                items.avg.set_points(traj.avg, keep_avg)
                items.drawn = (traj, cell)
            items.trail.set_end(k)
            items.avg.set_end(k if opt["average"] else -1)
            px, py = float(th[k, 0]), float(th[k, 1])
            if opt["velocity"]:
                f = 1.5 * arrow_len / self._top_speed(i, traj)
                items.vel.setData(*arrow_points(px, py, float(traj.velocity[k, 0]) * f,
                                                float(traj.velocity[k, 1]) * f))
            else:
                set_curve(items.vel)
            if opt["gradient"]:
                gx, gy = float(traj.grad[k, 0]), float(traj.grad[k, 1])
                gn = math.hypot(gx, gy)
                if gn > 0:
                    items.grad.setData(*arrow_points(px, py, gx / gn * arrow_len, gy / gn * arrow_len))
                else:
                    set_curve(items.grad)
            else:
                set_curve(items.grad)
            diverged = traj.diverged_at is not None and t >= len(traj) - 1
            mk_pos.append((px, py))
            mk_brush.append(self._style.brush(run.color))
            mk_sym.append("x" if diverged else "o")
            mk_size.append(16 if diverged else (12 if i == doc.selected else 10))
            sx, sy = doc.start_of(i)
            st_pos.append((sx, sy))
            st_pen.append(self._style.pen(run.color, 2.2))
            starts.append((i, sx, sy))
        edge = self._style.pen(self._theme.marker_edge, 1.2)
        self.markers.setData(pos=mk_pos, brush=mk_brush, symbol=mk_sym, size=mk_size, pen=edge)
        if cm_pos or len(self.cloud_means.data):
            self.cloud_means.setData(pos=cm_pos, pen=cm_pen, brush=self._style.brush(self._theme.background),
                                     symbol="d", size=13)
        look = (starts, tuple(id(p) for p in st_pen))
        if look != self._starts_drawn:  # starts move when edited, not with the cursor
            self.starts.setData(pos=st_pos, pen=st_pen, brush=self._style.brush("#00000000"),
                                symbol="s", size=11)
            self._starts_drawn = look
        self.vb.starts = starts

    def _draw_cloud(self, items: _CloudItems, cloud, t: int, average: bool) -> tuple[float, float]:
        """The cloud's particles and ellipses at the frame of cursor t; returns its mean.

        Nothing is redrawn while the cursor stays within one recorded frame (clouds keep
        every k-th step).
        """
        r = cloud.frame(t)
        # θ̃ of each particle is kept for the last step only: shown once the run has ended.
        show_avg = average and r == cloud.record_steps.size - 1
        mean = cloud.mean[r]
        key = (cloud, r, show_avg)
        if items.drawn == key:
            return float(mean[0]), float(mean[1])
        items.drawn = key
        th = cloud.theta[r]
        if np.any(cloud.diverged_at >= 0):  # a diverged particle leaves the picture
            alive = (cloud.diverged_at < 0) | (cloud.record_steps[r] < cloud.diverged_at)
            th = th[alive]
        items.dots.set_points(th)
        for e, k in zip(items.ellipses, SIGMA_LEVELS):
            pts = ellipse_points(mean, cloud.cov[r], k)
            e.setData(pts[:, 0], pts[:, 1])
        if show_avg:
            avg = cloud.avg_theta[cloud.diverged_at < 0]
            items.avg_dots.set_points(avg.astype(np.float32))
        else:
            items.avg_dots.set_points(np.zeros((0, 2), np.float32))
        return float(mean[0]), float(mean[1])

    def _on_option(self, name: str) -> None:
        if name == "field":
            self._draw_field()
        elif name in ("velocity", "gradient", "average"):
            self.redraw_runs()

    # ---- mouse -----------------------------------------------------------------------------
    def click_at(self, x: float, y: float, shift: bool = False) -> None:
        """Move the selected run's start to (x, y); with shift, every run's start."""
        if self._doc.surface is None or not self._doc.scenario.runs:
            return
        sel = self._doc.selected
        self._doc.set_start((x, y), None if shift or sel < 0 else sel)

    def _on_click(self, x: float, y: float, shift: bool) -> None:
        self.click_at(x, y, shift)

    def _on_drag(self, run: int, x: float, y: float, finished: bool) -> None:
        if not finished:
            self._doc.set_live(True)  # a cloud follows the drag as a preview of its particles
        self._doc.set_selected(run)
        self._doc.set_start((x, y), run)
        if finished:
            self._doc.set_live(False)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        s = self._doc.surface
        if s is None or not self.vb.sceneBoundingRect().contains(scene_pos):
            self.hide_probe()
            return
        p = self.vb.mapSceneToView(scene_pos)
        self.probe_at(p.x(), p.y())

    def probe_at(self, x: float, y: float) -> None:
        """E, ‖∇E‖ and the gradient arrow (orthogonal to the level set) at (x, y)."""
        s = self._doc.surface
        if s is None:
            return
        e = s.evaluate(x, y)
        cost, gx, gy = float(e["cost"]), float(e["gx"]), float(e["gy"])
        gn = float(np.hypot(gx, gy))
        (x0, x1), (y0, y1) = self.vb.viewRange()
        length = 0.08 * max(x1 - x0, y1 - y0)
        if gn > 0:
            self.probe_arrow.setData(*arrow_segments(x, y, gx / gn * length, gy / gn * length))
        else:
            self.probe_arrow.setData([], [])
        self.probe_text.setText(f"θ = ({x:.3g}, {y:.3g})\nE = {cost:.4g}\n‖∇E‖ = {gn:.3g}")
        self.probe_text.setPos(x, y)
        self.probe_text.setVisible(True)
        self.probe_arrow.setVisible(True)

    def hide_probe(self) -> None:
        self.probe_arrow.setVisible(False)
        self.probe_text.setVisible(False)

    def leaveEvent(self, ev) -> None:  # noqa: N802
        self.hide_probe()
        super().leaveEvent(ev)
