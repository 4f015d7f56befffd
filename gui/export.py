"""Animation export: the window's own views, offscreen, frame by frame → GIF, MP4 or PNG frames.

`FrameRenderer` builds a document and the real contour (and loss) views once, at the pixel
size of the file, and for each frame only moves the cursor and paints the widgets into an
image (DESIGN.md, "Exporter"). The window and the command line both go through it, so the
same scenario and settings give the same pixels. Writers stream frames into a temporary file
beside the target and rename it only when everything is written: a cancelled or failed export
leaves nothing behind.

Widgets can only be painted on the GUI thread, so frames are rendered there; encoding (the
ffmpeg pipe, GIF quantization, PNG compression) runs in a `WriterThread` that drains a
bounded queue, which keeps the two cores busy and the window responsive.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QFont, QImage
from PySide6.QtWidgets import QApplication, QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.document import Document
from gui.export_settings import (  # noqa: F401 - re-exported: the settings belong to the exporter
    FORMATS,
    VIEWS,
    ExportSettings,
    check_output,
    check_size,
    even_size,
    mp4_problem,
    output_format,
    parse_size,
    settings_for,
)
from gui.theme import THEMES, Theme
from gui.view_options import ViewOptions
from gui.views.contour import ContourView
from gui.views.loss import LossView
from sim.scenario import Scenario

GIF_PALETTE_SAMPLES = 6  # frames spread over the range that the global GIF palette is built from
GIF_END_HOLD = 1.0  # seconds a looping GIF rests on its last frame (no extra frames)


class ExportCancelled(Exception):
    """The user cancelled; nothing was written."""


# ---------------------------------------------------------------------------------------------
# rendering


def _px(n: float) -> int:
    return max(9, int(round(n)))


class ExportFigure(QWidget):
    """Title and step counter above the real views, sized in pixels for a file."""

    def __init__(self, document: Document, options: ViewOptions, settings: ExportSettings) -> None:
        super().__init__()
        self.setAttribute(Qt.WA_DontShowOnScreen, True)  # rendered into images, never on a screen
        self.setAttribute(Qt.WA_DeleteOnClose, False)
        theme: Theme = THEMES[settings.theme]
        self.settings = settings
        self._steps = document.max_cursor
        w, h = settings.width, settings.height
        # Fonts in pixels, not points: the same file on every screen, legible at any size.
        unit = min(w / 960.0, h / 720.0) * (1.0 if settings.view == "contour" else 0.9)
        self._unit = unit
        self._document = document
        self.setStyleSheet(f"background: {theme.background};")
        self.title = QLabel(document.scenario.title or document.scenario.surface)
        self.counter = QLabel()
        self.counter.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        for label, size, bold in ((self.title, 24 * unit, True), (self.counter, 20 * unit, False)):
            font = QFont("DejaVu Sans")
            font.setPixelSize(_px(size))
            font.setBold(bold)
            label.setFont(font)
            label.setStyleSheet(f"color: {theme.foreground}; background: transparent;")
        # Digits of equal width, and room for the widest text, keep the counter from jittering
        # (and the layout is settled once: render() does not process layout requests).
        cf = QFont("DejaVu Sans Mono")
        cf.setStyleHint(QFont.Monospace)
        cf.setPixelSize(_px(20 * unit))
        self.counter.setFont(cf)
        self.show_step(self._steps)
        self.counter.setMinimumWidth(self.counter.sizeHint().width())
        self.contour = ContourView(document, options)
        self.contour.set_theme(theme)
        self.loss: LossView | None = None
        if settings.view == "contour+loss":
            self.loss = LossView(document, options)
            self.loss.set_theme(theme)
            self.loss.tabBar().hide()  # a figure shows the cost plot, not tabs to click
            self.loss.setStyleSheet(f"QTabWidget::pane {{ border: 0; background: {theme.background}; }}")
        self._style_plots(theme, unit)
        self.contour.legend.setVisible(settings.legend)

        outer = QVBoxLayout(self)
        m = int(round(10 * unit))
        outer.setContentsMargins(m, m, m, m)
        outer.setSpacing(int(round(4 * unit)))
        header = QHBoxLayout()
        header.setContentsMargins(int(round(6 * unit)), 0, int(round(6 * unit)), 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.counter, 0)
        self.title.setVisible(settings.title)
        self.counter.setVisible(settings.counter)
        if settings.title or settings.counter:
            outer.addLayout(header)
        body = QHBoxLayout()
        body.setSpacing(int(round(8 * unit)))
        body.addWidget(self.contour, 1)
        if self.loss is not None:
            body.addWidget(self.loss, 1)
        outer.addLayout(body, 1)
        self.setFixedSize(w, h)
        self.contour.hide_probe()  # the mouse probe has no place in a file
        self._fit_title(w - 2 * m - 12 * unit - (self.counter.minimumWidth() + 16 * unit if settings.counter else 0))

    def _fit_title(self, room: float) -> None:
        """Shrink a long title to the room beside the counter, then elide what still does not fit."""
        from PySide6.QtGui import QFontMetrics

        text = self.title.text()
        font = self.title.font()
        size = font.pixelSize()
        while size > 9 and QFontMetrics(font).horizontalAdvance(text) > room:
            size -= 1
            font.setPixelSize(size)
        self.title.setFont(font)
        self.title.setText(QFontMetrics(font).elidedText(text, Qt.ElideRight, int(room)))
        self.title.setToolTip(text)

    def _style_plots(self, theme: Theme, unit: float) -> None:
        tick = QFont("DejaVu Sans")
        tick.setPixelSize(_px(13 * unit))
        label_css = {"font-size": f"{_px(16 * unit)}px", "color": theme.foreground}
        plots = [self.contour.getPlotItem()]
        if self.loss is not None:
            plots += [self.loss.cost_plot.getPlotItem()]
            # A log axis with auto SI prefix labels itself "(x1e+15)" when values are tiny.
            self.loss.cost_plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)
        for plot in plots:
            for side in ("left", "bottom", "top", "right"):
                ax = plot.getAxis(side)
                ax.setTickFont(tick)
                ax.setStyle(tickTextOffset=max(3, int(round(5 * unit))))
                if ax.labelText:
                    ax.setLabel(ax.labelText, ax.labelUnits or None, **label_css)
        legend = self.contour.legend
        legend.setLabelTextSize(f"{_px(15 * unit)}px")
        legend.setOffset((int(round(12 * unit)), int(round(12 * unit))))

    def widen_trails(self) -> None:
        """Trails (and their legend samples) a little wider than on screen: a figure is seen
        from the back of a room."""
        self.contour.set_trail_width(max(1.7, 2.6 * self._unit))

    def show_step(self, t: int) -> None:
        self.counter.setText(f"step {t:>{len(str(self._steps))}d} / {self._steps}")


class FrameRenderer:
    """The real views of one scenario, offscreen at a pixel size; `frame(t)` → RGB array."""

    def __init__(self, scenario: Scenario, settings: ExportSettings,
                 view_options: dict[str, object] | None = None) -> None:
        app = QApplication.instance()
        if app is None:
            raise RuntimeError("FrameRenderer needs a QApplication")
        self.settings = settings.validated(scenario.steps)
        self.document = Document(scenario)
        self.options = ViewOptions()
        for name, value in (view_options or {}).items():
            if name != "theme":
                self.options.set(name, value)
        self.figure = ExportFigure(self.document, self.options, self.settings)
        self.figure.show()  # lays out every child at its final size (never on a screen)
        self.document.set_ready()  # builds the surface, computes every run once
        self.document.set_selected(-1)  # a figure highlights no run
        self.figure.widen_trails()
        QApplication.sendPostedEvents()
        # The box was set before the final layout: draw the background for what is visible now,
        # once; playback only moves the cursor from here on.
        self.figure.contour.update_background()  # (stops the view's pending background timer)
        # The surface image and level sets do not move while the cursor does: let Qt keep them
        # as a pixmap instead of redrawing thousands of segments per frame (same pixels).
        for item in (self.figure.contour.image, self.figure.contour.isolines):
            item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)
        self.size = (self.figure.width(), self.figure.height())
        self._image = QImage(self.size[0], self.size[1], QImage.Format_RGB32)
        self._bg = THEMES[self.settings.theme].background

    @property
    def steps(self) -> int:
        return self.document.max_cursor

    def cursors(self) -> np.ndarray:
        return self.settings.cursors(self.steps)

    def key_colors(self) -> list[str]:
        """Colours that must survive a palette exactly: the runs', the text's, the markers'."""
        theme = THEMES[self.settings.theme]
        runs = [r.color for r in self.document.scenario.runs if r.visible]
        return runs + [theme.background, theme.foreground, theme.marker_edge, "#ffd92f", "#ffffff"]

    def frame(self, t: int) -> np.ndarray:
        """The figure at step t as a (height, width, 3) uint8 RGB array."""
        self.document.set_cursor(int(t))
        self.figure.show_step(self.document.cursor)
        return widget_rgb(self.figure, self._bg, self._image)

    def close(self) -> None:
        self.figure.hide()
        self.figure.deleteLater()
        self.document.deleteLater()
        self.options.deleteLater()


