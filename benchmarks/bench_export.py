"""Export performance: a 300-frame 960×720 H.264 MP4 of the default scenario, Ravine against
the usual matplotlib FuncAnimation approach for the same animation.

    python benchmarks/bench_export.py [--frames 300] [--size 960x720]

Both draw the surface as a log-scaled image with 18 log-spaced level sets, three growing
trajectories with a marker at their heads, a legend, a title and a step counter, and both
encode with the same ffmpeg (imageio-ffmpeg's), libx264, yuv420p, crf 18, preset veryfast.
Ravine is timed twice: in this process (the same conditions as matplotlib) and end to end as
the headless command in a fresh process (imports, kernels from the cache, window-less Qt).
matplotlib is timed twice too: FuncAnimation.save with FFMpegWriter (the usual recipe, which
draws every frame more than once) and a hand-written loop with one canvas.draw() per frame.
matplotlib is not a dependency of Ravine: without it, that half is skipped with a note.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLI_CHILD = """
import argparse, sys
sys.path.insert(0, {root!r})
from gui import export_cli
p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="command")
export_cli.add_export_parser(sub)
sys.exit(export_cli.run_export(p.parse_args(sys.argv[1:])))
"""


def ravine_in_process(out: Path, frames: int, size: tuple[int, int]) -> float:
    from PySide6.QtWidgets import QApplication

    from gui.app import configure_pyqtgraph
    from gui.export import ExportSettings, export_animation
    from sim.scenario import default_scenario

    _app = QApplication.instance() or QApplication([])
    configure_pyqtgraph()
    sc = default_scenario()
    t0 = time.perf_counter()
    export_animation(sc, out, ExportSettings(width=size[0], height=size[1], frames=frames))
    return time.perf_counter() - t0


def ravine_cli(out: Path, frames: int, size: tuple[int, int]) -> float:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("QT_QPA_PLATFORM", None)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI_CHILD.format(root=str(ROOT)), "export", "-o", str(out),
                    "--frames", str(frames), "--size", f"{size[0]}x{size[1]}", "-q"], check=True, env=env)
    return time.perf_counter() - t0


def matplotlib_funcanimation(out: Path, frames: int, size: tuple[int, int], manual: bool = False) -> float | None:
    """The same animation in matplotlib. `manual=False`: FuncAnimation.save with FFMpegWriter,
    the usual recipe (it draws each frame more than once); `manual=True`: a hand-written loop,
    one canvas.draw() per frame, RGBA buffer piped to the same ffmpeg."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import imageio_ffmpeg
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.animation import FFMpegWriter, FuncAnimation

    from gui.views.drawing import log_image, log_levels
    from sim.scenario import default_scenario, simulate_scenario

    plt.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
    sc = default_scenario()
    t0 = time.perf_counter()
    s = sc.make_surface()
    trajs = simulate_scenario(sc, s)
    x0, x1, y0, y1 = sc.box or s.box
    xs, ys = np.linspace(x0, x1, 240), np.linspace(y0, y1, 240)
    z = s.grid(xs, ys)
    levels, base, floor = log_levels(z, min((m.cost for m in s.minima), default=None), count=18)
    img = log_image(z, base, floor)
    dpi = 100
    fig, ax = plt.subplots(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    ax.imshow(img, origin="lower", extent=(x0, x1, y0, y1), cmap="bone_r", aspect="equal")
    ax.contour(xs, ys, z, levels=levels, colors="k", linewidths=0.6, alpha=0.4)
    ax.set_xlabel("θ₁ (w₁)")
    ax.set_ylabel("θ₂ (w₂)")
    ax.set_title(sc.title, loc="left", fontweight="bold")
    lines, heads = [], []
    for run in sc.runs:
        (ln,) = ax.plot([], [], color=run.color, lw=2, label=run.title)
        (hd,) = ax.plot([], [], "o", color=run.color, mec="k", ms=8)
        lines.append(ln)
        heads.append(hd)
    ax.legend(loc="upper left")
    counter = ax.text(1.0, 1.01, "", transform=ax.transAxes, ha="right", family="monospace")
    fig.tight_layout()
    cursors = np.round(np.linspace(0, sc.steps, frames)).astype(int)

    def update(i):
        t = cursors[i]
        for ln, hd, tr in zip(lines, heads, trajs):
            k = tr.at(t)
            ln.set_data(tr.theta[: k + 1, 0], tr.theta[: k + 1, 1])
            hd.set_data([tr.theta[k, 0]], [tr.theta[k, 1]])
        counter.set_text(f"step {t} / {sc.steps}")
        return [*lines, *heads, counter]

    if manual:
        gen = imageio_ffmpeg.write_frames(str(out), size, pix_fmt_in="rgba", fps=30.0, codec="libx264",
                                          quality=None, macro_block_size=2,
                                          output_params=["-crf", "18", "-preset", "veryfast"])
        gen.send(None)
        for i in range(frames):
            update(i)
            fig.canvas.draw()
            gen.send(np.asarray(fig.canvas.buffer_rgba()).copy())
        gen.close()
    else:
        anim = FuncAnimation(fig, update, frames=frames, blit=False)
        writer = FFMpegWriter(fps=30, codec="libx264",
                              extra_args=["-pix_fmt", "yuv420p", "-crf", "18", "-preset", "veryfast"])
        anim.save(str(out), writer=writer, dpi=dpi)
    plt.close(fig)
    return time.perf_counter() - t0


def warm_kernels() -> None:
    """Load (or compile) the numba kernels before either clock starts: both halves then pay
    only for simulating and evaluating the surface, not for a cold cache."""
    import numpy as np

    from sim.scenario import default_scenario, simulate_scenario

    sc = default_scenario()
    s = sc.make_surface()
    simulate_scenario(sc, s)
    s.grid(np.linspace(-1, 1, 8), np.linspace(-1, 1, 8))


def count_frames(path: Path) -> int:
    import imageio.v3 as iio

    return sum(1 for _ in iio.imiter(path))  # imageio-ffmpeg reports nframes=inf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="960x720")
    a = ap.parse_args()
    size = tuple(int(v) for v in a.size.split("x"))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        warm_kernels()
        ours = ravine_in_process(d / "ravine.mp4", a.frames, size)
        n = count_frames(d / "ravine.mp4")
        print(f"ravine, in process:   {a.frames} frames {size[0]}x{size[1]} MP4 in {ours:6.2f} s "
              f"({a.frames / ours:5.1f} frames/s; file has {n} frames, "
              f"{(d / 'ravine.mp4').stat().st_size / 1e6:.2f} MB)")
        cli = ravine_cli(d / "cli.mp4", a.frames, size)
        print(f"ravine, command line: {a.frames} frames {size[0]}x{size[1]} MP4 in {cli:6.2f} s "
              f"(fresh process, imports and start-up included)")
        theirs = matplotlib_funcanimation(d / "mpl.mp4", a.frames, size)
        if theirs is None:
            print("matplotlib is not installed (it is not a Ravine dependency): comparison skipped; "
                  "pip install matplotlib to measure it")
            return 0
        print(f"matplotlib FuncAnimation + FFMpegWriter: {a.frames} frames in {theirs:6.2f} s "
              f"({a.frames / theirs:5.1f} frames/s; file has {count_frames(d / 'mpl.mp4')} frames)")
        print(f"ratio: ravine is {theirs / ours:.2f}x faster than matplotlib FuncAnimation "
              f"(command line end to end: {theirs / cli:.2f}x)")
        manual = matplotlib_funcanimation(d / "mpl2.mp4", a.frames, size, manual=True)
        print(f"matplotlib, hand-written loop (one draw per frame): {a.frames} frames in {manual:6.2f} s; "
              f"ravine is {manual / ours:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
