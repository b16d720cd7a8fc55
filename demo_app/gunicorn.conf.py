"""Gunicorn settings for the demo app, all from the environment (the stack lab sets them).

Like a restaurant's roster: how many cooks (``workers``: ``WEB_CONCURRENCY``, else 2 x cores + 1,
Gunicorn's own advice, ../shared/design/MODEL_FACTS.md "Gunicorn"), which door they serve
(``GUNICORN_BIND``, else 127.0.0.1:8000), and how long an order may take before its cook is
replaced (``GUNICORN_TIMEOUT``, else 30 s). Sync workers, one request at a time each: the
model's Gunicorn layer.

The access log has one request per line, fields separated by single spaces, none containing a
space except the last (the timestamp), so ``awk '{print $6}'`` is the request time::

    remote method path status bytes seconds <pid> instance [time]
    127.0.0.1 GET /bills/ 200 10432 0.012345 <4242> web-1 [28/Nov/2026:04:20:00 +0000]

Run: ``gunicorn -c demo_app/gunicorn.conf.py`` from the repository root.
"""

import multiprocessing
import os
import sys
from pathlib import Path


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
        # SystemExit passes through Gunicorn's config loader, which would print a traceback
        # for any other exception.
        print(
            f"gunicorn.conf.py: {name}={text!r}: use a whole number from {low} to {high}",
            file=sys.stderr,
        )
        sys.exit(2)
    return value


_repo = str(Path(__file__).resolve().parents[1])
if _repo not in sys.path:  # so "demo_app" imports whatever the working directory
    sys.path.insert(0, _repo)

wsgi_app = "demo_app.wsgi:application"
pythonpath = _repo
bind = os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"
workers = _env_int("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1, 1, 256)
timeout = _env_int("GUNICORN_TIMEOUT", 30, 1, 3600)
proc_name = os.environ.get("INSTANCE_NAME") or "demo_app"

accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or "-"
errorlog = os.environ.get("GUNICORN_ERROR_LOG") or "-"
access_log_format = "%(h)s %(m)s %(U)s %(s)s %(B)s %(L)s %(p)s %({x-instance}o)s %(t)s"

# Gunicorn 25+ opens a control socket at one fixed default path per user; several instances
# on one machine (the stack lab) would fight over it, and nothing here uses it.
control_socket_disable = True
