"""The text version of "what happens when you type quorum.us": one request, hop by hop.

The same stamps the records carry (one record per layer), told as sentences with the time each
step started and took, in the words of the talk's sections (``sim/layers.py``), one sentence
for every outcome the layers define. :func:`pick` chooses which request to tell (a typical one
by default: the median end-to-end time among the successful ones); the records are the only
input, so a narration never runs the model itself.
"""

from __future__ import annotations

import textwrap

from sim.config import Scenario
from sim.layers import (
    AUTHORITATIVE,
    BACKLOG_FULL,
    BAD_DEPLOY,
    BROWSER_CACHE,
    FULL_MISS,
    GATEWAY_TIMEOUT,
    IDLE_TIMEOUT,
    INSTANCE_STOPPED,
    NO_TARGET,
    OS_CACHE,
    RESOLVER_CACHE,
    SPILLOVER,
    TALK_SECTION,
    TOO_MANY_CLIENTS,
    WORKER_TIMEOUT,
)
from sim.model.assets import DJANGO, EDGE_HIT, EDGE_MISS
from sim.results.records import AssetRecord, Record, by_request, end_to_end, finished_at

PICKS = ("typical", "first", "slowest", "error")
WIDTH = 72  # characters of a sentence per line


def pick(records: list[Record], how: str = "typical", window: tuple[float, float] | None = None):
    """The id of the request to narrate, or None if there is no such request.

    ``typical``: the successful request whose end-to-end time is the median (arriving in
    ``window`` when given); ``first``: the very first request (cold caches); ``slowest``: the
    slowest successful one; ``error``: the first that failed.
    """
    groups = by_request(records)
    if how == "first":
        return min(groups) if groups else None
    if how == "error":
        failed = [rid for rid, g in groups.items() if g[0].status != 200]
        return min(failed) if failed else None
    ok = []
    for rid, g in groups.items():
        if g[0].status == 200 and (window is None or window[0] <= g[0].arrival < window[1]):
            ok.append((end_to_end(g), rid))
    if not ok:
        return None
    ok.sort()
    return ok[-1][1] if how == "slowest" else ok[(len(ok) - 1) // 2][1]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def narrate(
    records: list[Record],
    request_id: int,
    scenario: Scenario,
    why: str = "",
    assets: list[AssetRecord] = (),
) -> str:
    """A few lines telling what happened to ``request_id``, layer by layer, and then to the
    static files its page referenced (``assets``, its :class:`AssetRecord` rows)."""
    group = by_request(records)[request_id]
    t0 = group[0].arrival
    lines = [
        f"What happens when you type quorum.us (scenario {scenario.name}, at t = {t0:.3f} s)",
        f"Request {request_id}{why}: HTTP {group[0].status} after {_ms(end_to_end(group))} ms.",
        "",
        f"  {'at ms':>8} {'took ms':>8}  {'layer':<9} what happened",
    ]
    section = None
    for r in group:
        if TALK_SECTION[r.layer] != section:
            section = TALK_SECTION[r.layer]
            lines.append(f"  {section}")
        text = textwrap.wrap(sentence(r, group, scenario), WIDTH)
        took = _ms(r.wait + r.service)
        lines.append(f"  {_ms(r.arrival - t0):>8} {took:>8}  {r.layer:<9} {text[0]}")
        lines.extend(f"  {'':>8} {'':>8}  {'':<9} {more}" for more in text[1:])
    if assets:
        lines.append(f"  {'':>8} {_ms(finished_at(group) - t0):>8}  the HTML")
        a = scenario.assets
        lines.append(
            f"  The page's static files: {len(assets)} over at most {a.connections}"
            f" connection{'s' if a.connections != 1 else ''}"
        )
        for f in assets:
            text = textwrap.wrap(asset_sentence(f, scenario), WIDTH)
            lines.append(f"  {_ms(f.start - t0):>8} {_ms(f.end - f.start):>8}  "
                         f"{'file ' + str(f.asset + 1):<9} {text[0]}")  # fmt: skip
            lines.extend(f"  {'':>8} {'':>8}  {'':<9} {more}" for more in text[1:])
        page = max(f.end for f in assets)
        lines.append(f"  {'':>8} {_ms(page - t0):>8}  page loaded (the HTML and its files)")
        return "\n".join(lines) + "\n"
    lines.append(f"  {'':>8} {_ms(finished_at(group) - t0):>8}  total")
    return "\n".join(lines) + "\n"


def asset_sentence(f: AssetRecord, s: Scenario) -> str:
    """What happened to one static file, in one sentence."""
    size = f"{f.size / 1000:,.1f} KB"
    conn = f"connection {f.connection + 1}"
    conn += f" (opened first: {_ms(f.connect)} ms)" if f.connect else ""
    blocked = f.start - f.ready
    queued = f", after {_ms(blocked)} ms waiting for a free connection" if blocked > 0 else ""
    if f.status != 200:
        return f"{size} over {conn}{queued}: {f.outcome}, {f.status}"
    where = {
        EDGE_HIT: "from the CDN's edge, which had it (a hit)",
        EDGE_MISS: "from the CDN's edge, which fetched it from the instances first (a miss)",
        DJANGO: f"from Django (WhiteNoise) on instance {f.instance}, worker {f.worker}",
    }.get(f.source, f"from nginx on instance {f.instance}, read from disk")
    if f.source == DJANGO and round(f.wait * 1000, 1) > 0:
        where += f", {_ms(f.wait)} ms waiting for the worker and a vCPU"
    return f"{size} {where}, over {conn}{queued}; {_ms(f.transfer)} ms of it the bytes"


