"""Animation export: decoded files have the frames, sizes and growth they should; cancel and
errors leave nothing behind; the dialog and the command line give the same pixels."""

from __future__ import annotations

import argparse

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMenu

from gui import export_cli
from gui.export import ExportCancelled, ExportSettings, FrameRenderer, export_animation
from gui.export_dialog import (
    COMPARISON_TIP,
    ExportAnimationDialog,
    export_data,
    export_image,
    install_export_actions,
)
from gui.export_settings import check_output, mp4_problem, output_format, parse_size
from gui.presets import PRESET_DIR
from sim.scenario import default_scenario, load_scenario

SMALL = dict(width=320, height=240)


def run_pixels(frame: np.ndarray, chroma: int = 110) -> int:
    """Pixels in the runs' saturated colours (the colour map and text are nearly grey)."""
    rgb = frame[..., :3].astype(int)
    return int((rgb.max(axis=-1) - rgb.min(axis=-1) > chroma).sum())


def files_in(path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


@pytest.fixture
def scenario():
    """The ravine lesson's preset (the default scenario until the presets exist)."""
    preset = PRESET_DIR / "01_ravine.json"
    return load_scenario(preset) if preset.is_file() else default_scenario()


def test_gif_frames_grow_and_loop(qapp, tmp_path, scenario):
    out = tmp_path / "anim.gif"
    n = export_animation(scenario, out, ExportSettings(frames=12, **SMALL))
    assert n == 12
    frames = iio.imread(out, index=None)
    assert frames.shape[:3] == (12, 240, 320)
    for a, b in zip(frames[:-1], frames[1:]):
        assert np.any(a != b), "consecutive frames should differ"
    assert run_pixels(frames[-1]) > run_pixels(frames[0]) + 40  # the trail has grown
    with Image.open(out) as im:
        assert im.info.get("loop") == 0
    assert files_in(tmp_path) == ["anim.gif"]  # no temporary file left


def test_gif_keeps_run_colours_exact(qapp, tmp_path, scenario):
    out = tmp_path / "c.gif"
    export_animation(scenario, out, ExportSettings(frames=3, **SMALL))
    with Image.open(out) as im:
        pal = np.array(im.getpalette()[:768]).reshape(-1, 3)
    colours = {tuple(int(v) for v in c) for c in pal}
    for run in scenario.runs:
        rgb = tuple(int(run.color[i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, f"{run.color} should be an exact palette entry"


def test_gif_exact_frame_count_even_with_repeated_steps(qapp, tmp_path, scenario):
    from dataclasses import replace

    short = replace(scenario, steps=4)
    out = tmp_path / "rep.gif"
    export_animation(short, out, ExportSettings(frames=9, **SMALL))
    assert iio.imread(out, index=None).shape[0] == 9


@pytest.mark.skipif(mp4_problem() is not None, reason="no H.264 encoder")
def test_mp4_is_h264_yuv420p_with_exact_frames(qapp, tmp_path, scenario):
    import imageio_ffmpeg

    out = tmp_path / "anim.mp4"
    export_animation(scenario, out, ExportSettings(frames=12, width=321, height=241))  # odd: rounded down
    frames = iio.imread(out)  # metadata says nframes=inf: count by reading
    assert frames.shape == (12, 240, 320, 3)
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames[:-1], frames[1:])]
    assert min(diffs) > 0
    # yuv420p halves the chroma resolution, so thin trails come out less saturated.
    assert run_pixels(frames[-1], 60) > run_pixels(frames[0], 60) + 40
    gen = imageio_ffmpeg.read_frames(str(out))
    meta = next(gen)
    gen.close()
    assert meta["codec"].startswith("h264")
    assert meta["pix_fmt"].startswith("yuv420p")
    assert files_in(tmp_path) == ["anim.mp4"]


def test_png_folder(qapp, tmp_path, scenario):
    out = tmp_path / "frames"
    export_animation(scenario, out, ExportSettings(steps_per_frame=500, **SMALL))
    assert files_in(out) == [f"frame_{i:04d}.png" for i in range(4)]  # steps 0, 500, 1000, 1500
    assert iio.imread(out / "frame_0000.png").shape == (240, 320, 3)
    export_animation(scenario, out, ExportSettings(frames=2, **SMALL))  # a re-export replaces it
    assert files_in(out) == ["frame_0000.png", "frame_0001.png"]
    assert files_in(tmp_path) == ["frames"]


@pytest.mark.parametrize("name", ["a.gif", "a.mp4", "frames"])
def test_cancel_leaves_no_file(qapp, tmp_path, scenario, name):
    if name.endswith(".mp4") and mp4_problem():
        pytest.skip("no H.264 encoder")
    seen = []
    with pytest.raises(ExportCancelled):
        export_animation(scenario, tmp_path / name, ExportSettings(frames=20, **SMALL),
                         progress=lambda d, n: seen.append(d), cancelled=lambda: len(seen) >= 3)
    assert files_in(tmp_path) == []


def test_writer_error_leaves_no_file(qapp, tmp_path, scenario, monkeypatch):
    import gui.export as ex

    def broken(self, frame):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ex.GifWriter, "append", broken)
    with pytest.raises(OSError, match="No space left"):
        export_animation(scenario, tmp_path / "x.gif", ExportSettings(frames=10, **SMALL))
    assert files_in(tmp_path) == []


def test_renderer_sizes_and_views(qapp, scenario):
    for view, size in (("contour", (320, 240)), ("contour+loss", (480, 240))):
        r = FrameRenderer(scenario, ExportSettings(view=view, width=size[0], height=size[1]))
        try:
            f0, f1 = r.frame(0), r.frame(scenario.steps)
        finally:
            r.close()
        assert f0.shape == (size[1], size[0], 3) and f0.dtype == np.uint8
        assert np.any(f0 != f1)


def test_toggles_change_the_figure(qapp, scenario):
    frames = {}
    for key, kw in (("all", {}), ("bare", dict(title=False, legend=False, counter=False))):
        r = FrameRenderer(scenario, ExportSettings(**SMALL, **kw))
        frames[key] = r.frame(0)
        r.close()
    assert np.any(frames["all"] != frames["bare"])


def test_cursors():
    st = ExportSettings(frames=5)
    assert st.cursors(100).tolist() == [0, 25, 50, 75, 100]
    assert ExportSettings(steps_per_frame=40, first=10, last=100).cursors(500).tolist() == [10, 50, 90, 100]
    assert len(ExportSettings(duration=2.0, fps=15).cursors(1500)) == 30
    assert len(ExportSettings().cursors(1500)) == 180  # 6 s at 30 fps by default


@pytest.mark.parametrize("kwargs, message", [
    (dict(width=10), "out of range"),
    (dict(fps=0), "fps"),
    (dict(frames=0), "frames"),
    (dict(frames=3, duration=2.0), "only one"),
    (dict(view="grid"), "unknown view"),
    (dict(first=10, last=5), "outside"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ExportSettings(**kwargs).validated(100)


def test_bad_paths(tmp_path):
    assert output_format(tmp_path / "a.GIF") == "gif"
    assert output_format(tmp_path / "frames") == "png"
    with pytest.raises(ValueError, match="unknown output format"):
        check_output(tmp_path / "a.avi")
    with pytest.raises(ValueError, match="does not exist"):
        check_output(tmp_path / "nope" / "a.gif")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="other files"):
        check_output(tmp_path / "busy")
    with pytest.raises(ValueError, match="960x720"):
        parse_size("big")


# ---- the window's path ----------------------------------------------------------------------------


def _cli_args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    export_cli.add_export_parser(sub)
    return p.parse_args(["export", *argv])


def test_dialog_and_cli_give_the_same_frames(window, qtbot, tmp_path):
    dialog = ExportAnimationDialog(window)
    qtbot.addWidget(dialog)
    dialog.set_path(str(tmp_path / "gui_frames"))
    assert dialog.format.currentData() == "png"
    dialog.width_.setValue(320)
    dialog.height_.setValue(240)
    dialog.by_steps.setChecked(True)
    dialog.steps_per_frame.setValue(300)
    dialog.start()
    assert dialog.job is not None
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30_000)
    assert dialog.last_error == ""
    assert "Saved" in dialog.status.text()
    assert export_cli.run_export(_cli_args("-o", str(tmp_path / "cli_frames"), "--size", "320x240",
                                           "--steps-per-frame", "300", "-q")) == 0
    gui_files, cli_files = files_in(tmp_path / "gui_frames"), files_in(tmp_path / "cli_frames")
    assert gui_files == cli_files and len(gui_files) == 6
    for name in (gui_files[0], gui_files[-1]):
        a = iio.imread(tmp_path / "gui_frames" / name).astype(int)
        b = iio.imread(tmp_path / "cli_frames" / name).astype(int)
        assert np.abs(a - b).max() <= 2, name


def test_dialog_cancel_leaves_no_file(window, qtbot, tmp_path):
    dialog = ExportAnimationDialog(window)
    qtbot.addWidget(dialog)
    dialog.set_path(str(tmp_path / "c.gif"))
    dialog.width_.setValue(320)
    dialog.height_.setValue(240)
    dialog.duration.setValue(20.0)  # 600 frames: long enough to cancel midway
    ticks = []
    clock = QTimer()
    clock.timeout.connect(lambda: ticks.append(1))
    clock.start(5)
    dialog.start()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 3, timeout=20_000)
    assert ticks, "the event loop keeps running while frames are rendered"
    dialog.cancel()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=20_000)
    assert "Cancelled" in dialog.status.text()
    assert files_in(tmp_path) == []
    assert window.isVisible()


