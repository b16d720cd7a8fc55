"""A page's static files: what the browser fetches once the HTML is in, and who serves them.

Think of a restaurant order: the main course (the HTML) comes first, and the waiter reads on
it what else the table needs (a stylesheet, scripts, images). Six runners at most may go to
the same kitchen at once (HTTP/1.1 browsers open at most 6 connections per host, FACTS.md,
"The frontend"), so a table waiting for eight dishes sees them come in two rounds. A runner
sent to the shop across the street (the CDN's edge, near the user) is back quickly when the
shop has the dish in stock (a hit) and slower when the shop must first order it from the
kitchen itself (a miss: the origin fetch). In the kitchen the dish is either taken off a
shelf by the porter (nginx reading the file from disk, nobody else is held up) or plated by
a cook (Django with WhiteNoise: a Gunicorn worker and some vCPU time, taken from the
requests that need a cook).

Owns: the fetch of one page's files (:meth:`Assets.page`): one generator per connection,
each taking the next file the page still needs, in the page's order, until none is left;
each file stamped on a :class:`Fetch`. The engine runs the generators side by side
(``sim/engine/world.py``) and waits for all of them: the page is loaded when the last file is
in.

Per file, on its connection (``start`` is when the connection took it):

- a connection's first file opens it: to the edge two round trips of ``edge_latency`` (TCP
  and TLS), to the site ``network.connect`` (the page's own connection, the HTML's, is
  reused and costs nothing);
- from the CDN: one round trip to the edge; on a miss (``1 - hit_ratio``) the edge asks the
  instances first (``origin_latency``, the load balancer's and nginx's hops, the serving);
- from the instances: one round trip ``rtt``, the load balancer's and nginx's hops, the
  serving;
- the serving: nginx reads the file (``nginx_file``); or WhiteNoise inside Django takes a
  Gunicorn worker slot (waiting in the listen backlog if every worker is busy, refused when
  it is full: 502) and ``whitenoise_cpu`` seconds of a vCPU, and gives the worker back once
  nginx has buffered the file;
- the bytes: ``size / bandwidth``, the client's downlink.

Simplifications, said once: a file goes to the instance that served its page (the load
balancer's choice is not modelled for files), the CDN's own name is in the browser's cache,
and a file is never cut off by a timeout or a crash once a worker has it.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import simpy

from sim.config import AssetsConfig
from sim.layers import BACKLOG_FULL, INSTANCE_STOPPED, OK, STATUS
from sim.model.distributions import make
from sim.model.instance import DRAINING, IN_SERVICE
from sim.model.slots import Slots

# Where a file came from.
EDGE_HIT = "edge-hit"  # the CDN's edge had it
EDGE_MISS = "edge-miss"  # the edge fetched it from the instances first
NGINX = "nginx"  # an instance's nginx, from disk
DJANGO = "django"  # an instance's Django, through WhiteNoise
SOURCES = (EDGE_HIT, EDGE_MISS, NGINX, DJANGO)


class Fetch:
    """One file of one page: when its connection took it and what each part cost.

    ``connect + service + wait + transfer`` is the time from ``start`` to ``end``; ``ready``
    is when the page's HTML was in, so ``start - ready`` is the time the file waited for a
    free connection."""

    __slots__ = (
        "connect",
        "connection",
        "end",
        "index",
        "instance",
        "outcome",
        "ready",
        "service",
        "size",
        "source",
        "start",
        "status",
        "transfer",
        "wait",
        "worker",
    )

    def __init__(self, index: int, size: float, connection: int, ready: float, start: float):
        self.index = index
        self.size = size
        self.connection = connection
        self.ready = ready
        self.start = start
        self.connect = self.service = self.wait = self.transfer = 0.0
        self.end = start
        self.source = ""
        self.instance = self.worker = None
        self.outcome = OK
        self.status = 200


class Assets:
    """The browser's fetching of a page's static files, and whoever serves them."""

    def __init__(
        self,
        env: simpy.Environment,
        config: AssetsConfig,
        connect,
        lb_hop,
        nginx_hop,
        rng: np.random.Generator,
    ) -> None:
        self.env = env
        self.config = config
        self.sizes = config.sizes
        self.cdn = config.cdn
        self.server = config.server
        self.hit_ratio = config.hit_ratio
        # Samplers: the network's connect and the two proxy hops are the scenario's own
        # distributions, drawn here from the files' stream.
        self._connect = connect
        self._lb_hop = lb_hop
        self._nginx_hop = nginx_hop
        self._edge = make(config.edge_latency).sampler(rng)
        self._origin = make(config.origin_latency).sampler(rng)
        self._rtt = make(config.rtt).sampler(rng)
        self._nginx_file = make(config.nginx_file).sampler(rng)
        self._cpu = make(config.whitenoise_cpu).sampler(rng)
        self._rng = rng
        self._draws: list[float] = []

    def _hit(self) -> bool:
        if not self._draws:
            self._draws.extend(self._rng.random(1024).tolist())
        return self._draws.pop() < self.hit_ratio

    def page(self, instance, fetched: list[Fetch]) -> list:
        """The generators of one page's connections, from now (the HTML is in): as many as
        the browser opens for its files (at most ``connections``), each appending the
        :class:`Fetch` of every file it fetched to ``fetched``. ``instance`` served the page."""
        pending = deque(range(len(self.sizes)))
        ready = self.env.now
        count = min(self.config.connections, len(self.sizes))
        return [self._connection(k, pending, ready, instance, fetched) for k in range(count)]

    def _connection(self, number: int, pending: deque, ready: float, instance, fetched: list):
        # One connection of the browser's: the next file the page needs, until none is left.
        env = self.env
        # The HTML came over a connection to the site: without the CDN, the first of the
        # page's connections is that one, already open.
        opened = not self.cdn and number == 0
        while pending:
            index = pending.popleft()
            f = Fetch(index, self.sizes[index], number, ready, env.now)
            fetched.append(f)
            if not opened:
                opened = True
                f.connect = 2 * self._edge() if self.cdn else self._connect()
            if self.cdn:
                f.service = self._edge()
                if self._hit():
                    f.source = EDGE_HIT
                else:
                    f.source = EDGE_MISS
                    f.service += self._origin() + self._lb_hop() + self._nginx_hop()
            else:
                f.source = self.server
                f.service = self._rtt() + self._lb_hop() + self._nginx_hop()
            f.transfer = self.config.transfer(f.size)
            if f.source == EDGE_HIT:
                yield f.connect + f.service + f.transfer
            else:
                yield f.connect + f.service  # up to the instance
                yield from self._serve(f, instance)
                if f.status == 200:
                    yield f.transfer
                else:
                    f.transfer = 0.0
            f.end = env.now

    def _serve(self, f: Fetch, instance):
        # The file on ``instance``: nginx from disk, or Django with WhiteNoise on a worker.
        env = self.env
        f.instance = instance.id
        if instance.state not in (IN_SERVICE, DRAINING):  # nothing listens any more
            f.outcome, f.status = INSTANCE_STOPPED, STATUS[INSTANCE_STOPPED]
            return
        if self.server == NGINX:
            cost = self._nginx_file()
            f.service += cost
            yield cost
            return
        arrived = env.now
        workers = instance.workers
        slot = workers.acquire()
        if slot is None:  # every worker busy: the listen backlog, if there is room
            if workers.queued >= instance.backlog:
                f.outcome, f.status = BACKLOG_FULL, STATUS[BACKLOG_FULL]
                return
            slot = yield workers
        f.worker = slot
        cpu = self._cpu()
        vcpus = instance.vcpus
        if vcpus.__class__ is Slots:  # a vCPU to itself, first come first served
            core = vcpus.acquire()
            if core is None:
                core = yield vcpus
            try:
                yield cpu
            finally:
                vcpus.release(core)
        else:  # time-sliced with the other bursts (cpu.py)
            burst = vcpus.start(cpu)
            yield burst.event
            vcpus.leave(burst)
        workers.release(slot)
        # Waiting: for a worker, then for a vCPU (or stretched by sharing one).
        f.wait = max(env.now - arrived - cpu, 0.0)
        f.service += cpu
