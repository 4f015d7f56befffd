"""The headless command line: `run`, `surfaces`, `optimizers`, and its error handling."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main
from sim import OptimizerConfig, make_surface, simulate
from sim.export_data import CSV_COLUMNS
from sim.scenario import default_scenario, save_scenario

ROOT = Path(__file__).resolve().parents[2]
ADAM_ARGS = ["run", "--surface", "rosenbrock", "--optimizer", "adam", "--lr", "0.01", "--beta1", "0.9",
             "--beta2", "0.999", "--eps", "1e-8", "--steps", "300", "--seed", "0"]


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array([[float(v) for v in r] for r in rows[1:]])


def test_csv_matches_simulate_bit_for_bit(tmp_path):
    out = tmp_path / "traj.csv"
    assert main.main(ADAM_ARGS + ["--start", "-1.5,2", "--out", str(out)]) == 0
    header, data = _read_csv(out)
    assert tuple(header) == CSV_COLUMNS
    tr = simulate(make_surface("rosenbrock"), OptimizerConfig("adam", lr=0.01), (-1.5, 2.0), 300, 0)
    assert data.shape == (301, 12)
    np.testing.assert_array_equal(data[:, 1], np.arange(301))
    # Full precision: the file round-trips exactly.
    np.testing.assert_array_equal(data[:, 2:4], tr.theta)
    np.testing.assert_array_equal(data[:, 4], tr.cost)
    np.testing.assert_array_equal(data[:, 5:7], tr.grad)
    np.testing.assert_array_equal(data[:, 7], tr.lr)
    np.testing.assert_array_equal(data[:, 8:10], tr.avg)
    np.testing.assert_array_equal(data[:, 10], tr.avg_cost)
    np.testing.assert_array_equal(data[:, 11], tr.kinetic)
    # Row t's gradient is the one the step from θ_t used: θ_1 − θ_0 = −α g_0 / ... for gd.
    assert data[0, 2] == -1.5 and data[0, 3] == 2.0


def test_gd_csv_row_semantics(tmp_path):
    out = tmp_path / "gd.csv"
    assert main.main(["run", "--surface", "quadratic", "--optimizer", "gd", "--lr", "0.05",
                      "--start=-2,1", "--steps", "20", "--out", str(out)]) == 0
    _, d = _read_csv(out)
    # θ_{t+1} = θ_t − lr_t g_t, with g_t and lr_t from row t.
    np.testing.assert_allclose(d[1:, 2:4], d[:-1, 2:4] - d[:-1, 7:8] * d[:-1, 5:7], rtol=0, atol=1e-15)


@pytest.mark.parametrize("form", [["--start", "-1.5,2"], ["--start=-1.5,2"]])
def test_negative_start_forms(tmp_path, form):
    out = tmp_path / "t.csv"
    assert main.main(ADAM_ARGS + form + ["--out", str(out)]) == 0
    _, d = _read_csv(out)
    assert (d[0, 2], d[0, 3]) == (-1.5, 2.0)


def test_npz_and_json_outputs(tmp_path):
    npz = tmp_path / "t.npz"
    js = tmp_path / "t.json"
    assert main.main(ADAM_ARGS + ["--out", str(npz)]) == 0
    assert main.main(ADAM_ARGS + ["--out", str(js)]) == 0
    with np.load(npz) as z:
        assert z["run0"].shape == (301, 12)
        assert json.loads(str(z["scenario"]))["surface"]["name"] == "rosenbrock"
        npz_cost = z["run0"][:, 4]
    data = json.loads(js.read_text())
    assert data["runs"][0]["cost"] == npz_cost.tolist()
    assert data["runs"][0]["diverged_at"] is None


def test_summary_table_and_json(capsys):
    assert main.main(["run", "--surface", "quadratic", "--optimizer", "momentum", "--lr", "0.05",
                      "--steps", "400"]) == 0
    table = capsys.readouterr().out
    assert "final cost" in table and "steps to" in table
    assert main.main(["run", "--surface", "quadratic", "--optimizer", "momentum", "--lr", "0.05",
                      "--steps", "400", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert rows[0]["distance"] < 1e-3 and rows[0]["steps_to_tol"] is not None
    assert rows[0]["diverged_at"] is None


def test_divergence_reported(capsys):
    # gd on quadratic with kappa = 10 is unstable for lr > 2/10.
    assert main.main(["run", "--surface", "quadratic", "--optimizer", "gd", "--lr", "0.25",
                      "--steps", "2000", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["runs"][0]
    assert isinstance(row["diverged_at"], int) and row["diverged_at"] > 0


def test_param_flag_changes_surface(capsys):
    assert main.main(["run", "--surface", "quadratic", "--param", "kappa=100", "--optimizer", "gd",
                      "--lr", "0.025", "--steps", "50", "--json"]) == 0
    unstable = json.loads(capsys.readouterr().out)["runs"][0]
    assert unstable["diverged_at"] is not None  # 0.025 > 2/100


def test_scenario_file_runs_every_run(tmp_path, capsys):
    path = tmp_path / "s.json"
    save_scenario(default_scenario(), path)
    assert main.main(["run", str(path), "--steps", "100", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert [r["optimizer"] for r in rows] == ["gd", "momentum", "adam"]


def test_listings(capsys):
    assert main.main(["surfaces"]) == 0
    out = capsys.readouterr().out
    for name in ("quadratic", "rosenbrock", "tiny_net", "kappa=10", "range"):
        assert name in out
    assert main.main(["optimizers"]) == 0
    out = capsys.readouterr().out
    for name in ("nesterov", "adam", "newton", "--batch-size", "exponential"):
        assert name in out


BAD = [
    ["run", "--surface", "nope"],
    ["run", "--steps", "-5"],
    ["run", "--lr", "0"],
    ["run", "--lr", "-1"],
    ["run", "--lr", "inf"],
    ["run", "--lr", "abc"],
    ["run", "/no/such/file.json"],
    ["run", "--param", "kappa=3"],
    ["run", "--surface", "quadratic", "--param", "kappa=-1"],
    ["run", "--start", "1"],
    ["run", "--out", "/no/such/dir/x.csv"],
    ["run", "--out", "x.txt"],
    ["run", "--optimizer", "sgdd"],
    ["run", "--schedule", "cosine"],
    ["run", "--batch-size", "1.5"],
    ["run", "--bogus"],
    ["frobnicate", "x"],
]


@pytest.mark.parametrize("argv", BAD, ids=[" ".join(a) for a in BAD])
def test_bad_input_one_line_exit_2(argv, capsys):
    assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ravine: error:")
    assert "Traceback" not in err


def test_corrupt_scenario_file(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"surface": {"name": "rosenbrock"}, "runs": [{"optimizer": {"rule": "adam", "lr": -1}}]}')
    assert main.main(["run", str(path)]) == 2
    assert "runs[0].optimizer" in capsys.readouterr().err


def test_real_process_exit_code_and_no_qt(tmp_path):
    """A real subprocess: exit code 2 on bad input, and the CLI path never imports Qt."""
    bad = subprocess.run([sys.executable, "main.py", "run", "--lr", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    code = ("import sys, main; rc = main.main(['run', '--steps', '10']); "
            "print('QT' if any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules) else 'NOQT'); "
            "sys.exit(rc)")
    ok = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("NOQT")


def test_run_with_particles_summarizes_the_cloud(capsys):
    """`run --particles P`: the cloud's final statistics, recomputed here with numpy from
    the particles' own final states."""
    from sim.simulate import particle_cloud

    argv = ["run", "--surface", "quadratic", "--optimizer", "gd", "--lr", "0.05", "--noise", "1",
            "--batch-size", "4", "--steps", "300", "--start", "-2,1", "--particles", "400",
            "--jitter", "0.1", "--seed", "3"]
    assert main.main(argv + ["--json"]) == 0
    c = json.loads(capsys.readouterr().out)["runs"][0]["cloud"]
    cl = particle_cloud(make_surface("quadratic"), OptimizerConfig("gd", lr=0.05, noise=1.0, batch_size=4),
                        (-2.0, 1.0), 400, 300, 3, 0.1)
    final_cost = cl.cost[-1].astype(float)
    final = cl.theta[-1].astype(float)
    assert c["particles"] == 400 and c["diverged"] == 0
    assert c["mean_final_cost"] == pytest.approx(final_cost.mean(), rel=1e-9)
    assert c["final_cost_p10"] == pytest.approx(np.percentile(final_cost, 10), rel=1e-9)
    assert c["final_cost_p90"] == pytest.approx(np.percentile(final_cost, 90), rel=1e-9)
    assert c["mean_final"] == pytest.approx(final.mean(axis=0), rel=1e-9, abs=1e-12)
    assert c["spread"] == pytest.approx(np.sqrt(np.trace(np.cov(final.T, bias=True))), rel=1e-6)
    # The table says the same in one line per cloud.
    assert main.main(argv) == 0
    out = capsys.readouterr().out
    assert "run 0, cloud of 400: final cost mean" in out and "0 diverged" in out


