"""Pure drawing geometry: contour segments, arrows and contour levels as numpy arrays.

Nothing here computes the surface; it turns arrays from `sim` into line segments for
pyqtgraph items drawn with ``connect="pairs"``.
"""

from __future__ import annotations

import numpy as np


def isoline_segments(z: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                     levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Marching squares on z[iy, ix] for every level: endpoints of segments, paired.

    Vectorised over cells; a saddle cell (four crossings) is split by its centre value.
    Returns x and y arrays of even length for a ``connect="pairs"`` curve.
    """
    out_x: list[np.ndarray] = []
    out_y: list[np.ndarray] = []
    v00, v10 = z[:-1, :-1], z[:-1, 1:]
    v01, v11 = z[1:, :-1], z[1:, 1:]
    x0 = np.broadcast_to(xs[:-1][None, :], v00.shape)
    x1 = np.broadcast_to(xs[1:][None, :], v00.shape)
    y0 = np.broadcast_to(ys[:-1][:, None], v00.shape)
    y1 = np.broadcast_to(ys[1:][:, None], v00.shape)
    lo = np.minimum(np.minimum(v00, v10), np.minimum(v01, v11))
    hi = np.maximum(np.maximum(v00, v10), np.maximum(v01, v11))
    for lev in levels:
        cells = (lo < lev) & (hi >= lev)
        if not cells.any():
            continue
        a, b, c, d = v00[cells], v10[cells], v01[cells], v11[cells]
        cx0, cx1, cy0, cy1 = x0[cells], x1[cells], y0[cells], y1[cells]
        with np.errstate(divide="ignore", invalid="ignore"):
            # Crossing points on the four edges: bottom, right, top, left (edges without a
            # crossing give inf or NaN here; `hit` below leaves them out).
            tb = (lev - a) / (b - a)
            tr = (lev - b) / (d - b)
            tt = (lev - c) / (d - c)
            tl = (lev - a) / (c - a)
            px = np.stack([cx0 + tb * (cx1 - cx0), cx1 + 0 * tr, cx0 + tt * (cx1 - cx0), cx0 + 0 * tl], 1)
            py = np.stack([cy0 + 0 * tb, cy0 + tr * (cy1 - cy0), cy1 + 0 * tt, cy0 + tl * (cy1 - cy0)], 1)
        sa, sb, sc, sd = a >= lev, b >= lev, c >= lev, d >= lev
        hit = np.stack([sa != sb, sb != sd, sc != sd, sa != sc], 1)
        n = hit.sum(1)
        two = n == 2
        if two.any():
            order = np.argsort(~hit[two], axis=1, kind="stable")[:, :2]
            rows = np.nonzero(two)[0]
            sx = np.take_along_axis(px[rows], order, 1)
            sy = np.take_along_axis(py[rows], order, 1)
            out_x.append(sx.ravel())
            out_y.append(sy.ravel())
        four = np.nonzero(n == 4)[0]
        if four.size:
            centre = 0.25 * (a[four] + b[four] + c[four] + d[four]) >= lev
            same = centre == sa[four]
            # Pair the edges around the corners that differ from the centre.
            e1 = np.where(same[:, None], [[0, 1, 2, 3]], [[0, 3, 1, 2]])
            sx = np.take_along_axis(px[four], e1, 1)
            sy = np.take_along_axis(py[four], e1, 1)
            out_x.append(sx.ravel())
            out_y.append(sy.ravel())
    if not out_x:
        return np.empty(0), np.empty(0)
    return np.concatenate(out_x), np.concatenate(out_y)


def arrow_segments(x: np.ndarray, y: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                   head: float = 0.28) -> tuple[np.ndarray, np.ndarray]:
    """Shafts and two-stroke heads of arrows from (x, y) along (dx, dy), as pairs."""
    x, y, dx, dy = (np.atleast_1d(np.asarray(v, float)) for v in (x, y, dx, dy))
    tx, ty = x + dx, y + dy
    c, s = np.cos(np.radians(25.0)), np.sin(np.radians(25.0))
    hx, hy = -dx * head, -dy * head
    lx, ly = c * hx - s * hy, s * hx + c * hy
    rx, ry = c * hx + s * hy, -s * hx + c * hy
    xs = np.stack([x, tx, tx, tx + lx, tx, tx + rx], 1).ravel()
    ys = np.stack([y, ty, ty, ty + ly, ty, ty + ry], 1).ravel()
    return xs, ys


def arrow_points(x: float, y: float, dx: float, dy: float, head: float = 0.28) -> tuple[list[float], list[float]]:
    """One arrow as `arrow_segments` draws it, in plain floats (no numpy cost for one arrow)."""
    c, s = _COS25, _SIN25
    tx, ty = x + dx, y + dy
    hx, hy = -dx * head, -dy * head
    lx, ly = c * hx - s * hy, s * hx + c * hy
    rx, ry = c * hx + s * hy, -s * hx + c * hy
    return [x, tx, tx, tx + lx, tx, tx + rx], [y, ty, ty, ty + ly, ty, ty + ry]


_COS25, _SIN25 = float(np.cos(np.radians(25.0))), float(np.sin(np.radians(25.0)))


def log_levels(z: np.ndarray, floor_cost: float | None, count: int = 16) -> tuple[np.ndarray, float, float]:
    """Log-spaced contour levels for costs spanning orders of magnitude.

    Returns (levels in E, base, floor): levels are base + floor·r^k up to the 98th
    percentile of E over the box, base the lowest known cost.
    """
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return np.empty(0), 0.0, 1.0
    base = float(finite.min()) if floor_cost is None else min(float(floor_cost), float(finite.min()))
    top = float(np.percentile(finite, 98.0)) - base
    if not np.isfinite(top) or top <= 0:
        top = float(finite.max() - base) or 1.0
    floor = max(top * 1e-4, 1e-12 * (1.0 + abs(base)))
    levels = base + np.geomspace(floor * 3.0, top, count)
    return levels, base, floor


def log_image(z: np.ndarray, base: float, floor: float) -> np.ndarray:
    """log10 of the cost above `base`, the quantity the colour map shows."""
    with np.errstate(invalid="ignore"):
        out = np.log10(np.maximum(z - base, 0.0) + floor)
    out[~np.isfinite(out)] = np.nanmax(out[np.isfinite(out)]) if np.isfinite(out).any() else 0.0
    return out


def nice_field_grid(box: tuple[float, float, float, float], count: int = 17) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of a regular grid for the gradient field over `box`."""
    x0, x1, y0, y1 = box
    w, h = x1 - x0, y1 - y0
    nx = count if w >= h else max(5, int(round(count * w / h)))
    ny = count if h >= w else max(5, int(round(count * h / w)))
    xs = x0 + (np.arange(nx) + 0.5) * w / nx
    ys = y0 + (np.arange(ny) + 0.5) * h / ny
    return xs, ys


def set_curve(item, x=None, y=None, **kwargs) -> None:
    """`item.setData(x, y)`, skipping the call when an empty item would stay empty."""
    if x is None or len(x) == 0:
        if item.xData is None or len(item.xData) == 0:
            return
        item.setData([], [])
        return
    item.setData(x, y, **kwargs)


def pixel_keep(x: np.ndarray, y: np.ndarray, cell: float) -> np.ndarray:
    """Indices of a polyline's points that enter a new cell of a `cell`-sized grid.

    Consecutive points inside one cell (a pixel, say) draw nothing new: dropping them
    leaves the picture as it was and can shrink a crawling 5,000-step trail a hundredfold.
    The first and the last point are always kept.
    """
    n = len(x)
    if n == 0 or not (cell > 0 and np.isfinite(cell)):
        return np.arange(n)
    cx = np.floor(x / cell)
    cy = np.floor(y / cell)
    keep = np.ones(n, bool)
    keep[1:] = (cx[1:] != cx[:-1]) | (cy[1:] != cy[:-1])
    keep[-1] = True
    return np.flatnonzero(keep)


def trail_upto(points: np.ndarray, keep: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The kept points of `points` up to row k, ending exactly at row k."""
    j = int(np.searchsorted(keep, k, side="right"))
    idx = keep[:j]
    if j == 0 or idx[-1] != k:
        idx = np.append(idx, k)
    return points[idx, 0], points[idx, 1]

