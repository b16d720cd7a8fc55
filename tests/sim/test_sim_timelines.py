"""Exact timelines, SimPy style: who was served where and when, to the microsecond.

Every cost is zero or a constant (tests/sim/sim_helpers.py), so the expected logs are worked out
by hand from the rules: routing, the listen backlog, Gunicorn's timeout, PostgreSQL's
connection limit and the price of a new connection.
"""

from __future__ import annotations

import pytest
from sim_helpers import ends, layer, quiet, run


def served(results) -> list[tuple]:
    """(request, instance, worker start, response) for every request that reached a worker."""
    return [
        (r.request, r.instance, round(r.arrival, 6), round(r.end, 6)) for r in layer(results, "app")
    ]


def test_round_robin_takes_instances_in_turn():
    s = quiet("instances.count=3", "load_balancer.routing=round_robin")
    _, results = run(s, [0.0, 0.1, 0.2, 0.3, 0.4])
    assert served(results) == [
        (0, 0, 0.0, 1.0),
        (1, 1, 0.1, 1.1),
        (2, 2, 0.2, 1.2),
        (3, 0, 1.0, 2.0),  # instance 0's only worker is busy until 1.0: it waits
        (4, 1, 1.1, 2.1),
    ]


def test_least_outstanding_requests_prefers_the_idle_instance():
    arrivals = [0.0, 0.5, 1.2, 1.3]
    rr = quiet("instances.count=2", "load_balancer.routing=round_robin")
    lor = quiet("instances.count=2", "load_balancer.routing=least_outstanding_requests")
    _, by_rr = run(rr, arrivals)
    _, by_lor = run(lor, arrivals)
    assert [r[1] for r in served(by_rr)] == [0, 1, 0, 1]
    # At 0.0 both are idle and at 1.3 both hold one request: ties, broken at random (the
    # scenario's seed: instance 1, then 0). At 0.5 and 1.2 the idle one is chosen.
    assert [r[1] for r in served(by_lor)] == [1, 0, 1, 0]


def test_least_outstanding_requests_breaks_ties_at_random_not_by_id():
    # Requests 2 s apart, each served in 1 s: every one finds both instances idle.
    routing = ["load_balancer.routing=least_outstanding_requests"]
    s = quiet("instances.count=2", *routing)
    arrivals = [2.0 * i for i in range(400)]
    _, first = run(s, arrivals)
    chosen = [r[1] for r in served(first)]
    assert 150 <= chosen.count(0) <= 250  # about half each (binomial: 200 +- 10)
    _, again = run(s, arrivals)
    assert served(again) == served(first)  # the same seed, the same coin tosses
    _, other = run(quiet("instances.count=2", "run.seed=2", *routing), arrivals)
    assert served(other) != served(first)


def test_random_routing_is_reproducible_and_uses_every_instance():
    s = quiet("instances.count=3", "load_balancer.routing=random", "django.cpu=0.01")
    arrivals = [i * 0.1 for i in range(60)]
    _, a = run(s, arrivals)
    _, b = run(s, arrivals)
    assert served(a) == served(b)
    assert {r[1] for r in served(a)} == {0, 1, 2}


def test_backlog_overflow_is_a_502_at_once():
    s = quiet("gunicorn.backlog=1")
    _, results = run(s, [0.0, 0.1, 0.2])
    assert ends(results) == {
        0: (200, 0.0, 1.0),
        1: (200, 0.1, 2.0),  # waited in the backlog from 0.1 to 1.0
        2: (502, 0.2, 0.2),  # the backlog already held one: refused
    }
    assert [r.outcome for r in layer(results, "queue")] == ["ok", "ok", "backlog-full"]
    assert [round(r.wait, 6) for r in layer(results, "queue")] == [0.0, 0.9, 0.0]


