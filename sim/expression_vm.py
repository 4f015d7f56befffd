"""The numba stack machine that runs a custom surface's compiled expression programs.

A custom surface's `kparams` (built by `sim.expression.pack_programs`) holds six postfix
programs: cost, ∂E/∂x, ∂E/∂y, ∂²E/∂x², ∂²E/∂x∂y, ∂²E/∂y². Layout, all float64::

    [0]                 stack depth the programs need
    [1 + 2k], [2 + 2k]  offset (index into kparams) and number of instructions of program k
    [HEADER + 2j], [HEADER + 2j + 1]  instruction j: opcode, operand (a constant for PUSH)

Math domain errors give nan or ±inf, never an exception (DESIGN.md principle 5: the step
loop turns a non-finite step into recorded divergence). Three small functions only: each
njit function costs compile time on an empty cache.
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
