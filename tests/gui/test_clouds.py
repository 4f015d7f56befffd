"""Particle clouds in the window: what the contour and loss views draw for a run with P > 1,
and the editors that set P and the jitter radius."""

from __future__ import annotations

import numpy as np
import pytest

from gui.presets import PRESET_DIR
from gui.views.loss import FLOOR
from sim import OptimizerConfig
from sim.cloud_geometry import SIGMA_LEVELS
from sim.scenario import PALETTE, Run, Scenario, load_scenario


def _cloud_scenario(particles: int = 600) -> Scenario:
    cfg = OptimizerConfig("gd", lr=0.1, noise=2.0, batch_size=1)
    runs = (Run(cfg, "cloud", (-2.5, 1.5), 0, PALETTE[0], True, particles, 0.2),
            Run(OptimizerConfig("gd", lr=0.1), "plain", (-2.5, 1.5), 0, PALETTE[1]))
    return Scenario("quadratic", {"kappa": 4.0, "angle": 0.0}, runs, 300, 0, "clouds")


@pytest.fixture
def cloudy(window):
    window.document.set_scenario(_cloud_scenario())
    return window


def test_document_computes_a_cloud_only_for_ensembles(cloudy):
    doc = cloudy.document
    cloud = doc.cloud_of(0)
    assert cloud is not None and doc.cloud_of(1) is None
    assert cloud.theta.shape[1] == 600
    # jittered starts in a disc of radius 0.2 around the run's start
    r = np.hypot(*(cloud.starts - np.array([-2.5, 1.5])).T)
    assert r.max() <= 0.2 + 1e-12 and r.max() > 0.1
    # the run's own trajectory stays the representative path: its seed, its start
    assert doc.results[0].theta[0].tolist() == [-2.5, 1.5]
    # editing another run keeps the memoized cloud
    doc.update_config(1, lr=0.05)
    assert doc.cloud_of(0) is cloud
    doc.update_run(0, particles=200)
    assert doc.cloud_of(0).theta.shape[1] == 200
    with pytest.raises(ValueError, match="particles"):
        doc.update_run(0, particles=0)
    with pytest.raises(ValueError, match="jitter"):
        doc.update_run(0, jitter=-1.0)


@pytest.mark.parametrize("t", [0, 1, 100, 157, 300])
def test_contour_view_draws_the_cloud_at_the_cursor(cloudy, t):
    doc = cloudy.document
    doc.set_cursor(t)
    cloud = doc.cloud_of(0)
    r = cloud.frame(t)
    assert cloud.record_steps[r] <= t
    items = cloudy.contour._runs[0].cloud
    pts = items.dots.positions()
    assert pts.shape == (600, 2)
    np.testing.assert_array_equal(pts, cloud.theta[r])
    # the mean marker sits at the cloud's mean
    means = cloudy.contour.cloud_means.data
    assert len(means) == 1
    np.testing.assert_allclose([means[0]["x"], means[0]["y"]], cloud.mean[r], rtol=1e-12)
    # each ellipse outline is the k-sigma level set of N(mean, cov), checked independently
    if np.linalg.det(cloud.cov[r]) > 1e-14:
        inv = np.linalg.inv(cloud.cov[r])
        for e, k in zip(items.ellipses, SIGMA_LEVELS):
            d = np.column_stack([e.xData, e.yData]) - cloud.mean[r]
            np.testing.assert_allclose(np.einsum("ij,jk,ik->i", d, inv, d), k * k, rtol=1e-6)
    # the plain run draws no cloud
    plain = cloudy.contour._runs[1].cloud
    assert len(plain.dots.positions()) == 0 and plain.ellipses[0].xData is None


def test_hidden_run_hides_its_cloud_and_diverged_particles_leave(cloudy):
    doc = cloudy.document
    doc.set_cursor(50)
    doc.update_run(0, visible=False)
    assert len(cloudy.contour._runs[0].cloud.dots.positions()) == 0
    assert len(cloudy.contour.cloud_means.data) == 0
    doc.update_run(0, visible=True)
    # a learning rate past 2/λ_max makes every particle diverge: none is drawn at the end
    doc.update_config(0, lr=0.6)
    doc.set_cursor(300)
    cloud = doc.cloud_of(0)
    assert np.all(cloud.diverged_at >= 0)
    assert len(cloudy.contour._runs[0].cloud.dots.positions()) == 0


