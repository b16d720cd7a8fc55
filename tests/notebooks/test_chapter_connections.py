"""Chapters 5 and 7 say what the runs show: Gunicorn's documented defaults, chapter 5's runs
(workers against cores, sync against gthread, the slow database) and the talk's figure of
workers against cores, and the lab's connections experiment
(``notebooks/data/connections.csv``) beside the model of the same run.

The recording is real output of ``python -m demo_app.stack connections`` (data/README.md); the
model runs here. Every claim the chapters make in prose about them is asserted below, so the
text cannot drift from the numbers again.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
import course  # noqa: E402
import explore  # noqa: E402
from chapter_text import prose  # noqa: E402

import sim  # noqa: E402
from sim.results.statistics import completed_per_s  # noqa: E402


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


# --- chapter 5: workers against cores ------------------------------------------------------------

WORKERS = (1, 2, 3, 5, 9, 17)


@pytest.fixture(scope="module")
def workers_sweep():
    """Chapter 5's sweep as it runs it: cpu_bound for 40 s at each number of workers, and the
    requests/s the instances finished inside the window."""
    source = (NOTEBOOKS / "05_gunicorn.py").read_text()
    assert 'SHORT = ["run.duration=40", "run.warmup=10"]' in source and explore.SHORT == [
        "run.duration=40", "run.warmup=10"
    ]  # fmt: skip
    assert f"WORKERS = {WORKERS}" in source
    sweep = {}
    for w in WORKERS:
        result = sim.run(sim.load("cpu_bound", [*explore.SHORT, f"gunicorn.workers={w}"]))
        sweep[w] = (result.summary, completed_per_s(result.run, result.records))
    return sweep


def test_ch5_the_cpu_a_request_needs_is_what_the_model_charges(workers_sweep):
    # The chapter prints "each request needs about 31 ms of CPU: that is 3.4 of the fleet's 4
    # vCPUs busy" from the scenario; the run's busy vCPUs per request served say the same.
    source = (NOTEBOOKS / "05_gunicorn.py").read_text()
    assert (
        "cpu_s = django.cpu.mean + django.queries * django.cpu_per_query.mean"
        " + django.cpu_after.mean" in source
    )
    bound = sim.load("cpu_bound")
    django = bound.django
    cpu_s = django.cpu.mean + django.queries * django.cpu_per_query.mean + django.cpu_after.mean
    summary, served = workers_sweep[5]
    fleet_vcpus = bound.instances.count * bound.instances.vcpus
    assert summary["utilisation"]["vcpus"] * fleet_vcpus / served == pytest.approx(cpu_s, rel=0.03)


def test_ch5_where_the_requests_wait_as_the_workers_grow(workers_sweep):
    text = prose(NOTEBOOKS / "05_gunicorn.py")
    queue = {w: s["latency"]["layers"]["queue"]["mean"] for w, (s, _) in workers_sweep.items()}
    core = {w: s["latency"]["layers"]["app"]["wait"] for w, (s, _) in workers_sweep.items()}
    served = {w: done for w, (_, done) in workers_sweep.items()}
    # "With 1 worker the backlog grows for the whole run and the slowest requests hit the load
    # balancer's 60 s idle timeout (504)."
    assert "With 1 worker the backlog grows for the whole run" in text
    assert "the load balancer's 60 s idle timeout (504)" in text
    assert sim.load("cpu_bound").load_balancer.idle_timeout == 60.0
    assert workers_sweep[1][0]["status_counts"]["504"] > 0
    # "With 2 or 3 the workers are still the limit: requests wait seconds in the backlog."
    assert "With 2 or 3 the workers are still the limit: requests wait seconds" in text
    for w in (2, 3):
        assert queue[w] >= 1.0 and served[w] < 0.97 * served[5], w
    # "From about 5 the cores are the limit: served requests/s stop growing, and extra workers
    # only trade waiting in the backlog for waiting for a core."
    assert "From about 5 the cores are the limit: served requests/s stop growing" in text
    assert served[9] == pytest.approx(served[5], rel=0.01)
    assert served[17] == pytest.approx(served[5], rel=0.01)
    assert queue[5] > queue[9] > queue[17] and core[5] < core[9] < core[17]


def test_the_talks_workers_figure_falls_to_5_workers_then_rises_slowly():
    """slides/deck.md, "Workers vs cores": "p95 falls steeply up to about (2 x 2 cores) + 1 = 5
    workers and then rises slowly", on the runs assets/build.py draws."""
    from assets import build

    deck = prose(NOTEBOOKS.parent / "slides" / "deck.md")
    assert "p95 falls steeply up to about (2 x 2 cores) + 1 = 5 workers and then rises" in deck
    overrides = [
        "instances.count=1",
        f"arrivals.rate={build.WORKERS_RATE}",
        f"run.duration={build.WORKERS_SECONDS}",
        f"run.warmup={build.WORKERS_WARMUP}",
    ]
    p95 = {
        w: sim.run(sim.load("baseline", [*overrides, f"gunicorn.workers={w}"])).summary[
            "latency"]["end_to_end"]["p95"]
        for w in build.WORKERS
    }  # fmt: skip
    assert sim.load("baseline").instances.vcpus == 2 and min(p95, key=p95.get) == 5
    falling = [p95[w] for w in build.WORKERS if w <= 5]
    rising = [p95[w] for w in build.WORKERS if w >= 5]
    assert falling == sorted(falling, reverse=True) and p95[1] > 10 * p95[5]  # steeply
    assert rising == sorted(rising) and p95[build.WORKERS[-1]] < 2 * p95[5]  # slowly
    # "the cpu_bound scenario runs 9 workers on 2 vCPUs" (and "cpu_bound (9 workers on 2 vCPUs)")
    bound = sim.load("cpu_bound")
    assert (bound.gunicorn.workers, bound.instances.vcpus) == (9, 2)
    assert "the cpu_bound scenario runs 9 workers on 2 vCPUs" in deck


