"""The command line: ``python -m sim run|trace|sweep|list``, with ``--help`` everywhere.

Think of a lab bench's front panel: a few labelled knobs (``--seed``, ``--set``,
``--replications``), one switch to start (``run``), one to watch a single sample go through
(``trace``), and a panel that refuses an impossible setting with a one-line reason before
anything moves. Every setting is validated, every run finished and every figure drawn before
the first file is written to ``--out`` (each file written atomically), so a bad input leaves
nothing behind; ``--out`` itself is checked first (a file, or a folder that cannot be written,
is refused before the run), and a write that fails anyway removes what it made. Errors: one
line on stderr starting ``error:``, exit status 2.

    python -m sim run baseline --replications 5 --out out/baseline --figures
    python -m sim run mm_c --set arrivals.rate=4.5 --json
    python -m sim trace baseline --pick first
    python -m sim sweep weekday --vary asg.max=2,4,6 --replications 3 --out out/sweep
    python -m sim run weekday --engine fluid --set run.duration=604800   # a week, in seconds
    python -m sim validate-fluid --out sim/FLUID.md
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import sim
from sim import loader, sweep
from sim.config import ConfigError, Scenario
from sim.config.checks import MAX_REPLICATIONS, MAX_SEED, check_int
from sim.engine import check_engine, size
from sim.results import files, fluid, narrate, validation


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2, like a config error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(loader.shipped())
    top = _Parser(
        prog="python -m sim",
        description="A SimPy model of the request path of quorum.us: DNS, the load balancer,"
        " nginx, Gunicorn, Django and PostgreSQL.",
    )
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("scenario", help=f"a shipped scenario ({names}) or a path to a .toml file")
        p.add_argument("--seed", type=int, help="random seed (default: the scenario's run.seed)")
        p.add_argument(
            "--engine",
            default="des",
            metavar="ENGINE",
            help="des: every request an event (default); fluid: requests as flows, for days"
            " and weeks (no per-request records)",
        )
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a setting, e.g. --set gunicorn.workers=9 (repeatable)",
        )
        p.add_argument(
            "--allow-large",
            action="store_true",
            help="run even when the run is expected to need more than half of this"
            " machine's memory",
        )

    run = sub.add_parser("run", help="simulate a scenario and summarise it")
    common(run)
    run.add_argument(
        "--replications",
        type=int,
        default=1,
        metavar="R",
        help="independent runs; R > 1 gives means with 95%% confidence intervals",
    )
    run.add_argument(
        "--warmup",
        type=float,
        metavar="SECONDS",
        help="discard requests arriving earlier (default: the scenario's run.warmup)",
    )
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write summary.json, summary.txt and records.csv (and figures) here",
    )
    run.add_argument("--json", action="store_true", help="print the JSON summary, not the text")
    run.add_argument(
        "--figures",
        action="store_true",
        help="also draw latency.png, layers.png and waterfall.png into --out (fluid:"
        " layers.png; over time also dashboard.png)",
    )
    run.add_argument("--progress", action="store_true", help="show a progress bar on stderr")

    trace = sub.add_parser("trace", help="narrate one request hop by hop")
    common(trace)
    trace.add_argument(
        "--pick",
        choices=narrate.PICKS,
        default="typical",
        help="which request: typical (median latency; default), first (cold"
        " caches), slowest, error (the first that failed)",
    )

    sweeper = sub.add_parser(
        "sweep", help="run every combination of --vary settings in parallel; CSV and a figure"
    )
    common(sweeper)
    sweep.add_arguments(sweeper)

    sub.add_parser("list", help="list the shipped scenarios")

    check = sub.add_parser(
        "validate-fluid",
        help="run the shipped scenarios over time once on the fluid engine and --seeds times on"
        " the discrete-event engine, and compare (sim/FLUID.md)",
    )
    check.add_argument(
        "--scenario",
        action="append",
        choices=validation.SCENARIOS,
        metavar="NAME",
        help="only this scenario (repeatable; default: all of "
        + ", ".join(validation.SCENARIOS)
        + ")",
    )
    check.add_argument(
        "--seeds",
        type=int,
        default=validation.SEEDS,
        metavar="K",
        help="discrete-event runs per scenario, seeds run.seed to run.seed + K - 1"
        f" (default {validation.SEEDS}, what sim/FLUID.md keeps)",
    )
    check.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: one per CPU); the table does not depend on it",
    )
    check.add_argument("--out", type=Path, metavar="FILE", help="write the table here too")
    return top


def _load(args: argparse.Namespace) -> tuple[Scenario, int]:
    check_engine(args.engine)
    overrides = list(args.set)
    if getattr(args, "warmup", None) is not None:
        overrides.append(f"run.warmup={args.warmup!r}")
    if args.seed is not None:
        check_int("--seed", args.seed, minimum=0, maximum=MAX_SEED)
    s, notes = loader.load_noted(args.scenario, overrides)
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    return s, s.run.seed if args.seed is None else args.seed


def _validation_run(job: tuple[str, str, int]) -> tuple[tuple[str, str, int], validation.Trace]:
    """One run of ``validate-fluid`` (in a worker process): only its trace comes back."""
    name, engine, seed = job
    return job, validation.trace(sim.run(loader.load(name), seed, engine=engine))


def _validate(args: argparse.Namespace) -> int:
    check_int("--seeds", args.seeds, maximum=MAX_REPLICATIONS)
    processes = args.processes if args.processes is not None else (os.cpu_count() or 1)
    check_int("--processes", processes, maximum=sweep.MAX_PROCESSES)
    if args.out is not None:
        if args.out.is_dir():
            raise ConfigError("--out", str(args.out), "is a folder; allowed: a file")
        files.check_folder(args.out.parent)
    names = args.scenario or validation.SCENARIOS
    first = {n: loader.load(n).run.seed for n in names}
    # Each scenario once on the fluid engine and --seeds times on the discrete-event one.
    # The discrete-event runs first, weekday's (the longest) at the head, so that no process
    # is left with a long run at the end; each run is fixed by its seed, so the table does not
    # depend on the number of processes.
    jobs = [(n, "des", first[n] + i) for n in names for i in range(args.seeds)]
    jobs += [(n, "fluid", first[n]) for n in names]
    traces = {}
    left = {n: 1 + args.seeds for n in names}

    def keep(job, t) -> None:
        traces[job] = t
        left[job[0]] -= 1
        if left[job[0]] == 0:
            sys.stderr.write(f"compared {job[0]}\n")

    if processes <= 1:
        for job in jobs:
            keep(*_validation_run(job))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # "spawn", as in sweep.py: no lock of this process copied into a worker half-taken.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            for future in as_completed([pool.submit(_validation_run, job) for job in jobs]):
                keep(*future.result())
    rows = [
        validation.compare(
            n,
            traces[(n, "fluid", first[n])],
            [traces[(n, "des", first[n] + i)] for i in range(args.seeds)],
        )
        for n in names
    ]
    text = validation.document(rows)
    if args.out is not None:
        files.write_files(args.out.parent, {args.out.name: text})
        sys.stderr.write(f"wrote {args.out}\n")
    sys.stdout.write(text)
    return 0


def _run(args: argparse.Namespace) -> int:
    check_int("--replications", args.replications, maximum=MAX_REPLICATIONS)
    if args.figures and args.out is None:
        raise ConfigError("--figures", True, "needs --out DIR to write the figures into")
    s, seed = _load(args)
    if args.engine == "des":
        _check_size(s, args.replications, args.allow_large)
    if args.out is not None:
        files.check_folder(args.out)
    result = sim.run(
        s, seed, args.replications, progress=args.progress, allow_large=True, engine=args.engine
    )
    written: dict[str, str | bytes] = {}
    if args.out is not None:
        written.update(result.files())
        if args.figures:
            from sim.figures import run_figures

            written.update(run_figures(result))
        files.write_files(args.out, written)
    if args.json:
        sys.stdout.write(files.to_json(result.document))
    else:
        sys.stdout.write(result.text())
    if written:
        sys.stderr.write(f"wrote {', '.join(written)} to {args.out}\n")
    return 0


def _check_size(s: Scenario, replications: int, allow_large: bool) -> None:
    """Refuse a run too big for this machine (unless allowed); note a long one."""
    said = size.note(size.check_size(s, replications, allow_large=allow_large))
    if said:
        sys.stderr.write(f"note: {said}\n")


def _trace(args: argparse.Namespace) -> int:
    s, seed = _load(args)
    if args.engine == "fluid":
        raise ConfigError("--engine", "fluid", fluid.NO_RECORDS)
    _check_size(s, 1, args.allow_large)
    # A scenario with [traffic], [asg], ... runs over time, as `run` does: its crash or its
    # window of 503s happens only there.
    told = sim.run(s, seed, allow_large=True).trace(args.pick)
    if told is None:
        raise ConfigError("--pick", args.pick, "no such request in this run; try --pick typical")
    sys.stdout.write(told)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            names = loader.shipped()
            width = max(map(len, names), default=0)
            for name in names:
                sys.stdout.write(f"{name:<{width}}  {loader.load(name).description}\n")
            return 0
        if args.command == "sweep":
            return sweep.main(args)
        if args.command == "validate-fluid":
            return _validate(args)
        return _run(args) if args.command == "run" else _trace(args)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
