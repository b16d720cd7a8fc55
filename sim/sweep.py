"""Parameter sweeps: every combination of a few settings, several seeds each, in parallel.

Think of a taste test: five recipes, each cooked three times, every plate scored on the same
card (latency percentiles, error rate, cost), and at the end one chart of price against
quality with a dot per recipe. ``--vary asg.max=2,4,6 --vary gunicorn.workers=3,5,9`` is
nine recipes; ``--replications 3`` cooks each three times with seeds 0, 1, 2 of the
scenario's seed (the same seeds for every recipe, so differences are the recipe's, not luck's).

Runs go to a pool of worker processes; each run depends only on its scenario and seed, and
rows are sorted by (setting, replication) before they are written, so the table is identical
whether one process ran them or many. Cost is instance-hours (launch to termination).

Flow: scenario + ``--vary`` lists -> validated scenarios (all of them, before any run) ->
process pool (tqdm progress) -> one row per run -> CSV -> :func:`tradeoff` figure.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
import multiprocessing
import sys
import tomllib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim import scenario as scenarios
from sim.config import ConfigError, Scenario
from sim.dynamics import simulate_over_time
from sim.metrics import check_folder, write_files

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STATUSES = (500, 502, 503, 504)
DIGITS = 6


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``"asg.max=2,4,6"`` -> ``("asg.max", [2, 4, 6])``; each value is read as TOML. Keys are
    those of ``--set``, entries of arrays of tables included (``asg.policies[0].target``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    parts = [p.strip() for p in raw.split(",")]
    if not sep or not key or scenarios.key_steps(key) is None or not all(parts):
        raise ConfigError("--vary", text, "must look like key.path=v1,v2,... e.g. asg.max=2,4,6")
    values = []
    for p in parts:
        try:
            values.append(tomllib.loads(f"v = {p}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(p)
    return key, values


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    return repr(value)


def settings(
    name: str,
    varies: Sequence[tuple[str, list[Any]]],
    overrides: Sequence[str] = (),
    notes: list[str] | None = None,
) -> list[tuple[dict[str, Any], Scenario]]:
    """Every combination as ``(values, validated scenario)``, in ``--vary`` order. The
    scenarios' notes (``scenario.notes``) are appended to ``notes``, each once."""
    keys = [k for k, _ in varies]
    out = []
    for combo in itertools.product(*(v for _, v in varies)):
        values = dict(zip(keys, combo, strict=True))
        sets = [*overrides, *(f"{k}={_toml(v)}" for k, v in values.items())]
        s, said = scenarios.load_noted(name, sets)
        if notes is not None:
            notes.extend(n for n in said if n not in notes)
        out.append((values, s))
    return out


def run_one(job: tuple[int, int, Scenario, int]) -> tuple[int, int, dict[str, Any]]:
    """One run of setting ``i``, replication ``r``: the row of statistics (a worker's task)."""
    i, r, s, seed = job
    over = simulate_over_time(s, seed, replication=r)
    req = over.requests
    start, end = s.run.warmup, s.run.duration
    measured = (req["arrival"] >= start) & (req["arrival"] < end)
    status = req["status"][measured]
    ok = status == 200
    latency = (req["end"] - req["arrival"])[measured][ok]
    n = int(measured.sum())
    row: dict[str, Any] = {"requests": n, "ok": int(ok.sum())}
    row["error_rate"] = round((n - int(ok.sum())) / n, DIGITS) if n else math.nan
    for p, v in zip((50, 95, 99), _percentiles(latency), strict=True):
        row[f"p{p}"] = v
    for code in STATUSES:
        row[f"errors_{code}"] = int((status == code).sum())
    row["instance_hours"] = round(over.instance_hours, DIGITS)
    row["max_in_service"] = max((t.get("in_service", 0) for t in over.table), default=0)
    return i, r, row


def _percentiles(latency: np.ndarray) -> list[float]:
    if latency.size == 0:
        return [math.nan] * 3
    return [round(float(v), DIGITS) for v in np.percentile(latency, [50, 95, 99])]


