"""The chapters' controls (notebooks/explore.py): each step runs the model once and remembers it,
and the lighter steps keep the lessons the chapters say they keep; and what chapter 3, the
talk and notebooks/README.md say of the runs beside them holds on those runs.

No test here times anything: ``make bench`` prints what a step costs.
"""

from __future__ import annotations

import inspect
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
import explore  # noqa: E402
from chapter_text import prose  # noqa: E402

import sim  # noqa: E402


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


def test_the_weekday_step_runs_the_shipped_morning_on_the_fluid_engine():
    """Chapter 3's knobs run the real `weekday` (not a lighter one) on the fluid engine, and the
    group scales out and back on their first position: otherwise the knobs show nothing."""
    shipped = sim.load("weekday")
    morning = explore.morning(*explore.POLICY_DEFAULTS.values())
    assert morning.result.engine == "fluid"
    assert morning.result.scenario.run.duration == shipped.run.duration
    assert morning.result.scenario.traffic == shipped.traffic
    assert morning.result.scenario.django == shipped.django
    desired = [row["desired"] for row in morning.result.table]
    assert desired[0] == 2 and max(desired) > 2 and desired[-1] < max(desired)
    assert explore.autoscaling().figure is not None


def test_the_weekday_step_says_where_the_fluid_engine_is_rough():
    """A setting that saturates the fleet (two instances at most, a 90 % target, a 10-minute
    boot) gets the fluid run's warning under its numbers; the defaults get none."""
    saturated = explore.autoscaling(target=90, max_instances=2, boot_time=600).text
    assert "saturated in" in saturated and "rough" in saturated
    lines = explore.autoscaling().text.splitlines()
    assert not any("saturated" in line or "cascade" in line for line in lines)
    # The defaults' morning hinges on a few coin flips (the target tracking alarm reads a
    # minute's CPU close to its target), said in the chapter's words, not the command line's.
    run = explore.morning(*explore.POLICY_DEFAULTS.values()).result.runs[0]
    assert run.close_calls
    assert lines[1].startswith(f"{len(run.close_calls)} alarm decision(s) were a coin flip")
    assert len(lines) == 2 and "--" not in lines[1]


def test_the_check_runs_the_knobs_morning_on_the_discrete_event_engine(monkeypatch):
    """The button's check: the knobs' setting on the discrete-event engine, drawn beside the
    fluid run, each engine's worst minute named (the run itself replaced by the fluid one here:
    the engine asked for is what is checked)."""
    asked = []
    fluid_weekday = explore.weekday

    def weekday(*overrides, engine=explore.ENGINE):
        asked.append((overrides, engine))
        return fluid_weekday(*overrides)

    monkeypatch.setattr(explore, "weekday", weekday)
    explore.morning.clear()
    explore.morning_des.clear()
    try:
        view = explore.check_with_des(target=40)
        engines = [engine for _, engine in asked]
        assert sorted(engines) == ["des", "fluid"]
        des_overrides = next(o for o, engine in asked if engine == "des")
        assert any("target=40.0" in o for o in des_overrides)
        lines = view.text.splitlines()
        assert [line.split(":")[0].strip() for line in lines] == ["fluid", "discrete-event"]
        assert all("worst minute" in line and " ms" in line for line in lines)
        assert len(view.figure.axes[0].get_lines()) == 2
        explore.check_with_des(target=40)
        assert len(asked) == 2  # a setting checked before is drawn again, not run
    finally:
        explore.morning.clear()
        explore.morning_des.clear()


def test_the_knobs_first_position_is_the_scenarios_own_policy():
    group = sim.load("weekday").asg
    knobs = explore.POLICY_DEFAULTS
    assert group.policies[0].kind == "target_tracking"
    assert knobs["target"] == group.policies[0].target
    assert (knobs["cooldown"], knobs["warmup"]) == (group.default_cooldown, group.warmup)
    assert (knobs["boot_time"], knobs["max_instances"]) == (group.boot_time, group.max)


