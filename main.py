"""Ravine: a desktop lab for optimizer dynamics.

    python main.py                       open the window with the default scenario
    python main.py scenario.json         open the window with a scenario
    python main.py run ...               simulate headless (see `python main.py run -h`)
    python main.py sweep ...             grid search over learning rates (× a second hyperparameter)
    python main.py basins ...            which minimum each start of a grid reaches (.npz, .png)
    python main.py restarts ...          K runs from random starts: how many find the global minimum
    python main.py export ... -o out.mp4 render the animation offscreen (GIF, MP4, PNG frames)
    python main.py presets | surfaces | optimizers   list what exists

Every simulating command takes --surface NAME [--param k=v ...] or --expr "x^2 + 10*y^2",
--optimizer, the hyperparameter flags (--lr, --momentum, ...), --steps and, where one start
applies, --start x,y. The command-line path never imports Qt: only the window does.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the command line: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, never the usage dump
        raise UsageError(message)


# Options whose value may start with a minus sign ("--start -1.5,2"): argparse would
# otherwise take "-1.5,2" for an option.
_VALUE_OPTIONS = {"--start", "--box"}


def _join_negative_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def _pair(text: str, what: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise UsageError(f"{what} must be two numbers x,y, not {text!r}") from None
    if len(vals) != 2 or not all(math.isfinite(v) for v in vals):
        raise UsageError(f"{what} must be two finite numbers x,y, not {text!r}")
    return vals  # type: ignore[return-value]


def _params(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param expects name=value, not {item!r}")
        out[key.strip()] = value.strip()
    return out


# Hyperparameter flags: flag name -> OptimizerConfig field.
HYPER_FLAGS = {
    "lr": "lr", "momentum": "momentum", "beta1": "beta1", "beta2": "beta2", "rho": "rho",
    "eps": "eps", "damping": "damping", "batch-size": "batch_size", "noise": "noise",
    "decay-start": "decay_start", "tau": "tau", "avg-tau": "avg_tau",
}


def _add_problem_args(p: argparse.ArgumentParser, start: bool = True, seed: bool = True,
                      steps_default: int = 500) -> None:
    """Flags shared by every simulating command: surface, optimizer, hyperparameters."""
    which = p.add_mutually_exclusive_group()
    which.add_argument("--surface", default=None, help="surface name (python main.py surfaces)")
    which.add_argument("--expr", default=None, metavar="EXPR",
                       help='custom surface E(x, y), e.g. "(1-x)^2 + 100*(y-x^2)^2"')
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="surface parameter, repeatable (e.g. --param kappa=100)")
    p.add_argument("--box", default=None, metavar="X0,X1,Y0,Y1",
                   help="view box (default: the surface's); an --expr surface looks for its minima in it")
    p.add_argument("--optimizer", default=None, help="update rule (python main.py optimizers)")
    for flag, field in HYPER_FLAGS.items():
        p.add_argument(f"--{flag}", dest=field, default=None, metavar="X",
                       help=f"{field.replace('_', ' ')}")
    p.add_argument("--schedule", default=None, help="constant, exponential, step or inverse")
    if start:
        p.add_argument("--start", default=None, metavar="X,Y", help="start point (default: the surface's)")
    p.add_argument("--steps", default=None, metavar="N", help=f"number of steps (default {steps_default})")
    if seed:
        p.add_argument("--seed", default=None, metavar="N", help="random seed (default 0)")
    p.set_defaults(steps_default=steps_default)


def _add_sweep_parser(sub) -> None:
    s = sub.add_parser("sweep", help="final cost over log-spaced learning rates (× a second hyperparameter)",
                       description="Run the optimizer once per learning rate and seed from one start "
                                   "and report the final and best cost (the grid search of 4.5).")
    _add_problem_args(s, seed=False)
    s.add_argument("--lr-min", default="1e-4", metavar="A", help="smallest learning rate (default 1e-4)")
    s.add_argument("--lr-max", default="1", metavar="A", help="largest learning rate (default 1)")
    s.add_argument("--points", default="13", metavar="N",
                   help="log-spaced rates from --lr-min to --lr-max inclusive (default 13)")
    s.add_argument("--seeds", default="1", metavar="K", help="run seeds 0..K-1 for each setting (default 1)")
    s.add_argument("--sweep2", default=None, metavar="NAME=V1,V2,...",
                   help="also sweep a second hyperparameter, e.g. momentum=0,0.5,0.9,0.99")
    s.add_argument("--out", metavar="PATH.csv",
                   help="write lr,[NAME,]seed,final_cost,best_cost,diverged_at (default: print a table)")


def _add_basins_parser(sub) -> None:
    b = sub.add_parser("basins", help="label each start of a grid by the minimum it reaches",
                       description="Run the optimizer from every point of a grid over the box and "
                                   "record which known minimum each run reaches (Figure 1).")
    _add_problem_args(b, start=False, steps_default=1000)
    b.add_argument("--grid", default="256", metavar="G", help="G × G starts (default 256)")
    b.add_argument("--out", metavar="PATH.npz",
                   help="write x, y, label, final_cost, steps_to_converge, minima, box")
    b.add_argument("--png", metavar="PATH.png", help="render the map as an image")
    m = b.add_argument_group("animation: the map for each value of one hyperparameter")
    m.add_argument("--animate", metavar="NAME=LO:HI",
                   help="e.g. lr=0.001:0.3 (log-spaced over decades) or momentum=0:0.99 (even steps)")
    m.add_argument("--movie", metavar="PATH", help="the animation: .gif, .mp4, or a folder for PNG frames")
    m.add_argument("--frames", default="24", metavar="N", help="values, one frame each (default 24)")
    m.add_argument("--fps", default="4", metavar="F", help="frames per second (default 4)")
    m.add_argument("--size", default="900x800", metavar="WxH", help="frame size in pixels (default 900x800)")
    m.add_argument("--theme", default="light", metavar="NAME", help="light or dark (default light)")


def _add_restarts_parser(sub) -> None:
    r = sub.add_parser("restarts", help="K runs from random starts: where each ends",
                       description="Run the optimizer from K starts drawn uniformly in the box "
                                   "(random restarts, 4.2) and count how many reach a global minimum.")
    _add_problem_args(r, start=False, steps_default=1000)
    r.add_argument("-k", default="50", metavar="K", help="number of restarts (default 50)")
    r.add_argument("--out", metavar="PATH.csv", help="also write the table as CSV")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="main.py", description="Ravine: a desktop lab for optimizer dynamics.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    r = sub.add_parser("run", help="simulate runs headless and write or summarize them")
    r.add_argument("scenario", nargs="?", help="scenario JSON file with several runs on one surface")
    _add_problem_args(r)
    r.add_argument("--out", help="write trajectories: .csv, .npz or .json")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.add_argument("--tol", default="1e-3", metavar="D",
                   help="distance to a known minimum that counts as reached (default 1e-3)")
    r.add_argument("--particles", metavar="P",
                   help="also run a cloud of P particles with independent noise seeds (up to 10000)"
                        " and summarize its spread")
    r.add_argument("--jitter", metavar="R", help="start the cloud's particles in a disc of radius R")
    _add_sweep_parser(sub)
    _add_basins_parser(sub)
    _add_restarts_parser(sub)
    sub.add_parser("surfaces", help="list the surfaces with their parameters")
    sub.add_parser("optimizers", help="list the update rules, hyperparameters and schedules")
    # The export command's flags live with its implementation (no Qt is imported here).
    from gui.export_cli import add_export_parser, add_presets_parser

    add_export_parser(sub)
    add_presets_parser(sub)
    return p


def _number(value: str, name: str, integer: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"--{name} must be a number, not {value!r}") from None
    if integer:
        if not math.isfinite(v) or v != int(v):
            raise UsageError(f"--{name} must be a whole number, not {value!r}")
        return int(v)
    return v


def _whole(text: str, flag: str, lo: int, hi: int) -> int:
    """`text` as a whole number in [lo, hi], or a UsageError naming `flag`."""
    v = _number(text, flag.lstrip("-"), integer=True)
    if not (lo <= v <= hi):
        raise UsageError(f"{flag} must be a whole number in [{lo}, {hi}], not {text}")
    return int(v)


def _box(text: str | None) -> tuple[float, float, float, float] | None:
    """--box x0,x1,y0,y1, checked by the same rule as the scenario file's box."""
    from sim.expression import check_box

    if text is None:
        return None
    try:
        return check_box(tuple(float(v) for v in text.split(",")))
    except ValueError:
        raise UsageError(f"--box must be four finite numbers x0,x1,y0,y1 with x0 < x1 and y0 < y1, "
                         f"not {text!r}") from None


