"""Production settings with nothing collected in STATIC_ROOT (no manifest): the pages fail, but
every error page is still the app's own (its stylesheet inlined), /readyz says why it is not
ready, and /healthz stays alive."""

from __future__ import annotations

import json
import secrets

from demo_support import run_python

PROBE = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
client = Client(raise_request_exception=False, HTTP_HOST="localhost")
strict = Client(enforce_csrf_checks=True, raise_request_exception=False, HTTP_HOST="localhost")
answers = {
    "500": client.get("/"),
    "400": client.get("/bills/", {"q": "a" * 300}),
    "404": client.get("/nowhere"),
    "403": strict.post("/admin/login/", {"username": "demo", "password": "x"}),
    "405": client.delete("/bills/"),
    "readyz": client.get("/readyz"),
    "healthz": client.get("/healthz"),
}
print(json.dumps({k: [r.status_code, r.content.decode()] for k, r in answers.items()}))
"""


def test_error_pages_render_without_the_static_manifest(tmp_path):
    empty = tmp_path / "static"
    empty.mkdir()
    result = run_python(
        PROBE,
        {
            "DJANGO_SETTINGS_MODULE": "demo_app.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "STATIC_ROOT": str(empty),
            "SQLITE_PATH": str(tmp_path / "demo.sqlite3"),
        },
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    for status in ("400", "500", "404", "403", "405"):
        code, html = answers[status]
        assert code == int(status), (status, html[:300])
        assert 'class="error-page"' in html and "--brand" in html  # styled, CSS inlined
        assert "/static/" not in html and "Traceback" not in html
    assert "Something went wrong" in answers["500"][1]
    code, body = answers["readyz"]
    ready = json.loads(body)
    assert code == 503 and ready["status"] == "unavailable"
    assert ready["static"] == "missing" and ready["database"] == "ok"
    assert "static files not collected" in ready["reason"]
    assert "demo_app/site.css" in ready["reason"]
    assert answers["healthz"][0] == 200


def test_readyz_is_ready_once_static_files_are_collected(tmp_path, collected_static):
    result = run_python(
        "import django; django.setup(); from django.core.management import call_command;"
        "call_command('migrate', verbosity=0); from django.test import Client;"
        "r = Client(HTTP_HOST='localhost').get('/readyz');"
        "print(r.status_code, r.content.decode())",
        {
            "DJANGO_SETTINGS_MODULE": "demo_app.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "STATIC_ROOT": collected_static,
            "SQLITE_PATH": str(tmp_path / "demo.sqlite3"),
        },
    )
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "200"
    assert json.loads(body)["static"] == "ok" and json.loads(body)["database"] == "ok"
