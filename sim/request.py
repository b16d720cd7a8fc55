"""One request's travel log, stamped by each component it passes, flattened into records.

Think of a boarding pass that every desk stamps: check-in, security, the gate. The request
object carries the durations each layer measured (how long it waited, how long it was served,
which instance and worker, what went wrong); when the request is over, :meth:`Request.spans`
turns it into one flat row per layer, in the vocabulary of ``sim/layers.py``.

Conventions for a row: ``wait + service`` is the time the layer cost this request, and the
layers' costs add up to the end-to-end latency. Rows follow each other in layer order
(``start = arrival + wait``, ``end = start + service``), except ``app`` and ``db``, which
interleave (a view runs, queries, runs again): their ``arrival``..``end`` covers the whole
stretch and ``wait``/``service`` are totals. A failed request has rows up to the layer that
failed, whose ``outcome`` says why; ``status`` is the HTTP status the client got, on every row.
"""

from __future__ import annotations

from typing import NamedTuple

#: Outcomes of a layer that did its job.
OK = "ok"


class Span(NamedTuple):
    """One row: one request in one layer."""

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


FIELDS: tuple[str, ...] = Span._fields


class Request:
    """Mutable while in flight; components fill in the parts they own."""

    __slots__ = (
        "app_end",
        "app_service",
        "app_start",
        "app_wait",
        "arrival",
        "client",
        "connect",
        "db_end",
        "db_service",
        "db_start",
        "db_wait",
        "dns",
        "dns_outcome",
        "download",
        "end",
        "failed_in",
        "id",
        "instance",
        "journey",
        "lb_service",
        "lb_wait",
        "outcome",
        "queue_service",
        "queue_wait",
        "status",
        "worker",
    )

    def __init__(self, id: int, arrival: float, client: int) -> None:
        self.id = id
        self.arrival = arrival
        self.client = client
        self.dns = self.connect = self.lb_wait = self.lb_service = 0.0
        self.queue_wait = self.queue_service = 0.0
        self.app_wait = self.app_service = self.db_wait = self.db_service = 0.0
        self.download = 0.0
        self.app_start = self.app_end = self.db_start = self.db_end = None
        self.dns_outcome = OK
        self.instance = self.worker = None
        self.status = 0
        self.outcome = OK
        self.failed_in = None  # the layer where it failed; None while all is well
        self.end = None
        self.journey = None  # what drives it (sim/journey.py), for interrupting it

    def fail(self, layer: str, status: int, outcome: str) -> None:
        """Stop here: the client gets ``status`` because of ``outcome`` in ``layer``."""
        self.failed_in = layer
        self.status = status
        self.outcome = outcome

    def spans(self) -> list[tuple]:
        """One row per layer reached, as plain tuples in :data:`FIELDS` order."""
        rid, status, failed = self.id, self.status, self.failed_in
        t0 = self.arrival
        t1 = t0 + self.dns
        t2 = t1 + self.connect
        rows = [(rid, "dns", t0, t0, t1, 0.0, self.dns, None, None, self.dns_outcome, status)]
        if failed is None:
            # The common case, spelled out: every layer reached, all fine.
            lw, ls, qw, qs = self.lb_wait, self.lb_service, self.queue_wait, self.queue_service
            t3 = t2 + lw + ls
            inst, worker, a, e = self.instance, self.worker, self.app_start, self.app_end
            rows += [
                (rid, "connect", t1, t1, t2, 0.0, self.connect, None, None, OK, status),
                (rid, "lb", t2, t2 + lw, t3, lw, ls, None, None, OK, status),
                (rid, "queue", t3, t3 + qw, a, qw, qs, inst, worker, OK, status),
                (rid, "app", a, a, e, self.app_wait, self.app_service, inst, worker, OK, status),
            ]
            if self.db_start is not None:
                rows.append((rid, "db", self.db_start, self.db_start, self.db_end, self.db_wait,
                             self.db_service, inst, worker, OK, status))  # fmt: skip
            rows.append((rid, "download", e, e, e + self.download, 0.0, self.download, None,
                         None, OK, status))  # fmt: skip
            return rows
        if failed == "dns":
            return rows
        rows = rows[:0]
        inst, worker = self.instance, self.worker
        t = t0
        for layer, wait, service, outcome in (
            ("dns", 0.0, self.dns, self.dns_outcome),
            ("connect", 0.0, self.connect, OK),
            ("lb", self.lb_wait, self.lb_service, OK),
            ("queue", self.queue_wait, self.queue_service, OK),
        ):
            here = inst if layer == "queue" else None
            who = worker if layer == "queue" else None
            if layer == failed:
                outcome = self.outcome
            rows.append((rid, layer, t, t + wait, t + wait + service, wait, service, here, who,
                         outcome, status))  # fmt: skip
            t += wait + service
            if layer == failed:
                return rows
        if self.app_start is not None:
            app_outcome = self.outcome if failed == "app" else OK
            rows.append((rid, "app", self.app_start, self.app_start, self.app_end, self.app_wait,
                         self.app_service, inst, worker, app_outcome, status))  # fmt: skip
        if self.db_start is not None:
            db_outcome = self.outcome if failed == "db" else OK
            rows.append((rid, "db", self.db_start, self.db_start, self.db_end, self.db_wait,
                         self.db_service, inst, worker, db_outcome, status))  # fmt: skip
        return rows
