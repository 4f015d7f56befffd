"""The presets: one scenario file per lesson in resources/presets/, found at run time."""

from __future__ import annotations

import json
from pathlib import Path

PRESET_DIR = Path(__file__).resolve().parent.parent / "resources" / "presets"


def preset_files() -> list[tuple[str, Path]]:
    """(title, path) of every preset, sorted by file name; unreadable titles fall back to the name."""
    out = []
    for p in sorted(PRESET_DIR.glob("*.json")):
        title = p.stem.replace("_", " ")
        try:
            title = json.loads(p.read_text(encoding="utf-8")).get("title") or title
        except (OSError, ValueError, AttributeError):
            pass
        out.append((title, p))
    return out
