"""Chapters 5 and 7 say what the runs show: Gunicorn's documented defaults, and the lab's
connections experiment (``notebooks/data/connections.csv``) beside the model of the same run.

The recording is real output of ``python -m demo_app.stack connections`` (data/README.md); the
model runs here. Every claim the chapters make in prose about them is asserted below, so the
text cannot drift from the numbers again.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
import course  # noqa: E402
import explore  # noqa: E402

import sim  # noqa: E402


def table_rows(chapter: str) -> dict[str, str]:
    """The first markdown table of a chapter's .py: first column -> second column."""
    rows = {}
    for line in (NOTEBOOKS / chapter).read_text().splitlines():
        cells = [c.strip() for c in line.removeprefix("#").strip().strip("|").split("|")]
        if line.startswith("# |") and len(cells) >= 3 and not set(cells[0]) <= {"-"}:
            rows.setdefault(cells[0], cells[1])
    return rows


# --- chapter 5: Gunicorn's defaults --------------------------------------------------------------


def test_ch5_table_gives_gunicorns_own_defaults():
    from gunicorn.config import KNOWN_SETTINGS

    documented = {s.name: s.default for s in KNOWN_SETTINGS}
    table = table_rows("05_gunicorn.py")
    assert table["`workers`"] == str(documented["workers"]) == "1"
    assert table["`threads`"] == str(documented["threads"]) == "1"
    assert table["`worker_class`"] == f"`{documented['worker_class']}`"
    assert table["`backlog`"] == str(documented["backlog"])
    assert table["`timeout`"] == f"{documented['timeout']} s"


def test_ch5_the_courses_instances_run_the_recommended_workers():
    text = (NOTEBOOKS / "05_gunicorn.py").read_text()
    said = re.search(r"course's instances run \((\d+) on (\d+) vCPUs\)", text)
    assert said, "chapter 5 names the workers the course's instances run"
    baseline = sim.load("baseline")
    workers, vcpus = int(said.group(1)), int(said.group(2))
    assert (workers, vcpus) == (baseline.gunicorn.workers, baseline.instances.vcpus)
    assert workers == 2 * vcpus + 1  # the documented (2 x cores) + 1


# --- chapter 7: the model's db_bound scaled out ------------------------------------------------


def test_ch7_scaling_out_makes_it_worse_then_better():
    # "So scaling out can make it worse or better": 2 instances fit, 3 run out, 4 fit again.
    rows = {r["instances"]: r for r in explore.connections_scaling((2, 3, 4))}
    limit = sim.load("db_bound").postgres.max_connections
    assert rows[2]["refused"] == 0 and rows[3]["refused"] > 0 and rows[4]["refused"] == 0
    for r in rows.values():
        # A connection per thread started, never more than the limit allows.
        assert r["peak_held"] == min(r["threads_started"], limit)
        assert r["threads_started"] <= r["configured"]
        assert (r["refused"] > 0) == (r["threads_started"] > limit)
    # Quieter instances start fewer threads: 4 start fewer than 3 did.
    assert rows[4]["threads_started"] < rows[3]["threads_started"]


# --- chapter 7: the lab's recording and the model of it --------------------------------------


@pytest.fixture(scope="module")
def lab_and_model():
    return explore.connections_lab_and_model()


def test_ch7_the_recording_is_2_3_and_4_instances_of_one_load(lab_and_model):
    assert [r["instances"] for r in lab_and_model] == [2, 3, 4]
    for key in ("users", "workers", "threads", "limit"):
        assert len({r[key] for r in lab_and_model}) == 1, key
    assert all(r["threads"] > 1 for r in lab_and_model)  # gthread


def test_ch7_the_lab_held_a_connection_per_thread_started(lab_and_model):
    for r in lab_and_model:
        assert r["peak_held"] == min(r["threads_started"], r["limit"])
        # Kept, idle, once the load stopped: persistent connections.
        assert r["held_after"] == r["peak_held"]
        # Past the limit PostgreSQL refused the rest, for real; below it, nothing.
        assert (r["refused"] > 0) == (r["threads_started"] > r["limit"])
        assert r["failed"] == r["refused"]  # each refusal was a failed request (503)


def test_ch7_the_largest_fleet_started_fewer_threads_than_configured(lab_and_model):
    last = lab_and_model[-1]
    assert last["threads_started"] < last["threads_configured"]
    assert course.ch7_threads_started("fewer", rows=lab_and_model).correct is True
    wrong = course.ch7_threads_started("all", rows=lab_and_model)
    assert wrong.correct is False and "in flight" in wrong.message
    assert course.ch7_threads_started(None, rows=lab_and_model).correct is None


def test_ch7_the_model_of_the_run_starts_a_thread_per_request_in_flight(lab_and_model):
    for r in lab_and_model:
        assert r["model_threads_started"] == min(r["users"], r["threads_configured"])
        assert r["model_peak_held"] == min(r["model_threads_started"], r["limit"])
        # Both refuse exactly where the threads started outnumber the limit ...
        assert (r["model_refused"] > 0) == (r["refused"] > 0)
        # ... and the held connections agree.
        assert r["model_peak_held"] == r["peak_held"]
        # "It counts more refusals" (its refused users come back at once).
        if r["refused"]:
            assert r["model_refused"] > r["refused"]


def test_ch7_the_lab_text_is_formatted_from_the_recording(lab_and_model):
    text = explore.connections_lab_text(lab_and_model)
    for r in lab_and_model:
        assert (
            f"{r['instances']:.0f} instances: the users started {r['threads_started']:.0f} of"
            f" the {r['threads_configured']:.0f} threads"
        ) in text
    assert f"{lab_and_model[0]['cores']:.0f} cores" in text


def test_db_bound_starts_more_threads_than_its_max_connections():
    # sim/scenarios/db_bound.toml: "the bursts of 150 requests/s start more than 40".
    s = sim.load("db_bound")
    counters = sim.run(s).run.counters
    assert s.arrivals.rate == 150 and s.postgres.max_connections == 40
    assert (
        s.postgres.max_connections
        < counters["threads_started"]
        <= s.gunicorn.slots * s.instances.count
    )
    assert counters["peak_db_connections"] == s.postgres.max_connections
