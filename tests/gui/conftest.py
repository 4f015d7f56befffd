"""GUI fixtures: an offscreen Qt, isolated settings, and a ready main window."""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from gui.app import configure_pyqtgraph  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "ravine.ini"), QSettings.IniFormat)


@pytest.fixture(autouse=True)
def _fused_kernel_policy():
    """A window turns kernels.FAST_ON_DEMAND off for the whole process; the tests after
    it (tests/sim among them) get the library's default back."""
    from sim import kernels

    saved = kernels.FAST_ON_DEMAND
    yield
    kernels.FAST_ON_DEMAND = saved


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


def drawn_rows(w: MainWindow, i: int) -> np.ndarray:
    """The trajectory rows that run i's drawn trail passes through, in order.

    The view drops points that stay in the same pixel, so the drawn trail is a subsequence
    of θ_0 … θ_k that starts at θ_0 and ends exactly at θ_k; this recovers its rows.
    """
    item = w.contour._runs[i].trail
    traj = w.document.results[i]
    if item.xData is None or len(item.xData) == 0:
        return np.zeros(0, int)
    rows, r = [], 0
    for x, y in zip(item.xData, item.yData):
        while r < len(traj) and not (traj.theta[r, 0] == x and traj.theta[r, 1] == y):
            r += 1
        assert r < len(traj), "a drawn point that is not on the trajectory"
        rows.append(r)
        r += 1
    return np.array(rows)


def trail_lengths(w: MainWindow) -> list[int]:
    """For each run, 1 + the last trajectory row its drawn trail reaches (0 if none)."""
    out = []
    for i in range(len(w.contour._runs)):
        rows = drawn_rows(w, i)
        if rows.size:
            assert rows[0] == 0, "the trail must start at θ_0"
        out.append(int(rows[-1]) + 1 if rows.size else 0)
    return out
