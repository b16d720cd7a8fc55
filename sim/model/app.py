"""Django's work on one request: CPU bursts on the instance's vCPUs, interleaved with queries.

Think of a cook with one stove ring to share: chop (a CPU burst on a vCPU), send a runner to
the pantry (a database query, during which the ring is free for another cook), chop again with
what came back. With five cooks (Gunicorn workers) and two rings (vCPUs) the cooks queue for
the rings, which is why more workers than cores stops helping once the CPU is the bottleneck.

A request is one CPU burst (middleware and view) followed, ``queries`` times, by a query and a
shorter burst handling its rows. A query needs a database connection (opened per request when
``CONN_MAX_AGE = 0``, kept by the worker thread otherwise: ``sim/FACTS.md``, "Django and
PostgreSQL") and one of the database's CPUs for its duration plus the round trip.

What a request costs after its response has gone (``cpu_after``: closing the connection,
logging) is not the request's business any more: the instance runs it in a process of its own
that holds the worker and a vCPU (``instance.py``), and the response does not wait for it.

All of it runs inside the request's own process (``yield from``): a vCPU or a database CPU is
taken by yielding its pool, a burst or a query by yielding its duration in seconds. A burst
that finds every vCPU busy waits in line with a hold instead (``yield vcpus, burst``: the
engine takes the vCPU when its turn comes, keeps it for the burst and gives it back, without
waking the request in between, and sends back when it was taken). With the
vCPUs time-sliced (``[instances] cpu_discipline = "ps"``, ``cpu.py``) a burst is handed to the
instance's shared cores instead, and the request waits until they have given it its CPU time;
the wall time beyond that CPU time is charged as waiting for a vCPU, as a wait in line is.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from sim.config import DjangoConfig
from sim.model.database import Database, TooManyClients
from sim.model.distributions import make
from sim.model.host import HostSpeed, stretched
from sim.model.slots import Slots

# Where a request's time in Django goes (and which phase a request cut short is charged).
WAITING_FOR_CPU, ON_CPU, WAITING_FOR_DB, IN_DB = range(4)


class WorkerKilled(Exception):
    """Gunicorn's arbiter killed the worker after ``timeout`` seconds of silence."""


