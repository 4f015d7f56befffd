"""Custom cost surfaces from a typed expression, with symbolic derivatives.

Text such as ``(1-x)^2 + 100*(y-x^2)^2`` is parsed by `ast.parse` (parsing only) and the
tree is walked against a whitelist of numbers, names, operators and functions; nothing is
ever evaluated by Python (DESIGN.md, principle 8). The accepted tree becomes a small
immutable expression tree, differentiated symbolically twice, and the six trees (cost,
gradient, Hessian) are compiled to postfix programs packed into one float64 array that the
numba stack machine in `sim/expression_vm.py` runs inside the step loop.

    s = custom_surface("sin(3*x)*cos(2*y) + 0.1*(x^2 + y^2)")
"""

from __future__ import annotations

import ast
import functools
import math
from dataclasses import dataclass

import numpy as np

from sim import expression_vm as vm
from sim import kernels as K
from sim.surfaces import CriticalPoint, Surface, evaluate_points

CUSTOM_NAME = "custom"
DEFAULT_BOX = (-3.0, 3.0, -3.0, 3.0)
MAX_LENGTH = 2000  # characters of text
MAX_NODES = 500  # parts of the parsed expression (numbers, names, operators, calls)
MAX_DEPTH = 60  # nesting levels (a chain a + b + … counts once); the parser recurses per level
MAX_OPS = 50_000  # instructions in any one compiled program (cost or a derivative)

VARIABLES = ("x", "y")
CONSTANTS = {"pi": math.pi, "e": math.e}
FUNCTIONS = ("sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh", "sinh", "cosh", "atan",
             "sigmoid", "softplus", "sign")  # sign: abs's derivative, so printed derivatives read back
_ALIASES = {"arctan": "atan"}


# ----------------------------------------------------------------------------------------
# The expression tree.


