"""Django's work on one request: CPU bursts on the instance's vCPUs, interleaved with queries.

Think of a cook with one stove ring to share: chop (a CPU burst on a vCPU), send a runner to
the pantry (a database query, during which the ring is free for another cook), chop again with
what came back. With five cooks (Gunicorn workers) and two rings (vCPUs) the cooks queue for
the rings, which is why more workers than cores stops helping once the CPU is the bottleneck.

A request is one CPU burst (middleware and view) followed, ``queries`` times, by a query and a
shorter burst handling its rows. A query needs a database connection (opened per request when
``CONN_MAX_AGE = 0``, kept by the worker otherwise: ../shared/design/MODEL_FACTS.md, "Django +
PostgreSQL") and one of the database's CPUs for its duration plus the round trip.

All of this runs inside the request's own SimPy process (``yield from``): one timeout per burst
or query (yielded as a plain float delay, the cheap timeout of ``journey.py``), and an event
for a queue only when one must be joined. A ``sync`` worker has a kill time (Gunicorn's
``timeout``): any wait or burst that would run past it stops there and :class:`WorkerKilled`
is raised, as when Gunicorn's arbiter kills a silent worker.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from sim.config import DjangoConfig
from sim.database import Database, TooManyClients
from sim.distributions import make

# What a request is doing, for charging elapsed time when it is cut short.
CPU_WAIT, CPU, DB_WAIT, DB = range(4)


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

    def handle(self, req, inst, slot: int, kill_at: float = math.inf):
        """SimPy sub-process (``yield from``): serve ``req`` on ``inst``'s worker ``slot``.

        Stamps the ``app`` and ``db`` parts of ``req``. Raises :class:`WorkerKilled`,
        :class:`~sim.database.TooManyClients`, or lets ``simpy.Interrupt`` (instance stopped)
        through, always after giving back what it held.
        """
        env, db, vcpus, timeout = self.env, self.db, inst.vcpus, self.env.timeout
        # Locals for what every query looks up (these never change during a run; the query
        # cost may, when a failure slows the database down, so it is looked up each time).
        db_cpu, rtt, cpu_per_query = db.cpu, db.rtt, self.cpu_per_query
        # env._now rather than env.now below: this loop runs for every burst and query, and
        # the property call is a measurable share of it.
        now = env._now
        req.app_start = now
        conns = inst.connections  # per worker slot: when its persistent connection was opened
        persistent = db.persistent
        if persistent and conns[slot] is not None and now - conns[slot] >= db.config.conn_max_age:
            db.close()  # Django closes a connection older than CONN_MAX_AGE at request start
            conns[slot] = None
        acc = [0.0, 0.0, 0.0, 0.0]  # time spent per phase: CPU_WAIT, CPU, DB_WAIT, DB
        phase, mark = CPU, now
        own_conn = False
        cpu_slot = db_slot = ticket = pool = None
        queries = self.queries
        burst = self.cpu()
        q = 0
        try:
            while True:
                if burst > 0:
                    cpu_slot = vcpus.acquire()
                    if cpu_slot is None:
                        phase, mark, pool, ticket = CPU_WAIT, env._now, vcpus, vcpus.wait()
                        if kill_at != math.inf:
                            yield ticket | timeout(kill_at - mark)
                            if not ticket.triggered:
                                raise WorkerKilled
                        else:
                            yield ticket
                        cpu_slot, ticket = ticket.value, None
                        acc[CPU_WAIT] += env._now - mark
                    phase, mark = CPU, env._now
                    if mark + burst > kill_at:
                        yield kill_at - mark
                        raise WorkerKilled
                    yield burst
                    acc[CPU] += burst
                    vcpus.release(cpu_slot)
                    cpu_slot = None
                if q == queries:
                    break
                q += 1
                # A query: connect if needed, then one of the database's CPUs.
                phase, mark = DB, env._now
                if req.db_start is None:
                    req.db_start = mark
                if not (own_conn or (persistent and conns[slot] is not None)):
                    try:
                        cost = db.open()
                    except TooManyClients as exc:
                        if mark + exc.args[0] > kill_at:
                            yield kill_at - mark
                            raise WorkerKilled from None
                        yield exc.args[0]
                        raise
                    if persistent:
                        conns[slot] = mark
                    else:
                        own_conn = True
                    if mark + cost > kill_at:
                        yield kill_at - mark
                        raise WorkerKilled
                    yield cost
                    acc[DB] += cost
                db_slot = db_cpu.acquire()
                if db_slot is None:
                    phase, mark, pool, ticket = DB_WAIT, env._now, db_cpu, db_cpu.wait()
                    if kill_at != math.inf:
                        yield ticket | timeout(kill_at - mark)
                        if not ticket.triggered:
                            raise WorkerKilled
                    else:
                        yield ticket
                    db_slot, ticket = ticket.value, None
                    acc[DB_WAIT] += env._now - mark
                phase, mark = DB, env._now
                busy = db.query_cost() + rtt
                if mark + busy > kill_at:
                    yield kill_at - mark
                    raise WorkerKilled
                yield busy
                acc[DB] += busy
                db_cpu.release(db_slot)
                db_slot = None
                req.db_end = env._now
                burst = cpu_per_query()
        except BaseException as exc:
            acc[phase] += env._now - mark
            if ticket is not None:
                pool.cancel(ticket)
            if cpu_slot is not None:
                vcpus.release(cpu_slot)
            if db_slot is not None:
                db_cpu.release(db_slot)
            if req.db_start is not None:
                req.db_end = env._now
            # A killed worker's process dies with its persistent connection; a stopped
            # instance closes all of them itself (Instance.stop).
            if isinstance(exc, WorkerKilled) and conns[slot] is not None:
                db.close()
                conns[slot] = None
            raise
        finally:
            if own_conn:
                db.close()  # CONN_MAX_AGE = 0: closed at the end of the request
            req.app_wait, req.app_service, req.db_wait, req.db_service = acc
            req.app_end = env._now