class Django:
    """The service model of the Django application on every instance."""

    def __init__(
        self, env: simpy.Environment, config: DjangoConfig, db: Database, rng: np.random.Generator
    ) -> None:
        self.env = env
        self.db = db
        self.queries = config.queries
        self.cpu = make(config.cpu).sampler(rng)
        self.cpu_per_query = make(config.cpu_per_query).sampler(rng)
        # None when there is none: no draw, so a scenario without it keeps its random streams.
        after = config.cpu_after
        self.cpu_after = None if after.always_zero else make(after).sampler(rng)

    def on_host(self, host: HostSpeed) -> None:
        """From now on every CPU burst is stretched by the host's speed when it is drawn
        (``[instances] cpu_jitter``, ``host.py``): wrapped here, so a steady host costs the
        request path nothing."""
        self.cpu = stretched(self.cpu, host)
        self.cpu_per_query = stretched(self.cpu_per_query, host)
        if self.cpu_after is not None:
            self.cpu_after = stretched(self.cpu_after, host)

    def handle(self, req, inst, slot: int, deadline: float = math.inf):
        """Sub-process (``yield from``): serve ``req`` on ``inst``'s worker slot ``slot``.

        Stamps the ``app`` and ``db`` parts of ``req``. Lets :class:`WorkerKilled`,
        :class:`~sim.model.database.TooManyClients` or ``simpy.Interrupt`` (the instance
        stopped) through, always after giving back what it held. ``deadline`` is when the
        arbiter kills the worker (the engine enforces it on every wait; time-sliced vCPUs
        need it too, to cut a burst short there).
        """
        env, db, vcpus, connections = self.env, self.db, inst.vcpus, inst.connections
        shared = vcpus.__class__ is not Slots  # time-sliced vCPUs (cpu.py), else first come
        req.app_start = start = env.now
        db.expire(connections, slot, start)  # CONN_MAX_AGE: an old connection is closed first
        # Where the time goes: waiting for a vCPU, on one, waiting for the database's CPU, in
        # the database (connecting and querying); `phase` since `since` is where it is now.
        spent = [0.0, 0.0, 0.0, 0.0]
        phase, since = ON_CPU, start
        holding = False  # in a hold: in line since `since`, on the vCPU once it is taken
        own_connection = False  # opened for this request alone (CONN_MAX_AGE = 0)
        burst, queries_left = self.cpu(), self.queries  # middleware and the view first
        try:
            while True:
                if burst > 0 and not shared:  # a CPU burst on one of the instance's vCPUs
                    core = vcpus.acquire()
                    if core is None:  # every vCPU busy: in line for one, held in one step
                        # (a free vCPU is taken here: the hold would cost the engine more)
                        phase, since, holding = WAITING_FOR_CPU, env.now, True
                        took = yield vcpus, burst
                        holding = False
                        spent[WAITING_FOR_CPU] += took - since
                    else:
                        phase, since = ON_CPU, env.now
                        try:
                            yield burst
                        finally:
                            vcpus.release(core)
                    spent[ON_CPU] += burst
                elif burst > 0:  # a CPU burst on the shared vCPUs
                    phase, since = ON_CPU, env.now
                    running = vcpus.start(burst, deadline, req.journey)
                    try:
                        # With a vCPU to itself it waits out its work like any delay (the
                        # cores may take it over); shared, until the cores say it is done.
                        yield burst if running.event is None else running.event
                    finally:
                        if running.running:  # done on a vCPU of its own, or cut off
                            vcpus.leave(running)
                        # The CPU time it got, and the rest of its time: waiting its turn.
                        spent[ON_CPU] += running.attained
                        spent[WAITING_FOR_CPU] += max(env.now - since - running.attained, 0.0)
                        since = env.now
                    if running.expired:
                        raise WorkerKilled
                if not queries_left:
                    break
                queries_left -= 1
                # A query: a connection if the worker thread has none, then one of the
                # database's CPUs for the query and the round trip.
                phase, since = IN_DB, env.now
                if req.db_start is None:
                    req.db_start = since
                if not (own_connection or connections[slot] is not None):
                    try:
                        cost = db.open()
                    except TooManyClients as refused:
                        yield refused.cost  # PostgreSQL forks and authenticates, then refuses
                        raise
                    if db.persistent:
                        connections[slot] = since  # kept by the worker thread
                    else:
                        own_connection = True
                    yield cost
                    spent[IN_DB] += cost
                # (Not a hold: the query's cost is drawn once it has a CPU, from a stream all
                # queries share, so drawing it before queueing would change who gets which.)
                core = db.cpu.acquire()
                if core is None:  # every database CPU busy: wait in line for one
                    phase, since = WAITING_FOR_DB, env.now
                    core = yield db.cpu
                    spent[WAITING_FOR_DB] += env.now - since
                phase, since = IN_DB, env.now
                busy = db.query_cost() + db.rtt
                try:
                    yield busy
                finally:
                    db.cpu.release(core)
                spent[IN_DB] += busy
                req.db_end = env.now
                burst = self.cpu_per_query()  # handling the rows that came back
        except BaseException as exc:
            took = req.journey.held_since if holding else None
            if took is not None:  # cut short holding a vCPU: in line until `took`, on it since
                spent[WAITING_FOR_CPU] += took - since
                spent[ON_CPU] += env.now - took
            else:
                spent[phase] += env.now - since  # the phase it was in counts up to now
            if req.db_start is not None:
                req.db_end = env.now
            if isinstance(exc, WorkerKilled):
                # The killed worker's process dies with its persistent connection; a stopped
                # instance closes all of them itself (Instance.stop).
                db.drop(connections, slot)
            raise
        finally:
            if own_connection:
                db.close()  # CONN_MAX_AGE = 0: closed at the end of the request
            req.app_wait, req.app_service, req.db_wait, req.db_service = spent
            req.app_end = env.now
