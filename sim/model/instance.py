"""One EC2 instance: nginx in front, Gunicorn's listen backlog and workers, the vCPUs.

Think of a doctor's practice: the receptionist (nginx) takes everyone in and sends them to the
waiting room (Gunicorn's listen backlog, which has a limited number of chairs; when it is full
the door is shut and the visitor is turned away: a 502 from nginx). Each doctor (a ``sync``
worker, or a thread of a ``gthread`` worker) sees one patient at a time, and the doctors share
a few examination rooms (vCPUs). A doctor silent for too long (Gunicorn's ``timeout``, 30 s)
is replaced by the practice manager (the arbiter): the patient is sent home with a 502 and the
new doctor needs a moment (``restart``) before seeing the next one.

Facts (``sim/FACTS.md``, "nginx" and "Gunicorn"): one listen backlog of 2048 per instance,
shared by its workers; timeout 30 s (only ``sync`` requests are capped: a ``gthread`` worker's
heartbeat comes from its main thread); ``proxy_read_timeout`` 60 s, so a slow request in the
default stack surfaces as a 502.

An instance has a lifecycle (``booting`` -> ``in_service`` -> ``draining`` -> ``terminated``);
the load balancer routes to registered, healthy, in-service instances. :meth:`stop` is a
crash: every request inside fails with a 502. The counters a sampler reads (busy workers,
busy vCPUs, backlog length, their busy-seconds) are plain attributes and methods.
"""

from __future__ import annotations

import math

import simpy

from sim.config import Scenario
from sim.layers import (
    BACKLOG_FULL,
    GATEWAY_TIMEOUT,
    IDLE_TIMEOUT,
    INSTANCE_STOPPED,
    STATUS,
    TOO_MANY_CLIENTS,
    WORKER_TIMEOUT,
)
from sim.model.app import Django, WorkerKilled
from sim.model.cpu import SharedCores
from sim.model.database import Database, TooManyClients
from sim.model.slots import Slots

