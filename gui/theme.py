"""Light and dark looks: Qt palette, pyqtgraph colours and the surface colour map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    """The colours every view draws with."""

    name: str
    background: str
    foreground: str
    grid_alpha: float
    contour: tuple[int, int, int, int]
    field: tuple[int, int, int, int]
    probe: str
    marker_edge: str
    cmap_stops: tuple[str, ...]

    def colormap(self) -> pg.ColorMap:
        """The colour map of the surface image: low cost first."""
        pos = np.linspace(0.0, 1.0, len(self.cmap_stops))
        return pg.ColorMap(pos, [pg.mkColor(c) for c in self.cmap_stops])


LIGHT = Theme(
    name="light", background="#ffffff", foreground="#262626", grid_alpha=0.0,
    contour=(40, 48, 64, 95), field=(30, 36, 48, 150), probe="#111111", marker_edge="#1a1a1a",
    # Low cost pale, high cost a muted slate-teal: the runs' saturated colours stay readable.
    cmap_stops=("#fdfcf7", "#eef1e6", "#d5e3dc", "#b4cfd3", "#8fb2c4", "#6f8fae", "#56698f"),
)

DARK = Theme(
    name="dark", background="#16181d", foreground="#d8dbe2", grid_alpha=0.0,
    contour=(225, 230, 240, 70), field=(230, 235, 245, 150), probe="#ffffff", marker_edge="#f0f0f0",
    cmap_stops=("#0f1a24", "#142a38", "#1d3d4d", "#2b5261", "#3f6873", "#5a7f84", "#7b9795"),
)

THEMES = {t.name: t for t in (LIGHT, DARK)}


def apply_qt_palette(theme: Theme) -> None:
    """Give the application a matching Qt palette (Fusion style)."""
    app = QApplication.instance()
    if app is None:
        return
    app.setStyle("Fusion")
    app.setPalette(qt_palette(theme))


def qt_palette(theme: Theme) -> QPalette:
    """The Qt palette of the theme (Fusion's standard one for light)."""
    app = QApplication.instance()
    if theme.name == "light" and app is not None:
        return app.style().standardPalette()
    p = QPalette()
    base, window, text = QColor("#1e2127"), QColor("#262a31"), QColor(theme.foreground)
    p.setColor(QPalette.Window, window)
    p.setColor(QPalette.WindowText, text)
    p.setColor(QPalette.Base, base)
    p.setColor(QPalette.AlternateBase, window)
    p.setColor(QPalette.Text, text)
    p.setColor(QPalette.Button, window)
    p.setColor(QPalette.ButtonText, text)
    p.setColor(QPalette.ToolTipBase, QColor("#30343c"))
    p.setColor(QPalette.ToolTipText, text)
    p.setColor(QPalette.Highlight, QColor("#3d6fb6"))
    p.setColor(QPalette.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.PlaceholderText, QColor("#8a8f99"))
    p.setColor(QPalette.Disabled, QPalette.Text, QColor("#6b7079"))
    p.setColor(QPalette.Disabled, QPalette.ButtonText, QColor("#6b7079"))
    return p


def style_plot(plot: pg.PlotItem, theme: Theme) -> None:
    """Axis pens and label colours of one plot for `theme`."""
    for name in ("left", "bottom", "right", "top"):
        ax = plot.getAxis(name)
        ax.setPen(pg.mkPen(theme.foreground, width=1))
        ax.setTextPen(pg.mkPen(theme.foreground))