def config_from_args(args: argparse.Namespace):
    """The OptimizerConfig of --optimizer, the hyperparameter flags and --schedule."""
    from sim.optimizers import RULES, OptimizerConfig

    rule = args.optimizer or "gd"
    if rule not in RULES:
        raise UsageError(f"unknown optimizer {rule!r}; choose one of: {', '.join(RULES)}")
    values: dict[str, object] = {"rule": rule, "lr": RULES[rule].default_lr}
    for flag, field in HYPER_FLAGS.items():
        raw = getattr(args, field)
        if raw is None:
            continue
        if field == "lr":
            try:
                lr = float(raw)
            except ValueError:
                lr = math.nan
            if not (math.isfinite(lr) and lr > 0):
                raise UsageError(f"--lr must be a positive finite number, not {raw!r}")
        values[field] = _number(raw, flag, integer=field in ("batch_size", "decay_start"))
    if args.schedule is not None:
        values["schedule"] = args.schedule
    try:
        return OptimizerConfig(**values).validated()  # type: ignore[arg-type]
    except ValueError as e:
        raise UsageError(str(e)) from None


def _surface_spec(args: argparse.Namespace, box) -> dict:
    """Scenario fields naming the surface: a catalogue surface with parameters, or --expr."""
    from sim.expression import CUSTOM_NAME, compile_expression
    from sim.surfaces import check_params

    if args.expr is None:
        surface = args.surface or "rosenbrock"
        try:
            return {"surface": surface, "params": check_params(surface, _params(args.param))}
        except ValueError as e:
            raise UsageError(str(e)) from None
    if args.param:
        raise UsageError("--param sets a named surface's parameters; an --expr surface has none")
    try:  # parse only: fails fast, before the surface's minima are searched
        compile_expression(args.expr)
    except ValueError as e:
        raise UsageError(f"--expr: {e}") from None
    return {"surface": CUSTOM_NAME, "params": {}, "expr": args.expr, "expr_box": box}


