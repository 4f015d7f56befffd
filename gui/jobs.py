"""Background jobs of the analysis views: run a `sim` function off the GUI thread.

A `JobRunner` computes a function such as `sim.simulate.basins` in a worker thread,
reports its progress, cancels it through the function's `progress` callback, drops results
that a newer request has superseded, and keeps recent results in an LRU cache keyed by their
settings, so flipping back to earlier settings redraws at once (DESIGN.md, principle 6).
`JobBar` is the progress bar with a Cancel button that a view shows while its job runs.
"""

from __future__ import annotations

import atexit
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from sim import OptimizerConfig, Surface
from sim.simulate import Cancelled

CACHE_SIZE = 24  # results kept per view; a 256² basin map is about 1.5 MB


def _freeze(value: Any) -> Hashable:
    """A hashable, order-independent copy of settings (dicts, sequences, arrays, numbers)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, np.ndarray):
        return tuple(_freeze(v) for v in value.tolist())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def surface_key(surface: Surface) -> Hashable:
    """What identifies a surface's numbers: name, parameters, expression and box."""
    return (surface.name, _freeze(surface.params), surface.expr, _freeze(surface.box))


def job_key(kind: str, surface: Surface, config: OptimizerConfig, **settings: Any) -> Hashable:
    """The cache key of a job: everything its result depends on."""
    return (kind, surface_key(surface), _freeze(config.to_dict()), _freeze(settings))


class _Worker(QThread):
    """One job in its own thread. It has no Qt parent: a view that is closed while the job
    runs must not destroy a running thread; `_LIVE` holds it until it has finished."""

    progressed = Signal(int, int, int)  # job id, done, total
    succeeded = Signal(int, object)  # job id, result
    failed = Signal(int, str)  # job id, message

    def __init__(self, job_id: int, key: Hashable, fn: Callable[..., Any], args: tuple,
                 kwargs: dict[str, Any], cancellable: bool) -> None:
        super().__init__()
        self.job_id = job_id
        self.key = key
        self.cancel_event = threading.Event()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._cancellable = cancellable

    def _progress(self, done: int, total: int) -> bool:
        # Runs in the worker thread: a signal carries the numbers to the GUI thread, and the
        # returned flag is how sim learns of a Cancel (it raises Cancelled).
        self.progressed.emit(self.job_id, int(done), int(total))
        return not self.cancel_event.is_set()

    def run(self) -> None:
        kwargs = dict(self._kwargs)
        if self._cancellable:
            kwargs["progress"] = self._progress
        try:
            result = self._fn(*self._args, **kwargs)
        except Cancelled:
            return
        except Exception as e:  # noqa: BLE001 - reported to the view, never raised in a thread
            self.failed.emit(self.job_id, str(e) or type(e).__name__)
            return
        if not self.cancel_event.is_set():
            self.succeeded.emit(self.job_id, result)


_LIVE: set[_Worker] = set()


@atexit.register
def _stop_all() -> None:
    """Cancel and join every job still running, so that no thread outlives the interpreter."""
    for w in list(_LIVE):
        w.cancel_event.set()
        w.wait()