def test_worker_timeout_kills_the_worker_and_it_restarts():
    s = quiet("django.cpu=3.0", "gunicorn.timeout=2.0", "gunicorn.restart=0.5")
    _, results = run(s, [0.0, 0.1])
    assert ends(results) == {
        0: (502, 0.0, 2.0),  # killed after 2 s of silence
        1: (502, 0.1, 4.5),  # the new worker boots until 2.5, then is killed at 4.5
    }
    assert [r.outcome for r in layer(results, "app")] == ["worker-timeout", "worker-timeout"]
    assert results.run.counters["killed_workers"] == 2


def test_gthread_workers_are_not_killed_by_a_slow_request():
    s = quiet("django.cpu=3.0", "gunicorn.timeout=2.0", "gunicorn.threads=2")
    _, results = run(s, [0.0, 0.1])
    assert ends(results) == {0: (200, 0.0, 3.0), 1: (200, 0.1, 3.1)}
    assert results.run.counters["killed_workers"] == 0


def test_nginx_gives_up_after_proxy_read_timeout_with_a_504():
    s = quiet("django.cpu=3.0", "nginx.proxy_read_timeout=5.0")
    _, results = run(s, [0.0, 0.1])
    # The second waits until 3.0 and would be answered at 6.0: nginx answered 504 at 5.1.
    assert ends(results) == {0: (200, 0.0, 3.0), 1: (504, 0.1, 5.1)}


def test_connection_limit_refuses_with_a_500():
    s = quiet(
        "gunicorn.workers=2",
        "django.cpu=0.0",
        "django.queries=1",
        "postgres.max_connections=1",
        "postgres.connect_cost=0.1",
        "postgres.query=1.0",
    )
    _, results = run(s, [0.0, 0.05])
    assert ends(results) == {
        0: (200, 0.0, 1.1),  # connects (0.1 s), queries (1 s)
        1: (500, 0.05, 0.15),  # the only connection is taken: FATAL after the attempt
    }
    assert [r.outcome for r in layer(results, "db")] == ["ok", "too-many-clients"]
    assert results.run.counters["refused_db_connections"] == 1


@pytest.mark.parametrize(
    ("conn_max_age", "expected"),
    [
        # CONN_MAX_AGE = 0: every request pays 0.1 s to connect before its two queries.
        (0.0, [(0, 0.0, 1.1, 1.1), (1, 5.0, 6.1, 1.1)]),
        # Persistent: only the worker's first request connects.
        (600.0, [(0, 0.0, 1.1, 1.1), (1, 5.0, 6.0, 1.0)]),
        # Older than CONN_MAX_AGE at the start of the request: closed and opened again.
        (3.0, [(0, 0.0, 1.1, 1.1), (1, 5.0, 6.1, 1.1)]),
    ],
)
def test_connection_setup_cost(conn_max_age, expected):
    s = quiet(
        "django.cpu=0.0",
        "django.queries=2",
        "postgres.connect_cost=0.1",
        "postgres.query=0.5",
        f"postgres.conn_max_age={conn_max_age}",
    )
    _, results = run(s, [0.0, 5.0])
    log = [
        (r.request, round(r.arrival, 6), round(r.end, 6), round(r.service, 6))
        for r in layer(results, "db")
    ]
    assert log == expected


def test_database_cpu_is_shared_by_all_queries():
    s = quiet(
        "gunicorn.workers=3",
        "django.cpu=0.0",
        "django.queries=1",
        "postgres.vcpus=1",
        "postgres.query=1.0",
    )
    _, results = run(s, [0.0, 0.0, 0.0])
    log = [(r.request, round(r.wait, 6), round(r.end, 6)) for r in layer(results, "db")]
    assert log == [(0, 0.0, 1.0), (1, 1.0, 2.0), (2, 2.0, 3.0)]


def test_more_workers_than_vcpus_queue_for_the_cpu():
    s = quiet("gunicorn.workers=3", "instances.vcpus=2")
    _, results = run(s, [0.0, 0.0, 0.0])
    log = [(r.request, round(r.wait, 6), round(r.end, 6)) for r in layer(results, "app")]
    # Three workers take the three requests at once; the third waits for a vCPU.
    assert log == [(0, 0.0, 1.0), (1, 0.0, 1.0), (2, 1.0, 2.0)]


