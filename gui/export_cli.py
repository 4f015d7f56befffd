"""The headless `export` and `presets` commands: the same widgets as the window, offscreen.

    python main.py export [SCENARIO.json | --preset NAME] -o out.mp4 [--view contour+loss]
                          [--size 960x720] [--fps 30] [--frames N | --duration S | --steps-per-frame K]
    python main.py presets

Everything that can be checked without Qt is checked first (flags, output path, scenario
file), so bad input fails in a fraction of a second with one clear line (a ValueError that
main.py prints and turns into exit code 2). Only then is Qt imported, on the offscreen
platform when there is no display.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from gui.export_settings import (
    VIEWS,
    ExportSettings,
    check_output,
    movie_configs,
    movie_values,
    mp4_problem,
    parse_animate,
    parse_size,
    settings_for,
)
from gui.presets import PRESET_DIR


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `export` subcommand to `subparsers` (from ArgumentParser.add_subparsers)."""
    p = subparsers.add_parser(
        "export", help="render the animation to a GIF, an MP4 or a folder of PNG frames",
        description="Render a scenario's animation offscreen with the window's own views. "
                    "The format follows the output: .gif, .mp4, or a folder name for PNG frames.")
    p.add_argument("scenario", nargs="?", help="scenario JSON file (default: the window's default scenario)")
    p.add_argument("--preset", metavar="NAME", help="a preset by name instead of a file (python main.py presets)")
    p.add_argument("-o", "--out", metavar="PATH", help="output: out.gif, out.mp4, or a folder for PNG frames")
    p.add_argument("--view", default="contour", metavar="VIEW",
                   help=f"what to show: {' or '.join(VIEWS)} (default contour)")
    p.add_argument("--size", default="960x720", metavar="WxH", help="frame size in pixels (default 960x720)")
    p.add_argument("--fps", default="30", metavar="F", help="frames per second (default 30)")
    timing = p.add_mutually_exclusive_group()
    timing.add_argument("--frames", metavar="N", help="exactly N frames over the step range")
    timing.add_argument("--duration", metavar="S", help="S seconds at --fps (default 6)")
    timing.add_argument("--steps-per-frame", metavar="K", help="advance K steps per frame")
    p.add_argument("--range", dest="step_range", metavar="FIRST:LAST",
                   help="steps to animate (default: all, 0:steps)")
    p.add_argument("--theme", default="light", metavar="NAME", help="light or dark (default light)")
    p.add_argument("--no-title", action="store_true", help="leave out the scenario's title")
    p.add_argument("--no-legend", action="store_true", help="leave out the legend of the runs")
    p.add_argument("--no-counter", action="store_true", help="leave out the step counter")
    p.add_argument("--loop", action=argparse.BooleanOptionalAction, default=True,
                   help="a GIF loops forever (default) or plays once (--no-loop)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return p


def add_presets_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `presets` subcommand (lists preset names and titles)."""
    return subparsers.add_parser("presets", help="list the presets (name and title)")


# ---- validation (no Qt) ---------------------------------------------------------------------


def _int(text: str | None, flag: str, lo: int = 1) -> int | None:
    if text is None:
        return None
    try:
        v = float(text)
        if v != int(v):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{flag} must be a whole number, not {text!r}") from None
    if v < lo:
        raise ValueError(f"{flag} must be at least {lo}, not {text}")
    return int(v)


def _float(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} must be a number, not {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{flag} must be a positive number, not {text}")
    return v


def _range(text: str | None) -> tuple[int, int | None]:
    if text is None:
        return 0, None
    a, sep, b = text.partition(":")
    if not sep:
        raise ValueError(f"--range must look like FIRST:LAST (e.g. 0:500), not {text!r}")
    first = _int(a or "0", "--range FIRST", lo=0)
    last = None if b.strip() == "" else _int(b, "--range LAST", lo=0)
    return first, last


def preset_names() -> dict[str, Path]:
    """Preset name (file stem) → path, sorted by name."""
    return {p.stem: p for p in sorted(PRESET_DIR.glob("*.json"))}


def find_preset(name: str) -> Path:
    """The preset file named `name`: its file stem, or the stem without its "NN_" lesson number."""
    names = preset_names()
    if name in names:
        return names[name]
    short = [p for stem, p in names.items() if stem.split("_", 1)[0].isdigit() and stem.split("_", 1)[-1] == name]
    if len(short) == 1:
        return short[0]
    known = ", ".join(names) or "none are installed"
    raise ValueError(f"unknown preset {name!r}; choose one of: {known}")


def resolve_scenario(args):
    """The Scenario named by SCENARIO, --preset, or neither (the default scenario)."""
    from sim.scenario import default_scenario, load_scenario

    scenario_path = getattr(args, "scenario", None)
    preset = getattr(args, "preset", None)
    if scenario_path and preset:
        raise ValueError("give a scenario file or --preset, not both")
    if preset:
        return load_scenario(find_preset(preset))
    if scenario_path:
        if not Path(scenario_path).is_file():
            raise ValueError(f"no such scenario file: {scenario_path}")
        return load_scenario(scenario_path)  # ScenarioError is a ValueError with the reason
    return default_scenario()


def settings_from_args(args) -> ExportSettings:
    """ExportSettings from the flags; ValueError names the flag that is wrong."""
    if args.view not in VIEWS:
        raise ValueError(f"unknown --view {args.view!r}; choose one of: {', '.join(VIEWS)}")
    width, height = parse_size(args.size)
    fps = _float(args.fps, "--fps")
    first, last = _range(args.step_range)
    return ExportSettings(
        view=args.view, width=width, height=height, fps=fps, first=first, last=last,
        frames=_int(args.frames, "--frames"), steps_per_frame=_int(args.steps_per_frame, "--steps-per-frame"),
        duration=_float(args.duration, "--duration"), loop=bool(args.loop), title=not args.no_title,
        legend=not args.no_legend, counter=not args.no_counter, theme=args.theme,
    ).validated()


def use_offscreen_without_display() -> None:
    """Qt's offscreen platform when there is no screen to connect to (before Qt is imported)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


# ---- the commands -----------------------------------------------------------------------------


def run_export(args) -> int:
    """The `export` command: validate, then render offscreen and write. Returns the exit code."""
    if not args.out:
        raise ValueError("give the output with -o/--out: out.gif, out.mp4, or a folder for PNG frames")
    out = args.out
    settings = settings_from_args(args)
    fmt = check_output(out)
    settings = settings_for(out, settings)
    if fmt == "mp4":
        problem = mp4_problem()
        if problem:
            raise ValueError(problem)
    scenario = resolve_scenario(args)
    settings = settings.validated(scenario.steps)

    use_offscreen_without_display()
    from PySide6.QtWidgets import QApplication

    from gui.app import configure_pyqtgraph
    from gui.export import export_animation

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - keeps Qt alive
    configure_pyqtgraph()
    quiet = bool(getattr(args, "quiet", False))
    tty = sys.stderr.isatty() and not quiet

    def progress(done: int, total: int) -> None:
        if tty and (done == total or done % 10 == 0):
            print(f"\rframe {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        n = export_animation(scenario, out, settings, progress=progress)
    except OSError as e:
        raise ValueError(f"cannot write {out}: {e.strerror or e}") from None
    if not quiet:
        print(f"wrote {out}: {n} frames, {settings.width}x{settings.height}, {settings.fps:g} fps "
              f"({time.perf_counter() - t0:.1f} s)")
    return 0


def run_basin_movie(args, scenario, grid: int) -> int:
    """`basins --animate NAME=LO:HI --movie PATH`: check everything (no Qt yet), then draw
    one basin map per value with the Basins tab's view, offscreen, and write the movie."""
    name, lo, hi = parse_animate(args.animate)
    frames = _int(args.frames, "--frames", lo=2)
    configs = movie_configs(scenario.runs[0].config, name, movie_values(lo, hi, frames))
    width, height = parse_size(args.size)
    fps = _float(args.fps, "--fps")
    ExportSettings(width=width, height=height, fps=fps, theme=args.theme, frames=frames).validated()
    if check_output(args.movie) == "mp4" and mp4_problem():
        raise ValueError(mp4_problem())
    surface = scenario.make_surface()  # a bad --expr fails here, before Qt

    use_offscreen_without_display()
    from PySide6.QtWidgets import QApplication

    from gui.app import configure_pyqtgraph
    from gui.basin_movie import render_basin_movie

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - keeps Qt alive
    configure_pyqtgraph()
    glob = [k for k, m in enumerate(surface.minima) if m.kind == "global"]

    def progress(done: int, total: int, r) -> None:
        share = sum(r.fractions().get(k, 0.0) for k in glob)
        print(f"frame {done}/{total}: {name}={getattr(r.config, name):g}, {100 * share:.1f} % of the starts "
              f"reach a global minimum, {100 * r.fractions().get(-2, 0.0):.1f} % diverge", flush=True)

    t0 = time.perf_counter()
    try:
        render_basin_movie(scenario, configs, args.movie, grid=grid, steps=scenario.steps,
                           size=(width, height), fps=fps, theme=args.theme, progress=progress)
    except OSError as e:
        raise ValueError(f"cannot write {args.movie}: {e.strerror or e}") from None
    print(f"wrote {args.movie}: {frames} frames of {grid} × {grid} starts, {name} from {lo:g} to {hi:g} "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0


def list_presets() -> int:
    """The `presets` command: one line per preset, name then title."""
    from sim.scenario import ScenarioError, load_scenario

    names = preset_names()
    if not names:
        print(f"no presets in {PRESET_DIR}")
        return 0
    width = max(len(n) for n in names)
    try:
        for name, path in names.items():
            try:
                title = load_scenario(path).title or "(untitled)"
            except ScenarioError as e:
                title = f"(cannot be read: {e})"
            print(f"{name.ljust(width)}  {title}", flush=True)
    except BrokenPipeError:  # `presets | head`: the reader has all it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
    return 0
