"""Update rules against the numpy reference, schedules, iterate averaging, and dynamics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import HYPERPARAMS, RULES, SCHEDULES, OptimizerConfig, make_surface, simulate, simulate_batch
from tests.sim import reference as ref
from tests.sim.helpers import kernel_grad, kernel_hess

SURFACES = {"quadratic": {"kappa": 10.0, "angle": 30.0}, "rosenbrock": {}, "himmelblau": {}}
STARTS = {
    "quadratic": [(-2.5, 1.5), (2.0, 2.0), (0.3, -2.7)],
    "rosenbrock": [(-1.5, 2.0), (0.5, -0.5), (1.8, 2.5)],
    "himmelblau": [(0.0, 0.0), (-4.0, 1.0), (1.0, -3.5)],
}
# Non-default values, all different, so a hyperparameter read from the wrong slot shows.
# RMSprop runs with a decaying rate: at a constant rate it ends in a limit cycle where the
# last bits of rounding decide the path, which would make any reference comparison flaky.
HYPER = {
    "gd": {"quadratic": dict(lr=0.05), "rosenbrock": dict(lr=2e-4), "himmelblau": dict(lr=5e-3)},
    "momentum": {"quadratic": dict(lr=0.02, momentum=0.85), "rosenbrock": dict(lr=1e-4, momentum=0.85),
                 "himmelblau": dict(lr=2e-3, momentum=0.85)},
    "nesterov": {"quadratic": dict(lr=0.02, momentum=0.85), "rosenbrock": dict(lr=1e-4, momentum=0.85),
                 "himmelblau": dict(lr=2e-3, momentum=0.85)},
    "adagrad": {"quadratic": dict(lr=0.5, eps=1e-7), "rosenbrock": dict(lr=0.1, eps=1e-7),
                "himmelblau": dict(lr=0.3, eps=1e-7)},
    "rmsprop": {k: dict(lr=0.01, rho=0.85, eps=1e-7, schedule="inverse", tau=20.0) for k in SURFACES},
    "adam": {k: dict(lr=lr, beta1=0.8, beta2=0.995, eps=1e-7)
             for k, lr in (("quadratic", 0.05), ("rosenbrock", 0.02), ("himmelblau", 0.05))},
    "newton": {k: dict(lr=0.5, damping=0.01) for k in SURFACES},
}
EXACT = ("gd", "momentum", "nesterov")
STEPS = 200


def test_rule_table_is_complete():
    assert set(RULES) == set(HYPER)
    assert set(SCHEDULES) == {"constant", "exponential", "step", "inverse"}
    assert set(HYPERPARAMS) >= {"lr", "momentum", "beta1", "beta2", "rho", "eps", "damping",
                                "batch_size", "noise", "decay_start", "tau", "avg_tau"}


@pytest.mark.parametrize("name", list(SURFACES))
@pytest.mark.parametrize("rule", list(HYPER))
def test_rule_matches_numpy_reference(rule, name):
    """θ, gradients, α_t, velocity, kinetic energy and averages, step by step."""
    s = make_surface(name, **SURFACES[name])
    hp = HYPER[rule][name]
    starts = np.array(STARTS[name])
    r = ref.run(rule, kernel_grad(s), starts[:, 0], starts[:, 1], STEPS, hess=kernel_hess(s), **hp)
    for i, start in enumerate(starts):
        tr = simulate(s, OptimizerConfig(rule, **hp), start=start, steps=STEPS)
        assert tr.diverged_at is None and len(tr) == STEPS + 1
        if rule in EXACT:
            np.testing.assert_array_equal(tr.theta, r.theta[:, i])
            np.testing.assert_array_equal(tr.grad[:-1], r.grad[:, i])
        else:
            np.testing.assert_allclose(tr.theta, r.theta[:, i], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(tr.grad[:-1], r.grad[:, i], rtol=1e-8, atol=1e-9)
        # Row conventions: the last gradient row is the exact gradient at the final point.
        np.testing.assert_array_equal(tr.grad[-1], s.gradient(*tr.theta[-1]))
        np.testing.assert_allclose(tr.lr, r.lr, rtol=1e-14)
        np.testing.assert_array_equal(tr.velocity[0], [0.0, 0.0])
        np.testing.assert_array_equal(tr.velocity[1:], np.diff(tr.theta, axis=0))
        np.testing.assert_allclose(tr.kinetic, ref.kinetic(tr.theta, tr.lr), rtol=1e-12, atol=0)
        np.testing.assert_allclose(tr.avg, r.avg[:, i], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(tr.cost, s.cost(tr.theta[:, 0], tr.theta[:, 1]))
        np.testing.assert_array_equal(tr.avg_cost, s.cost(tr.avg[:, 0], tr.avg[:, 1]))
        assert tr.cost[-1] < tr.cost[0]  # every run makes progress


@pytest.mark.parametrize("rule", ["gd", "momentum", "adam"])
def test_rule_matches_reference_with_independent_gradients(rule):
    """The whole pipeline against our own gradient formulas (rounding may differ)."""
    s = make_surface("rosenbrock")
    hp = HYPER[rule]["rosenbrock"]
    starts = np.array(STARTS["rosenbrock"])
    r = ref.run(rule, ref.rosenbrock_grad, starts[:, 0], starts[:, 1], STEPS, **hp)
    for i, start in enumerate(starts):
        tr = simulate(s, OptimizerConfig(rule, **hp), start=start, steps=STEPS)
        np.testing.assert_allclose(tr.theta, r.theta[:, i], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("schedule", ["constant", "exponential", "step", "inverse"])
@pytest.mark.parametrize("decay_start, tau", [(0, 7.5), (25, 10.0), (3, 1.0)])
def test_schedule_lr_column(schedule, decay_start, tau):
    s = make_surface("quadratic", kappa=10.0, angle=30.0)
    cfg = OptimizerConfig("gd", lr=0.08, schedule=schedule, decay_start=decay_start, tau=tau)
    tr = simulate(s, cfg, start=(-2.5, 1.5), steps=120)
    expected = [0.08 * ref.schedule_factor(schedule, t, decay_start, tau) for t in range(121)]
    np.testing.assert_allclose(tr.lr, expected, rtol=1e-14, atol=0)
    assert np.all(tr.lr[: decay_start + 1] == 0.08)
    if schedule != "constant":
        assert np.all(np.diff(tr.lr) <= 0) and tr.lr[-1] < 0.08
    if schedule == "step":  # halves exactly every τ steps after t₀
        t = np.arange(121)
        np.testing.assert_array_equal(tr.lr, 0.08 * 0.5 ** np.floor(np.maximum(t - decay_start, 0) / tau))
    # And the path follows the decayed rate.
    r = ref.run("gd", kernel_grad(s), -2.5, 1.5, 120, lr=0.08, schedule=schedule,
                decay_start=decay_start, tau=tau)
    np.testing.assert_allclose(tr.theta, r.theta[:, 0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("avg_tau", [1.0, 5.0, 37.5])
def test_iterate_average_follows_eq_11(avg_tau):
    s = make_surface("rosenbrock")
    tr = simulate(s, OptimizerConfig("momentum", lr=1e-4, momentum=0.9, avg_tau=avg_tau),
                  start=(-1.5, 2.0), steps=300)
    avg = np.empty_like(tr.theta)
    avg[0] = tr.theta[0]
    for t in range(1, len(tr)):
        avg[t] = (1 - 1 / avg_tau) * avg[t - 1] + tr.theta[t] / avg_tau
    np.testing.assert_allclose(tr.avg, avg, rtol=1e-12, atol=1e-15)
    if avg_tau == 1.0:
        np.testing.assert_array_equal(tr.avg, tr.theta)
    else:  # the average lags behind and is smoother than the path itself
        assert np.abs(np.diff(tr.avg, axis=0)).sum() < np.abs(np.diff(tr.theta, axis=0)).sum()


@pytest.mark.parametrize("rule", ["momentum", "nesterov"])
def test_zero_momentum_is_gradient_descent(rule):
    for name, start, lr in (("rosenbrock", (-1.5, 2.0), 2e-4), ("himmelblau", (0.0, 0.0), 0.01)):
        s = make_surface(name)
        gd = simulate(s, OptimizerConfig("gd", lr=lr), start=start, steps=300)
        mom = simulate(s, OptimizerConfig(rule, lr=lr, momentum=0.0), start=start, steps=300)
        # Equal to rounding: gd rounds θ − α g once (a fused multiply-add), the heavy ball
        # rounds its velocity −α g, then θ + p. A wrong rule would differ at the first step.
        np.testing.assert_allclose(mom.theta, gd.theta, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(mom.avg, gd.avg, rtol=1e-14, atol=1e-15)


def test_adam_is_invariant_to_scaling_the_cost():
    """rastrigin with amplitude 0 is x² + y², exactly twice quadratic(κ=1): same Adam path."""
    twice = make_surface("rastrigin", amplitude=0.0)
    once = make_surface("quadratic", kappa=1.0, angle=0.0)
    x, y = np.random.default_rng(3).uniform(-3, 3, (2, 50))
    np.testing.assert_array_equal(twice.cost(x, y), 2 * once.cost(x, y))
    cfg = OptimizerConfig("adam", lr=0.05, eps=0.0)
    a = simulate(twice, cfg, start=(-2.5, 1.5), steps=300)
    b = simulate(once, cfg, start=(-2.5, 1.5), steps=300)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-9, atol=1e-12)
    # Gradient descent, by contrast, is not scale invariant.
    g1 = simulate(twice, OptimizerConfig("gd", lr=0.05), start=(-2.5, 1.5), steps=50)
    g2 = simulate(once, OptimizerConfig("gd", lr=0.05), start=(-2.5, 1.5), steps=50)
    assert np.abs(g1.theta[-1] - g2.theta[-1]).max() > 1e-3


@pytest.mark.parametrize("c", [1e-3, 7.0, 1e4])
def test_adam_path_unchanged_by_a_constant_factor_on_rosenbrock(c):
    """Adam on c·E (reference fed c·∇E) follows the kernel's Adam path on E (ε = 0)."""
    s = make_surface("rosenbrock")
    g = kernel_grad(s)

    def scaled(x, y):
        gx, gy = g(x, y)
        return c * gx, c * gy

    hp = dict(lr=0.02, beta1=0.85, beta2=0.99, eps=0.0)
    tr = simulate(s, OptimizerConfig("adam", **hp), start=(-1.5, 2.0), steps=400)
    r = ref.run("adam", scaled, -1.5, 2.0, 400, **hp)
    np.testing.assert_allclose(tr.theta, r.theta[:, 0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kappa", [10.0, 100.0])
def test_gd_converges_below_two_over_l_and_diverges_above(kappa):
    s = make_surface("quadratic", kappa=kappa, angle=30.0)
    L = kappa
    steps = int(20 * kappa)  # the slow axis contracts by 1 − α per step
    ok = simulate(s, OptimizerConfig("gd", lr=1.9 / L), start=(-2.5, 1.5), steps=steps)
    assert ok.diverged_at is None
    assert np.hypot(*ok.theta[-1]) < 1e-6
    assert np.all(np.diff(ok.cost) <= 0)
    bad = simulate(s, OptimizerConfig("gd", lr=2.2 / L), start=(-2.5, 1.5), steps=steps)
    assert bad.diverged_at is not None
    assert len(bad) == bad.diverged_at
    for arr in (bad.theta, bad.cost, bad.grad, bad.velocity, bad.lr, bad.avg, bad.avg_cost,
                bad.kinetic, bad.total_energy):
        assert np.all(np.isfinite(arr))
    cx, cy = s.centre
    assert np.all(np.abs(bad.theta - [cx, cy]) <= s.bound)
    # The step that left the bound is the one the reference finds.
    r = ref.run("gd", kernel_grad(s), -2.5, 1.5, steps, lr=2.2 / L, bound=s.bound, centre=s.centre)
    assert r.diverged_at[0] == bad.diverged_at
    np.testing.assert_array_equal(bad.theta, r.theta[: bad.diverged_at, 0])


def test_non_finite_step_is_divergence():
    """Newton with no damping where the Hessian is singular: an infinite step, stopped."""
    s = make_surface("saddle")
    y = 1 / math.sqrt(3)  # ∂²E/∂y² = 3y² − 1 vanishes here
    tr = simulate(s, OptimizerConfig("newton", lr=1.0, damping=0.0), start=(0.5, y), steps=10)
    assert tr.diverged_at == 1
    assert len(tr) == 1
    assert np.all(np.isfinite(tr.theta)) and np.all(np.isfinite(tr.kinetic))


@pytest.mark.parametrize("rule, hp", [
    ("gd", dict(lr=0.5)), ("momentum", dict(lr=0.3, momentum=0.9)), ("nesterov", dict(lr=0.3)),
    ("adagrad", dict(lr=0.5)), ("rmsprop", dict(lr=0.05)), ("adam", dict(lr=0.05)),
    ("newton", dict(lr=0.5)),
])
@pytest.mark.parametrize("batch_size", [0, 16])
def test_tiny_net_stays_on_the_diagonal(rule, hp, batch_size):
    s = make_surface("tiny_net")
    cfg = OptimizerConfig(rule, batch_size=batch_size, **hp)
    tr = simulate(s, cfg, start=(1.5, 1.5), steps=300, seed=4)
    np.testing.assert_array_equal(tr.theta[:, 0], tr.theta[:, 1])
    assert np.abs(tr.theta[-1, 0] - 1.5) > 1e-3  # it did move along the diagonal


def test_frictionless_momentum_conserves_energy_friction_drains_it():
    s = make_surface("quadratic", kappa=10.0)
    free = simulate(s, OptimizerConfig("momentum", lr=1e-5, momentum=1.0), start=(-2.5, 1.5), steps=1000)
    E = free.total_energy
    np.testing.assert_allclose(free.kinetic, ref.kinetic(free.theta, free.lr), rtol=1e-12)
    assert free.cost.min() < 0.01 * free.cost[0]  # energy really moved into motion and back
    assert np.abs(E / E[0] - 1).max() < 0.01
    assert abs(E[-1] / E[0] - 1) < 0.01
    damped = simulate(s, OptimizerConfig("momentum", lr=1e-5, momentum=0.9), start=(-2.5, 1.5), steps=1000)
    D = damped.total_energy
    assert D[-1] < 0.5 * D[0]
    assert np.all(np.diff(D[1:]) <= 1e-12 * D[0])  # friction never adds energy


@pytest.mark.parametrize("kappa, angle", [(10.0, 30.0), (1000.0, -70.0)])
def test_newton_solves_a_quadratic_in_one_step(kappa, angle):
    s = make_surface("quadratic", kappa=kappa, angle=angle)
    tr = simulate(s, OptimizerConfig("newton", lr=1.0, damping=0.0), start=(-2.5, 1.5), steps=1)
    assert np.hypot(*tr.theta[1]) < 1e-12
    assert tr.cost[1] < 1e-24


def test_newton_leaves_the_saddle():
    """|H| makes the step go downhill along the negative-curvature direction."""
    s = make_surface("saddle")
    tr = simulate(s, OptimizerConfig("newton", lr=0.5, damping=1e-3), start=(0.0, 0.01), steps=40)
    y = np.abs(tr.theta[:, 1])
    assert np.all(np.diff(y[:10]) > 0)
    assert y[-1] == pytest.approx(1.0, abs=1e-6)  # it reached one of the minima (0, ±1)
    assert tr.cost[-1] < tr.cost[0]
    # Plain Newton (H itself) would be drawn into the saddle instead.
    H = s.hessian(0.0, 0.01)
    plain = np.array([0.0, 0.01]) - np.linalg.solve(H, s.gradient(0.0, 0.01))
    assert abs(plain[1]) < 1e-4
    assert abs(tr.theta[1, 1]) > 0.01


def test_newton_reference_handles_indefinite_hessians_like_the_kernel():
    s = make_surface("six_hump_camel")
    starts = np.array([(0.0, 0.1), (1.2, -0.7), (-1.3, -0.6)])  # near the saddles
    r = ref.run("newton", kernel_grad(s), starts[:, 0], starts[:, 1], 60, hess=kernel_hess(s),
                lr=0.3, damping=0.05)
    for i, start in enumerate(starts):
        tr = simulate(s, OptimizerConfig("newton", lr=0.3, damping=0.05), start=start, steps=60)
        np.testing.assert_allclose(tr.theta, r.theta[:, i], rtol=1e-10, atol=1e-12)
        assert tr.cost[-1] < tr.cost[0]


@pytest.mark.parametrize("changes", [
    dict(rule="sgd"), dict(schedule="cosine"), dict(lr=0.0), dict(lr=-1e-3), dict(lr=math.nan),
    dict(lr=math.inf), dict(lr="fast"), dict(momentum=1.5), dict(momentum=-0.1), dict(beta1=1.0),
    dict(beta2=1.0), dict(rho=1.0), dict(eps=-1e-8), dict(damping=-1.0), dict(batch_size=-1),
    dict(batch_size=2.5), dict(noise=-0.1), dict(decay_start=-1), dict(tau=0.0), dict(avg_tau=0.5),
])
def test_invalid_configs_raise_value_error(changes):
    cfg = OptimizerConfig(**{"rule": "gd", **changes})
    with pytest.raises(ValueError):
        cfg.validated()
    with pytest.raises(ValueError):
        simulate(make_surface("quadratic"), cfg, steps=3)


def test_valid_config_is_normalized():
    cfg = OptimizerConfig("adam", lr=1, batch_size=4.0, decay_start=3.0).validated()
    assert isinstance(cfg.lr, float) and cfg.lr == 1.0
    assert isinstance(cfg.batch_size, int) and cfg.batch_size == 4
    assert isinstance(cfg.decay_start, int)
    assert OptimizerConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        OptimizerConfig.from_dict({"rule": "gd", "learning_rate": 0.1})


@pytest.mark.parametrize("rule", ["gd", "momentum"])
@pytest.mark.parametrize("schedule, tau, steps", [("exponential", 1e-6, 20), ("step", 1e-6, 20),
                                                  ("exponential", 1.0, 800)])
def test_arrays_stay_finite_when_the_schedule_reaches_zero(rule, schedule, tau, steps):
    """exp(−(t − t₀)/τ) underflows to 0 after ~745τ steps (0.5^k after ~1075τ): α_t = 0.

    The run must still return finite arrays; kinetic = ½‖v‖²/α_t−1 must not divide by 0.
    """
    s = make_surface("quadratic", kappa=10.0)
    cfg = OptimizerConfig(rule, lr=0.01, schedule=schedule, tau=tau, decay_start=5)
    with np.errstate(divide="ignore", invalid="ignore"):
        tr = simulate(s, cfg, start=(-2.5, 1.5), steps=steps)
    assert tr.lr[-1] == 0.0 and tr.diverged_at is None
    for name in ("theta", "cost", "grad", "velocity", "lr", "avg", "avg_cost"):
        assert np.all(np.isfinite(getattr(tr, name))), name
    bad = np.flatnonzero(~np.isfinite(tr.kinetic))
    assert bad.size == 0, (f"BUG: sim/simulate.py simulate(): kinetic is {tr.kinetic[bad[0]]} at "
                           f"t={bad[0]} where lr[t-1]={tr.lr[bad[0] - 1]}")
    assert np.all(np.isfinite(tr.total_energy))


def test_numpy_momentum_batch_baseline_matches_the_kernel():
    """The benchmarks' numpy baseline computes what simulate_batch computes."""
    s = make_surface("rosenbrock")
    rng = np.random.default_rng(8)
    x0, y0 = rng.uniform(-2, 2, 64), rng.uniform(-1, 3, 64)
    lr = np.where(np.arange(64) % 2 == 0, 1e-4, 2e-4)
    configs = [OptimizerConfig("momentum", lr=float(a), momentum=0.9, avg_tau=10.0) for a in lr]
    res = simulate_batch(s, configs, np.column_stack([x0, y0]), steps=300)
    # With the surface's own gradient: bit for bit.
    x, y, ax, ay = ref.numpy_momentum_batch(kernel_grad(s), x0, y0, 300, lr, 0.9, 10.0, fused=True)
    np.testing.assert_array_equal(np.column_stack([x, y]), res.final_theta)
    np.testing.assert_array_equal(np.column_stack([ax, ay]), res.avg_theta)
    # With the reference's own Rosenbrock gradient: equal up to rounding.
    x, y, ax, ay = ref.numpy_momentum_batch(ref.rosenbrock_grad, x0, y0, 300, lr, 0.9, 10.0)
    np.testing.assert_allclose(np.column_stack([x, y]), res.final_theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.column_stack([ax, ay]), res.avg_theta, rtol=1e-9, atol=1e-12)
