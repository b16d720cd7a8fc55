"""Load-balancer health checks: the night watchman's rounds.

A night watchman knocks on every office door every ``interval`` seconds; a door answered
within ``timeout`` counts as a success. After ``unhealthy_threshold`` unanswered knocks in a
row he marks the office closed and visitors are sent elsewhere; after ``healthy_threshold``
answered knocks in a row it is open again. The trap the model shows: the door is answered by
the same clerks who serve the visitors (the instance's own Gunicorn workers), so an office that
is merely *busy* misses its knocks, loses its visitors to the others, and makes *them* busy in
turn: a cascade.

Defaults are the ALB target group's (FACTS.md, "Elastic Load Balancing"): interval 30 s,
timeout 5 s, healthy 5, unhealthy 2, deregistration delay 300 s. A target is registered with
the load balancer (``lb.register``) when it turns healthy and deregistered when it turns
unhealthy or starts draining. Draining lets in-flight requests finish for up to the
deregistration delay; whatever is still running then is cut off (502) by the caller.

The checker needs three things from the world, injected: ``probe(target)`` -> a SimPy event
whose value is truthy for a 200 answer, ``in_flight(target)`` -> requests on the target now,
and the load balancer's ``register``/``deregister``. Flow: probe results -> consecutive
counters -> target state -> load-balancer membership and ``on_unhealthy`` (the ASG).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.config import HealthCheckConfig

INITIAL, HEALTHY, UNHEALTHY, DRAINING, UNUSED = (
    "initial",
    "healthy",
    "unhealthy",
    "draining",
    "unused",
)

#: How often draining looks whether the last in-flight request has finished.
DRAIN_POLL_S = 1.0


class HealthChecker:
    """Checks every watched target and keeps the load balancer's targets in step."""

    def __init__(
        self,
        env,
        config: HealthCheckConfig,
        lb: Any,
        probe: Callable[[Any], Any],
        in_flight: Callable[[Any], int],
        on_unhealthy: Callable[[Any], None] | None = None,
        name: Callable[[Any], str] = str,
    ) -> None:
        self.env = env
        self.config = config
        self.lb = lb
        self.probe = probe
        self.in_flight = in_flight
        self.on_unhealthy = on_unhealthy
        self.name = name
        self.state: dict[Any, str] = {}
        #: ``(t, target name, new state)`` for every transition.
        self.history: list[tuple[float, str, str]] = []
        self._token: dict[Any, object] = {}

    def _set(self, target: Any, state: str) -> None:
        self.state[target] = state
        self.history.append((self.env.now, self.name(target), state))

    def watch(self, target: Any, healthy: bool = False) -> None:
        """Start checking ``target`` now; it takes traffic once it passes the healthy threshold.
        ``healthy=True`` adopts a target that is already registered and passing."""
        token = object()
        self._token[target] = token
        self._set(target, HEALTHY if healthy else INITIAL)
        runs = self.config.healthy_threshold if healthy else 0
        self.env.process(self._checks(target, token, runs))

    def stop(self, target: Any) -> None:
        self._token.pop(target, None)

    def healthy(self) -> list[Any]:
        return [t for t, s in self.state.items() if s == HEALTHY]

    def _checks(self, target: Any, token: object, ok_run: int = 0):
        cfg = self.config
        fail_run = 0
        while self._token.get(target) is token:
            started = self.env.now
            answer = self.probe(target)
            timer = self.env.timeout(cfg.timeout)
            result = yield answer | timer
            if self._token.get(target) is not token:
                return
            ok = answer in result and bool(result[answer])
            state = self.state[target]
            if ok:
                ok_run, fail_run = ok_run + 1, 0
                if state != HEALTHY and ok_run >= cfg.healthy_threshold:
                    self._set(target, HEALTHY)
                    self.lb.register(target)
            else:
                ok_run, fail_run = 0, fail_run + 1
                if state != UNHEALTHY and fail_run >= cfg.unhealthy_threshold:
                    self._set(target, UNHEALTHY)
                    if state == HEALTHY:
                        self.lb.deregister(target)
                    if self.on_unhealthy is not None:
                        self.on_unhealthy(target)
            # Checks start every `interval` seconds, however long the last one took.
            yield self.env.timeout(max(started + cfg.interval - self.env.now, 0.0))

    def drain(self, target: Any):
        """SimPy process: stop routing to ``target`` and wait until it has no request in flight
        or the deregistration delay has passed, whichever comes first."""
        was = self.state.get(target)
        self.stop(target)
        if was == HEALTHY:
            self.lb.deregister(target)
        self._set(target, DRAINING)
        deadline = self.env.now + self.config.deregistration_delay
        while self.in_flight(target) > 0 and self.env.now < deadline:
            yield self.env.timeout(min(DRAIN_POLL_S, deadline - self.env.now))
        self._set(target, UNUSED)