class Node:
    """Base of the immutable expression tree."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Const(Node):
    value: float


@dataclass(frozen=True, slots=True)
class Var(Node):
    name: str  # "x" or "y"


@dataclass(frozen=True, slots=True)
class Neg(Node):
    a: Node


@dataclass(frozen=True, slots=True)
class Add(Node):
    a: Node
    b: Node


@dataclass(frozen=True, slots=True)
class Sub(Node):
    a: Node
    b: Node


@dataclass(frozen=True, slots=True)
class Mul(Node):
    a: Node
    b: Node


@dataclass(frozen=True, slots=True)
class Div(Node):
    a: Node
    b: Node


@dataclass(frozen=True, slots=True)
class Pow(Node):
    a: Node
    b: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    fn: str  # one of FUNCTIONS
    a: Node


ZERO = Const(0.0)
ONE = Const(1.0)


# Numerics shared by constant folding and `evaluate_tree`: numpy semantics, so a domain
# error gives nan or inf (as in the numba machine) instead of raising.
def _sigmoid(u):
    t = np.exp(-np.abs(u))
    return np.where(u >= 0, 1.0 / (1.0 + t), t / (1.0 + t))


def _softplus(u):
    return np.maximum(u, 0.0) + np.log1p(np.exp(-np.abs(u)))


_UNARY = {"sin": np.sin, "cos": np.cos, "tan": np.tan, "exp": np.exp, "log": np.log,
          "sqrt": np.sqrt, "abs": np.abs, "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh,
          "atan": np.arctan, "sigmoid": _sigmoid, "softplus": _softplus, "sign": np.sign}
_BINARY = {Add: np.add, Sub: np.subtract, Mul: np.multiply, Div: np.divide, Pow: np.power}


def _fold(f, *args: float) -> Const:
    with np.errstate(all="ignore"):
        return Const(float(f(*(np.float64(a) for a in args))))


def _is(n: Node, v: float) -> bool:
    return isinstance(n, Const) and n.value == v


# Smart constructors: constant folding and the identities that keep derivatives small.
# Each rewrite is exact in floating point, except folding constants together.


def neg(a: Node) -> Node:
    if isinstance(a, Const):
        return Const(-a.value)
    if isinstance(a, Neg):
        return a.a
    if isinstance(a, Sub):
        return Sub(a.b, a.a)
    if isinstance(a, Mul) and isinstance(a.a, Const):
        return Mul(Const(-a.a.value), a.b)
    return Neg(a)


def add(a: Node, b: Node) -> Node:
    if isinstance(a, Const) and isinstance(b, Const):
        return _fold(np.add, a.value, b.value)
    if _is(a, 0.0):
        return b
    if _is(b, 0.0):
        return a
    if _split(b)[0] < 0:  # a + (-2*u) → a - 2*u
        return sub(a, neg(b))
    if _split(a)[0] < 0:
        return sub(b, neg(a))
    return Add(a, b)


def sub(a: Node, b: Node) -> Node:
    if isinstance(a, Const) and isinstance(b, Const):
        return _fold(np.subtract, a.value, b.value)
    if _is(b, 0.0):
        return a
    if _is(a, 0.0):
        return neg(b)
    if _split(b)[0] < 0:
        return add(a, neg(b))
    return Sub(a, b)


def _split(n: Node) -> tuple[float, Node | None]:
    """n as (coefficient, rest): c*rest, -rest or a constant (rest None)."""
    if isinstance(n, Const):
        return n.value, None
    if isinstance(n, Neg):
        c, r = _split(n.a)
        return -c, r
    if isinstance(n, Mul) and isinstance(n.a, Const):
        return n.a.value, n.b
    if isinstance(n, Div) and isinstance(n.a, Const) and n.a.value != 1.0:
        return n.a.value, Div(ONE, n.b)
    return 1.0, n


def mul(a: Node, b: Node) -> Node:
    # Products gather their constant factors in front: 100*(2*u)*(-x) → -200*(u*x).
    ca, ra = _split(a)
    cb, rb = _split(b)
    c = _fold(np.multiply, ca, cb)
    if ra is None or rb is None:
        rest = rb if ra is None else ra
    else:
        rest = Mul(ra, rb)
    if rest is None:
        return c
    if c.value == 0.0:
        return ZERO
    if c.value == 1.0:
        return rest
    if c.value == -1.0:
        return Neg(rest)
    if isinstance(rest, Div) and _is(rest.a, 1.0):
        return Div(c, rest.b)
    return Mul(c, rest)


def div(a: Node, b: Node) -> Node:
    if isinstance(a, Const) and isinstance(b, Const):
        return _fold(np.divide, a.value, b.value)
    if _is(a, 0.0):
        return ZERO
    if _is(b, 1.0):
        return a
    if _is(b, -1.0):
        return neg(a)
    if isinstance(a, Neg):
        return neg(div(a.a, b))
    if isinstance(b, Neg):
        return neg(div(a, b.a))
    if isinstance(a, Const) and a.value < 0:
        return Neg(Div(Const(-a.value), b))
    return Div(a, b)


def power(a: Node, b: Node) -> Node:
    if isinstance(a, Const) and isinstance(b, Const):
        return _fold(np.power, a.value, b.value)
    if _is(b, 0.0) or _is(a, 1.0):
        return ONE
    if _is(b, 1.0):
        return a
    return Pow(a, b)


def call(fn: str, a: Node) -> Node:
    if isinstance(a, Const):
        return _fold(_UNARY[fn], a.value)
    return Call(fn, a)


# ----------------------------------------------------------------------------------------
# Parsing.

_BINOPS = {ast.Add: add, ast.Sub: sub, ast.Mult: mul, ast.Div: div, ast.Pow: power}
_BAD_OPS = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<",
            ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^",
            ast.Not: "not", ast.Invert: "~"}
_WHAT = {ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Slice: "a slice",
         ast.Lambda: "lambda", ast.Compare: "a comparison", ast.BoolOp: "'and'/'or'",
         ast.IfExp: "a conditional (if/else)", ast.Tuple: "a tuple", ast.List: "a list",
         ast.Set: "a set", ast.Dict: "a dict", ast.ListComp: "a comprehension",
         ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
         ast.GeneratorExp: "a generator", ast.NamedExpr: "assignment (:=)",
         ast.JoinedStr: "an f-string", ast.Starred: "unpacking (*)"}


class _Source:
    """The text as typed and as parsed (^ → **), and columns of one in the other."""

    def __init__(self, text: str) -> None:
        self.text = text
        parsed = []
        self.orig = []  # orig[i]: index in `text` of parsed character i
        for i, ch in enumerate(text):
            if ch == "^":
                # Python's ^ binds more loosely than +, so it is replaced before parsing
                # rather than reinterpreted afterwards: x^2 + 1 must mean (x**2) + 1.
                parsed.append("**")
                self.orig += [i, i]
            else:
                # Any whitespace (a line break from a file) is a space: one line, same columns.
                parsed.append(" " if ch.isspace() else ch)
                self.orig.append(i)
        self.orig.append(len(text))
        self.parsed = "".join(parsed)
        lead = len(self.parsed) - len(self.parsed.lstrip(" "))  # Python reads it as an indent
        self.parsed = self.parsed[lead:]
        self.orig = self.orig[lead:]
        self._bytes = None if self.parsed.isascii() else self.parsed.encode("utf-8")

    def char(self, byte_offset: int) -> int:
        """Index in the parsed text of an ast byte offset (ast counts UTF-8 bytes)."""
        if self._bytes is None:
            return byte_offset
        return len(self._bytes[:byte_offset].decode("utf-8", "ignore"))

    def index(self, byte_offset: int) -> int:
        """Index in `text` of an ast byte offset into the parsed text."""
        return self.orig[min(self.char(byte_offset), len(self.orig) - 1)]

    def col(self, node) -> int:
        return self.index(node.col_offset) + 1

    def piece(self, node) -> str:
        end = getattr(node, "end_col_offset", None)
        start = self.index(node.col_offset)
        s = self.text[start:self.index(end)] if end is not None else self.text[start:start + 1]
        return s if len(s) <= 40 else s[:39] + "…"


_LEVEL = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2}


def _check_shape(body: ast.expr) -> None:
    """Size and nesting limits, checked without recursion before the tree is walked.

    A chain a + b - c + … (or a*b/c…) counts as one level: only MAX_NODES bounds it.
    """
    todo = [(body, 1)]
    count = 0
    while todo:
        node, depth = todo.pop()
        count += 1
        if count > MAX_NODES:
            raise ValueError(f"expression is too large (more than {MAX_NODES} parts)")
        if depth > MAX_DEPTH:
            raise ValueError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)")
        for c in ast.iter_child_nodes(node):
            if isinstance(c, ast.expr):
                chain = (isinstance(node, ast.BinOp) and isinstance(c, ast.BinOp) and c is node.left
                         and _LEVEL.get(type(c.op), -1) == _LEVEL.get(type(node.op), -2))
                todo.append((c, depth if chain else depth + 1))


def _op_col(src: _Source, node: ast.BinOp) -> int:
    """Column of a binary operator: the first character after the left operand and ')'s."""
    i = src.char(node.left.end_col_offset or node.col_offset)
    while i < len(src.parsed) and src.parsed[i] in " )":
        i += 1
    return src.orig[min(i, len(src.orig) - 1)] + 1


def _finite(out: Node, node: ast.expr, src: _Source) -> Node:
    if isinstance(out, Const) and not math.isfinite(out.value):
        raise ValueError(f"'{src.piece(node)}' at column {src.col(node)} is not a finite number")
    return out


def _convert(node: ast.expr, src: _Source) -> Node:
    """The whitelisted ast as an expression tree (one frame per level: chains recurse deep)."""
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            kind = "text" if isinstance(v, (str, bytes)) else ("a complex number" if isinstance(v, complex)
                                                              else f"'{src.piece(node)}'")
            raise ValueError(f"{kind} at column {src.col(node)} is not allowed (only numbers, x and y)")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise ValueError(f"number '{src.piece(node)}' at column {src.col(node)} is too large")
        return Const(f)
    if isinstance(node, ast.Name):
        name = node.id
        if name in VARIABLES:
            return Var(name)
        if name in CONSTANTS:
            return Const(CONSTANTS[name])
        if name in FUNCTIONS or name in _ALIASES:
            raise ValueError(f"function '{name}' at column {src.col(node)} must be called, as in {name}(x)")
        raise ValueError(f"unknown name '{name}' at column {src.col(node)} (use x, y, pi, e)")
    if isinstance(node, ast.BinOp):
        build = _BINOPS.get(type(node.op))
        if build is None:
            sym = _BAD_OPS.get(type(node.op), type(node.op).__name__)
            raise ValueError(f"operator '{sym}' at column {_op_col(src, node)} is not allowed "
                             "(use + - * / ^ **)")
        return _finite(build(_convert(node.left, src), _convert(node.right, src)), node, src)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.USub):
            return _finite(neg(_convert(node.operand, src)), node, src)
        if isinstance(node.op, ast.UAdd):
            return _convert(node.operand, src)
        sym = _BAD_OPS.get(type(node.op), type(node.op).__name__)
        raise ValueError(f"operator '{sym}' at column {src.col(node)} is not allowed (use + - * / ^ **)")
    if isinstance(node, ast.Call):
        f = node.func
        if not isinstance(f, ast.Name):
            raise ValueError(f"calling '{src.piece(f)}' at column {src.col(f)} is not allowed "
                             f"(functions: {', '.join(FUNCTIONS)})")
        name = _ALIASES.get(f.id, f.id)
        if name not in FUNCTIONS:
            raise ValueError(f"unknown function '{f.id}' at column {src.col(f)} "
                             f"(functions: {', '.join(FUNCTIONS)})")
        if node.keywords:
            k = node.keywords[0]
            raise ValueError(f"keyword argument '{src.piece(k)}' at column {src.col(k)} is not allowed")
        if len(node.args) != 1:
            raise ValueError(f"{f.id} at column {src.col(f)} takes exactly one argument, "
                             f"not {len(node.args)}")
        return _finite(call(name, _convert(node.args[0], src)), node, src)
    what = _WHAT.get(type(node), type(node).__name__)
    raise ValueError(f"{what} '{src.piece(node)}' at column {src.col(node)} is not allowed")


def parse_expression(text: str) -> Node:
    """Parse and validate `text` into an expression tree; ValueError says what and where."""
    if not isinstance(text, str):
        raise ValueError(f"an expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression is too long ({len(text)} characters; at most {MAX_LENGTH})")
    if not text.strip():
        raise ValueError("expression is empty")
    if "\x00" in text:
        raise ValueError(f"null character at column {text.index(chr(0)) + 1}")
    src = _Source(text)
    try:
        tree = ast.parse(src.parsed, mode="eval")
    except SyntaxError as e:
        where = (f" at column {src.orig[min(e.offset - 1, len(src.orig) - 1)] + 1}" if e.offset
                 else " at the end")
        raise ValueError(f"syntax error{where}: {e.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ValueError("expression cannot be parsed (nested too deeply?)") from None
    _check_shape(tree.body)
    return _convert(tree.body, src)


# ----------------------------------------------------------------------------------------
# Symbolic derivatives.


def _dfunc(fn: str, u: Node, node: Node) -> Node:
    """f'(u) for node = f(u)."""
    if fn == "sin":
        return call("cos", u)
    if fn == "cos":
        return neg(call("sin", u))
    if fn == "tan":
        return add(ONE, power(node, Const(2.0)))
    if fn == "exp":
        return node
    if fn == "log":
        return div(ONE, u)
    if fn == "sqrt":
        return div(Const(0.5), node)
    if fn == "abs":
        return call("sign", u)
    if fn == "tanh":
        return sub(ONE, power(node, Const(2.0)))
    if fn == "sinh":
        return call("cosh", u)
    if fn == "cosh":
        return call("sinh", u)
    if fn == "atan":
        return div(ONE, add(ONE, power(u, Const(2.0))))
    if fn == "sigmoid":
        return mul(node, sub(ONE, node))
    if fn == "softplus":
        return call("sigmoid", u)
    if fn == "sign":
        return ZERO
    raise ValueError(f"no derivative for function {fn!r}")


