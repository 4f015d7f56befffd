"""Ravine's desktop window: one document, many views (DESIGN.md, principle 9).

`gui.app.main(path)` opens the window; everything numeric comes from `sim`.
"""
