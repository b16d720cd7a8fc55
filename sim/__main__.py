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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim import dynamics, metrics, narrate, scenario, sweep
from sim.config import ConfigError, Scenario
from sim.engine import Results, simulate


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2, like a config error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(scenario.shipped())
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
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a setting, e.g. --set gunicorn.workers=9 (repeatable)",
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
        help="also draw latency.png, layers.png and waterfall.png into --out",
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
    return top


def _load(args: argparse.Namespace) -> tuple[Scenario, int]:
    overrides = list(args.set)
    if getattr(args, "warmup", None) is not None:
        overrides.append(f"run.warmup={args.warmup!r}")
    if args.seed is not None and args.seed < 0:
        raise ConfigError("--seed", args.seed, "must be an integer >= 0")
    s, notes = scenario.load_noted(args.scenario, overrides)
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    return s, s.run.seed if args.seed is None else args.seed


def _run(args: argparse.Namespace) -> int:
    if args.replications < 1:
        raise ConfigError("--replications", args.replications, "must be an integer >= 1")
    if args.figures and args.out is None:
        raise ConfigError("--figures", True, "needs --out DIR to write the figures into")
    s, seed = _load(args)
    if args.out is not None:
        metrics.check_folder(args.out)
    reps = range(args.replications)
    if args.progress:
        from tqdm import tqdm

        reps = tqdm(reps, desc=s.name, unit="run", file=sys.stderr)
    results: list[Results] = []
    summaries = []
    over_time = []  # scenarios with [traffic], [asg], ... also give a time series
    for i in reps:
        if dynamics.is_dynamic(s):
            over_time.append(dynamics.simulate_over_time(s, seed, replication=i))
            r = over_time[-1].results
        else:
            r = simulate(s, seed, replication=i)
        summaries.append(metrics.summary(r))
        results.append(r if args.out is not None else Results(s, seed, [], r.window))
    document = metrics.combine(summaries, s.name, seed)
    text = metrics.format_summary(document)
    files: dict[str, str | bytes] = {}
    if args.out is not None:
        files["summary.json"] = metrics.to_json(document)
        files["summary.txt"] = text
        if len(results) == 1:
            files["records.csv"] = metrics.rows_to_csv(results[0].rows)
        else:
            files["records.csv"] = "".join(
                metrics.rows_to_csv(r.rows, replication=i)
                if i == 0
                else metrics.rows_to_csv(r.rows, replication=i).split("\n", 1)[1]
                for i, r in enumerate(results)
            )
        if args.figures:
            files.update(_figures(results[0], summaries[0]))
        if over_time:
            files.update(dynamics.files(over_time[0], figures=args.figures))
    if files:
        metrics.write_files(args.out, files)
    sys.stdout.write(metrics.to_json(document) if args.json else text)
    if over_time and not args.json:
        sys.stdout.write(dynamics.describe(over_time[0]))
    if files:
        sys.stderr.write(f"wrote {', '.join(files)} to {args.out}\n")
    return 0


def _figures(results: Results, summary: dict) -> dict[str, bytes]:
    from sim import plots

    s = results.scenario
    typical = narrate.pick(results.rows, "typical", results.window)
    figures = {
        "latency.png": plots.latency_distribution(
            results.rows, results.window, f"{s.name}: end-to-end latency"
        ),
        "layers.png": plots.layer_breakdown(summary, f"{s.name}: where the time goes, by layer"),
    }
    if typical is not None:
        figures["waterfall.png"] = plots.waterfall(
            results.rows, typical, f"{s.name}: a typical request (request {typical})"
        )
    return {name: plots.png(fig) for name, fig in figures.items()}


def _trace(args: argparse.Namespace) -> int:
    s, seed = _load(args)
    # A scenario with [traffic], [asg], ... runs over time, as `run` does: its crash or its
    # window of 503s happens only there.
    if dynamics.is_dynamic(s):
        r = dynamics.simulate_over_time(s, seed).results
    else:
        r = simulate(s, seed)
    rid = narrate.pick(r.rows, args.pick, r.window)
    if rid is None:
        raise ConfigError("--pick", args.pick, "no such request in this run; try --pick typical")
    why = {
        "typical": ", a typical one (median end-to-end time of the successful requests)",
        "first": ", the very first (empty browser, OS and resolver caches)",
        "slowest": ", the slowest successful one",
        "error": ", the first that failed",
    }[args.pick]
    sys.stdout.write(narrate.narrate(r.rows, rid, s, why))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            names = scenario.shipped()
            width = max(map(len, names), default=0)
            for name in names:
                sys.stdout.write(f"{name:<{width}}  {scenario.load(name).description}\n")
            return 0
        if args.command == "sweep":
            return sweep.main(args)
        return _run(args) if args.command == "run" else _trace(args)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