def _kids(n: Node) -> tuple[Node, ...]:
    if isinstance(n, (Const, Var)):
        return ()
    if isinstance(n, (Neg, Call)):
        return (n.a,)
    return (n.a, n.b)  # type: ignore[attr-defined]


def _postorder(node: Node):
    """Each distinct subtree once, children first, without recursion (trees can be deep)."""
    seen: set[int] = set()
    todo: list[tuple[Node, bool]] = [(node, False)]
    while todo:
        n, ready = todo.pop()
        if id(n) in seen:
            continue
        if ready:
            seen.add(id(n))
            yield n
        else:
            todo.append((n, True))
            todo.extend((k, False) for k in reversed(_kids(n)) if id(k) not in seen)


def derivative(node: Node, var: str) -> Node:
    """∂node/∂var (var is 'x' or 'y'), simplified."""
    if var not in VARIABLES:
        raise ValueError(f"can differentiate by x or y, not {var!r}")
    memo: dict[int, Node] = {}  # id → derivative; shared subtrees are differentiated once
    for n in _postorder(node):
        if isinstance(n, Const):
            r = ZERO
        elif isinstance(n, Var):
            r = ONE if n.name == var else ZERO
        elif isinstance(n, Neg):
            r = neg(memo[id(n.a)])
        elif isinstance(n, Call):
            r = mul(_dfunc(n.fn, n.a, n), memo[id(n.a)])
        else:
            a, b = n.a, n.b  # type: ignore[attr-defined]
            da, db = memo[id(a)], memo[id(b)]
            if isinstance(n, Add):
                r = add(da, db)
            elif isinstance(n, Sub):
                r = sub(da, db)
            elif isinstance(n, Mul):
                r = add(mul(da, b), mul(a, db))
            elif isinstance(n, Div):
                r = sub(div(da, b), div(mul(a, db), power(b, Const(2.0))))
            elif isinstance(b, Const):  # u^n: n u^(n-1) u'
                r = mul(mul(b, power(a, Const(b.value - 1.0))), da)
            else:  # u^v: u^v (v' log u + v u'/u)
                r = mul(n, add(mul(db, call("log", a)), div(mul(b, da), a)))
        memo[id(n)] = r
    return memo[id(node)]


