"""The Compare tab: one panel per run or per swept value, titled with what differs, all on
the document's cursor, with a shared loss plot in the panels' colours."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gui.views import grid
from gui.views.grid import MAX_PANELS, MODE_RUNS, MODE_SWEEP, differing_titles, grid_columns, parse_values
from sim import OptimizerConfig
from sim.scenario import Run
from sim.simulate import simulate


@pytest.fixture
def compare(window, qtbot):
    """The window with the Compare tab shown."""
    window.tabs.setCurrentWidget(window.compare)
    qtbot.waitUntil(lambda: window.compare.built and len(window.compare.panels) > 0, timeout=5000)
    return window


def _trail_end(panel) -> tuple[float, float]:
    return float(panel.trail.xData[-1]), float(panel.trail.yData[-1])


def _current(panel) -> tuple[float, float]:
    assert panel.current.isVisible()
    return float(panel.current.pos().x()), float(panel.current.pos().y())


# ---- pure helpers --------------------------------------------------------------------------

def test_titles_name_only_what_differs():
    cfgs = [OptimizerConfig("gd", lr=lr) for lr in (0.3, 0.1, 0.03)]
    assert differing_titles(cfgs) == ["α=0.3", "α=0.1", "α=0.03"]
    mixed = [OptimizerConfig("gd", lr=1e-3), OptimizerConfig("momentum", lr=1e-3, momentum=0.9),
             OptimizerConfig("adam", lr=0.05)]
    assert differing_titles(mixed) == ["gd α=0.001", "momentum α=0.001", "adam α=0.05"]
    mom = [OptimizerConfig("momentum", lr=1e-3, momentum=m) for m in (0.5, 0.9)]
    assert differing_titles(mom) == ["μ=0.5", "μ=0.9"]
    batches = [OptimizerConfig("gd", lr=0.1, batch_size=b, noise=1.0) for b in (1, 10, 0)]
    assert differing_titles(batches) == ["B=1", "B=10", "B=N"]
    # alike configs: the runs' seeds tell them apart, then their titles
    same = [OptimizerConfig("gd")] * 2
    runs = [Run(same[0], "a", seed=0), Run(same[0], "b", seed=1)]
    assert differing_titles(same, runs) == ["seed 0", "seed 1"]
    assert differing_titles(same, [Run(same[0], "a"), Run(same[0], "b")]) == ["a", "b"]


def test_parse_values():
    assert parse_values("0.3, 0.1, 0.03, 0.01") == [0.3, 0.1, 0.03, 0.01]
    assert parse_values("0.3 0.1;0.03") == [0.3, 0.1, 0.03]
    assert parse_values("log 1e-4..1 ×9") == pytest.approx(list(np.geomspace(1e-4, 1, 9)))
    assert parse_values("log 1e-4..1 x5")[2] == pytest.approx(1e-2)
    assert parse_values("lin 0..0.9 ×10") == pytest.approx([0.1 * k for k in range(10)])
    assert parse_values("1e-3..1 ×4") == pytest.approx([1e-3, 1e-2, 1e-1, 1.0])  # wide: log
    assert parse_values("0.5..0.9 ×5") == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])  # narrow: linear
    for bad, words in (("", "enter values"), ("0.1, fast", "'fast'"), ("log 1e-4..1 ×20", "1 to 12"),
                       (", ".join(["1"] * 13), "at most 12"), ("log -1..1 ×3", "positive"), ("inf", "finite")):
        with pytest.raises(ValueError, match=words):
            parse_values(bad)


def test_grid_columns_fill_the_space():
    assert grid_columns(1, 900, 400, 1.0) == 1
    assert grid_columns(12, 900, 400, 1.0) == 6  # wide tab, square boxes: 6 × 2
    assert grid_columns(12, 400, 900, 1.0) == 2
    assert grid_columns(4, 800, 800, 1.0) == 2


# ---- the tab ------------------------------------------------------------------------------

def test_nothing_is_built_until_shown(window):
    assert not window.compare.built and window.compare.panels == []
    window.document.set_cursor(10)
    window.document.update_config(0, lr=2e-3)
    assert not window.compare.built


def test_one_panel_per_run(compare, monkeypatch):
    doc, view = compare.document, compare.compare
    assert len(view.panels) == len(doc.scenario.runs) == 3
    titles = [e.title for e in view.entries]
    assert titles == ["gd α=0.001", "momentum α=0.001", "adam α=0.05"]
    assert all(t in p.title.text for p, t in zip(view.panels, titles))
    # the same background on every panel, computed once for all of them
    img = view.panels[0].image.image
    for p in view.panels[1:]:
        np.testing.assert_array_equal(p.image.image, img)
        np.testing.assert_array_equal(p.isolines.xData, view.panels[0].isolines.xData)
    calls = []
    real = grid.Background.of
    monkeypatch.setattr(grid.Background, "of", lambda *a, **k: calls.append(1) or real(*a, **k))
    view.panels[0].plot.getViewBox().setRange(xRange=(-1, 1), yRange=(0, 2), padding=0)
    view._draw_background()
    assert len(calls) == 1
    for p in view.panels:
        np.testing.assert_allclose(p.plot.getViewBox().viewRange(), view.panels[0].plot.getViewBox().viewRange(),
                                   rtol=1e-9, atol=1e-9)
    # linked axes
    vb0 = view.panels[0].plot.getViewBox()
    for p in view.panels[1:]:
        assert p.plot.getViewBox().linkedView(0) is vb0 and p.plot.getViewBox().linkedView(1) is vb0
    doc.update_config(1, lr=2e-3)
    assert [e.title for e in view.entries][:2] == ["gd α=0.001", "momentum α=0.002"]
    doc.add_run(OptimizerConfig("rmsprop", lr=0.01))
    assert len(view.panels) == 4
    doc.update_run(0, visible=False)
    assert len(view.panels) == 3


@pytest.mark.parametrize("t", [0, 1, 250, 1500])
def test_every_trail_ends_at_the_cursor(compare, t):
    doc, view = compare.document, compare.compare
    doc.set_cursor(t)
    for p, traj in zip(view.panels, doc.results):
        k = traj.at(t)
        assert _trail_end(p) == tuple(traj.theta[k])
        assert _current(p) == tuple(traj.theta[k])
        assert p.trail.xData[0] == traj.theta[0, 0]


def test_cursor_moves_every_panel_and_the_loss_markers(compare):
    doc, view = compare.document, compare.compare
    doc.set_cursor(100)
    before = [_current(p) for p in view.panels]
    doc.set_cursor(900)
    after = [_current(p) for p in view.panels]
    assert all(a != b for a, b in zip(after, before))
    assert view.cursor_line.value() == 900
    xs = [s["x"] for s in view.loss_markers.data]
    assert xs == [900.0] * 3


def test_loss_curves_match_the_trajectories(compare):
    doc, view = compare.document, compare.compare
    e_star = doc.surface.lowest_cost or 0.0
    assert len(view.loss_curves) == 3
    for c, traj, run in zip(view.loss_curves, doc.results, doc.scenario.runs):
        np.testing.assert_allclose(c.yData, np.maximum(traj.cost - e_star, 1e-14))
        assert len(c.xData) == len(traj)
        assert c.opts["pen"].color().name() == run.color


def test_sweep_mode_makes_one_panel_per_value(compare):
    doc, view = compare.document, compare.compare
    doc.set_selected(0)
    view.set_sweep("lr", "0.003, 0.002, 0.001, 0.0005")
    assert view.mode.currentData() == MODE_SWEEP
    assert len(view.panels) == 4
    assert [e.title for e in view.entries] == ["α=0.003", "α=0.002", "α=0.001", "α=0.0005"]
    run = doc.scenario.runs[0]
    doc.set_cursor(400)
    for p, lr in zip(view.panels, (0.003, 0.002, 0.001, 0.0005)):
        ref = simulate(doc.surface, replace(run.config, lr=lr), run.start, doc.scenario.steps, run.seed)
        k = ref.at(400)
        assert _trail_end(p) == tuple(ref.theta[k])
    assert len(doc.scenario.runs) == 3  # the sweep does not touch the scenario
    # a bad list says why and shows nothing
    view.values.setText("0.1, fast")
    view.values.editingFinished.emit()
    assert view.panels == [] and "fast" in view.note.text()
    view.values.setText("log 1e-4..1e-3 ×12")
    view.values.editingFinished.emit()
    assert len(view.panels) == MAX_PANELS
    view.set_mode(MODE_RUNS)
    assert len(view.panels) == 3


def test_sweep_follows_the_selected_run_and_adds_runs(compare):
    doc, view = compare.document, compare.compare
    doc.set_selected(1)  # momentum: μ can be swept
    view.set_sweep("momentum", "0.5, 0.9, 0.99")
    assert [e.title for e in view.entries] == ["μ=0.5", "μ=0.9", "μ=0.99"]
    doc.update_config(1, lr=2e-3)  # the base changed: the sweep runs again
    ref = simulate(doc.surface, replace(doc.scenario.runs[1].config, momentum=0.99), doc.start_of(1),
                   doc.scenario.steps, 0)
    doc.set_cursor(doc.max_cursor)
    assert _trail_end(view.panels[2]) == tuple(ref.theta[-1])
    added = view.add_as_runs()
    assert added == [3, 4, 5]
    runs = doc.scenario.runs
    assert [r.config.momentum for r in runs[3:]] == [0.5, 0.9, 0.99]
    assert all(r.config.lr == 2e-3 for r in runs[3:])
    assert runs[3].label == "momentum μ=0.9 μ=0.5"
    assert len({r.color for r in runs}) == 6
    with pytest.raises(ValueError):
        view.set_sweep("beta1", "0.9")  # momentum has no β₁


def test_dark_theme_and_hidden_updates(compare):
    view = compare.compare
    compare.options.set("theme", "dark")
    assert view.grid.backgroundBrush().color().name() == "#16181d"
    # while another tab is shown, edits only mark the grid stale; showing it catches up
    compare.tabs.setCurrentIndex(0)
    compare.document.update_config(0, lr=2e-3)
    compare.tabs.setCurrentWidget(view)
    assert view.entries[0].title == "gd α=0.002"
