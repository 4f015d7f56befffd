"""Views: they observe the document and draw it; they never edit each other."""
