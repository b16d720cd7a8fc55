"""How fast the model runs, as a ratio against bare SimPy on the same machine in the same run.

Think of timing a runner against a pacer on the same track on the same day: the absolute
times depend on the weather (the machine, its load), the ratio much less. The pacer is the
textbook SimPy M/M/c (a ``simpy.Resource``, one process per customer, a timeout for the
service); the runner is the full request path on the ``baseline`` scenario. The ratio is full-
path requests per second over M/M/c customers per second: the first target is 0.33, the goal
0.5. ``make bench`` (``python -m sim.bench``) prints both rates and the ratio (medians of
alternating pairs of timings, in CPU time of this process, which other programs on a
shared machine disturb less than wall-clock time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import simpy

from sim import scenario
from sim.engine import simulate

TARGET, GOAL = 0.33, 0.5


def bare_mm_c(customers: int, c: int = 5, lam: float = 4.0, mu: float = 1.0, seed: int = 1):
    """Simulate ``customers`` through a plain SimPy M/M/c; returns the CPU seconds it took."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1 / lam, customers).tolist()
    services = rng.exponential(1 / mu, customers).tolist()
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=c)

    def customer(service: float):
        with servers.request() as req:
            yield req
            yield env.timeout(service)

    def source():
        for gap, service in zip(gaps, services, strict=True):
            yield env.timeout(gap)
            env.process(customer(service))

    env.process(source())
    start = time.process_time()
    env.run()
    return time.process_time() - start


def full_path(name: str = "baseline", duration: float = 600.0) -> tuple[int, float]:
    """Run a scenario for ``duration`` simulated seconds: ``(requests, CPU seconds)``."""
    s = scenario.load(name, [f"run.duration={duration}", "run.warmup=0.0"])
    start = time.process_time()
    results = simulate(s)
    return results.counters["sent"], time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="baseline", help="full-path scenario (baseline)")
    parser.add_argument("--repeat", type=int, default=5, help="timing pairs (5)")
    args = parser.parse_args(argv)
    # Alternate the two, pair by pair, and take medians: on a shared machine the load changes
    # from second to second, and a ratio of neighbours is steadier than either rate.
    fulls, bares, ratios = [], [], []
    for _ in range(args.repeat):
        n, seconds = full_path(args.scenario)
        customers = 30_000
        fulls.append(n / seconds)
        bares.append(customers / bare_mm_c(customers))
        ratios.append(fulls[-1] / bares[-1])
    best_full, best_bare, ratio = (float(np.median(x)) for x in (fulls, bares, ratios))
    verdict = "goal met" if ratio >= GOAL else ("target met" if ratio >= TARGET else "too slow")
    print(f"full path ({args.scenario}):   {best_full:10,.0f} simulated requests / s")
    print(f"bare SimPy M/M/c:        {best_bare:10,.0f} customers / s")
    print(f"ratio:                   {ratio:10.2f}  (target {TARGET}, goal {GOAL}: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
