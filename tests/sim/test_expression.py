"""Custom surfaces from a safe expression: parser, symbolic derivatives, numba machine, runs."""

from __future__ import annotations

import builtins
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from sim import OptimizerConfig, make_surface, simulate, simulate_batch
from sim import expression_vm as vm
from sim import kernels as K
from sim.expression import (
    CUSTOM_NAME,
    MAX_LENGTH,
    Add,
    Const,
    Pow,
    Var,
    compile_expression,
    custom_surface,
    derivative,
    evaluate_tree,
    format_expression,
    pack_programs,
    parse_expression,
)
from sim.fma import fma_array
from sim.scenario import (
    Run,
    Scenario,
    ScenarioError,
    from_dict,
    load_scenario,
    save_scenario,
    simulate_scenario,
    to_dict,
)
from sim.simulate import basins

ROSENBROCK = "(1-x)^2 + 100*(y-x^2)^2"

# Expressions exercising every function and operator, smooth on the box (-3, 3)².
VARIED = [
    ROSENBROCK,
    "sin(3*x)*cos(2*y) + 0.1*(x**2+y**2)",
    "exp(-(x^2+y^2)/2) * (x - y)",
    "log(1 + x^2 + y^2) + sqrt(4 + x^2*y^2)",
    "tanh(x*y) + sinh(x/3) - cosh(y/4)",
    "atan(x - 2*y) + arctan(y)^2",
    "sigmoid(3*x - y) * softplus(x + y)",
    "(x^2 + 1)^(y/3 + 1)",
    "x^3/(1 + y^2) - 2^x*y",
    "tan(x/4) + abs(y - 5)^1.5 + e^(x/5)*pi",
    "x*y/(1 + x^2 + y^2) - 1/(2 + cos(x + y))",
    "-(x - 1)^4 / 3 + -y + 2^-1*x*y",
]

# Built-in surfaces typed as expressions: (name, params, expression).
BUILT_IN = [
    ("rosenbrock", {}, ROSENBROCK),
    ("himmelblau", {}, "(x^2 + y - 11)^2 + (x + y^2 - 7)^2"),
    ("six_hump_camel", {}, "(4 - 2.1*x^2 + x^4/3)*x^2 + x*y + (-4 + 4*y^2)*y^2"),
    ("beale", {}, "(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2"),
    ("two_minima", {}, "(x^2 - 1)^2 + 0.3*x + (y - x^2/2)^2"),
    ("saddle", {}, "x^2 + y^4/4 - y^2/2"),
    ("plateau", {}, "1 - exp(-(x^2 + y^2)/2)"),
    ("rastrigin", {}, "20 + x^2 - 10*cos(2*pi*x) + y^2 - 10*cos(2*pi*y)"),
    ("quadratic", {"kappa": 10.0}, "0.5*(x^2 + 10*y^2)"),
]

FIELDS = ("cost", "gx", "gy", "hxx", "hxy", "hyy")


