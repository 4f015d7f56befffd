"""The status bar: the step, and θ, E, ‖g‖ and α_t of the selected run at the cursor."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from gui.document import Document


class StatusBar(QStatusBar):
    """Observes the document; says plainly when a run diverged."""

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self._doc = document
        self.step_label = QLabel()
        self.run_label = QLabel()
        self.alert = QLabel()
        self.alert.setStyleSheet("color: #c62828; font-weight: bold;")
        self.addPermanentWidget(self.run_label)
        self.addPermanentWidget(self.alert)
        self.addPermanentWidget(self.step_label)
        for sig in (document.cursorChanged, document.selectionChanged, document.scenarioChanged):
            sig.connect(self.sync)
        document.readyChanged.connect(lambda _r: self.clearMessage())
        self.sync()

    def sync(self, *_args) -> None:
        doc = self._doc
        t = doc.cursor
        self.step_label.setText(f"  step {t} / {doc.max_cursor}  ")
        run, traj = doc.selected_run(), doc.selected_result()
        if run is None or traj is None:
            self.run_label.setText("")
            self.alert.setText("")
            return
        k = traj.at(t)
        x, y = traj.theta[k]
        self.run_label.setText(
            f"<span style='color:{run.color}'>■</span> {run.title}:  θ = ({x:.4g}, {y:.4g})   "
            f"E(θ) = {traj.cost[k]:.5g}   ‖g‖ = {traj.grad_norm[k]:.3g}   α_t = {traj.lr[k]:.3g}")
        diverged = [f"{r.title} diverged at step {tr.diverged_at}"
                    for r, tr in zip(doc.scenario.runs, doc.results)
                    if tr is not None and tr.diverged_at is not None]
        self.alert.setText("   ".join(diverged[:2]) + (" …" if len(diverged) > 2 else ""))
