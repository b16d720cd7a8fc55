"""How the load balancer picks an instance: one small strategy object, one method.

Think of a teacher handing out worksheets: round the class in seat order (round robin), to
whoever has the fewest unfinished sheets on the desk (least outstanding requests), or by names
drawn from a hat (random). The teacher only picks; whether a pupil can take another sheet now
is the load balancer's business, which passes in the targets that can take a request.

Facts (sim/FACTS.md, "Elastic Load Balancing"): Classic ELB uses least
outstanding requests for HTTP/HTTPS listeners; ALB uses round robin by default, with least
outstanding requests as an option.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Protocol

import numpy as np


class Target(Protocol):
    """What a strategy may look at: a stable id and the requests it has in flight."""

    id: int
    outstanding: int


class Strategy(Protocol):
    def choose(self, targets: Sequence[Target]) -> Target:
        """One of ``targets`` (never empty), each able to take a request now."""
        ...


class RoundRobin:
    """In turn, by target id: after target ``i`` comes the next id above ``i``, wrapping
    round. Keyed by id (not position) so registering or skipping a busy target keeps the
    rotation fair."""

    def __init__(self) -> None:
        self.last = -1

    def choose(self, targets: Sequence[Target]) -> Target:
        after = [t for t in targets if t.id > self.last]
        chosen = min(after or targets, key=_id)
        self.last = chosen.id
        return chosen


class LeastOutstanding:
    """Fewest requests in flight; a tie goes to one of the tied targets at random (from the
    injected generator), so no target is favoured for its id. Ties are the rule at light load,
    when every target has none in flight."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buffer: list[float] = []

    def choose(self, targets: Sequence[Target]) -> Target:
        if len(targets) == 2:  # the usual fleet: two comparisons instead of a list
            a, b = targets
            if a.outstanding != b.outstanding:
                return a if a.outstanding < b.outstanding else b
            ties = targets
        else:
            fewest = min(targets, key=_load).outstanding
            ties = [t for t in targets if t.outstanding == fewest]
            if len(ties) == 1:
                return ties[0]
        if not self._buffer:
            self._buffer.extend(self._rng.random(4096).tolist())
        return ties[int(self._buffer.pop() * len(ties))]


class Random:
    """Uniformly at random, from the injected generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buffer: list[float] = []

    def choose(self, targets: Sequence[Target]) -> Target:
        if not self._buffer:
            self._buffer.extend(self._rng.random(4096).tolist())
        return targets[int(self._buffer.pop() * len(targets))]


# Sort keys for min(): attrgetter does in C what a small function would do in Python, and
# routing runs once per request.
_id = attrgetter("id")
_load = attrgetter("outstanding")


def strategy(name: str, rng: np.random.Generator) -> Strategy:
    """The strategy a ``load_balancer.routing`` setting names."""
    if name == "round_robin":
        return RoundRobin()
    if name == "least_outstanding_requests":
        return LeastOutstanding(rng)
    if name == "random":
        return Random(rng)
    raise ValueError(f"unknown routing strategy {name!r}")
