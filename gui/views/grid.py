"""The comparison grid ("Compare" tab): small multiples, one contour panel per run or per
value of one swept hyperparameter, all on the one playback cursor, above a shared loss plot.

Every panel shows the same surface, so the image and level sets are computed once for the
visible box and handed to every panel. Panels are titled with what differs between them
(α=0.03 when only α differs), their axes are linked, and each trail is thinned to pixels as
in the contour view. Nothing is built or computed until the tab is first shown.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSizeF, Qt, QTimer
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.document import Document
from gui.theme import THEMES, Theme, style_plot
from gui.view_options import ViewOptions
from gui.views.axes import LogAxis
from gui.views.contour import Background
from gui.views.drawing import pixel_keep, set_curve
from gui.views.lines import TrailItem
from gui.views.loss import CurvesViewBox
from sim import HYPERPARAMS, OptimizerConfig, Trajectory
from sim.scenario import PALETTE, Run
from sim.simulate import log_spaced, simulate

MAX_PANELS = 12  # what stays smooth at 60 frames per second with 5,000-step runs
PANEL_GRID_POINTS = 160  # background resolution of a small panel
FLOOR = 1e-14  # the loss plot's log axis clips here
AXIS_PIXELS = (34, 20)  # width of every panel's left axis, height of its bottom axis

# The lecture's symbols, as in the runs table.
SYMBOLS = {"lr": "α", "momentum": "μ", "beta1": "β₁", "beta2": "β₂", "rho": "ρ", "eps": "ε",
           "damping": "λ", "batch_size": "B", "noise": "σ", "decay_start": "t₀", "tau": "τ",
           "avg_tau": "τ_avg"}
_ORACLE = ("batch_size", "noise", "avg_tau")
_SCHEDULE = ("decay_start", "tau")

MODE_RUNS = "runs"
MODE_SWEEP = "sweep"


def relevant(cfg: OptimizerConfig, name: str) -> bool:
    """Whether hyperparameter `name` changes what `cfg` computes."""
    if name in _SCHEDULE:
        return cfg.schedule != "constant"
    return name in _ORACLE or name in cfg.info.uses


def sweepable(cfg: OptimizerConfig) -> list[str]:
    """The hyperparameters a sweep of `cfg` can vary: its rule's, the oracle's, the schedule's."""
    return [n for n in HYPERPARAMS if relevant(cfg, n)]


def _fmt(name: str, v) -> str:
    if name == "batch_size" and not v:
        return "N"  # B = 0 is the full batch of N examples
    return str(int(v)) if HYPERPARAMS[name].kind == "int" else f"{float(v):.3g}"


def differing_titles(configs: Sequence[OptimizerConfig], runs: Sequence[Run] | None = None) -> list[str]:
    """For each config, what sets it apart from the others: "α=0.03", "adam α=0.01 β₁=0.8".

    A hyperparameter counts where it differs between the configs that use it; the rule and
    the schedule count when they differ. Configs alike in all of these are told apart by the
    runs' seed, start or particle count, and failing that by their titles.
    """
    n = len(configs)
    if n == 0:
        return []
    parts: list[list[str]] = [[] for _ in range(n)]
    if len({c.rule for c in configs}) > 1:
        for p, c in zip(parts, configs):
            p.append(c.rule)
    if len({c.schedule for c in configs}) > 1:
        for p, c in zip(parts, configs):
            p.append(c.schedule)
    for name in HYPERPARAMS:
        values = [getattr(c, name) if relevant(c, name) else None for c in configs]
        # Only values that differ between configs that use them: adam's β₁ does not tell it
        # from gd (its rule name does).
        if len(set(values) - {None}) > 1:
            for p, v in zip(parts, values):
                if v is not None:
                    p.append(f"{SYMBOLS.get(name, name)}={_fmt(name, v)}")
    if runs is not None and len({tuple(p) for p in parts}) < n:
        for field, show in (("seed", lambda r: f"seed {r.seed}"),
                            ("start", lambda r: "θ₀=default" if r.start is None
                             else f"θ₀=({r.start[0]:.3g}, {r.start[1]:.3g})"),
                            ("particles", lambda r: f"×{r.particles}")):
            if len({getattr(r, field) for r in runs}) > 1:
                for p, r in zip(parts, runs):
                    p.append(show(r))
    titles = [" ".join(p) for p in parts]
    if runs is not None and (len(set(titles)) < n or not any(titles)):
        return [r.title for r in runs]
    return titles if any(titles) else [c.label() for c in configs]


