"""What the analysis views (sweep, basins, restarts) share.

The optimizer form each view edits its own copy of a config with, the base class that
computes nothing until a view is shown (and lays a view out and hooks up its job runner),
and the surface drawn under a map.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.document import Document
from gui.jobs import JobBar, JobRunner
from gui.panels.param_editor import ParamEditor
from gui.panels.run_editor import tooltip
from gui.theme import THEMES, Theme
from gui.view_options import ViewOptions
from gui.views.drawing import isoline_segments, log_image, log_levels
from sim import HYPERPARAMS, RULES, OptimizerConfig, Surface

SYMBOLS = {"lr": "α", "momentum": "μ", "beta1": "β₁", "beta2": "β₂", "rho": "ρ", "eps": "ε",
           "damping": "λ", "noise": "σ", "batch_size": "B", "tau": "τ", "avg_tau": "τ_avg",
           "decay_start": "t₀"}
DIVERGED_COLOR = {"light": "#b2182b", "dark": "#f46d43"}  # a diverged start or setting


def symbol(name: str) -> str:
    """The lecture's symbol of a hyperparameter (α for lr, μ for momentum, …)."""
    return SYMBOLS.get(name, name)


def minimum_name(k: int) -> str:
    """A, B, C, … for the known minima of a surface, in the catalogue's order."""
    return chr(ord("A") + k) if k < 26 else f"M{k}"


def view_box(document: Document) -> tuple[float, float, float, float] | None:
    """The scenario's view box, or the surface's when the scenario has none."""
    s = document.surface
    if s is None:
        return None
    return tuple(float(v) for v in (document.scenario.box or s.box))  # type: ignore[return-value]


class OptimizerForm(QGroupBox):
    """Rule and hyperparameters of the config a view computes with: the rule's `uses` and
    the noise σ. Starts from the selected run's config and can reload it.

    `changed` fires when a value is set (typed, stepped, a slider released); `dragged`
    while a slider moves under the mouse, for views that preview live.
    """

    changed = Signal()
    dragged = Signal()

    EXTRA = ("noise",)  # shown for every rule: the seeds of a sweep matter only with noise

    def __init__(self, document: Document, title: str = "Optimizer", parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self._doc = document
        self._base = OptimizerConfig()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 8)
        self.rule = QComboBox()
        for name, info in RULES.items():
            self.rule.addItem(info.title, name)
            self.rule.setItemData(self.rule.count() - 1, f"{info.formula}\n{info.description}", 3)
        self.rule.currentIndexChanged.connect(self._rule_changed)
        lay.addWidget(self.rule)
        self.formula = QLabel()
        self.formula.setWordWrap(True)
        self.formula.setStyleSheet("QLabel { font-family: 'DejaVu Serif', serif; }")
        lay.addWidget(self.formula)
        self.form = QFormLayout()
        self.form.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self.form)
        self.from_run = QPushButton("Use the selected run")
        self.from_run.setToolTip("load the rule and hyperparameters of the run selected in the Runs panel")
        self.from_run.clicked.connect(self._reload)
        lay.addWidget(self.from_run)
        self.editors: dict[str, ParamEditor] = {}
        self._shown_rule = ""

    # ---- loading -------------------------------------------------------------------------
    def load(self, config: OptimizerConfig) -> None:
        """Show `config` without emitting `changed`."""
        self._base = config.validated()
        self.rule.blockSignals(True)
        self.rule.setCurrentIndex(self.rule.findData(config.rule))
        self.rule.blockSignals(False)
        self._rebuild()

    def load_selected(self) -> None:
        """Show the selected run's config (a gd config when there is no run)."""
        run = self._doc.selected_run()
        self.load(run.config if run is not None else OptimizerConfig("gd", lr=RULES["gd"].default_lr))

    def _reload(self) -> None:
        self.load_selected()
        self.changed.emit()

    def _rebuild(self) -> None:
        cfg = self._base
        info = cfg.info
        self.formula.setText(info.formula)
        self.formula.setToolTip(info.description)
        names = [*info.uses, *(n for n in self.EXTRA if n not in info.uses)]
        if self._shown_rule == cfg.rule:
            for name in names:
                self.editors[name].set_value(float(getattr(cfg, name)))
            return
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        for name in names:
            ed = ParamEditor(HYPERPARAMS[name], float(getattr(cfg, name)), tooltip(name))
            ed.valueChanged.connect(lambda _v, e=ed: self._value_changed(e))
            if ed.slider is not None:
                ed.slider.sliderReleased.connect(self.changed.emit)
            label = QLabel(f"{symbol(name)}  {name}" if symbol(name) != name else name)
            label.setToolTip(tooltip(name))
            self.form.addRow(label, ed)
            self.editors[name] = ed
        self._shown_rule = cfg.rule

    # ---- editing -------------------------------------------------------------------------
    def _value_changed(self, editor: ParamEditor) -> None:
        if editor.slider is not None and editor.slider.isSliderDown():
            self.dragged.emit()
        else:
            self.changed.emit()

    def _rule_changed(self, _i: int) -> None:
        rule = self.rule.currentData()
        old = self._base
        changes: dict[str, object] = {"rule": rule}
        if self.editors.get("lr") is not None:
            lr = self.editors["lr"].value()
            # A rule's default α is the right scale for it: keep a hand-set α, swap a default one.
            changes["lr"] = RULES[rule].default_lr if lr == RULES[old.rule].default_lr else lr
        self._base = replace(self.config(), **changes).validated()
        self._rebuild()
        self.changed.emit()

    def dragging(self) -> bool:
        """True while one of the sliders is held down."""
        return any(ed.slider is not None and ed.slider.isSliderDown() for ed in self.editors.values())

    def set_value(self, name: str, value: float) -> None:
        """Set one hyperparameter and emit `changed` (what typing into its spin box does)."""
        self.editors[name].set_value(value)
        self.changed.emit()

    def config(self) -> OptimizerConfig:
        """The config shown; fields the form does not show come from the loaded config."""
        values: dict[str, object] = {}
        for name, ed in self.editors.items():
            v = ed.value()
            values[name] = int(v) if HYPERPARAMS[name].kind == "int" else float(v)
        return replace(self._base, rule=self.rule.currentData() or self._base.rule, **values).validated()


