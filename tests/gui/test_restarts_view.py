"""The Restarts tab: K trajectories from `sim.restarts`, the best bold, the summary's count."""

from __future__ import annotations

import numpy as np

from sim.simulate import restarts
from tests.gui.analysis_helpers import recompute, show_tab


def show(window, qtbot, surface="six_hump_camel", k=None):
    return show_tab(window, qtbot, window.restarts_tab, surface, k=k)


def expected(view):
    return recompute(view, restarts)


def test_draws_k_curves_and_counts_the_global_ones(window, qtbot):
    window.document.set_selected(1)  # momentum: some restarts end in local minima
    view = show(window, qtbot, k=30)
    ref = expected(view)
    paths = view.paths()
    assert len(paths) == 30
    np.testing.assert_array_equal(view.result.final_cost, ref.final_cost)
    assert f"{ref.n_global} of 30 restarts reached a global minimum" in view.summary.text()
    # the bold one is the best restart, drawn in full
    best = ref.best
    np.testing.assert_array_equal(view.best_trail.xData, ref.theta[:, best, 0])
    np.testing.assert_array_equal(paths[-1], ref.theta[:, best])
    # every faded trajectory is one of the others
    starts = {tuple(p[0]) for p in paths[:-1]}
    assert starts == {tuple(ref.theta[0, k]) for k in range(30) if k != best}
    assert len(view.starts.data) == 30


def test_diverged_restarts_stop_where_they_diverged(window, qtbot):
    view = show(window, qtbot, surface="rosenbrock", k=20)
    view.form.set_value("lr", 0.004)
    qtbot.waitUntil(lambda: view.result.config.lr == 0.004, timeout=30_000)
    r = view.result
    div = np.flatnonzero(r.diverged_at >= 0)
    assert div.size and len(view.paths()) == 20
    k = int(div[0])
    assert view.path(k).shape[0] == np.searchsorted(r.record_steps, r.diverged_at[k], side="right")
    assert f"{div.size} diverged" in view.summary.text()


def test_add_best_adds_its_start(window, qtbot):
    view = show(window, qtbot, k=10)
    doc = window.document
    n = len(doc.scenario.runs)
    view.add_best.click()
    r = view.result
    assert len(doc.scenario.runs) == n + 1
    assert doc.start_of(n) == tuple(r.starts[r.best]) and doc.scenario.runs[-1].config == r.config


def test_seed_and_k_recompute_and_cache(window, qtbot):
    view = show(window, qtbot, k=10)
    first = view.result
    view.seed.setValue(3)
    view.refresh_now()
    assert view.result is not first and view.result.seed == 3
    view.seed.setValue(0)
    view.refresh_now()
    assert view.result is first  # from the cache


def test_dark_theme_redraws(window, qtbot):
    view = show(window, qtbot, k=10)
    window.options.set("theme", "dark")
    assert view.plot.backgroundBrush().color().name() == "#16181d"
    assert len(view.paths()) == 10


def test_analyze_menu_switches_tabs(window):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Analyze")
    titles = {a.text().replace("&", ""): a for a in menu.actions()}
    for text, tab in (("Learning-rate sweep", window.sweep_tab), ("Basins of attraction", window.basins_tab),
                      ("Random restarts", window.restarts_tab)):
        titles[text].trigger()
        assert window.tabs.currentWidget() is tab and tab.built
