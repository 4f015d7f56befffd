"""Saving the view on show as an image: the tab's own pixels, written atomically."""

from __future__ import annotations

from PySide6.QtGui import QImage


def test_save_image_of_each_tab(window, tmp_path):
    for i in (0, window.tabs.count() - 1):
        window.tabs.setCurrentIndex(i)
        tab = window.tabs.currentWidget()
        path = tmp_path / f"tab{i}.png"
        assert window.save_image(tab, str(path))
        img = QImage(str(path))
        assert not img.isNull()
        assert (img.width(), img.height()) == (tab.grab().width(), tab.grab().height())
        assert img.width() < window.grab().width()  # the view, not the whole window
    # Nothing but the two images: no temporary file is left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["tab0.png", f"tab{window.tabs.count() - 1}.png"])


def test_save_image_into_a_missing_folder_warns_and_writes_nothing(window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("gui.main_window.QMessageBox.warning", lambda *a: shown.append(a[2]))
    assert not window.save_image(window.tabs.currentWidget(), str(tmp_path / "no" / "view.png"))
    assert shown and "Cannot save" in shown[0]
    assert list(tmp_path.iterdir()) == []
