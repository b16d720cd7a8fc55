"""Times the database work run while it is installed: connection set-up and every query.

A stopwatch clipped onto the database connection: ``connection.execute_wrapper`` calls it
around each query Django sends (ORM and raw cursors alike), so it sees the real round trip to
PostgreSQL or SQLite, not an estimate. Opening the connection happens before any wrapper runs
(``ensure_connection`` -> ``connect``: with ``CONN_MAX_AGE = 0``, once per request), so the
timer also shadows ``connect`` on each connection for the ``with`` block: the TCP and
authentication round trips, session set-up and the ``connection_created`` signal count as
database time, as the model's ``db`` layer charges them. The trace middleware installs one per
request; the bill page installs its own to show its query count even when tracing is off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from time import perf_counter

from django.db import connections


class QueryTimer:
    """An ``execute_wrapper`` that accumulates ``count`` and ``seconds`` of queries, and
    ``connects`` and ``connect_seconds`` of connection set-up."""

    __slots__ = ("connect_seconds", "connects", "count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.connects = 0
        self.connect_seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += perf_counter() - started
            self.count += 1

    def timing(self, connect: Callable[[], None]) -> Callable[[], None]:
        def timed_connect() -> None:
            started = perf_counter()
            try:
                connect()
            finally:
                self.connect_seconds += perf_counter() - started
                self.connects += 1

        return timed_connect

    @property
    def ms(self) -> float:
        """Milliseconds in the database: connection set-up plus queries."""
        return (self.connect_seconds + self.seconds) * 1000.0

    @property
    def description(self) -> str:
        """``Server-Timing``'s ``desc``: "connect + 3 queries", or "3 queries" on a connection
        that was already open."""
        return f"connect + {self.count} queries" if self.connects else f"{self.count} queries"


@contextmanager
def _timing_connect(connection, timer: QueryTimer) -> Iterator[None]:
    # An instance attribute shadows the method; nested timers each wrap the one outside.
    outer = connection.__dict__.get("connect")
    connection.connect = timer.timing(connection.connect)
    try:
        yield
    finally:
        if outer is None:
            del connection.connect
        else:
            connection.connect = outer


@contextmanager
def timing_queries() -> Iterator[QueryTimer]:
    """Install a fresh ``QueryTimer`` on every configured database for the ``with`` block."""
    timer = QueryTimer()
    with ExitStack() as stack:
        for connection in connections.all():
            stack.enter_context(connection.execute_wrapper(timer))
            stack.enter_context(_timing_connect(connection, timer))
        yield timer
