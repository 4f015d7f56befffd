"""The kernels module's upkeep: its on-disk numba cache follows the interpreter it holds."""

from __future__ import annotations


def test_cached_kernels_go_when_the_interpreter_changes(tmp_path):
    """numba keys cached code by the function's own file; kernels.py holds
    expression_vm.py's interpreter compiled in, so a changed interpreter must drop them."""
    from sim.kernels import drop_stale_cache

    for name in ("kernels._run_block_custom-600.py311.nbi", "kernels._run_block_custom-600.py311.1.nbc",
                 "expression_vm.run3_block-100.py311.nbi"):
        (tmp_path / name).write_bytes(b"old")
    assert drop_stale_cache(tmp_path, b"interpreter v1")  # no stamp yet: dropped
    assert sorted(p.name for p in tmp_path.glob("*.nb?")) == ["expression_vm.run3_block-100.py311.nbi"]
    (tmp_path / "kernels._run_block_custom-600.py311.nbi").write_bytes(b"compiled against v1")
    assert not drop_stale_cache(tmp_path, b"interpreter v1")  # unchanged: kept
    assert (tmp_path / "kernels._run_block_custom-600.py311.nbi").exists()
    assert drop_stale_cache(tmp_path, b"interpreter v2")  # changed: dropped
    assert not (tmp_path / "kernels._run_block_custom-600.py311.nbi").exists()
    assert (tmp_path / "expression_vm.run3_block-100.py311.nbi").exists()  # its own file keys it
    assert [p.name for p in tmp_path.glob("*.tmp")] == []