# ----------------------------------------------------------------------------------------
# Evaluation in numpy (the reference for the numba machine) and printing.


def evaluate_tree(node: Node, x, y) -> np.ndarray:
    """The tree's value at points (x, y broadcast together), in plain numpy."""
    xs, ys = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    val: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for n in _postorder(node):
            if isinstance(n, Const):
                r = np.full(xs.shape, n.value)
            elif isinstance(n, Var):
                r = xs if n.name == "x" else ys
            elif isinstance(n, Neg):
                r = -val[id(n.a)]
            elif isinstance(n, Call):
                r = _UNARY[n.fn](val[id(n.a)])
            elif isinstance(n, Pow) and _is(n.b, 2.0):
                r = val[id(n.a)] * val[id(n.a)]  # as the machine's SQR
            else:
                r = _BINARY[type(n)](val[id(n.a)], val[id(n.b)])  # type: ignore[attr-defined]
            val[id(n)] = r
    return np.asarray(val[id(node)], float)


_PREC = {Add: 1, Sub: 1, Mul: 2, Div: 2, Neg: 3, Pow: 4}
_SYM = {Add: " + ", Sub: " - ", Mul: "*", Div: "/"}


def format_expression(node: Node) -> str:
    """The tree as text that `parse_expression` reads back (^ for powers)."""

    def fmt(n: Node, need: int) -> str:
        if isinstance(n, Const):
            v = n.value
            s = str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)
            prec = 3 if v < 0 else 5
        elif isinstance(n, Var):
            s, prec = n.name, 5
        elif isinstance(n, Call):
            s, prec = f"{n.fn}({fmt(n.a, 0)})", 5
        elif isinstance(n, Neg):
            s, prec = "-" + fmt(n.a, 3), 3
        elif isinstance(n, Pow):
            s, prec = f"{fmt(n.a, 5)}^{fmt(n.b, 4)}", 4
        else:
            p = _PREC[type(n)]
            right = p + 1 if isinstance(n, (Sub, Div)) else p
            s, prec = f"{fmt(n.a, p)}{_SYM[type(n)]}{fmt(n.b, right)}", p
        return f"({s})" if prec < need else s

    return fmt(node, 0)


