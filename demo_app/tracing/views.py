"""The ``/trace/`` page: a waterfall of its own page load, labelled with the talk's layers.

The server renders a small page (running a couple of typical queries, so the ``db`` bar has
something to show) and hands the layer vocabulary from ``sim/layers.py`` to the browser;
``static/tracing/trace.js`` then reads the Navigation Timing entry (DNS, connect, TLS, request,
first byte, download) and the ``Server-Timing`` metrics this response carried (``queue``,
``app``, ``db``, written by ``middleware.py``) and draws one bar per phase. The page names the
database the request used.
"""

from __future__ import annotations

import sqlite3

from django.db import connection
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from demo_app.ops.methods import read_only
from demo_app.tracker.models import Bill
from sim.layers import DESCRIPTIONS, LAYERS, TALK_SECTION


@read_only
@never_cache  # a cached copy would show a waterfall with no server in it
def trace(request):
    layers = [
        {"name": name, "description": DESCRIPTIONS[name], "section": TALK_SECTION[name]}
        for name in LAYERS
    ]
    recent = list(Bill.objects.select_related("committee").order_by("-introduced_on")[:5])
    return render(
        request,
        "tracing/trace.html",
        {
            "layers": layers,
            "bill_count": Bill.objects.count(),
            "recent": recent,
            "database": database_label(connection),
        },
    )


def database_label(conn) -> str:
    """The database this request used: "PostgreSQL 16 (quorum)", "SQLite 3.40.1"."""
    if conn.vendor == "postgresql":
        major = conn.pg_version // 10000  # 160004 -> 16 (the numbering since PostgreSQL 10)
        return f"PostgreSQL {major} ({conn.settings_dict['NAME']})"
    if conn.vendor == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"  # the file's path is no one's business
    return conn.display_name