def test_average_toggle_shows_the_averaged_particles_at_the_end(cloudy):
    doc = cloudy.document
    cloudy.options.set("average", True)
    doc.set_cursor(100)
    assert len(cloudy.contour._runs[0].cloud.avg_dots.positions()) == 0
    doc.set_cursor(300)
    np.testing.assert_allclose(cloudy.contour._runs[0].cloud.avg_dots.positions(),
                               doc.cloud_of(0).avg_theta, rtol=1e-6)


def test_loss_view_shows_mean_cost_and_band(cloudy):
    doc = cloudy.document
    cloud = doc.cloud_of(0)
    e_star = doc.surface.lowest_cost or 0.0
    plot = cloudy.loss.cost_plot
    lo, hi, fill = plot.bands[0]
    np.testing.assert_array_equal(plot.curves[0].xData, cloud.record_steps)
    np.testing.assert_allclose(plot.curves[0].yData, np.maximum(cloud.mean_cost - e_star, FLOOR))
    np.testing.assert_allclose(lo.yData, np.maximum(cloud.cost_lo - e_star, FLOOR))
    np.testing.assert_allclose(hi.yData, np.maximum(cloud.cost_hi - e_star, FLOOR))
    assert fill.isVisible() and fill.path().elementCount() > 0
    assert not plot.bands[1][2].isVisible()  # the plain run has no band
    # the cursor marker of the cloud follows its mean cost at the recorded frame
    doc.set_cursor(157)
    k = cloud.frame(157)
    marker = plot.markers.data[0]
    assert marker["x"] == cloud.record_steps[k]
    np.testing.assert_allclose(10 ** marker["y"], max(cloud.mean_cost[k] - e_star, FLOOR), rtol=1e-9)
    # linear axes: the same curves without the floor
    cloudy.options.set("loss_log", False)
    np.testing.assert_allclose(lo.yData, cloud.cost_lo - e_star)


def test_editor_and_table_set_and_show_particles(cloudy):
    doc = cloudy.document
    ed = cloudy.runs_panel.editor
    doc.set_selected(1)
    assert ed.particles.value() == 1 and ed.jitter.value() == 0.0
    ed.particles.setValue(250)
    ed.jitter.setValue(0.5)
    run = doc.scenario.runs[1]
    assert run.particles == 250 and run.jitter == 0.5
    assert doc.cloud_of(1).theta.shape[1] == 250
    assert len(cloudy.contour._runs[1].cloud.dots.positions()) == 250
    assert cloudy.runs_panel.table.item(1, 1).text() == "plain ×250"
    assert "section 3" in ed.particles.toolTip().lower()
    # the boxes are there for every rule
    ed.rule.setCurrentIndex(ed.rule.findData("adam"))
    assert ed.cloud_box.isVisibleTo(ed) and ed.particles.value() == 250
    doc.set_selected(0)
    assert ed.particles.value() == 600 and ed.jitter.value() == 0.2


def test_cloud_preset_teaches_batch_size(window):
    path = PRESET_DIR / "13_sgd_cloud.json"
    sc = load_scenario(path)
    assert [r.config.batch_size for r in sc.runs] == [1, 10, 100]
    assert all(r.particles > 1 for r in sc.runs)
    assert window.open_path(str(path))
    doc = window.document
    spread = [float(np.trace(doc.cloud_of(i).cov[-1])) for i in range(3)]
    assert spread[0] > 5 * spread[1] > 25 * spread[2]