def test_the_weekday_step_remembers_a_setting_and_runs_a_new_one():
    explore.morning.clear()
    try:
        explore.autoscaling(target=40)
        assert explore.morning.known(*{**explore.POLICY_DEFAULTS, "target": 40}.values())
        assert not explore.morning.known(*explore.POLICY_DEFAULTS.values())
    finally:
        explore.morning.clear()


def test_the_fluid_validation_row_is_read_from_fluid_md():
    row = explore.fluid_validation("weekday")
    assert row["scenario"] == "weekday" and row["targets met"].endswith("of 4")
    assert any(heading.startswith("one DES seed against the other") for heading in row)
    with pytest.raises(KeyError):
        explore.fluid_validation("no_such_scenario")


# --- chapter 3: the week-long policy search --------------------------------------------------


def test_the_stored_week_sweep_is_the_grid_the_chapter_names():
    rows = explore.week_policies()
    grid = {(r[explore.TARGET_KEY], r[explore.MIN_KEY]) for r in rows}
    assert len(rows) == len(grid) == 15  # one replication each; notebooks/README.md: fifteen
    assert grid == set(itertools.product(explore.WEEK_TARGETS, explore.WEEK_MINIMUMS))
    seed = sim.load("weekday").run.seed
    assert all(r["seed"] == seed and r["replication"] == 0 for r in rows)
    # a week of the weekday's traffic: seven mornings of about 226,000 requests and the rest
    assert all(6_000_000 < r["requests"] < 7_000_000 for r in rows)
    assert all(isinstance(r["requests"], int) and isinstance(r["p95_peak"], float) for r in rows)


def test_cheapest_takes_the_fewest_instance_hours_strictly_under_the_limit():
    rows = [
        {"p95_peak": 0.250, "instance_hours": 700.0},
        {"p95_peak": 0.299, "instance_hours": 600.0},
        {"p95_peak": 0.300, "instance_hours": 500.0},  # on the line is not under it
        {"p95_peak": 0.400, "instance_hours": 400.0},
    ]
    assert explore.cheapest(rows, 0.300)["instance_hours"] == 600.0
    assert explore.cheapest(rows, 0.260)["instance_hours"] == 700.0
    assert explore.cheapest(rows, 0.200) is None


def test_the_stored_answer_runs_again_to_the_same_row():
    """The chapter re-runs the sweep's answer live; the stored CSV must be what the model
    gives today (else regenerate it: notebooks/data/README.md)."""
    stored = explore.cheapest(explore.week_policies())
    assert stored is not None
    again = explore.policy_row(stored[explore.TARGET_KEY], stored[explore.MIN_KEY])
    for key in ("requests", "ok", "p50", "p95", "p99", "p95_peak", "instance_hours"):
        assert again[key] == pytest.approx(stored[key], rel=1e-9), key
    assert again["max_in_service"] == stored["max_in_service"]


def test_the_policy_figure_draws_the_limit_and_circles_the_cheapest():
    rows = explore.week_policies()
    fig = explore.policy_figure(rows)
    ax = fig.axes[0]
    limit = [line for line in ax.get_lines() if list(line.get_ydata()) == [300.0, 300.0]]
    assert len(limit) == 1
    best = explore.cheapest(rows)
    circled = ax.collections[-1].get_offsets()[0]
    assert tuple(circled) == pytest.approx((best["instance_hours"], best["p95_peak"] * 1000))
    # settings that ran the same week share a label ("60, 70 %"): every setting named once
    named = [n for t in ax.texts for n in t.get_text().removesuffix(" %").split(", ")]
    assert len(named) == len(rows) and len(ax.texts) < len(rows)
    assert explore.render(fig)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_what_chapter_3_says_of_the_fluid_engine_on_the_weekday():
    """The chapter's reading of its comparison: the first two scale-outs come within minutes
    of each other, the cost is close, and the fluid p95 per minute sits mostly under the
    discrete-event engine's on this scenario; against the five discrete-event runs of FLUID.md
    the fluid morning meets the targets."""
    from sim.results import validation

    fluid = explore.morning(*explore.POLICY_DEFAULTS.values()).result
    des = explore.weekday(engine="des")
    check = validation.compare("weekday", fluid, [des])
    for d, f in zip(check.des[0].changes[:2], check.fluid.changes[:2], strict=True):
        assert d.new == f.new and abs(d.t - f.t) <= 10 * 60
    assert fluid.log.instance_hours == pytest.approx(des.log.instance_hours, rel=0.1)
    assert min(check.p50_share, check.p95_share) >= 0.9  # "within 25 % minute by minute"
    by_t = {round(row["t"]): row for row in fluid.table}
    start, end = des.run.window
    ratio = np.array([
        by_t[round(row["t"])]["p95"] / row["p95"]
        for row in des.table
        if start < row["t"] <= end and row["completed"] >= 100 and round(row["t"]) in by_t
    ])  # fmt: skip
    assert np.mean(ratio < 1) > 0.5 and np.median(ratio) < 1
    assert explore.fluid_validation("weekday")["targets met"] == "4 of 4"


