"""Scenario files: round trips, atomic saves, and clear errors for bad data."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import replace

import numpy as np
import pytest

from sim import OptimizerConfig
from sim.scenario import (
    Run,
    Scenario,
    ScenarioError,
    default_scenario,
    from_dict,
    load_scenario,
    loads,
    save_scenario,
    simulate_scenario,
    to_dict,
)
from sim.surfaces import check_params


def _same(a: Scenario, b: Scenario) -> None:
    """Equal scenarios, counting omitted surface parameters as their defaults."""
    assert check_params(a.surface, a.params) == check_params(b.surface, b.params)
    assert replace(a, params={}) == replace(b, params={})


def _rich_scenario() -> Scenario:
    runs = (
        Run(OptimizerConfig("adam", lr=0.02, beta1=0.8, beta2=0.99, eps=1e-7, batch_size=16,
                            schedule="step", decay_start=50, tau=25.0, avg_tau=5.0),
            "adam B=16", (-1.25, 0.75), 7, "#123abc", False),
        Run(OptimizerConfig("newton", lr=0.5, damping=0.1), "", None, 3, "#ABCDEF", True),
        Run(OptimizerConfig("rmsprop", lr=0.01, rho=0.8, noise=0.5), "ρ = 0.8 ✓", (0.0, -1e-3), 0),
    )
    return Scenario("linreg", {"scale": 10.0, "offset": 3.0, "normalize": 1.0, "n_examples": 50.0,
                               "data_seed": 4.0},
                    runs, 321, 9, "Ravine — normalization", "line 1\nline 2", (-2.0, 4.0, -1.5, 3.5))


def test_default_scenario_round_trips(tmp_path):
    sc = default_scenario()
    path = tmp_path / "default.json"
    save_scenario(sc, path)
    back = load_scenario(path)
    _same(back, sc)
    # From then on save and load are exact inverses (the load completes omitted parameters).
    save_scenario(back, tmp_path / "again.json")
    again = load_scenario(tmp_path / "again.json")
    assert again == back
    save_scenario(again, tmp_path / "third.json")
    assert (tmp_path / "third.json").read_bytes() == (tmp_path / "again.json").read_bytes()


def test_rich_scenario_round_trips(tmp_path):
    sc = _rich_scenario()
    path = tmp_path / "rich.json"
    save_scenario(sc, path)
    back = load_scenario(path)
    _same(back, sc)
    assert back.runs[1].start is None
    assert back.box == sc.box


def test_loaded_scenario_simulates_like_the_original(tmp_path):
    sc = replace(default_scenario(), steps=200)
    save_scenario(sc, tmp_path / "s.json")
    back = load_scenario(tmp_path / "s.json")
    for a, b in zip(simulate_scenario(sc), simulate_scenario(back)):
        np.testing.assert_array_equal(a.theta, b.theta)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "scenario.json"
    save_scenario(default_scenario(), path)
    save_scenario(_rich_scenario(), path)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.json"]
    good = path.read_bytes()

    # A failure while moving the file into place keeps the old file and removes the temporary.
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_scenario(default_scenario(), path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.json"]
    assert path.read_bytes() == good
    _same(load_scenario(path), _rich_scenario())


def test_save_failure_from_unserializable_data_keeps_the_old_file(tmp_path):
    path = tmp_path / "scenario.json"
    save_scenario(default_scenario(), path)
    good = path.read_bytes()
    bad = replace(default_scenario(), params={"a": object()})
    with pytest.raises(TypeError):
        save_scenario(bad, path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.json"]


def _base() -> dict:
    return copy.deepcopy(to_dict(default_scenario()))


def _with(path: tuple, value) -> dict:
    d = _base()
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return d


# (data, words the message must contain)
BAD = [
    (_with(("steps",), "500"), ["steps"]),
    (_with(("steps",), 2.5), ["steps"]),
    (_with(("steps",), 0), ["steps"]),
    (_with(("steps",), True), ["steps"]),
    (_with(("seed",), "0"), ["seed"]),
    (_with(("version",), 2), ["version"]),
    (_with(("title",), 5), ["title"]),
    (_with(("box",), [0, 1, 2]), ["box"]),
    (_with(("box",), [1, 0, 0, 1]), ["box"]),
    (_with(("box",), [0, 1, 0, "1"]), ["box[3]"]),
    (_with(("runs",), {"a": 1}), ["runs"]),
    (_with(("runs", 0), "gd"), ["runs[0]"]),
    (_with(("runs", 1, "start"), [1.0]), ["runs[1].start"]),
    (_with(("runs", 1, "start"), [1.0, "2"]), ["runs[1].start[1]"]),
    (_with(("runs", 1, "start"), [1.0, float("nan")]), ["runs[1].start[1]"]),
    (_with(("runs", 2, "label"), 3), ["runs[2].label"]),
    (_with(("runs", 0, "visible"), "yes"), ["runs[0].visible"]),
    (_with(("runs", 0, "seed"), 1.5), ["runs[0].seed"]),
    (_with(("runs", 0, "seed"), -1), ["runs[0].seed"]),
    (_with(("runs", 0, "seed"), 2**70), ["runs[0].seed"]),
    (_with(("seed",), 2**64), ["seed"]),
    (_with(("runs", 0, "color"), "red"), ["runs[0].color"]),
    (_with(("runs", 0, "color"), "#12345"), ["runs[0].color"]),
    (_with(("runs", 0, "color"), 0x123456), ["runs[0].color"]),
    (_with(("runs", 0, "optimizer"), 5), ["runs[0].optimizer"]),
    (_with(("runs", 0, "optimizer", "lr"), -0.1), ["runs[0].optimizer", "lr"]),
    (_with(("runs", 0, "optimizer", "lr"), 0), ["runs[0].optimizer", "lr"]),
    (_with(("runs", 0, "optimizer", "lr"), "fast"), ["runs[0].optimizer", "lr"]),
    (_with(("runs", 0, "optimizer", "rule"), "sgd"), ["runs[0].optimizer", "sgd"]),
    (_with(("runs", 0, "optimizer", "rule"), ["gd"]), ["runs[0].optimizer"]),
    (_with(("runs", 0, "optimizer", "momentum"), 2.0), ["runs[0].optimizer", "momentum"]),
    (_with(("runs", 0, "optimizer", "schedule"), "cosine"), ["runs[0].optimizer", "cosine"]),
    (_with(("runs", 0, "optimizer", "learning_rate"), 0.1), ["runs[0].optimizer", "learning_rate"]),
    (_with(("runs", 0, "colour"), "#123456"), ["runs[0]", "colour"]),
    (_with(("speed",), 3), ["speed"]),
    (_with(("surface",), {"name": "volcano"}), ["surface", "volcano"]),
    (_with(("surface",), {"name": "rosenbrock", "params": {"c": 1}}), ["surface", "'c'"]),
    (_with(("surface",), {"name": "rosenbrock", "params": {"b": -1}}), ["surface", "b"]),
    (_with(("surface",), {"name": "rosenbrock", "params": [1, 2]}), ["surface.params"]),
    (_with(("surface",), {"name": "rosenbrock", "extra": 1}), ["surface", "extra"]),
    (_with(("surface",), 42), ["surface"]),
    (_with(("surface",), {"params": {}}), ["surface"]),
    ([1, 2, 3], ["object"]),
    ("rosenbrock", ["object"]),
    (None, ["object"]),
]


@pytest.mark.parametrize("data, words", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_data_names_the_field(data, words, tmp_path):
    with pytest.raises(ScenarioError) as info:
        from_dict(data)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    # Through a file, the message also names the file.
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "bad.json" in str(info.value)
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize("text", ["", "{", '{"steps": 10,}', "nul", "{'steps': 10}", "[1, 2"])
def test_corrupt_json_is_a_scenario_error(text, tmp_path):
    with pytest.raises(ScenarioError, match="JSON"):
        loads(text)
    path = tmp_path / "corrupt.json"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="corrupt.json"):
        load_scenario(path)


def test_unreadable_files_are_scenario_errors(tmp_path):
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path / "missing.json")
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path)  # a directory
    (tmp_path / "latin1.json").write_bytes(b'{"title": "\xe9t\xe9"}')
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path / "latin1.json")


def test_loading_never_executes_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    cases = [
        _with(("surface",), {"name": payload}),
        _with(("runs", 0, "optimizer", "lr"), payload),
        _with(("runs", 0, "optimizer", "rule"), payload),
        _with(("steps",), payload),
        _with(("runs", 0, "color"), payload),
        _with(("runs", 0, "start"), [payload, payload]),
        _with(("surface",), {"name": "rosenbrock", "params": {"b": payload}}),
    ]
    for i, data in enumerate(cases):
        path = tmp_path / f"evil{i}.json"
        path.write_text(json.dumps(data))
        with pytest.raises(ScenarioError):
            load_scenario(path)
    # Text fields may hold anything: it stays inert text.
    data = _base()
    data["title"] = payload
    data["runs"][0]["label"] = payload
    path = tmp_path / "text.json"
    path.write_text(json.dumps(data))
    sc = load_scenario(path)
    assert sc.title == payload and sc.runs[0].label == payload
    simulate_scenario(replace(sc, steps=5))
    assert not marker.exists()


def test_optional_fields_take_defaults():
    sc = from_dict({"surface": "himmelblau", "runs": [{"optimizer": "adam"}, {"optimizer": {"rule": "gd"}}]})
    assert sc.surface == "himmelblau" and sc.steps == 500 and sc.seed == 0 and sc.box is None
    assert sc.runs[0].config.rule == "adam" and sc.runs[0].start is None and sc.runs[0].visible
    assert sc.runs[0].color != sc.runs[1].color  # palette colours by position


def test_loaded_seeds_can_be_simulated():
    """A seed the loader accepts must be one the simulator can use."""
    data = _with(("runs", 0, "seed"), 2**70)
    try:
        sc = from_dict(data)
    except ScenarioError as e:
        assert "seed" in str(e)
        return
    try:
        simulate_scenario(replace(sc, steps=2))
    except Exception as e:  # noqa: BLE001 - any crash here is the bug being reported
        pytest.fail(f"BUG: from_dict accepted runs[0].seed = 2**70 but simulate raised {e!r}")


def test_oversized_files_are_refused(tmp_path):
    path = tmp_path / "huge.json"
    data = _base()
    data["description"] = "x" * 5_100_000
    path.write_text(json.dumps(data))
    with pytest.raises(ScenarioError, match="too large"):
        load_scenario(path)


@pytest.mark.parametrize("rule", ["gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "newton"])
def test_every_rule_round_trips_with_its_hyperparameters(rule, tmp_path):
    used = OptimizerConfig(rule).info.uses
    values = dict(lr=0.0123, momentum=0.77, beta1=0.81, beta2=0.991, rho=0.83, eps=3e-7, damping=0.02)
    cfg = OptimizerConfig(rule, **{k: v for k, v in values.items() if k in used}, batch_size=3, noise=0.25,
                          schedule="exponential", decay_start=7, tau=12.5, avg_tau=4.0)
    sc = Scenario("himmelblau", {}, (Run(cfg, rule, (0.5, -0.5), 5, "#00ff00"),), 50, 1)
    save_scenario(sc, tmp_path / "r.json")
    back = load_scenario(tmp_path / "r.json")
    assert back.runs[0].config == cfg
    a, b = simulate_scenario(sc)[0], simulate_scenario(back)[0]
    np.testing.assert_array_equal(a.theta, b.theta)
