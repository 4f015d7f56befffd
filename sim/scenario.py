"""Scenario: one surface and several runs on it. JSON load/save with clear errors.

A scenario file is data only: it is parsed with `json` and validated field by field;
nothing in it is ever executed. Saving writes a temporary file and renames it, so a
crash never leaves half a file behind.

Schema (version 1)::

    {"version": 1, "title": "...", "description": "...",
     "surface": {"name": "rosenbrock", "params": {"b": 100}},
                # or {"name": "custom", "expr": "(1-x)^2 + 100*(y-x^2)^2", "box": [-2, 2, -1, 3]}
     "steps": 500, "seed": 0, "box": [x0, x1, y0, y1],          # box optional
     "runs": [{"label": "adam", "optimizer": {"rule": "adam", "lr": 0.01},
               "start": [-1.5, 2], "seed": 0, "color": "#1f77b4", "visible": true,
               "particles": 1000, "jitter": 0.1}]}       # particles, jitter optional (1, 0)
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from sim.expression import CUSTOM_NAME, DEFAULT_BOX, check_box, compile_expression, custom_surface
from sim.optimizers import OptimizerConfig
from sim.simulate import MAX_SEED, MAX_STEPS, simulate
from sim.surfaces import Surface, check_params, make_surface
from sim.trajectory import Trajectory

VERSION = 1
MAX_FILE_BYTES = 5_000_000
MAX_RUNS = 64
MAX_RUN_PARTICLES = 10_000  # particles of one run's cloud: what plays at 60 frames per second
PALETTE = ("#e6550d", "#3182bd", "#31a354", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#636363", "#ff9896", "#1f3a93")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Run:
    """One optimizer run: its rule and hyperparameters, start, seed and look."""

    config: OptimizerConfig
    label: str = ""
    start: tuple[float, float] | None = None  # None: the surface's default start
    seed: int = 0
    color: str = PALETTE[0]
    visible: bool = True
    # An ensemble of `particles` copies with different noise seeds, started in a disc of
    # radius `jitter` (section 3); 1 is a single path. The run's own trajectory (its seed,
    # its start) stays the representative path.
    particles: int = 1
    jitter: float = 0.0

    @property
    def title(self) -> str:
        return self.label or self.config.label()

    @property
    def is_cloud(self) -> bool:
        return self.particles > 1

    @property
    def full_title(self) -> str:
        """The title, with "×P" for a cloud of P particles (legends, the runs table)."""
        return f"{self.title} ×{self.particles}" if self.is_cloud else self.title


@dataclass(frozen=True)
class Scenario:
    """A surface with parameters, runs on it, the number of steps and a seed."""

    surface: str = "rosenbrock"
    params: dict[str, float] = field(default_factory=dict)
    runs: tuple[Run, ...] = ()
    steps: int = 500
    seed: int = 0
    title: str = ""
    description: str = ""
    box: tuple[float, float, float, float] | None = None
    expr: str | None = None  # the expression of a "custom" surface
    expr_box: tuple[float, float, float, float] | None = None  # its box (None: DEFAULT_BOX)

    def make_surface(self) -> Surface:
        if self.surface == CUSTOM_NAME:
            if self.expr is None:
                raise ScenarioError("surface: a custom surface needs an expression")
            return custom_surface(self.expr, self.expr_box or DEFAULT_BOX)
        return make_surface(self.surface, **self.params)

    def start_of(self, run: Run, surface: Surface | None = None) -> tuple[float, float]:
        s = surface or self.make_surface()
        return run.start if run.start is not None else s.start

    def with_runs(self, runs) -> "Scenario":
        return replace(self, runs=tuple(runs))


def next_color(runs) -> str:
    """The first palette colour not yet used by `runs`."""
    used = {r.color.lower() for r in runs}
    for c in PALETTE:
        if c.lower() not in used:
            return c
    return PALETTE[len(runs) % len(PALETTE)]


def default_scenario() -> Scenario:
    """Three optimizers in Rosenbrock's ravine: what the window opens with."""
    runs = (
        Run(OptimizerConfig("gd", lr=1e-3), "gradient descent", (-1.5, 2.0), 0, PALETTE[0]),
        Run(OptimizerConfig("momentum", lr=1e-3, momentum=0.9), "momentum μ=0.9", (-1.5, 2.0), 0,
            PALETTE[1]),
        Run(OptimizerConfig("adam", lr=0.05), "adam", (-1.5, 2.0), 0, PALETTE[2]),
    )
    return Scenario("rosenbrock", {}, runs, 1500, 0, "Three optimizers in a ravine",
                    "Gradient descent crawls along the floor of Rosenbrock's curved ravine, "
                    "momentum builds up speed along it, Adam rescales each coordinate.")


