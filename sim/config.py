"""The validated settings of one scenario: one frozen dataclass per component.

Think of the settings screen of a phone: every group (Wi-Fi, display, sound) is its own page,
each value has a range the screen will not let you leave, and a bad value is refused on the
spot with a one-line reason. Here every component of the request path has its own frozen,
keyword-only dataclass, each field has an embedded default taken from
``../shared/design/MODEL_FACTS.md`` (or marked tunable there), and ``__post_init__`` refuses a
bad value with a :class:`ConfigError` naming the key, the value and what is allowed.

Data flows one way: ``scenario.py`` turns a TOML table into these objects (prefixing the key
path of the section), ``engine.py`` builds the SimPy world from them. Nothing here knows about
files or SimPy.

Adding a section (``[asg]``, ``[health_check]``, ``[[failures]]``...) means writing one more
dataclass here (or in its own module) and adding a field for it on :class:`Scenario`; the
loader in ``scenario.py`` reads any dataclass field generically, including nested dataclasses
and ``tuple[SomeConfig, ...]`` for arrays of tables.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from sim.dynamics_config import (
    AsgConfig,
    FailureConfig,
    HealthCheckConfig,
    TimeseriesConfig,
    TrafficConfig,
    check_asg_failures,
    check_schedule,
)

# ---------------------------------------------------------------------------------------------
# The error and the small validation helpers every section uses.


def show(value: Any) -> str:
    """Render a value the way it would be written in TOML (strings in double quotes, tables
    inline: ``{ target = 60 }``, arrays in brackets)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {show(v)}" for k, v in value.items())
        return f"{{ {inner} }}" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


class ConfigError(ValueError):
    """A bad setting: ``str()`` is the one-line message ``key.path = value: what is allowed``.

    >>> str(ConfigError("gunicorn.workers", 0, "must be an integer >= 1"))
    'gunicorn.workers = 0: must be an integer >= 1'
    """

    def __init__(self, key_path: str, value: Any, allowed: str) -> None:
        self.key_path = key_path
        self.value = value
        self.allowed = allowed
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.key_path} = {show(self.value)}: {self.allowed}"

    def under(self, prefix: str) -> ConfigError:
        """The same error with its key path placed under the section ``prefix``."""
        path = f"{prefix}.{self.key_path}" if prefix and self.key_path else prefix or self.key_path
        return ConfigError(path, self.value, self.allowed)


def check_int(key: str, value: int, *, minimum: int = 1) -> None:
    """A count: an integer no smaller than ``minimum`` (1 unless said otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(key, value, f"must be an integer >= {minimum}")


def check_positive(key: str, value: float) -> None:
    """A duration or rate that must be strictly positive and finite."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigError(key, value, "must be a number > 0")


