"""The editor of the selected run: rule, the hyperparameters that rule has, oracle, schedule,
and the size of its particle cloud."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.document import Document
from gui.panels.param_editor import ParamEditor, SciSpinBox
from sim import HYPERPARAMS, RULES, SCHEDULES
from sim.optimizers import OptimizerConfig
from sim.scenario import MAX_RUN_PARTICLES

# Where each hyperparameter appears in the lecture, for the tooltips.
LECTURE = {
    "lr": "θ ← θ − α ∇E (eq. 2); too large: instability (4.5), too small: slow progress (4.4)",
    "momentum": "p ← μp − α∇E, θ ← θ + p (eq. 8–9); friction is 1 − μ",
    "beta1": "m ← β₁m + (1 − β₁)g: momentum-like average of gradients",
    "beta2": "v ← β₂v + (1 − β₂)g²: per-coordinate scale, as RMSprop",
    "rho": "v ← ρv + (1 − ρ)g² (RMSprop, 4.8)",
    "eps": "keeps α g/(√v + ε) finite where v ≈ 0",
    "damping": "θ ← θ − α(H + λI)⁻¹g (4.8)",
    "batch_size": "mini-batch gradient (eq. 7 with B examples, section 3)",
    "noise": "g = ∇E + σ/√B · ξ: stochastic gradient model (4.6 fluctuations)",
    "decay_start": "t₀ of eq. 10: decay the learning rate only late in training (4.6)",
    "tau": "τ of eq. 10",
    "avg_tau": "θ̃ ← (1 − 1/τ)θ̃ + θ/τ: iterate averaging (eq. 11, 4.6)",
}

PARTICLES_TIP = ("<b>particles</b>: run P copies of this run, each with its own noise seed, and draw "
                 "them as a cloud with its mean and 1σ/2σ covariance ellipses; the loss view shows "
                 "their mean cost and the 10–90% band.<br>Section 3 (stochastic gradients, eq. 7): "
                 "one noisy path cannot show the stationary spread of SGD; the cloud shows how it "
                 "shrinks with the mini-batch size B (variance ∝ α/B), with a decaying α (eq. 10) "
                 "and under iterate averaging (eq. 11). Needs gradient noise (σ > 0 or B ≥ 1 on a "
                 "dataset) to spread.")
JITTER_TIP = ("<b>jitter radius</b>: start the particles uniformly in a disc of this radius around "
              "θ₀ (0: all at θ₀). With exact gradients (section 2) this shows how nearby starts "
              "separate or merge; with noise (section 3) the spread forgets its start.")


def tooltip(name: str) -> str:
    """Help text of a hyperparameter with the lecture's equation."""
    p = HYPERPARAMS[name]
    return f"<b>{name}</b>: {p.help}<br>{LECTURE.get(name, '')}"