BOOTING, IN_SERVICE, DRAINING, TERMINATED = "booting", "in_service", "draining", "terminated"
STATES = (BOOTING, IN_SERVICE, DRAINING, TERMINATED)


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
        self.healthy = True  # health checks (health.py) may say otherwise
        self.launched_at = env.now
        self.stopped_at = math.inf  # set by stop(): capacity is counted only in between
        self.django = django
        self.db = db
        cores = scenario.instances.vcpus
        # How the kernel shares the vCPUs among bursts (cpu.py): in line, or time-sliced.
        shared = scenario.instances.cpu_discipline == "ps"
        self.vcpus: Slots | SharedCores = SharedCores(env, cores) if shared else Slots(env, cores)
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
        #: slots that have served a request: gthread's pool starts a thread only when a
        #: request finds none idle and never stops it, and a free slot is handed out most
        #: recently freed first, so a new one is taken only when every started one is busy
        #: (slots.py): this is the peak concurrency so far, the threads a gthread fleet has
        #: started, each holding its persistent connection
        self.started = 0
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
        for slot in range(len(self.connections)):
            self.db.drop(self.connections, slot)
        for journey in list(self._inside.values()):
            if journey.is_alive:
                journey.interrupt(INSTANCE_STOPPED)

    # -- the request's path through the instance ------------------------------------------
    def serve(self, req, lb_deadline: float = math.inf):
        """Sub-process (``yield from``): nginx -> backlog -> worker -> Django -> back.

        The load balancer has already counted ``req`` in :attr:`outstanding` and waits for the
        answer until ``lb_deadline`` (its idle timeout). Sets ``req.status`` (200 or the
        error) and ``req.end``. An answer later than nginx's ``proxy_read_timeout`` or the
        load balancer's deadline is a 504 from whichever gave up first.
        """
        env = self.env
        arrived = env.now
        req.instance = self.id
        if self.state not in (IN_SERVICE, DRAINING):  # connection refused: nothing listens
            return self._leave(req, "queue", INSTANCE_STOPPED, arrived)
        self._inside[req.id] = req.journey
        workers = self.workers
        slot = None
        try:
            slot = workers.acquire()
            if slot is None:  # every worker busy: a place in the listen backlog, if any
                if workers.queued >= self.backlog:
                    return self._leave(req, "queue", BACKLOG_FULL, arrived)
                slot = yield workers
            if slot >= self.started:  # a thread started for this request
                self.started = slot + 1
            started = env.now
            req.worker = slot
            req.queue_wait = started - arrived
            # The arbiter kills a sync worker silent for `timeout` seconds (inf for gthread).
            deadline = started + self.timeout
            req.journey.set_deadline(deadline, WorkerKilled)
            try:
                yield from self.django.handle(req, self, slot, deadline)
            except WorkerKilled:
                self.killed_workers += 1
                self._restart(slot)
                slot = None
                if env.now > min(arrived + self.read_timeout, lb_deadline):
                    return self._too_late(req, arrived, lb_deadline)  # nginx gave up first
                return self._leave(req, "app", WORKER_TIMEOUT, env.now)
            except TooManyClients:
                workers.release(slot)
                return self._leave(req, "db", TOO_MANY_CLIENTS, env.now)
            finally:
                req.journey.set_deadline(math.inf)
            after = self.django.cpu_after
            if after is None:
                workers.release(slot)
            else:  # the response goes now; the worker still has work to do
                env.process(self._after_response(slot, after()))
            if env.now > min(arrived + self.read_timeout, lb_deadline):
                return self._too_late(req, arrived, lb_deadline)
            req.status = 200
            self._done()
        except simpy.Interrupt:
            # The worker went with the machine (a crash, or the end of draining): its slot is
            # no longer busy, or utilisation would count a dead worker to the end. (A place
            # in the backlog was given up by the engine already.)
            if slot is not None:
                workers.release(slot)
            if req.app_start is None:
                req.queue_wait = env.now - arrived
                self._leave(req, "queue", INSTANCE_STOPPED, env.now)
            else:
                self._leave(req, "app", INSTANCE_STOPPED, env.now)
        finally:
            self._inside.pop(req.id, None)

    def _after_response(self, slot: int, work: float):
        # Process: the CPU a request costs once its response has gone (django.cpu_after), on
        # the instance's vCPUs like any burst; the worker takes the next request after it.
        env, vcpus = self.env, self.vcpus
        if work > 0:
            if vcpus.__class__ is Slots:
                core = vcpus.acquire()
                if core is None:
                    core = yield vcpus.wait()
                yield env.timeout(work)
                vcpus.release(core)
            else:
                yield vcpus.start(work).event
        self.workers.release(slot)

    def _restart(self, slot: int) -> None:
        # The killed worker's slot serves again once the arbiter has started a new worker.
        self.env.timeout(self.restart).callbacks.append(lambda _: self.workers.release(slot))

    def _too_late(self, req, arrived: float, lb_deadline: float) -> None:
        # The answer came after nginx's read timeout or the load balancer's idle timeout: the
        # first to give up answered 504 then. From the client's side everything after the load
        # balancer was waiting for nginx; the worker's work (if any) went on unseen, so no app
        # or db record.
        nginx_deadline = arrived + self.read_timeout
        deadline = min(nginx_deadline, lb_deadline)
        req.queue_wait = deadline - arrived
        why = IDLE_TIMEOUT if lb_deadline < nginx_deadline else GATEWAY_TIMEOUT
        self._leave(req, "queue", why, deadline)

    def _leave(self, req, layer: str, outcome: str, at: float) -> None:
        req.fail(layer, STATUS[outcome], outcome)
        req.end = at
        self._done()

    def leave(self) -> None:
        """A request counted in :attr:`outstanding` will not come after all."""
        self._done()

    def _done(self) -> None:
        self.outstanding -= 1
        if self.on_free is not None:
            self.on_free(self)
