"""Random durations: constant, exponential, lognormal, empirical and uniform, each exposing its
mean.

Think of a deck of cards shuffled once and dealt one at a time: rather than asking numpy for
one number per request (slow: each call costs microseconds), a sampler draws a batch of a few
thousand values from the injected ``numpy.random.Generator`` and deals them out. The sequence
is the same for the same generator state, so runs are reproducible without global seeding.

Data flows one way: a :class:`~sim.config.DistributionConfig` (parameters) goes in through
:func:`make`, a :class:`Distribution` comes out; the engine calls ``sampler(rng)`` once per
use site and then ``next()`` per request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from sim.config import DistributionConfig

BATCH = 4096


class Distribution:
    """A distribution of non-negative durations with a known ``mean`` and ``variance``."""

    mean: float
    variance: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent samples."""
        raise NotImplementedError

    def sampler(self, rng: np.random.Generator, batch: int = BATCH) -> Callable[[], float]:
        """A zero-argument function returning the next sample, drawn in batches."""
        buffer: list[float] = []

        def next_sample() -> float:
            if not buffer:
                buffer.extend(self.draw(rng, batch).tolist()[::-1])
            return buffer.pop()

        return next_sample

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean:g})"


class Constant(Distribution):
    """Always the same value; its sampler never touches the generator."""

    def __init__(self, value: float) -> None:
        self.value = float(value)
        self.mean = self.value
        self.variance = 0.0

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value)

    def sampler(self, rng: np.random.Generator, batch: int = BATCH) -> Callable[[], float]:
        value = self.value
        return lambda: value


class Exponential(Distribution):
    """Memoryless, as in M/M/c: mean ``mean``, variance ``mean**2``."""

    def __init__(self, mean: float) -> None:
        self.mean = float(mean)
        self.variance = self.mean**2

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, n)


class LogNormal(Distribution):
    """Right-skewed service times, parameterised by the mean (not the log-mean) and ``sigma``,
    the standard deviation of the logarithm."""

    def __init__(self, mean: float, sigma: float) -> None:
        self.mean = float(mean)
        self.sigma = float(sigma)
        self.mu = math.log(self.mean) - self.sigma**2 / 2
        self.variance = (math.exp(self.sigma**2) - 1) * self.mean**2

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, n)

    def __repr__(self) -> str:
        return f"LogNormal(mean={self.mean:g}, sigma={self.sigma:g})"


class Empirical(Distribution):
    """Resamples measured values uniformly (with replacement): the measured mean and variance."""

    def __init__(self, samples: Sequence[float]) -> None:
        self.samples = np.asarray(samples, dtype=float)
        self.mean = float(self.samples.mean())
        self.variance = float(self.samples.var())

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(self.samples, n)

    def __repr__(self) -> str:
        return f"Empirical(n={len(self.samples)}, mean={self.mean:g})"


class Uniform(Distribution):
    """Any value in ``[low, high]`` with equal chance: a load generator's ``between(low,
    high)`` wait time. Mean the midpoint, variance (high - low)^2 / 12."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = float(low), float(high)
        self.mean = (self.low + self.high) / 2
        self.variance = (self.high - self.low) ** 2 / 12

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)

    def __repr__(self) -> str:
        return f"Uniform(low={self.low:g}, high={self.high:g})"


def make(config: DistributionConfig) -> Distribution:
    """The distribution a validated config describes."""
    if config.kind == "constant":
        return Constant(config.mean)
    if config.kind == "exponential":
        return Exponential(config.mean)
    if config.kind == "lognormal":
        return LogNormal(config.mean, config.sigma) if config.sigma > 0 else Constant(config.mean)
    if config.kind == "uniform":
        wide = config.high > config.low
        return Uniform(config.low, config.high) if wide else Constant(config.low)
    return Empirical(config.samples)
