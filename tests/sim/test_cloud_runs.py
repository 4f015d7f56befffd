"""Runs as particle clouds: the Run fields in scenario files, the ellipse geometry, and the
stationary spread of SGD against the formula derived by hand (section 3)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sim import OptimizerConfig, make_surface
from sim.cloud_geometry import SIGMA_LEVELS, ellipse_points, ellipses_outline
from sim.scenario import MAX_RUN_PARTICLES, Run, Scenario, ScenarioError, from_dict, loads, to_dict
from sim.simulate import particle_cloud

# ---- scenario files ----------------------------------------------------------------------


def _scenario(*runs: Run) -> Scenario:
    return Scenario("quadratic", {"kappa": 4.0, "angle": 0.0}, runs, 100, 0, "clouds")


def test_particles_and_jitter_round_trip():
    sc = _scenario(Run(OptimizerConfig("gd", lr=0.1, noise=2.0), "a", None, 3, "#123456", True, 2500, 0.25),
                   Run(OptimizerConfig("adam", lr=0.01), "b", (1.0, 2.0), 0, "#654321", False, 10_000))
    d = json.loads(json.dumps(to_dict(sc)))
    back = from_dict(d)
    assert back == sc
    assert back.runs[0].particles == 2500 and back.runs[0].jitter == 0.25
    assert back.runs[1].particles == 10_000 and back.runs[1].jitter == 0.0


def test_defaults_are_not_written():
    """A file without clouds is written exactly as before the fields existed."""
    d = to_dict(_scenario(Run(OptimizerConfig("gd"), "plain")))
    assert "particles" not in d["runs"][0] and "jitter" not in d["runs"][0]
    assert from_dict(d).runs[0].particles == 1


@pytest.mark.parametrize("field, value, words", [
    ("particles", 0, "particles: must be in [1, 10000]"),
    ("particles", MAX_RUN_PARTICLES + 1, "particles: must be in"),
    ("particles", 2.5, "whole number"),
    ("particles", "many", "expected a number"),
    ("particles", True, "expected a number"),
    ("jitter", -0.1, "jitter: must be >= 0"),
    ("jitter", "wide", "expected a number"),
])
def test_bad_particle_fields_are_named(field, value, words):
    d = to_dict(_scenario(Run(OptimizerConfig("gd"))))
    d["runs"][0][field] = value
    with pytest.raises(ScenarioError, match=r"runs\[0\]\." + field) as e:
        from_dict(d)
    assert words in str(e.value)


def test_infinite_jitter_is_rejected():
    text = json.dumps(to_dict(_scenario(Run(OptimizerConfig("gd"))))).replace('"visible": true',
                                                                               '"visible": true, "jitter": 1e999')
    with pytest.raises(ScenarioError, match="jitter: must be finite"):
        loads(text)


def test_full_title_counts_particles():
    assert Run(OptimizerConfig("gd"), "sgd", particles=300).full_title == "sgd ×300"
    assert Run(OptimizerConfig("gd"), "sgd").full_title == "sgd"


# ---- ellipse geometry --------------------------------------------------------------------


@pytest.mark.parametrize("cov", [[[2.0, 0.6], [0.6, 0.5]], [[1e-4, 0.0], [0.0, 3.0]], [[1.0, -0.99], [-0.99, 1.0]]])
@pytest.mark.parametrize("nsig", [1.0, 2.0, 2.4477])
def test_ellipse_points_lie_on_the_mahalanobis_level(cov, nsig):
    m = np.array([0.3, -1.2])
    c = np.array(cov)
    pts = ellipse_points(m, c, nsig, n=48)
    assert pts.shape == (49, 2)
    d = pts - m
    q = np.einsum("ij,ij->i", d, np.linalg.solve(c, d.T).T)  # (p − m)ᵀ Σ⁻¹ (p − m), independently
    np.testing.assert_allclose(q, nsig ** 2, rtol=1e-9)
    np.testing.assert_array_equal(pts[0], pts[-1])
    # the outline goes round the mean once: its angles cover the circle
    ang = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    assert abs(abs(ang[-1] - ang[0]) - 2 * math.pi) < 1e-9


def test_degenerate_covariances_give_finite_outlines():
    pts = ellipse_points([1.0, 2.0], np.zeros((2, 2)), 2.0)
    np.testing.assert_array_equal(pts, np.tile([1.0, 2.0], (65, 1)))
    flat = ellipse_points([0.0, 0.0], [[1.0, 1.0], [1.0, 1.0]], 1.0)
    assert np.all(np.isfinite(flat))
    np.testing.assert_allclose(flat[:, 0], flat[:, 1], atol=1e-12)  # all on the line x = y
    assert np.all(np.isfinite(ellipse_points([np.nan, 0.0], np.eye(2))))


def test_nested_outlines_are_separated_by_a_gap():
    x, y = ellipses_outline([0.0, 0.0], np.eye(2), SIGMA_LEVELS, n=16)
    assert len(x) == len(SIGMA_LEVELS) * 17 + len(SIGMA_LEVELS) - 1
    assert np.isnan(x[17]) and np.isnan(y[17])
    np.testing.assert_allclose(np.hypot(x[:17], y[:17]), 1.0)
    np.testing.assert_allclose(np.hypot(x[18:], y[18:]), 2.0)


# ---- the stationary spread of SGD (section 3) --------------------------------------------


def stationary_variance(lr: float, noise: float, batch: int, curvature: float) -> float:
    """Var of θ_t → ∞ for θ ← θ − α(λθ + σ/√B ξ): V = (1 − αλ)² V + α²σ²/B, so
    V = α σ² / (B λ (2 − α λ))."""
    return lr * noise ** 2 / (batch * curvature * (2.0 - lr * curvature))


@pytest.mark.parametrize("batch", [1, 10])
def test_stationary_variance_matches_the_formula(batch):
    kappa, lr, noise, P = 4.0, 0.1, 2.0, 10_000
    s = make_surface("quadratic", kappa=kappa, angle=0.0)  # curvatures 1 along x, κ along y
    cloud = particle_cloud(s, OptimizerConfig("gd", lr=lr, noise=noise, batch_size=batch), (-2.5, 1.5),
                           particles=P, steps=400, seed=1)
    # (1 − αλ)^{2t} has forgotten the start by t = 400; one frame holds P independent samples.
    var = cloud.cov[-1].diagonal()
    expect = np.array([stationary_variance(lr, noise, batch, 1.0), stationary_variance(lr, noise, batch, kappa)])
    # the sample variance of P normals has relative standard error √(2/P) ≈ 1.4%: allow 4 of them
    np.testing.assert_allclose(var, expect, rtol=4 * math.sqrt(2 / P))
    assert abs(cloud.cov[-1, 0, 1]) < 4 * math.sqrt(expect[0] * expect[1] / P)
    np.testing.assert_allclose(cloud.mean[-1], 0.0, atol=4 * math.sqrt(expect[0] / P))


def test_spread_shrinks_with_batch_size_decay_and_averaging():
    s = make_surface("quadratic", kappa=4.0, angle=0.0)
    base = OptimizerConfig("gd", lr=0.1, noise=2.0, batch_size=1, avg_tau=50.0)

    def final_var(cfg, avg: bool = False) -> float:
        c = particle_cloud(s, cfg, (-2.5, 1.5), particles=2000, steps=600, seed=0)
        pts = c.avg_theta if avg else c.theta[-1]
        return float(np.var(pts, axis=0).sum())

    b1 = final_var(base)
    b10 = final_var(OptimizerConfig("gd", lr=0.1, noise=2.0, batch_size=10))
    b100 = final_var(OptimizerConfig("gd", lr=0.1, noise=2.0, batch_size=100))
    assert 7 < b1 / b10 < 13 and 7 < b10 / b100 < 13  # variance ∝ 1/B
    decayed = final_var(OptimizerConfig("gd", lr=0.1, noise=2.0, batch_size=1, schedule="exponential",
                                        decay_start=200, tau=100.0))
    assert decayed < b1 / 10  # eq. 10: α decays by e⁻⁴, and the spread with it
    assert final_var(base, avg=True) < b1 / 5  # eq. 11: θ̃ averages about τ = 50 steps


def test_a_subset_is_exactly_the_first_particles_of_the_cloud():
    """The live preview of a cloud (subset=k) is the full cloud's first k particles, bit for
    bit: the same jittered starts, noise seeds and kept steps; its statistics are theirs."""
    s = make_surface("quadratic")
    cfg = OptimizerConfig("gd", lr=0.05, noise=1.0, batch_size=4)
    full = particle_cloud(s, cfg, (-2.0, 1.0), 3000, 400, seed=7, jitter=0.2)
    part = particle_cloud(s, cfg, (-2.0, 1.0), 3000, 400, seed=7, jitter=0.2, subset=500)
    np.testing.assert_array_equal(part.record_steps, full.record_steps)
    np.testing.assert_array_equal(part.theta, full.theta[:, :500])
    np.testing.assert_array_equal(part.cost, full.cost[:, :500])
    np.testing.assert_array_equal(part.starts, full.starts[:500])
    th = part.theta[-1].astype(float)
    np.testing.assert_allclose(part.mean[-1], th.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(part.cov[-1], np.cov(th.T, bias=True), rtol=1e-9)
    for bad in (0, 3001, 1.5, True):
        with pytest.raises(ValueError, match="subset"):
            particle_cloud(s, cfg, (-2.0, 1.0), 3000, 10, subset=bad)
