"""The text version of "what happens when you type quorum.us": one request, hop by hop.

Think of a parcel's tracking page read aloud: the same stamps the records carry (one row per
layer, ``request.py``), told as sentences with the time each step started and took, in the
words of the talk's sections (``sim/layers.py``). :func:`pick` chooses which request to tell
(a typical one by default: the median end-to-end time among the successful ones); the records
are the only input, so a narration never runs the model itself.
"""

from __future__ import annotations

import textwrap

from sim.config import Scenario
from sim.layers import TALK_SECTION
from sim.metrics import requests_of

PICKS = ("typical", "first", "slowest", "error")
WIDTH = 72  # characters of a sentence per line


def pick(rows: list[tuple], how: str = "typical", window: tuple[float, float] | None = None):
    """The id of the request to narrate, or None if there is no such request.

    ``typical``: the successful request whose end-to-end time is the median (arriving in
    ``window`` when given); ``first``: the very first request (cold caches); ``slowest``: the
    slowest successful one; ``error``: the first that failed.
    """
    groups = requests_of(rows)
    if how == "first":
        return min(groups) if groups else None
    if how == "error":
        failed = [rid for rid, g in groups.items() if g[0][10] != 200]
        return min(failed) if failed else None
    ok = []
    for rid, g in groups.items():
        if g[0][10] == 200 and (window is None or window[0] <= g[0][2] < window[1]):
            ok.append((max(r[4] for r in g) - g[0][2], rid))
    if not ok:
        return None
    ok.sort()
    return ok[-1][1] if how == "slowest" else ok[(len(ok) - 1) // 2][1]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def narrate(rows: list[tuple], request_id: int, scenario: Scenario, why: str = "") -> str:
    """A few lines telling what happened to ``request_id``, layer by layer."""
    group = requests_of(rows)[request_id]
    s = scenario
    t0 = group[0][2]
    end = max(r[4] for r in group)
    status = group[0][10]
    lines = [
        f"What happens when you type quorum.us (scenario {s.name}, at t = {t0:.3f} s)",
        f"Request {request_id}{why}: HTTP {status} after {_ms(end - t0)} ms.",
        "",
        f"  {'at ms':>8} {'took ms':>8}  {'layer':<9} what happened",
    ]
    section = None
    for row in group:
        _, layer, arrival, _start, _end, wait, service, *_ = row
        if TALK_SECTION[layer] != section:
            section = TALK_SECTION[layer]
            lines.append(f"  {section}")
        text = textwrap.wrap(_sentence(layer, row, group, s), WIDTH)
        lines.append(f"  {_ms(arrival - t0):>8} {_ms(wait + service):>8}  {layer:<9} {text[0]}")
        lines.extend(f"  {'':>8} {'':>8}  {'':<9} {more}" for more in text[1:])
    lines.append(f"  {'':>8} {_ms(end - t0):>8}  total")
    return "\n".join(lines) + "\n"


def _sentence(layer: str, row: tuple, group: list[tuple], s: Scenario) -> str:
    _, _, _, _, _, wait, service, _inst, worker, outcome, _status = row
    d = s.dns
    if layer == "dns":
        return {
            "browser-cache": f"the browser's own cache still had quorum.us -> {d.address}"
            f" (it keeps an answer {d.browser_ttl:g} s)",
            "os-cache": f"the browser asked the operating system, whose cache had {d.address}",
            "resolver-cache": f"browser and OS caches had expired; the recursive resolver had"
            f" {d.address} cached ({d.record_ttl:g} s TTL)",
            "authoritative": "the resolver knew the .us servers but had to ask quorum.us's"
            f" authoritative server: {d.address}",
            "full-miss": "nothing cached anywhere: the resolver asked a root server, then .us,"
            f" then quorum.us's authoritative server: {d.address}",
        }.get(outcome, outcome)
    if layer == "connect":
        return f"TCP and TLS handshakes with the load balancer at {d.address}"
    if layer == "lb":
        routing = s.load_balancer.routing.replace("_", " ")
        if outcome == "spillover":
            return f"the surge queue was full ({s.load_balancer.surge_queue}): 503 (spillover)"
        if outcome == "no-target":
            return "no healthy instance was registered: 503"
        queue = f"waited {_ms(wait)} ms in the surge queue" if wait > 0 else "no queue"
        chosen = next((r[7] for r in group if r[1] == "queue"), None)
        return f"the load balancer ({routing}) chose instance {chosen}; {queue}"
    if layer == "queue":
        g = s.gunicorn
        if outcome == "backlog-full":
            return f"nginx found Gunicorn's listen backlog full ({g.backlog}): 502"
        if outcome == "gateway-timeout":
            return f"no answer within {s.nginx.proxy_read_timeout:g} s: 504 (gateway timeout)"
        if outcome == "instance-stopped":
            return "the instance was gone (crashed or stopped): 502"
        kind = "thread" if g.effective_worker_class == "gthread" else "sync worker"
        waited = f"waited {_ms(wait)} ms in the backlog" if wait > 0 else "no wait"
        return f"nginx passed it to Gunicorn; {kind} {worker} took it ({waited})"
    if layer == "app":
        if outcome == "worker-timeout":
            return f"the worker was silent {s.gunicorn.timeout:g} s and was killed: 502"
        if outcome == "instance-stopped":
            return "the instance stopped while Django was working: 502"
        queries = s.django.queries
        waited = f", {_ms(wait)} ms waiting for one of {s.instances.vcpus} vCPUs" if wait else ""
        work = (
            f"middleware, the view and {queries} rounds of handling query results"
            if queries
            else "middleware and the view"
        )
        return f"Django: {work}, {_ms(service)} ms on a vCPU{waited}"
    if layer == "db":
        p = s.postgres
        if outcome == "too-many-clients":
            return (
                f"PostgreSQL refused a connection (max_connections = {p.max_connections}):"
                " 'FATAL: sorry, too many clients already', Django answered 500"
            )
        how = (
            "a new connection (CONN_MAX_AGE = 0)"
            if p.conn_max_age == 0
            else "the worker's persistent connection"
        )
        waited = f", {_ms(wait)} ms waiting for the database's CPU" if wait else ""
        return f"{s.django.queries} queries over {how}: {_ms(service)} ms{waited}"
    if layer == "download":
        return "the response travelled back to the browser"
    return outcome
