"""The simulation over time: the engine's world plus traffic that changes, health checks, an
auto-scaling group, scheduled failures and a sampler.

It only uses the engine's published extension points (``arrivals``, ``processes``,
``launch``, ``send``, ``lb``, ``db``, ``instances``); :class:`EngineFleet` is the real
:class:`~sim.model.autoscaling.Fleet`. Sections left disabled in the scenario change nothing,
so a core scenario runs as before, plus a time series.

Flow: Scenario -> :func:`simulate_over_time` -> Engine + workload + HealthChecker +
AutoScalingGroup + Failures + Sampler -> a :class:`~sim.engine.world.Run` whose
``over_time`` is an :class:`OverTimeLog` (the sampled gauges, the scaling-activity log, alarm
and health histories, failures, instance-hours).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.config import Scenario
from sim.engine.sampler import Sampler
from sim.engine.world import Engine, Run, rng_for
from sim.model.autoscaling import Activity, AutoScalingGroup
from sim.model.cpu import SharedCores
from sim.model.failures import Failures
from sim.model.health import HealthChecker
from sim.model.instance import BOOTING, DRAINING, IN_SERVICE, TERMINATED
from sim.model.workload import SessionShape, arrival_times, profile_of, sessions


@dataclass
class OverTimeLog:
    """What a run over time logged besides its requests."""

    samples: list[dict[str, Any]]  # the sampler's rows, one per period
    period: float
    horizon: float  # the run's duration plus its drain: the end of the time series
    activities: list[Activity] = field(default_factory=list)
    alarms: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    health: list[tuple[float, str, str]] = field(default_factory=list)
    failures: list[tuple[float, str, str]] = field(default_factory=list)
    instance_hours: float = 0.0
    #: each alarm's comparison (">" scales out, "<" in) and the CPU thresholds, for figures
    comparisons: dict[str, str] = field(default_factory=dict)
    thresholds: set[float] = field(default_factory=set)


class EngineFleet:
    """The auto-scaling group's view of the engine: launch, start, terminate, counters."""

    def __init__(self, engine: Engine, checker: HealthChecker | None) -> None:
        self.engine = engine
        self.env = engine.env
        self.checker = checker
        self.zones: dict[int, str] = {}
        self._seen = 0
        self._latency = 0.0

    def launch(self, az: str) -> Any:
        inst = self.engine.launch(state=BOOTING, register=False)
        self.zones[inst.id] = az
        return inst

    def start(self, inst: Any) -> None:
        inst.state = IN_SERVICE
        if self.checker is not None:
            self.checker.watch(inst)
        else:
            self.engine.lb.register(inst)

    def terminate(self, inst: Any):
        return self.env.process(self._terminate(inst))

    def _terminate(self, inst: Any):
        lb = self.engine.lb
        if inst.state == IN_SERVICE:
            inst.state = DRAINING
            if self.checker is not None:
                yield from self.checker.drain(inst)
            else:
                lb.deregister(inst)
                yield from _drain_without_checks(self.env, inst)
        elif self.checker is not None:
            self.checker.stop(inst)
        lb.deregister(inst)
        inst.stop()  # whatever is still inside after the delay fails with 502
        lb.refresh()

    def cpu_seconds(self, inst: Any) -> float:
        return inst.busy_vcpu_time()

    def vcpus(self, inst: Any) -> int:
        return inst.vcpus.capacity

    def lb_totals(self) -> tuple[int, float, int]:
        reqs = self.engine.requests
        # ``requests`` grows in order of finishing; only its new tail is read each time.
        n = len(reqs)
        start = self._seen
        for r in reqs[start:n]:
            if r.end is not None:
                self._latency += r.end - r.arrival
        self._seen = n
        return self.engine.sent, self._latency, n


def _drain_without_checks(env, inst, delay: float = 300.0):
    # sim/FACTS.md, "Elastic Load Balancing": deregistration delay 300 s by default.
    deadline = env.now + delay
    while inst.outstanding > 0 and env.now < deadline:
        yield env.timeout(min(1.0, deadline - env.now))


