"""A basin map animated over one hyperparameter: the maps are sim's, the frames are the
Basins view's, the files decode to what was asked, and failures leave nothing behind."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

import main
from gui.basin_movie import render_basin_movie
from gui.export_settings import movie_configs, movie_values, mp4_problem, parse_animate
from gui.views.analysis import DIVERGED_COLOR
from gui.views.basins import FILLS
from sim import OptimizerConfig
from sim.scenario import PALETTE, Run, Scenario
from sim.simulate import basins

MOMENTUM = OptimizerConfig("momentum", lr=0.01, momentum=0.9)


def _scenario(config=MOMENTUM, steps=400) -> Scenario:
    return Scenario("two_minima", runs=(Run(config, "m", None, 0, PALETTE[0]),), steps=steps)


def _pixels(frame: np.ndarray, color: str) -> int:
    """Pixels of about `color`: the view's antialiased image and the GIF's palette move a
    fill by a few levels (#a6cee3 is drawn 164,204,224), the fills differ by far more."""
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(frame.astype(int) - rgb).sum(axis=-1) <= 12).sum())


def test_values_and_configs():
    assert movie_values(0.001, 0.1, 3) == [0.001, 0.01, 0.1]  # decades: log-spaced
    assert movie_values(0.0, 0.9, 4) == [0.0, 0.3, 0.6, 0.9]  # from zero: even steps
    v = movie_values(0.002, 0.2, 12)
    assert v[0] == 0.002 and v[-1] == 0.2 and all(len(f"{x:g}".lstrip("0.")) <= 3 for x in v)
    fine = movie_values(0.9, 0.99, 40)  # 3 digits would repeat values here: more are kept
    assert all(a < b for a, b in zip(fine, fine[1:]))
    assert parse_animate("momentum=0:0.99") == ("momentum", 0.0, 0.99)
    cfgs = movie_configs(MOMENTUM, "momentum", [0.0, 0.5])
    assert [c.momentum for c in cfgs] == [0.0, 0.5] and all(c.lr == 0.01 for c in cfgs)
    with pytest.raises(ValueError, match="no hyperparameter 'beta1'"):
        movie_configs(MOMENTUM, "beta1", [0.5])
    with pytest.raises(ValueError):
        movie_configs(MOMENTUM, "lr", [-1.0])
    for bad in ("lr", "lr=1", "lr=a:b", "=1:2"):
        with pytest.raises(ValueError, match="NAME=LO:HI"):
            parse_animate(bad)
    with pytest.raises(ValueError, match="LO < HI"):
        movie_values(0.1, 0.01, 5)


def test_frames_are_the_basins_views_of_sims_maps(qapp, tmp_path):
    cfgs = movie_configs(MOMENTUM, "lr", [0.003, 0.03, 0.12])
    seen = []
    maps = render_basin_movie(_scenario(), cfgs, tmp_path / "m.gif", grid=40, steps=400, size=(601, 500),
                              fps=5, progress=lambda i, n, r: seen.append((i, n, r.config.lr)))
    assert seen == [(1, 3, 0.003), (2, 3, 0.03), (3, 3, 0.12)]
    surface = _scenario().make_surface()
    for cfg, r in zip(cfgs, maps):
        np.testing.assert_array_equal(r.label, basins(surface, cfg, 40, 400, box=surface.box).label)
    frames = iio.imread(tmp_path / "m.gif", index=None)
    assert frames.shape == (3, 500, 600, 3)  # H.264-friendly even sides, also for a GIF
    # Each frame paints the basins in the view's colours, as much as the map's shares say.
    for frame, r in zip(frames, maps):
        for k in (0, 1):
            share = float((r.label == k).mean())
            assert (_pixels(frame, FILLS["light"][k]) > 2000) == (share > 0.05)
    assert not np.array_equal(frames[0], frames[2])
    assert not list(tmp_path.glob(".m.gif.*"))  # no temporary file left


