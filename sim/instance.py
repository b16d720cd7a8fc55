"""One EC2 instance: nginx in front, Gunicorn's listen backlog and workers, the vCPUs.

Think of a doctor's practice: the receptionist (nginx) takes everyone in and sends them to the
waiting room (Gunicorn's listen backlog, which has a limited number of chairs; when it is full
the door is shut and the visitor is turned away: a 502 from nginx). Each doctor (a ``sync``
worker, or a thread of a ``gthread`` worker) sees one patient at a time, and the doctors share
a few examination rooms (vCPUs). A doctor silent for too long (Gunicorn's ``timeout``, 30 s)
is replaced by the practice manager (the arbiter): the patient is sent home with a 502 and the
new doctor needs a moment (``restart``) before seeing the next one.

Facts (../shared/design/MODEL_FACTS.md, "nginx" and "Gunicorn"): backlog 2048, timeout 30 s
(only ``sync`` requests are capped: a ``gthread`` worker's heartbeat comes from its main
thread), ``proxy_read_timeout`` 60 s, so a slow request in the default stack surfaces as a 502.

An instance has a lifecycle (``booting`` -> ``in_service`` -> ``draining`` -> ``terminated``);
the load balancer routes to registered, healthy, in-service instances. :meth:`stop` is a
crash: every request inside fails with a 502. The counters a sampler reads (busy workers,
busy vCPUs, backlog length, their busy-seconds) are plain attributes and methods.
"""

from __future__ import annotations

import math

import simpy

from sim.app import Django, WorkerKilled
from sim.config import Scenario
from sim.database import TOO_MANY_CLIENTS, Database, TooManyClients
from sim.slots import Slots

BOOTING, IN_SERVICE, DRAINING, TERMINATED = "booting", "in_service", "draining", "terminated"
STATES = (BOOTING, IN_SERVICE, DRAINING, TERMINATED)

# Outcomes stamped on the failing layer's record.
BACKLOG_FULL = "backlog-full"
WORKER_TIMEOUT = "worker-timeout"
GATEWAY_TIMEOUT = "gateway-timeout"
INSTANCE_STOPPED = "instance-stopped"