_RANGE = re.compile(r"^(?:(log|lin)\s+)?(\S+?)\s*(?:\.\.|…|:)\s*(\S+?)\s*(?:[×x*]\s*|\s+)(\d+)$", re.I)


def parse_values(text: str, limit: int = MAX_PANELS) -> list[float]:
    """Values from "0.3, 0.1, 0.03, 0.01" or a range "log 1e-4..1 ×9" / "lin 0..0.9 ×10".

    A range without "log" or "lin" is log-spaced when its ends are positive and a factor of
    ten or more apart, else evenly spaced. ValueError says what is wrong.
    """
    t = text.strip()
    m = _RANGE.match(t)
    if m:
        kind, a, b, count = m.group(1), m.group(2), m.group(3), int(m.group(4))
        try:
            lo, hi = float(a), float(b)
        except ValueError:
            raise ValueError(f"cannot read the range ends {a!r} and {b!r}") from None
        if not 1 <= count <= limit:
            raise ValueError(f"a range needs 1 to {limit} values, not {count}")
        log = (kind or "").lower() == "log" or (not kind and lo > 0 and hi > 0 and max(lo, hi) >= 10 * min(lo, hi))
        if log:
            return [float(v) for v in log_spaced(lo, hi, count)]
        return [float(f"{v:.12g}") for v in np.linspace(lo, hi, count)]
    items = [s for s in re.split(r"[,;\s]+", t) if s]
    if not items:
        raise ValueError('enter values, e.g. "0.3, 0.1, 0.03, 0.01" or "log 1e-4..1 ×9"')
    out = []
    for s in items:
        try:
            v = float(s)
        except ValueError:
            raise ValueError(f"cannot read {s!r} as a number") from None
        if not math.isfinite(v):
            raise ValueError(f"{s!r} is not a finite number")
        out.append(v)
    if len(out) > limit:
        raise ValueError(f"at most {limit} values (one panel each), not {len(out)}")
    return out


def grid_columns(n: int, width: float, height: float, aspect: float) -> int:
    """Columns for n panels of a box `aspect` (width / height) wide in width × height
    pixels: the count that draws each panel largest."""
    if n <= 1:
        return 1
    width, height, aspect = max(width, 1.0), max(height, 1.0), max(aspect, 1e-6)

    def scale(cols: int) -> float:
        rows = math.ceil(n / cols)
        return min(width / cols / aspect, height / rows)

    return max(range(1, n + 1), key=lambda c: (scale(c), -c))


@dataclass(frozen=True)
class Entry:
    """One panel's content: a run (of the scenario, or of the sweep) and its look."""

    title: str
    color: str
    trajectory: Trajectory | None
    start: tuple[float, float]
    error: str | None = None


class _PanelTitle(pg.LabelItem):
    """A panel's title: as tall as its text, but never wider than its panel (a long title
    would widen its column and stretch the linked panels' boxes)."""

    def updateMin(self) -> None:  # noqa: N802
        super().updateMin()
        self.setMinimumWidth(0)

    def sizeHint(self, hint, constraint) -> QSizeF:  # noqa: N802
        s = super().sizeHint(hint, constraint)
        return s if hint == Qt.SizeHint.MaximumSize else QSizeF(0.0, s.height())


