"""Measured vs simulated: the lab under three loads, and the sim's prediction for each.

Like checking a weather model against the thermometer: the model (``sim``, driven by the
scenario ``calibrate`` wrote) predicts throughput, p50 and p95 for an offered load; locust
offers that load to the real lab; nginx's access log is the thermometer (``$request_time`` of
every request in the measuring window, the same span the calibrated scenario's end-to-end
latency covers). The table says how far each prediction is off, and the notes say why.

Levels are fractions of the capacity the calibration implies (cores / mean Django time):
light 0.25, busy 0.6, saturated 1.2. ``--quick`` uses small loads and short runs (for CI: it
shows the machinery works, not how accurate the model is).

Flow: calibrated.toml -> capacity -> for each level: locust (offered rate) -> access-log
window -> measured; ``python -m sim run calibrated.toml --set arrivals.rate=...`` -> predicted
-> table (stdout, ``compare.csv``) + figure (``compare.png``) in ``<state>/compare/``.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from demo_app.stack import cpu
from demo_app.stack.accesslog import is_error
from demo_app.stack.config import LabConfig, LabError
from demo_app.stack.drills import LogTail, field
from demo_app.stack.lab import require_running
from demo_app.stack.load import run_load

LEVELS = (("light", 0.25), ("busy", 0.6), ("saturated", 1.2))
QUICK_LEVELS = (("light", 0.1), ("busy", 0.25), ("saturated", 0.5))
PER_USER_RATE = 2.0  # requests/s each locust user offers (exponential gaps)
TARGET = {"p50": 0.15, "p95": 0.25}  # the accuracy target, below saturation


@dataclass(frozen=True)
class Measured:
    throughput: float
    p50: float
    p95: float
    requests: int
    failed: int

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


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by linear interpolation between order statistics (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def measure_window(lines: list[str], start: float, end: float) -> Measured:
    """Throughput and latency of proxied requests that finished in [start, end) (unix s)."""
    times, failed = [], 0
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
    seconds = end - start
    return Measured(
        len(times) / seconds, percentile(times, 0.5), percentile(times, 0.95), len(times), failed
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


def capacity(scenario_path: Path) -> float:
    """Requests/s the calibrated lab can serve: all vCPUs busy with the mean Django time."""
    data = tomllib.loads(scenario_path.read_text())
    samples = data["django"]["cpu"]["samples"]
    mean = sum(samples) / len(samples) + data["nginx"]["latency"]
    return data["instances"]["count"] * data["instances"]["vcpus"] / mean


def simulate(scenario_path: Path, rate: float, quick: bool) -> Predicted:
    duration, replications = (60, 1) if quick else (300, 3)
    command = [
        sys.executable, "-m", "sim", "run", str(scenario_path),
        "--set", f"arrivals.rate={rate:.4f}",
        "--set", f"run.duration={duration}",
        "--set", f"run.warmup={duration // 10}",
        "--replications", str(replications),
        "--json",
    ]  # fmt: skip
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


def run(cfg: LabConfig, duration: int = 30, quick: bool = False) -> int:
    if not 3 <= duration <= 600:
        raise LabError(f"--duration {duration} is out of range: use 3-600 seconds")
    require_running(cfg)
    scenario_path = cfg.path("calibrated.toml")
    if not scenario_path.exists():
        raise LabError(f"{scenario_path} is missing: run `python -m demo_app.stack calibrate`")
    check_calibration_fits(cfg, scenario_path)
    cap = capacity(scenario_path)
    out = cfg.path("compare")
    out.mkdir(parents=True, exist_ok=True)
    warm = 1.0 if quick else 3.0
    print(f"compare   capacity from calibration about {cap:.0f} req/s; {duration} s per level")
    rows = []
    for name, fraction in QUICK_LEVELS if quick else LEVELS:
        users = max(1, round(cap * fraction / PER_USER_RATE))
        offered = users * PER_USER_RATE
        access = LogTail(cfg.logs / "nginx-access.log")
        before = cpu.snapshot(cfg)
        started = time.time()
        run_load(
            cfg, users, float(users), duration, PER_USER_RATE, f"compare-{name}",
            figure=False, quiet=True,
        )  # fmt: skip
        ended = time.time()
        used = cpu.share(before, cpu.snapshot(cfg))
        measured = measure_window(access.new_lines(), started + warm, ended - 0.5)
        predicted = simulate(scenario_path, offered, quick)
        rows.append((name, offered, users, measured, predicted, used))
        result = (
            f"measured {measured.throughput:.1f} req/s p50 {measured.p50 * 1000:.1f} ms, "
            f"predicted {predicted.throughput:.1f} req/s p50 {predicted.p50 * 1000:.1f} ms"
            if measured.valid
            else INVALID
        )
        print(f"  {name:<10} {users} users, offered {offered:.0f} req/s: {result}", flush=True)
        print(f"             {used.line()}", flush=True)
    print_table(rows)
    write_csv(out / "compare.csv", rows)
    figure = draw(out / "compare.png", rows, quick)
    print(f"csv       {out / 'compare.csv'}\nfigure    {figure}")
    print_notes(rows, quick)
    return 0


def print_table(rows) -> None:
    cell = f"{'meas':>9}{'sim':>9}{'err':>7} |"
    print()
    print(f"{'level':<10}{'offered':>8} |{'throughput/s':^26}|{'p50 ms':^26}|{'p95 ms':^26}|")
    print(f"{'':<10}{'req/s':>8} |" + cell * 3)
    for name, offered, _users, m, p, _used in rows:
        text = f"{name:<10}{offered:>8.0f} |"
        if not m.valid:
            print(f"{text} {INVALID}")
            continue
        for meas, sim in (
            (m.throughput, p.throughput),
            (m.p50 * 1000, p.p50 * 1000),
            (m.p95 * 1000, p.p95 * 1000),
        ):
            text += f"{meas:>9.1f}{sim:>9.1f}{error(sim, meas):>+7.0%} |"
        print(text)


def write_csv(path: Path, rows) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["level", "offered_rps", "users", "measured_rps", "sim_rps", "measured_p50_s",
             "sim_p50_s", "measured_p95_s", "sim_p95_s", "measured_requests", "failed",
             "cpu_machine", "cpu_lab", "cpu_locust", "cpu_other", "valid"]
        )  # fmt: skip
        for name, offered, users, m, p, used in rows:
            writer.writerow(
                [name, offered, users, round(m.throughput, 3), round(p.throughput, 3),
                 round(m.p50, 6), round(p.p50, 6), round(m.p95, 6), round(p.p95, 6),
                 m.requests, m.failed, round(used.machine, 3), round(used.lab, 3),
                 round(used.load, 3), round(used.other, 3), int(m.valid)]
            )  # fmt: skip
    tmp.replace(path)


def draw(path: Path, rows, quick: bool) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [r[1] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    panels = (
        ("throughput (req/s)", lambda m: m.throughput, 1),
        ("p50 latency (ms)", lambda m: m.p50, 1000),
        ("p95 latency (ms)", lambda m: m.p95, 1000),
    )
    for ax, (label, get, scale) in zip(axes, panels, strict=True):
        ax.plot(offered, [get(r[3]) * scale for r in rows], "o-", label="measured (lab)")
        ax.plot(offered, [get(r[4]) * scale for r in rows], "s--", label="predicted (sim)")
        for x, r in zip(offered, rows, strict=True):
            if r[3].valid:  # an invalid level has no point to label
                ax.annotate(r[0], (x, get(r[3]) * scale), textcoords="offset points", xytext=(4, 4))
        ax.set_xlabel("offered load (req/s)")
        ax.set_title(label)
        if "latency" in label:
            ax.set_yscale("log")
    axes[0].legend()
    title = "stack lab vs calibrated simulation" + (" (quick run: small loads)" if quick else "")
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name("compare.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def print_notes(rows, quick: bool) -> None:
    """Per level: the verdict against the target, and the likely reason for each miss."""
    print()
    if quick:
        print("note      quick run: loads too small and short to judge the model's accuracy")
    for name, _offered, users, m, p, used in rows:
        if not m.valid:
            print(f"{name:<9} {INVALID}: not compared (see `status` and the logs)")
            continue
        if name == "saturated":
            print(
                f"saturated not a target: locust's {users} users wait for answers (a closed "
                "loop), so the lab's queue stops growing at that many requests; the sim's "
                "arrivals keep coming (an open loop) and its queue grows for the whole run."
            )
            continue
        e50, e95 = error(p.p50, m.p50), error(p.p95, m.p95)
        ok50, ok95 = abs(e50) <= TARGET["p50"], abs(e95) <= TARGET["p95"]
        verdict = "meets" if ok50 and ok95 else "misses"
        print(
            f"{name:<9} {verdict} the target (p50 within 15 %: {e50:+.0%}, "
            f"p95 within 25 %: {e95:+.0%})"
        )
        for reason in reasons(e50, e95, used):
            print(f"{'':<9} - {reason}")


def reasons(e50: float, e95: float, used: cpu.CpuShare) -> list[str]:
    """Why a level misses, from the sign of its errors and the CPU the level used."""
    found = []
    if used.other > 0.25:
        found.append(
            f"other processes used {used.other:.2f} of {used.cores} cores: the lab had less "
            "CPU than the calibration saw"
        )
    if e95 > TARGET["p95"]:
        found.append(
            "the sim's tail is too long: it runs each CPU burst to the end on one vCPU (first "
            "come, first served), so a short request waits behind a long one; the kernel "
            "time-slices the cores, so short requests slip past long ones"
        )
    if e50 < -TARGET["p50"] or e95 < -TARGET["p95"]:
        found.append(
            f"the sim is too optimistic: locust ({used.load:.2f} cores) and nginx run on the "
            "same cores as the workers but are not in the model, and the calibration, one "
            "request at a time, saw no competition for caches and cores"
        )
    return found
