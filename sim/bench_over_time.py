"""How fast a run over time goes: an hour of the weekday scenario at about 50 requests/s,
as a ratio against the same bare SimPy M/M/c pacer ``sim/bench.py`` uses, in the same run.

Everything a run over time adds (user sessions, health checks served by Gunicorn workers,
CloudWatch datapoints and alarms, the auto-scaling group, the sampler) runs on top of the full
request path, so this ratio sits a little below ``sim.bench``'s. Timings are CPU time of this
process; the pacer is timed before and after the long run and the median taken, as the
machine's load may change during the hour's simulation.

    python -m sim.bench_over_time            # part of `make bench`
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sim import scenario
from sim.bench import bare_mm_c
from sim.dynamics import simulate_over_time

#: 09:30-10:30 on the weekday curve with a 50 requests/s peak at 10:00: about 48 requests/s.
OVERRIDES = (
    "run.duration=3600.0",
    "run.warmup=0.0",
    "traffic.start_clock_h=9.5",
    "traffic.peak=50.0",
)


def weekday_hour(duration: float = 3600.0) -> tuple[int, float]:
    """``(requests sent, CPU seconds)`` for one hour of the weekday scenario."""
    s = scenario.load("weekday", [*OVERRIDES, f"run.duration={duration}"])
    start = time.process_time()
    over = simulate_over_time(s)
    return over.results.counters["sent"], time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.bench_over_time")
    parser.add_argument("--duration", type=float, default=3600.0, help="simulated seconds")
    args = parser.parse_args(argv)
    customers = 30_000
    bares = [customers / bare_mm_c(customers)]
    n, seconds = weekday_hour(args.duration)
    bares.append(customers / bare_mm_c(customers))
    bares.append(customers / bare_mm_c(customers))
    bare = float(np.median(bares))
    rate = n / seconds
    print(
        f"weekday over time ({args.duration / 3600:g} h, {n / args.duration:.0f} requests/s):"
        f" {rate:10,.0f} simulated requests / s"
    )
    print(f"bare SimPy M/M/c:        {bare:10,.0f} customers / s")
    print(f"ratio:                   {rate / bare:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