def widget_rgb(widget: QWidget, background: str, image: QImage | None = None) -> np.ndarray:
    """`widget` rendered on `background` as a (height, width, 3) uint8 RGB array (into
    `image`, an RGB32 QImage of the widget's size, when given)."""
    w, h = widget.width(), widget.height()
    img = image if image is not None else QImage(w, h, QImage.Format_RGB32)
    img.fill(background)
    widget.render(img)
    rgb = img.convertToFormat(QImage.Format_RGB888)  # Qt's SIMD path; a numpy reorder is 8× slower
    arr = np.frombuffer(rgb.constBits(), np.uint8, count=rgb.sizeInBytes())
    return arr.reshape(h, rgb.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


# ---------------------------------------------------------------------------------------------
# writers: temporary file beside the target, renamed into place by finish()


def _temp_beside(path: Path, suffix: str) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=parent)
    os.close(fd)
    _chmod_default(tmp)
    return Path(tmp)


def _chmod_default(path: str | os.PathLike, mode: int = 0o666) -> None:
    # mkstemp/mkdtemp make private files; an exported figure gets the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


class _Writer:
    """Append frames, then finish() (rename into place) or abort() (remove everything)."""

    def __init__(self, path: Path, settings: ExportSettings, count: int) -> None:
        self.path = path
        self.settings = settings
        self.count = count

    def append(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class Mp4Writer(_Writer):
    """H.264 in yuv420p through imageio-ffmpeg's own ffmpeg: plays in browsers and slides."""

    def __init__(self, path: Path, settings: ExportSettings, count: int, size: tuple[int, int]) -> None:
        super().__init__(path, settings, count)
        problem = mp4_problem()
        if problem:
            raise ValueError(problem)
        import imageio_ffmpeg

        self.tmp = _temp_beside(path, ".tmp.mp4")
        self._gen = imageio_ffmpeg.write_frames(
            str(self.tmp), size, pix_fmt_in="rgb24", pix_fmt_out="yuv420p", fps=float(settings.fps),
            codec="libx264", quality=None, macro_block_size=2, ffmpeg_log_level="error",
            # crf 18: sharp lines and text; veryfast keeps up with rendering on two cores.
            output_params=["-crf", "18", "-preset", "veryfast", "-tune", "animation",
                           "-movflags", "+faststart"])
        self._gen.send(None)

    def append(self, frame: np.ndarray) -> None:
        self._gen.send(frame)

    def finish(self) -> None:
        self._gen.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self._gen.close()
        except Exception:  # noqa: BLE001 - the file goes away either way
            pass
        self.tmp.unlink(missing_ok=True)


class GifWriter(_Writer):
    """A looping GIF with one global palette from frames across the animation, streamed.

    A per-frame adaptive palette would spend its colours differently on every frame, so the
    colour map would flicker and band; one palette from sampled frames keeps it steady. Each
    frame is written as it comes, cropped to what changed since the last one, so memory does
    not grow with the length and an unchanged frame is still a frame (`frames` stays exact).
    """

    def __init__(self, path: Path, settings: ExportSettings, count: int, samples: list[np.ndarray],
                 key_colors: list[str] = ()) -> None:
        super().__init__(path, settings, count)
        self.palette = gif_palette(samples, key_colors)
        self._entries = self.palette.getpalette()[:768]
        self.tmp = _temp_beside(path, ".tmp.gif")
        self._fp = open(self.tmp, "wb")  # noqa: SIM115 - closed in finish() or abort()
        self._prev: np.ndarray | None = None
        self._n = 0

    def _p_image(self, idx: np.ndarray):
        from PIL import Image

        im = Image.fromarray(np.ascontiguousarray(idx), "P")
        im.putpalette(self._entries)
        return im

    def append(self, frame: np.ndarray) -> None:
        from PIL import GifImagePlugin, Image

        q = Image.fromarray(frame).quantize(palette=self.palette, dither=Image.Dither.NONE)
        idx = np.asarray(q)
        # GIF counts time in centiseconds: round the running time, not each frame, so 30 fps
        # plays at 30 fps (30, 40, 30 ms ...) instead of 33.
        n, step = self._n, 1000.0 / self.settings.fps
        ms = int(10 * (round((n + 1) * step / 10) - round(n * step / 10)))
        if self._n == self.count - 1 and self.settings.loop and self.count > 1:
            ms += int(GIF_END_HOLD * 1000)  # rest on the final state before starting over
        if self._prev is None:
            info = {"duration": ms}
            if self.settings.loop:
                info["loop"] = 0
            header, _ = GifImagePlugin.getheader(self._p_image(idx), bytes(self._entries), info)
            self._fp.write(b"".join(header))
            x0, y0, x1, y1 = 0, 0, idx.shape[1], idx.shape[0]
        else:
            changed = idx != self._prev
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            if rows.size:
                x0, y0, x1, y1 = cols[0], rows[0], cols[-1] + 1, rows[-1] + 1
            else:
                x0, y0, x1, y1 = 0, 0, 1, 1  # nothing changed: a one-pixel frame keeps the count
        part = self._p_image(idx[y0:y1, x0:x1])
        for chunk in GifImagePlugin.getdata(part, (int(x0), int(y0)), duration=ms, disposal=1):
            self._fp.write(chunk)
        self._prev = idx
        self._n += 1

    def finish(self) -> None:
        self._fp.write(b";")  # trailer
        self._fp.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._fp.close()
        self.tmp.unlink(missing_ok=True)


def gif_palette(samples: list[np.ndarray], key_colors=()):
    """One 256-colour palette for every frame: the runs' exact colours, then a median cut.

    Trails cover few pixels, so a median cut alone spends its entries on the colour map and
    turns the runs' colours muddy; reserving them keeps every run its own colour.
    """
    from PIL import Image, ImageColor

    keys: list[tuple[int, int, int]] = []
    for c in key_colors:
        rgb = ImageColor.getrgb(c)[:3]
        if rgb not in keys:
            keys.append(rgb)
    keys = keys[:64]
    strip = np.concatenate(samples, axis=0)
    cut = Image.fromarray(strip).quantize(colors=256 - len(keys), method=Image.Quantize.MEDIANCUT,
                                          dither=Image.Dither.NONE)
    entries = cut.getpalette()[: 3 * (256 - len(keys))]
    entries += [v for rgb in keys for v in rgb]
    entries += [0] * (768 - len(entries))
    pal = Image.new("P", (1, 1))
    pal.putpalette(entries)
    return pal


class PngFolderWriter(_Writer):
    """frame_0000.png, frame_0001.png, … in a folder that appears only when complete."""

    def __init__(self, path: Path, settings: ExportSettings, count: int) -> None:
        super().__init__(path, settings, count)
        parent = path.parent if str(path.parent) else Path(".")
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
        _chmod_default(self.tmp, 0o777)
        self._digits = max(4, len(str(count - 1)))
        self._i = 0

    def append(self, frame: np.ndarray) -> None:
        from PIL import Image

        Image.fromarray(frame).save(self.tmp / f"frame_{self._i:0{self._digits}d}.png", compress_level=3)
        self._i += 1

    def finish(self) -> None:
        old = None
        if self.path.is_dir():  # a previous export: swap it out, then remove it
            old = self.path.with_name(f".{self.path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def open_writer(path: str | os.PathLike, renderer: FrameRenderer, cursors: np.ndarray) -> _Writer:
    """The writer for `path`'s format; a GIF first renders a few frames for its palette."""
    p = Path(path)
    fmt = check_output(p)
    st = renderer.settings
    if fmt == "mp4":
        return Mp4Writer(p, st, len(cursors), renderer.size)
    if fmt == "gif":
        picks = np.unique(np.round(np.linspace(0, len(cursors) - 1, GIF_PALETTE_SAMPLES)).astype(int))
        samples = [renderer.frame(cursors[i]) for i in picks]
        return GifWriter(p, st, len(cursors), samples, renderer.key_colors())
    return PngFolderWriter(p, st, len(cursors))


# ---------------------------------------------------------------------------------------------
# the writing thread and the two ways to drive it


class WriterThread(QThread):
    """Encodes frames from a bounded queue while the GUI thread renders the next ones."""

    def __init__(self, writer: _Writer, depth: int = 6) -> None:
        super().__init__()
        self.writer = writer
        self.frames: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.written = 0
        self._stop = threading.Event()

    def run(self) -> None:
        try:
            while True:
                frame = self.frames.get()
                if frame is None or self._stop.is_set():
                    break
                self.writer.append(frame)
                self.written += 1
        except BaseException as e:  # noqa: BLE001 - handed to the GUI thread
            self.error = e
            self._stop.set()
            while True:  # unblock a producer waiting on a full queue
                try:
                    if self.frames.get_nowait() is None:
                        break
                except queue.Empty:
                    break

    def put(self, frame: np.ndarray, timeout: float | None = None) -> bool:
        """Queue a frame; False if the queue stayed full for `timeout` seconds."""
        if self.error is not None:
            raise _describe(self.error)
        try:
            self.frames.put(frame, timeout=timeout)
        except queue.Full:
            return False
        return True

    def close(self) -> None:
        """No more frames: wait for the encoder, then rename into place (or raise)."""
        self.frames.put(None)
        self.wait()
        if self.error is not None:
            self.writer.abort()
            raise _describe(self.error)
        try:
            self.writer.finish()
        except BaseException:
            self.writer.abort()
            raise

    def abort(self) -> None:
        self._stop.set()
        try:
            while True:
                self.frames.get_nowait()
        except queue.Empty:
            pass
        self.frames.put(None)
        self.wait()
        self.writer.abort()


def _describe(e: BaseException) -> BaseException:
    if isinstance(e, (BrokenPipeError, OSError)) and not isinstance(e, FileNotFoundError):
        return OSError(f"writing the file failed: {e.strerror or e}")
    return e


def export_animation(scenario: Scenario, path: str | os.PathLike, settings: ExportSettings,
                     progress: Callable[[int, int], None] | None = None,
                     cancelled: Callable[[], bool] | None = None,
                     view_options: dict[str, object] | None = None) -> int:
    """Render and write the whole animation (blocking); returns the number of frames.

    `progress(done, total)` is called after each frame; when `cancelled()` turns true the
    export stops, removes its temporary file and raises ExportCancelled.
    """
    check_output(path)
    settings = settings_for(path, settings).validated(scenario.steps)
    renderer = FrameRenderer(scenario, settings, view_options)
    try:
        cursors = renderer.cursors()
        writer = open_writer(path, renderer, cursors)
        thread = WriterThread(writer)
        thread.start()
        try:
            for i, t in enumerate(cursors):
                if cancelled is not None and cancelled():
                    raise ExportCancelled()
                frame = renderer.frame(t)
                while not thread.put(frame, timeout=0.2):
                    if cancelled is not None and cancelled():
                        raise ExportCancelled()
                if progress is not None:
                    progress(i + 1, len(cursors))
        except BaseException:
            thread.abort()
            raise
        thread.close()
        return len(cursors)
    finally:
        renderer.close()


class ExportJob(QObject):
    """An export driven from the event loop: a few frames per tick, encoding in a WriterThread.

    Signals: progress(done, total), finished(path), failed(message), cancelled().
    """

    progress = Signal(int, int)
    finished = Signal(str)
    failed = Signal(str)
    cancelled = Signal()

    TICK_BUDGET_S = 0.03  # render for at most this long before letting the window breathe

    def __init__(self, scenario: Scenario, path: str, settings: ExportSettings,
                 view_options: dict[str, object] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scenario, self.path = scenario, str(path)
        self.settings = settings
        self.view_options = view_options
        self._renderer: FrameRenderer | None = None
        self._thread: WriterThread | None = None
        self._cursors: np.ndarray = np.empty(0, int)
        self._i = 0
        self._pending: np.ndarray | None = None
        self._cancel = False
        self._done = False
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        try:
            check_output(self.path)
            st = settings_for(self.path, self.settings).validated(self.scenario.steps)
            self._renderer = FrameRenderer(self.scenario, st, self.view_options)
            self._cursors = self._renderer.cursors()
            self._thread = WriterThread(open_writer(self.path, self._renderer, self._cursors))
            self._thread.start()
        except Exception as e:  # noqa: BLE001 - reported, never raised into the event loop
            self._fail(e)
            return
        self._timer.start()

    def cancel(self) -> None:
        """Stop at the next tick; the temporary file is removed."""
        self._cancel = True

    @property
    def running(self) -> bool:
        return not self._done

    def _tick(self) -> None:
        import time

        if self._done:
            return
        try:
            if self._cancel:
                self._end()
                self._thread.abort()
                self.cancelled.emit()
                return
            deadline = time.perf_counter() + self.TICK_BUDGET_S
            while self._i < len(self._cursors) and time.perf_counter() < deadline:
                if self._pending is None:
                    self._pending = self._renderer.frame(self._cursors[self._i])
                if not self._thread.put(self._pending, timeout=0.005):
                    break  # the encoder is behind: try again next tick
                self._pending = None
                self._i += 1
                self.progress.emit(self._i, len(self._cursors))
            if self._i >= len(self._cursors):
                self._end()
                self._thread.close()
                self.finished.emit(self.path)
        except Exception as e:  # noqa: BLE001
            self._end()
            if self._thread is not None:
                self._thread.abort()
            self._fail(e)

    def _end(self) -> None:
        self._done = True
        self._timer.stop()
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _fail(self, e: BaseException) -> None:
        self._done = True
        self._timer.stop()
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        msg = str(e) or e.__class__.__name__
        if isinstance(e, OSError) and e.filename:
            msg = f"{e.filename}: {e.strerror or e}"
        self.failed.emit(msg)