def _close(a, b, rtol):
    """Equal to `rtol` of the field's magnitude (cancellation makes pointwise rtol too strict)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    scale = max(1.0, float(np.max(np.abs(b))))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def _points(rng, box=(-3.0, 3.0, -3.0, 3.0), n=200):
    x0, x1, y0, y1 = box
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


# ----------------------------------------------------------------------------------------
# Parser


@pytest.mark.parametrize("text, x, y, value", [
    ("(1-x)^2 + 100*(y-x^2)^2", 0.5, 0.5, 0.25 + 100 * 0.0625),
    ("sin(3*x)*cos(2*y) + 0.1*(x**2+y**2)", 0.3, -0.2, math.sin(0.9) * math.cos(-0.4) + 0.1 * 0.13),
    ("x^2 + 1", 2.0, 0.0, 5.0),  # ^ is a power binding tighter than +, not Python's xor
    ("-x^2", 3.0, 0.0, -9.0),
    ("2^3^2", 0.0, 0.0, 512.0),
    ("2^-1*x", 4.0, 0.0, 2.0),
    ("pi*e + x", 1.0, 0.0, math.pi * math.e + 1.0),
    ("arctan(x) - atan(y)", 1.0, 1.0, 0.0),
    ("  x\n  + y  ", 1.0, 2.0, 3.0),
    ("+x - -y", 1.0, 2.0, 3.0),
    ("3", 5.0, 5.0, 3.0),
    ("1e-3*x + 2E2", 1000.0, 0.0, 201.0),
    ("sigmoid(0) + softplus(0)", 0.0, 0.0, 0.5 + math.log(2.0)),
    ("sign(x) + abs(y)", -2.0, -3.0, 2.0),
])
def test_parser_accepts_what_users_type(text, x, y, value):
    tree = parse_expression(text)
    assert float(evaluate_tree(tree, x, y)) == pytest.approx(value, rel=1e-14, abs=1e-14)


BAD = [
    ("__import__('os')", "unknown function '__import__' at column 1"),
    ("__import__('os').system('ls')", "'__import__('os').system' at column 1"),
    ("x.real", "attribute access 'x.real' at column 1"),
    ("().__class__", "attribute access"),
    ("y.__class__.__bases__[0].__subclasses__()", "not allowed"),
    ("open('f')", "unknown function 'open' at column 1"),
    ("eval('1')", "unknown function 'eval'"),
    ("exec('1')", "unknown function 'exec'"),
    ("globals()", "unknown function 'globals'"),
    ("lambda: 1", "lambda"),
    ("(lambda: x)()", "calling"),
    ("'x'", "text at column 1"),
    ("b'x'", "text at column 1"),
    ("x if y else 1", "conditional"),
    ("x < y", "comparison"),
    ("x == 1", "comparison"),
    ("x and y", "'and'/'or'"),
    ("not x", "operator 'not' at column 1"),
    ("~x", "operator '~' at column 1"),
    ("x % 2", "operator '%' at column 3"),
    ("(x) // 2", "operator '//' at column 5"),
    ("x @ y", "operator '@'"),
    ("x | y", "operator '|'"),
    ("x + z", "unknown name 'z' at column 5 (use x, y, pi, e)"),
    ("x^2 + q", "unknown name 'q' at column 7"),  # columns count the text as typed
    ("é + x", "unknown name 'é' at column 1"),
    ("sin", "function 'sin' at column 1 must be called"),
    ("foo(x)", "unknown function 'foo' at column 1"),
    ("sin(x, y)", "sin at column 1 takes exactly one argument, not 2"),
    ("sin()", "takes exactly one argument, not 0"),
    ("sin(x=1)", "keyword argument 'x=1' at column 5"),
    ("sin(*x)", "unpacking"),
    ("x(1)", "unknown function 'x'"),
    ("x[0]", "indexing"),
    ("[x]", "a list"),
    ("(x, y)", "a tuple"),
    ("{x}", "a set"),
    ("{x: 1}", "a dict"),
    ("[i for i in x]", "comprehension"),
    ("f'{x}'", "f-string"),
    ("(x := 1)", "assignment"),
    ("True + x", "'True' at column 1 is not allowed"),
    ("1j*x", "complex number"),
    ("1e999*x", "number '1e999' at column 1 is too large"),
    ("10**400 + x", "'10**400' at column 1 is not a finite number"),
    ("x + log(0)", "'log(0)' at column 5 is not a finite number"),
    ("x + sqrt(-1)", "not a finite number"),
    ("1/0", "not a finite number"),
    ("", "empty"),
    ("   ", "empty"),
    ("x +", "syntax error at the end"),
    ("sin(x", "syntax error at column 4: '(' was never closed"),
    ("x y", "syntax error at column 3"),
    ("x\x00", "null character at column 2"),
    ("x" * (MAX_LENGTH + 1), "too long"),
    ("x" + "+x" * 300, "too large"),
    ("sin(" * 70 + "x" + ")" * 70, "nested too deeply"),
    ("-" * 1999 + "x", "x"),
    ("(" * 250 + "x" + ")" * 250, "syntax error"),
]


@pytest.mark.parametrize("text, words", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_parser_rejects_everything_else_with_a_clear_message(text, words):
    with pytest.raises(ValueError) as info:
        parse_expression(text)
    msg = str(info.value)
    assert words in msg, msg
    assert "\n" not in msg and len(msg) < 300


def test_non_text_is_rejected():
    for bad in (None, 3, b"x", ["x"]):
        with pytest.raises(ValueError, match="text"):
            parse_expression(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="text"):
            custom_surface(bad)  # type: ignore[arg-type]


def test_nothing_is_executed(tmp_path, monkeypatch):
    """Parsing, differentiating and running a hostile text never calls eval or exec."""
    marker = tmp_path / "pwned"

    def refuse(*args, **kwargs):
        raise AssertionError("eval/exec called")

    hostile = (f"__import__('os').system('touch {marker}')", f"open('{marker}', 'w')",
               "().__class__.__bases__[0].__subclasses__()", "x.__class__", "exit()")
    with monkeypatch.context() as m:  # only around our code: imports use exec
        m.setattr(builtins, "eval", refuse)
        m.setattr(builtins, "exec", refuse)
        for text in hostile:
            with pytest.raises(ValueError):
                compile_expression(text)
        compile_expression("x^2 + y^2 + log(1 + x^2) + 0.125")
    for text in hostile:
        with pytest.raises(ValueError):
            custom_surface(text)
    s = custom_surface("x^2 + y^2 + log(1 + x^2) + 0.125")
    simulate(s, OptimizerConfig("gd", lr=0.1), steps=5)
    assert not marker.exists()


def test_compiled_programs_are_cached_and_results_immutable():
    a = compile_expression("x^2 + y^2")
    assert compile_expression("x^2 + y^2") is a
    with pytest.raises(AttributeError):
        a.cost.a = Var("y")  # type: ignore[misc]


# ----------------------------------------------------------------------------------------
# Symbolic derivatives


def test_simplification_keeps_derivatives_small():
    x, y = Var("x"), Var("y")
    assert derivative(parse_expression("x^2"), "x") == parse_expression("2*x")
    assert derivative(parse_expression("x^2"), "y") == Const(0.0)
    assert derivative(parse_expression("3*x + 0*y^5 + 1"), "x") == Const(3.0)
    assert derivative(parse_expression("x*y"), "x") == y
    assert derivative(parse_expression("--x"), "x") == Const(1.0)
    assert parse_expression("x^1*1 + 0") == x
    assert parse_expression("x^0") == Const(1.0)
    assert parse_expression("(x + y)^2") == Pow(Add(x, y), Const(2.0))
    # Rosenbrock's whole Hessian stays a handful of operations.
    c = compile_expression(ROSENBROCK)
    assert len(format_expression(c.hxx)) < 40
    assert format_expression(c.hxy) == "-400*x"
    assert c.hyy == Const(200.0)


@pytest.mark.parametrize("text", VARIED)
def test_gradient_and_hessian_match_finite_differences(text, rng):
    c = compile_expression(text)
    x, y = _points(rng)
    h = 1e-5 * (1.0 + np.abs(x))
    k = 1e-5 * (1.0 + np.abs(y))

    def f(tree, a, b):
        return evaluate_tree(tree, a, b)

    fd_gx = (f(c.cost, x + h, y) - f(c.cost, x - h, y)) / (2 * h)
    fd_gy = (f(c.cost, x, y + k) - f(c.cost, x, y - k)) / (2 * k)
    _close(f(c.gx, x, y), fd_gx, 1e-6)
    _close(f(c.gy, x, y), fd_gy, 1e-6)
    _close(f(c.hxx, x, y), (f(c.gx, x + h, y) - f(c.gx, x - h, y)) / (2 * h), 1e-6)
    _close(f(c.hxy, x, y), (f(c.gx, x, y + k) - f(c.gx, x, y - k)) / (2 * k), 1e-6)
    _close(f(c.hxy, x, y), (f(c.gy, x + h, y) - f(c.gy, x - h, y)) / (2 * h), 1e-6)
    _close(f(c.hyy, x, y), (f(c.gy, x, y + k) - f(c.gy, x, y - k)) / (2 * k), 1e-6)


@pytest.mark.parametrize("name, params, text", BUILT_IN, ids=[b[0] for b in BUILT_IN])
def test_built_in_surfaces_typed_as_expressions_match(name, params, text, rng):
    ref = make_surface(name, **params)
    s = custom_surface(text, box=ref.box)
    x, y = _points(rng, ref.box, 300)
    a = s.evaluate(x, y)
    b = ref.evaluate(x, y)
    for k in FIELDS:
        _close(a[k], b[k], 1e-12)
    # The same critical points are found (of Rastrigin's 121 minima, those near the 9×9 grid).
    if name != "rastrigin":
        assert len(s.minima) == len(ref.minima)
    assert len(s.minima) > 0
    for m in s.minima:
        i, dist = ref.nearest_minimum(m.x, m.y)
        assert dist < 1e-7 and ref.minima[i].kind == m.kind, (m, ref.minima)


@pytest.mark.parametrize("text", VARIED)
def test_printed_derivatives_read_back(text, rng):
    x, y = _points(rng, n=50)
    for tree in compile_expression(text).trees:
        back = parse_expression(format_expression(tree))
        _close(evaluate_tree(back, x, y), evaluate_tree(tree, x, y), 1e-13)


# ----------------------------------------------------------------------------------------
# The compiled form and the numba machine


def test_kparams_layout():
    c = compile_expression("sin(3*x)*cos(2*y) + 0.1*(x**2+y**2)")
    kp = c.kparams
    assert kp.dtype == np.float64 and kp.ndim == 1 and kp.flags.c_contiguous
    pos = vm.HEADER
    for k in range(vm.NPROGRAMS):
        off, n = int(kp[1 + 2 * k]), int(kp[2 + 2 * k])
        assert off == pos and n >= 1  # programs follow the header back to back
        ops = kp[off:off + 2 * n:2]
        assert np.all((ops >= 0) & (ops < vm.NOPS) & (ops == np.round(ops)))
        pos += 2 * n
    assert pos == kp.size
    # The rows in the header are what the programs really need: the deepest stack, then the
    # registers; a register is stored before it is loaded, within its group of three.
    depth = 0
    rows = [set(), set()]
    for k in range(vm.NPROGRAMS):
        sp = 0
        off, n = int(kp[1 + 2 * k]), int(kp[2 + 2 * k])
        stored = rows[k // 3]
        for op, arg in kp[off:off + 2 * n].reshape(-1, 2):
            if op == vm.STORE:
                stored.add(int(arg))
            elif op == vm.LOAD:
                assert int(arg) in stored
            sp += 1 if op <= vm.VAR_Y or op == vm.LOAD else (-1 if op < vm.FIRST_UNARY else 0)
            depth = max(depth, sp)
        assert sp == 1
    assert rows[0], "sin(3x), cos(2y) … recur in E, ∂E/∂x and ∂E/∂y: shared through registers"
    for r in rows:
        assert sorted(r) == list(range(depth, depth + len(r)))
    assert kp[0] == depth + max(len(r) for r in rows)
    assert pack_programs(c.trees).tolist() == kp.tolist()


@pytest.mark.parametrize("text", VARIED)
def test_numba_machine_matches_numpy(text, rng):
    s = custom_surface(text)
    c = compile_expression(text)
    x, y = _points(rng)
    e = s.evaluate(x, y)
    for k, tree in zip(FIELDS, c.trees):
        _close(e[k], evaluate_tree(tree, x, y), 1e-12)
    # The machine called directly, as the kernels do.
    stack = np.empty((vm.stack_size(c.kparams), 1))
    r = vm.custom_eval(c.kparams, x[0], y[0], stack) + vm.custom_hess(c.kparams, x[0], y[0], stack)
    np.testing.assert_array_equal(r, [e[k][0] for k in FIELDS])
    # Contour grids go through the same machine.
    xs, ys = np.linspace(-3, 3, 7), np.linspace(-2, 2, 5)
    cost, gx, gy = s.grid_eval(xs, ys)
    X, Y = np.meshgrid(xs, ys)
    np.testing.assert_array_equal(cost, s.evaluate(X, Y)["cost"])
    np.testing.assert_array_equal(gy, s.evaluate(X, Y)["gy"])


def test_a_short_stack_gives_nan_not_a_crash():
    kp = compile_expression(ROSENBROCK).kparams
    assert vm.stack_size(kp) > 1
    r = vm.custom_eval(kp, 0.5, 0.5, np.empty((1, 1)))
    assert all(math.isnan(v) for v in r)


def _assert_same_bits(a, b):
    """Equal to the last bit (so 0.0 is not -0.0), with nan exactly where the other has nan.

    A nan's sign and payload are not compared: LLVM does not keep them, and nothing reads them.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    np.testing.assert_array_equal(a[ok].view(np.int64), b[ok].view(np.int64))


