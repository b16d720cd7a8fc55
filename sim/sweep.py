"""Parameter sweeps: every combination of a few settings, several seeds each, in parallel.

Think of a taste test: five recipes, each cooked three times, every plate scored on the same
card (latency percentiles, error rate, cost), and at the end one chart of price against
quality with a dot per recipe. ``--vary asg.max=2,4,6 --vary gunicorn.workers=3,5,9`` is
nine recipes; ``--replications 3`` cooks each three times with seeds 0, 1, 2 of the
scenario's seed (the same seeds for every recipe, so differences are the recipe's, not luck's).

Runs go to a pool of processes; each run depends only on its scenario and seed, and rows are
sorted by (setting, replication) before they are written, so the table is identical whether
one process ran them or many. Cost is instance-hours (launch to termination).

Flow: scenario + ``--vary`` lists -> validated scenarios (all of them, before any run) ->
process pool (tqdm progress) -> one row per run (``statistics.outline``) -> CSV ->
the trade-off figure (``sim/figures/tradeoff.py``).
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
from typing import Any

from sim import loader
from sim.config import ConfigError, Scenario
from sim.config.checks import MAX_REPLICATIONS, MAX_SEED, check_int
from sim.engine import simulate
from sim.engine.size import check_size
from sim.results.files import check_folder, write_files
from sim.results.statistics import outline

#: The most runs (settings x replications) and processes one sweep takes.
MAX_RUNS = 10_000
MAX_PROCESSES = 256


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """``"asg.max=2,4,6"`` -> ``("asg.max", [2, 4, 6])``; each value is read as TOML. Keys are
    those of ``--set``, entries of arrays of tables included (``asg.policies[0].target``)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    parts = [p.strip() for p in raw.split(",")]
    if not sep or not key or loader.key_steps(key) is None or not all(parts):
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
        s, said = loader.load_noted(name, sets)
        if notes is not None:
            notes.extend(n for n in said if n not in notes)
        out.append((values, s))
    return out


def run_one(job: tuple[int, int, Scenario, int]) -> tuple[int, int, dict[str, Any]]:
    """One run of setting ``i``, replication ``r``: its row of statistics (a process's task)."""
    i, r, s, seed = job
    return i, r, outline(simulate(s, seed, replication=r))


def sweep(
    runs: list[tuple[dict[str, Any], Scenario]],
    replications: int,
    seed: int | None = None,
    processes: int = 1,
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
    if processes <= 1:
        for job in jobs:
            done.append(run_one(job))
            if bar is not None:
                bar.update()
    else:
        # "spawn": fresh interpreters, so no lock held by a thread of this process (tqdm's
        # monitor, say) is copied into a process half-taken, as fork could.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
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
    p.add_argument("--processes", type=int, default=None, metavar="N",
                   help="processes to run on (default: one per CPU)")  # fmt: skip
    p.add_argument("--out", type=Path, metavar="DIR", help="write sweep.csv and tradeoff.png here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    import os

    check_int("--replications", args.replications, maximum=MAX_REPLICATIONS)
    processes = args.processes if args.processes is not None else (os.cpu_count() or 1)
    check_int("--processes", processes, maximum=MAX_PROCESSES)
    if args.seed is not None:
        check_int("--seed", args.seed, minimum=0, maximum=MAX_SEED)
    varies = [parse_vary(v) for v in args.vary]
    keys = [k for k, _ in varies]
    if len(set(keys)) != len(keys):
        raise ConfigError("--vary", keys, "each key may be varied once")
    combinations = math.prod(len(v) for _, v in varies) * args.replications
    if combinations > MAX_RUNS:
        raise ConfigError(
            "--vary", args.vary, f"{combinations:,} runs; a sweep runs at most {MAX_RUNS:,}"
        )
    notes: list[str] = []
    runs = settings(args.scenario, varies, args.set, notes)
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    for _, s in runs:  # each process holds one run at a time
        check_size(s, min(processes, len(runs) * args.replications), allow_large=args.allow_large)
    if args.out is not None:
        check_folder(args.out)
    rows = sweep(runs, args.replications, args.seed, processes, progress=not args.no_progress)
    text = to_csv(rows)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    from sim.figures import png
    from sim.figures.tradeoff import tradeoff

    name = runs[0][1].name
    figure = tradeoff(rows, keys, f"{name}: cost against p95 latency, one point per setting")

    write_files(args.out, {"sweep.csv": text, "tradeoff.png": png(figure)})
    sys.stderr.write(f"wrote sweep.csv, tradeoff.png to {args.out}\n")
    return 0
