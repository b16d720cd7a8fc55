"""The sections of a scenario that describe the request path: one frozen dataclass each.

Every component of the path has its own frozen, keyword-only dataclass, in the order a request
meets them; each field's embedded default comes from ``sim/FACTS.md`` (or is marked tunable
there), and ``__post_init__`` refuses a bad value with a :class:`~sim.config.ConfigError`
naming the key, the value and what is allowed. Nothing here knows about files or SimPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sim.config.checks import (
    MAX_ASSET_BYTES,
    MAX_ASSETS,
    MAX_BANDWIDTH,
    MAX_CLIENTS,
    MAX_CONNECTIONS_PER_HOST,
    MAX_INSTANCES,
    MAX_QUERIES,
    MAX_QUEUE,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_SLOTS,
    MAX_USERS,
    MAX_VCPUS,
    MAX_WORKERS,
    ConfigError,
    check_int,
    check_ipv4,
    check_non_negative,
    check_number,
    check_one_of,
    check_probability,
    check_rate,
    check_seconds,
    show,
)

# ---------------------------------------------------------------------------------------------
# Distributions (the parameters; the samplers live in distributions.py).

DISTRIBUTION_KINDS = ("constant", "exponential", "lognormal", "empirical", "uniform")


@dataclass(frozen=True, kw_only=True)
class DistributionConfig:
    """A random duration in seconds; in TOML a table or, for a constant, a bare number.

    ``cpu = { kind = "lognormal", mean = 0.030, sigma = 0.5 }`` or ``latency = 0.001``.
    ``sigma`` is the standard deviation of the logarithm (lognormal only); ``samples`` are the
    observations an empirical distribution resamples from (its mean is theirs). ``uniform``
    is any value between ``low`` and ``high`` with equal chance (a load generator's
    ``between(low, high)`` wait time); its ``mean`` is their midpoint, whatever is written.
    """

    kind: Literal["constant", "exponential", "lognormal", "empirical", "uniform"] = "constant"
    mean: float = 0.0
    sigma: float = 0.5
    samples: tuple[float, ...] = ()
    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        check_one_of("kind", self.kind, DISTRIBUTION_KINDS)
        if self.kind == "uniform":
            check_seconds("low", self.low)
            check_seconds("high", self.high)
            if self.high < self.low:
                raise ConfigError("high", self.high, f"must be >= low ({self.low:g})")
            # The mean follows from the bounds (a table read over another distribution keeps
            # that one's mean, which means nothing here).
            object.__setattr__(self, "mean", (self.low + self.high) / 2)
        elif self.low or self.high:
            key = "low" if self.low else "high"
            raise ConfigError(key, getattr(self, key), 'only kind "uniform" takes low and high')
        if self.kind == "empirical":
            if not self.samples:
                raise ConfigError("samples", [], "an empirical distribution needs >= 1 sample")
            if len(self.samples) > MAX_SAMPLES:
                raise ConfigError(
                    "samples", f"{len(self.samples):,} values", f"at most {MAX_SAMPLES:,}"
                )
            for s in self.samples:
                check_seconds("samples", s)
            return
        if self.samples:
            raise ConfigError("samples", list(self.samples), 'only kind "empirical" takes samples')
        if self.kind == "uniform":
            return
        check_seconds("mean", self.mean, positive=self.kind != "constant")
        if self.kind == "lognormal":
            # sigma 10 already spreads a typical 30 ms burst over 1e-10 s to 1e8 s
            check_non_negative("sigma", self.sigma, high=10)

    @property
    def always_zero(self) -> bool:
        """Every draw is 0: a cost that is not there (exponential and lognormal are > 0)."""
        if self.kind == "empirical":
            return not any(self.samples)
        return self.kind in ("constant", "uniform") and self.mean == 0


def constant(seconds: float) -> DistributionConfig:
    return DistributionConfig(kind="constant", mean=seconds)


def exponential(mean: float) -> DistributionConfig:
    return DistributionConfig(kind="exponential", mean=mean)


def lognormal(mean: float, sigma: float) -> DistributionConfig:
    return DistributionConfig(kind="lognormal", mean=mean, sigma=sigma)


# ---------------------------------------------------------------------------------------------
# One section per component, in the order a request meets them.


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """How long to simulate. Requests arriving in [warmup, duration) are measured; after
    ``duration`` no new request arrives and those in flight get ``drain`` seconds to finish."""

    duration: float = 600.0
    warmup: float = 60.0
    drain: float = 120.0
    seed: int = 1

    def __post_init__(self) -> None:
        check_seconds("duration", self.duration, positive=True)
        check_seconds("warmup", self.warmup)
        if self.warmup >= self.duration:
            raise ConfigError("warmup", self.warmup, f"must be < run.duration ({self.duration})")
        check_seconds("drain", self.drain)
        check_int("seed", self.seed, minimum=0, maximum=MAX_SEED)


@dataclass(frozen=True, kw_only=True)
class ArrivalsConfig:
    """New requests from the whole population of browsers: a Poisson stream (tunable rate)."""

    rate: float = 20.0

    def __post_init__(self) -> None:
        check_rate("rate", self.rate, positive=True)


@dataclass(frozen=True, kw_only=True)
class UsersConfig:
    """A closed population: ``count`` users, each sending a request, waiting for its answer
    (success or error, the download included), thinking for ``think_time``, and again, from
    t = 0 to the end of the run, as a load generator's users do (locust's ``wait_time``:
    ``constant(z)`` is a constant think time, ``between(a, b)`` a uniform one). At saturation
    at most ``count`` requests are inside, whatever the capacity. Each user is a browser of
    its own (its own DNS caches). ``spawn_rate`` starts that many users per second (user k at
    k / spawn_rate, as a load generator ramps up); left out, every user starts at t = 0.

    Off by default (``enabled = false``): the open Poisson stream of ``[arrivals]`` applies.
    Think time and spawn rate are tunable (FACTS.md, "Queueing theory": a closed system).
    """

    enabled: bool = False
    count: int = 10
    think_time: DistributionConfig = field(default_factory=lambda: exponential(1.0))
    spawn_rate: float | None = None

    def __post_init__(self) -> None:
        check_int("count", self.count, maximum=MAX_USERS)
        if self.spawn_rate is not None:
            ok = isinstance(self.spawn_rate, int | float) and not isinstance(self.spawn_rate, bool)
            if not (ok and 0 < self.spawn_rate <= MAX_USERS):
                raise ConfigError(
                    "spawn_rate",
                    self.spawn_rate,
                    f"must be a number of users per second in (0, {MAX_USERS:,}] (leave it out"
                    " to start every user at t = 0)",
                )


@dataclass(frozen=True, kw_only=True)
class DnsConfig:
    """The resolution chain browser cache -> OS cache -> recursive resolver (FACTS.md, "DNS").

    Latencies are tunable; FACTS.md gives warm resolver 1-20 ms, authoritative missed
    30-80 ms, full miss 100-400 ms, a lost UDP packet about +1 s.
    """

    address: str = "203.0.113.10"  # the load balancer's address (a documentation range)
    clients: int = 500  # distinct browsers sharing one recursive resolver
    browser_ttl: float = 60.0  # Chromium keeps an OS-resolved answer a fixed 60 s
    record_ttl: float = 60.0  # the ELB's DNS record TTL
    tld_ttl: float = 172800.0  # how long the resolver keeps the .us delegation (two days)
    resolver_warm: bool = True  # whether the resolver knows the .us servers at t = 0
    os_hit: DistributionConfig = field(default_factory=lambda: constant(0.0002))
    resolver_hit: DistributionConfig = field(default_factory=lambda: lognormal(0.008, 0.5))
    authoritative_miss: DistributionConfig = field(default_factory=lambda: lognormal(0.050, 0.3))
    full_miss: DistributionConfig = field(default_factory=lambda: lognormal(0.200, 0.4))
    packet_loss: float = 0.0  # probability that one resolver query loses its UDP packet
    retransmit: float = 1.0  # the stub resolver's retransmit timer

    def __post_init__(self) -> None:
        check_ipv4("address", self.address)
        check_int("clients", self.clients, maximum=MAX_CLIENTS)
        for key in ("browser_ttl", "record_ttl", "tld_ttl"):
            check_number(key, getattr(self, key), high=MAX_TTL, unit="s (RFC 2181's largest TTL)")
        check_probability("packet_loss", self.packet_loss)
        check_seconds("retransmit", self.retransmit)


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """The client's internet path: TCP + TLS set-up to the load balancer (about two round
    trips) and the response travelling back. Both tunable."""

    connect: DistributionConfig = field(default_factory=lambda: lognormal(0.060, 0.3))
    download: DistributionConfig = field(default_factory=lambda: lognormal(0.030, 0.3))


#: A DNS TTL is a 31-bit number of seconds (RFC 2181, section 8).
MAX_TTL = 2**31 - 1

ROUTING_STRATEGIES = ("round_robin", "least_outstanding_requests", "random")


@dataclass(frozen=True, kw_only=True)
class LoadBalancerConfig:
    """The Elastic Load Balancer (FACTS.md, "Elastic Load Balancing").

    Classic ELB: least outstanding requests for HTTP listeners, a surge queue of at most 1,024
    requests (beyond it: 503 spillover), 60 s idle timeout (504). ``latency`` is its own hop,
    tunable.
    """

    routing: Literal["round_robin", "least_outstanding_requests", "random"] = (
        "least_outstanding_requests"
    )
    surge_queue: int = 1024
    idle_timeout: float = 60.0
    latency: DistributionConfig = field(default_factory=lambda: constant(0.001))

    def __post_init__(self) -> None:
        check_one_of("routing", self.routing, ROUTING_STRATEGIES)
        check_int("surge_queue", self.surge_queue, minimum=0, maximum=MAX_QUEUE)
        check_seconds("idle_timeout", self.idle_timeout, positive=True)


CPU_DISCIPLINES = ("fcfs", "ps")
#: A coefficient of variation of the host's speed beyond this is no longer a host that
#: slows down now and then but one that mostly stops.
MAX_CPU_JITTER = 1.0


@dataclass(frozen=True, kw_only=True)
class InstancesConfig:
    """The EC2 instances behind the load balancer: how many (the deck's minimum of 2) and how
    many vCPUs each has (tunable; 2 is a small general-purpose instance).

    ``cpu_discipline`` is how Django's CPU bursts share the vCPUs (FACTS.md, "The kernel's
    scheduler"): ``fcfs``, a burst holds one vCPU from start to end and the others wait in
    line; ``ps``, the kernel time-slices, so the n bursts in progress share the vCPUs equally
    (each at min(1, vcpus / n) of a core).

    ``cpu_jitter`` is how much the host's speed moves (FACTS.md, "The host's speed";
    ``sim/model/host.py``): the coefficient of variation of the factor every burst is
    stretched by, drawn anew (mean 1) every ``cpu_jitter_period`` seconds for all the
    instances at once; 0 (the default) is a host of one steady speed."""

    count: int = 2
    vcpus: int = 2
    cpu_discipline: Literal["fcfs", "ps"] = "fcfs"
    cpu_jitter: float = 0.0
    cpu_jitter_period: float = 3.0

    def __post_init__(self) -> None:
        check_int("count", self.count, maximum=MAX_INSTANCES)
        check_int("vcpus", self.vcpus, maximum=MAX_VCPUS)
        check_one_of("cpu_discipline", self.cpu_discipline, CPU_DISCIPLINES)
        check_number("cpu_jitter", self.cpu_jitter, high=MAX_CPU_JITTER)
        check_seconds("cpu_jitter_period", self.cpu_jitter_period, positive=True)


@dataclass(frozen=True, kw_only=True)
class NginxConfig:
    """nginx on each instance (FACTS.md, "nginx"): ``proxy_read_timeout`` 60 s (504 past it).

    ``max_connections`` (requests one nginx accepts at once) and ``latency`` (its proxy hop)
    are tunable; when every instance is at ``max_connections`` the load balancer queues.
    """

    max_connections: int = 1024
    proxy_read_timeout: float = 60.0
    latency: DistributionConfig = field(default_factory=lambda: constant(0.0005))

    def __post_init__(self) -> None:
        check_int("max_connections", self.max_connections, maximum=MAX_QUEUE)
        check_seconds("proxy_read_timeout", self.proxy_read_timeout, positive=True)


WORKER_CLASSES = ("sync", "gthread")
GUNICORN_ONLY_CLASSES = ("eventlet", "gevent", "tornado")


@dataclass(frozen=True, kw_only=True)
class GunicornConfig:
    """Gunicorn (FACTS.md, "Gunicorn"): ``sync`` workers, as many as the recommended
    (2 x cores) + 1 = 5 on 2 vCPUs (Gunicorn's own default is 1), ``backlog`` 2048, ``timeout``
    30 s. ``threads`` > 1 with ``sync`` makes Gunicorn (and the model) use ``gthread``: see
    :attr:`effective_worker_class`. ``restart`` is the tunable delay before a killed worker
    serves again."""

    worker_class: str = "sync"
    workers: int = 5
    threads: int = 1
    backlog: int = 2048
    timeout: float = 30.0
    restart: float = 1.0

    def __post_init__(self) -> None:
        if self.worker_class in GUNICORN_ONLY_CLASSES:
            note = f" (Gunicorn's {show(self.worker_class)} class is not modelled)"
        else:
            note = " (Gunicorn worker classes the model simulates)"
        check_one_of("worker_class", self.worker_class, WORKER_CLASSES, note)
        check_int("workers", self.workers, maximum=MAX_WORKERS)
        check_int("threads", self.threads, maximum=MAX_WORKERS)
        if self.workers * self.threads > MAX_SLOTS:
            raise ConfigError(
                "threads",
                self.threads,
                f"workers x threads must be at most {MAX_SLOTS:,} requests at once on an"
                f" instance; {self.workers} x {self.threads} = {self.workers * self.threads:,}",
            )
        check_int("backlog", self.backlog, minimum=0, maximum=MAX_QUEUE)
        check_seconds("timeout", self.timeout, positive=True)
        check_seconds("restart", self.restart)

    @property
    def effective_worker_class(self) -> str:
        """What Gunicorn actually runs: ``--threads N>1`` with ``sync`` switches to gthread."""
        return "gthread" if self.threads > 1 else self.worker_class

    @property
    def slots(self) -> int:
        """Requests one instance serves at once: workers x threads."""
        return self.workers * self.threads


@dataclass(frozen=True, kw_only=True)
class DjangoConfig:
    """Django's work per request (tunable): a CPU burst (middleware, view), then ``queries``
    times a database query followed by a shorter burst handling its rows. Every burst needs one
    of the instance's vCPUs. ``cpu_after``: CPU the request costs that nobody waits for, spent
    once the response has gone (Gunicorn closing the connection and logging, Django's
    ``request_finished``, nginx's access log): it holds the worker and a vCPU, so it lowers
    what an instance can serve, but adds no latency of its own (0: none, the default)."""

    cpu: DistributionConfig = field(default_factory=lambda: lognormal(0.025, 0.5))
    queries: int = 3
    cpu_per_query: DistributionConfig = field(default_factory=lambda: constant(0.002))
    cpu_after: DistributionConfig = field(default_factory=lambda: constant(0.0))

    def __post_init__(self) -> None:
        check_int("queries", self.queries, minimum=0, maximum=MAX_QUERIES)


@dataclass(frozen=True, kw_only=True)
class PostgresConfig:
    """PostgreSQL (FACTS.md, "Django and PostgreSQL"): ``max_connections`` 100, Django's
    ``CONN_MAX_AGE = 0`` (a new connection per request), a new connection costing 10-30 ms
    across a LAN with TLS. ``query`` is the database CPU per query and ``rtt`` the app-to-DB
    round trip, both tunable; ``vcpus`` is the database's CPU, shared by all queries."""

    max_connections: int = 100
    conn_max_age: float = 0.0
    connect_cost: DistributionConfig = field(default_factory=lambda: constant(0.015))
    query: DistributionConfig = field(default_factory=lambda: exponential(0.002))
    rtt: float = 0.0005
    vcpus: int = 2

    def __post_init__(self) -> None:
        check_int("max_connections", self.max_connections, maximum=MAX_QUEUE)
        check_seconds("conn_max_age", self.conn_max_age)
        check_seconds("rtt", self.rtt)
        check_int("vcpus", self.vcpus, maximum=MAX_VCPUS)


ASSET_SERVERS = ("nginx", "django")

#: The bytes of the static files every page of the demo app references (``base.html``):
#: ``demo_app/static/demo_app/site.css`` and ``site.js``, as they are on disk (FACTS.md, "The
#: frontend"; ``tests/sim/test_sim_assets.py`` measures the files).
DEMO_PAGE_ASSETS = (7408.0, 582.0)


@dataclass(frozen=True, kw_only=True)
class AssetsConfig:
    """A page's static files, fetched by the browser once the HTML is in (FACTS.md, "The
    frontend"). Off by default (``enabled = false``): a page is its HTML alone.

    ``sizes`` are the bytes of each file of a page (their number is the page's asset count;
    the default is what every page of the demo app references: its stylesheet and script).
    The browser fetches them in order over at most ``connections`` connections per host (6 for
    HTTP/1.1 in Chromium and Firefox), each file's bytes taking ``size / bandwidth`` (the
    client's downlink, Mbit/s, tunable).

    From a CDN (``cdn = true``, CloudFront in the talk): a new connection to the edge costs two
    round trips of ``edge_latency``, each file one; a file the edge holds (``hit_ratio``, the
    rest are misses) comes straight back, a miss is fetched from the instances first
    (``origin_latency``, the edge to the region and back, plus the load balancer's and nginx's
    hops). Without the CDN every file goes to the instances: one round trip ``rtt`` each, the
    page's own connection reused and the others opened (``network.connect``).

    On an instance, ``server`` serves the file: ``nginx`` from disk (``nginx_file``, no
    worker); ``django``, WhiteNoise inside Django, takes a Gunicorn worker slot (in the listen
    backlog like any request) and ``whitenoise_cpu`` seconds of a vCPU.
    """

    enabled: bool = False
    sizes: tuple[float, ...] = DEMO_PAGE_ASSETS
    connections: int = 6
    bandwidth: float = 20.0
    cdn: bool = True
    hit_ratio: float = 0.95
    edge_latency: DistributionConfig = field(default_factory=lambda: lognormal(0.015, 0.3))
    origin_latency: DistributionConfig = field(default_factory=lambda: constant(0.020))
    rtt: DistributionConfig = field(default_factory=lambda: lognormal(0.030, 0.3))
    server: Literal["nginx", "django"] = "nginx"
    nginx_file: DistributionConfig = field(default_factory=lambda: constant(0.0002))
    whitenoise_cpu: DistributionConfig = field(default_factory=lambda: constant(0.001))

    def __post_init__(self) -> None:
        if not self.sizes or len(self.sizes) > MAX_ASSETS:
            raise ConfigError(
                "sizes",
                list(self.sizes) if len(self.sizes) <= 3 else f"{len(self.sizes):,} values",
                f"must list 1 to {MAX_ASSETS:,} file sizes in bytes, one per static file of a"
                " page (to have none, set assets.enabled = false)",
            )
        for i, size in enumerate(self.sizes):
            check_number(f"sizes[{i}]", size, strict=True, high=MAX_ASSET_BYTES, unit="bytes")
        check_int("connections", self.connections, maximum=MAX_CONNECTIONS_PER_HOST)
        check_number("bandwidth", self.bandwidth, strict=True, high=MAX_BANDWIDTH, unit="Mbit/s")
        check_probability("hit_ratio", self.hit_ratio)
        check_one_of("server", self.server, ASSET_SERVERS)

    @property
    def page_bytes(self) -> float:
        """The bytes of a page's static files, all together."""
        return sum(self.sizes)

    def transfer(self, size: float) -> float:
        """Seconds for ``size`` bytes over the client's downlink."""
        return size * 8 / (self.bandwidth * 1e6)


THEORY_MODELS = ("none", "mm_c")


@dataclass(frozen=True, kw_only=True)
class TheoryConfig:
    """Declares that a scenario is a queueing-theory reduction, so the loader checks it is one
    and is stable (``mm_c``: constant Poisson arrivals, one instance, no queries, exponential
    Django CPU, no other cost, no limit or timeout within reach, rho < 1: :func:`check_mm_c`)."""

    model: Literal["none", "mm_c"] = "none"

    def __post_init__(self) -> None:
        check_one_of("model", self.model, THEORY_MODELS)
