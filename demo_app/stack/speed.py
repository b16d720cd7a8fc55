"""The machine's speed: how much CPU a fixed piece of work takes on this machine, now.

Like a sprinter timing the same reference lap before every race: the lap does not change, so
when it takes longer the track (or the runner's legs) did. A shared VM's cores do not run at
one speed: the hypervisor's other guests share the physical cores and their caches without a
trace in ``/proc/stat`` (no steal time on the machines this lab was measured on), and the same
fixed loop takes tens of percent longer in one minute than in the next, on a nearly idle
machine (``sim/FACTS.md``, "D moves with the machine's speed", gives the recorded range).
Django's CPU per page follows: a calibration taken in a fast minute and compared in a slow one
is off by that much, and that is the machine's doing, not the model's.

So ``calibrate`` and ``compare`` time a *reference*: :func:`reference_work`, a fixed loop of
integer arithmetic and dictionary stores (what a Django view mostly does), measured in the
calling thread's CPU time (``time.thread_time``: time spent waiting for a core is not counted,
so a busy machine does not read as a slow one; a slower core does). A :class:`Speedometer` runs
it in a background thread every ``interval`` seconds while a measurement runs (about 1 % of a
core), and reports the median. ``calibrate`` stores its reading beside the scenario
(``calibration.json``); ``compare`` reads one per level, and ``--demand speed`` gives the sim
the calibration's CPU per request scaled by the ratio of the two, damped by :data:`ELASTICITY`.

Why damped: a request's cost moves with the reference, but by less: part of a request's CPU is
the kernel's (sockets, files, scheduling), which whatever slows the interpreter's loop slows
less. The square root was chosen on a trial sweep (a log-log slope of 0.44), before the
recorded ones, whose slopes ``sim/FACTS.md`` lists; ``compare`` fits the slope again at the end
of every run (:func:`fit`), so a machine where it differs says so.

Flow: background thread -> reference timings -> median ms -> ``calibration.json`` (calibrate)
or a level's ``speed`` (compare).
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from pathlib import Path

from demo_app.stack.config import LabConfig, LabError
from demo_app.stack.templating import write_atomically

#: Iterations of the reference loop: a few milliseconds of CPU, short enough to sample often.
REFERENCE_LOOPS = 40_000
#: Seconds between two readings of the reference.
INTERVAL = 0.5
#: How much of the reference's slowdown a request's cost shows (log-log slope; see above).
ELASTICITY = 0.5


def reference_work(loops: int = REFERENCE_LOOPS) -> int:
    """The fixed work: integer arithmetic and dictionary stores, as a view does."""
    seen: dict[int, int] = {}
    total = 0
    for i in range(loops):
        total += i * i % 7
        seen[i & 1023] = total
    return total


def time_reference() -> float:
    """CPU seconds the reference work takes in this thread, now."""
    start = time.thread_time()
    reference_work()
    return time.thread_time() - start


class Speedometer:
    """Times the reference work every ``interval`` seconds in a background thread while the
    ``with`` block runs; :attr:`reference` is the median, in seconds (at least one reading is
    always taken)."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.readings: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="speedometer", daemon=True)

    def __enter__(self) -> Speedometer:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        if not self.readings:
            self.readings.append(time_reference())

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.readings.append(time_reference())
            self._stop.wait(self.interval)

    @property
    def reference(self) -> float:
        return statistics.median(self.readings)


def slowdown(now: float, calibrated: float) -> float:
    """How many times slower the machine runs now than at calibration (1: as fast)."""
    return now / calibrated if calibrated > 0 and now > 0 else 1.0


def cost_scale(now: float, calibrated: float) -> float:
    """What ``--demand speed`` multiplies the calibration's cost by: the slowdown, damped."""
    return slowdown(now, calibrated) ** ELASTICITY


def fit(pairs: list[tuple[float, float]]) -> tuple[float, float] | None:
    """``(slope, correlation)`` of log(cost ratio) on log(slowdown) over ``(slowdown, cost
    ratio)`` pairs; None with fewer than 4 or no spread in the slowdowns."""
    points = [(math.log(x), math.log(y)) for x, y in pairs if x > 0 and y > 0]
    if len(points) < 4:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    syy = sum((y - my) ** 2 for _, y in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / sxx, sxy / math.sqrt(sxx * syy)


def speed_text(now: float, calibrated: float) -> str:
    """A level's speed in words: the reference's CPU now and at calibration."""
    change = slowdown(now, calibrated) - 1.0
    return (
        f"the reference work took {now * 1000:.1f} ms of CPU, at calibration"
        f" {calibrated * 1000:.1f} ms ({change:+.0%})"
    )


def record_path(cfg: LabConfig) -> Path:
    """Where calibrate keeps the machine's speed at calibration, beside ``calibrated.toml``."""
    return cfg.path("calibration.json")


def save(path: Path, reference: float, readings: int) -> None:
    """Store the calibration's reading (``calibration.json`` beside ``calibrated.toml``)."""
    text = json.dumps({"reference_s": reference, "readings": readings}, indent=2) + "\n"
    write_atomically(path, text)


def load(path: Path) -> float:
    """The calibration's reference time, s; a one-line error when it is missing or unreadable."""
    try:
        value = float(json.loads(path.read_text())["reference_s"])
    except FileNotFoundError:
        raise LabError(
            f"{path} is missing (the calibration predates the machine's speed reading):"
            " run `python -m demo_app.stack calibrate` again"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise LabError(f"{path} is not a calibration record: calibrate again") from None
    if not value > 0:
        raise LabError(f"{path} says the reference took {value} s: calibrate again")
    return value