# ----------------------------------------------------------------------------------------
# Compilation to the numba machine's programs.

_OPCODE = {Add: vm.ADD, Sub: vm.SUB, Mul: vm.MUL, Div: vm.DIV, Pow: vm.POW}
_FUNC_OP = {"sin": vm.SIN, "cos": vm.COS, "tan": vm.TAN, "exp": vm.EXP, "log": vm.LOG,
            "sqrt": vm.SQRT, "abs": vm.ABS, "tanh": vm.TANH, "sinh": vm.SINH, "cosh": vm.COSH,
            "atan": vm.ATAN, "sigmoid": vm.SIGMOID, "softplus": vm.SOFTPLUS, "sign": vm.SIGN}


def _children(n: Node) -> tuple[Node, ...]:
    if isinstance(n, (Const, Var)):
        return ()
    if isinstance(n, (Neg, Call)) or (isinstance(n, Pow) and _is(n.b, 2.0)):
        return (n.a,)  # x^2 is one SQR instruction: its exponent is not emitted
    return (n.a, n.b)


def _instruction(n: Node) -> tuple[int, float]:
    if isinstance(n, Const):
        return vm.PUSH, n.value
    if isinstance(n, Var):
        return (vm.VAR_X if n.name == "x" else vm.VAR_Y), 0.0
    if isinstance(n, Neg):
        return vm.NEG, 0.0
    if isinstance(n, Call):
        return _FUNC_OP[n.fn], 0.0
    if isinstance(n, Pow) and _is(n.b, 2.0):
        return vm.SQR, 0.0
    return _OPCODE[type(n)], 0.0


