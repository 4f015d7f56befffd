"""The fused batch kernel (kernels.fast_particles) against the general one (run_particles).

gd and momentum batches on built-in surfaces take the fused kernel; it must give exactly
what the general kernel gives: positions, costs, averages, best costs, records, settling
and divergence steps, for particles that diverge at different steps too, with and without
the iterate average.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import OptimizerConfig, kernels, make_surface, simulate, simulate_batch

from .conftest import SURFACE_CASES, _case_id

ANALYTIC = [c for c in SURFACE_CASES if kernels.family(make_surface(c[0], **c[1]).code)
            == kernels.FAMILY_ANALYTIC]
FIELDS = ("final_theta", "final_cost", "avg_theta", "avg_cost", "best_cost", "diverged_at",
          "settled_at", "theta", "cost")


def _both(monkeypatch, *args, **kw):
    """The batch through the fused kernel, then through run_particles."""
    monkeypatch.setattr(kernels, "FAST_ON_DEMAND", True)
    calls = []
    real = kernels.fast_particles
    monkeypatch.setattr(kernels, "fast_particles", lambda *a: calls.append(1) or real(*a))
    fused = simulate_batch(*args, **kw)
    assert calls, "the fused kernel was not used"
    monkeypatch.setattr(kernels, "FAST_ON_DEMAND", False)
    monkeypatch.setattr(kernels, "_FAST", {})  # none ready: the general kernel
    general = simulate_batch(*args, **kw)
    assert len(calls) == 1
    return fused, general


def _starts(s, P, rng):
    b = s.box
    return np.column_stack([rng.uniform(b[0], b[1], P), rng.uniform(b[2], b[3], P)])


@pytest.mark.parametrize("case", ANALYTIC, ids=_case_id)
def test_fused_kernel_equals_the_general_one(case, monkeypatch, rng):
    name, params = case
    s = make_surface(name, **params)
    P = 3 * kernels.BLOCK + 17  # several blocks, shared among threads, and a partial one
    monkeypatch.setattr(kernels, "SHARE_BLOCKS", 1)  # a block at a time: four shares
    starts = _starts(s, P, rng)
    # Learning rates from tiny to far too large: particles diverge at many different steps.
    lrs = np.geomspace(1e-4, 5.0, P)
    gd = [OptimizerConfig("gd", lr=float(a)) for a in lrs]
    heavy = [OptimizerConfig("momentum", lr=float(a), momentum=0.9, schedule="exponential",
                             decay_start=30, tau=40.0, avg_tau=7.0) for a in lrs]
    for configs in (gd, heavy):
        # One config per particle, the iterate average kept, no settling ...
        fused, general = _both(monkeypatch, s, configs, starts, 150, every=11)
        n_div = int((general.diverged_at >= 0).sum())
        assert n_div < P
        # (plateau's gradient is bounded: no learning rate makes it diverge)
        assert n_div > 0 or name == "plateau", "the case should have diverging particles too"
        for f in FIELDS:
            assert np.array_equal(getattr(fused, f), getattr(general, f)), f
        assert fused.settled_at is None
        # ... and batches tracking settling without the average: basin maps' (one config for
        # all; five learning rates, ends included), and one config per particle.
        n_div = 0
        for cfg in [configs[k] for k in np.linspace(0, P - 1, 5).astype(int)] + [configs]:
            fused, general = _both(monkeypatch, s, cfg, starts, 150, every=11,
                                   settle_tol=1e-3, average=False)
            n_div += int((general.diverged_at >= 0).sum())
            for f in FIELDS:
                assert np.array_equal(getattr(fused, f), getattr(general, f)), f
            assert fused.avg_theta is None and fused.avg_cost is None
        assert n_div > 0 or name == "plateau"


def test_fused_kernel_one_config_without_settling(monkeypatch, rng):
    """One shared config, only the start and the end recorded (a sweep's or restart's shape)."""
    s = make_surface("rosenbrock")
    cfg = OptimizerConfig("momentum", lr=2e-3, momentum=0.95, schedule="step", decay_start=5,
                          tau=20.0)
    fused, general = _both(monkeypatch, s, cfg, _starts(s, 1000, rng), 300)
    assert fused.settled_at is None and general.settled_at is None
    for f in (f for f in FIELDS if f != "settled_at"):
        assert np.array_equal(getattr(fused, f), getattr(general, f)), f


def test_fused_divergence_matches_single_runs(rng):
    """Independent of run_particles: a diverged particle stops where a single run stops,
    keeping its last finite position."""
    s = make_surface("quadratic", kappa=10.0)
    starts = _starts(s, 40, rng)
    cfg = OptimizerConfig("gd", lr=0.25)  # > 2/κ: the steep direction blows up
    kernels.prepare_fast(s.code)
    res = simulate_batch(s, cfg, starts, 400)
    assert (res.diverged_at > 0).all()
    for i in range(0, 40, 7):
        one = simulate(s, cfg, starts[i], 400)
        assert one.diverged_at == res.diverged_at[i]
        assert np.array_equal(one.theta[-1], res.final_theta[i])
        assert np.isfinite(res.final_theta[i]).all()


@pytest.mark.parametrize("rule", ["gd", "momentum"])
@pytest.mark.parametrize("settle", [None, 1e-4])
def test_fused_divergence_check_far_from_the_centre(rule, settle, monkeypatch, rng):
    """The fused kernel checks the bound in full only where a particle is past half of it
    or makes a long move (kernels.SPAN): starts between half the bound and the bound, some
    staying there, some leaving it after a few steps, alongside ordinary ones, over several
    spans, must give exactly what the general kernel (which checks every step) gives."""
    s = make_surface("quadratic", kappa=10.0)
    cx, cy = s.centre
    B = s.bound
    ordinary = _starts(s, 300, rng)
    far = np.array([[cx + 0.6 * B, cy + 0.2 * B], [cx, cy - 0.7 * B], [cx - 0.9 * B, cy + 0.9 * B],
                    [cx + 0.49 * B, cy + 0.51 * B], [cx + (1 - 1e-9) * B, cy - 1e-3 * B]])
    # and one past the bound, moving too little for the cheap check: it fails its first step
    starts = np.vstack([ordinary[:150], far, ordinary[150:], far, [[cx + 1.5 * B, cy]]])
    P = starts.shape[0]
    lrs = np.full(P, 1e-3)
    lrs[-6:] = 1e-4  # moves under bound / (4 SPAN): only the first full check sees the last
    # Past the stable range along y (curvature 10): these leave the bound within steps.
    lrs[150:155] = 0.205 if rule == "gd" else 0.32  # 10 α > 2 (gd), > 2 (1 + μ) (momentum)
    kw = {} if rule == "gd" else {"momentum": 0.5}
    configs = [OptimizerConfig(rule, lr=float(a), **kw) for a in lrs]
    fused, general = _both(monkeypatch, s, configs, starts, 3 * kernels.SPAN + 5, every=50,
                           settle_tol=settle, average=settle is None)
    div = general.diverged_at
    assert (div[150:155] > 0).all() and (div[-6:-1] < 0).all() and div[-1] == 1
    for f in FIELDS:
        a, b = getattr(fused, f), getattr(general, f)
        assert (a is None and b is None) or np.array_equal(a, b), f


def test_rules_the_fused_kernel_leaves_to_the_general_one(monkeypatch, rng):
    s = make_surface("himmelblau")
    monkeypatch.setattr(kernels, "FAST_ON_DEMAND", True)  # it would be used if it applied
    monkeypatch.setattr(kernels, "fast_particles", lambda *a: pytest.fail("fused kernel used"))
    starts = _starts(s, 50, rng)
    simulate_batch(s, OptimizerConfig("adam", lr=0.01), starts, 20)
    simulate_batch(s, OptimizerConfig("gd", lr=0.01, noise=0.5), starts, 20)  # noisy gradients
    simulate_batch(s, OptimizerConfig("gd", lr=0.01), starts, 20, track_best=True)
    # settling tracked and the average kept: no fused loop does both
    simulate_batch(s, OptimizerConfig("gd", lr=0.01), starts, 20, settle_tol=1e-3)
    simulate_batch(make_surface("linreg"), OptimizerConfig("gd", lr=0.01), starts, 20)
    assert not kernels.fast_applies(kernels.LINREG, kernels.GD)
    assert not kernels.fast_applies(kernels.ROSENBROCK, kernels.NESTEROV)


def test_a_window_never_compiles_the_fused_kernel_in_its_thread(monkeypatch, rng):
    """With FAST_ON_DEMAND off (the window), a surface whose fused kernel is not prepared
    runs through the general kernel, and through the fused one once prepared."""
    s = make_surface("saddle")
    monkeypatch.setattr(kernels, "FAST_ON_DEMAND", False)
    monkeypatch.setattr(kernels, "_FAST", {})
    used = []
    real = kernels.fast_particles
    monkeypatch.setattr(kernels, "fast_particles", lambda *a: used.append(1) or real(*a))
    starts = _starts(s, 20, rng)
    simulate_batch(s, OptimizerConfig("gd", lr=0.1), starts, 10)
    assert not used and not kernels.fast_ready(s.code)
    kernels.prepare_fast(s.code)
    assert kernels.fast_ready(s.code)
    simulate_batch(s, OptimizerConfig("gd", lr=0.1), starts, 10)
    assert used
