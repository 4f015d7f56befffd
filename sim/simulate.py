"""Public entry points: `simulate` (one recorded run) and `simulate_batch` (P particles).

    from sim import make_surface, OptimizerConfig, simulate
    s = make_surface("rosenbrock")
    traj = simulate(s, OptimizerConfig("adam", lr=0.01), start=(-1.5, 2), steps=500)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from sim import kernels as K
from sim.optimizers import HYPERPARAMS, RULES, SCHEDULES, OptimizerConfig
from sim.surfaces import Surface
from sim.trajectory import BatchResult, Trajectory

MAX_STEPS = 10_000_000


def _whole(value, name: str, lo: int, hi: int, hi_text: str | None = None) -> int:
    """`value` as an int in [lo, hi]; ValueError naming `name` otherwise (True is no 1)."""
    if isinstance(value, bool) or int(value) != value or not (lo <= value <= hi):
        raise ValueError(f"{name} must be a whole number in [{lo}, {hi_text or hi}], not {value!r}")
    return int(value)


def _check_steps(steps: int) -> int:
    return _whole(steps, "steps", 0, MAX_STEPS)


MAX_SEED = 2**63 - 1


def _check_seed(seed) -> int:
    return _whole(seed, "seed", 0, MAX_SEED, "2**63 - 1")


def _check_start(start) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in start)
    except (TypeError, ValueError):
        raise ValueError(f"start must be two numbers x, y, not {start!r}") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"start must be finite, not {start!r}")
    return x, y


def _settings(surface: Surface, cfg: OptimizerConfig, track_best: bool, settle_tol: float = 0.0,
              average: bool = True):
    """The kernel's integer and shared settings for one config."""
    ip = np.zeros(K.NIP, np.int64)
    ip[K.I_AVERAGE] = int(average)
    ip[K.I_RULE] = RULES[cfg.rule].code
    ip[K.I_SCHED] = SCHEDULES[cfg.schedule][0]
    ip[K.I_BATCH] = int(cfg.batch_size or 0)
    ip[K.I_TRACK_BEST] = int(track_best)
    sh = np.zeros(K.NSH)
    sh[K.S_T0] = cfg.decay_start
    sh[K.S_TAU] = cfg.tau
    sh[K.S_AVG_TAU] = cfg.avg_tau
    sh[K.S_BOUND] = surface.bound
    sh[K.S_CX], sh[K.S_CY] = surface.centre
    sh[K.S_TOL2] = settle_tol * settle_tol
    return ip, sh


def _fused_applies(code: int, ip: np.ndarray, sh: np.ndarray, hpp: np.ndarray) -> bool:
    """Whether a batch group runs through the fused kernel (kernels.fast_particles): gd or
    momentum with exact gradients on a built-in surface, not tracking the best cost, not
    both tracking settling and keeping the iterate average (basin maps do the first, other
    batches the second), and the kernel is compiled or may be (kernels.FAST_ON_DEMAND)."""
    return (K.fast_applies(code, int(ip[K.I_RULE])) and not ip[K.I_TRACK_BEST]
            and not (sh[K.S_TOL2] > 0.0 and ip[K.I_AVERAGE])
            and not np.any(hpp[K.H_NOISE] > 0.0) and (K.FAST_ON_DEMAND or K.fast_ready(code)))


def _hyper_column(c: OptimizerConfig) -> tuple[float, ...]:
    return (c.lr, c.momentum, c.beta1, c.beta2, c.rho, c.eps, c.damping, c.noise)


def _hyper_rows(configs: Sequence[OptimizerConfig]) -> np.ndarray:
    """The per-particle hyperparameters, (NHP, P); shared configs are converted once."""
    columns: dict[int, tuple[float, ...]] = {}
    hpp = np.empty((K.NHP, len(configs)))
    for i, c in enumerate(configs):
        col = columns.get(id(c))
        if col is None:
            col = columns[id(c)] = _hyper_column(c)
        hpp[:, i] = col
    return hpp


