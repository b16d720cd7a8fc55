"""The fluid data plane: requests as flows, advanced only when somebody looks.

Think of a river gauge read by the lock keepers: nobody follows each drop, but whenever a
keeper looks (a health check, a CloudWatch datapoint, the sampler, a launch or a crash) the
river is brought up to that moment, in steps of at most a few seconds, from the rate the
traffic profile gives (a step ends where the profile jumps or bends, so that the minute
before a jump counts the rate before it). Between two looks nothing about the fleet changes,
so the flow through each instance over a step follows from four numbers: the arrivals
routed to it, how many requests per second it can complete (``queueing.throughputs``), the
backlog it carries over and, when it keeps up, its stationary queue
(``queueing.occupancy``).

The objects here stand in for the discrete-event ones with the same attributes, so the
control plane (``sim/model/health.py``, ``sim/model/autoscaling/``, ``sim/model/failures.py``,
``sim/engine/sampler.py``) runs on them unchanged: :class:`FluidInstance` (lifecycle state,
vCPUs, busy workers, backlog, outstanding requests, CPU-seconds, ``stop``),
:class:`FluidLoadBalancer` (targets, ``register``, ``deregister``, ``routable``, the surge
queue) and :class:`FluidDatabase` (connections, ``query_cost`` a slowdown may replace).
Every read or change brings the plane up to ``env.now`` first (:meth:`DataPlane.sync`).

Per step and instance: arrivals routed (least outstanding requests fills the emptiest
instances first, the others split evenly), at most ``nginx.max_connections`` outstanding per
instance, the rest in the load balancer's surge queue (1,024, then 503), none without a
target (503). An instance that keeps up serves what arrives and its waits come from the
stationary queue; one that does not serves at its capacity and its backlog grows, and
arrivals wait for the backlog ahead of them. Outcomes (200, 502 on Gunicorn's timeout, 504
past nginx's or the load balancer's, 500 without a database connection) and latency
histograms come from the deck of sampled patterns (``latency.py``), counted per time-series
window and over the measured window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from sim.config import Scenario
from sim.engine.fluid.latency import BINS, Deck, Wait, percentiles
from sim.engine.fluid.queueing import (
    Occupancy,
    allen_cunneen,
    mgc_wait,
    occupancy,
    pooled_throughputs,
    throughputs,
    vcpu_busy,
    vcpu_factor,
)
from sim.layers import (
    BACKLOG_FULL,
    INSTANCE_STOPPED,
    NO_TARGET,
    SPILLOVER,
    STATUS,
    TOO_MANY_CLIENTS,
    WORKER_TIMEOUT,
)
from sim.model.instance import DRAINING, IN_SERVICE, TERMINATED
from sim.model.workload import (
    Constant,
    breaks_of,
    expected_arrivals,
    next_break,
    profile_of,
)

#: Longest step while every instance keeps up comfortably, and while one is near its limit.
STEP_CALM_S = 30.0
STEP_BUSY_S = 2.0
#: Utilisation above which a step counts as saturated (the approximation is weak there).
SATURATED = 0.9
GATEWAY = "gateway-timeout"


class Capacity:
    """``capacity``: what the sampler and the group read as ``inst.vcpus.capacity``."""

    __slots__ = ("capacity",)

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity


class FluidInstance:
    """One instance as a flow: the discrete-event instance's readable attributes."""

    def __init__(self, plane: DataPlane, id: int, state: str) -> None:
        self._plane = plane
        self.id = id
        self._state = state
        self.healthy = True
        self.launched_at = plane.env.now
        self.stopped_at = math.inf
        self.vcpus = Capacity(plane.s.instances.vcpus)
        self.workers = Capacity(plane.s.gunicorn.slots)
        self.max_connections = plane.s.nginx.max_connections
        self.on_free = None
        self.backlog = 0.0  # requests waiting for a worker
        self.busy = 0.0  # mean busy workers over the last step
        self.cpu = 0.0  # busy vCPU-seconds so far
        self.worker_time = 0.0  # busy worker-seconds so far
        self.connections = 0.0  # database connections held (persistent connections)
        self.refused = 0.0  # share of its requests without a connection (500)
        self.lam = 0.0  # arrivals per second over the last step
        self.mu = math.inf  # requests per second it completes with every worker busy
        self.wait_now = 0.0  # mean wait for a worker over the last step

    def __repr__(self) -> str:
        return f"FluidInstance({self.id}, {self._state})"

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        self._plane.sync()  # the flow up to now went where the old state sent it
        self._state = value

    def busy_vcpu_time(self) -> float:
        self._plane.sync()
        return self.cpu

    def busy_worker_time(self) -> float:
        self._plane.sync()
        return self.worker_time

    @property
    def backlog_length(self) -> int:
        self._plane.sync()
        return round(self.backlog)

    @property
    def busy_workers(self) -> int:
        self._plane.sync()
        return round(self.busy)

    @property
    def outstanding(self) -> float:
        self._plane.sync()
        return self.busy + self.backlog

    def stop(self) -> None:
        self._plane.stop(self)