class RunEditor(QWidget):
    """Edits the document's selected run; shows only what its rule uses."""

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self._doc = document
        self._shown: tuple = ()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        top = QFormLayout()
        self.label = QLineEdit()
        self.label.setPlaceholderText("label (default: rule and hyperparameters)")
        self.label.editingFinished.connect(self._label_edited)
        top.addRow("Label", self.label)
        self.rule = QComboBox()
        for name, info in RULES.items():
            self.rule.addItem(info.title, name)
            self.rule.setItemData(self.rule.count() - 1, f"{info.formula}\n{info.description}", Qt.ToolTipRole)
        self.rule.currentIndexChanged.connect(self._rule_changed)
        top.addRow("Optimizer", self.rule)
        lay.addLayout(top)
        self.formula = QLabel()
        self.formula.setWordWrap(True)
        self.formula.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.formula.setStyleSheet("QLabel { font-family: 'DejaVu Serif', serif; font-size: 11pt; "
                                   "padding: 6px; border: 1px solid palette(mid); border-radius: 4px; }")
        lay.addWidget(self.formula)
        self.hyper_box = QGroupBox("Hyperparameters")
        self.hyper_form = QFormLayout(self.hyper_box)
        lay.addWidget(self.hyper_box)
        self.oracle_box = QGroupBox("Gradient, schedule, averaging")
        self.oracle_form = QFormLayout(self.oracle_box)
        self.schedule = QComboBox()
        for name, (_code, text) in SCHEDULES.items():
            self.schedule.addItem(name, name)
            self.schedule.setItemData(self.schedule.count() - 1, text, Qt.ToolTipRole)
        self.schedule.currentIndexChanged.connect(self._schedule_changed)
        lay.addWidget(self.oracle_box)
        start_row = QHBoxLayout()
        self.start_x = SciSpinBox()
        self.start_y = SciSpinBox()
        for sp in (self.start_x, self.start_y):
            sp.setRange(-1e6, 1e6)
            sp.setToolTip("θ₀; or click on the contour view (shift-click: every run), or drag the square")
            sp.valueChanged.connect(self._start_edited)
            start_row.addWidget(sp, 1)
        self.default_start = QPushButton("Default")
        self.default_start.setToolTip("use the surface's default start")
        self.default_start.clicked.connect(self._default_start)
        start_row.addWidget(self.default_start)
        start_form = QFormLayout()
        start_form.addRow("Start θ₀", start_row)
        lay.addLayout(start_form)
        # Every rule can run as a cloud (principle 2: noise is the oracle's, not the rule's).
        self.cloud_box = QGroupBox("Particle cloud (section 3)")
        cloud_form = QFormLayout(self.cloud_box)
        self.particles = QSpinBox()
        self.particles.setRange(1, MAX_RUN_PARTICLES)
        self.particles.setKeyboardTracking(False)  # typing 10000 must not recompute 1, 10, 100…
        self.particles.setAccelerated(True)
        self.particles.setToolTip(PARTICLES_TIP)
        self.particles.valueChanged.connect(self._particles_edited)
        self.jitter = SciSpinBox()
        self.jitter.setRange(0.0, 1e6)
        self.jitter.setSingleStep(0.05)
        self.jitter.setToolTip(JITTER_TIP)
        self.jitter.valueChanged.connect(self._jitter_edited)
        row = QHBoxLayout()  # one row: the runs table above keeps its height
        for text, w, tip in (("Particles", self.particles, PARTICLES_TIP),
                             ("Jitter radius", self.jitter, JITTER_TIP)):
            label = QLabel(text)
            label.setToolTip(tip)
            row.addWidget(label)
            row.addWidget(w, 1)
        cloud_form.addRow(row)
        lay.addWidget(self.cloud_box)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        lay.addWidget(self.error)
        lay.addStretch(1)
        self.editors: dict[str, ParamEditor] = {}
        document.scenarioChanged.connect(self.sync)
        document.selectionChanged.connect(lambda _i: self.sync())
        self.sync()

    # ---- building ------------------------------------------------------------------------
    def _rebuild(self, cfg: OptimizerConfig, dataset: bool) -> None:
        for form in (self.hyper_form, self.oracle_form):
            while form.rowCount():
                # keep the schedule combo alive: take it out before the row is deleted
                item = form.itemAt(0, QFormLayout.FieldRole)
                if item is not None and item.widget() is self.schedule:
                    taken = form.takeRow(0)
                    if taken.labelItem is not None and taken.labelItem.widget() is not None:
                        taken.labelItem.widget().deleteLater()
                    continue
                form.removeRow(0)
        self.editors = {}

        def add(form: QFormLayout, name: str) -> None:
            ed = ParamEditor(HYPERPARAMS[name], float(getattr(cfg, name)), tooltip(name))
            ed.valueChanged.connect(lambda v, n=name: self._edit(n, v))
            if ed.slider is not None:  # while dragged, clouds are previewed (Document.set_live)
                ed.slider.sliderPressed.connect(lambda: self._doc.set_live(True))
                ed.slider.sliderReleased.connect(lambda: self._doc.set_live(False))
            label = QLabel(name)
            label.setToolTip(tooltip(name))
            form.addRow(label, ed)
            self.editors[name] = ed

        for name in cfg.info.uses:
            add(self.hyper_form, name)
        add(self.oracle_form, "batch_size")
        if not dataset:
            add(self.oracle_form, "noise")
        self.oracle_form.addRow("schedule", self.schedule)
        if cfg.schedule != "constant":
            add(self.oracle_form, "decay_start")
            add(self.oracle_form, "tau")
        add(self.oracle_form, "avg_tau")

    def sync(self) -> None:
        """Show the selected run; rebuild the form only when the rule or schedule changed."""
        run = self._doc.selected_run()
        self.setEnabled(run is not None)
        if run is None:
            self.formula.setText("no run selected")
            return
        cfg = run.config
        s = self._doc.surface
        dataset = bool(s is not None and s.is_dataset)
        key = (cfg.rule, cfg.schedule != "constant", dataset)
        if key != self._shown:
            self._shown = key
            self._rebuild(cfg, dataset)
        for w, v in ((self.rule, cfg.rule), (self.schedule, cfg.schedule)):
            w.blockSignals(True)
            w.setCurrentIndex(w.findData(v))
            w.blockSignals(False)
        if not self.label.hasFocus() and self.label.text() != run.label:
            self.label.setText(run.label)
        for name, ed in self.editors.items():
            ed.set_value(float(getattr(cfg, name)))
        info = cfg.info
        sched = SCHEDULES[cfg.schedule][1]
        self.formula.setText(f"<b>{info.title}</b><br>{info.formula}<br>"
                             f"<span style='font-size:9pt'>{sched}</span>")
        self.formula.setToolTip(info.description)
        x, y = self._doc.start_of(self._doc.selected)
        for sp, v in ((self.start_x, x), (self.start_y, y), (self.particles, run.particles),
                      (self.jitter, run.jitter)):
            if sp.value() == v:
                continue  # (setValue repaints even when nothing changes)
            sp.blockSignals(True)
            sp.setValue(v)
            sp.blockSignals(False)
        err = self._doc.errors[self._doc.selected] if self._doc.selected < len(self._doc.errors) else None
        self.error.setText(err or "")

    # ---- editing -------------------------------------------------------------------------
    def _edit(self, name: str, value: float) -> None:
        v: float | int = int(value) if HYPERPARAMS[name].kind == "int" else value
        try:
            self._doc.update_config(self._doc.selected, **{name: v})
        except ValueError as e:
            self.error.setText(str(e))

    def _rule_changed(self, _i: int) -> None:
        rule = self.rule.currentData()
        run = self._doc.selected_run()
        if run is None or rule == run.config.rule:
            return
        changes = {"rule": rule}
        if run.config.lr == RULES[run.config.rule].default_lr:
            changes["lr"] = RULES[rule].default_lr
        self._doc.update_config(self._doc.selected, **changes)

    def _schedule_changed(self, _i: int) -> None:
        self._edit_text("schedule", self.schedule.currentData())

    def _edit_text(self, name: str, value: str) -> None:
        try:
            self._doc.update_config(self._doc.selected, **{name: value})
        except ValueError as e:
            self.error.setText(str(e))

    def _label_edited(self) -> None:
        self._doc.update_run(self._doc.selected, label=self.label.text().strip())

    def _start_edited(self, _v: float) -> None:
        self._doc.set_start((self.start_x.value(), self.start_y.value()), self._doc.selected)

    def _particles_edited(self, n: int) -> None:
        self._update_run(particles=int(n))

    def _jitter_edited(self, r: float) -> None:
        self._update_run(jitter=float(r))

    def _update_run(self, **changes) -> None:
        try:
            self._doc.update_run(self._doc.selected, **changes)
        except ValueError as e:
            self.error.setText(str(e))

    def _default_start(self) -> None:
        self._doc.update_run(self._doc.selected, start=None)