def simulate(surface: Surface, config: OptimizerConfig, start=None, steps: int = 500,
             seed: int = 0) -> Trajectory:
    """Run one optimizer from `start` (default: the surface's) and record every step."""
    cfg = config.validated()
    steps = _check_steps(steps)
    seed = _check_seed(seed)
    x0, y0 = _check_start(surface.start if start is None else start)
    ip, sh = _settings(surface, cfg, track_best=False)
    n = steps + 1
    theta, grad, avg, velocity = (np.empty((n, 2)) for _ in range(4))
    lr, cost, avg_cost, kinetic = (np.empty(n) for _ in range(4))
    # One scalar loop (kernels._run_one) writes every row, E(θ_t) and E(θ̃_t) included.
    nrec, div = K.run_one(surface.code, surface.kparams, surface.X, surface.T, ip, sh,
                          np.array(_hyper_column(cfg)), float(x0), float(y0), int(seed), steps,
                          theta, grad, avg, velocity, lr, cost, avg_cost, kinetic)
    if nrec == 0:  # E or ∇E not finite there (a custom surface's log of a negative number)
        raise ValueError(f"the surface is undefined at the start ({x0:g}, {y0:g})")
    if nrec < n:
        theta, grad, avg, velocity, lr, cost, avg_cost, kinetic = (
            a[:nrec].copy() for a in (theta, grad, avg, velocity, lr, cost, avg_cost, kinetic))
    return Trajectory(
        theta=theta,
        cost=cost,
        grad=grad,
        velocity=velocity,
        lr=lr,
        avg=avg,
        avg_cost=avg_cost,
        kinetic=kinetic,
        diverged_at=div if div >= 0 else None,
        config=cfg,
        seed=int(seed),
        steps_requested=steps,
    )


def record_steps(steps: int, every: int) -> np.ndarray:
    """The steps a batch records: 0, k, 2k, … and always the last."""
    r = list(range(0, steps + 1, every))
    if r[-1] != steps:
        r.append(steps)
    return np.array(r, np.int64)


def _shared_key(c: OptimizerConfig) -> tuple:
    return (c.rule, c.batch_size, c.schedule, c.decay_start, c.tau, c.avg_tau)


