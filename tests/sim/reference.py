"""Plain-numpy reference implementations, written from the equations of the spec.

Nothing here imports `sim`: the formulas are derived from the mathematics in the catalogue
descriptions, and the update rules follow the spec's equations step by step, vectorized
over particles. The tests compare the numba kernels against this module; the benchmarks
import `numpy_momentum_batch` as a numpy baseline.

Conventions: a gradient oracle is `grad(x, y) -> (gx, gy)` and a Hessian oracle is
`hess(x, y) -> (hxx, hxy, hyy)`, both taking and returning arrays of the particles' shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

Grad = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
Hess = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

def _fma_one(a: float, b: float, c: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    try:
        return float(Fraction(a) * Fraction(b) + Fraction(c))  # exact, then rounded once
    except OverflowError:
        return a * b + c


_FMA = np.frompyfunc(_fma_one, 3, 1)


def fused_multiply_add(a, b, c) -> np.ndarray:
    """a·b + c rounded once (IEEE fusedMultiplyAdd), elementwise, in exact rational
    arithmetic: the kernels write θ − α g, the heavy ball's velocity and the iterate
    average this way (sim/fma.py). Slow; for test-sized arrays."""
    return np.asarray(_FMA(a, b, c), dtype=float)


# ----------------------------------------------------------------------------------------
# Analytic surfaces. Each takes x, y (broadcasting arrays) and the surface's parameters.


def _rotation(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])


def quadratic_matrix(kappa: float, angle: float) -> np.ndarray:
    """A with E = ½ θᵀAθ: A = Rᵀ diag(1, κ) R, where (u, v) = R θ are the rotated axes."""
    R = _rotation(angle)
    return R.T @ np.diag([1.0, kappa]) @ R


def quadratic_cost(x, y, kappa=10.0, angle=0.0):
    R = _rotation(angle)
    u = R[0, 0] * x + R[0, 1] * y
    v = R[1, 0] * x + R[1, 1] * y
    return 0.5 * (u**2 + kappa * v**2)


def quadratic_grad(x, y, kappa=10.0, angle=0.0):
    A = quadratic_matrix(kappa, angle)
    return A[0, 0] * x + A[0, 1] * y, A[1, 0] * x + A[1, 1] * y


def rosenbrock_cost(x, y, a=1.0, b=100.0):
    return (a - x) ** 2 + b * (y - x**2) ** 2


def rosenbrock_grad(x, y, a=1.0, b=100.0):
    r = y - x**2
    return 2.0 * (x - a) - 4.0 * b * x * r, 2.0 * b * r


_BEALE_C = (1.5, 2.25, 2.625)


def beale_cost(x, y):
    return sum((c - x + x * y**k) ** 2 for k, c in enumerate(_BEALE_C, start=1))


def beale_grad(x, y):
    gx = gy = 0.0
    for k, c in enumerate(_BEALE_C, start=1):
        t = c - x + x * y**k
        gx = gx + 2.0 * t * (y**k - 1.0)
        gy = gy + 2.0 * t * k * x * y ** (k - 1)
    return gx, gy


def himmelblau_cost(x, y):
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


def himmelblau_grad(x, y):
    p = x**2 + y - 11.0
    q = x + y**2 - 7.0
    return 4.0 * x * p + 2.0 * q, 2.0 * p + 4.0 * y * q


def two_minima_cost(x, y, tilt=0.3):
    return (x**2 - 1.0) ** 2 + tilt * x + (y - 0.5 * x**2) ** 2


def two_minima_grad(x, y, tilt=0.3):
    r = y - 0.5 * x**2
    return 4.0 * x**3 - 4.0 * x + tilt - 2.0 * x * r, 2.0 * r


def saddle_cost(x, y):
    return x**2 + 0.25 * y**4 - 0.5 * y**2


def saddle_grad(x, y):
    return 2.0 * x, y**3 - y


def plateau_cost(x, y, width=1.0):
    return 1.0 - np.exp(-(x**2 + y**2) / (2.0 * width**2))


def plateau_grad(x, y, width=1.0):
    e = np.exp(-(x**2 + y**2) / (2.0 * width**2)) / width**2
    return x * e, y * e


def rastrigin_cost(x, y, amplitude=10.0):
    A = amplitude
    return 2.0 * A + x**2 - A * np.cos(2 * np.pi * x) + y**2 - A * np.cos(2 * np.pi * y)


def rastrigin_grad(x, y, amplitude=10.0):
    k = 2.0 * np.pi * amplitude
    return 2.0 * x + k * np.sin(2 * np.pi * x), 2.0 * y + k * np.sin(2 * np.pi * y)


def six_hump_camel_cost(x, y):
    return (4.0 - 2.1 * x**2 + x**4 / 3.0) * x**2 + x * y + (-4.0 + 4.0 * y**2) * y**2


def six_hump_camel_grad(x, y):
    return 8.0 * x - 8.4 * x**3 + 2.0 * x**5 + y, x - 8.0 * y + 16.0 * y**3


ANALYTIC: dict[str, tuple[Callable, Callable]] = {
    "quadratic": (quadratic_cost, quadratic_grad),
    "rosenbrock": (rosenbrock_cost, rosenbrock_grad),
    "beale": (beale_cost, beale_grad),
    "himmelblau": (himmelblau_cost, himmelblau_grad),
    "two_minima": (two_minima_cost, two_minima_grad),
    "saddle": (saddle_cost, saddle_grad),
    "plateau": (plateau_cost, plateau_grad),
    "rastrigin": (rastrigin_cost, rastrigin_grad),
    "six_hump_camel": (six_hump_camel_cost, six_hump_camel_grad),
}


def analytic_oracles(name: str, **params) -> tuple[Callable, Grad]:
    """(cost(x, y), grad(x, y)) of the analytic surface `name` with `params` bound."""
    cost, grad = ANALYTIC[name]
    return (lambda x, y: cost(x, y, **params)), (lambda x, y: grad(x, y, **params))


# ----------------------------------------------------------------------------------------
# Dataset surfaces: E = (1/N) Σₙ Eₙ over the examples (X, T). Points broadcast over x, y.


def _softplus(z):
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def example_costs(name: str, X: np.ndarray, T: np.ndarray, x, y) -> np.ndarray:
    """Eₙ at each point, shape (..., N)."""
    x = np.asarray(x, float)[..., None]
    y = np.asarray(y, float)[..., None]
    if name == "linreg":
        return 0.5 * (x * X[:, 0] + y * X[:, 1] - T) ** 2
    if name == "logreg":
        z = x * X[:, 0] + y * X[:, 1]
        return _softplus(z) - T * z
    if name == "tiny_net":
        a = X[:, 0]
        return 0.5 * (_sigmoid(x * a) + _sigmoid(y * a) - T) ** 2
    raise ValueError(f"not a dataset surface: {name}")


def example_grads(name: str, X: np.ndarray, T: np.ndarray, x, y) -> tuple[np.ndarray, np.ndarray]:
    """∇Eₙ at each point: two arrays of shape (..., N)."""
    x = np.asarray(x, float)[..., None]
    y = np.asarray(y, float)[..., None]
    if name == "linreg":
        r = x * X[:, 0] + y * X[:, 1] - T
        return r * X[:, 0], r * X[:, 1]
    if name == "logreg":
        r = _sigmoid(x * X[:, 0] + y * X[:, 1]) - T
        return r * X[:, 0], r * X[:, 1]
    if name == "tiny_net":
        a = X[:, 0]
        h1 = _sigmoid(x * a)
        h2 = _sigmoid(y * a)
        r = h1 + h2 - T
        return r * h1 * (1.0 - h1) * a, r * h2 * (1.0 - h2) * a
    raise ValueError(f"not a dataset surface: {name}")


def dataset_cost(name, X, T, x, y):
    return example_costs(name, X, T, x, y).mean(axis=-1)


def dataset_grad(name, X, T, x, y, subset=None):
    """Mean gradient over all examples, or over the indices in `subset`."""
    gx, gy = example_grads(name, X, T, x, y)
    if subset is not None:
        gx, gy = gx[..., subset], gy[..., subset]
    return gx.mean(axis=-1), gy.mean(axis=-1)


# ----------------------------------------------------------------------------------------
# Schedules and update rules.


def schedule_factor(schedule: str, t: int, decay_start: float = 0, tau: float = 100.0) -> float:
    """f(t) with α_t = α₀ f(t)."""
    if schedule == "constant" or t < decay_start:
        return 1.0
    s = (t - decay_start) / tau
    if schedule == "exponential":
        return math.exp(-s)
    if schedule == "step":
        return 0.5 ** math.floor(s)
    if schedule == "inverse":
        return 1.0 / (1.0 + s)
    raise ValueError(f"unknown schedule {schedule!r}")


def newton_direction(hxx, hxy, hyy, gx, gy, damping):
    """(M + λI)⁻¹ g per particle, M = H where H is positive definite, |H| elsewhere."""
    H = np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], -2)
    vals, vecs = np.linalg.eigh(H)
    absH = np.einsum("...ik,...k,...jk->...ij", vecs, np.abs(vals), vecs)
    pd = (vals[..., 0] > 0)[..., None, None]
    M = np.where(pd, H, absH) + damping[..., None, None] * np.eye(2)
    d = np.linalg.solve(M, np.stack([gx, gy], -1)[..., None])[..., 0]
    return d[..., 0], d[..., 1]


@dataclass
class RefRun:
    """A reference run of P particles; row t of every (n, ...) array is step t.

    theta, avg: (steps+1, P, 2); grad: (steps, P, 2) the gradient each step used;
    lr: (steps+1,) α_t; diverged_at: (P,) with -1 where a particle never left the bound.
    A particle that diverges stays frozen at its last position.
    """

    theta: np.ndarray
    avg: np.ndarray
    grad: np.ndarray
    lr: np.ndarray
    diverged_at: np.ndarray


@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # diverging particles
def run(rule: str, grad: Grad, x0, y0, steps: int, *, lr, momentum=0.9, beta1=0.9, beta2=0.999,
        rho=0.9, eps=1e-8, damping=1e-3, hess: Hess | None = None, schedule="constant",
        decay_start=0, tau=100.0, avg_tau=20.0, bound=math.inf, centre=(0.0, 0.0)) -> RefRun:
    """Run update rule `rule` with exact gradients from `grad`, vectorized over particles.

    Hyperparameters may be scalars or one value per particle.
    """
    x = np.array(x0, float, ndmin=1)
    y = np.array(y0, float, ndmin=1)
    P = x.size
    hp = {k: np.broadcast_to(np.asarray(v, float), (P,)).copy() for k, v in
          dict(lr=lr, mu=momentum, b1=beta1, b2=beta2, rho=rho, eps=eps, damp=damping).items()}
    px, py = np.zeros(P), np.zeros(P)  # momentum p / AdaGrad s / RMSprop v / Adam m
    qx, qy = np.zeros(P), np.zeros(P)  # Adam v
    ax, ay = x.copy(), y.copy()
    theta = np.empty((steps + 1, P, 2))
    avg = np.empty((steps + 1, P, 2))
    grads = np.zeros((steps, P, 2))
    lrs = np.empty(steps + 1)
    div = np.full(P, -1)
    live = np.ones(P, bool)
    for t in range(steps + 1):
        theta[t, :, 0], theta[t, :, 1] = x, y
        avg[t, :, 0], avg[t, :, 1] = ax, ay
        f = schedule_factor(schedule, t, decay_start, tau)
        lrs[t] = hp["lr"][0] * f
        if t == steps:
            break
        a = hp["lr"] * f
        if rule == "nesterov":
            gx, gy = grad(x + hp["mu"] * px, y + hp["mu"] * py)
        else:
            gx, gy = grad(x, y)
        gx, gy = np.broadcast_to(gx, (P,)), np.broadcast_to(gy, (P,))
        grads[t, :, 0], grads[t, :, 1] = gx, gy
        if rule == "gd":
            nx, ny = fused_multiply_add(-a, gx, x), fused_multiply_add(-a, gy, y)  # θ − α g rounded once
        elif rule in ("momentum", "nesterov"):
            px = np.where(live, fused_multiply_add(-a, gx, hp["mu"] * px), px)
            py = np.where(live, fused_multiply_add(-a, gy, hp["mu"] * py), py)
            nx, ny = x + px, y + py
        elif rule == "adagrad":
            px = np.where(live, px + gx * gx, px)
            py = np.where(live, py + gy * gy, py)
            nx = x - a * gx / (np.sqrt(px) + hp["eps"])
            ny = y - a * gy / (np.sqrt(py) + hp["eps"])
        elif rule == "rmsprop":
            px = np.where(live, hp["rho"] * px + (1 - hp["rho"]) * gx * gx, px)
            py = np.where(live, hp["rho"] * py + (1 - hp["rho"]) * gy * gy, py)
            nx = x - a * gx / (np.sqrt(px) + hp["eps"])
            ny = y - a * gy / (np.sqrt(py) + hp["eps"])
        elif rule == "adam":
            k = t + 1
            px = np.where(live, hp["b1"] * px + (1 - hp["b1"]) * gx, px)
            py = np.where(live, hp["b1"] * py + (1 - hp["b1"]) * gy, py)
            qx = np.where(live, hp["b2"] * qx + (1 - hp["b2"]) * gx * gx, qx)
            qy = np.where(live, hp["b2"] * qy + (1 - hp["b2"]) * gy * gy, qy)
            c1 = 1.0 - hp["b1"] ** k
            c2 = 1.0 - hp["b2"] ** k
            nx = x - a * (px / c1) / (np.sqrt(qx / c2) + hp["eps"])
            ny = y - a * (py / c1) / (np.sqrt(qy / c2) + hp["eps"])
        elif rule == "newton":
            if hess is None:
                raise ValueError("newton needs a Hessian oracle")
            dx, dy = newton_direction(*hess(x, y), gx, gy, hp["damp"])
            nx, ny = fused_multiply_add(-a, dx, x), fused_multiply_add(-a, dy, y)
        else:
            raise ValueError(f"unknown rule {rule!r}")
        inside = (np.abs(nx - centre[0]) <= bound) & (np.abs(ny - centre[1]) <= bound)
        newly = live & ~inside
        div[newly] = t + 1
        live &= inside
        x = np.where(live, nx, x)
        y = np.where(live, ny, y)
        ax = np.where(live, (1 - 1 / avg_tau) * ax + x / avg_tau, ax)
        ay = np.where(live, (1 - 1 / avg_tau) * ay + y / avg_tau, ay)
    return RefRun(theta, avg, grads, lrs, div)


def kinetic(theta: np.ndarray, lr: np.ndarray) -> np.ndarray:
    """½‖θ_t − θ_t−1‖²/α_t−1 for one particle's (n, 2) path; 0 at t = 0."""
    k = np.zeros(len(theta))
    v = np.diff(theta, axis=0)
    k[1:] = 0.5 * (v**2).sum(axis=1) / lr[:-1]
    return k


