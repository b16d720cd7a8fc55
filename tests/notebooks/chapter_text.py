"""What the chapter tests read of the course's text: a chapter, the deck or a README as a
reader sees it, so a sentence can be looked for whatever its line breaks."""

from __future__ import annotations

from pathlib import Path


def prose(path: Path) -> str:
    """``path``'s text with comment marks and line breaks taken out."""
    return " ".join(line.lstrip("# ").strip() for line in path.read_text().splitlines())