def sweep(
    runs: list[tuple[dict[str, Any], Scenario]],
    replications: int,
    seed: int | None = None,
    workers: int = 1,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Run every setting ``replications`` times; one row per run, sorted."""
    jobs = [
        (i, r, s, s.run.seed if seed is None else seed)
        for i, (_, s) in enumerate(runs)
        for r in range(replications)
    ]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="sweep", unit="run", file=sys.stderr)
    done: list[tuple[int, int, dict[str, Any]]] = []
    if workers <= 1:
        for job in jobs:
            done.append(run_one(job))
            if bar is not None:
                bar.update()
    else:
        # "spawn": fresh interpreters, so no lock held by a thread of this process (tqdm's
        # monitor, say) is copied into a worker half-taken, as fork could.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for future in as_completed([pool.submit(run_one, job) for job in jobs]):
                done.append(future.result())
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()
    done.sort(key=lambda x: (x[0], x[1]))
    rows = []
    seeds = {(i, r): sd for i, r, _, sd in jobs}
    for i, r, stats in done:
        values = runs[i][0]
        rows.append({"setting": i, **values, "replication": r, "seed": seeds[i, r], **stats})
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if _nan(v) else v for k, v in row.items()})
    return out.getvalue()


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def by_setting(rows: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Means over replications, one entry per setting."""
    out = []
    for i in sorted({r["setting"] for r in rows}):
        mine = [r for r in rows if r["setting"] == i]
        entry = {k: mine[0][k] for k in keys}
        for k in ("instance_hours", "p95", "error_rate"):
            vals = [r[k] for r in mine if not _nan(r[k])]
            entry[k] = float(np.mean(vals)) if vals else math.nan
        out.append(entry)
    return out


def tradeoff(rows: list[dict[str, Any]], keys: Sequence[str], title: str) -> Figure:
    """Cost (instance-hours) against p95 latency, one point per setting, labelled."""
    from matplotlib.figure import Figure

    points = by_setting(rows, keys)
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.add_subplot()
    cost = [p["instance_hours"] for p in points]
    p95 = [p["p95"] * 1000 for p in points]
    errors = [p["error_rate"] for p in points]
    dots = ax.scatter(cost, p95, c=errors, cmap="Reds", vmin=0, vmax=max(max(errors), 0.01),
                      edgecolors="black", s=60, zorder=3)  # fmt: skip
    ax.margins(0.15)
    # Settings that ran identically (a limit never reached) share one dot and one label.
    labels: dict[tuple[float, float], list[str]] = {}
    for p, x, y in zip(points, cost, p95, strict=True):
        labels.setdefault((x, y), []).append(", ".join(f"{k.split('.')[-1]}={p[k]}" for k in keys))
    _place_labels(fig, ax, labels)
    fig.colorbar(dots, ax=ax, label="error rate")
    ax.set_xlabel("cost: instance-hours per run")
    ax.set_ylabel("p95 latency of successful requests (ms)")
    finite = [v for v in p95 if not math.isnan(v)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 10:
        ax.set_yscale("log")  # settings that saturate would flatten all the others
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    return fig


def _place_labels(fig, ax, labels: dict[tuple[float, float], list[str]]) -> None:
    """Label each dot to its right; labels of dots in the same column are stacked downwards
    from the highest, so none overlaps another (offsets in points)."""
    ax.autoscale_view()
    to_pt = 72.0 / fig.dpi
    spots = sorted(labels, key=lambda s: -s[1] if s[1] == s[1] else 0)
    where = {s: ax.transData.transform(s) * to_pt for s in spots}
    line = 10.0  # points per line of 8-point text
    floor: list[tuple[float, float]] = []  # (x, lowest label bottom so far) per column
    for spot in spots:
        x, y = where[spot]
        height = line * len(labels[spot])
        bottom = y + 4
        for fx, fy in floor:
            if abs(fx - x) < 40:
                bottom = min(bottom, fy - 2 - height)
        floor.append((x, bottom))
        leader = {"arrowstyle": "-", "lw": 0.5, "color": "grey"} if bottom - y != 4 else None
        ax.annotate("\n".join(labels[spot]), spot, textcoords="offset points",
                    xytext=(8, bottom - y), fontsize=8, va="bottom", arrowprops=leader)  # fmt: skip


# --- the command line (``python -m sim sweep``) -------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--vary",
        action="append",
        default=[],
        required=True,
        metavar="KEY=V1,V2,...",
        help="a setting and its values, e.g. --vary asg.max=2,4,6 (repeatable: every combination)",
    )
    p.add_argument("--replications", type=int, default=1, metavar="R", help="runs per setting")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes (default: one per CPU)")  # fmt: skip
    p.add_argument("--out", type=Path, metavar="DIR", help="write sweep.csv and tradeoff.png here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    import os

    if args.replications < 1:
        raise ConfigError("--replications", args.replications, "must be an integer >= 1")
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 1:
        raise ConfigError("--workers", workers, "must be an integer >= 1")
    if args.seed is not None and args.seed < 0:
        raise ConfigError("--seed", args.seed, "must be an integer >= 0")
    varies = [parse_vary(v) for v in args.vary]
    keys = [k for k, _ in varies]
    if len(set(keys)) != len(keys):
        raise ConfigError("--vary", keys, "each key may be varied once")
    notes: list[str] = []
    runs = settings(args.scenario, varies, args.set, notes)
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    if args.out is not None:
        check_folder(args.out)
    rows = sweep(runs, args.replications, args.seed, workers, progress=not args.no_progress)
    text = to_csv(rows)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    name = runs[0][1].name
    figure = tradeoff(rows, keys, f"{name}: cost against p95 latency, one point per setting")
    from sim.plots import png

    write_files(args.out, {"sweep.csv": text, "tradeoff.png": png(figure)})
    sys.stderr.write(f"wrote sweep.csv, tradeoff.png to {args.out}\n")
    return 0
