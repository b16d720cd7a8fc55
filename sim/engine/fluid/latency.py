"""Latency without requests: a fixed deck of sampled services, and histograms on one grid.

Think of a tailor's pattern: rather than measuring every customer, the shop keeps a few
thousand paper patterns cut once (one sampled request each: its DNS, connection, proxy hops,
CPU bursts, queries and download, drawn from the scenario's own distributions by the model's
own samplers) and, for a given day's queue, pins the day's wait onto every pattern. The
percentiles of a window are those of the patterns with that window's waits added, weighted
by how many requests met them.

A wait is described by a :class:`Wait`: a chance ``p`` of waiting for a worker, exponential
beyond it with mean ``mean`` (the flow-equivalent server, ``queueing.py``), a fixed ``shift``
(a backlog or a surge queue ahead), a ``stretch`` of the CPU part (waiting for a vCPU) and
the database's ``factor`` (a slowdown) and per-query ``db_wait``. Each pattern gets its wait
from its own uniform draw (common random numbers), so the same wait always gives the same
histogram, and histograms are cached by their rounded :class:`Wait`.

Every histogram lives on one log-spaced grid of :data:`BINS` bins from 1 ms to 1000 s, so
windows and instances add up by adding vectors, and a percentile is read off the cumulative
sum (log-linear inside a bin: about 1 % error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.config import Scenario
from sim.model.distributions import make
from sim.model.dns import Resolver
from sim.model.workload import profile_of

PATTERNS = 2048
LOW, HIGH, PER_DECADE = 1e-3, 1e3, 60
BINS = round(math.log10(HIGH / LOW) * PER_DECADE)
EDGES = LOW * 10.0 ** (np.arange(BINS + 1) / PER_DECADE)


@dataclass(frozen=True)
class Wait:
    """What a request meets on its instance, rounded so that near-equal waits share a key."""

    p: float = 0.0
    mean: float = 0.0
    shift: float = 0.0
    stretch: float = 1.0
    cpu_p: float = 1.0  # the chance of waiting for a vCPU at all
    factor: float = 1.0
    db_wait: float = 0.0
    refused: float = 0.0  # share of requests without a database connection (500)


def _log_step(x: float, step: float) -> int:
    # Log-scale rounding: values within about ``step`` (relative) share a histogram.
    return round(math.log(x) / step) if x > 0 else -(10**9)


def key_of(w: Wait) -> tuple:
    """The cache key of a wait: probabilities to 0.005, times to about 3 %, the stretch to 2 %
    (finer changes the percentiles by less than the deck's own sampling error)."""
    return (
        round(w.p * 200),
        _log_step(w.mean, 0.03),
        _log_step(w.shift, 0.03),
        _log_step(w.stretch, 0.02),
        round(w.cpu_p * 50),
        w.factor,
        _log_step(w.db_wait, 0.03),
        round(w.refused * 1000),
    )


def rounded(key: tuple) -> Wait:
    """The wait a key stands for (what its histogram is computed from)."""
    p, mean, shift, stretch, cpu_p, factor, db_wait, refused = key

    def back(k: int, step: float) -> float:
        return 0.0 if k == -(10**9) else math.exp(k * step)

    return Wait(
        p=p / 200,
        mean=back(mean, 0.03),
        shift=back(shift, 0.03),
        stretch=back(stretch, 0.02),
        cpu_p=cpu_p / 50,
        factor=factor,
        db_wait=back(db_wait, 0.03),
        refused=refused / 1000,
    )


@dataclass(frozen=True)
class Shape:
    """What one histogram says: ``ok`` (fractions of the requests served, by bin, of the
    successful ones), the shares killed by Gunicorn's timeout (502), too late for nginx or
    the load balancer (504) and refused a database connection (500), and mean parts."""

    ok: np.ndarray
    killed: float
    late: float
    refused: float
    wait: float  # mean wait for a worker (queue layer)
    cpu_wait: float  # mean wait for a vCPU (app layer)
    hold: float  # mean time holding the worker (app + db)
    cs2: float  # squared coefficient of variation of the hold time
    ok_share: float = 0.0  # the sum of ``ok``
    mean_ok: float = math.nan  # mean latency of the successful requests


class Deck:
    """The sampled patterns of one scenario and the cache of histograms made from them."""

    def __init__(self, s: Scenario, rng: np.random.Generator) -> None:
        n = PATTERNS
        r_dns, r_net, r_app, r_db, r_u = rng.spawn(5)
        g, dj, pg = s.gunicorn, s.django, s.postgres
        self.queries = dj.queries
        self.sync = g.effective_worker_class == "sync"
        self.timeout = g.timeout
        self.restart = g.restart
        self.late_after = min(s.nginx.proxy_read_timeout, s.load_balancer.idle_timeout)
        self.dns = _dns(s, r_dns, n)
        self.connect = make(s.network.connect).draw(r_net, n)
        self.lb = make(s.load_balancer.latency).draw(r_net, n)
        self.nginx = make(s.nginx.latency).draw(r_net, n)
        self.download = make(s.network.download).draw(r_net, n)
        self.cpu_main = make(dj.cpu).draw(r_app, n)
        small = make(dj.cpu_per_query)
        self.cpu = self.cpu_main + (
            small.draw(r_app, n * dj.queries).reshape(n, dj.queries).sum(axis=1)
            if dj.queries
            else 0.0
        )
        self.connect_cost = make(pg.connect_cost).draw(r_db, n) if dj.queries else np.zeros(n)
        # CONN_MAX_AGE > 0: a worker's connection is reused, the set-up cost is rare.
        persistent = pg.conn_max_age > 0
        self.db_fixed = (0.0 if persistent else self.connect_cost) + dj.queries * pg.rtt
        self.query = (
            make(pg.query).draw(r_db, n * dj.queries).reshape(n, dj.queries).sum(axis=1)
            if dj.queries
            else np.zeros(n)
        )
        # Samples rescaled to their distribution's exact mean: a deck of a few thousand
        # would otherwise put its own error of about 1 % into every CPU datapoint.
        self.cpu_main = _exact(self.cpu_main, make(dj.cpu).mean)
        cpu_total = make(dj.cpu).mean + dj.queries * small.mean
        self.cpu = _exact(self.cpu, cpu_total)
        self.query = _exact(self.query, dj.queries * make(pg.query).mean)
        self.cpu_var = float(make(dj.cpu).variance + dj.queries * small.variance)
        # Squared coefficients of variation of a request's whole CPU and of one of its
        # 1 + queries bursts (the long one and the short ones together), for the vCPU queue.
        big = make(dj.cpu)
        self.work_cs2 = self.cpu_var / cpu_total**2 if cpu_total > 0 else 0.0
        bursts = 1 + dj.queries
        burst_mean = cpu_total / bursts
        second = big.variance + big.mean**2 + dj.queries * (small.variance + small.mean**2)
        self.burst_cs2 = second / bursts / burst_mean**2 - 1.0 if burst_mean > 0 else 0.0
        self.front = self.dns + self.connect + self.lb + self.nginx
        self.front_mean = float(self.front.mean())
        self.u = r_u.random(n)
        self.u2 = r_u.random(n)
        self.cpu_mean = float(self.cpu.mean())
        self.cpu_cs2 = float(self.cpu.var() / self.cpu_mean**2) if self.cpu_mean > 0 else 0.0
        self.query_mean = float(make(pg.query).mean)
        self.connect_mean = float(self.connect_cost.mean())
        self.rtt = pg.rtt
        self._cache: dict[Wait, Shape] = {}

    def other(self, factor: float, db_wait: float) -> float:
        """Mean seconds a request spends away from the vCPUs (database, connection)."""
        return float(self.db_fixed.mean() + factor * self.query.mean()) + self.queries * db_wait

    def shape(self, w: Wait) -> Shape:
        key = key_of(w)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._make(rounded(key))
        return hit

    def _make(self, w: Wait) -> Shape:
        cpu_wait = np.zeros(PATTERNS)
        if w.stretch > 1.0 and w.cpu_p > 0:
            # Waiting for a vCPU: with the chance a burst finds them all busy, exponential
            # beyond it, with the mean the flow-equivalent server gives.
            mean = (w.stretch - 1.0) * self.cpu_mean / w.cpu_p
            waits = self.u2 < w.cpu_p
            cpu_wait[waits] = -np.log(self.u2[waits] / w.cpu_p) * mean
        hold = self.cpu + cpu_wait + self.db_fixed + w.factor * self.query
        hold = hold + self.queries * w.db_wait
        wait = np.full(PATTERNS, w.shift)
        if w.p > 0:
            waits = self.u < w.p
            wait[waits] += -np.log(self.u[waits] / w.p) * w.mean
        killed = (hold > self.timeout) if self.sync else np.zeros(PATTERNS, bool)
        # Killed or not, an answer later than nginx's or the load balancer's timeout is a 504.
        seen = np.where(killed, self.timeout, hold)
        late = wait + seen > self.late_after
        ok = ~killed & ~late
        total = self.front + wait + hold + self.download
        counts = np.bincount(_bins(total[ok]), minlength=BINS)[:BINS] / PATTERNS
        keep = 1.0 - w.refused
        del ok
        mean_hold = float(hold.mean())
        ok = counts * keep
        return Shape(
            ok=ok,
            ok_share=float(ok.sum()),
            mean_ok=mean_of(ok),
            killed=float((killed & ~late).mean()) * keep,
            late=float(late.mean()) * keep,
            refused=w.refused,
            wait=float(wait.mean()),
            cpu_wait=float(cpu_wait.mean()),
            hold=mean_hold,
            cs2=float(hold.var() / mean_hold**2) if mean_hold > 0 else 0.0,
        )

    def layers(self) -> dict[str, np.ndarray]:
        """The static parts of the patterns, by layer (waits are added by the caller)."""
        return {
            "dns": self.dns,
            "connect": self.connect,
            "lb": self.lb,
            "queue": self.nginx,
            "app": self.cpu,
            "db": self.db_fixed + self.query if self.queries else np.zeros(0),
            "download": self.download,
        }


def _exact(x: np.ndarray, mean: float) -> np.ndarray:
    m = float(x.mean()) if x.size else 0.0
    return x * (mean / m) if m > 0 else x


def _bins(x: np.ndarray) -> np.ndarray:
    k = np.floor(np.log10(np.maximum(x, LOW) / LOW) * PER_DECADE).astype(int)
    return np.clip(k, 0, BINS - 1)


def percentiles(hist: np.ndarray, qs=(50, 95, 99)) -> list[float]:
    """Percentiles (seconds) of a histogram on the grid; NaN for an empty one."""
    total = float(hist.sum())
    if total <= 0:
        return [math.nan for _ in qs]
    cum = np.cumsum(hist) / total
    out = []
    for q in qs:
        target = q / 100.0
        i = int(np.searchsorted(cum, target))
        i = min(i, BINS - 1)
        below = cum[i - 1] if i > 0 else 0.0
        inside = (target - below) / (cum[i] - below) if cum[i] > below else 0.5
        # log-linear inside the bin
        lo, hi = math.log(EDGES[i]), math.log(EDGES[i + 1])
        out.append(math.exp(lo + inside * (hi - lo)))
    return out


def mean_of(hist: np.ndarray) -> float:
    total = float(hist.sum())
    if total <= 0:
        return math.nan
    mids = np.sqrt(EDGES[:-1] * EDGES[1:])
    return float((hist * mids).sum() / total)


def _dns(s: Scenario, rng: np.random.Generator, n: int) -> np.ndarray:
    """DNS times of ``n`` requests from the model's own resolver, fed a stream at the run's
    mean rate: a user session resolves when its 60 s cache has expired (about once per
    ``dns_cache_ttl`` of browsing), a bare request stream by each browser's own cache."""
    t = s.traffic
    r_times, r_res, r_pick = rng.spawn(3)
    resolver = Resolver(s.dns, r_res)
    if t.enabled:
        profile = profile_of(t)
        grid = np.linspace(0.0, s.run.duration, 200)
        rate = max(float(np.mean([profile.rate(x) for x in grid])), 1e-6)
    else:
        rate = s.arrivals.rate
    times = np.cumsum(r_times.exponential(1.0 / rate, n))
    clients = r_pick.integers(0, s.dns.clients, n)
    if t.enabled and t.sessions:
        # A session of k requests, think time apart, resolves about once per cache lifetime.
        span = max((t.requests_per_session - 1) * t.think_time, 0.0)
        per_session = 1.0 + span // max(t.dns_cache_ttl, 1e-9)
        p = min(1.0, per_session / t.requests_per_session)
        fresh = r_pick.random(n) >= p
        return np.array(
            [
                resolver.resolve(int(c), float(x), bool(f))[0]
                for c, x, f in zip(clients, times, fresh, strict=True)
            ]
        )
    return np.array(
        [resolver.resolve(int(c), float(x))[0] for c, x in zip(clients, times, strict=True)]
    )