class _Panel:
    """One small contour plot: background (shared data), trail, start and current point."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        # The plot's own title label sizes itself to its text: put a _PanelTitle in its place.
        plot.layout.removeItem(plot.titleLabel)
        plot.titleLabel.hide()
        self.title = _PanelTitle(size="9pt")
        plot.layout.addItem(self.title, 0, 1)
        plot.layout.setRowFixedHeight(0, 22)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setZValue(-100)
        self.isolines = pg.PlotDataItem(connect="pairs", skipFiniteCheck=True)
        self.isolines.setZValue(-50)
        self.minima = pg.ScatterPlotItem(pxMode=True)
        self.minima.setZValue(10)
        self.trail = TrailItem()  # a frame moves its end; PlotDataItems would cost 12 × more
        self.trail.setZValue(20)
        # The start square and the current dot: plain shapes that keep their pixel size and
        # only move (a ScatterPlotItem rebuilds its records on every setData: 12 a frame).
        self.start = QGraphicsRectItem(-4.5, -4.5, 9.0, 9.0)
        self.current = QGraphicsEllipseItem(-5.0, -5.0, 10.0, 10.0)
        for z, item in ((25, self.start), (30, self.current)):
            item.setFlag(QGraphicsItem.ItemIgnoresTransformations)
            item.setZValue(z)
            item.setVisible(False)
        for item in (self.image, self.isolines, self.minima, self.trail, self.start, self.current):
            plot.addItem(item, ignoreBounds=item is not self.image)
        # The background is the same on every frame: blit it from a pixmap.
        for item in (self.image, self.isolines.curve, self.minima):
            item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.keep: tuple | None = None  # (trajectory, cell) whose kept rows the trail holds
        self.entry: Entry | None = None


class CompareView(QWidget):
    """Small multiples of the scenario's runs, or of a sweep of the selected run."""

    def __init__(self, document: Document, options: ViewOptions, parent=None) -> None:
        super().__init__(parent)
        self._doc = document
        self._opt = options
        self._built = False
        self._dirty = True
        self._mode = MODE_RUNS
        self._memo: dict[tuple, tuple[Trajectory | None, str | None]] = {}
        self._memo_surface = None
        self._box: tuple | None = None
        self.entries: list[Entry] = []
        self.panels: list[_Panel] = []
        self._shape: tuple[int, int] = (0, 0)
        self._styles: dict[tuple, object] = {}

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 0)
        bar = QHBoxLayout()
        self.mode = QComboBox()
        self.mode.addItem("One panel per run", MODE_RUNS)
        self.mode.addItem("Sweep a hyperparameter of the selected run", MODE_SWEEP)
        self.mode.setToolTip("compare the scenario's runs side by side, or vary one hyperparameter of "
                             "the selected run (section 4.5: try α = 0.3, 0.1, 0.03, 0.01)")
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.param = QComboBox()
        self.param.setToolTip("the hyperparameter to vary; the others stay the selected run's")
        self.param.currentIndexChanged.connect(lambda _i: self._inputs_changed())
        self.values = QLineEdit("log 1e-4..1 ×9")
        self.values.setPlaceholderText("0.3, 0.1, 0.03, 0.01   or   log 1e-4..1 ×9")
        self.values.setToolTip(f"up to {MAX_PANELS} values: a list (0.3, 0.1, 0.03, 0.01) or a range "
                               "(log 1e-4..1 ×9, lin 0..0.9 ×10)")
        self.values.editingFinished.connect(self._inputs_changed)
        self.add_button = QPushButton("Add these as runs")
        self.add_button.setToolTip("append one run per value to the scenario")
        self.add_button.clicked.connect(self.add_as_runs)
        self.note = QLabel()
        self.note.setStyleSheet("color: palette(dark);")
        # A long message must not widen the tab (and squeeze the docks beside it).
        self.note.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        for w in (self.mode, self.param, self.values, self.add_button):
            bar.addWidget(w)
        bar.addWidget(self.note, 1)
        self.values.setMinimumWidth(220)
        lay.addLayout(bar)
        self.split = QSplitter(Qt.Vertical)
        lay.addWidget(self.split, 1)
        self.grid: pg.GraphicsLayoutWidget | None = None
        self.loss_plot: pg.PlotWidget | None = None
        self._sweep_widgets(False)

        self._bg_timer = QTimer(self)
        self._bg_timer.setSingleShot(True)
        self._bg_timer.setInterval(60)
        self._bg_timer.timeout.connect(self._draw_background)
        document.surfaceChanged.connect(self._on_surface)
        document.scenarioChanged.connect(self._on_change)  # results are recomputed before it fires
        document.selectionChanged.connect(lambda _i: self._on_selection())
        document.cursorChanged.connect(self._on_cursor)
        options.changed.connect(self._on_option)

    # ---- laziness ------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self._built

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        if not self._built:
            self._build()
        if self._dirty:
            self.refresh()

    def _build(self) -> None:
        self.grid = pg.GraphicsLayoutWidget()
        self.grid.ci.setSpacing(4)
        self.grid.installEventFilter(self)
        self.loss_plot = pg.PlotWidget(viewBox=CurvesViewBox(enableMenu=False), axisItems={"left": LogAxis("left")})
        lp = self.loss_plot.getPlotItem()
        lp.setMenuEnabled(False)
        lp.hideButtons()
        lp.setLogMode(x=False, y=True)
        lp.setLabel("left", "E(θ_t) − E*")
        lp.setLabel("bottom", "step t")
        lp.getAxis("left").enableAutoSIPrefix(False)
        lp.setDownsampling(auto=True, mode="peak")
        lp.setClipToView(True)
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False)
        self.cursor_line.setZValue(50)
        lp.addItem(self.cursor_line, ignoreBounds=True)
        self.loss_markers = pg.ScatterPlotItem(pxMode=True, size=7)
        self.loss_markers.setZValue(60)
        lp.addItem(self.loss_markers, ignoreBounds=True)
        self.loss_curves: list[pg.PlotDataItem] = []
        self.split.addWidget(self.grid)
        self.split.addWidget(self.loss_plot)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([560, 200])
        self._built = True
        self._apply_theme()

    def _stale(self) -> bool:
        """True (and remembered) when the tab is hidden: the work waits for the next show."""
        if not self._built or not self.isVisible():
            self._dirty = True
            return True
        return False

    # ---- inputs --------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """MODE_RUNS or MODE_SWEEP (as the combo box does)."""
        self.mode.setCurrentIndex(self.mode.findData(mode))

    def set_sweep(self, name: str, values: str) -> None:
        """Sweep `name` over `values` (text as typed), in sweep mode."""
        self._fill_params()
        i = self.param.findData(name)
        if i < 0:
            raise ValueError(f"the selected run's rule has no hyperparameter {name!r}")
        self.param.blockSignals(True)
        self.param.setCurrentIndex(i)
        self.param.blockSignals(False)
        self.values.setText(values)
        self.set_mode(MODE_SWEEP)
        self._inputs_changed()

    def _sweep_widgets(self, on: bool) -> None:
        for w in (self.param, self.values, self.add_button):
            w.setVisible(on)

    def _mode_changed(self, _i: int) -> None:
        self._mode = self.mode.currentData()
        self._sweep_widgets(self._mode == MODE_SWEEP)
        if self._mode == MODE_SWEEP:
            self._fill_params()
        self._inputs_changed()

    def _fill_params(self) -> None:
        run = self._doc.selected_run()
        names = sweepable(run.config) if run is not None else ["lr"]
        if [self.param.itemData(i) for i in range(self.param.count())] == names:
            return
        current = self.param.currentData() or "lr"
        self.param.blockSignals(True)
        self.param.clear()
        for n in names:
            self.param.addItem(f"{SYMBOLS.get(n, n)}  ({n})", n)
            self.param.setItemData(self.param.count() - 1, HYPERPARAMS[n].help, Qt.ToolTipRole)
        self.param.setCurrentIndex(max(0, self.param.findData(current)))
        self.param.blockSignals(False)

    def _inputs_changed(self) -> None:
        self._dirty = True
        if not self._stale():
            self.refresh()

    # ---- document signals ----------------------------------------------------------------
    def _on_surface(self) -> None:
        self._box = None
        self._on_change()

    def _on_change(self) -> None:
        if self._mode == MODE_SWEEP:
            self._fill_params()
        self._inputs_changed()

    def _on_selection(self) -> None:
        if self._mode == MODE_SWEEP:
            self._fill_params()
            self._inputs_changed()

    def _on_cursor(self, _t: int) -> None:
        if not self._stale() and not self._dirty:
            self.redraw_cursor()

    def _on_option(self, name: str) -> None:
        if name == "theme" and self._built:
            self._apply_theme()
            self._style_panels()
            self.redraw_cursor()

    # ---- what the panels show ------------------------------------------------------------
    def _entries(self) -> list[Entry]:
        """One entry per panel for the current mode; the sweep simulates what changed."""
        doc = self._doc
        s = doc.surface
        if s is None:
            return []
        sc = doc.scenario
        if self._mode == MODE_RUNS:
            shown = [(i, r) for i, r in enumerate(sc.runs) if r.visible]
            hidden = len(shown) - MAX_PANELS
            shown = shown[:MAX_PANELS]
            titles = differing_titles([r.config for _i, r in shown], [r for _i, r in shown])
            self.note.setText(f"showing the first {MAX_PANELS} of {len(shown) + hidden} visible runs"
                              if hidden > 0 else "")
            return [Entry(t, r.color, doc.results[i] if i < len(doc.results) else None, doc.start_of(i),
                          doc.errors[i] if i < len(doc.errors) else None)
                    for (i, r), t in zip(shown, titles)]
        base = doc.selected_run()
        if base is None:
            self.note.setText("select a run to sweep")
            return []
        name = self.param.currentData() or "lr"
        try:
            values = parse_values(self.values.text())
            configs = [self._config(base.config, name, v) for v in values]
        except ValueError as e:
            self.note.setText(str(e))
            return []
        self.note.setText(f"{base.title}: {len(configs)} values of {SYMBOLS.get(name, name)}")
        previous = self._memo if self._memo_surface is s else {}
        memo: dict[tuple, tuple[Trajectory | None, str | None]] = {}  # only what is shown
        start = doc.start_of(doc.selected)
        out = []
        titles = differing_titles(configs)
        for k, (cfg, title) in enumerate(zip(configs, titles)):
            key = (cfg, start, base.seed, sc.steps)
            hit = memo.get(key) or previous.get(key)
            if hit is None:
                try:
                    hit = (simulate(s, cfg, start, sc.steps, base.seed), None)
                except ValueError as e:
                    hit = (None, str(e))
            memo[key] = hit
            out.append(Entry(title, PALETTE[k % len(PALETTE)], hit[0], start, hit[1]))
        self._memo, self._memo_surface = memo, s
        return out

    @staticmethod
    def _config(cfg: OptimizerConfig, name: str, v: float) -> OptimizerConfig:
        value = int(round(v)) if HYPERPARAMS[name].kind == "int" else float(v)
        return replace(cfg, **{name: value}).validated()

    def sweep_configs(self) -> list[OptimizerConfig]:
        """The configs of the current sweep (ValueError for values that cannot be used)."""
        run = self._doc.selected_run()
        if run is None:
            return []
        name = self.param.currentData() or "lr"
        return [self._config(run.config, name, v) for v in parse_values(self.values.text())]

    def add_as_runs(self) -> list[int]:
        """Append the sweep's configs to the scenario as runs; returns their indices."""
        base = self._doc.selected_run()
        if base is None or self._mode != MODE_SWEEP:
            return []
        try:
            configs = self.sweep_configs()
        except ValueError as e:
            self.note.setText(str(e))
            return []
        titles = differing_titles(configs)
        runs = [replace(base, config=c, label=f"{base.label} {t}" if base.label else "")
                for c, t in zip(configs, titles)]
        return self._doc.add_runs(runs)

    # ---- drawing -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild what the panels show (entries, titles, loss curves), then the cursor."""
        if not self._built:
            return
        self._dirty = False
        self.entries = self._entries()
        self._ensure_panels(len(self.entries))
        s = self._doc.surface
        if s is not None and self._box is None and self.panels:
            x0, x1, y0, y1 = self._doc.scenario.box or s.box
            self.panels[0].plot.getViewBox().setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.0)
            self._draw_background()
        self._style_panels()
        self._draw_loss()
        self.redraw_cursor()

    def _ensure_panels(self, n: int) -> None:
        """n panels in a grid with about as many columns as the tab's shape suggests."""
        assert self.grid is not None
        s = self._doc.surface
        box = self._box or (self._doc.scenario.box or s.box if s is not None else (0, 1, 0, 1))
        cols = grid_columns(n, self.grid.width(), self.grid.height(), (box[1] - box[0]) / (box[3] - box[2]))
        shape = (n, cols)
        if shape == self._shape:
            return
        self._shape = shape
        self.grid.ci.clear()
        self.panels = []
        rows = math.ceil(n / cols) if n else 0
        for k in range(n):
            plot = self.grid.ci.addPlot(row=k // cols, col=k % cols)
            panel = _Panel(plot)
            if self.panels:
                # The first panel keeps the aspect ratio; the others follow its ranges (locking
                # each one as well would make the links and the locks fight over the box).
                plot.setXLink(self.panels[0].plot)
                plot.setYLink(self.panels[0].plot)
            else:
                plot.setAspectLocked(True)
            # Values on the outer axes only: the inner ones repeat them. Every axis keeps the
            # same size, so linked, aspect-locked panels show the same box.
            plot.getAxis("left").setStyle(showValues=k % cols == 0)
            plot.getAxis("left").setWidth(AXIS_PIXELS[0])
            plot.getAxis("bottom").setStyle(showValues=k // cols == rows - 1)
            plot.getAxis("bottom").setHeight(AXIS_PIXELS[1])
            self.panels.append(panel)
        self._size_columns()
        if self.panels:
            self.panels[0].plot.getViewBox().sigRangeChanged.connect(lambda *_: self._bg_timer.start())
            self._box = None

    def _size_columns(self) -> None:
        """Equal columns and rows: a panel's title must not widen it (linked panels of
        different sizes would show the box stretched)."""
        if self.grid is None or not self._shape[0]:
            return
        n, cols = self._shape
        rows = math.ceil(n / cols)
        lay = self.grid.ci.layout
        # From the widget, not the layout: fixed sizes set before would hold the layout open.
        left, top, right, bottom = lay.getContentsMargins()
        width = self.grid.viewport().width() - left - right
        height = self.grid.viewport().height() - top - bottom
        w = max(40.0, (width - lay.horizontalSpacing() * (cols - 1)) / cols)
        h = max(40.0, (height - lay.verticalSpacing() * (rows - 1)) / rows)
        for c in range(cols):
            lay.setColumnFixedWidth(c, w)
        for r in range(rows):
            lay.setRowFixedHeight(r, h)

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802
        if obj is self.grid and ev.type() == QEvent.Resize:
            QTimer.singleShot(0, self._size_columns)  # after the layout has its new size
        return False

    def _draw_background(self) -> None:
        """One background for the box on view, given to every panel."""
        s = self._doc.surface
        if s is None or not self.panels:
            return
        self._bg_timer.stop()
        (x0, x1), (y0, y1) = self.panels[0].plot.getViewBox().viewRange()
        box = (float(x0), float(x1), float(y0), float(y1))
        bg = Background.of(s, box, PANEL_GRID_POINTS, count=14)
        if bg is None:
            return
        for p in self.panels:
            bg.apply(p.image, p.isolines)
        self._box = box
        self._draw_minima()

    def _draw_minima(self) -> None:
        s = self._doc.surface
        theme = self._theme()
        for p in self.panels:
            p.minima.setData(pos=[(m.x, m.y) for m in s.minima if m.kind == "global"], symbol="star", size=13,
                             pen=self._pen(theme.marker_edge, 1.0), brush=self._brush("#ffd92f"))

    def _theme(self) -> Theme:
        return THEMES[str(self._opt["theme"])]

    def _pen(self, color: str, width: float, style=Qt.SolidLine):
        key = ("pen", color, width, style)
        if key not in self._styles:
            self._styles[key] = pg.mkPen(color, width=width, style=style)
        return self._styles[key]

    def _brush(self, color: str):
        key = ("brush", color)
        if key not in self._styles:
            self._styles[key] = pg.mkBrush(color)
        return self._styles[key]

    def _apply_theme(self) -> None:
        theme = self._theme()
        self.grid.setBackground(theme.background)
        self.loss_plot.setBackground(theme.background)
        style_plot(self.loss_plot.getPlotItem(), theme)
        self.cursor_line.setPen(pg.mkPen(theme.foreground, width=1, style=Qt.DashLine))

    def _style_panels(self) -> None:
        theme = self._theme()
        cmap = theme.colormap()
        for p, e in zip(self.panels, self.entries):
            p.image.setColorMap(cmap)
            p.isolines.setPen(pg.mkPen(theme.contour, width=1))
            style_plot(p.plot, theme)
            pen = QPen(QColor(e.color), 1.0)  # 1 px, cosmetic: Qt's fast stroker
            pen.setCosmetic(True)
            p.trail.setPen(pen)
            p.start.setPen(self._pen(e.color, 2.0))
            p.start.setBrush(self._brush("#00000000"))
            p.start.setPos(*e.start)
            p.current.setPen(self._pen(theme.marker_edge, 1.0))
            p.current.setBrush(self._brush(e.color))
            note = ""  # short: a small panel's title has room for about 20 characters
            if e.error:
                note = "error"
            elif e.trajectory is not None and e.trajectory.diverged_at is not None:
                note = f"div. t={e.trajectory.diverged_at}"
            if note:
                note = f" <span style='color:#d62728'>· {note}</span>"
            p.title.setText(f"<span style='color:{e.color}; font-size:11pt'>■</span>&nbsp;"
                            f"<span style='color:{theme.foreground}; font-size:9pt'>{e.title}</span>{note}")
            p.entry = e
        if self._doc.surface is not None and self.panels:
            self._draw_minima()

    def _draw_loss(self) -> None:
        lp = self.loss_plot.getPlotItem()
        while len(self.loss_curves) < len(self.entries):
            c = pg.PlotDataItem(skipFiniteCheck=True)
            c.curve.setCacheMode(QGraphicsItem.DeviceCoordinateCache)  # redrawn only with results
            lp.addItem(c)
            self.loss_curves.append(c)
        while len(self.loss_curves) > len(self.entries):
            lp.removeItem(self.loss_curves.pop())
        s = self._doc.surface
        e_star = (s.lowest_cost or 0.0) if s is not None else 0.0
        lo, hi = math.inf, -math.inf
        for c, e in zip(self.loss_curves, self.entries):
            tr = e.trajectory
            if tr is None:
                set_curve(c)
                continue
            y = np.maximum(tr.cost - e_star, FLOOR)
            c.setData(tr.steps.astype(float), y, pen=self._pen(e.color, 1.3))
            if tr.diverged_at is None:
                lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))
        if math.isfinite(lo) and any(e.trajectory is not None and e.trajectory.diverged_at is not None
                                     for e in self.entries):
            # A diverged run climbs to 1e20: keep the axis on the runs that did not.
            lp.setYRange(math.log10(lo), math.log10(hi) + 1.0, padding=0.05)
        else:
            lp.enableAutoRange(axis="y")

    def redraw_cursor(self) -> None:
        """Every panel's trail up to the cursor and its current point; the loss markers."""
        if not self._built:
            return
        t = self._doc.cursor
        theme = self._theme()
        edge = self._pen(theme.marker_edge, 1.0)
        cell = 0.0
        if self.panels:
            px = self.panels[0].plot.getViewBox().viewPixelSize()
            cell = 0.5 * min(px) if px else 0.0  # half a pixel, in data units
        s = self._doc.surface
        e_star = (s.lowest_cost or 0.0) if s is not None else 0.0
        lpos, lbrush = [], []
        for p, e in zip(self.panels, self.entries):
            tr = e.trajectory
            if tr is None:
                p.trail.clear()
                p.keep = None
                p.start.setVisible(False)
                p.current.setVisible(False)
                continue
            if p.keep is None or p.keep[0] is not tr or p.keep[1] != cell:
                p.keep = (tr, cell)
                p.trail.set_points(tr.theta, pixel_keep(tr.theta[:, 0], tr.theta[:, 1], cell))
            k = tr.at(t)
            p.trail.set_end(k)
            x, y = tr.theta[k]
            p.current.setPos(float(x), float(y))
            # A diverged run's last point: hollow, in the warning colour.
            diverged = tr.diverged_at is not None and t >= len(tr) - 1
            p.current.setBrush(self._brush("#00000000" if diverged else e.color))
            p.current.setPen(self._pen("#d62728", 2.0) if diverged else edge)
            p.start.setVisible(True)
            p.current.setVisible(True)
            lpos.append((float(k), math.log10(max(float(tr.cost[k]) - e_star, FLOOR))))
            lbrush.append(self._brush(e.color))
        self.loss_markers.setData(pos=lpos, brush=lbrush)
        self.cursor_line.setValue(t)
