"""The fluid engine: days and weeks in seconds, with the same control plane.

Think of a flight simulator's autopilot test: the autopilot (here the health checks, the
CloudWatch datapoints and alarms, the auto-scaling group, the failures, the sampler) is the
real one, and only the air it flies through is a model computed in steps rather than a storm
of molecules. ``sim/model/health.py``, ``sim/model/autoscaling/``, ``sim/model/failures.py``
and ``sim/engine/sampler.py`` run in SimPy as in the discrete-event run, wired by the same
function (``over_time.control_plane``); the requests are flows (``plane.py``), advanced only
when the control plane looks, with queueing approximations for waits and percentiles
(``queueing.py``, ``latency.py``; sources in ``sim/FACTS.md``).

What it gives: a :class:`FluidRun` with the over-time log (time series, activities, alarms,
health, failures, instance-hours) and per-window and measured-window counts (``plane.Tally``,
``plane.Window``), from which ``sim/results/`` makes the same summary, table and text as for
a discrete-event run. What it does not give: per-request records (no trace, no
``records.csv``). Where it is weak (a saturated fleet, a cascade of failed health checks)
the result says so (:attr:`FluidRun.warnings`) and points to ``--engine des``; so it does
where an alarm decided on a datapoint within its own scatter of the threshold (a fork: another
seed may take another path, on either engine).

Flow: Scenario -> :func:`simulate_fluid` -> :class:`FluidEngine` (env, lb, db, instances,
launch) + ``control_plane`` -> ``run_until`` -> :class:`FluidRun`.

May import ``sim.config``, ``sim.model``, ``sim.layers`` and the rest of ``sim.engine``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.config import ConfigError, Scenario
from sim.engine.fluid.plane import DataPlane, FluidInstance, Window
from sim.engine.kernel import Environment, run_until
from sim.engine.over_time import (
    EngineFleet,
    control_plane,
    initial_scenario,
    over_time_log,
    streams,
)
from sim.engine.world import Run
from sim.model.health import UNHEALTHY
from sim.model.instance import IN_SERVICE

__all__ = ["FluidEngine", "FluidRun", "simulate_fluid", "unsupported"]


@dataclass
class FluidRun(Run):
    """A :class:`~sim.engine.world.Run` without requests: the plane's counts instead."""

    plane: Any = None  # the DataPlane: measured tally, windows, counters
    windows: list[Window] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the alarm decisions that came down to a datapoint within its scatter of the threshold:
    #: (t, alarm, value, spread) (``AutoScalingGroup.close_calls``)
    close_calls: list[tuple[float, str, float, float]] = field(default_factory=list)


class FluidEngine:
    """What the control plane acts on (the discrete-event :class:`~sim.engine.world.Engine`'s
    ``env``, ``lb``, ``db``, ``instances`` and ``launch``), over a :class:`DataPlane`."""

    def __init__(self, s: Scenario, rng: np.random.Generator) -> None:
        self.scenario = s
        self.env = Environment()
        self.plane = DataPlane(s, self.env, rng)
        self.lb = self.plane.lb
        self.db = self.plane.db
        self.instances = self.plane.instances
        for _ in range(s.instances.count):
            self.launch()

    def launch(self, state: str = IN_SERVICE, register: bool = True) -> FluidInstance:
        inst = self.plane.new_instance(state)
        if register:
            self.lb.register(inst)
        return inst


class FluidFleet(EngineFleet):
    """The group's view of the fluid engine: as the discrete-event one, with the load
    balancer's totals (requests, latency) taken from the flows."""

    def lb_totals(self) -> tuple[int, float, int]:
        p = self.engine.plane
        p.sync()
        return int(p.sent), p.latency_sum, int(p.answered)

    def cpu_noise(self, period: float) -> float:
        """How a period's CPU datapoint scatters (``DataPlane.cpu_noise``): the group notes
        the decisions that came down to it."""
        return self.engine.plane.cpu_noise(period)


