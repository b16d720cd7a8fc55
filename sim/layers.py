"""The one vocabulary of layers a request passes through.

Think of a parcel's tracking page: every depot it passes through has one short name, and the
same names appear on the sender's receipt and the courier's logs. These are ours. The
simulation stamps them on its records, the demo app writes them into its ``Server-Timing``
header, and the notebooks and slides label their figures with them, so a measured breakdown
and a simulated one line up column for column.

Names are short lowercase tokens, valid as a Server-Timing metric name (``app;dur=12.3``).
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
