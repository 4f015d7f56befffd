"""Background jobs: compiling the numba kernels on a cold cache without freezing the window."""

from __future__ import annotations

import atexit
import threading

import numpy as np
from PySide6.QtCore import QThread, Signal

from sim import OptimizerConfig, kernels, make_surface, simulate, simulate_batch
from sim.expression import custom_surface
from sim.scenario import Scenario

_LIVE: set[QThread] = set()


@atexit.register
def _join_all() -> None:
    """A script may quit while the batch kernel still compiles: no thread outlives Python."""
    for t in list(_LIVE):
        t.resume()
        t.wait()


def _prepare_core(s) -> None:
    """Call what showing a scenario on surface s needs: the grid of the contour view and a
    single run."""
    xs = np.linspace(s.box[0], s.box[1], 8)
    ys = np.linspace(s.box[2], s.box[3], 8)
    s.grid(xs, ys)
    s.gradient_grid(xs, ys)
    simulate(s, OptimizerConfig("gd", lr=1e-4), s.start, 2, 0)


def _prepare_view(s) -> None:
    """Everything showing surface s needs: the view's grid, a single run, the hover probe."""
    _prepare_core(s)
    _prepare_probe(s)


def _prepare_probe(s) -> None:
    """Point evaluation (the hover probe). Dataset and custom surfaces use it to find their
    critical points, built-in ones do not: it would compile on the first hover."""
    s.evaluate(s.start[0], s.start[1])


def _prepare_batch(s) -> None:
    """The batch kernel (clouds, sweeps, basin maps, restarts) for surface s's family."""
    simulate_batch(s, OptimizerConfig("gd", lr=1e-4), np.array([s.start, s.start]), 2)


def _prepare_fast(code: int) -> None:
    """The fused batch kernel of a built-in surface (gd and momentum basin maps, restarts);
    the window's batches use it once it is ready (kernels.FAST_ON_DEMAND is off there)."""
    if kernels.fast_applies(code, kernels.GD) and not kernels.fast_ready(code):
        kernels.prepare_fast(code)


class FastKernelPrep(QThread):
    """Prepares the fused batch kernel of each surface the window switches to, one at a
    time, off the GUI thread (a few seconds each on an empty cache, milliseconds after)."""

    failed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._codes: list[int] = []
        self._lock = threading.Lock()
        self._busy = False  # run() is taking codes (under the lock, so none is missed)
        self.finished.connect(lambda: _LIVE.discard(self))

    def request(self, code: int) -> None:
        if not kernels.fast_applies(code, kernels.GD) or kernels.fast_ready(code):
            return
        with self._lock:
            if code not in self._codes:
                self._codes.append(code)
            if self._busy:
                return
            self._busy = True
        self.wait()  # a run() that has just said it is done
        _LIVE.add(self)
        self.start(QThread.LowPriority)

    def run(self) -> None:
        while True:
            with self._lock:
                if not self._codes:
                    self._busy = False
                    return
                code = self._codes[0]
            try:
                _prepare_fast(code)
            except Exception as e:  # noqa: BLE001 - reported to the window, never raised in a thread
                self.failed.emit(str(e))
            with self._lock:
                self._codes.remove(code)

    def stop(self) -> None:
        """Drop the surfaces not begun and wait for the one being prepared."""
        with self._lock:
            del self._codes[1:]
        self.wait()

    def resume(self) -> None:
        """(for _join_all: nothing to wait for)"""


# One surface of each family, made when needed (making one compiles its point evaluation).
_FAMILY_EXAMPLES = ((kernels.FAMILY_ANALYTIC, lambda: make_surface("quadratic")),
                    (kernels.FAMILY_DATASET, lambda: make_surface("linreg", n_examples=10)),
                    (kernels.FAMILY_CUSTOM, lambda: custom_surface("x^2 + y^2")))


class KernelWarmup(QThread):
    """Calls every kernel the window uses once, so the first compile happens off the GUI thread.

    On a warm on-disk cache this takes milliseconds; on a cold one the window meanwhile
    shows that it is preparing its kernels (DESIGN.md, principle 6).
    """

    failed = Signal(str)
    # The kernels the window needs to show the scenario are ready; the batch kernel (clouds,
    # sweeps, basin maps, restarts) and the other surface families' kernels follow in the
    # same thread, so that opening one of those later does not freeze the window.
    coreReady = Signal()  # noqa: N815 - Qt's naming

    RESUME_AFTER = 2.0  # seconds the rest waits for `resume` at most

    def __init__(self, scenario: Scenario, parent=None) -> None:
        super().__init__(parent)
        self._scenario = scenario
        self._resume = threading.Event()
        self._core_done = threading.Event()
        self._core_ok = False

    def resume(self) -> None:
        """Let the rest of the warm-up go on (the window has drawn its first results)."""
        self._resume.set()

    @property
    def resumed(self) -> bool:
        """True once the window has let the rest of the warm-up go on."""
        return self._resume.is_set()

    def wait_core(self, seconds: float) -> bool:
        """Block up to `seconds` for the kernels the scenario needs; True if they loaded
        (False after the time, or if they failed: coreReady then tells the window)."""
        return self._core_done.wait(seconds) and self._core_ok

    def run(self) -> None:
        try:
            s = self._scenario.make_surface()
            _prepare_core(s)
            self._core_ok = True
        except Exception as e:  # noqa: BLE001 - reported to the window, never raised in a thread
            self.failed.emit(str(e))
            s = None
        self._core_done.set()
        self.coreReady.emit()
        # Loading more kernels now would compete with the GUI thread, which is computing and
        # drawing the first results, for the interpreter: wait until those are on screen.
        self._resume.wait(self.RESUME_AFTER)
        # Then, in order of likely need: this surface family's point evaluation and batch
        # kernel, and the other families' kernels (sim compiles one copy per family:
        # built-in, dataset, custom).
        others = [make for fam, make in _FAMILY_EXAMPLES if s is None or fam != kernels.family(s.code)]
        tasks = ([lambda: _prepare_probe(s), lambda: _prepare_batch(s), lambda: _prepare_fast(s.code)]
                 if s is not None else [])
        tasks += [lambda make=make: _prepare_view(make()) for make in others]
        tasks += [lambda make=make: _prepare_batch(make()) for make in others]
        for task in tasks:
            try:
                task()
            except Exception as e:  # noqa: BLE001
                self.failed.emit(str(e))

    def start(self, *args) -> None:
        _LIVE.add(self)
        self.finished.connect(lambda: _LIVE.discard(self))
        super().start(*args)
