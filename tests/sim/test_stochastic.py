"""Stochastic gradients: mini-batches of dataset surfaces and the noise model of analytic ones."""

from __future__ import annotations

import numpy as np
import pytest

from sim import OptimizerConfig, make_surface, simulate, simulate_batch
from tests.sim import reference as ref

DATASETS = ["linreg", "logreg", "tiny_net"]
RULES_HP = [("gd", dict(lr=0.3)), ("momentum", dict(lr=0.1, momentum=0.8)), ("nesterov", dict(lr=0.1)),
            ("adagrad", dict(lr=0.3)), ("rmsprop", dict(lr=0.01)), ("adam", dict(lr=0.02)),
            ("newton", dict(lr=0.5))]


@pytest.mark.parametrize("rule, hp", RULES_HP, ids=[r for r, _ in RULES_HP])
@pytest.mark.parametrize("name", DATASETS)
def test_batch_of_all_examples_is_the_full_batch_bit_for_bit(name, rule, hp):
    s = make_surface(name)
    N = s.n_examples
    full = simulate(s, OptimizerConfig(rule, **hp), steps=150, seed=3)
    whole = simulate(s, OptimizerConfig(rule, batch_size=N, **hp), steps=150, seed=3)
    np.testing.assert_array_equal(whole.theta, full.theta)
    np.testing.assert_array_equal(whole.grad, full.grad)
    np.testing.assert_array_equal(whole.cost, full.cost)


@pytest.mark.parametrize("name", DATASETS)
def test_mini_batches_are_reproducible_and_depend_on_the_seed(name):
    s = make_surface(name)
    cfg = OptimizerConfig("momentum", lr=0.1, momentum=0.8, batch_size=10)
    a = simulate(s, cfg, steps=100, seed=11)
    b = simulate(s, cfg, steps=100, seed=11)
    c = simulate(s, cfg, steps=100, seed=12)
    full = simulate(s, OptimizerConfig("momentum", lr=0.1, momentum=0.8), steps=100, seed=11)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.grad, b.grad)
    assert not np.array_equal(a.theta, c.theta)
    assert np.abs(a.theta[-1] - full.theta[-1]).max() > 1e-6
    # The recorded cost is always the full cost E(θ), never a mini-batch's.
    np.testing.assert_array_equal(a.cost, s.cost(a.theta[:, 0], a.theta[:, 1]))
    # Mini-batch gradients scatter around the full gradient at the same point.
    exact = s.gradient(a.theta[:-1, 0], a.theta[:-1, 1])
    assert np.abs(a.grad[:-1] - exact).max() > 1e-6
    np.testing.assert_array_equal(a.grad[-1], s.gradient(*a.theta[-1]))  # last row: exact


@pytest.mark.parametrize("B", [1, 10, 20, 50])
def test_each_example_is_used_once_per_epoch(B):
    """At a (nearly) fixed θ the N/B mini-batch gradients of an epoch average to the full one."""
    s = make_surface("linreg", scale=3.0, offset=1.0)
    N = s.n_examples
    per_epoch = N // B
    assert per_epoch * B == N
    tr = simulate(s, OptimizerConfig("gd", lr=1e-8, batch_size=B), start=(-1.0, 2.0), steps=3 * per_epoch,
                  seed=5)
    g = tr.grad[:-1]
    # θ moves by at most lr·max|g| per step; the full gradient moves with it by ‖H‖ times that.
    drift = 3 * per_epoch * 1e-8 * np.abs(g).max() * np.abs(s.hessian(-1.0, 2.0)).sum()
    full = s.gradient(-1.0, 2.0)
    epochs = g.reshape(3, per_epoch, 2)
    for e in range(3):
        np.testing.assert_allclose(epochs[e].mean(axis=0), full, rtol=0, atol=drift + 1e-12)
    if B < N:
        # Reshuffled every epoch: the order (and for B > 1 the grouping) changes.
        assert np.abs(epochs[0] - epochs[1]).max() > 1e-3
        if B > 1:
            assert np.abs(np.sort(epochs[0, :, 0]) - np.sort(epochs[1, :, 0])).max() > 1e-3
    if B == 1:
        # Each gradient is exactly one example's, at the θ of its step, and an epoch uses
        # every example once.
        th = tr.theta[:-1]
        gx, gy = ref.example_grads("linreg", s.X, s.T, th[:, 0], th[:, 1])  # (steps, N)
        err = np.hypot(gx - g[:, :1], gy - g[:, 1:])
        used = err.argmin(axis=1)
        assert err.min(axis=1).max() < 1e-12 * np.abs(g).max()
        for e in range(3):
            assert sorted(used[e * N:(e + 1) * N]) == list(range(N))