def _point_machine(kp, x, y):
    """The six fields at each point by the one-point machine: an array (6, n)."""
    stack = np.empty((vm.stack_size(kp), 1))
    return np.array([vm.custom_eval(kp, a, b, stack) + vm.custom_hess(kp, a, b, stack)
                     for a, b in zip(x, y)]).T


# Domain edges and special values: the block machine's branches (log, sqrt, sign, ...)
# must pick per point exactly what the one-point machine picks.
_EDGES = [(0.0, 0.0), (-0.0, 1.0), (1.0, -0.0), (-1.0, -2.0), (np.nan, 0.5), (0.5, np.inf),
          (-np.inf, 1.0), (800.0, -800.0), (1e-300, -1e-300)]


@pytest.mark.parametrize("text", VARIED + ["log(x) + sqrt(y)", "sign(x)*abs(y) + x^y",
                                           "1/x - log(x*y)^2", "softplus(1000*x) - sigmoid(-900*y)"])
def test_block_machine_equals_the_point_machine(text, rng):
    kp = compile_expression(text).kparams
    x, y = _points(rng, n=203)  # not a multiple of any vector width: remainder loops run too
    x[:len(_EDGES)], y[:len(_EDGES)] = np.array(_EDGES).T
    want = _point_machine(kp, x, y)
    n = x.size
    got = np.full((6, n + 3), 7.0)  # the 3 columns past n must stay untouched
    S = np.empty((vm.stack_size(kp), n))
    first = 0
    for rows in (got[:3], got[3:]):
        vm.run3_block(kp, first, x, y, rows[0], rows[1], rows[2], n, S)
        first += 3
    _assert_same_bits(got[:, :n], want)
    assert np.all(got[:, n:] == 7.0)
    # The kernels' path: point evaluation (kernels._eval_points), one point at a time.
    e = custom_surface(text).evaluate(x, y)
    _assert_same_bits([e[k] for k in FIELDS], want)


