"""Surfaces: exact derivatives against finite differences, critical points, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from sim import catalogue, kernels, make_surface
from sim.surfaces import CriticalPoint, _in_label_order
from tests.sim import reference as ref
from tests.sim.conftest import SURFACE_CASES, _case_id
from tests.sim.helpers import box_points

EPS = np.finfo(float).eps


def _step(surface) -> float:
    x0, x1, y0, y1 = surface.box
    return 1e-6 * max(x1 - x0, y1 - y0)


def _fd_gradient(surface, x, y, h):
    gx = (surface.cost(x + h, y) - surface.cost(x - h, y)) / (2 * h)
    gy = (surface.cost(x, y + h) - surface.cost(x, y - h)) / (2 * h)
    return np.stack([gx, gy], axis=-1)


def _fd_hessian(surface, x, y, h):
    """Column j: central difference of the gradient along coordinate j."""
    dx = (surface.gradient(x + h, y) - surface.gradient(x - h, y)) / (2 * h)
    dy = (surface.gradient(x, y + h) - surface.gradient(x, y - h)) / (2 * h)
    return np.stack([dx, dy], axis=-1)


def test_gradient_matches_finite_differences(any_surface, rng):
    s = any_surface
    x, y = box_points(s, rng)
    h = _step(s)
    g = s.gradient(x, y)
    fd = _fd_gradient(s, x, y, h)
    # Truncation is O(h²); rounding of the cost differences is O(eps·|E|/h).
    tol = 1e-6 * (np.abs(g) + 1e-3 * np.abs(g).max()) + 50 * EPS * np.abs(s.cost(x, y)).max() / h
    bad = np.abs(fd - g) > tol
    assert not bad.any(), f"{s.name}: gradient off at {np.column_stack([x, y])[bad.any(-1)][:3]}"


def test_hessian_matches_finite_differences(any_surface, rng):
    s = any_surface
    x, y = box_points(s, rng)
    h = _step(s)
    H = s.hessian(x, y)
    assert np.array_equal(H[..., 0, 1], H[..., 1, 0])
    fd = _fd_hessian(s, x, y, h)
    tol = 1e-6 * (np.abs(H) + 1e-3 * np.abs(H).max()) + 50 * EPS * np.abs(s.gradient(x, y)).max() / h
    bad = np.abs(fd - H) > tol
    assert not bad.any(), f"{s.name}: Hessian off at {np.column_stack([x, y])[bad.any((-1, -2))][:3]}"


@pytest.mark.parametrize("case", [c for c in SURFACE_CASES
                                  if kernels.family(catalogue()[c[0]].code) == kernels.FAMILY_ANALYTIC],
                         ids=_case_id)
def test_python_formulas_equal_the_compiled_ones(case, rng):
    """Critical points of built-in surfaces are refined with the formulas run as Python
    (kernels.analytic_point, nothing to compile): they agree with the compiled kernels.
    (Dataset and custom surfaces refine with the compiled kernels.)"""
    s = make_surface(case[0], **case[1])
    x, y = box_points(s, rng)
    ev = s.evaluate(x, y)
    for i in range(0, x.size, 7):
        got = kernels.analytic_point(s.code, s.kparams, float(x[i]), float(y[i]))
        want = [ev[k][i] for k in ("cost", "gx", "gy", "hxx", "hxy", "hyy")]
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13 * (1 + abs(want[0])))


def test_evaluate_grid_and_gradient_grid_agree(any_surface):
    s = any_surface
    x0, x1, y0, y1 = s.box
    xs, ys = np.linspace(x0, x1, 7), np.linspace(y0, y1, 5)
    X, Y = np.meshgrid(xs, ys)  # indexed [iy, ix]
    e = s.evaluate(X, Y)
    np.testing.assert_array_equal(s.grid(xs, ys), e["cost"])
    gx, gy = s.gradient_grid(xs, ys)
    np.testing.assert_array_equal(gx, e["gx"])
    np.testing.assert_array_equal(gy, e["gy"])
    assert isinstance(s.cost(0.5, 0.25), float)
    assert s.gradient(0.5, 0.25).shape == (2,)
    assert s.hessian(0.5, 0.25).shape == (2, 2)


def test_reference_formulas_match_cost_and_gradient(any_surface, rng):
    """Our own formulas (tests/sim/reference.py) agree with the surface's cost and gradient."""
    s = any_surface
    x, y = box_points(s, rng)
    if s.is_dataset:
        cost = ref.dataset_cost(s.name, s.X, s.T, x, y)
        gx, gy = ref.dataset_grad(s.name, s.X, s.T, x, y)
    else:
        fcost, fgrad = ref.analytic_oracles(s.name, **s.params)
        cost = fcost(x, y)
        gx, gy = fgrad(x, y)
    c = s.cost(x, y)
    np.testing.assert_allclose(c, cost, rtol=1e-12, atol=1e-13 * np.abs(cost).max())
    g = s.gradient(x, y)
    scale = np.abs(g).max()
    np.testing.assert_allclose(g[:, 0], gx, rtol=1e-10, atol=1e-12 * scale)
    np.testing.assert_allclose(g[:, 1], gy, rtol=1e-10, atol=1e-12 * scale)


