"""Django's own checks, as CI runs them, and what each settings module promises."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest
from demo_support import REPO, free_port, run_python
from django.core.management import call_command

STRONG_KEY = secrets.token_urlsafe(50)

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({"DEBUG": s.DEBUG, "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "PROXY": s.SECURE_PROXY_SSL_HEADER, "MIDDLEWARE": s.MIDDLEWARE,
    "ENGINE": s.DATABASES["default"]["ENGINE"], "NAME": str(s.DATABASES["default"]["NAME"]),
    "STATIC_ROOT": str(s.STATIC_ROOT), "CALIBRATION": s.CALIBRATION_ENDPOINT}))
"""


def settings_under(env: dict[str, str]) -> dict:
    result = run_python(SHOW_SETTINGS, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_manage_py_check_passes():
    call_command("check", fail_level="WARNING")


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)


def test_check_deploy_passes_with_production_settings():
    result = run_python(
        "import sys; sys.argv = ['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'];"
        "from demo_app.manage import main; main()",
        {"DJANGO_SETTINGS_MODULE": "demo_app.settings.production", "SECRET_KEY": STRONG_KEY},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = run_python(
        "import sys; sys.argv = ['manage.py', 'check']; from demo_app.manage import main; main()",
        {"DJANGO_SETTINGS_MODULE": "demo_app.settings.production", "SECRET_KEY": ""},
    )
    assert result.returncode == 2
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_defaults():
    seen = settings_under(
        {"DJANGO_SETTINGS_MODULE": "demo_app.settings.production", "SECRET_KEY": STRONG_KEY}
    )
    assert seen["DEBUG"] is False
    assert {"quorum.us", "www.quorum.us", "localhost", "127.0.0.1"} <= set(seen["ALLOWED_HOSTS"])
    assert seen["PROXY"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert seen["MIDDLEWARE"][0] == "demo_app.tracing.middleware.TraceMiddleware"
    assert seen["CALIBRATION"] is False  # no CPU-burning endpoint on the open internet


@pytest.mark.parametrize(
    ("env", "engine"),
    [
        ({}, "django.db.backends.sqlite3"),
        ({"DATABASE_URL": "postgres://u@db.example:5432/quorum"}, "django.db.backends.postgresql"),
    ],
)
def test_database_url_selects_the_engine(env, engine):
    seen = settings_under({"DJANGO_SETTINGS_MODULE": "demo_app.settings.dev", **env})
    assert seen["ENGINE"] == engine
    if not env:
        assert seen["NAME"].endswith("var/demo.sqlite3")


def test_env_overrides_for_the_lab(tmp_path):
    seen = settings_under(
        {
            "DJANGO_SETTINGS_MODULE": "demo_app.settings.production",
            "SECRET_KEY": STRONG_KEY,
            "ALLOWED_HOSTS": "a.example, b.example",
            "SQLITE_PATH": str(tmp_path / "x.sqlite3"),
            "STATIC_ROOT": str(tmp_path / "static"),
            "TRACE_MIDDLEWARE": "0",
        }
    )
    assert seen["ALLOWED_HOSTS"] == ["a.example", "b.example"]
    assert seen["NAME"] == str(tmp_path / "x.sqlite3")
    assert seen["STATIC_ROOT"] == str(tmp_path / "static")
    assert "demo_app.tracing.middleware.TraceMiddleware" not in seen["MIDDLEWARE"]


def test_manage_py_runs_as_a_script_from_anywhere(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "demo_app" / "manage.py"), "check"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "demo_app.settings.dev"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_python(
        f"import sys; sys.argv = ['manage.py', *{args!r}];"
        " from demo_app.manage import main; main()",
        {"DJANGO_SETTINGS_MODULE": "demo_app.settings.dev", **env},
    )


CONN_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({"CONN_MAX_AGE": db["CONN_MAX_AGE"], "OPTIONS": db.get("OPTIONS", {})}))
"""


@pytest.mark.parametrize(("value", "expected"), [("", 0), ("600", 600), ("none", None)])
def test_conn_max_age_comes_from_the_environment(value, expected):
    env = {"DJANGO_SETTINGS_MODULE": "demo_app.settings.dev", "CONN_MAX_AGE": value}
    result = run_python(CONN_SETTINGS, env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["CONN_MAX_AGE"] == expected


def test_postgresql_connections_carry_the_instance_name():
    env = {
        "DJANGO_SETTINGS_MODULE": "demo_app.settings.dev",
        "DATABASE_URL": "postgres://u@db.example:5432/quorum",
        "INSTANCE_NAME": "web-3",
    }
    result = run_python(CONN_SETTINGS, env)
    assert result.returncode == 0, result.stderr
    # pg_stat_activity's application_name: the lab counts each instance's connections by it.
    assert json.loads(result.stdout)["OPTIONS"]["application_name"] == "web-3"


@pytest.mark.parametrize("value", ["forever", "-1", "86401"])
def test_a_bad_conn_max_age_is_one_line(value):
    result = manage(["check"], {"CONN_MAX_AGE": value})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"manage.py: configuration error: CONN_MAX_AGE={value!r} is not a connection age: use"
        " a whole number of seconds from 0 to 86400, or none (keep connections for ever)"
    ]


def test_a_database_url_of_no_known_kind_is_one_line():
    result = manage(["check"], {"DATABASE_URL": "mongo://db.example/quorum"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "manage.py: configuration error: DATABASE_URL='mongo://db.example/quorum' is not a"
        " database address; use postgres://USER@HOST:PORT/NAME or"
        " sqlite:////absolute/path.sqlite3"
    ]


def test_an_unreachable_database_is_one_line_naming_it(tmp_path):
    # A port nothing listens on: PostgreSQL refuses the connection at once.
    port = free_port()
    result = manage(
        ["prepare_demo", "--no-static"], {"DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/x"}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("manage.py: cannot use the database 'x' (postgresql): ")
    assert str(port) in lines[0]


def test_prepare_demo_refuses_a_negative_bill_count(tmp_path):
    result = manage(["prepare_demo", "--bills", "-5"], {"SQLITE_PATH": str(tmp_path / "d.sqlite3")})
    assert result.returncode != 0
    assert "-5 is outside the allowed 0..200000" in result.stderr
    assert not (tmp_path / "d.sqlite3").exists()
