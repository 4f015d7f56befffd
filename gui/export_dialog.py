"""File → Export animation… / Export image… / Export data…

The animation dialog collects `ExportSettings` and runs an `ExportJob`: frames are painted
on the GUI thread a few at a time between events and encoded in a worker thread, so the
window keeps playing and answering while a file is written; Cancel leaves no file behind.
`install_export_actions(window, file_menu)` adds the three actions to the window's menu.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.export import ExportJob
from gui.export_settings import VIEWS, ExportSettings, check_output, mp4_problem, output_format

FORMAT_ITEMS = (("gif", "GIF (loops, for slides and web pages)", ".gif"),
                ("mp4", "MP4 (H.264, for slides and browsers)", ".mp4"),
                ("png", "PNG frames (a folder of images)", ""))
SIZES = ((640, 480), (800, 600), (960, 720), (1280, 720), (1280, 960), (1920, 1080))
COMPARISON_TIP = "arrives with the comparison view"


def _window_options(window) -> dict[str, object]:
    opts = getattr(window, "options", None)
    return dict(opts.items()) if opts is not None else {}


def _last_dir(window) -> str:
    doc = getattr(window, "document", None)
    if doc is not None and doc.path:
        return str(Path(doc.path).parent)
    return str(Path.home())


def _stem(window) -> str:
    doc = getattr(window, "document", None)
    if doc is not None and doc.path:
        return Path(doc.path).stem
    return "ravine"


class ExportAnimationDialog(QDialog):
    """Which view, format, size, timing and decorations; a progress bar with Cancel."""

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.setWindowTitle("Export animation")
        self.window_ = window
        self.document = window.document
        self.job: ExportJob | None = None
        self.last_error = ""
        steps = self.document.scenario.steps

        self.view = QComboBox()
        for key, title in VIEWS.items():
            self.view.addItem(title, key)
        self.view.addItem("Comparison grid", "grid")
        grid = self.view.model().item(self.view.count() - 1)
        grid.setEnabled(False)
        grid.setToolTip(COMPARISON_TIP)
        self.view.setItemData(self.view.count() - 1, COMPARISON_TIP, Qt.ToolTipRole)

        self.format = QComboBox()
        for key, title, _suffix in FORMAT_ITEMS:
            self.format.addItem(title, key)
        problem = mp4_problem()
        if problem:
            i = self.format.findData("mp4")
            self.format.model().item(i).setEnabled(False)
            self.format.setItemData(i, problem, Qt.ToolTipRole)
        self.path = QLineEdit(str(Path(_last_dir(window)) / f"{_stem(window)}.gif"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)

        self.width_ = QSpinBox()
        self.height_ = QSpinBox()
        for box, lo, hi, v in ((self.width_, 160, 3840, 960), (self.height_, 120, 2160, 720)):
            box.setRange(lo, hi)
            box.setValue(v)
            box.setSuffix(" px")
        self.size_preset = QComboBox()
        self.size_preset.addItem("custom", None)
        for w, h in SIZES:
            self.size_preset.addItem(f"{w} × {h}", (w, h))
        self.size_preset.setCurrentIndex(1 + SIZES.index((960, 720)))
        self.size_preset.activated.connect(self._size_chosen)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_)
        size_row.addWidget(self.size_preset)

        self.fps = QSpinBox()
        self.fps.setRange(1, 120)
        self.fps.setValue(30)
        self.fps.setSuffix(" fps")
        self.first = QSpinBox()
        self.last = QSpinBox()
        for box, v in ((self.first, 0), (self.last, steps)):
            box.setRange(0, steps)
            box.setValue(v)
        range_row = QHBoxLayout()
        range_row.addWidget(QLabel("from step"))
        range_row.addWidget(self.first)
        range_row.addWidget(QLabel("to"))
        range_row.addWidget(self.last)
        range_row.addStretch(1)

        self.by_duration = QRadioButton("Duration")
        self.by_steps = QRadioButton("Steps per frame")
        self.by_duration.setChecked(True)
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0.1, 600.0)
        self.duration.setDecimals(1)
        self.duration.setValue(6.0)
        self.duration.setSuffix(" s")
        self.steps_per_frame = QSpinBox()
        self.steps_per_frame.setRange(1, max(1, steps))
        self.steps_per_frame.setValue(max(1, steps // 180))
        timing = QHBoxLayout()
        timing.addWidget(self.by_duration)
        timing.addWidget(self.duration)
        timing.addSpacing(12)
        timing.addWidget(self.by_steps)
        timing.addWidget(self.steps_per_frame)
        timing.addStretch(1)
        self.frames_label = QLabel()

        self.loop = QCheckBox("Loop (GIF)")
        self.loop.setChecked(True)
        self.show_title = QCheckBox("Title")
        self.show_legend = QCheckBox("Legend")
        self.show_counter = QCheckBox("Step counter")
        show_row = QHBoxLayout()
        for box in (self.show_title, self.show_legend, self.show_counter, self.loop):
            box.setChecked(True)
            show_row.addWidget(box)
        show_row.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("View", self.view)
        form.addRow("Format", self.format)
        form.addRow("File", path_row)
        form.addRow("Size", size_row)
        form.addRow("Frame rate", self.fps)
        form.addRow("Steps", range_row)
        form.addRow("Timing", timing)
        form.addRow("", self.frames_label)
        form.addRow("Show", show_row)

        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.Cancel)
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.cancel_button.setEnabled(False)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

        self.format.currentIndexChanged.connect(self._format_chosen)
        self.path.textEdited.connect(self._path_edited)
        for sig in (self.fps.valueChanged, self.first.valueChanged, self.last.valueChanged,
                    self.duration.valueChanged, self.steps_per_frame.valueChanged,
                    self.by_duration.toggled):
            sig.connect(self._update_frames)
        for box in (self.width_, self.height_):
            box.valueChanged.connect(lambda _v: self.size_preset.setCurrentIndex(self._size_index()))
        self._update_frames()

    # ---- settings ------------------------------------------------------------------------
    def settings(self) -> ExportSettings:
        """The settings the dialog shows (not yet validated against a path)."""
        by_steps = self.by_steps.isChecked()
        return ExportSettings(
            view=self.view.currentData(), width=self.width_.value(), height=self.height_.value(),
            fps=float(self.fps.value()), first=self.first.value(), last=self.last.value(),
            steps_per_frame=self.steps_per_frame.value() if by_steps else None,
            duration=None if by_steps else float(self.duration.value()),
            loop=self.loop.isChecked(), title=self.show_title.isChecked(),
            legend=self.show_legend.isChecked(), counter=self.show_counter.isChecked(),
            theme=str(_window_options(self.window_).get("theme", "light")),
        )

    def set_path(self, path: str) -> None:
        self.path.setText(path)
        self._path_edited(path)

    def _size_index(self) -> int:
        size = (self.width_.value(), self.height_.value())
        return 1 + SIZES.index(size) if size in SIZES else 0

    def _size_chosen(self, i: int) -> None:
        size = self.size_preset.itemData(i)
        if size:
            self.width_.setValue(size[0])
            self.height_.setValue(size[1])

    def _format_chosen(self, _i: int) -> None:
        fmt = self.format.currentData()
        suffix = dict((k, s) for k, _t, s in FORMAT_ITEMS)[fmt]
        p = Path(self.path.text().strip() or f"{_stem(self.window_)}")
        base = p.with_suffix("") if p.suffix.lower() in (".gif", ".mp4") else p
        if suffix:
            self.path.setText(str(base) + suffix)
        else:
            self.path.setText(str(base) if base.name.endswith("_frames") else f"{base}_frames")
        self.loop.setEnabled(fmt == "gif")

    def _path_edited(self, text: str) -> None:
        try:
            fmt = output_format(text)
        except ValueError:
            return
        i = self.format.findData(fmt)
        if i >= 0 and i != self.format.currentIndex():
            self.format.blockSignals(True)
            self.format.setCurrentIndex(i)
            self.format.blockSignals(False)
        self.loop.setEnabled(fmt == "gif")

    def _update_frames(self, *_args) -> None:
        try:
            st = self.settings().validated(self.document.scenario.steps)
            n = len(st.cursors(self.document.scenario.steps))
            secs = n / st.fps
            self.frames_label.setText(f"{n} frames, {secs:.1f} s")
            self.export_button.setEnabled(self.job is None)
        except ValueError as e:
            self.frames_label.setText(str(e))
            self.export_button.setEnabled(False)

    def _browse(self) -> None:
        fmt = self.format.currentData()
        if fmt == "png":
            path = QFileDialog.getExistingDirectory(self, "Folder for PNG frames", _last_dir(self.window_))
        else:
            filt = "GIF (*.gif)" if fmt == "gif" else "MP4 video (*.mp4)"
            path, _ = QFileDialog.getSaveFileName(self, "Export animation", self.path.text(), filt)
            if path and not path.lower().endswith(f".{fmt}"):
                path += f".{fmt}"
        if path:
            self.set_path(path)

    # ---- running -------------------------------------------------------------------------
    def start(self) -> None:
        """Check the settings and start the export job."""
        if self.job is not None:
            return
        path = self.path.text().strip()
        try:
            if not path:
                raise ValueError("choose a file to export to")
            fmt = check_output(path)
            if fmt == "mp4" and mp4_problem():
                raise ValueError(mp4_problem())
            settings = self.settings().validated(self.document.scenario.steps)
            if fmt != "gif":
                settings = replace(settings, loop=False)
        except ValueError as e:
            self._show_error(str(e))
            return
        self.last_error = ""
        self.status.setText("Rendering…")
        self.job = ExportJob(self.document.scenario, path, settings, _window_options(self.window_), self)
        self.job.progress.connect(self._on_progress)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.export_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.close_button.setEnabled(False)
        self.progress.setRange(0, max(1, len(settings.cursors(self.document.scenario.steps))))
        self.progress.setValue(0)
        self.job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.status.setText("Cancelling…")
            self.job.cancel()
        else:
            self.reject()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def _done(self) -> None:
        self.job = None
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)
        self._update_frames()

    def _on_finished(self, path: str) -> None:
        self._done()
        self.status.setText(f"Saved {path}")
        bar = getattr(self.window_, "statusBar", None)
        if callable(bar):
            bar().showMessage(f"exported {path}", 6000)

    def _on_failed(self, message: str) -> None:
        self._done()
        self.progress.setValue(0)
        self._show_error(message)

    def _on_cancelled(self) -> None:
        self._done()
        self.progress.setValue(0)
        self.status.setText("Cancelled; nothing was written.")

    def _show_error(self, message: str) -> None:
        self.last_error = message
        self.status.setText(f"<span style='color:#c0392b'>{message}</span>")

    def reject(self) -> None:
        if self.job is not None:  # closing the dialog mid-export cancels it
            self.job.cancel()
            return
        super().reject()

    def closeEvent(self, ev) -> None:  # noqa: N802
        if self.job is not None:
            self.job.cancel()
            ev.ignore()
            return
        super().closeEvent(ev)


# ---- image and data -------------------------------------------------------------------------


def export_image(window, path: str) -> None:
    """The contour view as PNG (at its on-screen size ×2) or SVG, written atomically."""
    import pyqtgraph.exporters as pgx

    p = Path(path)
    suffix = p.suffix.lower()
    item = window.contour.getPlotItem()
    if suffix == ".png":
        exporter = pgx.ImageExporter(item)
        width = int(item.sceneBoundingRect().width())
        exporter.parameters()["width"] = max(2 * width, 800)
    elif suffix == ".svg":
        exporter = pgx.SVGExporter(item)
    else:
        raise ValueError(f"unknown image format {suffix!r}: use .png or .svg")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"cannot write {p}: folder {str(parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix, dir=parent)
    os.close(fd)
    try:
        try:
            exporter.export(tmp)
        except ValueError:
            if suffix != ".svg":
                raise
            # pyqtgraph's SVGExporter cannot parse closed paths ("... Z") that recent Qt
            # writes (pyqtgraph issue #3495); Qt's own SVG generator draws the same view.
            _qt_svg(window.contour, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _qt_svg(widget: QWidget, path: str) -> None:
    from PySide6.QtCore import QRect, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    gen = QSvgGenerator()
    gen.setFileName(path)
    gen.setSize(QSize(widget.width(), widget.height()))
    gen.setViewBox(QRect(0, 0, widget.width(), widget.height()))
    gen.setTitle(widget.window().windowTitle())
    painter = QPainter(gen)
    try:
        widget.render(painter)
    finally:
        painter.end()


def export_data(window, path: str) -> None:
    """Trajectories of the computed runs as CSV, NPZ or JSON (what `run --out` writes)."""
    from sim.export_data import write_trajectories

    doc = window.document
    pairs = [(r, t) for r, t in zip(doc.scenario.runs, doc.results) if t is not None]
    if not pairs:
        raise ValueError("there are no computed trajectories to export yet")
    sc = doc.scenario.with_runs([r for r, _t in pairs])
    write_trajectories(path, sc, [t for _r, t in pairs])


def _save_dialog(window, what: str, filters: dict[str, str], export) -> None:
    """Ask for a path (the extension follows the chosen filter), export, report."""
    first = next(iter(filters.values()))
    path, filt = QFileDialog.getSaveFileName(window, f"Export {what}",
                                             str(Path(_last_dir(window)) / f"{_stem(window)}{first}"),
                                             ";;".join(filters))
    if not path:
        return
    if Path(path).suffix.lower() not in filters.values():
        path += filters.get(filt, first)
    try:
        export(window, path)
    except (ValueError, OSError) as e:
        QMessageBox.critical(window, f"Cannot export {what}", str(e))
        return
    window.statusBar().showMessage(f"exported {path}", 6000)


def _image_dialog(window) -> None:
    _save_dialog(window, "image", {"PNG image (*.png)": ".png", "SVG drawing (*.svg)": ".svg"},
                 export_image)


def _data_dialog(window) -> None:
    _save_dialog(window, "data", {"CSV table (*.csv)": ".csv", "NumPy archive (*.npz)": ".npz",
                                  "JSON (*.json)": ".json"}, export_data)


def open_animation_dialog(window) -> ExportAnimationDialog:
    """Show the (window-modal) export dialog; the window keeps playing behind it."""
    dialog = ExportAnimationDialog(window)
    dialog.setAttribute(Qt.WA_DeleteOnClose, True)
    dialog.open()
    return dialog


def install_export_actions(window, file_menu) -> list[QAction]:
    """Add Export animation…, Export image… and Export data… to `file_menu` (before Quit)."""
    actions = []
    for text, slot, shortcut, tip in (
            ("Export &animation…", lambda: open_animation_dialog(window), "Ctrl+E",
             "render the animation to a GIF, an MP4 or PNG frames"),
            ("Export &image…", lambda: _image_dialog(window), None, "save the contour view as PNG or SVG"),
            ("Export &data…", lambda: _data_dialog(window), None, "write the trajectories as CSV, NPZ or JSON")):
        a = QAction(text, window)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        a.setStatusTip(tip)
        a.triggered.connect(slot)
        actions.append(a)
    quit_action = next((a for a in file_menu.actions() if a.text().replace("&", "").lower() == "quit"), None)
    if quit_action is not None:
        before = quit_action
        file_menu.insertActions(before, actions)
        file_menu.insertSeparator(before)
    else:
        file_menu.addSeparator()
        file_menu.addActions(actions)
    return actions
