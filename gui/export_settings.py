"""Export settings and checks that need no Qt: sizes, step ranges, output paths, MP4 support.

The command line validates everything here before it imports Qt, so bad input fails fast;
`gui.export` renders and writes with these settings.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

THEMES = ("light", "dark")  # gui.theme.THEMES, named here without importing Qt

VIEWS = {"contour": "Contour view with trajectories", "contour+loss": "Contour + loss side by side"}
FORMATS = {".gif": "gif", ".mp4": "mp4"}  # anything without a suffix is a folder of PNG frames
MIN_SIZE, MAX_SIZE = (160, 120), (3840, 2160)
MAX_FRAMES = 20_000


# ---------------------------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class ExportSettings:
    """What to export: view, pixel size, timing, step range and what to show."""

    view: str = "contour"
    width: int = 960
    height: int = 720
    fps: float = 30.0
    first: int = 0  # first step shown
    last: int | None = None  # last step shown (None: the scenario's last step)
    frames: int | None = None  # exactly this many frames ...
    steps_per_frame: int | None = None  # ... or this many steps per frame ...
    duration: float | None = None  # ... or this many seconds (default: 6 s)
    loop: bool = True
    title: bool = True
    legend: bool = True
    counter: bool = True
    theme: str = "light"

    def validated(self, steps: int | None = None) -> ExportSettings:
        """These settings, checked (ValueError says what is wrong); `steps` bounds the range."""
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}; choose one of: {', '.join(VIEWS)}")
        if self.theme not in THEMES:
            raise ValueError(f"unknown theme {self.theme!r}; choose one of: {', '.join(THEMES)}")
        check_size(self.width, self.height)
        if not (math.isfinite(self.fps) and 1 <= self.fps <= 120):
            raise ValueError(f"fps must be between 1 and 120, not {self.fps:g}")
        given = [n for n, v in (("frames", self.frames), ("steps per frame", self.steps_per_frame),
                                ("duration", self.duration)) if v is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of frames, steps per frame or duration, not {' and '.join(given)}")
        if self.frames is not None and not (1 <= self.frames <= MAX_FRAMES):
            raise ValueError(f"frames must be between 1 and {MAX_FRAMES}, not {self.frames}")
        if self.steps_per_frame is not None and self.steps_per_frame < 1:
            raise ValueError(f"steps per frame must be at least 1, not {self.steps_per_frame}")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0
                                              and self.duration * self.fps <= MAX_FRAMES):
            raise ValueError(f"duration must be positive and give at most {MAX_FRAMES} frames, "
                             f"not {self.duration:g} s")
        if self.first < 0:
            raise ValueError(f"the first step must not be negative, not {self.first}")
        if steps is not None:
            last = steps if self.last is None else self.last
            if not (self.first <= last <= steps):
                raise ValueError(f"step range {self.first}..{last} is outside 0..{steps}")
        return self

    def cursors(self, steps: int) -> np.ndarray:
        """The cursor (step t) of every frame, from `first` to `last` inclusive."""
        last = steps if self.last is None else self.last
        first = self.first
        if self.steps_per_frame is not None:
            t = np.arange(first, last + 1, self.steps_per_frame)
            if t[-1] != last:
                t = np.append(t, last)  # the animation always ends on the last step
            return t.astype(int)
        n = self.frames if self.frames is not None else max(1, round((self.duration or 6.0) * self.fps))
        if n == 1:
            return np.array([last])
        return np.round(np.linspace(first, last, n)).astype(int)


def check_size(width: int, height: int) -> None:
    """ValueError unless width × height is a size frames can be rendered at."""
    if not (MIN_SIZE[0] <= width <= MAX_SIZE[0] and MIN_SIZE[1] <= height <= MAX_SIZE[1]):
        raise ValueError(f"size {width}x{height} is out of range: width {MIN_SIZE[0]}–{MAX_SIZE[0]}, "
                         f"height {MIN_SIZE[1]}–{MAX_SIZE[1]} pixels")


def parse_size(text: str) -> tuple[int, int]:
    """'960x720' → (960, 720); ValueError with the reason otherwise."""
    w, sep, h = text.lower().replace("×", "x").partition("x")
    try:
        if not sep:
            raise ValueError
        size = int(w), int(h)
    except ValueError:
        raise ValueError(f"size must look like 960x720, not {text!r}") from None
    check_size(*size)
    return size


def output_format(path: str | os.PathLike) -> str:
    """'gif', 'mp4' or 'png' (a folder of frames) from the path; ValueError for others."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in FORMATS:
        return FORMATS[suffix]
    if suffix == "" or p.is_dir() or str(path).endswith(("/", os.sep)):
        return "png"
    raise ValueError(f"unknown output format {suffix!r} for {p.name}: use .gif, .mp4, "
                     "or a folder name for PNG frames")


