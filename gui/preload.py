"""The first step of the window's start-up, before anything imports Qt: load the numerics.

PySide6 installs an import hook that reads the source of every module imported after it
(looking for "PySide6" in it, for its `__feature__` switches). numpy, numba and sim are some
450 modules, and numba imports 75 more the first time it loads a kernel: imported after Qt,
they cost about a quarter of a second more than before it (measured on a 2-core machine).
"""

from __future__ import annotations


def load_numerics() -> None:
    """Import sim (numpy, numba, the kernels' module) and set up numba's compiler contexts,
    which the first kernel loaded from the on-disk cache would otherwise do (~0.2 s)."""
    import sim  # noqa: F401

    try:
        from numba.core.registry import cpu_target

        cpu_target.typing_context.refresh()
        cpu_target.target_context.refresh()
    except (ImportError, AttributeError):  # another numba: the first kernel does it, as before
        pass