def test_reference_gradients_match_their_own_costs(rng):
    """Guard the guard: the reference gradients are derivatives of the reference costs."""
    h = 1e-6
    x, y = rng.uniform(-2, 2, 200), rng.uniform(-2, 2, 200)
    params = {"quadratic": {"kappa": 7.0, "angle": 25.0}, "rosenbrock": {"a": -0.5, "b": 30.0},
              "two_minima": {"tilt": 0.4}, "plateau": {"width": 0.7}, "rastrigin": {"amplitude": 3.0}}
    for name in ref.ANALYTIC:
        cost, grad = ref.analytic_oracles(name, **params.get(name, {}))
        gx, gy = grad(x, y)
        fx = (cost(x + h, y) - cost(x - h, y)) / (2 * h)
        fy = (cost(x, y + h) - cost(x, y - h)) / (2 * h)
        scale = max(np.abs(gx).max(), np.abs(gy).max())
        np.testing.assert_allclose(fx, gx, atol=1e-6 * scale, err_msg=name)
        np.testing.assert_allclose(fy, gy, atol=1e-6 * scale, err_msg=name)


def test_box_start_and_bound(any_surface):
    s = any_surface
    x0, x1, y0, y1 = s.box
    assert x0 < x1 and y0 < y1
    assert x0 <= s.start[0] <= x1 and y0 <= s.start[1] <= y1
    assert s.bound == pytest.approx(1e6 * max(x1 - x0, y1 - y0))
    assert s.is_dataset == catalogue()[s.name].dataset
    assert s.n_examples == (s.X.shape[0] if s.is_dataset else 1)


def _grad_scale(s) -> float:
    """A typical gradient size over the box, to judge 'zero' gradients against."""
    x, y = box_points(s, np.random.default_rng(0), 200)
    return float(np.median(np.hypot(*s.gradient(x, y).T)))


def test_minima_are_stationary_with_positive_definite_hessian(any_surface):
    s = any_surface
    assert s.minima, f"{s.name}: no minimum known"
    tol = 1e-8 * max(_grad_scale(s), 1.0)
    for m in s.minima:
        assert m.kind in ("global", "local")
        assert np.hypot(*s.gradient(m.x, m.y)) < tol, m
        assert np.linalg.eigvalsh(s.hessian(m.x, m.y))[0] > 0, m


def test_critical_point_cost_is_the_cost_there(any_surface):
    s = any_surface
    for p in s.minima + s.saddles:
        assert p.cost == pytest.approx(s.cost(p.x, p.y), rel=1e-12, abs=1e-14), p


def test_saddles_are_stationary_with_indefinite_hessian(any_surface):
    s = any_surface
    tol = 1e-8 * max(_grad_scale(s), 1.0)
    for p in s.saddles:
        assert p.kind == "saddle"
        assert np.hypot(*s.gradient(p.x, p.y)) < tol, p
        lo, hi = np.linalg.eigvalsh(s.hessian(p.x, p.y))
        assert lo < 0 < hi, p


@pytest.mark.parametrize("name, saddle", [("saddle", (0.0, 0.0)), ("beale", (0.0, 1.0))])
def test_known_saddles_are_listed(name, saddle):
    s = make_surface(name)
    assert any(np.hypot(p.x - saddle[0], p.y - saddle[1]) < 1e-8 for p in s.saddles)


