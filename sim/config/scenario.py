"""A whole scenario: one field per TOML section, and the checks that span sections.

The sections themselves live in ``core.py`` (the request path) and ``over_time.py`` (traffic,
health checks, the auto-scaling group, failures, the sampler). What only a whole scenario can
check is here: a failure scheduled inside the run, a lost zone the group has, and a scenario
that declares itself an M/M/c queue (``theory.model = "mm_c"``) really being one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim import theory
from sim.config.checks import ConfigError
from sim.config.core import (
    ArrivalsConfig,
    AssetsConfig,
    DjangoConfig,
    DnsConfig,
    GunicornConfig,
    InstancesConfig,
    LoadBalancerConfig,
    NetworkConfig,
    NginxConfig,
    PostgresConfig,
    RunConfig,
    TheoryConfig,
    UsersConfig,
)
from sim.config.over_time import (
    AsgConfig,
    FailureConfig,
    HealthCheckConfig,
    TimeseriesConfig,
    TrafficConfig,
    check_asg_failures,
    check_schedule,
)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A whole scenario. Each field is a TOML section of the same name."""

    name: str = "defaults"
    description: str = ""
    run: RunConfig = field(default_factory=RunConfig)
    arrivals: ArrivalsConfig = field(default_factory=ArrivalsConfig)
    users: UsersConfig = field(default_factory=UsersConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    load_balancer: LoadBalancerConfig = field(default_factory=LoadBalancerConfig)
    instances: InstancesConfig = field(default_factory=InstancesConfig)
    nginx: NginxConfig = field(default_factory=NginxConfig)
    gunicorn: GunicornConfig = field(default_factory=GunicornConfig)
    django: DjangoConfig = field(default_factory=DjangoConfig)
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    theory: TheoryConfig = field(default_factory=TheoryConfig)
    # The page's static files, fetched after its HTML (off by default).
    assets: AssetsConfig = field(default_factory=AssetsConfig)
    # The simulation over time (sections defined in over_time.py).
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    health_check: HealthCheckConfig = field(default_factory=HealthCheckConfig)
    asg: AsgConfig = field(default_factory=AsgConfig)
    failures: tuple[FailureConfig, ...] = ()
    timeseries: TimeseriesConfig = field(default_factory=TimeseriesConfig)

    def __post_init__(self) -> None:
        if self.users.enabled and self.traffic.enabled:
            raise ConfigError(
                "users.enabled",
                True,
                "must be false when traffic.enabled is true: both say where the requests come"
                " from (a closed population of users, or an open stream that follows a profile)",
            )
        if self.theory.model == "mm_c":
            check_mm_c(self)
        check_schedule(self.failures, self.run.duration)
        check_asg_failures(self.failures, self.asg)

    @property
    def runs_over_time(self) -> bool:
        """Whether any section of the simulation over time is switched on: traffic that
        changes, health checks, an auto-scaling group or scheduled failures."""
        return (
            self.traffic.enabled
            or self.health_check.enabled
            or self.asg.enabled
            or bool(self.failures)
        )


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
    if s.users.enabled:  # an open Poisson stream, not a closed population
        raise ConfigError("users.enabled", True, f"must be false {why}")
    for section in ("traffic", "health_check", "asg", "assets"):  # nothing over time, no files
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
        "django.cpu_after": s.django.cpu_after,  # not a delay, but a cost the formula has not
    }
    for key, d in delays.items():
        if not d.always_zero:
            shown = d.mean if d.kind == "constant" else {"kind": d.kind, "mean": d.mean}
            raise ConfigError(key, shown, f"must be 0 {why}: every cost besides the queue is zero")
    if s.dns.packet_loss > 0:
        raise ConfigError("dns.packet_loss", s.dns.packet_loss, f"must be 0 {why}")
    if s.instances.cpu_jitter > 0:  # service times no longer independent of each other
        raise ConfigError("instances.cpu_jitter", s.instances.cpu_jitter, f"must be 0 {why}")
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
