"""Panels: the editors that change the document."""
