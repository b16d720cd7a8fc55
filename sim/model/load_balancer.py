"""The Elastic Load Balancer: registered targets, a routing strategy and a surge queue.

Think of the host desk of a busy restaurant: the host knows which tables are open today (the
registered, healthy targets), seats each guest by a rule (the routing strategy in
``routing.py``), and when every table is full keeps a short waiting line at the door (the
surge queue). When the line is full, new guests are told to come back later (503, counted as
spillover), and on a day with no open tables at all, everybody is (503 too).

Facts (``sim/FACTS.md``, "Elastic Load Balancing"): the Classic ELB surge queue holds at most
1,024 requests, beyond that spillover with 503; 503 when there is no registered healthy target;
60 s idle timeout (504): the load balancer waits that long for an answer, in its surge queue or
from the instance, and then answers 504 itself. A target "is full" here when its nginx holds
``nginx.max_connections`` requests.

Health checks and auto scaling (``health.py``, ``autoscaling/``) change the target list
through :meth:`LoadBalancer.register`, :meth:`LoadBalancer.deregister` and an instance's
``healthy`` flag; this module only routes, queues and times out.
"""

from __future__ import annotations

from collections import deque

import simpy

from sim.config import LoadBalancerConfig
from sim.layers import IDLE_TIMEOUT, NO_TARGET, SPILLOVER, STATUS
from sim.model.instance import IN_SERVICE
from sim.model.routing import Strategy


class LoadBalancer:
    """Routes each request to an instance that can take it, or queues or refuses it."""

    def __init__(self, env: simpy.Environment, config: LoadBalancerConfig, strategy: Strategy):
        self.env = env
        self.config = config
        self.strategy = strategy
        self.targets: list = []
        self.surge: deque[simpy.Event] = deque()
        self.surge_limit = config.surge_queue
        self.idle_timeout = config.idle_timeout
        self.spillover = 0

    # -- the target list ------------------------------------------------------------------
    def register(self, instance) -> None:
        """Add ``instance`` to the targets (kept in id order) and let it take queued work."""
        if instance not in self.targets:
            self.targets.append(instance)
            self.targets.sort(key=lambda t: t.id)
            instance.on_free = self._on_free
            self._dispatch()

    def deregister(self, instance) -> None:
        """Stop routing to ``instance`` (requests already there carry on)."""
        if instance in self.targets:
            self.targets.remove(instance)
        self._drop_if_no_targets()

    def routable(self) -> list:
        """Targets that may get new requests: registered, healthy and in service. A stopped
        instance drops out at once (its connections are refused, and the model lets the
        load balancer try another target rather than answer 502)."""
        return [t for t in self.targets if t.healthy and t.state == IN_SERVICE]

    def refresh(self) -> None:
        """Call after a target's health or state changed."""
        self._dispatch()
        self._drop_if_no_targets()

    # -- requests -------------------------------------------------------------------------
    def route(self):
        """An instance for a new request now (counted as outstanding there), a SimPy event
        to wait on in the surge queue (its value: the instance, or None for a 503), or a
        string saying why the request is refused (:data:`NO_TARGET`, :data:`SPILLOVER`)."""
        targets = [t for t in self.targets if t.healthy and t.state == IN_SERVICE]
        if not targets:
            return NO_TARGET
        if not self.surge:
            free = [t for t in targets if t.outstanding < t.max_connections]
            if free:
                chosen = self.strategy.choose(free)
                chosen.outstanding += 1
                return chosen
        if len(self.surge) >= self.surge_limit:
            self.spillover += 1
            return SPILLOVER
        ticket = self.env.event()
        self.surge.append(ticket)
        return ticket

    def wait_in_surge(self, req, ticket, arrived: float):
        """Sub-process (``yield from``) for a request :meth:`route` did not place at once:
        ``ticket`` is its place in the surge queue, or why it is refused. Returns the instance
        that takes it, or None when the load balancer answered itself (stamped on ``req``):
        503 when refused, 504 when the idle timeout (counted from ``arrived``) ran out first."""
        if ticket.__class__ is str:
            return self._answer(req, ticket, self.env.now)
        queued = self.env.now
        target = yield ticket
        req.lb_wait = self.env.now - queued
        if target is None:
            return self._answer(req, NO_TARGET, self.env.now)
        deadline = arrived + self.idle_timeout
        if self.env.now > deadline:
            # The idle timeout ran out in the surge queue: the load balancer answered 504 then
            # (stamped afterwards: nothing else observes the request meanwhile).
            target.leave()
            req.lb_wait = deadline - queued
            return self._answer(req, IDLE_TIMEOUT, deadline)
        return target

    def _answer(self, req, outcome: str, at: float) -> None:
        req.queue_service = 0.0  # never reached nginx
        req.fail("lb", STATUS[outcome], outcome)
        req.end = at

    def _on_free(self, instance) -> None:
        if self.surge:
            self._dispatch()

    def _dispatch(self) -> None:
        while self.surge:
            free = [t for t in self.routable() if t.outstanding < t.max_connections]
            if not free:
                return
            chosen = self.strategy.choose(free)
            chosen.outstanding += 1
            self.surge.popleft().succeed(chosen)

    def _drop_if_no_targets(self) -> None:
        if self.surge and not self.routable():
            while self.surge:
                self.surge.popleft().succeed(None)
