"""How fast the model runs, as ratios against bare SimPy on the same machine in the same run.

Think of timing a runner against a pacer on the same track on the same day: the absolute
times depend on the weather (the machine, its load), the ratio much less. The pacer is the
textbook SimPy M/M/c (a ``simpy.Resource``, one process per customer, a timeout for the
service). The runners:

- ``full``: the whole request path on ``baseline`` (goal: 0.5 of the pacer's rate);
- ``contention``: ``cpu_bound``, 9 sync workers queueing for 2 vCPUs, nearly every burst in
  line under the worker's deadline (goal: 0.35);
- ``over-time``: twenty minutes of the ``weekday`` morning at about 48 requests/s, with user
  sessions, health checks, alarms and the auto-scaling group (goal: 0.45).

Each ratio is simulated requests per CPU second (the run and its records) over pacer customers
per CPU second, timed in alternating pairs (runner, pacer, runner, pacer...) in CPU time of
this process, which other programs on a shared machine disturb less than wall-clock time; the
median ratio is printed with its spread. ``make bench`` runs it; nothing here fails on speed.

The fluid engine (``--engine fluid``) is timed on long horizons, in CPU seconds per run (the
run and its summary and time series), alternating with the pacer the same way:

- ``fluid-day``: a 24 h weekday from midnight, 25 requests/s at night and 110 at the peak
  (about 52 on average, 4.5 million requests), target tracking on up to 12 instances
  (goal: under 5 s);
- ``fluid-week``: the same day seven times (31 million requests; goal: under 30 s).

    python -m sim.bench [--repeat 5] [--only full contention over-time fluid-day fluid-week]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import simpy

import sim
from sim.engine import simulate
from sim.results import records

#: name -> (scenario, overrides, goal ratio)
RUNNERS: dict[str, tuple[str, tuple[str, ...], float]] = {
    "full": ("baseline", ("run.duration=600.0", "run.warmup=0.0"), 0.5),
    "contention": ("cpu_bound", ("run.duration=300.0", "run.warmup=0.0"), 0.35),
    "over-time": (
        "weekday",
        (
            "run.duration=1200.0",
            "run.warmup=0.0",
            "traffic.start_clock_h=9.5",  # 09:30-09:50, towards the 10:00 peak of 50 req/s
            "traffic.peak=50.0",
        ),
        0.45,
    ),
}
PACER_CUSTOMERS = 30_000
DAY = (
    "run.warmup=300.0",
    "traffic.rate=25.0",
    "traffic.peak=110.0",
    "traffic.start_clock_h=0.0",
    "asg.max=12",
)
#: name -> (scenario, overrides, goal in CPU seconds)
FLUID: dict[str, tuple[str, tuple[str, ...], float]] = {
    "fluid-day": ("weekday", ("run.duration=86400.0", *DAY), 5.0),
    "fluid-week": ("weekday", ("run.duration=604800.0", *DAY), 30.0),
}
#: Timing pairs for the fluid runners (a week takes a while even so).
FLUID_REPEAT = 3


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


def runner(name: str) -> Callable[[], tuple[int, float]]:
    """A function running ``name`` once: ``(requests sent, CPU seconds)``."""
    scenario_name, overrides, _ = RUNNERS[name]
    s = sim.load(scenario_name, list(overrides))

    def once() -> tuple[int, float]:
        start = time.process_time()
        run = simulate(s)
        records.of_requests(run.requests)  # what every summary starts from
        return run.counters["sent"], time.process_time() - start

    return once


def fluid_runner(name: str) -> Callable[[], tuple[int, float]]:
    """A function running fluid runner ``name`` once: ``(requests sent, CPU seconds)``."""
    scenario_name, overrides, _ = FLUID[name]
    s = sim.load(scenario_name, list(overrides))

    def once() -> tuple[int, float]:
        start = time.process_time()
        result = sim.run(s, engine="fluid")
        result.summary, result.table  # noqa: B018 (what `run` prints is part of the cost)
        return result.run.counters["sent"], time.process_time() - start

    return once


def fluid_times(name: str, repeat: int) -> tuple[int, list[float], list[float]]:
    """``(requests, CPU seconds, ratios to the pacer)`` over ``repeat`` alternating pairs."""
    once = fluid_runner(name)
    seconds, out = [], []
    n = 0
    for _ in range(repeat):
        n, t = once()
        seconds.append(t)
        pace = PACER_CUSTOMERS / bare_mm_c(PACER_CUSTOMERS)
        out.append(n / t / pace)
    return n, seconds, out


def ratios(name: str, repeat: int) -> tuple[float, float, list[float]]:
    """``(runner requests/s, pacer customers/s, ratios)`` over ``repeat`` alternating pairs."""
    once = runner(name)
    rates, paces, out = [], [], []
    for _ in range(repeat):
        n, seconds = once()
        rates.append(n / seconds)
        paces.append(PACER_CUSTOMERS / bare_mm_c(PACER_CUSTOMERS))
        out.append(rates[-1] / paces[-1])
    return float(np.median(rates)), float(np.median(paces)), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timing pairs per runner (5)")
    names = [*RUNNERS, *FLUID]
    parser.add_argument("--only", nargs="+", choices=names, default=names)
    args = parser.parse_args(argv)
    discrete = [n for n in args.only if n in RUNNERS]
    if discrete:
        print(f"discrete-event engine: simulated requests per CPU second over the pacer's"
              f" customers per CPU second, median of {args.repeat} alternating pairs")  # fmt: skip
        print(f"{'runner':<11}{'requests/s':>12}{'pacer/s':>10}{'ratio':>8}  spread       goal")
    for name in discrete:
        rate, pace, rs = ratios(name, args.repeat)
        # judged as printed, so the line never reads "0.50 ... 0.5 missed"
        median = round(float(np.median(rs)), 2)
        goal = RUNNERS[name][2]
        verdict = "met" if median >= goal else "missed"
        print(f"{name:<11}{rate:>12,.0f}{pace:>10,.0f}{median:>8.2f}  {min(rs):.2f}-{max(rs):.2f}"
              f"    {goal} {verdict}")  # fmt: skip
    fluid = [n for n in args.only if n in FLUID]
    if fluid:
        print(f"{'runner':<11}{'requests':>12}{'CPU s':>8}  spread        {'ratio':>7}  goal")
    for name in fluid:
        n, seconds, rs = fluid_times(name, min(args.repeat, FLUID_REPEAT))
        median = round(float(np.median(seconds)), 2)
        goal = FLUID[name][2]
        verdict = "met" if median < goal else "missed"
        print(f"{name:<11}{n:>12,}{median:>8.2f}  {min(seconds):.2f}-{max(seconds):.2f}"
              f"  {float(np.median(rs)):>7.1f}  < {goal:g} s {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
