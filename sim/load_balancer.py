"""The Elastic Load Balancer: registered targets, a routing strategy and a surge queue.

Think of the host desk of a busy restaurant: the host knows which tables are open today (the
registered, healthy targets), seats each guest by a rule (the routing strategy in
``routing.py``), and when every table is full keeps a short waiting line at the door (the
surge queue). When the line is full, new guests are told to come back later (503, counted as
spillover), and on a day with no open tables at all, everybody is (503 too).

Facts (../shared/design/MODEL_FACTS.md, "Elastic Load Balancing"): the Classic ELB surge queue
holds at most 1,024 requests, beyond that spillover with 503; 503 when there is no registered
healthy target; 60 s idle timeout (504). A target "is full" here when its nginx holds
``nginx.max_connections`` requests.

Health checks and auto scaling (``health.py``, ``autoscaling.py``) change the target list
through :meth:`LoadBalancer.register`, :meth:`LoadBalancer.deregister` and an instance's
``healthy`` flag; this module only routes.
"""

from __future__ import annotations

from collections import deque

import simpy

from sim.config import LoadBalancerConfig
from sim.instance import IN_SERVICE
from sim.routing import Strategy

# Outcomes stamped on the ``lb`` record of a request the load balancer refused.
SPILLOVER = "spillover"
NO_TARGET = "no-target"
IDLE_TIMEOUT = "idle-timeout"  # 504: waited in the surge queue past the idle timeout


class LoadBalancer:
    """Routes each request to an instance that can take it, or queues or refuses it."""

    def __init__(self, env: simpy.Environment, config: LoadBalancerConfig, strategy: Strategy):
        self.env = env
        self.config = config
        self.strategy = strategy
        self.targets: list = []
        self.surge: deque[simpy.Event] = deque()
        self.surge_limit = config.surge_queue
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
