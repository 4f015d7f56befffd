"""A basin map animated over one hyperparameter: how α (or μ, β₁, …) reshapes the basins of
attraction (Figure 1), as GIF, MP4 or PNG frames for a slide.

Each frame is the Basins tab's own view (map, level sets, minima, legend, a title naming the
setting), drawn offscreen for one value of the swept hyperparameter and written by the
export writers (a temporary file renamed into place, nothing half-written on failure).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.document import Document
from gui.export import GifWriter, Mp4Writer, PngFolderWriter, widget_rgb
from gui.export_settings import (
    MAX_MOVIE_FRAMES,
    ExportSettings,
    check_output,
    even_size,
    movie_configs,
    movie_values,
    output_format,
)
from gui.theme import THEMES, qt_palette
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
    # The view needs the surface and box; the scenario's own runs (clouds, many steps) are
    # not drawn: one plain run keeps the document cheap to build.
    first = scenario.runs[0] if scenario.runs else None
    runs = () if first is None else (replace(first, particles=1, jitter=0.0),)
    document = Document(replace(scenario, runs=runs))
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
        view.setPalette(qt_palette(THEMES[theme]))  # the legend and axes in the theme, whatever the app's
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


# ---- Basins tab → Animate… --------------------------------------------------------------------


class MovieCancelled(Exception):
    """The user pressed Cancel: nothing is written."""


def _default_range(config: OptimizerConfig, name: str) -> tuple[float, float]:
    """A range worth watching: a decade either side of a rate or scale, else 0 to 0.99."""
    v = float(getattr(config, name))
    if name in ("lr", "eps", "damping"):
        return v / 10, v * 10
    if name == "noise":
        return 0.0, max(2 * v, 1.0)
    return 0.0, 0.99


class BasinMovieDialog(QDialog):
    """The Basins tab's map for each value of one hyperparameter, saved as GIF or MP4:
    the tab's optimizer, surface, area, grid and steps; a progress bar with Cancel."""

    def __init__(self, view: BasinsView, parent: QWidget | None = None) -> None:
        super().__init__(parent or view)
        self.setWindowTitle("Animate the basin map")
        self.view = view
        self.config = view.form.config()
        self._cancel = False
        self.written: Path | None = None

        self.name = QComboBox()
        for n in self.config.info.uses + ("noise",):
            self.name.addItem(n, n)
        self.lo = QLineEdit()
        self.hi = QLineEdit()
        self.frames = QSpinBox()
        self.frames.setRange(2, MAX_MOVIE_FRAMES)
        self.frames.setValue(24)
        self.fps = QSpinBox()
        self.fps.setRange(1, 30)
        self.fps.setValue(4)
        self.fps.setSuffix(" fps")
        self.grid = QSpinBox()
        self.grid.setRange(16, 1024)
        self.grid.setValue(min(view.grid.value(), 128))
        self.grid.setSuffix(" × grid")
        self.grid.setToolTip("starts per side in each frame; 128 computes 24 frames in seconds")
        self.path = QLineEdit(str(Path.home() / "basins.gif"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)

        form = QFormLayout()
        form.addRow("hyperparameter", self.name)
        form.addRow("from", self.lo)
        form.addRow("to", self.hi)
        form.addRow("frames", self.frames)
        form.addRow("speed", self.fps)
        form.addRow("grid", self.grid)
        form.addRow("file (.gif, .mp4)", path_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Close)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.cancel_or_close)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"{self.config.label()} on the Basins tab's surface and area; from and to: "
                             "log-spaced when they span a decade or more."))
        lay.addLayout(form)
        lay.addWidget(self.message)
        lay.addWidget(self.progress)
        lay.addWidget(self.buttons)
        self.name.currentIndexChanged.connect(lambda _i: self._fill_range())
        self._fill_range()

    def _fill_range(self) -> None:
        lo, hi = _default_range(self.config, self.name.currentData())
        self.lo.setText(f"{lo:g}")
        self.hi.setText(f"{hi:g}")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the animation", self.path.text(),
                                              "GIF (*.gif);;MP4 video (*.mp4)")
        if path:
            self.path.setText(path)

    def cancel_or_close(self) -> None:
        if self.progress.isVisible():
            self._cancel = True
        else:
            self.reject()

    def _on_progress(self, done: int, total: int, r: BasinMap) -> None:
        self.progress.setValue(done)
        name = self.name.currentData()
        self.message.setText(f"frame {done} of {total}: {name} = {getattr(r.config, name):g}")
        QApplication.processEvents()
        if self._cancel:
            raise MovieCancelled

    def save(self) -> bool:
        """Check the settings, draw every frame and write the file; True when written."""
        name = self.name.currentData()
        try:
            try:
                lo, hi = float(self.lo.text()), float(self.hi.text())
            except ValueError:
                raise ValueError("from and to must be numbers") from None
            configs = movie_configs(self.config, name, movie_values(lo, hi, self.frames.value()))
            path = Path(self.path.text()).expanduser()
            if output_format(path) == "png":
                raise ValueError("save the animation as .gif or .mp4")
        except ValueError as e:
            self.message.setText(str(e))
            return False
        doc = self.view._doc
        sc = replace(doc.scenario, steps=int(self.view.steps.value()), box=self.view.settings()[1]["box"])
        self._cancel = False
        self.progress.setRange(0, len(configs))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.buttons.button(QDialogButtonBox.Save).setEnabled(False)
        try:
            render_basin_movie(sc, configs, path, grid=self.grid.value(), steps=sc.steps, fps=self.fps.value(),
                               theme=self.view.theme.name, progress=self._on_progress)
        except MovieCancelled:
            self.message.setText("Cancelled; nothing was written.")
            return False
        except (ValueError, OSError) as e:
            self.message.setText(f"Could not save the animation: {getattr(e, 'strerror', None) or e}")
            return False
        finally:
            self.progress.setVisible(False)
            self.buttons.button(QDialogButtonBox.Save).setEnabled(True)
        self.written = path
        self.message.setText(f"Wrote {path} ({len(configs)} frames).")
        return True
