"""The queueing approximations the fluid engine uses for one instance (``sim/FACTS.md``,
"Queueing theory: the fluid engine's approximations").

Think of a bakery with ``slots`` bakers sharing ``vcpus`` ovens: each loaf needs the oven for
a while (the CPU demand) and the bench for a while (the database and everything else that
does not need the oven). How many loaves an hour the bakery turns out depends on how many
bakers are busy: one baker never waits for an oven, nine bakers on two ovens mostly do.

1. **The instance inside** (:func:`throughputs`): ``k`` busy workers cycling between the vCPUs
   (``c`` servers, exponential CPU demand ``D``) and everything else (a delay ``Z``) form the
   finite-source (machine-repairman) queue; its birth-death chain gives the throughput
   ``X(k)`` for every ``k`` up to the number of worker slots.
2. **The instance seen from outside** (:func:`occupancy`): the flow-equivalent server
   (Chandy, Herzog and Woo 1975) replaces the inside by one server completing ``X(min(m,
   slots))`` requests per second when ``m`` requests are in the instance; fed by Poisson
   arrivals at ``lambda`` it is a birth-death chain whose stationary law gives the chance of
   waiting for a worker, the waiting time (exponential with rate ``X(slots) - lambda`` once
   every worker is busy, as in Erlang C) and the busy workers.
3. **Not exponential** (:func:`allen_cunneen`): Allen and Cunneen's correction scales a wait
   computed for exponential service by ``(ca^2 + cs^2) / 2``, the squared coefficients of
   variation of inter-arrival (1 for Poisson) and service times.
4. **Waiting for a vCPU, burst by burst** (:func:`vcpu_factor`, :func:`vcpu_busy`, the ``g``
   of :func:`occupancy`). A request's CPU comes in ``1 + queries`` bursts (one long, then a
   short one after each query), each queueing on its own, first come first served: a short
   burst waits behind other requests' long ones. Inside an instance with ``k`` busy workers
   the finite-source chain of step 1 is nearly insensitive to that (its throughput is within
   1 % of a simulation of the bursts), but how many requests the instance holds is not: the
   flow-equivalent server of step 2 counts them as if completions were exponential. So each
   step ``m - 1 -> m`` of its chain where the newcomer waits for a vCPU has its ratio
   ``r = lam / X(m)`` stretched by Allen and Cunneen's factor ``g``: ``r'`` with ``r' / (1 -
   r') = g r / (1 - r)`` (a geometric queue's mean times ``g``; past ``r = 1`` its
   heavy-traffic equivalent ``r^(1/g)``), weighted by the chance that the newcomer finds
   every vCPU busy (the arrival theorem on the chain of step 1: below ``c`` busy workers, as in
   Erlang's loss system, and in the queue for a worker nothing changes). The chain is then
   rescaled to the utilisation law (it completes what arrives), as Kobayashi's diffusion
   approximation fixes ``P(0) = 1 - rho``. ``g`` is the M/G/c's for a burst, ``(1 + cs_b^2) /
   2``, times ``(ca^2 + cs_D^2) / (1 + cs_D^2)`` for arrivals smoother than Poisson: the
   unfinished work, which does not depend on how the CPU is split into bursts, varies in heavy
   traffic at ``lam (ca^2 + cs_D^2) D^2`` (Kingman), ``cs_D^2`` being a request's whole CPU's.

With as many vCPUs as worker slots ``X(k) = k / D`` and step 2 is the M/M/c queue exactly, so
Erlang C is a special case (``tests/sim_dynamics/test_fluid.py`` checks it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=4096)
def throughputs(slots: int, vcpus: int, cpu: float, other: float) -> tuple[float, ...]:
    """``X(1) .. X(slots)``: requests per second ``k`` busy workers complete, each request
    needing ``cpu`` seconds on one of ``vcpus`` (exponential, first come first served) and
    ``other`` seconds away from them (the finite-source queue, exact for exponential times).
    """
    if cpu <= 0:
        return tuple(k / other if other > 0 else math.inf for k in range(1, slots + 1))
    if other <= 0:
        return tuple(min(k, vcpus) / cpu for k in range(1, slots + 1))
    out = []
    for k in range(1, slots + 1):
        pi = _at_the_vcpus(k, vcpus, cpu, other)
        out.append(float((pi * np.minimum(np.arange(k + 1), vcpus)).sum() / cpu))
    return tuple(out)


def _at_the_vcpus(k: int, vcpus: int, cpu: float, other: float) -> np.ndarray:
    """The finite-source chain of ``k`` busy workers: ``pi[n]``, the chance that ``n`` of them
    are on (or waiting for) a vCPU (``cpu > 0``, ``other > 0``)."""
    n = np.arange(k + 1)
    # pi(n+1) / pi(n) = ((k - n) / other) / (min(n + 1, c) / cpu)
    up = (k - n[:-1]) / other
    down = np.minimum(n[1:], vcpus) / cpu
    logs = np.concatenate(([0.0], np.cumsum(np.log(up) - np.log(down))))
    pi = np.exp(logs - logs.max())
    return pi / pi.sum()


@lru_cache(maxsize=1024)
def pooled_throughputs(x: tuple[float, ...], n: int) -> tuple[float, ...]:
    """``n`` instances of throughputs ``x`` kept level by the load balancer: with ``M``
    requests among them, ``M mod n`` hold one more than the others."""
    out = []
    for m in range(1, n * len(x) + 1):
        q, r = divmod(m, n)
        low = x[q - 1] if q > 0 else 0.0
        high = x[q] if r else 0.0
        out.append(r * high + (n - r) * low)
    return tuple(out)


@dataclass(frozen=True)
class Occupancy:
    """The stationary state of one instance fed ``lam`` requests per second."""

    p_wait: float  # an arrival finds every worker busy
    wait: float  # its mean wait for a worker, given it waits (exponential)
    busy: float  # mean busy workers
    hold: float  # mean time a request holds its worker (CPU waits included)
    tail: tuple[float, ...]  # P(an arrival finds at least k busy), k = 0 .. slots


@lru_cache(maxsize=65536)
def occupancy(
    x: tuple[float, ...], lam: float, g: tuple[float, ...] | None = None
) -> Occupancy | None:
    """The flow-equivalent server with completion rates ``x`` (:func:`throughputs`) fed at
    ``lam``; None when ``lam >= X(slots)``: no stationary state, the backlog grows. ``g``:
    the variability factor of each step ``m - 1 -> m`` below ``slots`` (:func:`stretched`;
    None: exponential, the chain as it is)."""
    slots = len(x)
    top = x[-1]
    if lam >= top:
        return None
    holds = np.arange(1, slots + 1) / np.asarray(x)  # Little inside: k busy, k / X(k) each
    if lam <= 0:
        return Occupancy(0.0, 1.0 / top, 0.0, float(holds[0]), (1.0,) + (0.0,) * slots)
    # P(m) proportional to lam^m / (X(1) ... X(m)) below `slots`, then geometric.
    ratios = lam / np.asarray(x)
    steps = np.log(ratios) if g is None else stretched(ratios, np.asarray(g))
    logs = np.concatenate(([0.0], np.cumsum(steps)))  # m = 0 .. slots
    shift = logs.max()
    w = np.exp(logs - shift)
    r = lam / top
    below = w[:-1]  # m < slots
    queued = w[-1] / (1.0 - r)  # m >= slots
    total = below.sum() + queued
    p = below / total
    p_wait = queued / total
    if g is not None:
        # The utilisation law: the server completes what arrives (the exponential chain does
        # by its balance equations; a stretched one keeps its shape and gives the rest to 0).
        done = float((p[1:] * np.asarray(x)[:-1]).sum() + p_wait * top)
        scale = lam / done
        if scale * (1.0 - p[0]) <= 1.0:
            p = p * scale
            p_wait *= scale
            p[0] = max(0.0, 1.0 - float(p[1:].sum()) - p_wait)
    m = np.arange(slots)
    busy = float((p * m).sum() + slots * p_wait)
    hold = float((p * holds).sum() + p_wait * holds[-1])
    # P(M >= k) for k = 0 .. slots (PASTA: what an arrival finds)
    tail = np.concatenate((1.0 - np.concatenate(([0.0], np.cumsum(p)))[:-1], [p_wait]))
    return Occupancy(float(p_wait), 1.0 / (top - lam), busy, hold, tuple(float(v) for v in tail))


def stretched(ratios: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``log r'`` for each ratio ``r`` of a birth-death chain and its factor ``g``: ``r' / (1 -
    r') = g r / (1 - r)`` below ``r = 1`` (a geometric queue's mean scaled by ``g``, as Allen
    and Cunneen scale its wait), ``r' = r^(1/g)`` from there (the same heavy-traffic limit,
    ``1 - r' ~ (1 - r) / g``, as the diffusion approximation's ``exp(-2 (1 - rho) / (ca^2 +
    cs^2))``). ``g = 1`` leaves ``r`` as it is."""
    low = np.minimum(ratios, 1.0)
    below = np.log(g * low / (1.0 + (g - 1.0) * low))
    return np.where(ratios < 1.0, below, np.log(np.maximum(ratios, 1.0)) / g)