def test_spread_shrinks_with_the_batch_size(capsys):
    """Section 3: at stationarity on a quadratic the spread scales as 1/sqrt(B)."""
    spreads = []
    for b in ("1", "100"):
        assert main.main(["run", "--surface", "quadratic", "--lr", "0.05", "--noise", "1", "--batch-size", b,
                          "--steps", "400", "--start", "0,0", "--particles", "2000", "--json"]) == 0
        spreads.append(json.loads(capsys.readouterr().out)["runs"][0]["cloud"]["spread"])
    assert spreads[0] / spreads[1] == pytest.approx(10.0, rel=0.15)


@pytest.mark.parametrize("argv", [["run", "--particles", "0"], ["run", "--particles", "20000"],
                                  ["run", "--particles", "many"], ["run", "--jitter", "0.1"],
                                  ["run", "--particles", "10", "--jitter", "-1"]])
def test_bad_cloud_flags(argv, capsys):
    assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ravine: error:")


def test_real_process_writes_whole_file_and_flushes_output(tmp_path):
    """`python main.py` ends without the interpreter's teardown: what it wrote and printed
    must be complete."""
    out = tmp_path / "t.csv"
    done = subprocess.run([sys.executable, "main.py", "run", "--steps", "50", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    header, data = _read_csv(out)
    assert data.shape[0] == 51
    table = subprocess.run([sys.executable, "main.py", "run", "--steps", "20"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "final cost" in table.stdout
    assert len(table.stdout.strip().splitlines()) == 2  # the header and the one run
