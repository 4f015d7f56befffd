"""Figures for issue 4's targets: basin maps, particle clouds and sweeps.

1. A 256 x 256 basin map of 1,000 gd steps on two_minima (`sim.basins`: the step loop,
   divergence and settling checks, and the labels), against the same computation
   vectorized over all starts in numpy, measured in this run. Target: < 50 ms, >= 20x.
2. A 10,000-particle cloud of 1,000 noisy gd steps (`sim.particle_cloud`, with the
   every-k-th-step float32 records and the mean/covariance/percentile statistics).
   Target: < 200 ms.
3. A 13-rate x 10-seed sweep of 1,000 noisy momentum steps, for scale.

Run: python benchmarks/bench_explore.py [--quick]. Prints medians of several runs; the
machine has 2 noisy cores, so compare the ratios, not single figures. The numpy ratio is
the median of per-round ratios, each round timing the kernel just before and after numpy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import interleaved_ratio, median_time  # noqa: E402

from sim import OptimizerConfig, make_surface  # noqa: E402
from sim.memory import retain_freed_memory  # noqa: E402
from sim.simulate import basins, label_minima, log_spaced, particle_cloud, sweep  # noqa: E402

# As `python main.py` does: batches (and numpy's temporaries) reuse freed memory.
retain_freed_memory()


def numpy_basins(surface, lr: float, grid: int, steps: int, tol: float):
    """gd from every grid start, vectorized over starts: the same steps, divergence bound
    and settling count as the kernel (a basin map keeps no iterate average), then the same
    labels. Plain numpy arithmetic: each product rounded."""
    x0, x1, y0, y1 = surface.box
    gx0, gy0 = np.meshgrid(np.linspace(x0, x1, grid), np.linspace(y0, y1, grid))
    x = gx0.ravel().copy()
    y = gy0.ravel().copy()
    settle = np.zeros_like(x)
    alive = np.ones(x.size, bool)
    tilt = surface.params["tilt"]
    cx, cy = surface.centre
    bound = surface.bound
    tol2 = tol * tol
    for _ in range(steps):
        w = x * x - 1.0
        r = y - 0.5 * x * x
        gx = 4.0 * x * w + tilt - 2.0 * x * r
        gy = 2.0 * r
        nx = x - lr * gx
        ny = y - lr * gy
        ok = alive & (np.abs(nx - cx) <= bound) & (np.abs(ny - cy) <= bound)
        alive &= ok
        d2 = (nx - x) ** 2 + (ny - y) ** 2
        settle = np.where(ok, (settle + 1.0) * (d2 <= tol2), settle)
        x = np.where(ok, nx, x)
        y = np.where(ok, ny, y)
    final = np.column_stack([x, y])
    return label_minima(surface, final, ~alive, 0.01 * max(x1 - x0, y1 - y0)).reshape(grid, grid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    args = ap.parse_args()
    rep = 3 if args.quick else 7

    s = make_surface("two_minima")
    gd = OptimizerConfig("gd", lr=0.01)
    grid, steps = 256, 1000
    basins(s, gd, grid=16, steps=10)  # load the kernels
    m = basins(s, gd, grid=grid, steps=steps)
    tol = m.settle_tol
    t_k, t_np, ratio = interleaved_ratio(lambda: basins(s, gd, grid=grid, steps=steps),
                                         lambda: numpy_basins(s, 0.01, grid, steps, tol),
                                         max(1, rep // 2))
    # numpy rounds each product; the kernel rounds its multiply-adds once (sim/fma.py): a
    # start on a basin's edge may end in the other basin.
    differ = int(np.count_nonzero(numpy_basins(s, 0.01, grid, steps, tol) != m.label))
    print(f"basins {grid}x{grid} x {steps} gd steps: numba {t_k * 1e3:.1f} ms, numpy {t_np * 1e3:.0f} ms, "
          f"ratio {ratio:.1f}x (target < 50 ms, >= 20x); labels differing from numpy's: "
          f"{differ} of {grid * grid:,}")
    for g in (96, 128):
        t_small = median_time(lambda g=g: basins(s, gd, grid=g, steps=steps), rep)
        print(f"basins {g}x{g} x {steps} gd steps (live while dragging): {t_small * 1e3:.1f} ms")

    q = make_surface("quadratic")
    noisy = OptimizerConfig("gd", lr=0.05, noise=1.0)
    particle_cloud(q, noisy, particles=100, steps=10)
    t_c = median_time(lambda: particle_cloud(q, noisy, particles=10_000, steps=1000), rep)
    c = particle_cloud(q, noisy, particles=10_000, steps=1000)
    mb = (c.theta.nbytes + c.cost.nbytes) / 2**20
    print(f"cloud 10,000 particles x 1,000 noisy steps: {t_c * 1e3:.1f} ms (target < 200 ms); "
          f"keeps {c.record_steps.size} frames, {mb:.0f} MiB float32")

    r = make_surface("rosenbrock")
    mom = OptimizerConfig("momentum", lr=1e-3, momentum=0.9, noise=0.5)
    lrs = log_spaced(1e-4, 1.0, 13)
    t_s = median_time(lambda: sweep(r, mom, "lr", lrs, 1000, start=(-1.5, 2), seeds=range(10)), rep)
    print(f"sweep 13 rates x 10 seeds x 1,000 noisy momentum steps: {t_s * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
