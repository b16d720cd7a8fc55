"""pytest-django set-up for the demo app's tests, kept to this folder.

Settings are chosen here rather than in pyproject.toml so the simulation's tests never set up
Django. ``make test`` runs this folder twice: on SQLite, then with ``DATABASE_URL`` pointing at
PostgreSQL; when that server is unreachable the second run skips with a message, except under
``CI=true``, where it fails.
"""

from __future__ import annotations

import io
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_app.settings.test")

IN_CI = os.environ.get("CI", "").lower() == "true"
HERE = Path(__file__).resolve().parent


def postgres_unreachable() -> str | None:
    """A message naming the PostgreSQL server DATABASE_URL points at, if it is unreachable."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as error:
        return f"PostgreSQL at {host}:{port} (DATABASE_URL) is unreachable: {error}"
    return None


def pytest_configure(config):
    import django

    django.setup()


def pytest_collection_modifyitems(config, items):
    problem = postgres_unreachable()
    if problem is None:
        return
    if IN_CI:
        raise pytest.UsageError(f"{problem}; CI=true, so the PostgreSQL run must not skip")
    skip = pytest.mark.skip(reason=problem)
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(skip)


@pytest.fixture
def seeded(db):
    """A small deterministic data set: 150 bills, 40 legislators (some bills with votes)."""
    from django.core.management import call_command

    call_command("seed_demo", bills=150, legislators=40, stdout=io.StringIO())


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> str:
    """STATIC_ROOT after ``collectstatic`` with the production storage (hashed, compressed)."""
    import secrets

    from demo_support import run_python

    root = tmp_path_factory.mktemp("static")
    result = run_python(
        "import sys; from demo_app.manage import main;"
        "sys.argv = ['manage.py', 'collectstatic', '--noinput', '-v0']; main()",
        {
            "DJANGO_SETTINGS_MODULE": "demo_app.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "STATIC_ROOT": str(root),
        },
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return str(root)
