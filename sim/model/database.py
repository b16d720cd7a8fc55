"""PostgreSQL: a fixed number of connections and a CPU shared by every query.

Think of a bank with a numbered-ticket machine that only prints ``max_connections`` tickets:
each customer (a Django worker thread) needs a ticket to be served at all, and when the roll
runs out the machine says so ("FATAL: sorry, too many clients already") instead of letting you
queue. Getting a ticket takes a moment (a new backend process is forked and you authenticate),
which Django pays on every request when ``CONN_MAX_AGE = 0``. Behind the counter a few clerks
(the database's vCPUs) work through the queries in order of arrival.

Facts (``sim/FACTS.md``, "Django and PostgreSQL"): ``max_connections`` 100, past it the FATAL
error; ``CONN_MAX_AGE = 0`` opens a connection per request; a new connection costs a few ms
locally, 10-30 ms across a LAN with TLS and SCRAM. With persistent connections a thread opens
its connection at its first query and keeps it, so the database holds one per thread that has
*started*: gthread starts its threads as concurrency needs them (``instance.py``), and the
stack lab's connections experiment measured the fleet holding that many, not one per thread
configured (``notebooks/data/connections.csv``).

This module owns the counts and the samplers; ``app.py`` decides when a request connects and
queries, and charges the time in its own process (no process per query).
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.config import PostgresConfig
from sim.model.distributions import make
from sim.model.slots import Slots


class TooManyClients(Exception):
    """``FATAL: sorry, too many clients already``: Django answers 500. ``cost`` is the time the
    attempt took (PostgreSQL forks and authenticates before it checks the limit)."""

    def __init__(self, cost: float) -> None:
        super().__init__(cost)
        self.cost = cost


class Database:
    """Connections (a counter with a hard limit) and the database's CPU (:class:`Slots`)."""

    def __init__(self, env: simpy.Environment, config: PostgresConfig, rng: np.random.Generator):
        self.env = env
        self.config = config
        self.max_connections = config.max_connections
        self.connections = 0
        #: the most connections held at once (pg_stat_activity's peak, as the lab samples it)
        self.peak = 0
        self.refused = 0
        self.cpu = Slots(env, config.vcpus)
        self.connect_cost = make(config.connect_cost).sampler(rng)
        self.query_cost = make(config.query).sampler(rng)
        self.rtt = config.rtt
        self.persistent = config.conn_max_age > 0
        self._area = 0.0
        self._last = env.now

    def _account(self) -> None:
        now = self.env.now
        self._area += self.connections * (now - self._last)
        self._last = now

    def open(self) -> float:
        """Take a connection; returns the set-up time. Raises TooManyClients past the limit
        (after the same set-up time: PostgreSQL forks and authenticates before it checks)."""
        cost = self.connect_cost()
        if self.connections >= self.max_connections:
            self.refused += 1
            raise TooManyClients(cost)
        self._account()
        self.connections += 1
        if self.connections > self.peak:
            self.peak = self.connections
        return cost

    def close(self) -> None:
        self._account()
        self.connections -= 1

    def expire(self, connections: list, slot: int, now: float) -> None:
        """Django closes a worker's persistent connection older than ``CONN_MAX_AGE`` when a
        request starts (``connections[slot]``: when it was opened, or None)."""
        opened = connections[slot]
        if self.persistent and opened is not None and now - opened >= self.config.conn_max_age:
            self.drop(connections, slot)

    def drop(self, connections: list, slot: int) -> None:
        """Close the persistent connection of worker slot ``slot``, if it has one."""
        if connections[slot] is not None:
            self.close()
            connections[slot] = None

    def connection_time(self) -> float:
        """Open-connection-seconds so far (utilisation = growth / max_connections / time)."""
        self._account()
        return self._area
