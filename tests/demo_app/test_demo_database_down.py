"""With the database gone, pages answer a friendly 503, /readyz 503, /healthz 200, nothing
leaks a traceback, a setting or the database address, and each failed request logs one line.

Runs the production settings in a subprocess so the outage is real: PostgreSQL on a closed
port (connection refused), or an SQLite file in a folder that does not exist.
"""

from __future__ import annotations

import json
import secrets

import pytest
from demo_support import free_port, run_python

PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False, HTTP_HOST="localhost")
out = {}
for path in ["/", "/bills/", "/bills/1/?fixed=1", "/legislators/1/", "/trace/", "/api/bills/",
             "/readyz", "/healthz", "/calibrate/?queries=1"]:
    response = client.get(path)
    out[path] = [response.status_code, response.content.decode(), dict(response.headers)]
print(json.dumps(out))
"""


@pytest.mark.parametrize("static", ["collected", "missing"])
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_database_down_means_503_without_leaks(backend, static, tmp_path, collected_static):
    key = secrets.token_urlsafe(50)
    port = free_port()
    db_env = (
        {"DATABASE_URL": f"postgres://postgres:hunter2@127.0.0.1:{port}/quorum"}
        if backend == "postgresql"
        else {"SQLITE_PATH": str(tmp_path / "nosuchdir" / "demo.sqlite3")}
    )
    result = run_python(
        PROBE,
        {
            "DJANGO_SETTINGS_MODULE": "demo_app.settings.production",
            "SECRET_KEY": key,
            "STATIC_ROOT": collected_static if static == "collected" else str(tmp_path),
            "CALIBRATION_ENDPOINT": "1",
            **db_env,
        },
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.splitlines()[-1])
    for path, (status, body, headers) in answers.items():
        expected = 200 if path == "/healthz" else 503
        assert status == expected, (path, status, body[:200])
        for secret in (key, "Traceback", "OperationalError", "hunter2", str(port), "nosuchdir"):
            assert secret not in body, (path, secret)
            assert all(secret not in v for v in headers.values()), (path, secret)
    assert "Temporarily unavailable" in answers["/bills/"][1]
    assert answers["/bills/"][2]["Retry-After"] == "30"
    assert json.loads(answers["/readyz"][1])["status"] == "unavailable"
    assert "error" in json.loads(answers["/api/bills/"][1])
    # One line on stderr for each request that failed, naming its path; no traceback.
    lines = result.stderr.strip().splitlines()
    failed = [path for path in answers if path != "/healthz"]
    assert len(lines) == len(failed), result.stderr
    for path, line in zip(failed, lines, strict=True):
        assert line.startswith(f"ERROR django.request: Service Unavailable: {path.split('?')[0]}")
    assert "Traceback" not in result.stderr
