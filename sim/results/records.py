"""Records: one flat row per request per layer, with named fields.

A request's travel log (``sim/model/request.py``) becomes one :class:`Record` per layer it
reached, in the vocabulary of ``sim/layers.py``; everything the results compute starts from
these rows, so a notebook can slice them the same way.

Conventions for a record: ``wait + service`` is the time the layer cost the request, and the
layers' costs add up to the end-to-end latency. Records follow each other in layer order
(``start = arrival + wait``, ``end = start + service``), except ``app`` and ``db``, which
interleave (a view runs, queries, runs again): their ``arrival``..``end`` covers the whole
stretch and ``wait``/``service`` are totals. A failed request has records up to the layer that
failed, whose ``outcome`` says why; ``status`` is the HTTP status the client got, on every one.

This is the only module that knows a record's field order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sim.engine.kernel import collector_paused
from sim.layers import OK
from sim.model.request import Request


class Record(NamedTuple):
    """One request in one layer."""

    request: int
    layer: str
    arrival: float
    start: float
    end: float
    wait: float
    service: float
    instance: int | None
    worker: int | None
    outcome: str
    status: int


FIELDS: tuple[str, ...] = Record._fields

# Records are made by the hundred thousand: tuple.__new__ builds one without the Python-level
# __new__ of a NamedTuple (a third of the cost), fields in the order above.
_new = tuple.__new__


def of(req: Request) -> list[Record]:
    """The records of one finished request, in layer order."""
    rid, status, failed = req.id, req.status, req.failed_in
    t0 = req.arrival
    records = [_new(Record, (rid, "dns", t0, t0, t0 + req.dns, 0.0, req.dns, None, None,
                             req.dns_outcome, status))]  # fmt: skip
    if failed is None:
        # The common case, spelled out: every layer reached, all fine.
        t1 = t0 + req.dns
        t2 = t1 + req.connect
        lw, ls, qw, qs = req.lb_wait, req.lb_service, req.queue_wait, req.queue_service
        t3 = t2 + lw + ls
        inst, worker, a, e = req.instance, req.worker, req.app_start, req.app_end
        records += [
            _new(Record, (rid, "connect", t1, t1, t2, 0.0, req.connect, None, None, OK, status)),
            _new(Record, (rid, "lb", t2, t2 + lw, t3, lw, ls, None, None, OK, status)),
            _new(Record, (rid, "queue", t3, t3 + qw, a, qw, qs, inst, worker, OK, status)),
            _new(Record, (rid, "app", a, a, e, req.app_wait, req.app_service, inst, worker, OK,
                          status)),
        ]  # fmt: skip
        if req.db_start is not None:
            records.append(_new(Record, (rid, "db", req.db_start, req.db_start, req.db_end,
                                         req.db_wait, req.db_service, inst, worker, OK,
                                         status)))  # fmt: skip
        records.append(_new(Record, (rid, "download", e, e, e + req.download, 0.0, req.download,
                                     None, None, OK, status)))  # fmt: skip
        return records
    if failed == "dns":
        return records
    # A failed request: the layers in front of the instance one after the other, up to the one
    # that failed, then what it did on a worker (if it got one).
    records = []
    inst, worker = req.instance, req.worker
    t = t0
    for layer, wait, service, outcome in (
        ("dns", 0.0, req.dns, req.dns_outcome),
        ("connect", 0.0, req.connect, OK),
        ("lb", req.lb_wait, req.lb_service, OK),
        ("queue", req.queue_wait, req.queue_service, OK),
    ):
        here, who = (inst, worker) if layer == "queue" else (None, None)
        if layer == failed:
            outcome = req.outcome
        records.append(_new(Record, (rid, layer, t, t + wait, t + wait + service, wait, service,
                                     here, who, outcome, status)))  # fmt: skip
        t += wait + service
        if layer == failed:
            return records
    if req.app_start is not None:
        outcome = req.outcome if failed == "app" else OK
        records.append(_new(Record, (rid, "app", req.app_start, req.app_start, req.app_end,
                                     req.app_wait, req.app_service, inst, worker, outcome,
                                     status)))  # fmt: skip
    if req.db_start is not None:
        outcome = req.outcome if failed == "db" else OK
        records.append(_new(Record, (rid, "db", req.db_start, req.db_start, req.db_end,
                                     req.db_wait, req.db_service, inst, worker, outcome,
                                     status)))  # fmt: skip
    return records


def of_requests(requests: Iterable[Request]) -> list[Record]:
    """The records of many requests, request after request."""
    with collector_paused():
        return [record for req in requests for record in of(req)]


class AssetRecord(NamedTuple):
    """One static file of one page (``sim/model/assets.py``): ``page`` is the request whose
    HTML referenced it, ``ready`` when that HTML was in, ``start`` when a connection took the
    file, and ``connect + service + wait + transfer`` the time from ``start`` to ``end``
    (``wait``: for a Gunicorn worker and a vCPU, when Django serves it)."""

    page: int
    asset: int
    size: float
    connection: int
    source: str
    ready: float
    start: float
    end: float
    connect: float
    service: float
    wait: float
    transfer: float
    instance: int | None
    worker: int | None
    outcome: str
    status: int


ASSET_FIELDS: tuple[str, ...] = AssetRecord._fields


def of_assets(requests: Iterable[Request]) -> list[AssetRecord]:
    """The records of the static files fetched after each request's HTML, page after page
    and, within a page, in the page's order (empty when ``[assets]`` is off)."""
    out = []
    for req in requests:
        for f in req.assets or ():
            out.append(AssetRecord(req.id, f.index, f.size, f.connection, f.source, f.ready,
                                   f.start, f.end, f.connect, f.service, f.wait, f.transfer,
                                   f.instance, f.worker, f.outcome, f.status))  # fmt: skip
    return out


def by_request(records: Iterable[Record]) -> dict[int, list[Record]]:
    """Records grouped by request id (in order of appearance)."""
    grouped: dict[int, list[Record]] = {}
    for record in records:
        grouped.setdefault(record.request, []).append(record)
    return grouped


def end_to_end(group: list[Record]) -> float:
    """A request's end-to-end time: from its arrival to the end of its last layer."""
    return max(r.end for r in group) - group[0].arrival


def finished_at(group: list[Record]) -> float:
    """When a request's last layer ended."""
    return max(r.end for r in group)


def failed_because(group: list[Record]) -> str:
    """Why a failed request failed: its failed layer's outcome. Not always the last record's
    (a worker killed after its queries has an ``ok`` db record after the failed app record),
    and a dns record names a cache, not a failure."""
    return next(
        (r.outcome for r in reversed(group) if r.outcome != OK and r.layer != "dns"),
        group[-1].outcome,
    )