def unsupported(s: Scenario) -> str:
    """Why the fluid engine cannot run ``s``, or ``""``."""
    if s.assets.enabled:
        return (
            "assets.enabled = true: the fluid engine has no pages to fetch static files for"
            " (requests are flows; use --engine des)"
        )
    if not s.django.cpu_after.always_zero:
        return (
            "django.cpu_after > 0: the fluid engine does not model the CPU a worker spends"
            " after the response (use --engine des)"
        )
    if s.instances.cpu_jitter > 0:
        return (
            "instances.cpu_jitter > 0: the fluid engine's vCPUs run at one steady speed"
            " (use --engine des)"
        )
    for i, f in enumerate(s.failures):
        if f.kind == "bad_deploy":
            return (
                f'failures[{i}].kind = "bad_deploy": the fluid engine does not model a bad'
                " deploy (use --engine des)"
            )
    return ""


def simulate_fluid(scenario: Scenario, seed: int | None = None, replication: int = 0) -> Run:
    """Run ``scenario`` with the fluid data plane (seeds as in :func:`sim.engine.simulate`:
    the group and the failures draw from the same streams as a discrete-event run)."""
    why = unsupported(scenario)
    if why:
        raise ConfigError("--engine", "fluid", why)
    seed = scenario.run.seed if seed is None else seed
    s = initial_scenario(scenario)
    _, r_group, r_failures = streams(seed, replication)
    engine = FluidEngine(s, np.random.default_rng([replication, seed, 5]))
    plane = engine.plane
    hc = s.health_check

    def synced():
        plane.sync()
        return engine.instances

    cp = control_plane(
        engine,
        s,
        r_group,
        r_failures,
        probe=lambda inst: plane.probe(inst, hc.cpu, hc.timeout),
        fleet_class=FluidFleet,
        instances=synced,
    )
    horizon = s.run.duration + s.run.drain
    env = engine.env
    run_until(env, horizon)
    plane.finish()
    warmup, duration = s.run.warmup, s.run.duration

    def alive(i: FluidInstance) -> float:
        return max(0.0, min(i.stopped_at, duration) - max(i.launched_at, warmup))

    window = duration - warmup
    capacity = {
        "workers": sum(i.workers.capacity * alive(i) for i in engine.instances),
        "vcpus": sum(i.vcpus.capacity * alive(i) for i in engine.instances),
        "db_connections": s.postgres.max_connections * window,
        "db_cpu": s.postgres.vcpus * window,
    }
    m = plane.measured
    counters = {
        "sent": round(plane.sent),
        "finished": round(plane.sent),
        "spillover": round(plane.lb.spillover),
        "killed_workers": round(plane.killed),
        "refused_db_connections": round(plane.db.refused),
    }
    run = FluidRun(
        s,
        seed,
        [],
        (warmup, duration),
        dict(plane.busy),
        capacity,
        counters,
        replication,
        plane=plane,
        windows=list(plane.windows),
    )
    run.over_time = over_time_log(cp, s, engine)
    # The coin flips while the traffic runs (in the drain the alarms read an idle fleet).
    calls = cp.group.close_calls if cp.group is not None else []
    run.close_calls = [c for c in calls if c[0] <= duration]
    run.warnings = _warnings(run, m, cp.group.alarms if cp.group is not None else {})
    return run


def _warnings(run: FluidRun, m, alarms: dict) -> list[str]:
    """Where the approximation does not hold, in words."""
    out = []
    start, end = run.window
    inside = [w for w in run.windows if start < w.t <= end + 1e-9]
    hot = [w for w in inside if w.saturated]
    if hot:
        out.append(
            f"saturated in {len(hot)} of {len(inside)} windows (first ending at"
            f" {hot[0].t:g} s): waits and errors there are rough"
        )
    instances = run.plane.instances
    # An instance that had crashed fails its checks for a good reason: not a cascade.
    pulled = [
        (t, name)
        for t, name, state in run.over_time.health
        if state == UNHEALTHY and instances[int(name.split()[-1])].stopped_at > t
    ]
    if pulled:
        out.append(
            f"{len(pulled)} instance(s) failed their health checks while serving (a cascade"
            f" from t={pulled[0][0]:g} s): the timing is approximate"
        )
    close = run.close_calls
    if close:
        t, name, value, spread = close[0]
        spec = alarms[name].spec
        out.append(
            f"{len(close)} alarm decision(s) came down to a datapoint within its own scatter of"
            f" the threshold (first at t={t:g} s: {name} read {value:.1f} % give or take"
            f" {spread:.1f}, against {spec.comparison} {spec.threshold:g} %): with another"
            " seed the group may scale a period earlier or later there, and take another path"
            " from then on; compare a few runs with --seed, on either engine"
        )
    return out