# --- chapter 5: sync or gthread, and the slow database -------------------------------------------


def test_ch5_sync_workers_fall_behind_at_55_requests_per_second_and_threads_cope():
    text = prose(NOTEBOOKS / "05_gunicorn.py")
    assert (
        "At 55 req/s, 10 sync workers (2 instances x 5) each holding a request for about 200 ms"
        " can serve about 50 req/s: the backlog grows without end. With 4 threads each, 20 slots"
        " per instance (40 in the fleet), the same CPUs cope." in text
    )
    first = {n: p.default for n, p in inspect.signature(explore.gunicorn).parameters.items()}
    assert (first["workers"], first["threads"], first["rate"]) == (5, 4, 55)
    instances = sim.load("baseline").instances.count
    assert instances == 2
    sync = explore.gunicorn_summary("sync", 5, 1, 55)
    gthread = explore.gunicorn_summary("gthread", 5, 4, 55)
    layers = sync["latency"]["layers"]
    holding = layers["app"]["mean"] + layers["db"]["mean"]  # a sync worker's time per request
    assert holding == pytest.approx(0.200, abs=0.02), holding
    can_serve = instances * 5 / holding
    assert round(can_serve, -1) == 50 and can_serve < 55, can_serve
    assert sync["latency"]["layers"]["queue"]["mean"] > 1.0  # the backlog grew all run
    assert (5 * 4, instances * 5 * 4) == (20, 40)
    assert gthread["latency"]["layers"]["queue"]["mean"] < 0.01
    assert gthread["requests"]["errors"] == 0 and gthread["utilisation"]["workers"] < 0.5


def test_ch5_the_slow_database_makes_three_queries_take_about_24_s():
    # "the database slows down 4000-fold for three minutes [...] Three queries now take about
    # 24 s on average, often more than 30 s."
    text = prose(NOTEBOOKS / "05_gunicorn.py")
    assert "the database slows down 4000-fold for three minutes" in text
    assert "Three queries now take about 24 s on average, often more than 30 s" in text
    s = sim.load("slow_queries")
    slow = s.failures[0]
    assert (slow.kind, slow.factor, slow.duration) == ("db_slowdown", 4000.0, 180.0)
    assert s.django.queries == 3
    assert s.django.queries * s.postgres.query.mean * slow.factor == pytest.approx(24.0)
    # "often": Gunicorn's 30 s timeout cut most of the requests that met the slowdown
    requests = sim.run(s).arrays
    met = (requests["arrival"] >= slow.at) & (requests["arrival"] < slow.at + slow.duration)
    assert s.gunicorn.timeout == 30.0
    assert (requests["status"][met] == 502).mean() > 0.25


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
