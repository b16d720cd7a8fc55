"""Scheduled failures: a fire drill written into the scenario.

A fire drill is planned in advance (the alarm goes off at 10:30 on Tuesday) so that everybody
can watch what the building does. Each ``[[failures]]`` table is such a drill: at ``at``
seconds something breaks, and the rest of the model (health checks, the load balancer, the
auto-scaling group) reacts as it would on a real day.

* ``crash``: one in-service instance dies; requests inside fail with 502 (``Instance.stop``).
  Behind health checks, the load balancer and the group only learn of it from missed checks.
* ``az_loss``: every instance in one availability zone dies and the zone takes no launches
  for ``duration`` seconds (0: for the rest of the run): half the fleet with two zones.
* ``db_slowdown``: every query takes ``factor`` times longer for ``duration`` seconds.
* ``bad_deploy``: ``instances`` instances answer 500 to a share ``error_rate`` of requests for
  ``duration`` seconds (0: for the rest of the run). Their health endpoint still answers 200,
  so health checks do not pull them: the lesson of a bad deploy.

The drills act on the world through a small :class:`World` protocol (the engine plus the
group). Flow: FailureConfig -> SimPy process -> instance/database changes -> :attr:`log`.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from sim.config import FailureConfig
from sim.layers import BAD_DEPLOY, STATUS


class World(Protocol):
    env: Any
    db: Any

    def serving(self) -> list[Any]:
        """In-service instances, oldest first."""

    def zone_of(self, instance: Any) -> str: ...

    def live_instances(self) -> list[Any]: ...

    def kill(self, instance: Any) -> None:
        """Crash ``instance`` and let whoever would notice, notice."""

    def zone_down(self, az: str, until: float) -> None: ...


class Failures:
    """Runs every scheduled failure of a scenario; :attr:`log` says what happened when."""

    def __init__(
        self, world: World, failures: tuple[FailureConfig, ...], rng: np.random.Generator
    ) -> None:
        self.world = world
        self.rng = rng
        self.log: list[tuple[float, str, str]] = []
        for f in failures:
            world.env.process(self._drill(f))

    def _note(self, kind: str, detail: str) -> None:
        self.log.append((self.world.env.now, kind, detail))

    def _drill(self, f: FailureConfig):
        env, world = self.world.env, self.world
        yield env.timeout(f.at)
        until = f.at + f.duration if f.duration > 0 else math.inf
        if f.kind == "crash":
            serving = world.serving()
            if f.instance >= len(serving):
                self._note("crash", f"no in-service instance number {f.instance}: nothing crashed")
                return
            victim = serving[f.instance]
            self._note("crash", f"instance {victim.id} crashed")
            world.kill(victim)
        elif f.kind == "az_loss":
            victims = [i for i in world.live_instances() if world.zone_of(i) == f.az]
            self._note("az_loss", f"zone {f.az} lost with {len(victims)} instance(s)")
            world.zone_down(f.az, until)
            for victim in victims:
                world.kill(victim)
        elif f.kind == "db_slowdown":
            yield from self._slow_database(f, until)
        elif f.kind == "bad_deploy":
            yield from self._bad_deploy(f, until)

    def _slow_database(self, f: FailureConfig, until: float):
        db, env = self.world.db, self.world.env
        normal = db.query_cost
        db.query_cost = lambda: normal() * f.factor
        self._note("db_slowdown", f"queries x{f.factor:g}")
        if until < math.inf:
            yield env.timeout(until - env.now)
            db.query_cost = normal
            self._note("db_recovered", "queries back to normal")

    def _bad_deploy(self, f: FailureConfig, until: float):
        env = self.world.env
        targets = self.world.serving()[: f.instances]
        draws: list[float] = []

        def unlucky() -> bool:
            if not draws:
                draws.extend(self.rng.random(1024).tolist())
            return draws.pop() < f.error_rate

        for inst in targets:
            inst.serve = _erroring(inst.serve, env, unlucky)
        names = ", ".join(str(i.id) for i in targets)
        self._note("bad_deploy", f"instances {names} answer 500 to {f.error_rate:.0%}")
        if until < math.inf:
            yield env.timeout(until - env.now)
            for inst in targets:
                del inst.serve  # back to the class's method: the rollback
            self._note("rollback", f"instances {names} healthy again")


def _erroring(serve, env, unlucky):
    """Wrap an instance's ``serve``: the new code does its work, then fails on the way out."""

    def serve_badly(req, *args, **kwargs):
        yield from serve(req, *args, **kwargs)
        if req.status == 200 and unlucky():
            req.fail("app", STATUS[BAD_DEPLOY], BAD_DEPLOY)
            req.end = env.now

    return serve_badly
