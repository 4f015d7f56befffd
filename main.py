"""Ravine: a desktop lab for optimizer dynamics.

    python main.py                       open the window with the default scenario
    python main.py scenario.json         open the window with a scenario
    python main.py run ...               simulate headless (see `python main.py run -h`)
    python main.py export ... -o out.mp4 render the animation offscreen (GIF, MP4, PNG frames)
    python main.py presets | surfaces | optimizers   list what exists

The command-line path never imports Qt: only the window does.
"""

from __future__ import annotations

import argparse
import math
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


def _add_problem_args(p: argparse.ArgumentParser) -> None:
    """Flags shared by every simulating command: surface, optimizer, hyperparameters."""
    p.add_argument("--surface", default=None, help="surface name (python main.py surfaces)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="surface parameter, repeatable (e.g. --param kappa=100)")
    p.add_argument("--optimizer", default=None, help="update rule (python main.py optimizers)")
    for flag, field in HYPER_FLAGS.items():
        p.add_argument(f"--{flag}", dest=field, default=None, metavar="X",
                       help=f"{field.replace('_', ' ')}")
    p.add_argument("--schedule", default=None, help="constant, exponential, step or inverse")
    p.add_argument("--start", default=None, metavar="X,Y", help="start point (default: the surface's)")
    p.add_argument("--steps", default=None, metavar="N", help="number of steps (default 500)")
    p.add_argument("--seed", default=None, metavar="N", help="random seed (default 0)")


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


def scenario_from_args(args: argparse.Namespace):
    """The Scenario the flags describe (or the scenario file, with flags applied on top)."""
    from dataclasses import replace

    from sim.optimizers import RULES, OptimizerConfig
    from sim.scenario import PALETTE, Run, Scenario, ScenarioError, load_scenario
    from sim.surfaces import check_params

    steps = None if args.steps is None else _number(args.steps, "steps", integer=True)
    if steps is not None and steps < 0:
        raise UsageError(f"--steps must not be negative, got {args.steps}")
    seed = None if args.seed is None else _number(args.seed, "seed", integer=True)
    if seed is not None and not (0 <= seed < 2**63):
        raise UsageError(f"--seed must be a whole number in [0, 2**63 - 1], got {args.seed}")
    if getattr(args, "scenario", None):
        try:
            sc = load_scenario(args.scenario)
        except ScenarioError as e:
            raise UsageError(str(e)) from None
        if steps is not None:
            sc = replace(sc, steps=steps)
        return sc
    surface = args.surface or "rosenbrock"
    try:
        params = check_params(surface, _params(args.param))
    except ValueError as e:
        raise UsageError(str(e)) from None
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
        cfg = OptimizerConfig(**values).validated()  # type: ignore[arg-type]
    except ValueError as e:
        raise UsageError(str(e)) from None
    start = None if args.start is None else _pair(args.start, "--start")
    run = Run(cfg, cfg.label(), start, int(seed or 0), PALETTE[0])
    return Scenario(surface, params, (run,), 500 if steps is None else steps, int(seed or 0))


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
    if args.out:
        suffix = Path(args.out).suffix.lower()
        if suffix not in (".csv", ".npz", ".json"):
            raise UsageError(f"--out must end in .csv, .npz or .json, not {args.out!r}")
        parent = Path(args.out).parent
        if not parent.is_dir():
            raise UsageError(f"cannot write {args.out}: folder {str(parent)!r} does not exist")
    sc = scenario_from_args(args)
    surface = sc.make_surface()
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
    if args.json:
        import json

        print(json.dumps({"surface": sc.surface, "params": sc.params, "steps": sc.steps,
                          "runs": rows}, indent=2))
    else:
        _print_table(rows, tol)
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


def launch_gui(scenario_path: str | None) -> int:
    if scenario_path is not None and not Path(scenario_path).is_file():
        raise UsageError(f"no such scenario file: {scenario_path}")
    from gui.app import main as gui_main

    return gui_main(scenario_path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"run", "surfaces", "optimizers", "export", "presets"}
    try:
        if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
            if len(argv) > 1:
                raise UsageError(f"unknown command {argv[0]!r}; try: python main.py -h")
            return launch_gui(argv[0] if argv else None)
        args = build_parser().parse_args(_join_negative_values(argv))
        if args.command == "run":
            return cmd_run(args)
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
        raise UsageError("give a command: run, export, presets, surfaces, optimizers "
                         "(or none to open the window)")
    except UsageError as e:
        print(f"ravine: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