# --- chapter 3: why min 2 -----------------------------------------------------------------------


def test_what_chapter_3_and_the_talk_say_of_instance_failure_is_what_it_runs():
    """Chapter 3's "Why min 2?": the settings the section names are the scenario's, its run
    is fifteen simulated minutes, and with min 2 nobody sees the crash, in the chapter's run
    and in the talk's figure (assets/build.py's shorter run; slides/deck.md: "in this run,
    none did", and "with min 2 nobody notices")."""
    from assets import build

    text = prose(NOTEBOOKS / "03_autoscaling.py")
    s = sim.load("instance_failure")
    assert s.run.duration == 15 * 60 and "discrete-event engine: fifteen simulated minutes" in text
    assert (s.failures[0].at, s.traffic.rate) == (300.0, 15.0)
    assert "one instance crashes at t = 300 s under 15 requests/s" in text
    check = s.health_check
    assert (check.interval, check.timeout, check.unhealthy_threshold) == (10.0, 5.0, 2)
    assert "start every 10 s" in text and "time out after 5 s; after 2 failures in a row" in text
    assert check.healthy_threshold == 3 and "at its 3rd passing check in a row" in text
    assert (s.asg.launch_time, s.asg.boot_time) == (17.0, 60.0)
    assert "**Launch:** 17 s until" in text and "**Boot:** 60 s until" in text
    deck = (NOTEBOOKS.parent / "slides/deck.md").read_text()
    assert "in this run, none did" in deck and "with min 2 nobody notices" in deck
    for shorter in ([], [f"run.duration={build.WHY_TWO_DURATION}"]):
        result = sim.run(sim.load("instance_failure", ["asg.min=2", *shorter]))
        assert int((result.arrays["status"] != 200).sum()) == 0, shorter


# --- chapter 7: the connections step -----------------------------------------------------------


def test_the_connections_step_still_runs_out_of_connections():
    """Chapter 7's step keeps 40 s because refusals start about 20 s in: check they show."""
    summary = explore.connections_summary(3, 5, 4, 40, 600)
    assert summary["status_counts"]["500"] > 0
    assert explore.connections().figure is not None


def test_the_connections_steps_refusals_start_about_20_s_in():
    """notebooks/README.md: the step keeps its 40 s because "the refusals the lesson is about
    start about 20 s in" (the control's first position, run here for its requests)."""
    assert "the refusals the lesson is about start about 20 s in" in prose(NOTEBOOKS / "README.md")
    first_position = {n: p.default for n, p in inspect.signature(explore.connections).parameters
                      .items()}  # fmt: skip
    step = [f"{key}={first_position[name]}" for name, key in (
        ("instances", "instances.count"), ("workers", "gunicorn.workers"),
        ("threads", "gunicorn.threads"), ("max_connections", "postgres.max_connections"),
        ("conn_max_age", "postgres.conn_max_age"))]  # fmt: skip
    requests = sim.run(sim.load("db_bound", [*explore.CONNECTIONS_STEP, *step])).arrays
    first = float(requests["arrival"][requests["status"] == 500].min())
    assert round(first, -1) == 20, first


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