def sentence(r: Record, group: list[Record], s: Scenario) -> str:
    """What record ``r`` (one of ``group``, its request's records) says, in one sentence."""
    tell = _TELL.get(r.layer)
    return tell(r, group, s) if tell else r.outcome


def _dns(r: Record, group: list[Record], s: Scenario) -> str:
    d = s.dns
    return {
        BROWSER_CACHE: f"the browser's own cache still had quorum.us -> {d.address}"
        f" (it keeps an answer {d.browser_ttl:g} s)",
        OS_CACHE: f"the browser asked the operating system, whose cache had {d.address}",
        RESOLVER_CACHE: f"browser and OS caches had expired; the recursive resolver had"
        f" {d.address} cached ({d.record_ttl:g} s TTL)",
        AUTHORITATIVE: "the resolver knew the .us servers but had to ask quorum.us's"
        f" authoritative server: {d.address}",
        FULL_MISS: "nothing cached anywhere: the resolver asked a root server, then .us,"
        f" then quorum.us's authoritative server: {d.address}",
    }[r.outcome]


def _connect(r: Record, group: list[Record], s: Scenario) -> str:
    return f"TCP and TLS handshakes with the load balancer at {s.dns.address}"


def _lb(r: Record, group: list[Record], s: Scenario) -> str:
    lb = s.load_balancer
    waited = f"{_ms(r.wait)} ms in the surge queue"
    if r.outcome == SPILLOVER:
        return f"the surge queue was full ({lb.surge_queue}): 503 (spillover)"
    if r.outcome == NO_TARGET:
        why = f" after {waited}" if r.wait > 0 else ""
        return f"no healthy instance was registered{why}: 503"
    if r.outcome == IDLE_TIMEOUT:
        return (
            f"no instance had room until the load balancer's idle timeout"
            f" ({lb.idle_timeout:g} s) ran out, after {waited}: the load balancer answered 504"
        )
    routing = lb.routing.replace("_", " ")
    chosen = next(q.instance for q in group if q.layer == "queue")
    queue = f"waited {waited}" if r.wait > 0 else "no queue"
    return f"the load balancer ({routing}) chose instance {chosen}; {queue}"


def _queue(r: Record, group: list[Record], s: Scenario) -> str:
    g = s.gunicorn
    if r.outcome == BACKLOG_FULL:
        return f"nginx found Gunicorn's listen backlog full ({g.backlog}): 502"
    if r.outcome == GATEWAY_TIMEOUT:
        return f"no answer within {s.nginx.proxy_read_timeout:g} s: 504 (gateway timeout)"
    if r.outcome == IDLE_TIMEOUT:
        return (
            f"the load balancer's idle timeout ({s.load_balancer.idle_timeout:g} s) ran out"
            " before nginx had an answer: the load balancer answered 504"
        )
    if r.outcome == INSTANCE_STOPPED:
        return "the instance was gone (crashed or stopped): 502"
    kind = "thread" if g.effective_worker_class == "gthread" else "sync worker"
    waited = f"waited {_ms(r.wait)} ms in the backlog" if r.wait > 0 else "no wait"
    return f"nginx passed it to Gunicorn; {kind} {r.worker} took it ({waited})"


def _app(r: Record, group: list[Record], s: Scenario) -> str:
    if r.outcome == WORKER_TIMEOUT:
        return f"the worker was silent {s.gunicorn.timeout:g} s and was killed: 502"
    if r.outcome == INSTANCE_STOPPED:
        return "the instance stopped while Django was working: 502"
    if r.outcome == BAD_DEPLOY:
        return "the new release failed on its way out: Django answered 500"
    queries = s.django.queries
    waited = f", {_ms(r.wait)} ms waiting for one of {s.instances.vcpus} vCPUs" if r.wait else ""
    if s.instances.cpu_discipline == "ps":  # time-sliced: stretched, not queued
        n = s.instances.vcpus
        vcpus = f"{n} vCPU{'s' if n != 1 else ''}"
        waited = (
            f", stretched by {_ms(r.wait)} ms sharing the {vcpus} with other requests (the"
            " kernel time-slices them)"
            if r.wait
            else f", a vCPU to itself throughout (never more bursts than {vcpus})"
        )
    work = (
        f"middleware, the view and {queries} rounds of handling query results"
        if queries
        else "middleware and the view"
    )
    return f"Django: {work}, {_ms(r.service)} ms on a vCPU{waited}"


def _db(r: Record, group: list[Record], s: Scenario) -> str:
    p = s.postgres
    if r.outcome == TOO_MANY_CLIENTS:
        return (
            f"PostgreSQL refused a connection (max_connections = {p.max_connections}):"
            " 'FATAL: sorry, too many clients already', Django answered 500"
        )
    how = (
        "a new connection (CONN_MAX_AGE = 0)"
        if p.conn_max_age == 0
        else "the worker's persistent connection"
    )
    waited = f", {_ms(r.wait)} ms waiting for the database's CPU" if r.wait else ""
    return f"{s.django.queries} queries over {how}: {_ms(r.service)} ms{waited}"


def _download(r: Record, group: list[Record], s: Scenario) -> str:
    return "the response travelled back to the browser"


_TELL = {
    "dns": _dns,
    "connect": _connect,
    "lb": _lb,
    "queue": _queue,
    "app": _app,
    "db": _db,
    "download": _download,
}
