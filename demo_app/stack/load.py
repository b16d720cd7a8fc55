"""Load on the lab with locust (headless), its CSV results and a figure of the run.

Like a stress test on a bridge with sandbags: a known number of visitors (``--users``), each
sending a request, waiting for the answer and thinking an exponential time of mean
1 / ``--rate`` seconds (so ``rate`` requests/s while answers are quick: a closed loop, see
``locustfile.py``), for a known time; locust writes what it saw every few
seconds (``<name>_stats_history.csv``) and in total (``<name>_stats.csv``), and we draw the
history: requests/s, p50/p95 latency and failures over time.

Flow: LabConfig + users/rate/duration -> ``locust -f locustfile.py --headless --csv`` (a
subprocess, so gevent stays out of this process) -> CSVs in ``<state>/load/`` -> PNG figure.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from demo_app.stack.config import LabConfig, LabError
from demo_app.stack.lab import require_running

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True)
class LoadResult:
    exit_code: int
    prefix: Path
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    figure: Path | None

    @property
    def valid(self) -> bool:
        """False when no request completed (locust then writes N/A for every percentile)."""
        return self.requests > 0 and not math.isnan(self.p50_ms)

    def line(self) -> str:
        if not self.valid:
            return (
                "invalid: no request completed, so there is no throughput or latency to report"
                " (is the lab answering? see `status` and the logs)"
            )
        return (
            f"{self.requests} requests, {self.failures} failed, {self.rps:.1f} req/s, "
            f"p50 {self.p50_ms:.0f} ms, p95 {self.p95_ms:.0f} ms"
        )


def run_load(
    cfg: LabConfig,
    users: int,
    spawn_rate: float,
    duration: int,
    rate: float,
    name: str = "load",
    figure: bool = True,
    quiet: bool = False,
) -> LoadResult:
    """Run locust against the running lab; print and return the totals."""
    for label, value, low, high in (
        ("--users", users, 1, 1000),
        ("--spawn-rate", spawn_rate, 0.1, 1000),
        ("--duration", duration, 1, 3600),
        ("--rate", rate, 0.01, 100),
    ):
        if not low <= value <= high:
            raise LabError(f"{label} {value} is out of range: use {low}-{high}")
    if not name.replace("-", "").replace("_", "").isalnum():
        raise LabError(f"--name {name!r} must be letters, digits, - or _")
    require_running(cfg)
    folder = cfg.path("load")
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / name
    command = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--users", str(users),
        "--spawn-rate", str(spawn_rate),
        "--run-time", f"{duration}s",
        "--csv", str(prefix),
        "--only-summary",
        "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "LAB_STATE_DIR": str(cfg.state_dir), "LAB_USER_RATE": str(rate)}
    if not quiet:
        print(
            f"load      {users} users x {rate:g} req/s for {duration} s against {cfg.site}",
            flush=True,
        )
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    stats = prefix.with_name(prefix.name + "_stats.csv")
    if done.returncode != 0 or not stats.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise LabError(f"locust failed (exit {done.returncode}): {' | '.join(tail)}")
    picture = None
    if figure:
        picture = draw_history(prefix.with_name(prefix.name + "_stats_history.csv"))
    result = read_result(prefix, picture)
    if not quiet:
        print(f"result    {result.line()}")
        print(f"csv       {prefix}_stats.csv, {prefix}_stats_history.csv")
        if picture:
            print(f"figure    {picture}")
    return result


def read_result(prefix: Path, figure: Path | None = None) -> LoadResult:
    """The totals of locust's ``<prefix>_stats.csv``; exit code 1 when no request completed."""
    total = aggregated_row(prefix.with_name(prefix.name + "_stats.csv"))
    result = LoadResult(
        exit_code=0,
        prefix=prefix,
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        rps=number(total["Requests/s"]),
        p50_ms=number(total["50%"]),
        p95_ms=number(total["95%"]),
        figure=figure,
    )
    return result if result.valid else replace(result, exit_code=1)


def number(text: str) -> float:
    """A number from locust's CSV; its "N/A" (nothing measured) is NaN."""
    return float("nan") if text in ("N/A", "") else float(text)


def aggregated_row(stats_csv: Path) -> dict[str, str]:
    with open(stats_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                return row
    raise LabError(f"{stats_csv} has no Aggregated row")


def read_history(history_csv: Path) -> dict[str, list[float]]:
    """The Aggregated rows of locust's history as columns (time from the first row)."""
    columns: dict[str, list[float]] = {"t": [], "users": [], "rps": [], "fps": []}
    columns.update({"p50": [], "p95": []})
    with open(history_csv, newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["Name"] == "Aggregated"]
    if not rows:
        return columns
    t0 = int(rows[0]["Timestamp"])
    for row in rows:
        columns["t"].append(int(row["Timestamp"]) - t0)
        columns["users"].append(float(row["User Count"]))
        columns["rps"].append(float(row["Requests/s"]))
        columns["fps"].append(float(row["Failures/s"]))
        # Locust writes "N/A" for a percentile before the first answer arrives.
        for key, col in (("p50", "50%"), ("p95", "95%")):
            columns[key].append(number(row[col]))
    return columns


def draw_history(history_csv: Path) -> Path:
    """PNG beside the CSV: requests/s, p50/p95 and failures/s over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = read_history(history_csv)
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    axes[0].plot(data["t"], data["rps"], color="tab:blue")
    axes[0].set_ylabel("requests/s")
    axes[1].plot(data["t"], data["p50"], label="p50", color="tab:green")
    axes[1].plot(data["t"], data["p95"], label="p95", color="tab:orange")
    axes[1].set_ylabel("latency (ms)")
    axes[1].legend(loc="upper left")
    axes[2].plot(data["t"], data["fps"], color="tab:red")
    axes[2].set_ylabel("failures/s")
    axes[2].set_ylim(bottom=0)
    axes[2].set_xlabel("seconds since start")
    fig.suptitle(f"locust against the stack lab: {history_csv.name.removesuffix('.csv')}")
    fig.tight_layout()
    out = history_csv.with_name(history_csv.name.replace("_stats_history.csv", ".png"))
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