def test_mini_batch_gradient_is_a_mean_over_distinct_examples():
    """With B = 2 each gradient is the mean of two different examples' gradients."""
    s = make_surface("linreg", n_examples=12, data_seed=2)
    tr = simulate(s, OptimizerConfig("gd", lr=1e-8, batch_size=2), start=(0.5, 0.5), steps=12, seed=1)
    pairs = [(i, j) for i in range(12) for j in range(i + 1, 12)]
    for e in range(2):
        seen = []
        for t in range(6 * e, 6 * e + 6):
            gx, gy = ref.example_grads("linreg", s.X, s.T, *tr.theta[t])
            row = tr.grad[t]
            errs = [np.hypot((gx[i] + gx[j]) / 2 - row[0], (gy[i] + gy[j]) / 2 - row[1]) for i, j in pairs]
            k = int(np.argmin(errs))
            assert errs[k] < 1e-12 * (1 + np.abs(row).max())
            seen += pairs[k]
        assert sorted(seen) == list(range(12)), f"epoch {e} did not use every example once"


def test_batch_size_larger_than_n_is_the_full_batch():
    s = make_surface("logreg", n_examples=30)
    full = simulate(s, OptimizerConfig("gd", lr=0.5), steps=50)
    big = simulate(s, OptimizerConfig("gd", lr=0.5, batch_size=1000), steps=50)
    np.testing.assert_array_equal(big.theta, full.theta)


def test_batch_size_without_noise_leaves_analytic_surfaces_exact():
    s = make_surface("rosenbrock")
    a = simulate(s, OptimizerConfig("adam", lr=0.02), steps=100)
    b = simulate(s, OptimizerConfig("adam", lr=0.02, batch_size=7), steps=100, seed=9)
    np.testing.assert_array_equal(a.theta, b.theta)


def _noisy_gradients(surface, point, sigma, B, P=20000):
    """P independent gradient estimates at `point`: one gd step with α = 1 per particle."""
    cfg = OptimizerConfig("gd", lr=1.0, noise=sigma, batch_size=B)
    res = simulate_batch(surface, cfg, np.tile(point, (P, 1)), steps=1)
    return np.asarray(point) - res.final_theta


@pytest.mark.parametrize("sigma, B", [(0.5, 0), (0.5, 4), (2.0, 9), (0.1, 1)])
def test_noise_model_mean_and_spread(sigma, B):
    s = make_surface("rosenbrock")
    point = (0.5, 0.5)
    P = 20000
    g = _noisy_gradients(s, point, sigma, B, P)
    exact = s.gradient(*point)
    scale = sigma / np.sqrt(max(B, 1))
    noise = g - exact
    assert np.all(np.abs(noise.mean(axis=0)) < 5 * scale / np.sqrt(P))
    np.testing.assert_allclose(noise.std(axis=0), scale, rtol=0.03)
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < 0.03
    within = np.mean(np.abs(noise / scale) < 1.0, axis=0)  # Gaussian: 68.3 %
    np.testing.assert_allclose(within, 0.6827, atol=0.015)


def test_noise_in_single_runs_matches_the_batch_and_is_white():
    s = make_surface("quadratic", kappa=10.0, angle=30.0)
    cfg = OptimizerConfig("gd", lr=1.0, noise=0.5)
    seeds = np.arange(5)
    batch = simulate_batch(s, cfg, np.tile((1.0, -1.0), (5, 1)), steps=1, seeds=seeds)
    for k in seeds:
        tr = simulate(s, cfg, start=(1.0, -1.0), steps=1, seed=int(k))
        np.testing.assert_array_equal(tr.theta[1], batch.final_theta[k])
        np.testing.assert_allclose(tr.grad[0], np.array([1.0, -1.0]) - tr.theta[1], rtol=1e-14, atol=1e-14)
    # A long run at a fixed point: the noise has the right spread and no memory.
    tr = simulate(s, OptimizerConfig("gd", lr=1e-8, noise=0.5), start=(1.0, -1.0), steps=5000, seed=7)
    noise = tr.grad[:-1] - s.gradient(tr.theta[:-1, 0], tr.theta[:-1, 1])
    np.testing.assert_allclose(noise.std(axis=0), 0.5, rtol=0.05)
    for c in range(2):
        lag1 = np.corrcoef(noise[:-1, c], noise[1:, c])[0, 1]
        assert abs(lag1) < 0.06
    np.testing.assert_array_equal(tr.grad[-1], s.gradient(*tr.theta[-1]))  # last row: exact


def test_noise_is_reproducible_per_seed():
    s = make_surface("himmelblau")
    cfg = OptimizerConfig("adam", lr=0.05, noise=1.0)
    a = simulate(s, cfg, steps=200, seed=42)
    b = simulate(s, cfg, steps=200, seed=42)
    c = simulate(s, cfg, steps=200, seed=43)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, c.theta)