class AnalysisView(QWidget):
    """A view that computes only while it is visible: nothing runs until the tab is first
    shown, and changes made while it is hidden are applied when it is shown again.

    Results come from `runner`: at once when small or cached, else from a worker thread.
    A view lays itself out with `_assemble` (its controls on the left; the plot, its key,
    `summary` and `job_bar` on the right) and shows what the runner delivers through
    `_hook_runner`.
    """

    def __init__(self, document: Document, options: ViewOptions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc = document
        self._opt = options
        self._dirty = True
        self._started = False
        self.runner = JobRunner(parent=self)
        self.result = None
        self._key = None  # settings of the result on screen
        self._pending = None  # settings of the result being computed
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self._refresh_if_visible)
        options.changed.connect(self._on_option)
        document.surfaceChanged.connect(self._on_surface)

    @property
    def theme(self) -> Theme:
        return THEMES[str(self._opt["theme"])]

    @property
    def started(self) -> bool:
        """True once the view has been shown and has loaded its settings."""
        return self._started

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        if self._dirty:
            self._refresh_timer.start()

    def invalidate(self) -> None:
        """The result shown is out of date: recompute now if visible, else when shown."""
        self._dirty = True
        if self.isVisible():
            self._refresh_timer.start()

    def _refresh_if_visible(self) -> None:
        if not self.isVisible() or self._doc.surface is None:
            return
        if not self._started:
            self._started = True
            self.start()
        self._dirty = False
        self.refresh()

    def refresh_now(self) -> None:
        """Compute what the settings ask for at once (for scripts and tests)."""
        self._refresh_timer.stop()
        self._refresh_if_visible()

    def _on_option(self, name: str) -> None:
        if name == "theme":
            self.set_theme(self.theme)

    def _on_surface(self) -> None:
        self.surface_changed()
        self.invalidate()

    def _on_settings(self) -> None:
        """A control changed: the result is out of date (once the view has started)."""
        if self.started:
            self.invalidate()

    # ---- layout and jobs ----------------------------------------------------------------------
    def _assemble(self, controls: QWidget, main: QWidget, key: QLabel, *, idle: str, tip: str,
                  busy: str) -> None:
        """Lay the view out: `controls` in a scrolling column on the left; on the right `main`
        (the plot) over `key`, `summary` (saying `idle` until there is a result; `tip`: what
        the lecture says) and `job_bar`, the progress of a background job (`busy`: what it does)."""
        self.summary = summary_label(idle)
        self.summary.setToolTip(tip)
        self.job_bar = JobBar(self.runner, busy)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFixedWidth(300)
        self.controls_area = scroll
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(0)
        right.addWidget(main, 1)
        right.addWidget(key)
        right.addWidget(self.summary)
        right.addWidget(self.job_bar)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(scroll)
        lay.addLayout(right, 1)

    def _hook_runner(self, failed: str, cancelled: str) -> None:
        """Draw each result the runner delivers; when a job fails the summary says
        "`failed`: <why>", when it is cancelled `cancelled` (see `_on_cancelled`)."""
        self.runner.resultReady.connect(self._on_result)
        self.runner.failed.connect(lambda msg: self.summary.setText(f"{failed}: {msg}"))
        self.runner.cancelled.connect(lambda: self._on_cancelled(cancelled))

    def _new_request(self, key) -> bool:
        """True when the settings `key` ask for a result that is neither on screen nor being
        computed; `key` is then the one pending."""
        if key == self._key or (self.runner.busy and key == self._pending):
            return False
        self._pending = key
        return True

    def _on_result(self, key, result) -> None:
        """The runner delivered `result` for the settings `key`: show it."""
        self._key = key
        self.result = result
        self.draw()

    def _on_cancelled(self, text: str) -> None:
        """The job was cancelled: the summary says `text` (the previous result stays)."""
        self.summary.setText(text)

    # ---- what subclasses provide ------------------------------------------------------------
    def start(self) -> None:
        """First show: load settings from the document."""

    def refresh(self) -> None:
        """Compute (or fetch from the cache) and draw the result of the current settings."""

    def surface_changed(self) -> None:
        """The document has a new surface: drop what belongs to the old one."""

    def set_theme(self, theme: Theme) -> None:
        """Redraw in `theme`'s colours."""

    def draw(self) -> None:
        """Draw `result` (nothing when there is none)."""


