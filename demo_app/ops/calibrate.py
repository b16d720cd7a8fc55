"""``/calibrate/``: a request whose cost you choose, to measure the real service time.

Like a treadmill with a speed dial: ``?cpu_ms=N&queries=K&sleep_ms=S`` burns ``N`` ms of this
thread's CPU time, runs ``K`` trivial queries (``SELECT 1``, so the cost is the round trip, not
the query plan) and sleeps ``S`` ms (waiting on I/O without using the CPU). The simulation's
service-time model can then be checked against what Gunicorn and Django really do under load.
CPU is counted with ``time.thread_time``: when workers outnumber cores, a request of 50 ms CPU
takes longer than 50 ms of wall time, which is the contention the model must reproduce.

Bounds keep it safe: ``cpu_ms`` 0..2000, ``queries`` 0..100, ``sleep_ms`` 0..65000 (past
Gunicorn's 30 s timeout on purpose, so a drill can watch a worker being killed). Anything else
gets a 400 with a one-line JSON error naming the parameter and its allowed range. Production
settings answer 404 here unless ``CALIBRATION_ENDPOINT=1`` (the stack lab sets it): an endpoint
that burns CPU on request is not for the open internet.
"""

from __future__ import annotations

import hashlib
import os
import time

from django.conf import settings
from django.db import connection
from django.http import Http404, JsonResponse
from django.views.decorators.cache import never_cache

BOUNDS = {"cpu_ms": (0, 2000), "queries": (0, 100), "sleep_ms": (0, 65000)}


class BadParameter(ValueError):
    pass


def parse_bounded(query, name: str) -> int:
    low, high = BOUNDS[name]
    raw = query.get(name, "0")
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise BadParameter(f"{name} must be an integer in {low}..{high}, got {shown!r}")
    return value


def burn_cpu(ms: int) -> None:
    deadline = time.thread_time() + ms / 1000.0
    block = b"quorum" * 64
    while time.thread_time() < deadline:
        for _ in range(50):
            block = hashlib.sha256(block).digest() * 12


@never_cache
def calibrate(request):
    if not settings.CALIBRATION_ENDPOINT:
        raise Http404("the calibration endpoint is off (CALIBRATION_ENDPOINT=1 turns it on)")
    try:
        cpu_ms, queries, sleep_ms = (parse_bounded(request.GET, n) for n in BOUNDS)
    except BadParameter as error:
        return JsonResponse({"error": str(error)}, status=400)
    wall_started = time.perf_counter()
    cpu_started = time.thread_time()
    burn_cpu(cpu_ms)
    cpu_used = time.thread_time() - cpu_started
    if queries:
        with connection.cursor() as cursor:
            for _ in range(queries):
                cursor.execute("SELECT 1")
                cursor.fetchone()
    if sleep_ms:
        time.sleep(sleep_ms / 1000.0)
    return JsonResponse(
        {
            "requested": {"cpu_ms": cpu_ms, "queries": queries, "sleep_ms": sleep_ms},
            "measured": {
                "cpu_ms": round(cpu_used * 1000.0, 2),
                "wall_ms": round((time.perf_counter() - wall_started) * 1000.0, 2),
            },
            "instance": settings.INSTANCE_NAME,
            "pid": os.getpid(),
        }
    )