def scenario_from_args(args: argparse.Namespace):
    """The Scenario the flags describe (or the scenario file, with flags applied on top)."""
    from dataclasses import replace

    from sim.scenario import PALETTE, Run, Scenario, ScenarioError, load_scenario
    from sim.simulate import MAX_SEED, MAX_STEPS

    steps = None if args.steps is None else _whole(args.steps, "--steps", 0, MAX_STEPS)
    raw_seed = getattr(args, "seed", None)
    seed = 0 if raw_seed is None else _number(raw_seed, "seed", integer=True)
    if not (0 <= seed <= MAX_SEED):
        raise UsageError(f"--seed must be a whole number in [0, 2**63 - 1], got {raw_seed}")
    if getattr(args, "scenario", None):
        if args.expr is not None:
            raise UsageError("give a scenario file or --expr, not both")
        try:
            sc = load_scenario(args.scenario)
        except ScenarioError as e:
            raise UsageError(str(e)) from None
        if steps is not None:
            sc = replace(sc, steps=steps)
        return sc
    box = _box(args.box)
    spec = _surface_spec(args, box)
    cfg = config_from_args(args)
    raw_start = getattr(args, "start", None)
    start = None if raw_start is None else _pair(raw_start, "--start")
    particles, jitter = _cloud_args(args)
    run = Run(cfg, cfg.label(), start, int(seed), PALETTE[0], True, particles, jitter)
    return Scenario(runs=(run,), steps=args.steps_default if steps is None else steps,
                    seed=int(seed), box=box, **spec)