class Surge:
    """The load balancer's surge queue as a level: ``len()`` is what a sampler reads."""

    def __init__(self, plane: DataPlane) -> None:
        self._plane = plane
        self.level = 0.0

    def __len__(self) -> int:
        self._plane.sync()
        return round(self.level)


class FluidLoadBalancer:
    """Registered targets and the surge queue; routing itself happens in each step."""

    def __init__(self, plane: DataPlane) -> None:
        self._plane = plane
        self.targets: list[FluidInstance] = []
        self.surge = Surge(plane)
        self.spillover = 0.0

    def register(self, inst: FluidInstance) -> None:
        if inst not in self.targets:
            self._plane.sync()
            self.targets.append(inst)
            self.targets.sort(key=lambda t: t.id)

    def deregister(self, inst: FluidInstance) -> None:
        if inst in self.targets:
            self._plane.sync()
            self.targets.remove(inst)

    def routable(self) -> list[FluidInstance]:
        return [t for t in self.targets if t.healthy and t._state == IN_SERVICE]

    def refresh(self) -> None:
        self._plane.sync()


class FluidDatabase:
    """PostgreSQL's limits; ``query_cost()`` is the mean query time a slowdown scales."""

    def __init__(self, plane: DataPlane, base_mean: float) -> None:
        self._plane = plane
        self.max_connections = plane.s.postgres.max_connections
        self.cpu = Capacity(plane.s.postgres.vcpus)
        self._base = base_mean
        self._cost = lambda: base_mean
        self.refused = 0.0

    @property
    def query_cost(self):
        return self._cost

    @query_cost.setter
    def query_cost(self, cost) -> None:
        self._plane.sync()
        self._cost = cost
        self._plane.factor = cost() / self._base if self._base > 0 else 1.0

    @property
    def connections(self) -> int:
        self._plane.sync()
        return round(self._plane.db_connections)


@dataclass
class Tally:
    """Counts over a stretch of time (a window, or the measured window): arrivals, outcomes
    by status and cause, the latency histogram of the successful requests, and parts."""

    arrived: float = 0.0
    ok: float = 0.0
    status: dict[int, float] = field(default_factory=dict)
    outcomes: dict[str, float] = field(default_factory=dict)
    #: requests per latency shape (summed into a histogram when asked: one vector sum per
    #: shape and window rather than one per step)
    shapes: dict[int, list] = field(default_factory=dict)
    wait: float = 0.0  # sums weighted by served requests, for means
    cpu_wait: float = 0.0
    hold: float = 0.0
    surge_wait: float = 0.0
    served: float = 0.0
    saturated: bool = False

    def add(self, shape, n: float) -> None:
        entry = self.shapes.get(id(shape))
        if entry is None:
            self.shapes[id(shape)] = [shape, n]
        else:
            entry[1] += n

    @property
    def hist(self) -> np.ndarray:
        """The latency histogram of the successful requests."""
        out = np.zeros(BINS)
        for shape, n in self.shapes.values():
            out += n * shape.ok
        return out

    def fail(self, outcome: str, n: float) -> None:
        if n <= 0:
            return
        code = STATUS[outcome]
        self.status[code] = self.status.get(code, 0.0) + n
        self.outcomes[outcome] = self.outcomes.get(outcome, 0.0) + n


@dataclass
class Window:
    """One finished time-series window: what ``timeseries.request_windows`` gives a DES run."""

    t: float
    rps: float
    p50: float
    p95: float
    p99: float
    completed: float
    errors: dict[int, float]
    saturated: bool


