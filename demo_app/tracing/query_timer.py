"""Counts and times every database query run while it is installed.

A stopwatch clipped onto the database connection: ``connection.execute_wrapper`` calls it
around each query Django sends (ORM and raw cursors alike), so it sees the real round trip to
PostgreSQL or SQLite, not an estimate. The trace middleware installs one per request; the bill
page installs its own to show its query count even when tracing is switched off.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from time import perf_counter

from django.db import connections


class QueryTimer:
    """An ``execute_wrapper`` that accumulates ``count`` and ``seconds``."""

    __slots__ = ("count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += perf_counter() - started
            self.count += 1

    @property
    def ms(self) -> float:
        return self.seconds * 1000.0


@contextmanager
def timing_queries() -> Iterator[QueryTimer]:
    """Install a fresh ``QueryTimer`` on every configured database for the ``with`` block."""
    timer = QueryTimer()
    with ExitStack() as stack:
        for connection in connections.all():
            stack.enter_context(connection.execute_wrapper(timer))
        yield timer