def _cloud_args(args: argparse.Namespace) -> tuple[int, float]:
    """--particles and --jitter of `run` (1 and 0 for commands without them)."""
    from sim.scenario import MAX_RUN_PARTICLES

    raw_p, raw_j = getattr(args, "particles", None), getattr(args, "jitter", None)
    particles = 1 if raw_p is None else _whole(raw_p, "--particles", 1, MAX_RUN_PARTICLES)
    jitter = 0.0 if raw_j is None else _number(raw_j, "jitter")
    if not (math.isfinite(jitter) and jitter >= 0):
        raise UsageError(f"--jitter must be a finite number >= 0, not {raw_j!r}")
    if jitter > 0 and particles == 1:
        raise UsageError("--jitter needs --particles P with P > 1")
    return particles, jitter


def make_surface_from(sc):
    """The scenario's surface; a custom surface's problems become one-line usage errors."""
    try:
        return sc.make_surface()
    except ValueError as e:
        raise UsageError(f"--expr: {e}" if sc.expr is not None else str(e)) from None


def _check_out(path: str | None, flag: str, suffixes: tuple[str, ...]) -> None:
    """Fail before any work if `path` has the wrong suffix or its folder does not exist."""
    if path is None:
        return
    if Path(path).suffix.lower() not in suffixes:
        raise UsageError(f"{flag} must end in {' or '.join(suffixes)}, not {path!r}")
    parent = Path(path).parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {str(parent)!r} does not exist")


def _write(path: str, data: bytes) -> None:
    """Write atomically (temporary file, then rename): never half a file."""
    from sim.scenario import atomic_write

    try:
        atomic_write(path, data)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def _steps_to_tol(traj, surface, tol: float) -> int | None:
    import numpy as np

    if not surface.minima:
        return None
    pts = np.array([[m.x, m.y] for m in surface.minima])
    d = np.min(np.linalg.norm(traj.theta[:, None, :] - pts[None, :, :], axis=-1), axis=1)
    hit = np.nonzero(d <= tol)[0]
    return int(hit[0]) if hit.size else None


def summarize(sc, surface, trajs, tol: float) -> list[dict]:
    """One row per run: final cost, distance to the nearest minimum, steps to tolerance."""
    rows = []
    for i, (run, tr) in enumerate(zip(sc.runs, trajs)):
        x, y = (float(v) for v in tr.final_theta)
        k, dist = surface.nearest_minimum(x, y)
        rows.append({
            "run": i, "label": run.title, "optimizer": run.config.rule,
            "final_cost": tr.final_cost, "final_x": x, "final_y": y,
            "nearest_minimum": None if k < 0 else [surface.minima[k].x, surface.minima[k].y],
            "distance": None if k < 0 else dist,
            "steps_to_tol": _steps_to_tol(tr, surface, tol),
            "diverged_at": tr.diverged_at,
        })
    return rows


def summarize_clouds(sc, surface, trajs) -> dict[int, dict]:
    """For each run with particles: its cloud at the last step (section 3's fluctuations).

    Mean and 10th/90th percentiles of the final cost over the particles that did not
    diverge, the spread √(tr Σ) of their final positions, and how many diverged.
    """
    import numpy as np

    from sim.simulate import particle_cloud

    out = {}
    for i, (run, tr) in enumerate(zip(sc.runs, trajs)):
        if not run.is_cloud:
            continue
        cl = particle_cloud(surface, run.config, tr.theta[0], run.particles, sc.steps, run.seed,
                            run.jitter)
        alive = cl.diverged_at < 0
        final = cl.cost[-1][alive].astype(float)
        out[i] = {
            "particles": run.particles, "jitter": run.jitter,
            "diverged": int((~alive).sum()),
            "mean_final_cost": float(final.mean()) if final.size else None,
            "final_cost_p10": float(np.percentile(final, 10)) if final.size else None,
            "final_cost_p90": float(np.percentile(final, 90)) if final.size else None,
            "mean_final": [float(v) for v in cl.mean[-1]],
            "spread": float(np.sqrt(np.trace(cl.cov[-1]))),
        }
    return out