def test_block_machine_with_a_short_scratch_gives_nan():
    kp = compile_expression(ROSENBROCK).kparams
    x = np.array([0.5, 1.0])
    for S in (np.empty((vm.stack_size(kp) - 1, 2)), np.empty((vm.stack_size(kp), 1))):
        r = np.zeros((3, 2))
        vm.run3_block(kp, 0, x, x, r[0], r[1], r[2], 2, S)
        assert np.all(np.isnan(r))


def test_a_batch_step_uses_the_point_machine_gradient(rng):
    # 600 particles: blocks of 256, 256 and 88 of the parallel batch kernel.
    text = "sin(3*x)*cos(2*y) + 0.1*(x**2+y**2)"
    x, y = _points(rng, n=600)
    res = simulate_batch(custom_surface(text), OptimizerConfig("gd", lr=0.01),
                         np.column_stack([x, y]), 1)
    g = _point_machine(compile_expression(text).kparams, x, y)
    # θ − α g rounded once, as the kernels step (sim/fma.py)
    _assert_same_bits(res.final_theta, np.column_stack([fma_array(-0.01, g[1], x),
                                                        fma_array(-0.01, g[2], y)]))


@pytest.mark.parametrize("text, x, y, want", [
    ("log(x)", -1.0, 0.0, "nan"),
    ("log(x)", 0.0, 0.0, "-inf"),
    ("sqrt(x) + y", -4.0, 0.0, "nan"),
    ("1/x", 0.0, 0.0, "inf"),
    ("x^-1", 0.0, 0.0, "inf"),
    ("x^0.5", -1.0, 0.0, "nan"),
    ("exp(1000*x)", 1.0, 0.0, "inf"),
    ("cosh(1000*x)", 1.0, 0.0, "inf"),
    ("log(x) + sqrt(y)", -1.0, -1.0, "nan"),
])
def test_domain_errors_give_nan_or_inf_never_exceptions(text, x, y, want):
    s = custom_surface(text, box=(0.5, 3.0, 0.5, 3.0))
    e = s.evaluate(x, y)
    c = compile_expression(text)
    assert str(float(e["cost"])) == want
    assert str(float(evaluate_tree(c.cost, x, y))) == want
    for k, tree in zip(FIELDS, c.trees):  # the numpy reference agrees on every non-finite value
        a, b = float(e[k]), float(evaluate_tree(tree, x, y))
        assert (a == b) or (math.isnan(a) and math.isnan(b)), (k, a, b)


