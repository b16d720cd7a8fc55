"""Property: any valid scenario runs to the end without crashing, and its records make sense."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.results.files import to_json
from sim.results.records import by_request

STATUSES = {200, 500, 502, 503, 504}

durations = st.sampled_from(["constant", "exponential", "lognormal"])


@st.composite
def overrides(draw) -> list[str]:
    kind = draw(durations)
    cpu = draw(st.floats(0.001, 0.3))
    return [
        "run.duration=20",
        "run.warmup=2",
        f"arrivals.rate={draw(st.floats(0.5, 80))}",
        f"instances.count={draw(st.integers(1, 3))}",
        f"instances.vcpus={draw(st.integers(1, 4))}",
        f"gunicorn.worker_class={draw(st.sampled_from(['sync', 'gthread']))}",
        f"gunicorn.workers={draw(st.integers(1, 6))}",
        f"gunicorn.threads={draw(st.integers(1, 4))}",
        f"gunicorn.backlog={draw(st.integers(0, 50))}",
        f"gunicorn.timeout={draw(st.floats(0.05, 30))}",
        f"gunicorn.restart={draw(st.floats(0, 2))}",
        f"nginx.max_connections={draw(st.integers(1, 40))}",
        f"nginx.proxy_read_timeout={draw(st.floats(0.1, 60))}",
        f"load_balancer.surge_queue={draw(st.integers(0, 30))}",
        f"load_balancer.routing={draw(st.sampled_from(['round_robin', 'random', 'least_outstanding_requests']))}",  # noqa: E501
        f'django.cpu={{ kind = "{kind}", mean = {cpu} }}',
        f"django.queries={draw(st.integers(0, 5))}",
        f"postgres.max_connections={draw(st.integers(1, 30))}",
        f"postgres.conn_max_age={draw(st.sampled_from([0.0, 5.0, 600.0]))}",
        f"postgres.vcpus={draw(st.integers(1, 3))}",
        f"dns.clients={draw(st.integers(1, 50))}",
        f"dns.packet_loss={draw(st.floats(0, 1))}",
        f"instances.cpu_discipline={draw(st.sampled_from(['fcfs', 'ps']))}",
        f"users.enabled={draw(st.sampled_from(['false', 'true']))}",
        f"users.count={draw(st.integers(1, 40))}",
        f'users.think_time={{ kind = "{draw(durations)}", mean = {draw(st.floats(0.01, 2))} }}',
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides(), st.integers(0, 2**32 - 1))
def test_random_valid_scenarios_never_crash(sets, seed):
    s = sim.load("baseline", sets)
    result = sim.run(s, seed)
    assert result.run.counters["sent"] == result.run.counters["finished"]
    for rows in by_request(result.records).values():
        assert rows[0].status in STATUSES
        assert {r.status for r in rows} == {rows[0].status}
        total = sum(r.wait + r.service for r in rows)
        assert total == pytest.approx(max(r.end for r in rows) - rows[0].arrival, abs=1e-6)
    to_json(result.document)
