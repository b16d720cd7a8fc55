"""Health checks, the calibration endpoint and the error pages."""

from __future__ import annotations

import json
import logging
import sys

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
