"""The job runner: results in the GUI thread, newest request wins, cancel, LRU cache."""

from __future__ import annotations

import threading

from gui.jobs import JobRunner, job_key
from sim import OptimizerConfig, make_surface
from sim.simulate import Cancelled


def _slow(value, release: threading.Event, progress=None):
    """Reports until `release` is set (or it is cancelled), then returns `value`."""
    done = 0
    while not release.wait(0.005):
        done += 1
        if progress is not None and progress(done, 10_000) is False:
            raise Cancelled()
    return value


def test_result_arrives_in_gui_thread(qtbot):
    runner = JobRunner()
    got = []
    runner.resultReady.connect(lambda key, r: got.append((key, r, threading.current_thread())))
    release = threading.Event()
    assert runner.request("a", _slow, "A", release) is False
    assert runner.busy
    release.set()
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got[0][:2] == ("a", "A") and got[0][2] is threading.main_thread()
    assert not runner.busy


def test_newer_request_supersedes_older(qtbot):
    runner = JobRunner()
    got = []
    runner.resultReady.connect(lambda key, r: got.append(r))
    first, second = threading.Event(), threading.Event()
    runner.request("a", _slow, "A", first)
    runner.request("b", _slow, "B", second)
    first.set()  # the first job would finish now, but it has been cancelled
    second.set()
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    qtbot.wait(50)
    assert got == ["B"]
    assert runner.cached("a") is None and runner.cached("b") == "B"


def test_cancel_stops_the_job_and_delivers_nothing(qtbot):
    runner = JobRunner()
    got, cancelled = [], []
    runner.resultReady.connect(lambda key, r: got.append(r))
    runner.cancelled.connect(lambda: cancelled.append(True))
    release = threading.Event()
    with qtbot.waitSignal(runner.progressed, timeout=5000):
        runner.request("a", _slow, "A", release)
    runner.cancel()
    assert cancelled and not runner.busy
    release.set()
    qtbot.wait(100)
    assert got == [] and runner.cached("a") is None


def test_cache_hit_is_immediate_and_lru(qtbot):
    runner = JobRunner(cache_size=2)
    calls = []

    def f(x):
        calls.append(x)
        return x * 2

    assert runner.compute_now("x1", f, 1) == 2
    assert runner.compute_now("x2", f, 2) == 4
    started = runner.jobs_started
    got = []
    runner.resultReady.connect(lambda key, r: got.append(r))
    assert runner.request("x1", f, 1) is True  # from the cache: no thread
    assert got == [2] and runner.jobs_started == started and calls == [1, 2]
    runner.compute_now("x3", f, 3)  # evicts x2, the least recently used
    assert runner.cached("x2") is None and runner.cached("x1") == 2


def test_failure_is_reported(qtbot):
    runner = JobRunner()

    def bad(progress=None):
        raise ValueError("lr must be positive")

    with qtbot.waitSignal(runner.failed, timeout=5000) as sig:
        runner.request("bad", bad)
    assert sig.args == ["lr must be positive"] and not runner.busy


def test_job_key_depends_on_every_setting():
    s = make_surface("himmelblau")
    cfg = OptimizerConfig("gd", lr=0.01)
    k = job_key("basins", s, cfg, grid=64, steps=100, box=s.box)
    assert k == job_key("basins", make_surface("himmelblau"), OptimizerConfig("gd", lr=0.01), steps=100,
                        box=tuple(s.box), grid=64)
    assert k != job_key("basins", s, OptimizerConfig("gd", lr=0.02), grid=64, steps=100, box=s.box)
    assert k != job_key("basins", s, cfg, grid=65, steps=100, box=s.box)
    assert k != job_key("basins", make_surface("two_minima"), cfg, grid=64, steps=100, box=s.box)
    hash(k)


def test_window_prepares_the_fused_kernel_of_each_surface_it_shows(window, qtbot, monkeypatch):
    """The window never compiles the fused batch kernel in its own thread: a background
    thread prepares it for the surface shown, and batches use it once it is ready."""
    from sim import kernels

    assert kernels.FAST_ON_DEMAND is False
    monkeypatch.setattr(kernels, "_FAST", {})  # nothing prepared yet in this process
    window.document.set_surface("himmelblau")
    code = window.document.surface.code
    qtbot.waitUntil(lambda: kernels.fast_ready(code), timeout=120_000)
    window.document.set_surface("linreg")  # a dataset surface: no fused kernel, no thread
    assert not window._fast_prep._codes
    assert not kernels.fast_ready(window.document.surface.code)
