"""Queueing time before Django, from the proxy's ``X-Request-Start`` stamp.

nginx writes the moment it accepted the request (``proxy_set_header X-Request-Start
"t=${msec}"``: Unix seconds with a millisecond fraction); the time between that stamp and the
moment Django starts is what the request spent in Gunicorn's listen backlog waiting for a free
worker: the ``queue`` layer. Other proxies send a bare number in seconds, milliseconds or
microseconds; the magnitude tells which. Anything unreadable or implausible is ignored: a
garbage header must never break or distort a page.
"""

from __future__ import annotations

import math

#: A stamp further back than this is a broken clock or a forged header, not a queue.
MAX_QUEUE_SECONDS = 3600.0


def stamp_seconds(header: str | None) -> float | None:
    """The stamp as Unix seconds, or ``None`` when absent or unreadable."""
    if not header:
        return None
    text = header.strip()
    if text.startswith("t="):
        text = text[2:]
    if not text or len(text) > 32:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    if value > 1e14:  # microseconds (1.7e15 today)
        return value / 1e6
    if value > 1e11:  # milliseconds (1.7e12 today)
        return value / 1e3
    return value


def queue_seconds(header: str | None, now: float) -> float | None:
    """Seconds between the proxy's stamp and ``now`` (Unix seconds), clipped at 0 for small
    clock skew; ``None`` when there is no usable stamp."""
    stamp = stamp_seconds(header)
    if stamp is None:
        return None
    waited = now - stamp
    if not -MAX_QUEUE_SECONDS < waited < MAX_QUEUE_SECONDS:
        return None
    return max(0.0, waited)
