"""The Basins tab: the map is `sim.basins`; live previews while dragging; cancel; cache."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF

from gui.views.analysis import DIVERGED_COLOR
from sim.simulate import DIVERGED, basins
from tests.gui.analysis_helpers import recompute, show_tab


def show(window, qtbot, grid=None, surface="two_minima"):
    return show_tab(window, qtbot, window.basins_tab, surface, grid=grid)


def expected(view, **changes):
    return recompute(view, basins, **changes)


def rendered(view, ix: int, iy: int) -> str:
    """The colour the image item paints for grid start (iy, ix)."""
    view.image.render()
    img = view.image.qimage
    return img.pixelColor(ix, img.height() - 1 - iy if view.image.image.shape[0] != img.height() else iy).name()


def test_labels_are_sims_basins(window, qtbot):
    view = show(window, qtbot, grid=24)
    ref = expected(view)
    assert view.result.label.shape == (24, 24)
    np.testing.assert_array_equal(view.image.image, ref.label)
    np.testing.assert_array_equal(view.result.steps_to_converge, ref.steps_to_converge)
    assert set(np.unique(ref.label)) >= {0, 1}
    # the legend names both minima with their share of the starts
    text = view.legend.text().replace("&nbsp;", " ")
    for k, share in ref.fractions().items():
        if k >= 0:
            assert f"{100 * share:.1f} %" in text
    assert "global" in text and "local" in text
    # level sets and minima are drawn over the map
    assert len(view.isolines.xData) > 100 and len(view.minima.data) == 2


def test_changing_lr_changes_the_map(window, qtbot):
    view = show(window, qtbot, grid=24)
    before = view.image.image.copy()
    view.form.set_value("lr", 0.3)
    qtbot.waitUntil(lambda: view.result.config.lr == 0.3, timeout=30_000)
    assert not np.array_equal(view.image.image, before)
    np.testing.assert_array_equal(view.image.image, expected(view).label)


def test_huge_lr_paints_starts_in_the_diverged_colour(window, qtbot):
    view = show(window, qtbot, grid=24, surface="himmelblau")
    view.form.set_value("lr", 5.0)
    qtbot.waitUntil(lambda: view.result.config.lr == 5.0, timeout=30_000)
    assert (view.result.label == DIVERGED).all()
    # the look-up table maps label −2 to the diverged colour, and that is what is painted
    assert pg.mkColor(*view.image.lut[0]).name() == DIVERGED_COLOR["light"]
    assert rendered(view, 3, 5) == DIVERGED_COLOR["light"]
    assert "diverged <b>100.0 %" in view.legend.text().replace("&nbsp;", " ")


def test_colour_by_cost_and_steps(window, qtbot):
    view = show(window, qtbot, grid=24)
    for mode in ("cost", "steps"):
        view.color_by.setCurrentIndex(view.color_by.findData(mode))
        assert view.image.image.shape == (24, 24, 4) and view.colorbar.isVisible()
    view.color_by.setCurrentIndex(view.color_by.findData("minimum"))
    assert view.image.image.shape == (24, 24) and not view.colorbar.isVisible()


def test_hover_tells_where_a_start_went(window, qtbot):
    view = show(window, qtbot, grid=24)
    r = view.result
    iy, ix = np.argwhere(r.label == 0)[0]
    text = view.describe(iy, ix)
    assert "→ A: " in text and f"{r.final_cost[iy, ix]:.4g}" in text
    vb = view.plot.getPlotItem().getViewBox()
    view._mouse_moved(vb.mapViewToScene(QPointF(r.x[ix], r.y[iy])))
    assert view.hover.isVisible() and view.hover.textItem.toPlainText() == text


def test_drag_previews_live_then_release_computes_full_grid(window, qtbot):
    view = show(window, qtbot, grid=24)
    view.grid.setValue(256)
    view.refresh_now()
    qtbot.waitUntil(lambda: view.result.label.shape == (256, 256), timeout=60_000)
    jobs = view.runner.jobs_started
    slider = view.form.editors["lr"].slider
    slider.setSliderDown(True)
    slider.setValue(slider.value() + 60)  # as a drag does: value changes with the slider held
    live = view.result
    g = live.label.shape[0]
    assert 32 <= g <= 160 and g == view.live_grid
    assert live.config.lr == view.form.config().lr
    assert view.runner.jobs_started == jobs and not view.runner.busy  # computed at once, no thread
    assert view.live_ms and view.live_ms[-1][0] == g
    slider.setSliderDown(False)  # release: the full grid, in the background
    view.refresh_now()
    qtbot.waitUntil(lambda: view.result.label.shape == (256, 256) and not view.runner.busy, timeout=60_000)
    assert view.result.config.lr == live.config.lr and view.runner.jobs_started == jobs + 1


def test_cancel_leaves_the_previous_map(window, qtbot):
    view = show(window, qtbot, grid=24)
    previous = view.result
    image = view.image.image.copy()
    view.grid.setValue(1024)
    view.steps.setValue(4000)
    view.refresh_now()
    assert view.runner.busy and view.job_bar.isVisible()
    view.job_bar.cancel_button.click()
    qtbot.waitUntil(lambda: not view.runner.busy, timeout=5000)
    assert not view.job_bar.isVisible() and "Cancelled" in view.summary.text()
    qtbot.wait(300)
    assert view.result is previous
    np.testing.assert_array_equal(view.image.image, image)


def test_flipping_back_is_instant_from_the_cache(window, qtbot):
    view = show(window, qtbot, grid=128)
    first = view.result
    assert view.runner.jobs_started >= 1  # 128² × 1000 steps: a worker thread
    view.form.set_value("lr", 0.05)
    view.refresh_now()
    qtbot.waitUntil(lambda: view.result.config.lr == 0.05 and not view.runner.busy, timeout=60_000)
    jobs = view.runner.jobs_started
    view.form.set_value("lr", first.config.lr)
    view.refresh_now()
    assert view.result is first and view.runner.jobs_started == jobs and not view.runner.busy


def test_surface_change_recomputes(window, qtbot):
    view = show(window, qtbot, grid=24)
    window.document.set_surface("six_hump_camel")
    qtbot.waitUntil(lambda: view.result is not None and view.result.minima.shape[0] == 6 and not view.runner.busy, timeout=30_000)
    np.testing.assert_array_equal(view.image.image, expected(view).label)
    assert len(view.minima.data) == 6


def test_click_adds_a_run_from_that_start(window, qtbot):
    view = show(window, qtbot, grid=24)
    doc = window.document
    n = len(doc.scenario.runs)
    r = view.result
    view.add_run_from(float(r.x[5]), float(r.y[7]))
    assert len(doc.scenario.runs) == n + 1
    assert doc.start_of(n) == (r.x[5], r.y[7]) and doc.scenario.runs[-1].config == r.config


def test_legend_of_a_surface_with_many_minima_stays_short(window, qtbot):
    """A custom Rastrigin has 121 minima: the legend names the global one and the seven that
    drew the most starts and sums up the other 113, so the shares still add up to the map."""
    from gui.views.basins import LEGEND_MINIMA

    window.document.set_custom_surface("20 + x^2 - 10*cos(2*pi*x) + y^2 - 10*cos(2*pi*y)", (-5, 5, -5, 5))
    view = show(window, qtbot, grid=24, surface=None)
    r = view.result
    assert r.minima.shape[0] == 121
    text = view.legend.text().replace("&nbsp;", " ")
    assert text.count("<td") == LEGEND_MINIMA + int((r.label == -1).any()) + int((r.label == -2).any())
    assert f"{121 - (LEGEND_MINIMA - 1)} other minima" in text
    frac = r.fractions()
    glob = {k for k, m in enumerate(window.document.surface.minima) if m.kind == "global"}
    assert glob == {0}  # named first whatever its share
    top = sorted(range(121), key=lambda k: (k not in glob, -frac.get(k, 0.0)))[:LEGEND_MINIMA - 1]
    rest = sum(v for k, v in frac.items() if k >= 0 and k not in top)
    assert f"{100 * rest:.1f} %" in text
    assert "e-" not in text  # coordinates within rounding of zero read 0
    assert view._names == []  # 121 names would cover the map; hovering names a minimum
    assert len(view.minima.data) == 121


def test_map_what_is_shown_after_zooming(window, qtbot):
    """Zoom into a basin boundary, map the area on screen: the starts span exactly that
    area, the labels are sim's for that box; "Whole box" goes back."""
    view = show(window, qtbot, grid=24)
    whole = view.result.box
    vb = view.plot.getPlotItem().getViewBox()
    vb.setRange(xRange=(-0.5, 0.5), yRange=(-0.25, 0.75), padding=0)
    (x0, x1), (y0, y1) = vb.viewRange()  # the square aspect may widen one side
    view.map_visible.click()
    qtbot.waitUntil(lambda: view.result is not None and not view.runner.busy
                    and view.result.box != whole, timeout=60_000)
    r = view.result
    assert r.box == pytest.approx((x0, x1, y0, y1))
    assert r.x[0] == pytest.approx(x0) and r.x[-1] == pytest.approx(x1)
    assert r.y[0] == pytest.approx(y0) and r.y[-1] == pytest.approx(y1)
    np.testing.assert_array_equal(r.label, expected(view).label)
    assert "(zoomed)" in view.plot.getPlotItem().titleLabel.text
    assert f"θ₁ ∈ [{r.box[0]:.4g}, {r.box[1]:.4g}]" in view.summary.text()
    assert view.map_whole.isEnabled()
    # The plot shows the mapped area without padding (the square aspect may add a margin).
    (a0, a1), (b0, b1) = vb.viewRange()
    assert a0 <= x0 + 1e-9 and a1 >= x1 - 1e-9 and b0 <= y0 + 1e-9 and b1 >= y1 - 1e-9
    assert min(a1 - a0 - (x1 - x0), b1 - b0 - (y1 - y0)) < 1e-9 * (x1 - x0)
    view.map_whole.click()
    qtbot.waitUntil(lambda: view.result is not None and not view.runner.busy and view.result.box == whole,
                    timeout=60_000)
    assert not view.map_whole.isEnabled()
    assert "(zoomed)" not in view.plot.getPlotItem().titleLabel.text and "θ₁ ∈" not in view.summary.text()
