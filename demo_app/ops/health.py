"""Health checks, the two questions a load balancer asks.

``/healthz`` (liveness): "is the process alive?" Answers from memory, never touches the
database, so a database outage does not get every instance killed and restarted.
``/readyz`` (readiness): "can it serve real pages?" Runs ``SELECT 1``; the PostgreSQL connect
timeout in settings (3 s) bounds the wait for a connection, and a 2 s ``statement_timeout``
the wait on a server that accepts connections but has stalled. Both answer JSON with 200 or
503 and name the instance and worker, never the error text (which could carry host names or
settings).
"""

from __future__ import annotations

import logging
import os
import time

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

log = logging.getLogger(__name__)

#: How long /readyz lets PostgreSQL take over ``SELECT 1`` before calling it not ready.
READY_STATEMENT_TIMEOUT_MS = 2000


def _identity() -> dict:
    return {"instance": settings.INSTANCE_NAME, "pid": os.getpid()}


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok", **_identity()})


@never_cache
def readyz(request):
    started = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # SET LOCAL: only this transaction, so the pooled connection is left as it was.
                cursor.execute("SET LOCAL statement_timeout = %s", [READY_STATEMENT_TIMEOUT_MS])
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        log.warning("readyz: database unreachable: %s", type(error).__name__)
        return JsonResponse(
            {"status": "unavailable", "database": "unreachable", **_identity()}, status=503
        )
    elapsed_ms = round((time.perf_counter() - started) * 1000.0, 1)
    return JsonResponse({"status": "ok", "database": "ok", "db_ms": elapsed_ms, **_identity()})