class Instance:
    """nginx + Gunicorn + Django's vCPUs on one machine."""

    def __init__(
        self,
        env: simpy.Environment,
        id: int,
        scenario: Scenario,
        django: Django,
        db: Database,
        state: str = IN_SERVICE,
    ) -> None:
        g = scenario.gunicorn
        self.env = env
        self.id = id
        self.state = state
        self.healthy = True  # health checks (sim/health.py) may say otherwise
        self.launched_at = env.now
        self.stopped_at = math.inf  # set by stop(): capacity is counted only in between
        self.django = django
        self.db = db
        self.vcpus = Slots(env, scenario.instances.vcpus)
        self.workers = Slots(env, g.slots)
        self.worker_class = g.effective_worker_class
        self.backlog = g.backlog
        self.timeout = g.timeout if self.worker_class == "sync" else math.inf
        self.restart = g.restart
        self.max_connections = scenario.nginx.max_connections
        self.read_timeout = scenario.nginx.proxy_read_timeout
        #: requests inside nginx now (the load balancer's "outstanding requests")
        self.outstanding = 0
        #: when each worker slot's persistent database connection was opened (None: none)
        self.connections: list[float | None] = [None] * g.slots
        self.killed_workers = 0
        self._inside: dict = {}  # request id -> its journey, to interrupt on a crash
        self.on_free = None  # set by the load balancer: called when a request leaves

    def __repr__(self) -> str:
        return f"Instance({self.id}, {self.state})"

    # -- what a sampler reads -------------------------------------------------------------
    @property
    def busy_workers(self) -> int:
        return self.workers.busy

    @property
    def busy_vcpus(self) -> int:
        return self.vcpus.busy

    @property
    def backlog_length(self) -> int:
        return self.workers.queued

    def busy_vcpu_time(self) -> float:
        return self.vcpus.busy_time()

    def busy_worker_time(self) -> float:
        return self.workers.busy_time()

    # -- lifecycle ------------------------------------------------------------------------
    def stop(self) -> None:
        """Crash: the machine is gone; everything inside fails with a 502."""
        if self.state == TERMINATED:
            return
        self.state = TERMINATED
        self.stopped_at = self.env.now
        for slot, opened in enumerate(self.connections):
            if opened is not None:
                self.db.close()
                self.connections[slot] = None
        for journey in list(self._inside.values()):
            if journey.is_alive:
                journey.interrupt(INSTANCE_STOPPED)

    # -- the request's path through the instance ------------------------------------------
    def serve(self, req, idle_deadline: float = math.inf):
        """SimPy sub-process (``yield from``): nginx -> backlog -> worker -> Django -> back.

        The load balancer has already counted ``req`` in :attr:`outstanding`. Sets
        ``req.status`` (200 or the error) and ``req.end``. A response later than nginx's
        ``proxy_read_timeout`` or the load balancer's ``idle_deadline`` is a 504.
        """
        env = self.env
        # env._now rather than env.now in this method: it runs for every request, and the
        # property call is a measurable share of it (as in app.py).
        arrived = env._now
        req.instance = self.id
        if self.state not in (IN_SERVICE, DRAINING):  # connection refused: nothing listens
            req.queue_wait = 0.0
            return self._leave(req, "queue", 502, INSTANCE_STOPPED, arrived)
        deadline = min(arrived + self.read_timeout, idle_deadline)
        self._inside[req.id] = req.journey
        workers = self.workers
        ticket = slot = None
        try:
            slot = workers.acquire()
            if slot is None:
                if workers.queued >= self.backlog:
                    return self._leave(req, "queue", 502, BACKLOG_FULL, arrived)
                ticket = workers.wait()
                slot = yield ticket
                ticket = None
            started = env._now
            req.worker = slot
            req.queue_wait = started - arrived
            try:
                yield from self.django.handle(req, self, slot, started + self.timeout)
            except WorkerKilled:
                self.killed_workers += 1
                env.timeout(self.restart).callbacks.append(lambda _: workers.release(slot))
                if deadline < env.now:  # nginx gave up first
                    return self._read_timeout(req, arrived, deadline)
                return self._leave(req, "app", 502, WORKER_TIMEOUT, env.now)
            except TooManyClients:
                workers.release(slot)
                return self._leave(req, "db", 500, TOO_MANY_CLIENTS, env.now)
            workers.release(slot)
            if env._now > deadline:  # the answer came too late: nginx answered 504 already
                return self._read_timeout(req, arrived, deadline)
            req.status = 200
            self._done()
        except simpy.Interrupt:
            if ticket is not None:
                workers.cancel(ticket)
            elif slot is not None:
                # The worker went with the machine (a crash, or the end of draining): its slot
                # is no longer busy, or utilisation would count a dead worker to the end.
                workers.release(slot)
            if req.app_start is None:
                req.queue_wait = env.now - arrived
                self._leave(req, "queue", 502, INSTANCE_STOPPED, env.now)
            else:
                self._leave(req, "app", 502, INSTANCE_STOPPED, env.now)
        finally:
            self._inside.pop(req.id, None)

    def _read_timeout(self, req, arrived: float, deadline: float) -> None:
        # From the client's side everything after the load balancer was waiting for nginx;
        # the worker's work (if any) went on unseen, so no app or db record.
        req.queue_wait = deadline - arrived
        self._leave(req, "queue", 504, GATEWAY_TIMEOUT, deadline)

    def _leave(self, req, layer: str, status: int, outcome: str, at: float) -> None:
        req.fail(layer, status, outcome)
        req.end = at
        self._done()

    def leave(self) -> None:
        """A request counted in :attr:`outstanding` will not come after all."""
        self._done()

    def _done(self) -> None:
        self.outstanding -= 1
        if self.on_free is not None:
            self.on_free(self)