def simulate_scenario(sc: Scenario, surface: Surface | None = None) -> list[Trajectory]:
    """Every run of the scenario, recorded step by step."""
    s = surface or sc.make_surface()
    return [simulate(s, r.config, sc.start_of(r, s), sc.steps, r.seed) for r in sc.runs]


# ----------------------------------------------------------------------------------------
# JSON


def to_dict(sc: Scenario) -> dict:
    """The scenario as plain JSON data."""
    surf: dict = {"name": sc.surface, "params": dict(sc.params)}
    if sc.surface == CUSTOM_NAME:
        surf = {"name": sc.surface, "expr": sc.expr}
        if sc.expr_box is not None:
            surf["box"] = list(sc.expr_box)
    d: dict = {"version": VERSION, "title": sc.title, "description": sc.description,
               "surface": surf, "steps": sc.steps, "seed": sc.seed, "runs": []}
    if sc.box is not None:
        d["box"] = list(sc.box)
    for r in sc.runs:
        rd = {"label": r.label, "optimizer": r.config.to_dict(only_used=True), "seed": r.seed,
              "color": r.color, "visible": r.visible}
        if r.start is not None:
            rd["start"] = list(r.start)
        if r.particles != 1:  # written only when used: older files stay byte-identical
            rd["particles"] = r.particles
        if r.jitter != 0.0:
            rd["jitter"] = r.jitter
        d["runs"].append(rd)
    return d