def health_probe(env, inst, cpu: float):
    """One ``GET /health`` on ``inst``'s own Gunicorn: wait for a worker like any request,
    spend ``cpu`` seconds on a vCPU, answer 200. A dead instance never answers."""
    if inst.state == TERMINATED:
        return env.event()
    return env.process(_health_request(env, inst, cpu))


def _health_request(env, inst, cpu: float):
    workers = inst.workers
    slot = workers.acquire()
    if slot is None:
        if workers.queued >= inst.backlog:
            return False  # the listen backlog is full: connection refused
        slot = yield workers.wait()
    vcpus = inst.vcpus
    if isinstance(vcpus, SharedCores):  # time-sliced: its CPU time among the others'
        yield vcpus.start(cpu).event
    else:
        core = vcpus.acquire()
        if core is None:
            core = yield vcpus.wait()
        yield env.timeout(cpu)
        vcpus.release(core)
    workers.release(slot)
    return inst.state != TERMINATED


class World:
    """What the failures act on: the engine, the group and the health checker together."""

    def __init__(self, engine: Engine, fleet: EngineFleet, group, checker) -> None:
        self.engine = engine
        self.env = engine.env
        self.db = engine.db
        self.fleet = fleet
        self.group = group
        self.checker = checker

    def serving(self) -> list[Any]:
        return [i for i in self.engine.instances if i.state == IN_SERVICE]

    def live_instances(self) -> list[Any]:
        return [i for i in self.engine.instances if i.state != TERMINATED]

    def zone_of(self, inst: Any) -> str:
        return self.fleet.zones.get(inst.id, "")

    def kill(self, inst: Any) -> None:
        was = inst.state
        inst.stop()
        self.engine.lb.refresh()
        if self.group is None:
            return
        # Behind health checks the group learns of an in-service instance from the load
        # balancer (missed checks); anything else EC2 reports at once.
        if self.checker is None or was != IN_SERVICE:
            self.group.report_lost(inst)

    def zone_down(self, az: str, until: float) -> None:
        if self.group is not None:
            self.group.zone_down(az, until)


@dataclass
class ControlPlane:
    """The control plane of a run over time, wired to a world: the same classes whichever
    engine moves the requests (``sim/engine/fluid/`` wires them to a flow model)."""

    checker: HealthChecker | None
    fleet: EngineFleet
    group: AutoScalingGroup | None
    world: World
    failures: Failures
    sampler: Sampler


def streams(seed: int, replication: int) -> list[np.random.Generator]:
    """The traffic's, the group's and the failures' random streams of one run."""
    return np.random.default_rng([replication, seed, 3]).spawn(3)


def initial_scenario(s: Scenario) -> Scenario:
    """``s`` with the engine's initial fleet as the group's initial size, when it has one."""
    if s.asg.enabled:
        return dataclasses.replace(
            s, instances=dataclasses.replace(s.instances, count=max(s.asg.initial, 1))
        )
    return s


