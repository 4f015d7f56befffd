"""Sweeps, basin maps, random restarts and particle clouds against single runs and numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import OptimizerConfig, make_surface, simulate, simulate_batch
from sim.simulate import (
    CHUNK,
    DIVERGED,
    NO_MINIMUM,
    Cancelled,
    basins,
    label_minima,
    log_spaced,
    particle_cloud,
    restarts,
    sweep,
)

# ---- log-spaced values -------------------------------------------------------------------

def test_log_spaced_has_exact_ends_and_a_constant_ratio():
    v = log_spaced(1e-4, 1.0, 13)
    assert v[0] == 1e-4 and v[-1] == 1.0 and v.size == 13
    np.testing.assert_allclose(v[1:] / v[:-1], 10 ** (4 / 12), rtol=1e-10)
    assert log_spaced(0.3, 0.3, 1).tolist() == [0.3]
    # Nine points over four decades: the lecture's "factors of about 3".
    np.testing.assert_allclose(log_spaced(1e-4, 1, 9)[1:] / log_spaced(1e-4, 1, 9)[:-1], math.sqrt(10))


@pytest.mark.parametrize("args", [(0, 1, 5), (-1, 1, 5), (1e-3, math.inf, 3), (1e-3, 1, 0), (1e-3, 1, 2.5)])
def test_log_spaced_rejects_bad_ranges(args):
    with pytest.raises(ValueError):
        log_spaced(*args)


# ---- sweeps ------------------------------------------------------------------------------

def test_sweep_cells_equal_single_runs():
    s = make_surface("rosenbrock")
    base = OptimizerConfig("momentum", lr=1e-3, momentum=0.9)
    lrs = log_spaced(1e-4, 1e-2, 5)  # the largest rates diverge on this ravine
    res = sweep(s, base, "lr", lrs, steps=300, start=(-1.5, 2.0))
    assert res.final_cost.shape == (1, 5, 1)
    for i, lr in enumerate(lrs):
        cfg = res.config_at(0, i)
        assert cfg.lr == lr and cfg.momentum == 0.9
        tr = simulate(s, cfg, start=(-1.5, 2.0), steps=300)
        assert res.final_cost[0, i, 0] == tr.final_cost
        assert res.best_cost[0, i, 0] == tr.cost.min()
        assert res.diverged_at[0, i, 0] == (-1 if tr.diverged_at is None else tr.diverged_at)
    assert res.diverged.any() and not res.diverged.all()


def test_sweep_with_seeds_and_a_second_hyperparameter():
    s = make_surface("quadratic", kappa=10.0)
    base = OptimizerConfig("gd", lr=0.01, noise=0.5)
    res = sweep(s, base, "lr", [0.01, 0.05], steps=50, seeds=[3, 4, 5],
                name2="batch_size", values2=[1, 25])
    assert res.final_cost.shape == (2, 2, 3)
    rows = res.rows()
    assert len(rows) == 12 and rows[0][:3] == (0.01, 1.0, 3)
    # Each cell is the run of its own config and seed.
    cfg = res.config_at(1, 1)
    assert (cfg.lr, cfg.batch_size) == (0.05, 25)
    tr = simulate(s, cfg, start=s.start, steps=50, seed=4)
    assert res.final_cost[1, 1, 1] == tr.final_cost
    # Seeds differ, so noisy runs differ.
    assert len(set(res.final_cost[0, 0].tolist())) == 3


def test_sweep_best_index_skips_diverged_settings():
    s = make_surface("quadratic", kappa=10.0)
    # gd on curvature 10 diverges for α > 0.2; the best stable rate is the largest below.
    res = sweep(s, OptimizerConfig("gd"), "lr", [0.01, 0.05, 0.15, 0.5], steps=200)
    assert res.diverged[0, 3, 0] and not res.diverged[0, :3].any()
    assert res.best_index() == (0, 2)
    assert np.isinf(res.median_final()[0, 3])


def test_sweep_rejects_bad_requests():
    s = make_surface("quadratic")
    with pytest.raises(ValueError, match="cannot sweep"):
        sweep(s, OptimizerConfig("gd"), "speed", [1.0], 10)
    with pytest.raises(ValueError):
        sweep(s, OptimizerConfig("gd"), "lr", [], 10)
    with pytest.raises(ValueError):  # the config check names the bad value before running
        sweep(s, OptimizerConfig("gd"), "lr", [0.1, -1.0], 10)
    with pytest.raises(ValueError, match="twice"):
        sweep(s, OptimizerConfig("gd"), "lr", [0.1], 10, name2="lr", values2=[0.2])


def test_progress_can_cancel_a_sweep():
    s = make_surface("quadratic")
    seen = []

    def progress(done, total):
        seen.append((done, total))
        return False

    # 2 × 2 settings × CHUNK/2 seeds = 2 CHUNK runs: two chunks, cancelled after the first.
    seeds = range(CHUNK // 2)
    with pytest.raises(Cancelled):
        sweep(s, OptimizerConfig("momentum"), "lr", [0.1, 0.2], 5, name2="momentum",
              values2=[0, 0.5], seeds=seeds, progress=progress)
    assert seen == [(CHUNK, 2 * CHUNK)]
    done = []
    sweep(s, OptimizerConfig("momentum"), "lr", [0.1, 0.2], 5, seeds=seeds,
          progress=lambda d, t: done.append((d, t)) is None)
    assert done == [(CHUNK, CHUNK)]


# ---- basins ------------------------------------------------------------------------------

def test_basins_on_a_quadratic_all_reach_the_one_minimum():
    s = make_surface("quadratic", kappa=4.0)
    m = basins(s, OptimizerConfig("gd", lr=0.1), grid=24, steps=400)
    assert m.label.shape == (24, 24) and m.x.shape == (24,) and m.y.shape == (24,)
    assert np.all(m.label == 0)
    assert np.all(m.steps_to_converge > 0) and np.all(m.steps_to_converge < 400)
    assert m.fractions() == {0: 1.0}


def test_basin_labels_agree_with_single_runs():
    s = make_surface("two_minima")
    cfg = OptimizerConfig("momentum", lr=0.02, momentum=0.8)
    m = basins(s, cfg, grid=32, steps=600)
    assert {0, 1} <= set(np.unique(m.label).tolist())
    rng = np.random.default_rng(1)
    for iy, ix in rng.integers(0, 32, size=(12, 2)):
        tr = simulate(s, cfg, start=(m.x[ix], m.y[iy]), steps=600)
        k, d = s.nearest_minimum(*tr.final_theta)
        expect = k if d <= m.radius else NO_MINIMUM
        assert m.label[iy, ix] == expect
        assert m.final_cost[iy, ix] == tr.final_cost


def test_basin_steps_to_converge_is_the_last_long_step():
    s = make_surface("himmelblau")
    cfg = OptimizerConfig("gd", lr=0.01)
    m = basins(s, cfg, grid=8, steps=300)
    rng = np.random.default_rng(2)
    for iy, ix in rng.integers(0, 8, size=(6, 2)):
        tr = simulate(s, cfg, start=(m.x[ix], m.y[iy]), steps=300)
        step = np.hypot(*np.diff(tr.theta, axis=0).T)  # step t moves θ_t to θ_t+1
        long = np.flatnonzero(step > m.settle_tol)
        settled = 0 if long.size == 0 else long[-1] + 1
        if m.label[iy, ix] >= 0 and settled < 300:
            assert m.steps_to_converge[iy, ix] == settled
        else:
            assert m.steps_to_converge[iy, ix] == -1


def test_basins_mark_diverged_starts():
    s = make_surface("two_minima")
    m = basins(s, OptimizerConfig("gd", lr=2.0), grid=16, steps=100)
    assert (m.label == DIVERGED).mean() > 0.5
    assert np.all(np.isfinite(m.final_cost))


def test_basin_map_changes_with_the_learning_rate():
    s = make_surface("six_hump_camel")
    a = basins(s, OptimizerConfig("momentum", lr=0.005, momentum=0.9), grid=32, steps=800)
    b = basins(s, OptimizerConfig("momentum", lr=0.03, momentum=0.9), grid=32, steps=800)
    assert (a.label != b.label).mean() > 0.05


def test_basins_validate_and_cancel():
    s = make_surface("two_minima")
    for bad in (dict(grid=1), dict(grid=5000), dict(box=(1, 0, 0, 1)), dict(radius=-1.0)):
        with pytest.raises(ValueError):
            basins(s, OptimizerConfig("gd"), steps=5, **bad)
    with pytest.raises(Cancelled):
        basins(s, OptimizerConfig("gd"), grid=300, steps=5, progress=lambda d, t: False)


def test_label_minima_by_distance():
    s = make_surface("two_minima")
    mins = np.array([[m.x, m.y] for m in s.minima])
    pts = np.vstack([mins[1] + 0.001, [10.0, 10.0], mins[0]])
    lab = label_minima(s, pts, np.array([False, False, True]), radius=0.01)
    assert lab.tolist() == [1, NO_MINIMUM, DIVERGED]


@pytest.mark.parametrize("name", ["himmelblau", "six_hump_camel", "rastrigin"])
def test_label_minima_is_the_nearest_minimum_within_the_radius(name, rng):
    """Against a plain loop over points: the nearest known minimum (the first of equally
    near ones) when it lies within the radius, also exactly at it."""
    s = make_surface(name)
    mins = [(m.x, m.y) for m in s.minima]
    radius = 0.25
    pts = np.array(mins)[rng.integers(0, len(mins), 400)] + rng.normal(0, 0.2, (400, 2))
    mx, my = mins[0]
    pts[:3] = [(mx + radius, my), (mx, my - radius), (mx + 0.5 * radius, my)]
    diverged = rng.random(400) < 0.05
    want = []
    for (x, y), dead in zip(pts, diverged):
        d2 = [(x - a) ** 2 + (y - b) ** 2 for a, b in mins]
        k = min(range(len(mins)), key=lambda j: (d2[j], j))
        want.append(DIVERGED if dead else k if d2[k] <= radius * radius else NO_MINIMUM)
    got = label_minima(s, pts, diverged, radius)
    assert got.tolist() == want
    assert {NO_MINIMUM, 0, 1}.issubset(set(want))  # the case covers misses and hits


# ---- settling in the kernel --------------------------------------------------------------

def test_settled_at_matches_recorded_steps():
    s = make_surface("rosenbrock")
    cfg = OptimizerConfig("adam", lr=0.02)
    starts = np.array([[-1.5, 2.0], [0.5, 0.5], [1.2, 1.0]])
    tol = 1e-4
    res = simulate_batch(s, cfg, starts, 400, settle_tol=tol)
    for p, st in enumerate(starts):
        tr = simulate(s, cfg, start=st, steps=400, seed=p)
        step = np.hypot(*np.diff(tr.theta, axis=0).T)
        long = np.flatnonzero(step > tol)
        assert res.settled_at[p] == (0 if long.size == 0 else long[-1] + 1)
    assert simulate_batch(s, cfg, starts, 10).settled_at is None


# ---- restarts ----------------------------------------------------------------------------

def test_restarts_summary_is_consistent():
    s = make_surface("six_hump_camel")
    cfg = OptimizerConfig("gd", lr=0.02)
    r = restarts(s, cfg, k=40, steps=800, seed=7)
    x0, x1, y0, y1 = s.box
    assert np.all((r.starts[:, 0] >= x0) & (r.starts[:, 0] <= x1))
    assert np.all((r.starts[:, 1] >= y0) & (r.starts[:, 1] <= y1))
    assert r.theta.shape == (r.record_steps.size, 40, 2)
    assert r.n_global == int(np.isin(r.label, r.global_labels).sum())
    assert 0 < r.n_global < 40  # six-hump camel: some restarts end in local minima
    assert r.final_cost[r.best] == r.final_cost[r.diverged_at < 0].min()
    tr = simulate(s, cfg, start=r.starts[5], steps=800, seed=7 + 5)
    assert np.array_equal(tr.final_theta, r.final_theta[5])
    again = restarts(s, cfg, k=40, steps=800, seed=7)
    assert np.array_equal(again.starts, r.starts)


# ---- particle clouds ---------------------------------------------------------------------

def test_cloud_statistics_match_numpy():
    s = make_surface("quadratic", kappa=5.0)
    cfg = OptimizerConfig("gd", lr=0.05, noise=1.0)
    c = particle_cloud(s, cfg, particles=500, steps=200, seed=1, every=10)
    assert c.record_steps.tolist() == list(range(0, 201, 10))
    assert c.theta.dtype == np.float32 and c.theta.shape == (21, 500, 2)
    th = c.theta.astype(np.float64)
    np.testing.assert_allclose(c.mean, th.mean(axis=1), rtol=1e-9, atol=1e-12)
    for r in (0, 7, 20):
        np.testing.assert_allclose(c.cov[r], np.cov(th[r].T, bias=True), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose([c.cost_lo[r], c.cost_hi[r]], np.percentile(c.cost[r], [10, 90]), rtol=1e-6)
    assert c.frame(0) == 0 and c.frame(19) == 1 and c.frame(20) == 2 and c.frame(10_000) == 20


def test_cloud_particles_are_independent_noisy_runs():
    s = make_surface("quadratic", kappa=5.0)
    cfg = OptimizerConfig("momentum", lr=0.02, noise=2.0)
    c = particle_cloud(s, cfg, particles=50, steps=100, seed=2, every=100)
    seeds = 2 * 50 + np.arange(50)
    for p in (0, 17, 49):
        tr = simulate(s, cfg, start=s.start, steps=100, seed=int(seeds[p]))
        np.testing.assert_array_equal(c.theta[-1, p], tr.final_theta.astype(np.float32))
    other = particle_cloud(s, cfg, particles=50, steps=100, seed=3, every=100)
    assert not np.array_equal(other.theta[-1], c.theta[-1])


def test_cloud_jitter_stays_in_its_disc_and_dead_particles_leave_the_statistics():
    s = make_surface("quadratic", kappa=5.0)
    c = particle_cloud(s, OptimizerConfig("gd", lr=0.01), particles=2000, steps=1, jitter=0.3, seed=4)
    d = np.hypot(*(c.starts - np.array(s.start)).T)
    assert d.max() <= 0.3 and d.max() > 0.28 and np.median(d) > 0.3 * 0.6  # uniform in the disc
    # α = 0.5 > 2/κ: every particle diverges, at steps spread by the noise and the jitter.
    wild = particle_cloud(s, OptimizerConfig("gd", lr=0.5, noise=5.0), particles=400, steps=60,
                          seed=5, every=1, jitter=0.5)
    div = wild.diverged_at
    assert np.all(div >= 0) and div.min() < div.max()
    assert np.all(np.isfinite(wild.mean)) and np.all(np.isfinite(wild.cov))
    assert np.all(np.isfinite(wild.mean_cost)) and np.all(np.isfinite(wild.cost_hi))
    r = int(np.median(div))  # some particles alive, some dead
    alive = div > r
    assert 0 < alive.sum() < 400
    np.testing.assert_allclose(wild.mean[r], wild.theta[r][alive].astype(np.float64).mean(axis=0),
                               rtol=1e-6)


def test_ziggurat_noise_is_standard_normal():
    # One gd step with α = 1 from a point where the exact gradient is 0: θ₁ = −σ ξ.
    s = make_surface("quadratic")
    P = 200_000
    res = simulate_batch(s, OptimizerConfig("gd", lr=1.0, noise=1.0), np.zeros((P, 2)), steps=1)
    xi = -res.final_theta.ravel()
    xs = np.sort(xi)
    cdf = 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in xs]))
    n = xs.size
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.63 / math.sqrt(n)  # Kolmogorov-Smirnov at the 1 % level
    tail = np.mean(np.abs(xi) > 3.442619855899)  # beyond the ziggurat's base strip
    assert abs(tail - math.erfc(3.442619855899 / math.sqrt(2))) < 5 * math.sqrt(5.8e-4 / n)
    assert abs(np.mean(xi ** 4) - 3.0) < 0.05


def test_restarts_report_progress_and_cancel():
    s = make_surface("two_minima")
    seen = []
    k = CHUNK + CHUNK // 2
    r = restarts(s, OptimizerConfig("gd", lr=0.01), k=k, steps=5, every=5,
                 progress=lambda d, t: seen.append((d, t)) is None)
    assert seen == [(k // 2, k), (k, k)] and r.theta.shape == (2, k, 2)
    with pytest.raises(Cancelled):
        restarts(s, OptimizerConfig("gd", lr=0.01), k=k, steps=5, progress=lambda d, t: False)


def test_cloud_band_of_a_large_cloud_comes_from_its_first_particles():
    s = make_surface("quadratic", kappa=5.0)
    c = particle_cloud(s, OptimizerConfig("gd", lr=0.05, noise=1.0), particles=3000, steps=40, every=20)
    ref = np.percentile(c.cost[:, :2000], [10, 90], axis=1)
    np.testing.assert_allclose([c.cost_lo, c.cost_hi], ref, rtol=1e-6)
    np.testing.assert_allclose(c.mean_cost, c.cost.astype(np.float64).mean(axis=1), rtol=1e-9)
    # The sample's band is close to the whole cloud's.
    full = np.percentile(c.cost[-1], [10, 90])
    np.testing.assert_allclose([c.cost_lo[-1], c.cost_hi[-1]], full, rtol=0.1)
