"""The sweep view: the grid search of section 4.5.

One mode sweeps a hyperparameter (α by default, 1e-4 … 1 in factors of about 3) and plots
the final and the best cost against it on log axes, with the spread over seeds as a band,
diverged settings marked and the best setting highlighted. The other sweeps two (α × μ,
say) and shows the final cost as a heat map. Clicking a setting adds that run to the
scenario. Numbers come from `sim.simulate.sweep`; big grids run in a worker thread.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui.document import Document
from gui.jobs import job_key
from gui.panels.param_editor import SciSpinBox
from gui.theme import Theme, style_plot
from gui.view_options import ViewOptions
from gui.views.analysis import (
    DIVERGED_COLOR,
    AnalysisView,
    OptimizerForm,
    color_bar,
    controls_column,
    fmt,
    hover_label,
    key_label,
    key_text,
    plot_widget,
    set_title,
    spin_box,
    style_color_bar,
    style_hover,
    symbol,
)
from gui.views.loss import FLOOR
from sim import HYPERPARAMS, OptimizerConfig
from sim.simulate import SweepResult, log_spaced, sweep

# Default range, points and spacing of each hyperparameter a sweep can vary. α over four
# decades in 9 points is a factor of 10^0.5 ≈ 3.2 between neighbours (section 4.5).
RANGES: dict[str, tuple[float, float, int, bool]] = {
    "lr": (1e-4, 1.0, 9, True),
    "momentum": (0.0, 0.99, 12, False),
    "beta1": (0.0, 0.99, 12, False),
    "beta2": (0.9, 0.9999, 9, False),
    "rho": (0.0, 0.99, 12, False),
    "eps": (1e-10, 1e-2, 9, True),
    "damping": (1e-6, 1e2, 9, True),
    "noise": (0.0, 2.0, 11, False),
}
SYNC_WORK = 1_000_000  # particle-steps computed in the GUI thread (a few ms); more: a worker
MAX_POINTS = 64
MAX_SEEDS = 64
MAX_SWEEP_STEPS = 100_000
LOOKS = {  # median final cost, best cost, band
    "light": ("#1f5fa6", "#5b8fd0", (31, 95, 166, 45)),
    "dark": ("#7fb2ff", "#a9c9f5", (127, 178, 255, 50)),
}
BEST_COLOR = "#ffb000"
SECTION = "section 4.5, the grid search"


def sweep_values(name: str, lo: float, hi: float, points: int) -> np.ndarray:
    """The values of `name` a sweep visits: log-spaced for scale parameters, else even."""
    if RANGES.get(name, (0, 0, 0, HYPERPARAMS[name].log))[3] and lo > 0 and hi > 0:
        return log_spaced(lo, hi, points)
    return np.array([float(f"{v:.12g}") for v in np.linspace(lo, hi, points)])


def _is_log(name: str, values: np.ndarray) -> bool:
    return bool(RANGES.get(name, (0, 0, 0, HYPERPARAMS[name].log))[3] and np.all(values > 0))


def axis_title(name: str) -> str:
    """Axis title of a hyperparameter in the lecture's words and symbol."""
    words = {"lr": "learning rate", "momentum": "momentum", "beta1": "Adam β₁", "beta2": "Adam β₂",
             "rho": "RMSprop ρ", "eps": "ε", "damping": "Newton damping", "noise": "gradient noise"}
    sym = symbol(name)
    return f"{words.get(name, name)} {sym}" if sym != words.get(name) else sym


