"""Health checks, the calibration endpoint and the error pages."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import sys
import time

import pytest
from django.core.exceptions import DisallowedHost
from django.db import OperationalError

from demo_app.ops.logs import ConciseFormatter


@pytest.mark.django_db
def test_healthz_answers_without_the_database(client, django_assert_num_queries, settings):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["instance"] == settings.INSTANCE_NAME


@pytest.mark.django_db
def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_calibrate_runs_the_requested_queries(client):
    response = client.get("/calibrate/", {"cpu_ms": "5", "queries": "7", "sleep_ms": "1"})
    assert response.status_code == 200
    body = response.json()
    assert body["requested"] == {"cpu_ms": 5, "queries": 7, "sleep_ms": 1}
    assert "db;dur=" in response.headers["Server-Timing"]
    assert '"7 queries"' in response.headers["Server-Timing"]
    assert body["measured"]["cpu_ms"] > 0


@pytest.mark.django_db
def test_calibrate_is_not_found_when_switched_off(client, settings):
    settings.CALIBRATION_ENDPOINT = False
    response = client.get("/calibrate/", {"cpu_ms": "500"})
    assert response.status_code == 404
    assert "cpu_ms" not in response.content.decode()


@pytest.mark.parametrize(
    ("query", "name", "allowed"),
    [
        ({"cpu_ms": "2001"}, "cpu_ms", "0..2000"),
        ({"cpu_ms": "-1"}, "cpu_ms", "0..2000"),
        ({"cpu_ms": "abc"}, "cpu_ms", "0..2000"),
        ({"queries": "101"}, "queries", "0..100"),
        ({"queries": "1.5"}, "queries", "0..100"),
        ({"sleep_ms": "65001"}, "sleep_ms", "0..65000"),
        ({"sleep_ms": "9" * 5000}, "sleep_ms", "0..65000"),
    ],
)
def test_calibrate_refuses_out_of_bounds_with_one_line_json(client, query, name, allowed):
    response = client.get("/calibrate/", query)
    assert response.status_code == 400
    text = response.content.decode()
    assert "\n" not in text and len(text) < 200
    error = json.loads(text)["error"]
    assert error.startswith(name) and allowed in error


@pytest.mark.urls("urls_boom")
def test_an_unexpected_error_gets_the_friendly_500(client):
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "Traceback" not in html and "RuntimeError" not in html and "kaboom" not in html


def record(name: str, error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except type(error):
        return logging.LogRecord(
            name, logging.ERROR, __file__, 1, "Boom: %s", ("/x/",), sys.exc_info()
        )


@pytest.mark.parametrize(
    ("name", "error", "one_line"),
    [
        ("django.security.DisallowedHost", DisallowedHost("Invalid HTTP_HOST header"), True),
        ("django.request", OperationalError("connection refused\nmore"), True),
        ("django.request", RuntimeError("a bug"), False),
    ],
)
def test_the_log_is_one_line_for_expected_trouble_and_a_traceback_for_a_bug(name, error, one_line):
    formatted = ConciseFormatter("%(levelname)s %(name)s: %(message)s").format(record(name, error))
    assert formatted.startswith(f"ERROR {name}: Boom: /x/")
    assert ("\n" not in formatted) == one_line
    assert ("Traceback" in formatted) != one_line


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch", "options"])
def test_calibrate_answers_only_get_and_head(client, method):
    # Even a request that would burn the most CPU is refused before anything runs.
    response = getattr(client, method)("/calibrate/?cpu_ms=2000&queries=100")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    body = response.json()
    assert "measured" not in body and method.upper() in body["error"]


@pytest.mark.django_db
def test_calibrate_answers_head(client):
    assert client.head("/calibrate/", {"cpu_ms": "1"}).status_code == 200


def test_a_post_to_a_switched_off_endpoint_is_still_not_found(client, settings):
    settings.CALIBRATION_ENDPOINT = False
    assert client.post("/calibrate/").status_code == 404


NOW = 1_800_000_000.0


@pytest.fixture
def slow_limit(settings, tmp_path, monkeypatch):
    """Slots in a temporary folder; over 20 ms counts as slow, so the tests stay quick; the
    wall clock stands still, so Retry-After is exact."""
    settings.CALIBRATION_LOCK_DIR = tmp_path
    settings.CALIBRATION_SLOW_MS = 20
    settings.CALIBRATION_SLOW_LIMIT = 1
    monkeypatch.setattr(time, "time", lambda: NOW)
    return tmp_path


@contextlib.contextmanager
def slot_taken(index: int = 0, ends_in: float = 7.2):
    """Hold one slot as another worker process of the instance would: its own lock on the file."""
    from demo_app.ops.calibrate import slot_path

    path = slot_path(index)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write(f"{NOW + ends_in:.3f}\n")
        held.flush()
        yield path


@pytest.mark.django_db
def test_a_slow_request_beyond_the_limit_gets_429_and_quick_ones_still_run(client, slow_limit):
    with slot_taken(ends_in=7.2):
        refused = client.get("/calibrate/", {"sleep_ms": "30"})
        quick = client.get("/calibrate/", {"sleep_ms": "20"})  # not over the threshold
    assert refused.status_code == 429
    assert refused["Retry-After"] == "8"  # the holder's end, rounded up
    body = refused.json()
    assert (body["limit"], body["slow_ms"]) == (1, 20)
    assert "at most 1 slow calibration request(s)" in body["error"] and "measured" not in body
    assert quick.status_code == 200
    # The holder is gone: the slot is free again, and freed again after each request.
    for _ in range(2):
        assert client.get("/calibrate/", {"sleep_ms": "30"}).status_code == 200


@pytest.mark.django_db
def test_the_limit_counts_slots_not_requests(client, slow_limit, settings):
    settings.CALIBRATION_SLOW_LIMIT = 2
    with slot_taken(0):
        assert client.get("/calibrate/", {"cpu_ms": "25"}).status_code == 200
        with slot_taken(1, ends_in=0.2):
            refused = client.get("/calibrate/", {"cpu_ms": "25"})
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"  # the nearest end, at least 1 s
    assert refused.json()["limit"] == 2
