"""simulate_batch against simulate: particle i of a batch is the single run, bit for bit."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from sim import OptimizerConfig, make_surface, simulate, simulate_batch
from sim.expression import custom_surface

# (surface, params, config, steps): every rule, a noisy one, dataset surfaces with mini-batches,
# and surfaces whose formulas use exp/sin/cos (vectorized differently in wide blocks).
CASES = [
    ("rosenbrock", {}, OptimizerConfig("gd", lr=2e-4), 120),
    ("rosenbrock", {}, OptimizerConfig("momentum", lr=1e-4, momentum=0.9), 120),
    ("himmelblau", {}, OptimizerConfig("nesterov", lr=2e-3, momentum=0.8), 120),
    ("six_hump_camel", {}, OptimizerConfig("adagrad", lr=0.2), 120),
    ("beale", {}, OptimizerConfig("rmsprop", lr=0.01, schedule="inverse", tau=30.0), 120),
    ("rastrigin", {}, OptimizerConfig("adam", lr=0.05, schedule="step", tau=25.0, decay_start=10), 120),
    ("two_minima", {}, OptimizerConfig("newton", lr=0.5, damping=0.01), 60),
    ("himmelblau", {}, OptimizerConfig("adam", lr=0.05, noise=2.0, batch_size=4), 120),
    ("plateau", {"width": 0.7}, OptimizerConfig("momentum", lr=0.5, noise=0.05), 120),
    ("linreg", {"scale": 3.0}, OptimizerConfig("momentum", lr=0.02, batch_size=10), 120),
    ("logreg", {}, OptimizerConfig("adam", lr=0.05, batch_size=16), 120),
    ("tiny_net", {"n_examples": 60}, OptimizerConfig("nesterov", lr=0.3, batch_size=7), 120),
]
P = 300  # two blocks of particles, the second one partial
CHECK = [0, 1, 37, 255, 256, 299]  # particles compared with single runs


def _starts(surface, n, seed=0):
    x0, x1, y0, y1 = surface.box
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)]) * 0.8 + \
        0.2 * np.array(surface.centre)


def _assert_particle_is_single_run(s, res, i, cfg, start, steps, seed):
    tr = simulate(s, cfg, start=start, steps=steps, seed=seed)
    div = -1 if tr.diverged_at is None else tr.diverged_at
    assert res.diverged_at[i] == div, f"particle {i}"
    np.testing.assert_array_equal(res.final_theta[i], tr.theta[-1], err_msg=f"particle {i}")
    np.testing.assert_array_equal(res.final_cost[i], tr.cost[-1])
    np.testing.assert_array_equal(res.avg_theta[i], tr.avg[-1])
    np.testing.assert_array_equal(res.avg_cost[i], tr.avg_cost[-1])
    rows = np.minimum(res.record_steps, len(tr) - 1)  # a diverged particle stays frozen
    np.testing.assert_array_equal(res.theta[:, i], tr.theta[rows], err_msg=f"particle {i}")
    np.testing.assert_array_equal(res.cost[:, i], tr.cost[rows])
    return tr


@pytest.mark.parametrize("name, params, cfg, steps", CASES,
                         ids=[f"{c[0]}-{c[2].rule}" + ("-B" if c[2].batch_size else "") +
                              ("-noise" if c[2].noise else "") for c in CASES])
def test_batch_particle_equals_single_run(name, params, cfg, steps):
    s = make_surface(name, **params)
    starts = _starts(s, P)
    res = simulate_batch(s, cfg, starts, steps=steps, every=7)
    assert res.record_steps[0] == 0 and res.record_steps[-1] == steps
    assert res.theta.shape == (len(res.record_steps), P, 2)
    for i in CHECK:
        _assert_particle_is_single_run(s, res, i, cfg, starts[i], steps, seed=i)


@pytest.mark.parametrize("cfg", [
    OptimizerConfig("nesterov", lr=0.01, momentum=0.8, noise=0.3),
    OptimizerConfig("newton", lr=0.5, damping=0.1),
    OptimizerConfig("adam", lr=0.05, schedule="exponential", tau=40.0, decay_start=20),
], ids=lambda c: c.rule)
def test_batch_particle_equals_single_run_on_a_custom_surface(cfg):
    """A custom surface's expression interpreter in both step loops: particle i of a batch
    is the single run."""
    s = custom_surface("log(2 + x^2) + (y - sin(x))^2 + 0.05*x^2*y^2")
    starts = _starts(s, P, seed=3)
    res = simulate_batch(s, cfg, starts, steps=90, every=5)
    for i in CHECK:
        _assert_particle_is_single_run(s, res, i, cfg, starts[i], 90, seed=i)


def test_starts_beyond_the_bound_give_inf_costs_never_nan():
    """A start far past the divergence bound diverges at once; its costs overflow, and
    read +inf, never NaN (built-in and dataset surfaces alike)."""
    for name in ("six_hump_camel", "linreg"):
        s = make_surface(name)
        starts = np.array([[1e200, 1e200], [1e200, -1e200], list(s.start)])
        res = simulate_batch(s, OptimizerConfig("gd", lr=1e-3), starts, 20, every=5)
        assert res.diverged_at[0] == 0 and res.diverged_at[2] == -1
        for a in (res.final_cost, res.avg_cost, res.best_cost, res.cost):
            assert not np.isnan(a).any(), name
        assert res.final_cost[0] == np.inf


def test_explicit_seeds_and_track_best():
    s = make_surface("himmelblau")
    cfg = OptimizerConfig("momentum", lr=5e-3, momentum=0.9, noise=3.0)
    starts = _starts(s, 20, seed=4)
    seeds = np.arange(20) * 1000 + 17
    res = simulate_batch(s, cfg, starts, steps=150, seeds=seeds, every=10, track_best=True)
    for i in (0, 7, 19):
        tr = _assert_particle_is_single_run(s, res, i, cfg, starts[i], 150, seed=int(seeds[i]))
        assert res.best_cost[i] == tr.cost.min()
    assert np.all(res.best_cost <= res.final_cost)
    assert np.any(res.best_cost < res.final_cost)  # momentum overshoots: the best was earlier


def test_batch_is_independent_of_the_number_of_threads():
    s = make_surface("logreg")
    cfg = OptimizerConfig("adam", lr=0.05, batch_size=8, noise=0.1)
    starts = _starts(s, 600, seed=2)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate_batch(s, cfg, starts, steps=60)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = simulate_batch(s, cfg, starts, steps=60)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.final_theta, many.final_theta)
    np.testing.assert_array_equal(one.avg_theta, many.avg_theta)


@pytest.mark.parametrize("name", ["logreg", "himmelblau"])
def test_serial_batch_equals_the_parallel_one(name):
    """parallel=False runs every particle in one block in the calling thread: the same bits,
    records, divergence and settling as the parallel blocks."""
    s = make_surface(name)
    configs = [OptimizerConfig("adam", lr=0.05, batch_size=8 if name == "logreg" else None, noise=0.1),
               OptimizerConfig("gd", lr=0.3)] * 300
    starts = _starts(s, len(configs), seed=4)
    kw = dict(steps=80, every=7, track_best=True, settle_tol=1e-4)
    par = simulate_batch(s, configs, starts, **kw)
    ser = simulate_batch(s, configs, starts, parallel=False, **kw)
    for field in ("final_theta", "avg_theta", "final_cost", "best_cost", "diverged_at", "settled_at",
                  "theta", "cost"):
        np.testing.assert_array_equal(getattr(ser, field), getattr(par, field), err_msg=field)


def test_per_particle_configs_match_individual_runs():
    s = make_surface("rosenbrock")
    lrs = [1e-4, 2e-4, 5e-4, 1e-3]
    configs = [OptimizerConfig("momentum", lr=lr, momentum=mu) for lr in lrs for mu in (0.5, 0.9)]
    starts = _starts(s, len(configs), seed=1)
    res = simulate_batch(s, configs, starts, steps=200, every=25)
    for i, cfg in enumerate(configs):
        _assert_particle_is_single_run(s, res, i, cfg, starts[i], 200, seed=i)
    assert len({tuple(t) for t in res.final_theta}) == len(configs)


def test_mixed_rules_schedules_and_noise_in_one_batch():
    s = make_surface("himmelblau")
    configs = [OptimizerConfig("gd", lr=5e-3), OptimizerConfig("adam", lr=0.05),
               OptimizerConfig("gd", lr=2e-3, schedule="exponential", tau=50.0),
               OptimizerConfig("newton", lr=0.5), OptimizerConfig("adam", lr=0.02, beta1=0.5),
               OptimizerConfig("rmsprop", lr=0.01, avg_tau=3.0),
               OptimizerConfig("gd", lr=5e-3, noise=2.0), OptimizerConfig("adam", lr=0.05, noise=0.5),
               OptimizerConfig("nesterov", lr=2e-3, noise=1.0), OptimizerConfig("nesterov", lr=2e-3)]
    starts = _starts(s, len(configs), seed=3)
    res = simulate_batch(s, configs, starts, steps=100, every=9, track_best=True)
    for i, cfg in enumerate(configs):
        tr = _assert_particle_is_single_run(s, res, i, cfg, starts[i], 100, seed=i)
        assert res.best_cost[i] == tr.cost.min()


@pytest.mark.parametrize("cfg", [OptimizerConfig("nesterov", lr=0.05, batch_size=8),
                                 OptimizerConfig("newton", lr=0.5, batch_size=20, noise=0.01),
                                 OptimizerConfig("adam", lr=0.05, batch_size=5, schedule="inverse", tau=10.0)],
                         ids=["nesterov", "newton", "adam"])
def test_track_best_with_mini_batches(cfg):
    s = make_surface("logreg", n_examples=40)
    starts = _starts(s, 8, seed=9)
    res = simulate_batch(s, cfg, starts, steps=80, every=16, track_best=True)
    for i in range(8):
        tr = _assert_particle_is_single_run(s, res, i, cfg, starts[i], 80, seed=i)
        assert res.best_cost[i] == tr.cost.min()


def _assert_all_finite(res):
    for arr in (res.final_theta, res.final_cost, res.avg_theta, res.avg_cost, res.best_cost,
                res.theta, res.cost):
        assert np.all(np.isfinite(arr))


def test_diverging_particles_are_retired_cleanly():
    """gd on κ = 10: α > 0.2 diverges. Alternate stable and unstable rates in one batch."""
    s = make_surface("quadratic", kappa=10.0, angle=30.0)
    lrs = [0.05, 0.25, 0.19, 0.3, 0.1, 0.21, 0.15, 1.0, 0.02, 0.5]
    configs = [OptimizerConfig("gd", lr=lr) for lr in lrs]
    starts = _starts(s, len(lrs), seed=5)
    res = simulate_batch(s, configs, starts, steps=400, every=13, track_best=True)
    _assert_all_finite(res)
    for i, cfg in enumerate(configs):
        tr = _assert_particle_is_single_run(s, res, i, cfg, starts[i], 400, seed=i)
        assert (tr.diverged_at is not None) == (lrs[i] > 0.2), lrs[i]
        assert res.best_cost[i] == tr.cost.min()


def test_particles_diverging_on_the_same_step_and_across_blocks():
    """Several particles leave on one step (adjacent columns, the block's last one too)."""
    s = make_surface("quadratic", kappa=10.0, angle=30.0)
    P = 300
    lrs = np.full(P, 0.1)
    lrs[250:262] = 0.3  # straddles the block boundary at 256
    lrs[-3:] = 0.3  # the last columns of the partial block
    lrs[::50] = 0.25
    configs = [OptimizerConfig("gd", lr=float(lr)) for lr in lrs]
    starts = np.tile((-2.5, 1.5), (P, 1))
    res = simulate_batch(s, configs, starts, steps=200, every=50, track_best=True)
    _assert_all_finite(res)
    for lr in (0.1, 0.25, 0.3):
        div = set(res.diverged_at[lrs == lr].tolist())
        assert len(div) == 1, (lr, div)  # the same start and rate: the same step
        assert (div.pop() >= 0) == (lr > 0.2)
    for i in (0, 1, 50, 249, 250, 255, 256, 261, 262, 296, 297, 299):
        tr = _assert_particle_is_single_run(s, res, i, configs[i], starts[i], 200, seed=i)
        assert res.best_cost[i] == tr.cost.min()


def test_every_particle_of_a_block_diverging():
    s = make_surface("rosenbrock")
    cfg = OptimizerConfig("momentum", lr=0.1, momentum=0.9)
    starts = _starts(s, 6, seed=8)
    res = simulate_batch(s, cfg, starts, steps=30, every=4)
    _assert_all_finite(res)
    assert np.all(res.diverged_at >= 1)
    for i in range(6):
        _assert_particle_is_single_run(s, res, i, cfg, starts[i], 30, seed=i)


def test_singular_newton_step_diverges_at_step_one_in_a_batch():
    s = make_surface("saddle")
    y = 1 / math.sqrt(3)
    starts = np.array([(0.5, y), (0.5, 0.3), (-0.5, y), (0.2, -0.9)])
    cfg = OptimizerConfig("newton", lr=1.0, damping=0.0)
    res = simulate_batch(s, cfg, starts, steps=20, every=5, track_best=True)
    _assert_all_finite(res)
    np.testing.assert_array_equal(res.diverged_at, [1, -1, 1, -1])
    for i in range(4):
        _assert_particle_is_single_run(s, res, i, cfg, starts[i], 20, seed=i)


def test_divergence_inside_a_block_of_identical_configs():
    """One shared config; particles far out diverge while the others run on untouched."""
    s = make_surface("rosenbrock")
    cfg = OptimizerConfig("momentum", lr=2e-4, momentum=0.9)
    starts = _starts(s, 40, seed=6)
    starts[::3] *= 25.0  # steep walls far away: these blow up
    res = simulate_batch(s, cfg, starts, steps=150, every=10)
    _assert_all_finite(res)
    assert 0 < np.sum(res.diverged_at >= 0) < 40
    for i in range(40):
        _assert_particle_is_single_run(s, res, i, cfg, starts[i], 150, seed=i)


def test_divergence_with_mini_batches_keeps_the_other_particles_exact():
    """Retiring a particle must carry its shuffle state and random stream with it."""
    s = make_surface("linreg", scale=10.0)
    lrs = [0.001, 0.05, 0.002, 0.1, 0.004, 0.003, 0.08, 0.001]
    configs = [OptimizerConfig("momentum", lr=lr, momentum=0.5, batch_size=10, noise=0.2) for lr in lrs]
    starts = _starts(s, len(lrs), seed=7)
    res = simulate_batch(s, configs, starts, steps=300, every=20)
    _assert_all_finite(res)
    assert np.any(res.diverged_at >= 0) and np.any(res.diverged_at < 0)
    for i, cfg in enumerate(configs):
        _assert_particle_is_single_run(s, res, i, cfg, starts[i], 300, seed=i)


@pytest.mark.parametrize("steps, every, expected", [
    (10, 3, [0, 3, 6, 9, 10]),
    (10, 5, [0, 5, 10]),
    (10, 1, list(range(11))),
    (10, None, [0, 10]),
    (10, 10, [0, 10]),
    (10, 25, [0, 10]),
    (1, None, [0, 1]),
])
def test_recording_every_k_steps(steps, every, expected):
    s = make_surface("quadratic")
    starts = _starts(s, 5)
    res = simulate_batch(s, OptimizerConfig("gd", lr=0.05), starts, steps=steps, every=every)
    np.testing.assert_array_equal(res.record_steps, expected)
    assert res.theta.shape == (len(expected), 5, 2)
    assert res.cost.shape == (len(expected), 5)
    assert res.final_theta.shape == res.avg_theta.shape == (5, 2)
    for a in (res.final_cost, res.avg_cost, res.best_cost, res.diverged_at):
        assert a.shape == (5,)
    np.testing.assert_array_equal(res.theta[0], starts)
    np.testing.assert_array_equal(res.theta[-1], res.final_theta)


def test_single_start_and_single_config_broadcast():
    s = make_surface("rosenbrock")
    cfg = OptimizerConfig("adam", lr=0.02)
    res = simulate_batch(s, cfg, (-1.5, 2.0), steps=50)
    tr = simulate(s, cfg, start=(-1.5, 2.0), steps=50, seed=0)
    assert res.final_theta.shape == (1, 2)
    np.testing.assert_array_equal(res.final_theta[0], tr.theta[-1])
    configs = [OptimizerConfig("adam", lr=lr) for lr in (0.01, 0.02, 0.04)]
    res = simulate_batch(s, configs, (-1.5, 2.0), steps=50)
    assert res.final_theta.shape == (3, 2)
    np.testing.assert_array_equal(res.final_theta[1], tr.theta[-1])


def test_zero_steps_simulate():
    s = make_surface("rosenbrock")
    tr = simulate(s, OptimizerConfig("adam", lr=0.02), start=(0.5, -0.5), steps=0)
    assert len(tr) == 1 and tr.diverged_at is None
    np.testing.assert_array_equal(tr.theta, [[0.5, -0.5]])
    np.testing.assert_array_equal(tr.avg, [[0.5, -0.5]])
    np.testing.assert_array_equal(tr.grad[0], s.gradient(0.5, -0.5))
    assert tr.cost[0] == s.cost(0.5, -0.5) and tr.kinetic[0] == 0.0


@pytest.mark.parametrize("every", [None, 1, 5])
def test_zero_steps_batch(every):
    s = make_surface("rosenbrock")
    starts = _starts(s, 4)
    try:
        res = simulate_batch(s, OptimizerConfig("adam", lr=0.02), starts, steps=0, every=every)
    except ValueError as e:  # sim/simulate.py: `every = steps if not every` gives every = 0
        pytest.fail(f"BUG: simulate_batch(steps=0, every={every}) raised {e!r}; expected the starts")
    np.testing.assert_array_equal(res.record_steps, [0])
    np.testing.assert_array_equal(res.final_theta, starts)
    np.testing.assert_array_equal(res.avg_theta, starts)
    np.testing.assert_array_equal(res.final_cost, s.cost(starts[:, 0], starts[:, 1]))
    assert res.theta.shape == (1, 4, 2)
    assert np.all(res.diverged_at == -1)


def test_default_start_is_the_surfaces():
    s = make_surface("beale")
    tr = simulate(s, OptimizerConfig("adam", lr=0.01), steps=3)
    np.testing.assert_array_equal(tr.theta[0], s.start)


@pytest.mark.parametrize("kwargs", [
    dict(steps=-1), dict(steps=1.5), dict(steps="10"), dict(steps=True),
    dict(start=(math.nan, 0.0)), dict(start=(math.inf, 0.0)), dict(start=(1.0, 2.0, 3.0)),
    dict(start=(1.0,)), dict(start="ab"),
    dict(seed=-1), dict(seed=2**64), dict(seed=1.5), dict(seed=True),
])
def test_simulate_rejects_bad_input(kwargs):
    s = make_surface("quadratic")
    args = {"start": (1.0, 1.0), "steps": 10, **kwargs}
    with pytest.raises(ValueError):
        simulate(s, OptimizerConfig("gd", lr=0.01), **args)


@pytest.mark.parametrize("kwargs", [
    dict(steps=-1), dict(steps=2.5),
    dict(starts=np.array([[0.0, math.nan], [1.0, 1.0], [0.0, 0.0]])),
    dict(starts=np.zeros((3, 3))),
    dict(starts=np.zeros((2, 2)), configs=[OptimizerConfig("gd", lr=0.1)] * 3),
    dict(seeds=[1, 2]), dict(seeds=np.zeros((3, 1))),
    dict(every=-2), dict(every=0), dict(every=2.5),
    dict(seeds=[-1, 0, 1]), dict(seeds=[0, 2**64, 1]), dict(seeds=[0, 1.5, 2]),
    dict(configs=OptimizerConfig("gd", lr=-0.1)),
    dict(configs=[OptimizerConfig("gd", lr=0.1), OptimizerConfig("adam", beta1=1.5),
                  OptimizerConfig("gd", lr=0.1)]),
    dict(configs=OptimizerConfig("no_such_rule", lr=0.1)),
])
def test_simulate_batch_rejects_bad_input(kwargs):
    s = make_surface("quadratic")
    args = dict(configs=OptimizerConfig("gd", lr=0.1), starts=np.zeros((3, 2)), steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError):
        simulate_batch(s, **args)
