"""numba kernels: cost, gradient and Hessian of every surface, and the step loop.

Everything here takes arrays and scalars only (DESIGN.md, principle 4). Surfaces, update
rules and schedules are integer codes branched on *outside* the innermost particle loops,
so a handful of kernels serve every combination and the particle loop stays SIMD-friendly
(blocks of BLOCK particles, particle loop innermost: the shape measured 20x faster).

Two step loops, compiled once per surface family (built-in, dataset, custom; see
`_build_family`): `_run_block` runs a batch in blocks of particles, `_run_one` one recorded
run in scalar code (twice as fast as a block of one, and a cold `run` compiles only it).
Both call the same formula and update-rule functions in the same order, so a single run
and particle i of a batch with the same settings are identical to the last bit (tested).
The fused kernel (`_fast_block`, per built-in surface) speeds up gd and momentum batches.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import types

import numba
import numpy as np
from numba import njit, prange

from sim.expression_vm import custom_hess, run3_block, stack_size
from sim.fma import fma

# A worker thread and the GUI thread may both launch parallel kernels; the default
# `workqueue` layer aborts the process then. tbb (a dependency) or OpenMP is thread safe.
numba.config.THREADING_LAYER = "threadsafe"

BLOCK = 256
SHARE_BLOCKS = 4  # blocks a thread takes at a time in a fused batch (fast_particles)

# Surface codes (sim/surfaces.py and sim/datasets.py map names to these).
QUADRATIC = 0
ROSENBROCK = 1
BEALE = 2
HIMMELBLAU = 3
TWO_MINIMA = 4
SADDLE = 5
PLATEAU = 6
RASTRIGIN = 7
SIX_HUMP_CAMEL = 8
LINREG = 9
LOGREG = 10
TINY_NET = 11
FIRST_DATASET = LINREG
LAST_DATASET = TINY_NET
CUSTOM = 12  # an expression compiled to stack-machine programs (sim/expression.py)

# Surface families. The kernels that evaluate surfaces (and the step loops calling them)
# exist once per family, built at the end of this module with `_FAMILY` bound to a
# constant, so that numba prunes the other families' code before compiling: the first
# run on a built-in surface compiles neither the expression interpreter nor the dataset
# loops (a third of the cold compile time, measured).
FAMILY_ANALYTIC = 0
FAMILY_DATASET = 1
FAMILY_CUSTOM = 2
_FAMILY = -1  # bound per copy by _build_family

# Update rules.
GD = 0
MOMENTUM = 1
NESTEROV = 2
ADAGRAD = 3
RMSPROP = 4
ADAM = 5
NEWTON = 6

# Learning-rate schedules.
CONSTANT = 0
EXPONENTIAL = 1
STEP = 2
INVERSE = 3

# Rows of the per-particle hyperparameter array `hpp` (NHP, P).
H_LR = 0
H_MOM = 1
H_B1 = 2
H_B2 = 3
H_RHO = 4
H_EPS = 5
H_DAMP = 6
H_NOISE = 7
NHP = 8

# Entries of the shared settings array `sh`.
S_T0 = 0
S_TAU = 1
S_AVG_TAU = 2
S_BOUND = 3
S_CX = 4
S_CY = 5
S_TOL2 = 6  # squared step length under which a step counts as settled (0: not tracked)
NSH = 7

# Entries of the integer settings array `ip`.
I_RULE = 0
I_SCHED = 1
I_BATCH = 2
I_TRACK_BEST = 3
I_AVERAGE = 4  # 0: a batch that needs no iterate average (its out rows 3..5 are then undefined)
NIP = 5

# Rows of the batch output `out` (NOUT, P).
NOUT = 8

TWO_PI = 2.0 * math.pi
# Floor of the adaptive rules' denominators: with ε = 0 a coordinate whose gradient has
# always been 0 would give 0/0; the floor makes its step 0 and changes nothing else.
_TINY = 1e-300

# splitmix64 constants: a counter-based generator per particle keeps batches reproducible
# whatever the number of threads.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0


@njit(cache=True, error_model="numpy")
def _next(state, i):
    """The next 64 random bits of particle i's splitmix64 stream."""
    s = state[i] + _GOLDEN
    state[i] = s
    z = (s ^ (s >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True, error_model="numpy")
def _uniform(state, i):
    """Uniform on the open interval (0, 1), from particle i's splitmix64 state."""
    return (float(_next(state, i) >> _S11) + 0.5) * _INV53


def _ziggurat_tables(n: int = 128, r: float = 3.442619855899, v: float = 9.91256303526217e-3):
    """Marsaglia & Tsang's (2000) ziggurat for the standard normal: n layers of equal area
    v whose base strip reaches r. Returns the integer thresholds, widths and heights."""
    m = 2.0 ** 31
    k = np.zeros(n, np.int64)
    w = np.zeros(n)
    f = np.zeros(n)
    dn = tn = r
    q = v / math.exp(-0.5 * dn * dn)
    k[0] = int(dn / q * m)
    w[0] = q / m
    w[n - 1] = dn / m
    f[0] = 1.0
    f[n - 1] = math.exp(-0.5 * dn * dn)
    for i in range(n - 2, 0, -1):
        dn = math.sqrt(-2.0 * math.log(v / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = int(dn / tn * m)
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m
    return k, w, f, r


_ZK, _ZW, _ZF, _ZR = _ziggurat_tables()
_ZMASK = np.uint64(127)
_S32 = np.uint64(32)


@njit(cache=True, error_model="numpy", inline="always")
def _normal(state, i):
    """Standard normal by the ziggurat method: one 64-bit draw and a table look-up for
    99% of values (Box-Muller's log and cosine made noisy batches 8x slower)."""
    while True:
        z = _next(state, i)
        u = np.int64(z >> _S32)
        hz = u - 4294967296 if u >= 2147483648 else u  # signed 32-bit
        iz = np.int64(z & _ZMASK)
        if abs(hz) < _ZK[iz]:
            return hz * _ZW[iz]
        x = hz * _ZW[iz]
        if iz == 0:  # the tail beyond r, by Marsaglia's exponential rejection
            while True:
                xt = -math.log(_uniform(state, i)) / _ZR
                yt = -math.log(_uniform(state, i))
                if yt + yt >= xt * xt:
                    return _ZR + xt if hz > 0 else -_ZR - xt
        if _ZF[iz] + _uniform(state, i) * (_ZF[iz - 1] - _ZF[iz]) < math.exp(-0.5 * x * x):
            return x


# ----------------------------------------------------------------------------------------
# Surfaces. Each formula is written inline in its particle loop: the surface branch runs
# once per block, the loop under it vectorizes, and few functions means fast compilation
# (every separate njit function costs a fraction of a second on an empty cache).
#
# Dataset surfaces: E = (1/N) sum_n E_n (eq. 3). `mark[i, n]` selects particle i's
# mini-batch; examples are visited in index order, so a batch of all N examples sums in
# the same order as the full batch and gives the same bits.


@njit(cache=True, error_model="numpy")
def _data_eval(code, X, T, x, y, mark, i, use_mark):
    """Mean over the (marked) examples: (cost, gx, gy, hxx, hxy, hyy)."""
    N = X.shape[0]
    c = 0.0
    gx = 0.0
    gy = 0.0
    hxx = 0.0
    hxy = 0.0
    hyy = 0.0
    cnt = 0
    for n in range(N):
        if use_mark and mark[i, n] == 0:
            continue
        cnt += 1
        if code == LINREG:
            a0 = X[n, 0]
            a1 = X[n, 1]
            r = x * a0 + y * a1 - T[n]
            c += 0.5 * r * r
            gx += r * a0
            gy += r * a1
            hxx += a0 * a0
            hxy += a0 * a1
            hyy += a1 * a1
        elif code == LOGREG:
            a0 = X[n, 0]
            a1 = X[n, 1]
            z = x * a0 + y * a1
            c += max(z, 0.0) + math.log1p(math.exp(-abs(z))) - T[n] * z
            s = 1.0 / (1.0 + math.exp(-z))
            r = s - T[n]
            gx += r * a0
            gy += r * a1
            w = s * (1.0 - s)
            hxx += w * a0 * a0
            hxy += w * a0 * a1
            hyy += w * a1 * a1
        else:
            a = X[n, 0]
            h1 = 1.0 / (1.0 + math.exp(-x * a))
            h2 = 1.0 / (1.0 + math.exp(-y * a))
            r = h1 + h2 - T[n]
            c += 0.5 * r * r
            s1 = h1 * (1.0 - h1)
            s2 = h2 * (1.0 - h2)
            d1 = s1 * a
            d2 = s2 * a
            gx += r * d1
            gy += r * d2
            hxx += d1 * d1 + r * s1 * (1.0 - 2.0 * h1) * a * a
            hxy += d1 * d2
            hyy += d2 * d2 + r * s2 * (1.0 - 2.0 * h2) * a * a
    return c / cnt, gx / cnt, gy / cnt, hxx / cnt, hxy / cnt, hyy / cnt


# The built-in formulas: E and ∇E at one point, p0..p2 the surface's kernel parameters
# (`_params3`). Each is called in one loop of `_eval_analytic` and in the fused batch step
# of its surface (`_fast_point`); LLVM inlines it there, so every loop holds one formula
# and vectorizes. Plain functions, not numba-inlined: numba's inlining cost 10% more
# compile time of a cold `run` (measured by counting the compiler's calls).


@njit(cache=True, error_model="numpy")
def _quadratic(p0, p1, p2, x, y):  # p0 = κ; (p1, p2) = (cos, sin) of the angle
    u = x * p1 + y * p2
    v = -x * p2 + y * p1
    return 0.5 * (u * u + p0 * v * v), u * p1 - p0 * v * p2, u * p2 + p0 * v * p1


@njit(cache=True, error_model="numpy")
def _rosenbrock(p0, p1, p2, x, y):  # p0 = a, p1 = b
    r = fma(-x, x, y)
    return (p0 - x) * (p0 - x) + p1 * r * r, fma(-4.0 * p1 * x, r, -2.0 * (p0 - x)), 2.0 * p1 * r


@njit(cache=True, error_model="numpy")
def _beale(p0, p1, p2, x, y):
    y2 = y * y
    y3 = y2 * y
    t1 = 1.5 - x + x * y
    t2 = 2.25 - x + x * y2
    t3 = 2.625 - x + x * y3
    return (t1 * t1 + t2 * t2 + t3 * t3,
            2.0 * (t1 * (y - 1.0) + t2 * (y2 - 1.0) + t3 * (y3 - 1.0)),
            2.0 * (t1 * x + t2 * 2.0 * x * y + t3 * 3.0 * x * y2))


@njit(cache=True, error_model="numpy")
def _himmelblau(p0, p1, p2, x, y):
    a = fma(x, x, y) - 11.0
    b = fma(y, y, x) - 7.0
    return a * a + b * b, fma(4.0 * x, a, 2.0 * b), fma(4.0 * y, b, 2.0 * a)


@njit(cache=True, error_model="numpy")
def _two_minima(p0, p1, p2, x, y):  # p0 = tilt
    w = fma(x, x, -1.0)
    r = fma(-0.5 * x, x, y)
    return w * w + p0 * x + r * r, fma(-2.0 * x, r, fma(4.0 * x, w, p0)), 2.0 * r


@njit(cache=True, error_model="numpy")
def _saddle(p0, p1, p2, x, y):
    y2 = y * y
    return x * x + 0.25 * y2 * y2 - 0.5 * y2, 2.0 * x, y2 * y - y


@njit(cache=True, error_model="numpy")
def _plateau(p0, p1, p2, x, y):  # p0 = width
    w2 = p0 * p0
    e = math.exp(-(x * x + y * y) / (2.0 * w2))
    return 1.0 - e, x * (e / w2), y * (e / w2)


@njit(cache=True, error_model="numpy")
def _rastrigin(p0, p1, p2, x, y):  # p0 = amplitude
    k = p0 * TWO_PI
    return (2.0 * p0 + x * x - p0 * math.cos(TWO_PI * x) + y * y - p0 * math.cos(TWO_PI * y),
            2.0 * x + k * math.sin(TWO_PI * x), 2.0 * y + k * math.sin(TWO_PI * y))


@njit(cache=True, error_model="numpy")
def _six_hump_camel(p0, p1, p2, x, y):
    x2 = x * x
    y2 = y * y
    return ((4.0 - 2.1 * x2 + x2 * x2 / 3.0) * x2 + x * y + (-4.0 + 4.0 * y2) * y2,
            8.0 * x - 8.4 * x2 * x + 2.0 * x2 * x2 * x + y, x - 8.0 * y + 16.0 * y2 * y)


# Index: the surface code.
_ANALYTIC_POINTS = (_quadratic, _rosenbrock, _beale, _himmelblau, _two_minima, _saddle, _plateau,
                    _rastrigin, _six_hump_camel)


@njit(cache=True, error_model="numpy", inline="always")
def _params3(prm):
    """The first three kernel parameters of an analytic surface (0 where it has fewer)."""
    n = prm.shape[0]
    return (prm[0] if n > 0 else 0.0, prm[1] if n > 1 else 0.0, prm[2] if n > 2 else 0.0)


@njit(cache=True, error_model="numpy", inline="always")
def _eval_analytic(code, prm, W, ix, iy, ic, igx, igy, n):
    """Cost and gradient of an analytic surface at the points (W[ix, i], W[iy, i]), i < n,
    into rows ic, igx, igy.

    Indexing W[row, i] directly, not through row views made per call, keeps reference
    counting out of a function that runs every step: a single run is 30% faster so, and
    batches are as fast (measured both ways).
    """
    # One loop per surface, the formula fixed in each, so that each loop vectorizes (a
    # branch on `code` inside one loop does not: batches ran twice as long, measured).
    p0, p1, p2 = _params3(prm)
    if code == QUADRATIC:
        for i in range(n):
            W[ic, i], W[igx, i], W[igy, i] = _quadratic(p0, p1, p2, W[ix, i], W[iy, i])
    elif code == ROSENBROCK:
        for i in range(n):
            W[ic, i], W[igx, i], W[igy, i] = _rosenbrock(p0, p1, p2, W[ix, i], W[iy, i])
    elif code == BEALE:
        for i in range(n):
            W[ic, i], W[igx, i], W[igy, i] = _beale(p0, p1, p2, W[ix, i], W[iy, i])
    elif code == HIMMELBLAU:
        for i in range(n):
            W[ic, i], W[igx, i], W[igy, i] = _himmelblau(p0, p1, p2, W[ix, i], W[iy, i])
    elif code == TWO_MINIMA:
        for i in range(n):
            W[ic, i], W[igx, i], W[igy, i] = _two_minima(p0, p1, p2, W[ix, i], W[iy, i])
    elif code == SADDLE:
        for i in range(n):
            W[ic, i], W[igx, i], W[igy, i] = _saddle(p0, p1, p2, W[ix, i], W[iy, i])
    elif code == PLATEAU:
        for i in range(n):
            W[ic, i], W[igx, i], W[igy, i] = _plateau(p0, p1, p2, W[ix, i], W[iy, i])
    elif code == RASTRIGIN:
        for i in range(n):
            W[ic, i], W[igx, i], W[igy, i] = _rastrigin(p0, p1, p2, W[ix, i], W[iy, i])
    else:
        for i in range(n):
            W[ic, i], W[igx, i], W[igy, i] = _six_hump_camel(p0, p1, p2, W[ix, i], W[iy, i])


def _eval_block(code, prm, X, T, W, ix, iy, ic, igx, igy, n, mark, use_mark):
    """Cost and gradient at the points (W[ix, i], W[iy, i]), i < n, into rows ic, igx, igy.

    One copy per surface family (see `_FAMILY`). With `use_mark`, dataset surfaces
    average over particle i's mini-batch (mark[i]).
    """
    if _FAMILY == FAMILY_CUSTOM:
        # The whole block through each program at once. A call, not inlined, to keep this
        # kernel small; n - n, as a literal 0 would compile it twice; a fresh scratch stack
        # each call costs under a tenth of a block's evaluation (measured).
        run3_block(prm, n - n, W[ix], W[iy], W[ic], W[igx], W[igy], n, np.empty((stack_size(prm), n)))
    elif _FAMILY == FAMILY_DATASET:
        for i in range(n):
            r = _data_eval(code, X, T, W[ix, i], W[iy, i], mark, i, use_mark)
            W[ic, i] = r[0]
            W[igx, i] = r[1]
            W[igy, i] = r[2]
    else:
        _eval_analytic(code, prm, W, ix, iy, ic, igx, igy, n)


@njit(cache=True, error_model="numpy")
def _hess_analytic(code, prm, x, y):
    """The exact Hessian (hxx, hxy, hyy) of an analytic surface at one point."""
    if code == QUADRATIC:
        kappa, c, s = prm[0], prm[1], prm[2]
        return c * c + kappa * s * s, c * s * (1.0 - kappa), s * s + kappa * c * c
    if code == ROSENBROCK:
        b = prm[1]
        return 2.0 - 4.0 * b * y + 12.0 * b * x * x, -4.0 * b * x, 2.0 * b
    if code == BEALE:
        y2 = y * y
        y3 = y2 * y
        t1 = 1.5 - x + x * y
        t2 = 2.25 - x + x * y2
        t3 = 2.625 - x + x * y3
        a1, b1 = y - 1.0, x
        a2, b2 = y2 - 1.0, 2.0 * x * y
        a3, b3 = y3 - 1.0, 3.0 * x * y2
        return (2.0 * (a1 * a1 + a2 * a2 + a3 * a3),
                2.0 * (a1 * b1 + a2 * b2 + a3 * b3 + t1 + t2 * 2.0 * y + t3 * 3.0 * y2),
                2.0 * (b1 * b1 + b2 * b2 + b3 * b3 + t2 * 2.0 * x + t3 * 6.0 * x * y))
    if code == HIMMELBLAU:
        a = x * x + y - 11.0
        b = x + y * y - 7.0
        return 4.0 * a + 8.0 * x * x + 2.0, 4.0 * x + 4.0 * y, 2.0 + 4.0 * b + 8.0 * y * y
    if code == TWO_MINIMA:
        return 15.0 * x * x - 4.0 - 2.0 * y, -2.0 * x, 2.0
    if code == SADDLE:
        return 2.0, 0.0, 3.0 * y * y - 1.0
    if code == PLATEAU:
        w2 = prm[0] * prm[0]
        e = math.exp(-(x * x + y * y) / (2.0 * w2)) / w2
        return e * (1.0 - x * x / w2), -e * x * y / w2, e * (1.0 - y * y / w2)
    if code == RASTRIGIN:
        k = prm[0] * TWO_PI * TWO_PI
        return 2.0 + k * math.cos(TWO_PI * x), 0.0, 2.0 + k * math.cos(TWO_PI * y)
    x2 = x * x  # SIX_HUMP_CAMEL
    return 8.0 - 25.2 * x2 + 10.0 * x2 * x2, 1.0, -8.0 + 48.0 * y * y


def analytic_point(code: int, prm, x: float, y: float) -> tuple[float, ...]:
    """(E, ∂E/∂x, ∂E/∂y, hxx, hxy, hyy) of a built-in surface at one point, by running the
    formulas' Python source: for the few hundred evaluations that refine a surface's
    critical points, this needs no kernel compiled (a first `run` compiles 3 s less)."""
    p0, p1, p2 = _params3.py_func(prm)
    c, gx, gy = _ANALYTIC_POINTS[code].py_func(p0, p1, p2, x, y)
    return (c, gx, gy) + tuple(_hess_analytic.py_func(code, prm, x, y))


def _hess_point(code, prm, X, T, x, y, mark, i, use_mark):
    """The exact Hessian (hxx, hxy, hyy) at one point (one copy per surface family)."""
    if _FAMILY == FAMILY_CUSTOM:
        return custom_hess(prm, x, y, np.empty((stack_size(prm), 1)))
    if _FAMILY == FAMILY_DATASET:
        r = _data_eval(code, X, T, x, y, mark, i, use_mark)
        return r[3], r[4], r[5]
    return _hess_analytic(code, prm, x, y)


# ----------------------------------------------------------------------------------------
# Point and grid evaluation (for Python callers and the contour view).


def _grid_eval(code, prm, X, T, xs, ys, cost, gx, gy):
    """Exact cost and gradient on the grid xs × ys, indexed [iy, ix]."""
    nx = xs.shape[0]
    nomark = np.empty((1, 1), np.uint8)
    no = nx < 0  # non-literal False
    for iy in prange(ys.shape[0]):
        W = np.empty((5, nx))
        for i in range(nx):
            W[0, i] = xs[i]
            W[1, i] = ys[iy]
        z = nx - nx  # row numbers as non-literal ints: each literal would be a specialization
        _eval_block(code, prm, X, T, W, z, z + 1, z + 2, z + 3, z + 4, nx, nomark, no)
        for i in range(nx):
            cost[iy, i] = W[2, i]
            gx[iy, i] = W[3, i]
            gy[iy, i] = W[4, i]


# ----------------------------------------------------------------------------------------
# The step loop.


@njit(cache=True, error_model="numpy")
def _schedule_factor(sched, t, t0, tau):
    """alpha_t / alpha_0: constant, or decay started at t0 (eq. 10's "decay late")."""
    if sched == CONSTANT or t < t0:
        return 1.0
    s = (t - t0) / tau
    if sched == EXPONENTIAL:
        return math.exp(-s)
    if sched == STEP:
        return 0.5 ** math.floor(s)
    return 1.0 / (1.0 + s)


@njit(cache=True, error_model="numpy")
def _shuffle(perm, i, state):
    N = perm.shape[1]
    for k in range(N - 1, 0, -1):
        j = int(_uniform(state, i) * (k + 1))
        if j > k:
            j = k
        tmp = perm[i, k]
        perm[i, k] = perm[i, j]
        perm[i, j] = tmp


# Rows of the per-particle array `W` in run_block. State rows come first: everything a
# particle carries lives in one column, so retiring a diverged particle is a column swap.
_X, _Y, _AX, _AY, _PX, _PY, _QX, _QY, _B1T, _B2T = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
_BEST, _NOISE, _DSTEP = 10, 11, 12
_LR, _MOM, _B1, _B2, _RHO, _EPS, _DAMP = 13, 14, 15, 16, 17, 18, 19
# Scratch rows.
_EX, _EY, _GX, _GY, _NX, _NY, _C, _HXX, _HXY, _HYY = 20, 21, 22, 23, 24, 25, 26, 27, 28, 29
_DGX, _DGY = 30, 31
_SETTLE = 32
_NROWS = 33


@njit(cache=True, error_model="numpy")
def _noise_pair(rng, i, s, gx, gy):
    """The gradient plus N(0, s²) noise in each component, x first, as `_add_noise` draws
    them for a batch (a function of its own: the sampler inlined twice into a step loop
    compiles slowly)."""
    gx = gx + s * _normal(rng, i)
    gy = gy + s * _normal(rng, i)
    return gx, gy


@njit(cache=True, error_model="numpy")
def _add_noise(W, rng, na):
    """Add the gradient noise N(0, σ²/B) to both components for the live particles.

    A function of its own, called once a step: the sampler inlined twice into the step
    loop cost 3-4 s of cold compile, and a call per sample made noisy clouds 30% slower
    (both measured).
    """
    for i in range(na):
        s = W[_NOISE, i]
        if s > 0.0:
            # (the draws of `_noise_pair`, written out: calling it here made noisy clouds
            # 15-20% slower, measured)
            W[_GX, i] += s * _normal(rng, i)
            W[_GY, i] += s * _normal(rng, i)


@njit(cache=True, error_model="numpy")
def _retire(W, Iw, perm, mark, rng, i, j):
    """Swap particles i and j in every per-particle array (i is retired to slot j)."""
    for k in range(W.shape[0]):
        tmp = W[k, i]
        W[k, i] = W[k, j]
        W[k, j] = tmp
    for k in range(Iw.shape[0]):
        tmpi = Iw[k, i]
        Iw[k, i] = Iw[k, j]
        Iw[k, j] = tmpi
    if perm.shape[0] > 1:
        for k in range(perm.shape[1]):
            tmpi = perm[i, k]
            perm[i, k] = perm[j, k]
            perm[j, k] = tmpi
            tmpm = mark[i, k]
            mark[i, k] = mark[j, k]
            mark[j, k] = tmpm
    tmpr = rng[i]
    rng[i] = rng[j]
    rng[j] = tmpr


@njit(cache=True, error_model="numpy", inline="always")
def _shared(sh):
    """The shared settings: decay start t0 and τ, the iterate average's weights (c1, c2)
    (eq. 11), the divergence bound, the squared settling tolerance, the view's centre."""
    c2 = 1.0 / sh[S_AVG_TAU]
    return (sh[S_T0], sh[S_TAU], 1.0 - c2, c2, sh[S_BOUND], sh[S_TOL2], sh[S_CX], sh[S_CY])


@njit(cache=True, error_model="numpy", inline="always")
def _start(W, idx, hpp, x0, y0, lo, n):
    """Particles lo..lo+n-1 at their start, in W's columns 0..n-1: θ₀, zero velocity and
    moments, no best cost, not diverged, not settled; their hyperparameters."""
    for i in range(n):
        p = lo + i
        W[_X, i] = x0[p]
        W[_Y, i] = y0[p]
        W[_AX, i] = x0[p]
        W[_AY, i] = y0[p]
        W[_PX, i] = 0.0
        W[_PY, i] = 0.0
        W[_QX, i] = 0.0
        W[_QY, i] = 0.0
        W[_B1T, i] = 1.0
        W[_B2T, i] = 1.0
        W[_BEST, i] = np.inf
        W[_DSTEP, i] = -1.0
        W[_SETTLE, i] = 0.0
        W[_LR, i] = hpp[H_LR, p]
        W[_MOM, i] = hpp[H_MOM, p]
        W[_B1, i] = hpp[H_B1, p]
        W[_B2, i] = hpp[H_B2, p]
        W[_RHO, i] = hpp[H_RHO, p]
        W[_EPS, i] = hpp[H_EPS, p]
        W[_DAMP, i] = hpp[H_DAMP, p]
        idx[i] = i


@njit(cache=True, error_model="numpy", inline="always")
def _record(W, idx, lo, n, r, rec_x, rec_y, rec_c):
    """Record r of a batch: θ and E of particles lo..lo+n-1, in their original order."""
    for i in range(n):
        q = lo + idx[i]
        rec_x[r, q] = W[_X, i]
        rec_y[r, q] = W[_Y, i]
        rec_c[r, q] = W[_C, i]


@njit(cache=True, error_model="numpy", inline="always")
def _finish(W, idx, lo, n, out, out_div):
    """The final state into `out` rows (x, y, cost, avg_x, avg_y, avg_cost, best_cost,
    settled steps) and `out_div`, in the particles' original order."""
    for i in range(n):
        q = lo + idx[i]
        c = W[_C, i]
        out[0, q] = W[_X, i]
        out[1, q] = W[_Y, i]
        out[2, q] = c
        out[3, q] = W[_AX, i]
        out[4, q] = W[_AY, i]
        out[5, q] = W[_HXX, i]
        out[6, q] = W[_BEST, i] if W[_BEST, i] < np.inf else c
        out[7, q] = W[_SETTLE, i]
        out_div[q] = np.int64(W[_DSTEP, i])


# The update rules, one coordinate (or one point) at a time: called in run_block's loops,
# where LLVM inlines them and vectorizes each loop, and in run_one's scalar step, so that a
# single run and a batch particle take the same arithmetic. a = α_t.


@njit(cache=True, error_model="numpy")
def _heavy_ball(a, mu, x, p, g):
    """Momentum (eq. 8-9): p ← μ p − α g (one fused multiply-add); θ ← θ + p. Returns (θ, p)."""
    p = fma(-a, g, mu * p)
    return x + p, p


@njit(cache=True, error_model="numpy")
def _adagrad(a, eps, x, s, g):
    """AdaGrad: s ← s + g²; θ ← θ − α g / (√s + ε). Returns (θ, s)."""
    s = s + g * g
    return x - a * g / max(math.sqrt(s) + eps, _TINY), s


@njit(cache=True, error_model="numpy")
def _rmsprop(a, rho, eps, x, v, g):
    """RMSprop: v ← ρ v + (1 − ρ) g²; θ ← θ − α g / (√v + ε). Returns (θ, v)."""
    v = rho * v + (1.0 - rho) * g * g
    return x - a * g / max(math.sqrt(v) + eps, _TINY), v


@njit(cache=True, error_model="numpy")
def _adam(a, b1, b2, eps, b1t, b2t, x, m, v, g):
    """Adam (Kingma & Ba, Algorithm 1), b1t = β₁ᵗ and b2t = β₂ᵗ already of this step.
    Returns (θ, m, v)."""
    m = b1 * m + (1.0 - b1) * g
    v = b2 * v + (1.0 - b2) * g * g
    return x - a * (m / (1.0 - b1t)) / max(math.sqrt(v / (1.0 - b2t)) + eps, _TINY), m, v


@njit(cache=True, error_model="numpy")
def _newton_direction(hxx, hxy, hyy, damping, gx, gy):
    """(H + damping I)^-1 g; where H is not positive definite, |H| replaces H.

    |H| (H with its eigenvalues replaced by their absolute values, "saddle-free Newton")
    keeps the step a descent direction at saddles instead of attracting to them.
    """
    m = 0.5 * (hxx + hyy)
    d = 0.5 * (hxx - hyy)
    rad = math.sqrt(d * d + hxy * hxy)
    l1 = m + rad
    l2 = m - rad
    if l2 > 0.0:
        mxx = hxx + damping
        mxy = hxy
        myy = hyy + damping
    elif rad == 0.0:
        mxx = abs(m) + damping
        mxy = 0.0
        myy = mxx
    else:
        a1 = abs(l1)
        a2 = abs(l2)
        pxx = (hxx - l2) / (2.0 * rad)
        pxy = hxy / (2.0 * rad)
        pyy = (hyy - l2) / (2.0 * rad)
        mxx = a1 * pxx + a2 * (1.0 - pxx) + damping
        mxy = (a1 - a2) * pxy
        myy = a1 * pyy + a2 * (1.0 - pyy) + damping
    det = mxx * myy - mxy * mxy
    return (myy * gx - mxy * gy) / det, (mxx * gy - mxy * gx) / det


def _run_block(code, prm, X, T, ip, sh, hpp, x0, y0, seeds, steps, every, lo, hi,
               rec_x, rec_y, rec_c, out, out_div):
    """Run particles lo..hi of a batch for `steps` steps.

    Records x, y, cost every `every` steps (and the last) into rec_*[r, p] and the final
    state into `out` rows (x, y, cost, avg_x, avg_y, avg_cost, best_cost, settled steps).
    A single recorded run takes `_run_one`, the same arithmetic one particle at a time.

    The live particles are the first `na` columns of W; a particle that diverges is swapped
    to the end and frozen, so the loops over live particles stay branch-free and vectorize.
    """
    n = hi - lo
    N = X.shape[0]
    rule = ip[I_RULE]
    sched = ip[I_SCHED]
    batch = ip[I_BATCH]
    track_best = ip[I_TRACK_BEST] != 0
    average = ip[I_AVERAGE] != 0
    t0, tau, c1, c2, bound, tol2, cx, cy = _shared(sh)
    track_settle = tol2 > 0.0

    W = np.empty((_NROWS, n))
    x, y, ax, ay = W[_X], W[_Y], W[_AX], W[_AY]
    px, py, qx, qy = W[_PX], W[_PY], W[_QX], W[_QY]  # p / s / v / Adam m; Adam v
    b1t, b2t, best, noise, dstep = W[_B1T], W[_B2T], W[_BEST], W[_NOISE], W[_DSTEP]
    settle = W[_SETTLE]
    lr, mom, b1, b2, rho, eps, damp = W[_LR], W[_MOM], W[_B1], W[_B2], W[_RHO], W[_EPS], W[_DAMP]
    ex, ey, gx, gy, nx, ny, cost = W[_EX], W[_EY], W[_GX], W[_GY], W[_NX], W[_NY], W[_C]
    hxx, hxy, hyy = W[_HXX], W[_HXY], W[_HYY]
    use_mark = FIRST_DATASET <= code <= LAST_DATASET and batch > 0
    bsz = min(batch, N)
    pn = n if use_mark else 1
    pN = N if use_mark else 1
    Iw = np.empty((2, n), np.int64)
    idx, ptr = Iw[0], Iw[1]
    perm = np.empty((pn, pN), np.int64)
    mark = np.empty((pn, pN), np.uint8)
    rng = np.empty(n, np.uint64)

    # Non-literal 0 and False: a literal argument (a module constant is one) would compile
    # another specialization of the callee.
    z = n - n
    no = n < 0
    has_noise = False
    bscale = 1.0 / math.sqrt(max(batch, 1))
    _start(W, idx, hpp, x0, y0, lo, n)
    for i in range(n):
        p = lo + i
        noise[i] = hpp[H_NOISE, p] * bscale
        has_noise = has_noise or noise[i] > 0.0
        ptr[i] = N
        rng[i] = np.uint64(seeds[p])
    for i in range(pn):
        for k in range(pN):
            perm[i, k] = k
            mark[i, k] = 0

    na = n  # live particles: columns 0..na-1
    r = 0
    for t in range(steps + 1):
        fac = _schedule_factor(sched, t, t0, tau)
        final = t == steps
        moving = na > 0 and not final
        record = final or t % every == 0

        # Up to three evaluations of the surface a step, through one call site so that the
        # inlined surface code appears once in the compiled kernel:
        #   0: the gradient estimate of this step; it gives E(θ_t) too when the point is
        #      θ_t and the batch is full;
        #   1: E(θ_t) for records and best-cost tracking, when job 0 did not give it;
        #   2: E(θ̃) at the end.
        cost_known = False
        stochastic = moving and use_mark
        lookahead = rule == NESTEROV and moving
        for job in range(3):
            jn = 0
            jx, jy, jc, jgx, jgy = _X, _Y, _C, _GX, _GY
            jmark = stochastic
            if job == 0:
                if moving:
                    jn = na
                    if lookahead:
                        jx, jy = _EX, _EY
                        for i in range(na):
                            ex[i] = x[i] + mom[i] * px[i]
                            ey[i] = y[i] + mom[i] * py[i]
                    if _FAMILY == FAMILY_DATASET and stochastic:  # pruned in the other families
                        for i in range(na):
                            if ptr[i] + bsz > N:
                                _shuffle(perm, i, rng)
                                ptr[i] = 0
                            for k in range(ptr[i], ptr[i] + bsz):
                                mark[i, perm[i, k]] = 1
                            ptr[i] += bsz
            elif job == 1:
                if record or track_best:
                    m = n if record else na
                    if not (cost_known and m <= na):
                        jn = m
                        jgx, jgy, jmark = _DGX, _DGY, no
            elif final and average:
                jn = n
                jx, jy, jc, jgx, jgy, jmark = _AX, _AY, _HXX, _DGX, _DGY, no
            if jn == 0:
                continue
            _eval_block(code, prm, X, T, W, z + jx, z + jy, z + jc, z + jgx, z + jgy, jn, mark, jmark)
            if job == 0:
                cost_known = not (lookahead or stochastic)
                if rule == NEWTON:
                    for i in range(jn):
                        hxx[i], hxy[i], hyy[i] = _hess_point(code, prm, X, T, x[i], y[i], mark, i,
                                                             stochastic)
                if _FAMILY == FAMILY_DATASET and stochastic:
                    for i in range(na):
                        for k in range(N):
                            mark[i, k] = 0
                if has_noise:
                    _add_noise(W, rng, na)

        if record or track_best:
            for i in range(na):
                best[i] = min(best[i], cost[i])
        if record:
            _record(W, idx, lo, n, r, rec_x, rec_y, rec_c)
            r += 1
        if not moving:
            if final:
                break
            continue

        # The update rule: (nx, ny) = θ_t+1, counting in the same pass the particles whose
        # step stays finite and within the bound (NaN and inf fail the comparisons).
        nok = 0
        if rule == GD:
            for i in range(na):
                a = lr[i] * fac
                nxi = fma(-a, gx[i], x[i])  # θ − α g, rounded once (sim/fma.py)
                nyi = fma(-a, gy[i], y[i])
                nx[i] = nxi
                ny[i] = nyi
                nok += np.int64((abs(nxi - cx) <= bound) & (abs(nyi - cy) <= bound))
        elif rule == MOMENTUM or rule == NESTEROV:
            for i in range(na):
                a = lr[i] * fac
                nxi, px[i] = _heavy_ball(a, mom[i], x[i], px[i], gx[i])
                nyi, py[i] = _heavy_ball(a, mom[i], y[i], py[i], gy[i])
                nx[i] = nxi
                ny[i] = nyi
                nok += np.int64((abs(nxi - cx) <= bound) & (abs(nyi - cy) <= bound))
        elif rule == ADAGRAD:
            for i in range(na):
                a = lr[i] * fac
                nxi, px[i] = _adagrad(a, eps[i], x[i], px[i], gx[i])
                nyi, py[i] = _adagrad(a, eps[i], y[i], py[i], gy[i])
                nx[i] = nxi
                ny[i] = nyi
                nok += np.int64((abs(nxi - cx) <= bound) & (abs(nyi - cy) <= bound))
        elif rule == RMSPROP:
            for i in range(na):
                a = lr[i] * fac
                nxi, px[i] = _rmsprop(a, rho[i], eps[i], x[i], px[i], gx[i])
                nyi, py[i] = _rmsprop(a, rho[i], eps[i], y[i], py[i], gy[i])
                nx[i] = nxi
                ny[i] = nyi
                nok += np.int64((abs(nxi - cx) <= bound) & (abs(nyi - cy) <= bound))
        elif rule == ADAM:
            for i in range(na):
                a = lr[i] * fac
                b1t[i] = b1t[i] * b1[i]
                b2t[i] = b2t[i] * b2[i]
                nxi, px[i], qx[i] = _adam(a, b1[i], b2[i], eps[i], b1t[i], b2t[i], x[i], px[i], qx[i],
                                          gx[i])
                nyi, py[i], qy[i] = _adam(a, b1[i], b2[i], eps[i], b1t[i], b2t[i], y[i], py[i], qy[i],
                                          gy[i])
                nx[i] = nxi
                ny[i] = nyi
                nok += np.int64((abs(nxi - cx) <= bound) & (abs(nyi - cy) <= bound))
        else:
            for i in range(na):
                a = lr[i] * fac
                dx, dy = _newton_direction(hxx[i], hxy[i], hyy[i], damp[i], gx[i], gy[i])
                nxi = fma(-a, dx, x[i])
                nyi = fma(-a, dy, y[i])
                nx[i] = nxi
                ny[i] = nyi
                nok += np.int64((abs(nxi - cx) <= bound) & (abs(nyi - cy) <= bound))

        if nok < na:
            # Divergence is data: a particle whose step failed keeps its last finite state
            # and is retired to the end of the block; the rest move on below.
            i = z  # not a literal 0: that would compile another _retire
            while i < na:
                if (abs(nx[i] - cx) <= bound) and (abs(ny[i] - cy) <= bound):
                    i += 1
                    continue
                dstep[i] = t + 1
                na -= 1
                if i != na:
                    _retire(W, Iw, perm, mark, rng, i, na)
        if track_settle:
            # Count each particle's trailing run of steps shorter than the tolerance
            # (arithmetic, not a branch, so the loop vectorizes); a separate pass because
            # it costs a third of the step when asked for.
            for i in range(na):
                dx = nx[i] - x[i]
                dy = ny[i] - y[i]
                settle[i] = (settle[i] + 1.0) * np.float64(fma(dx, dx, dy * dy) <= tol2)
        # Take the step and update the iterate average (eq. 11).
        if average:
            for i in range(na):
                nxi = nx[i]
                nyi = ny[i]
                x[i] = nxi
                y[i] = nyi
                ax[i] = fma(c2, nxi, c1 * ax[i])
                ay[i] = fma(c2, nyi, c1 * ay[i])
        else:
            for i in range(na):
                x[i] = nx[i]
                y[i] = ny[i]

    _finish(W, idx, lo, n, out, out_div)


def _run_one(code, prm, X, T, ip, sh, hp, x0, y0, seed, steps, theta, grad, avg, vel, lrs, cost,
             avg_cost, kinetic):
    """One particle, every step recorded into row t of the outputs (steps + 1 rows): θ_t,
    the gradient estimate used (the last row: the exact gradient at θ_T), θ̃_t, the velocity
    θ_t − θ_t−1 ((n, 2) each), α_t, E(θ_t), E(θ̃_t) and the kinetic energy ½‖θ_t − θ_t−1‖²/α_t−1
    (its rate floored at 1e-12 α₀: a schedule can decay α to 0). Returns (rows recorded,
    diverged_at or -1). Where E or ∇E is not finite at θ_t (a custom surface undefined
    there), the run diverged at t and has t rows (none: undefined at the start).

    run_block's step for one particle, in scalar code: the same update-rule functions, the
    same formulas and mini-batch draws in the same order, so the result equals particle i
    of a batch with the same settings, to the last bit (tested). A scalar loop is 2x faster
    than a block of one, and compiles in a fraction of run_block's time.
    """
    N = X.shape[0]
    rule = ip[I_RULE]
    sched = ip[I_SCHED]
    batch = ip[I_BATCH]
    t0, tau, c1, c2, bound, tol2, cx, cy = _shared(sh)
    lr, mu, b1, b2 = hp[H_LR], hp[H_MOM], hp[H_B1], hp[H_B2]
    rho, eps, damp = hp[H_RHO], hp[H_EPS], hp[H_DAMP]
    noise = hp[H_NOISE] * (1.0 / math.sqrt(max(batch, 1)))  # as run_block scales it
    stochastic = _FAMILY == FAMILY_DATASET and batch > 0
    bsz = min(batch, N)
    pN = N if stochastic else 1
    perm = np.empty((1, pN), np.int64)
    mark = np.zeros((1, pN), np.uint8)
    for k in range(pN):
        perm[0, k] = k
    ptr = N
    rng = np.empty(1, np.uint64)
    rng[0] = np.uint64(seed)
    z = steps - steps  # particle 0, not a literal
    no = steps < 0
    S = np.empty((5, 1))  # scratch of a custom surface's interpreter
    stack = np.empty((stack_size(prm) if _FAMILY == FAMILY_CUSTOM else 1, 1))

    x, y, ax, ay = x0, y0, x0, y0
    px = py = qx = qy = 0.0
    b1t = b2t = 1.0
    vel[0, 0] = 0.0
    vel[0, 1] = 0.0
    kinetic[0] = 0.0
    floor = lr * 1e-12
    div = -1
    nrec = 0
    for t in range(steps + 1):
        fac = _schedule_factor(sched, t, t0, tau)
        moving = t < steps
        ex, ey = x, y
        lookahead = moving and rule == NESTEROV
        if lookahead:
            ex = x + mu * px
            ey = y + mu * py
        if moving and _FAMILY == FAMILY_DATASET and stochastic:
            if ptr + bsz > N:
                _shuffle(perm, z, rng)
                ptr = 0
            for k in range(ptr, ptr + bsz):
                mark[0, perm[0, k]] = 1
            ptr += bsz
        use_mark = moving and stochastic
        # Through one inlined call site: the gradient estimate (at the lookahead point, or
        # over the mini-batch), E(θ_t) exactly when that was not it, and E(θ̃_t).
        c = gx = gy = ca = 0.0
        for job in range(3):
            if job == 0:
                jx, jy, jmark = ex, ey, use_mark
            elif job == 1:
                if not (use_mark or lookahead):
                    continue
                jx, jy, jmark = x, y, no
            else:
                jx, jy, jmark = ax, ay, no
            e0, e1, e2 = _eval_one(code, prm, X, T, jx, jy, mark, z, jmark, S, stack)
            if job == 0:
                c, gx, gy = e0, e1, e2
            elif job == 1:
                c = e0
            else:
                ca = e0
        if moving and rule == NEWTON:
            hxx, hxy, hyy = _hess_point(code, prm, X, T, x, y, mark, z, use_mark)
        else:
            hxx = hxy = hyy = 0.0
        if _FAMILY == FAMILY_DATASET and use_mark:
            for k in range(N):
                mark[0, k] = 0
        if moving and noise > 0.0:
            gx, gy = _noise_pair(rng, z, noise, gx, gy)
        if not (math.isfinite(c) and math.isfinite(gx) and math.isfinite(gy)):
            return t, t  # E is undefined at θ_t (a custom surface's log of a negative number)
        a = lr * fac
        theta[t, 0] = x
        theta[t, 1] = y
        grad[t, 0] = gx
        grad[t, 1] = gy
        avg[t, 0] = ax
        avg[t, 1] = ay
        lrs[t] = a
        cost[t] = c
        # θ̃ may stray outside a custom surface's domain while θ does not: E(θ̃) = +inf there.
        avg_cost[t] = ca if math.isfinite(ca) else np.inf
        nrec = t + 1
        if not moving:
            break

        if rule == GD:
            nx = fma(-a, gx, x)
            ny = fma(-a, gy, y)
        elif rule == MOMENTUM or rule == NESTEROV:
            nx, px = _heavy_ball(a, mu, x, px, gx)
            ny, py = _heavy_ball(a, mu, y, py, gy)
        elif rule == ADAGRAD:
            nx, px = _adagrad(a, eps, x, px, gx)
            ny, py = _adagrad(a, eps, y, py, gy)
        elif rule == RMSPROP:
            nx, px = _rmsprop(a, rho, eps, x, px, gx)
            ny, py = _rmsprop(a, rho, eps, y, py, gy)
        elif rule == ADAM:
            b1t = b1t * b1
            b2t = b2t * b2
            nx, px, qx = _adam(a, b1, b2, eps, b1t, b2t, x, px, qx, gx)
            ny, py, qy = _adam(a, b1, b2, eps, b1t, b2t, y, py, qy, gy)
        else:
            dx, dy = _newton_direction(hxx, hxy, hyy, damp, gx, gy)
            nx = fma(-a, dx, x)
            ny = fma(-a, dy, y)
        if not ((abs(nx - cx) <= bound) and (abs(ny - cy) <= bound)):
            div = t + 1  # the last finite state stays the last row
            break
        vx = nx - x
        vy = ny - y
        vel[t + 1, 0] = vx
        vel[t + 1, 1] = vy
        kinetic[t + 1] = 0.5 * (vx * vx + vy * vy) / max(a, floor)
        x = nx
        y = ny
        ax = fma(c2, nx, c1 * ax)
        ay = fma(c2, ny, c1 * ay)
    return nrec, div


def _eval_one(code, prm, X, T, x, y, mark, z, use_mark, S, stack):
    """(E, ∂E/∂x, ∂E/∂y) at one point: the formulas of `_eval_block` (one copy per family).
    z is 0, not a literal (a literal would compile other specializations of the callees);
    a dataset surface averages over mark[0]'s examples with `use_mark`; S (5, 1) and stack
    (stack_size, 1) are a custom surface's scratch."""
    if _FAMILY == FAMILY_CUSTOM:
        S[0, 0] = x
        S[1, 0] = y
        run3_block(prm, z, S[0], S[1], S[2], S[3], S[4], 1, stack)
        return S[2, 0], S[3, 0], S[4, 0]
    if _FAMILY == FAMILY_DATASET:
        r = _data_eval(code, X, T, x, y, mark, z, use_mark)
        return r[0], r[1], r[2]
    p0, p1, p2 = _params3(prm)
    if code == QUADRATIC:
        return _quadratic(p0, p1, p2, x, y)
    if code == ROSENBROCK:
        return _rosenbrock(p0, p1, p2, x, y)
    if code == BEALE:
        return _beale(p0, p1, p2, x, y)
    if code == HIMMELBLAU:
        return _himmelblau(p0, p1, p2, x, y)
    if code == TWO_MINIMA:
        return _two_minima(p0, p1, p2, x, y)
    if code == SADDLE:
        return _saddle(p0, p1, p2, x, y)
    if code == PLATEAU:
        return _plateau(p0, p1, p2, x, y)
    if code == RASTRIGIN:
        return _rastrigin(p0, p1, p2, x, y)
    return _six_hump_camel(p0, p1, p2, x, y)


def _eval_points(code, prm, X, T, xs, ys, out, hessian):
    """Exact E and ∇E at the points (xs[i], ys[i]) into out rows 0..2 and, with `hessian`,
    the Hessian (hxx, hxy, hyy) into rows 3..5."""
    mark = np.zeros((1, 1), np.uint8)
    no = hessian and not hessian
    S = np.empty((5, 1))
    stack = np.empty((stack_size(prm) if _FAMILY == FAMILY_CUSTOM else 1, 1))
    z = xs.shape[0] - xs.shape[0]
    for i in range(xs.shape[0]):
        out[0, i], out[1, i], out[2, i] = _eval_one(code, prm, X, T, xs[i], ys[i], mark, z, no, S,
                                                    stack)
        if hessian:
            out[3, i], out[4, i], out[5, i] = _hess_point(code, prm, X, T, xs[i], ys[i], mark, z, no)


def _run_particles(code, prm, X, T, ip, sh, hpp, x0, y0, seeds, steps, every,
                  rec_x, rec_y, rec_c, out, out_div):
    """P particles in parallel blocks of BLOCK through run_block."""
    P = x0.shape[0]
    nblocks = (P + BLOCK - 1) // BLOCK
    for b in prange(nblocks):
        lo = b * BLOCK
        hi = min(lo + BLOCK, P)
        _run_block(code, prm, X, T, ip, sh, hpp, x0, y0, seeds, steps, every, lo, hi,
                   rec_x, rec_y, rec_c, out, out_div)


# ----------------------------------------------------------------------------------------
# The fused batch kernel: gd and heavy-ball particles on a built-in surface.
#
# run_block takes a step in several passes over the block (gradient; update rule; step and
# average), each through memory. For the commonest batches (basin maps and restarts: gd or
# momentum, exact gradients, a built-in surface, no best-cost tracking) one pass does the
# whole step with the state in registers: twice as fast (measured, 100k x 1,000 momentum
# steps). A copy of these functions exists per surface (`_build_fast`, `_POINT` bound to its
# formula), built and compiled the first time a batch on that surface asks for it. Results
# equal run_block's: the same arithmetic in the same order.

_POINT = _quadratic  # bound per copy: the surface's formula


@njit(cache=True, error_model="numpy", inline="always")
def _fast_point(heavy, track, avg, p0, p1, p2, x, y, px, py, ax, ay, last, s, a, mu, c1, c2, tol2):
    """Step s of one gd (heavy: momentum) particle: (x, y, px, py, ax, ay, last, d2) after it.

    The arithmetic of run_block's loops in the same order, so the results are equal.
    `last` is the last step whose move was longer than the settling tolerance (a select,
    cheaper here than run_block's count of settled steps, which it gives at the end);
    without `avg`, ax and ay are left as they are. d2 bounds the squared length of the
    move from above (to within rounding): a momentum step's velocity, else the move itself.
    """
    c, gx, gy = _POINT(p0, p1, p2, x, y)
    if heavy:
        nx, px = _heavy_ball(a, mu, x, px, gx)
        ny, py = _heavy_ball(a, mu, y, py, gy)
    else:
        nx = fma(-a, gx, x)
        ny = fma(-a, gy, y)
    if track or not heavy:
        dx = nx - x
        dy = ny - y
        d2 = fma(dx, dx, dy * dy)
    else:
        d2 = fma(px, px, py * py)
    if track:
        last = last if d2 <= tol2 else s
    if avg:
        ax = fma(c2, nx, c1 * ax)
        ay = fma(c2, ny, c1 * ay)
    return nx, ny, px, py, ax, ay, last, d2


@njit(cache=True, error_model="numpy", inline="always")
def _fast_pass(heavy, track, v):
    """Step s for the live particles 0..na-1, in place; how many made a move that is not
    shorter than sqrt(m2) (a non-finite one counts). `heavy` and `track` are constants at
    each call: four loops, each vectorized. A tracking loop (a basin map's) keeps no
    iterate average, the others do: the two other combinations would cost 5 s more compile
    per surface (measured) for no caller. `v` holds the arrays and scalars (`_fused`)."""
    x, y, ax, ay, px, py, last, lr, mu, na, fac, s, p0, p1, p2, c1, c2, tol2, m2 = v
    avg = not track
    nbig = 0
    for i in range(na):
        nx, ny, pxn, pyn, axn, ayn, ln, d2 = _fast_point(
            heavy, track, avg, p0, p1, p2, x[i], y[i], px[i], py[i], ax[i], ay[i], last[i], s,
            lr[i] * fac, mu[i], c1, c2, tol2)
        x[i] = nx
        y[i] = ny
        if heavy:
            px[i] = pxn
            py[i] = pyn
        if avg:
            ax[i] = axn
            ay[i] = ayn
        if track:
            last[i] = ln
        nbig += np.int64(not d2 <= m2)
    return nbig


@njit(cache=True, error_model="numpy", inline="always")
def _inside(x, y, na, cx, cy, r):
    """How many of the points 0..na-1 lie within r of (cx, cy) in both coordinates."""
    n = 0
    for i in range(na):
        n += np.int64((abs(x[i] - cx) <= r) & (abs(y[i] - cy) <= r))
    return n


# The fused kernel's divergence check, cheap and exact. Checking every particle's position
# against the bound at every step cost a fifth of a basin map. Instead, at the start of each
# span of SPAN steps, if every particle lies within half the bound of the centre, a step only
# counts the particles whose move is longer than bound / (4 SPAN): as long as none is, no
# particle can pass the bound within the span (half + a quarter of it at most), and the
# full check would find nothing. A long (or non-finite) move, or a particle already beyond
# half the bound, turns the full check on for the rest of the span. Results are unchanged.
SPAN = 64


def _fast_costs(p0, p1, p2, x, y, cost, n):
    """E at the points (x[i], y[i]), i < n."""
    for i in range(n):
        cost[i] = _POINT(p0, p1, p2, x[i], y[i])[0]


def _fused(x, y, ax, ay, px, py, last, lr, mu, na, t, t_end, heavy, sched, t0, tau, prm, c1, c2,
           cx, cy, bound, tol2):
    """Steps t..t_end-1 for the live particles 0..na-1, in place; the first step after which
    a particle's position is non-finite or past the bound (that step taken), else t_end.

    Separate arrays, not rows of one, let the loops vectorize; the step loop is in here
    because a call a step, with its reference counting, cost a fifth of the time.
    """
    p0, p1, p2 = _params3(prm)
    track = tol2 > 0.0
    m = bound / (4.0 * SPAN)
    m2 = m * m
    s = t
    while s < t_end:
        e = min(s + SPAN, t_end)
        full = _inside(x, y, na, cx, cy, 0.5 * bound) < na
        for u in range(s, e):
            v = (x, y, ax, ay, px, py, last, lr, mu, na, _schedule_factor(sched, u, t0, tau),
                 np.float64(u), p0, p1, p2, c1, c2, tol2, m2)
            if heavy:
                nbig = _fast_pass(True, True, v) if track else _fast_pass(True, False, v)
            else:
                nbig = _fast_pass(False, True, v) if track else _fast_pass(False, False, v)
            if nbig > 0 or full:
                if _inside(x, y, na, cx, cy, bound) < na:
                    return u
                full = True
        s = e
    return t_end


def _fast_block(prm, ip, sh, hpp, x0, y0, steps, every, lo, hi, rec_x, rec_y, rec_c, out, out_div):
    """run_block's batch mode for particles lo..hi, with one fused pass a step.

    A particle whose step fails (non-finite, or past the bound) has already moved when the
    pass counts it; it is replayed alone from its start to the step before (deterministic:
    no noise here), so it keeps its last finite state as in run_block, and is retired.
    """
    n = hi - lo
    sched = ip[I_SCHED]
    heavy = ip[I_RULE] == MOMENTUM
    t0, tau, c1, c2, bound, tol2, cx, cy = _shared(sh)
    avg = not tol2 > 0.0  # (see _fast_pass)
    p0, p1, p2 = _params3(prm)
    W = np.empty((_NROWS, n))
    x, y, ax, ay, px, py = W[_X], W[_Y], W[_AX], W[_AY], W[_PX], W[_PY]
    best, dstep, last, lr, mom, cost = W[_BEST], W[_DSTEP], W[_SETTLE], W[_LR], W[_MOM], W[_C]
    Iw = np.zeros((2, n), np.int64)
    idx = Iw[0]
    perm = np.zeros((1, 1), np.int64)  # no mini-batches here; _retire's arguments
    mark = np.zeros((1, 1), np.uint8)
    rng = np.zeros(n, np.uint64)
    _start(W, idx, hpp, x0, y0, lo, n)
    for i in range(n):
        last[i] = -1.0  # no long move yet
    na = n
    z = n - n  # not a literal 0: a literal would compile other specializations of the callees
    r = z
    t = z
    while True:
        if t == steps or t % every == 0:
            _fast_costs(p0, p1, p2, x, y, cost, n)
            for i in range(na):
                best[i] = min(best[i], cost[i])
            _record(W, idx, lo, n, r, rec_x, rec_y, rec_c)
            r += 1
        if t == steps:
            break
        t_end = min(steps, (t // every + 1) * every)  # the next recorded step
        if na == 0:
            t = t_end
            continue
        tf = _fused(x, y, ax, ay, px, py, last, lr, mom, na, t, t_end, heavy, sched, t0, tau, prm,
                    c1, c2, cx, cy, bound, tol2)
        if tf == t_end:
            t = t_end
            continue
        # Step tf failed for some particles: each goes back to its state before it.
        i = z
        while i < na:
            if (abs(x[i] - cx) <= bound) and (abs(y[i] - cy) <= bound):
                i += 1
                continue
            q = lo + idx[i]
            xs, ys, axs, ays, pxs, pys, ls = x0[q], y0[q], x0[q], y0[q], 0.0, 0.0, -1.0
            for k in range(tf):
                xs, ys, pxs, pys, axs, ays, ls, _ = _fast_point(
                    heavy, True, True, p0, p1, p2, xs, ys, pxs, pys, axs, ays, ls, np.float64(k),
                    lr[i] * _schedule_factor(sched, k, t0, tau), mom[i], c1, c2, tol2)
            x[i], y[i], ax[i], ay[i], px[i], py[i], last[i] = xs, ys, axs, ays, pxs, pys, ls
            dstep[i] = tf + 1
            na -= 1
            if i != na:
                _retire(W, Iw, perm, mark, rng, i, na)
        t = tf + 1
    # run_block's count of trailing settled steps: the moves taken after the last long one.
    for i in range(n):
        taken = dstep[i] - 1.0 if dstep[i] >= 0.0 else np.float64(steps)
        last[i] = taken - (last[i] + 1.0) if tol2 > 0.0 else 0.0
    if avg:
        _fast_costs(p0, p1, p2, ax, ay, W[_HXX], n)
    _finish(W, idx, lo, n, out, out_div)


def _fast_particles(prm, ip, sh, hpp, x0, y0, steps, every, lo, hi, rec_x, rec_y, rec_c, out,
                    out_div):
    """Particles lo..hi in blocks of BLOCK through `_fast_block`. It releases the GIL:
    `fast_particles` runs a share of the particles in each of a few threads (a prange
    here would compile a parallel kernel per surface, 4 s each)."""
    for b in range(lo, hi, BLOCK):
        _fast_block(prm, ip, sh, hpp, x0, y0, steps, every, b, min(b + BLOCK, hi), rec_x, rec_y,
                    rec_c, out, out_div)


# ----------------------------------------------------------------------------------------
# One copy of the surface-evaluating kernels per family.


def family(code: int) -> int:
    """The surface family of a surface code."""
    if code == CUSTOM:
        return FAMILY_CUSTOM
    if FIRST_DATASET <= code <= LAST_DATASET:
        return FAMILY_DATASET
    return FAMILY_ANALYTIC


_FAMILY_NAMES = ("analytic", "dataset", "custom")


def _copier(g: dict, suffix: str):
    """A function making njit copies of raw kernels with globals `g` and names + suffix.

    Each copy has its own qualified name, hence its own on-disk cache entry, and reaches
    the other copies of its set through its globals (a module-level name), which keeps
    the cache valid across processes (a dispatcher held in a closure does not).
    """
    def copy(fn, **options):
        f = types.FunctionType(fn.__code__, g, fn.__name__ + suffix, fn.__defaults__)
        f.__qualname__ = fn.__qualname__ + suffix
        f.__doc__ = fn.__doc__
        return njit(cache=True, error_model="numpy", **options)(f)
    return copy


def _build_family(fam: int) -> dict:
    """njit copies of the raw kernels above whose globals bind `_FAMILY` to `fam`."""
    g = dict(globals())
    g["_FAMILY"] = fam
    copy = _copier(g, "_" + _FAMILY_NAMES[fam])
    g["_eval_block"] = copy(_eval_block, inline="always")
    g["_hess_point"] = copy(_hess_point)
    g["_run_block"] = copy(_run_block)
    g["_eval_one"] = copy(_eval_one, inline="always")
    g["_run_one"] = copy(_run_one)
    g["_eval_points"] = copy(_eval_points)
    g["_run_particles"] = copy(_run_particles, parallel=True)
    g["_grid_eval"] = copy(_grid_eval, parallel=True)
    return g


def _build_fast(code: int) -> dict:
    """njit copies of the fused batch kernel for the built-in surface `code`."""
    g = dict(globals())
    g["_POINT"] = _ANALYTIC_POINTS[code]
    copy = _copier(g, "_" + _ANALYTIC_POINTS[code].py_func.__name__.lstrip("_"))
    g["_fast_point"] = copy(_fast_point.py_func, inline="always")
    g["_fast_pass"] = copy(_fast_pass.py_func, inline="always")
    g["_inside"] = copy(_inside.py_func, inline="always")
    g["_fast_costs"] = copy(_fast_costs)
    g["_fused"] = copy(_fused)
    g["_fast_block"] = copy(_fast_block)
    g["_fast_particles"] = copy(_fast_particles, nogil=True)
    return g


_FAMILIES = [_build_family(f) for f in (FAMILY_ANALYTIC, FAMILY_DATASET, FAMILY_CUSTOM)]


def drop_stale_cache(cache_dir, interpreter_source: bytes) -> bool:
    """numba keys a cached function by its own source file only, yet these kernels hold
    sim/expression_vm.py's interpreter compiled into them: after that file changes (a
    `git pull` into an editable install) their cached code would run the old one. A stamp
    of the interpreter's source in the cache folder tells; when it differs, this module's
    entries there are deleted (they compile afresh). True when it deleted them."""
    import hashlib
    import pathlib

    cache_dir = pathlib.Path(cache_dir)
    digest = hashlib.sha256(interpreter_source).hexdigest()
    stamp = cache_dir / "kernels.interpreter-stamp"
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    try:
        for f in cache_dir.glob("kernels.*.nb[ic]"):
            f.unlink(missing_ok=True)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
        tmp.write_text(digest)
        os.replace(tmp, stamp)
    except OSError:  # a read-only cache: numba compiles in memory then anyway
        return False
    return True


def _check_cache() -> None:
    try:
        cache_dir = _FAMILIES[0]["_run_block"]._cache._cache_path
        with open(run3_block.py_func.__code__.co_filename, "rb") as f:
            source = f.read()
    except (AttributeError, OSError):  # no on-disk cache here (or numba changed)
        return
    drop_stale_cache(cache_dir, source)


_check_cache()


def kernel(name: str, code: int):
    """The compiled kernel `name` ("run_one", "eval_points", "run_block", "run_particles",
    "grid_eval") for a surface."""
    return _FAMILIES[family(code)]["_" + name]


def run_one(code, *args):
    """`_run_one` for the surface `code`: one recorded run (see there)."""
    return _FAMILIES[family(code)]["_run_one"](code, *args)


def eval_points(code, *args):
    """`_eval_points` for the surface `code`: E, ∇E (and the Hessian) at points."""
    return _FAMILIES[family(code)]["_eval_points"](code, *args)


def run_block(code, *args):
    """`_run_block` for the surface `code` (see there)."""
    return _FAMILIES[family(code)]["_run_block"](code, *args)


def run_particles(code, *args):
    """`_run_particles` for the surface `code`: P particles in parallel blocks."""
    return _FAMILIES[family(code)]["_run_particles"](code, *args)


def grid_eval(code, *args):
    """`_grid_eval` for the surface `code`: cost and gradient on a grid."""
    return _FAMILIES[family(code)]["_grid_eval"](code, *args)


_FAST: dict[int, dict] = {}

# Whether `fast_particles` may compile a surface's fused kernel when first asked (a few
# seconds on an empty cache). The window turns this off: there its warm-up thread prepares
# them (`prepare_fast`) and batches use run_particles until then.
FAST_ON_DEMAND = True


def fast_applies(code: int, rule: int) -> bool:
    """Whether the fused batch kernel handles a surface and rule (given exact gradients,
    no best-cost tracking, and either settling tracked or the iterate average kept)."""
    return code < FIRST_DATASET and rule in (GD, MOMENTUM)


_FAST_LOCK = threading.Lock()


def _fast(code: int) -> dict:
    """The fused kernel's copies for `code`, built once even when two threads ask (the
    window's warm-up and its surface thread): two sets would each compile."""
    with _FAST_LOCK:
        g = _FAST.get(code)
        if g is None:
            g = _FAST[code] = _build_fast(code)
    return g


def fast_ready(code: int) -> bool:
    """The fused kernel for `code` is compiled (or loaded from the cache) in this process."""
    return code in _FAST and bool(_FAST[code]["_fast_particles"].overloads)


_POOL = None


def fast_particles(code, prm, ip, sh, hpp, x0, y0, steps, every, rec_x, rec_y, rec_c, out, out_div):
    """`_fast_particles` for the built-in surface `code` (see `fast_applies`), the particles
    shared out in whole blocks among numba's threads, a few blocks at a time."""
    global _POOL
    f = _fast(code)["_fast_particles"]
    P = x0.shape[0]
    nthreads = min(numba.get_num_threads(), (P + BLOCK - 1) // BLOCK)
    args = (prm, ip, sh, hpp, x0, y0, steps, every)
    rest = (rec_x, rec_y, rec_c, out, out_div)
    if nthreads <= 1:
        f(*args, 0, P, *rest)
        return
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor
        _POOL = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="ravine-batch")
    # Shares of SHARE_BLOCKS blocks, each thread taking the next when done with its last.
    # This machine's two virtual cores are often unequally fast for a while (the host takes
    # one); with two fixed halves the faster one then waits. 256 x 256 basin maps, the two
    # ways alternating in 5 experiments of 40-50 rounds: the mean 1-2.4 ms (about 4%) lower
    # in each.
    per = BLOCK * SHARE_BLOCKS
    shares = itertools.count()

    def work():
        while (lo := next(shares) * per) < P:  # (next() on a count is atomic)
            f(*args, lo, min(lo + per, P), *rest)

    jobs = [_POOL.submit(work) for _ in range(nthreads - 1)]
    work()  # the calling thread takes shares too
    for j in jobs:
        j.result()


def prepare_fast(code: int) -> None:
    """Compile (or load) the fused kernel for `code` with two particles."""
    x = np.zeros(2)
    ip = np.zeros(NIP, np.int64)
    sh = np.ones(NSH)
    hpp = np.zeros((NHP, 2))
    prm = np.zeros(3)
    r = np.empty((2, 2))
    fast_particles(code, prm, ip, sh, hpp, x, x, 1, 1, r, r, r, np.empty((NOUT, 2)),
                   np.empty(2, np.int64))

