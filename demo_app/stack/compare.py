"""Measured vs simulated: the lab along its load curve, and the sim's prediction at each level.

Like checking a weather model against the thermometer: the model (``sim``, driven by the
scenario ``calibrate`` wrote) predicts throughput, p50 and p95 for a load; locust offers that
load to the real lab; nginx's access log is the thermometer (``$request_time`` of every
request in the measuring window, the same span the calibrated scenario's end-to-end latency
covers). The table says how far each prediction is off, and the notes say why.

The load is simulated exactly as it is generated: a closed loop. At each level locust runs
``users`` users, each sending a request, waiting for its answer, then thinking an exponential
time of mean ``THINK`` seconds (the locustfile's ``wait_time``), all started in the first
second; the sim runs the same users (``[users]``: the same count, think-time distribution and
spawn rate). A user keeps its connection alive, as locust's does, and the calibrated scenario
charges no connect time. The offered load of a level is ``users / THINK``, what the users would
send if every answer were instant; levels span 0.2 to 1.3 of the capacity the calibration
implies (cores / mean time per request), the knee included.

The machine as it is: every level measures the CPU the lab, the load generator and other
processes used (:mod:`cpu`). The load generator shares the lab's cores and is modelled, not
isolated (the README says why): the sim is given only the cores it left, its vCPUs made slower
in proportion (:func:`speed_factor`); its share grows with the load it sends, so this costs
little at light load and moves the knee where it really is. What other processes used is taken
from the sim's cores too, in full (:func:`cores_left`). Their
CPU comes and goes independently of the lab, so that is a rough correction: a level in which
they used more than ``OTHER_LIMIT`` cores is not scored (its miss would be the machine's, not
the model's), and its line says so. ``--quick`` uses small loads and short runs (for CI: it
shows the machinery works, not how accurate the model is).

The lab against itself: a 30 s level on a shared laptop or VM is not the same twice (CPU
frequency, the hypervisor's other guests, caches), so every level is measured in ``passes``
(2 by default), the second sweep in reverse order so that a drift over the run does not line up
with the load. A level's measurement is the mean of its passes, its prediction the mean of the
sim's for each pass (each given that pass's cores), and its *spread* per metric how far the
passes were apart (``|a - b| / mean``). A prediction off by more than its target is the model's
miss only when it is off by more than the target plus half that spread (the uncertainty of the
mean of two readings); otherwise the verdict is ``unsteady``: the lab did not repeat itself
closely enough to tell, and the line says by how much it moved.

The cost of a request: the calibration read the lab's CPU per request (Django's samples and
``django.cpu_after``; their sum is the lab's CPU per request under a steady load). Each level
measures what a request really cost the lab there (its cores over its requests/s: the
utilisation law of operational analysis, Denning and Buzen 1978), and its line prints both. On a
shared VM that cost moves within minutes, mostly with the speed of the cores, which drifts by
tens of percent with nothing in ``/proc/stat`` to show it (``speed.py``). So every level times
a fixed reference work in the background, as ``calibrate`` did while it read the cost, and its
line prints the two (``speed``; ``speed_ms``, ``speed_calibrated_ms`` in the csv). What the sim
is charged (``--demand``):

- ``measured`` (the default): the cost the lab measured at the level (Django's samples and the
  CPU after the response scaled together). This is how a queueing model is checked against a
  system in operational analysis: its service demands are measured where it runs (D = U / X)
  and what is compared is what the model adds, how the waiting grows with the load for that
  cost. No reading of the machine predicts the cost closely enough near the knee, where a
  closed loop magnifies an error in it (R = N / X - Z): the cost followed the reference work
  by a different slope in each sweep of one session (``sim/FACTS.md``). Throughput past the
  knee then follows from the cost almost by definition (cores / cost), so latency is the test
  there.
- ``speed``: the calibration's cost times the machine's slowdown against calibration, damped
  (``speed.ELASTICITY``: a request's cost moves about half as much as the pure-Python
  reference). A prediction from the calibration and an independent reading of the machine,
  not from the level's own requests, so it tests the calibration, the speed reading and the
  queueing together. The run ends with the slope it found between the two
  (:func:`speed_fit_line`).
- ``calibrated``: the calibration's cost as read, whatever the machine does since.

A miss where the lab's cost strayed more than ``DEMAND_DRIFT`` from what the sim charged says
so in its notes.

The machine's speed moves within a level too, and near the knee a slow stretch builds a queue
that a steady average never does. Each level counts the lab's throughput in stretches of
``STRETCH`` s and prints its swing (``swing_rps`` in the csv: at the saturated levels, where
the throughput is what the cores deliver, that swing is the machine's); the sim's host changes
speed every ``JITTER_PERIOD`` s by ``--cpu-jitter`` (``CPU_JITTER`` by default; mean 1, so the
cost per request stays; ``sim/model/host.py``).

Flow: calibrated.toml -> capacity -> for each pass, for each level: locust (users) + CPU meter
-> access-log window -> measured; ``python -m sim run calibrated.toml`` with the same ``[users]``
and the CPU left -> predicted; the passes of a level -> mean and spread -> verdict -> table
(stdout, ``compare.csv``) + figure (``compare.png``) in ``<state>/compare/``.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from demo_app.stack import cpu, speed
from demo_app.stack.accesslog import is_error
from demo_app.stack.config import LabConfig, LabError
from demo_app.stack.drills import LogTail, field
from demo_app.stack.lab import require_running
from demo_app.stack.load import run_load

#: Fractions of the calibrated capacity: eight levels up to 1.3, the knee (1.0) included.
LEVELS = (0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.15, 1.3)
QUICK_LEVELS = (0.1, 0.25, 0.5)
#: Mean think time of a user, seconds (exponential): locust's wait_time and the sim's [users].
THINK = 1.0
#: The issue's accuracy targets, as relative errors: below the knee, and at or past it.
TARGETS = {
    "below": {"throughput": 0.10, "p50": 0.15, "p95": 0.25},
    "past": {"throughput": 0.10, "p50": 0.20, "p95": 0.30},
}
#: How many times the sweep is run by default (the second in reverse order): the lab's own
#: run-to-run spread is what a miss is weighed against.
PASSES = 2
#: Where the sim's CPU per request comes from (``--demand``): each level's own measurement (its
#: cores over its requests/s; the default); the calibration scaled by the machine's speed at
#: the level against its speed at calibration (``speed.py``); or the calibration as read.
DEMANDS = ("measured", "speed", "calibrated")
#: ``--cpu-jitter``: the sim's host draws a new speed this often, s (``sim/model/host.py``),
#: moving by this much by default (a coefficient of variation): on the lab's 2-core VMs the
#: throughput of a saturated level swung by about a tenth from one 3 s stretch to the next,
#: where a host of one speed swings by a few percent (``sim/FACTS.md``, "The host's speed").
JITTER_PERIOD = 3.0
CPU_JITTER = 0.1
#: Each level's throughput is also counted in stretches this long: at the saturated levels,
#: where it is what the cores deliver, their swing is the machine's speed moving within them.
STRETCH = 3.0
#: How far a level's measured cost per request may stray from the calibration's before its
#: notes name it as a cause of a miss.
DEMAND_DRIFT = 0.10
#: Cores other processes (neither the lab nor the load generator) may use during a level for
#: it to be scored: beyond that the machine, not the model, decides the result.
OTHER_LIMIT = 0.1


@dataclass(frozen=True)
class Measured:
    throughput: float
    p50: float
    p95: float
    requests: int
    failed: int
    #: the standard deviation of the throughput over the window's stretches of
    #: :data:`STRETCH` s, req/s (0: fewer than two stretches)
    swing: float = 0.0

    @property
    def valid(self) -> bool:
        """False when no request completed in the window: nothing to compare."""
        return self.requests > 0


#: How a level that completed no request is shown, in the table, the notes and its own line.
INVALID = "invalid: no request completed in the measuring window"


@dataclass(frozen=True)
class Predicted:
    throughput: float
    p50: float
    p95: float


@dataclass(frozen=True)
class Level:
    """One level of the sweep: the load offered, what the lab did, what the sim predicted."""

    name: str
    fraction: float  # of the calibrated capacity
    users: int
    think: float  # mean think time, s
    capacity: float  # the calibrated capacity, req/s
    measured: Measured
    predicted: Predicted
    used: cpu.CpuShare
    discipline: str = "fcfs"  # how the sim's vCPUs share their bursts (instances.cpu_discipline)
    passes: int = 1  # how many sweeps measured it (:func:`combine`)
    #: per metric, how far the passes' measurements were apart (``|a - b| / mean``); 0 for one
    spread: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: the calibration's CPU per request, s (Django's mean + ``django.cpu_after``; 0: unknown)
    calibrated_cost: float = 0.0
    #: what the sim was given: ``calibrated``, scaled by the machine's ``speed``, or each
    #: level's ``measured`` cost (DEMANDS)
    demand: str = "calibrated"
    #: CPU seconds the reference work took during the level, and at calibration (0: unknown)
    speed: float = 0.0
    speed_calibrated: float = 0.0
    #: how much the sim's host speed moved (``--cpu-jitter``, ``instances.cpu_jitter``)
    cpu_jitter: float = 0.0

    @property
    def charged_cost(self) -> float:
        """CPU per request the sim charged at this level, s (0 when unknown)."""
        if self.demand == "measured":
            return self.lab_cost
        if self.demand == "speed":
            return self.calibrated_cost * speed.cost_scale(self.speed, self.speed_calibrated)
        return self.calibrated_cost

    @property
    def slowdown(self) -> float:
        """How many times slower the machine ran than at calibration (1 when unknown)."""
        return speed.slowdown(self.speed, self.speed_calibrated)

    @property
    def lab_cost(self) -> float:
        """CPU per request the lab spent at this level, s: its cores over its requests/s."""
        return lab_cost(self.used, self.measured)

    @property
    def cost_drift(self) -> float:
        """How far the lab's cost per request was from the calibration's (relative; 0 when
        either is unknown)."""
        if self.calibrated_cost <= 0 or self.lab_cost <= 0:
            return 0.0
        return self.lab_cost / self.calibrated_cost - 1

    @property
    def offered(self) -> float:
        """Requests/s the users would send if every answer were instant."""
        return self.users / self.think

    @property
    def left(self) -> float:
        """Cores left to the lab and given to the sim (:func:`cores_left`)."""
        return cores_left(self.used)

    @property
    def knee(self) -> float:
        """The offered load at which the cores left to the lab are used up, req/s."""
        return self.capacity * self.left / self.used.cores

    @property
    def past_knee(self) -> bool:
        return self.offered >= self.knee

    @property
    def scored(self) -> bool:
        return self.measured.valid and self.used.other <= OTHER_LIMIT

    @property
    def targets(self) -> dict[str, float]:
        return TARGETS["past" if self.past_knee else "below"]

    def errors(self) -> dict[str, float]:
        m, p = self.measured, self.predicted
        return {
            "throughput": error(p.throughput, m.throughput),
            "p50": error(p.p50, m.p50),
            "p95": error(p.p95, m.p95),
        }

    def spreads(self) -> dict[str, float]:
        return dict(zip(("throughput", "p50", "p95"), self.spread, strict=True))

    @property
    def meets(self) -> bool:
        return all(abs(e) <= self.targets[k] for k, e in self.errors().items())

    def model_misses(self) -> list[str]:
        """The metrics off by more than their target plus half the lab's own spread."""
        spread = self.spreads()
        return [k for k, e in self.errors().items() if abs(e) > self.targets[k] + spread[k] / 2]

    @property
    def verdict(self) -> str:
        """``invalid``, ``not scored``, ``meets``, ``unsteady`` (a miss within the lab's own
        run-to-run spread) or ``misses``."""
        if not self.measured.valid:
            return "invalid"
        if not self.scored:
            return "not scored"
        if self.meets:
            return "meets"
        return "misses" if self.model_misses() else "unsteady"

    def not_scored_line(self) -> str:
        return (
            f"not scored: other processes used {self.used.other:.2f} of {self.used.cores} cores"
            f" (more than {OTHER_LIMIT}), so the machine, not the model, decides this level"
        )


