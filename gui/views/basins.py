"""The basins view: where every start of a grid over the view box ends (Figure 1).

Each start is coloured by the minimum it reaches, by its final cost or by the steps it
takes to settle; diverged starts have their own colour. The surface's level sets and
minima are drawn over the map, a legend names each minimum with its share of the starts,
and hovering tells where a start went. While a slider is dragged the map is recomputed
at once on a coarse grid sized to take about `LIVE_MS`; on release the full grid is
computed in a worker thread. Numbers come from `sim.simulate.basins`.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QWidget

from gui.document import Document
from gui.jobs import job_key, surface_key
from gui.theme import Theme, style_plot
from gui.view_options import ViewOptions
from gui.views.analysis import (
    DIVERGED_COLOR,
    AnalysisView,
    OptimizerForm,
    cell_rect,
    color_bar,
    controls_column,
    fmt,
    hover_label,
    minima_labels,
    minima_spots,
    minimum_name,
    plot_widget,
    set_title,
    spin_box,
    style_color_bar,
    style_hover,
    surface_drawing,
    view_box,
)
from gui.views.loss import FLOOR
from sim import OptimizerConfig
from sim.simulate import DIVERGED, NO_MINIMUM, BasinMap, basins

DEFAULT_GRID = 256
DEFAULT_STEPS = 1000
LIVE_MS = 30.0  # a live recompute while a slider is dragged should take about this long
LIVE_GRID = (32, 160)  # bounds of the live grid
SYNC_WORK = 2_000_000  # particle-steps computed in the GUI thread; more: a worker thread
COLOR_BY = (("minimum", "minimum reached"), ("cost", "final cost"), ("steps", "steps to converge"))
# Basin fills: pale in the light theme and deep in the dark one, so that the level sets
# drawn over them (dark, resp. light) stay readable.
FILLS = {
    "light": ("#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#ffff99", "#8dd3c7", "#bebada", "#fccde5",
              "#d9d9d9", "#ccebc5"),
    "dark": ("#2b6a8f", "#3d7a3a", "#9a6424", "#66508a", "#8a8632", "#2c7a70", "#55548a", "#8a4d6c",
             "#5c5c5c", "#4f7a55"),
}
NONE_COLOR = {"light": "#8c8c8c", "dark": "#3a3d44"}  # reached no known minimum within T steps
ISOLINES = {"light": (20, 24, 34, 110), "dark": (235, 238, 245, 95)}
SECTION = "Figure 1, basins of attraction"


LEGEND_MINIMA = 9  # entries for minima in the legend; beyond, the rest share one


def _rgba(color: str) -> tuple[int, int, int, int]:
    return pg.mkColor(color).getRgb()


class BasinsView(AnalysisView):
    """A basin map of the document's surface for the view's own optimizer config."""

    result: BasinMap | None

    def __init__(self, document: Document, options: ViewOptions, parent: QWidget | None = None) -> None:
        super().__init__(document, options, parent)
        self._live_rate = 1.5e8  # particle-steps per second; measured on every live recompute
        self.live_grid = 96
        self.live_ms: list[tuple[int, float]] = []  # (grid, ms) of the live recomputes so far
        self._iso_key = None
        self._zoom_box: tuple[float, float, float, float] | None = None  # None: the view box

        # ---- controls --------------------------------------------------------------------
        controls, cl = controls_column()
        self.form = OptimizerForm(document, "Optimizer")
        self.form.setToolTip("drag a slider: the map follows live on a coarse grid; release: the full grid")
        cl.addWidget(self.form)
        map_box = QGroupBox("Map")
        mf = QFormLayout(map_box)
        mf.setContentsMargins(8, 6, 8, 8)
        self.color_by = QComboBox()
        for key, text in COLOR_BY:
            self.color_by.addItem(text, key)
        self.color_by.setToolTip("colour each start by the minimum it reaches, its final cost E(θ_T) or "
                                 "the step from which it stays put")
        self.grid = spin_box(16, 1024, "starts per side of the view box; a grid larger than the live preview "
                             "is computed in the background", DEFAULT_GRID)
        self.grid.setSingleStep(32)
        self.grid.setSuffix(" × grid")
        self.steps = spin_box(1, 100_000, "steps T of every run: a start that is not at a minimum by then "
                              "counts as reaching none", DEFAULT_STEPS)
        self.seed = spin_box(0, 1_000_000, "noise seed (start k uses seed + k); matters only with gradient noise")
        mf.addRow("colour by", self.color_by)
        mf.addRow("grid", self.grid)
        mf.addRow("steps T", self.steps)
        mf.addRow("seed", self.seed)
        area = QHBoxLayout()
        self.map_visible = QPushButton("Map what is shown")
        self.map_visible.setToolTip("zoom or pan the map (mouse wheel, drag), then map the starts of the "
                                    "area on screen: basin boundaries in detail")
        self.map_whole = QPushButton("Whole box")
        self.map_whole.setToolTip("map the scenario's view box again")
        self.map_whole.setEnabled(False)
        area.addWidget(self.map_visible)
        area.addWidget(self.map_whole)
        mf.addRow("area", area)
        self.animate = QPushButton("Animate over a hyperparameter…")
        self.animate.setToolTip("the map for each value of α, μ, … saved as a GIF or MP4: how the "
                                "hyperparameter reshapes the basins, for a slide")
        mf.addRow(self.animate)
        cl.addWidget(map_box)
        self.live_label = QLabel("Drag a slider: the map follows live on a coarse grid (about "
                                 f"{LIVE_MS:.0f} ms a frame); the full grid follows on release.")
        self.live_label.setWordWrap(True)
        self.live_label.setStyleSheet("color: palette(placeholder-text);")
        cl.addWidget(self.live_label)
        cl.addStretch(1)

        # ---- the map -----------------------------------------------------------------------
        self.plot = plot_widget(square=True, bottom="θ₁ of the start", left="θ₂ of the start")
        plot = self.plot.getPlotItem()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.isolines = pg.PlotDataItem(connect="pairs", skipFiniteCheck=True)
        self.minima = pg.ScatterPlotItem(pxMode=True)
        self.hover = hover_label()
        for z, item in enumerate((self.image, self.isolines, self.minima, self.hover)):
            item.setZValue(z)
            plot.addItem(item, ignoreBounds=item is not self.image)
        self._names: list[pg.TextItem] = []
        self.colorbar = color_bar()
        plot.layout.addItem(self.colorbar, 2, 5)
        self.colorbar.setVisible(False)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._clicked)

        self.legend = QLabel()
        self.legend.setTextFormat(Qt.RichText)
        self.legend.setWordWrap(True)
        self.legend.setContentsMargins(8, 4, 8, 0)
        self._assemble(controls, self.plot, self.legend, idle="The map is computed when this tab is shown.",
                       tip=f"Lecture: {SECTION}. A start counts as reaching a minimum when it ends within "
                           "1 % of the box's size of it.", busy="mapping basins")

        self._hook_runner("Basin map failed", "Cancelled; the previous map stays on screen.")
        self.form.changed.connect(self._on_settings)
        self.form.dragged.connect(self.preview)
        for w in (self.grid, self.steps, self.seed):
            w.valueChanged.connect(lambda _v: self._on_settings())
        self.color_by.currentIndexChanged.connect(lambda _i: self.draw())
        self.map_visible.clicked.connect(self.map_shown_area)
        self.map_whole.clicked.connect(lambda: self.set_area(None))
        self.animate.clicked.connect(self.open_movie_dialog)
        document.scenarioChanged.connect(self._on_scenario)
        self.set_theme(self.theme)

    # ---- settings ----------------------------------------------------------------------------
    def start(self) -> None:
        self.form.load_selected()

    def _on_scenario(self) -> None:
        # A new view box (a scenario file with one) changes the map; other edits do not.
        if self.started and self.result is not None and view_box(self._doc) != tuple(self.result.box):
            self.invalidate()

    def surface_changed(self) -> None:
        self._zoom_box = None
        self.map_whole.setEnabled(False)
        self.result = None
        self._key = None
        self._iso_key = None
        self.image.clear()
        self.legend.setText("")

    def settings(self, grid: int | None = None) -> tuple[OptimizerConfig, dict]:
        """The config and the keyword arguments of `sim.basins` the controls ask for."""
        kw = {"grid": int(grid or self.grid.value()), "steps": int(self.steps.value()),
              "box": self._zoom_box or view_box(self._doc), "seed": int(self.seed.value())}
        return self.form.config(), kw

    def set_area(self, box: tuple[float, float, float, float] | None) -> None:
        """Map the starts of `box` (x0, x1, y0, y1), or of the view box with None."""
        self._zoom_box = None if box is None else tuple(float(v) for v in box)  # type: ignore[assignment]
        self.map_whole.setEnabled(box is not None)
        self._iso_key = None  # the level sets and the range follow the new area
        self._on_settings()

    def open_movie_dialog(self):
        """Basins → Animate…: the dialog (returned, for scripts and tests), shown modeless."""
        from gui.basin_movie import BasinMovieDialog  # it draws with this view's class

        if self._doc.surface is None:
            return None
        dialog = BasinMovieDialog(self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def map_shown_area(self) -> None:
        """Map the area the plot shows now (after the user zoomed or panned it)."""
        (x0, x1), (y0, y1) = self.plot.getPlotItem().getViewBox().viewRange()
        if all(math.isfinite(v) for v in (x0, x1, y0, y1)) and x1 > x0 and y1 > y0:
            self.set_area((x0, x1, y0, y1))

    # ---- computing ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Compute the full grid: at once when small or cached, else in the background (after
        a live preview when the map on screen belongs to another surface)."""
        s = self._doc.surface
        if s is None:
            return
        try:
            cfg, kw = self.settings()
        except ValueError as e:
            self.summary.setText(f"Cannot map basins: {e}")
            return
        key = job_key("basins", s, cfg, **kw)
        if not self._new_request(key):
            return  # on screen, or being computed
        if kw["grid"] ** 2 * kw["steps"] <= SYNC_WORK or self.runner.cached(key) is not None:
            self.runner.compute_now(key, basins, s, cfg, **kw)
            return
        if self.result is None:
            self.preview()
        self.runner.request(key, basins, s, cfg, **kw)
        self.summary.setText(f"Computing the {kw['grid']} × {kw['grid']} map in the background…")

    def preview(self) -> None:
        """Recompute at once on the live grid: what a slider drag shows."""
        s = self._doc.surface
        if s is None or not self.started:
            return
        steps = int(self.steps.value())
        # The grid whose work fits LIVE_MS at the rate measured so far, in steps of 8.
        g = math.sqrt(self._live_rate * LIVE_MS / 1000.0 / max(steps, 1))
        grid = int(min(max(8 * round(g / 8), LIVE_GRID[0]), LIVE_GRID[1], self.grid.value()))
        try:
            cfg, kw = self.settings(grid)
        except ValueError as e:
            self.summary.setText(f"Cannot map basins: {e}")
            return
        key = job_key("basins", s, cfg, **kw)
        sim_ms: list[float] = []

        def timed(*args, **kwargs) -> BasinMap:
            t = time.perf_counter()
            out = basins(*args, **kwargs)
            sim_ms.append((time.perf_counter() - t) * 1000.0)
            return out

        t0 = time.perf_counter()
        self.runner.compute_now(key, timed, s, cfg, **kw)
        ms = (time.perf_counter() - t0) * 1000.0  # computing and drawing
        if sim_ms:  # not a cache hit
            self.live_grid = grid
            self.live_ms.append((grid, ms))
            # The rate of the numerics alone; early-settling runs make it vary with α and μ,
            # so follow it, smoothed.
            rate = grid * grid * steps / max(sim_ms[0] / 1000.0, 1e-4)
            self._live_rate = math.sqrt(self._live_rate * rate)
        if sim_ms and self.form.dragging():
            self.live_label.setText(f"Live preview while dragging: {grid} × {grid} starts in {ms:.0f} ms; "
                                    f"the {self.grid.value()} × {self.grid.value()} map follows on release.")

    # ---- drawing -----------------------------------------------------------------------------
    def _label_colors(self, n_minima: int) -> np.ndarray:
        """RGBA rows for labels -2 (diverged), -1 (no minimum), 0 … n−1 (the minima)."""
        name = self.theme.name
        fills = FILLS[name]
        rows = [_rgba(DIVERGED_COLOR[name]), _rgba(NONE_COLOR[name])]
        rows += [_rgba(fills[k % len(fills)]) for k in range(n_minima)]
        return np.array(rows, np.ubyte)

    def draw(self) -> None:
        """Draw the result in the chosen colouring, with level sets, minima and legend."""
        r = self.result
        s = self._doc.surface
        if r is None or s is None:
            return
        mode = self.color_by.currentData()
        n = len(r.minima)
        lut = self._label_colors(n)
        if mode == "minimum":
            # The image holds the labels themselves; the look-up table maps label k to row k + 2.
            self.image.setLookupTable(lut)
            self.image.setImage(r.label, autoLevels=False, levels=(DIVERGED, DIVERGED + len(lut)))
            self.colorbar.setVisible(False)
        else:
            if mode == "cost":
                known = s.lowest_cost
                ok = r.label != DIVERGED
                base = float(known) if known is not None else (float(r.final_cost[ok].min()) if ok.any() else 0.0)
                values = np.log10(np.maximum(r.final_cost - base, FLOOR))
                valid = ok
                title = "log₁₀ (E(θ_T) − E*)" if known is not None else "log₁₀ (E(θ_T) − min E)"
            else:
                values = r.steps_to_converge.astype(float)
                valid = r.steps_to_converge >= 0
                title = "steps to converge"
            rgba = np.empty(r.label.shape + (4,), np.ubyte)
            rgba[:] = lut[1]
            rgba[r.label == DIVERGED] = lut[0]
            cmap = pg.colormap.get("viridis")
            if valid.any():
                lo, hi = float(values[valid].min()), float(values[valid].max())
                hi = hi if hi > lo else lo + 1.0
                rgba[valid] = cmap.map((values[valid] - lo) / (hi - lo), mode="byte")
            else:
                lo, hi = 0.0, 1.0
            self.image.setLookupTable(None)
            self.image.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.colorbar.setLevels((lo, hi))
            self.colorbar.axis.setLabel(title)
            self.colorbar.setVisible(True)
        self.image.setRect(cell_rect(r.x, r.y))
        g = r.label.shape[0]
        set_title(self.plot.getPlotItem(), f"Basins of attraction: {r.config.label()}, T = {r.steps}, "
                  f"{g} × {g} starts{' (zoomed)' if self._zoom_box is not None else ''}", self.theme)
        self._draw_overlay(s, r.box)
        self._draw_legend(r, mode)
        self._summarize(r)

    def _draw_overlay(self, s, box) -> None:
        key = (surface_key(s), tuple(box), self.theme.name)
        if key == self._iso_key:
            return
        self._iso_key = key
        _img, _levels, (sx, sy) = surface_drawing(s, box, points=180, count=14)
        self.isolines.setData(sx, sy)
        self.minima.setData(minima_spots(s, self.theme, names=True))
        plot = self.plot.getPlotItem()
        self._names = minima_labels(plot, s, self.theme, self._names)
        x0, x1, y0, y1 = box
        # A mapped area fills the plot without padding (the square aspect may add a margin
        # on one side).
        pad = 0.0 if self._zoom_box is not None else 0.02
        plot.getViewBox().setRange(xRange=(x0, x1), yRange=(y0, y1), padding=pad)

    def _draw_legend(self, r: BasinMap, mode: str) -> None:
        lut = self._label_colors(len(r.minima))
        s = self._doc.surface
        frac = r.fractions()
        cells = []

        def cell(row: np.ndarray, name: str, text: str, share: float) -> str:
            # Non-breaking spaces keep an entry on one line (Qt's rich text ignores `nowrap`).
            swatch = f"<span style='color:#{row[0]:02x}{row[1]:02x}{row[2]:02x}'>■</span>"
            return (f"{swatch}&nbsp;{name}{text.replace(' ', '&nbsp;')}&nbsp;"
                    f"<b>{100 * share:.1f}&nbsp;%</b>")

        if mode == "minimum":
            # A surface with many minima (a custom Rastrigin has 121) lists the global ones
            # and those that drew the most starts, and sums up the rest in one entry.
            def is_global(k: int) -> bool:
                return s is not None and k < len(s.minima) and s.minima[k].kind == "global"

            order = sorted(range(len(r.minima)), key=lambda k: (not is_global(k), -frac.get(k, 0.0), k))
            shown = order if len(order) <= LEGEND_MINIMA else order[:LEGEND_MINIMA - 1]
            for k in sorted(shown):
                mx, my = r.minima[k]
                kind = s.minima[k].kind if s is not None and k < len(s.minima) else "minimum"
                cells.append(cell(lut[k + 2], f"<b>{minimum_name(k)}</b>&nbsp;",
                                  f"{kind} ({mx:.2g}, {my:.2g})", frac.get(k, 0.0)))
            rest = order[len(shown):]
            if rest:
                cells.append(cell(np.array([150, 150, 150, 255]), "", f"{len(rest)} other minima",
                                  sum(frac.get(k, 0.0) for k in rest)))
        if frac.get(NO_MINIMUM) or mode == "steps":
            if mode == "steps":
                share = float((r.steps_to_converge < 0).mean() - frac.get(DIVERGED, 0.0))
                cells.append(cell(lut[1], "", "no minimum or never settled", share))
            else:
                cells.append(cell(lut[1], "", "no minimum within T steps", frac[NO_MINIMUM]))
        if frac.get(DIVERGED):
            cells.append(cell(lut[0], "", "diverged", frac[DIVERGED]))
        cols = 3 if self.legend.width() >= 720 else 2
        rows = ["<tr>" + "".join(f"<td style='padding-right:18px'>{c}</td>" for c in cells[i:i + cols]) + "</tr>"
                for i in range(0, len(cells), cols)]
        self.legend.setText(f"<table>{''.join(rows)}</table>")

    def _summarize(self, r: BasinMap) -> None:
        g = r.label.shape[0]
        cfg = r.config
        glob = [k for k, m in enumerate(self._doc.surface.minima) if m.kind == "global"] if self._doc.surface else []
        share = sum(r.fractions().get(k, 0.0) for k in glob)
        area = "" if self._zoom_box is None else (
            f" over θ₁ ∈ [{r.box[0]:.4g}, {r.box[1]:.4g}], θ₂ ∈ [{r.box[2]:.4g}, {r.box[3]:.4g}]")
        text = (f"{cfg.info.title}, {', '.join(cfg.hyper_parts())}: {g} × {g} starts{area}, T = {r.steps} "
                f"steps. {100 * share:.1f} % of the starts reach a global minimum.")
        if g < self.grid.value():
            text += f" (Live preview at {g} × {g}.)"
        text += " Hover for a start's fate; click to add a run from there."
        self.summary.setText(text)

    def set_theme(self, theme: Theme) -> None:
        self.plot.setBackground(theme.background)
        style_plot(self.plot.getPlotItem(), theme)
        self.isolines.setPen(pg.mkPen(ISOLINES[theme.name], width=1))
        style_hover(self.hover, theme)
        style_color_bar(self.colorbar, theme)
        self._iso_key = None
        self.draw()

    # ---- hovering and clicking -----------------------------------------------------------------
    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(iy, ix) of the grid start nearest to (x, y), None outside the map."""
        r = self.result
        if r is None or not cell_rect(r.x, r.y).contains(QPointF(x, y)):
            return None
        return int(np.argmin(np.abs(r.y - y))), int(np.argmin(np.abs(r.x - x)))

    def describe(self, iy: int, ix: int) -> str:
        """Where the start (iy, ix) went, in words."""
        r = self.result
        lab = int(r.label[iy, ix])
        lines = [f"start θ₀ = ({fmt(r.x[ix])}, {fmt(r.y[iy])})"]
        if lab == DIVERGED:
            lines.append("→ diverged")
        elif lab == NO_MINIMUM:
            lines.append(f"→ no known minimum within {r.steps} steps")
            lines.append(f"E(θ_T) = {r.final_cost[iy, ix]:.4g}")
        else:
            s = self._doc.surface
            kind = s.minima[lab].kind if s is not None and lab < len(s.minima) else ""
            lines.append(f"→ {minimum_name(lab)}: {kind} minimum ({fmt(r.minima[lab, 0])}, {fmt(r.minima[lab, 1])})")
            lines.append(f"E(θ_T) = {r.final_cost[iy, ix]:.4g}")
            st = int(r.steps_to_converge[iy, ix])
            lines.append(f"settled after {st} steps" if st >= 0 else f"still moving at step {r.steps}")
        return "\n".join(lines)

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        vb = self.plot.getPlotItem().getViewBox()
        cell = None
        if self.result is not None and vb.sceneBoundingRect().contains(scene_pos):
            p = vb.mapSceneToView(scene_pos)
            cell = self.cell_at(p.x(), p.y())
        if cell is None:
            self.hover.setVisible(False)
            return
        self.hover.setText(self.describe(*cell))
        self.hover.setPos(p)
        self.hover.setVisible(True)

    def add_run_from(self, x: float, y: float) -> int:
        """Add a run of the map's config starting at (x, y); its index."""
        r = self.result
        if r is None:
            return -1
        k = self._doc.add_run(r.config)
        if k >= 0:
            self._doc.set_start((x, y), k)
            self.summary.setText(f"Added run {k + 1}: {r.config.label()} from ({fmt(x)}, {fmt(y)}).")
        return k

    def _clicked(self, ev) -> None:
        vb = self.plot.getPlotItem().getViewBox()
        if ev.button() != Qt.LeftButton or not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = vb.mapSceneToView(ev.scenePos())
        cell = self.cell_at(p.x(), p.y())
        if cell is not None:
            ev.accept()
            self.add_run_from(float(self.result.x[cell[1]]), float(self.result.y[cell[0]]))

