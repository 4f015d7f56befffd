"""Shared fixtures of the numerical tests: every surface case, a seeded generator."""

from __future__ import annotations

import numpy as np
import pytest

from sim import catalogue, make_surface

# Every catalogue surface at its defaults, and non-default parameters worth checking.
SURFACE_CASES = [(name, {}) for name in catalogue()] + [
    ("quadratic", {"kappa": 100.0, "angle": 30.0}),
    ("quadratic", {"kappa": 1.0, "angle": -60.0}),
    ("rosenbrock", {"a": -1.0, "b": 10.0}),
    ("two_minima", {"tilt": 1.0}),
    ("plateau", {"width": 0.3}),
    ("rastrigin", {"amplitude": 2.5}),
    ("linreg", {"scale": 10.0, "offset": 3.0}),
    ("linreg", {"normalize": True}),
    ("linreg", {"scale": 10.0, "offset": 3.0, "normalize": True}),
    ("logreg", {"n_examples": 37, "data_seed": 5}),
    ("tiny_net", {"n_examples": 50, "data_seed": 3}),
]


def _case_id(case) -> str:
    name, params = case
    return name + "".join(f"-{k}={v:g}" for k, v in params.items())


@pytest.fixture(params=SURFACE_CASES, ids=[_case_id(c) for c in SURFACE_CASES])
def any_surface(request):
    """Each surface case in turn."""
    name, params = request.param
    return make_surface(name, **params)


@pytest.fixture
def rng():
    """A fixed-seed generator: the random points are the same on every run."""
    return np.random.default_rng(20240611)
