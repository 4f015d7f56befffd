"""Dataset surfaces: E(w) = (1/N) Σₙ Eₙ(w) (eq. 3) over examples generated from a seed.

Their cost is a real mean over examples, so stochastic runs draw real mini-batches. The
data are made here with numpy from `data_seed`; the kernels only read the arrays.
"""

from __future__ import annotations

import numpy as np

from sim import kernels as K
from sim.surfaces import Built, Param, SurfaceInfo

_N = Param("n_examples", 200, 10, 5000, "number of training examples N", kind="int")
_SEED = Param("data_seed", 0, 0, 2**31 - 1, "seed of the generated data", kind="int")

LINREG_TRUE_W = (1.0, 0.5)
LOGREG_TRUE_W = (2.0, -1.0)
TINY_NET_TEACHER = (2.0, -1.0)


def _box_around(cx: float, cy: float, half: float) -> tuple[float, float, float, float]:
    return (cx - half, cx + half, cy - half, cy + half)


def linreg_data(scale: float, offset: float, normalize: bool, n: int, seed: int):
    """Two inputs with spreads 1 and `scale` and common mean `offset` (Figure 6)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    X = np.empty((n, 2))
    X[:, 0] = offset + z[:, 0]
    X[:, 1] = offset + scale * z[:, 1]
    T = X @ np.array(LINREG_TRUE_W) + 0.3 * rng.standard_normal(n)
    if normalize:  # eq. 16: zero mean, unit variance per input
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, T


def _linreg(p: dict[str, float]) -> Built:
    X, T = linreg_data(p["scale"], p["offset"], bool(p["normalize"]), int(p["n_examples"]),
                       int(p["data_seed"]))
    w = np.linalg.solve(X.T @ X, X.T @ T)  # least squares: the one minimum
    box = _box_around(w[0], w[1], 3.0)
    return Built(np.zeros(1), box, (w[0] - 2.5, w[1] + 2.5), ((w[0], w[1]),), X, T)


def logreg_data(n: int, seed: int):
    """Gaussian inputs, labels drawn from a logistic model with weights LOGREG_TRUE_W.

    The first four examples are fixed anchors, ±e₁ labelled 1 and ±e₂ labelled 0: whatever
    the draw, they make the classes non-separable, so the cross-entropy has a minimum.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    p = 1.0 / (1.0 + np.exp(-(X @ np.array(LOGREG_TRUE_W))))
    T = (rng.random(n) < p).astype(float)
    X[:4] = [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]
    T[:4] = [1.0, 1.0, 0.0, 0.0]
    return X, T


def _logreg_cost(X, T, w) -> float:
    z = X @ w
    return float(np.mean(np.logaddexp(0.0, z) - T * z))


def _logreg(p: dict[str, float]) -> Built:
    X, T = logreg_data(int(p["n_examples"]), int(p["data_seed"]))
    w = np.zeros(2)
    for _ in range(100):  # Newton with step halving on the strictly convex cross-entropy
        s = 1.0 / (1.0 + np.exp(-(X @ w)))
        g = X.T @ (s - T) / len(T)
        if np.linalg.norm(g) < 1e-13:
            break
        H = (X * (s * (1 - s))[:, None]).T @ X / len(T)
        step = np.linalg.solve(H, g)
        c0 = _logreg_cost(X, T, w)
        a = 1.0
        while _logreg_cost(X, T, w - a * step) > c0 and a > 1e-8:
            a *= 0.5
        w = w - a * step
    box = _box_around(float(w[0]), float(w[1]), 4.0)
    return Built(np.zeros(1), box, (w[0] - 3.0, w[1] + 3.0), ((w[0], w[1]),), X, T)


def tiny_net_data(n: int, seed: int):
    """Inputs a ~ N(0, 1.5²); targets from a teacher net with hidden weights (2, −1)."""
    rng = np.random.default_rng(seed)
    a = 1.5 * rng.standard_normal(n)
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    T = sig(TINY_NET_TEACHER[0] * a) + sig(TINY_NET_TEACHER[1] * a) + 0.05 * rng.standard_normal(n)
    X = np.zeros((n, 2))
    X[:, 0] = a
    return X, T


def _tiny_net(p: dict[str, float]) -> Built:
    X, T = tiny_net_data(int(p["n_examples"]), int(p["data_seed"]))
    t1, t2 = TINY_NET_TEACHER
    # The diagonal critical point: the symmetric solution, a saddle between the two minima.
    ws = np.linspace(-3, 3, 601)
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    costs = [np.mean(0.5 * (2 * sig(w * X[:, 0]) - T) ** 2) for w in ws]
    wd = float(ws[int(np.argmin(costs))])
    guesses = ((t1, t2), (t2, t1), (wd, wd))
    return Built(np.zeros(1), (-6.0, 6.0, -6.0, 6.0), (4.0, 3.0), guesses, X, T)


DATASET_SURFACES = (
    SurfaceInfo("linreg", K.LINREG, "Linear regression",
                "Least squares with two weights; `scale` stretches one input (Figure 6a), `offset` shifts "
                "both means (Figure 6b), `normalize` applies eq. 16 and fixes the conditioning.",
                "4.8 input normalization",
                (Param("scale", 1.0, 0.1, 100.0, "ratio of the two inputs' spreads", log=True),
                 Param("offset", 0.0, -10.0, 10.0, "common mean of the inputs"),
                 Param("normalize", 0, 0, 1, "normalize inputs to zero mean, unit variance (eq. 16)",
                       kind="bool"),
                 _N, _SEED),
                _linreg, dataset=True),
    SurfaceInfo("logreg", K.LOGREG, "Logistic regression",
                "Cross-entropy of a logistic classifier with two weights, on noisy labels.",
                "3 stochastic gradient descent",
                (_N, _SEED), _logreg, dataset=True),
    SurfaceInfo("tiny_net", K.TINY_NET, "Tiny network (symmetry)",
                "Two logistic hidden units with one weight each feed a fixed output: E(w₁, w₂) is "
                "symmetric about w₁ = w₂, saturates into plateaux at large |w|.",
                "4.3 symmetries / 4.7 saturated units",
                (_N, _SEED), _tiny_net, dataset=True),
)