def check_output(path: str | os.PathLike) -> str:
    """The format of `path` after checking it can be written; ValueError says why not."""
    fmt = output_format(path)
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"cannot write {p}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {p}: folder {str(parent)!r} is not writable")
    if fmt == "png":
        if p.exists() and not p.is_dir():
            raise ValueError(f"cannot write PNG frames into {p}: it is a file, not a folder")
        if p.is_dir() and any(not _is_frame_file(c) for c in p.iterdir()):
            raise ValueError(f"cannot write PNG frames into {p}: the folder holds other files")
    elif p.is_dir():
        raise ValueError(f"cannot write {p}: it is a folder")
    elif p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"cannot write {p}: the file is read-only")
    return fmt


def _is_frame_file(p: Path) -> bool:
    return p.is_file() and p.name.startswith("frame_") and p.suffix == ".png"


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 in yuv420p needs even dimensions: round odd ones down by a pixel."""
    return width - width % 2, height - height % 2


@functools.lru_cache(maxsize=1)
def mp4_problem() -> str | None:
    """None when H.264 MP4 can be written, else why not (GIF and PNG still work)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return "MP4 encoding is unavailable: the imageio-ffmpeg package is not installed (GIF still works)"
    try:
        imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        return f"MP4 encoding is unavailable: no ffmpeg binary ({e}); GIF still works"
    try:
        ok = imageio_ffmpeg._io.ffmpeg_test_encoder("libx264")
    except Exception:  # noqa: BLE001 - any failure to run ffmpeg means no MP4
        ok = False
    if not ok:
        return "MP4 encoding is unavailable: this ffmpeg has no libx264 H.264 encoder; GIF still works"
    return None


def settings_for(path: str | os.PathLike, settings: ExportSettings) -> ExportSettings:
    """`settings` adjusted to the format of `path` (even pixel sizes for MP4)."""
    if output_format(path) == "mp4":
        w, h = even_size(settings.width, settings.height)
        return replace(settings, width=w, height=h)
    return settings


# ---- a basin map animated over one hyperparameter (gui/basin_movie.py) ----------------------

MAX_MOVIE_FRAMES = 240


def parse_animate(text: str) -> tuple[str, float, float]:
    """'lr=0.001:0.3' → ("lr", 0.001, 0.3); ValueError with the reason otherwise."""
    name, sep, rng = text.partition("=")
    lo, sep2, hi = rng.partition(":")
    try:
        if not (sep and sep2 and name.strip()):
            raise ValueError
        return name.strip().replace("-", "_"), float(lo), float(hi)
    except ValueError:
        raise ValueError(f"--animate must look like NAME=LO:HI (e.g. lr=0.001:0.3), not {text!r}") from None


def movie_values(lo: float, hi: float, frames: int) -> list[float]:
    """`frames` values from lo to hi, to 3 significant digits where that keeps them apart
    (what a frame's title shows):
    log-spaced when 0 < lo and hi ≥ 10·lo (a learning rate over decades), else evenly
    spaced (a momentum from 0 to 0.99)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        raise ValueError(f"the range must be two finite numbers LO < HI, not {lo:g}:{hi:g}")
    if not (2 <= frames <= MAX_MOVIE_FRAMES):
        raise ValueError(f"frames must be between 2 and {MAX_MOVIE_FRAMES}, not {frames}")
    if lo > 0 and hi >= 10 * lo:
        raw = [lo * (hi / lo) ** (k / (frames - 1)) for k in range(frames)]
    else:
        raw = [lo + (hi - lo) * k / (frames - 1) for k in range(frames)]
    for digits in range(3, 13):  # more digits only where 3 would repeat a value
        vals = [float(f"{v:.{digits}g}") for v in raw]
        if all(a < b for a, b in zip(vals, vals[1:])):
            return vals
    return raw


def movie_configs(config, name: str, values) -> list:
    """`config` (an OptimizerConfig) with hyperparameter `name` set to each value, each
    checked: ValueError names the rule's hyperparameters or the bad value."""
    from dataclasses import replace

    uses = tuple(config.info.uses) + ("noise",)
    if name not in uses:
        raise ValueError(f"{config.info.title} has no hyperparameter {name!r} to animate; it has: "
                         f"{', '.join(uses)}")
    return [replace(config, **{name: float(v)}).validated() for v in values]