def combine(runs: list[Level]) -> Level:
    """One level from its passes: the mean of what they measured, predicted and used, and how
    far their measurements were apart. A pass that completed nothing makes the level invalid."""
    first = runs[0]
    if len(runs) == 1 or not all(r.measured.valid for r in runs):
        bad = [r for r in runs if not r.measured.valid]
        return replace(bad[0] if bad else first, passes=len(runs))

    def mean(values) -> float:
        values = list(values)
        return sum(values) / len(values)

    def apart(values) -> float:
        values = list(values)
        middle = mean(values)
        return (max(values) - min(values)) / middle if middle > 0 else 0.0

    ms = [r.measured for r in runs]
    measured = Measured(
        mean(m.throughput for m in ms),
        mean(m.p50 for m in ms),
        mean(m.p95 for m in ms),
        sum(m.requests for m in ms),
        sum(m.failed for m in ms),
        mean(m.swing for m in ms),
    )
    ps = [r.predicted for r in runs]
    predicted = Predicted(
        mean(p.throughput for p in ps), mean(p.p50 for p in ps), mean(p.p95 for p in ps)
    )
    us = [r.used for r in runs]
    pace = mean(r.speed for r in runs)
    used = cpu.CpuShare(
        first.used.cores,
        mean(u.machine for u in us),
        mean(u.lab for u in us),
        mean(u.load for u in us),
    )
    spread = (
        apart(m.throughput for m in ms),
        apart(m.p50 for m in ms),
        apart(m.p95 for m in ms),
    )
    return replace(
        first,
        measured=measured,
        predicted=predicted,
        used=used,
        passes=len(runs),
        spread=spread,
        speed=pace,
    )


