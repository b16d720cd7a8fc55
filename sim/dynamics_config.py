"""The settings of the simulation over time: traffic, health checks, the auto-scaling group,
scheduled failures and the time-series sampler.

Same shape as ``config.py`` (whose :class:`~sim.config.Scenario` has one field per section
below): one frozen, keyword-only dataclass per TOML section, embedded defaults from
``../shared/design/MODEL_FACTS.md``, and ``__post_init__`` refusing a bad value with a one-line
:class:`~sim.config.ConfigError`. ``config.py`` imports this module, so this module reaches
``ConfigError`` only at validation time (a function-level import avoids the cycle).

Flow: ``scenario.py`` builds these from ``[traffic]``, ``[health_check]``, ``[asg]`` (with
``[[asg.policies]]``), ``[[failures]]`` and ``[timeseries]``; ``engine.py`` hands them to
``workload.py``, ``health.py``, ``autoscaling.py``, ``failures.py`` and ``timeseries.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def _fail(key: str, value: Any, allowed: str) -> None:
    from sim.config import ConfigError

    raise ConfigError(key, value, allowed)


def _optional_seconds(key: str, value) -> None:
    """A duration that may be left out (None: the group's default_cooldown), else >= 0."""
    if value is not None and not (isinstance(value, int | float) and 0 <= value < math.inf):
        _fail(
            key, value, "must be a number of seconds >= 0 (leave it out for asg.default_cooldown)"
        )


def _number(key: str, value: float, *, low: float = 0.0, strict: bool = False) -> None:
    ok = isinstance(value, int | float) and math.isfinite(value)
    ok = ok and (value > low if strict else value >= low)
    if not ok:
        _fail(key, value, f"must be a number {'>' if strict else '>='} {low:g}")


def _integer(key: str, value: int, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        _fail(key, value, f"must be an integer >= {low}")


def _within(key: str, value: float, low: float, high: float, what: str, integer=False) -> None:
    """A number (an integer with ``integer``) in ``[low, high]``; ``what`` says whose range."""
    kind = (int,) if integer else (int, float)
    if isinstance(value, bool) or not (isinstance(value, kind) and low <= value <= high):
        number = "an integer" if integer else "a number"
        _fail(key, value, f"must be {number} in [{low:g}, {high:g}] ({what})")


def _choice(key: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        _fail(key, value, "must be one of " + ", ".join(f'"{o}"' for o in options))


# ---------------------------------------------------------------------------------------------
# [traffic]

PROFILES = ("constant", "weekday", "step", "flash_crowd", "series")


@dataclass(frozen=True, kw_only=True)
class TrafficConfig:
    """The arrival-rate profile (requests/s over time) and how users group their requests.

    Off by default (``enabled = false``): the core's constant ``[arrivals] rate`` applies.
    ``series`` is a CSV file (``t,rate``); a relative path is looked up next to the scenario
    file, then in the working directory, then in ``sim/scenarios/``. With ``sessions = true``
    a browser resolves DNS once per ``dns_cache_ttl`` (Chromium's fixed 60 s, MODEL_FACTS.md
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
    sessions: bool = True
    requests_per_session: float = 5.0
    think_time: float = 10.0
    dns_cache_ttl: float = 60.0

    def __post_init__(self) -> None:
        _choice("profile", self.profile, PROFILES)
        for key in ("rate", "peak", "after", "at", "start", "ramp", "hold", "decay"):
            _number(key, getattr(self, key))
        _number("think_time", self.think_time)
        _number("dns_cache_ttl", self.dns_cache_ttl)
        _number("requests_per_session", self.requests_per_session, low=1.0)
        if not 0 <= self.start_clock_h < 24:
            _fail("start_clock_h", self.start_clock_h, "must be an hour in [0, 24)")
        if self.enabled and self.profile == "series":
            if not self.series:
                _fail("series", self.series, 'profile "series" needs a CSV file path (t,rate)')
            from sim.workload import RateSeries, series_path

            try:
                RateSeries.from_csv(series_path(self.series))
            except ValueError as exc:
                _fail("series", self.series, str(exc))


# ---------------------------------------------------------------------------------------------
# [health_check]


@dataclass(frozen=True, kw_only=True)
class HealthCheckConfig:
    """The load balancer's health checks (MODEL_FACTS.md, "Elastic Load Balancing").

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
        _within("interval", self.interval, 5, 300, "seconds, the load balancer's range")
        _within("timeout", self.timeout, 2, 60, "seconds, the load balancer's range")
        if self.timeout >= self.interval:
            _fail("timeout", self.timeout, f"must be < interval ({self.interval:g} s)")
        for key in ("healthy_threshold", "unhealthy_threshold"):
            value = getattr(self, key)
            _within(key, value, 2, 10, "checks in a row, the load balancer's range", integer=True)
        _within(
            "deregistration_delay",
            self.deregistration_delay,
            1,
            3600,
            "seconds, the load balancer's range",
        )
        _number("cpu", self.cpu)


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
            _fail("lower", self.lower, f"must be < upper ({self.upper:g})")


@dataclass(frozen=True, kw_only=True)
class PolicyConfig:
    """A scaling policy and its alarm.

    ``simple``: ``adjustment`` instances when the alarm (``metric comparison threshold`` for
    ``evaluation_periods`` x ``period`` s) is in ALARM, then ``cooldown`` (left out: the
    group's DefaultCooldown, 300 s). ``step``: the step whose interval holds the breach.
    Periods: 300 s is basic monitoring, 60 s detailed (MODEL_FACTS.md). ``target_tracking``:
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
        _choice("kind", self.kind, POLICY_KINDS)
        _choice("metric", self.metric, METRICS)
        _choice("comparison", self.comparison, COMPARISONS)
        _number("period", self.period, strict=True)
        _optional_seconds("cooldown", self.cooldown)
        if self.metric == "cpu":
            _within("threshold", self.threshold, 0, 100, "CPU utilisation, a percentage")
            _within("target", self.target, 0, 100, "CPU utilisation, a percentage")
        else:
            _number("threshold", self.threshold)
        _integer("evaluation_periods", self.evaluation_periods, low=1)
        _integer("high_periods", self.high_periods, low=1)
        _integer("low_periods", self.low_periods, low=1)
        if self.kind == "simple" and self.adjustment == 0:
            _fail("adjustment", self.adjustment, "must be a non-zero integer (+ adds instances)")
        if self.kind == "step" and not self.steps:
            _fail("steps", [], "a step policy needs at least one [[asg.policies.steps]] table")
        if self.kind == "target_tracking":
            _number("target", self.target, strict=True)
            if not 0 < self.low_ratio <= 1:
                _fail("low_ratio", self.low_ratio, "must be in (0, 1]")


@dataclass(frozen=True, kw_only=True)
class AsgConfig:
    """The auto-scaling group (MODEL_FACTS.md, "EC2 Auto Scaling").

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
        _integer("min", self.min, low=0)
        _integer("max", self.max, low=1)
        if self.min > self.max:
            _fail("min", self.min, f"must be <= max ({self.max})")
        if self.desired is not None and not (
            isinstance(self.desired, int) and self.min <= self.desired <= self.max
        ):
            _fail(
                "desired",
                self.desired,
                f"must be an integer between min ({self.min}) and max ({self.max}) (leave it out"
                " to start at min)",
            )
        if not self.azs or len(set(self.azs)) != len(self.azs):
            _fail("azs", list(self.azs), "must be a non-empty list of distinct zone names")
        for key in ("launch_time", "boot_time", "default_cooldown", "health_check_grace"):
            _number(key, getattr(self, key))
        _optional_seconds("warmup", self.warmup)
        _choice("termination_policy", self.termination_policy, TERMINATION_POLICIES)

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
        _choice("kind", self.kind, FAILURE_KINDS)
        _number("at", self.at)
        _number("duration", self.duration)
        _integer("instance", self.instance, low=0)
        _integer("instances", self.instances, low=1)
        _number("factor", self.factor, low=1.0)
        if not 0 <= self.error_rate <= 1:
            _fail("error_rate", self.error_rate, "must be a probability in [0, 1]")


# ---------------------------------------------------------------------------------------------
# [timeseries]


@dataclass(frozen=True, kw_only=True)
class TimeseriesConfig:
    """The sampler: one row every ``period`` seconds (CloudWatch detailed monitoring's 60 s)."""

    period: float = 60.0

    def __post_init__(self) -> None:
        _number("period", self.period, strict=True)


def check_schedule(failures: tuple[FailureConfig, ...], duration: float) -> None:
    """Refuse a failure scheduled at or after the end of the run."""
    for i, f in enumerate(failures):
        if f.at >= duration:
            _fail(f"failures[{i}].at", f.at, f"must be < run.duration ({duration:g})")


def check_asg_failures(failures: tuple[FailureConfig, ...], asg: AsgConfig) -> None:
    for i, f in enumerate(failures):
        if f.kind == "az_loss" and f.az not in asg.azs:
            _fail(f"failures[{i}].az", f.az, "must be one of asg.azs " + ", ".join(asg.azs))
