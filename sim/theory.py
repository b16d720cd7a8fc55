"""Queueing-theory oracles the simulation is checked against: Erlang C, Little, Jackson,
processor sharing and the finite-source (closed) queue.

Think of the answers at the back of a textbook: the simulation does the exercise the long way
(one request at a time), these formulas give the answer directly for the cases that have one,
and the tests compare the two. The notebooks use them to show where intuition comes from.

Reference values (``sim/FACTS.md``, "Queueing theory"), with mu = 1: c=2, lambda=1 -> C 1/3,
Wq 1/3; c=10, lambda=8 -> C 0.409180, Wq 0.204590, Lq 1.636721.

Pure arithmetic: this module imports nothing of the project, so the configuration (which
checks that an ``mm_c`` scenario really is a stable M/M/c queue), the results and the tests
all use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def erlang_c(c: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load ``A = lambda/mu``:

    C(c, A) = [A^c/c! * 1/(1-rho)] / [sum_{k<c} A^k/k! + A^c/c! * 1/(1-rho)], rho = A/c < 1.
    Computed with running terms, so large ``c`` does not overflow.
    """
    rho = offered / c
    if not 0 <= rho < 1:
        raise ValueError(f"utilisation rho = {rho:g} must be in [0, 1) for a stable M/M/c")
    term, total = 1.0, 0.0  # term = A^k / k!
    for k in range(c):
        total += term
        term *= offered / (k + 1)
    tail = term / (1 - rho)
    return tail / (total + tail)


def mm_c_wq(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue, Wq = C / (c mu - lambda)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mm_c_lq(c: int, lam: float, mu: float) -> float:
    """Mean number waiting, Lq = lambda Wq (Little's law on the queue)."""
    return lam * mm_c_wq(c, lam, mu)


def mm_c_w(c: int, lam: float, mu: float) -> float:
    """Mean time in system (sojourn), W = Wq + 1/mu."""
    return mm_c_wq(c, lam, mu) + 1.0 / mu


def mm_c_queue_tail(c: int, lam: float, mu: float, k: int) -> float:
    """Probability that an arrival finds at least ``k`` customers waiting: C rho^k."""
    return erlang_c(c, lam / mu) * (lam / (c * mu)) ** k


def mm_c_sojourn_tail(c: int, lam: float, mu: float, t: float) -> float:
    """Probability that a customer spends more than ``t`` in the system, P(Wq + S > t).

    Wq is 0 with probability 1 - C and otherwise exponential with rate theta = c mu - lambda,
    independent of the exponential service S (rate mu), so the tail is
    (1 - C) e^(-mu t) + C (theta e^(-mu t) - mu e^(-theta t)) / (theta - mu).
    """
    wait = erlang_c(c, lam / mu)
    theta = c * mu - lam
    if math.isclose(theta, mu):
        both = (1 + mu * t) * math.exp(-mu * t)
    else:
        both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1 - wait) * math.exp(-mu * t) + wait * both


def littles_l(lam: float, w: float) -> float:
    """Little's law: mean number in the system L = lambda W (any stable system)."""
    return lam * w


def jackson_tandem_w(lam: float, stations: Sequence[tuple[int, float]]) -> float:
    """Mean sojourn through M/M/c stations in series, each ``(c, mu)``, fed by a Poisson
    stream of ``lam``: by Jackson's theorem each station behaves as an independent M/M/c, so
    the sojourns add up."""
    return sum(mm_c_w(c, lam, mu) for c, mu in stations)


def mm1_ps_sojourn(lam: float, mu: float) -> float:
    """M/M/1 processor sharing: mean sojourn 1 / (mu - lambda)."""
    if lam >= mu:
        raise ValueError("lambda must be < mu")
    return 1.0 / (mu - lam)


def mg1_ps_sojourn(lam: float, mean_service: float) -> float:
    """M/G/1 processor sharing: mean sojourn E[S] / (1 - rho), rho = lambda E[S], whatever the
    distribution of S (a job of size x stays x / (1 - rho) on average: Kleinrock, Queueing
    Systems vol. 2, chapter 4)."""
    rho = lam * mean_service
    if not 0 <= rho < 1:
        raise ValueError(f"utilisation rho = {rho:g} must be in [0, 1) for a stable M/G/1-PS")
    return mean_service / (1 - rho)


def mgc_ps_sojourn(c: int, lam: float, mean_service: float) -> float:
    """Mean sojourn when ``c`` cores are shared equally by the ``n`` jobs present (each served
    at rate min(1, c / n)): the number present is the birth-death chain of M/M/c (it leaves
    at rate min(n, c) / E[S] whoever is served), so with exponential service the mean sojourn
    is M/M/c's, W = Wq + E[S]. The discipline is a symmetric queue in Kelly's sense, whose
    stationary distribution depends on the service time only through its mean, so the same W
    holds for any distribution (Kelly, Reversibility and Stochastic Networks, chapter 3)."""
    return mm_c_w(c, lam, 1.0 / mean_service)


def finite_source(c: int, users: int, think: float, service: float):
    """The closed (machine-repairman) queue M/M/c//N: ``users`` each think for an exponential
    time of mean ``think``, then need one of ``c`` servers for an exponential time of mean
    ``service`` (waiting in line when all are busy), then think again.

    Returns ``(throughput X, mean response time R, [p_0 .. p_N])``, p_n being the stationary
    probability that n users are at the servers. From first principles: n is a birth-death
    chain with birth rate (N - n) / think (each thinking user comes back at that rate) and
    death rate min(n, c) / service, so p_n = p_0 prod_{k=1..n} (N - k + 1) (service / think) /
    min(k, c); X = sum p_n min(n, c) / service; R = L / X with L = sum n p_n (Little), which
    is the interactive response-time law R = N / X - think.
    """
    if users < 1 or c < 1:
        raise ValueError("a closed queue needs at least one user and one server")
    if think < 0 or service <= 0:
        raise ValueError("think must be >= 0 and service > 0")
    if think == 0:  # nobody thinks: every user is always at the servers
        p = [0.0] * users + [1.0]
    else:
        # Unnormalised terms, rescaled as they grow so that large N does not overflow.
        p = [1.0]
        for k in range(1, users + 1):
            p.append(p[-1] * (users - k + 1) * service / think / min(k, c))
            if p[-1] > 1e200:
                p = [x / p[-1] for x in p]
        total = math.fsum(p)
        p = [x / total for x in p]
    throughput = math.fsum(pn * min(n, c) for n, pn in enumerate(p)) / service
    in_queue = math.fsum(n * pn for n, pn in enumerate(p))
    return throughput, in_queue / throughput, p


def response_time_law(users: int, throughput: float, think: float) -> float:
    """The interactive response-time law of any closed system: R = N / X - Z (Little's law on
    the whole loop of N users, each either waiting for an answer or thinking)."""
    return users / throughput - think


def confidence_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """``(mean, low, high)``: a 95 % Student-t confidence interval for the mean."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = t95(n - 1) * math.sqrt(var / n)
    return mean, mean - half, mean + half


# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def t95(df: int) -> float:
    """Student's t quantile for a two-sided 95 % interval (normal beyond 120 df)."""
    if df <= 30:
        return _T95[df - 1]
    if df <= 60:
        return 2.021 if df <= 40 else 2.000
    return 1.980 if df <= 120 else 1.960
