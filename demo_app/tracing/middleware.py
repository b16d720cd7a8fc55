"""The trace middleware: a ``Server-Timing`` header on every response.

It sits outermost in ``MIDDLEWARE`` and, like a stopwatch started at the door, times the whole
trip through Django, installs a ``QueryTimer`` on the database connections, and on the way out
writes::

    Server-Timing: queue;dur=4.1;desc="waited for a worker",
                   app;dur=11.8;desc="Django on web-1 pid 4242",
                   db;dur=3.2;desc="connect + 5 queries"
    X-Instance: web-1
    X-Worker-Pid: 4242

``db`` is the time in the database: opening the connection (when this request opened one, as
it does with ``CONN_MAX_AGE = 0``: "connect + ") and the queries. ``app`` is the time in Django
minus ``db``, so ``app + db`` is the whole time in Django, the way the simulation records its
layers (one span per layer, no overlap). ``queue`` appears only when the proxy sent
``X-Request-Start``. The browser shows these numbers in its developer tools and to the
``/trace/`` page.
"""

from __future__ import annotations

import os
import re
import time
from time import perf_counter

from django.conf import settings

from sim.layers import LAYERS

from .query_timer import timing_queries
from .request_start import queue_seconds

QUEUE, APP, DB = "queue", "app", "db"
assert {QUEUE, APP, DB} <= set(LAYERS)


class TraceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # Keep header-safe characters only: the name ends up inside a quoted header value.
        self.instance = re.sub(r"[^\w.\-]", "_", settings.INSTANCE_NAME)

    def __call__(self, request):
        arrived = time.time()
        started = perf_counter()
        with timing_queries() as queries:
            request.query_timer = queries
            response = self.get_response(request)
        total_ms = (perf_counter() - started) * 1000.0
        pid = os.getpid()  # per request: with preload_app the middleware is built pre-fork
        metrics = []
        waited = queue_seconds(request.META.get("HTTP_X_REQUEST_START"), arrived)
        if waited is not None:
            metrics.append(f'{QUEUE};dur={waited * 1000.0:.1f};desc="waited for a worker"')
        db_ms = queries.ms
        metrics.append(
            f'{APP};dur={max(0.0, total_ms - db_ms):.1f};desc="Django on {self.instance} pid {pid}"'
        )
        metrics.append(f'{DB};dur={db_ms:.1f};desc="{queries.description}"')
        existing = response.headers.get("Server-Timing")
        header = ", ".join(metrics)
        response.headers["Server-Timing"] = f"{existing}, {header}" if existing else header
        response.headers["X-Instance"] = self.instance
        response.headers["X-Worker-Pid"] = str(pid)
        return response