def test_surge_queue_holds_then_spills_over_with_503():
    s = quiet("nginx.max_connections=1", "load_balancer.surge_queue=1")
    _, results = run(s, [0.0, 0.1, 0.2])
    assert ends(results) == {0: (200, 0.0, 1.0), 1: (200, 0.1, 2.0), 2: (503, 0.2, 0.2)}
    lb = layer(results, "lb")
    assert [(r.request, round(r.wait, 6), r.outcome) for r in lb] == [
        (0, 0.0, "ok"),
        (1, 0.9, "ok"),  # in the surge queue until nginx had room
        (2, 0.0, "spillover"),
    ]
    assert results.run.counters["spillover"] == 1


def test_the_idle_timeout_answers_504_for_a_long_wait():
    s = quiet(
        "nginx.max_connections=1", "load_balancer.surge_queue=5", "load_balancer.idle_timeout=1.5"
    )
    _, results = run(s, [0.0, 0.1, 0.2])
    assert ends(results) == {
        0: (200, 0.0, 1.0),
        1: (504, 0.1, 1.6),  # served 1.0-2.0, but the answer was due by 0.1 + 1.5
        2: (504, 0.2, 1.7),  # still in the surge queue at 0.2 + 1.5
    }
    failed = [r for r in results.records if r.outcome != "ok" and r.layer != "dns"]
    # Both are the load balancer's idle timeout, not nginx's 60 s read timeout: one ran out
    # while nginx waited for Gunicorn, the other in the surge queue.
    assert [(r.request, r.layer, r.outcome) for r in failed] == [
        (1, "queue", "idle-timeout"),
        (2, "lb", "idle-timeout"),
    ]


def test_no_registered_target_is_a_503():
    s = quiet()

    def deregister_all(engine):
        for instance in engine.instances:
            engine.lb.deregister(instance)

    _, results = run(s, [0.0, 1.0], setup=deregister_all)
    assert ends(results) == {0: (503, 0.0, 0.0), 1: (503, 1.0, 1.0)}
    assert [r.outcome for r in layer(results, "lb")] == ["no-target", "no-target"]


def test_a_stopped_instance_fails_its_requests_with_502():
    s = quiet("gunicorn.workers=1", "gunicorn.backlog=10")

    def crash_at_half_a_second(engine):
        def crash(engine):
            yield engine.env.timeout(0.5)
            engine.instances[0].stop()

        engine.processes.append(crash)

    engine, results = run(s, [0.0, 0.1, 2.0], setup=crash_at_half_a_second)
    assert ends(results) == {
        0: (502, 0.0, 0.5),  # inside Django when the machine went
        1: (502, 0.1, 0.5),  # waiting in the backlog
        2: (503, 2.0, 2.0),  # the load balancer has no other target
    }
    instance = engine.instances[0]
    assert instance.state == "terminated"
    # The dead worker's slot is free, and its busy time stops at the crash.
    assert instance.workers.busy == 0
    assert instance.busy_worker_time() == 0.5


def test_interrupted_requests_give_back_database_connections():
    s = quiet(
        "gunicorn.workers=2",
        "django.queries=1",
        "django.cpu=0.0",
        "postgres.query=5.0",
        "postgres.conn_max_age=600.0",
    )

    def crash(engine):
        def stop(engine):
            yield engine.env.timeout(1.0)
            engine.instances[0].stop()

        engine.processes.append(stop)

    engine, results = run(s, [0.0, 0.5], setup=crash)
    assert ends(results) == {0: (502, 0.0, 1.0), 1: (502, 0.5, 1.0)}
    assert engine.db.connections == 0
    assert engine.db.cpu.busy == 0