def test_stable_sigmoid_and_softplus_at_extremes():
    s = custom_surface("sigmoid(x) + softplus(y)")
    e = s.evaluate(np.array([-800.0, 800.0, 0.0]), np.array([-800.0, 800.0, 0.0]))
    np.testing.assert_allclose(e["cost"], [0.0, 1.0 + 800.0, 0.5 + math.log(2.0)], rtol=1e-15)
    np.testing.assert_allclose(e["gx"], [0.0, 0.0, 0.25], atol=1e-300)
    np.testing.assert_allclose(e["gy"], [0.0, 1.0, 0.5], atol=1e-300)
    assert np.all(np.isfinite(e["hxx"])) and np.all(np.isfinite(e["hyy"]))


# ----------------------------------------------------------------------------------------
# Runs


def test_run_matches_the_built_in_rosenbrock():
    cfg = OptimizerConfig("adam", lr=0.01)
    a = simulate(custom_surface(ROSENBROCK), cfg, start=(-1.5, 2), steps=500)
    b = simulate(make_surface("rosenbrock"), cfg, start=(-1.5, 2), steps=500)
    np.testing.assert_allclose(a.theta, b.theta, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.cost, b.cost, rtol=1e-9, atol=1e-12)
    assert a.diverged_at is None and b.diverged_at is None


