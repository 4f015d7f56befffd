"""The runs panel: a table of runs with add/duplicate/remove/show/recolour, and the editor."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.document import Document
from gui.panels.run_editor import RunEditor

COLUMNS = ("", "Run", "Optimizer", "Hyperparameters", "Final E", "Status")


def _swatch(color: str) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(QColor(color))
    return QIcon(pm)


def _set_tip(item: QTableWidgetItem, tip: str) -> None:
    if item.toolTip() != tip:
        item.setToolTip(tip)


def hyper_text(cfg) -> str:
    """The key hyperparameters of a config, in the lecture's symbols."""
    return "  ".join(cfg.hyper_parts(".3g"))


class RunsPanel(QWidget):
    """The table of runs and the selected run's editor."""

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self._doc = document
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(22)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.Stretch)
        self.table.setToolTip("click the box to show or hide a run, double-click its colour to change it")
        self.table.itemSelectionChanged.connect(self._selection_from_table)
        self.table.itemChanged.connect(self._item_changed)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.dup_button = QPushButton("Duplicate")
        self.remove_button = QPushButton("Remove")
        self.color_button = QPushButton("Colour…")
        for b, slot, tip in ((self.add_button, self._add, "add a gradient-descent run"),
                             (self.dup_button, self._duplicate, "copy the selected run"),
                             (self.remove_button, self._remove, "remove the selected run"),
                             (self.color_button, self._recolour, "choose the selected run's colour")):
            b.clicked.connect(slot)
            b.setToolTip(tip)
            buttons.addWidget(b)
        buttons.addStretch(1)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.table)
        tl.addLayout(buttons)
        self.editor = RunEditor(document)
        split = QSplitter(Qt.Vertical)
        split.addWidget(top)
        split.addWidget(self.editor)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        split.setSizes([190, 430])
        lay.addWidget(split)
        document.scenarioChanged.connect(self.sync)
        document.selectionChanged.connect(self._select_row)
        self.sync()

    def sync(self) -> None:
        """Rebuild the rows from the document (a handful of rows: cheap)."""
        doc = self._doc
        runs, results, errors = doc.scenario.runs, doc.results, doc.errors
        self.table.blockSignals(True)
        if self.table.rowCount() != len(runs):
            self.table.setRowCount(len(runs))
        for i, run in enumerate(runs):
            traj = results[i] if i < len(results) else None
            err = errors[i] if i < len(errors) else None
            if err:
                final, status = "—", "error"
            elif traj is None:
                final, status = "—", "…"
            elif traj.diverged_at is not None:
                final, status = "—", f"diverged at step {traj.diverged_at}"
            else:
                final, status = f"{traj.final_cost:.4g}", "ok"
            cells = (run.color, run.full_title, run.config.info.title, hyper_text(run.config), final, status)
            for j, text in enumerate(cells):
                item = self.table.item(i, j)
                if item is None:
                    item = QTableWidgetItem()
                    item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable
                                  | (Qt.ItemIsUserCheckable if j == 0 else Qt.NoItemFlags))
                    self.table.setItem(i, j, item)
                if j == 0:
                    # the colour column shows a swatch and the show/hide box, no text
                    if item.data(Qt.UserRole) != run.color:
                        item.setData(Qt.UserRole, run.color)
                        item.setIcon(_swatch(run.color))
                    state = Qt.Checked if run.visible else Qt.Unchecked
                    if item.checkState() != state:
                        item.setCheckState(state)
                    _set_tip(item, "show / hide; double-click to recolour")
                    continue
                if item.text() != text:
                    item.setText(text)
                if j == 5:
                    red = status.startswith("diverged") or bool(err)
                    if item.data(Qt.UserRole) != red:  # (each set repaints and re-measures the row)
                        item.setData(Qt.UserRole, red)
                        item.setForeground(QBrush(QColor("#c62828")) if red else QBrush())
                    _set_tip(item, err or "")
        self.table.blockSignals(False)
        self._select_row(doc.selected)
        has = 0 <= doc.selected < len(runs)
        for b in (self.dup_button, self.remove_button, self.color_button):
            b.setEnabled(has)

    def _select_row(self, i: int) -> None:
        self.table.blockSignals(True)
        if 0 <= i < self.table.rowCount():
            self.table.selectRow(i)
        else:
            self.table.clearSelection()
        self.table.blockSignals(False)

    def _selection_from_table(self) -> None:
        rows = {ix.row() for ix in self.table.selectedIndexes()}
        if rows:
            self._doc.set_selected(min(rows))

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == 0:
            self._doc.update_run(item.row(), visible=item.checkState() == Qt.Checked)

    def _double_clicked(self, row: int, col: int) -> None:
        if col == 0:
            self._doc.set_selected(row)
            self._recolour()

    def _add(self) -> None:
        self._doc.add_run()

    def _duplicate(self) -> None:
        self._doc.duplicate_run(self._doc.selected)

    def _remove(self) -> None:
        self._doc.remove_run(self._doc.selected)

    def _recolour(self) -> None:
        run = self._doc.selected_run()
        if run is None:
            return
        c = QColorDialog.getColor(QColor(run.color), self, "Run colour")
        if c.isValid():
            self._doc.update_run(self._doc.selected, color=c.name())