def _group_programs(trees) -> tuple[list[list[tuple[int, float]]], int, int]:
    """Postfix programs of trees that run one after the other on the same scratch, with
    the subexpressions they share computed once: the first time a shared subtree is
    reached it is computed and STOREd in a register, later it is LOADed (sin(3x) of E(x, y)
    reappears in ∂E/∂x and ∂E/∂y). Equal subtrees compute the same bits, so this changes
    no value. Returns the programs (register operands numbered from 0), the stack depth
    they need and the number of registers. No recursion: trees can be deep."""
    # Structural identity of every subtree as a small int, memoized by object.
    ident: dict[int, int] = {}
    table: dict[tuple, int] = {}

    def key(root: Node) -> int:
        todo = [(root, False)]
        while todo:
            n, ready = todo.pop()
            if id(n) in ident:
                continue
            kids = _children(n)
            if ready or not kids:
                payload = n.value if isinstance(n, Const) else (n.name if isinstance(n, Var) else
                                                                  (n.fn if isinstance(n, Call) else None))
                sig = (type(n).__name__, payload, *(ident[id(c)] for c in kids))
                ident[id(n)] = table.setdefault(sig, len(table))
            else:
                todo.append((n, True))
                todo.extend((c, False) for c in reversed(kids))
        return ident[id(root)]

    for t in trees:
        key(t)
    # How often the emission reaches each subtree: it descends into a subtree only the
    # first time, so a shared subtree's insides count once.
    reach: dict[int, int] = {}
    for t in trees:
        todo = [t]
        while todo:
            n = todo.pop()
            k = ident[id(n)]
            reach[k] = reach.get(k, 0) + 1
            if reach[k] == 1:
                todo.extend(reversed(_children(n)))
    registers: dict[int, int] = {}
    programs: list[list[tuple[int, float]]] = []
    top = 0
    for t in trees:
        code: list[tuple[int, float]] = []
        depth = 0
        todo = [(t, False)]
        while todo:
            n, ready = todo.pop()
            k = ident[id(n)]
            kids = _children(n)
            if not ready and k in registers:
                code.append((vm.LOAD, float(registers[k])))
                depth += 1
            elif ready or not kids:
                code.append(_instruction(n))
                depth += 1 - len(kids)
                if kids and reach[k] > 1:
                    registers[k] = len(registers)
                    code.append((vm.STORE, float(registers[k])))
            else:
                todo.append((n, True))
                todo.extend((c, False) for c in reversed(kids))
            top = max(top, depth)
            if len(code) > MAX_OPS:
                raise ValueError(f"expression is too complex: its derivatives need more than {MAX_OPS} "
                                 "operations")
        programs.append(code)
    return programs, top, len(registers)


def pack_programs(trees) -> np.ndarray:
    """The six trees (cost, gx, gy, hxx, hxy, hyy) as one kparams array (see expression_vm).

    The two groups that run together, (cost, gx, gy) and the Hessian's three, share their
    common subexpressions through registers, stored after the deepest stack."""
    if len(trees) != vm.NPROGRAMS:
        raise ValueError(f"expected {vm.NPROGRAMS} trees")
    groups = [_group_programs(trees[:3]), _group_programs(trees[3:])]
    base = max(top for _, top, _ in groups)
    progs = []
    for codes, _, _ in groups:
        for code in codes:
            progs.append([(op, base + v) if op in (vm.LOAD, vm.STORE) else (op, v) for op, v in code])
    total = sum(len(c) for c in progs)
    kp = np.empty(vm.HEADER + 2 * total)
    kp[0] = base + max(nreg for _, _, nreg in groups)
    pos = vm.HEADER
    for k, code in enumerate(progs):
        kp[1 + 2 * k] = pos
        kp[2 + 2 * k] = len(code)
        if code:
            kp[pos:pos + 2 * len(code)] = np.asarray(code, float).ravel()
        pos += 2 * len(code)
    return kp


@dataclass(frozen=True, eq=False)
class CompiledExpression:
    """An expression's trees (cost, gradient, Hessian) and the packed kernel programs."""

    text: str
    cost: Node
    gx: Node
    gy: Node
    hxx: Node
    hxy: Node
    hyy: Node
    kparams: np.ndarray

    @property
    def trees(self) -> tuple[Node, ...]:
        return (self.cost, self.gx, self.gy, self.hxx, self.hxy, self.hyy)


@functools.lru_cache(maxsize=128)
def compile_expression(text: str) -> CompiledExpression:
    """Parse, differentiate twice and pack `text`; ValueError if it is not acceptable."""
    cost = parse_expression(text)
    gx = derivative(cost, "x")
    gy = derivative(cost, "y")
    hxx = derivative(gx, "x")
    hxy = derivative(gx, "y")
    hyy = derivative(gy, "y")
    kparams = pack_programs((cost, gx, gy, hxx, hxy, hyy))
    return CompiledExpression(text, cost, gx, gy, hxx, hxy, hyy, kparams)


# ----------------------------------------------------------------------------------------
# The surface.


def check_box(box) -> tuple[float, float, float, float]:
    """`box` as (x0, x1, y0, y1) floats, finite with x0 < x1 and y0 < y1, or ValueError."""
    try:
        vals = tuple(box)
    except TypeError:
        raise ValueError(f"box must be four numbers x0, x1, y0, y1, not {box!r}") from None
    if len(vals) != 4 or any(isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer))
                             for v in vals):
        raise ValueError(f"box must be four numbers x0, x1, y0, y1, not {box!r}")
    x0, x1, y0, y1 = (float(v) for v in vals)
    if not all(math.isfinite(v) for v in (x0, x1, y0, y1, x1 - x0, y1 - y0)):
        raise ValueError(f"box must be finite, not {box!r}")
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"box needs x0 < x1 and y0 < y1, not {box!r}")
    return x0, x1, y0, y1


