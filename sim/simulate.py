"""Public entry points: `simulate` (one recorded run) and `simulate_batch` (P particles).

    from sim import make_surface, OptimizerConfig, simulate
    s = make_surface("rosenbrock")
    traj = simulate(s, OptimizerConfig("adam", lr=0.01), start=(-1.5, 2), steps=500)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sim import kernels as K
from sim.optimizers import HYPERPARAMS, RULES, SCHEDULES, OptimizerConfig
from sim.surfaces import Surface, evaluate_points
from sim.trajectory import BatchResult, Trajectory

MAX_STEPS = 10_000_000


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or int(steps) != steps or not (0 <= steps <= MAX_STEPS):
        raise ValueError(f"steps must be a whole number in [0, {MAX_STEPS}], not {steps!r}")
    return int(steps)


MAX_SEED = 2**63 - 1


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or int(seed) != seed or not (0 <= seed <= MAX_SEED):
        raise ValueError(f"seed must be a whole number in [0, 2**63 - 1], not {seed!r}")
    return int(seed)


def _check_start(start) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in start)
    except (TypeError, ValueError):
        raise ValueError(f"start must be two numbers x, y, not {start!r}") from None
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"start must be finite, not {start!r}")
    return x, y


def _settings(surface: Surface, cfg: OptimizerConfig, track_best: bool):
    """The kernel's integer and shared settings for one config."""
    ip = np.zeros(K.NIP, np.int64)
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
    return ip, sh


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
    rec_x = np.empty((n, 1))
    rec_y = np.empty((n, 1))
    gx, gy, lr, ax, ay, vx, vy = (np.zeros(n) for _ in range(7))
    out = np.empty((7, 1))
    out_div = np.empty(1, np.int64)
    # A single run calls the block loop directly: no thread pool to wake.
    nrec = K.run_block(surface.code, surface.kparams, surface.X, surface.T, ip, sh,
                       _hyper_rows([cfg]), np.array([x0]), np.array([y0]),
                       np.array([int(seed)], np.int64), steps, 1, 0, 1, rec_x, rec_y, rec_x,
                       True, gx, gy, lr, ax, ay, vx, vy, out, out_div, 0)
    theta = np.column_stack([rec_x[:nrec, 0], rec_y[:nrec, 0]])
    avg = np.column_stack([ax[:nrec], ay[:nrec]])
    # The costs of θ_t and θ̃_t, in one vectorized pass after the loop.
    pts = np.concatenate([theta, avg])
    costs = evaluate_points(surface.code, surface.kparams, surface.X, surface.T, pts[:, 0], pts[:, 1],
                            hessian=False)[0]
    velocity = np.column_stack([vx[:nrec], vy[:nrec]])
    kinetic = np.zeros(nrec)
    # ½‖Δθ‖²/α_t−1; a schedule can decay α to 0, so the rate is floored at 1e-12 α₀.
    mass = np.maximum(lr[:nrec - 1], cfg.lr * 1e-12)
    kinetic[1:] = 0.5 * (velocity[1:, 0] ** 2 + velocity[1:, 1] ** 2) / mass
    div = int(out_div[0])
    return Trajectory(
        theta=theta,
        cost=costs[:nrec],
        grad=np.column_stack([gx[:nrec], gy[:nrec]]),
        velocity=velocity,
        lr=lr[:nrec].copy(),
        avg=avg,
        avg_cost=costs[nrec:],
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
                   dtype=np.float64, track_best: bool = False) -> BatchResult:
    """Run P particles in parallel numba blocks.

    `configs` is one config for all particles or one per particle; `starts` is (P, 2) or a
    single (x, y); `seeds` one per particle (default 0..P-1). With `every=k` θ and E are
    kept for every k-th step (in `dtype`), otherwise only the start and the end.
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
        seeds = np.array([_check_seed(v) for v in np.asarray(seeds).tolist()], np.int64)
    if every is None:
        every = max(steps, 1)
    if isinstance(every, bool) or int(every) != every or every < 1:
        raise ValueError(f"every must be a positive whole number, not {every!r}")
    every = min(int(every), max(steps, 1))
    rs = record_steps(steps, every)

    out = np.empty((7, P))
    div = np.empty(P, np.int64)
    rx = np.empty((rs.size, P))
    ry = np.empty((rs.size, P))
    rc = np.empty((rs.size, P))
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(cfg_list):
        groups.setdefault(_shared_key(c), []).append(i)
    for idx_list in groups.values():
        idx = np.array(idx_list)
        whole = len(idx) == P
        ip, sh = _settings(surface, cfg_list[idx[0]], track_best)
        if whole and isinstance(configs, OptimizerConfig):
            hpp = np.repeat(np.array(_hyper_column(one))[:, None], P, axis=1)
        else:
            hpp = _hyper_rows([cfg_list[i] for i in idx])
        g_out = out if whole else np.empty((7, idx.size))
        g_div = div if whole else np.empty(idx.size, np.int64)
        g_rx, g_ry, g_rc = (rx, ry, rc) if whole else (np.empty((rs.size, idx.size)) for _ in range(3))
        K.run_particles(surface.code, surface.kparams, surface.X, surface.T, ip, sh,
                        hpp, np.ascontiguousarray(starts[idx, 0]), np.ascontiguousarray(starts[idx, 1]),
                        np.ascontiguousarray(seeds[idx]), steps, every, g_rx, g_ry, g_rc,
                        g_out, g_div)
        if not whole:
            out[:, idx] = g_out
            div[idx] = g_div
            rx[:, idx] = g_rx
            ry[:, idx] = g_ry
            rc[:, idx] = g_rc
    theta = np.stack([rx, ry], axis=-1).astype(dtype, copy=False)
    return BatchResult(
        final_theta=np.column_stack([out[0], out[1]]),
        final_cost=out[2].copy(),
        avg_theta=np.column_stack([out[3], out[4]]),
        avg_cost=out[5].copy(),
        best_cost=out[6].copy(),
        diverged_at=div,
        record_steps=rs,
        theta=theta,
        cost=rc.astype(dtype, copy=False),
    )


__all__ = ["simulate", "simulate_batch", "record_steps", "HYPERPARAMS"]
