"""One request's travel log, stamped by each component it passes.

Think of a boarding pass that every desk stamps: check-in, security, the gate. The request
carries the durations each layer measured (how long it waited there, how long it was served,
which instance and worker, what went wrong), in the vocabulary of ``sim/layers.py``. When the
request is over, the results turn it into one flat record per layer (``sim/results/records.py``).
"""

from __future__ import annotations

from sim.layers import OK


class Request:
    """Mutable while in flight; components fill in the parts they own."""

    __slots__ = (
        "app_end",
        "app_service",
        "app_start",
        "app_wait",
        "arrival",
        "assets",
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
        "page_end",
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
        self.journey = None  # what drives it (the engine's journey), for interrupting it
        self.assets = None  # the page's static files fetched after it (model/assets.py), if any
        self.page_end = None  # when the last of them was in

    def fail(self, layer: str, status: int, outcome: str) -> None:
        """Stop here: the client gets ``status`` because of ``outcome`` in ``layer``."""
        self.failed_in = layer
        self.status = status
        self.outcome = outcome
