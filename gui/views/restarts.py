"""The restarts view: random restarts, section 4.2.

K starts drawn uniformly in the view box run in parallel; their trajectories are drawn
faded over the surface, coloured by where they end, and the best one bold. A summary says
how many reached a global minimum. Numbers come from `sim.simulate.restarts`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QPushButton, QWidget

from gui.document import Document
from gui.jobs import job_key, surface_key
from gui.theme import Theme, style_plot
from gui.view_options import ViewOptions
from gui.views.analysis import (
    DIVERGED_COLOR,
    AnalysisView,
    OptimizerForm,
    cell_rect,
    controls_column,
    fmt,
    hover_label,
    key_label,
    key_text,
    minima_labels,
    minima_spots,
    minimum_name,
    plot_widget,
    set_title,
    spin_box,
    style_hover,
    surface_drawing,
    view_box,
)
from sim import OptimizerConfig
from sim.simulate import DIVERGED, MAX_RESTARTS, NO_MINIMUM, RestartsResult, restarts

DEFAULT_K = 50
SYNC_WORK = 2_000_000  # particle-steps computed in the GUI thread; more: a worker thread
PICK_PIXELS = 10.0
# Faded trails by outcome (alpha ~ a third) and the best run, per theme.
OUTCOMES = ("global", "local", "none", "diverged")
TRAILS = {
    "light": {"global": "#1f6fb4", "local": "#d9590b", "none": "#5f5f5f", "diverged": DIVERGED_COLOR["light"]},
    "dark": {"global": "#7cb8ec", "local": "#fd9a52", "none": "#b0b0b0", "diverged": DIVERGED_COLOR["dark"]},
}
FADE = 130  # alpha of the other restarts: faded, yet readable on both themes' surfaces
SECTION = "section 4.2, random restarts"


class RestartsView(AnalysisView):
    """K faded trajectories from random starts over the surface, the best one bold."""

    result: RestartsResult | None

    def __init__(self, document: Document, options: ViewOptions, parent: QWidget | None = None) -> None:
        super().__init__(document, options, parent)
        self._bg_key = None
        self._names: list[pg.TextItem] = []

        # ---- controls --------------------------------------------------------------------
        controls, cl = controls_column()
        self.form = OptimizerForm(document, "Optimizer")
        cl.addWidget(self.form)
        box = QGroupBox("Restarts")
        bf = QFormLayout(box)
        bf.setContentsMargins(8, 6, 8, 8)
        self.k = spin_box(1, MAX_RESTARTS, "how many starts to draw uniformly in the view box", DEFAULT_K)
        self.steps = spin_box(1, 100_000, "steps T of every restart")
        self.seed = spin_box(0, 1_000_000, "seed of the random starts (and of the gradient noise)")
        bf.addRow("restarts K", self.k)
        bf.addRow("steps T", self.steps)
        bf.addRow("seed", self.seed)
        cl.addWidget(box)
        self.add_best = QPushButton("Add the best restart as a run")
        self.add_best.setToolTip("add a run from the best restart's start to the scenario")
        self.add_best.clicked.connect(self._add_best)
        cl.addWidget(self.add_best)
        cl.addStretch(1)

        # ---- the plot ----------------------------------------------------------------------
        self.plot = plot_widget(square=True, bottom="θ₁ (w₁)", left="θ₂ (w₂)")
        plot = self.plot.getPlotItem()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.isolines = pg.PlotDataItem(connect="pairs", skipFiniteCheck=True)
        self.trails = {o: pg.PlotDataItem(connect="finite") for o in OUTCOMES}
        self.best_trail = pg.PlotDataItem()
        self.starts = pg.ScatterPlotItem(pxMode=True, size=5, symbol="o")
        self.best_start = pg.ScatterPlotItem(pxMode=True, size=11, symbol="s")
        self.minima = pg.ScatterPlotItem(pxMode=True)
        self.hover = hover_label()
        items = (self.image, self.isolines, *self.trails.values(), self.starts, self.best_trail,
                 self.best_start, self.minima, self.hover)
        for z, item in enumerate(items):
            item.setZValue(z)
            plot.addItem(item, ignoreBounds=True)  # the range is the view box, set explicitly
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._clicked)

        # The key sits under the plot, where it hides no trajectory.
        self.key = key_label()
        self._assemble(controls, self.plot, self.key, idle="The restarts run when this tab is shown.",
                       tip=f"Lecture: {SECTION}. Run from many starts and keep the best: the chance of "
                           "reaching a global minimum is the share of the box its basin covers.",
                       busy="running restarts")

        self._hook_runner("Restarts failed", "Cancelled; the previous restarts stay on screen.")
        self.form.changed.connect(self._on_settings)
        self.form.dragged.connect(self._on_settings)
        for w in (self.k, self.steps, self.seed):
            w.valueChanged.connect(lambda _v: self._on_settings())
        document.scenarioChanged.connect(self._on_scenario)
        self.set_theme(self.theme)

    # ---- settings ----------------------------------------------------------------------------
    def start(self) -> None:
        self.form.load_selected()
        self.steps.blockSignals(True)
        self.steps.setValue(self._doc.scenario.steps)
        self.steps.blockSignals(False)

    def _on_scenario(self) -> None:
        if self.started and self._bg_key is not None and self._bg_key[1] != view_box(self._doc):
            self.invalidate()

    def surface_changed(self) -> None:
        self.result = None
        self._key = None
        self._bg_key = None
        self._clear()

    def settings(self) -> tuple[OptimizerConfig, dict]:
        """The config and the keyword arguments of `sim.restarts` the controls ask for."""
        kw = {"k": int(self.k.value()), "steps": int(self.steps.value()), "seed": int(self.seed.value()),
              "box": view_box(self._doc)}
        return self.form.config(), kw

    # ---- computing ---------------------------------------------------------------------------
    def refresh(self) -> None:
        s = self._doc.surface
        if s is None:
            return
        self._draw_background()
        try:
            cfg, kw = self.settings()
        except ValueError as e:
            self.summary.setText(f"Cannot run restarts: {e}")
            return
        key = job_key("restarts", s, cfg, **kw)
        if not self._new_request(key):
            return  # on screen, or being computed
        if kw["k"] * kw["steps"] <= SYNC_WORK:
            self.runner.compute_now(key, restarts, s, cfg, **kw)
        elif not self.runner.request(key, restarts, s, cfg, cancellable=False, **kw):
            self.summary.setText(f"Running {kw['k']} restarts × {kw['steps']} steps in the background…")

    # ---- drawing -----------------------------------------------------------------------------
    def _draw_background(self) -> None:
        s = self._doc.surface
        box = view_box(self._doc)
        if s is None or box is None:
            return
        key = (surface_key(s), box, self.theme.name)
        if key == self._bg_key:
            return
        self._bg_key = key
        img, levels, (sx, sy) = surface_drawing(s, box, points=200, count=16)
        self.image.setImage(img, autoLevels=False, levels=levels)
        self.image.setColorMap(self.theme.colormap())
        ys = np.linspace(box[2], box[3], img.shape[0])
        xs = np.linspace(box[0], box[1], img.shape[1])
        self.image.setRect(cell_rect(xs, ys))
        self.isolines.setData(sx, sy)
        self.minima.setData(minima_spots(s, self.theme, names=True))
        self._names = minima_labels(self.plot.getPlotItem(), s, self.theme, self._names)
        self.plot.getPlotItem().getViewBox().setRange(xRange=box[:2], yRange=box[2:], padding=0.0)

    def _clear(self) -> None:
        for item in (*self.trails.values(), self.best_trail):
            item.setData([], [])
        self.starts.clear()
        self.best_start.clear()
        self.key.setText("")

    def outcome(self, k: int) -> str:
        """'global', 'local', 'none' or 'diverged': where restart k ended."""
        r = self.result
        lab = int(r.label[k])
        if lab == DIVERGED:
            return "diverged"
        if lab == NO_MINIMUM:
            return "none"
        return "global" if lab in r.global_labels else "local"

    def path(self, k: int) -> np.ndarray:
        """The recorded points of restart k, up to where it diverged."""
        r = self.result
        d = int(r.diverged_at[k])
        n = r.record_steps.size if d < 0 else max(1, int(np.searchsorted(r.record_steps, d, side="right")))
        return r.theta[:n, k]

    def paths(self) -> list[np.ndarray]:
        """Every drawn trajectory: the faded ones split at their gaps, then the bold best."""
        out = []
        for item in self.trails.values():
            x, y = item.xData, item.yData
            if x is None or len(x) == 0:
                continue
            gaps = np.flatnonzero(~np.isfinite(x))
            for seg in np.split(np.arange(len(x)), gaps):
                seg = seg[np.isfinite(x[seg])]
                if seg.size:
                    out.append(np.column_stack([x[seg], y[seg]]))
        if self.best_trail.xData is not None and len(self.best_trail.xData):
            out.append(np.column_stack([self.best_trail.xData, self.best_trail.yData]))
        return out

    def draw(self) -> None:
        r = self.result
        self._clear()
        if r is None:
            return
        self._draw_background()
        best = r.best
        groups: dict[str, list[np.ndarray]] = {o: [] for o in OUTCOMES}
        for k in range(r.starts.shape[0]):
            if k != best:
                groups[self.outcome(k)].append(self.path(k))
        nan = np.full((1, 2), np.nan)
        colors = TRAILS[self.theme.name]
        counts = {o: sum(1 for k in range(r.starts.shape[0]) if self.outcome(k) == o) for o in OUTCOMES}
        words = {"global": "reached a global minimum", "local": "reached a local minimum",
                 "none": "no minimum within T steps", "diverged": "diverged"}
        for o, item in self.trails.items():
            if groups[o]:
                pts = np.concatenate([p for g in groups[o] for p in (g, nan)])
                item.setData(pts[:, 0], pts[:, 1])
        entries = [(colors[o], "━━", f"{words[o]} ({counts[o]})") for o in OUTCOMES if counts[o]]
        edge = pg.mkPen(self.theme.marker_edge, width=0.8)
        brushes = [pg.mkBrush(pg.mkColor(colors[self.outcome(k)])) for k in range(r.starts.shape[0])]
        self.starts.setData(pos=r.starts, brush=brushes, pen=edge)
        if best is not None:
            p = self.path(best)
            self.best_trail.setData(p[:, 0], p[:, 1])
            self.best_start.setData(pos=[tuple(r.starts[best])], brush=pg.mkBrush(self.theme.probe),
                                    pen=pg.mkPen(self.theme.background, width=1.5))
            entries.append((self.theme.probe, "<b>━━</b>", f"best: E = {r.final_cost[best]:.4g}"))
        self.key.setText(key_text(entries))
        set_title(self.plot.getPlotItem(), f"{r.starts.shape[0]} random restarts: {r.config.label()}, "
                  f"T = {r.steps}", self.theme)
        self._summarize(r, counts)

    def _summarize(self, r: RestartsResult, counts: dict[str, int]) -> None:
        K = r.starts.shape[0]
        n = r.n_global
        others = [f"{counts['local']} a local one" if counts["local"] else "",
                  f"{counts['none']} none within T = {r.steps} steps" if counts["none"] else "",
                  f"{counts['diverged']} diverged" if counts["diverged"] else ""]
        others = [o for o in others if o]
        text = (f"<b>{n} of {K} restarts reached a global minimum</b> ({100 * n / K:.0f} %)"
                + (f"; {', '.join(others)}." if others else "."))
        if r.best is not None:
            b = r.best
            lab = int(r.label[b])
            where = f"at {minimum_name(lab)}" if lab >= 0 else "at no known minimum"
            text += (f" Best: E = {r.final_cost[b]:.4g} {where}, from θ₀ = ({fmt(r.starts[b, 0])}, "
                     f"{fmt(r.starts[b, 1])}).")
        self.summary.setText(text)

    def set_theme(self, theme: Theme) -> None:
        self.plot.setBackground(theme.background)
        style_plot(self.plot.getPlotItem(), theme)
        self.isolines.setPen(pg.mkPen(theme.contour, width=1))
        colors = TRAILS[theme.name]
        for o, item in self.trails.items():
            c = pg.mkColor(colors[o])
            c.setAlpha(FADE)
            item.setPen(pg.mkPen(c, width=1.3))
        self.best_trail.setPen(pg.mkPen(theme.probe, width=3))
        style_hover(self.hover, theme)
        self._bg_key = None
        if self.result is not None:
            self.draw()
        elif self.started:
            self._draw_background()

    # ---- hovering and clicking -----------------------------------------------------------------
    def pick(self, scene_pos: QPointF) -> int | None:
        """The restart whose start is within a few pixels of `scene_pos`."""
        r = self.result
        if r is None:
            return None
        vb = self.plot.getPlotItem().getViewBox()
        best, best_d = None, PICK_PIXELS
        for k, (x, y) in enumerate(r.starts):
            p = vb.mapViewToScene(QPointF(float(x), float(y)))
            d = float(np.hypot(p.x() - scene_pos.x(), p.y() - scene_pos.y()))
            if d <= best_d:
                best, best_d = k, d
        return best

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        k = self.pick(scene_pos)
        if k is None:
            self.hover.setVisible(False)
            return
        r = self.result
        o = self.outcome(k)
        lab = int(r.label[k])
        fate = {"global": f"→ {minimum_name(lab)}, a global minimum", "local": f"→ {minimum_name(lab)}, a local minimum",
                "none": f"→ no known minimum within {r.steps} steps",
                "diverged": f"→ diverged at step {int(r.diverged_at[k])}"}[o]
        lines = [f"restart {k + 1}: θ₀ = ({fmt(r.starts[k, 0])}, {fmt(r.starts[k, 1])})", fate]
        if o != "diverged":
            lines.append(f"E(θ_T) = {r.final_cost[k]:.4g}")
        lines.append("click: add as a run")
        self.hover.setText("\n".join(lines))
        self.hover.setPos(float(r.starts[k, 0]), float(r.starts[k, 1]))
        self.hover.setVisible(True)

    def add_run_from(self, k: int) -> int:
        """Add restart k (its config and start) to the scenario as a run; the run's index."""
        r = self.result
        if r is None:
            return -1
        i = self._doc.add_run(r.config)
        if i >= 0:
            self._doc.set_start((float(r.starts[k, 0]), float(r.starts[k, 1])), i)
            self.summary.setText(f"Added run {i + 1}: {r.config.label()} from restart {k + 1}'s start.")
        return i

    def _add_best(self) -> None:
        if self.result is not None and self.result.best is not None:
            self.add_run_from(self.result.best)

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton:
            return
        k = self.pick(ev.scenePos())
        if k is not None:
            ev.accept()
            self.add_run_from(k)

