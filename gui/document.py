"""The document: the scenario, its computed trajectories, the playback cursor, the selection.

One object owns this state (DESIGN.md, principle 9). Editors call its setters; views
subscribe to its signals and redraw. Every setter emits only when a value really changes,
and every change of what a run computes recomputes all runs at once (principle 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from sim import OptimizerConfig, Surface, Trajectory
from sim.expression import CUSTOM_NAME, check_box
from sim.scenario import (
    MAX_RUN_PARTICLES,
    MAX_RUNS,
    Run,
    Scenario,
    default_scenario,
    load_scenario,
    next_color,
    save_scenario,
)
from sim.simulate import Cloud, particle_cloud, simulate

_LOOK_FIELDS = ("label", "color", "visible")
# Particles of a cloud recomputed while a slider is dragged: ~25 ms for 1,000 steps, where
# 10,000 take ~250 ms (the full cloud follows on release).
LIVE_PARTICLES = 1000


def _surface_key(sc: Scenario) -> tuple:
    """What the surface is built from: a catalogue name and parameters, or an expression."""
    return sc.surface, sc.params, sc.expr, sc.expr_box


def _computes_same(a: Scenario, b: Scenario) -> bool:
    """True when a and b give the same trajectories (only titles or looks differ)."""
    if (_surface_key(a), a.steps, a.seed, len(a.runs)) != (_surface_key(b), b.steps, b.seed, len(b.runs)):
        return False
    return all((r.config, r.start, r.seed, r.particles, r.jitter) == (s.config, s.start, s.seed, s.particles,
                                                                    s.jitter)
               for r, s in zip(a.runs, b.runs))


class Document(QObject):
    """Scenario, results, cursor and selection, with a signal for each."""

    scenarioChanged = Signal()  # anything in the scenario (runs, looks, titles, surface)
    surfaceChanged = Signal()  # a new surface (name or parameters): views reset their box
    resultsChanged = Signal()  # trajectories (and particle clouds) recomputed
    cursorChanged = Signal(int)
    selectionChanged = Signal(int)
    readyChanged = Signal(bool)
    pathChanged = Signal(str)

    def __init__(self, scenario: Scenario | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scenario = scenario or default_scenario()
        self._surface: Surface | None = None
        self._results: list[Trajectory | None] = []
        self._errors: list[str | None] = []
        # Results by (config, start, seed, steps) on `_memo_surface`: only changed runs rerun.
        self._memo: dict[tuple, tuple[Trajectory | None, str | None]] = {}
        self._memo_surface: Surface | None = None
        # Particle clouds of runs with particles > 1, memoized the same way (key adds P, jitter).
        self._clouds: list[Cloud | None] = []
        self._cloud_memo: dict[tuple, tuple[Cloud | None, str | None]] = {}
        self._cursor = 0
        self._selected = 0 if self._scenario.runs else -1
        self._ready = False
        self._path = ""
        self._live = False  # a slider is being dragged: clouds are previewed (LIVE_PARTICLES)

    # ---- read access -------------------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @property
    def surface(self) -> Surface | None:
        """The surface, or None until the kernels are ready."""
        return self._surface

    @property
    def results(self) -> list[Trajectory | None]:
        """One trajectory per run (None where the run could not be computed)."""
        return self._results

    @property
    def clouds(self) -> list[Cloud | None]:
        """One particle cloud per run (None for single-path runs and where it failed)."""
        return self._clouds

    def cloud_of(self, i: int) -> Cloud | None:
        return self._clouds[i] if 0 <= i < len(self._clouds) else None

    @property
    def live(self) -> bool:
        """True while an editor's slider is dragged (clouds show their first particles)."""
        return self._live

    def set_live(self, live: bool) -> None:
        """An editor starts (True) or ends (False) dragging a slider. Meanwhile a cloud is
        recomputed for its first LIVE_PARTICLES particles only, exactly those of the full
        cloud, so the drag stays fluid; on release the full clouds are computed."""
        if live == self._live:
            return
        self._live = live
        if not live and any(c is not None and c.theta.shape[1] < r.particles
                            for c, r in zip(self._clouds, self._scenario.runs)):
            self._recompute()
            # The views redraw on scenarioChanged (results are recomputed before it fires).
            self.scenarioChanged.emit()
            self.resultsChanged.emit()

    @property
    def errors(self) -> list[str | None]:
        return self._errors

    @property
    def cursor(self) -> int:
        return self._cursor

    @property
    def selected(self) -> int:
        return self._selected

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def path(self) -> str:
        return self._path

    @property
    def max_cursor(self) -> int:
        return self._scenario.steps

    def selected_run(self) -> Run | None:
        i = self._selected
        return self._scenario.runs[i] if 0 <= i < len(self._scenario.runs) else None

    def selected_result(self) -> Trajectory | None:
        i = self._selected
        return self._results[i] if 0 <= i < len(self._results) else None

    def start_of(self, i: int) -> tuple[float, float]:
        run = self._scenario.runs[i]
        if run.start is not None:
            return run.start
        return self._surface.start if self._surface is not None else (0.0, 0.0)

    # ---- life cycle ----------------------------------------------------------------------
    def set_ready(self) -> None:
        """Kernels are compiled: build the surface and compute everything."""
        if self._ready:
            return
        self._ready = True
        self._surface = self._scenario.make_surface()
        self._recompute()
        self.readyChanged.emit(True)
        self.surfaceChanged.emit()
        self.scenarioChanged.emit()
        self.resultsChanged.emit()

    def _recompute(self) -> None:
        """Simulate the runs whose inputs changed; the others keep their trajectory.

        A run's result depends on the surface, its config, start, seed and the step count;
        editing one run while a slider is dragged then costs one simulation, not six.
        """
        if not self._ready or self._surface is None:
            return
        sc, s = self._scenario, self._surface
        previous = self._memo if self._memo_surface is s else {}
        prev_clouds = self._cloud_memo if self._memo_surface is s else {}
        results: list[Trajectory | None] = []
        clouds: list[Cloud | None] = []
        errors: list[str | None] = []
        memo: dict[tuple, tuple[Trajectory | None, str | None]] = {}
        cloud_memo: dict[tuple, tuple[Cloud | None, str | None]] = {}
        for r in sc.runs:
            key = (r.config, sc.start_of(r, s), r.seed, sc.steps)
            hit = memo.get(key) or previous.get(key)
            if hit is None:
                try:
                    hit = (simulate(s, r.config, key[1], sc.steps, r.seed), None)
                except ValueError as e:  # a bad run does not stop the others
                    hit = (None, str(e))
            memo[key] = hit
            results.append(hit[0])
            cloud, err = None, hit[1]
            if r.is_cloud and hit[0] is not None:
                # A full cloud already computed serves as it is, also while a slider is
                # dragged; otherwise a drag computes the preview (the first particles).
                fkey = (*key, r.particles, r.jitter)
                live = self._live and r.particles > LIVE_PARTICLES
                ckey = (*fkey, LIVE_PARTICLES) if live else fkey
                chit = cloud_memo.get(fkey) or prev_clouds.get(fkey)
                if chit is not None:
                    ckey = fkey
                else:
                    chit = cloud_memo.get(ckey) or prev_clouds.get(ckey)
                if chit is None:
                    try:
                        chit = (particle_cloud(s, r.config, key[1], r.particles, sc.steps, r.seed,
                                               r.jitter, subset=LIVE_PARTICLES if live else None), None)
                    except ValueError as e:
                        chit = (None, str(e))
                cloud_memo[ckey] = chit
                cloud, err = chit[0], chit[1]
            clouds.append(cloud)
            errors.append(err)
        self._memo, self._cloud_memo, self._memo_surface = memo, cloud_memo, s
        self._results, self._clouds, self._errors = results, clouds, errors

    # ---- the scenario ---------------------------------------------------------------------
    def set_scenario(self, sc: Scenario, path: str | None = None) -> None:
        """Replace the scenario; recompute only if what the runs compute changed."""
        if path is not None and path != self._path:
            self._path = path
            self.pathChanged.emit(path)
        old = self._scenario
        if sc == old:
            return
        new_surface = _surface_key(sc) != _surface_key(old)
        recompute = new_surface or not _computes_same(old, sc)
        if self._ready and new_surface:
            self._surface = sc.make_surface()  # ValueError here leaves everything unchanged
        self._scenario = sc
        if recompute:
            self._recompute()
        n = len(sc.runs)
        if self._selected >= n or (self._selected < 0 and n):
            self._set_selected(n - 1 if self._selected >= n else 0)
        if self._cursor > sc.steps:
            self._cursor = sc.steps
            self.cursorChanged.emit(self._cursor)
        if self._ready and new_surface:
            self.surfaceChanged.emit()
        self.scenarioChanged.emit()
        if self._ready and recompute:
            self.resultsChanged.emit()

    def new(self) -> None:
        """The default scenario, unsaved."""
        self._path = ""
        self.pathChanged.emit("")
        self.set_scenario(default_scenario())
        self.set_cursor(0)

    def open(self, path: str) -> None:
        """Load a scenario file; ScenarioError leaves the document untouched."""
        sc = load_scenario(path)
        if self._ready:
            sc.make_surface()  # a surface that cannot be built fails here, before any change
        self.set_scenario(sc, str(Path(path)))
        self.set_cursor(0)

    def save(self, path: str) -> None:
        save_scenario(self._scenario, path)
        if path != self._path:
            self._path = path
            self.pathChanged.emit(path)

    def set_surface(self, name: str, params: dict[str, float] | None = None) -> None:
        """Change the surface (and its view box: the box of the new surface)."""
        self.set_scenario(replace(self._scenario, surface=name, params=dict(params or {}), box=None,
                                  expr=None, expr_box=None))

    def set_custom_surface(self, expr: str, box=None) -> None:
        """A surface from an expression in x and y over `box` (default: sim's).

        The expression is parsed (never evaluated by Python) and the surface built before
        anything changes: ValueError says what is wrong and leaves the document as it was.
        """
        sc = replace(self._scenario, surface=CUSTOM_NAME, params={}, box=None, expr=expr.strip(),
                     expr_box=None if box is None else check_box(box))
        sc.make_surface()
        self.set_scenario(sc)

    def set_surface_param(self, name: str, value: float) -> None:
        params = dict(self._scenario.params)
        params[name] = value
        self.set_scenario(replace(self._scenario, params=params))

    def set_steps(self, steps: int) -> None:
        self.set_scenario(replace(self._scenario, steps=int(steps)))

    # ---- runs ------------------------------------------------------------------------------
    def _set_runs(self, runs: list[Run]) -> None:
        self.set_scenario(self._scenario.with_runs(runs))

    def update_run(self, i: int, **changes) -> None:
        """Change fields of run i (label, start, seed, color, visible, particles, jitter).

        A particle count outside [1, MAX_RUN_PARTICLES] or a negative jitter raises ValueError.
        """
        runs = list(self._scenario.runs)
        if not 0 <= i < len(runs):
            return
        p = changes.get("particles", 1)
        if isinstance(p, bool) or int(p) != p or not 1 <= p <= MAX_RUN_PARTICLES:
            raise ValueError(f"particles must be a whole number in [1, {MAX_RUN_PARTICLES}], not {p!r}")
        j = float(changes.get("jitter", 0.0))
        if not (math.isfinite(j) and j >= 0):
            raise ValueError(f"jitter must be a finite radius >= 0, not {j!r}")
        runs[i] = replace(runs[i], **changes)
        self._set_runs(runs)

    def update_config(self, i: int, **changes) -> None:
        """Change hyperparameters of run i; an invalid value raises ValueError, nothing changes."""
        runs = list(self._scenario.runs)
        if not 0 <= i < len(runs):
            return
        cfg: OptimizerConfig = replace(runs[i].config, **changes).validated()
        runs[i] = replace(runs[i], config=cfg)
        self._set_runs(runs)

    def add_run(self, config: OptimizerConfig | None = None) -> int:
        """Append a run (a gd run by default) and select it."""
        runs = list(self._scenario.runs)
        if len(runs) >= MAX_RUNS:
            return -1
        cfg = config or OptimizerConfig("gd", lr=1e-3)
        start = runs[self._selected].start if 0 <= self._selected < len(runs) else None
        runs.append(Run(cfg, "", start, 0, next_color(runs)))
        self._set_runs(runs)
        self.set_selected(len(runs) - 1)
        return len(runs) - 1

    def add_runs(self, runs: Sequence[Run]) -> list[int]:
        """Append several runs at once (one recompute), each with an unused colour; selects
        the first. Runs beyond MAX_RUNS are dropped. Returns the new indices."""
        have = list(self._scenario.runs)
        added: list[int] = []
        for r in runs:
            if len(have) >= MAX_RUNS:
                break
            have.append(replace(r, color=next_color(have)))
            added.append(len(have) - 1)
        if added:
            self._set_runs(have)
            self.set_selected(added[0])
        return added

    def duplicate_run(self, i: int) -> int:
        runs = list(self._scenario.runs)
        if not 0 <= i < len(runs) or len(runs) >= MAX_RUNS:
            return -1
        label = runs[i].label + " (copy)" if runs[i].label else ""
        runs.insert(i + 1, replace(runs[i], color=next_color(runs), label=label))
        self._set_runs(runs)
        self.set_selected(i + 1)
        return i + 1

    def remove_run(self, i: int) -> None:
        runs = list(self._scenario.runs)
        if not 0 <= i < len(runs):
            return
        del runs[i]
        self._set_runs(runs)

    def set_start(self, xy: tuple[float, float], run: int | None = None) -> None:
        """Move the start of run `run` (None: of every run)."""
        xy = (float(xy[0]), float(xy[1]))
        runs = [replace(r, start=xy) if run is None or k == run else r
                for k, r in enumerate(self._scenario.runs)]
        self._set_runs(runs)

    # ---- cursor and selection -----------------------------------------------------------
    def set_cursor(self, t: int) -> None:
        t = max(0, min(int(t), self._scenario.steps))
        if t != self._cursor:
            self._cursor = t
            self.cursorChanged.emit(t)

    def set_selected(self, i: int) -> None:
        if not -1 <= i < len(self._scenario.runs):
            return
        self._set_selected(i)

    def _set_selected(self, i: int) -> None:
        if i != self._selected:
            self._selected = i
            self.selectionChanged.emit(i)
