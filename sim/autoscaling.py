"""The auto-scaling group: a thermostat for servers.

A thermostat reads the room every few minutes, compares the reading with its set point, and
switches the heating on only after the room has been cold for a while, then leaves it alone
long enough for the radiators to warm up. EC2 Auto Scaling does the same with servers:

* **metrics**: every alarm period, :class:`CloudWatch` aggregates one datapoint from the fleet
  (average CPU of the instances that count, request count, average latency). Instances still
  warming up are left out of the aggregate (MODEL_FACTS.md, "EC2 Auto Scaling"), unless a
  scenario switches that off to show the oscillation it prevents.
* **alarms**: an :class:`Alarm` goes to ``ALARM`` after ``evaluation_periods`` consecutive
  breaching datapoints, to ``OK`` otherwise, and sits in ``INSUFFICIENT_DATA`` while it has
  none (which blocks scaling).
* **policies** (``[[asg.policies]]``, :class:`~sim.dynamics_config.PolicyConfig`): *simple*
  (one adjustment, then a cooldown that starts when the
  activity completes; DefaultCooldown 300 s), *step* (step size by breach size,
  keeps reacting, counts warming instances as capacity already on its way) and
  *target tracking* (a high alarm 3 x 1 min and a low alarm 15 x 1 min around a target;
  scale out if any policy says so, scale in only if all do).
* **the group**: :class:`AutoScalingGroup` keeps ``min <= desired <= max`` and reconciles the
  fleet towards ``desired``: launch (pending ~17 s, then application boot) or terminate
  (chosen by the termination policy, drained behind the load balancer first). An instance the
  load balancer reports unhealthy is replaced at once, cooldown or not.

The group drives a :class:`Fleet` (launch, start, terminate, read counters); the engine
provides the real one, unit tests a small fake. Data flows: fleet counters -> CloudWatch
datapoints -> alarms -> policies -> desired capacity -> launches/terminations -> fleet.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sim.dynamics_config import AsgConfig, PolicyConfig

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
#: Target tracking's managed alarms use 1-minute datapoints (MODEL_FACTS.md).
TARGET_TRACKING_PERIOD_S = 60.0

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


# --- alarms from policies ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """``metric comparison threshold`` for ``evaluation_periods`` periods of ``period`` s.

    CloudWatch basic monitoring publishes 5-minute datapoints, detailed monitoring 1-minute
    ones; an alarm of 2 x 300 s fires after ten breaching minutes (MODEL_FACTS.md).
    """

    metric: str = "cpu"
    comparison: str = ">"
    threshold: float = 70.0
    period: float = 300.0
    evaluation_periods: int = 2

    @classmethod
    def of(cls, p: PolicyConfig) -> AlarmSpec:
        return cls(
            metric=p.metric,
            comparison=p.comparison,
            threshold=p.threshold,
            period=p.period,
            evaluation_periods=p.evaluation_periods,
        )


def target_tracking_alarms(p: PolicyConfig) -> tuple[AlarmSpec, AlarmSpec]:
    """AWS's two managed alarms: above the target for ``high_periods`` (3) x 60 s, below
    ``low_ratio`` x target for ``low_periods`` (15) x 60 s (MODEL_FACTS.md). AWS manages these
    alarms on 1-minute datapoints whatever ``period`` says."""
    high = AlarmSpec(
        metric=p.metric,
        comparison=">",
        threshold=p.target,
        period=TARGET_TRACKING_PERIOD_S,
        evaluation_periods=p.high_periods,
    )
    low = AlarmSpec(
        metric=p.metric,
        comparison="<",
        threshold=p.target * p.low_ratio,
        period=TARGET_TRACKING_PERIOD_S,
        evaluation_periods=p.low_periods,
    )
    return high, low


# --- the fleet the group drives -----------------------------------------------------------


class Fleet(Protocol):
    """What the group needs from the world: the engine implements it, tests fake it."""

    def launch(self, az: str) -> Any:
        """Create a booting instance in ``az`` and return it."""

    def start(self, instance: Any) -> None:
        """The application has booted: put the instance in service (health checks begin)."""

    def terminate(self, instance: Any) -> Any:
        """Deregister, drain and terminate; return a SimPy event that fires when done."""

    def cpu_seconds(self, instance: Any) -> float:
        """Cumulative busy vCPU-seconds of ``instance``."""

    def vcpus(self, instance: Any) -> int: ...

    def lb_totals(self) -> tuple[int, float, int]:
        """Cumulative (requests received, latency sum in s, responses counted)."""


@dataclass(eq=False)
class Member:
    """One instance as the group sees it. ``lifecycle``: pending (EC2 launch), booting (the
    application starts), in_service, terminating (draining), terminated."""

    id: str
    instance: Any
    az: str
    launched_at: float
    lifecycle: str = "pending"
    running_at: float | None = None
    terminated_at: float | None = None
    done: Any = None  # a SimPy event: the launch or termination activity completed

    def live(self) -> bool:
        return self.lifecycle in ("pending", "booting", "in_service")


@dataclass(frozen=True)
class Activity:
    """One line of the scaling-activity log: ``(t, kind, instance or '', detail)``."""

    t: float
    kind: str
    instance: str
    detail: str


# --- CloudWatch: datapoints and alarms ----------------------------------------------------


class Alarm:
    """A CloudWatch alarm fed one datapoint (or ``None``: no data) per period.

    ALARM when the last ``evaluation_periods`` datapoints all exist and all breach; OK when at
    least one of them exists; INSUFFICIENT_DATA when none does. ``history`` records state
    changes as ``(t, state)``.
    """

    def __init__(self, name: str, spec: AlarmSpec, t0: float = 0.0) -> None:
        self.name = name
        self.spec = spec
        self.state = INSUFFICIENT_DATA
        self.last_value: float | None = None
        self.history: list[tuple[float, str]] = [(t0, INSUFFICIENT_DATA)]
        self._window: deque[float | None] = deque(maxlen=spec.evaluation_periods)
        self._breaches = COMPARISONS[spec.comparison]

    def record(self, t: float, value: float | None) -> str:
        self.last_value = value
        self._window.append(value)
        present = [v for v in self._window if v is not None]
        if not present:
            state = INSUFFICIENT_DATA
        elif len(present) == self.spec.evaluation_periods and all(
            self._breaches(v, self.spec.threshold) for v in present
        ):
            state = ALARM
        else:
            state = OK
        if state != self.state:
            self.state = state
            self.history.append((t, state))
        return state


class CloudWatch:
    """Turns the fleet's cumulative counters into one datapoint per alarm period."""

    def __init__(self, group: AutoScalingGroup) -> None:
        self.group = group
        self._cpu: dict[str, dict[str, float]] = {}
        self._lb: dict[str, tuple[int, float, int]] = {}

    def datapoint(self, key: str, spec: AlarmSpec) -> float | None:
        if spec.metric == "cpu":
            return self._cpu_average(key, spec.period)
        totals = self.group.fleet.lb_totals()
        before = self._lb.get(key, (0, 0.0, 0))
        self._lb[key] = totals
        requests = totals[0] - before[0]
        if spec.metric == "request_count":
            return float(requests)
        if spec.metric == "request_count_per_target":
            n = len(self.group.counted())
            return requests / n if n else None
        done = totals[2] - before[2]
        return (totals[1] - before[1]) / done if done else None

    def _cpu_average(self, key: str, period: float) -> float | None:
        fleet = self.group.fleet
        previous = self._cpu.get(key, {})
        now = {m.id: fleet.cpu_seconds(m.instance) for m in self.group.members if m.live()}
        self._cpu[key] = now
        values = [
            100.0 * (now[m.id] - previous.get(m.id, 0.0)) / (fleet.vcpus(m.instance) * period)
            for m in self.group.counted()
        ]
        return float(np.mean(values)) if values else None


