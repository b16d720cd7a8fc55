"""The demo admin account: the published login under dev settings; under production settings
only a password from DEMO_ADMIN_PASSWORD, never the published one, and none without it."""

from __future__ import annotations

import json
import secrets

import pytest
from demo_support import run_python

PUBLISHED = "quorum-demo-2026"
ACCOUNT = """
import json, django
django.setup()
from django.contrib.auth import get_user_model
user = get_user_model().objects.filter(username="demo").first()
print(json.dumps(None if user is None else {
    "usable": user.has_usable_password(), "staff": user.is_staff,
    "published": user.check_password("quorum-demo-2026"),
    "env": user.check_password(__import__("os").environ.get("DEMO_ADMIN_PASSWORD") or "-")}))
"""


def prepare(tmp_path, settings: str, **env: str):
    base = {
        "DJANGO_SETTINGS_MODULE": f"demo_app.settings.{settings}",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SQLITE_PATH": str(tmp_path / "demo.sqlite3"),
        "DEMO_ADMIN_PASSWORD": "",
        **env,
    }
    done = run_python(
        "import sys; from demo_app.manage import main;"
        "sys.argv = ['manage.py', 'prepare_demo', '--bills', '0', '--no-static']; main()",
        base,
        timeout=120,
    )
    account = run_python(ACCOUNT, base) if (tmp_path / "demo.sqlite3").exists() else None
    return done, account and json.loads(account.stdout.splitlines()[-1])


def test_dev_settings_print_the_published_login(tmp_path):
    done, account = prepare(tmp_path, "dev")
    assert done.returncode == 0, done.stderr
    assert f"login demo / {PUBLISHED}" in done.stdout
    assert account["published"] and account["staff"]


def test_production_without_a_password_makes_no_admin_and_says_so(tmp_path):
    done, account = prepare(tmp_path, "production")
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stdout.splitlines() if "no admin account" in line]
    assert said == [
        "prepare_demo: no admin account: production settings need DEMO_ADMIN_PASSWORD in the"
        " environment"
    ]
    assert account is None
    assert PUBLISHED not in done.stdout


def test_production_locks_an_account_left_with_the_published_password(tmp_path):
    prepare(tmp_path, "dev")
    done, account = prepare(tmp_path, "production")
    assert done.returncode == 0, done.stderr
    assert "(the account 'demo' had the published password and is locked)" in done.stdout
    assert account == {"usable": False, "staff": True, "published": False, "env": False}


def test_production_takes_the_password_from_the_environment_and_never_prints_it(tmp_path):
    password = "lab-" + secrets.token_urlsafe(12)
    done, account = prepare(tmp_path, "production", DEMO_ADMIN_PASSWORD=password)
    assert done.returncode == 0, done.stderr
    assert "login demo / the password in DEMO_ADMIN_PASSWORD" in done.stdout
    assert password not in done.stdout + done.stderr
    assert account == {"usable": True, "staff": True, "published": False, "env": True}


@pytest.mark.parametrize(
    ("password", "says"),
    [
        (PUBLISHED, "DEMO_ADMIN_PASSWORD is the published demo password;"),
        ("12345", "DEMO_ADMIN_PASSWORD is refused: This password is too short."),
    ],
)
def test_production_refuses_a_known_or_weak_password_before_changing_anything(
    tmp_path, password, says
):
    done, _ = prepare(tmp_path, "production", DEMO_ADMIN_PASSWORD=password)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"CommandError: {says}"), done.stderr
    assert password not in done.stderr
    assert not (tmp_path / "demo.sqlite3").exists()  # refused before migrating
