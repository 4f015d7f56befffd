"""Ravine's desktop window: one document, many views (DESIGN.md, principle 9).

`gui.app.main(path)` opens the window; everything numeric comes from `sim`.
"""

from gui.qt_compat import immortalize_singletons

# Before any Qt object exists: see gui/qt_compat.py for the PySide6 bug this guards against.
immortalize_singletons()