def check_non_negative(key: str, value: float) -> None:
    """A duration that may be zero (a cost that can be switched off) but not negative."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ConfigError(key, value, "must be a number >= 0")


def check_probability(key: str, value: float) -> None:
    """A probability: a number in [0, 1]."""
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise ConfigError(key, value, "must be a probability in [0, 1]")


def check_one_of(key: str, value: Any, options: tuple[Any, ...], note: str = "") -> None:
    """A choice among named options; ``note`` adds context to the message."""
    if value not in options:
        listed = ", ".join(show(o) for o in options)
        raise ConfigError(key, value, f"must be one of {listed}{note}")


def check_ipv4(key: str, value: str) -> None:
    """A dotted-quad IPv4 address; ``12.34.56.789`` is refused (an octet above 255)."""
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        octets = value.split(".") if isinstance(value, str) else []
        big = [o for o in octets if o.isdigit() and int(o) > 255]
        why = f"octet {big[0]} > 255" if big else str(exc)
        raise ConfigError(
            key, value, f"is not a valid IPv4 address ({why}); allowed: four octets 0-255"
        ) from None


# ---------------------------------------------------------------------------------------------
# Distributions (the parameters; the samplers live in distributions.py).

DISTRIBUTION_KINDS = ("constant", "exponential", "lognormal", "empirical")


@dataclass(frozen=True, kw_only=True)
class DistributionConfig:
    """A random duration in seconds; in TOML a table or, for a constant, a bare number.

    ``cpu = { kind = "lognormal", mean = 0.030, sigma = 0.5 }`` or ``latency = 0.001``.
    ``sigma`` is the standard deviation of the logarithm (lognormal only); ``samples`` are the
    observations an empirical distribution resamples from (its mean is theirs).
    """

    kind: Literal["constant", "exponential", "lognormal", "empirical"] = "constant"
    mean: float = 0.0
    sigma: float = 0.5
    samples: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        check_one_of("kind", self.kind, DISTRIBUTION_KINDS)
        if self.kind == "empirical":
            if not self.samples:
                raise ConfigError("samples", [], "an empirical distribution needs >= 1 sample")
            for s in self.samples:
                check_non_negative("samples", s)
            return
        if self.samples:
            raise ConfigError("samples", list(self.samples), 'only kind "empirical" takes samples')
        if self.kind == "constant":
            check_non_negative("mean", self.mean)
        else:
            check_positive("mean", self.mean)
        if self.kind == "lognormal":
            check_non_negative("sigma", self.sigma)


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
        check_positive("duration", self.duration)
        check_non_negative("warmup", self.warmup)
        if self.warmup >= self.duration:
            raise ConfigError("warmup", self.warmup, f"must be < run.duration ({self.duration})")
        check_non_negative("drain", self.drain)
        check_int("seed", self.seed, minimum=0)


@dataclass(frozen=True, kw_only=True)
class ArrivalsConfig:
    """New requests from the whole population of browsers: a Poisson stream (tunable rate)."""

    rate: float = 20.0

    def __post_init__(self) -> None:
        check_positive("rate", self.rate)


@dataclass(frozen=True, kw_only=True)
class DnsConfig:
    """The resolution chain browser cache -> OS cache -> recursive resolver (MODEL_FACTS: DNS).

    Latencies are tunable; MODEL_FACTS gives warm resolver 1-20 ms, authoritative missed
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
        check_int("clients", self.clients)
        for key in ("browser_ttl", "record_ttl", "tld_ttl"):
            check_non_negative(key, getattr(self, key))
        check_probability("packet_loss", self.packet_loss)
        check_non_negative("retransmit", self.retransmit)


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """The client's internet path: TCP + TLS set-up to the load balancer (about two round
    trips) and the response travelling back. Both tunable."""

    connect: DistributionConfig = field(default_factory=lambda: lognormal(0.060, 0.3))
    download: DistributionConfig = field(default_factory=lambda: lognormal(0.030, 0.3))


ROUTING_STRATEGIES = ("round_robin", "least_outstanding_requests", "random")


