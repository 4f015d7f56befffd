"""The status bar: the step, and θ, E, ‖g‖ and α_t of the selected run at the cursor."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel, QStatusBar

from gui.document import Document


def set_steady_text(label: QLabel, text: str, shrink: bool = False, least: int = 0,
                    most: int | None = None, plain: str | None = None) -> None:
    """Set a label's text, its size fixed at the widest text so far (with `shrink`, at this
    text's; never below `least` pixels, nor above `most`): a number that changes on every
    playback frame then repaints the label alone instead of re-laying out the bar around it.

    `plain` is the text without its markup, if it has any: between shrinks the width is
    measured on it with the font's metrics (a rich-text size hint lays out a document)."""
    label.setText(text)
    advance = label.fontMetrics().horizontalAdvance(plain if plain is not None else text)
    known = getattr(label, "_steady_extra", None)
    if shrink or known is None:
        hint = label.sizeHint()
        known = label._steady_extra = (hint.width() - advance, hint.height())
        w = max(hint.width(), least, 0 if shrink else label.minimumWidth())
    else:  # (+1: the hint rounds the text's fractional width up, the advance to the nearest)
        w = max(advance + known[0] + 1, least, label.minimumWidth())
    if most is not None:
        w = max(min(w, most), least)
    if label.minimumSize() != label.maximumSize() or (label.minimumWidth(), label.minimumHeight()) != (w, known[1]):
        label.setFixedSize(w, known[1])


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
        document.cursorChanged.connect(lambda _t: self.sync(shrink=False))
        for sig in (document.selectionChanged, document.scenarioChanged):
            sig.connect(lambda *_a: self.sync())
        document.readyChanged.connect(lambda _r: self.clearMessage())
        self.sync()

    def sync(self, shrink: bool = True) -> None:
        """Show the cursor's step and the selected run there; `shrink`: the labels may
        narrow (playback only lets them widen, so the bar keeps still)."""
        doc = self._doc
        t = doc.cursor
        set_steady_text(self.step_label, f"  step {t} / {doc.max_cursor}  ", shrink)
        run, traj = doc.selected_run(), doc.selected_result()
        if run is None or traj is None:
            set_steady_text(self.run_label, "", shrink)
            self.alert.setText("")
            return
        k = traj.at(t)
        x, y = traj.theta[k]
        # The label takes at most the room the bar has: a fixed width wider than that would
        # make the whole window grow (and every view in it re-lay out) while playing.
        room = self.width() - self.step_label.width() - self.alert.sizeHint().width() - 48
        values = (f"{run.title}:  θ = ({x:.4g}, {y:.4g})   E(θ) = {traj.cost[k]:.5g}   "
                  f"‖g‖ = {traj.grad_norm[k]:.3g}   α_t = {traj.lr[k]:.3g}")
        set_steady_text(self.run_label, f"<span style='color:{run.color}'>■</span> {html.escape(values)}",
                        shrink, most=max(room, 0), plain=f"■ {values}")
        if not shrink:
            return  # which runs diverged changes with the results, not with the cursor
        diverged = [f"{r.title} diverged at step {tr.diverged_at}"
                    for r, tr in zip(doc.scenario.runs, doc.results)
                    if tr is not None and tr.diverged_at is not None]
        self.alert.setText("   ".join(diverged[:2]) + (" …" if len(diverged) > 2 else ""))

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        if ev.size().width() != ev.oldSize().width():
            self.sync()  # the room of the selected run's label changed