def _num(v, where: str, integer: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ScenarioError(f"{where}: expected a number, got {json.dumps(v)[:40]}")
    if not math.isfinite(v):
        raise ScenarioError(f"{where}: must be finite")
    if integer and int(v) != v:
        raise ScenarioError(f"{where}: expected a whole number, got {v}")
    return int(v) if integer else float(v)


def _seed(v, where: str) -> int:
    s = _num(v, where, integer=True)
    if not (0 <= s <= MAX_SEED):
        raise ScenarioError(f"{where}: must be a whole number in [0, 2**63 - 1], got {v}")
    return int(s)


def _pair(v, where: str) -> tuple[float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ScenarioError(f"{where}: expected [x, y]")
    return (_num(v[0], f"{where}[0]"), _num(v[1], f"{where}[1]"))


def _box(v, where: str) -> tuple[float, float, float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 4:
        raise ScenarioError(f"{where}: expected [x0, x1, y0, y1]")
    box = tuple(_num(b, f"{where}[{i}]") for i, b in enumerate(v))
    try:
        return check_box(box)
    except ValueError:
        raise ScenarioError(f"{where}: needs x0 < x1 and y0 < y1, and a finite size") from None


def _custom(surf: dict) -> tuple[str, tuple[float, float, float, float] | None]:
    """The expression and box of a custom surface, validated by the expression parser."""
    _only(surf, {"name", "expr", "box", "params"}, "surface")
    if surf.get("params"):
        raise ScenarioError("surface.params: a custom surface has no parameters")
    expr = surf.get("expr")
    if not isinstance(expr, str):
        raise ScenarioError('surface.expr: expected the expression as text, e.g. "x^2 + 10*y^2"')
    try:
        compile_expression(expr)
    except ValueError as e:
        raise ScenarioError(f"surface.expr: {e}") from None
    box = surf.get("box")
    return expr, None if box is None else _box(box, "surface.box")


def _only(d: dict, allowed: set[str], where: str) -> None:
    for k in d:
        if k not in allowed:
            raise ScenarioError(f"{where}: unknown field {k!r} (allowed: {', '.join(sorted(allowed))})")


def from_dict(d: object) -> Scenario:
    """Validate JSON data into a Scenario; ScenarioError names the offending field."""
    if not isinstance(d, dict):
        raise ScenarioError("a scenario must be a JSON object")
    _only(d, {"version", "title", "description", "surface", "steps", "seed", "box", "runs"}, "scenario")
    version = d.get("version", VERSION)
    if version != VERSION:
        raise ScenarioError(f"version: this Ravine reads version {VERSION}, the file has {version!r}")
    surf = d.get("surface")
    if isinstance(surf, str):
        surf = {"name": surf}
    if not isinstance(surf, dict) or not isinstance(surf.get("name"), str):
        raise ScenarioError("surface: expected {\"name\": ..., \"params\": {...}}")
    expr = expr_box = None
    if surf["name"] == CUSTOM_NAME:
        expr, expr_box = _custom(surf)
        params = {}
    else:
        _only(surf, {"name", "params"}, "surface")
        params = surf.get("params", {}) or {}
        if not isinstance(params, dict):
            raise ScenarioError("surface.params: expected an object")
        for k, v in params.items():
            if not isinstance(v, (int, float)):  # bool is an int: true/false for switches
                raise ScenarioError(f"surface.params.{k}: expected a number, got {json.dumps(v)[:40]}")
        try:
            params = check_params(surf["name"], params)
        except ValueError as e:
            raise ScenarioError(f"surface: {e}") from None
    steps = _num(d.get("steps", 500), "steps", integer=True)
    if not (1 <= steps <= MAX_STEPS):
        raise ScenarioError(f"steps: must be in [1, {MAX_STEPS}], got {steps}")
    seed = _seed(d.get("seed", 0), "seed")
    box = d.get("box")
    if box is not None:
        box = _box(box, "box")
    runs_d = d.get("runs", [])
    if not isinstance(runs_d, list):
        raise ScenarioError("runs: expected a list")
    if len(runs_d) > MAX_RUNS:
        raise ScenarioError(f"runs: at most {MAX_RUNS} runs")
    runs = []
    for i, rd in enumerate(runs_d):
        where = f"runs[{i}]"
        if not isinstance(rd, dict):
            raise ScenarioError(f"{where}: expected an object")
        _only(rd, {"label", "optimizer", "start", "seed", "color", "visible", "particles", "jitter"},
              where)
        opt = rd.get("optimizer")
        if isinstance(opt, str):
            opt = {"rule": opt}
        if not isinstance(opt, dict):
            raise ScenarioError(f"{where}.optimizer: expected an object with a \"rule\"")
        for k, v in opt.items():
            text = k in ("rule", "schedule")
            if (text and not isinstance(v, str)) or (not text and (isinstance(v, bool)
                                                                 or not isinstance(v, (int, float)))):
                kind = "text" if text else "a number"
                raise ScenarioError(f"{where}.optimizer.{k}: expected {kind}, got {json.dumps(v)[:40]}")
        try:
            cfg = OptimizerConfig.from_dict(opt)
        except (TypeError, ValueError) as e:
            raise ScenarioError(f"{where}.optimizer: {e}") from None
        label = rd.get("label", "")
        if not isinstance(label, str):
            raise ScenarioError(f"{where}.label: expected text")
        start = rd.get("start")
        start = None if start is None else _pair(start, f"{where}.start")
        color = rd.get("color", PALETTE[i % len(PALETTE)])
        if not isinstance(color, str) or not _COLOR.match(color):
            raise ScenarioError(f"{where}.color: expected #rrggbb, got {color!r}")
        visible = rd.get("visible", True)
        if not isinstance(visible, bool):
            raise ScenarioError(f"{where}.visible: expected true or false")
        rseed = _seed(rd.get("seed", seed), f"{where}.seed")
        particles = _num(rd.get("particles", 1), f"{where}.particles", integer=True)
        if not (1 <= particles <= MAX_RUN_PARTICLES):
            raise ScenarioError(f"{where}.particles: must be in [1, {MAX_RUN_PARTICLES}], got {particles}")
        jitter = _num(rd.get("jitter", 0.0), f"{where}.jitter")
        if jitter < 0:
            raise ScenarioError(f"{where}.jitter: must be >= 0, got {jitter}")
        runs.append(Run(cfg, label[:200], start, int(rseed), color, visible, int(particles), jitter))
    title = d.get("title", "")
    desc = d.get("description", "")
    if not isinstance(title, str) or not isinstance(desc, str):
        raise ScenarioError("title and description must be text")
    return Scenario(surf["name"], params, tuple(runs), int(steps), int(seed), title, desc, box,
                    expr, expr_box)


def loads(text: str) -> Scenario:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScenarioError(f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    return from_dict(data)


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and validate a scenario file; ScenarioError says what is wrong."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError(f"{p}: file is too large for a scenario ({size} bytes)")
        text = p.read_text(encoding="utf-8")
    except ScenarioError:
        raise
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"cannot read {p}: {getattr(e, 'strerror', None) or e}") from None
    try:
        return loads(text)
    except ScenarioError as e:
        raise ScenarioError(f"{p.name}: {e}") from None


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved file gets the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_scenario(sc: Scenario, path: str | os.PathLike) -> None:
    """Write the scenario as JSON, atomically."""
    atomic_write(path, (json.dumps(to_dict(sc), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
