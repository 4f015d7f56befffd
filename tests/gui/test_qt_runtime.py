"""The Qt binding itself: PySide6 6.12.0 dropped references to True and None on CPython 3.11.

Every signal emission lost a reference to True and every QGraphicsItem.update() one to None,
until the interpreter aborted ("deallocating None"); pyproject.toml keeps PySide6 below 6.12.
These tests fail at once if an installed binding has that bug again.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene


class _Emitter(QObject):
    flag = Signal(bool)
    bare = Signal()


def test_signal_emission_keeps_reference_counts(qapp):
    e = _Emitter()
    e.flag.connect(lambda v: None)
    e.bare.connect(lambda: None)
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(2000):
        e.flag.emit(True)
        e.bare.emit()
    assert sys.getrefcount(True) - before_true > -100
    assert sys.getrefcount(None) - before_none > -100


def test_graphics_item_update_keeps_reference_counts(qapp):
    scene = QGraphicsScene()
    item = QGraphicsRectItem(0, 0, 1, 1)
    scene.addItem(item)
    before = sys.getrefcount(None)
    for _ in range(2000):
        item.update()
    assert sys.getrefcount(None) - before > -100