def _print_clouds(clouds: dict[int, dict]) -> None:
    for i, c in clouds.items():
        if c["mean_final_cost"] is None:
            print(f"run {i}, cloud of {c['particles']:,}: every particle diverged")
            continue
        mx, my = c["mean_final"]
        print(f"run {i}, cloud of {c['particles']:,}: final cost mean {c['mean_final_cost']:.6g} "
              f"(10-90%: {c['final_cost_p10']:.3g} to {c['final_cost_p90']:.3g}), "
              f"mean at ({mx:.4g}, {my:.4g}), spread {c['spread']:.3g}, {c['diverged']} diverged")


def _print_table(rows: list[dict], tol: float) -> None:
    head = ("run", "label", "final cost", "dist. to min", f"steps to {tol:g}", "diverged at")
    body = [(str(r["run"]), r["label"][:34], f"{r['final_cost']:.6g}",
             "-" if r["distance"] is None else f"{r['distance']:.3g}",
             "-" if r["steps_to_tol"] is None else str(r["steps_to_tol"]),
             "-" if r["diverged_at"] is None else str(r["diverged_at"])) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths)))


def cmd_run(args: argparse.Namespace) -> int:
    from sim.export_data import write_trajectories
    from sim.scenario import simulate_scenario

    tol = _number(args.tol, "tol")
    if not (tol > 0 and math.isfinite(tol)):
        raise UsageError("--tol must be a positive number")
    _check_out(args.out, "--out", (".csv", ".npz", ".json"))
    sc = scenario_from_args(args)
    surface = make_surface_from(sc)
    try:
        trajs = simulate_scenario(sc, surface)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.out:
        try:
            write_trajectories(args.out, sc, trajs)
        except OSError as e:
            raise UsageError(f"cannot write {args.out}: {e.strerror or e}") from None
        return 0
    rows = summarize(sc, surface, trajs, tol)
    try:
        clouds = summarize_clouds(sc, surface, trajs)
    except ValueError as e:
        raise UsageError(str(e)) from None
    for i, c in clouds.items():
        rows[i]["cloud"] = c
    if args.json:
        import json

        print(json.dumps({"surface": sc.surface, "params": sc.params, "steps": sc.steps,
                          "runs": rows}, indent=2))
    else:
        _print_table(rows, tol)
        _print_clouds(clouds)
    return 0


# ---- sweep, basins, restarts ---------------------------------------------------------------

# A sweep allocates its runs at once; far beyond this a typo (--points 1e9) is likelier than intent.
MAX_SWEEP_RUNS = 1_000_000


def _lr_values(args: argparse.Namespace):
    """--points learning rates, log-spaced from --lr-min to --lr-max inclusive."""
    from sim.simulate import log_spaced

    lo, hi = _number(args.lr_min, "lr-min"), _number(args.lr_max, "lr-max")
    if not (math.isfinite(lo) and lo > 0):
        raise UsageError(f"--lr-min must be a positive finite number, not {args.lr_min!r}")
    if not (math.isfinite(hi) and hi >= lo):
        raise UsageError(f"--lr-max must be a finite number >= --lr-min ({args.lr_min}), not {args.lr_max!r}")
    points = _whole(args.points, "--points", 1, MAX_SWEEP_RUNS)
    return log_spaced(lo, hi, points)


def _sweep2(text: str | None) -> tuple[str | None, list[float]]:
    """--sweep2 NAME=V1,V2,...: a hyperparameter of sim's table and its values, each checked."""
    from sim.optimizers import HYPERPARAMS

    if text is None:
        return None, []
    key, sep, rest = text.partition("=")
    name = key.strip().replace("-", "_")
    if not sep or not name or not rest.strip():
        raise UsageError(f"--sweep2 expects NAME=V1,V2,..., e.g. momentum=0,0.5,0.9; not {text!r}")
    if name not in HYPERPARAMS:
        raise UsageError(f"--sweep2: unknown hyperparameter {key.strip()!r}; choose one of: "
                         f"{', '.join(HYPERPARAMS)}")
    if name == "lr":
        raise UsageError("--sweep2 needs a hyperparameter other than lr (lr is swept by --lr-min/--lr-max)")
    values = []
    for item in rest.split(","):
        try:
            values.append(HYPERPARAMS[name].check(item.strip(), "--sweep2"))
        except ValueError as e:
            raise UsageError(str(e)) from None
    return name, values


