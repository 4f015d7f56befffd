"""Every preset loads, and each one shows its lesson in the numbers."""

from __future__ import annotations

import pytest

from gui.presets import PRESET_DIR, preset_files
from sim.scenario import load_scenario, simulate_scenario


def _gap(name: str) -> list[float]:
    sc = load_scenario(PRESET_DIR / f"{name}.json")
    s = sc.make_surface()
    best = min(m.cost for m in s.minima)
    return [t.cost[-1] - best for t in simulate_scenario(sc, s)]


@pytest.mark.parametrize("path", [p for _t, p in preset_files()], ids=lambda p: p.stem)
def test_preset_loads(path):
    sc = load_scenario(path)
    assert sc.title and sc.description and sc.runs


def test_there_is_a_preset_per_lesson():
    assert len(preset_files()) >= 11


def test_learning_rate_preset_has_one_diverging_run():
    sc = load_scenario(PRESET_DIR / "02_learning_rate.json")
    trajs = simulate_scenario(sc)
    assert [t.diverged_at is not None for t in trajs] == [False, False, False, True]


def test_momentum_friction_keeps_energy_only_without_friction():
    sc = load_scenario(PRESET_DIR / "03_momentum_friction.json")
    damped, free = simulate_scenario(sc)
    assert damped.total_energy[-1] < 1e-6 * damped.total_energy[0]
    assert free.total_energy[-100:].min() > 0.5 * free.total_energy[0]


def test_symmetric_start_stays_symmetric():
    sc = load_scenario(PRESET_DIR / "11_symmetry.json")
    sym, broken, _ = simulate_scenario(sc)
    assert abs(sym.theta[-1, 0] - sym.theta[-1, 1]) < 1e-9
    assert abs(broken.theta[-1, 0] - broken.theta[-1, 1]) > 1.0


def test_lessons_show_in_final_costs():
    gd, momentum, adam = _gap("12_adam_vs_momentum")
    assert momentum < adam
    const, decayed, _avg = _gap("10_decay_late")
    assert decayed < const / 10
    stuck, _late, _noisy, _mom = _gap("04_saddle")
    assert stuck > 0.2
    local, global_ = _gap("05_local_optima")
    assert local > 0.5 and global_ < 1e-6
