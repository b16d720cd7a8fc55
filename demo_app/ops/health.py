"""Health checks, the two questions a load balancer asks.

``/healthz`` (liveness): "is the process alive?" Answers from memory, never touches the
database nor the static files, so an outage of either does not get every instance killed and
restarted. ``/readyz`` (readiness): "can it serve real pages?" Looks up the stylesheets and
scripts the pages link in the static files manifest (``collectstatic`` writes it; without it
every page fails) and runs ``SELECT 1``; the PostgreSQL connect timeout in settings (3 s)
bounds the wait for a connection, and a 2 s ``statement_timeout`` the wait on a server that
accepts connections but has stalled. Both answer JSON with 200 or 503 and name the instance and
worker; ``/readyz`` names what is missing, never the error text (which could carry host names
or settings). Django logs each 503 in one line (``demo_app/ops/logs.py``).
"""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from .methods import read_only

#: How long /readyz lets PostgreSQL take over ``SELECT 1`` before calling it not ready.
READY_STATEMENT_TIMEOUT_MS = 2000
#: The static files every page links (base.html, the trace page).
PAGE_ASSETS = ("demo_app/site.css", "demo_app/site.js", "tracing/trace.js")


def _identity() -> dict:
    return {"instance": settings.INSTANCE_NAME, "pid": os.getpid()}


def missing_static() -> str | None:
    """The first page asset the static storage cannot name, or None when all are there.

    The manifest storage raises ValueError for a name it has no entry for (no manifest at all,
    or one from before the file existed); the plain storage of dev and test never does."""
    for name in PAGE_ASSETS:
        try:
            staticfiles_storage.url(name)
        except ValueError:
            return name
    return None


def database_answers() -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # SET LOCAL: only this transaction, so the pooled connection is left as it was.
                cursor.execute("SET LOCAL statement_timeout = %s", [READY_STATEMENT_TIMEOUT_MS])
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return False
    return True


@read_only
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok", **_identity()})


@read_only
@never_cache
def readyz(request):
    started = time.perf_counter()
    static = missing_static()
    database = database_answers()
    elapsed_ms = round((time.perf_counter() - started) * 1000.0, 1)
    body = {
        "database": "ok" if database else "unreachable",
        "static": "ok" if static is None else "missing",
    }
    reasons = []
    if static is not None:
        reasons.append(f"static files not collected: no manifest entry for {static}")
    if not database:
        reasons.append("database unreachable")
    if reasons:
        body = {"status": "unavailable", **body, "reason": "; ".join(reasons), **_identity()}
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", **body, "db_ms": elapsed_ms, **_identity()})
