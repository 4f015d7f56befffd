"""GUI fixtures: an offscreen Qt, isolated settings, and a ready main window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from gui.app import configure_pyqtgraph  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "ravine.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, settings) -> MainWindow:
    """The main window with the default scenario computed, not playing."""
    configure_pyqtgraph()
    w = MainWindow(settings=settings, autoplay=False, restore=False)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    assert w.wait_ready()
    return w


def trail_lengths(w: MainWindow) -> list[int]:
    """Number of points drawn in each run's trajectory on the contour view."""
    return [0 if it.xData is None else len(it.xData) for it in (r.trail for r in w.contour._runs)]