# --- the group --------------------------------------------------------------------------------


class AutoScalingGroup:
    """Keeps ``desired`` instances of the fleet alive and lets policies move ``desired``."""

    def __init__(
        self,
        env,
        spec: AsgConfig,
        fleet: Fleet,
        rng: np.random.Generator | None = None,
        adopt: tuple[tuple[Any, str], ...] = (),
    ) -> None:
        """``adopt``: ``(instance, zone)`` pairs already in service and warm at the start, as
        in a group that has been running for a while; the rest of ``desired`` is launched."""
        self.env = env
        self.spec = spec
        self.fleet = fleet
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.desired = spec.initial
        self.members: list[Member] = []
        self.activities: list[Activity] = []
        self.alarms: dict[str, Alarm] = {}
        self.cloudwatch = CloudWatch(self)
        self.cooldown_until = -math.inf
        self._simple_busy = False
        self._serial = 0
        self._az_down: dict[str, float] = {}
        self._target_tracking: list[tuple[Alarm, Alarm]] = []
        self._watch(spec.policies)
        self.log("desired", "", f"start at {self.desired} (min {spec.min}, max {spec.max})")
        for instance, az in adopt:
            self._serial += 1
            m = Member(f"i-{self._serial}", instance, az, env.now, "in_service", -math.inf)
            m.done = env.event().succeed()
            self.members.append(m)
        self.reconcile()

    # -- bookkeeping

    def log(self, kind: str, instance: str, detail: str) -> None:
        self.activities.append(Activity(self.env.now, kind, instance, detail))

    def live(self) -> list[Member]:
        return [m for m in self.members if m.live()]

    def warming(self, m: Member) -> bool:
        """Warm-up runs from EC2 running (ASG InService) for ``warmup_s`` seconds."""
        if m.running_at is None:
            return m.live()
        return self.env.now < m.running_at + self.spec.warmup_s

    def counted(self) -> list[Member]:
        """Members whose CPU enters the aggregated metric."""
        if self.spec.exclude_warming:
            return [m for m in self.members if m.lifecycle == "in_service" and not self.warming(m)]
        return self.live()

    def count(self, lifecycle: str) -> int:
        return sum(1 for m in self.members if m.lifecycle == lifecycle)

    def instance_seconds(self) -> float:
        """Billed time so far: launch to termination, summed over instances."""
        now = self.env.now
        return sum(
            (m.terminated_at if m.terminated_at is not None else now) - m.launched_at
            for m in self.members
        )

    # -- capacity

    def set_desired(self, value: int, cause: str) -> bool:
        value = max(self.spec.min, min(self.spec.max, int(value)))
        if value == self.desired:
            return False
        self.log("desired", "", f"{self.desired} -> {value} ({cause})")
        self.desired = value
        return True

    def reconcile(self) -> list[Any]:
        """Launch or terminate until the live members match ``desired``; return the events
        that mark each started activity's completion."""
        done = []
        live = self.live()
        while len(live) < self.desired:
            az = self._launch_az(live)
            if az is None:
                break
            m = self._launch(az)
            live.append(m)
            done.append(m.done)
        while len(live) > self.desired:
            victim = self._pick_victim(live)
            live.remove(victim)
            done.append(self._terminate(victim, "scale in"))
        return done

    def _launch_az(self, live: list[Member]) -> str | None:
        now = self.env.now
        up = [az for az in self.spec.azs if self._az_down.get(az, -math.inf) <= now]
        if not up:
            return None
        # Balance across zones: the zone with the fewest live instances, first listed on ties.
        return min(up, key=lambda az: sum(1 for m in live if m.az == az))

    def _pick_victim(self, live: list[Member]) -> Member:
        policy = self.spec.termination_policy
        if policy == "oldest_instance":
            return min(live, key=lambda m: (m.launched_at, m.id))
        if policy == "newest_instance":
            return max(live, key=lambda m: (m.launched_at, m.id))
        # Default policy (MODEL_FACTS.md): zone with most instances, then closest to the next
        # billing hour (one launch template here), then random.
        per_az = {az: sum(1 for m in live if m.az == az) for az in self.spec.azs}
        most = max(per_az[m.az] for m in live)
        pool = [m for m in live if per_az[m.az] == most]
        now = self.env.now
        closest = max((now - m.launched_at) % 3600.0 for m in pool)
        pool = [m for m in pool if (now - m.launched_at) % 3600.0 == closest]
        return pool[int(self.rng.integers(len(pool)))] if len(pool) > 1 else pool[0]

    def _launch(self, az: str) -> Member:
        self._serial += 1
        m = Member(f"i-{self._serial}", None, az, self.env.now)
        m.instance = self.fleet.launch(az)
        m.done = self.env.event()
        self.members.append(m)
        self.log("launch", m.id, f"in zone {az}")
        self.env.process(self._boot(m))
        return m

    def _boot(self, m: Member):
        yield self.env.timeout(self.spec.launch_time)
        if not m.live():
            return
        m.lifecycle, m.running_at = "booting", self.env.now
        m.done.succeed()
        yield self.env.timeout(self.spec.boot_time)
        if not m.live():
            return
        m.lifecycle = "in_service"
        self.log("in_service", m.id, "application booted")
        self.fleet.start(m.instance)

    def _terminate(self, m: Member, cause: str):
        was = m.lifecycle
        m.lifecycle = "terminating"
        self.log("terminate", m.id, f"{cause} (was {was})")
        return self.env.process(self._drain(m))

    def _drain(self, m: Member):
        yield self.fleet.terminate(m.instance)
        m.lifecycle, m.terminated_at = "terminated", self.env.now
        self.log("terminated", m.id, "")
        if not m.done.triggered:
            m.done.succeed()

    # -- health and failures

    def report_unhealthy(self, instance: Any) -> None:
        """The load balancer marked ``instance`` unhealthy: replace it, ignoring cooldown."""
        m = next((m for m in self.members if m.instance is instance), None)
        if m is None or m.lifecycle != "in_service":
            return
        if self.env.now < m.launched_at + self.spec.health_check_grace:
            return
        self._terminate(m, "failed health checks")
        self.reconcile()

    def report_lost(self, instance: Any) -> None:
        """EC2 says ``instance`` is gone (crashed, zone lost): replace it whatever its state."""
        m = next((m for m in self.members if m.instance is instance), None)
        if m is None or not m.live():
            return
        self._terminate(m, "instance lost")
        self.reconcile()

    def member(self, instance: Any) -> Member | None:
        return next((m for m in self.members if m.instance is instance), None)

    def zone_down(self, az: str, until: float) -> None:
        """No launches in ``az`` until ``until`` (an availability-zone outage)."""
        self._az_down[az] = until
        if until < math.inf:
            self.env.process(self._zone_back(until))

    def _zone_back(self, until: float):
        yield self.env.timeout(max(until - self.env.now, 0.0))
        self.reconcile()

    # -- policies

    def _watch(self, policies: tuple[PolicyConfig, ...]) -> None:
        for i, policy in enumerate(policies):
            if policy.kind == "target_tracking":
                high_spec, low_spec = target_tracking_alarms(policy)
                high = self._alarm(f"tt{i}-high", high_spec)
                low = self._alarm(f"tt{i}-low", low_spec)
                self._target_tracking.append((high, low))
                # Both alarms tick at the same instants, high first: decide after the low one.
                self.env.process(self._tick(high, []))
                self.env.process(self._tick(low, [self._tt_handler(policy, high, low)]))
            else:
                alarm = self._alarm(f"p{i}-{policy.metric}", AlarmSpec.of(policy))
                handler = (
                    self._simple_handler(policy)
                    if policy.kind == "simple"
                    else self._step_handler(policy)
                )
                self.env.process(self._tick(alarm, [handler]))

    def _alarm(self, name: str, spec: AlarmSpec) -> Alarm:
        alarm = Alarm(name, spec, self.env.now)
        self.alarms[name] = alarm
        return alarm

    def _tick(self, alarm: Alarm, handlers: list[Callable[[Alarm], None]]):
        while True:
            yield self.env.timeout(alarm.spec.period)
            alarm.record(self.env.now, self.cloudwatch.datapoint(alarm.name, alarm.spec))
            for handle in handlers:
                handle(alarm)

    def _simple_handler(self, policy: PolicyConfig):
        cooldown = self.spec.default_cooldown if policy.cooldown is None else policy.cooldown

        def handle(alarm: Alarm) -> None:
            if alarm.state != ALARM or self._simple_busy or self.env.now < self.cooldown_until:
                return
            if not self.set_desired(self.desired + policy.adjustment, f"{alarm.name} in ALARM"):
                return
            self._simple_busy = True
            self.env.process(self._cooldown_after(self.reconcile(), cooldown))

        return handle

    def _cooldown_after(self, events: list[Any], cooldown: float):
        # The cooldown starts when the activity completes (after draining, for terminations).
        yield self.env.all_of(events)
        self._simple_busy = False
        self.cooldown_until = self.env.now + cooldown
        self.log("cooldown", "", f"until t={self.cooldown_until:g}")

    def _step_handler(self, policy: PolicyConfig):
        def handle(alarm: Alarm) -> None:
            if alarm.state != ALARM or alarm.last_value is None:
                return
            breach = alarm.last_value - alarm.spec.threshold
            step = next((s for s in policy.steps if s.lower <= breach < s.upper), None)
            if step is None or step.adjustment == 0:
                return
            adjustment = step.adjustment
            if adjustment > 0:
                # Warming instances are capacity already on its way: do not add them twice.
                warming = sum(1 for m in self.live() if self.warming(m))
                target = max(self.desired, self.desired - warming + adjustment)
            else:
                target = self.desired + adjustment
            if self.set_desired(target, f"{alarm.name} step {adjustment:+d}"):
                self.reconcile()

        return handle

    def _tt_handler(self, policy: PolicyConfig, high: Alarm, low: Alarm):
        def proposal(alarm: Alarm) -> int:
            # Capacity the measured instances need; warming ones already count in `desired`.
            return math.ceil(len(self.counted()) * alarm.last_value / policy.target)

        def handle(_: Alarm) -> None:
            if high.state == ALARM and high.last_value is not None:
                if self.set_desired(max(self.desired, proposal(high)), f"{high.name} in ALARM"):
                    self.reconcile()
            elif (
                low.state == ALARM
                and low.last_value is not None
                # Scale in only if every target-tracking policy agrees, and not while
                # instances are still warming up.
                and all(lo.state == ALARM for _, lo in self._target_tracking)
                and not any(self.warming(m) for m in self.live())
            ):
                target = max(1, proposal(low))
                if target < self.desired and self.set_desired(target, f"{low.name} in ALARM"):
                    self.reconcile()

        return handle
