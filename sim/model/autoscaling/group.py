"""The auto-scaling group itself: ``min <= desired <= max``, and the fleet made to match.

Think of a taxi dispatcher with a target number of cars on the road: when the target goes up
she calls cars out (they need a while to arrive and warm up), when it goes down she sends the
ones due for a break home (the termination policy), and a car that breaks down is replaced at
once whatever the target said a minute ago. ``sim/FACTS.md``, "EC2 Auto Scaling".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sim.config import AsgConfig, PolicyConfig
from sim.model.autoscaling import policies
from sim.model.autoscaling.cloudwatch import Alarm, AlarmSpec, CloudWatch, target_tracking_alarms

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
        #: datapoints that decided their alarm within one standard deviation of its threshold
        #: (only where the fleet says how datapoints scatter: the fluid engine):
        #: (t, alarm, value, spread)
        self.close_calls: list[tuple[float, str, float, float]] = []
        self.cooldown_until = -math.inf
        self.simple_busy = False  # a simple policy's activity or cooldown is under way
        self._serial = 0
        self._az_down: dict[str, float] = {}
        self.target_tracking: list[tuple[Alarm, Alarm]] = []  # (high, low) per policy
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
        # Default policy (FACTS.md): zone with most instances, then closest to the next
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

    def zone_down(self, az: str, until: float) -> None:
        """No launches in ``az`` until ``until`` (an availability-zone outage)."""
        self._az_down[az] = until
        if until < math.inf:
            self.env.process(self._zone_back(until))

    def _zone_back(self, until: float):
        yield self.env.timeout(max(until - self.env.now, 0.0))
        self.reconcile()

    # -- policies

    def _watch(self, specs: tuple[PolicyConfig, ...]) -> None:
        for i, policy in enumerate(specs):
            if policy.kind == "target_tracking":
                high_spec, low_spec = target_tracking_alarms(policy)
                high = self._alarm(f"tt{i}-high", high_spec)
                low = self._alarm(f"tt{i}-low", low_spec)
                self.target_tracking.append((high, low))
                # Both alarms tick at the same instants, high first: decide after the low one.
                self.env.process(self._tick(high, []))
                handler = policies.target_tracking(self, policy, high, low)
                self.env.process(self._tick(low, [handler]))
            else:
                alarm = self._alarm(f"p{i}-{policy.metric}", AlarmSpec.of(policy))
                kind = policies.simple if policy.kind == "simple" else policies.step
                handler = kind(self, policy)
                self.env.process(self._tick(alarm, [handler]))

    def _alarm(self, name: str, spec: AlarmSpec) -> Alarm:
        alarm = Alarm(name, spec, self.env.now)
        self.alarms[name] = alarm
        return alarm

    def _tick(self, alarm: Alarm, handlers: list[Callable[[Alarm], None]]):
        while True:
            yield self.env.timeout(alarm.spec.period)
            value = self.cloudwatch.datapoint(alarm.name, alarm.spec)
            alarm.record(self.env.now, value)
            spread = self.cloudwatch.spread.get(alarm.name)
            if spread and alarm.hinges_on(spread):
                self.close_calls.append((self.env.now, alarm.name, value, spread))
            for handle in handlers:
                handle(alarm)
