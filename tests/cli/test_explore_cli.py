"""The `sweep`, `basins` and `restarts` commands, and `--expr` custom surfaces on the command line."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

import main
from sim import OptimizerConfig, make_surface, simulate
from sim.simulate import default_radius, label_minima, log_spaced, restarts, sweep

ROOT = Path(__file__).resolve().parents[2]
ROSEN = "(1-x)^2+100*(y-x^2)^2"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _sweep_file(tmp_path: Path, *extra: str, name: str = "sweep.csv") -> tuple[list[str], list[list[str]]]:
    out = tmp_path / name
    assert main.main(["sweep", *extra, "--out", str(out)]) == 0
    return _csv(out)


# ---- sweep ------------------------------------------------------------------------------------

GD_SWEEP = ("--surface", "rosenbrock", "--optimizer", "gd", "--start", "-1.5,2", "--lr-min", "1e-5",
            "--lr-max", "1e-2", "--points", "7", "--steps", "400")


def test_sweep_columns_rows_and_seeds(tmp_path):
    header, rows = _sweep_file(tmp_path, "--surface", "quadratic", "--optimizer", "gd", "--noise", "0.5",
                               "--points", "5", "--seeds", "3", "--steps", "50")
    assert header == ["lr", "seed", "final_cost", "best_cost", "diverged_at"]
    assert len(rows) == 5 * 3
    assert [int(r[1]) for r in rows] == [0, 1, 2] * 5  # --seeds K means seeds 0..K-1
    # With gradient noise the seeds really are different runs.
    assert len({r[2] for r in rows[:3]}) == 3


def test_sweep_values_exactly_log_spaced(tmp_path):
    _, rows = _sweep_file(tmp_path, "--surface", "quadratic", "--lr-min", "1e-4", "--lr-max", "1",
                          "--points", "13", "--steps", "10")
    lrs = np.array([float(r[0]) for r in rows])
    assert lrs[0] == 1e-4 and lrs[-1] == 1.0
    np.testing.assert_array_equal(lrs, log_spaced(1e-4, 1.0, 13))
    np.testing.assert_allclose(np.diff(np.log(lrs)), math.log(10) / 3, rtol=1e-9)


def test_sweep_csv_round_trips_the_sim_result_exactly(tmp_path):
    _, rows = _sweep_file(tmp_path, *GD_SWEEP)
    res = sweep(make_surface("rosenbrock"), OptimizerConfig("gd"), "lr", log_spaced(1e-5, 1e-2, 7), 400,
                start=(-1.5, 2.0))
    for row, expect in zip(rows, res.rows(), strict=True):
        assert float(row[0]) == expect[0] and int(row[1]) == expect[1]
        assert float(row[2]) == expect[2] and float(row[3]) == expect[3]  # repr: exact
        assert row[4] == ("" if expect[4] is None else str(expect[4]))


def test_sweep_rows_equal_single_simulate_runs(tmp_path):
    _, rows = _sweep_file(tmp_path, *GD_SWEEP)
    diverged = [r for r in rows if r[4]]
    assert diverged and len(diverged) < len(rows)  # the range straddles the stability edge
    surface = make_surface("rosenbrock")
    for row in (rows[0], rows[3], diverged[0], rows[-1]):
        tr = simulate(surface, OptimizerConfig("gd", lr=float(row[0])), (-1.5, 2.0), 400, int(row[1]))
        assert float(row[2]) == pytest.approx(tr.final_cost, rel=1e-12)
        assert (int(row[4]) if row[4] else None) == tr.diverged_at
        if tr.diverged_at is None:
            assert float(row[3]) == pytest.approx(tr.best_cost, rel=1e-12)


def test_sweep2_adds_a_column(tmp_path):
    header, rows = _sweep_file(tmp_path, "--surface", "rosenbrock", "--optimizer", "momentum", "--start=-1.5,2",
                               "--points", "4", "--seeds", "2", "--steps", "100",
                               "--sweep2", "momentum=0,0.5,0.9,0.99")
    assert header == ["lr", "momentum", "seed", "final_cost", "best_cost", "diverged_at"]
    assert len(rows) == 4 * 2 * 4
    assert sorted({float(r[1]) for r in rows}) == [0.0, 0.5, 0.9, 0.99]
    row = rows[-1]  # momentum 0.99 at the largest rate
    tr = simulate(make_surface("rosenbrock"),
                  OptimizerConfig("momentum", lr=float(row[0]), momentum=float(row[1])), (-1.5, 2.0), 100,
                  int(row[2]))
    assert float(row[3]) == pytest.approx(tr.final_cost, rel=1e-12)
    assert (int(row[5]) if row[5] else None) == tr.diverged_at


def test_sweep2_of_an_integer_hyperparameter(tmp_path):
    header, rows = _sweep_file(tmp_path, "--surface", "quadratic", "--noise", "1", "--points", "2",
                               "--steps", "20", "--sweep2", "batch-size=1,16")
    assert header[1] == "batch_size"
    assert [r[1] for r in rows] == ["1", "1", "16", "16"]


def test_sweep_table_marks_the_best_rate(capsys):
    assert main.main(["sweep", "--surface", "quadratic", "--optimizer", "gd", "--points", "7",
                      "--steps", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["lr", "seed", "final", "cost", "best", "cost", "diverged", "at"]
    body = lines[1:-1]
    assert len(body) == 7
    res = sweep(make_surface("quadratic"), OptimizerConfig("gd"), "lr", log_spaced(1e-4, 1, 7), 200)
    _, best = res.best_index()
    marked = [i for i, line in enumerate(body) if line.endswith("<- best")]
    assert marked == [best]
    assert lines[-1].startswith(f"best: lr={res.values[best]:.6g}")
    # Aligned: every row's "seed" column starts where the header's does.
    col = lines[0].index("seed")
    assert all(line[col - 2:col] == "  " and line[col] != " " for line in body)


def test_expr_sweep_equals_rosenbrock_sweep(tmp_path):
    _, named = _sweep_file(tmp_path, *GD_SWEEP, name="named.csv")
    args = list(GD_SWEEP)
    args[0:2] = ["--expr", ROSEN]
    _, custom = _sweep_file(tmp_path, *args, name="custom.csv")
    assert len(named) == len(custom) == 7
    for a, b in zip(named, custom):
        assert a[0] == b[0] and a[1] == b[1] and a[4] == b[4]
        # Symbolic derivatives round differently from the hand-written ones in the last bits.
        assert float(b[2]) == pytest.approx(float(a[2]), rel=1e-9)


def test_expr_on_run_matches_named_surface(capsys):
    common = ["--optimizer", "adam", "--lr", "0.02", "--start", "-1.5,2", "--steps", "300", "--json"]
    assert main.main(["run", "--surface", "rosenbrock", *common]) == 0
    named = capsys.readouterr().out
    assert main.main(["run", "--expr", ROSEN, "--box", "-2,2,-1,3", *common]) == 0
    custom = capsys.readouterr().out
    a, b = json.loads(named)["runs"][0], json.loads(custom)["runs"][0]
    assert b["final_cost"] == pytest.approx(a["final_cost"], rel=1e-9)
    assert b["nearest_minimum"] == pytest.approx([1.0, 1.0])


# ---- basins -----------------------------------------------------------------------------------

BASIN_STEPS = 1000


def _basins(tmp_path: Path, *extra: str, grid: int = 40, png: bool = False):
    out = tmp_path / "b.npz"
    argv = ["basins", *extra, "--grid", str(grid), "--steps", str(BASIN_STEPS), "--out", str(out)]
    if png:
        argv += ["--png", str(tmp_path / "b.png")]
    assert main.main(argv) == 0
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def test_basins_npz_two_minima(tmp_path, capsys):
    z = _basins(tmp_path, "--surface", "two_minima", "--optimizer", "gd", "--lr", "0.01")
    g = 40
    assert z["x"].shape == (g,) and z["y"].shape == (g,)
    for key in ("label", "final_cost", "steps_to_converge"):
        assert z[key].shape == (g, g)
    assert z["label"].dtype == np.int64 and z["steps_to_converge"].dtype == np.int64
    assert z["final_cost"].dtype == np.float64
    surface = make_surface("two_minima")
    np.testing.assert_array_equal(z["minima"], [[m.x, m.y] for m in surface.minima])
    assert set(np.unique(z["label"])) == {0, 1}
    # The box defaults to the surface's view box.
    x0, x1, y0, y1 = surface.box
    assert (z["x"][0], z["x"][-1], z["y"][0], z["y"][-1]) == (x0, x1, y0, y1)
    out = capsys.readouterr().out
    assert "minimum 0" in out and "minimum 1" in out and "diverged 0.0%" in out and "took" in out


def test_basins_quadratic_all_reach_the_one_minimum(tmp_path):
    z = _basins(tmp_path, "--surface", "quadratic", "--optimizer", "gd", "--lr", "0.05", grid=16)
    assert (z["label"] == 0).all()
    assert (z["steps_to_converge"] >= 0).all()


def test_basin_labels_agree_with_single_runs(tmp_path):
    z = _basins(tmp_path, "--surface", "two_minima", "--optimizer", "momentum", "--lr", "0.01",
                "--momentum", "0.8", "--box", "-2,2,-1.5,2.5", "--seed", "3")
    surface = make_surface("two_minima")
    cfg = OptimizerConfig("momentum", lr=0.01, momentum=0.8)
    radius = default_radius((-2, 2, -1.5, 2.5))
    g = z["x"].size
    rng = np.random.default_rng(1)
    for iy, ix in rng.integers(0, g, size=(10, 2)):
        tr = simulate(surface, cfg, (z["x"][ix], z["y"][iy]), BASIN_STEPS, seed=3 + iy * g + ix)
        expect = label_minima(surface, tr.final_theta, np.array([tr.diverged_at is not None]), radius)[0]
        assert z["label"][iy, ix] == expect
        assert z["final_cost"][iy, ix] == pytest.approx(tr.final_cost, rel=1e-12)


def test_basins_box_with_negative_values(tmp_path):
    z = _basins(tmp_path, "--surface", "two_minima", "--lr", "0.01", "--box", "-1.5,1.5,-1,2", grid=8)
    assert (z["x"][0], z["x"][-1], z["y"][0], z["y"][-1]) == (-1.5, 1.5, -1.0, 2.0)


def test_basins_png(tmp_path):
    _basins(tmp_path, "--surface", "two_minima", "--optimizer", "gd", "--lr", "0.01", grid=64, png=True)
    png = tmp_path / "b.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    img = iio.imread(png)
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8  # 64 starts × 4 pixels
    # Two hues for two basins, white crosses on the minima; no grey or dark red anywhere.
    assert (img == 255).all(axis=-1).any()
    assert not (img == [110, 0, 0]).all(axis=-1).any()


def test_basins_png_marks_divergence(tmp_path):
    # gd on the κ = 10 bowl is unstable for lr > 2/10: every start diverges.
    _basins(tmp_path, "--surface", "quadratic", "--lr", "0.25", grid=300, png=True)
    img = iio.imread(tmp_path / "b.png")
    assert img.shape == (300, 300, 3)  # large grids: one pixel per start
    assert (img == [110, 0, 0]).all(axis=-1).mean() > 0.95


def test_basins_on_an_expression_use_its_box(tmp_path):
    z = _basins(tmp_path, "--expr", "(x^2-1)^2 + y^2", "--box", "-2,2,-1,1", "--lr", "0.02", grid=12)
    assert (z["x"][0], z["x"][-1], z["y"][0], z["y"][-1]) == (-2.0, 2.0, -1.0, 1.0)
    np.testing.assert_allclose(np.sort(z["minima"][:, 0]), [-1, 1], atol=1e-8)
    assert set(np.unique(z["label"])) == {0, 1}


# ---- restarts ---------------------------------------------------------------------------------


def test_restarts_table_matches_sim(capsys):
    assert main.main(["restarts", "--surface", "two_minima", "--optimizer", "gd", "--lr", "0.01",
                      "-k", "20", "--steps", "1000", "--seed", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    res = restarts(make_surface("two_minima"), OptimizerConfig("gd", lr=0.01), 20, 1000, seed=0)
    assert lines[-1] == f"{res.n_global} of 20 reached a global minimum"
    assert 0 < res.n_global < 20
    body = lines[1:-1]
    assert lines[0].split()[:7] == ["#", "start", "x", "start", "y", "end", "x"]
    assert len(body) == 20
    assert sum(" 0 global" in line for line in body) == res.n_global
    assert sum(" 1 local" in line for line in body) == int((res.label == 1).sum())
    assert [i for i, line in enumerate(body) if line.endswith("<- best")] == [res.best]
    first = body[0].split()
    assert float(first[1]) == pytest.approx(res.starts[0, 0], abs=1e-3)


def test_restarts_csv(tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main.main(["restarts", "--surface", "himmelblau", "--optimizer", "adam", "--lr", "0.05",
                      "-k", "12", "--box", "-5,5,-5,5", "--seed", "4", "--out", str(out)]) == 0
    header, rows = _csv(out)
    assert header == ["start_x", "start_y", "end_x", "end_y", "final_cost", "minimum", "reached", "diverged_at"]
    res = restarts(make_surface("himmelblau"), OptimizerConfig("adam", lr=0.05), 12, 1000, seed=4,
                   box=(-5, 5, -5, 5))
    np.testing.assert_array_equal([[float(v) for v in r[:2]] for r in rows], res.starts)
    np.testing.assert_array_equal([int(r[5]) for r in rows], res.label)
    assert capsys.readouterr().out.strip() == f"{res.n_global} of 12 reached a global minimum"


# ---- bad input --------------------------------------------------------------------------------

BAD = [
    ["sweep", "--lr-min", "0", "--out", "{d}/s.csv"],
    ["sweep", "--lr-min", "-1", "--out", "{d}/s.csv"],
    ["sweep", "--lr-min", "1", "--lr-max", "0.1", "--out", "{d}/s.csv"],
    ["sweep", "--lr-max", "abc", "--out", "{d}/s.csv"],
    ["sweep", "--lr-max", "2e3", "--out", "{d}/s.csv"],  # above lr's range in HYPERPARAMS
    ["sweep", "--points", "0", "--out", "{d}/s.csv"],
    ["sweep", "--points", "2.5", "--out", "{d}/s.csv"],
    ["sweep", "--seeds", "0", "--out", "{d}/s.csv"],
    ["sweep", "--sweep2", "momentum", "--out", "{d}/s.csv"],
    ["sweep", "--sweep2", "momentum=", "--out", "{d}/s.csv"],
    ["sweep", "--sweep2", "momentum=0,,1", "--out", "{d}/s.csv"],
    ["sweep", "--sweep2", "momentum=0.5,1.5", "--out", "{d}/s.csv"],
    ["sweep", "--sweep2", "bogus=1,2", "--out", "{d}/s.csv"],
    ["sweep", "--sweep2", "lr=1,2", "--out", "{d}/s.csv"],
    ["sweep", "--sweep2", "batch-size=1.5", "--out", "{d}/s.csv"],
    ["sweep", "--lr", "0.1", "--out", "{d}/s.csv"],
    ["sweep", "--start", "1,2,3", "--out", "{d}/s.csv"],
    ["sweep", "--surface", "nope", "--out", "{d}/s.csv"],
    ["sweep", "--optimizer", "sgdd", "--out", "{d}/s.csv"],
    ["sweep", "--beta7", "0.1", "--out", "{d}/s.csv"],
    ["sweep", "--momentum", "1.5", "--out", "{d}/s.csv"],
    ["sweep", "--steps", "-1", "--out", "{d}/s.csv"],
    ["sweep", "--out", "{d}/s.txt"],
    ["sweep", "--out", "{d}/missing/s.csv"],
    ["sweep", "--expr", "__import__('os')", "--out", "{d}/s.csv"],
    ["sweep", "--expr", "x^2", "--surface", "quadratic", "--out", "{d}/s.csv"],
    ["sweep", "--expr", "x^2", "--param", "kappa=3", "--out", "{d}/s.csv"],
    ["sweep", "--expr", "x +* y", "--out", "{d}/s.csv"],
    ["basins", "--grid", "1", "--out", "{d}/b.npz", "--png", "{d}/b.png"],
    ["basins", "--grid", "2049", "--out", "{d}/b.npz", "--png", "{d}/b.png"],
    ["basins", "--grid", "ten", "--out", "{d}/b.npz"],
    ["basins", "--box", "2,-2,-1,1", "--out", "{d}/b.npz", "--png", "{d}/b.png"],
    ["basins", "--box", "-2,2,-1", "--out", "{d}/b.npz"],
    ["basins", "--box", "-2,2,-1,inf", "--out", "{d}/b.npz"],
    ["basins", "--surface", "quadratic", "--param", "kappa=-1", "--out", "{d}/b.npz"],
    ["basins", "--optimizer", "adamw", "--out", "{d}/b.npz"],
    ["basins", "--out", "{d}/b.npy"],
    ["basins", "--png", "{d}/b.jpg"],
    ["basins", "--expr", "__import__('os')", "--out", "{d}/b.npz", "--png", "{d}/b.png"],
    ["basins", "--start", "0,0", "--out", "{d}/b.npz"],  # a basin map has no single start
    ["restarts", "-k", "0", "--out", "{d}/r.csv"],
    ["restarts", "-k", "1e9", "--out", "{d}/r.csv"],
    ["restarts", "--seed", "-1", "--out", "{d}/r.csv"],
    ["restarts", "--box", "0,0,0,0", "--out", "{d}/r.csv"],
    ["restarts", "--lr", "0", "--out", "{d}/r.csv"],
    ["restarts", "--out", "{d}/r.json"],
    ["restarts", "--expr", "open('x')", "--out", "{d}/r.csv"],
    ["run", "--expr", "__import__('os')", "--out", "{d}/t.csv"],
    ["run", "--expr", "x^2", "--box", "1,2", "--out", "{d}/t.csv"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a).replace("{d}/", "") for a in BAD])
def test_bad_input_exit_2_one_line_no_file(argv, tmp_path, capsys):
    assert main.main([a.replace("{d}", str(tmp_path)) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("ravine: error:")
    assert "Traceback" not in captured.err and captured.out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


# ---- real processes ---------------------------------------------------------------------------

PROCESS_CASES = {
    "sweep": (["--surface", "quadratic", "--points", "3", "--steps", "50", "--out", "{d}/s.csv"], "s.csv"),
    "basins": (["--surface", "two_minima", "--lr", "0.01", "--grid", "16", "--steps", "200",
                "--box", "-2,2,-1.5,2.5", "--out", "{d}/b.npz", "--png", "{d}/b.png"], "b.png"),
    "restarts": (["--surface", "two_minima", "--lr", "0.01", "-k", "5", "--out", "{d}/r.csv"], "r.csv"),
}


@pytest.mark.parametrize("command", PROCESS_CASES)
def test_real_process(command, tmp_path):
    flags, made = PROCESS_CASES[command]
    argv = [sys.executable, "main.py", command, *(f.replace("{d}", str(tmp_path)) for f in flags)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / made).is_file()
    bad = subprocess.run(argv + ["--steps", "x"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_commands_never_import_qt(tmp_path):
    code = ("import sys, main\n"
            f"d = {str(tmp_path)!r}\n"
            "rc = [main.main(['sweep', '--points', '2', '--steps', '5', '--out', d + '/s.csv']),\n"
            "      main.main(['basins', '--grid', '4', '--steps', '5', '--png', d + '/b.png']),\n"
            "      main.main(['restarts', '-k', '2', '--steps', '5'])]\n"
            "qt = any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules)\n"
            "print('QT' if qt else 'NOQT', rc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "NOQT [0, 0, 0]", done.stderr



def test_basins_summary_of_many_minima_names_the_global_one(capsys, tmp_path):
    """121 minima: the summary names the global minimum and seven more, and sums up the rest."""
    assert main.main(["basins", "--expr", "20 + x^2 - 10*cos(2*pi*x) + y^2 - 10*cos(2*pi*y)",
                      "--box", "-5,5,-5,5", "--optimizer", "gd", "--lr", "0.002", "--grid", "40",
                      "--steps", "2000", "--out", str(tmp_path / "b.npz")]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "(0, 0) global" in line and line.count("minimum ") == 8 and "113 other minima" in line
    # Every start is counted once: the shares (8 minima, the rest, none, diverged) add up.
    shares = [float(v) for v in re.findall(r"([\d.]+)%", line)]
    assert len(shares) == 11 and abs(sum(shares) - 100.0) < 0.6
    label = np.load(tmp_path / "b.npz")["label"]
    assert np.unique(label[label >= 0]).size == 121
