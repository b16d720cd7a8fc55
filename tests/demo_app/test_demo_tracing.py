"""The trace middleware's Server-Timing header, its db time (connection set-up included), the
X-Request-Start parser, and the trace page."""

from __future__ import annotations

import os
import re
import time

import pytest
from django.db import connection
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext

from demo_app.tracing.query_timer import timing_queries
from demo_app.tracing.request_start import queue_seconds, stamp_seconds
from sim.layers import LAYERS

NOW = 1_732_771_234.567


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("t=1732771234.567", 1732771234.567),
        ("1732771234.567", 1732771234.567),
        ("t=1732771234567", 1732771234.567),
        ("1732771234567000", 1732771234.567),
        ("  t=1732771234  ", 1732771234.0),
    ],
)
def test_request_start_accepts_nginx_and_plain_numbers(header, seconds):
    assert stamp_seconds(header) == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize(
    "header", [None, "", "t=", "garbage", "t=abc", "t=nan", "t=inf", "-5", "t=0", "9" * 40]
)
def test_request_start_ignores_garbage(header):
    assert queue_seconds(header, NOW) is None


def test_queue_time_is_clipped_at_zero_and_implausible_stamps_are_ignored():
    assert queue_seconds(f"t={NOW - 0.25:.3f}", NOW) == pytest.approx(0.25, abs=1e-3)
    assert queue_seconds(f"t={NOW + 0.5:.3f}", NOW) == 0.0  # small clock skew
    assert queue_seconds(f"t={NOW - 86_400:.3f}", NOW) is None
    assert queue_seconds(f"t={NOW + 86_400:.3f}", NOW) is None


def parse_server_timing(header: str) -> dict[str, dict[str, str]]:
    metrics = {}
    for part in header.split(", "):
        name, *params = part.split(";")
        metrics[name] = dict(p.split("=", 1) for p in params)
    return metrics


def test_every_response_carries_server_timing_in_layer_names(client, seeded, settings):
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/bills/")
    metrics = parse_server_timing(response.headers["Server-Timing"])
    assert set(metrics) == {"app", "db"}
    assert set(metrics) <= set(LAYERS)
    assert metrics["db"]["desc"] == f'"{len(captured.captured_queries)} queries"'
    assert float(metrics["app"]["dur"]) >= 0 and float(metrics["db"]["dur"]) >= 0
    assert response.headers["X-Instance"] == settings.INSTANCE_NAME
    assert response.headers["X-Worker-Pid"] == str(os.getpid())
    assert f"pid {os.getpid()}" in metrics["app"]["desc"]


def test_queue_metric_appears_with_x_request_start_only(client, seeded):
    import time

    stamped = client.get("/healthz", headers={"X-Request-Start": f"t={time.time() - 2:.3f}"})
    queue = parse_server_timing(stamped.headers["Server-Timing"])["queue"]
    assert float(queue["dur"]) >= 2000.0  # the stamp is two seconds old
    garbage = client.get("/healthz", headers={"X-Request-Start": "t=yesterday"})
    assert garbage.status_code == 200
    assert "queue" not in parse_server_timing(garbage.headers["Server-Timing"])


def test_error_responses_are_traced_too(client, seeded):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert re.search(r"app;dur=[0-9.]+", response.headers["Server-Timing"])


def test_query_timer_counts_orm_and_raw_queries(seeded):
    from demo_app.tracker.models import Bill

    with timing_queries() as timer:
        list(Bill.objects.all()[:3])
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    assert timer.count == 2
    assert timer.seconds > 0


def test_trace_page_hands_the_layer_vocabulary_to_the_browser(client, seeded):
    from sim.layers import TALK_SECTION

    response = client.get("/trace/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="trace-layers"' in html
    for name in LAYERS:
        assert f'"name": "{name}"' in html
        assert TALK_SECTION[name] in html
    assert "tracing/trace.js" in html
    assert "no-cache" in response.headers["Cache-Control"]


SET_UP_DELAY = 0.05  # seconds added to connection set-up, a floor the db time must cover


def slow_set_up(sender, connection, **kwargs):
    time.sleep(SET_UP_DELAY)


@pytest.fixture
def slower_connections():
    """Connection set-up that takes at least SET_UP_DELAY: Django sends connection_created from
    inside connect(), so the delay is part of opening the connection, whatever the database."""
    connection_created.connect(slow_set_up, dispatch_uid="slow_set_up")
    yield
    connection_created.disconnect(dispatch_uid="slow_set_up")


@pytest.mark.django_db(transaction=True)  # so the connection may really close in between
def test_connection_set_up_is_db_time_not_app_time(client, slower_connections):
    connection.close()  # as CONN_MAX_AGE = 0 leaves it between requests
    started = time.perf_counter()
    response = client.get("/api/bills/")
    wall_ms = (time.perf_counter() - started) * 1000.0
    assert response.status_code == 200
    timer = response.wsgi_request.query_timer
    assert timer.connects == 1 and timer.count >= 1
    assert timer.connect_seconds >= SET_UP_DELAY
    metrics = parse_server_timing(response.headers["Server-Timing"])
    assert metrics["db"]["desc"] == f'"connect + {timer.count} queries"'
    db_ms, app_ms = float(metrics["db"]["dur"]), float(metrics["app"]["dur"])
    assert db_ms == pytest.approx(timer.ms, abs=0.06)  # the header rounds to 0.1 ms
    assert db_ms >= SET_UP_DELAY * 1000.0  # the set-up is in db...
    assert app_ms + db_ms <= wall_ms + 0.2  # ...and app is the rest, not counting it twice

    again = client.get("/api/bills/")  # the connection is open now: nothing to set up
    assert again.wsgi_request.query_timer.connects == 0
    desc = parse_server_timing(again.headers["Server-Timing"])["db"]["desc"]
    assert desc == f'"{again.wsgi_request.query_timer.count} queries"'


@pytest.mark.django_db(transaction=True)
def test_nested_timers_both_count_the_connection(slower_connections):
    from demo_app.tracker.models import Bill

    connection.close()
    with timing_queries() as outer:
        with timing_queries() as inner:
            list(Bill.objects.all()[:1])
        list(Bill.objects.all()[:1])
    assert (inner.connects, inner.count) == (1, 1)
    assert (outer.connects, outer.count) == (1, 2)
    assert min(outer.connect_seconds, inner.connect_seconds) >= SET_UP_DELAY
    assert "connect" not in connection.__dict__  # the method is no longer shadowed


def test_trace_page_names_the_database_it_used(client, seeded):
    html = client.get("/trace/").content.decode()
    shown = re.search(r'<strong id="database">([^<]+)</strong>', html).group(1)
    if connection.vendor == "postgresql":
        major = connection.pg_version // 10000
        assert shown == f"PostgreSQL {major} ({connection.settings_dict['NAME']})"
        assert connection.settings_dict["NAME"].startswith("test_")  # pytest-django's copy
    else:
        import sqlite3

        assert shown == f"SQLite {sqlite3.sqlite_version}"
