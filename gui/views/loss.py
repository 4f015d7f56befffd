"""The loss view: E(θ_t) − E*, ‖g_t‖ and the selected run's energy against t, in tabs.

Curves hold whole runs and are set once per recompute; playback moves only the cursor
line and one marker per run. A run with particles > 1 shows the mean cost of its cloud and
the band between the 10th and 90th percentile of the particles' costs (section 3).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QTabWidget, QWidget

from gui.document import Document
from gui.theme import LIGHT, THEMES, Theme, style_plot
from gui.view_options import ViewOptions
from gui.views.axes import LogAxis
from gui.views.drawing import set_curve

FLOOR = 1e-14  # log axes: values are clipped here, never log(0)


_BRUSHES: dict[str, object] = {}


def _brush(color: str):
    """One QBrush per colour: the scatter item's symbol atlas then hits its cache every frame."""
    b = _BRUSHES.get(color)
    if b is None:
        b = _BRUSHES[color] = pg.mkBrush(color)
    return b


class CurvesViewBox(pg.ViewBox):
    """A ViewBox that fits its range to the items it was given bounds for, and recomputes
    that fit only when one of them changes: pyqtgraph's own re-measures every curve whenever
    any child moves, such as the cursor line and the markers on every playback frame."""

    def itemBoundsChanged(self, item) -> None:  # noqa: N802 - pyqtgraph's name
        if any(item is a for a in self.addedItems):
            super().itemBoundsChanged(item)
        else:
            self._itemBoundsCache.pop(item, None)


class _SeriesPlot(pg.PlotWidget):
    """One plot with a curve per run, a marker per run and a cursor line."""

    def __init__(self, ylabel: str, parent=None) -> None:
        super().__init__(parent=parent, viewBox=CurvesViewBox(enableMenu=False), axisItems={"left": LogAxis("left")})
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        # Whole runs are drawn at the resolution of the screen and only where visible.
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        plot.setLabel("left", ylabel)
        plot.getAxis("left").enableAutoSIPrefix(False)  # no "(x1e+15)" on log axes
        plot.setLabel("bottom", "step t")
        self.xlabel = "step t"
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False)
        self.cursor_line.setZValue(50)
        plot.addItem(self.cursor_line, ignoreBounds=True)  # moving it must not re-fit the axes
        self.markers = pg.ScatterPlotItem(pxMode=True, size=7)
        self.markers.setZValue(60)
        plot.addItem(self.markers, ignoreBounds=True)
        self.curves: list[pg.PlotDataItem] = []
        self.dashed: list[pg.PlotDataItem] = []
        # Per run: the 10% and 90% curves of a cloud and the fill between them.
        self.bands: list[tuple[pg.PlotDataItem, pg.PlotDataItem, pg.FillBetweenItem]] = []
        # (x, y, colour) per run, or (x, y, colour, steps) when the rows are not one per step
        # (a cloud keeps every k-th step): the cursor marker then finds its row by step.
        self.series: list[tuple | None] = []
        self.drawn: dict[int, tuple] = {}  # curve index -> (inputs, series) of what it holds
        self.stale = False  # the runs changed while this plot was hidden: draw when shown
        self.log_y = False

    def ensure(self, n: int) -> None:
        plot = self.getPlotItem()
        while len(self.curves) < n:
            for store, z in ((self.curves, 10), (self.dashed, 9)):
                c = pg.PlotDataItem(skipFiniteCheck=True)
                c.setZValue(z)
                # Whole curves change only with the results: playback blits them.
                c.curve.setCacheMode(QGraphicsItem.DeviceCoordinateCache)  # the child draws
                plot.addItem(c)
                store.append(c)
            # (edges need a pen: a PlotDataItem without one builds no path to fill between)
            lo, hi = (pg.PlotDataItem(skipFiniteCheck=True) for _ in range(2))
            fill = pg.FillBetweenItem(lo, hi)
            fill.setZValue(5)
            # Bands change with the results only: the moving cursor blits their pixels.
            for item in (lo.curve, hi.curve, fill):
                item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
            for item in (lo, hi, fill):
                plot.addItem(item)
            self.bands.append((lo, hi, fill))
        while len(self.curves) > n:
            plot.removeItem(self.curves.pop())
            plot.removeItem(self.dashed.pop())
            for item in self.bands.pop():
                plot.removeItem(item)

    def set_cursor(self, t: int, show_line: bool) -> None:
        pos, brushes = [], []
        for s in self.series:
            if s is None:
                continue
            x, y, color = s[:3]
            k = t if len(s) < 4 else int(np.searchsorted(s[3], t, side="right")) - 1
            k = max(0, min(k, len(x) - 1))
            pos.append((x[k], y[k]))
            brushes.append(_brush(color))
        if self.log_y and pos:
            pos = [(px, np.log10(max(py, FLOOR))) for px, py in pos]
        self.markers.setData(pos=pos, brush=brushes)
        self.cursor_line.setVisible(show_line)
        self.cursor_line.setValue(t)


