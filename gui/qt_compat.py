"""A guard against a reference-count bug of PySide6 6.12 on CPython < 3.12.

Measured here (PySide6 6.12.0, CPython 3.11): every signal emission drops a reference to
True and every QGraphicsItem.update() one to None that it never took, as if both were
immortal (they are from CPython 3.12 on). After some minutes of playback CPython aborts
with "deallocating None". Giving the three singletons a vast reference count makes them
effectively immortal, which is exactly what CPython 3.12 does; nothing else changes.
"""

from __future__ import annotations

import ctypes
import sys

_MARGIN = 1 << 40  # far more drops than a session could ever make
_done = False


def immortalize_singletons() -> None:
    """Make None, True and False effectively immortal on CPython < 3.12 (idempotent)."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in (None, True, False):
        # ob_refcnt is the first field of every object in a release build of CPython.
        ctypes.c_ssize_t.from_address(id(obj)).value += _MARGIN
    _done = True
