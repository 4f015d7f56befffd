"""The Sweep tab: what it plots equals `sim.sweep`; clicking adds runs; heat maps; laziness."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from gui.views.loss import FLOOR
from sim.simulate import sweep
from tests.gui.analysis_helpers import recompute, show_tab


def show(window, qtbot):
    return show_tab(window, qtbot, window.sweep_tab)


def expected(view):
    return recompute(view, sweep)


def click_at(qtbot, widget, x: float, y: float) -> None:
    """A left click on `widget`'s plot at view coordinates (x, y)."""
    vb = widget.getPlotItem().getViewBox()
    pos = widget.mapFromScene(vb.mapViewToScene(QPointF(x, y)))
    QTest.mouseClick(widget.viewport(), Qt.LeftButton, Qt.NoModifier, pos)


def test_nothing_runs_until_the_tab_is_shown(window, qtbot):
    tab = window.sweep_tab
    window.document.set_surface("himmelblau")
    qtbot.wait(50)
    assert not tab.built  # not even built: start-up does not pay for the tab
    assert window.tabs.tabText(window.tabs.indexOf(tab)) == "Sweep"
    view = tab.view  # built but hidden: still nothing computed
    qtbot.wait(50)
    assert view.result is None and not view.started and view.runner.jobs_started == 0
    show(window, qtbot)
    assert view.started and view.result is not None


def test_curve_is_sims_final_cost_with_best_and_diverged_marked(window, qtbot):
    window.document.set_surface("two_minima")
    view = show(window, qtbot)
    ref = expected(view)
    r = view.result
    np.testing.assert_array_equal(r.final_cost, ref.final_cost)
    estar = window.document.surface.lowest_cost
    div = ref.diverged[0].any(axis=-1)
    assert div.any() and not div.all()  # the default α range reaches instability
    want = np.where(div, np.nan, np.maximum(ref.median_final()[0] - estar, FLOOR))
    np.testing.assert_array_equal(view.final_curve.xData, ref.values)
    np.testing.assert_allclose(view.final_curve.yData, want, equal_nan=True)
    np.testing.assert_array_equal(view.diverged_marks.xData, ref.values[div])
    i2, i = ref.best_index()
    assert view.best_mark.xData[0] == ref.values[i]
    assert view.best_line.value() == pytest.approx(np.log10(ref.values[i]))
    assert np.allclose(ref.values[1:] / ref.values[:-1], 10 ** 0.5)  # 1e-4 … 1 in factors ≈ 3
    assert f"α = {ref.values[i]:.3g}" in view.summary.text()


def test_seeds_give_a_band(window, qtbot):
    view = show(window, qtbot)
    view.form.set_value("noise", 2.0)
    view.seeds.setValue(3)
    view.range1.hi.setValue(1e-3)
    view.refresh_now()
    qtbot.waitUntil(lambda: view.result is not None and view.result.seeds.size == 3, timeout=30_000)
    ref = expected(view)
    np.testing.assert_array_equal(view.result.final_cost, ref.final_cost)
    ok = ~ref.diverged[0].any(axis=-1)
    lo = np.maximum(ref.final_cost[0].min(axis=-1) - window.document.surface.lowest_cost, FLOOR)
    np.testing.assert_allclose(view.band_lo.yData, lo[ok])
    assert view.band.isVisible()


def test_clicking_a_point_adds_that_run(window, qtbot):
    window.document.set_surface("himmelblau")
    view = show(window, qtbot)
    doc = window.document
    n = len(doc.scenario.runs)
    r = view.result
    ok = np.flatnonzero(~r.diverged[0].any(axis=-1))
    i = int(ok[len(ok) // 2])
    x = np.log10(r.values[i])
    y = np.log10(view.final_curve.yData[i])
    qtbot.wait(50)
    click_at(qtbot, view.curve_plot, x, y)
    assert len(doc.scenario.runs) == n + 1
    run = doc.scenario.runs[-1]
    assert run.config.lr == r.values[i] and run.config.rule == r.config.rule
    assert doc.start_of(n) == r.start and doc.selected == n
    # the button adds the best setting
    view.add_best.click()
    assert doc.scenario.runs[-1].config.lr == r.values[r.best_index()[1]]


def test_two_hyperparameters_give_a_heat_map(window, qtbot):
    doc = window.document
    doc.set_surface("himmelblau")
    doc.set_selected(1)  # momentum
    view = show(window, qtbot)
    view.mode.setCurrentIndex(view.mode.findData(2))
    assert view.range2.name.currentData() == "momentum"
    view.range1.points.setValue(5)
    view.range2.points.setValue(4)
    view.refresh_now()
    qtbot.waitUntil(lambda: view.result.name2 == "momentum" and view.result.values.size == 5, timeout=30_000)
    ref = expected(view)
    assert view.heat.image.shape == (4, 5)
    med = ref.median_final()
    ok = np.isfinite(med)
    want = np.log10(np.maximum(med[ok] - doc.surface.lowest_cost, FLOOR))
    np.testing.assert_allclose(view.heat.image[ok], want)
    assert (view.heat_div.image[..., 3] > 0).tolist() == (~ok).tolist()
    i2, i = ref.best_index()
    xs, ys = view._heat_coords(ref)
    assert view.heat_best.data[0]["x"] == pytest.approx(xs[i]) and view.heat_best.data[0]["y"] == pytest.approx(ys[i2])
    n = len(doc.scenario.runs)
    click_at(qtbot, view.heat_plot, xs[1], ys[2])
    assert len(doc.scenario.runs) == n + 1
    cfg = doc.scenario.runs[-1].config
    assert (cfg.lr, cfg.momentum) == (ref.values[1], ref.values2[2])


def test_surface_change_recomputes(window, qtbot):
    view = show(window, qtbot)
    before = view.result
    window.document.set_surface("six_hump_camel")
    qtbot.waitUntil(lambda: view.result is not None and view.result is not before, timeout=30_000)
    np.testing.assert_array_equal(view.result.final_cost, expected(view).final_cost)


def test_big_sweep_runs_in_background_and_flipping_back_is_cached(window, qtbot):
    view = show(window, qtbot)
    view.seeds.setValue(40)
    view.steps.setValue(4000)
    view.refresh_now()
    assert view.runner.busy and view.job_bar.isVisible()  # a worker thread, with progress and Cancel
    qtbot.waitUntil(lambda: not view.runner.busy, timeout=60_000)
    big = view.result
    assert big.seeds.size == 40 and big.steps == 4000
    view.steps.setValue(3000)
    view.refresh_now()
    qtbot.waitUntil(lambda: not view.runner.busy, timeout=60_000)
    assert view.result.steps == 3000
    jobs = view.runner.jobs_started
    view.steps.setValue(4000)
    view.refresh_now()
    assert view.result is big and view.runner.jobs_started == jobs and not view.runner.busy


def test_dark_theme(window, qtbot):
    view = show(window, qtbot)
    window.options.set("theme", "dark")
    assert view.curve_plot.backgroundBrush().color().name() == "#16181d"
    assert len(view.final_curve.xData) == view.result.values.size