def _format_value(name: str, v: float) -> str:
    """A swept value for a file: whole numbers for integer hyperparameters, else repr-exact."""
    from sim.optimizers import HYPERPARAMS

    return str(int(v)) if HYPERPARAMS[name].kind == "int" else repr(float(v))


def _sweep_csv(res) -> bytes:
    """The sweep's rows as CSV: repr floats, so every number reads back exactly."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = [res.name] + ([res.name2] if res.name2 else [])
    w.writerow([*names, "seed", "final_cost", "best_cost", "diverged_at"])
    for row in res.rows():
        vals, (seed, final, best, div) = row[:len(names)], row[len(names):]
        w.writerow([*(_format_value(n, v) for n, v in zip(names, vals)), seed, repr(final), repr(best),
                    "" if div is None else div])
    return buf.getvalue().encode("utf-8")


def _aligned(head: tuple[str, ...], body: list[tuple[str, ...]]) -> list[str]:
    """Rows of text in left-aligned columns, the header first."""
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in (head, *body)]


def _print_sweep(res) -> None:
    names = [res.name] + ([res.name2] if res.name2 else [])
    best = res.best_index()
    body = []
    for k, row in enumerate(res.rows()):
        i2, i = divmod(k // len(res.seeds), len(res.values))
        vals, (seed, final, bestc, div) = row[:len(names)], row[len(names):]
        mark = "<- best" if (i2, i) == best else ""
        body.append((*(f"{v:.6g}" for v in vals), str(seed), f"{final:.6g}", f"{bestc:.6g}",
                     "-" if div is None else str(div), mark))
    print("\n".join(_aligned((*names, "seed", "final cost", "best cost", "diverged at", ""), body)))
    if best is None:
        print("every setting diverged")
        return
    i2, i = best
    setting = f"{res.name}={res.values[i]:.6g}" + (f" {res.name2}={res.values2[i2]:.6g}" if res.name2 else "")
    over = f" (median over {len(res.seeds)} seeds)" if len(res.seeds) > 1 else ""
    print(f"best: {setting}, final cost {res.median_final()[i2, i]:.6g}{over}")


def cmd_sweep(args: argparse.Namespace) -> int:
    from sim.simulate import sweep

    _check_out(args.out, "--out", (".csv",))
    if args.lr is not None:
        raise UsageError("sweep sets lr itself: give --lr-min, --lr-max and --points instead of --lr")
    lrs = _lr_values(args)
    name2, values2 = _sweep2(args.sweep2)
    if name2 is not None and getattr(args, name2) is not None:
        raise UsageError(f"--{name2.replace('_', '-')} and --sweep2 {name2}=... both set {name2}")
    n_seeds = _whole(args.seeds, "--seeds", 1, MAX_SWEEP_RUNS)
    if len(lrs) * n_seeds * max(1, len(values2)) > MAX_SWEEP_RUNS:
        raise UsageError(f"a sweep runs at most {MAX_SWEEP_RUNS:,} settings × seeds; "
                         "lower --points, --seeds or the --sweep2 values")
    sc = scenario_from_args(args)
    surface = make_surface_from(sc)
    run = sc.runs[0]
    try:
        res = sweep(surface, run.config, "lr", lrs, sc.steps, start=sc.start_of(run, surface),
                    seeds=range(n_seeds), name2=name2, values2=values2 or None)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.out:
        _write(args.out, _sweep_csv(res))
    else:
        _print_sweep(res)
    return 0


def _basins_npz(bmap) -> bytes:
    """The map's arrays as .npz bytes (np.savez to a buffer: no suffix games with file names)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, x=bmap.x, y=bmap.y, label=bmap.label, final_cost=bmap.final_cost,
             steps_to_converge=bmap.steps_to_converge, minima=bmap.minima, box=np.array(bmap.box))
    return buf.getvalue()


def _png(rgb) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", rgb, extension=".png")