def test_global_minima_have_the_lowest_cost(any_surface):
    s = any_surface
    glob = [m for m in s.minima if m.kind == "global"]
    assert glob
    low = min(m.cost for m in glob)
    tol = 1e-9 * (1 + abs(low))
    assert all(abs(m.cost - low) <= tol for m in glob)
    assert all(m.cost > low + tol for m in s.minima if m.kind == "local")
    # Nothing on a fine grid of the box is lower than the global minimum.
    x0, x1, y0, y1 = s.box
    grid = s.grid(np.linspace(x0, x1, 301), np.linspace(y0, y1, 301))
    assert grid.min() >= low - tol


@pytest.mark.parametrize("name, expected", [
    ("rosenbrock", [(1.0, 1.0)]),
    ("himmelblau", [(3.0, 2.0), (-2.805118, 3.131313), (-3.779310, -3.283186), (3.584428, -1.848127)]),
    ("beale", [(3.0, 0.5)]),
    ("saddle", [(0.0, 1.0), (0.0, -1.0)]),
    ("six_hump_camel", [(0.0898, -0.7126), (-0.0898, 0.7126)]),
    ("rastrigin", [(0.0, 0.0)]),
    ("plateau", [(0.0, 0.0)]),
    ("quadratic", [(0.0, 0.0)]),
])
def test_textbook_global_minima(name, expected):
    s = make_surface(name)
    glob = [(m.x, m.y) for m in s.minima if m.kind == "global"]
    assert len(glob) == len(expected)
    for e in expected:
        assert min(np.hypot(g[0] - e[0], g[1] - e[1]) for g in glob) < 1e-4, e


def test_rosenbrock_minimum_moves_with_a():
    s = make_surface("rosenbrock", a=-1.0, b=10.0)
    (m,) = s.minima
    assert (m.x, m.y) == pytest.approx((-1.0, 1.0), abs=1e-10)
    assert m.cost == pytest.approx(0.0, abs=1e-20)


def test_two_minima_has_a_deeper_left_minimum():
    s = make_surface("two_minima", tilt=0.3)
    kinds = {m.kind: m for m in s.minima}
    assert kinds["global"].x < 0 < kinds["local"].x
    assert kinds["global"].cost < kinds["local"].cost


def test_linreg_minimum_is_least_squares():
    s = make_surface("linreg", scale=10.0, offset=3.0)
    w = np.linalg.lstsq(s.X, s.T, rcond=None)[0]
    (m,) = s.minima
    np.testing.assert_allclose([m.x, m.y], w, rtol=1e-9)


def _condition(s) -> float:
    m = s.minima[0]
    ev = np.linalg.eigvalsh(s.hessian(m.x, m.y))
    return ev[-1] / ev[0]


