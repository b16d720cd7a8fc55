"""The engine: builds the SimPy world from a scenario, sends requests through it, runs it.

Think of a model railway layout: the scenario is the track plan, this module lays the track
(the resolver, the load balancer, the instances, the database), puts trains on it (requests,
arriving as a Poisson stream unless told otherwise) and runs the clock. Every train keeps its
own log book (``request.py``); at the end the log books are collected as flat records.

Flow: Scenario -> :class:`Engine` (one object per thing modelled) -> :meth:`Engine.run` ->
:class:`Results` (records + the busy-time counters), which ``metrics.py`` summarises.

Each request is one generator, driven like a SimPy process (``journey.py``). The hops that
are pure delays (DNS, TCP + TLS, the load balancer's and nginx's own hops) are charged in a
single timeout; queues cost an event only when a request must actually wait (``slots.py``).
Delays are yielded as plain floats and skip SimPy's queue when they are next anyway
(``journey.py``), the run loop is SimPy's step written out (:func:`run_until`), and the cyclic
garbage collector rests during a run. That keeps the model fast enough to drive sliders.

Extension points for the simulation over time (workload profiles, health checks, auto
scaling, failures):

- ``arrivals``: any iterable of absolute arrival times (e.g. ``workload.arrival_times``), or
  ``()`` to switch the built-in stream off and call :meth:`Engine.send` from a process;
- :attr:`Engine.processes`: factories ``f(engine)`` returning a SimPy generator, started by
  :meth:`Engine.run` (append before running);
- :meth:`Engine.launch` makes a new instance (any lifecycle state), :attr:`Engine.lb`,
  :attr:`Engine.db`, :attr:`Engine.instances` and :attr:`Engine.env` are public;
- :meth:`Engine.send` starts one request now and returns an event that fires at its end.
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from heapq import heappop

import numpy as np
import simpy
from simpy.events import URGENT

from sim import routing
from sim.app import Django
from sim.config import Scenario
from sim.database import Database
from sim.distributions import make
from sim.dns import Resolver
from sim.instance import IN_SERVICE, Instance
from sim.journey import Journey
from sim.load_balancer import IDLE_TIMEOUT, NO_TARGET, LoadBalancer
from sim.request import Request

ProcessFactory = Callable[["Engine"], Generator]


def poisson_times(rate: float, rng: np.random.Generator, end: float) -> Iterator[float]:
    """Arrival instants of a Poisson stream of ``rate`` per second in ``[0, end)``."""
    t = 0.0
    mean = 1.0 / rate
    while True:
        for gap in rng.exponential(mean, 4096).tolist():
            t += gap
            if t >= end:
                return
            yield t


@dataclass
class Results:
    """What one run produced: flat records and the counters the statistics need."""

    scenario: Scenario
    seed: int
    rows: list[tuple]
    window: tuple[float, float]
    #: busy-seconds and capacity-seconds over the window, per resource kind
    busy: dict[str, float] = field(default_factory=dict)
    capacity: dict[str, float] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)


class Engine:
    """One simulated world. ``Engine(scenario).run()`` is the whole story."""

    def __init__(
        self,
        scenario: Scenario,
        rng: np.random.Generator | None = None,
        *,
        arrivals: Iterable[float] | None = None,
    ) -> None:
        self.scenario = s = scenario
        self.seed = s.run.seed
        self.rng = rng if rng is not None else rng_for(s.run.seed)
        # One independent stream per component: changing how one of them samples does not
        # shift the random numbers every other one sees.
        r_arrivals, r_dns, r_net, r_route, r_app, r_db, r_clients = self.rng.spawn(7)
        self.env = env = simpy.Environment()
        self.db = Database(env, s.postgres, r_db)
        self.django = Django(env, s.django, self.db, r_app)
        self.resolver = Resolver(s.dns, r_dns)
        self.lb = LoadBalancer(
            env, s.load_balancer, routing.strategy(s.load_balancer.routing, r_route)
        )
        self.instances: list[Instance] = []
        self.processes: list[ProcessFactory] = []
        self.requests: list[Request] = []  # finished requests, in order of finishing
        self._created = 0  # requests made so far (their ids), some perhaps not yet arrived
        self._future: deque[float] = deque()  # arrival times of those not yet arrived
        self.arrivals = (
            poisson_times(s.arrivals.rate, r_arrivals, s.run.duration)
            if arrivals is None
            else arrivals
        )
        self._connect = make(s.network.connect).sampler(r_net)
        self._download = make(s.network.download).sampler(r_net)
        self._lb_hop = make(s.load_balancer.latency).sampler(r_route)
        self._nginx_hop = make(s.nginx.latency).sampler(r_route)
        self._idle_timeout = s.load_balancer.idle_timeout
        clients = s.dns.clients
        picks: list[int] = []

        def next_client() -> int:
            if not picks:
                picks.extend(r_clients.integers(0, clients, 4096).tolist())
            return picks.pop()

        self._client = next_client
        for _ in range(s.instances.count):
            self.launch()

    # -- building -------------------------------------------------------------------------
    def launch(self, state: str = IN_SERVICE, register: bool = True) -> Instance:
        """A new instance (next id), optionally registered with the load balancer."""
        instance = Instance(
            self.env, len(self.instances), self.scenario, self.django, self.db, state
        )
        self.instances.append(instance)
        if register:
            self.lb.register(instance)
        return instance

    # -- requests -------------------------------------------------------------------------
    def send(self, cached_dns: bool | None = None, *, wait: bool = True) -> simpy.Event | None:
        """Start one request now from a random browser; returns an event that fires when the
        response is back. ``cached_dns`` overrides the browser cache.

        ``wait=False`` is for callers that do not wait for the response (the built-in
        arrival stream): no event is returned, the journey ends when the response leaves the
        instance and the download is only stamped on the record, which saves an event and
        changes nothing else (the download holds no resource anybody could observe)."""
        req = Request(self._created, self.env.now, self._client())
        self._created += 1
        done = self.env.event() if wait else None
        req.journey = Journey(self.env, self._travel(req, cached_dns, wait), done)
        return done

    @property
    def sent(self) -> int:
        """Requests that have arrived so far."""
        future, now = self._future, self.env.now
        while future and future[0] <= now:
            future.popleft()
        return self._created - len(future)

    def _send_at(self, arrival: float) -> None:
        # A request of the built-in stream, made ahead of its arrival (see _arrive).
        req = Request(self._created, arrival, self._client())
        self._created += 1
        self._future.append(arrival)
        req.journey = Journey(self.env, self._travel(req, None, False, arrival - self.env._now))

    def _travel(self, req: Request, cached_dns: bool | None, wait: bool = True, ahead=0.0):
        env = self.env
        req.dns, req.dns_outcome = self.resolver.resolve(req.client, req.arrival, cached_dns)
        req.connect = self._connect()
        req.lb_service = self._lb_hop()
        req.queue_service = self._nginx_hop()
        # DNS, TCP + TLS and the two proxy hops are pure delays: one event for all four.
        yield ahead + req.dns + req.connect + req.lb_service + req.queue_service
        at_lb = req.arrival + req.dns + req.connect
        target = self.lb.route()
        if target.__class__ is not Instance:
            if target.__class__ is str:
                return self._refuse(req, target)
            queued = env.now
            target = yield target
            req.lb_wait = env.now - queued
            if target is None:
                return self._refuse(req, NO_TARGET)
            if env.now > at_lb + self._idle_timeout:
                # The load balancer's idle timeout ran out in the surge queue: it answered 504
                # then (stamped afterwards: nothing else observes the request meanwhile).
                target.leave()
                req.lb_wait = at_lb + self._idle_timeout - queued
                req.queue_service = 0.0
                req.fail("lb", 504, IDLE_TIMEOUT)
                req.end = at_lb + self._idle_timeout
                self.requests.append(req)
                return
        yield from target.serve(req, at_lb + self._idle_timeout)
        if req.status == 200:
            req.download = self._download()
            if wait:
                yield req.download
            req.end = req.app_end + req.download
        self.requests.append(req)

    def _refuse(self, req: Request, why: str) -> None:
        req.queue_service = 0.0  # never reached nginx
        req.fail("lb", 503, why)
        req.end = self.env.now
        self.requests.append(req)

    def _arrive(self, batch: int = 64) -> None:
        """Start the built-in arrival stream. Requests are made in batches of ``batch``, each
        waiting out its own time to arrive in its first timeout, so an arrival costs no event
        of its own. Made ahead means resolved ahead: DNS is resolved at creation, in order of
        arrival and as of the arrival time, so the caches see the same sequence either way.
        """
        times = iter(self.arrivals)
        env = self.env
        upcoming = [next(times, None)]

        def make_batch(_event=None) -> None:
            t = upcoming[0]
            for _ in range(batch):
                if t is None:
                    break
                self._send_at(t)
                t = next(times, None)
            upcoming[0] = t
            if t is not None:
                env.timeout(t - env.now).callbacks.append(make_batch)

        if upcoming[0] is not None:
            env.timeout(upcoming[0] - env.now).callbacks.append(make_batch)

    # -- running --------------------------------------------------------------------------
    def run(self) -> Results:
        """Run arrivals until ``run.duration``, then let requests in flight finish (at most
        ``run.drain`` seconds more). Busy time is measured over ``[warmup, duration)``."""
        # Python's cyclic garbage collector is paused for the run: a run makes hundreds of
        # thousands of short-lived objects (events, heap entries, generators) and keeps a
        # growing number of finished requests and records, so the collector's full passes
        # walk that growing heap again and again (about a sixth of a run's time) to find
        # almost nothing: a request leaves no reference cycle behind once its journey ends.
        # Memory is freed by reference counting as before; collection resumes afterwards.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._run()
        finally:
            if paused:
                gc.enable()

    def _run(self) -> Results:
        s, env = self.scenario, self.env
        warmup, duration = s.run.warmup, s.run.duration
        self._arrive()
        for factory in self.processes:
            env.process(factory(self))
        run_until(env, warmup) if warmup > 0 else None
        start = self._snapshot()
        run_until(env, duration)
        end = self._snapshot()
        run_until(env, duration + s.run.drain)
        window = duration - warmup
        busy = {k: end[k] - start[k] for k in start}

        def alive(i: Instance) -> float:
            # An auto-scaling group launches and terminates instances: each one offers its
            # workers and vCPUs only while it exists inside the window.
            return max(0.0, min(i.stopped_at, duration) - max(i.launched_at, warmup))

        capacity = {
            "workers": sum(i.workers.capacity * alive(i) for i in self.instances),
            "vcpus": sum(i.vcpus.capacity * alive(i) for i in self.instances),
            "db_connections": self.db.max_connections * window,
            "db_cpu": self.db.cpu.capacity * window,
        }
        done = sorted(self.requests, key=lambda r: r.id)
        rows = [row for req in done for row in req.spans()]
        counters = {
            "sent": self.sent,
            "finished": len(self.requests),
            "spillover": self.lb.spillover,
            "killed_workers": sum(i.killed_workers for i in self.instances),
            "refused_db_connections": self.db.refused,
        }
        return Results(s, self.seed, rows, (warmup, duration), busy, capacity, counters)

    def _snapshot(self) -> dict[str, float]:
        return {
            "workers": sum(i.busy_worker_time() for i in self.instances),
            "vcpus": sum(i.busy_vcpu_time() for i in self.instances),
            "db_connections": self.db.connection_time(),
            "db_cpu": self.db.cpu.busy_time(),
        }


def run_until(env: simpy.Environment, at: float) -> None:
    """``env.run(until=at)``, with SimPy's ``Environment.step`` written out in the loop.

    A run processes several events per request, and calling ``step`` for each (a method
    call and a ``try`` block around a single ``heappop``) is a measurable share of the cost.
    Everything else is SimPy's own: the stop is an urgent event at ``at`` taking its place in
    the queue as ``env.run`` puts it there, callbacks run in order with the event's
    ``callbacks`` set to ``None`` first, and a failed event nobody defused crashes the run
    with a copy of its exception.
    """
    if at <= env._now:
        raise ValueError(f"until ({at}) must be greater than the current simulation time")
    stop = simpy.Event(env)
    stop._ok, stop._value = True, None
    env.schedule(stop, URGENT, at - env._now)
    queue = env._queue
    while True:
        env._now, _, _, event = heappop(queue)  # never empty: the stop is still in it
        if event is stop:
            return
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc


def rng_for(seed: int, replication: int = 0) -> np.random.Generator:
    """The generator of replication ``replication`` of a run seeded ``seed``: independent
    streams for every (seed, replication) pair, the same stream every time."""
    return np.random.default_rng([replication, seed])


def simulate(scenario: Scenario, seed: int | None = None, replication: int = 0) -> Results:
    """Run ``scenario`` once (default seed: the scenario's ``run.seed``)."""
    seed = scenario.run.seed if seed is None else seed
    engine = Engine(scenario, rng_for(seed, replication))
    engine.seed = seed
    return engine.run()