class JobRunner(QObject):
    """Computes results in a worker thread, newest request wins, recent results cached.

    `resultReady(key, result)` fires in the GUI thread for every result a view should
    draw: a cache hit, a synchronous computation, or a finished job that is still current.
    """

    resultReady = Signal(object, object)  # key, result
    progressed = Signal(int, int)  # done, total of the current job
    busyChanged = Signal(bool)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, cache_size: int = CACHE_SIZE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._cache_size = int(cache_size)
        self._current: _Worker | None = None
        self._next_id = 0
        self.jobs_started = 0  # for tests and benchmarks: how many threads were started

    # ---- the cache ------------------------------------------------------------------------
    def cached(self, key: Hashable) -> Any | None:
        """The cached result of `key` (marked as recently used), or None."""
        if key not in self._cache:
            return None
        self._cache.move_to_end(key)
        return self._cache[key]

    def _store(self, key: Hashable, result: Any) -> None:
        self._cache[key] = result
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        self._cache.clear()

    # ---- running ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a job whose result the view is waiting for runs."""
        return self._current is not None

    def compute_now(self, key: Hashable, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Compute in the calling (GUI) thread, for sizes that take milliseconds; supersedes
        any running job. Raises what `fn` raises."""
        self._supersede()
        result = self.cached(key)
        if result is None:
            result = fn(*args, **kwargs)
            self._store(key, result)
        self.resultReady.emit(key, result)
        return result

    def request(self, key: Hashable, fn: Callable[..., Any], *args: Any, cancellable: bool = True,
                **kwargs: Any) -> bool:
        """Deliver the result of `fn(*args, **kwargs)`: at once from the cache (returns True),
        or later from a worker thread (returns False). With `cancellable`, `fn` gets a
        `progress` keyword through which the job reports and is cancelled."""
        hit = self.cached(key)
        if hit is not None:
            self._supersede()
            self.resultReady.emit(key, hit)
            return True
        was_busy = self.busy
        self._supersede(emit=False)
        self._next_id += 1
        w = _Worker(self._next_id, key, fn, args, kwargs, cancellable)
        w.progressed.connect(self._on_progress)
        w.succeeded.connect(self._on_success)
        w.failed.connect(self._on_failure)
        w.finished.connect(self._on_thread_finished)
        _LIVE.add(w)
        self._current = w
        self.jobs_started += 1
        w.start(QThread.LowPriority)  # the GUI thread keeps the upper hand on two cores
        if not was_busy:
            self.busyChanged.emit(True)
        return False

    def cancel(self) -> None:
        """Stop the current job; the view keeps showing what it showed before."""
        if self._current is None:
            return
        self._supersede()
        self.cancelled.emit()

    def wait(self, ms: int = 60_000) -> bool:
        """Block until the current job's thread ends (for scripts); True if none runs."""
        w = self._current
        return True if w is None else bool(w.wait(ms))

    def _supersede(self, emit: bool = True) -> None:
        w = self._current
        if w is None:
            return
        # The thread stops at its next progress report; whatever it returns is ignored.
        w.cancel_event.set()
        self._current = None
        if emit:
            self.busyChanged.emit(False)

    # ---- worker signals (delivered in the GUI thread) ---------------------------------------
    def _is_current(self, job_id: int) -> bool:
        return self._current is not None and self._current.job_id == job_id

    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if self._is_current(job_id):
            self.progressed.emit(done, total)

    def _on_success(self, job_id: int, result: Any) -> None:
        w = self._current if self._is_current(job_id) else None
        if w is None:
            return  # superseded: a newer request owns the view
        self._store(w.key, result)
        self._current = None
        self.busyChanged.emit(False)
        self.resultReady.emit(w.key, result)

    def _on_failure(self, job_id: int, message: str) -> None:
        if self._is_current(job_id):
            self._current = None
            self.busyChanged.emit(False)
            self.failed.emit(message)

    def _on_thread_finished(self) -> None:
        for w in [w for w in _LIVE if w.isFinished()]:
            _LIVE.discard(w)


class JobBar(QWidget):
    """A progress bar and a Cancel button, shown while the runner's job runs."""

    def __init__(self, runner: JobRunner, what: str = "computing", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = runner
        self._what = what
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop this computation; the view keeps the previous result")
        self.cancel_button.clicked.connect(runner.cancel)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.cancel_button)
        runner.busyChanged.connect(self._on_busy)
        runner.progressed.connect(self._on_progress)
        self.setVisible(False)

    def _on_busy(self, busy: bool) -> None:
        if busy:
            # Busy indicator until the job's first report: some jobs report only at the end.
            self.bar.setRange(0, 0)
            self.bar.setFormat(f"{self._what}…")
        self.setVisible(busy)

    def _on_progress(self, done: int, total: int) -> None:
        if total <= 0:
            return
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self.bar.setFormat(f"{self._what}: %p %")
