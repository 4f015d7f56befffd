"""A basin map as an RGB image, with numpy only (no plotting library, no Qt).

Each start of the grid is one pixel (enlarged by a whole factor for small grids), coloured
by the minimum it reached: one hue per minimum, shaded darker the longer the run took to
settle, grey where it reached no known minimum, dark red where it diverged. Small crosses
mark the minima.

    rgb = basin_rgb(basins(make_surface("two_minima"), OptimizerConfig("gd", lr=0.01)))
"""

from __future__ import annotations

import colorsys

import numpy as np

from sim.simulate import DIVERGED, NO_MINIMUM, BasinMap

# Distinct, fairly light hues (no grey, no dark red: those mean "none" and "diverged").
_BASE = np.array([
    (66, 146, 198), (253, 174, 97), (116, 196, 118), (158, 154, 200), (240, 120, 160),
    (102, 194, 164), (255, 217, 47), (141, 211, 199), (188, 128, 189), (166, 216, 84),
], dtype=float)
NONE_RGB = (160, 160, 160)
DIVERGED_RGB = (110, 0, 0)
MIN_SIDE = 256  # small grids are enlarged to at least this many pixels a side
DARKEST = 0.5  # brightness of a start that took all the steps (or never settled)


def minimum_colours(n: int) -> np.ndarray:
    """(n, 3) float RGB in 0..255: the base palette, then golden-ratio hues beyond it."""
    if n <= len(_BASE):
        return _BASE[:n].copy()
    extra = [colorsys.hsv_to_rgb((0.13 + 0.618034 * i) % 1.0, 0.55, 0.95)
             for i in range(n - len(_BASE))]
    return np.vstack([_BASE, 255.0 * np.array(extra)])


def _shade(steps_to_converge: np.ndarray, steps: int) -> np.ndarray:
    """Brightness per start: 1 for a run that settled at once, DARKEST for one that never did."""
    s = np.where(steps_to_converge < 0, steps, steps_to_converge).astype(float)
    return 1.0 - (1.0 - DARKEST) * s / max(steps, 1)


def _cross(img: np.ndarray, row: int, col: int, arm: int) -> None:
    """A white plus sign with a black rim centred on (row, col), clipped to the image."""
    h, w, _ = img.shape
    for width, colour in ((1, (0, 0, 0)), (0, (255, 255, 255))):
        r0, r1 = max(row - arm - width, 0), min(row + arm + width + 1, h)
        c0, c1 = max(col - arm - width, 0), min(col + arm + width + 1, w)
        img[max(row - width, 0):min(row + width + 1, h), c0:c1] = colour
        img[r0:r1, max(col - width, 0):min(col + width + 1, w)] = colour


def basin_rgb(bmap: BasinMap, min_side: int = MIN_SIDE) -> np.ndarray:
    """The map as a (H, W, 3) uint8 image, north up: row 0 is the box's top edge (y1)."""
    label = np.asarray(bmap.label)
    gy, gx = label.shape
    palette = minimum_colours(max(int(label.max()) + 1, len(bmap.minima), 1))
    rgb = np.empty((gy, gx, 3))
    reached = label >= 0
    rgb[reached] = palette[label[reached]] * _shade(bmap.steps_to_converge, bmap.steps)[reached, None]
    rgb[label == NO_MINIMUM] = NONE_RGB
    rgb[label == DIVERGED] = DIVERGED_RGB
    scale = max(1, -(-min_side // max(gx, gy)))  # ceil: a whole number of pixels per start
    img = np.repeat(np.repeat(rgb[::-1].round().astype(np.uint8), scale, axis=0), scale, axis=1)
    x0, x1, y0, y1 = bmap.box
    arm = max(3, img.shape[0] // 80)
    for mx, my in np.asarray(bmap.minima).reshape(-1, 2):
        if not (x0 <= mx <= x1 and y0 <= my <= y1):
            continue
        # The pixel of the grid start nearest the minimum, at the centre of its block.
        ix = int(round((mx - x0) / (x1 - x0) * (gx - 1)))
        iy = int(round((my - y0) / (y1 - y0) * (gy - 1)))
        _cross(img, (gy - 1 - iy) * scale + scale // 2, ix * scale + scale // 2, arm)
    return img


__all__ = ["basin_rgb", "minimum_colours", "NONE_RGB", "DIVERGED_RGB"]
