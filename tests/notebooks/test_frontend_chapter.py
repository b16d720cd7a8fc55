"""Chapter 11 (the frontend): its self-checks with right, near-miss and wrong answers; the
Resource Timing recording it reads, checked against the demo app's files; its control, which
runs once per setting and keeps the lesson of the full scenarios; and its place in the course.

The self-check tests feed made-up numbers, so a verdict that ignored them would fail. The
recording tests read `notebooks/data/resource-timing.json` with their own code.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
REPO = NOTEBOOKS.parent
sys.path.insert(0, str(NOTEBOOKS))
import course  # noqa: E402
import explore  # noqa: E402

import sim  # noqa: E402


def test_every_self_check_of_chapter_11_has_its_tests():
    checks = [n for n, _ in inspect.getmembers(course, inspect.isfunction) if n.startswith("ch11_")]
    assert len(checks) == 3
    source = Path(__file__).read_text()
    untested = [n for n in checks if f"course.{n}(" not in source]
    assert untested == [], f"self-checks without tests: {untested}"


# --- the self-checks ----------------------------------------------------------------------------

ROUNDS = {
    "round 1: six new connections, a file on each": 55.2,
    "round 2: files 7 and 8 on connections already open": 25.2,
}


def test_ch11_rounds_right_near_miss_and_wrong():
    right = course.ch11_rounds(80, steps=ROUNDS)
    assert right.correct is True and "55.2 + 25.2 = 80.4 ms" in right.message
    # one round only: every file at once, as if there were no limit of 6
    near = course.ch11_rounds(55, steps=ROUNDS)
    assert near.correct is False
    assert "leaves out: round 2: files 7 and 8 on connections already open (25.2 ms)" in (
        near.message
    )
    wrong = course.ch11_rounds(8 * 55.2, steps=ROUNDS)  # a round per file
    assert wrong.correct is False and "more than all the steps together" in wrong.message
    assert course.ch11_rounds(None, steps=ROUNDS).correct is None


def test_ch11_django_cpu_right_near_miss_and_wrong():
    doubled = {"cdn": 0.233, "django": 0.459}
    right = course.ch11_django_cpu("double", vcpus=doubled)
    assert right.correct is True and "23% with the CDN, 46% with Django: x2.0" in right.message
    near = course.ch11_django_cpu("The Same ", vcpus=doubled)  # case and spacing ignored
    assert near.correct is False and "count the files per page" in near.message
    wrong = course.ch11_django_cpu("ten times", vcpus=doubled)
    assert wrong.correct is False and "x2.0" in wrong.message
    # The verdict follows the numbers: a page of few files barely moves the CPU.
    light = {"cdn": 0.233, "django": 0.24}
    assert course.ch11_django_cpu("the same", vcpus=light).correct is True
    assert course.ch11_django_cpu("double", vcpus=light).correct is False
    assert "not one of the choices" in course.ch11_django_cpu("triple", vcpus=light).message


def test_ch11_cached_bytes_right_near_miss_and_wrong():
    numbers = dict(again=0, encoded=4362, decoded=14686, files=3)
    right = course.ch11_cached_bytes(0, **numbers)
    assert right.correct is True and "browser's own cache" in right.message
    near = course.ch11_cached_bytes(4362, **numbers)  # the compressed bytes of the first visit
    assert near.correct is False and "compressed files weighed on the first visit" in near.message
    uncompressed = course.ch11_cached_bytes(14686, **numbers)
    assert uncompressed.correct is False and "once uncompressed" in uncompressed.message
    wrong = course.ch11_cached_bytes(999, **numbers)
    assert wrong.correct is False and "the recording says 0" in wrong.message
    # The answer is the recording's, whatever it is.
    assert course.ch11_cached_bytes(120, **{**numbers, "again": 120}).correct is True
    assert course.ch11_cached_bytes("many", **numbers).correct is False


# --- the recording --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recording():
    return explore.resource_timing()


def test_the_recording_holds_the_trace_pages_three_files_as_they_are_on_disk(recording):
    disk = {
        "site": (REPO / "demo_app/static/demo_app/site.css").stat().st_size,
        "site.js": (REPO / "demo_app/static/demo_app/site.js").stat().st_size,
        "trace": (REPO / "demo_app/tracing/static/tracing/trace.js").stat().st_size,
    }
    first = recording["visits"]["first"]["resources"]
    names = [e["name"].rsplit("/", 1)[-1] for e in first]
    # collectstatic's hashed names: site.<12 hex>.css, site.<hash>.js, trace.<hash>.js
    assert [re.sub(r"\.[0-9a-f]{12}\.", ".", n) for n in names] == [
        "site.css",
        "site.js",
        "trace.js",
    ]
    assert [e["decodedBodySize"] for e in first] == [disk["site"], disk["site.js"], disk["trace"]]
    # compressed on the wire: fewer bytes than on disk, every one
    assert all(0 < e["encodedBodySize"] < e["decodedBodySize"] for e in first)
    blocking = [e["renderBlockingStatus"] for e in first]
    assert blocking == ["blocking", "non-blocking", "non-blocking"]


def test_the_second_visit_takes_the_files_from_the_browsers_cache(recording):
    again = recording["visits"]["again"]["resources"]
    assert len(again) == 3
    assert {e["deliveryType"] for e in again} == {"cache"}
    assert sum(e["transferSize"] for e in again) == 0


def test_the_files_start_after_the_html_and_each_opens_a_connection(recording):
    first = recording["visits"]["first"]
    html_end = first["navigation"][0]["responseEnd"]
    resources = first["resources"]
    assert all(e["startTime"] >= html_end for e in resources)  # "only once the HTML is in"
    # "opened a connection of its own (three at once, fewer than six)"
    assert all(e["connectEnd"] > e["connectStart"] > 0 for e in resources)
    assert len(resources) < 6


def test_the_timing_figure_draws_every_entry_of_each_visit(recording):
    fig = explore.timing_figure(recording["visits"])
    assert len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[-1] == "the HTML" and len(labels) == 4


# --- the control ---------------------------------------------------------------------------------


def test_the_page_step_runs_once_per_setting():
    explore.page_summary.clear()
    try:
        view = explore.page("Django", 4, 2)
        assert explore.page_summary.known("Django", 4, 2, *explore.PAGE_STEP)
        assert view.text.startswith("Django: page load mean") and "4 files" in view.text
        assert view.figure is not None and len(view.figure.axes) == 2
    finally:
        explore.page_summary.clear()


@pytest.mark.slow
def test_the_lighter_page_step_keeps_the_scenarios_lesson():
    """The control's 30 s give the full scenarios' means to within a few per cent."""
    for where, scenario in (("CDN", "assets_cdn"), ("Django", "assets_django")):
        light = explore.page_summary(where, 30, 6, *explore.PAGE_STEP)
        full = sim.run(sim.load(scenario)).summary
        for path in (("assets", "page_load", "mean"), ("utilisation", "vcpus")):
            a, b = light, full
            for key in path:
                a, b = a[key], b[key]
            assert a == pytest.approx(b, rel=0.05), (where, path, a, b)
    explore.page_summary.clear()


def test_one_page_is_one_page_with_its_files():
    result = explore.one_page(files=8, connections=6)
    assert len({r.request for r in result.records}) == 1
    assert len(result.asset_records) == 8
    assert sorted({a.connection for a in result.asset_records}) == list(range(6))


# --- its place in the course --------------------------------------------------------------------


def test_chapter_11_is_in_the_map_the_readme_and_the_benchmark():
    start = (NOTEBOOKS / "00_start_here.py").read_text()
    assert re.search(r"^# \| 11 \| The frontend", start, re.M)
    assert "| `11_frontend` |" in (NOTEBOOKS / "README.md").read_text()
    sys.path.insert(0, str(NOTEBOOKS))
    import bench

    assert any(name.startswith("11_frontend") for name in bench.steps())
    deck = (REPO / "slides" / "deck.md").read_text()
    frontend = deck[deck.index("## Frontend Stack") : deck.index("## How Code Gets Deployed")]
    assert "notebooks/11_frontend" in frontend


def test_what_the_chapter_says_of_its_runs_is_what_they_run():
    text = (NOTEBOOKS / "11_frontend.py").read_text()
    one = sim.load("baseline", [*explore.ONE_PAGE, "assets.sizes=[25500.0]"]).assets
    assert one.edge_latency.kind == "constant" and one.edge_latency.mean == 0.015
    assert one.bandwidth == 20.0 and one.hit_ratio == 1.0
    assert "One page, 8 files of 25.5 KB" in text and "costs 15 ms" in text
    assert "at 20 Mbit/s" in text
    assert "explore.one_page(files=8, connections=6)" in text
    cdn, django = sim.load("assets_cdn"), sim.load("assets_django")
    assert cdn.arrivals.rate == django.arrivals.rate == 30.0 and "30 pages a second" in text
    assert cdn.assets.hit_ratio == 0.95 and "95 % edge hits" in text
    assert cdn.assets.server == "nginx" and "misses from nginx" in text
    assert django.assets.whitenoise_cpu.mean == 0.001 and "1 ms of a vCPU per file" in text
    assert len(cdn.assets.sizes) / cdn.assets.connections == 5 and "five rounds" in text
    assert "run.duration=30" in explore.PAGE_STEP and "for 30 simulated seconds" in text