class DataPlane:
    """Every instance's flow, brought up to ``env.now`` by :meth:`sync`."""

    def __init__(self, s: Scenario, env, rng: np.random.Generator, noise: bool = True) -> None:
        self.s = s
        self.env = env
        self.t = 0.0
        self.deck = Deck(s, rng)
        self.instances: list[FluidInstance] = []
        self.lb = FluidLoadBalancer(self)
        self.db = FluidDatabase(self, self.deck.query_mean)
        self.factor = 1.0  # database slowdown
        self.db_wait = 0.0  # mean wait per query for a database CPU (from the last step)
        self.db_connections = 0.0
        self.period = s.timeseries.period
        self.warmup, self.duration = s.run.warmup, s.run.duration
        self.horizon = s.run.duration + s.run.drain
        t = s.traffic
        self.profile = profile_of(t) if t.enabled else Constant(rate_per_s=s.arrivals.rate)
        self.rate = self.profile.rate
        # Where the rate jumps or bends: steps end there, so a step never averages across one.
        self.breaks = breaks_of(self.profile)
        # User sessions send a visit's first page when it starts and the others a think time
        # apart: with a geometric number of pages (mean k) and exponential think times
        # (mean z) the later pages follow the profile through a first-order lag of time
        # constant k z (a geometric sum of Erlang delays is exponential), so the request
        # rate is profile / k + (1 - 1/k) x lagged profile. Users browsing at t = 0 start
        # the lag at the profile's own value.
        self.sessions = t.enabled and t.sessions and t.requests_per_session > 1
        self.response = 0.0  # mean response time lately: the next page waits for it too
        if self.sessions:
            self.k = t.requests_per_session
            self.think = t.think_time
            # Visits between two pages (thinking, or waiting for an answer), as in a
            # steady state at the profile's rate when the run starts.
            self.between = self.rate(0.0) / self.k * (self.k - 1) * self.think
        self.lor = s.load_balancer.routing == "least_outstanding_requests"
        # Time-sliced vCPUs share rather than queue: no burst waits behind a longer one, and a
        # processor-sharing station's queue does not depend on the service times beyond their
        # mean (BCMP 1975), so the exponential chain stands as it is.
        self.fcfs = s.instances.cpu_discipline == "fcfs"
        self.slots = s.gunicorn.slots
        self.vcpus = s.instances.vcpus
        self.backlog_limit = s.gunicorn.backlog
        self.surge_limit = s.load_balancer.surge_queue
        self.persistent = s.postgres.conn_max_age > 0
        # Sampling noise: arrivals per step are Poisson (with sessions, Poisson given a random
        # population of visits), a step's CPU a sum of random times, so a minute's datapoint
        # scatters as a discrete-event run's does (``None``: off).
        r_noise = np.random.default_rng(rng.integers(2**63))
        self._normals: list[float] = []
        self._r_noise = r_noise
        self.noise = self._normal if noise else None
        self._poisson = r_noise.poisson
        # The visits between pages as a random population (``_sessions``), started like
        # ``between`` from the stationary state (Poisson).
        self.drawn = float(r_noise.poisson(self.between)) if self.sessions else 0.0
        self.drawn_rate = 0.0
        # Totals
        self.sent = 0.0
        self.latency_sum = 0.0
        self.answered = 0.0
        self.killed = 0.0
        self.measured = Tally()
        self.busy = {"workers": 0.0, "vcpus": 0.0, "db_connections": 0.0, "db_cpu": 0.0}
        self.windows: list[Window] = []
        self._k = 0
        self._win = Tally()
        self._service_cache: dict[tuple, tuple[float, float, float]] = {}
        self._in_sync = False

    # -- instances ------------------------------------------------------------------------
    def new_instance(self, state: str = IN_SERVICE) -> FluidInstance:
        self.sync()
        inst = FluidInstance(self, len(self.instances), state)
        self.instances.append(inst)
        return inst

    def stop(self, inst: FluidInstance) -> None:
        """A crash or the end of draining: whatever is inside fails with a 502."""
        if inst._state == TERMINATED:
            return
        self.sync()
        inside = inst.busy + inst.backlog
        # They were counted as answered when they arrived: now they fail instead.
        now = self.env.now
        win = self._window_for(now, instant=True)
        win.ok = max(0.0, win.ok - inside)
        if self.warmup <= now < self.duration:
            self.measured.ok = max(0.0, self.measured.ok - inside)
        self.answered -= inside
        self._fail(INSTANCE_STOPPED, inside, now)
        inst._state = TERMINATED
        inst.stopped_at = self.env.now
        inst.busy = inst.backlog = inst.connections = 0.0
        inst.lam = 0.0

    def probe(self, inst: FluidInstance, cpu: float, timeout: float):
        """A health check's ``GET /health``: answered after the backlog ahead of it and the
        usual wait for a worker, or refused when the backlog is full; a dead instance never
        answers. Returns a SimPy event with the answer (True for 200)."""
        env = self.env
        if inst._state == TERMINATED:
            return env.event()
        if inst.backlog > 0 or inst.lam > 0.8 * inst.mu:
            self.sync()  # near its limit: the wait depends on the backlog now
        if inst.backlog >= self.backlog_limit:
            return env.event().succeed(False)
        inst.cpu += cpu
        wait = (inst.backlog / inst.mu if inst.backlog > 0 else 0.0) + inst.wait_now + cpu
        if wait > timeout:
            return env.event()  # the checker's own timer fires first
        answer = env.event()
        env.timeout(wait).callbacks.append(lambda _: answer.succeed(inst._state != TERMINATED))
        return answer

    # -- time -----------------------------------------------------------------------------
    def sync(self) -> None:
        """Bring every flow up to ``env.now``."""
        now = self.env.now
        if now <= self.t or self._in_sync:
            return
        self._in_sync = True
        try:
            t = self.t
            while t < now:
                busy = (
                    any(i.backlog > 0 or i.lam > 0.7 * i.mu for i in self.instances)
                    or self.lb.surge.level > 0
                )
                step = STEP_BUSY_S if busy else STEP_CALM_S
                b = min(now, t + step)
                # Split at window edges, the profile's breaks, the end of the warm-up and of
                # the arrivals.
                edge = (math.floor(t / self.period + 1e-9) + 1) * self.period
                b = min(b, edge, next_break(self.breaks, t))
                for mark in (self.warmup, self.duration):
                    if t < mark < b:
                        b = mark
                self._step(t, b)
                t = b
                self.t = t
        finally:
            self._in_sync = False

    def finish(self) -> None:
        """Close the last window (the run is over)."""
        self.sync()
        self._close_window()

    # -- one step -------------------------------------------------------------------------
    def _sessions(self, rate: float, h: float) -> float:
        """The request rate over a step of length ``h`` whose profile averages ``rate``.

        Visits start at ``rate / k`` and send their first page at once; after each page a
        visit goes on with probability ``q = 1 - 1/k`` and sends its next page a think time
        plus a response time later. So the ``N`` visits between pages send ``N / (z + R)``
        pages per second and ``dN/dt = q rate / k - N / (k (z + R))``: a first-order lag
        of time constant ``k (z + R)``, whose steady state gives back ``rate``. A slow
        answer holds its visit's next page back, as in the discrete-event run.

        The queues follow that expected rate. What is counted follows ``drawn``: the same
        visits as a random population, an M/M/infinity queue (visits join at ``q rate / k``
        and leave at ``1 / (k (z + R))`` each) whose mean is ``N``, sending Poisson pages at
        ``drawn / (z + R)``. A visit's pages fall close together, so a window's count varies
        more than a Poisson count of the same mean: by the factor ``1 + 2 q k (1 - tau / T
        (1 - exp(-T / tau)))`` over a window ``T`` (``tau = k (z + R)``), about 4 for a
        minute of five-page visits ten seconds apart. A discrete-event run's CPU per minute
        scatters that much, and so alarms near their threshold flicker that often."""
        cycle = self.think + self.response
        if cycle <= 0:
            return rate
        tau = self.k * cycle
        target = rate / self.k * (self.k - 1) * cycle  # N's steady state
        decay = math.exp(-h / tau)
        start = self.between
        self.between = target + (start - target) * decay
        mean = target + (start - target) * tau / h * (1.0 - decay)
        if self.noise is not None:
            # Over the step each visit stays with probability ``decay`` and new ones arrive
            # (exact for an M/M/infinity queue at a constant rate). The pages follow the
            # population's mean over the step: the mean given where it started, moved
            # halfway towards where it ended (a straight path between the two draws).
            n0 = self.drawn
            n1 = float(self._r_noise.binomial(int(n0), decay) + self._poisson(target * (1 - decay)))
            expect = target + (n0 - target) * tau / h * (1.0 - decay)
            drift = n1 - (target + (n0 - target) * decay)
            self.drawn = n1
            self.drawn_rate = rate / self.k + max(expect + drift / 2, 0.0) / cycle
        return rate / self.k + mean / cycle

    def cpu_noise(self, period: float) -> float:
        """How much a period's CPU-seconds on an instance scatter from run to run: their
        variance per CPU-second, with the noise this plane draws (a compound sum: ``N``
        requests of CPU ``S`` each give ``Var = E[N] Var[S] + E[S]^2 Var[N]``, and with
        ``Var[N] = D E[N]`` that is ``E[S] D + Var[S] / E[S]`` per CPU-second, ``D`` the
        count's index of dispersion over the period, ``_sessions``)."""
        mean = self.deck.cpu_mean
        if mean <= 0:
            return 0.0
        d = 1.0
        cycle = self.think + self.response if self.sessions else 0.0
        if cycle > 0:
            tau, q = self.k * cycle, 1.0 - 1.0 / self.k
            d += 2.0 * q * self.k * (1.0 - tau / period * (1.0 - math.exp(-period / tau)))
        return mean * d + self.deck.cpu_var / mean

    def _normal(self) -> float:
        if not self._normals:
            self._normals.extend(self._r_noise.standard_normal(4096).tolist())
        return self._normals.pop()

    def _window_for(self, a: float, instant: bool = False) -> Tally:
        # A step starting at ``a`` lies in window floor(a / period); an instant belongs to
        # the window it ends (window k covers (k period, (k + 1) period]).
        if instant:
            k = max(self._k, math.ceil(a / self.period - 1e-9) - 1)
        else:
            k = math.floor(a / self.period + 1e-9)
        while k > self._k:
            self._close_window()
        return self._win

    def _close_window(self) -> None:
        w = self._win
        p50, p95, p99 = percentiles(w.hist)
        completed = w.ok + sum(w.status.values())
        self.windows.append(
            Window(
                (self._k + 1) * self.period,
                w.arrived / self.period,
                p50,
                p95,
                p99,
                completed,
                dict(w.status),
                w.saturated,
            )
        )
        self._k += 1
        self._win = Tally()

    def _fail(self, outcome: str, n: float, at: float) -> None:
        if n <= 0:
            return
        win = self._window_for(at, instant=True)
        win.fail(outcome, n)
        if self.warmup <= at < self.duration:
            self.measured.fail(outcome, n)
        self.answered += n

    def _service(self, inst: FluidInstance) -> tuple[float, float, float]:
        """``(cpu, other, cs2)``: mean CPU demand, mean time away from the vCPUs (database,
        Gunicorn's timeout and restart) and the hold time's squared coefficient of
        variation, with the database as it is now and ``inst``'s refused share."""
        refused = round(inst.refused, 2)
        # The database's wait changes a little every step: steps of about 2 % share an entry.
        key = (self.factor, round(math.log(self.db_wait) * 50) if self.db_wait > 0 else None,
               refused)  # fmt: skip
        hit = self._service_cache.get(key)
        if hit is not None:
            return hit
        d = self.deck
        cpu = d.cpu
        hold = d.cpu + d.db_fixed + self.factor * d.query + d.queries * self.db_wait
        if d.sync:
            killed = hold > d.timeout
            hold = np.where(killed, d.timeout + d.restart, hold)
        if refused > 0:
            # Refused requests burn their first CPU burst and a connection attempt only.
            failing = d.cpu_main + d.connect_cost
            cpu = (1 - refused) * cpu + refused * d.cpu_main
            hold = (1 - refused) * hold + refused * failing
        c, h = float(np.mean(cpu)), float(np.mean(hold))
        out = (c, max(h - c, 0.0), float(np.var(hold) / h**2) if h > 0 else 0.0)
        self._service_cache[key] = out
        return out

    def _step(self, a: float, b: float) -> None:
        h = b - a
        win = self._window_for(a)
        measured = self.warmup <= a and b <= self.duration
        tallies = (win, self.measured) if measured else (win,)
        # Expected arrivals over the step.
        if a < self.duration:
            arrivals = expected_arrivals(self.profile, a, b, self.breaks)
            if self.sessions:
                arrivals = self._sessions(arrivals / h, h) * h
        else:
            arrivals = 0.0
        # The queues move with the expected flow (the stationary formulas already count the
        # randomness of Poisson arrivals); what is counted (requests, outcomes, CPU) is drawn,
        # so that a minute's datapoint scatters as in a discrete-event run.
        scale = 1.0
        counted = arrivals
        if self.noise is not None and arrivals > 0:
            # With sessions, Poisson given the drawn visits (``_sessions``): clustered.
            drawn = self.drawn_rate * h if self.sessions else arrivals
            counted = float(self._poisson(drawn))
            scale = counted / arrivals
        self.sent += counted
        for tally in tallies:
            tally.arrived += counted
        live = [i for i in self.instances if i._state in (IN_SERVICE, DRAINING)]
        routable = self.lb.routable()
        surge = self.lb.surge
        offered = arrivals + surge.level
        shares: dict[int, float] = {}
        params = {}
        for inst in live:
            cpu, other, cs2 = self._service(inst)
            x = throughputs(self.slots, self.vcpus, cpu, other)
            inst.mu = x[-1]
            params[inst.id] = (x, cpu, other, cs2)
        # The load balancer's own answers come back at once (a visit moves on to its next page).
        refused = 0.0
        if not routable:
            # No healthy target: the load balancer answers 503 itself, surge queue included.
            refused = offered * scale
            self._fail_now(tallies, NO_TARGET, refused)
            surge.level = 0.0
        else:
            placed, left = self._route(routable, offered, h)
            shares = placed
            queued = min(left, self.surge_limit)
            refused = (left - queued) * scale
            self._fail_now(tallies, SPILLOVER, refused)
            self.lb.spillover += refused
            surge.level = queued
        capacity = sum(inst.mu for inst in routable) or math.inf
        surge_wait = surge.level / capacity
        queries = 0.0
        busy_all = 0.0
        cpu_used = 0.0
        saturated = surge.level > 0 or not routable
        # Round robin sends an instance every n-th arrival: Erlang-n gaps (ca^2 = 1 / n).
        ca2 = 1.0 if self.lor or not routable else 1.0 / len(routable)
        states = self._states(live, routable, params, shares, h, ca2)
        self._connections(live, states, shares, h)
        step_latency, step_got = refused * self.deck.front_mean, refused
        for inst in live:
            x, cpu, other, cs2 = params[inst.id]
            got = shares.get(inst.id, 0.0)
            lam = got / h
            mu = inst.mu
            backlog = inst.backlog
            h1 = cpu + other
            occ, _, cpu_p = states.get(inst.id, (None, None, 1.0))
            if occ is None:
                # Saturated (or working off a backlog): every worker busy, the backlog moves.
                end = backlog + (lam - mu) * h
                if end >= 0:
                    served = mu * h
                    mean_backlog = (backlog + end) / 2
                    full = h
                else:
                    drain = backlog / (mu - lam)
                    served = backlog + got
                    mean_backlog = backlog * drain / (2 * h)
                    full = drain
                    end = 0.0
                overflow = max(0.0, end - self.backlog_limit)
                if overflow > 0:
                    self._fail_now(tallies, BACKLOG_FULL, overflow)
                    end -= overflow
                    got -= overflow
                busy = self.slots * full / h
                p, wait_mean = 1.0, 1.0 / mu
                shift = mean_backlog / mu
                stretch = 1.0 + max(self.slots / mu - h1, 0.0) / cpu if cpu > 0 else 1.0
                inst.wait_now = wait_mean
                cpu_p = 1.0
                saturated = True
            else:
                end, served, shift = 0.0, got, 0.0
                busy = occ.busy
                p = occ.p_wait
                # Waiting for a vCPU: the flow-equivalent server's mean (its chain stretched
                # where bursts queue for a vCPU, ``_state``), as a chance of waiting and an
                # exponential wait beyond it.
                cpu_wait = max(occ.hold - h1, 0.0)
                stretch = 1.0 + cpu_wait / cpu if cpu > 0 else 1.0
                # Allen and Cunneen on the worker queue, the hold's variance counting the
                # random vCPU waits as well as the sampled service.
                m_w = cpu_wait / cpu_p if cpu_p > 0 else 0.0
                var = cs2 * h1 * h1 + cpu_p * 2 * m_w * m_w - cpu_wait * cpu_wait
                hold = h1 + cpu_wait
                wait_mean = occ.wait * allen_cunneen(var / (hold * hold), ca2)
                inst.wait_now = p * wait_mean
                if lam > SATURATED * mu:
                    saturated = True
            inst.backlog = end
            inst.busy = busy
            inst.lam = lam
            used = served * cpu * scale
            if self.noise is not None and served > 0:
                # A minute's CPU varies as the sum of its requests' CPU times does, within
                # what the vCPUs can give.
                used = used + math.sqrt(served * self.deck.cpu_var) * self.noise()
                used = min(max(0.0, used), self.vcpus * h)
            inst.cpu += used
            cpu_used += used
            inst.worker_time += busy * h
            busy_all += busy
            queries += served * (1.0 - inst.refused) * self.deck.queries
            got *= scale
            if got > 0:
                shape = self.deck.shape(
                    Wait(
                        p,
                        wait_mean,
                        shift + surge_wait,
                        stretch,
                        cpu_p,
                        self.factor,
                        self.db_wait,
                        inst.refused,
                    )
                )
                ok = got * shape.ok_share
                for tally in tallies:
                    tally.ok += ok
                    tally.add(shape, got)
                    tally.fail(WORKER_TIMEOUT, got * shape.killed)
                    tally.fail(GATEWAY, got * shape.late)
                    tally.fail(TOO_MANY_CLIENTS, got * shape.refused)
                    tally.wait += got * shape.wait
                    tally.cpu_wait += got * shape.cpu_wait
                    tally.hold += got * shape.hold
                    tally.surge_wait += got * surge_wait
                    tally.served += got
                self.killed += got * shape.killed
                self.db.refused += got * shape.refused
                self.answered += got
                mean = shape.mean_ok
                self.latency_sum += ok * mean
                # What the visits wait for: answers, slow errors included.
                step_latency += ok * (0.0 if math.isnan(mean) else mean)
                step_latency += got * (shape.killed * self.deck.timeout)
                step_latency += got * shape.late * self.deck.late_after
                step_got += got
        self._database(queries / h if h > 0 else 0.0, busy_all, h, measured)
        if step_got > 0:
            self.response = step_latency / step_got
        if measured:
            self.busy["workers"] += busy_all * h
            self.busy["vcpus"] += cpu_used
        for tally in tallies:
            tally.saturated = tally.saturated or saturated

    def _states(self, live, routable, params, shares, h, ca2: float) -> dict[int, tuple]:
        """The stationary state of every instance that keeps up: ``{id: (occupancy, tail,
        chance of waiting for a vCPU)}``. Behind least outstanding requests, identical
        instances fed alike are one pool (the balancer keeps their queues level, as joining
        the shortest queue does): their flow-equivalent server completes, with ``M``
        requests in the pool, what the instances complete with ``M`` split evenly. Arrivals
        come with ``ca2`` (round robin's regular turns; a pool's are Poisson)."""
        out: dict[int, tuple] = {}
        groups: dict[tuple, list] = {}
        for inst in live:
            if inst.backlog > 0:
                continue
            x = params[inst.id][0]
            lam = shares.get(inst.id, 0.0) / h
            pooled = self.lor and inst in routable
            key = (x, round(lam, 9), inst.id if not pooled else -1)
            groups.setdefault(key, []).append(inst)
        d = self.deck
        for (x, lam, pool), members in groups.items():
            n = len(members)
            _, cpu, other, _ = params[members[0].id]
            mu = x[-1]
            g = (
                vcpu_factor(d.burst_cs2, d.work_cs2, 1.0 if pool == -1 else ca2)
                if self.fcfs
                else 1.0
            )
            busy = vcpu_busy(self.slots, self.vcpus, cpu, other)
            state = _state(x, _quantise(n * lam, n * mu), n, self.vcpus, cpu, busy, g)
            if state is not None:
                for inst in members:
                    out[inst.id] = state
        return out

    def _fail_now(self, tallies, outcome: str, n: float) -> None:
        if n <= 0:
            return
        for tally in tallies:
            tally.fail(outcome, n)
        self.answered += n

    def _route(self, targets: list[FluidInstance], offered: float, h: float):
        """Split ``offered`` requests over ``targets``; returns ``({id: requests}, left)``,
        ``left`` being what no target had room for."""
        room = {t.id: max(0.0, t.max_connections - t.busy - t.backlog) + t.mu * h for t in targets}
        if self.lor:
            # Least outstanding requests: water-filling on the backlog each would have.
            base = {t.id: t.backlog - t.mu * h for t in targets}
            placed = _water_fill(base, offered)
        else:
            placed = {t.id: offered / len(targets) for t in targets}
        left = 0.0
        for k, v in placed.items():
            if v > room[k]:
                left += v - room[k]
                placed[k] = room[k]
        if left > 0:
            # Whoever still has room takes the rest before the surge queue does.
            for t in targets:
                spare = room[t.id] - placed[t.id]
                if spare > 0 and left > 0:
                    take = min(spare, left)
                    placed[t.id] += take
                    left -= take
        return placed, left

    def _connections(self, live, states, shares, h: float) -> None:
        """Persistent connections: a worker thread opens one at its first query and keeps it;
        threads are reused last in, first out, so an instance holds about as many as its
        busiest moments used; a request on a thread left without one is refused (500).
        Instances that want more than the database has left open theirs in the same
        moments, request by request, so the free connections go to each in proportion to
        what it lacks (two instances entering service together share them, as in a
        discrete-event run, rather than the first taking all). Per-request connections are
        counted by :meth:`_database`."""
        if not self.persistent or self.deck.queries == 0:
            return
        slots = self.slots
        tails = {inst.id: states.get(inst.id, (None, None, 1.0))[1] for inst in live}
        lacking = {}
        for inst in live:
            tail = tails[inst.id]
            if tail is None:
                want = slots
            else:
                # Threads used at least once in a connection's lifetime (CONN_MAX_AGE).
                lam = shares.get(inst.id, 0.0) / h if h > 0 else inst.lam
                seen = max(lam * self.s.postgres.conn_max_age, 1.0)
                want = next((k for k in range(slots + 1) if tail[k] * seen < 1.0), slots)
            if want > inst.connections:
                lacking[inst.id] = want - inst.connections
        if lacking:
            held = sum(i.connections for i in self.instances)
            free = max(0.0, self.s.postgres.max_connections - held)
            share = min(1.0, free / sum(lacking.values()))
            for inst in live:
                inst.connections += lacking.get(inst.id, 0.0) * share
        for inst in live:
            tail = tails[inst.id]
            have = int(inst.connections + 1e-9)  # shares of the free ones add up to whole
            if have >= slots:
                inst.refused = 0.0
            elif tail is None:
                inst.refused = (slots - have) / slots
            else:
                inst.refused = tail[have]

    def _database(self, queries: float, busy_workers: float, h: float, measured: bool) -> None:
        """The database's CPUs, shared by the fleet: the wait per query for the next step
        (Erlang C with Allen and Cunneen's factor; past saturation, the queries ahead)."""
        d = self.deck
        service = self.factor * d.query_mean + d.rtt
        c = self.s.postgres.vcpus
        load = queries * service
        if load < 0.98 * c:
            p, cond = mgc_wait(c, queries, service)
            self.db_wait = p * cond * allen_cunneen(1.0)
        else:
            ahead = max(busy_workers - c, 0.0)
            self.db_wait = ahead * service / c
        if self.persistent:
            self.db_connections = sum(i.connections for i in self.instances)
        elif d.queries:
            # A request holds its own connection from its first query to its end (Little),
            # never more than the busy workers; past max_connections the rest are refused.
            per_request = d.queries * (self.db_wait + service) + d.connect_mean
            want = min(queries / d.queries * per_request, busy_workers)
            limit = float(self.s.postgres.max_connections)
            self.db_connections = min(want, limit)
            refused = 1.0 - limit / want if want > limit else 0.0
            for inst in self.instances:
                inst.refused = refused
        if measured:
            self.busy["db_cpu"] += min(load, c) * h
            self.busy["db_connections"] += self.db_connections * h


