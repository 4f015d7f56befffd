"""The headless `export` and `presets` commands (gui/export_cli.py).

main.py wires these as subcommands; here a small parser built with the module's own
`add_*_parser` functions drives them the same way (ValueError → one line, exit 2).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from gui import export_cli
from gui.export_settings import mp4_problem
from sim.scenario import default_scenario, save_scenario

ROOT = Path(__file__).resolve().parents[2]

HARNESS = textwrap.dedent("""
    import argparse, sys, time
    sys.path.insert(0, {root!r})
    from gui import export_cli
    p = argparse.ArgumentParser(prog="main.py")
    sub = p.add_subparsers(dest="command")
    export_cli.add_export_parser(sub)
    export_cli.add_presets_parser(sub)
    args = p.parse_args(sys.argv[1:])
    try:
        rc = export_cli.run_export(args) if args.command == "export" else export_cli.list_presets()
    except ValueError as e:
        print(f"ravine: error: {{e}}", file=sys.stderr)
        rc = 2
    print("QT-IMPORTED" if any(m.startswith("PySide6") for m in sys.modules) else "NO-QT", file=sys.stderr)
    sys.exit(rc)
""").format(root=str(ROOT))


def run_cli(*argv: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("DISPLAY", None)
    e.pop("WAYLAND_DISPLAY", None)
    e.pop("QT_QPA_PLATFORM", None)  # the command must choose offscreen itself
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", HARNESS, *argv], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=ROOT)


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    export_cli.add_export_parser(sub)
    export_cli.add_presets_parser(sub)
    return p.parse_args(list(argv))


@pytest.fixture
def presets(tmp_path, monkeypatch) -> Path:
    """A preset folder with one preset: the default scenario, titled."""
    d = tmp_path / "presets"
    d.mkdir()
    save_scenario(default_scenario(), d / "ravine.json")
    monkeypatch.setattr(export_cli, "PRESET_DIR", d)
    return d


def test_headless_gif_from_a_fresh_process_without_display(tmp_path):
    out = tmp_path / "a.gif"
    r = run_cli("export", "-o", str(out), "--size", "320x240", "--frames", "8")
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "8 frames" in r.stdout
    frames = iio.imread(out, index=None)
    assert frames.shape[:3] == (8, 240, 320)
    assert sorted(os.listdir(tmp_path)) == ["a.gif"]


@pytest.mark.parametrize("argv, message", [
    (["-o", "/no/such/folder/a.mp4"], "does not exist"),
    (["-o", "{tmp}/a.avi"], "unknown output format"),
    (["-o", "{tmp}/a.gif", "--size", "12x9"], "out of range"),
    (["-o", "{tmp}/a.gif", "--size", "wide"], "960x720"),
    (["-o", "{tmp}/a.gif", "--fps", "fast"], "--fps"),
    (["-o", "{tmp}/a.gif", "--frames", "0"], "--frames"),
    (["-o", "{tmp}/a.gif", "--view", "3d"], "unknown --view"),
    (["-o", "{tmp}/a.gif", "--range", "5"], "FIRST:LAST"),
    (["{tmp}/missing.json", "-o", "{tmp}/a.gif"], "no such scenario file"),
    (["--preset", "no_such_preset", "-o", "{tmp}/a.gif"], "unknown preset"),
    ([], "-o/--out"),
])
def test_bad_input_is_one_line_exit_2_without_qt(tmp_path, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    r = run_cli("export", *argv, timeout=60)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln != "NO-QT"]
    assert len(lines) == 1 and lines[0].startswith("ravine: error:") and message in lines[0], r.stderr
    assert "NO-QT" in r.stderr  # failed before importing Qt
    assert os.listdir(tmp_path) == []


def test_bad_input_in_process(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        export_cli.run_export(parse("export", "x.json", "--preset", "p", "-o", str(tmp_path / "a.gif")))
    with pytest.raises(ValueError, match="outside"):
        export_cli.run_export(parse("export", "-o", str(tmp_path / "a.gif"), "--range", "0:99999"))
    with pytest.raises(SystemExit):  # argparse: --frames and --duration exclude each other
        parse("export", "-o", "a.gif", "--frames", "3", "--duration", "2")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        export_cli.run_export(parse("export", str(bad), "-o", str(tmp_path / "a.gif")))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # root can write anywhere
            with pytest.raises(ValueError, match="not writable"):
                export_cli.run_export(parse("export", "-o", str(ro / "a.gif")))
    finally:
        ro.chmod(0o700)


@pytest.mark.skipif(mp4_problem() is not None, reason="no H.264 encoder")
def test_preset_to_mp4_exact_frames(presets, tmp_path, capsys):
    out = tmp_path / "p.mp4"
    rc = export_cli.run_export(parse("export", "--preset", "ravine", "-o", str(out), "--size", "320x240",
                                     "--frames", "12", "--view", "contour+loss"))
    assert rc == 0
    frames = iio.imread(out)
    assert frames.shape == (12, 240, 320, 3)
    assert all(np.any(a != b) for a, b in zip(frames[:-1], frames[1:]))
    assert "wrote" in capsys.readouterr().out


def test_scenario_file_to_png_frames(tmp_path):
    sc = tmp_path / "sc.json"
    save_scenario(default_scenario(), sc)
    out = tmp_path / "frames"
    rc = export_cli.run_export(parse("export", str(sc), "-o", str(out), "--size", "320x240",
                                     "--steps-per-frame", "750", "--no-title", "--no-legend", "-q"))
    assert rc == 0
    assert sorted(os.listdir(out)) == ["frame_0000.png", "frame_0001.png", "frame_0002.png"]


def test_presets_lists_name_and_title(presets, capsys):
    assert export_cli.list_presets() == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["ravine  Three optimizers in a ravine"]


def test_presets_from_the_repository(capsys):
    assert export_cli.list_presets() == 0
    out = capsys.readouterr().out
    for name in export_cli.preset_names():
        assert name in out


def test_export_parser_flags():
    a = parse("export", "sc.json", "-o", "x.gif", "--view", "contour+loss", "--size", "800x600", "--fps", "24",
              "--duration", "3", "--range", "0:100", "--no-counter", "--no-loop")
    assert (a.scenario, a.out, a.view, a.size, a.fps, a.duration, a.step_range) == \
        ("sc.json", "x.gif", "contour+loss", "800x600", "24", "3", "0:100")
    assert a.no_counter and not a.no_title and a.loop is False
    st = export_cli.settings_from_args(a)
    assert (st.width, st.height, st.fps, st.duration, st.first, st.last, st.counter, st.loop) == \
        (800, 600, 24.0, 3.0, 0, 100, False, False)


def test_preset_by_short_name(presets):
    (presets / "07_saddle.json").write_bytes((presets / "ravine.json").read_bytes())
    assert export_cli.find_preset("07_saddle").name == "07_saddle.json"
    assert export_cli.find_preset("saddle").name == "07_saddle.json"  # without the lesson number
    with pytest.raises(ValueError, match="choose one of: 07_saddle, ravine"):
        export_cli.find_preset("nope")


def test_without_h264_mp4_says_so_and_gif_still_works(tmp_path, monkeypatch):
    import gui.export as ex

    why = "MP4 encoding is unavailable: this ffmpeg has no libx264 H.264 encoder; GIF still works"
    monkeypatch.setattr(export_cli, "mp4_problem", lambda: why)
    monkeypatch.setattr(ex, "mp4_problem", lambda: why)
    with pytest.raises(ValueError, match="MP4 encoding is unavailable"):
        export_cli.run_export(parse("export", "-o", str(tmp_path / "a.mp4"), "--frames", "2"))
    with pytest.raises(ValueError, match="MP4 encoding is unavailable"):  # the library path says it too
        ex.Mp4Writer(tmp_path / "b.mp4", ex.ExportSettings(), 2, (320, 240))
    assert export_cli.run_export(parse("export", "-o", str(tmp_path / "a.gif"), "--frames", "2",
                                       "--size", "320x240", "-q")) == 0
    assert sorted(os.listdir(tmp_path)) == ["a.gif"]
