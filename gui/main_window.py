"""The main window: contour view in the middle, loss view and editors in docks, menus, status."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.analysis_tabs import install_basins, install_restarts, install_sweep
from gui.document import Document
from gui.panels.playback_bar import PlaybackBar
from gui.panels.runs_panel import RunsPanel
from gui.panels.surface_panel import SurfacePanel
from gui.playback import Playback
from gui.presets import preset_files
from gui.status import StatusBar
from gui.theme import THEMES, apply_qt_palette
from gui.view_options import TITLES, ViewOptions
from gui.views.contour import ContourView
from gui.views.grid import CompareView
from gui.views.loss import LossView
from gui.workers import FastKernelPrep, KernelWarmup
from sim import kernels
from sim.scenario import Scenario, ScenarioError, atomic_write, from_dict, to_dict

MAX_RECENT = 8
PLAY_SECONDS = 6.0  # a scenario plays through in about this long at the default speed

SHORTCUTS = (("Space", "play / pause"), ("← / →", "step back / forward"), ("Home", "reset to t = 0"),
             ("Click on the surface", "move the selected run's start"),
             ("Shift-click", "move every run's start"), ("Drag a square", "drag a run's start"),
             ("Wheel / drag", "zoom / pan the view"), ("Ctrl+O / Ctrl+S", "open / save a scenario"),
             ("Ctrl+Shift+I", "save the view on show as an image"))


class MainWindow(QMainWindow):
    """Ravine's window. Owns the document, the playback clock and the view options."""

    def __init__(self, scenario: Scenario | None = None, settings: QSettings | None = None,
                 autoplay: bool = True, restore: bool = True) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QSettings()
        if scenario is None and restore:
            scenario = self._last_scenario()
        self.document = Document(scenario, self)
        self.options = ViewOptions(self)
        # The theme first: the style and palette set before the widgets exist cost nothing,
        # set after they do every widget is polished again (a twentieth of a second).
        theme = self.settings.value("theme", "light")
        if theme in THEMES:
            self.options.set("theme", theme)
        apply_qt_palette(THEMES[str(self.options["theme"])])
        self.playback = Playback(self.document, self)
        self._autoplay = autoplay
        self._warmup: KernelWarmup | None = None
        self._resume_warmup_on_paint = False
        self._closing = False
        self.setWindowTitle("Ravine")
        self.resize(1400, 900)

        self.contour = ContourView(self.document, self.options)
        self.loss = LossView(self.document, self.options)
        self.surface_panel = SurfacePanel(self.document)
        self.runs_panel = RunsPanel(self.document)
        self.playback_bar = PlaybackBar(self.document, self.playback)
        # The middle of the window: one tab per view of the scenario (trajectories first;
        # the comparison grid, sweeps and basin maps add theirs), above the playback bar.
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.contour, "Trajectories")
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.tabs, 1)
        cl.addWidget(self.playback_bar)
        self.setCentralWidget(central)
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.docks = {}
        for key, title, widget, area in (("surface", "Surface", self.surface_panel, Qt.RightDockWidgetArea),
                                         ("runs", "Runs", self.runs_panel, Qt.RightDockWidgetArea),
                                         ("loss", "Loss", self.loss, Qt.BottomDockWidgetArea)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{key}")
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                             | QDockWidget.DockWidgetClosable)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self.resizeDocks([self.docks["surface"], self.docks["runs"]], [230, 620], Qt.Vertical)
        self.resizeDocks([self.docks["runs"]], [470], Qt.Horizontal)
        self.resizeDocks([self.docks["loss"]], [250], Qt.Vertical)
        self.setStatusBar(StatusBar(self.document, self))
        self._build_menus()
        self.compare = CompareView(self.document, self.options)  # computes nothing until shown
        self.add_view_tab(self.compare, "Compare", "small multiples: one contour panel per run, or per "
                          "value of one hyperparameter of the selected run, on one cursor")
        self.sweep_tab = install_sweep(self)  # Analyze tabs: built and computed when first shown
        self.basins_tab = install_basins(self)
        self.restarts_tab = install_restarts(self)
        # Batches use a surface's fused kernel once a thread has prepared it, never compiling
        # it in the GUI thread; the warm-up prepares the first surface's.
        kernels.FAST_ON_DEMAND = False
        self._fast_prep = FastKernelPrep(self)
        self.document.surfaceChanged.connect(self._prepare_fast_kernel)
        self.document.pathChanged.connect(lambda _p: self._update_title())
        self.document.scenarioChanged.connect(self._update_title)
        self.options.changed.connect(self._on_option)
        self._restore_settings()
        self._update_title()
        self.playback.set_speed(self._default_speed())

    def add_view_tab(self, widget: QWidget, title: str, tip: str = "") -> int:
        """Add a view as a tab of the window's middle area; returns its index."""
        i = self.tabs.addTab(widget, title)
        if tip:
            self.tabs.setTabToolTip(i, tip)
        return i

    # ---- start-up ------------------------------------------------------------------------
    def start(self, wait: float = 0.0) -> None:
        """Compile (or load) the kernels in a worker thread, then compute and play.

        With `wait` > 0, block up to that many seconds for the kernels the scenario needs:
        from numba's on-disk cache they load in well under a tenth of a second, and the
        results are then computed before this returns. On an empty cache (compiling takes
        many seconds) it returns after `wait`, and the results follow when the thread is done."""
        if self.document.ready or self._warmup is not None:
            return
        sc = self.document.scenario
        self.statusBar().showMessage("Preparing numerical kernels…")
        self._warmup = KernelWarmup(sc, self)
        self._warmup.failed.connect(lambda msg: self.statusBar().showMessage(f"kernel warm-up: {msg}"))
        self._warmup.coreReady.connect(self._on_warm)
        self._warmup.finished.connect(self._on_warm_finished)
        self._warmup.start()
        if wait > 0 and self._warmup.wait_core(wait):
            self._on_warm()  # (the thread's coreReady, queued meanwhile, then finds it done)

    def _on_warm(self) -> None:
        if self.document.ready:
            return
        try:
            self.document.set_ready()
        except ValueError as e:  # a restored scenario whose surface cannot be built
            QMessageBox.warning(self, "Ravine", f"Cannot build the scenario's surface: {e}")
            self.document.set_scenario(Scenario("rosenbrock"))
        # The rest of the warm-up would compete with this thread for the interpreter while
        # it draws the first results: it goes on once the window has painted them.
        self._resume_warmup_on_paint = True
        if self.isVisible():
            self.update()
        if self._autoplay:
            self.playback.play()

    def paintEvent(self, ev) -> None:  # noqa: N802
        super().paintEvent(ev)
        if self._resume_warmup_on_paint:
            self._resume_warmup_on_paint = False
            # (the window paints itself first, then its views: a zero timer fires after them)
            QTimer.singleShot(0, self._resume_warmup)

    def _resume_warmup(self) -> None:
        if self._warmup is not None:
            self._warmup.resume()

    def _prepare_fast_kernel(self) -> None:
        if self._closing:
            return
        surface = self.document.surface
        # Not before the first results are drawn (the thread would compete with drawing
        # them); the warm-up then prepares the scenario's surface's kernel itself, and a
        # surface chosen meanwhile is asked for when the warm-up ends.
        if surface is not None and (self._warmup is None or self._warmup.resumed):
            self._fast_prep.request(surface.code)

    def _on_warm_finished(self) -> None:
        if not self.document.ready:  # the thread ended before it said so (it always says so)
            self._on_warm()
        self._warmup = None
        self._prepare_fast_kernel()

    def wait_ready(self, timeout_ms: int = 120_000) -> bool:
        """Block (processing events) until the document is ready; for scripts and tests."""
        from PySide6.QtCore import QDeadlineTimer, QEventLoop
        from PySide6.QtWidgets import QApplication

        self.start()
        deadline = QDeadlineTimer(timeout_ms)
        while not self.document.ready and not deadline.hasExpired():
            QApplication.processEvents(QEventLoop.AllEvents, 20)
            if self._warmup is not None:
                self._warmup.wait(10)
        return self.document.ready

    def _default_speed(self) -> float:
        return max(1.0, round(self.document.scenario.steps / PLAY_SECONDS))

    # ---- menus ---------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "&New", self.new_scenario, QKeySequence.New, "the default scenario")
        self._action(f, "&Open scenario…", self.open_dialog, QKeySequence.Open)
        self._action(f, "&Save scenario", self.save, QKeySequence.Save)
        self._action(f, "Save scenario &as…", self.save_dialog, QKeySequence.SaveAs)
        self.recent_menu = f.addMenu("Open &recent")
        f.addSeparator()
        self._action(f, "Save &screenshot…", self.screenshot_dialog, tip="the whole window as a PNG")
        self._action(f, "Save the &view as an image…", self.view_image_dialog, "Ctrl+Shift+I",
                     "the tab on show (trajectories, comparison, sweep, basins, restarts) as a PNG")
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.Quit)
        from gui.export_dialog import install_export_actions  # Export animation/image/data

        self.export_actions = install_export_actions(self, f)
        self._rebuild_recent()

        pm = mb.addMenu("&Presets")
        for title, path in preset_files():
            a = self._action(pm, title, lambda _c=False, p=str(path): self.open_path(p))
            a.setStatusTip(str(path.name))
        if not pm.actions():
            pm.addAction("(no presets found)").setEnabled(False)

        v = mb.addMenu("&View")
        self.option_actions: dict[str, QAction] = {}
        for name, title in TITLES.items():
            a = QAction(title, self, checkable=True)
            a.setChecked(bool(self.options[name]))
            a.toggled.connect(lambda on, n=name: self.options.set(n, on))
            v.addAction(a)
            self.option_actions[name] = a
            if name == "field":
                v.addSeparator()
        v.addSeparator()
        theme_menu = v.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions = {}
        for name in THEMES:
            a = QAction(name.capitalize(), self, checkable=True)
            a.setChecked(name == self.options["theme"])
            a.triggered.connect(lambda _c=False, n=name: self.options.set("theme", n))
            group.addAction(a)
            theme_menu.addAction(a)
            self.theme_actions[name] = a
        v.addSeparator()
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())
        self._action(v, "Reset view box", self.reset_view, "Ctrl+0")

        play = mb.addMenu("P&layback")
        self._action(play, "Play / pause", self.playback.toggle, Qt.Key_Space)
        self._action(play, "Step forward", lambda: self.playback.step(1), Qt.Key_Right)
        self._action(play, "Step back", lambda: self.playback.step(-1), Qt.Key_Left)
        self._action(play, "Reset", self.playback.reset, Qt.Key_Home)

        h = mb.addMenu("&Help")
        self._action(h, "&Keyboard shortcuts", self.show_shortcuts, QKeySequence.HelpContents)
        self._action(h, "&About Ravine", self.show_about)

    def _update_title(self, *_args) -> None:
        sc = self.document.scenario
        name = Path(self.document.path).name if self.document.path else "unsaved"
        self.setWindowTitle(f"Ravine — {sc.title or sc.surface} [{name}]")

    def _on_option(self, name: str) -> None:
        if name == "theme":
            theme = THEMES[str(self.options["theme"])]
            apply_qt_palette(theme)
            self.contour.set_theme(theme)
            self.loss.set_theme(theme)
            self.theme_actions[theme.name].setChecked(True)
        elif name in self.option_actions:
            a = self.option_actions[name]
            a.blockSignals(True)
            a.setChecked(bool(self.options[name]))
            a.blockSignals(False)

    def reset_view(self) -> None:
        s = self.document.surface
        if s is not None:
            x0, x1, y0, y1 = self.document.scenario.box or s.box
            self.contour.vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.0)

    # ---- files ---------------------------------------------------------------------------
    def new_scenario(self) -> None:
        self.playback.pause()
        self.document.new()
        self.playback.set_speed(self._default_speed())

    def open_path(self, path: str) -> bool:
        """Open a scenario file; a bad one gives a message box and changes nothing."""
        try:
            self.document.open(path)
        except (ScenarioError, ValueError) as e:
            QMessageBox.critical(self, "Cannot open scenario", str(e))
            return False
        self.playback.set_speed(self._default_speed())
        self._add_recent(path)
        if self._autoplay and self.document.ready:
            self.playback.play()
        return True

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open scenario", self._last_dir(),
                                              "Ravine scenarios (*.json);;All files (*)")
        if path:
            self.open_path(path)

    def save_path(self, path: str) -> bool:
        try:
            self.document.save(path)
        except OSError as e:
            QMessageBox.critical(self, "Cannot save scenario", f"{path}: {e.strerror or e}")
            return False
        self._add_recent(path)
        self.statusBar().showMessage(f"saved {path}", 4000)
        return True

    def save(self) -> None:
        if self.document.path and not self.document.path.startswith(str(Path(__file__).parent.parent)):
            self.save_path(self.document.path)
        else:
            self.save_dialog()

    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save scenario", self._last_dir(),
                                              "Ravine scenarios (*.json)")
        if path:
            if not path.endswith(".json"):
                path += ".json"
            self.save_path(path)

    def screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", self._last_dir(), "PNG (*.png)")
        if path:
            self.save_image(self, path)

    def view_image_dialog(self) -> None:
        """Save the tab on show (a basin map, a sweep, the comparison grid...) as a figure."""
        title = self.tabs.tabText(self.tabs.currentIndex()).lower()
        start = str(Path(self._last_dir()) / f"ravine-{title}.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save the view as an image", start, "PNG (*.png)")
        if path:
            self.save_image(self.tabs.currentWidget(), path)

    def save_image(self, widget: QWidget, path: str) -> bool:
        """Grab `widget` to a PNG at `path`, atomically; a failure is shown, not raised."""
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.WriteOnly)
        ok = widget.grab().save(buf, "PNG")
        buf.close()
        try:
            if not ok:
                raise OSError("the image could not be encoded")
            atomic_write(path, bytes(data))
        except OSError as e:
            QMessageBox.warning(self, "Ravine", f"Cannot save {path}: {e}")
            return False
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def _last_dir(self) -> str:
        return str(Path(self.document.path).parent) if self.document.path else str(Path.home())

    def _recent(self) -> list[str]:
        v = self.settings.value("recent", [])
        if isinstance(v, str):
            v = [v]
        return [str(p) for p in (v or [])]

    def _add_recent(self, path: str) -> None:
        p = str(Path(path).resolve())
        recent = [p] + [r for r in self._recent() if r != p]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self._recent():
            self.recent_menu.addAction(Path(p).name, lambda p=p: self.open_path(p)).setStatusTip(p)
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    # ---- dialogs -------------------------------------------------------------------------
    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in SHORTCUTS)
        QMessageBox.information(self, "Keyboard and mouse", f"<table>{rows}</table>")

    def show_about(self) -> None:
        QMessageBox.about(self, "About Ravine",
                          "<b>Ravine</b> — a lab for optimizer dynamics.<br>"
                          "Pick a cost surface, start optimizers on it, watch them move, compare them.<br>"
                          "Numerics: numba kernels in <code>sim</code>; window: PySide6 + pyqtgraph.")

    # ---- settings ------------------------------------------------------------------------
    def _last_scenario(self) -> Scenario | None:
        text = self.settings.value("last_scenario", "")
        if not text:
            return None
        try:
            return from_dict(json.loads(str(text)))
        except (ValueError, TypeError):
            return None

    def _restore_settings(self) -> None:
        geo = self.settings.value("geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        state = self.settings.value("window_state")
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.setValue("theme", self.options["theme"])
        self.settings.setValue("last_scenario", json.dumps(to_dict(self.document.scenario)))
        self.settings.sync()

    def closeEvent(self, ev) -> None:  # noqa: N802
        self._closing = True  # nothing starts a thread from here on (a queued finished signal)
        self.playback.pause()
        if self._warmup is not None:
            self._warmup.resume()
            self._warmup.wait(60_000)
        self._fast_prep.stop()  # a thread may not outlive the window that owns it
        self.save_settings()
        super().closeEvent(ev)


# How long the window, once shown, waits for its kernels before it first paints: from numba's
# on-disk cache they load in well under a tenth of a second, and the first paint then shows
# the results (an empty first paint, and the loading thread competing with it for the
# interpreter, would cost more than the wait); compiling them takes many seconds, and the
# window paints, saying so, after this wait.
SHOW_WAIT = 0.3


def show_when_ready(window: MainWindow, wait: float = SHOW_WAIT) -> None:
    """Show the window and warm its kernels in a thread. If they load within `wait` seconds
    (from the cache), the results are computed before the window first paints."""
    window.show()  # (lays the views out: they compute for the size they have on screen)
    window.start(wait)
