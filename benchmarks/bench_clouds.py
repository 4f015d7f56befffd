"""Performance of particle clouds and of the comparison grid, offscreen, on a warm numba cache.

    python benchmarks/bench_clouds.py [--clouds-only | --grid-only]

Prints medians: the recompute of a 10,000-particle cloud of 1,000 noisy steps (alone and
in the document, views included), playback frames per second with that cloud and two
plain runs, and playback of the Compare tab with 12 panels of 5,000 steps. It does not
pass or fail.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import PaintCounter, playback_fps  # noqa: E402

PARTICLES = 10_000
CLOUD_STEPS = 1_000
GRID_PANELS = 12
GRID_STEPS = 5_000


def cloud_scenario():
    """One noisy 10,000-particle cloud of 1,000 steps and two plain runs on a quadratic."""
    from sim import OptimizerConfig
    from sim.scenario import PALETTE, Run, Scenario

    noisy = OptimizerConfig("gd", lr=0.1, noise=2.0, batch_size=1)
    runs = (Run(noisy, "SGD cloud", (-2.5, 1.5), 0, PALETTE[0], True, PARTICLES, 0.1),
            Run(OptimizerConfig("gd", lr=0.05), "gd", (-2.5, 1.5), 0, PALETTE[1]),
            Run(OptimizerConfig("momentum", lr=0.02, momentum=0.9), "momentum", (-2.5, 1.5), 0, PALETTE[2]))
    return Scenario("quadratic", {"kappa": 4.0, "angle": 0.0}, runs, CLOUD_STEPS, 0, "bench clouds")


def grid_scenario():
    """Twelve runs of 5,000 steps on Rosenbrock: one Compare panel each."""
    from sim import OptimizerConfig
    from sim.scenario import PALETTE, Run, Scenario

    lrs = [1e-4 * 1.5 ** k for k in range(GRID_PANELS)]
    runs = tuple(Run(OptimizerConfig("momentum", lr=lr, momentum=0.9), "", (-1.5, 2.0), 0,
                     PALETTE[k % len(PALETTE)]) for k, lr in enumerate(lrs))
    return Scenario("rosenbrock", {}, runs, GRID_STEPS, 0, "bench grid")


def _window(scenario, tmp: str):
    from PySide6.QtCore import QSettings

    from gui.app import configure_pyqtgraph
    from gui.main_window import MainWindow

    configure_pyqtgraph()
    s = QSettings(str(Path(tmp) / "s.ini"), QSettings.IniFormat)
    w = MainWindow(scenario, settings=s, autoplay=False, restore=False)
    w.resize(1400, 900)
    w.show()
    w.wait_ready()
    return w


def bench_clouds() -> dict[str, float]:
    """Cloud recompute times (ms) and playback fps with the 10,000-particle cloud."""
    from PySide6.QtWidgets import QApplication

    from sim.simulate import particle_cloud

    app = QApplication.instance() or QApplication([])
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        w = _window(cloud_scenario(), tmp)
        doc = w.document
        run = doc.scenario.runs[0]
        times = []
        for _ in range(5):  # the numerics alone
            t0 = time.perf_counter()
            particle_cloud(doc.surface, run.config, run.start, run.particles, CLOUD_STEPS, run.seed, run.jitter)
            times.append((time.perf_counter() - t0) * 1000.0)
        out["cloud_ms"] = statistics.median(times)
        times = []
        doc.set_cursor(CLOUD_STEPS // 2)
        for k in range(5):  # an edit of the cloud's α in the window: cloud, path, every view
            cfg = doc.scenario.runs[0].config
            t0 = time.perf_counter()
            doc.update_config(0, lr=cfg.lr * (1.01 if k % 2 == 0 else 1 / 1.01))
            app.processEvents()
            times.append((time.perf_counter() - t0) * 1000.0)
        out["document_ms"] = statistics.median(times)
        cloud = doc.cloud_of(0)
        out["frames_kept"] = float(cloud.record_steps.size)
        out["cloud_mb"] = (cloud.theta.nbytes + cloud.cost.nbytes) / 1e6
        counters = [PaintCounter(w.contour), PaintCounter(w.loss.currentWidget())]
        out["fps"] = statistics.median(playback_fps(app, doc, counters) for _ in range(3))
        w.options.set("average", True)
        out["fps_average"] = statistics.median(playback_fps(app, doc, counters) for _ in range(3))
        w.close()
    return out


def bench_grid() -> dict[str, float]:
    """Playback fps of the Compare tab with 12 panels of 5,000 steps, and its first build."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        w = _window(grid_scenario(), tmp)
        doc = w.document
        t0 = time.perf_counter()
        w.tabs.setCurrentWidget(w.compare)  # the tab computes nothing until shown
        app.processEvents()
        out["first_show_ms"] = (time.perf_counter() - t0) * 1000.0
        assert len(w.compare.panels) == GRID_PANELS
        counters = [PaintCounter(w.compare.grid), PaintCounter(w.compare.loss_plot)]
        out["fps"] = statistics.median(playback_fps(app, doc, counters) for _ in range(3))
        w.close()
    return out


def main() -> None:
    args = set(sys.argv[1:])
    if "--grid-only" not in args:
        c = bench_clouds()
        print(f"cloud of {PARTICLES:,} particles x {CLOUD_STEPS:,} noisy steps: particle_cloud "
              f"{c['cloud_ms']:.0f} ms; recompute in the window after an edit of its α "
              f"(cloud + path + all views) {c['document_ms']:.0f} ms (medians of 5); kept "
              f"{c['frames_kept']:.0f} frames, {c['cloud_mb']:.0f} MB float32")
        print(f"playback, 1 cloud of {PARTICLES:,} + 2 plain runs, 1400x900 offscreen: "
              f"{c['fps']:.0f} frames/s ({c['fps_average']:.0f} with the iterate-average overlay); "
              f"every frame paints the contour and the loss plot")
    if "--clouds-only" not in args:
        g = bench_grid()
        print(f"Compare tab, {GRID_PANELS} panels x {GRID_STEPS:,} steps, 1400x900 offscreen: "
              f"{g['fps']:.0f} frames/s; first show (builds panels, draws the surface once) "
              f"{g['first_show_ms']:.0f} ms")


if __name__ == "__main__":
    main()
