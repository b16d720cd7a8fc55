"""The host's speed over time: vCPUs that do not run at one speed (``[instances] cpu_jitter``).

Think of a shared kitchen where the ovens' gas pressure drops whenever the restaurant next
door fires up its own: the same dish takes longer for a while, then it does not. A virtual
machine's vCPUs share the physical cores and their caches with the host's other guests, so
the same work takes tens of percent longer in one minute than in the next, and within a
minute too (``sim/FACTS.md``, "The host's speed"). A steady average hides what matters near
the knee: a queue builds up during a slow stretch that a fast one does not drain at once.

The model: time is cut into periods of ``cpu_jitter_period`` seconds, and in each period
every vCPU of every instance (one host) runs at one speed, drawn independently of the other
periods. A CPU burst's work is stretched by the factor of the period in which it is drawn
(its start: a burst of tens of milliseconds rarely spans a period of seconds). The factors
are lognormal with mean 1 and coefficient of variation ``cpu_jitter``, so the mean cost of a
request, and with it the utilisation law's capacity, stay what the scenario says; only how
the cost is spread over time changes.

Flow: the engine builds one :class:`HostSpeed` when ``cpu_jitter > 0`` (its own random
stream, spawned after the others, so a scenario without it draws exactly as before), and
Django's CPU samplers are wrapped by :func:`stretched`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import simpy

from sim.model.distributions import LogNormal


class HostSpeed:
    """The factor a CPU burst is stretched by at each moment: piecewise constant over periods
    of ``period`` seconds, lognormal with mean 1 and coefficient of variation ``cv``."""

    def __init__(
        self, env: simpy.Environment, cv: float, period: float, rng: np.random.Generator
    ) -> None:
        self.env = env
        self.period = period
        # A lognormal's coefficient of variation is sqrt(exp(sigma^2) - 1): sigma^2 = ln(1 + cv^2).
        self._speeds = LogNormal(1.0, math.sqrt(math.log1p(cv * cv)))
        self._rng = rng
        self._factors: list[float] = []

    def factor(self, at: float | None = None) -> float:
        """The stretch of work started at ``at`` (default: now)."""
        k = int((self.env.now if at is None else at) // self.period)
        factors = self._factors
        if k >= len(factors):  # drawn in order of the periods, so a run is reproducible
            n = k + 1 - len(factors)
            factors.extend(self._speeds.draw(self._rng, max(n, 64)).tolist())
        return factors[k]


def stretched(sampler: Callable[[], float], host: HostSpeed) -> Callable[[], float]:
    """``sampler``'s CPU work, stretched by the host's speed when it is drawn."""
    factor = host.factor

    def sample() -> float:
        return sampler() * factor()

    return sample
