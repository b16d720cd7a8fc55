"""The world of one run: every component built from the scenario, and the requests' trips.

Flow: :class:`~sim.config.Scenario` -> :class:`Engine` (one object per thing modelled, from
``sim/model/``) -> :meth:`Engine.run` -> :class:`Run` (the finished requests and the busy-time
counters), which ``sim/results/`` turns into records and statistics.

Each request is one generator driven by a journey (``kernel.py``): the trip below strings the
model's components together. The hops that are pure delays (DNS, TCP + TLS, the load
balancer's and nginx's own hops) are charged in a single wait; queues cost an event only when a
request must actually wait (``sim/model/slots.py``); requests of the built-in arrival stream
are made in batches, each waiting out its own arrival in its first wait; the cyclic garbage
collector rests during a run. That keeps the model fast enough to drive sliders.

Extension points for the simulation over time (``over_time.py``):

- ``arrivals``: any iterable of absolute arrival times (e.g. ``workload.arrival_times``), or
  ``()`` to switch the built-in stream off and call :meth:`Engine.send` from a process;
- :attr:`Engine.processes`: factories ``f(engine)`` returning a SimPy generator, started by
  :meth:`Engine.run` (append before running); :attr:`Engine.journeys` the same for
  generators the engine drives as it drives requests (floats: seconds to wait), and
  :meth:`Engine.start` starts one now;
- :meth:`Engine.launch` makes a new instance (any lifecycle state), :attr:`Engine.lb`,
  :attr:`Engine.db`, :attr:`Engine.instances` and :attr:`Engine.env` are public;
- :meth:`Engine.send` starts one request now and returns an event that fires at its end.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from heapq import heappop, heappush
from typing import Any

import numpy as np
import simpy

from sim.config import Scenario
from sim.engine.kernel import Environment, Journey, collector_paused, run_until
from sim.model import routing, users
from sim.model.app import Django
from sim.model.assets import Assets
from sim.model.database import Database
from sim.model.distributions import make
from sim.model.dns import Resolver
from sim.model.host import HostSpeed
from sim.model.instance import IN_SERVICE, Instance
from sim.model.load_balancer import LoadBalancer
from sim.model.request import Request

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


class GiveUps:
    """When users' clients get a 504 from a load balancer or an nginx that gave up waiting.

    Every user request has such a moment (tens of seconds after it was sent), and nearly every
    one is answered long before it: rather than a timer per request, the moments wait in a
    heap, and one wake-up is planned, for the earliest moment of a request still unanswered.
    When it comes, answered requests are dropped from the top and the due ones answered."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._heap: list[tuple[float, int, simpy.Event]] = []
        self._order = 0  # ties in order of arrival
        self._wake = 0  # the number of the wake-up that counts
        self._wake_at = math.inf

    def add(self, answered: simpy.Event, at: float) -> None:
        """``answered`` fires at ``at`` if nothing has fired it by then."""
        self._order += 1
        heappush(self._heap, (at, self._order, answered))
        if at < self._wake_at:
            self._plan(at)

    def _plan(self, at: float) -> None:
        self._wake += 1
        self._wake_at = at
        wake = self._wake
        # (A moment already past, an idle timeout shorter than the hops to nginx: now.)
        delay = max(at - self.env.now, 0.0)
        self.env.timeout(delay).callbacks.append(lambda _: self._woken(wake))

    def _woken(self, wake: int) -> None:
        if wake != self._wake:  # an earlier one was planned since
            return
        self._wake_at = math.inf
        heap, now = self._heap, self.env.now
        while heap and (heap[0][0] <= now or heap[0][2].triggered):
            answered = heappop(heap)[2]
            if not answered.triggered:
                answered.succeed()
        if heap:
            self._plan(heap[0][0])


