"""The Analyze menu and its tabs: learning-rate sweep, basins of attraction, random restarts.

Each tab builds its view the first time it is shown, so the window starts as fast as it
did without them; the view modules are imported then, too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QVBoxLayout, QWidget


class LazyTab(QWidget):
    """A tab page that builds its view on first show (or first access of `view`)."""

    def __init__(self, build: Callable[[], QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build = build
        self._view: QWidget | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        return self._view is not None

    @property
    def view(self) -> QWidget:
        """The view, built now if it has not been."""
        if self._view is None:
            self._view = self._build()
            self.layout().addWidget(self._view)
            if self.isVisible():
                self._view.show()
        return self._view

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        self.view  # noqa: B018 - builds the view; it computes when shown


def analyze_menu(window) -> QMenu:
    """The window's Analyze menu (made on first use, placed before Help)."""
    mb = window.menuBar()
    for a in mb.actions():
        if a.menu() is not None and a.menu().objectName() == "menu_analyze":
            return a.menu()
    menu = QMenu("&Analyze", mb)
    menu.setObjectName("menu_analyze")
    before = next((a for a in mb.actions() if a.text().replace("&", "") == "Help"), None)
    if before is not None:
        mb.insertMenu(before, menu)
    else:
        mb.addMenu(menu)
    return menu


@dataclass(frozen=True)
class AnalysisTab:
    """An Analyze tab: where its view class lives, the tab's title and tip, the menu entry."""

    module: str
    view: str
    title: str
    tip: str
    menu_text: str


TABS = {
    "sweep": AnalysisTab("gui.views.sweep", "SweepView", "Sweep",
                         "final cost against the learning rate, or a heat map over two hyperparameters "
                         "(section 4.5, the grid search)", "Learning-rate &sweep"),
    "basins": AnalysisTab("gui.views.basins", "BasinsView", "Basins",
                          "which minimum each start reaches, for the chosen optimizer (Figure 1, basins of "
                          "attraction)", "&Basins of attraction"),
    "restarts": AnalysisTab("gui.views.restarts", "RestartsView", "Restarts",
                            "K random starts in the view box, the best one bold (section 4.2, random restarts)",
                            "Random &restarts"),
}


def install(window, name: str) -> LazyTab:
    """The Analyze tab `name` (a key of `TABS`) and its Analyze-menu entry."""
    spec = TABS[name]

    def build() -> QWidget:
        # The view's module is imported on first show: start-up stays as it was.
        view_class = getattr(importlib.import_module(spec.module), spec.view)
        return view_class(window.document, window.options)

    tab = LazyTab(build)
    window.add_view_tab(tab, spec.title, spec.tip)
    action = QAction(spec.menu_text, window)
    action.setStatusTip(spec.tip)
    action.triggered.connect(lambda _c=False: window.tabs.setCurrentWidget(tab))
    analyze_menu(window).addAction(action)
    return tab


def install_sweep(window) -> LazyTab:
    """The Sweep tab (section 4.5's grid search) and its Analyze-menu entry."""
    return install(window, "sweep")


def install_basins(window) -> LazyTab:
    """The Basins tab (Figure 1) and its Analyze-menu entry."""
    return install(window, "basins")


def install_restarts(window) -> LazyTab:
    """The Restarts tab (section 4.2) and its Analyze-menu entry."""
    return install(window, "restarts")