def test_dialog_controls(window, qtbot, tmp_path):
    dialog = ExportAnimationDialog(window)
    qtbot.addWidget(dialog)
    grid = dialog.view.model().item(dialog.view.findData("grid"))
    assert not grid.isEnabled() and grid.toolTip() == COMPARISON_TIP
    dialog.set_path(str(tmp_path / "a.gif"))
    dialog.format.setCurrentIndex(dialog.format.findData("mp4"))
    assert dialog.path.text().endswith("a.mp4") and not dialog.loop.isEnabled()
    dialog.set_path(str(tmp_path / "missing" / "a.gif"))
    dialog.start()
    assert dialog.job is None and "does not exist" in dialog.last_error


def test_menu_actions_image_and_data(window, tmp_path):
    menu = QMenu()
    quit_action = menu.addAction("&Quit")
    actions = install_export_actions(window, menu)
    texts = [a.text() for a in menu.actions()]
    assert [a.text() for a in actions] == ["Export &animation…", "Export &image…", "Export &data…"]
    assert texts.index("Export &data…") < texts.index(quit_action.text())
    export_image(window, str(tmp_path / "view.png"))
    export_image(window, str(tmp_path / "view.svg"))
    assert iio.imread(tmp_path / "view.png").shape[1] >= 800
    assert (tmp_path / "view.svg").read_text().lstrip().startswith("<?xml")
    export_data(window, str(tmp_path / "runs.csv"))
    head = (tmp_path / "runs.csv").read_text().splitlines()[0]
    assert head.startswith("run,step,x,y,cost")
    with pytest.raises(ValueError):
        export_image(window, str(tmp_path / "view.bmp"))
