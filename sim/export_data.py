"""Trajectories to files: CSV, NPZ or JSON by extension, written atomically.

CSV columns are `run,step,x,y,cost,gx,gy,lr,avg_x,avg_y,avg_cost,kinetic`; numbers are
written with 17 significant digits, so reading the file gives back the same float64 bits.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from sim.scenario import Scenario, atomic_write, to_dict
from sim.trajectory import Trajectory

CSV_COLUMNS = ("run", "step", "x", "y", "cost", "gx", "gy", "lr", "avg_x", "avg_y", "avg_cost", "kinetic")


def trajectory_table(index: int, tr: Trajectory) -> np.ndarray:
    """The CSV columns of one run as a float array (n, 12)."""
    n = len(tr)
    return np.column_stack([np.full(n, index), tr.steps, tr.theta, tr.cost, tr.grad, tr.lr,
                            tr.avg, tr.avg_cost, tr.kinetic])


def csv_bytes(trajs: list[Trajectory]) -> bytes:
    buf = io.StringIO()
    buf.write(",".join(CSV_COLUMNS) + "\n")
    for i, tr in enumerate(trajs):
        table = trajectory_table(i, tr)
        np.savetxt(buf, table, fmt=["%d", "%d"] + ["%.17g"] * 10, delimiter=",")
    return buf.getvalue().encode("ascii")


def npz_bytes(sc: Scenario, trajs: list[Trajectory]) -> bytes:
    arrays: dict[str, np.ndarray] = {"columns": np.array(CSV_COLUMNS),
                                     "scenario": np.array(json.dumps(to_dict(sc)))}
    for i, tr in enumerate(trajs):
        arrays[f"run{i}"] = trajectory_table(i, tr)
        arrays[f"run{i}_diverged_at"] = np.array(-1 if tr.diverged_at is None else tr.diverged_at)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def json_bytes(sc: Scenario, trajs: list[Trajectory]) -> bytes:
    runs = []
    for run, tr in zip(sc.runs, trajs):
        runs.append({
            "label": run.title, "optimizer": run.config.to_dict(only_used=True),
            "diverged_at": tr.diverged_at,
            "step": tr.steps.tolist(), "x": tr.theta[:, 0].tolist(), "y": tr.theta[:, 1].tolist(),
            "cost": tr.cost.tolist(), "gx": tr.grad[:, 0].tolist(), "gy": tr.grad[:, 1].tolist(),
            "lr": tr.lr.tolist(), "avg_x": tr.avg[:, 0].tolist(), "avg_y": tr.avg[:, 1].tolist(),
            "avg_cost": tr.avg_cost.tolist(), "kinetic": tr.kinetic.tolist(),
        })
    return json.dumps({"scenario": to_dict(sc), "runs": runs}).encode("utf-8")


def write_trajectories(path: str | os.PathLike, sc: Scenario, trajs: list[Trajectory]) -> None:
    """Write `trajs` in the format the extension names (.csv, .npz, .json)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        data = csv_bytes(trajs)
    elif suffix == ".npz":
        data = npz_bytes(sc, trajs)
    elif suffix == ".json":
        data = json_bytes(sc, trajs)
    else:
        raise ValueError(f"unknown data format {suffix!r}: use .csv, .npz or .json")
    atomic_write(path, data)