def _basins_summary(bmap, surface) -> str:
    """Share of the starts per minimum, then none and diverged."""
    from sim.simulate import DIVERGED, NO_MINIMUM

    share = bmap.fractions()
    # Many minima (a custom Rastrigin has 121): the global ones and those that drew the most
    # starts, eight in all, in index order, then the rest summed up.
    order = sorted(range(len(surface.minima)),
                   key=lambda k: (surface.minima[k].kind != "global", -share.get(k, 0.0), k))
    shown = order if len(order) <= 9 else order[:8]
    parts = [f"minimum {k} ({surface.minima[k].x:.4g}, {surface.minima[k].y:.4g}) {surface.minima[k].kind} "
             f"{100 * share.get(k, 0.0):.1f}%" for k in sorted(shown)]
    if len(shown) < len(order):
        rest = order[len(shown):]
        parts.append(f"{len(rest)} other minima {100 * sum(share.get(k, 0.0) for k in rest):.1f}%")
    parts.append(f"none {100 * share.get(NO_MINIMUM, 0.0):.1f}%")
    parts.append(f"diverged {100 * share.get(DIVERGED, 0.0):.1f}%")
    return ", ".join(parts)


def cmd_basins(args: argparse.Namespace) -> int:
    import time

    from sim.basin_image import basin_rgb
    from sim.simulate import MAX_GRID, basins

    _check_out(args.out, "--out", (".npz",))
    _check_out(args.png, "--png", (".png",))
    grid = _whole(args.grid, "--grid", 2, MAX_GRID)
    if (args.animate is None) != (args.movie is None):
        raise UsageError("--animate NAME=LO:HI and --movie PATH go together")
    if args.animate is not None and (args.out or args.png):
        raise UsageError("--out and --png map one setting; with --animate give --movie only")
    sc = scenario_from_args(args)
    if args.animate is not None:
        from gui import export_cli

        try:
            return export_cli.run_basin_movie(args, sc, grid)
        except ValueError as e:
            raise UsageError(str(e)) from None
    surface = make_surface_from(sc)
    t0 = time.perf_counter()
    try:
        bmap = basins(surface, sc.runs[0].config, grid, sc.steps, box=sc.box, seed=sc.seed)
    except ValueError as e:
        raise UsageError(str(e)) from None
    t1 = time.perf_counter()
    if args.out:
        _write(args.out, _basins_npz(bmap))
    if args.png:
        _write(args.png, _png(basin_rgb(bmap)))
    t2 = time.perf_counter()
    print(f"{grid} × {grid} starts, {sc.steps} steps: {_basins_summary(bmap, surface)}")
    print(f"took {t2 - t0:.2f} s ({t1 - t0:.2f} s simulating, {t2 - t1:.2f} s writing)")
    return 0


def _reached(label: int, minima) -> str:
    from sim.simulate import DIVERGED

    if label == DIVERGED:
        return "diverged"
    return "none" if label < 0 else f"{label} {minima[label].kind}"


def _restarts_csv(res, surface) -> bytes:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["start_x", "start_y", "end_x", "end_y", "final_cost", "minimum", "reached", "diverged_at"])
    for i in range(len(res.starts)):
        lab, div = int(res.label[i]), int(res.diverged_at[i])
        w.writerow([*(repr(float(v)) for v in (*res.starts[i], *res.final_theta[i], res.final_cost[i])),
                    lab, _reached(lab, surface.minima).split()[-1], "" if div < 0 else div])
    return buf.getvalue().encode("utf-8")


def cmd_restarts(args: argparse.Namespace) -> int:
    from sim.simulate import MAX_RESTARTS, restarts

    _check_out(args.out, "--out", (".csv",))
    k = _whole(args.k, "-k", 1, MAX_RESTARTS)
    sc = scenario_from_args(args)
    surface = make_surface_from(sc)
    try:
        res = restarts(surface, sc.runs[0].config, k, sc.steps, seed=sc.seed, box=sc.box)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.out:
        _write(args.out, _restarts_csv(res, surface))
    else:
        best = res.best
        body = [(str(i), *(f"{v:.4g}" for v in (*res.starts[i], *res.final_theta[i])),
                 f"{res.final_cost[i]:.6g}", _reached(int(res.label[i]), surface.minima),
                 "<- best" if i == best else "") for i in range(k)]
        head = ("#", "start x", "start y", "end x", "end y", "final cost", "reached", "")
        print("\n".join(_aligned(head, body)))
    print(f"{res.n_global} of {k} reached a global minimum")
    return 0