def level_name(fraction: float) -> str:
    return f"{fraction:g}x"


def cores_left(used: cpu.CpuShare) -> float:
    """The cores the lab had (at least a tenth of one): the machine's, less the load
    generator's, less what other processes used. All of it, even when a core sat idle for part
    of the level: idle time comes in moments, when the lab was between requests or waiting on
    a socket, and what others ran while the lab had work queued was the lab's loss (counting
    only what others used beyond the idle time gave the sim more capacity than the lab had
    from the knee on, in two sessions' sweeps: ``sim/FACTS.md``)."""
    return max(0.1, used.cores - used.load - used.other)


def speed_factor(used: cpu.CpuShare) -> float:
    """How much slower the sim's vCPUs run so that they deliver only the cores left (>= 1)."""
    return max(1.0, used.cores / cores_left(used))


def lab_cost(used: cpu.CpuShare, measured: Measured) -> float:
    """CPU per request the lab spent, s: its cores over its requests/s (0: none completed)."""
    return used.lab / measured.throughput if measured.throughput > 0 else 0.0


def cost_factor(used: cpu.CpuShare, measured: Measured, calibrated_cost: float) -> float:
    """For ``--demand measured``: the lab's CPU per request at a level over the calibration's
    (1 when nothing completed or the calibration's cost is unknown)."""
    spent = lab_cost(used, measured)
    return spent / calibrated_cost if spent > 0 and calibrated_cost > 0 else 1.0


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by linear interpolation between order statistics (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def measure_window(lines: list[str], start: float, end: float) -> Measured:
    """Throughput and latency of proxied requests that finished in [start, end) (unix s), and
    how much the throughput swung from one stretch of :data:`STRETCH` s to the next."""
    times, failed = [], 0
    stretches = [0] * int((end - start) // STRETCH)
    for line in lines:
        try:
            finished = float(field(line, 13))
            request_time = float(field(line, 7))
        except ValueError:
            continue
        if not start <= finished < end or field(line, 8) == "-":
            continue
        times.append(request_time)
        failed += is_error(line)  # 5xx, 499 or cut short: the README's rule
        k = int((finished - start) // STRETCH)
        if k < len(stretches):  # (a last, partial stretch is left out)
            stretches[k] += 1
    seconds = end - start
    rates = [n / STRETCH for n in stretches]
    swing = statistics.stdev(rates) if len(rates) > 1 else 0.0
    return Measured(
        len(times) / seconds,
        percentile(times, 0.5),
        percentile(times, 0.95),
        len(times),
        failed,
        swing,
    )


def check_calibration_fits(cfg: LabConfig, scenario_path: Path) -> None:
    """Refuse a calibration made for another shape of lab (before a `scale` or a new `up`)."""
    description = tomllib.loads(scenario_path.read_text()).get("description", "")
    expected = f"the local stack lab: {cfg.instances} Gunicorn instances x {cfg.workers} sync"
    if not description.startswith(expected):
        raise LabError(
            f"{scenario_path} was calibrated for another lab ({description!r}); this one runs"
            f" {cfg.instances} instances x {cfg.workers} workers: run `calibrate` again"
        )


def after_response(data: dict) -> float:
    """The calibrated CPU after each response, s (``django.cpu_after``; 0 when absent)."""
    return float(data["django"].get("cpu_after", {}).get("mean", 0.0))


def calibrated_cost(scenario_path: Path) -> float:
    """CPU per request the calibrated scenario charges, s: Django's mean + the CPU after."""
    data = tomllib.loads(scenario_path.read_text())
    samples = data["django"]["cpu"]["samples"]
    return sum(samples) / len(samples) + after_response(data)


def capacity(scenario_path: Path) -> float:
    """Requests/s the calibrated lab can serve: all vCPUs busy with the mean Django time and
    the CPU after each response."""
    data = tomllib.loads(scenario_path.read_text())
    mean = calibrated_cost(scenario_path) + data["nginx"]["latency"]
    return data["instances"]["count"] * data["instances"]["vcpus"] / mean


def users_overrides(users: int, think: float, spawn_rate: float) -> list[str]:
    """The sim's ``[users]`` for a level: locust's users, think time and spawn rate."""
    return [
        "users.enabled=true",
        f"users.count={users}",
        f'users.think_time={{kind = "exponential", mean = {think:g}}}',
        f"users.spawn_rate={spawn_rate:g}",
    ]


def slower_cpu_override(scenario_path: Path, factor: float) -> list[str]:
    """``django.cpu.samples`` and ``django.cpu_after`` scaled by ``factor``: vCPUs that
    deliver 1 / factor of a core (or, with ``--demand measured``, requests that cost ``factor``
    times the calibration's CPU; a factor below 1 is cheaper)."""
    if factor == 1.0:
        return []
    data = tomllib.loads(scenario_path.read_text())
    scaled = ", ".join(f"{s * factor:.6f}" for s in data["django"]["cpu"]["samples"])
    after = after_response(data) * factor
    return [
        f"django.cpu.samples=[{scaled}]",
        f'django.cpu_after={{kind = "constant", mean = {after:.6f}}}',
    ]


def jitter_overrides(cv: float) -> list[str]:
    """The sim's host speed moving by ``cv`` every :data:`JITTER_PERIOD` s (none for 0)."""
    if cv <= 0:
        return []
    return [f"instances.cpu_jitter={cv:g}", f"instances.cpu_jitter_period={JITTER_PERIOD:g}"]


def simulate(scenario_path: Path, overrides: list[str], quick: bool) -> Predicted:
    duration, replications = (60, 1) if quick else (300, 3)
    command = [sys.executable, "-m", "sim", "run", str(scenario_path)]
    for override in [
        *overrides,
        f"run.duration={duration}",
        f"run.warmup={duration // 10}",
    ]:
        command += ["--set", override]
    command += ["--replications", str(replications), "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"the sim failed: {done.stderr.strip().splitlines()[-1:]}")
    summary = json.loads(done.stdout)["across_replications"]
    return Predicted(
        summary["throughput_per_s"]["mean"],
        summary["latency.end_to_end.p50"]["mean"],
        summary["latency.end_to_end.p95"]["mean"],
    )


def error(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured if measured > 0 else float("nan")


def measure_level(
    cfg: LabConfig,
    scenario_path: Path,
    number: int,
    fraction: float,
    duration: int,
    quick: bool,
    demand: str = "calibrated",
    speed_calibrated: float = 0.0,
    cpu_jitter: float = 0.0,
) -> Level:
    """One level: locust's users against the lab for ``duration`` s, with the CPU meter and
    the speedometer running; then the sim with the same users and the cores they left to the
    lab (with ``demand == "speed"``, the calibration's CPU per request scaled by the machine's
    slowdown against ``speed_calibrated``; with ``"measured"``, the CPU per request the lab
    spent)."""
    cap = capacity(scenario_path)
    users = max(1, round(cap * fraction * THINK))
    spawn_rate = float(users)  # every user starts in the first second, in locust and sim
    warm = 1.0 if quick else 5.0
    access = LogTail(cfg.logs / "nginx-access.log")
    before = cpu.snapshot(cfg)
    started = time.time()
    with speed.Speedometer() as meter:
        run_load(
            cfg, users, spawn_rate, duration, 1 / THINK, f"compare-{number}",
            figure=False, quiet=True,
        )  # fmt: skip
    ended = time.time()
    used = cpu.share(before, cpu.snapshot(cfg))
    measured = measure_window(access.new_lines(), started + warm, ended - 0.5)
    cost = calibrated_cost(scenario_path)
    factor = speed_factor(used)
    if demand == "measured":
        factor *= cost_factor(used, measured, cost)
    elif demand == "speed":
        factor *= speed.cost_scale(meter.reference, speed_calibrated)
    overrides = users_overrides(users, THINK, spawn_rate)
    overrides += slower_cpu_override(scenario_path, factor)
    overrides += jitter_overrides(cpu_jitter)
    predicted = simulate(scenario_path, overrides, quick)
    import sim

    discipline = sim.load(str(scenario_path)).instances.cpu_discipline
    return Level(
        level_name(fraction), fraction, users, THINK, cap, measured, predicted, used, discipline,
        calibrated_cost=cost, demand=demand, speed=meter.reference,
        speed_calibrated=speed_calibrated, cpu_jitter=cpu_jitter,
    )  # fmt: skip


def run(
    cfg: LabConfig,
    duration: int = 30,
    quick: bool = False,
    passes: int = PASSES,
    demand: str = "measured",
    cpu_jitter: float | None = None,
) -> int:
    cpu_jitter = CPU_JITTER if cpu_jitter is None else cpu_jitter
    if not 3 <= duration <= 600:
        raise LabError(f"--duration {duration} is out of range: use 3-600 seconds")
    if not 1 <= passes <= 5:
        raise LabError(f"--passes {passes} is out of range: use 1-5 sweeps")
    if demand not in DEMANDS:
        raise LabError(f"--demand {demand!r} is unknown: use one of {', '.join(DEMANDS)}")
    from sim.config.core import MAX_CPU_JITTER

    if not 0.0 <= cpu_jitter <= MAX_CPU_JITTER:
        raise LabError(
            f"--cpu-jitter {cpu_jitter:g} is out of range: use 0-{MAX_CPU_JITTER:g} (how much"
            " the sim's host speed moves, a coefficient of variation)"
        )
    require_running(cfg)
    scenario_path = cfg.path("calibrated.toml")
    if not scenario_path.exists():
        raise LabError(f"{scenario_path} is missing: run `python -m demo_app.stack calibrate`")
    check_calibration_fits(cfg, scenario_path)
    record = speed.record_path(cfg)
    # (An older calibration has no reading: each level's speed is then shown, not compared.)
    speed_calibrated = speed.load(record) if demand == "speed" or record.exists() else 0.0
    cap = capacity(scenario_path)
    out = cfg.path("compare")
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"compare   capacity from calibration about {cap:.0f} req/s; {duration} s per level;"
        f" closed loop: users think {THINK:g} s on average (exponential), as in the sim",
        flush=True,
    )
    charged = f"the calibration's {calibrated_cost(scenario_path) * 1000:.1f} ms of CPU per request"
    given = {
        "measured": "the cost per request each level measured (--demand measured)",
        "speed": f"{charged}, scaled by the machine's speed at each level (--demand speed)",
    }.get(demand, charged)
    print(f"compare   the sim is given {given}", flush=True)
    if cpu_jitter > 0:
        print(
            f"compare   the sim's host changes speed every {JITTER_PERIOD:g} s by {cpu_jitter:.0%}"
            f" (coefficient of variation, mean 1; --cpu-jitter {cpu_jitter:g})",
            flush=True,
        )
    fractions = QUICK_LEVELS if quick else LEVELS
    runs: dict[float, list[Level]] = {f: [] for f in fractions}
    number = 0
    for sweep in range(passes):
        order = fractions if sweep % 2 == 0 else fractions[::-1]  # drift must not follow load
        if passes > 1:
            print(f"pass {sweep + 1} of {passes}" + (" (reverse order)" if sweep % 2 else ""))
        for fraction in order:
            number += 1
            level = measure_level(
                cfg, scenario_path, number, fraction, duration, quick, demand, speed_calibrated,
                cpu_jitter,
            )  # fmt: skip
            runs[fraction].append(level)
            m, p = level.measured, level.predicted
            result = (
                f"measured {m.throughput:.1f} req/s p50 {m.p50 * 1000:.1f} ms, "
                f"predicted {p.throughput:.1f} req/s p50 {p.p50 * 1000:.1f} ms"
                if m.valid
                else INVALID
            )
            print(
                f"  {level.name:<6} {level.users} users, offered {level.offered:.0f} req/s:"
                f" {result}\n         {level.used.line()}; the sim got the {level.left:.2f}"
                f" cores left to the lab\n         {cost_line(level)}"
                f"\n         {speed_line(level)}\n         {swing_line(level)}",
                flush=True,
            )
    levels = [combine(runs[f]) for f in fractions]
    print_table(levels)
    fitted = speed_fit_line([lv for group in runs.values() for lv in group])
    if fitted:
        print(fitted)
    write_csv(out / "compare.csv", levels)
    figure = draw(out / "compare.png", levels, quick)
    print(f"csv       {out / 'compare.csv'}\nfigure    {figure}")
    print_notes(levels, quick)
    return 0


def print_table(levels: list[Level]) -> None:
    """One row per level; ``±`` is half the spread of the lab's passes (blank for one)."""
    cell = f"{'meas':>8}{'±':>5}{'sim':>8}{'err':>6} |"
    print()
    print(
        f"{'level':<6}{'users':>6}{'offered':>8}{'knee':>6} |{'throughput/s':^27}|"
        f"{'p50 ms':^27}|{'p95 ms':^27}| verdict"
    )
    print(f"{'':<6}{'':>6}{'req/s':>8}{'req/s':>6} |" + cell * 3)
    for lv in levels:
        m, p = lv.measured, lv.predicted
        text = f"{lv.name:<6}{lv.users:>6}{lv.offered:>8.0f}{lv.knee:>6.0f} |"
        if not m.valid:
            print(f"{text} {INVALID}")
            continue
        for meas, sim, spread in zip(
            (m.throughput, m.p50 * 1000, m.p95 * 1000),
            (p.throughput, p.p50 * 1000, p.p95 * 1000),
            lv.spread,
            strict=True,
        ):
            half = f"{spread / 2:.0%}" if lv.passes > 1 else ""
            text += f"{meas:>8.1f}{half:>5}{sim:>8.1f}{error(sim, meas):>+6.0%} |"
        print(f"{text} {lv.verdict}")


#: compare.csv's columns: the level, the load, measured and predicted, the machine's state
#: (cores busy, by whom; the cores left to the lab and given to the sim) and the verdict. A
#: level measured in several passes keeps their means, and per metric how far they were apart
#: (``spread_*``: ``|a - b| / mean``).
COLUMNS = [
    "level", "fraction", "users", "think_s", "offered_rps", "knee_rps", "past_knee",
    "measured_rps", "sim_rps", "measured_p50_s", "sim_p50_s", "measured_p95_s", "sim_p95_s",
    "measured_requests", "failed", "passes", "spread_rps", "spread_p50", "spread_p95",
    "cpu_cores", "cpu_machine", "cpu_lab", "cpu_locust",
    "cpu_other", "cpu_left", "demand", "cost_lab_ms", "cost_calibrated_ms",
    "speed_ms", "speed_calibrated_ms", "swing_rps", "cpu_jitter", "valid", "scored", "verdict",
]  # fmt: skip


def write_csv(path: Path, levels: list[Level]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for lv in levels:
            m, p, used = lv.measured, lv.predicted, lv.used
            writer.writerow(
                [lv.name, lv.fraction, lv.users, lv.think, round(lv.offered, 3),
                 round(lv.knee, 3), int(lv.past_knee), round(m.throughput, 3),
                 round(p.throughput, 3), round(m.p50, 6), round(p.p50, 6), round(m.p95, 6),
                 round(p.p95, 6), m.requests, m.failed, lv.passes,
                 *(round(x, 4) for x in lv.spread), used.cores, round(used.machine, 3),
                 round(used.lab, 3), round(used.load, 3), round(used.other, 3),
                 round(lv.left, 3), lv.demand, round(lv.lab_cost * 1000, 3),
                 round(lv.calibrated_cost * 1000, 3), round(lv.speed * 1000, 3),
                 round(lv.speed_calibrated * 1000, 3), round(m.swing, 3), lv.cpu_jitter,
                 int(m.valid), int(lv.scored), lv.verdict]
            )  # fmt: skip
    tmp.replace(path)


def draw(path: Path, levels: list[Level], quick: bool) -> Path:
    """Measured and predicted throughput, p50 and p95 against offered load; a level that was
    not scored is drawn hollow, and the dotted line is the calibrated capacity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, all_axes = plt.subplots(1, 4, figsize=(17, 4))
    axes, machine = all_axes[:3], all_axes[3]
    panels = (
        ("throughput (req/s)", lambda r: r.throughput, 1),
        ("p50 latency (ms)", lambda r: r.p50, 1000),
        ("p95 latency (ms)", lambda r: r.p95, 1000),
    )
    shown = [lv for lv in levels if lv.measured.valid]
    for metric, (ax, (label, get, scale)) in enumerate(zip(axes, panels, strict=True)):
        x = [lv.offered for lv in shown]
        ax.plot(x, [get(lv.measured) * scale for lv in shown], "-", color="tab:blue", lw=1)
        ax.plot(x, [get(lv.predicted) * scale for lv in shown], "--", color="tab:orange", lw=1)
        for lv in shown:
            fill = "full" if lv.scored else "none"
            value = get(lv.measured) * scale
            if lv.passes > 1:  # the passes' range: half the spread either side of their mean
                half = value * lv.spread[metric] / 2
                ax.errorbar(lv.offered, value, yerr=half, color="tab:blue", capsize=3, lw=1)
            ax.plot(lv.offered, value, "o", color="tab:blue", fillstyle=fill)
            ax.plot(lv.offered, get(lv.predicted) * scale, "s", color="tab:orange", fillstyle=fill)
        if levels:
            ax.axvline(levels[0].capacity, ls=":", color="gray")
        ax.set_xlabel("offered load (req/s)")
        ax.set_title(label)
        if "latency" in label:
            ax.set_yscale("log")
    axes[0].plot([], [], "o-", color="tab:blue", label="measured (lab)")
    axes[0].plot([], [], "s--", color="tab:orange", label="predicted (sim)")
    axes[0].plot([], [], "o", color="gray", fillstyle="none", label="not scored")
    axes[0].plot([], [], ":", color="gray", label="calibrated capacity")
    axes[0].legend(fontsize=8)
    # The machine beside the curves: how much slower it ran than at calibration, and how much
    # more a request cost the lab (both 0 where the calibration ran, or unknown).
    read = [lv for lv in shown if lv.speed_calibrated > 0 and lv.lab_cost > 0]
    x = [lv.offered for lv in read]
    machine.plot(x, [(lv.slowdown - 1) * 100 for lv in read], "^-", color="tab:green",
                 lw=1, label="reference work (machine slower)")  # fmt: skip
    machine.plot(x, [lv.cost_drift * 100 for lv in read], "v-", color="tab:purple", lw=1,
                 label="a request's cost to the lab")  # fmt: skip
    machine.axhline(0, color="gray", lw=0.8)
    machine.set_xlabel("offered load (req/s)")
    machine.set_title("the machine vs calibration (%)")
    machine.legend(fontsize=8)
    title = "stack lab vs calibrated simulation, closed loop" + (
        " (quick run: small loads)" if quick else ""
    )
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name("compare.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def print_notes(levels: list[Level], quick: bool) -> None:
    """Per level: the verdict against its targets, and the likely reason for each miss."""
    print()
    if quick:
        print("note      quick run: loads too small and short to judge the model's accuracy")
    for lv in levels:
        if not lv.measured.valid:
            print(f"{lv.name:<9} {INVALID}: not compared (see `status` and the logs)")
            continue
        if not lv.scored:
            print(f"{lv.name:<9} {lv.not_scored_line()}")
            continue
        where = "at or past the knee" if lv.past_knee else "below the knee"
        shown = ", ".join(
            f"{key} within {lv.targets[key]:.0%}: {e:+.0%}" for key, e in lv.errors().items()
        )
        if lv.verdict == "unsteady":
            print(f"{lv.name:<9} unsteady: {unsteady_line(lv, where, shown)}")
            continue
        print(f"{lv.name:<9} {lv.verdict} the target {where} ({shown})")
        for reason in reasons(lv):
            print(f"{'':<9} - {reason}")


def cost_line(lv: Level) -> str:
    """What a request cost the lab at a level, beside the calibration's (and what the sim got)."""
    if lv.lab_cost <= 0 or lv.calibrated_cost <= 0:
        return "cost      unknown: no request completed"
    given = {
        "measured": "the sim got the lab's",
        "speed": (
            f"the sim got the calibration's x {lv.charged_cost / lv.calibrated_cost:.2f}"
            " (the machine's speed)"
        ),
    }.get(lv.demand, "the sim got the calibration's")
    return (
        f"cost      a request took {lv.lab_cost * 1000:.1f} ms of the lab's CPU, the calibration"
        f" {lv.calibrated_cost * 1000:.1f} ms ({lv.cost_drift:+.0%}); {given}"
    )


def speed_line(lv: Level) -> str:
    """How fast the machine ran during a level, against its speed at calibration."""
    if lv.speed_calibrated <= 0:
        return (
            f"speed     the reference work took {lv.speed * 1000:.1f} ms of CPU (the calibration"
            " has no reading to set it against: calibrate again)"
        )
    return f"speed     {speed.speed_text(lv.speed, lv.speed_calibrated)}"


def swing_line(lv: Level) -> str:
    """How much the lab's throughput moved within the level, stretch to stretch."""
    m = lv.measured
    if not m.valid or m.swing <= 0:
        return f"swing     fewer than two {STRETCH:g} s stretches: not measured"
    return (
        f"swing     over {STRETCH:g} s stretches the lab served {m.throughput:.0f} req/s"
        f" +- {m.swing:.1f} (standard deviation, {m.swing / m.throughput:.0%})"
    )


def speed_fit_line(levels: list[Level]) -> str | None:
    """How the lab's cost per request followed the machine's speed over the levels' passes:
    the log-log slope that ``speed.ELASTICITY`` assumes (None without enough readings)."""
    pairs = [
        (lv.slowdown, lv.lab_cost / lv.calibrated_cost)
        for lv in levels
        if lv.speed_calibrated > 0 and lv.lab_cost > 0 and lv.calibrated_cost > 0
    ]
    found = speed.fit(pairs)
    if found is None:
        return None
    slope, correlation = found
    return (
        f"speed     over {len(pairs)} readings the lab's cost per request moved {slope:.2f} times"
        f" as much as the reference work (log-log slope, correlation {correlation:.2f});"
        f" --demand speed assumes {speed.ELASTICITY:g}"
    )


def unsteady_line(lv: Level, where: str, shown: str) -> str:
    """Why a miss is not counted as the model's: the lab's passes moved as much."""
    spread = lv.spreads()
    moved = ", ".join(
        f"{key} {spread[key]:.0%}" for key, e in lv.errors().items() if abs(e) > lv.targets[key]
    )
    return (
        f"off the target {where} ({shown}), but within it plus half the lab's own spread:"
        f" its {lv.passes} passes differed by {moved}, so the lab did not repeat itself"
        " closely enough to tell"
    )


def reasons(lv: Level) -> list[str]:
    """Why a scored level misses, from which way its errors point, read for the level as a
    whole: errors that contradict each other are named as such, not given two causes."""
    e, tol = lv.errors(), lv.targets
    found = []
    # What the sim was charged against what a request cost the lab: under ``measured`` they are
    # the same; otherwise a drift beyond DEMAND_DRIFT is named, with where it came from.
    charged = lv.charged_cost
    drift = lv.lab_cost / charged - 1 if charged > 0 and lv.lab_cost > 0 else 0.0
    if lv.demand != "measured" and abs(drift) > DEMAND_DRIFT:
        if lv.demand == "speed":
            against = (
                f"the {charged * 1000:.1f} ms the sim charged (the calibration's"
                f" {lv.calibrated_cost * 1000:.1f} ms scaled for the machine's speed, its"
                f" reference work {lv.slowdown - 1:+.0%}): the speed explained only part of the"
                " change"
            )
        else:
            ran = (
                f"; its reference work ran {lv.slowdown - 1:+.0%} against calibration"
                if lv.speed_calibrated > 0
                else ""
            )
            against = (
                f"the calibration's {charged * 1000:.1f} ms that the sim charges: the machine spent"
                f" {'more' if drift > 0 else 'less'} per page than when calibrated (its clock,"
                f" its other guests, caches shared under load){ran}; `--demand speed` scales the"
                " sim's cost by the machine's speed"
            )
        found.append(
            f"a request cost the lab {lv.lab_cost * 1000:.1f} ms of CPU here, {drift:+.0%} against"
            f" {against}; `--demand measured` gives the sim this cost"
        )
    if lv.used.other > 0.02:
        found.append(
            f"other processes used {lv.used.other:.2f} cores on average, within the limit; if "
            "they came in bursts they took whole cores for a while, which an average hides"
        )
    # Which way the level errs, read once for the whole level: the sim serving more, or
    # answering faster, is optimistic; serving less, or answering slower, pessimistic.
    more, fewer = e["throughput"] > tol["throughput"], e["throughput"] < -tol["throughput"]
    slower = [k for k in ("p50", "p95") if e[k] > tol[k]]
    faster = [k for k in ("p50", "p95") if e[k] < -tol[k]]
    if (more and slower) or (fewer and faster):
        # With users who wait for each answer, serving more means answering faster
        # (R = N/X - Z): errors the other way round cannot have one cause.
        found.append(
            f"the errors contradict each other: the sim served {'more' if more else 'less'} and"
            f" answered {'slower' if more else 'faster'} ({', '.join(slower or faster)}), where"
            " users who wait for each answer get faster answers exactly when more is served:"
            " the level did not settle in its time (a longer --duration, or more passes)"
        )
    elif faster and slower:  # the same throughput, another shape of the response times
        found.append(
            f"the sim's response times are spread {'wider' if 'p95' in slower else 'narrower'}"
            f" than the lab's ({' and '.join(slower)} too slow, {' and '.join(faster)} too fast)"
            + (
                ": first come, first served vCPUs run each CPU burst to its end, so a short"
                " request waits behind a long one; the kernel time-slices the cores, so short"
                " requests slip past long ones"
                if lv.discipline == "fcfs" and "p95" in slower
                else ""
            )
        )
    elif more or faster:
        if more:
            found.append(
                "the sim serves more than the lab did: the cores left to the lab were fewer"
                " than the average the CPU meter saw (others' bursts, context switches, caches)"
            )
        found.append(
            f"the sim is too optimistic: the load generator's {lv.used.load:.2f} cores are "
            "charged as an even slow-down of the vCPUs, not as the bursts they are, and the "
            "model's vCPUs share their time at no cost, where the kernel pays for each switch"
        )
    elif fewer or slower:
        if slower == ["p95"] and not fewer and lv.discipline == "fcfs":
            found.append(
                "the sim's tail is too long: first come, first served vCPUs run each CPU burst "
                "to its end, so a short request waits behind a long one; the kernel time-slices "
                "the cores, so short requests slip past long ones"
            )
        else:
            found.append(
                "the sim is too pessimistic: the calibration's CPU per page is more than a page"
                " cost the lab at this level (compare the lab's cores over its requests/s with"
                " the calibration's `cpu` lines; or the calibration ran on a busy machine: see"
                " them)"
            )
    return [] if lv.meets else found
