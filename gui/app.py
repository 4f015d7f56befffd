"""Entry point of the window: `gui.app.main(path)` is what `python main.py` calls."""

from __future__ import annotations

import sys

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QMessageBox

from gui.main_window import MainWindow, show_when_ready
from sim.scenario import ScenarioError, load_scenario


def configure_pyqtgraph() -> None:
    """Row-major images (as `Surface.grid` returns), antialiased lines."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, useNumba=False)


def main(scenario_path: str | None = None) -> int:
    """Create the application, open the window (with `scenario_path` if given), run it."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("Ravine")
    app.setApplicationName("Ravine")
    app.setApplicationDisplayName("Ravine")
    configure_pyqtgraph()
    scenario = None
    error = None
    if scenario_path:
        try:
            scenario = load_scenario(scenario_path)
        except ScenarioError as e:
            error = str(e)
    window = MainWindow(scenario)
    if scenario is not None:
        window.document.set_scenario(scenario, scenario_path)
    show_when_ready(window)
    if error:
        QMessageBox.critical(window, "Cannot open scenario", error)
    return int(app.exec())
