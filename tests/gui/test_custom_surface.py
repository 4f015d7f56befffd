"""Custom surfaces typed in the surface panel: built, drawn, saved, and bad text refused."""

from __future__ import annotations

import numpy as np

from sim.expression import CUSTOM_NAME, custom_surface
from sim.scenario import load_scenario


def _choose_custom(window):
    combo = window.surface_panel.combo
    combo.setCurrentIndex(combo.findData(CUSTOM_NAME))


def test_choosing_custom_builds_the_default_expression(window):
    img0 = window.contour.image.image.copy()
    _choose_custom(window)
    sc = window.document.scenario
    panel = window.surface_panel
    assert sc.surface == CUSTOM_NAME and sc.expr == panel.expr_edit.text()
    assert panel.custom.isVisible() and not panel.expr_error.isVisible()
    s = window.document.surface
    assert s.expr == sc.expr and len(s.minima) == 2  # the default has two basins
    img1 = window.contour.image.image
    assert img1.shape != img0.shape or not np.allclose(img1, img0)
    # Every run was recomputed on the new surface: its costs are the expression's.
    tr = window.document.results[0]
    np.testing.assert_allclose(tr.cost, s.evaluate(tr.theta[:, 0], tr.theta[:, 1])["cost"])


def test_typing_an_expression_and_box(window, qtbot):
    _choose_custom(window)
    panel = window.surface_panel
    panel.expr_edit.setText("(1-x)^2 + 100*(y-x^2)^2")
    panel.box_edit.setText("-2, 2, -1, 3")
    assert panel.apply_expression()
    s = window.document.surface
    assert s.box == (-2.0, 2.0, -1.0, 3.0)
    assert [(round(m.x, 9), round(m.y, 9)) for m in s.minima] == [(1.0, 1.0)]
    ref = custom_surface("(1-x)^2 + 100*(y-x^2)^2", (-2, 2, -1, 3))
    tr = window.document.results[0]
    np.testing.assert_allclose(tr.cost, ref.evaluate(tr.theta[:, 0], tr.theta[:, 1])["cost"])


def test_bad_expression_is_shown_and_changes_nothing(window):
    _choose_custom(window)
    panel = window.surface_panel
    before = window.document.scenario
    results = window.document.results
    for text in ("__import__('os').system('true')", "x +* y", "exp(z)"):
        panel.expr_edit.setText(text)
        assert not panel.apply_expression()
        assert panel.expr_error.isVisible() and panel.expr_error.text()
        assert window.document.scenario is before and window.document.results is results
    panel.expr_edit.setText("x^2 + y^2")
    panel.box_edit.setText("1, 0, 0, 1")
    assert not panel.apply_expression() and "box" in panel.expr_error.text()
    panel.box_edit.setText("-1, 1, -1, 1")
    assert panel.apply_expression() and not panel.expr_error.isVisible()


def test_custom_scenario_saves_and_switching_back_clears_it(window, tmp_path):
    _choose_custom(window)
    path = tmp_path / "custom.json"
    assert window.save_path(str(path))
    sc = load_scenario(path)
    assert sc.surface == CUSTOM_NAME and sc.expr == window.document.scenario.expr
    combo = window.surface_panel.combo
    combo.setCurrentIndex(combo.findData("rosenbrock"))
    sc2 = window.document.scenario
    assert sc2.surface == "rosenbrock" and sc2.expr is None
    assert not window.surface_panel.custom.isVisible()
    assert window.open_path(str(path))
    assert window.document.surface.expr == sc.expr
    assert combo.currentData() == CUSTOM_NAME and window.surface_panel.custom.isVisible()
