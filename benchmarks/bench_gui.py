"""GUI performance figures: start-up to a computed window, playback fps, recompute time.

    python benchmarks/bench_gui.py

Runs offscreen (QT_QPA_PLATFORM=offscreen unless set) on a warm numba cache and prints
medians; it does not pass or fail.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import PaintCounter, playback_fps  # noqa: E402

STARTUP_CHILD = """
import os, sys, time
t_start = float(sys.argv[1])
sys.path.insert(0, {root!r})
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from gui.preload import load_numerics  # as `python main.py` does before it imports Qt
load_numerics()
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.app import configure_pyqtgraph
from gui.main_window import MainWindow, show_when_ready
configure_pyqtgraph()
s = QSettings({ini!r}, QSettings.IniFormat)
w = MainWindow(settings=s, autoplay=False, restore=False)
show_when_ready(w)
w.wait_ready()
app.processEvents()
w.repaint()
print(time.time() - t_start)
"""


def bench_startup(repeats: int = 5) -> list[float]:
    """Seconds from launching a fresh python to the window shown with results drawn.

    The child may write .pyc files, as Python does on a user's machine (a development
    environment that sets PYTHONDONTWRITEBYTECODE would time compiling every module)."""
    times = []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        code = STARTUP_CHILD.format(root=str(ROOT), ini=str(Path(tmp) / "s.ini"))
        subprocess.run([sys.executable, "-c", code, repr(time.time())], capture_output=True, text=True,
                       check=True, env=env)  # untimed: writes the .pyc files a user's first start leaves
        for _ in range(repeats):
            t0 = time.time()
            out = subprocess.run([sys.executable, "-c", code, repr(t0)], capture_output=True, text=True,
                                 check=True, env=env)
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def heavy_scenario():
    """Six runs of 5,000 steps on Rosenbrock."""
    from sim import OptimizerConfig
    from sim.scenario import PALETTE, Run, Scenario

    cfgs = [OptimizerConfig("gd", lr=1e-3), OptimizerConfig("momentum", lr=1e-3, momentum=0.9),
            OptimizerConfig("nesterov", lr=1e-3, momentum=0.9), OptimizerConfig("adam", lr=0.02),
            OptimizerConfig("rmsprop", lr=0.005), OptimizerConfig("adagrad", lr=0.5)]
    runs = tuple(Run(c, "", (-1.5, 2.0), 0, PALETTE[i]) for i, c in enumerate(cfgs))
    return Scenario("rosenbrock", {}, runs, 5000, 0, "bench")


def bench_recompute(app, doc, repeats: int = 15) -> list[float]:
    """Milliseconds from an edit of run 1's α to every view updated, cursor mid-way."""
    doc.set_cursor(doc.max_cursor // 2)
    app.processEvents()
    times = []
    for k in range(repeats):
        cfg = doc.scenario.runs[1].config
        t0 = time.perf_counter()
        doc.update_config(1, lr=cfg.lr * (1.01 if k % 2 == 0 else 1 / 1.01))
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def bench_window() -> tuple[float, float, list[float], list[float], float]:
    """(fps, fps with all overlays, recompute-and-redraw times in ms without and with the
    overlays, ms to simulate all six runs afresh) on the heavy load."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from gui.app import configure_pyqtgraph
    from gui.main_window import MainWindow

    configure_pyqtgraph()
    with tempfile.TemporaryDirectory() as tmp:
        s = QSettings(str(Path(tmp) / "s.ini"), QSettings.IniFormat)
        w = MainWindow(heavy_scenario(), settings=s, autoplay=False, restore=False)
        w.resize(1400, 900)
        w.show()
        w.wait_ready()
        doc = w.document

        from gui.views.contour import ContourView
        from gui.views.loss import LossView

        counters = [PaintCounter(view) for view in (w.findChild(ContourView),
                                                    w.findChild(LossView).currentWidget())]

        def fps() -> float:
            return playback_fps(app, doc, counters)

        plain = statistics.median(fps() for _ in range(3))
        times = bench_recompute(app, doc)
        for name in ("velocity", "gradient", "average"):
            w.options.set(name, True)
        overlays = statistics.median(fps() for _ in range(3))
        times_overlays = bench_recompute(app, doc)
        from sim.scenario import simulate_scenario

        sims = []
        for _ in range(5):  # the numerics alone: all six runs simulated afresh
            t0 = time.perf_counter()
            results = simulate_scenario(doc.scenario, doc.surface)
            sims.append((time.perf_counter() - t0) * 1000.0)
        sim_ms = statistics.median(sims)
        assert len(results) == 6
        w.close()
    return plain, overlays, times, times_overlays, sim_ms


def main() -> None:
    startup = bench_startup()
    print(f"start-up to computed window (warm cache): median {statistics.median(startup):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in startup)})")
    plain, overlays, times, times_overlays, sim_ms = bench_window()
    print(f"playback, 6 runs x 5000 steps, 1400x900 offscreen: {plain:.0f} frames/s "
          f"({overlays:.0f} frames/s with velocity, gradient and average overlays); every frame "
          f"paints the contour and the loss plot")
    print(f"recompute after a parameter change (6 x 5000 steps, all views updated): median "
          f"{statistics.median(times):.1f} ms ({statistics.median(times_overlays):.1f} ms with the "
          f"overlays on; only the edited run is simulated again); simulating all six runs afresh: "
          f"{sim_ms:.1f} ms")


if __name__ == "__main__":
    main()
