"""Settings for pytest: production-shaped (DEBUG off, so error pages are the friendly ones),
with a fast password hasher and plain static storage, so tests need no collectstatic. On SQLite
the test database is a file, as in use, not Django's default in-memory one: closing and
reopening the connection (the per-request set-up the trace times) must really reconnect."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-not-secret-5f2d9c7a1b3e4d6f8a0c2e4b6d8f0a1c3e5b7d9f1a3c5e7b"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # files come from the app folders; nothing is collected in tests

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"demo_app_test_{os.getpid()}.sqlite3")
    }