def test_normalization_improves_linreg_conditioning():
    raw = make_surface("linreg", scale=10.0, offset=3.0)
    norm = make_surface("linreg", scale=10.0, offset=3.0, normalize=True)
    assert _condition(raw) > 10
    assert _condition(norm) < 2
    assert _condition(norm) < _condition(raw)
    # Normalized inputs: zero mean and unit variance per column (eq. 16).
    np.testing.assert_allclose(norm.X.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(norm.X.std(axis=0), 1.0, rtol=1e-12)


def test_dataset_surfaces_are_deterministic_in_data_seed():
    a = make_surface("logreg", n_examples=40, data_seed=3)
    b = make_surface("logreg", n_examples=40, data_seed=3)
    c = make_surface("logreg", n_examples=40, data_seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.n_examples == 40
    assert not np.array_equal(a.X, c.X)
    assert set(np.unique(a.T)) <= {0.0, 1.0}


def test_tiny_net_uses_the_first_column_and_is_symmetric(rng):
    s = make_surface("tiny_net")
    x, y = box_points(s, rng, 100)
    np.testing.assert_array_equal(s.cost(x, y), s.cost(y, x))
    g, gs = s.gradient(x, y), s.gradient(y, x)
    np.testing.assert_array_equal(g[:, 0], gs[:, 1])


@pytest.mark.parametrize("name, params", [
    ("quadratic", {"kappa": 0.5}),
    ("quadratic", {"kappa": float("nan")}),
    ("quadratic", {"kappa": float("inf")}),
    ("quadratic", {"angle": 91.0}),
    ("quadratic", {"kappa": "steep"}),
    ("quadratic", {"gamma": 1.0}),
    ("rosenbrock", {"b": 0.0}),
    ("rosenbrock", {"a": 3.0}),
    ("beale", {"a": 1.0}),
    ("plateau", {"width": 0.0}),
    ("rastrigin", {"amplitude": -1.0}),
    ("two_minima", {"tilt": 2.0}),
    ("linreg", {"n_examples": 10.5}),
    ("linreg", {"n_examples": 5}),
    ("linreg", {"normalize": "maybe"}),
    ("logreg", {"data_seed": -1}),
    ("tiny_net", {"scale": 2.0}),
    ("no_such_surface", {}),
])
def test_invalid_parameters_raise_value_error(name, params):
    with pytest.raises(ValueError):
        make_surface(name, **params)


def test_catalogue_rows_are_complete():
    table = catalogue()
    assert {"quadratic", "rosenbrock", "beale", "himmelblau", "two_minima", "saddle", "plateau",
            "rastrigin", "six_hump_camel", "linreg", "logreg", "tiny_net"} <= set(table)
    codes = [info.code for info in table.values()]
    assert len(set(codes)) == len(codes)
    for name, info in table.items():
        assert info.name == name and info.title and info.description
        for p in info.params:
            assert p.lo <= p.default <= p.hi
        s = make_surface(name)
        assert s.params == {p.name: float(p.default) for p in info.params}


@pytest.mark.parametrize("n_examples, data_seed", [(10, 1), (11, 8), (12, 24), (15, 3), (15, 38)])
def test_logreg_with_few_examples_builds_or_says_why(n_examples, data_seed):
    """In-range parameters give a usable surface or a ValueError, never a numpy crash.

    With a few examples the generated labels can be linearly separable: the cross-entropy
    then has no minimum and Newton's method for it runs off to infinity.
    """
    try:
        s = make_surface("logreg", n_examples=n_examples, data_seed=data_seed)
    except np.linalg.LinAlgError as e:  # a ValueError subclass, but no explanation
        pytest.fail(f"BUG: make_surface('logreg', n_examples={n_examples}, data_seed={data_seed}) "
                    f"raised {e!r} (sim/datasets.py _logreg)")
    except ValueError:
        return
    except Exception as e:  # noqa: BLE001 - the crash is what this test reports
        pytest.fail(f"BUG: make_surface('logreg', n_examples={n_examples}, data_seed={data_seed}) "
                    f"raised {e!r} (sim/datasets.py _logreg)")
    assert s.minima, f"BUG: logreg surface with box {s.box} and no minimum (sim/datasets.py _logreg)"
    (m,) = s.minima
    assert np.hypot(*s.gradient(m.x, m.y)) < 1e-8


def test_equal_minima_are_lettered_by_position_not_by_rounding():
    """Himmelblau's four equal minima differ in computed cost only by rounding (1e-29): the
    labels A-D go left to right, and a change of rounding cannot reletter them."""
    s = make_surface("himmelblau")
    xs = [m.x for m in s.minima]
    assert xs == sorted(xs) and all(m.kind == "global" for m in s.minima)
    rng = np.random.default_rng(3)
    for _ in range(20):  # the same points with other rounding noise, in any order
        noisy = [CriticalPoint(m.x, m.y, abs(rng.normal()) * 1e-28, m.kind)
                 for m in rng.permutation(np.array(s.minima, dtype=object))]
        assert [(m.x, m.y) for m in _in_label_order(noisy)] == [(m.x, m.y) for m in s.minima]
    # Different costs still come first by cost, global ones before local ones.
    pts = [CriticalPoint(0.0, 0.0, 2.0, "local"), CriticalPoint(5.0, 0.0, 1.0, "local"),
           CriticalPoint(9.0, 0.0, 0.5, "global"), CriticalPoint(-9.0, 0.0, 1.0, "local")]
    assert [m.x for m in _in_label_order(pts)] == [9.0, -9.0, 5.0, 0.0]
