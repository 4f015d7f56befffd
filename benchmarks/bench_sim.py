"""Performance figures of the simulation core, as ratios measured in one run.

    python benchmarks/bench_sim.py [--quick]

Prints:
1. one Adam run of 10,000 steps on rosenbrock, every step recorded (compiled);
2. the batch kernel, 100,000 particles × 1,000 momentum steps on rosenbrock, against the
   same computation vectorized in numpy over particles (momentum, iterate averaging and
   freezing of diverged particles), with the largest difference of the results; the fused
   kernel (gd and momentum on built-in surfaces) and the general one (every other batch);
3. wall time of `python main.py run` with a warm numba cache;
4. wall time of the first `python main.py run` on an empty numba cache (a fresh folder each
   time).
Each figure is the median of several runs; the machine has 2 cores and is noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import interleaved_ratio, median_time  # noqa: E402

from sim import OptimizerConfig, make_surface, simulate, simulate_batch  # noqa: E402
from sim.memory import retain_freed_memory  # noqa: E402

# As `python main.py` does: batches (and numpy's temporaries) reuse freed memory.
retain_freed_memory()


def numpy_momentum_rosenbrock(x0, y0, steps, lr, mu, a, b, avg_tau, centre, bound):
    """Heavy ball on Rosenbrock, vectorized over particles, with the kernel's semantics."""
    x = x0.copy()
    y = y0.copy()
    ax = x0.copy()
    ay = y0.copy()
    px = np.zeros_like(x)
    py = np.zeros_like(y)
    alive = np.ones(x.shape, bool)
    div = np.full(x.shape, -1)
    c2 = 1.0 / avg_tau
    c1 = 1.0 - c2
    for t in range(steps):
        r = y - x * x
        gx = -2.0 * (a - x) - 4.0 * b * x * r
        gy = 2.0 * b * r
        px = mu * px - lr * gx
        py = mu * py - lr * gy
        nx = x + px
        ny = y + py
        ok = alive & (np.abs(nx - centre[0]) <= bound) & (np.abs(ny - centre[1]) <= bound)
        div[alive & ~ok] = t + 1
        alive = ok
        x = np.where(ok, nx, x)
        y = np.where(ok, ny, y)
        ax = np.where(ok, c1 * ax + c2 * x, ax)
        ay = np.where(ok, c1 * ay + c2 * y, ay)
    return x, y, ax, ay, div


def cli_wall(env: dict, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "main.py", "run"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer particles and repeats")
    ap.add_argument("--no-cold", action="store_true", help="skip the empty-cache measurement")
    args = ap.parse_args()
    rb = make_surface("rosenbrock")

    # 1. One recorded Adam run.
    cfg = OptimizerConfig("adam", lr=0.01)
    simulate(rb, cfg, (-1.5, 2.0), 10_000)
    t_one = median_time(lambda: simulate(rb, cfg, (-1.5, 2.0), 10_000), 31)
    print(f"single run, adam, 10,000 steps recorded: {t_one * 1e3:.3f} ms "
          f"({10_000 / t_one / 1e6:.1f} M steps/s)")

    # 2. Batch kernel against numpy.
    P = 20_000 if args.quick else 100_000
    steps = 1_000
    rng = np.random.default_rng(0)
    starts = np.column_stack([rng.uniform(-2, 2, P), rng.uniform(-1, 3, P)])
    mom = OptimizerConfig("momentum", lr=1e-4, momentum=0.9, avg_tau=20.0)
    simulate_batch(rb, mom, starts[:512], 10)
    res = None

    def run_kernel():
        nonlocal res
        res = simulate_batch(rb, mom, starts, steps)

    ref = None

    def run_numpy():
        nonlocal ref
        ref = numpy_momentum_rosenbrock(starts[:, 0], starts[:, 1], steps, mom.lr, mom.momentum,
                                        1.0, 100.0, mom.avg_tau, rb.centre, rb.bound)

    # The ratio: the median of per-round ratios, each round timing the kernel just before
    # and just after one numpy run (timing.interleaved_ratio: the machine's speed drifts).
    t_k, t_np, ratio = interleaved_ratio(run_kernel, run_numpy, 1 if args.quick else 4)

    # The same batch through the general kernel (run_particles), which noisy, adaptive and
    # dataset batches use: the fused kernel's gain.
    from sim import kernels as K

    saved = K._FAST
    K.FAST_ON_DEMAND, K._FAST = False, {}
    simulate_batch(rb, mom, starts[:512], 10)
    t_gen = median_time(lambda: simulate_batch(rb, mom, starts, steps), 3 if args.quick else 5)
    K.FAST_ON_DEMAND, K._FAST = True, saved

    x, y, ax, ay, div = ref
    diff = max(np.max(np.abs(res.final_theta[:, 0] - x)), np.max(np.abs(res.final_theta[:, 1] - y)),
               np.max(np.abs(res.avg_theta[:, 0] - ax)), np.max(np.abs(res.avg_theta[:, 1] - ay)))
    same_div = bool(np.array_equal(res.diverged_at, div))
    import numba

    print(f"batch, {P:,} particles x {steps:,} momentum steps: numba {t_k * 1e3:.1f} ms, "
          f"numpy {t_np * 1e3:.0f} ms, ratio {ratio:.1f}x; "
          f"{P * steps / t_k / 1e9:.2f} G particle-steps/s on {numba.get_num_threads()} threads "
          f"({numba.threading_layer()} layer)")
    print(f"    general kernel (run_particles) on the same batch: {t_gen * 1e3:.1f} ms, "
          f"ratio {t_np / t_gen:.1f}x; the fused kernel is {t_gen / t_k:.2f}x faster")
    print(f"    results: max |difference| {diff:.3g}, diverged_at identical: {same_div}, "
          f"{int((div >= 0).sum())} particles diverged")

    # 3. Warm command line. Python writes and reuses bytecode (.pyc) as on a user's machine,
    # even where the environment turns that off; one run first to write it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cli_wall(env, 1)
    walls = cli_wall(env, 7)
    print(f"`python main.py run`, warm cache: median {statistics.median(walls):.2f} s "
          f"(runs: {', '.join(f'{w:.2f}' for w in walls)})")

    # 4. Cold command line: an empty cache folder.
    if not args.no_cold:
        colds = []
        for _ in range(1 if args.quick else 3):
            with tempfile.TemporaryDirectory() as d:
                colds += cli_wall(dict(env, NUMBA_CACHE_DIR=d), 1)
        print(f"`python main.py run`, empty numba cache (first run after install): median "
              f"{statistics.median(colds):.1f} s (runs: {', '.join(f'{w:.1f}' for w in colds)})")


if __name__ == "__main__":
    main()
