"""The numba stack machine that runs a custom surface's compiled expression programs.

A custom surface's `kparams` (built by `sim.expression.pack_programs`) holds six postfix
programs: cost, ∂E/∂x, ∂E/∂y, ∂²E/∂x², ∂²E/∂x∂y, ∂²E/∂y². Layout, all float64::

    [0]                 stack depth the programs need
    [1 + 2k], [2 + 2k]  offset (index into kparams) and number of instructions of program k
    [HEADER + 2j], [HEADER + 2j + 1]  instruction j: opcode, operand (a constant for PUSH)

Math domain errors give nan or ±inf, never an exception (DESIGN.md principle 5: the step
loop turns a non-finite step into recorded divergence).

Two interpreters share these programs. `custom_eval` and `custom_hess` run them at one
point (Newton's Hessian, single points). `run3_block` runs them for a block of points at
once, as the step loop needs: the per-instruction dispatch is paid once per block and each
instruction becomes a plain loop over the points that LLVM vectorizes (DESIGN.md, "Kernel
shape decides speed"). Both do the same floating-point operations in the same order for
each point, so they agree to the last bit. Few functions on purpose: each njit function
costs compile time on an empty cache.
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
NOPS = 24


@njit(cache=True, error_model="numpy")
def stack_size(prm):
    """Length of the scratch stack the programs in `prm` need (at least 1)."""
    return max(int(prm[0]), 1)


@njit(cache=True, error_model="numpy")
def _run3(prm, first, x, y, stack):
    """Programs first, first+1, first+2 at (x, y); nan if `stack` is too short."""
    r0 = np.nan
    r1 = np.nan
    r2 = np.nan
    if stack.shape[0] < prm[0]:
        return r0, r1, r2
    for k in range(first, first + 3):
        j = int(prm[1 + 2 * k])
        end = j + 2 * int(prm[2 + 2 * k])
        sp = 0
        while j < end:
            op = int(prm[j])
            if op < FIRST_UNARY:
                if op == PUSH:
                    stack[sp] = prm[j + 1]
                    sp += 1
                elif op == VAR_X:
                    stack[sp] = x
                    sp += 1
                elif op == VAR_Y:
                    stack[sp] = y
                    sp += 1
                else:
                    sp -= 1
                    b = stack[sp]
                    a = stack[sp - 1]
                    if op == ADD:
                        a = a + b
                    elif op == SUB:
                        a = a - b
                    elif op == MUL:
                        a = a * b
                    elif op == DIV:
                        a = a / b
                    else:
                        a = a ** b
                    stack[sp - 1] = a
            else:
                a = stack[sp - 1]
                if op == NEG:
                    a = -a
                elif op == SQR:
                    a = a * a
                elif op == SIN:
                    a = math.sin(a)
                elif op == COS:
                    a = math.cos(a)
                elif op == TAN:
                    a = math.tan(a)
                elif op == EXP:
                    a = math.exp(a)
                elif op == LOG:
                    # Guarded rather than trusting libm: log(0) = -inf, log(<0) = nan.
                    if a > 0.0:
                        a = math.log(a)
                    elif a == 0.0:
                        a = -np.inf
                    else:
                        a = np.nan
                elif op == SQRT:
                    a = math.sqrt(a) if a >= 0.0 else np.nan
                elif op == ABS:
                    a = abs(a)
                elif op == TANH:
                    a = math.tanh(a)
                elif op == SINH:
                    a = math.sinh(a)
                elif op == COSH:
                    a = math.cosh(a)
                elif op == ATAN:
                    a = math.atan(a)
                elif op == SIGMOID:
                    # Both branches keep exp's argument <= 0: no overflow for large |a|.
                    if a >= 0.0:
                        a = 1.0 / (1.0 + math.exp(-a))
                    else:
                        t = math.exp(a)
                        a = t / (1.0 + t)
                elif op == SOFTPLUS:
                    a = max(a, 0.0) + math.log1p(math.exp(-abs(a)))
                elif op == SIGN:
                    if a > 0.0:
                        a = 1.0
                    elif a < 0.0:
                        a = -1.0
                    elif a == 0.0:
                        a = 0.0
                else:
                    a = np.nan
                stack[sp - 1] = a
            j += 2
        if k == first:
            r0 = stack[0]
        elif k == first + 1:
            r1 = stack[0]
        else:
            r2 = stack[0]
    return r0, r1, r2


# The program number is passed as a computed (non-literal) int: a literal 0 and 3 would
# compile _run3 twice, and it is most of this module's compile time.


@njit(cache=True, error_model="numpy")
def custom_eval(prm, x, y, stack):
    """(cost, gx, gy) of the custom surface `prm` at (x, y)."""
    return _run3(prm, stack.shape[0] * 0, x, y, stack)


@njit(cache=True, error_model="numpy")
def custom_hess(prm, x, y, stack):
    """(hxx, hxy, hyy) of the custom surface `prm` at (x, y)."""
    return _run3(prm, stack.shape[0] * 0 + 3, x, y, stack)


@njit(cache=True, error_model="numpy")
def run3_block(prm, first, xs, ys, r0, r1, r2, n, S):
    """Programs first, first+1, first+2 at the points (xs[i], ys[i]), i < n, into r0, r1, r2.

    `S` is the scratch stack, one row per level: at least `stack_size(prm)` rows of at least
    n columns (the results are nan if it is smaller). Each instruction is one loop over the
    points; per point the operations are those of `_run3`, so the results are identical.
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
            if op < FIRST_UNARY:
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
                else:
                    # Library calls and branchy functions share one loop that branches on op
                    # per point: they do not vectorize anyway (a scalar libm call each), the
                    # branch is predicted, and one loop instead of eleven compiles ~0.5 s faster.
                    for i in range(n):
                        u = a[i]
                        if op == SIN:
                            u = math.sin(u)
                        elif op == COS:
                            u = math.cos(u)
                        elif op == TAN:
                            u = math.tan(u)
                        elif op == EXP:
                            u = math.exp(u)
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
