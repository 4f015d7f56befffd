"""sim.fma: a·b + c rounded once, the same bits compiled, in plain Python and for arrays."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from numba import njit

from sim import OptimizerConfig, make_surface, simulate
from sim.fma import fma, fma_array


@njit(cache=False)
def _compiled(a, b, c, out):
    for i in range(a.size):
        out[i] = fma(a[i], b[i], c[i])


def _hard_cases(rng, n=20_000):
    """Products of all magnitudes, most of them nearly cancelled by c: where one rounding
    and two differ."""
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 9, n)
    b = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 9, n)
    c = -(a * b) * (1.0 + rng.standard_normal(n) * 10.0 ** rng.integers(-17, -1, n))
    c[::4] = rng.standard_normal(n)[::4] * 10.0 ** rng.integers(-20, 21, n)[::4]
    return a, b, c


def test_compiled_python_and_array_fma_agree_and_round_once(rng):
    a, b, c = _hard_cases(rng)
    compiled = np.empty_like(a)
    _compiled(a, b, c, compiled)
    exact = np.array([float(Fraction(x) * Fraction(y) + Fraction(z))
                      for x, y, z in zip(a.tolist(), b.tolist(), c.tolist())])
    python = np.array([fma(x, y, z) for x, y, z in zip(a.tolist(), b.tolist(), c.tolist())])
    np.testing.assert_array_equal(compiled.view(np.int64), exact.view(np.int64))
    np.testing.assert_array_equal(python.view(np.int64), exact.view(np.int64))
    np.testing.assert_array_equal(fma_array(a, b, c).view(np.int64), exact.view(np.int64))
    # Not a multiply and an add in disguise: two roundings differ on most of these.
    assert np.count_nonzero(a * b + c != exact) > a.size // 2


@pytest.mark.parametrize("abc, want", [
    ((math.inf, 0.0, 1.0), "nan"),
    ((1e308, 10.0, 0.0), "inf"),
    ((-1e308, 10.0, 1.0), "-inf"),
    ((math.nan, 1.0, 1.0), "nan"),
    ((2.0, 3.0, math.inf), "inf"),
    ((0.1, 10.0, -1.0), str(float(Fraction(0.1) * 10 - 1))),  # 5.55e-17, not 0.0
])
def test_special_values(abc, want):
    out = np.empty(1)
    _compiled(*(np.array([v]) for v in abc), out)
    assert str(float(out[0])) == want
    assert str(fma(*abc)) == want
    assert str(float(fma_array(*abc))) == want


def test_a_gradient_descent_step_is_rounded_once():
    """θ₁ = fma(−α, ∇E(θ₀), θ₀) to the last bit, in a single run (the scalar kernel)."""
    s = make_surface("rosenbrock")
    tr = simulate(s, OptimizerConfig("gd", lr=1e-3), start=(-1.5, 2.0), steps=1)
    g = tr.grad[0]
    want = [fma(-1e-3, float(g[0]), -1.5), fma(-1e-3, float(g[1]), 2.0)]
    assert tr.theta[1].tolist() == want