class _RangeRow(QWidget):
    """One swept hyperparameter: which, from, to, how many points."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.name = QComboBox()
        self.lo = SciSpinBox(log=True)
        self.hi = SciSpinBox(log=True)
        self.points = spin_box(1, MAX_POINTS)
        self.spacing = QLabel()
        self.spacing.setStyleSheet("color: palette(placeholder-text);")
        span = QHBoxLayout()
        span.addWidget(self.lo, 1)
        span.addWidget(QLabel("to"))
        span.addWidget(self.hi, 1)
        form.addRow("vary", self.name)
        form.addRow("from", span)
        form.addRow("points", self.points)
        form.addRow("", self.spacing)

    def set_names(self, names: list[str], keep: str | None, prefer: bool = False) -> None:
        """Offer `names`; keep the current one when it is offered (with `prefer`: `keep`)."""
        current = self.name.currentData()
        self.name.blockSignals(True)
        self.name.clear()
        for n in names:
            self.name.addItem(f"{symbol(n)}  {n}" if symbol(n) != n else n, n)
            self.name.setItemData(self.name.count() - 1, HYPERPARAMS[n].help, Qt.ToolTipRole)
        if prefer and keep in names:
            pick = keep
        else:
            pick = current if current in names else (keep if keep in names else names[0])
        changed = pick != current
        self.name.setCurrentIndex(self.name.findData(pick))
        self.name.blockSignals(False)
        if changed:
            self.reset_range()

    def reset_range(self) -> None:
        """The default range of the chosen hyperparameter."""
        name = self.name.currentData()
        p = HYPERPARAMS[name]
        lo, hi, points, log = RANGES.get(name, (p.lo, p.hi, 9, p.log))
        for w in (self.lo, self.hi, self.points):
            w.blockSignals(True)
        self.lo._log = self.hi._log = log
        self.lo.setRange(p.lo, p.hi)
        self.hi.setRange(p.lo, p.hi)
        self.lo.setValue(lo)
        self.hi.setValue(hi)
        self.points.setValue(points)
        for w in (self.lo, self.hi, self.points):
            w.blockSignals(False)

    def values(self) -> np.ndarray:
        return sweep_values(self.name.currentData(), self.lo.value(), self.hi.value(), self.points.value())

    def show_spacing(self) -> None:
        v = self.values()
        name = self.name.currentData()
        if v.size < 2:
            self.spacing.setText("one value")
        elif _is_log(name, v):
            self.spacing.setText(f"× {v[1] / v[0]:.3g} between points")
        else:
            self.spacing.setText(f"+ {v[1] - v[0]:.3g} between points")


class SweepView(AnalysisView):
    """Final cost against one hyperparameter (curve) or two (heat map), from `sim.sweep`."""

    result: SweepResult | None

    def __init__(self, document: Document, options: ViewOptions, parent: QWidget | None = None) -> None:
        super().__init__(document, options, parent)
        self._start: tuple[float, float] | None = None
        self._names_rule = ""
        self._estar = 0.0
        self._estar_known = True

        # ---- controls --------------------------------------------------------------------
        controls, cl = controls_column()
        mode_form = QFormLayout()
        self.mode = QComboBox()
        self.mode.addItem("one hyperparameter: cost curve", 1)
        self.mode.addItem("two hyperparameters: heat map", 2)
        self.mode.setToolTip(f"sweep one hyperparameter (a curve) or two (a heat map of the final cost): "
                             f"{SECTION}")
        mode_form.addRow("Sweep", self.mode)
        cl.addLayout(mode_form)
        self.form = OptimizerForm(document, "Optimizer (fixed values)")
        cl.addWidget(self.form)
        grid_box = QGroupBox("Grid")
        gl = QVBoxLayout(grid_box)
        gl.setContentsMargins(8, 6, 8, 8)
        self.range1 = _RangeRow()
        self.range2 = _RangeRow()
        self.range2_title = QLabel("<b>and</b>")
        gl.addWidget(self.range1)
        gl.addWidget(self.range2_title)
        gl.addWidget(self.range2)
        cl.addWidget(grid_box)
        runs_box = QGroupBox("Runs")
        rf = QFormLayout(runs_box)
        rf.setContentsMargins(8, 6, 8, 8)
        self.steps = spin_box(1, MAX_SWEEP_STEPS, "steps T of every run; the final cost is E(θ_T)")
        self.seeds = spin_box(1, MAX_SEEDS, "noise seeds 0 … n−1 per setting: with gradient noise (σ > 0 or "
                              "mini-batches) the curve is the median and the band the spread over seeds")
        self.start_label = QLabel()
        self.start_label.setToolTip("every run of the sweep starts at the selected run's θ₀")
        rf.addRow("steps T", self.steps)
        rf.addRow("seeds", self.seeds)
        rf.addRow("start θ₀", self.start_label)
        cl.addWidget(runs_box)
        self.add_best = QPushButton("Add the best setting as a run")
        self.add_best.setToolTip("add a run with the best setting to the scenario")
        self.add_best.clicked.connect(self._add_best)
        cl.addWidget(self.add_best)
        cl.addStretch(1)

        # ---- the curve -------------------------------------------------------------------
        self.curve_plot = plot_widget()
        cp = self.curve_plot.getPlotItem()
        cp.setLogMode(True, True)
        cp.showGrid(x=True, y=True, alpha=0.15)
        cp.getAxis("left").enableAutoSIPrefix(False)
        cp.getAxis("bottom").enableAutoSIPrefix(False)
        self.band_lo = pg.PlotDataItem()
        self.band_hi = pg.PlotDataItem()
        self.band = pg.FillBetweenItem(self.band_lo.curve, self.band_hi.curve)
        self.best_curve = pg.PlotDataItem(connect="finite")
        self.final_curve = pg.PlotDataItem(connect="finite", symbol="o", symbolSize=7)
        self.diverged_marks = pg.PlotDataItem(pen=None, symbol="x", symbolSize=11)
        self.best_mark = pg.PlotDataItem(pen=None, symbol="star", symbolSize=20)
        self.best_line = pg.InfiniteLine(angle=90, movable=False)
        self.best_text = pg.TextItem(anchor=(0.5, 1.5))  # above the star, off the curve
        for z, item in enumerate((self.band, self.band_lo, self.band_hi, self.best_curve, self.final_curve,
                                  self.diverged_marks, self.best_line, self.best_mark, self.best_text)):
            item.setZValue(z)
            cp.addItem(item)
        self.final_curve.sigPointsClicked.connect(lambda _it, pts, _ev: self._clicked_point(pts))
        self.diverged_marks.sigPointsClicked.connect(lambda _it, pts, _ev: self._clicked_point(pts))

        # ---- the heat map ----------------------------------------------------------------
        self.heat_plot = plot_widget()
        hp = self.heat_plot.getPlotItem()
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat_div = pg.ImageItem(axisOrder="row-major")
        self.heat_best = pg.ScatterPlotItem(pxMode=True, symbol="star", size=20)
        for z, item in enumerate((self.heat, self.heat_div, self.heat_best)):
            item.setZValue(z)
            hp.addItem(item)
        self.colorbar = color_bar()
        self.colorbar.setImageItem(self.heat, insert_in=hp)
        self.heat_plot.scene().sigMouseClicked.connect(self._heat_clicked)

        self.hover = hover_label()
        self.hover.setZValue(100)
        self._hover_plot: pg.PlotWidget | None = None
        for w in (self.curve_plot, self.heat_plot):
            w.scene().sigMouseMoved.connect(lambda pos, w=w: self._mouse_moved(w, pos))

        self.stack = QStackedWidget()
        self.stack.addWidget(self.curve_plot)
        self.stack.addWidget(self.heat_plot)
        # The key sits under the plot: inside it, it would cover a curve that can run anywhere.
        self.key = key_label()
        self._assemble(controls, self.stack, self.key, idle="The sweep runs when this tab is shown.",
                       tip=f"Lecture: {SECTION}. The final cost of each setting after T steps from the same "
                           "start; the best setting is the one with the lowest median.", busy="sweeping")

        self._hook_runner("Sweep failed", "Cancelled; the previous sweep stays on screen.")
        self.form.changed.connect(self._on_form)
        self.form.dragged.connect(self._on_form)
        self.mode.currentIndexChanged.connect(self._on_mode)
        for row in (self.range1, self.range2):
            row.name.currentIndexChanged.connect(lambda _i, r=row: self._on_name(r))
            for w in (row.lo, row.hi):
                w.valueChanged.connect(lambda _v: self._on_settings())
            row.points.valueChanged.connect(lambda _v: self._on_settings())
        self.steps.valueChanged.connect(lambda _v: self._on_settings())
        self.seeds.valueChanged.connect(lambda _v: self._on_settings())
        document.scenarioChanged.connect(self._on_scenario)
        document.selectionChanged.connect(lambda _i: self._on_scenario())
        self._apply_mode()
        self.set_theme(self.theme)

    # ---- settings ----------------------------------------------------------------------------
    def start(self) -> None:
        self.form.load_selected()
        self.steps.blockSignals(True)
        self.steps.setValue(min(self._doc.scenario.steps, MAX_SWEEP_STEPS))
        self.steps.blockSignals(False)
        self._update_names()

    def _names(self) -> list[str]:
        info = self.form.config().info
        return [*info.uses, *(n for n in OptimizerForm.EXTRA if n not in info.uses)]

    def _update_names(self) -> None:
        names = self._names()
        rule = self.form.config().rule
        new_rule = rule != self._names_rule  # a new rule: its own second hyperparameter (μ, β₁, ρ)
        self._names_rule = rule
        self.range1.set_names(names, "lr")
        first = self.range1.name.currentData()
        rest = [n for n in names if n != first]
        # The second default: the rule's next hyperparameter that is not ε (μ for momentum).
        second = next((n for n in rest if n not in ("eps", "noise")), rest[0] if rest else None)
        self.range2.set_names(rest, second, prefer=new_rule)
        for row in (self.range1, self.range2):
            row.show_spacing()

    def _on_form(self) -> None:
        self._update_names()
        self._on_settings()

    def _on_name(self, row: _RangeRow) -> None:
        row.reset_range()
        if row is self.range1:
            self._update_names()
        row.show_spacing()
        self._on_settings()

    def _on_mode(self, _i: int) -> None:
        self._apply_mode()
        self._on_settings()

    def _apply_mode(self) -> None:
        two = self.two_d
        self.range2.setVisible(two)
        self.range2_title.setVisible(two)
        self.stack.setCurrentWidget(self.heat_plot if two else self.curve_plot)

    @property
    def two_d(self) -> bool:
        return self.mode.currentData() == 2

    def _on_settings(self) -> None:
        for row in (self.range1, self.range2):
            row.show_spacing()
        super()._on_settings()

    def _on_scenario(self) -> None:
        if self.started and self._doc.surface is not None and self._current_start() != self._start:
            self.invalidate()

    def _current_start(self) -> tuple[float, float]:
        doc = self._doc
        if doc.selected_run() is not None:
            return doc.start_of(doc.selected)
        return doc.surface.start if doc.surface is not None else (0.0, 0.0)

    def surface_changed(self) -> None:
        self.result = None
        self._key = None
        self._clear()

    # ---- computing ---------------------------------------------------------------------------
    def settings(self) -> tuple[OptimizerConfig, dict]:
        """The config and the keyword arguments of `sim.sweep` the controls ask for."""
        cfg = self.form.config()
        kw: dict = {"name": self.range1.name.currentData(), "values": self.range1.values(),
                    "steps": int(self.steps.value()), "start": self._current_start(),
                    "seeds": tuple(range(int(self.seeds.value())))}
        if self.two_d and self.range2.name.count():
            kw["name2"] = self.range2.name.currentData()
            kw["values2"] = self.range2.values()
        return cfg, kw

    def refresh(self) -> None:
        s = self._doc.surface
        if s is None:
            return
        try:
            cfg, kw = self.settings()
        except ValueError as e:
            self.summary.setText(f"Cannot sweep: {e}")
            return
        self._start = kw["start"]
        self.start_label.setText(f"({fmt(kw['start'][0])}, {fmt(kw['start'][1])})")
        key = job_key("sweep", s, cfg, **kw)
        if not self._new_request(key):
            return  # on screen, or being computed
        n2 = len(kw.get("values2", (0,)))
        work = len(kw["values"]) * n2 * len(kw["seeds"]) * kw["steps"]
        try:
            if work <= SYNC_WORK:
                self.runner.compute_now(key, sweep, s, cfg, **kw)
            elif not self.runner.request(key, sweep, s, cfg, **kw):
                self.summary.setText(f"Sweeping {len(kw['values']) * n2} settings × {len(kw['seeds'])} "
                                     f"seeds × {kw['steps']} steps in the background…")
        except ValueError as e:
            self.summary.setText(f"Cannot sweep: {e}")

    def _on_cancelled(self, text: str) -> None:
        super()._on_cancelled(text if self.result is not None else "Cancelled.")

    def _on_result(self, key, result: SweepResult) -> None:
        # E*, what the costs are drawn above: the surface's lowest known cost, else the sweep's.
        s = self._doc.surface
        known = s.lowest_cost if s is not None else None
        if known is not None:
            self._estar, self._estar_known = float(known), True
        else:
            ok = np.isfinite(result.best_cost) & ~result.diverged
            self._estar = float(result.best_cost[ok].min()) if ok.any() else 0.0
            self._estar_known = False
        super()._on_result(key, result)

    # ---- drawing -----------------------------------------------------------------------------
    def gap(self, cost: np.ndarray) -> np.ndarray:
        """Cost above E* (the lowest known cost), floored for the log axis."""
        return np.maximum(np.asarray(cost, float) - self._estar, FLOOR)

    def _cost_label(self) -> str:
        return "E(θ_T) − E*" if self._estar_known else "E(θ_T) − min E"

    def _clear(self) -> None:
        for item in (self.final_curve, self.best_curve, self.band_lo, self.band_hi, self.diverged_marks,
                     self.best_mark):
            item.setData([], [])
        self.best_line.setVisible(False)
        self.best_text.setVisible(False)
        self.heat.clear()
        self.heat_div.clear()
        self.heat_best.clear()

    def draw(self) -> None:
        """Draw the result in the mode it was computed in."""
        r = self.result
        self._clear()
        if r is None:
            return
        if r.name2 is None:
            self.stack.setCurrentWidget(self.curve_plot)
            self._draw_curve(r)
        else:
            self.stack.setCurrentWidget(self.heat_plot)
            self._draw_heat(r)

    def _draw_curve(self, r: SweepResult) -> None:
        v = r.values
        div_any = r.diverged[0].any(axis=-1)
        med = np.where(div_any, np.nan, self.gap(np.median(r.final_cost[0], axis=-1)))
        best = np.where(div_any, np.nan, self.gap(np.median(r.best_cost[0], axis=-1)))
        self.final_curve.setData(v, med)
        self.best_curve.setData(v, best)
        multi = r.seeds.size > 1
        if multi:
            # The band spans the settings where no seed diverged (the curve's points).
            keep = ~div_any
            fin = r.final_cost[0][keep]
            self.band_lo.setData(v[keep], self.gap(fin.min(axis=-1)))
            self.band_hi.setData(v[keep], self.gap(fin.max(axis=-1)))
        finite = med[np.isfinite(med)]
        top = float(np.nanmax(np.concatenate([finite, best[np.isfinite(best)]]))) * 10 if finite.size else 1.0
        self.diverged_marks.setData(v[div_any], np.full(int(div_any.sum()), top))
        bi = r.best_index()
        name = symbol(r.name)
        if bi is not None:
            i = bi[1]
            self.best_mark.setData([v[i]], [med[i]])
            self.best_line.setValue(math.log10(v[i]))
            self.best_line.setVisible(True)
            self.best_text.setText(f"best {name} = {fmt(v[i])}")
            self.best_text.setPos(math.log10(v[i]), math.log10(med[i]))
            self.best_text.setVisible(True)
        plot = self.curve_plot.getPlotItem()
        plot.setLogMode(_is_log(r.name, v), True)
        plot.setLabel("bottom", axis_title(r.name))
        plot.setLabel("left", f"final cost {self._cost_label()}")
        set_title(plot, f"Grid search over {symbol(r.name)}: {r.config.rule}, {self._fixed_text(r)}T = {r.steps}",
                  self.theme)
        final, best, band = LOOKS[self.theme.name]
        entries = [(final, "━●━", f"final cost E(θ_T){' (median over seeds)' if multi else ''}"),
                   (best, "╍╍╍", "lowest cost during the run")]
        if multi:
            entries.append(("#%02x%02x%02x" % band[:3], "▆▆", "spread over seeds (min – max)"))
        if div_any.any():
            entries.append((DIVERGED_COLOR[self.theme.name], "✖", "diverged (drawn at the top)"))
        if bi is not None:
            entries.append((BEST_COLOR, "★", f"best {name}"))
        self.key.setText(key_text(entries))
        self.key.setVisible(True)
        plot.enableAutoRange()
        self.band.setVisible(multi)
        self._summarize(r)

    def _draw_heat(self, r: SweepResult) -> None:
        med = r.median_final()  # [i2, i], inf where a seed diverged
        div = ~np.isfinite(med)
        z = np.log10(self.gap(np.where(div, np.nan, med)))
        finite = z[np.isfinite(z)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi - lo < 1e-9:
            hi = lo + 1.0
        self.heat.setImage(np.where(div, hi, z), autoLevels=False)
        self.heat.setLevels((lo, hi))
        self.colorbar.setLevels((lo, hi))
        overlay = np.zeros(div.shape + (4,), np.ubyte)
        overlay[div] = pg.mkColor(DIVERGED_COLOR[self.theme.name]).getRgb()
        self.heat_div.setImage(overlay, autoLevels=False, levels=(0, 255))
        xs, ys = self._heat_coords(r)
        rect = _cells(xs, ys)
        self.heat.setRect(rect)
        self.heat_div.setRect(rect)
        bi = r.best_index()
        if bi is not None:
            self.heat_best.setData(pos=[(xs[bi[1]], ys[bi[0]])], brush=pg.mkBrush(BEST_COLOR),
                                   pen=pg.mkPen(self.theme.marker_edge, width=1.2))
        plot = self.heat_plot.getPlotItem()
        plot.getAxis("bottom").setLogMode(_is_log(r.name, r.values))
        plot.getAxis("left").setLogMode(_is_log(r.name2, r.values2))
        plot.setLabel("bottom", axis_title(r.name))
        plot.setLabel("left", axis_title(r.name2))
        set_title(plot, f"Final cost over {symbol(r.name)} × {symbol(r.name2)}: {r.config.rule}, "
                        f"{self._fixed_text(r)}T = {r.steps}", self.theme)
        entries = []
        if div.any():
            entries.append((DIVERGED_COLOR[self.theme.name], "■", "diverged"))
        if bi is not None:
            entries.append((BEST_COLOR, "★", f"best {symbol(r.name)}, {symbol(r.name2)}; click a cell to add it as a run"))
        self.key.setText(key_text(entries))
        self.key.setVisible(True)
        self.colorbar.axis.setLabel(f"log₁₀ ({self._cost_label()})")
        plot.getViewBox().setRange(rect, padding=0.0)
        self._summarize(r)

    def _heat_coords(self, r: SweepResult) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres of the heat map in axis units (log₁₀ of log-swept values)."""
        xs = np.log10(r.values) if _is_log(r.name, r.values) else r.values.astype(float)
        ys = np.log10(r.values2) if _is_log(r.name2, r.values2) else r.values2.astype(float)
        return xs, ys

    def _fixed_text(self, r: SweepResult) -> str:
        """The hyperparameters the sweep holds fixed, for the title ("μ=0.9, ")."""
        swept = {symbol(r.name), symbol(r.name2) if r.name2 else ""}
        parts = [p for p in r.config.hyper_parts() if p.split("=")[0] not in swept]
        return "".join(f"{p}, " for p in parts)

    def _setting_text(self, r: SweepResult, i2: int, i: int) -> str:
        text = f"{symbol(r.name)} = {fmt(r.values[i])}"
        if r.name2 is not None:
            text += f", {symbol(r.name2)} = {fmt(r.values2[i2])}"
        return text

    def _summarize(self, r: SweepResult) -> None:
        n = r.median_final().size
        ndiv = int(r.diverged.any(axis=-1).sum())
        bi = r.best_index()
        seeds = f" (median over {r.seeds.size} seeds)" if r.seeds.size > 1 else ""
        parts = []
        if bi is None:
            parts.append("Every setting diverged.")
        else:
            gap = float(self.gap(float(r.median_final()[bi])))
            value = f"&lt; {FLOOR:.0e}" if gap <= FLOOR else f"= {gap:.3g}"
            parts.append(f"<b>Best: {self._setting_text(r, *bi)}</b> — final {self._cost_label()} {value} "
                         f"after T = {r.steps} steps{seeds}.")
        if ndiv:
            dv = r.values[r.diverged.any(axis=-1).any(axis=0)]
            parts.append(f"Diverged: {ndiv} of {n} settings" +
                         (f", the smallest at {symbol(r.name)} = {fmt(dv.min())}." if r.name2 is None else "."))
        parts.append("Click a setting to add it as a run.")
        self.summary.setText(" ".join(parts))

    # ---- look --------------------------------------------------------------------------------
    def set_theme(self, theme: Theme) -> None:
        final, best, band = LOOKS[theme.name]
        for w in (self.curve_plot, self.heat_plot):
            w.setBackground(theme.background)
            style_plot(w.getPlotItem(), theme)
        self.final_curve.setPen(pg.mkPen(final, width=2))
        self.final_curve.setSymbolBrush(pg.mkBrush(final))
        self.final_curve.setSymbolPen(pg.mkPen(theme.background, width=1))
        self.best_curve.setPen(pg.mkPen(best, width=1.5, style=Qt.DashLine))
        for item in (self.band_lo, self.band_hi):
            item.setPen(pg.mkPen(band[:3] + (110,), width=1))
        self.band.setBrush(pg.mkBrush(band))
        div = DIVERGED_COLOR[theme.name]
        self.diverged_marks.setSymbolPen(pg.mkPen(div, width=2.5))
        self.diverged_marks.setSymbolBrush(pg.mkBrush(div))
        self.best_mark.setSymbolBrush(pg.mkBrush(BEST_COLOR))
        self.best_mark.setSymbolPen(pg.mkPen(theme.marker_edge, width=1.2))
        self.best_line.setPen(pg.mkPen(BEST_COLOR, width=1.5, style=Qt.DotLine))
        self.best_text.setColor(theme.foreground)
        style_hover(self.hover, theme)
        style_color_bar(self.colorbar, theme)
        if self.result is not None:
            self.draw()

    # ---- clicking and hovering -----------------------------------------------------------------
    def add_run_at(self, i: int, i2: int = 0) -> int:
        """Add the run of setting (i2, i) of the result shown to the scenario; its index."""
        r = self.result
        if r is None:
            return -1
        k = self._doc.add_run(r.config_at(i2, i))
        if k >= 0:
            self._doc.set_start(r.start, k)
            self.summary.setText(f"Added run {k + 1}: {r.config_at(i2, i).label()} "
                                 f"(see the Trajectories tab).")
        return k

    def _add_best(self) -> None:
        r = self.result
        bi = r.best_index() if r is not None else None
        if bi is not None:
            self.add_run_at(bi[1], bi[0])

    def _clicked_point(self, points) -> None:
        r = self.result
        if r is None or not len(points):
            return
        x = points[0].pos().x()
        # Points carry the plotted (log₁₀) x; map back to the nearest swept value.
        xs = np.log10(r.values) if _is_log(r.name, r.values) else r.values
        self.add_run_at(int(np.argmin(np.abs(xs - x))))

    def _heat_cell(self, scene_pos: QPointF) -> tuple[int, int] | None:
        r = self.result
        vb = self.heat_plot.getPlotItem().getViewBox()
        if r is None or r.name2 is None or not vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = vb.mapSceneToView(scene_pos)
        xs, ys = self._heat_coords(r)
        rect = _cells(xs, ys)
        if not rect.contains(p):
            return None
        return int(np.argmin(np.abs(ys - p.y()))), int(np.argmin(np.abs(xs - p.x())))

    def _heat_clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton:
            return
        cell = self._heat_cell(ev.scenePos())
        if cell is not None:
            ev.accept()
            self.add_run_at(cell[1], cell[0])

    def _mouse_moved(self, widget: pg.PlotWidget, scene_pos: QPointF) -> None:
        r = self.result
        if r is None:
            return
        text, at = None, None
        if widget is self.heat_plot:
            cell = self._heat_cell(scene_pos)
            if cell is not None:
                text = self._hover_text(r, *cell)
                at = widget.getPlotItem().getViewBox().mapSceneToView(scene_pos)
        elif r.name2 is None:
            vb = widget.getPlotItem().getViewBox()
            if vb.sceneBoundingRect().contains(scene_pos):
                p = vb.mapSceneToView(scene_pos)
                xs = np.log10(r.values) if _is_log(r.name, r.values) else r.values
                i = int(np.argmin(np.abs(xs - p.x())))
                px = vb.mapViewToScene(QPointF(xs[i], p.y())).x()
                if abs(px - scene_pos.x()) < 12:
                    text, at = self._hover_text(r, 0, i), p
        self._show_hover(widget, text, at)

    def _hover_text(self, r: SweepResult, i2: int, i: int) -> str:
        lines = [self._setting_text(r, i2, i)]
        d = r.diverged_at[i2, i]
        if (d >= 0).all():
            lines.append(f"diverged at step {int(d.min())}")
        else:
            fin = self.gap(r.final_cost[i2, i][d < 0])
            bst = self.gap(r.best_cost[i2, i][d < 0])
            lines.append(f"final {self._cost_label()} = {float(np.median(fin)):.3g}")
            lines.append(f"lowest during the run = {float(np.median(bst)):.3g}")
            if (d >= 0).any():
                lines.append(f"{int((d >= 0).sum())} of {d.size} seeds diverged")
        lines.append("click: add as a run")
        return "\n".join(lines)

    def _show_hover(self, widget: pg.PlotWidget, text: str | None, at) -> None:
        if self._hover_plot is not widget:
            if self._hover_plot is not None:
                self._hover_plot.getPlotItem().removeItem(self.hover)
            widget.getPlotItem().addItem(self.hover, ignoreBounds=True)
            self._hover_plot = widget
        if text is None:
            self.hover.setVisible(False)
            return
        self.hover.setText(text)
        self.hover.setPos(at)
        self.hover.setVisible(True)


def _cells(xs: np.ndarray, ys: np.ndarray) -> QRectF:
    """The rectangle covered by cells centred on the evenly spaced xs × ys."""

    def span(v: np.ndarray) -> tuple[float, float]:
        d = (v[-1] - v[0]) / (len(v) - 1) if len(v) > 1 else 0.0
        d = d or 1.0  # one value (or a range of one value): a cell one axis unit wide
        return float(v[0] - d / 2), float(v[-1] + d / 2)

    x0, x1 = span(xs)
    y0, y1 = span(ys)
    return QRectF(x0, y0, x1 - x0, y1 - y0)

