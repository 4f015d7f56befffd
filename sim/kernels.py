"""numba kernels: cost, gradient and Hessian of every surface, and the step loop.

Everything here takes arrays and scalars only (DESIGN.md, principle 4). Surfaces, update
rules and schedules are integer codes branched on *outside* the innermost particle loops,
so a handful of kernels serve every combination and the particle loop stays SIMD-friendly
(blocks of BLOCK particles, particle loop innermost: the shape measured 20x faster).

One block function, `_run_block`, is the only step loop: a single recorded run is a block
of one particle with full recording, a batch is many blocks in parallel. A single run and
particle i of a batch with the same settings are therefore identical to the last bit.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

# A worker thread and the GUI thread may both launch parallel kernels; the default
# `workqueue` layer aborts the process then. tbb (a dependency) or OpenMP is thread safe.
numba.config.THREADING_LAYER = "threadsafe"

BLOCK = 256

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
NSH = 6

# Entries of the integer settings array `ip`.
I_RULE = 0
I_SCHED = 1
I_BATCH = 2
I_TRACK_BEST = 3
NIP = 4

TWO_PI = 2.0 * math.pi

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
def _uniform(state, i):
    """Uniform on the open interval (0, 1), from particle i's splitmix64 state."""
    s = state[i] + _GOLDEN
    state[i] = s
    z = (s ^ (s >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return (float(z >> _S11) + 0.5) * _INV53


@njit(cache=True, error_model="numpy")
def _normal(state, i):
    """Standard normal by Box-Muller (one value per call)."""
    u1 = _uniform(state, i)
    u2 = _uniform(state, i)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(TWO_PI * u2)


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


@njit(cache=True, error_model="numpy")
def _cost_block(code, prm, X, T, ex, ey, out, n):
    """out[i] = E(ex[i], ey[i]) (the full cost, never a mini-batch)."""
    if code == QUADRATIC:
        kappa, c, s = prm[0], prm[1], prm[2]
        for i in range(n):
            u = ex[i] * c + ey[i] * s
            v = -ex[i] * s + ey[i] * c
            out[i] = 0.5 * (u * u + kappa * v * v)
    elif code == ROSENBROCK:
        a, b = prm[0], prm[1]
        for i in range(n):
            r = ey[i] - ex[i] * ex[i]
            out[i] = (a - ex[i]) * (a - ex[i]) + b * r * r
    elif code == BEALE:
        for i in range(n):
            x = ex[i]
            y = ey[i]
            t1 = 1.5 - x + x * y
            t2 = 2.25 - x + x * y * y
            t3 = 2.625 - x + x * y * y * y
            out[i] = t1 * t1 + t2 * t2 + t3 * t3
    elif code == HIMMELBLAU:
        for i in range(n):
            a = ex[i] * ex[i] + ey[i] - 11.0
            b = ex[i] + ey[i] * ey[i] - 7.0
            out[i] = a * a + b * b
    elif code == TWO_MINIMA:
        tilt = prm[0]
        for i in range(n):
            x = ex[i]
            w = x * x - 1.0
            r = ey[i] - 0.5 * x * x
            out[i] = w * w + tilt * x + r * r
    elif code == SADDLE:
        for i in range(n):
            y2 = ey[i] * ey[i]
            out[i] = ex[i] * ex[i] + 0.25 * y2 * y2 - 0.5 * y2
    elif code == PLATEAU:
        w2 = prm[0] * prm[0]
        for i in range(n):
            out[i] = 1.0 - math.exp(-(ex[i] * ex[i] + ey[i] * ey[i]) / (2.0 * w2))
    elif code == RASTRIGIN:
        amp = prm[0]
        for i in range(n):
            x = ex[i]
            y = ey[i]
            out[i] = 2.0 * amp + x * x - amp * math.cos(TWO_PI * x) + y * y - amp * math.cos(TWO_PI * y)
    elif code == SIX_HUMP_CAMEL:
        for i in range(n):
            x2 = ex[i] * ex[i]
            y2 = ey[i] * ey[i]
            out[i] = (4.0 - 2.1 * x2 + x2 * x2 / 3.0) * x2 + ex[i] * ey[i] + (-4.0 + 4.0 * y2) * y2
    else:
        nomark = np.empty((1, 1), np.uint8)
        no = n < 0  # a non-literal False: literals would compile a second specialization
        for i in range(n):
            out[i] = _data_eval(code, X, T, ex[i], ey[i], nomark, i, no)[0]


@njit(cache=True, error_model="numpy")
def _grad_block(code, prm, X, T, ex, ey, gx, gy, n, mark, use_mark):
    """(gx[i], gy[i]) = ∇E(ex[i], ey[i]), over particle i's mini-batch when use_mark."""
    if code == QUADRATIC:
        kappa, c, s = prm[0], prm[1], prm[2]
        for i in range(n):
            u = ex[i] * c + ey[i] * s
            v = -ex[i] * s + ey[i] * c
            gx[i] = u * c - kappa * v * s
            gy[i] = u * s + kappa * v * c
    elif code == ROSENBROCK:
        a, b = prm[0], prm[1]
        for i in range(n):
            x = ex[i]
            r = ey[i] - x * x
            gx[i] = -2.0 * (a - x) - 4.0 * b * x * r
            gy[i] = 2.0 * b * r
    elif code == BEALE:
        for i in range(n):
            x = ex[i]
            y = ey[i]
            y2 = y * y
            y3 = y2 * y
            t1 = 1.5 - x + x * y
            t2 = 2.25 - x + x * y2
            t3 = 2.625 - x + x * y3
            gx[i] = 2.0 * (t1 * (y - 1.0) + t2 * (y2 - 1.0) + t3 * (y3 - 1.0))
            gy[i] = 2.0 * (t1 * x + t2 * 2.0 * x * y + t3 * 3.0 * x * y2)
    elif code == HIMMELBLAU:
        for i in range(n):
            x = ex[i]
            y = ey[i]
            a = x * x + y - 11.0
            b = x + y * y - 7.0
            gx[i] = 4.0 * x * a + 2.0 * b
            gy[i] = 2.0 * a + 4.0 * y * b
    elif code == TWO_MINIMA:
        tilt = prm[0]
        for i in range(n):
            x = ex[i]
            r = ey[i] - 0.5 * x * x
            gx[i] = 4.0 * x * (x * x - 1.0) + tilt - 2.0 * x * r
            gy[i] = 2.0 * r
    elif code == SADDLE:
        for i in range(n):
            y = ey[i]
            gx[i] = 2.0 * ex[i]
            gy[i] = y * y * y - y
    elif code == PLATEAU:
        w2 = prm[0] * prm[0]
        for i in range(n):
            e = math.exp(-(ex[i] * ex[i] + ey[i] * ey[i]) / (2.0 * w2)) / w2
            gx[i] = ex[i] * e
            gy[i] = ey[i] * e
    elif code == RASTRIGIN:
        k = prm[0] * TWO_PI
        for i in range(n):
            gx[i] = 2.0 * ex[i] + k * math.sin(TWO_PI * ex[i])
            gy[i] = 2.0 * ey[i] + k * math.sin(TWO_PI * ey[i])
    elif code == SIX_HUMP_CAMEL:
        for i in range(n):
            x = ex[i]
            y = ey[i]
            x2 = x * x
            gx[i] = 8.0 * x - 8.4 * x2 * x + 2.0 * x2 * x2 * x + y
            gy[i] = x - 8.0 * y + 16.0 * y * y * y
    else:
        for i in range(n):
            r = _data_eval(code, X, T, ex[i], ey[i], mark, i, use_mark)
            gx[i] = r[1]
            gy[i] = r[2]


@njit(cache=True, error_model="numpy")
def _hess_point(code, prm, X, T, x, y, mark, i, use_mark):
    """The exact Hessian (hxx, hxy, hyy) at one point."""
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
    if code == SIX_HUMP_CAMEL:
        x2 = x * x
        return 8.0 - 25.2 * x2 + 10.0 * x2 * x2, 1.0, -8.0 + 48.0 * y * y
    r = _data_eval(code, X, T, x, y, mark, i, use_mark)
    return r[3], r[4], r[5]


# ----------------------------------------------------------------------------------------
# Point and grid evaluation (for Python callers and the contour view).


@njit(cache=True, error_model="numpy")
def evaluate_points(code, prm, X, T, xs, ys, cost, gx, gy, hxx, hxy, hyy):
    """Exact cost, gradient and Hessian at the points (xs, ys)."""
    n = xs.shape[0]
    nomark = np.empty((1, 1), np.uint8)
    no = n < 0  # non-literal False (see _cost_block)
    _cost_block(code, prm, X, T, xs, ys, cost, n)
    _grad_block(code, prm, X, T, xs, ys, gx, gy, n, nomark, no)
    for i in range(n):
        hxx[i], hxy[i], hyy[i] = _hess_point(code, prm, X, T, xs[i], ys[i], nomark, i, no)


@njit(cache=True, parallel=True, error_model="numpy")
def grid_cost(code, prm, X, T, xs, ys, out):
    """out[iy, ix] = E(xs[ix], ys[iy])."""
    nx = xs.shape[0]
    for iy in prange(ys.shape[0]):
        yrow = np.empty(nx)
        yrow[:] = ys[iy]
        row = np.empty(nx)
        _cost_block(code, prm, X, T, xs, yrow, row, nx)
        out[iy, :] = row


@njit(cache=True, parallel=True, error_model="numpy")
def grid_grad(code, prm, X, T, xs, ys, gx_out, gy_out):
    """Exact gradient on a grid, indexed [iy, ix]."""
    nx = xs.shape[0]
    mark = np.empty((1, 1), np.uint8)
    no = nx < 0  # non-literal False (see _cost_block)
    for iy in prange(ys.shape[0]):
        yrow = np.empty(nx)
        yrow[:] = ys[iy]
        gx = np.empty(nx)
        gy = np.empty(nx)
        _grad_block(code, prm, X, T, xs, yrow, gx, gy, nx, mark, no)
        gx_out[iy, :] = gx
        gy_out[iy, :] = gy


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


# Rows of the per-particle float state `W` in run_block. Everything a particle carries lives
# in one column, so retiring a diverged particle is a column swap.
_X, _Y, _AX, _AY, _PX, _PY, _QX, _QY, _B1T, _B2T = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
_BEST, _NOISE, _DSTEP = 10, 11, 12
_LR, _MOM, _B1, _B2, _RHO, _EPS, _DAMP = 13, 14, 15, 16, 17, 18, 19
_NSTATE = 20


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


@njit(cache=True, error_model="numpy")
def run_block(code, prm, X, T, ip, sh, hpp, x0, y0, seeds, steps, every, lo, hi,
              rec_x, rec_y, rec_c, full, f_gx, f_gy, f_lr, f_ax, f_ay, f_ac, f_vx, f_vy,
              f_kin, out, out_div):
    """Run particles lo..hi for `steps` steps; the one step loop of the project.

    Batch mode (full=False) records x, y, cost every `every` steps (and the last) into
    rec_*[r, p] and the final state into `out` rows (x, y, cost, avg_x, avg_y, avg_cost,
    best_cost). Full mode (one particle) records every step and every quantity, stops at
    divergence and returns the number of rows.

    The live particles are the first `na` columns; a particle that diverges is swapped to
    the end and frozen, so every loop over live particles stays branch-free and
    vectorizes. Each surface dispatcher has one call site here, keeping compilation short.
    """
    n = hi - lo
    N = X.shape[0]
    rule = ip[I_RULE]
    sched = ip[I_SCHED]
    batch = ip[I_BATCH]
    track_best = ip[I_TRACK_BEST] != 0
    t0 = sh[S_T0]
    tau = sh[S_TAU]
    c2 = 1.0 / sh[S_AVG_TAU]
    c1 = 1.0 - c2
    bound = sh[S_BOUND]
    cx = sh[S_CX]
    cy = sh[S_CY]

    # One allocation per dtype: every distinct numpy call compiles a helper of its own.
    W = np.empty((_NSTATE, n))
    x, y, ax, ay = W[_X], W[_Y], W[_AX], W[_AY]
    px, py, qx, qy = W[_PX], W[_PY], W[_QX], W[_QY]  # p / s / v / Adam m; Adam v
    b1t, b2t, best, noise, dstep = W[_B1T], W[_B2T], W[_BEST], W[_NOISE], W[_DSTEP]
    lr, mom, b1, b2, rho, eps, damp = W[_LR], W[_MOM], W[_B1], W[_B2], W[_RHO], W[_EPS], W[_DAMP]
    S = np.empty((11, n))  # scratch, never swapped
    ex, ey, gx, gy, nx, ny, hxx, hxy, hyy = S[0], S[1], S[2], S[3], S[4], S[5], S[6], S[7], S[8]
    # Cost buffer: rows 0..n-1 are the particles, rows n..2n-1 their iterate averages.
    Bf = np.empty((3, 2 * n))
    bx, by, bc = Bf[0], Bf[1], Bf[2]
    use_mark = code >= FIRST_DATASET and batch > 0
    bsz = min(batch, N)
    pn = n if use_mark else 1
    pN = N if use_mark else 1
    Iw = np.empty((2, n), np.int64)
    idx, ptr = Iw[0], Iw[1]
    perm = np.empty((pn, pN), np.int64)
    mark = np.empty((pn, pN), np.uint8)
    rng = np.empty(n, np.uint64)

    has_noise = False
    bscale = 1.0 / math.sqrt(max(batch, 1))
    for i in range(n):
        p = lo + i
        x[i] = x0[p]
        y[i] = y0[p]
        ax[i] = x0[p]
        ay[i] = y0[p]
        px[i] = 0.0
        py[i] = 0.0
        qx[i] = 0.0
        qy[i] = 0.0
        b1t[i] = 1.0
        b2t[i] = 1.0
        best[i] = np.inf
        dstep[i] = -1.0
        noise[i] = hpp[H_NOISE, p] * bscale
        has_noise = has_noise or noise[i] > 0.0
        lr[i] = hpp[H_LR, p]
        mom[i] = hpp[H_MOM, p]
        b1[i] = hpp[H_B1, p]
        b2[i] = hpp[H_B2, p]
        rho[i] = hpp[H_RHO, p]
        eps[i] = hpp[H_EPS, p]
        damp[i] = hpp[H_DAMP, p]
        idx[i] = i
        ptr[i] = N
        rng[i] = np.uint64(seeds[p])
    for i in range(2 * n):
        bc[i] = 0.0
    for i in range(pn):
        for k in range(pN):
            perm[i, k] = k
            mark[i, k] = 0

    na = n  # live particles: columns 0..na-1
    nrec = 0
    r = 0
    vx_prev = 0.0
    vy_prev = 0.0
    lr_prev = 1.0
    for t in range(steps + 1):
        fac = _schedule_factor(sched, t, t0, tau)
        final = t == steps
        record = full or final or t % every == 0
        moving = na > 0 and not final

        # Costs: of the particles when recorded or tracked; of the averages in full mode
        # and at the end.
        if record or track_best:
            m = n
            for i in range(n):
                bx[i] = x[i]
                by[i] = y[i]
            if full or final:
                m = 2 * n
                for i in range(n):
                    bx[n + i] = ax[i]
                    by[n + i] = ay[i]
            _cost_block(code, prm, X, T, bx, by, bc, m)
            if full and not math.isfinite(bc[0]):
                dstep[0] = t
                na = 0
                break
            for i in range(na):
                best[i] = min(best[i], bc[i])

        # The gradient estimate of this step (the last row of a full run: the exact one).
        if moving or full:
            stochastic = moving and use_mark
            lookahead = rule == NESTEROV and moving
            if lookahead:
                for i in range(na):
                    ex[i] = x[i] + mom[i] * px[i]
                    ey[i] = y[i] + mom[i] * py[i]
            at_x = ex if lookahead else x
            at_y = ey if lookahead else y
            ng = na if moving else n
            if stochastic:
                for i in range(na):
                    if ptr[i] + bsz > N:
                        _shuffle(perm, i, rng)
                        ptr[i] = 0
                    for k in range(ptr[i], ptr[i] + bsz):
                        mark[i, perm[i, k]] = 1
                    ptr[i] += bsz
            _grad_block(code, prm, X, T, at_x, at_y, gx, gy, ng, mark, stochastic)
            if rule == NEWTON and moving:
                for i in range(na):
                    hxx[i], hxy[i], hyy[i] = _hess_point(code, prm, X, T, x[i], y[i], mark, i,
                                                         stochastic)
            if stochastic:
                for i in range(na):
                    for k in range(N):
                        mark[i, k] = 0
            if has_noise and moving:
                for i in range(na):
                    if noise[i] > 0.0:
                        gx[i] += noise[i] * _normal(rng, i)
                        gy[i] += noise[i] * _normal(rng, i)

        if full:
            rec_x[t, 0] = x[0]
            rec_y[t, 0] = y[0]
            rec_c[t, 0] = bc[0]
            f_gx[t] = gx[0]
            f_gy[t] = gy[0]
            f_lr[t] = lr[0] * fac
            f_ax[t] = ax[0]
            f_ay[t] = ay[0]
            f_ac[t] = bc[1]
            f_vx[t] = vx_prev
            f_vy[t] = vy_prev
            f_kin[t] = 0.5 * (vx_prev * vx_prev + vy_prev * vy_prev) / lr_prev
            nrec = t + 1
        elif record:
            for i in range(n):
                q = lo + idx[i]
                rec_x[r, q] = x[i]
                rec_y[r, q] = y[i]
                rec_c[r, q] = bc[i]
            r += 1
        if not moving:
            if final:
                break
            continue

        # The update rule: (nx, ny) = θ_t+1. Short loops over few arrays vectorize best.
        if rule == GD:
            for i in range(na):
                nx[i] = x[i] - (lr[i] * fac) * gx[i]
            for i in range(na):
                ny[i] = y[i] - (lr[i] * fac) * gy[i]
        elif rule == MOMENTUM or rule == NESTEROV:
            for i in range(na):
                px[i] = mom[i] * px[i] - (lr[i] * fac) * gx[i]
            for i in range(na):
                py[i] = mom[i] * py[i] - (lr[i] * fac) * gy[i]
            for i in range(na):
                nx[i] = x[i] + px[i]
                ny[i] = y[i] + py[i]
        elif rule == ADAGRAD:
            for i in range(na):
                px[i] = px[i] + gx[i] * gx[i]
                py[i] = py[i] + gy[i] * gy[i]
            for i in range(na):
                a = lr[i] * fac
                nx[i] = x[i] - a * gx[i] / (math.sqrt(px[i]) + eps[i])
                ny[i] = y[i] - a * gy[i] / (math.sqrt(py[i]) + eps[i])
        elif rule == RMSPROP:
            for i in range(na):
                px[i] = rho[i] * px[i] + (1.0 - rho[i]) * gx[i] * gx[i]
                py[i] = rho[i] * py[i] + (1.0 - rho[i]) * gy[i] * gy[i]
            for i in range(na):
                a = lr[i] * fac
                nx[i] = x[i] - a * gx[i] / (math.sqrt(px[i]) + eps[i])
                ny[i] = y[i] - a * gy[i] / (math.sqrt(py[i]) + eps[i])
        elif rule == ADAM:
            for i in range(na):
                b1t[i] = b1t[i] * b1[i]
                b2t[i] = b2t[i] * b2[i]
            for i in range(na):
                px[i] = b1[i] * px[i] + (1.0 - b1[i]) * gx[i]
                py[i] = b1[i] * py[i] + (1.0 - b1[i]) * gy[i]
            for i in range(na):
                qx[i] = b2[i] * qx[i] + (1.0 - b2[i]) * gx[i] * gx[i]
                qy[i] = b2[i] * qy[i] + (1.0 - b2[i]) * gy[i] * gy[i]
            for i in range(na):
                a = lr[i] * fac
                nx[i] = x[i] - a * (px[i] / (1.0 - b1t[i])) / (math.sqrt(qx[i] / (1.0 - b2t[i])) + eps[i])
                ny[i] = y[i] - a * (py[i] / (1.0 - b1t[i])) / (math.sqrt(qy[i] / (1.0 - b2t[i])) + eps[i])
        else:
            for i in range(na):
                dx, dy = _newton_direction(hxx[i], hxy[i], hyy[i], damp[i], gx[i], gy[i])
                nx[i] = x[i] - (lr[i] * fac) * dx
                ny[i] = y[i] - (lr[i] * fac) * dy

        # Divergence is data: a particle that turns non-finite or leaves the bound stops
        # (NaN and inf fail the comparisons). Counting is a vectorizable reduction; only a
        # step where some particle fails takes the slow path that retires it.
        nbad = 0
        for i in range(na):
            nbad += np.int64((abs(nx[i] - cx) <= bound) & (abs(ny[i] - cy) <= bound))
        nbad = na - nbad
        if nbad > 0:
            i = 0
            while i < na:
                if (abs(nx[i] - cx) <= bound) and (abs(ny[i] - cy) <= bound):
                    i += 1
                    continue
                dstep[i] = t + 1
                na -= 1
                if i != na:
                    _retire(W, Iw, perm, mark, rng, i, na)
                    nx[i] = nx[na]
                    ny[i] = ny[na]
        if full:
            if na == 0:
                break
            vx_prev = nx[0] - x[0]
            vy_prev = ny[0] - y[0]
            lr_prev = lr[0] * fac
        for i in range(na):
            x[i] = nx[i]
            y[i] = ny[i]
        # Iterate averaging, eq. 11.
        for i in range(na):
            ax[i] = c1 * ax[i] + c2 * x[i]
            ay[i] = c1 * ay[i] + c2 * y[i]

    for i in range(n):
        q = lo + idx[i]
        out[0, q] = x[i]
        out[1, q] = y[i]
        out[2, q] = bc[i]
        out[3, q] = ax[i]
        out[4, q] = ay[i]
        out[5, q] = bc[n + i]
        out[6, q] = best[i] if best[i] < np.inf else bc[i]
        out_div[q] = np.int64(dstep[i])
    return nrec


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


@njit(cache=True, parallel=True, error_model="numpy")
def run_particles(code, prm, X, T, ip, sh, hpp, x0, y0, seeds, steps, every, full,
                  rec_x, rec_y, rec_c, f_gx, f_gy, f_lr, f_ax, f_ay, f_ac, f_vx, f_vy, f_kin,
                  out, out_div):
    """The one entry point of the step loop: P particles in parallel blocks of BLOCK.

    Batch mode records every `every`-th step into rec_*[r, p]; full mode (P = 1) records
    every step and every quantity into the f_* arrays and returns the row count.
    """
    P = x0.shape[0]
    nblocks = (P + BLOCK - 1) // BLOCK
    counts = np.zeros(nblocks, np.int64)
    for b in prange(nblocks):
        lo = b * BLOCK
        hi = min(lo + BLOCK, P)
        counts[b] = run_block(code, prm, X, T, ip, sh, hpp, x0, y0, seeds, steps, every, lo, hi,
                               rec_x, rec_y, rec_c, full, f_gx, f_gy, f_lr, f_ax, f_ay, f_ac,
                               f_vx, f_vy, f_kin, out, out_div)
    return counts[0]
