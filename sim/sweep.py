"""Parameter sweeps: every combination of a few settings, several seeds each, on a Dask cluster.

Think of a taste test: five recipes, each cooked three times, every plate scored on the same
card (latency percentiles, error rate, cost), and at the end one chart of price against
quality with a dot per recipe. ``--vary asg.max=2,4,6 --vary gunicorn.workers=3,5,9`` is
nine recipes; ``--replications 3`` cooks each three times with seeds 0, 1, 2 of the
scenario's seed (the same seeds for every recipe, so differences are the recipe's, not luck's).

Runs are tasks on dask.distributed: a local cluster of ``--processes`` worker processes by
default (nothing to set up), or a team's cluster by ``--scheduler tcp://HOST:8786`` (its
workers need this project installed, the same version). Each task depends only on its
scenario, seed and replication, and rows are sorted by (setting, replication) before they are
written, so the table is identical whatever the cluster. A task that fails is retried once;
if it fails again its setting is reported in one line on stderr, the rows that succeeded are
still written (a long sweep keeps what it computed) and the exit status is 1. A bad input, an
unknown engine or a scheduler that cannot be reached is one line, exit status 2, and nothing
is written. ``--engine fluid`` makes a week of a scaling policy a matter of seconds per task.
Cost is instance-hours (launch to termination).

Flow: scenario + ``--vary`` lists -> validated scenarios (all of them, before any run) ->
Dask tasks (tqdm progress) -> one row per run (``statistics.outline``) -> CSV -> the trade-off
figure (``sim/figures/tradeoff.py``).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import math
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim import loader
from sim.config import ConfigError, Scenario
from sim.config.checks import MAX_REPLICATIONS, MAX_SEED, check_int
from sim.engine import check_engine, simulate
from sim.engine.fluid import FluidRun, unsupported
from sim.engine.size import check_size
from sim.results import fluid
from sim.results.files import check_folder, write_files
from sim.results.statistics import outline

#: The most runs (settings x replications) and processes one sweep takes.
MAX_RUNS = 10_000
MAX_PROCESSES = 256
#: How to get Dask when it is missing (an extra of the project, in ``dev`` too).
INSTALL = "pip install 'quorum-path[sweeps]'"
#: How long to try reaching a scheduler given by address.
CONNECT_TIMEOUT_S = 5


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


Job = tuple[int, int, Scenario, int, str]


def run_one(job: Job) -> tuple[int, int, dict[str, Any]]:
    """One run of setting ``i``, replication ``r``: its row of statistics (a task)."""
    i, r, s, seed, engine = job
    run = simulate(s, seed, replication=r, engine=engine)
    return i, r, fluid.outline(run) if isinstance(run, FluidRun) else outline(run)


@dataclass
class Outcome:
    """A sweep's rows (sorted) and the runs that failed twice: ``(setting, replication,
    why)``."""

    rows: list[dict[str, Any]]
    failed: list[tuple[int, int, str]] = field(default_factory=list)


def jobs_of(
    runs: list[tuple[dict[str, Any], Scenario]],
    replications: int,
    seed: int | None = None,
    engine: str = "des",
) -> list[Job]:
    """One task per setting and replication, each with its seed."""
    return [
        (i, r, s, s.run.seed if seed is None else seed, engine)
        for i, (_, s) in enumerate(runs)
        for r in range(replications)
    ]


def sweep(
    runs: list[tuple[dict[str, Any], Scenario]],
    replications: int,
    seed: int | None = None,
    processes: int = 1,
    progress: bool = False,
    engine: str = "des",
    client: Any = None,
) -> list[dict[str, Any]]:
    """Run every setting ``replications`` times; one row per run, sorted by (setting,
    replication). On the Dask ``client`` when given (:func:`run_sweep`), else in this process
    or, with ``processes`` > 1, in a pool of local processes (no Dask needed). A run that
    fails raises."""
    if client is not None or processes <= 1:
        outcome = run_sweep(runs, replications, seed, engine, client, progress)
        if outcome.failed:
            i, r, why = outcome.failed[0]
            raise RuntimeError(f"setting {i} replication {r} failed: {why}")
        return outcome.rows
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    jobs = jobs_of(runs, replications, seed, engine)
    done = []
    # "spawn": fresh interpreters, so no lock held by a thread of this process (tqdm's
    # monitor, say) is copied into a process half-taken, as fork could.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        for future in as_completed([pool.submit(run_one, job) for job in jobs]):
            done.append(future.result())
    return _rows(runs, jobs, done)


def run_sweep(
    runs: list[tuple[dict[str, Any], Scenario]],
    replications: int,
    seed: int | None = None,
    engine: str = "des",
    client: Any = None,
    progress: bool = False,
) -> Outcome:
    """Run every setting ``replications`` times: in this process, or as tasks of the Dask
    ``client`` given (each retried once). The rows of the runs that succeeded, sorted by
    (setting, replication), and those that failed twice."""
    jobs = jobs_of(runs, replications, seed, engine)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="sweep", unit="run", file=sys.stderr)
    done: list[tuple[int, int, dict[str, Any]]] = []
    failed: list[tuple[int, int, str]] = []
    if client is None:
        for job in jobs:
            done.append(run_one(job))
            if bar is not None:
                bar.update()
    else:
        from dask.distributed import as_completed

        # pure=False: two tasks with equal arguments are still two runs; retries=1: a worker
        # lost or a run failing once gets a second chance.
        futures = {
            client.submit(run_one, job, pure=False, retries=1): (job[0], job[1]) for job in jobs
        }
        for future in as_completed(futures):
            if future.status == "finished":
                done.append(future.result())
            else:
                exc = future.exception()
                i, r = futures[future]
                failed.append((i, r, f"{type(exc).__name__}: {exc}"))
            future.release()
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    return Outcome(_rows(runs, jobs, done), sorted(failed))


def _rows(runs, jobs: list[Job], done) -> list[dict[str, Any]]:
    done = sorted(done, key=lambda x: (x[0], x[1]))
    seeds = {(i, r): sd for i, r, _, sd, _ in jobs}
    rows = []
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
                   help="processes of the local Dask cluster (default: one per CPU)")  # fmt: skip
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="an existing Dask cluster instead, e.g. tcp://HOST:8786")  # fmt: skip
    p.add_argument("--out", type=Path, metavar="DIR", help="write sweep.csv and tradeoff.png here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _client(processes: int, scheduler: str | None):
    """A Dask client: on the scheduler at ``scheduler``, or on a new local cluster of
    ``processes`` single-threaded worker processes (the model holds the GIL: threads would
    not run in parallel). Raises ConfigError in one line when Dask is missing or the
    scheduler cannot be reached."""
    try:
        import logging

        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "--scheduler" if scheduler else "--processes",
            scheduler or processes,
            f"sweeps run on dask.distributed, which is not installed: {INSTALL}",
        ) from None
    if scheduler is not None:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                "--scheduler",
                scheduler,
                f"cannot be reached ({why}); allowed: the address"
                " of a running Dask scheduler, e.g. tcp://HOST:8786",
            ) from None
    cluster = LocalCluster(
        n_workers=processes,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return Client(cluster)


def main(args: argparse.Namespace) -> int:
    import os

    check_int("--replications", args.replications, maximum=MAX_REPLICATIONS)
    if args.processes is not None and args.scheduler is not None:
        raise ConfigError("--processes", args.processes, "goes with a local cluster, not with"
                          " --scheduler (the cluster has its own workers)")  # fmt: skip
    processes = args.processes if args.processes is not None else (os.cpu_count() or 1)
    check_int("--processes", processes, maximum=MAX_PROCESSES)
    if args.seed is not None:
        check_int("--seed", args.seed, minimum=0, maximum=MAX_SEED)
    check_engine(args.engine)
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
    if args.engine == "fluid":
        for _, s in runs:
            why = unsupported(s)
            if why:
                raise ConfigError("--engine", "fluid", why)
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    for _, s in runs:  # each process holds one run at a time
        if args.engine == "des":
            at_once = min(processes, len(runs) * args.replications)
            check_size(s, at_once, allow_large=args.allow_large)
    if args.out is not None:
        check_folder(args.out)
    client = _client(processes, args.scheduler)
    try:
        outcome = run_sweep(
            runs, args.replications, args.seed, args.engine, client, not args.no_progress
        )
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None and args.scheduler is None:
            cluster.close()
    for i, r, why in outcome.failed:
        shown = ", ".join(f"{k}={_toml(v)}" for k, v in runs[i][0].items())
        sys.stderr.write(f"error: setting {i} ({shown}) replication {r} failed twice: {why}\n")
    status = 1 if outcome.failed else 0
    if not outcome.rows:
        return status
    text = to_csv(outcome.rows)
    if args.out is None:
        sys.stdout.write(text)
        return status
    from sim.figures import png
    from sim.figures.tradeoff import tradeoff

    name = runs[0][1].name
    figure = tradeoff(
        outcome.rows, keys, f"{name}: cost against p95 latency, one point per setting"
    )

    write_files(args.out, {"sweep.csv": text, "tradeoff.png": png(figure)})
    sys.stderr.write(f"wrote sweep.csv, tradeoff.png to {args.out}\n")
    return status
