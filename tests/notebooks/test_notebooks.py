"""The course's notebooks: stored clean, paired with their scripts, and self-checks that work.

Executing every chapter top to bottom is nbmake's job (`make test` runs
`pytest --nbmake notebooks/`); these tests check what a reviewer relies on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(NOTEBOOKS))
import course  # noqa: E402


def test_there_are_chapters():
    assert CHAPTERS, f"no chapters found in {NOTEBOOKS}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name} cell {i} has outputs: run nbstripout"
            assert cell["execution_count"] is None, f"{path.name} cell {i} has a count"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_paired_script_is_in_sync(path):
    script = path.with_suffix(".py")
    assert script.exists(), f"{script.name} is missing: run make notebooks-sync"
    stored = jupytext.read(path)
    paired = jupytext.read(script)
    as_cells = [(c.cell_type, c.source) for c in stored.cells]
    assert as_cells == [(c.cell_type, c.source) for c in paired.cells], (
        f"{path.name} and {script.name} differ: run make notebooks-sync"
    )


def test_every_chapter_script_has_its_notebook():
    scripts = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    assert [s.stem for s in scripts] == [c.stem for c in CHAPTERS]


# --- the self-checks' shared parts (each exercise: test_course_chapters.py) ----------------


def test_unanswered_prediction_asks_for_one():
    feedback = course.ch0_capacity(None, instances=2, workers=5)
    assert feedback.correct is None
    assert "prediction" in str(feedback)


def test_feedback_renders_as_html():
    html = course.ch0_capacity(10, instances=2, workers=5)._repr_html_()
    assert html.startswith("<p") and "✓" in html


def test_check_choice_names_the_allowed_choices():
    feedback = course.check_choice("maybe", "yes", why="because", hints={"no": "think again"})
    assert feedback.correct is False and "no, yes" in feedback.message
    assert course.check_choice("No", "yes", why="", hints={"no": "think again"}).message == (
        "think again"
    )
    assert course.check_choice(" YES ", "yes", why="because", hints={}).correct is True
