"""Shared fixtures of the numerical tests: surfaces, random points, kernel oracles."""

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


def case_id(case) -> str:
    name, params = case
    return name + "".join(f"-{k}={v:g}" for k, v in params.items())


@pytest.fixture(params=SURFACE_CASES, ids=[case_id(c) for c in SURFACE_CASES])
def any_surface(request):
    """Each surface case in turn."""
    name, params = request.param
    return make_surface(name, **params)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def box_points(surface, rng, n: int = 300, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n uniform random points in the surface's box (shrunk by `margin` of its size)."""
    x0, x1, y0, y1 = surface.box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return rng.uniform(x0 + mx, x1 - mx, n), rng.uniform(y0 + my, y1 - my, n)


def kernel_grad(surface):
    """The surface's own exact gradient as a reference-style oracle (same bits as the kernel)."""

    def grad(x, y):
        e = surface.evaluate(x, y)
        return e["gx"], e["gy"]

    return grad


def kernel_hess(surface):
    """The surface's own exact Hessian as a reference-style oracle."""

    def hess(x, y):
        e = surface.evaluate(x, y)
        return e["hxx"], e["hxy"], e["hyy"]

    return hess


@pytest.fixture
def points():
    return box_points


@pytest.fixture
def oracles():
    """surface -> (grad, hess) oracles evaluated by the surface itself."""
    return lambda surface: (kernel_grad(surface), kernel_hess(surface))