def test_failure_midway_leaves_no_file(qapp, tmp_path):
    def boom(i, n, r):
        if i == 2:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        render_basin_movie(_scenario(), movie_configs(MOMENTUM, "lr", [0.01, 0.02, 0.04]), tmp_path / "m.gif",
                           grid=16, steps=50, progress=boom)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_command_line_writes_the_movie(qapp, tmp_path, capsys, suffix):
    if suffix == ".mp4" and mp4_problem():
        pytest.skip(mp4_problem())
    out = tmp_path / f"basins{suffix}"
    assert main.main(["basins", "--surface", "two_minima", "--optimizer", "gd", "--steps", "300",
                      "--grid", "32", "--animate", "lr=0.003:0.3", "--frames", "4", "--size", "480x400",
                      "--movie", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("frame 1/4: lr=0.003,") and lines[3].startswith("frame 4/4: lr=0.3,")
    assert lines[-1].startswith(f"wrote {out}: 4 frames")
    frames = iio.imread(out, index=None) if suffix == ".gif" else np.stack(list(iio.imiter(out)))
    assert frames.shape[:3] == (4, 400, 480)
    # The last frame paints diverged starts in their colour, as much as sim's map says.
    s = _scenario().make_surface()
    last = basins(s, OptimizerConfig("gd", lr=0.3), 32, 300, box=s.box)
    diverged = float((last.label == -2).mean())
    assert diverged > 0.05
    assert _pixels(frames[-1], DIVERGED_COLOR["light"]) > 2000
    assert _pixels(frames[0], DIVERGED_COLOR["light"]) < 50  # none at α = 0.003
    assert not np.array_equal(frames[0], frames[-1])


def test_dark_theme_frames_are_dark_to_the_legend(qapp, tmp_path):
    out = tmp_path / "dark.gif"
    render_basin_movie(_scenario(), movie_configs(MOMENTUM, "lr", [0.01, 0.02]), out, grid=16, steps=50,
                       size=(480, 400), theme="dark")
    frame = iio.imread(out, index=None)[0].astype(float)
    assert frame[:20].mean() < 60  # title strip
    assert frame[-20:].mean() < 60  # legend strip (the label follows the view's palette)


BAD = [
    ["--animate", "lr=0.1:1"],  # no --movie
    ["--movie", "m.gif"],  # no --animate
    ["--animate", "momentum=0:0.9", "--movie", "m.gif"],  # gd has no momentum
    ["--animate", "lr=1:0.1", "--movie", "m.gif"],
    ["--animate", "lr=0.1:1", "--movie", "m.txt"],
    ["--animate", "lr=0.1:1", "--movie", "m.gif", "--frames", "1"],
    ["--animate", "lr=0.1:1", "--movie", "m.gif", "--size", "10x10"],
    ["--animate", "lr=0.1:1", "--movie", "m.gif", "--out", "b.npz"],
    ["--animate", "lr=0.1:1", "--movie", "/no/such/dir/m.gif"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_animation_flags(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main.main(["basins", "--surface", "two_minima", "--optimizer", "gd", "--grid", "8", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ravine: error:")
    assert list(tmp_path.iterdir()) == []


def test_basins_tab_animates_its_map(window, qtbot, tmp_path):
    """Basins → Animate…: the tab's optimizer and area, one frame per value, written; Cancel
    midway writes nothing; bad ranges are named in the dialog."""
    from tests.gui.analysis_helpers import show_tab

    view = show_tab(window, qtbot, window.basins_tab, "two_minima", grid=24)
    out = tmp_path / "movies"
    out.mkdir()
    dialog = view.open_movie_dialog()
    assert dialog.name.currentData() == "lr" and float(dialog.hi.text()) == pytest.approx(100 * float(dialog.lo.text()))
    dialog.frames.setValue(3)
    dialog.grid.setValue(24)
    dialog.path.setText(str(out / "tab.gif"))
    dialog.lo.setText("0.5")
    dialog.hi.setText("0.1")
    assert not dialog.save() and "LO < HI" in dialog.message.text()
    dialog.lo.setText("0.003")
    dialog.hi.setText("0.3")
    assert dialog.save() and dialog.written == out / "tab.gif"
    frames = iio.imread(out / "tab.gif", index=None)
    assert frames.shape[0] == 3 and not np.array_equal(frames[0], frames[-1])
    # Cancel after the first frame: no file, a clear word.
    original = dialog._on_progress

    def cancel_after_one(done, total, r):
        if done == 1:
            dialog.cancel_or_close()
        original(done, total, r)

    dialog._on_progress = cancel_after_one
    dialog.path.setText(str(out / "cancelled.gif"))
    assert not dialog.save()
    assert "Cancelled" in dialog.message.text() and not (out / "cancelled.gif").exists()
    assert [p.name for p in out.iterdir()] == ["tab.gif"]  # no temporary file either
    dialog.close()