@pytest.mark.parametrize("cfg", [
    OptimizerConfig("newton", lr=0.5, damping=0.1),
    OptimizerConfig("nesterov", lr=5e-4, momentum=0.9),
    # not a dataset: exact gradients. (ρ = 0.99: with 0.9 this path through the ravine is
    # chaotic, and the one-ulp differences between the built-in gradient, which fuses its
    # multiply-adds (sim/fma.py), and the expression's grow to 1e-3 by step 300.)
    OptimizerConfig("rmsprop", lr=1e-3, rho=0.99, batch_size=4),
], ids=["newton", "nesterov", "batch_size"])
def test_batches_and_hessians_match_the_built_in(cfg):
    custom, ref = custom_surface(ROSENBROCK), make_surface("rosenbrock")
    starts = np.array([[-1.5, 2.0], [0.5, -0.5], [1.2, 1.0], [-0.3, 0.8]])
    a = simulate_batch(custom, cfg, starts, 300, every=10)
    b = simulate_batch(ref, cfg, starts, 300, every=10)
    np.testing.assert_allclose(a.theta, b.theta, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(a.diverged_at, b.diverged_at)
    exact = simulate_batch(custom, replace(cfg, batch_size=0), starts, 300, every=10)
    np.testing.assert_array_equal(a.theta, exact.theta)
    t = simulate(custom, cfg, start=(-1.5, 2.0), steps=300)
    np.testing.assert_allclose(t.theta, simulate(ref, cfg, start=(-1.5, 2.0), steps=300).theta,
                               rtol=0, atol=1e-9)


def _log_run():
    """gd leaps from x = 3 to x < 0, where log(x) is not defined and the gradient is NaN."""
    s = custom_surface("log(x)^2 + y^2", box=(0.1, 4.0, -1.0, 1.0))
    return s, simulate(s, OptimizerConfig("gd", lr=5.0), start=(3.0, 0.5), steps=100)


def test_a_run_into_log_of_a_negative_number_records_divergence():
    s, tr = _log_run()
    # θ_1 (x < 0) is finite but E is undefined there: the run diverged at step 1.
    assert tr.diverged_at == 1
    assert len(tr) == 1
    assert np.all(np.isfinite(tr.theta)) and np.all(np.isfinite(tr.kinetic))
    cx, cy = s.centre
    assert np.all(np.abs(tr.theta - [cx, cy]) <= s.bound)
    res = simulate_batch(s, OptimizerConfig("gd", lr=5.0), np.array([[3.0, 0.5], [1.0, 0.0]]), 100)
    assert res.diverged_at[0] == 1 and res.diverged_at[1] == -1
    assert np.all(np.isfinite(res.final_theta))
    assert res.final_cost[0] == np.inf and not np.isnan(res.best_cost).any()


def test_an_average_out_of_the_domain_costs_inf_in_runs_and_batches():
    """gd hops between x = 1.5 and -1.5 over the gap |x| < 1 where log(x² - 1) is undefined:
    θ stays in the domain, its average θ̃ drifts into the gap; E(θ̃) is +inf there, never NaN,
    in a single run and in a batch alike."""
    s = custom_surface("log(x^2 - 1) + y^2", box=(-3.0, 3.0, -1.0, 1.0))
    cfg = OptimizerConfig("gd", lr=1.25)
    tr = simulate(s, cfg, start=(1.5, 0.0), steps=60)
    assert tr.diverged_at is None and np.all(np.abs(tr.theta[:, 0]) > 1.0)
    gap = np.abs(tr.avg[:, 0]) < 1.0
    assert gap.any() and not gap.all()
    assert np.all(tr.avg_cost[gap] == np.inf) and np.all(np.isfinite(tr.avg_cost[~gap]))
    k = int(np.flatnonzero(gap)[0])
    res = simulate_batch(s, cfg, np.array([[1.5, 0.0], [-1.5, 0.0]]), k)
    assert res.avg_cost[0] == np.inf and not np.isnan(res.avg_cost).any()
    assert res.final_cost[0] == tr.cost[k]


def test_no_nan_leaves_sim_after_a_domain_error():
    _, tr = _log_run()
    for arr in (tr.theta, tr.cost, tr.grad, tr.velocity, tr.avg_cost, tr.kinetic):
        assert np.all(np.isfinite(arr))


# ----------------------------------------------------------------------------------------
# The surface


def test_custom_surface_fields():
    s = custom_surface("  x^2 + 3*y^2  ")
    assert s.name == CUSTOM_NAME and s.code == K.CUSTOM and s.params == {}
    assert s.expr == "x^2 + 3*y^2"
    assert s.title == "Custom: x^2 + 3*y^2" and s.description == "E(x, y) = x^2 + 3*y^2"
    assert s.box == (-3.0, 3.0, -3.0, 3.0)
    assert s.start == (-1.5, 1.5)  # a quarter in from the top-left corner
    assert not s.is_dataset and s.n_examples == 1
    assert custom_surface("x^2 + 3*y^2") is s  # cached by (expression, box, start)
    other = custom_surface("x^2 + 3*y^2", box=(-1, 2, -1, 2), start=(1, 1))
    assert other.box == (-1.0, 2.0, -1.0, 2.0) and other.start == (1.0, 1.0)
    for name in ("rosenbrock", "linreg", "tiny_net"):
        assert make_surface(name).is_dataset == (name != "rosenbrock")


def test_default_start_is_never_a_stationary_or_undefined_point():
    # E is flat at (-1.5, 1.5) here, so the next candidate (1.5, 1.5) is taken.
    s = custom_surface("(x + 1.5)^2 + (y - 1.5)^2")
    assert s.start == (1.5, 1.5)
    # log(x) is undefined on the left half of the box.
    s = custom_surface("log(x) + y^2")
    assert s.start[0] > 0 and math.isfinite(s.cost(*s.start))


@pytest.mark.parametrize("box", [(1, 0, 0, 1), (0, 1, 1, 1), (0, 1, 0, float("nan")),
                                 (0, 1, 0), "abcd", (0, 1, 0, math.inf), (-1e308, 1e308, 0, 1),
                                 (0, 1, 0, True)])
def test_bad_boxes_are_rejected(box):
    with pytest.raises(ValueError, match="box"):
        custom_surface("x^2", box=box)


@pytest.mark.parametrize("start", [(1,), (0, math.nan), (0, math.inf), "ab", 5])
def test_bad_starts_are_rejected(start):
    with pytest.raises(ValueError, match="start"):
        custom_surface("x^2", start=start)


def test_minima_and_saddles():
    s = custom_surface("x^2 + y^2")
    assert [(m.x, m.y, m.kind) for m in s.minima] == [(0.0, 0.0, "global")]
    assert s.saddles == ()
    h = custom_surface("(x^2 + y - 11)^2 + (x + y^2 - 7)^2", box=(-5, 5, -5, 5))
    ref = make_surface("himmelblau")
    assert len(h.minima) == 4 and all(m.kind == "global" for m in h.minima)
    assert len(h.saddles) == len(ref.saddles) == 4
    for p in ref.saddles:
        assert min(math.hypot(p.x - q.x, p.y - q.y) for q in h.saddles) < 1e-7
    camel = custom_surface(BUILT_IN[2][2], box=(-2.2, 2.2, -1.2, 1.2))
    assert [m.kind for m in camel.minima].count("global") == 2 and len(camel.minima) == 6
    # Points outside the (widened) box are not reported; a valley floor has no saddle.
    assert custom_surface("(x - 5)^2 + y^2").minima == ()
    assert custom_surface("x^2").minima == () and custom_surface("x^2").saddles == ()
    assert len(custom_surface("x^4 + y^4").minima) == 1  # a flat minimum, found once
    assert custom_surface("3").minima == ()
    assert [(p.x, p.y) for p in custom_surface("x^2 - y^2").saddles] == [(0.0, 0.0)]


def test_every_minimum_of_a_many_basin_surface_is_found():
    """Rastrigin in a ±5 box has 11 × 11 minima; each solves 2x + 20π sin 2πx = 0 (and the
    same in y), near an integer, which a 9×9 grid of Newton guesses alone misses."""
    s = custom_surface("20 + x^2 - 10*cos(2*pi*x) + y^2 - 10*cos(2*pi*y)", box=(-5, 5, -5, 5))
    assert len(s.minima) == 121
    xy = np.array([(m.x, m.y) for m in s.minima])
    np.testing.assert_array_equal(np.sort(np.unique(np.round(xy[:, 0]))), np.arange(-5, 6))
    # Hand-derived stationarity, evaluated with numpy, not with the surface's own gradient.
    np.testing.assert_allclose(2 * xy + 20 * np.pi * np.sin(2 * np.pi * xy), 0, atol=1e-7)
    assert [(m.x, m.y) for m in s.minima if m.kind == "global"] == [(0.0, 0.0)]
    assert not np.any((xy != 0) & (np.abs(xy) < 1e-9))  # Newton's 1e-21 for zero reads 0
    # So a basin map labels every start: gd reaches one of them from everywhere.
    r = basins(s, OptimizerConfig("gd", lr=0.002), grid=48, steps=3000)
    assert (r.label >= 0).all()
    assert np.unique(r.label).size == 121


def test_minima_found_by_descent_are_where_runs_end():
    s = custom_surface("sin(3*x)*cos(2*y) + 0.1*(x^2+y^2)")
    r = basins(s, OptimizerConfig("gd", lr=0.02), grid=64, steps=3000)
    settled = r.steps_to_converge >= 0
    assert settled.mean() > 0.9 and (r.label[settled] >= 0).all()
    for m in s.minima:  # each is a true minimum: zero gradient (finite differences), E rises around it
        h = 1e-5
        e = lambda x, y: s.cost(np.array([x]), np.array([y]))[0]  # noqa: E731
        assert abs(e(m.x + h, m.y) - e(m.x - h, m.y)) / (2 * h) < 1e-6
        assert abs(e(m.x, m.y + h) - e(m.x, m.y - h)) / (2 * h) < 1e-6
        ring = [e(m.x + 1e-3 * math.cos(a), m.y + 1e-3 * math.sin(a)) for a in np.linspace(0, 6.2, 12)]
        assert min(ring) > m.cost


# ----------------------------------------------------------------------------------------
# Scenario files


def _custom_scenario() -> Scenario:
    runs = (Run(OptimizerConfig("adam", lr=0.05), "adam", (-1.5, 2.0), 0, "#e6550d"),
            Run(OptimizerConfig("newton", lr=0.5, damping=0.1), "", None, 3, "#3182bd"))
    return Scenario(CUSTOM_NAME, {}, runs, 120, 0, "Custom ravine", "typed by hand",
                    None, "sin(3*x)*cos(2*y) + 0.1*(x^2 + y^2)", (-2.5, 2.0, -1.0, 3.0))


def test_custom_scenario_round_trips_exactly(tmp_path):
    sc = _custom_scenario()
    save_scenario(sc, tmp_path / "a.json")
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["surface"] == {"name": "custom", "expr": sc.expr, "box": [-2.5, 2.0, -1.0, 3.0]}
    back = load_scenario(tmp_path / "a.json")
    assert back == sc
    save_scenario(back, tmp_path / "b.json")
    assert (tmp_path / "b.json").read_bytes() == (tmp_path / "a.json").read_bytes()
    # Without a box the surface takes the default one.
    plain = replace(sc, expr_box=None)
    assert "box" not in to_dict(plain)["surface"]
    assert from_dict(to_dict(plain)) == plain
    assert plain.make_surface().box == (-3.0, 3.0, -3.0, 3.0)


def test_custom_scenario_builds_and_simulates():
    sc = _custom_scenario()
    s = sc.make_surface()
    assert s.expr == sc.expr and s.box == sc.expr_box and s.code == K.CUSTOM
    trs = simulate_scenario(sc)
    assert len(trs) == 2 and all(np.all(np.isfinite(t.theta)) for t in trs)
    assert trs[1].theta[0].tolist() == list(s.start)


def _with_surface(surface) -> dict:
    d = to_dict(_custom_scenario())
    d["surface"] = surface
    return d


@pytest.mark.parametrize("surface, words", [
    ({"name": "custom"}, ["surface.expr"]),
    ({"name": "custom", "expr": 5}, ["surface.expr", "text"]),
    ({"name": "custom", "expr": ""}, ["surface.expr", "empty"]),
    ({"name": "custom", "expr": "x + z"}, ["surface.expr", "unknown name 'z' at column 5"]),
    ({"name": "custom", "expr": "x^2", "params": {"a": 1}}, ["surface.params"]),
    ({"name": "custom", "expr": "x^2", "colour": 1}, ["surface", "colour"]),
    ({"name": "custom", "expr": "x^2", "box": [0, 1, 0]}, ["surface.box"]),
    ({"name": "custom", "expr": "x^2", "box": [1, 0, 0, 1]}, ["surface.box"]),
    ({"name": "custom", "expr": "x^2", "box": [0, 1, 0, "1"]}, ["surface.box[3]"]),
    ({"name": "rosenbrock", "expr": "x^2"}, ["surface", "expr"]),
])
def test_bad_custom_surfaces_name_the_field(surface, words):
    with pytest.raises(ScenarioError) as info:
        from_dict(_with_surface(surface))
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_malicious_expression_in_a_file_is_rejected_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    for i, expr in enumerate([f"__import__('os').system('touch {marker}')",
                              f"open('{marker}', 'w').write('x')",
                              "().__class__.__base__.__subclasses__()",
                              "x" * 5000]):
        path = tmp_path / f"evil{i}.json"
        path.write_text(json.dumps(_with_surface({"name": "custom", "expr": expr})))
        with pytest.raises(ScenarioError, match="surface.expr") as info:
            load_scenario(path)
        assert f"evil{i}.json" in str(info.value)
    assert not marker.exists()
