"""The numba stack machine that runs a custom surface's compiled expression programs.

A custom surface's `kparams` (built by `sim.expression.pack_programs`) holds six postfix
programs: cost, ∂E/∂x, ∂E/∂y, ∂²E/∂x², ∂²E/∂x∂y, ∂²E/∂y². Layout, all float64::

    [0]                 rows of scratch the programs need: the stack, then the registers
    [1 + 2k], [2 + 2k]  offset (index into kparams) and number of instructions of program k
    [HEADER + 2j], [HEADER + 2j + 1]  instruction j: opcode, operand (a constant for PUSH)

Math domain errors give nan or ±inf, never an exception (DESIGN.md principle 5: the step
loop turns a non-finite step into recorded divergence).

One interpreter runs these programs: `run3_block` runs them for a block of points at once,
as the step loop needs: the per-instruction dispatch is paid once per block and each
instruction becomes a plain loop over the points that LLVM vectorizes (DESIGN.md, "Kernel
shape decides speed"). `custom_eval` and `custom_hess` (Newton's Hessian, single points)
run it on a block of one. Few functions on purpose: each njit function costs compile time
on an empty cache.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NPROGRAMS = 6
HEADER = 1 + 2 * NPROGRAMS

# Opcodes. Leaves push, binary ops pop two and push one, unary ops replace the top.
PUSH = 0
VAR_X = 1
VAR_Y = 2
ADD = 3
SUB = 4
MUL = 5
DIV = 6
POW = 7
FIRST_UNARY = 8
NEG = 8
SQR = 9
SIN = 10
COS = 11
TAN = 12
EXP = 13
LOG = 14
SQRT = 15
ABS = 16
TANH = 17
SINH = 18
COSH = 19
ATAN = 20
SIGMOID = 21
SOFTPLUS = 22
SIGN = 23
# Registers hold subexpressions that the programs of a group share (sin(3x) in E, ∂E/∂x
# and ∂E/∂y): LOAD pushes register row `operand`, STORE copies the top of the stack to it.
LOAD = 24
STORE = 25
NOPS = 26


@njit(cache=True, error_model="numpy")
def stack_size(prm):
    """Rows of scratch (stack and registers) the programs in `prm` need (at least 1)."""
    return max(int(prm[0]), 1)


@njit(cache=True, error_model="numpy")
def _at_point(prm, first, x, y, S):
    """Programs first..first+2 at one point: the block machine on a block of one, so the
    two can never disagree and one interpreter is compiled (`S`: a (depth, 1) stack; the
    arrays have the block call's types, so no second specialization either)."""
    xs = np.empty(1)
    ys = np.empty(1)
    xs[0] = x
    ys[0] = y
    r0 = np.empty(1)
    r1 = np.empty(1)
    r2 = np.empty(1)
    run3_block(prm, first, xs, ys, r0, r1, r2, 1, S)
    return r0[0], r1[0], r2[0]


# The program number is passed as a computed (non-literal) int: a literal 0 and 3 would
# compile _at_point twice.


@njit(cache=True, error_model="numpy")
def custom_eval(prm, x, y, S):
    """(cost, gx, gy) of the custom surface `prm` at (x, y); S: a (stack_size, 1) scratch."""
    return _at_point(prm, S.shape[0] * 0, x, y, S)


@njit(cache=True, error_model="numpy")
def custom_hess(prm, x, y, S):
    """(hxx, hxy, hyy) of the custom surface `prm` at (x, y); S: a (stack_size, 1) scratch."""
    return _at_point(prm, S.shape[0] * 0 + 3, x, y, S)


@njit(cache=True, error_model="numpy")
def run3_block(prm, first, xs, ys, r0, r1, r2, n, S):
    """Programs first, first+1, first+2 at the points (xs[i], ys[i]), i < n, into r0, r1, r2.

    `S` is the scratch stack, one row per level: at least `stack_size(prm)` rows of at least
    n columns (the results are nan if it is smaller). Each instruction is one loop over the
    points.
    """
    if S.shape[0] < prm[0] or S.shape[1] < n:
        for i in range(n):
            r0[i] = np.nan
            r1[i] = np.nan
            r2[i] = np.nan
        return
    for k in range(first, first + 3):
        j = int(prm[1 + 2 * k])
        end = j + 2 * int(prm[2 + 2 * k])
        sp = 0
        while j < end:
            op = int(prm[j])
            # Rows as 1-D views, bound before each loop: the loops index plain vectors.
            if op >= LOAD:
                if op == LOAD:
                    a = S[sp]
                    b = S[int(prm[j + 1])]
                    sp += 1
                else:
                    a = S[int(prm[j + 1])]
                    b = S[sp - 1]
                for i in range(n):
                    a[i] = b[i]
            elif op < FIRST_UNARY:
                if op == PUSH:
                    a = S[sp]
                    v = prm[j + 1]
                    for i in range(n):
                        a[i] = v
                    sp += 1
                elif op == VAR_X:
                    a = S[sp]
                    for i in range(n):
                        a[i] = xs[i]
                    sp += 1
                elif op == VAR_Y:
                    a = S[sp]
                    for i in range(n):
                        a[i] = ys[i]
                    sp += 1
                else:
                    sp -= 1
                    a = S[sp - 1]
                    b = S[sp]
                    if op == ADD:
                        for i in range(n):
                            a[i] = a[i] + b[i]
                    elif op == SUB:
                        for i in range(n):
                            a[i] = a[i] - b[i]
                    elif op == MUL:
                        for i in range(n):
                            a[i] = a[i] * b[i]
                    elif op == DIV:
                        for i in range(n):
                            a[i] = a[i] / b[i]
                    else:
                        for i in range(n):
                            a[i] = a[i] ** b[i]
            else:
                a = S[sp - 1]
                if op == NEG:
                    for i in range(n):
                        a[i] = -a[i]
                elif op == SQR:
                    for i in range(n):
                        a[i] = a[i] * a[i]
                elif op == SQRT:
                    for i in range(n):
                        u = a[i]
                        a[i] = math.sqrt(u) if u >= 0.0 else np.nan
                elif op == ABS:
                    for i in range(n):
                        a[i] = abs(a[i])
                elif op == SIN:  # the commonest calls get a loop of their own: no branch per point
                    for i in range(n):
                        a[i] = math.sin(a[i])
                elif op == COS:
                    for i in range(n):
                        a[i] = math.cos(a[i])
                elif op == EXP:
                    for i in range(n):
                        a[i] = math.exp(a[i])
                else:
                    # The rarer library calls and branchy functions share one loop that
                    # branches on op per point: one loop instead of eight compiles ~0.4 s
                    # faster. (sin, cos and exp above have their own: with the branch per
                    # point a sin(3x)cos(2y) basin map took twice as long, measured.)
                    for i in range(n):
                        u = a[i]
                        if op == TAN:
                            u = math.tan(u)
                        elif op == LOG:
                            if u > 0.0:
                                u = math.log(u)
                            elif u == 0.0:
                                u = -np.inf
                            else:
                                u = np.nan
                        elif op == TANH:
                            u = math.tanh(u)
                        elif op == SINH:
                            u = math.sinh(u)
                        elif op == COSH:
                            u = math.cosh(u)
                        elif op == ATAN:
                            u = math.atan(u)
                        elif op == SIGMOID:
                            if u >= 0.0:
                                u = 1.0 / (1.0 + math.exp(-u))
                            else:
                                t = math.exp(u)
                                u = t / (1.0 + t)
                        elif op == SOFTPLUS:
                            u = max(u, 0.0) + math.log1p(math.exp(-abs(u)))
                        elif op == SIGN:
                            if u > 0.0:
                                u = 1.0
                            elif u < 0.0:
                                u = -1.0
                            elif u == 0.0:
                                u = 0.0
                        else:
                            u = np.nan
                        a[i] = u
            j += 2
        # The result is the bottom row; copied out, as the outputs are not stack rows.
        r = r0 if k == first else (r1 if k == first + 1 else r2)
        a = S[0]
        for i in range(n):
            r[i] = a[i]