def controls_column() -> tuple[QWidget, QVBoxLayout]:
    """The widget a view's controls stack in, top down, and its layout (see `_assemble`)."""
    controls = QWidget()
    cl = QVBoxLayout(controls)
    cl.setContentsMargins(6, 6, 6, 6)
    return controls, cl


def spin_box(lo: int, hi: int, tip: str = "", value: int | None = None) -> QSpinBox:
    """A whole-number setting from `lo` to `hi` that applies a typed value on Enter (or when
    the box loses focus), not at every keystroke: each change may start a computation."""
    box = QSpinBox()
    box.setRange(lo, hi)
    if value is not None:
        box.setValue(value)
    box.setKeyboardTracking(False)
    if tip:
        box.setToolTip(tip)
    return box


# ---- the surface under a map ---------------------------------------------------------------
def surface_grid(surface: Surface, box: tuple[float, float, float, float],
                 points: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xs, ys and E over `box`, `points` along the longer side."""
    x0, x1, y0, y1 = box
    w, h = x1 - x0, y1 - y0
    nx = points if w >= h else max(16, int(points * w / h))
    ny = points if h >= w else max(16, int(points * h / w))
    xs = np.linspace(x0, x1, nx)
    ys = np.linspace(y0, y1, ny)
    return xs, ys, surface.grid(xs, ys)


def surface_drawing(surface: Surface, box: tuple[float, float, float, float], points: int = 200,
                    count: int = 14) -> tuple[np.ndarray, tuple[float, float], tuple[np.ndarray, np.ndarray]]:
    """The contour view's look of a surface: log-cost image, its levels, level-set segments."""
    xs, ys, z = surface_grid(surface, box, points)
    levels, base, floor = log_levels(z, surface.lowest_cost, count=count)
    img = log_image(z, base, floor)
    lo = float(np.log10(floor))
    hi = max(float(np.percentile(img, 99.0)), lo + 1e-9)
    return img, (lo, hi), isoline_segments(z, xs, ys, levels)


def cell_rect(xs: np.ndarray, ys: np.ndarray):
    """The rectangle of an image whose pixel centres are the grid points xs × ys."""
    from PySide6.QtCore import QRectF

    dx = (xs[-1] - xs[0]) / max(len(xs) - 1, 1)
    dy = (ys[-1] - ys[0]) / max(len(ys) - 1, 1)
    return QRectF(xs[0] - dx / 2, ys[0] - dy / 2, xs[-1] - xs[0] + dx, ys[-1] - ys[0] + dy)


def minima_spots(surface: Surface, theme: Theme, names: bool = False) -> list[dict]:
    """Scatter spots of the known minima, styled as in the contour view (star: global)."""
    edge = pg.mkPen(theme.marker_edge, width=1.2)
    spots = []
    for k, m in enumerate(surface.minima):
        tip = f"{minimum_name(k)}: {m.kind} minimum" if names else f"{m.kind} minimum"
        if m.kind == "global":
            spots.append({"pos": (m.x, m.y), "symbol": "star", "size": 17, "pen": edge,
                          "brush": pg.mkBrush("#ffd92f"), "data": tip})
        else:
            spots.append({"pos": (m.x, m.y), "symbol": "o", "size": 10, "pen": edge,
                          "brush": pg.mkBrush("#ffffff"), "data": tip})
    return spots


def minima_labels(plot: pg.PlotItem, surface: Surface, theme: Theme,
                  old: list[pg.TextItem]) -> list[pg.TextItem]:
    """Letters A, B, … beside the known minima (replacing `old`), as the legends name them.

    Beyond 26 minima (a custom surface with a lattice of them) the names would cover the
    map: none are drawn, and hovering a minimum or a start names it."""
    for t in old:
        plot.removeItem(t)
    items = []
    if len(surface.minima) > 26:
        return items
    for k, m in enumerate(surface.minima):
        t = pg.TextItem(minimum_name(k), color=theme.foreground, anchor=(-0.3, 1.1))
        t.setPos(m.x, m.y)
        t.setZValue(60)
        plot.addItem(t, ignoreBounds=True)
        items.append(t)
    return items


def plot_widget(square: bool = False, bottom: str = "", left: str = "") -> pg.PlotWidget:
    """A plot without pyqtgraph's context menu and auto-range button; `square`: one unit as
    long on both axes (a map of the parameter plane); `bottom`, `left`: axis titles."""
    widget = pg.PlotWidget()
    plot = widget.getPlotItem()
    plot.setMenuEnabled(False)
    plot.hideButtons()
    if square:
        plot.setAspectLocked(True)
    if bottom:
        plot.setLabel("bottom", bottom)
    if left:
        plot.setLabel("left", left)
    return widget


def hover_label() -> pg.TextItem:
    """The text shown beside the point under the mouse, hidden until there is one."""
    hover = pg.TextItem(anchor=(0, 1))
    hover.setVisible(False)
    return hover


def style_hover(hover: pg.TextItem, theme: Theme) -> None:
    hover.setColor(theme.probe)
    hover.fill = pg.mkBrush(theme.background + "e0")


def color_bar() -> pg.ColorBarItem:
    """A viridis colour bar beside a plot, its levels set by the view. Its axis shows the
    values as they are (a log₁₀ title with "(x0.001)" behind it would misread) and is as
    wide as its tick values and title need (pyqtgraph's fixed 45 px lets "-0.065" run into
    the title)."""
    bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False, width=14)
    bar.axis.enableAutoSIPrefix(False)
    bar.axis.setWidth(None)
    return bar


