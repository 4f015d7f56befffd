"""Background jobs: compiling the numba kernels on a cold cache without freezing the window."""

from __future__ import annotations

import atexit

import numpy as np
from PySide6.QtCore import QThread, Signal

from sim import OptimizerConfig, simulate, simulate_batch
from sim.scenario import Scenario

_LIVE: set[QThread] = set()


@atexit.register
def _join_all() -> None:
    """A script may quit while the batch kernel still compiles: no thread outlives Python."""
    for t in list(_LIVE):
        t.wait()


class KernelWarmup(QThread):
    """Calls every kernel the window uses once, so the first compile happens off the GUI thread.

    On a warm on-disk cache this takes milliseconds; on a cold one the window meanwhile
    shows that it is preparing its kernels (DESIGN.md, principle 6).
    """

    failed = Signal(str)
    # The kernels the window needs to show the scenario are ready; the batch kernel (clouds,
    # sweeps, basin maps, restarts: 10-15 s to compile on an empty cache) follows in the
    # same thread, so that opening one of those later does not freeze the window.
    coreReady = Signal()  # noqa: N815 - Qt's naming

    def __init__(self, scenario: Scenario, parent=None) -> None:
        super().__init__(parent)
        self._scenario = scenario

    def run(self) -> None:
        try:
            s = self._scenario.make_surface()  # evaluate_points (critical points)
            xs = np.linspace(s.box[0], s.box[1], 8)
            ys = np.linspace(s.box[2], s.box[3], 8)
            s.grid(xs, ys)
            s.gradient_grid(xs, ys)
            simulate(s, OptimizerConfig("gd", lr=1e-4), s.start, 2, 0)  # run_block
        except Exception as e:  # noqa: BLE001 - reported to the window, never raised in a thread
            self.failed.emit(str(e))
        self.coreReady.emit()
        try:
            simulate_batch(s, OptimizerConfig("gd", lr=1e-4), np.array([s.start, s.start]), 2)
        except Exception as e:  # noqa: BLE001
            self.failed.emit(str(e))

    def start(self, *args) -> None:
        _LIVE.add(self)
        self.finished.connect(lambda: _LIVE.discard(self))
        super().start(*args)
