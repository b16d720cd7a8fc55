"""The sections of the simulation over time: traffic, health checks, the auto-scaling group,
scheduled failures and the time-series sampler.

Same shape as ``core.py``: one frozen, keyword-only dataclass per TOML section, embedded
defaults from ``sim/FACTS.md``, and ``__post_init__`` refusing a bad value with a one-line
:class:`~sim.config.ConfigError`. A rate series arrives here as numbers (``points``): the
loader (``sim/loader.py``) reads a ``series`` CSV file into them, so nothing here reads a file.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from sim.config.checks import (
    MAX_INSTANCES,
    MAX_RATE,
    MAX_SECONDS,
    ConfigError,
    check_int,
    check_number,
    check_one_of,
    check_optional_seconds,
    check_rate,
    check_seconds,
    check_within,
)

# ---------------------------------------------------------------------------------------------
# [traffic]

PROFILES = ("constant", "weekday", "step", "flash_crowd", "series")


@dataclass(frozen=True, kw_only=True)
class TrafficConfig:
    """The arrival-rate profile (requests/s over time) and how users group their requests.

    Off by default (``enabled = false``): the core's constant ``[arrivals] rate`` applies.
    ``series`` is a CSV file (``t,rate``); a relative path is looked up next to the scenario
    file, then in the working directory, then in ``sim/scenarios/``. The loader reads it into
    ``points`` (``[t, rate]`` pairs), which may also be written inline. With ``sessions = true``
    a browser resolves DNS once per ``dns_cache_ttl`` (Chromium's fixed 60 s, FACTS.md
    "DNS") and sends ``requests_per_session`` requests on average, ``think_time`` seconds
    apart (tunable).
    """

    enabled: bool = False
    profile: str = "constant"
    rate: float = 20.0  # constant rate; base rate of step, flash_crowd; night rate of weekday
    peak: float = 50.0  # weekday and flash_crowd peak
    after: float = 40.0  # step: the rate from `at` on
    at: float = 300.0  # step: when the rate changes
    start: float = 300.0  # flash_crowd: when the spike starts
    ramp: float = 60.0
    hold: float = 300.0
    decay: float = 300.0
    start_clock_h: float = 8.0  # weekday: wall-clock hour at t = 0
    peak_clock_h: float = 10.0
    series: str = ""
    points: tuple[tuple[float, ...], ...] = ()  # [t, rate] pairs: the series, or given inline
    sessions: bool = True
    requests_per_session: float = 5.0
    think_time: float = 10.0
    dns_cache_ttl: float = 60.0

    def __post_init__(self) -> None:
        check_one_of("profile", self.profile, PROFILES)
        for key in ("rate", "peak", "after"):
            check_rate(key, getattr(self, key))
        for key in ("at", "start", "ramp", "hold", "decay", "think_time", "dns_cache_ttl"):
            check_seconds(key, getattr(self, key))
        check_number("requests_per_session", self.requests_per_session, low=1.0, high=10_000)
        if not 0 <= self.peak_clock_h < 24:
            raise ConfigError("peak_clock_h", self.peak_clock_h, "must be an hour in [0, 24)")
        if not 0 <= self.start_clock_h < 24:
            raise ConfigError("start_clock_h", self.start_clock_h, "must be an hour in [0, 24)")
        if self.points:
            why = check_series(
                [p[0] if len(p) == 2 else math.nan for p in self.points],
                [p[1] if len(p) == 2 else math.nan for p in self.points],
            )
            if why:
                key = "series" if self.series else "points"
                raise ConfigError(key, self.series or [list(p) for p in self.points], why)
        elif self.enabled and self.profile == "series":
            raise ConfigError(
                "series", self.series, 'profile "series" needs a CSV file path (t,rate)'
            )


def check_series(times: list[float], rates: list[float]) -> str:
    """Why a rate series (``rates[i]`` requests/s from ``times[i]`` s on) is not one, or ``""``:
    at least one point, times increasing, each rate a number >= 0."""
    if not times:
        return "rate series needs at least one (t, rate) row"
    for t, r in zip(times, rates, strict=True):
        if not (math.isfinite(t) and math.isfinite(r)):
            return f"each point must be two numbers [t, rate], got t={t:g}, rate={r:g}"
        if not 0 <= r <= MAX_RATE:
            return (
                f"rate series has rate {r:g} at t={t:g}; allowed: a number in"
                f" [0, {MAX_RATE:,.0f}] requests/s"
            )
        if not 0 <= t <= MAX_SECONDS:
            return f"rate series has t={t:g}; allowed: seconds in [0, {MAX_SECONDS:,}]"
    for a, b in itertools.pairwise(times):
        if b <= a:
            return f"rate series times must increase, got {a:g} then {b:g}"
    return ""


# ---------------------------------------------------------------------------------------------
# [health_check]


@dataclass(frozen=True, kw_only=True)
class HealthCheckConfig:
    """The load balancer's health checks (FACTS.md, "Elastic Load Balancing").

    Defaults are the ALB target group's: interval 30 s (5-300), timeout 5 s (2-60), healthy
    threshold 5, unhealthy threshold 2 (each 2-10, AWS's range for both), deregistration delay
    300 s (1-3600); a value outside these ranges is refused, as AWS would. ``cpu`` is the vCPU
    time the health endpoint costs on the instance's own Gunicorn worker (tunable).
    """

    enabled: bool = False
    interval: float = 30.0
    timeout: float = 5.0
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    deregistration_delay: float = 300.0
    cpu: float = 0.001

    def __post_init__(self) -> None:
        check_within("interval", self.interval, 5, 300, "seconds, the load balancer's range")
        check_within("timeout", self.timeout, 2, 60, "seconds, the load balancer's range")
        if self.timeout >= self.interval:
            raise ConfigError("timeout", self.timeout, f"must be < interval ({self.interval:g} s)")
        for key in ("healthy_threshold", "unhealthy_threshold"):
            value = getattr(self, key)
            check_within(
                key, value, 2, 10, "checks in a row, the load balancer's range", integer=True
            )
        check_within(
            "deregistration_delay",
            self.deregistration_delay,
            1,
            3600,
            "seconds, the load balancer's range",
        )
        check_seconds("cpu", self.cpu)


# ---------------------------------------------------------------------------------------------
# [asg] and [[asg.policies]]

POLICY_KINDS = ("simple", "step", "target_tracking")
METRICS = ("cpu", "request_count", "request_count_per_target", "latency")
COMPARISONS = (">", ">=", "<", "<=")
TERMINATION_POLICIES = ("default", "oldest_instance", "newest_instance")


@dataclass(frozen=True, kw_only=True)
class StepConfig:
    """One step of a step-scaling policy: ``adjustment`` when ``lower <= value - threshold <
    upper`` (AWS's MetricIntervalLowerBound/UpperBound)."""

    lower: float = -math.inf
    upper: float = math.inf
    adjustment: int = 1

    def __post_init__(self) -> None:
        if not self.lower < self.upper:
            raise ConfigError("lower", self.lower, f"must be < upper ({self.upper:g})")
        check_int("adjustment", self.adjustment, minimum=-MAX_INSTANCES, maximum=MAX_INSTANCES)


@dataclass(frozen=True, kw_only=True)
class PolicyConfig:
    """A scaling policy and its alarm.

    ``simple``: ``adjustment`` instances when the alarm (``metric comparison threshold`` for
    ``evaluation_periods`` x ``period`` s) is in ALARM, then ``cooldown`` (left out: the
    group's DefaultCooldown, 300 s). ``step``: the step whose interval holds the breach.
    Periods: 300 s is basic monitoring, 60 s detailed (FACTS.md). ``target_tracking``:
    keep ``metric`` near ``target`` with AWS's two managed alarms, 3 x 60 s high and 15 x 60 s
    low. A CPU threshold or target is a percentage, in [0, 100].
    """

    kind: str = "simple"
    metric: str = "cpu"
    comparison: str = ">"
    threshold: float = 70.0
    period: float = 300.0
    evaluation_periods: int = 2
    adjustment: int = 1
    cooldown: float | None = None  # left out: the group's default_cooldown
    steps: tuple[StepConfig, ...] = ()
    target: float = 50.0
    high_periods: int = 3
    low_periods: int = 15
    low_ratio: float = 0.9  # the low alarm sits at target x low_ratio (tunable)

    def __post_init__(self) -> None:
        check_one_of("kind", self.kind, POLICY_KINDS)
        check_one_of("metric", self.metric, METRICS)
        check_one_of("comparison", self.comparison, COMPARISONS)
        check_within("period", self.period, 10, 86_400, "seconds: CloudWatch's 10 s to a day")
        check_optional_seconds("cooldown", self.cooldown, "asg.default_cooldown")
        if self.metric == "cpu":
            check_within("threshold", self.threshold, 0, 100, "CPU utilisation, a percentage")
            check_within("target", self.target, 0, 100, "CPU utilisation, a percentage")
        else:
            check_number("threshold", self.threshold, high=1e12)
            check_number("target", self.target, high=1e12)
        check_int("evaluation_periods", self.evaluation_periods, minimum=1, maximum=1_000)
        check_int("high_periods", self.high_periods, minimum=1, maximum=1_000)
        check_int("low_periods", self.low_periods, minimum=1, maximum=1_000)
        check_int("adjustment", self.adjustment, minimum=-MAX_INSTANCES, maximum=MAX_INSTANCES)
        if self.kind == "simple" and self.adjustment == 0:
            raise ConfigError(
                "adjustment", self.adjustment, "must be a non-zero integer (+ adds instances)"
            )
        if self.kind == "step" and not self.steps:
            raise ConfigError(
                "steps", [], "a step policy needs at least one [[asg.policies.steps]] table"
            )
        if self.kind == "target_tracking":
            check_number("target", self.target, strict=True)
            if not 0 < self.low_ratio <= 1:
                raise ConfigError("low_ratio", self.low_ratio, "must be in (0, 1]")


@dataclass(frozen=True, kw_only=True)
class AsgConfig:
    """The auto-scaling group (FACTS.md, "EC2 Auto Scaling").

    min <= desired <= max always; the deck's min 2 (one per availability zone); ``desired``
    left out starts at ``min``. ``launch_time`` is EC2 pending -> running (about 17 s),
    ``boot_time`` the application start after it (tunable, tens of seconds to minutes).
    ``warmup`` is EstimatedInstanceWarmup (left out: ``default_cooldown``, 300 s).
    ``health_check_grace``: 0 via the API, 300 s in the console. With ``enabled = false`` the
    core's fixed ``[instances] count`` applies.
    """

    enabled: bool = False
    min: int = 2
    max: int = 4
    desired: int | None = None  # left out: start at min
    azs: tuple[str, ...] = ("a", "b")
    launch_time: float = 17.0
    boot_time: float = 30.0
    default_cooldown: float = 300.0
    warmup: float | None = None  # left out: default_cooldown
    exclude_warming: bool = True
    health_check_grace: float = 0.0
    termination_policy: str = "default"
    policies: tuple[PolicyConfig, ...] = ()

    def __post_init__(self) -> None:
        check_int("min", self.min, minimum=0, maximum=MAX_INSTANCES)
        check_int("max", self.max, minimum=1, maximum=MAX_INSTANCES)
        if self.min > self.max:
            raise ConfigError("min", self.min, f"must be <= max ({self.max})")
        if self.desired is not None and not (
            isinstance(self.desired, int) and self.min <= self.desired <= self.max
        ):
            raise ConfigError(
                "desired",
                self.desired,
                f"must be an integer between min ({self.min}) and max ({self.max}) (leave it out"
                " to start at min)",
            )
        if not self.azs or len(set(self.azs)) != len(self.azs):
            raise ConfigError(
                "azs", list(self.azs), "must be a non-empty list of distinct zone names"
            )
        for key in ("launch_time", "boot_time", "default_cooldown", "health_check_grace"):
            check_seconds(key, getattr(self, key))
        check_optional_seconds("warmup", self.warmup, "asg.default_cooldown")
        check_one_of("termination_policy", self.termination_policy, TERMINATION_POLICIES)

    @property
    def initial(self) -> int:
        return self.min if self.desired is None else self.desired

    @property
    def warmup_s(self) -> float:
        return self.default_cooldown if self.warmup is None else self.warmup


# ---------------------------------------------------------------------------------------------
# [[failures]]

FAILURE_KINDS = ("crash", "az_loss", "db_slowdown", "bad_deploy")


@dataclass(frozen=True, kw_only=True)
class FailureConfig:
    """One scheduled failure at ``at`` seconds.

    ``crash``: instance number ``instance`` (0 = the oldest in service) dies, in-flight
    requests fail 502. ``az_loss``: every instance in zone ``az`` dies and the zone takes no
    launches for ``duration`` s. ``db_slowdown``: queries take ``factor`` times longer for
    ``duration`` s. ``bad_deploy``: ``instances`` instances answer 500 with probability
    ``error_rate`` for ``duration`` s (0: until the end).
    """

    kind: str = "crash"
    at: float = 0.0
    duration: float = 0.0
    instance: int = 0
    az: str = "a"
    factor: float = 5.0
    error_rate: float = 0.5
    instances: int = 1

    def __post_init__(self) -> None:
        check_one_of("kind", self.kind, FAILURE_KINDS)
        check_seconds("at", self.at)
        check_seconds("duration", self.duration)
        check_int("instance", self.instance, minimum=0, maximum=MAX_INSTANCES)
        check_int("instances", self.instances, minimum=1, maximum=MAX_INSTANCES)
        check_number("factor", self.factor, low=1.0, high=1_000_000)
        if not 0 <= self.error_rate <= 1:
            raise ConfigError("error_rate", self.error_rate, "must be a probability in [0, 1]")


# ---------------------------------------------------------------------------------------------
# [timeseries]


@dataclass(frozen=True, kw_only=True)
class TimeseriesConfig:
    """The sampler: one row every ``period`` seconds (CloudWatch detailed monitoring's 60 s)."""

    period: float = 60.0

    def __post_init__(self) -> None:
        check_within("period", self.period, 1, 86_400, "seconds: from 1 s to a day")


def check_schedule(failures: tuple[FailureConfig, ...], duration: float) -> None:
    """Refuse a failure scheduled at or after the end of the run."""
    for i, f in enumerate(failures):
        if f.at >= duration:
            raise ConfigError(f"failures[{i}].at", f.at, f"must be < run.duration ({duration:g})")


def check_asg_failures(failures: tuple[FailureConfig, ...], asg: AsgConfig) -> None:
    for i, f in enumerate(failures):
        if f.kind == "az_loss" and f.az not in asg.azs:
            raise ConfigError(
                f"failures[{i}].az", f.az, "must be one of asg.azs " + ", ".join(asg.azs)
            )
