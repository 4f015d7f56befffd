"""A basin map animated over one hyperparameter: how α (or μ, β₁, …) reshapes the basins of
attraction (Figure 1), as GIF, MP4 or PNG frames for a slide.

Each frame is the Basins tab's own view (map, level sets, minima, legend, a title naming the
setting), drawn offscreen for one value of the swept hyperparameter and written by the
export writers (a temporary file renamed into place, nothing half-written on failure).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gui.document import Document
from gui.export import GifWriter, Mp4Writer, PngFolderWriter, widget_rgb
from gui.export_settings import ExportSettings, check_output, even_size
from gui.theme import THEMES
from gui.view_options import ViewOptions
from gui.views.basins import BasinsView
from sim import OptimizerConfig
from sim.scenario import Scenario
from sim.simulate import BasinMap, basins

GIF_SAMPLES = 8  # frames the GIF's one palette is drawn from


def render_basin_movie(scenario: Scenario, configs: Sequence[OptimizerConfig], path: str | os.PathLike, *,
                       grid: int, steps: int, size: tuple[int, int] = (900, 800), fps: float = 4.0,
                       theme: str = "light", loop: bool = True,
                       progress: Callable[[int, int, BasinMap], None] | None = None) -> list[BasinMap]:
    """One basin map per config on the scenario's surface and box, drawn by the Basins
    view and written to `path` (.gif, .mp4, or a folder of PNG frames); the maps.

    Needs a QApplication. ValueError for bad settings, before anything is computed."""
    if QApplication.instance() is None:
        raise RuntimeError("render_basin_movie needs a QApplication")
    width, height = even_size(int(size[0]), int(size[1]))  # H.264 wants even sides
    settings = ExportSettings(width=width, height=height, fps=float(fps), loop=loop,
                              theme=theme, frames=len(configs)).validated()
    fmt = check_output(path)
    document = Document(scenario)
    options = ViewOptions()
    options.set("theme", theme)
    view = BasinsView(document, options)
    try:
        document.set_ready()
        surface = document.surface
        # The map and its key only: no controls, no hover hint, no progress bar.
        for w in (view.controls_area, view.summary, view.job_bar):
            w.hide()
        view.grid.setValue(grid)
        view.steps.setValue(steps)
        view.resize(settings.width, settings.height)
        view.setAttribute(Qt.WA_DontShowOnScreen, True)  # rendered into images, never on a screen
        view.show()  # lays the children out at their final size
        box = tuple(float(v) for v in (scenario.box or surface.box))
        maps: list[BasinMap] = []
        frames: list[np.ndarray] = []
        background = THEMES[theme].background
        for i, cfg in enumerate(configs):
            r = basins(surface, cfg, grid, steps, box=box, seed=scenario.seed)
            view.result = r
            view.draw()
            QApplication.sendPostedEvents()
            frames.append(widget_rgb(view, background))
            maps.append(r)
            if progress is not None:
                progress(i + 1, len(configs), r)
        _write(Path(path), fmt, settings, frames)
        return maps
    finally:
        view.hide()
        view.deleteLater()
        document.deleteLater()
        options.deleteLater()


def _write(path: Path, fmt: str, settings: ExportSettings, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    if fmt == "mp4":
        writer = Mp4Writer(path, settings, len(frames), (w, h))
    elif fmt == "gif":
        picks = np.unique(np.round(np.linspace(0, len(frames) - 1, GIF_SAMPLES)).astype(int))
        writer = GifWriter(path, settings, len(frames), [frames[i] for i in picks])
    else:
        writer = PngFolderWriter(path, settings, len(frames))
    try:
        for f in frames:
            writer.append(f)
        writer.finish()
    except BaseException:
        writer.abort()
        raise
