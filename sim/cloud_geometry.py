"""Geometry of a particle cloud for drawing: covariance ellipses as outline points.

A cloud of P particles (section 3: the stationary spread of stochastic gradient descent)
is summarized by its mean m and covariance Σ; the points p with
(p − m)ᵀ Σ⁻¹ (p − m) = k² form the k-sigma ellipse.
"""

from __future__ import annotations

import math

import numpy as np

# For a 2-D Gaussian, P(inside the k-sigma ellipse) = 1 − exp(−k²/2): 39% at k = 1, 86% at k = 2.
SIGMA_LEVELS = (1.0, 2.0)


def ellipse_points(mean, cov, nsig: float = 1.0, n: int = 64) -> np.ndarray:
    """(n + 1, 2) closed outline of the `nsig`-sigma ellipse of N(mean, cov).

    From the eigen-decomposition Σ = V diag(λ) Vᵀ: p = m + nsig · V diag(√λ) (cos φ, sin φ).
    A singular Σ (all particles on a line or a point) gives a flat or point ellipse, never NaN.
    """
    m = np.asarray(mean, float).reshape(2)
    c = np.asarray(cov, float).reshape(2, 2)
    c = 0.5 * (c + c.T)  # float round-off can leave Σ a hair asymmetric
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(c))):
        return np.tile(np.nan_to_num(m), (n + 1, 1))  # nothing to draw: a point at the mean
    lam, vec = np.linalg.eigh(c)
    radii = float(nsig) * np.sqrt(np.maximum(lam, 0.0))
    phi = np.linspace(0.0, 2.0 * math.pi, n + 1)
    unit = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    pts = m + (unit * radii) @ vec.T
    pts[-1] = pts[0]  # exactly closed
    return pts


def ellipses_outline(mean, cov, levels=SIGMA_LEVELS, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """x and y of several nested ellipses, one polyline each, separated by NaN rows
    (for a single curve item drawn with ``connect="finite"``)."""
    parts = []
    for k in levels:
        parts.append(ellipse_points(mean, cov, k, n))
        parts.append(np.full((1, 2), np.nan))
    pts = np.concatenate(parts[:-1]) if parts else np.empty((0, 2))
    return pts[:, 0], pts[:, 1]

