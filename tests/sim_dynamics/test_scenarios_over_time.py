"""The shipped scenarios over time, run through the real engine (shortened where it helps)."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim import loader
from sim.model.instance import WORKER_TIMEOUT
from sim.model.workload import profile_of
from sim.sweep import settings, sweep


def run(name: str, *overrides: str):
    return sim.run(loader.load(name, list(overrides)))


def statuses(over) -> dict[int, np.ndarray]:
    """End times of the requests, by status."""
    r = over.arrays
    return {int(c): r["end"][r["status"] == c] for c in np.unique(r["status"])}


@pytest.mark.slow
def test_instance_failure_min_1_has_a_window_of_503s_and_min_2_has_none():
    s = loader.load("instance_failure", ["run.duration=600"])
    crash = s.failures[0].at
    alone = sim.run(s)
    pair = sim.run(loader.load("instance_failure", ["run.duration=600", "asg.min=2"]))

    gap = statuses(alone)[503]
    # One window, from the crash until a replacement has launched (17 s), booted (60 s) and
    # passed 3 health checks 10 s apart, after 2 missed checks told the group (FACTS timings).
    assert gap.size > 100
    assert crash <= gap.min() and gap.max() < crash + 2 * 10 + 17 + 60 + 3 * 10 + 10
    assert crash + 17 + 60 < gap.max()  # no replacement can be ready sooner
    replaced = [a for a in alone.log.activities if a.kind == "terminate"]
    assert [a.detail for a in replaced] == ["failed health checks (was in_service)"]

    codes = statuses(pair)
    assert 503 not in codes
    # Only requests in flight on the dead instance fail, all at the moment of the crash.
    assert set(codes.get(502, np.array([crash]))) == {crash}


@pytest.mark.slow
def test_slow_queries_surface_as_502_from_gunicorns_timeout_not_504():
    over = run("slow_queries", "run.duration=600")
    codes = statuses(over)
    slow = over.scenario.failures[0]
    assert codes[502].size > 20
    assert 504 not in codes
    # Every 502 ends inside the slow window plus one Gunicorn timeout (30 s).
    assert slow.at < codes[502].min() and codes[502].max() <= slow.at + slow.duration + 30
    outcomes = {row.outcome for row in over.records if row.status == 502 and row.layer == "app"}
    assert outcomes == {WORKER_TIMEOUT}


@pytest.mark.slow
def test_too_many_workers_fails_only_once_the_third_instance_serves():
    over = run("too_many_workers", "run.duration=800")
    table = over.table
    first_500 = next(row for row in table if row.get("errors_500", 0) > 0)
    assert first_500["in_service"] >= 3  # 3 x 36 threads > max_connections 100
    before = [row for row in table if row["t"] < first_500["t"]]
    assert all(row["in_service"] <= 2 for row in before)
    assert max(row["db_connections"] for row in table) == 100


@pytest.mark.slow
def test_scale_in_too_early_kills_booting_instances_and_oscillates():
    over = run("scale_in_too_early", "run.duration=900")
    killed = [a for a in over.log.activities if a.kind == "terminate"]
    assert killed and all(a.detail == "scale in (was booting)" for a in killed)
    changes = [a.detail for a in over.log.activities if a.kind == "desired" and "->" in a.detail]
    ups = sum(1 for d in changes if int(d.split(" -> ")[1][0]) > int(d[0]))
    assert ups >= 2 and len(changes) - ups >= 2


@pytest.mark.slow
def test_flash_crowd_saturated_instances_fail_their_checks_in_a_cascade():
    over = run("flash_crowd", "run.duration=1000")
    pulled = [(t, name) for t, name, state in over.log.health if state == "unhealthy"]
    # The two original instances (0 and 1) were pulled while saturated, not crashed.
    assert {name for _, name in pulled} >= {"instance 0", "instance 1"}
    assert not over.log.failures
    spike = over.scenario.traffic.start
    assert all(t > spike for t, _ in pulled)
    assert statuses(over)[503].size > 0


def test_weekday_requests_follow_the_profile_and_dns_follows_users():
    # 06:00-06:10: the quiet early morning keeps the run short.
    over = run("weekday", "run.duration=600", "run.warmup=120", "traffic.start_clock_h=6.0")
    s = over.scenario
    profile = profile_of(s.traffic)
    rows = [r for r in over.table if 180 <= r["t"] <= 600]
    expected = np.mean([profile.rate(t) for t in range(120, 600)])
    measured = np.mean([r["rps"] for r in rows])
    assert abs(measured - expected) < 0.2 * expected
    dns_rows = [row for row in over.records if row.layer == "dns"]
    lookups = sum(1 for row in dns_rows if row.outcome != "browser-cache")
    assert lookups < 0.35 * len(dns_rows)  # about one per session, not one per request


def test_time_series_has_one_row_per_period_with_the_gauges():
    over = run("instance_failure", "run.duration=330", "run.drain=30")
    period = over.scenario.timeseries.period
    # run.duration + run.drain = 360 s: the run stops just before a sample at 360 s.
    assert [r["t"] for r in over.table] == [period * k for k in range(1, 12)]
    for key in ("desired", "booting", "in_service", "cpu_mean", "backlog", "surge_queue",
                "rps", "p50", "p95", "p99", "errors_502", "errors_503"):  # fmt: skip
        assert key in over.table[0]
    assert over.table[-1]["booting"] == 1  # the replacement is on its way at 330 s


def test_the_fleet_average_leaves_out_a_booting_instance():
    # min 2: the survivor of the crash at 300 s serves alone while its replacement boots.
    over = run("instance_failure", "run.duration=330", "run.drain=30", "asg.min=2")
    last = over.table[-1]
    assert (last["in_service"], last["booting"]) == (1, 1)
    assert last["cpu_2"] == 0.0  # the replacement, booting
    assert last["cpu_mean"] == last["cpu_1"] > 0  # the average is the survivor's, as the group's


def test_a_group_that_counts_warming_instances_averages_them_in_at_0_percent():
    over = run("scale_in_too_early", "run.duration=420")
    booting = [r for r in over.table if r["booting"] > 0]
    assert booting
    for row in booting:
        cpus = [v for k, v in row.items() if k.startswith("cpu_") and k != "cpu_mean"]
        assert row["cpu_mean"] == pytest.approx(np.mean(cpus), abs=1e-3)


def test_a_sweep_varies_an_entry_of_an_array_of_tables():
    runs = settings("weekday", [("asg.policies[0].target", [40, 60])])
    assert [values for values, _ in runs] == [
        {"asg.policies[0].target": 40},
        {"asg.policies[0].target": 60},
    ]
    assert [s.asg.policies[0].target for _, s in runs] == [40.0, 60.0]


@pytest.mark.slow
def test_sweep_rows_are_one_per_setting_and_replication_and_independent_of_processes():
    runs = settings("instance_failure", [("asg.min", [1, 2])], ["run.duration=420"])
    one = sweep(runs, replications=2, processes=1)
    many = sweep(runs, replications=2, processes=2)
    assert one == many
    assert [(r["asg.min"], r["replication"]) for r in one] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert all(r["errors_503"] > 0 for r in one if r["asg.min"] == 1)
    assert all(r["errors_503"] == 0 for r in one if r["asg.min"] == 2)
    assert one[0]["p95"] != one[1]["p95"]  # replications use different seeds


@pytest.mark.parametrize("engine", ["des", "fluid"])
@pytest.mark.parametrize("name", ["baseline", "scale_in_too_early"])
def test_a_run_without_a_drain_ends_with_its_traffic(name, engine):
    # run.drain = 0 is allowed: the run stops when the arrivals do (it used to crash the
    # discrete-event engine, asked to run on to the instant it had reached).
    s = sim.load(name, ["run.drain=0", "run.duration=420", "run.warmup=60"])
    r = sim.run(s, engine=engine)
    assert r.summary["requests"]["arrived"] > 0