def style_color_bar(bar: pg.ColorBarItem, theme: Theme) -> None:
    bar.axis.setPen(pg.mkPen(theme.foreground))
    bar.axis.setTextPen(pg.mkPen(theme.foreground))


def set_title(plot: pg.PlotItem, text: str, theme: Theme) -> None:
    """A small plot title in the theme's text colour: says what was computed with what."""
    plot.setTitle(text, color=theme.foreground, size="10pt")


def summary_label(text: str) -> QLabel:
    """The rich-text summary under a view, two lines high at least: a nested layout does not
    always give a word-wrapped label the height its text needs."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.RichText)
    label.setContentsMargins(8, 2, 8, 4)
    label.setMinimumHeight(2 * label.fontMetrics().lineSpacing() + 8)
    return label


def key_label() -> QLabel:
    """The label under a plot that holds its key (`key_text`)."""
    label = QLabel()
    label.setTextFormat(Qt.RichText)
    label.setContentsMargins(8, 2, 8, 0)
    return label


def key_text(entries: list[tuple[str, str, str]]) -> str:
    """A one-line key under a plot: (colour, glyph, words) entries, each kept on one line."""
    return "&nbsp;&nbsp;&nbsp;&nbsp;".join(
        f"<span style='color:{c}'>{glyph}</span>&nbsp;{text.replace(' ', '&nbsp;')}" for c, glyph, text in entries)


def fmt(v: float) -> str:
    """A number for a label: 3 significant digits, no exponent noise for plain values."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    return f"{v:.3g}"