@dataclass(frozen=True, kw_only=True)
class LoadBalancerConfig:
    """The Elastic Load Balancer (MODEL_FACTS: Elastic Load Balancing).

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
        check_int("surge_queue", self.surge_queue, minimum=0)
        check_positive("idle_timeout", self.idle_timeout)


@dataclass(frozen=True, kw_only=True)
class InstancesConfig:
    """The EC2 instances behind the load balancer: how many (the deck's minimum of 2) and how
    many vCPUs each has (tunable; 2 is a small general-purpose instance)."""

    count: int = 2
    vcpus: int = 2

    def __post_init__(self) -> None:
        check_int("count", self.count)
        check_int("vcpus", self.vcpus)


@dataclass(frozen=True, kw_only=True)
class NginxConfig:
    """nginx on each instance (MODEL_FACTS: nginx): ``proxy_read_timeout`` 60 s (504 past it).

    ``max_connections`` (requests one nginx accepts at once) and ``latency`` (its proxy hop)
    are tunable; when every instance is at ``max_connections`` the load balancer queues.
    """

    max_connections: int = 1024
    proxy_read_timeout: float = 60.0
    latency: DistributionConfig = field(default_factory=lambda: constant(0.0005))

    def __post_init__(self) -> None:
        check_int("max_connections", self.max_connections)
        check_positive("proxy_read_timeout", self.proxy_read_timeout)


WORKER_CLASSES = ("sync", "gthread")
GUNICORN_ONLY_CLASSES = ("eventlet", "gevent", "tornado")


@dataclass(frozen=True, kw_only=True)
class GunicornConfig:
    """Gunicorn (MODEL_FACTS: Gunicorn): ``sync`` workers, (2 x cores) + 1 = 5 on 2 vCPUs,
    ``backlog`` 2048, ``timeout`` 30 s. ``threads`` > 1 with ``sync`` makes Gunicorn (and the
    model) use ``gthread``: see :attr:`effective_worker_class`. ``restart`` is the tunable
    delay before a killed worker serves again."""

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
        check_int("workers", self.workers)
        check_int("threads", self.threads)
        check_int("backlog", self.backlog, minimum=0)
        check_positive("timeout", self.timeout)
        check_non_negative("restart", self.restart)

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
    of the instance's vCPUs."""

    cpu: DistributionConfig = field(default_factory=lambda: lognormal(0.025, 0.5))
    queries: int = 3
    cpu_per_query: DistributionConfig = field(default_factory=lambda: constant(0.002))

    def __post_init__(self) -> None:
        check_int("queries", self.queries, minimum=0)


@dataclass(frozen=True, kw_only=True)
class PostgresConfig:
    """PostgreSQL (MODEL_FACTS: Django + PostgreSQL): ``max_connections`` 100, Django's
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
        check_int("max_connections", self.max_connections)
        check_non_negative("conn_max_age", self.conn_max_age)
        check_non_negative("rtt", self.rtt)
        check_int("vcpus", self.vcpus)


THEORY_MODELS = ("none", "mm_c")


@dataclass(frozen=True, kw_only=True)
class TheoryConfig:
    """Declares that a scenario is a queueing-theory reduction, so the loader checks it is one
    and is stable (``mm_c``: constant Poisson arrivals, one instance, no queries, exponential
    Django CPU, no other cost, no limit or timeout within reach, rho < 1: :func:`check_mm_c`)."""

    model: Literal["none", "mm_c"] = "none"

    def __post_init__(self) -> None:
        check_one_of("model", self.model, THEORY_MODELS)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A whole scenario. Each field is a TOML section of the same name."""

    name: str = "defaults"
    description: str = ""
    run: RunConfig = field(default_factory=RunConfig)
    arrivals: ArrivalsConfig = field(default_factory=ArrivalsConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    load_balancer: LoadBalancerConfig = field(default_factory=LoadBalancerConfig)
    instances: InstancesConfig = field(default_factory=InstancesConfig)
    nginx: NginxConfig = field(default_factory=NginxConfig)
    gunicorn: GunicornConfig = field(default_factory=GunicornConfig)
    django: DjangoConfig = field(default_factory=DjangoConfig)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    theory: TheoryConfig = field(default_factory=TheoryConfig)
    # The simulation over time (sections defined in dynamics_config.py).
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    health_check: HealthCheckConfig = field(default_factory=HealthCheckConfig)
    asg: AsgConfig = field(default_factory=AsgConfig)
    failures: tuple[FailureConfig, ...] = ()
    timeseries: TimeseriesConfig = field(default_factory=TimeseriesConfig)

    def __post_init__(self) -> None:
        if self.theory.model == "mm_c":
            check_mm_c(self)
        check_schedule(self.failures, self.run.duration)
        check_asg_failures(self.failures, self.asg)


def mm_c_parameters(s: Scenario) -> tuple[int, float, float]:
    """``(c, lambda, mu)`` of a scenario reduced to an M/M/c queue."""
    return s.gunicorn.slots, s.arrivals.rate, 1.0 / s.django.cpu.mean


#: An event expected fewer than this many times in a run is out of reach: about once in a
#: thousand runs.
OUT_OF_REACH = 1e-3


def check_mm_c(s: Scenario) -> None:
    """Refuse an ``mm_c`` scenario that is not an M/M/c queue or is unstable (rho >= 1).

    M/M/c means: Poisson arrivals at a constant rate into the Gunicorn slots of one instance,
    exponential service on a vCPU of each slot's own, every other cost zero and every limit
    out of reach (reached fewer than :data:`OUT_OF_REACH` times in the run, by the M/M/c's
    own tails), so the model's queue has nothing the formula has not.
    """
    why = "for theory.model mm_c"
    for section in ("traffic", "health_check", "asg"):  # nothing over time
        if getattr(s, section).enabled:
            raise ConfigError(f"{section}.enabled", True, f"must be false {why}")
    if s.failures:
        raise ConfigError("failures", [f.kind for f in s.failures], f"must be empty {why}")
    if s.instances.count != 1:
        raise ConfigError("instances.count", s.instances.count, f"must be 1 {why}")
    # With no query, django.cpu_per_query and [postgres] are never charged: left as they are.
    if s.django.queries != 0:
        raise ConfigError("django.queries", s.django.queries, f"must be 0 {why}")
    if s.django.cpu.kind != "exponential":
        raise ConfigError("django.cpu.kind", s.django.cpu.kind, f'must be "exponential" {why}')
    delays = {
        "dns.os_hit": s.dns.os_hit,
        "dns.resolver_hit": s.dns.resolver_hit,
        "dns.authoritative_miss": s.dns.authoritative_miss,
        "dns.full_miss": s.dns.full_miss,
        "network.connect": s.network.connect,
        "network.download": s.network.download,
        "load_balancer.latency": s.load_balancer.latency,
        "nginx.latency": s.nginx.latency,
    }
    for key, d in delays.items():
        zero = d.kind == "constant" and d.mean == 0
        if not (zero or (d.kind == "empirical" and not any(d.samples))):
            shown = d.mean if d.kind == "constant" else {"kind": d.kind, "mean": d.mean}
            raise ConfigError(key, shown, f"must be 0 {why}: every cost besides the queue is zero")
    if s.dns.packet_loss > 0:
        raise ConfigError("dns.packet_loss", s.dns.packet_loss, f"must be 0 {why}")
    c, lam, mu = mm_c_parameters(s)
    if s.instances.vcpus < c:
        raise ConfigError(
            "instances.vcpus", s.instances.vcpus, f"must be >= the {c} Gunicorn slots for mm_c"
        )
    rho = lam / (c * mu)
    if rho >= 1:
        raise ConfigError(
            "arrivals.rate",
            lam,
            f"must be < {c * mu:g} for a stable M/M/c: utilisation rho = rate x django.cpu.mean"
            f" / {c} slots = {rho:.3g}, allowed < 1",
        )
    _check_mm_c_limits(s, c, lam, mu)


def _check_mm_c_limits(s: Scenario, c: int, lam: float, mu: float) -> None:
    """The backlog, nginx's connections and the three timeouts must be out of reach."""
    from sim import theory

    why = "for theory.model mm_c"
    arrivals = lam * s.run.duration
    # The waiting line: Gunicorn's backlog, and nginx's connections beyond the c in service.
    need = 0
    while arrivals * theory.mm_c_queue_tail(c, lam, mu, need) >= OUT_OF_REACH:
        need += 1
    for key, room, offset in (
        ("gunicorn.backlog", s.gunicorn.backlog, 0),
        ("nginx.max_connections", s.nginx.max_connections, c),
    ):
        if room - offset < need:
            expected = arrivals * theory.mm_c_queue_tail(c, lam, mu, max(room - offset, 0))
            raise ConfigError(
                key,
                room,
                f"must be >= {need + offset} {why} (the M/M/c queue has no limit): about"
                f" {expected:.3g} of the run's {arrivals:.0f} requests would find"
                f" {max(room - offset, 0)} waiting",
            )
    # Timeouts: Gunicorn's counts from the start of the service, the others from arrival.
    timeouts = [
        ("nginx.proxy_read_timeout", s.nginx.proxy_read_timeout, theory.mm_c_sojourn_tail),
        ("load_balancer.idle_timeout", s.load_balancer.idle_timeout, theory.mm_c_sojourn_tail),
    ]
    if s.gunicorn.effective_worker_class == "sync":
        timeouts.insert(0, ("gunicorn.timeout", s.gunicorn.timeout, _service_tail))
    for key, seconds, tail in timeouts:

        def late(t: float, tail=tail) -> float:
            return arrivals * tail(c, lam, mu, t)

        if late(seconds) >= OUT_OF_REACH:
            low, high = seconds, max(seconds, 1.0)
            while late(high) >= OUT_OF_REACH:
                low, high = high, 2 * high
            for _ in range(40):
                mid = (low + high) / 2
                low, high = (mid, high) if late(mid) >= OUT_OF_REACH else (low, mid)
            raise ConfigError(
                key,
                seconds,
                f"must be >= {math.ceil(high * 10) / 10:g} s {why} (the M/M/c queue cuts no"
                f" request short): about {late(seconds):.3g} of the run's {arrivals:.0f}"
                " requests would take longer",
            )


def _service_tail(c: int, lam: float, mu: float, t: float) -> float:
    """P(S > t): an exponential service outlasting ``t``."""
    return math.exp(-mu * t)
