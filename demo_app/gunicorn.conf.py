"""Gunicorn settings for the demo app, all from the environment (the stack lab sets them).

Like a restaurant's roster: how many cooks (``workers``: ``WEB_CONCURRENCY``, else 2 x cores + 1,
Gunicorn's own advice, sim/FACTS.md "Gunicorn"), which door they serve
(``GUNICORN_BIND``, else 127.0.0.1:8000), and how long an order may take before its cook is
replaced (``GUNICORN_TIMEOUT``, else 30 s). Sync workers, one request at a time each, unless
``GUNICORN_THREADS`` is above 1 (Gunicorn's default is 1): then gthread workers with that many
threads each. The model's Gunicorn layer.

The access log has one request per line, fields separated by single spaces, none containing a
space except the last (the timestamp), so ``awk '{print $6}'`` is the request time::

    remote method path status bytes seconds <pid> instance [time]
    127.0.0.1 GET /bills/ 200 10432 0.012345 <4242> web-1 [28/Nov/2026:04:20:00 +0000]

Bad settings stop the master before any worker starts, in one line and exit 2: a number that is
not a whole number in range, and Django settings that cannot load (production settings without
``SECRET_KEY``, a bad ``DATABASE_URL``), which this file imports once to check. Gunicorn itself
reads ``WEB_CONCURRENCY`` while it is imported, before this file, and stops with a traceback
when it is not a number: ``python -m demo_app.serve`` checks it first.

Run: ``python -m demo_app.serve``, or ``gunicorn -c demo_app/gunicorn.conf.py``, from anywhere.
"""

import importlib
import multiprocessing
import os
import sys
from pathlib import Path


def _stop(message: str) -> None:
    # SystemExit passes through Gunicorn's config loader, which would print a traceback for
    # any other exception.
    print(f"gunicorn.conf.py: {message}", file=sys.stderr)
    sys.exit(2)


def _env_int(name: str, default: int, low: int, high: int) -> int:
    """A whole number from the environment; a bad one stops Gunicorn with one line, exit 2."""
    text = (os.environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        _stop(f"{name}={text!r}: use a whole number from {low} to {high}")
    return value


def _check_django_settings() -> None:
    """Import the settings the workers will load, so that a missing ``SECRET_KEY`` is one line
    here rather than a traceback from every worker that boots and dies."""
    from django.core.exceptions import ImproperlyConfigured

    # wsgi.py's default, which the workers will use when the variable is unset.
    name = os.environ.get("DJANGO_SETTINGS_MODULE") or "demo_app.settings.production"
    before = set(sys.modules)
    try:
        importlib.import_module(name)
    except ImproperlyConfigured as error:
        _stop(f"{name}: {error}")
    except ImportError as error:
        _stop(f"DJANGO_SETTINGS_MODULE={name!r} cannot be imported: {error}")
    finally:
        # Forget them again: workers import the settings afresh, so a reload (HUP) reads
        # edited settings as it would without this check.
        for module in set(sys.modules) - before:
            if module.startswith("demo_app."):
                del sys.modules[module]


_repo = str(Path(__file__).resolve().parents[1])
if _repo not in sys.path:  # so "demo_app" imports whatever the working directory
    sys.path.insert(0, _repo)

wsgi_app = "demo_app.wsgi:application"
pythonpath = _repo
bind = os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"
workers = _env_int("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1, 1, 256)
timeout = _env_int("GUNICORN_TIMEOUT", 30, 1, 3600)
# Gunicorn's default is 1 thread (sync); more than 1 makes a sync worker a gthread one, whose
# pool starts its threads as concurrency needs them (sim/FACTS.md, "Gunicorn").
threads = _env_int("GUNICORN_THREADS", 1, 1, 64)
proc_name = os.environ.get("INSTANCE_NAME") or "demo_app"
_check_django_settings()  # after the numbers: the cheap checks first

accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or "-"
errorlog = os.environ.get("GUNICORN_ERROR_LOG") or "-"
access_log_format = "%(h)s %(m)s %(U)s %(s)s %(B)s %(L)s %(p)s %({x-instance}o)s %(t)s"

# Gunicorn 25+ opens a control socket at one fixed default path per user; several instances
# on one machine (the stack lab) would fight over it, and nothing here uses it.
control_socket_disable = True
