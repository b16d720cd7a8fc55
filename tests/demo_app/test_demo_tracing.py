"""The trace middleware's Server-Timing header and the X-Request-Start parser."""

from __future__ import annotations

import os
import re

import pytest
from django.db import connection
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
