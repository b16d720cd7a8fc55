"""Helpers the chapters share: the "predict, then run" self-checks.

A self-check works like a driving examiner: it compares what you said would happen with what
the model (or the real app) did, says whether you got it, and, either way, says why. Every
exercise of every chapter is one function here, so the tests in ``tests/notebooks`` can feed it
a right and a wrong answer without running the notebook.

A chapter's prediction cell starts as ``prediction = None``; checking an unanswered prediction
is not an error (the notebooks also run unattended), it only asks for an answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Feedback:
    """The verdict on one prediction: ``correct`` plus a sentence saying why."""

    correct: bool | None  # None: not answered yet
    message: str

    def __str__(self) -> str:
        mark = {True: "✓ Right.", False: "✗ Not quite.", None: "…"}[self.correct]
        return f"{mark} {self.message}"

    def _repr_html_(self) -> str:
        colour = {True: "#1b7f3b", False: "#b3261e", None: "#555555"}[self.correct]
        return f'<p style="color:{colour};font-weight:600">{escape(str(self))}</p>'


UNANSWERED = Feedback(None, "Write your prediction in the cell above, run it, then run this one.")


def check_number(
    answer: float | None, expected: float, *, rel_tol: float = 0.15, why: str, hint: str
) -> Feedback:
    """Right when ``answer`` is within ``rel_tol`` of ``expected`` (relative)."""
    if answer is None:
        return UNANSWERED
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return Feedback(False, f"{answer!r} is not a number. {hint}")
    if math.isclose(value, expected, rel_tol=rel_tol, abs_tol=1e-9):
        return Feedback(True, why)
    return Feedback(False, f"You said {value:g}; the answer is about {expected:g}. {hint}")


def check_choice(answer: str | None, expected: str, *, why: str, hints: dict[str, str]) -> Feedback:
    """Right when ``answer`` names ``expected`` (case and spacing ignored).

    ``hints`` maps each wrong choice to what that choice overlooks.
    """
    if answer is None:
        return UNANSWERED
    said = str(answer).strip().lower()
    if said == expected.lower():
        return Feedback(True, why)
    allowed = sorted({expected.lower(), *(k.lower() for k in hints)})
    if said not in allowed:
        return Feedback(False, f"{answer!r} is not one of the choices: {', '.join(allowed)}.")
    return Feedback(False, hints.get(said, hints.get(answer, "")) or f"It is {expected}.")


# --- Chapter 0: start here -------------------------------------------------------------------


def ch0_capacity(prediction: int | None, *, instances: int, workers: int) -> Feedback:
    """How many requests can be in service at once with sync Gunicorn workers?"""
    return check_number(
        prediction,
        instances * workers,
        rel_tol=0.0,
        why=(
            f"A sync worker serves one request at a time, so {instances} instances x "
            f"{workers} workers = {instances * workers} requests in service; the next one waits "
            "in a listen backlog (the `queue` layer)."
        ),
        hint="Each sync worker holds exactly one request; count workers on every instance.",
    )
