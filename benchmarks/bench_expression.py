"""Speed of custom (typed-expression) surfaces against the built-in surface they spell.

    python benchmarks/bench_expression.py [--quick] [--compile]

Prints medians, on a warm numba cache, for the custom rosenbrock "(1-x)^2 + 100*(y-x^2)^2"
and the built-in rosenbrock, and the ratio custom / built-in:
1. a batch of 20,000 particles × 1,000 gd steps;
2. `sim.simulate.basins(surface, gd, grid=128, steps=500)`.
With --compile it also prints the cold compile of the single-run kernel `run_one`, then of
the batch kernels (`run_block` in the parallel `run_particles`), in a fresh process on an
empty numba cache.
The machine has 2 cores and is noisy: read ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from timing import median_time as _median_time  # noqa: E402

from sim import OptimizerConfig, make_surface, simulate_batch  # noqa: E402
from sim.expression import custom_surface  # noqa: E402
from sim.simulate import basins  # noqa: E402

EXPR = "(1-x)^2 + 100*(y-x^2)^2"
PARTICLES = 20_000
STEPS = 1_000
GRID = 128
BASIN_STEPS = 500

# Run in a fresh process on an empty cache: the first single run compiles run_one (every
# surface and rule is a branch inside it), the first adam batch then run_block and
# run_particles (gd would take the fused kernel).
_COLD = """
import time
t = time.perf_counter()
import numpy as np
from sim import OptimizerConfig, make_surface, simulate, simulate_batch
s = make_surface("rosenbrock")
t0 = time.perf_counter()
simulate(s, OptimizerConfig("gd", lr=1e-3), steps=10)
t1 = time.perf_counter()
simulate_batch(s, OptimizerConfig("adam", lr=1e-3), np.zeros((4, 2)), 10)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def median_time(fn, repeats: int) -> float:
    """Median of `repeats` calls after one warm-up call (which may compile)."""
    return _median_time(fn, repeats, warm=True)




def cold_compile(repeats: int) -> tuple[float, float]:
    """Median seconds to compile run_one, then run_block in run_particles, on an empty
    numba cache."""
    rb, rp = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            out = subprocess.run([sys.executable, "-c", _COLD], cwd=ROOT, env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
        rb.append(float(out[0]))
        rp.append(float(out[1]))
    return statistics.median(rb), statistics.median(rp)


def row(label: str, custom: float, built_in: float) -> None:
    print(f"{label:<38} custom {custom:8.3f} s   built-in {built_in:8.3f} s   "
          f"ratio {custom / built_in:6.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--compile", action="store_true", help="also time cold compilation")
    args = ap.parse_args()
    repeats = 3 if args.quick else 7

    ref = make_surface("rosenbrock")
    # The same box, so that both basin maps start from the same lattice.
    custom = custom_surface(EXPR, box=ref.box)
    cfg = OptimizerConfig("gd", lr=1e-4)
    rng = np.random.default_rng(0)
    x0, x1, y0, y1 = ref.box
    starts = np.column_stack([rng.uniform(x0, x1, PARTICLES), rng.uniform(y0, y1, PARTICLES)])

    times = {}
    for name, s in (("custom", custom), ("built-in", ref)):
        times[name, "batch"] = median_time(lambda s=s: simulate_batch(s, cfg, starts, STEPS), repeats)
        times[name, "basins"] = median_time(
            lambda s=s: basins(s, cfg, grid=GRID, steps=BASIN_STEPS), repeats)
    print(f"median of {repeats} runs, warm numba cache")
    row(f"batch {PARTICLES:,} × {STEPS:,} gd steps", times["custom", "batch"],
        times["built-in", "batch"])
    row(f"basins grid={GRID}, steps={BASIN_STEPS}", times["custom", "basins"],
        times["built-in", "basins"])
    if args.compile:
        rb, rp = cold_compile(1 if args.quick else 3)
        print(f"cold compile: run_one {rb:.2f} s, then run_block in run_particles {rp:.2f} s")


if __name__ == "__main__":
    main()