def numpy_momentum_batch(surface_grad_fn: Grad, x0, y0, steps: int, lr, mu, avg_tau,
                         fused: bool = False):
    """Heavy-ball momentum for P particles in plain numpy (the benchmarks' baseline).

    p ← μp − α∇E(θ); θ ← θ + p; θ̃ ← (1 − 1/τ)θ̃ + θ/τ. `lr` and `mu` may be scalars or
    one value per particle; there is no divergence check. Returns (x, y, avg_x, avg_y).
    `fused`: the kernels' multiply-adds rounded once (`fused_multiply_add`, exact, slow);
    without it, plain numpy (each product rounded), equal to them up to rounding.
    E.g. `numpy_momentum_batch(rosenbrock_grad, x0, y0, 1000, 1e-3, 0.9, 20.0)`.
    """
    x = np.array(x0, float, ndmin=1)
    y = np.array(y0, float, ndmin=1)
    ax, ay = x.copy(), y.copy()
    px, py = np.zeros_like(x), np.zeros_like(y)
    c2 = 1.0 / avg_tau
    c1 = 1.0 - c2
    for _ in range(steps):
        gx, gy = surface_grad_fn(x, y)
        if fused:
            px = fused_multiply_add(-lr, gx, mu * px)
            py = fused_multiply_add(-lr, gy, mu * py)
        else:
            px = mu * px - lr * gx
            py = mu * py - lr * gy
        x = x + px
        y = y + py
        if fused:
            ax = fused_multiply_add(c2, x, c1 * ax)
            ay = fused_multiply_add(c2, y, c1 * ay)
        else:
            ax = c1 * ax + c2 * x
            ay = c1 * ay + c2 * y
    return x, y, ax, ay