@dataclass
class Run:
    """What one run produced, before any statistics: the finished requests (in id order) and
    the counters the statistics need. A run over time also carries its log (``over_time``)."""

    scenario: Scenario
    seed: int
    requests: list[Request]
    window: tuple[float, float]
    #: busy-seconds and capacity-seconds over the window, per resource kind
    busy: dict[str, float] = field(default_factory=dict)
    capacity: dict[str, float] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    replication: int = 0
    over_time: Any = None  # an over_time.OverTimeLog


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
        self.replication = 0
        self.rng = rng if rng is not None else rng_for(s.run.seed)
        # One independent stream per component: changing how one of them samples does not
        # shift the random numbers every other one sees. (A stream added at the end leaves
        # the others as they were: child k of a spawn is the same whatever the count.)
        streams = self.rng.spawn(8)
        r_arrivals, r_dns, r_net, r_route, r_app, r_db, r_clients, r_users = streams
        self.env = env = Environment()
        self.db = Database(env, s.postgres, r_db)
        self.django = Django(env, s.django, self.db, r_app)
        closed = s.users.enabled
        # With a closed population each user is a browser of its own (users.py).
        dns = replace(s.dns, clients=s.users.count) if closed else s.dns
        self.resolver = Resolver(dns, r_dns)
        self.lb = LoadBalancer(
            env, s.load_balancer, routing.strategy(s.load_balancer.routing, r_route)
        )
        self.instances: list[Instance] = []
        self.processes: list[ProcessFactory] = []
        self.journeys: list[ProcessFactory] = []
        self.requests: list[Request] = []  # finished requests, in order of finishing
        self._created = 0  # requests made so far (their ids), some perhaps not yet arrived
        self._future: deque[float] = deque()  # arrival times of those not yet arrived
        if arrivals is None:  # the built-in stream: open Poisson arrivals, none for users
            arrivals = () if closed else poisson_times(s.arrivals.rate, r_arrivals, s.run.duration)
        self.arrivals = arrivals
        self._think = make(s.users.think_time).sampler(r_users) if closed else None
        self._give_ups = GiveUps(env) if closed else None
        self._connect = make(s.network.connect).sampler(r_net)
        self._download = make(s.network.download).sampler(r_net)
        self._lb_hop = make(s.load_balancer.latency).sampler(r_route)
        self._nginx_hop = make(s.nginx.latency).sampler(r_route)
        clients = s.dns.clients
        picks: list[int] = []

        def next_client() -> int:
            if not picks:
                picks.extend(r_clients.integers(0, clients, 4096).tolist())
            return picks.pop()

        self._client = next_client
        # The page's static files (off by default). Their stream is spawned only when they
        # are on, after the others, so a scenario without them draws exactly as before.
        self.assets = None
        if s.assets.enabled:
            (r_assets,) = self.rng.spawn(1)
            self.assets = Assets(
                env,
                s.assets,
                make(s.network.connect).sampler(r_assets),
                make(s.load_balancer.latency).sampler(r_assets),
                make(s.nginx.latency).sampler(r_assets),
                r_assets,
            )
        # The host's speed (steady by default): its stream comes after every other, as the
        # assets' does, so a scenario without it draws exactly as before.
        self.host: HostSpeed | None = None
        if s.instances.cpu_jitter > 0:
            (r_host,) = self.rng.spawn(1)
            jitter, period = s.instances.cpu_jitter, s.instances.cpu_jitter_period
            self.host = HostSpeed(env, jitter, period, r_host)
            self.django.on_host(self.host)
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

    def start(self, generator: Generator) -> Journey:
        """Drive ``generator`` from now on as a journey (``kernel.py``): it yields floats
        (seconds to wait), pools or SimPy events."""
        return Journey(self.env, generator)

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
        req.journey = Journey(self.env, self._travel(req, None, False, arrival - self.env.now))

    def _travel(
        self,
        req: Request,
        cached_dns: bool | None,
        wait: bool = True,
        ahead=0.0,
        answered: simpy.Event | None = None,
    ):
        # A request's trip, from the browser to the instance and back: each component stamps
        # its part on ``req``; this only strings them together. ``answered`` (a user's
        # request) fires when the client has its answer: at the end of the trip, or when the
        # load balancer or nginx gives up and answers 504 while a worker goes on.
        req.dns, req.dns_outcome = self.resolver.resolve(req.client, req.arrival, cached_dns)
        req.connect = self._connect()
        req.lb_service = self._lb_hop()
        req.queue_service = self._nginx_hop()
        # DNS, TCP + TLS and the two proxy hops are pure delays: one wait for all four (plus,
        # for a request made ahead of its arrival, the time until it arrives).
        yield ahead + req.dns + req.connect + req.lb_service + req.queue_service
        lb = self.lb
        at_lb = req.arrival + req.dns + req.connect
        target = lb.route()
        answer_by = at_lb + lb.idle_timeout  # the load balancer's idle timeout
        if target.__class__ is not Instance:  # the surge queue, or refused
            if answered is not None:  # the load balancer's timeout runs in the surge queue
                self._answer_by(answered, answer_by)
            target = yield from lb.wait_in_surge(req, target, at_lb)
            if target is None:  # the load balancer answered itself
                self.requests.append(req)
                if answered is not None and not answered.triggered:
                    answered.succeed()
                return
            if answered is not None and self.env.now + target.read_timeout < answer_by:
                self._answer_by(answered, self.env.now + target.read_timeout)  # nginx's
        elif answered is not None:  # whichever of the two gives up first
            self._answer_by(answered, min(answer_by, self.env.now + target.read_timeout))
        yield from target.serve(req, answer_by)
        if req.status == 200:
            req.download = self._download()
            if wait or self.assets is not None:
                yield req.download
            req.end = req.app_end + req.download
            if self.assets is not None:
                yield from self._fetch_assets(req, target)
        self.requests.append(req)
        if answered is not None and not answered.triggered:
            answered.succeed()

    def _fetch_assets(self, req: Request, instance: Instance):
        # The HTML is in: the browser fetches the page's files over its connections, side
        # by side (model/assets.py); the page is loaded when the last one is in.
        env = self.env
        req.assets = fetched = []
        done = []
        for connection in self.assets.page(instance, fetched):
            finished = env.event()
            Journey(env, connection, finished)
            done.append(finished)
        yield env.all_of(done)
        fetched.sort(key=lambda f: f.index)
        req.page_end = env.now

    def _answer_by(self, answered: simpy.Event, at: float) -> None:
        # The client has an answer by ``at`` (a 504) if the trip is not over by then.
        self._give_ups.add(answered, at)

    def _populate(self) -> None:
        """Start the closed population of ``[users]`` (``sim/model/users.py``): one journey
        per user for its whole life; each request travels in a journey of its own, and its
        user waits for the event ``answered``, which fires when the client has its answer (at
        the end of the trip, or at a 504 while a worker goes on with the request)."""
        s, env = self.scenario, self.env

        def trip(number: int):
            req = Request(self._created, env.now, number)
            self._created += 1
            answered = env.event()
            req.journey = Journey(env, self._travel(req, None, True, 0.0, answered))
            yield answered

        for number, start in enumerate(users.start_times(s.users.count, s.users.spawn_rate)):
            Journey(env, users.life(env, number, start, self._think, trip, s.run.duration))

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
    def run(self) -> Run:
        """Run arrivals until ``run.duration``, then let requests in flight finish (at most
        ``run.drain`` seconds more). Busy time is measured over ``[warmup, duration)``."""
        with collector_paused():
            return self._run()

    def _run(self) -> Run:
        s, env = self.scenario, self.env
        warmup, duration = s.run.warmup, s.run.duration
        self._arrive()
        if s.users.enabled:
            self._populate()
        for factory in self.processes:
            env.process(factory(self))
        for factory in self.journeys:
            self.start(factory(self))
        run_until(env, warmup) if warmup > 0 else None
        start = self._snapshot()
        run_until(env, duration)
        end = self._snapshot()
        if s.run.drain > 0:  # (no drain: nothing left to run)
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
        counters = {
            "sent": self.sent,
            "finished": len(self.requests),
            "spillover": self.lb.spillover,
            "killed_workers": sum(i.killed_workers for i in self.instances),
            "refused_db_connections": self.db.refused,
            # What the lab's connections experiment measures (demo_app/stack/connections.py).
            "peak_db_connections": self.db.peak,
            "threads_started": sum(i.started for i in self.instances),
        }
        return Run(
            s, self.seed, done, (warmup, duration), busy, capacity, counters, self.replication
        )

    def _snapshot(self) -> dict[str, float]:
        return {
            "workers": sum(i.busy_worker_time() for i in self.instances),
            "vcpus": sum(i.busy_vcpu_time() for i in self.instances),
            "db_connections": self.db.connection_time(),
            "db_cpu": self.db.cpu.busy_time(),
        }


def rng_for(seed: int, replication: int = 0) -> np.random.Generator:
    """The generator of replication ``replication`` of a run seeded ``seed``: independent
    streams for every (seed, replication) pair, the same stream every time."""
    return np.random.default_rng([replication, seed])


def simulate_steady(scenario: Scenario, seed: int | None = None, replication: int = 0) -> Run:
    """Run a steady scenario once (default seed: the scenario's ``run.seed``)."""
    seed = scenario.run.seed if seed is None else seed
    engine = Engine(scenario, rng_for(seed, replication))
    engine.seed, engine.replication = seed, replication
    return engine.run()