def cmd_surfaces() -> int:
    from sim.surfaces import catalogue, make_surface

    for name, info in catalogue().items():
        print(f"{name}: {info.title} [{info.lesson}]")
        print(f"    {info.description}")
        for p in info.params:
            rng = "true/false" if p.kind == "bool" else f"[{p.lo:g}, {p.hi:g}]"
            print(f"    --param {p.name}={p.default:g}  range {rng}  {p.help}")
        s = make_surface(name)
        mins = ", ".join(f"({m.x:.4g}, {m.y:.4g}) {m.kind}" for m in s.minima[:6])
        more = f" … {len(s.minima)} in all" if len(s.minima) > 6 else ""
        print(f"    box {s.box}, start {s.start}; minima: {mins}{more}")
    return 0


def cmd_optimizers() -> int:
    from sim.optimizers import HYPERPARAMS, RULES, SCHEDULES

    for name, r in RULES.items():
        print(f"{name}: {r.title}    {r.formula}")
        print(f"    {r.description}")
        print(f"    uses: {', '.join(r.uses)}; default lr {r.default_lr:g}")
    print("\nhyperparameters (flag  default  range):")
    for name, p in HYPERPARAMS.items():
        print(f"    --{name.replace('_', '-'):12s} {p.default:<8g} [{p.lo:g}, {p.hi:g}]  {p.help}")
    print("    --schedule     constant  one of: " + ", ".join(SCHEDULES))
    for name, (_, formula) in SCHEDULES.items():
        print(f"        {name}: {formula}")
    print("    any rule runs stochastic: --batch-size B draws mini-batches on dataset surfaces;"
          " --noise σ adds N(0, σ²/B) to the gradient")
    return 0


def _retain_freed_memory() -> None:
    """Batches reuse freed memory instead of faulting fresh pages in (sim/memory.py)."""
    from sim.memory import retain_freed_memory

    retain_freed_memory()


def launch_gui(scenario_path: str | None) -> int:
    if scenario_path is not None and not Path(scenario_path).is_file():
        raise UsageError(f"no such scenario file: {scenario_path}")
    from gui.preload import load_numerics

    load_numerics()  # before Qt is imported (gui/preload.py says why)
    _retain_freed_memory()
    from gui.app import main as gui_main

    return gui_main(scenario_path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"run", "sweep", "basins", "restarts", "surfaces", "optimizers", "export", "presets"}
    try:
        if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
            if len(argv) > 1:
                raise UsageError(f"unknown command {argv[0]!r}; try: python main.py -h")
            return launch_gui(argv[0] if argv else None)
        args = build_parser().parse_args(_join_negative_values(argv))
        handlers = {"run": cmd_run, "sweep": cmd_sweep, "basins": cmd_basins, "restarts": cmd_restarts}
        if args.command in handlers:
            _retain_freed_memory()
            return handlers[args.command](args)
        if args.command == "surfaces":
            return cmd_surfaces()
        if args.command == "optimizers":
            return cmd_optimizers()
        if args.command in ("export", "presets"):
            from gui import export_cli

            try:
                return export_cli.run_export(args) if args.command == "export" else export_cli.list_presets()
            except ValueError as e:
                raise UsageError(str(e)) from None
        raise UsageError("give a command: run, sweep, basins, restarts, export, presets, surfaces, "
                         "optimizers (or none to open the window)")
    except UsageError as e:
        print(f"ravine: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _exit_fast(code: int) -> None:
    """End a command-line process without the interpreter's teardown.

    Tearing down numba's modules takes about 0.2 s, a fifth of a warm `run`; every file a
    command writes is complete and renamed before its handler returns, so nothing is lost.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    code = main()
    if "gui.app" in sys.modules:  # the window ran: let Qt and QSettings shut down in order
        sys.exit(code)
    _exit_fast(code)