def simulate_batch(surface: Surface, configs: OptimizerConfig | Sequence[OptimizerConfig],
                   starts, steps: int, seeds=None, every: int | None = None,
                   dtype=np.float64, track_best: bool = False,
                   settle_tol: float | None = None, parallel: bool = True,
                   average: bool = True) -> BatchResult:
    """Run P particles in parallel numba blocks (`parallel=False`: in one block, in the
    calling thread, through run_block without the parallel wrapper: less to compile).

    `configs` is one config for all particles or one per particle; `starts` is (P, 2) or a
    single (x, y); `seeds` one per particle (default 0..P-1). With `every=k` θ and E are
    kept for every k-th step (in `dtype`), otherwise only the start and the end.
    With `settle_tol` > 0, `settled_at` holds the step from which on no update moved a
    particle farther than `settle_tol` (tracking it costs about a third more).
    With `average=False` the iterate average is not computed (`avg_theta` and `avg_cost`
    are None): batches that need only where particles end, such as basin maps, run faster.
    """
    steps = _check_steps(steps)
    starts = np.asarray(starts, float)
    if isinstance(configs, OptimizerConfig):
        P = starts.shape[0] if starts.ndim == 2 else 1
        one = configs.validated()
        cfg_list = [one] * P
    else:
        cfg_list = [c.validated() for c in configs]
        P = len(cfg_list)
    if starts.ndim == 1:
        starts = np.broadcast_to(starts, (P, 2))
    if starts.shape != (P, 2) or not np.all(np.isfinite(starts)):
        raise ValueError(f"starts must be {P} finite (x, y) pairs")
    if seeds is None:
        seeds = np.arange(P, dtype=np.int64)
    else:
        if np.shape(seeds) != (P,):
            raise ValueError(f"seeds must hold {P} integers")
        arr = np.asarray(seeds)
        if arr.dtype.kind in "iu" and (P == 0 or (arr.min() >= 0 and arr.max() <= MAX_SEED)):
            seeds = arr.astype(np.int64)
        else:  # the slow path names the first bad seed
            seeds = np.array([_check_seed(v) for v in arr.tolist()], np.int64)
    if every is None:
        every = max(steps, 1)
    if isinstance(every, bool) or int(every) != every or every < 1:
        raise ValueError(f"every must be a positive whole number, not {every!r}")
    every = min(int(every), max(steps, 1))
    rs = record_steps(steps, every)
    tol = 0.0 if settle_tol is None else float(settle_tol)
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"settle_tol must be a finite number >= 0, not {settle_tol!r}")

    out = np.empty((K.NOUT, P))
    div = np.empty(P, np.int64)
    rx = np.empty((rs.size, P))
    ry = np.empty((rs.size, P))
    rc = np.empty((rs.size, P))
    groups: dict[tuple, list[int] | slice] = {}
    if isinstance(configs, OptimizerConfig):
        groups[_shared_key(one)] = slice(0, P)  # (a slice: no index array to build)
    else:
        for i, c in enumerate(cfg_list):
            groups.setdefault(_shared_key(c), []).append(i)
    for members in groups.values():
        idx = members if isinstance(members, slice) else np.array(members)
        n_g = P if isinstance(members, slice) else idx.size
        whole = n_g == P
        ip, sh = _settings(surface, cfg_list[0 if whole else idx[0]], track_best, tol, average)
        if isinstance(configs, OptimizerConfig):
            hpp = np.empty((K.NHP, P))
            hpp[:] = np.array(_hyper_column(one))[:, None]
        else:
            hpp = _hyper_rows([cfg_list[i] for i in (range(P) if whole else idx)])
        g_out = out if whole else np.empty((K.NOUT, n_g))
        g_div = div if whole else np.empty(n_g, np.int64)
        g_rx, g_ry, g_rc = (rx, ry, rc) if whole else (np.empty((rs.size, n_g)) for _ in range(3))
        x0 = np.ascontiguousarray(starts[idx, 0])
        y0 = np.ascontiguousarray(starts[idx, 1])
        args = (surface.code, surface.kparams, surface.X, surface.T, ip, sh, hpp, x0, y0,
                np.ascontiguousarray(seeds[idx]), steps, every)
        if parallel and _fused_applies(surface.code, ip, sh, hpp):
            K.fast_particles(surface.code, surface.kparams, ip, sh, hpp, x0, y0, steps, every,
                             g_rx, g_ry, g_rc, g_out, g_div)
        elif parallel:
            K.run_particles(*args, g_rx, g_ry, g_rc, g_out, g_div)
        else:
            K.run_block(*args, 0, n_g, g_rx, g_ry, g_rc, g_out, g_div)
        if not whole:
            out[:, idx] = g_out
            div[idx] = g_div
            rx[:, idx] = g_rx
            ry[:, idx] = g_ry
            rc[:, idx] = g_rc
    # A particle that stopped at a point where E is undefined (custom surfaces) diverged
    # one step earlier than its update failed. Undefined costs read +inf, never NaN: also
    # E(θ̃) when only the average strays out of the domain.
    undefined = ~np.isfinite(out[2])
    if undefined.any():
        div[undefined & (div > 0)] -= 1
    if undefined.any() or surface.code == K.CUSTOM:  # (else every cost is finite: skip the pass)
        for a in (out[2], out[5], out[6], rc):
            a[~np.isfinite(a)] = np.inf
    theta = np.empty(rx.shape + (2,), dtype)  # filled in place: no float64 (R, P, 2) copy
    theta[..., 0] = rx
    theta[..., 1] = ry
    return BatchResult(
        final_theta=np.column_stack([out[0], out[1]]),
        final_cost=out[2].copy(),
        avg_theta=np.column_stack([out[3], out[4]]) if average else None,
        avg_cost=out[5].copy() if average else None,
        best_cost=out[6].copy(),
        diverged_at=div,
        settled_at=(steps - out[7]).astype(np.int64) if tol > 0 else None,
        record_steps=rs,
        theta=theta,
        cost=rc.astype(dtype, copy=False),
    )



