"""The window end to end: what the views show after each kind of edit."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from sim.scenario import load_scenario, to_dict
from tests.gui.conftest import drawn_rows, trail_lengths


def test_opens_with_default_scenario(window):
    doc = window.document
    assert doc.ready and len(doc.scenario.runs) == 3
    assert len(window.contour._runs) == 3
    window.document.set_cursor(100)
    lens = trail_lengths(window)
    assert lens == [101, 101, 101]
    traj = doc.results[0]
    rows = drawn_rows(window, 0)
    assert rows[0] == 0 and rows[-1] == 100 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(window.contour._runs[0].trail.xData, traj.theta[rows, 0])
    assert window.contour.image.image is not None
    assert len(window.contour.isolines.xData) > 100
    assert len(window.loss.cost_plot.curves[0].xData) == len(traj)


def test_changing_surface_changes_background_and_trajectories(window):
    img0 = window.contour.image.image.copy()
    iso0 = len(window.contour.isolines.xData)
    window.document.set_cursor(50)
    x0 = window.contour._runs[0].trail.xData.copy()
    combo = window.surface_panel.combo
    combo.setCurrentIndex(combo.findData("himmelblau"))
    assert window.document.scenario.surface == "himmelblau"
    img1 = window.contour.image.image
    assert img1.shape != img0.shape or not np.allclose(img1, img0)
    assert len(window.contour.isolines.xData) != iso0
    assert not np.array_equal(window.contour._runs[0].trail.xData, x0)
    assert len(window.contour.minima.data) == 4 + len(window.document.surface.saddles)


def test_add_and_remove_runs_change_curves(window):
    window.runs_panel.add_button.click()
    assert len(window.document.scenario.runs) == 4
    assert len(window.contour._runs) == 4
    assert len(window.loss.cost_plot.curves) == 4
    assert trail_lengths(window)[3] >= 1
    window.runs_panel.dup_button.click()
    assert len(window.contour._runs) == 5
    window.document.set_selected(0)
    window.runs_panel.remove_button.click()
    window.runs_panel.remove_button.click()
    assert len(window.contour._runs) == 3
    assert window.runs_panel.table.rowCount() == 3


def test_editing_lr_changes_trajectory(window):
    window.document.set_selected(0)
    window.document.set_cursor(window.document.max_cursor)
    before = window.contour._runs[0].trail.xData.copy()
    lr = window.runs_panel.editor.editors["lr"]
    lr.spin.setValue(2e-3)
    assert window.document.scenario.runs[0].config.lr == 2e-3
    after = window.contour._runs[0].trail.xData
    assert not np.array_equal(before, after)
    # the slider drives the same value, on a log scale
    lr.slider.setValue(lr.slider.value() - 100)
    assert window.document.scenario.runs[0].config.lr < 2e-3


def test_editor_shows_only_the_rules_hyperparameters(window):
    ed = window.runs_panel.editor
    window.document.set_selected(0)
    assert "momentum" not in ed.editors and "lr" in ed.editors
    window.document.set_selected(2)
    assert {"lr", "beta1", "beta2", "eps"} <= set(ed.editors)
    ed.rule.setCurrentIndex(ed.rule.findData("momentum"))
    assert window.document.scenario.runs[2].config.rule == "momentum"
    assert "momentum" in ed.editors and "beta1" not in ed.editors


def test_click_on_view_moves_selected_start(window, qtbot):
    window.document.set_selected(1)
    vb = window.contour.vb
    scene = vb.mapViewToScene(QPointF(0.5, 0.5))
    pos = window.contour.mapFromScene(scene)
    QTest.mouseClick(window.contour.viewport(), Qt.LeftButton, Qt.NoModifier, pos)
    start = window.document.scenario.runs[1].start
    assert abs(start[0] - 0.5) < 0.05 and abs(start[1] - 0.5) < 0.05
    assert window.document.scenario.runs[0].start == (-1.5, 2.0)
    assert abs(window.document.results[1].theta[0, 0] - start[0]) < 1e-12
    window.contour.click_at(-1.0, 1.0, shift=True)
    assert all(r.start == (-1.0, 1.0) for r in window.document.scenario.runs)
    window.document.set_cursor(0)
    assert window.contour._runs[0].trail.xData[0] == -1.0


def test_play_and_scrub_change_drawn_length(window, qtbot):
    pb = window.playback
    window.document.set_cursor(0)
    pb.set_speed(600)
    pb.advance(0.5)  # one timer tick worth 0.5 s
    assert window.document.cursor == 300
    assert trail_lengths(window) == [301, 301, 301]
    pb.play()
    qtbot.waitUntil(lambda: window.document.cursor > 350, timeout=3000)
    pb.pause()
    window.playback_bar.timeline.setValue(42)
    assert window.document.cursor == 42
    assert trail_lengths(window) == [43, 43, 43]
    QTest.keyClick(window, Qt.Key_Right)
    assert window.document.cursor == 43
    QTest.keyClick(window, Qt.Key_Home)
    assert window.document.cursor == 0


def test_save_open_round_trip(window, tmp_path):
    doc = window.document
    doc.update_config(0, lr=0.0025)
    doc.set_start((0.1, 0.2), 2)
    path = tmp_path / "s.json"
    assert window.save_path(str(path))
    saved = to_dict(doc.scenario)
    window.new_scenario()
    assert doc.scenario.runs[0].config.lr != 0.0025
    assert window.open_path(str(path))
    now = to_dict(doc.scenario)
    assert now == to_dict(load_scenario(path))
    assert now["runs"] == saved["runs"] and now["steps"] == saved["steps"]
    assert now["surface"]["name"] == saved["surface"]["name"]
    assert window.contour._runs[2].trail.xData[0] == 0.1


def test_corrupt_file_leaves_window_unchanged(window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    before = to_dict(window.document.scenario)
    window.document.set_cursor(77)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"surface": "nowhere", "runs": []}))
    assert not window.open_path(str(bad))
    bad.write_text("{ not json")
    assert not window.open_path(str(bad))
    assert len(shown) == 2 and "nowhere" in shown[0] and "JSON" in shown[1]
    assert to_dict(window.document.scenario) == before
    assert window.document.cursor == 77
    assert trail_lengths(window) == [78, 78, 78]


def test_loss_view_axes_and_energy(window):
    doc = window.document
    window.options.set("loss_examples", True)
    assert window.loss.cost_plot.getPlotItem().getAxis("bottom").labelText.startswith("examples")
    window.options.set("average", True)
    assert len(window.loss.cost_plot.dashed[0].xData) == len(doc.results[0])
    assert len(window.contour._runs[0].avg.xData) == doc.cursor + 1
    doc.set_selected(1)
    traj = doc.results[1]
    energy = window.loss.energy_plot.curves
    np.testing.assert_allclose(energy[1].yData, traj.kinetic)
    assert len(energy[2].yData) == len(traj)


def test_status_bar_reports_divergence(window):
    doc = window.document
    doc.update_config(0, lr=0.05)
    traj = doc.results[0]
    assert traj.diverged_at is not None
    assert f"diverged at step {traj.diverged_at}" in window.statusBar().alert.text()
    row_status = window.runs_panel.table.item(0, 5).text()
    assert row_status.startswith("diverged")


def test_overlays_and_probe(window):
    for name in ("velocity", "gradient", "field"):
        window.options.set(name, True)
    window.document.set_cursor(10)
    assert len(window.contour._runs[1].vel.xData) == 6
    assert len(window.contour._runs[1].grad.xData) == 6
    assert len(window.contour.field.xData) > 100
    window.contour.probe_at(0.0, 0.0)
    assert "E = 1" in window.contour.probe_text.textItem.toPlainText()
    window.options.set("theme", "dark")
    assert window.contour.backgroundBrush().color().name() == "#16181d"


def test_warm_up_prepares_the_batch_kernel_after_the_window_is_ready(window, qtbot):
    from sim import kernels as K

    assert window.document.ready
    qtbot.waitUntil(lambda: window._warmup is None, timeout=120_000)
    # Clouds, sweeps, basin maps and restarts then start without compiling in the GUI thread,
    # and so does the hover probe's point evaluation.
    code = window.document.scenario.make_surface().code
    assert K.kernel("run_particles", code).signatures
    assert K.kernel("eval_points", code).signatures


def test_show_when_ready_shows_the_window_with_its_results(qtbot, settings):
    """On a warm cache the window shows with the scenario computed and drawn in its first
    paint; the rest of the warm-up (batch kernels) waits until that paint is done."""
    from gui.app import configure_pyqtgraph
    from gui.main_window import MainWindow, show_when_ready

    configure_pyqtgraph()
    w = MainWindow(settings=settings, autoplay=False, restore=False)
    qtbot.addWidget(w)
    show_when_ready(w, wait=60.0)  # (a cold cache compiles in the thread: allow for it)
    assert w.isVisible() and w.document.ready
    assert w.statusBar().currentMessage() == ""
    traj = w.document.results[0]
    assert len(w.loss.cost_plot.curves[0].xData) == len(traj)
    assert w.contour.image.image is not None and len(w.contour.isolines.xData) > 100
    assert not w._warmup.resumed and not w._fast_prep.isRunning()
    qtbot.waitUntil(lambda: w._warmup is None or w._warmup.resumed, timeout=1000)
    qtbot.waitUntil(lambda: w._warmup is None, timeout=120_000)


def test_show_when_ready_does_not_wait_for_a_compile(qtbot, settings, monkeypatch):
    """Kernels that take long (compiling on an empty cache) do not keep the window hidden:
    it shows after the wait, says so, and computes when the thread is done."""
    import time

    import gui.workers as workers
    from gui.app import configure_pyqtgraph
    from gui.main_window import MainWindow, show_when_ready

    prepare = workers._prepare_core
    monkeypatch.setattr(workers, "_prepare_core", lambda s: (time.sleep(1.5), prepare(s)))
    configure_pyqtgraph()
    w = MainWindow(settings=settings, autoplay=False, restore=False)
    qtbot.addWidget(w)
    t0 = time.perf_counter()
    show_when_ready(w, wait=0.2)
    assert time.perf_counter() - t0 < 1.0
    assert w.isVisible() and not w.document.ready
    assert w.statusBar().currentMessage() == "Preparing numerical kernels…"
    assert w.wait_ready()
    assert len(w.loss.cost_plot.curves[0].xData) == len(w.document.results[0])
    qtbot.waitUntil(lambda: w._warmup is None, timeout=120_000)