def control_plane(
    engine: Any,
    s: Scenario,
    r_group: np.random.Generator,
    r_failures: np.random.Generator,
    probe: Any,
    fleet_class: type[EngineFleet] = EngineFleet,
    instances: Any = None,
) -> ControlPlane:
    """Health checks, the auto-scaling group, failures and the sampler, acting on
    ``engine`` (``env``, ``lb``, ``db``, ``instances``, ``launch``): the engine's initial
    fleet is adopted as healthy and warm. ``probe(inst)`` is the health check's request;
    ``instances`` what the sampler reads (default: ``engine.instances``)."""
    env = engine.env
    asg, hc = s.asg, s.health_check
    checker = None
    group = None
    if hc.enabled:
        checker = HealthChecker(
            env,
            hc,
            engine.lb,
            probe=probe,
            in_flight=lambda inst: inst.outstanding,
            name=lambda inst: f"instance {inst.id}",
        )
        for inst in engine.instances:  # a fleet that has been running: healthy already
            checker.watch(inst, healthy=True)
    fleet = fleet_class(engine, checker)
    if asg.enabled:
        initial = engine.instances[: asg.initial]
        for inst in engine.instances[asg.initial :]:  # min 0: no instance at the start
            engine.lb.deregister(inst)
            if checker is not None:
                checker.stop(inst)
            inst.stop()
        adopt = []
        for k, inst in enumerate(initial):
            az = asg.azs[k % len(asg.azs)]
            fleet.zones[inst.id] = az
            adopt.append((inst, az))
        group = AutoScalingGroup(env, asg, fleet, r_group, adopt=tuple(adopt))
        if checker is not None:
            checker.on_unhealthy = group.report_unhealthy
    else:
        for k, inst in enumerate(engine.instances):
            fleet.zones[inst.id] = "ab"[k % 2]
    world = World(engine, fleet, group, checker)
    failures = Failures(world, s.failures, r_failures)
    sampler = Sampler(
        env,
        s.timeseries.period,
        instances if instances is not None else (lambda: engine.instances),
        engine.lb,
        group,
        engine.db,
    )
    return ControlPlane(checker, fleet, group, world, failures, sampler)


def over_time_log(cp: ControlPlane, s: Scenario, engine: Any) -> OverTimeLog:
    """What the control plane logged, once the run is over."""
    group, checker = cp.group, cp.checker
    horizon = s.run.duration + s.run.drain
    return OverTimeLog(
        samples=[r for r in cp.sampler.rows if r["t"] <= horizon + 1e-9],
        period=s.timeseries.period,
        horizon=horizon,
        activities=list(group.activities) if group else [],
        alarms={k: list(a.history) for k, a in group.alarms.items()} if group else {},
        health=list(checker.history) if checker else [],
        failures=list(cp.failures.log),
        instance_hours=(group.instance_seconds() if group else _fixed_seconds(engine)) / 3600,
        comparisons={k: a.spec.comparison for k, a in group.alarms.items()} if group else {},
        thresholds={a.spec.threshold for a in group.alarms.values() if a.spec.metric == "cpu"}
        if group
        else set(),
    )


def simulate_over_time(scenario: Scenario, seed: int | None = None, replication: int = 0) -> Run:
    """Run ``scenario`` with its time-varying sections and sample it every period (seeds as
    in :func:`sim.engine.simulate`)."""
    seed = scenario.run.seed if seed is None else seed
    s = initial_scenario(scenario)
    traffic, hc = s.traffic, s.health_check
    # Independent streams for the parts this module adds, derived from the same seed.
    r_traffic, r_group, r_failures = streams(seed, replication)
    arrivals: Any = None
    if traffic.enabled:
        profile = profile_of(traffic)
        arrivals = () if traffic.sessions else arrival_times(profile, r_traffic, s.run.duration)
    engine = Engine(s, rng_for(seed, replication), arrivals=arrivals)
    engine.seed, engine.replication = seed, replication
    env = engine.env
    cp = control_plane(
        engine, s, r_group, r_failures, probe=lambda inst: health_probe(env, inst, hc.cpu)
    )

    if traffic.enabled and traffic.sessions:
        shape = SessionShape(
            requests_per_session=traffic.requests_per_session,
            think_time_s=traffic.think_time,
            dns_cache_ttl_s=traffic.dns_cache_ttl,
        )
        horizon = s.run.duration

        def send(resolve: bool):
            return engine.send(cached_dns=not resolve)

        def users(_engine):
            # Visits are journeys, as requests are: a think time costs no Timeout object.
            yield from sessions(
                env, profile, shape, r_traffic, send, end=horizon, spawn=engine.start
            )

        engine.journeys.append(users)

    run = engine.run()
    run.over_time = over_time_log(cp, s, engine)
    return run


def _fixed_seconds(engine: Any) -> float:
    return len(engine.instances) * engine.env.now