# ----------------------------------------------------------------------------------------
# Many runs, summarized: sweeps (section 4.5), basins of attraction (section 4.1), random
# restarts (section 4.2) and particle clouds of stochastic runs (section 3).
#
# Long jobs run in chunks and call `progress(done, total)` between them; a progress
# function that returns False cancels the job with `Cancelled`. sim stays Qt-free: the
# GUI's worker thread passes a function that reads its Cancel button.

Progress = Callable[[int, int], bool] | None


class Cancelled(Exception):
    """A long job stopped because its progress function asked it to."""


def _report(progress: Progress, done: int, total: int) -> None:
    if progress is not None and progress(done, total) is False:
        raise Cancelled()


def log_spaced(lo: float, hi: float, points: int) -> np.ndarray:
    """`points` values from lo to hi inclusive, evenly spaced on a log scale."""
    if isinstance(points, bool) or int(points) != points or points < 1:
        raise ValueError(f"points must be a whole number >= 1, not {points!r}")
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"a log-spaced range needs finite positive ends, not {lo!r}..{hi!r}")
    if points == 1:
        return np.array([float(lo)])
    v = np.exp(np.linspace(math.log(lo), math.log(hi), int(points)))
    # 12 significant digits: 1e-4 stays 1e-4, not 0.00010000000000000009, in files and labels.
    return np.array([float(f"{x:.12g}") for x in v])


def _sweepable(name: str) -> str:
    if name not in HYPERPARAMS:
        raise ValueError(f"cannot sweep {name!r}; choose one of: {', '.join(HYPERPARAMS)}")
    return name


CHUNK = 16384  # runs per kernel call between progress reports (64 blocks; measured fastest)