def test_exported_frames_show_the_cloud(qtbot):
    """The exporter draws with the same views: a cloud covers many more pixels in its colour."""
    from gui.export import ExportSettings, FrameRenderer

    def magenta_pixels(particles: int) -> int:
        cfg = OptimizerConfig("gd", lr=0.1, noise=2.0, batch_size=1)
        run = Run(cfg, "cloud", (-2.5, 1.5), 0, "#ff00ff", True, particles)
        sc = Scenario("quadratic", {"kappa": 4.0, "angle": 0.0}, (run,), 200, 0, "export")
        r = FrameRenderer(sc, ExportSettings(width=480, height=360, legend=False, title=False))
        try:
            rgb = r.frame(200).astype(int)
        finally:
            r.close()
        # magenta-ish: red and blue well above green, whatever the background under it
        return int(((rgb[..., 0] - rgb[..., 1] > 40) & (rgb[..., 2] - rgb[..., 1] > 40)).sum())

    assert magenta_pixels(3000) > magenta_pixels(1) + 500


def test_dragging_a_slider_previews_the_first_particles_then_the_full_cloud(window, qtbot):
    """While a slider of the run editor is held, a 3,000-particle cloud is recomputed for
    its first LIVE_PARTICLES particles (exactly those of the full cloud); on release the
    full cloud follows. Another run's cloud keeps its full cloud meanwhile."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    from gui.document import LIVE_PARTICLES
    from sim.simulate import particle_cloud

    doc = window.document
    noisy = OptimizerConfig("gd", lr=0.1, noise=2.0, batch_size=1)
    runs = (Run(noisy, "cloud", (-2.5, 1.5), 0, PALETTE[0], True, 3000, 0.2),
            Run(noisy, "other", (2.0, 1.0), 1, PALETTE[1], True, 1500, 0.0))
    doc.set_scenario(Scenario("quadratic", {"kappa": 4.0, "angle": 0.0}, runs, 300, 0, "clouds"))
    other = doc.cloud_of(1)
    assert doc.cloud_of(0).theta.shape[1] == 3000 and other.theta.shape[1] == 1500
    doc.set_selected(0)
    slider = window.runs_panel.editor.editors["lr"].slider
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    handle = slider.style().subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderHandle, slider).center()
    qtbot.mousePress(slider, Qt.LeftButton, pos=handle)
    assert doc.live
    slider.setValue(slider.value() + 40)  # a drag step: the lr changes, the cloud previews
    preview = doc.cloud_of(0)
    assert preview.theta.shape[1] == LIVE_PARTICLES
    run = doc.scenario.runs[0]
    ref = particle_cloud(doc.surface, run.config, run.start, 3000, 300, run.seed, run.jitter)
    np.testing.assert_array_equal(preview.theta, ref.theta[:, :LIVE_PARTICLES])
    assert doc.cloud_of(1) is other  # untouched: still the full cloud
    qtbot.mouseRelease(slider, Qt.LeftButton, pos=handle)
    assert not doc.live
    full = doc.cloud_of(0)
    assert full.theta.shape[1] == 3000
    np.testing.assert_array_equal(full.theta, ref.theta)
    assert doc.cloud_of(1) is other
    qtbot.waitUntil(lambda: len(window.contour._runs[0].cloud.dots.positions()) == 3000, timeout=5000)


def test_dragging_a_clouds_start_previews_it(window):
    from gui.document import LIVE_PARTICLES

    doc = window.document
    noisy = OptimizerConfig("gd", lr=0.1, noise=2.0, batch_size=1)
    doc.set_scenario(Scenario("quadratic", {}, (Run(noisy, "cloud", (-2.5, 1.5), 0, PALETTE[0], True, 2500),),
                              200, 0, "drag"))
    window.contour._on_drag(0, -2.0, 1.0, False)
    assert doc.live and doc.cloud_of(0).theta.shape[1] == LIVE_PARTICLES
    assert doc.cloud_of(0).starts[0].tolist() == [-2.0, 1.0]
    window.contour._on_drag(0, -1.5, 0.5, True)
    assert not doc.live and doc.cloud_of(0).theta.shape[1] == 2500
    assert doc.cloud_of(0).starts[0].tolist() == [-1.5, 0.5] and doc.start_of(0) == (-1.5, 0.5)
