"""sim.memory: freed memory is kept for the next batch instead of faulting fresh pages in."""

from __future__ import annotations

import platform
import resource

import numpy as np
import pytest

from sim import memory


def _faults_of_a_batch() -> int:
    """Minor page faults of allocating, filling and freeing arrays shaped like a batch's
    (12 MB in five arrays)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(mb << 17) for mb in (4, 1, 2, 4, 1)]  # (mb MiB of float64)
    del arrays
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_a_second_batch_reuses_the_first_ones_pages():
    assert memory.retain_freed_memory()
    _faults_of_a_batch()
    # Fresh pages would fault about 3,000 times (1,500 with glibc's own adaptive limits,
    # measured in a fresh process).
    assert _faults_of_a_batch() < 150


def test_other_platforms_are_left_alone(monkeypatch):
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.retain_freed_memory() is False
