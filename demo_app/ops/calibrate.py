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

It cannot take the site down: a *slow* request (``cpu_ms + sleep_ms`` over
``CALIBRATION_SLOW_MS``, 1000) needs one of the instance's ``CALIBRATION_SLOW_LIMIT`` (1) slots,
so the other workers stay free for real pages; with every slot taken it gets 429 at once, with
``Retry-After`` (when the running one should end) and a one-line JSON error naming the limit.
A slot is a lock file per instance (``CALIBRATION_LOCK_DIR/<instance>.slow-<n>.lock``) held with
``flock`` for the request's lifetime: the lock counts across the instance's worker processes, and
the kernel drops it when its holder exits, even killed by Gunicorn's timeout, so a slot is never
left taken. Only GET and HEAD are answered (405 with ``Allow`` otherwise, before anything runs).
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import re
import time
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import Http404, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

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


ALLOWED_METHODS = ("GET", "HEAD")


def slot_path(index: int) -> Path:
    """The lock file of this instance's slot ``index`` for slow requests."""
    instance = re.sub(r"[^\w.\-]", "_", settings.INSTANCE_NAME)
    return Path(settings.CALIBRATION_LOCK_DIR) / f"{instance}.slow-{index}.lock"


def take_slot(ends_at: float) -> int | None:
    """A free slot's locked file descriptor (closing it frees the slot), or None if all are
    taken. The holder writes when it expects to end, for the others' ``Retry-After``."""
    for index in range(settings.CALIBRATION_SLOW_LIMIT):
        path = slot_path(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{ends_at:.3f}\n".encode(), 0)
        return fd
    return None


def seconds_until_a_slot_frees(now: float) -> int:
    """Whole seconds until the first running slow request should end (at least 1)."""
    ends = []
    for index in range(settings.CALIBRATION_SLOW_LIMIT):
        try:
            ends.append(float(slot_path(index).read_text()))
        except (OSError, ValueError):  # being rewritten by a new holder: skip it
            continue
    return max(1, math.ceil(min(ends) - now)) if ends else 1


def too_many_slow() -> JsonResponse:
    limit, slow_ms = settings.CALIBRATION_SLOW_LIMIT, settings.CALIBRATION_SLOW_MS
    retry = seconds_until_a_slot_frees(time.time())
    response = JsonResponse(
        {
            "error": (
                f"at most {limit} slow calibration request(s) (cpu_ms + sleep_ms over {slow_ms})"
                f" at a time on {settings.INSTANCE_NAME}, and it is taken: retry after {retry} s"
            ),
            "limit": limit,
            "slow_ms": slow_ms,
            "instance": settings.INSTANCE_NAME,
        },
        status=429,
    )
    response["Retry-After"] = str(retry)
    return response


# Exempt from CSRF so that a POST meets the 405 below (nothing here accepts a form).
@csrf_exempt
@never_cache
def calibrate(request):
    if not settings.CALIBRATION_ENDPOINT:
        raise Http404("the calibration endpoint is off (CALIBRATION_ENDPOINT=1 turns it on)")
    if request.method not in ALLOWED_METHODS:
        response = JsonResponse(
            {"error": f"method {request.method} is not allowed here: use GET or HEAD"},
            status=405,
        )
        response["Allow"] = ", ".join(ALLOWED_METHODS)
        return response
    try:
        cpu_ms, queries, sleep_ms = (parse_bounded(request.GET, n) for n in BOUNDS)
    except BadParameter as error:
        return JsonResponse({"error": str(error)}, status=400)
    if cpu_ms + sleep_ms <= settings.CALIBRATION_SLOW_MS:
        return measure(cpu_ms, queries, sleep_ms)
    slot = take_slot(time.time() + (cpu_ms + sleep_ms) / 1000.0)
    if slot is None:
        return too_many_slow()
    try:
        return measure(cpu_ms, queries, sleep_ms)
    finally:
        os.close(slot)  # frees the slot


def measure(cpu_ms: int, queries: int, sleep_ms: int) -> JsonResponse:
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
