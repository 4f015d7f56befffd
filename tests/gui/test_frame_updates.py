"""What the views and bars show after the cheap per-frame and per-edit updates."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QApplication

from gui.views.loss import FLOOR


def _cost_span(window) -> tuple[float, float]:
    """log10 of the lowest and highest value the cost plot's curves hold."""
    assert window.loss.cost_plot.log_y
    ys = [np.log10(np.maximum(c.yData, FLOOR)) for c in window.loss.cost_plot.curves if c.yData is not None and len(c.yData)]
    return float(min(y.min() for y in ys)), float(max(y.max() for y in ys))


def test_loss_range_follows_the_curves_after_an_edit(window, qtbot):
    doc = window.document
    vb = window.loss.cost_plot.getPlotItem().getViewBox()
    doc.set_cursor(200)
    QApplication.processEvents()
    before = vb.viewRange()[1]
    lo, hi = _cost_span(window)
    assert before[0] <= lo + 1e-9 and before[1] >= hi - 1e-9
    doc.update_config(0, lr=doc.scenario.runs[0].config.lr * 30)  # a much faster or diverging run
    QApplication.processEvents()
    vb.prepareForPaint()  # (what the next paint does)
    lo, hi = _cost_span(window)
    y0, y1 = vb.viewRange()[1]
    assert y0 <= lo + 1e-9 and y1 >= hi - 1e-9
    for t in (0, 300, 50):  # the cursor moves: markers and line follow, the range stays
        doc.set_cursor(t)
        QApplication.processEvents()
        vb.prepareForPaint()
        assert vb.viewRange()[1] == [y0, y1]
        assert window.loss.cost_plot.cursor_line.value() == t


def test_status_and_playback_labels_follow_the_cursor(window):
    doc = window.document
    sb, bar = window.statusBar(), window.playback_bar
    widths = []
    size = window.size()
    for t in (0, 7, 150, 3, doc.max_cursor):
        doc.set_cursor(t)
        assert f"step {t} / {doc.max_cursor}" in sb.step_label.text()
        assert bar.step_label.text() == f"t = {t} / {doc.max_cursor}"
        traj = doc.selected_result()
        assert f"E(θ) = {traj.cost[traj.at(t)]:.5g}" in sb.run_label.text()
        for label in (sb.step_label, sb.run_label, bar.step_label):
            assert label.width() >= label.sizeHint().width()  # the whole text shows
        widths.append(sb.run_label.width())
    assert widths == sorted(widths)  # playback only widens the label: the bar keeps still
    QApplication.processEvents()
    assert window.size() == size  # ... and never the window (every view would re-lay out)
    room = sb.width() - sb.step_label.width() - 48
    assert sb.run_label.width() <= room
    doc.set_selected(1)  # another run: the label fits its own text again
    assert sb.run_label.width() == sb.run_label.sizeHint().width()
    assert doc.scenario.runs[1].title in sb.run_label.text()


def test_editors_show_an_edit_of_another_run_without_change(window):
    doc = window.document
    doc.set_selected(0)
    editor = window.runs_panel.editor
    lr0 = editor.editors["lr"].value()
    doc.update_config(1, lr=doc.scenario.runs[1].config.lr * 2)
    assert editor.editors["lr"].value() == lr0 == doc.scenario.runs[0].config.lr
    doc.update_config(0, lr=lr0 * 2)
    assert editor.editors["lr"].value() == doc.scenario.runs[0].config.lr
    slider = editor.editors["lr"].slider
    assert slider.value() == editor.editors["lr"]._to_slider(lr0 * 2)


def test_hidden_loss_tab_draws_when_shown(window):
    doc = window.document
    loss = window.loss
    assert loss.currentWidget() is loss.cost_plot
    doc.update_config(1, lr=doc.scenario.runs[1].config.lr * 2)
    traj = doc.results[1]
    np.testing.assert_array_equal(loss.cost_plot.curves[1].yData, np.maximum(traj.cost - (doc.surface.lowest_cost or 0.0),
                                                                              FLOOR))
    loss.setCurrentWidget(loss.grad_plot)  # drawn on show, with the edit
    np.testing.assert_array_equal(loss.grad_plot.curves[1].yData, np.maximum(traj.grad_norm, FLOOR))
    doc.set_cursor(40)
    assert loss.grad_plot.cursor_line.value() == 40
    assert len(loss.grad_plot.markers.data) == len(doc.scenario.runs)


def test_a_saved_theme_is_in_place_before_the_window_shows(qtbot, settings):
    from gui.main_window import MainWindow
    from gui.theme import THEMES, apply_qt_palette

    settings.setValue("theme", "dark")
    w = MainWindow(settings=settings, autoplay=False, restore=False)
    qtbot.addWidget(w)
    try:
        dark = THEMES["dark"]
        assert w.options["theme"] == "dark" and w.theme_actions["dark"].isChecked()
        assert w.contour.backgroundBrush().color().name() == dark.background
        assert w.loss.cost_plot.backgroundBrush().color().name() == dark.background
        assert QApplication.instance().palette().window().color().name() != "#efefef"
    finally:
        apply_qt_palette(THEMES["light"])  # the palette belongs to the application


def test_loss_tabs_are_built_when_first_shown_with_the_current_look(window):
    """The ‖g‖ and energy plots are made when their tab is first shown (start-up builds the
    cost plot only), and then hold what they would have held had they been built at once."""
    from gui.theme import THEMES
    from gui.views.loss import _SeriesPlot

    doc, loss = window.document, window.loss
    assert [isinstance(loss.widget(i), _SeriesPlot) for i in range(3)] == [True, False, False]
    window.options.set("theme", "dark")
    doc.set_selected(2)
    doc.set_cursor(30)
    loss.setCurrentIndex(1)  # as a click on the tab does
    grad = loss.currentWidget()
    assert isinstance(grad, _SeriesPlot) and grad is loss.grad_plot and loss.tabText(1) == "‖g‖"
    assert grad.backgroundBrush().color().name() == THEMES["dark"].background
    assert grad.log_y == bool(window.options["loss_log"])
    for i, traj in enumerate(doc.results):
        np.testing.assert_array_equal(grad.curves[i].yData, np.maximum(traj.grad_norm, FLOOR))
    assert grad.cursor_line.value() == 30 and len(grad.markers.data) == len(doc.scenario.runs)
    loss.setCurrentIndex(2)
    energy = loss.currentWidget()
    assert energy is loss.energy_plot and loss.tabText(2) == "Energy"
    traj = doc.results[2]
    np.testing.assert_array_equal(energy.curves[1].yData, traj.kinetic)
    assert len(energy.curves[2].yData) == len(traj)
    assert energy.cursor_line.value() == 30
    assert [loss.tabToolTip(i) != "" for i in range(3)] == [True, True, True]
