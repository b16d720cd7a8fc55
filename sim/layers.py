"""The one vocabulary of layers a request passes through.

Think of a parcel's tracking page: every depot it passes through has one short name, and the
same names appear on the sender's receipt and the courier's logs. These are ours. The
simulation stamps them on its records, the demo app writes them into its ``Server-Timing``
header, and the notebooks and slides label their figures with them, so a measured breakdown
and a simulated one line up column for column.

Names are short lowercase tokens, valid as a Server-Timing metric name (``app;dur=12.3``).
Beside them, the outcomes a layer stamps on a request's record (``ok``, which cache answered,
or why it failed) are defined here once, with the HTTP status each failure gives.

This module imports nothing of the project: every package of ``sim`` uses it, and so do the
demo app's tracing, the notebooks and the slides.
"""

from __future__ import annotations

#: Layers in the order a request meets them on its way in (``download`` is the way back).
LAYERS: tuple[str, ...] = ("dns", "connect", "lb", "queue", "app", "db", "download")

#: One line each, for legends, tooltips and the narrated trace.
DESCRIPTIONS: dict[str, str] = {
    "dns": "name resolution through browser, OS and resolver caches",
    "connect": "TCP and TLS to the load balancer",
    "lb": "load balancer: surge queue, routing to a healthy instance",
    "queue": "waiting for a free Gunicorn worker (listen backlog)",
    "app": "Django: middleware, view, templates, on a vCPU",
    "db": "PostgreSQL: connection set-up and queries",
    "download": "the response travelling back",
}

#: Which part of the talk ("Quorum's tech stack") each layer belongs to.
TALK_SECTION: dict[str, str] = {
    "dns": "DNS Lookup",
    "connect": "Elastic Load Balancer",
    "lb": "Elastic Load Balancer",
    "queue": "Application Server (nginx, Gunicorn)",
    "app": "Django",
    "db": "Database (PostgreSQL)",
    "download": "Elastic Load Balancer",
}

#: One colour per layer (colour-blind-safe Okabe-Ito palette), so every figure, the trace page
#: and the slides colour a layer the same way.
COLORS: dict[str, str] = {
    "dns": "#56B4E9",
    "connect": "#0072B2",
    "lb": "#009E73",
    "queue": "#E69F00",
    "app": "#D55E00",
    "db": "#CC79A7",
    "download": "#999999",
}

assert set(DESCRIPTIONS) == set(COLORS) == set(LAYERS) == set(TALK_SECTION)


# ---------------------------------------------------------------------------------------------
# Outcomes: what a layer stamps on a request's record. ``ok`` when it did its job; a cache's
# name on the ``dns`` record (which one answered); otherwise why the request failed there.
# Every part of the model imports these names from here, and the narration tells each one.

OK = "ok"

# dns: which cache answered (never a failure)
BROWSER_CACHE = "browser-cache"
OS_CACHE = "os-cache"
RESOLVER_CACHE = "resolver-cache"
AUTHORITATIVE = "authoritative"
FULL_MISS = "full-miss"

# lb: the load balancer answered itself
SPILLOVER = "spillover"  # 503: the surge queue was full
NO_TARGET = "no-target"  # 503: no healthy instance registered
IDLE_TIMEOUT = "idle-timeout"  # 504: no answer within the load balancer's idle timeout

# queue: nginx, in front of Gunicorn's listen backlog
BACKLOG_FULL = "backlog-full"  # 502: the listen backlog was full, the connection refused
GATEWAY_TIMEOUT = "gateway-timeout"  # 504: nothing back within nginx's proxy_read_timeout
INSTANCE_STOPPED = "instance-stopped"  # 502: the instance crashed or was terminated

# app: Django on a Gunicorn worker
WORKER_TIMEOUT = "worker-timeout"  # 502: the arbiter killed a silent sync worker
BAD_DEPLOY = "bad-deploy"  # 500: new code failing on the way out

# db: PostgreSQL
TOO_MANY_CLIENTS = "too-many-clients"  # 500: past max_connections

#: Which layer may stamp each outcome (``instance-stopped`` and ``idle-timeout`` on the record
#: of whichever layer the request was in when it happened).
OUTCOMES: dict[str, tuple[str, ...]] = {
    OK: LAYERS[1:],  # every layer but dns, whose record names the cache that answered
    BROWSER_CACHE: ("dns",),
    OS_CACHE: ("dns",),
    RESOLVER_CACHE: ("dns",),
    AUTHORITATIVE: ("dns",),
    FULL_MISS: ("dns",),
    SPILLOVER: ("lb",),
    NO_TARGET: ("lb",),
    IDLE_TIMEOUT: ("lb", "queue"),
    BACKLOG_FULL: ("queue",),
    GATEWAY_TIMEOUT: ("queue",),
    INSTANCE_STOPPED: ("queue", "app"),
    WORKER_TIMEOUT: ("app",),
    BAD_DEPLOY: ("app",),
    TOO_MANY_CLIENTS: ("db",),
}

#: The HTTP status a client gets for each failure.
STATUS: dict[str, int] = {
    SPILLOVER: 503,
    NO_TARGET: 503,
    IDLE_TIMEOUT: 504,
    BACKLOG_FULL: 502,
    GATEWAY_TIMEOUT: 504,
    INSTANCE_STOPPED: 502,
    WORKER_TIMEOUT: 502,
    BAD_DEPLOY: 500,
    TOO_MANY_CLIENTS: 500,
}

#: The outcomes of the ``dns`` record: the cache that answered, nearest first.
DNS_ANSWERS: tuple[str, ...] = (BROWSER_CACHE, OS_CACHE, RESOLVER_CACHE, AUTHORITATIVE, FULL_MISS)

#: The outcomes that are failures.
FAILURES: tuple[str, ...] = tuple(STATUS)