def test_a_tie_is_among_the_least_loaded_only():
    from types import SimpleNamespace

    import numpy as np

    from sim.model.routing import LeastOutstanding

    targets = [SimpleNamespace(id=i, outstanding=n) for i, n in enumerate([1, 0, 0, 2])]
    strategy = LeastOutstanding(np.random.default_rng(7))
    picks = [strategy.choose(targets).id for _ in range(1000)]
    assert set(picks) == {1, 2} and 400 <= picks.count(1) <= 600
    targets[2].outstanding = 3
    assert {strategy.choose(targets).id for _ in range(20)} == {1}


def test_a_worker_killed_after_its_queries_is_counted_as_a_worker_timeout():
    s = quiet("django.queries=1", "django.cpu=0.0", "postgres.query=40.0", "gunicorn.timeout=30")
    _, results = run(s, [0.0])
    assert ends(results) == {0: (502, 0.0, 30.0)}
    last_two = [(r.layer, r.outcome) for r in results.records][-2:]
    assert last_two == [("app", "worker-timeout"), ("db", "ok")]
    assert results.summary["error_outcomes"] == {"worker-timeout": 1}


@pytest.mark.parametrize(("conn_max_age", "held_at_end"), [(600.0, 3), (0.0, 0)])
def test_gthread_holds_a_connection_per_thread_started_not_per_thread(conn_max_age, held_at_end):
    # One worker with 4 threads; three requests overlap (0.0-1.1, 0.2-1.3, 0.4-1.5), so three
    # threads start; the two later ones each find a started thread idle, the one freed last.
    s = quiet(
        "gunicorn.workers=1",
        "gunicorn.threads=4",
        "django.cpu=0.0",
        "django.queries=1",
        "postgres.vcpus=4",
        "postgres.connect_cost=0.1",
        "postgres.query=1.0",
        f"postgres.conn_max_age={conn_max_age}",
    )
    engine, results = run(s, [0.0, 0.2, 0.4, 5.0, 5.1])
    log = [(r.request, r.worker, round(r.end, 6)) for r in layer(results, "app")]
    if conn_max_age:  # kept: the later two find their thread's connection open
        assert log == [(0, 0, 1.1), (1, 1, 1.3), (2, 2, 1.5), (3, 2, 6.0), (4, 1, 6.1)]
    else:  # closed after each request: every request connects again
        assert log == [(0, 0, 1.1), (1, 1, 1.3), (2, 2, 1.5), (3, 2, 6.1), (4, 1, 6.2)]
    counters = results.run.counters
    assert counters["threads_started"] == 3  # not workers x threads = 4
    assert counters["peak_db_connections"] == 3
    assert engine.db.connections == held_at_end
    assert counters["refused_db_connections"] == 0


def test_a_connection_limit_below_the_threads_started_refuses_the_thread_without_one():
    s = quiet(
        "gunicorn.workers=1",
        "gunicorn.threads=4",
        "django.cpu=0.0",
        "django.queries=1",
        "postgres.vcpus=4",
        "postgres.connect_cost=0.1",
        "postgres.query=1.0",
        "postgres.conn_max_age=600.0",
        "postgres.max_connections=2",
    )
    engine, results = run(s, [0.0, 0.2, 0.4, 5.0, 5.1])
    assert engine.db.connections == 2  # kept by slots 0 and 1
    assert ends(results) == {
        0: (200, 0.0, 1.1),
        1: (200, 0.2, 1.3),
        2: (500, 0.4, 0.5),  # the third thread started, but the database allows two
        # The model hands out the slot freed last: 1 (at 1.3), then 0 (at 1.1), both with
        # their connection; slot 2, freed first (at 0.5) and without one, waits aside.
        3: (200, 5.0, 6.0),
        4: (200, 5.1, 6.1),
    }
    assert [r.worker for r in layer(results, "app")] == [0, 1, 2, 1, 0]
    assert results.run.counters["threads_started"] == 3
    assert results.run.counters["peak_db_connections"] == 2
    assert results.run.counters["refused_db_connections"] == 1
