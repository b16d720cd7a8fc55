"""What a step of each chapter's controls costs: ``python notebooks/bench.py`` (``make bench``).

Every re-run function of ``notebooks/explore.py`` is called on its chapter's default settings
with its cache emptied first, as the first step on a setting nobody has tried, and its figure
turned into the PNG the notebook shows (``explore.render``), so the time is what a reader
waits. Printed: the median of ``--repeat`` runs and their spread (fastest to slowest), and
whether the median is under the course's budget of one second, with the median CPU time of
the process beside it (what the step would take alone on its core, when other work shares the
machine). It prints; it never fails on speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # explore.py sits beside this file
import explore

#: A step should answer within this (seconds): the course's promise for its controls.
BUDGET = 1.0


def _render(view: explore.View) -> None:
    if view.figure is not None:
        explore.render(view.figure)


def steps() -> dict[str, Callable[[], explore.View]]:
    """Each chapter's re-run on its defaults, named by chapter and control."""
    return {
        "01_dns          dns": explore.dns,
        "02_load_bal.    routing": explore.routing,
        "02_load_bal.    health": explore.health,
        "03_autoscaling  policy": explore.autoscaling,
        "03_autoscaling  simple": lambda: explore.autoscaling(policy="simple scaling"),
        "04_nginx        timeouts": explore.timeouts,
        "05_gunicorn     workers": explore.gunicorn,
        "07_postgresql   connections": explore.connections,
        "08_whole_path   calibrated": explore.calibrated,
        "09_dev_access   grep": explore.grep,
        "11_frontend     page": explore.page,
        "12_deployment   drain": explore.drain,
    }


def cells() -> dict[str, Callable[[], object]]:
    """Runs too long for a step, timed because their cost decided how the chapter offers them:
    chapter 3 re-runs one setting of its stored week-long policy search live, once (the whole
    search is precomputed, notebooks/data/README.md), and checks the knobs' morning on the
    discrete-event engine behind a button, not a slider."""

    def week() -> object:
        best = explore.cheapest(explore.week_policies())
        return explore.policy_row(best[explore.TARGET_KEY], best[explore.MIN_KEY])

    return {
        "03_autoscaling  a week, live": week,
        "03_autoscaling  check (DES)": explore.check_with_des,
    }


def _forget() -> None:
    for value in vars(explore).values():
        if callable(getattr(value, "known", None)):
            value.clear()


def measure(step: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of ``repeat`` steps, each on an empty cache."""
    wall, cpu = [], []
    for _ in range(repeat):
        _forget()
        started, used = time.perf_counter(), time.process_time()
        view = step()
        if isinstance(view, explore.View):
            _render(view)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per step (default 5)")
    parser.add_argument("--only", nargs="*", default=None, help="steps whose name has this")
    args = parser.parse_args(argv)
    chosen = steps()
    with tempfile.TemporaryDirectory(prefix="quorum-bench-") as folder:
        visit = explore.django_app(folder)  # set-up is not timed: a chapter does it once
        busiest = 8  # the sample's N+1 example (demo_app/README.md)
        chosen["06_django       bill"] = lambda: explore.bill(visit, busiest)
        if args.only:
            chosen = {k: v for k, v in chosen.items() if any(o in k for o in args.only)}
        print(f"a step on the defaults, uncached, figure rendered; {args.repeat} runs each")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for name, step in chosen.items():
            step()  # warm imports and matplotlib's font cache
            wall, cpu = measure(step, args.repeat)
            median = statistics.median(wall)
            verdict = "ok" if median < BUDGET else f"OVER {BUDGET:g} s"
            print(
                f"{name:30} median {median:6.3f} s   spread {min(wall):.3f}-{max(wall):.3f} s"
                f"   cpu {statistics.median(cpu):.3f} s   {verdict}",
                flush=True,
            )
        extra = {
            k: v for k, v in cells().items() if not args.only or any(o in k for o in args.only)
        }
        if extra:
            print("runs too long for a step (a cell, a button; no budget): the same measures")
        for name, cell in extra.items():
            wall, cpu = measure(cell, args.repeat)
            print(
                f"{name:30} median {statistics.median(wall):6.3f} s"
                f"   spread {min(wall):.3f}-{max(wall):.3f} s   cpu {statistics.median(cpu):.3f} s",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
