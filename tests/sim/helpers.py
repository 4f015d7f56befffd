"""Small helpers shared by the tests: random points in a box, the surface's own oracles."""

from __future__ import annotations

import numpy as np


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