# The tabs: title, y label, tooltip. The cost tab is built with the view; the others when
# first shown or asked for (two plots fewer to build: ~50 ms of the window's start-up).
_TABS = (("Cost", "E(θ_t) − E*", "E(θ_t) minus the lowest known cost E*; dashed: E(θ̃_t) of the average (eq. 11)"),
         ("‖g‖", "‖g_t‖", "norm of the gradient estimate g_t each step used"),
         ("Energy", "energy", "the selected run as a particle: potential E(θ_t), kinetic ½‖θ_t − θ_t−1‖²/α "
                              "and their sum (eq. 8–9: μ = 1 keeps it, friction 1 − μ drains it)"))
_COST, _GRAD, _ENERGY = range(3)


class LossView(QTabWidget):
    """Tabs: cost E(θ_t) − E*, gradient norm ‖g_t‖, and the selected run's energy."""

    def __init__(self, document: Document, options: ViewOptions, parent=None) -> None:
        super().__init__(parent)
        self._doc = document
        self._opt = options
        self._theme: Theme = THEMES.get(str(options["theme"]), LIGHT)
        self.setDocumentMode(True)
        self._plots: list[_SeriesPlot | None] = [None, None, None]
        self._energy_drawn: tuple | None = None  # (inputs, series) of the energy plot
        self.energy_legend = None
        for i, (title, _ylabel, tip) in enumerate(_TABS):
            self.addTab(QWidget(), title)  # a placeholder until the tab's plot is built
            self.setTabToolTip(i, tip)
        self.cost_legend = None
        self._build(_COST)
        # Results are recomputed before scenarioChanged fires: one handler redraws both.
        document.scenarioChanged.connect(self.redraw)
        document.selectionChanged.connect(lambda _i: self.redraw())
        document.cursorChanged.connect(self.move_cursor)
        options.changed.connect(self._on_option)
        self.currentChanged.connect(self._on_tab)
        self.redraw()

    @property
    def cost_plot(self) -> _SeriesPlot:
        """The cost plot (built with the view)."""
        return self._build(_COST)

    @property
    def grad_plot(self) -> _SeriesPlot:
        """The ‖g‖ plot, built now if its tab has not been shown."""
        return self._build(_GRAD)

    @property
    def energy_plot(self) -> _SeriesPlot:
        """The energy plot, built now if its tab has not been shown."""
        return self._build(_ENERGY)

    def _built(self) -> list[_SeriesPlot]:
        return [p for p in self._plots if p is not None]

    def _build(self, i: int) -> _SeriesPlot:
        """Tab i's plot: made, styled and put in place of the tab's placeholder, once."""
        p = self._plots[i]
        if p is not None:
            return p
        p = self._plots[i] = _SeriesPlot(_TABS[i][1])
        self._style(p)
        if i == _ENERGY:
            self.energy_legend = p.getPlotItem().addLegend(offset=(-10, 10), labelTextSize="8pt")
            p.ensure(3)
            for c, name in zip(p.curves, ("potential E(θ_t) − E*", "kinetic ½‖Δθ‖²/α", "total")):
                self.energy_legend.addItem(c, name)
            self._style_legend()
        else:
            self._set_log(p)
        placeholder = self.widget(i)
        current = self.currentIndex()
        blocked = self.blockSignals(True)  # the swap is no change of tab
        self.removeTab(i)
        self.insertTab(i, p, _TABS[i][0])
        self.setTabToolTip(i, _TABS[i][2])
        self.setCurrentIndex(current)
        self.blockSignals(blocked)
        placeholder.deleteLater()
        if i == _ENERGY:
            self._redraw_energy()
        else:
            self._mark_stale(p)  # drawn when shown
        return p

    def _on_tab(self, i: int) -> None:
        if 0 <= i < len(self._plots):
            self._build(i)
        self._draw_current()
        self.move_cursor(self._doc.cursor)

    def _style(self, p: _SeriesPlot) -> None:
        theme = self._theme
        p.setBackground(theme.background)
        style_plot(p.getPlotItem(), theme)
        p.cursor_line.setPen(pg.mkPen(theme.foreground, width=1, style=Qt.DashLine))

    def _style_legend(self) -> None:
        self.energy_legend.setLabelTextColor(self._theme.foreground)
        self.energy_legend.setBrush(pg.mkBrush(self._theme.background + "c8"))

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        for p in self._built():
            self._style(p)
        if self.energy_legend is not None:
            self._style_legend()
        self.redraw()

    def _on_option(self, name: str) -> None:
        if name == "loss_log":
            self._apply_log()
            self.redraw()
        elif name in ("loss_examples", "average"):
            self.redraw()

    def _series_plots(self) -> list[_SeriesPlot]:
        """The cost and ‖g‖ plots built so far (the others are built when first shown)."""
        return [p for p in self._plots[:_ENERGY] if p is not None]

    def _set_log(self, p: _SeriesPlot) -> None:
        log = bool(self._opt["loss_log"])
        p.setLogMode(x=False, y=log)
        p.log_y = log

    def _apply_log(self) -> None:
        for p in self._series_plots():
            self._set_log(p)

    def _x_of(self, traj) -> np.ndarray:
        s = self._doc.surface
        if self._opt["loss_examples"] and s is not None:
            return traj.examples_seen(s.n_examples).astype(float)
        return traj.steps.astype(float)

    def redraw(self, *_args) -> None:
        """Set the whole curves of every run (after a recompute or a change of look). The
        tab on show draws now; a hidden one when it is shown."""
        for p in self._series_plots():
            self._mark_stale(p)
        self._draw_current()
        self._redraw_energy()
        self.move_cursor(self._doc.cursor)

    def _mark_stale(self, p: _SeriesPlot) -> None:
        """Make the cost or ‖g‖ plot p ready to draw the runs: its x label, a curve per run."""
        n = len(self._doc.scenario.runs)
        xlabel = "examples seen t × B" if self._opt["loss_examples"] else "step t"
        if p.xlabel != xlabel:  # (setLabel re-renders the label's HTML even when unchanged)
            p.xlabel = xlabel
            p.setLabel("bottom", xlabel)
        if len(p.curves) != n:
            p.drawn.clear()  # curve items are created or removed: draw every run afresh
        p.ensure(n)
        p.stale = True

    def _draw_current(self) -> None:
        p = self.currentWidget()
        if any(p is q for q in self._series_plots()) and p.stale:
            self._draw_runs(p)

    def _draw_runs(self, p: _SeriesPlot) -> None:
        """The cost or ‖g‖ curve of every run on plot p (only those whose inputs changed)."""
        doc = self._doc
        runs, results = doc.scenario.runs, doc.results
        s = doc.surface
        e_star = (s.lowest_cost or 0.0) if s is not None else 0.0
        log = bool(self._opt["loss_log"])
        cost_plot = p is self._plots[_COST]
        p.stale = False
        p.series = []
        for i, run in enumerate(runs):
            traj = results[i] if i < len(results) else None
            cloud = doc.cloud_of(i) if run.is_cloud else None
            width = 2.0 if i == doc.selected else 1.0
            if traj is None or not run.visible:
                p.drawn.pop(i, None)
                set_curve(p.curves[i])
                set_curve(p.dashed[i])
                self._clear_band(p, i)
                p.series.append(None)
                continue
            # Curves whose inputs did not change keep their data (and their cached pixels):
            # dragging one run's slider redraws one curve, not all of them.
            key = (traj, cloud, run.color, width, log, bool(self._opt["loss_examples"]),
                   bool(self._opt["average"]), e_star)
            if p.drawn.get(i, (None,))[0] == key:
                p.series.append(p.drawn[i][1])
                continue
            pen = pg.mkPen(run.color, width=width)
            x = self._x_of(traj)
            if not cost_plot:
                gn = np.maximum(traj.grad_norm, FLOOR) if log else traj.grad_norm
                p.curves[i].setData(x, gn, pen=pen)
                series: tuple = (x, gn, run.color)
            else:
                cost = traj.cost - e_star
                if log:
                    cost = np.maximum(cost, FLOOR)
                series = (x, cost, run.color)
                if cloud is None:
                    p.curves[i].setData(x, cost, pen=pen)
                    self._clear_band(p, i)
                else:
                    series = self._draw_cloud(i, traj, cloud, run.color, pen, e_star, log)
                if self._opt["average"]:
                    avg = traj.avg_cost - e_star
                    dash = pg.mkPen(run.color, width=1.3, style=Qt.DashLine)
                    p.dashed[i].setData(x, np.maximum(avg, FLOOR) if log else avg, pen=dash)
                else:
                    set_curve(p.dashed[i])
            p.drawn[i] = (key, series)
            p.series.append(series)

    def _draw_cloud(self, i: int, traj, cloud, color: str, pen, e_star: float, log: bool) -> tuple:
        """Run i's cloud on the cost plot: mean cost and the 10–90% band; returns its series."""
        steps = cloud.record_steps
        s = self._doc.surface
        x = steps.astype(float)
        if self._opt["loss_examples"] and s is not None and len(traj) > 1:
            # examples seen grow by the same count every step: t × B at the recorded steps
            x *= float(traj.examples_seen(s.n_examples)[1])
        mean, lo, hi = (np.asarray(v, float) - e_star for v in (cloud.mean_cost, cloud.cost_lo, cloud.cost_hi))
        if log:
            mean, lo, hi = (np.maximum(v, FLOOR) for v in (mean, lo, hi))
        self.cost_plot.curves[i].setData(x, mean, pen=pen)
        band_lo, band_hi, fill = self.cost_plot.bands[i]
        edge = pg.mkColor(color)
        edge.setAlpha(90)
        band_lo.setData(x, lo, pen=pg.mkPen(edge, width=1))
        band_hi.setData(x, hi, pen=pg.mkPen(edge, width=1))
        c = pg.mkColor(color)
        c.setAlpha(55)
        fill.setBrush(c)
        fill.setVisible(True)
        return (x, mean, color, steps)

    @staticmethod
    def _clear_band(plot: _SeriesPlot, i: int) -> None:
        if i < len(plot.bands):
            lo, hi, fill = plot.bands[i]
            set_curve(lo)
            set_curve(hi)
            fill.setVisible(False)

    def _redraw_energy(self) -> None:
        doc = self._doc
        p = self._plots[_ENERGY]
        if p is None:
            return  # drawn when its tab is first shown
        p.series = []
        traj = doc.selected_result()
        run = doc.selected_run()
        s = doc.surface
        if traj is None or run is None or s is None:
            self._energy_drawn = None
            for c in p.curves + p.dashed:
                set_curve(c)
            p.setTitle("")
            return
        e_star = s.lowest_cost or 0.0
        fg = self._theme.foreground
        key = (traj, run.color, run.title, e_star, fg)
        if self._energy_drawn is not None and self._energy_drawn[0] == key:
            p.series = self._energy_drawn[1]  # the selected run did not change
            return
        x = traj.steps.astype(float)
        pot = traj.cost - e_star
        kin = traj.kinetic
        tot = pot + kin
        looks = ((pot, pg.mkPen(run.color, width=1.0)),
                 (kin, pg.mkPen("#d62728", width=1.0, style=Qt.DashLine)),
                 (tot, pg.mkPen(fg, width=1.5)))
        for c, (y, pen) in zip(p.curves, looks):
            c.setData(x, y, pen=pen)
        p.series = [(x, tot, fg), (x, pot, run.color)]
        p.setTitle(f"<span style='font-size:9pt'>{run.title}</span>")
        self._energy_drawn = (key, p.series)

    def move_cursor(self, t: int) -> None:
        """The cursor line and the current point of each run: nothing else is redrawn."""
        show_line = not self._opt["loss_examples"]
        current = self.currentWidget()
        if isinstance(current, _SeriesPlot):
            current.set_cursor(t, show_line or current is self._plots[_ENERGY])