def _check_start(start) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in start)
    except (TypeError, ValueError):
        raise ValueError(f"start must be two numbers x, y, not {start!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"start must be finite, not {start!r}")
    return x, y


_X = np.zeros((1, 2))
_T = np.zeros(1)


def _default_start(kparams: np.ndarray, box) -> tuple[float, float]:
    """A quarter in from the top-left corner, else from another corner, else the centre:
    the first of these where E and ∇E are finite and ∇E ≠ 0."""
    x0, x1, y0, y1 = box
    qx, qy = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
    pts = [(x0 + qx, y1 - qy), (x1 - qx, y1 - qy), (x0 + qx, y0 + qy), (x1 - qx, y0 + qy),
           (0.5 * (x0 + x1), 0.5 * (y0 + y1))]
    ev = evaluate_points(K.CUSTOM, kparams, _X, _T, [p[0] for p in pts], [p[1] for p in pts],
                         hessian=False)
    for i, p in enumerate(pts):
        c, gx, gy = ev[:, i]
        if math.isfinite(c) and math.isfinite(gx) and math.isfinite(gy) and math.hypot(gx, gy) > 1e-8:
            return p
    return pts[0]


# The search for a custom surface's critical points: Newton from a 9×9 grid of guesses
# finds saddles (descent never stops at one), and descent from a DESCENT_GRID² grid of
# starts finds the minima, however many basins the box holds (a Rastrigin-like E in a
# ±5 box has 121), before Newton polishes them.
DESCENT_GRID = 40
DESCENT_STEPS = 300
DESCENT_LR = 0.003  # Adam's step, as a fraction of the box: scale-free in E


def _newton(kparams: np.ndarray, xs: np.ndarray, ys: np.ndarray, iters: int = 40):
    """Newton's method from every point at once: (x, y, cost, hxx, hxy, hyy, |∇E|) after
    `iters` steps; a point whose Hessian is singular or whose step leaves the finite
    numbers stops where it was."""
    x = np.array(xs, float)
    y = np.array(ys, float)
    live = np.ones(x.size, bool)
    ev = evaluate_points(K.CUSTOM, kparams, _X, _T, x, y)
    with np.errstate(all="ignore"):
        for _ in range(iters):
            c, gx, gy, hxx, hxy, hyy = ev
            det = hxx * hyy - hxy * hxy
            dx = (hyy * gx - hxy * gy) / det
            dy = (hxx * gy - hxy * gx) / det
            nx, ny = x - dx, y - dy
            live &= np.isfinite(nx) & np.isfinite(ny) & (det != 0) & (np.hypot(gx, gy) > 1e-13)
            if not live.any():
                break
            x = np.where(live, nx, x)
            y = np.where(live, ny, y)
            ev = evaluate_points(K.CUSTOM, kparams, _X, _T, x, y)
    c, gx, gy, hxx, hxy, hyy = ev
    return x, y, c, hxx, hxy, hyy, np.hypot(gx, gy)


def _descent_ends(kparams: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    """Where Adam ends from a grid of starts over the box (the ones that stayed finite)."""
    from sim.optimizers import OptimizerConfig
    from sim.simulate import simulate_batch

    x0, x1, y0, y1 = box
    size = max(x1 - x0, y1 - y0)
    g = DESCENT_GRID
    sx, sy = np.meshgrid(np.linspace(x0, x1, g + 2)[1:-1], np.linspace(y0, y1, g + 2)[1:-1])
    starts = np.column_stack([sx.ravel(), sy.ravel()])
    probe = Surface(CUSTOM_NAME, K.CUSTOM, {}, kparams, _X, _T, box, (float(sx[0, 0]), float(sy[0, 0])),
                    (), (), "", "")
    res = simulate_batch(probe, OptimizerConfig("adam", lr=DESCENT_LR * size), starts, DESCENT_STEPS,
                         parallel=False)
    ok = ~res.diverged & np.isfinite(res.final_cost)
    return res.final_theta[ok, 0], res.final_theta[ok, 1]


def _critical_points(kparams: np.ndarray, box, start) -> tuple[tuple[CriticalPoint, ...],
                                                                 tuple[CriticalPoint, ...]]:
    """Minima and saddles refined by Newton from a 9×9 grid of guesses, the start and the
    ends of a descent from a grid of starts, kept if inside the box widened by 10% of its
    size on each side."""
    x0, x1, y0, y1 = box
    gx, gy = np.meshgrid(np.linspace(x0, x1, 9), np.linspace(y0, y1, 9))
    dx, dy = _descent_ends(kparams, box)
    xs = np.concatenate([gx.ravel(), [start[0]], dx])
    ys = np.concatenate([gy.ravel(), [start[1]], dy])
    # Newton from a point where E is not finite has nowhere to go: skip those guesses.
    ok = np.all(np.isfinite(evaluate_points(K.CUSTOM, kparams, _X, _T, xs, ys)), axis=0)
    x, y, c, hxx, hxy, hyy, gnorm = _newton(kparams, xs[ok], ys[ok])
    found: list[CriticalPoint] = []
    with np.errstate(all="ignore"):
        m = 0.5 * (hxx + hyy)
        rad = np.hypot(0.5 * (hxx - hyy), hxy)
        lo, hi = m - rad, m + rad  # the Hessian's eigenvalues
    # Coordinates within rounding of zero (Newton leaves 1e-21 for 0) are zero.
    tiny = 1e-12 * max(x1 - x0, y1 - y0, abs(x0), abs(x1), abs(y0), abs(y1))
    x = np.where(np.abs(x) < tiny, 0.0, x)
    y = np.where(np.abs(y) < tiny, 0.0, y)
    for i in np.flatnonzero(np.isfinite(c) & (gnorm <= 1e-6) & (hi > 0)):
        found.append(CriticalPoint(float(x[i]), float(y[i]), float(c[i]), "min" if lo[i] > 0 else "saddle"))
    wx, wy = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
    tol = 1e-4 * max(x1 - x0, y1 - y0)  # flat minima (x^4) stop Newton a little apart
    kept: list[CriticalPoint] = []
    cells: dict[tuple[str, int, int], list[CriticalPoint]] = {}  # kept points by tol-sized cell
    for p in sorted(found, key=lambda p: p.cost):
        if not (math.isfinite(p.cost) and x0 - wx <= p.x <= x1 + wx and y0 - wy <= p.y <= y1 + wy):
            continue
        ix, iy = math.floor(p.x / tol), math.floor(p.y / tol)
        near = (q for a in (-1, 0, 1) for b in (-1, 0, 1) for q in cells.get((p.kind, ix + a, iy + b), ()))
        if any(math.hypot(p.x - q.x, p.y - q.y) < tol for q in near):
            continue
        kept.append(p)
        cells.setdefault((p.kind, ix, iy), []).append(p)
    sads = [p for p in kept if p.kind == "saddle"]
    if sads:
        # A valley floor (x^2) has a singular Hessian: no saddle, though Newton stops there.
        ev = evaluate_points(K.CUSTOM, kparams, _X, _T, [p.x for p in sads], [p.y for p in sads])
        eig = [np.linalg.eigvalsh([[h[3], h[4]], [h[4], h[5]]]) for h in ev.T]
        sads = [p for p, e in zip(sads, eig) if e[0] < -1e-9 * abs(e[1]) and e[1] > 1e-9 * abs(e[0])]
    mins = [p for p in kept if p.kind == "min"]
    lowest = min((m.cost for m in mins), default=0.0)
    minima = [CriticalPoint(m.x, m.y, m.cost, "global" if m.cost <= lowest + 1e-9 * (1 + abs(lowest))
                            else "local") for m in mins]
    minima.sort(key=lambda m: (m.kind != "global", m.cost, m.x, m.y))
    saddles = sorted(sads, key=lambda p: (p.cost, p.x, p.y))
    return tuple(minima), tuple(saddles)


_CACHE: dict[tuple, Surface] = {}


def custom_surface(expr: str, box=DEFAULT_BOX, start=None) -> Surface:
    """The surface E(x, y) = `expr` on `box` (x0, x1, y0, y1); ValueError for bad input.

    `start` defaults to a point a quarter in from the box's top-left corner (or from another
    corner, or the centre, if E is not finite or stationary there). Built surfaces are cached.
    """
    if not isinstance(expr, str):
        raise ValueError(f"an expression must be text, not {type(expr).__name__}")
    text = expr.strip()
    b = check_box(box)
    s = None if start is None else _check_start(start)
    key = (text, b, s)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    comp = compile_expression(text)
    kparams = comp.kparams
    s = s or _default_start(kparams, b)
    minima, saddles = _critical_points(kparams, b, s)
    surf = Surface(CUSTOM_NAME, K.CUSTOM, {}, kparams, _X, _T, b, s, minima, saddles,
                   f"Custom: {text}", f"E(x, y) = {text}", expr=text)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = surf
    return surf
