"""Settings every environment shares.

Like a building's wiring diagram: the rooms (apps), the fuse box (middleware) and the water
main (the database) are the same in the show flat and the real tenancy; only a few switches
differ, and ``dev``, ``test`` and ``production`` flip those. Everything an operator may change
comes from the environment (the variables the local stack lab sets are listed in README.md,
"The demo app"); nothing here reads a file.

Generated state lives under the repository's ignored ``var/`` folder: the SQLite file
(``var/demo.sqlite3``, or ``SQLITE_PATH``) and collected static files (``var/static/``, or
``STATIC_ROOT``). ``DATABASE_URL`` (parsed by dj-database-url) selects PostgreSQL instead.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import dj_database_url

#: The repository root (``demo_app/settings/base.py`` -> three levels up).
REPO_DIR = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_DIR / "demo_app"
VAR_DIR = REPO_DIR / "var"


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no switch; anything but the usual spellings of "no" counts as yes."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list, ignoring blanks."""
    value = os.environ.get(name, "")
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or default


def database_from_env() -> dict:
    """``DATABASE_URL`` when set (PostgreSQL in the lab and CI), else the embedded SQLite file."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        sqlite_path = Path(os.environ.get("SQLITE_PATH") or VAR_DIR / "demo.sqlite3")
        url = f"sqlite:///{sqlite_path.resolve()}"
    # CONN_MAX_AGE 0 is Django's default: one connection per request, the cost the model's
    # PostgreSQL layer charges (sim/FACTS.md, "Django and PostgreSQL"). CONN_MAX_AGE=N keeps
    # each thread's connection N seconds (the stack lab's connections experiment).
    conn_max_age = conn_max_age_from_env()
    try:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age)
    except ValueError as error:  # an unknown scheme or a malformed address
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"DATABASE_URL={url!r} is not a database address; use postgres://USER@HOST:PORT/NAME"
            " or sqlite:////absolute/path.sqlite3"
        ) from error
    if config["ENGINE"] == "django.db.backends.postgresql":
        # A dead server must turn into a quick 503, not a worker stuck until Gunicorn's timeout.
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
        # pg_stat_activity names the instance each connection belongs to.
        name = os.environ.get("INSTANCE_NAME") or socket.gethostname()
        config["OPTIONS"].setdefault("application_name", name[:63])
    return config


#: The longest CONN_MAX_AGE the environment may ask for: a day.
CONN_MAX_AGE_LIMIT = 86400


def conn_max_age_from_env() -> int | None:
    """``CONN_MAX_AGE`` from the environment: seconds a thread keeps its database connection
    (0, the default: one per request), or ``none``: kept for ever (Django's ``None``)."""
    text = (os.environ.get("CONN_MAX_AGE") or "").strip()
    if not text:
        return 0
    if text.lower() == "none":
        return None
    if text.isdigit() and int(text) <= CONN_MAX_AGE_LIMIT:
        return int(text)
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"CONN_MAX_AGE={text!r} is not a connection age: use a whole number of seconds from 0"
        f" to {CONN_MAX_AGE_LIMIT}, or none (keep connections for ever)"
    )


def release_of(folder: Path) -> str:
    """The release this code was shipped as: the one line of ``RELEASE`` at the root of a
    release folder (the stack lab's deploy writes it), or ``dev`` in a checkout. Kept to
    header-safe characters: it goes out in every response's ``X-Release``."""
    try:
        text = (folder / "RELEASE").read_text().strip()
    except OSError:
        return "dev"
    return re.sub(r"[^\w.+-]", "_", text)[:64] or "dev"


INSTANCE_NAME = os.environ.get("INSTANCE_NAME") or socket.gethostname()
#: Which release answered: the ``X-Release`` header, the pages' footer, nginx's access log.
RELEASE = release_of(REPO_DIR)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["quorum.us", "www.quorum.us", "localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so runserver also serves static through WhiteNoise.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "demo_app.tracker",
    "demo_app.tracing",
    "demo_app.ops",
]

#: The trace middleware sits outermost so its clock covers every other middleware.
#: ``TRACE_MIDDLEWARE=0`` removes it (``make bench`` measures its cost that way).
TRACE_MIDDLEWARE = env_bool("TRACE_MIDDLEWARE", True)
MIDDLEWARE = [
    *(["demo_app.tracing.middleware.TraceMiddleware"] if TRACE_MIDDLEWARE else []),
    "demo_app.ops.release.ReleaseMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_app.urls"
WSGI_APPLICATION = "demo_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo_app.ops.context_processors.instance",
            ],
        },
    },
]

DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or VAR_DIR / "static")
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed names: WhiteNoise can then tell browsers to cache them forever.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

#: /calibrate/ lets anyone spend up to 2 s of CPU and 65 s of a worker per request: on for a
#: developer and in the stack lab, off in production settings unless CALIBRATION_ENDPOINT=1.
CALIBRATION_ENDPOINT = env_bool("CALIBRATION_ENDPOINT", True)
#: A calibration request asking for more than this (cpu_ms + sleep_ms) is slow: each instance
#: runs at most CALIBRATION_SLOW_LIMIT of those at once (a lock file each in
#: CALIBRATION_LOCK_DIR), so they can never hold every worker; one more gets 429.
CALIBRATION_SLOW_MS = 1000
CALIBRATION_SLOW_LIMIT = 1
CALIBRATION_LOCK_DIR = Path(os.environ.get("CALIBRATION_LOCK_DIR") or VAR_DIR / "locks")

#: The demo admin account ``prepare_demo`` creates and prints at start-up. The password in the
#: README is public, so production settings refuse it and take one only from the environment.
PUBLISHED_DEMO_ADMIN_PASSWORD = "quorum-demo-2026"
DEMO_ADMIN_USER = os.environ.get("DEMO_ADMIN_USER") or "demo"
DEMO_ADMIN_PASSWORD = os.environ.get("DEMO_ADMIN_PASSWORD") or PUBLISHED_DEMO_ADMIN_PASSWORD
DEMO_ADMIN_PUBLISHED_PASSWORD_ALLOWED = True

# A bad Host header or a request during a database outage is one line; a bug keeps its
# traceback (demo_app/ops/logs.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "concise": {
            "class": "demo_app.ops.logs.ConciseFormatter",
            "format": "%(levelname)s %(name)s: %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "concise"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

#: A failed CSRF check gets the app's own 403 (JSON under /api/), not Django's plain page.
CSRF_FAILURE_VIEW = "demo_app.ops.errors.csrf_failure"
