"""The chapters' controls (notebooks/explore.py): each step runs the model once and remembers it,
and the lighter steps keep the lessons the chapters say they keep.

No test here times anything: ``make bench`` prints what a step costs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
import explore  # noqa: E402


def test_a_setting_runs_once_then_comes_from_the_cache(monkeypatch):
    calls = []

    @explore.remembered
    def step(a, b):
        calls.append((a, b))
        return a + b

    assert step(1, 2) == 3 and step(1, 2) == 3 and step(2, 2) == 4
    assert calls == [(1, 2), (2, 2)]
    assert step.known(1, 2) and not step.known(3, 3)
    step.clear()
    assert not step.known(1, 2)


def test_interact_makes_every_control_report_only_when_released():
    import ipywidgets as widgets

    slider = widgets.IntSlider(value=1, min=0, max=3)
    text = widgets.Text(value="x")
    box = explore.interact(lambda n, s: explore.View(f"{n}{s}"), n=slider, s=text)
    assert slider.continuous_update is False and text.continuous_update is False
    assert len(box.children) == 3  # two controls and the output


def test_the_routing_step_runs_one_simulation_and_draws_what_it_knows(monkeypatch):
    explore.routing_latencies.clear()
    ran = []
    monkeypatch.setattr(explore, "uneven", lambda routing, *a, **k: ran.append(routing))
    monkeypatch.setattr(explore, "latencies_ms", lambda result: np.array([100.0, 200.0]))
    try:
        view = explore.routing("round_robin")
        assert ran == ["round_robin"]
        assert "pick random, least_outstanding_requests to add them" in view.text
        assert len(view.figure.axes[0].get_legend().get_texts()) == 1
        view = explore.routing("random")
        assert ran == ["round_robin", "random"]  # one run a step; round robin was kept
        assert len(view.figure.axes[0].get_legend().get_texts()) == 2
        explore.routing("round_robin")
        assert len(ran) == 2  # a setting seen before runs nothing
    finally:
        explore.routing_latencies.clear()


def test_the_lighter_routing_step_keeps_the_chapters_lesson():
    """Chapter 2 says least outstanding requests still wins in the lighter step."""
    step = explore.ROUTING_STEP
    settings = (step["rate"], step["instances"], step["sigma"], step["seconds"])
    p95 = {
        name: np.percentile(explore.routing_latencies(name, *settings), 95)
        for name in ("round_robin", "least_outstanding_requests")
    }
    assert p95["least_outstanding_requests"] < p95["round_robin"]


def test_the_lighter_morning_still_scales_out_and_back():
    """Chapter 3's lighter hour must still make the group scale: otherwise its knobs show
    nothing."""
    morning = explore.morning(*explore.POLICY_DEFAULTS.values())
    desired = [row["desired"] for row in morning.result.table]
    assert desired[0] == 2 and max(desired) > 2
    assert explore.autoscaling().figure is not None


def test_the_connections_step_still_runs_out_of_connections():
    """Chapter 7's step keeps 40 s because refusals start about 20 s in: check they show."""
    summary = explore.connections_summary(3, 5, 4, 40, 600)
    assert summary["status_counts"]["500"] > 0
    assert explore.connections().figure is not None


@pytest.mark.parametrize(
    "step",
    [
        explore.dns,
        explore.health,
        explore.timeouts,
        explore.gunicorn,
        explore.calibrated,
        explore.grep,
    ],
    ids=lambda f: f.__name__,
)
def test_every_step_shows_something_on_its_defaults(step):
    view = step()
    assert view.text or view.figure is not None
    if view.figure is not None:
        assert explore.render(view.figure)[:8] == b"\x89PNG\r\n\x1a\n"
