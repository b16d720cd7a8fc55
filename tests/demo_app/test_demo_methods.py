"""Read-only views declare their methods: 405 with Allow for writes (before any CSRF check),
OPTIONS with Allow and no body, HEAD like GET; a failed CSRF check is the app's own 403."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from demo_app.tracker.models import Bill, Legislator

ALLOW = "GET, HEAD, OPTIONS"
WRITES = ("post", "put", "patch", "delete")
PATHS = [
    "/",
    "/bills/",
    "/bills/{bill}/",
    "/legislators/{legislator}/",
    "/trace/",
    "/healthz",
    "/readyz",
    "/api/",
    "/api/bills/",
    "/api/bills/{bill}/",
    "/api/legislators/",
    "/api/legislators/{legislator}/",
]


def views(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_every_view_but_calibrate_and_admin_is_read_only():
    found = {
        route: getattr(view, "allowed_methods", None)
        for route, view in views(get_resolver().url_patterns)
        if not route.startswith(("admin/", "calibrate/"))
    }
    assert len(found) == len(PATHS)
    assert {route: ALLOW.split(", ") for route in found} == {
        route: list(methods or ()) for route, methods in found.items()
    }


@pytest.fixture
def path_of(seeded):
    ids = {"bill": Bill.objects.order_by("id").first().id}
    ids["legislator"] = Legislator.objects.order_by("id").first().id
    return lambda template: template.format(**ids)


@pytest.mark.parametrize("template", PATHS)
def test_writes_get_405_with_allow_before_the_csrf_check(path_of, template):
    path = path_of(template)
    client = Client(enforce_csrf_checks=True)  # as a browser without a token would
    for method in WRITES:
        response = getattr(client, method)(path)
        assert response.status_code == 405, (method, path)
        assert response.headers["Allow"] == ALLOW
        text = response.content.decode()
        if path.startswith("/api/"):
            assert "\n" not in text
            assert method.upper() in json.loads(text)["error"]
        else:
            assert 'class="error-page"' in text and "Method not allowed" in text
            assert method.upper() in text


@pytest.mark.parametrize("template", PATHS)
def test_options_lists_the_methods_with_no_body_and_head_works(client, path_of, template):
    path = path_of(template)
    options = client.options(path)
    assert options.status_code == 200
    assert options.headers["Allow"] == ALLOW
    assert options.content == b"" and options.headers["Content-Length"] == "0"
    head, get = client.head(path), client.get(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]


@pytest.mark.django_db
def test_a_form_without_its_csrf_token_gets_the_apps_403():
    response = Client(enforce_csrf_checks=True).post(
        "/admin/login/", {"username": "demo", "password": "x"}
    )
    assert response.status_code == 403
    text = response.content.decode()
    assert 'class="error-page"' in text and "Forbidden" in text
    assert "CSRF cookie not set" in text


def test_a_csrf_failure_under_the_api_is_one_line_of_json():
    view = import_string(settings.CSRF_FAILURE_VIEW)
    response = view(RequestFactory().post("/api/bills/"), reason="CSRF token missing.")
    assert response.status_code == 403
    text = response.content.decode()
    assert "\n" not in text and "CSRF token missing" in json.loads(text)["error"]