@lru_cache(maxsize=65536)
def _state(
    x: tuple[float, ...],
    total: float,
    n: int,
    vcpus: int,
    cpu: float,
    busy: tuple[float, ...] = (),
    g: float = 1.0,
):
    """``(occupancy, tail, chance of waiting for a vCPU)`` of ``n`` pooled instances with
    throughputs ``x`` fed ``total`` requests per second; None if they cannot keep up.
    ``busy[k]``: the chance that every vCPU of an instance is busy when a burst comes with
    ``k`` workers busy (``queueing.vcpu_busy``); ``g``: Allen and Cunneen's factor for a
    burst's wait (``queueing.vcpu_factor``). A newcomer joins the emptiest instance, so the
    pool's step ``M - 1 -> M`` is stretched by ``1 + (g - 1) busy[(M - 1) // n]``."""
    lam = total / n
    erlang = mgc_wait(vcpus, lam, cpu)[0] if lam * cpu < vcpus else 1.0
    steps = None
    if g != 1.0 and busy:
        steps = tuple(1.0 + (g - 1.0) * busy[(m - 1) // n] for m in range(1, n * len(x) + 1))
    if n == 1:
        occ = occupancy(x, total, steps)
        if occ is None:
            return None
        return occ, occ.tail, erlang
    xp = pooled_throughputs(x, n)
    occ = occupancy(xp, total, steps)
    if occ is None:
        return None
    # Per instance: what an arrival finds on the instance it is sent to.
    tail = tuple(occ.tail[min(n * k, len(xp))] for k in range(len(x) + 1))
    cpu_p = min(erlang, tail[min(vcpus, len(x))])
    return Occupancy(occ.p_wait, occ.wait, occ.busy / n, occ.hold, tail), tail, cpu_p


def _quantise(lam: float, mu: float) -> float:
    # Nearby rates share a cached stationary state: utilisation in steps of 0.001.
    if mu <= 0 or math.isinf(mu):
        return lam
    return round(lam / mu, 3) * mu


def _water_fill(base: dict[int, float], amount: float) -> dict[int, float]:
    """Pour ``amount`` over levels ``base``: the lowest fill first, to one common level."""
    items = sorted(base.items(), key=lambda kv: kv[1])
    n = len(items)
    levels = [v for _, v in items]
    poured = amount
    level = levels[0]
    k = 1
    while k < n and poured >= (levels[k] - level) * k:
        poured -= (levels[k] - level) * k
        level = levels[k]
        k += 1
    level += poured / k
    return {key: max(0.0, level - v) for key, v in items}
