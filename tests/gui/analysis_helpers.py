"""Helpers of the Analyze-tab tests (sweep, basins, restarts)."""

from __future__ import annotations


def show_tab(window, qtbot, tab, surface: str | None = None, **values):
    """Show `tab` (first switching the document to `surface` and setting the view's spin
    boxes named in `values`, where not None) and wait for its first result; the view."""
    view = tab.view
    if surface is not None:
        window.document.set_surface(surface)
    for name, value in values.items():
        if value is not None:
            getattr(view, name).setValue(value)
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: view.result is not None and not view.runner.busy, timeout=60_000)
    return view


def recompute(view, compute, **changes):
    """What `compute` (`sim.basins`, `sim.sweep`, …) returns for the view's settings, with
    `changes` to its keyword arguments."""
    cfg, kw = view.settings()
    kw.update(changes)
    return compute(view._doc.surface, cfg, **kw)