def _chunks(total: int, parts: int) -> list[tuple[int, int]]:
    parts = max(1, min(parts, total))
    edges = np.linspace(0, total, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Final and best cost over a grid of one or two hyperparameters × seeds.

    Arrays are indexed [i2, i, s]: the second hyperparameter (length 1 when there is
    none), the first, and the seed. diverged_at is -1 where a run did not diverge.
    """

    name: str
    values: np.ndarray
    name2: str | None
    values2: np.ndarray
    seeds: np.ndarray
    final_cost: np.ndarray
    best_cost: np.ndarray
    diverged_at: np.ndarray
    config: OptimizerConfig
    start: tuple[float, float]
    steps: int

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0

    def median_final(self) -> np.ndarray:
        """Median final cost over seeds, [i2, i]; inf where any seed diverged."""
        med = np.median(self.final_cost, axis=-1)
        return np.where(self.diverged.any(axis=-1), np.inf, med)

    def best_index(self) -> tuple[int, int] | None:
        """(i2, i) of the setting with the lowest median final cost (None if all diverged)."""
        med = self.median_final()
        if not np.isfinite(med).any():
            return None
        i2, i = np.unravel_index(int(np.argmin(med)), med.shape)
        return int(i2), int(i)

    def config_at(self, i2: int, i: int) -> OptimizerConfig:
        """The optimizer config of grid cell (i2, i)."""
        changes = {self.name: float(self.values[i])}
        if self.name2 is not None:
            changes[self.name2] = float(self.values2[i2])
        return _with_values(self.config, changes)

    def rows(self) -> list[tuple]:
        """One row per run: (value, [value2,] seed, final_cost, best_cost, diverged_at|None)."""
        out = []
        for i2 in range(self.final_cost.shape[0]):
            for i, v in enumerate(self.values):
                for k, seed in enumerate(self.seeds):
                    d = int(self.diverged_at[i2, i, k])
                    head = (float(v),) if self.name2 is None else (float(v), float(self.values2[i2]))
                    out.append((*head, int(seed), float(self.final_cost[i2, i, k]),
                                float(self.best_cost[i2, i, k]), d if d >= 0 else None))
        return out


def _with_values(config: OptimizerConfig, changes: dict[str, float]) -> OptimizerConfig:
    typed = {k: int(v) if HYPERPARAMS[k].kind == "int" else float(v) for k, v in changes.items()}
    return replace(config, **typed).validated()


def sweep(surface: Surface, config: OptimizerConfig, name: str, values, steps: int,
          start=None, seeds: Sequence[int] = (0,), name2: str | None = None, values2=None,
          progress: Progress = None) -> SweepResult:
    """Run `config` with hyperparameter `name` set to each of `values` (× `values2` of
    `name2`) from one start, once per seed: the grid search of section 4.5."""
    steps = _check_steps(steps)
    config = config.validated()
    start = _check_start(surface.start if start is None else start)
    _sweepable(name)
    vals = np.asarray(values, float).ravel()
    if vals.size == 0:
        raise ValueError(f"give at least one value of {name}")
    if name2 is None:
        vals2 = np.empty(0)
    else:
        _sweepable(name2)
        if name2 == name:
            raise ValueError(f"sweep two different hyperparameters, not {name} twice")
        vals2 = np.asarray(values2, float).ravel()
        if vals2.size == 0:
            raise ValueError(f"give at least one value of {name2}")
    seed_arr = np.array([_check_seed(v) for v in seeds], np.int64)
    if seed_arr.size == 0:
        raise ValueError("give at least one seed")
    n2 = max(1, vals2.size)
    # Every config is checked before anything runs, so a bad value fails at once.
    grid = [[_with_values(config, {name: v} if name2 is None else {name: v, name2: vals2[i2]})
             for v in vals] for i2 in range(n2)]
    shape = (n2, vals.size, seed_arr.size)
    # Every run in [i2, i, seed] order, simulated in chunks between progress reports.
    configs = [c for row in grid for c in row for _ in range(seed_arr.size)]
    all_seeds = np.tile(seed_arr, n2 * vals.size)
    total = len(configs)
    final = np.empty(total)
    best = np.empty(total)
    div = np.empty(total, np.int64)
    for lo, hi in _chunks(total, math.ceil(total / CHUNK)):
        res = simulate_batch(surface, configs[lo:hi], start, steps, seeds=all_seeds[lo:hi],
                             track_best=True)
        final[lo:hi] = res.final_cost
        best[lo:hi] = res.best_cost
        div[lo:hi] = res.diverged_at
        _report(progress, hi, total)
    final, best, div = final.reshape(shape), best.reshape(shape), div.reshape(shape)
    return SweepResult(name, vals, name2, vals2, seed_arr, final, best, div, config, start, steps)


DIVERGED = -2
NO_MINIMUM = -1


def label_minima(surface: Surface, theta: np.ndarray, diverged: np.ndarray,
                 radius: float) -> np.ndarray:
    """Index of the known minimum within `radius` of each point, -1 for none, -2 diverged."""
    theta = np.asarray(theta, float).reshape(-1, 2)
    labels = np.full(theta.shape[0], NO_MINIMUM, np.int64)
    if surface.minima:
        # One minimum at a time over contiguous coordinates: a (P, M, 2) array of
        # differences was five times slower for a 256 x 256 map.
        x = np.ascontiguousarray(theta[:, 0])
        y = np.ascontiguousarray(theta[:, 1])
        best = np.full(x.shape, radius * radius)
        d2 = np.empty_like(x)
        dy = np.empty_like(x)
        for k, m in enumerate(surface.minima):
            np.subtract(x, m.x, out=d2)
            np.multiply(d2, d2, out=d2)
            np.subtract(y, m.y, out=dy)
            np.multiply(dy, dy, out=dy)
            d2 += dy
            closer = d2 < best  # strict: of two equally near minima the first wins
            closer |= (d2 == best) & (labels == NO_MINIMUM)  # at exactly the radius
            labels[closer] = k
            np.minimum(best, d2, out=best)
    labels[np.asarray(diverged).ravel()] = DIVERGED
    return labels


def default_radius(box) -> float:
    """How close to a minimum a run must end to count as having reached it: 1% of the box."""
    x0, x1, y0, y1 = box
    return 0.01 * max(x1 - x0, y1 - y0)


def _check_box(box) -> tuple[float, float, float, float]:
    try:
        x0, x1, y0, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"box must be four numbers x0, x1, y0, y1, not {box!r}") from None
    if not all(math.isfinite(v) for v in (x0, x1, y0, y1)) or not (x0 < x1 and y0 < y1):
        raise ValueError(f"box must be finite with x0 < x1 and y0 < y1, not {box!r}")
    return x0, x1, y0, y1


MAX_GRID = 2048


@dataclass(frozen=True, eq=False)
class BasinMap:
    """Where each start of a grid ends: arrays indexed [iy, ix].

    label: index into `minima` of the known minimum reached (within `radius`), -1 for
    none, -2 diverged. steps_to_converge: the step from which on every update moved θ
    less than `settle_tol`, -1 where the run reached no minimum or never settled.
    """

    x: np.ndarray
    y: np.ndarray
    label: np.ndarray
    final_cost: np.ndarray
    steps_to_converge: np.ndarray
    minima: np.ndarray
    box: tuple[float, float, float, float]
    config: OptimizerConfig
    steps: int
    radius: float
    settle_tol: float

    def fractions(self) -> dict[int, float]:
        """Share of the starts with each label."""
        labels, counts = np.unique(self.label, return_counts=True)
        return {int(k): float(c) / self.label.size for k, c in zip(labels, counts)}


def basins(surface: Surface, config: OptimizerConfig, grid: int = 256, steps: int = 1000,
           box=None, radius: float | None = None, settle_tol: float | None = None,
           seed: int = 0, progress: Progress = None) -> BasinMap:
    """Run `config` from every point of a grid × grid lattice over `box` (default: the
    surface's view box) and label each start by the minimum it reaches (Figure 1)."""
    steps = _check_steps(steps)
    grid = _whole(grid, "grid", 2, MAX_GRID)
    box = _check_box(surface.box if box is None else box)
    radius = default_radius(box) if radius is None else float(radius)
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number, not {radius!r}")
    tol = 1e-6 * max(box[1] - box[0], box[3] - box[2]) if settle_tol is None else float(settle_tol)
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"settle_tol must be a positive number, not {settle_tol!r}")
    seed = _check_seed(seed)
    xs = np.linspace(box[0], box[1], grid)
    ys = np.linspace(box[2], box[3], grid)
    gx, gy = np.meshgrid(xs, ys)
    starts = np.column_stack([gx.ravel(), gy.ravel()])
    P = starts.shape[0]
    final = np.empty((P, 2))
    cost = np.empty(P)
    div = np.empty(P, bool)
    settled = np.empty(P, np.int64)
    # Chunks of rows: a progress report and a chance to cancel between them, and bounded
    # memory. Up to 4 chunks' worth in one call when nobody listens (each call costs a few
    # milliseconds of set-up; a 256 x 256 map is 4 chunks).
    quiet = progress is None and P <= 4 * CHUNK
    for lo, hi in _chunks(P, 1 if quiet else math.ceil(P / CHUNK)):
        res = simulate_batch(surface, config, starts[lo:hi], steps,
                             seeds=seed + np.arange(lo, hi, dtype=np.int64), settle_tol=tol,
                             average=False)
        final[lo:hi] = res.final_theta
        cost[lo:hi] = res.final_cost
        div[lo:hi] = res.diverged
        settled[lo:hi] = res.settled_at
        _report(progress, hi, P)
    labels = label_minima(surface, final, div, radius)
    stc = np.where((labels >= 0) & (settled < steps), settled, -1)
    mins = np.array([[m.x, m.y] for m in surface.minima]).reshape(-1, 2)
    return BasinMap(xs, ys, labels.reshape(grid, grid), cost.reshape(grid, grid),
                    stc.reshape(grid, grid), mins, box, config.validated(), steps, radius, tol)


@dataclass(frozen=True, eq=False)
class RestartsResult:
    """K runs from random starts in a box (section 4.2's random restarts)."""

    starts: np.ndarray
    final_theta: np.ndarray
    final_cost: np.ndarray
    diverged_at: np.ndarray
    label: np.ndarray
    record_steps: np.ndarray
    theta: np.ndarray
    minima: np.ndarray
    global_labels: tuple[int, ...]
    config: OptimizerConfig
    steps: int
    seed: int

    @property
    def best(self) -> int | None:
        """Index of the restart with the lowest final cost (None when every one diverged)."""
        ok = self.diverged_at < 0
        if not ok.any():
            return None
        return int(np.flatnonzero(ok)[np.argmin(self.final_cost[ok])])

    @property
    def n_global(self) -> int:
        """How many restarts reached a global minimum."""
        return int(np.isin(self.label, self.global_labels).sum())


MAX_RESTARTS = 100_000


def restarts(surface: Surface, config: OptimizerConfig, k: int = 50, steps: int = 1000,
             seed: int = 0, box=None, radius: float | None = None,
             every: int | None = None, progress: Progress = None) -> RestartsResult:
    """Run `config` from `k` starts drawn uniformly in `box` (default: the view box) with
    the random generator seeded by `seed`; keep every `every`-th step for drawing."""
    steps = _check_steps(steps)
    k = _whole(k, "k", 1, MAX_RESTARTS)
    seed = _check_seed(seed)
    box = _check_box(surface.box if box is None else box)
    radius = default_radius(box) if radius is None else float(radius)
    rng = np.random.default_rng(seed)
    starts = np.column_stack([rng.uniform(box[0], box[1], int(k)), rng.uniform(box[2], box[3], int(k))])
    if every is None:
        every = max(1, steps // 500)
    parts = []
    for lo, hi in _chunks(int(k), math.ceil(k / CHUNK)):
        parts.append(simulate_batch(surface, config, starts[lo:hi], steps,
                                    seeds=seed + np.arange(lo, hi, dtype=np.int64), every=every,
                                    average=False))
        _report(progress, hi, int(k))
    final = np.concatenate([r.final_theta for r in parts])
    cost = np.concatenate([r.final_cost for r in parts])
    div = np.concatenate([r.diverged_at for r in parts])
    theta = np.concatenate([r.theta for r in parts], axis=1)
    labels = label_minima(surface, final, div >= 0, radius)
    mins = np.array([[m.x, m.y] for m in surface.minima]).reshape(-1, 2)
    glob = tuple(i for i, m in enumerate(surface.minima) if m.kind == "global")
    return RestartsResult(starts, final, cost, div, labels, parts[0].record_steps, theta, mins, glob,
                          config.validated(), steps, seed)


@dataclass(frozen=True, eq=False)
class Cloud:
    """An ensemble of P particles of one stochastic run, kept every `every` steps.

    theta (R, P, 2) and cost (R, P) are float32 (for drawing); mean (R, 2), cov (R, 2, 2)
    and mean_cost are over the particles alive at each recorded step, the 10th/90th cost
    percentiles (cost_lo, cost_hi) over the alive ones among the first 2,000.
    """

    record_steps: np.ndarray
    theta: np.ndarray
    cost: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    mean_cost: np.ndarray
    cost_lo: np.ndarray
    cost_hi: np.ndarray
    avg_theta: np.ndarray
    avg_cost: np.ndarray
    diverged_at: np.ndarray
    starts: np.ndarray

    def frame(self, t: int) -> int:
        """Index of the last recorded step at or before step t."""
        return int(np.clip(np.searchsorted(self.record_steps, t, side="right") - 1, 0,
                           self.record_steps.size - 1))


def _cloud_statistics(th: np.ndarray, cost: np.ndarray, rs: np.ndarray, diverged_at: np.ndarray):
    """Mean, covariance, mean cost and the 10th/90th cost percentiles per recorded step, over
    the particles alive then (all of them once every one has diverged: no NaN)."""
    R, P = cost.shape
    alive = (diverged_at[None, :] < 0) | (rs[:, None] < diverged_at[None, :])
    alive[~alive.any(axis=1)] = True
    everyone = bool(alive.all())
    w = None if everyone else alive.astype(np.float64)
    n = np.full(R, float(P)) if everyone else w.sum(axis=1)

    def avg(a):  # mean over alive particles, accumulated in float64
        return (a.sum(axis=1, dtype=np.float64) if w is None else np.einsum("rp,rp->r", w, a)) / n

    x, y = th[..., 0], th[..., 1]
    mx, my = avg(x), avg(y)
    dx = x - mx[:, None]  # float64: the deviations are taken in double precision
    dy = y - my[:, None]
    if w is not None:
        dx *= w
        dy *= w
    cxx = np.einsum("rp,rp->r", dx, dx) / n
    cxy = np.einsum("rp,rp->r", dx, dy) / n
    cyy = np.einsum("rp,rp->r", dy, dy) / n
    mean = np.column_stack([mx, my])
    cov = np.stack([np.column_stack([cxx, cxy]), np.column_stack([cxy, cyy])], axis=1)
    mean_cost = avg(cost)
    # The band's percentiles come from the first BAND_SAMPLE particles: they are exchangeable
    # (same rule, independent seeds), and sorting 2,000 instead of 10,000 per step saves most
    # of the statistics' time for a sampling error of under a percentile point.
    k = min(P, BAND_SAMPLE)
    if everyone:
        lo, hi = np.percentile(cost[:, :k], [10, 90], axis=1)
    else:
        lo, hi = np.nanpercentile(np.where(alive[:, :k], cost[:, :k], np.nan), [10, 90], axis=1)
        # A step at which none of the sample is alive takes the band of all alive particles.
        empty = ~alive[:, :k].any(axis=1)
        if empty.any():
            c = np.where(alive[empty], cost[empty], np.nan)
            lo[empty], hi[empty] = np.nanpercentile(c, [10, 90], axis=1)
    return mean, cov, mean_cost, lo, hi


MAX_PARTICLES = 100_000
BAND_SAMPLE = 2000
CLOUD_BUDGET = 4_000_000  # recorded particle-steps kept in memory by default


def particle_cloud(surface: Surface, config: OptimizerConfig, start=None, particles: int = 1000,
                   steps: int = 500, seed: int = 0, jitter: float = 0.0,
                   every: int | None = None, subset: int | None = None) -> Cloud:
    """P copies of one run with different noise seeds (and starts jittered uniformly in a
    disc of radius `jitter`): the spread that a single stochastic path cannot show.

    `subset=k` computes only the first k of those P particles, exactly as the full cloud
    has them (same starts, seeds and kept steps): a live preview while a slider moves."""
    steps = _check_steps(steps)
    P = _whole(particles, "particles", 1, MAX_PARTICLES)
    seed = _check_seed(seed)
    x0, y0 = _check_start(surface.start if start is None else start)
    jitter = float(jitter)
    if not (math.isfinite(jitter) and jitter >= 0):
        raise ValueError(f"jitter must be a number >= 0, not {jitter!r}")
    starts = np.tile([x0, y0], (P, 1))
    if jitter > 0:
        rng = np.random.default_rng(seed)
        r = jitter * np.sqrt(rng.uniform(0, 1, P))
        a = rng.uniform(0, 2 * math.pi, P)
        starts[:, 0] += r * np.cos(a)
        starts[:, 1] += r * np.sin(a)
    if every is None:
        every = max(1, math.ceil(P * (steps + 1) / CLOUD_BUDGET))
    # Particle i gets noise seed seed·P + i: disjoint streams for different seeds.
    seeds = (seed % (MAX_SEED // MAX_PARTICLES)) * P + np.arange(P, dtype=np.int64)
    if subset is not None:
        k = _whole(subset, "subset", 1, P)
        starts, seeds = starts[:k], seeds[:k]
    res = simulate_batch(surface, config, starts, steps, seeds=seeds, every=every, dtype=np.float32)
    th = res.theta
    rs = res.record_steps
    mean, cov, mean_cost, lo, hi = _cloud_statistics(th, res.cost, rs, res.diverged_at)
    return Cloud(rs, th, res.cost, mean, cov, mean_cost, lo, hi, res.avg_theta, res.avg_cost,
                 res.diverged_at, starts)


__all__ = ["simulate", "simulate_batch", "record_steps", "sweep", "basins", "restarts",
           "particle_cloud", "log_spaced", "label_minima", "SweepResult", "BasinMap",
           "RestartsResult", "Cloud", "Cancelled", "HYPERPARAMS"]