@lru_cache(maxsize=4096)
def vcpu_busy(slots: int, vcpus: int, cpu: float, other: float) -> tuple[float, ...]:
    """``P(every vCPU busy)`` with ``k`` busy workers, ``k = 0 .. slots - 1``, in the
    finite-source chain of :func:`throughputs`: by the arrival theorem (Lavenberg and Reiser
    1980; Sevcik and Mitrani 1981), the chance that a worker's burst finds every vCPU taken
    when ``k`` others are busy."""
    if cpu <= 0:
        return (0.0,) * slots
    out = []
    for k in range(slots):
        if k < vcpus:
            out.append(0.0)
            continue
        if other <= 0:
            out.append(1.0)
            continue
        out.append(float(_at_the_vcpus(k, vcpus, cpu, other)[vcpus:].sum()))
    return tuple(out)


def vcpu_factor(burst_cs2: float, work_cs2: float, ca2: float = 1.0) -> float:
    """Allen and Cunneen's factor for the wait for a vCPU: the M/G/c's of one burst (squared
    coefficient of variation ``burst_cs2``, bursts of all sizes together) with Poisson
    arrivals, times ``(ca2 + work_cs2) / (1 + work_cs2)`` for requests arriving with
    ``ca2`` (the unfinished work's variability, ``work_cs2`` that of a request's whole CPU)."""
    poisson = (1.0 + burst_cs2) / 2.0
    return poisson * (ca2 + work_cs2) / (1.0 + work_cs2) if work_cs2 + ca2 > 0 else poisson


def allen_cunneen(cs2: float, ca2: float = 1.0) -> float:
    """Allen and Cunneen's factor for a wait computed as if service were exponential."""
    return (ca2 + cs2) / 2.0


def mgc_wait(c: int, lam: float, mean: float) -> tuple[float, float]:
    """M/M/c waiting: ``(P(wait), mean wait given a wait)`` for ``c`` servers of mean service
    ``mean`` fed at ``lam`` (requires ``lam * mean < c``); Erlang C."""
    a = lam * mean
    if a <= 0:
        return 0.0, mean / c
    rho = a / c
    # Erlang C through Erlang B's stable recursion.
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    p = b / (1.0 - rho + rho * b)
    return p, mean / (c - a)
