"""The fluid engine checked against an ensemble of discrete-event runs, scenario by scenario.

Think of calibrating a quick field test against the laboratory: the laboratory repeats its
own measurement a few times, and the field test passes when it lands where the repeats land,
not on one of them by luck. One discrete-event run is such a single measurement: on a
scenario whose alarms sit near their threshold, two seeds part by more than the targets
allow. So each scenario runs once on the fluid engine (its own seed) and ``K`` times on the
discrete-event engine (seeds ``seed``, ``seed + 1``, ..., ``seed + K - 1``), and the fluid run
is measured against the ensemble:

- **CPU**: the root mean square difference, per minute, between the fluid run's fleet CPU
  (``cpu_mean``, the line the scaling alarms read) and the mean in that minute of the
  ensemble's runs that took the fluid run's *path* (the same changes of desired capacity at
  the same minutes), or of the whole ensemble when none or all of them did, in percentage
  points (target: :data:`CPU_POINTS`). A fork is a coin flip: an alarm's datapoint that lands
  on its threshold decides in one run and not in the next, the fleets part, and every minute
  after reads a different CPU. The whole ensemble's mean is then a blend of paths that no run
  follows, and one run, of either engine, misses it by the width of the fork. Whether the
  fluid run's changes fall where the ensemble's do is the scaling measure's question; the
  CPU measure asks whether, on the same path, the fleet reads the same CPU (its distance to
  the whole ensemble is printed beside it);
- **scaling**: the desired capacity while the traffic runs (to ``run.duration``; in the drain
  after it the alarms read an idle fleet) against the *band* of the ensemble.
  Each discrete-event run allows, at time ``t``, its own capacity at ``t`` and, for each of
  its changes ``old -> new`` at ``t_c`` caused by an alarm evaluated over ``T`` (period x
  evaluation periods), ``old`` and ``new`` while ``|t - t_c| <= T``. The band at ``t`` runs
  from the lowest to the highest capacity any run allows. The fluid run meets the target
  when its capacity never leaves the band (the table gives the minutes it spends outside).
  Against one discrete-event run this asks every change to go to the same capacity within
  one evaluation of its alarm; against several, a change some seeds make and others do not,
  or a level some reach and others do not, is within the spread;
- **latency**: p50 and p95 per time-series window against the ensemble's mean in that
  window, where the fleet is not saturated (no error in any run, the fluid run not saturated,
  at least :data:`MIN_REQUESTS` successful requests in every discrete-event run): the share
  of windows within :data:`LATENCY_TOLERANCE` (target: :data:`LATENCY_SHARE`);
- **errors**: the measured window's error total within :data:`ERROR_TOLERANCE` of the
  ensemble's mean (or both under :data:`ERROR_FLOOR` of the requests).

The noise floor: every discrete-event run is measured the same way against the other
``K - 1`` (their mean, their band), so the table shows how far one seed alone lands from the
rest. A target that the discrete-event runs themselves miss is below what one run can tell.

Data flow: the command line (``sim/cli.py``, ``validate-fluid``: it may load scenarios and
run them, this module may not) sends one job per (scenario, engine, seed) to worker
processes; each runs the scenario and keeps only its :func:`trace`, a :class:`Trace`
(per-minute CPU, capacity changes, windows, totals: small enough to send back);
:func:`compare` turns one fluid trace and the ensemble's traces into a :class:`Comparison`;
:func:`document` writes the text of ``sim/FLUID.md``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from sim.results import Result

#: The shipped scenarios over time, each a lesson the fluid engine must tell too.
SCENARIOS = (
    "weekday",
    "flash_crowd",
    "instance_failure",
    "scale_in_too_early",
    "slow_queries",
    "too_many_workers",
)
#: Discrete-event runs per scenario: enough for a mean and a spread, few enough that the
#: command takes a couple of minutes on two cores.
SEEDS = 5
CPU_POINTS = 5.0
LATENCY_TOLERANCE = 0.25
LATENCY_SHARE = 0.9
ERROR_TOLERANCE = 0.25
ERROR_FLOOR = 0.001
MIN_REQUESTS = 100


class Change(NamedTuple):
    """A change of desired capacity, and the evaluation time of the alarm that caused it."""

    t: float
    old: int
    new: int
    tolerance: float


class Row(NamedTuple):
    """One time-series window of a run, as the latency measure reads it."""

    p50: float
    p95: float
    completed: float
    errors: float
    saturated: bool


@dataclass(frozen=True)
class Trace:
    """What the comparison reads from one run (picklable, a few kilobytes)."""

    engine: str
    seed: int
    cpu: dict[int, float]
    #: desired capacity at t = 0; None without an auto-scaling group
    start: int | None
    changes: tuple[Change, ...]
    #: the measured window's time-series rows, by the time their window ends
    windows: dict[float, Row]
    #: the end of the traffic (``run.duration``): capacity is compared up to here (in the
    #: drain after it the alarms read an idle fleet)
    horizon: float
    errors: int
    requests: int
    warnings: tuple[str, ...]


def _minutes(table: list[dict[str, Any]]) -> dict[int, float]:
    """The fleet's CPU per minute (the mean of the periods ending in it)."""
    out: dict[int, list[float]] = {}
    for row in table:
        v = row.get("cpu_mean", math.nan)
        if _nan(v):
            continue
        out.setdefault(math.ceil(row["t"] / 60.0 - 1e-9), []).append(float(v))
    return {k: float(np.mean(v)) for k, v in out.items()}


def _changes(result: Result) -> tuple[int | None, tuple[Change, ...]]:
    """The desired capacity at the start and every change of it."""
    group = result.scenario.asg
    start = None
    out = []
    for a in result.log.activities:
        if a.kind != "desired":
            continue
        first = re.match(r"start at (\d+)", a.detail)
        if first is not None:
            start = int(first.group(1))
            continue
        m = re.match(r"(\d+) -> (\d+) \(([^ )]+)", a.detail)
        if m is None:
            continue
        name = m.group(3)
        if name.startswith("tt"):
            p = group.policies[int(name[2:].split("-")[0])]
            periods = p.high_periods if name.endswith("high") else p.low_periods
            tolerance = 60.0 * periods
        elif name.startswith("p"):
            spec = group.policies[int(name[1:].split("-")[0])]
            tolerance = spec.period * spec.evaluation_periods
        else:
            tolerance = 60.0
        out.append(Change(a.t, int(m.group(1)), int(m.group(2)), tolerance))
    return start, tuple(out)


def trace(result: Result) -> Trace:
    """The parts of ``result`` (either engine) that :func:`compare` reads."""
    start, end = result.run.window
    windows = {}
    for row in result.table:
        if not start < row["t"] <= end:
            continue
        errors = sum(round(row[k]) for k in row if k.startswith("errors_"))
        windows[round(row["t"], 6)] = Row(
            float(row["p50"]),
            float(row["p95"]),
            float(row.get("completed", 0)),
            float(errors),
            bool(row.get("saturated", 0)),
        )
    first, changes = _changes(result)
    requests = result.summary["requests"]
    return Trace(
        engine=result.engine,
        seed=result.seed,
        cpu=_minutes(result.table),
        start=first,
        changes=changes,
        windows=windows,
        horizon=result.scenario.run.duration,
        errors=int(requests["errors"]),
        requests=int(requests["arrived"]),
        warnings=tuple(getattr(result.runs[0], "warnings", ())),
    )


def _scaling(t: Trace) -> tuple[Change, ...]:
    """The changes made while the traffic runs."""
    return tuple(c for c in t.changes if c.t <= t.horizon)


def _as_trace(x: Trace | Result) -> Trace:
    return x if isinstance(x, Trace) else trace(x)


# --- the measures: one run against a reference of one or more others ---------------------


def _path(t: Trace) -> tuple:
    """The desired capacity's course while the traffic runs: the changes and their minutes."""
    return t.start, tuple((round(c.t / 60.0), c.old, c.new) for c in _scaling(t))


def same_path(run: Trace, ref: Sequence[Trace]) -> list[Trace]:
    """The runs of ``ref`` that took ``run``'s path; all of ``ref`` when none did."""
    mine = _path(run)
    return [r for r in ref if _path(r) == mine] or list(ref)


def _cpu_rmse(run: Trace, ref: Sequence[Trace]) -> float:
    minutes = sorted(set(run.cpu).intersection(*(r.cpu for r in ref)))
    if not minutes:
        return math.nan
    mean = np.mean([[r.cpu[k] for k in minutes] for r in ref], axis=0)
    return float(np.sqrt(np.mean((np.array([run.cpu[k] for k in minutes]) - mean) ** 2)))


def _capacity(run: Trace, t: float) -> int:
    level = run.start or 0
    for c in _scaling(run):
        if c.t <= t:
            level = c.new
    return level


def _outside(run: Trace, ref: Sequence[Trace]) -> float:
    """Seconds during which ``run``'s desired capacity lies outside the band of ``ref``."""
    if run.start is None or any(r.start is None for r in ref):
        return 0.0
    edges = {0.0, run.horizon, *(c.t for c in _scaling(run))}
    for r in ref:
        for c in _scaling(r):
            edges.update((c.t, c.t - c.tolerance, c.t + c.tolerance))
    points = sorted(e for e in edges if 0.0 <= e <= run.horizon)
    out = 0.0
    for a, b in itertools.pairwise(points):
        t = (a + b) / 2
        low = high = None
        for r in ref:
            level = _capacity(r, t)
            lo = hi = level
            for c in _scaling(r):
                if abs(t - c.t) <= c.tolerance:
                    lo, hi = min(lo, c.old, c.new), max(hi, c.old, c.new)
            low = lo if low is None else min(low, lo)
            high = hi if high is None else max(high, hi)
        if not low <= _capacity(run, t) <= high:
            out += b - a
    return out


def _windows(runs: Sequence[Trace]) -> list[float]:
    """The windows where the fleet is not saturated in any of ``runs`` (see the docstring)."""
    keys = set.intersection(*(set(r.windows) for r in runs))
    out = []
    for k in sorted(keys):
        rows = [r.windows[k] for r in runs]
        if any(row.errors or row.saturated or _nan(row.p50) or _nan(row.p95) for row in rows):
            continue
        if any(row.completed < MIN_REQUESTS for r, row in zip(runs, rows, strict=True)
               if r.engine == "des"):  # fmt: skip
            continue
        out.append(k)
    return out


def _offsets(run: Trace, ref: Sequence[Trace], keys: list[float], p: str) -> np.ndarray:
    """``|run - mean(ref)| / mean(ref)`` of percentile ``p`` in each window of ``keys``."""
    mine = np.array([getattr(run.windows[k], p) for k in keys])
    mean = np.mean([[getattr(r.windows[k], p) for k in keys] for r in ref], axis=0)
    return np.abs(mine - mean) / mean


def _share(offsets: np.ndarray) -> float:
    return float(np.mean(offsets <= LATENCY_TOLERANCE)) if len(offsets) else math.nan


def _errors_ok(run: Trace, ref: Sequence[Trace]) -> tuple[bool, float]:
    """Whether ``run``'s error total is within tolerance of ``ref``'s mean, and how far off."""
    mean = float(np.mean([r.errors for r in ref]))
    floor = ERROR_FLOOR * float(np.mean([r.requests for r in ref]))
    if mean <= floor and run.errors <= floor:
        return True, 0.0
    off = abs(run.errors - mean) / mean if mean > 0 else math.inf
    return off <= ERROR_TOLERANCE, off


@dataclass
class Measures:
    """One run measured against a reference (the ensemble, or the other seeds)."""

    #: against the runs of the reference on the same path (see the docstring) ...
    cpu_rmse: float
    #: ... and how many they are; against the whole reference
    cpu_runs: int
    cpu_rmse_all: float
    outside_s: float
    p50_share: float
    p95_share: float
    errors_ok: bool
    errors_off: float

    @property
    def cpu_ok(self) -> bool:
        return self.cpu_rmse <= CPU_POINTS

    @property
    def changes_ok(self) -> bool:
        return self.outside_s <= 1e-6

    @property
    def latency_ok(self) -> bool:
        shares = (self.p50_share, self.p95_share)
        return any(map(_nan, shares)) or min(shares) >= LATENCY_SHARE

    @property
    def met(self) -> int:
        return sum((self.cpu_ok, self.changes_ok, self.latency_ok, self.errors_ok))


def _measure(run: Trace, ref: Sequence[Trace], keys: list[float]) -> Measures:
    ok, off = _errors_ok(run, ref)
    path = same_path(run, ref)
    return Measures(
        cpu_rmse=_cpu_rmse(run, path),
        cpu_runs=len(path),
        cpu_rmse_all=_cpu_rmse(run, ref),
        outside_s=_outside(run, ref),
        p50_share=_share(_offsets(run, ref, keys, "p50")),
        p95_share=_share(_offsets(run, ref, keys, "p95")),
        errors_ok=ok,
        errors_off=off,
    )


@dataclass
class Comparison:
    """One scenario: the fluid run against the ensemble, and each discrete-event run against
    the others (``spread``, empty with one discrete-event run)."""

    scenario: str
    fluid: Trace
    des: list[Trace]
    measures: Measures
    #: the windows compared for latency (their end times)
    keys: list[float]
    p50_median: float
    p95_median: float
    spread: list[Measures]

    @property
    def cpu_rmse(self) -> float:
        return self.measures.cpu_rmse

    @property
    def p50_share(self) -> float:
        return self.measures.p50_share

    @property
    def p95_share(self) -> float:
        return self.measures.p95_share

    @property
    def windows(self) -> int:
        return len(self.keys)

    @property
    def outside_min(self) -> float:
        return self.measures.outside_s / 60.0

    @property
    def errors_mean(self) -> float:
        return float(np.mean([d.errors for d in self.des]))


def compare(name: str, fluid: Trace | Result, des: Sequence[Trace | Result]) -> Comparison:
    """The fluid run of scenario ``name`` against discrete-event runs of the same scenario."""
    f = _as_trace(fluid)
    ds = [_as_trace(d) for d in des]
    keys = _windows([f, *ds])
    spread = []
    if len(ds) > 1:
        for i, d in enumerate(ds):
            spread.append(_measure(d, ds[:i] + ds[i + 1 :], keys))

    def median(p: str) -> float:
        return float(np.median(_offsets(f, ds, keys, p))) if keys else math.nan

    return Comparison(
        scenario=name,
        fluid=f,
        des=ds,
        measures=_measure(f, ds, keys),
        keys=keys,
        p50_median=median("p50"),
        p95_median=median("p95"),
        spread=spread,
    )


# --- the table --------------------------------------------------------------------------------


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _span(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else (
        f"{fmt.format(low)}-{fmt.format(high)}")  # fmt: skip


def _pct(x: float) -> str:
    return "-" if _nan(x) else f"{x * 100:.0f} %"


def _floor(c: Comparison) -> str:
    """The noise-floor cell: each discrete-event run against the others."""
    s, k = c.spread, len(c.spread)
    if not s:
        return "-"
    inside = sum(m.changes_ok for m in s)
    worst = max(m.outside_s for m in s) / 60.0
    band = f"{inside} of {k} in the band" + (f" (worst {worst:.0f} min out)" if inside < k else "")
    latency = (f"{_pct(min(m.p50_share for m in s))} / {_pct(min(m.p95_share for m in s))}"
               if c.windows else "-")  # fmt: skip
    off = max(m.errors_off for m in s)
    errors = "both under 0.1 %" if off == 0 else f"up to {off * 100:.0f} % off"
    met = sum(m.met == 4 for m in s)
    return (f"{_span([m.cpu_rmse for m in s])}; {band}; {latency}; {errors};"
            f" {met} of {k} meet all four")  # fmt: skip


def _cpu_cell(m: Measures, k: int) -> str:
    """The CPU cell: against the runs on the same path, and against all when they are fewer."""
    cell = f"{m.cpu_rmse:.1f} {_mark(m.cpu_ok)}"
    if m.cpu_runs < k:
        runs = "1 run" if m.cpu_runs == 1 else f"{m.cpu_runs} runs"
        cell += f" ({runs} on its path; {m.cpu_rmse_all:.1f} against all {k})"
    return cell


def markdown(rows: list[Comparison]) -> str:
    """The table ``sim/FLUID.md`` keeps, and one note per scenario on its scaling and on what
    the fluid run warned about."""
    k = len(rows[0].des) if rows else SEEDS
    head = (
        f"| scenario | CPU RMSE (points) | desired capacity: changes fluid / DES, fluid outside"
        f" the band | p50 within 25 % | p95 within 25 % | windows | errors fluid / DES mean"
        f" (range) | targets met | one DES seed against the other {k - 1}: CPU RMSE; in the"
        f" band; p50 / p95 within 25 % (lowest); errors; seeds meeting all four |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for c in rows:
        counts = _span([len(_scaling(d)) for d in c.des], "{:.0f}")
        shares = (
            (f"{_pct(c.p50_share)} (median {c.p50_median * 100:.0f} % off)",
             f"{_pct(c.p95_share)} (median {c.p95_median * 100:.0f} % off)")
            if c.windows else ("-", "-")
        )  # fmt: skip
        errors = [d.errors for d in c.des]
        m = c.measures
        lines.append(
            f"| {c.scenario} | {_cpu_cell(m, len(c.des))} |"
            f" {len(_scaling(c.fluid))} / {counts}, {c.outside_min:.0f} min {_mark(m.changes_ok)} |"
            f" {shares[0]} | {shares[1]} | {c.windows} |"
            f" {c.fluid.errors} / {c.errors_mean:.0f} ({_span(errors, '{:.0f}')})"
            f" {_mark(m.errors_ok)} | {m.met} of 4 | {_floor(c)} |"
        )
    notes = []
    for c in rows:
        notes.append(
            f"- **{c.scenario}**: desired capacity, fluid (seed {c.fluid.seed}):"
            f" {_moves(c.fluid)}; DES: {_by_seed(c.des)}."
        )
        notes.extend(_misses(c))
        for w in c.fluid.warnings:
            notes.append(f"  The fluid run warns: {w}.")
    return head + "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _misses(c: Comparison, most: int = 3) -> list[str]:
    """A note per percentile on the windows where the fluid run is more than the tolerance
    off the ensemble's mean, with the discrete-event runs' own spread there."""
    out = []
    for p in ("p50", "p95"):
        off = _offsets(c.fluid, c.des, c.keys, p) if c.keys else np.array([])
        missed = [k for k, o in zip(c.keys, off, strict=True) if o > LATENCY_TOLERANCE]
        if not missed:
            continue
        parts = []
        for k in missed[:most]:
            d = [getattr(r.windows[k], p) * 1000 for r in c.des]
            f = getattr(c.fluid.windows[k], p) * 1000
            parts.append(
                f"the window ending at {k:g} s: fluid {f:.0f} ms,"
                f" DES {_span(d, '{:.0f}')} ms (mean {np.mean(d):.0f} ms)"
            )
        more = f" and {len(missed) - most} more" if len(missed) > most else ""
        out.append(f"  {p} more than 25 % off the mean: {'; '.join(parts)}{more}.")
    return out


def _moves(t: Trace) -> str:
    return (
        ", ".join(
            f"{c.t / 60:.0f} min {c.old}->{c.new}{' (drain)' if c.t > t.horizon else ''}"
            for c in t.changes
        )
        or "none"
    )


def _by_seed(traces: Sequence[Trace]) -> str:
    """Each seed's changes; seeds with the same ones share a line."""
    groups: dict[str, list[int]] = {}
    for t in traces:
        groups.setdefault(_moves(t), []).append(t.seed)
    return "; ".join(
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}: {moves}"
        for moves, seeds in groups.items()
    )


HEADER = """# The fluid engine against the discrete-event engine

Generated by `python -m sim validate-fluid --out sim/FLUID.md`: do not edit by hand
(`tests/sim_dynamics/test_fluid.py` checks that the command reproduces it). Every shipped
scenario over time, run once by the fluid engine with its own seed and {k} times by the
discrete-event engine (DES) with seeds {seeds}. One discrete-event run is one draw: on a
scenario whose alarms sit near their threshold two draws part by more than the targets allow,
so the fluid run is held to the ensemble, not to one draw.

Targets: CPU per minute within 5 points of the mean of the DES runs on the fluid run's path
(RMSE; the path: the same changes of desired capacity at the same minutes; all the DES runs
when none took it, and the distance to all of them beside it otherwise); the desired capacity
within the ensemble's band while the traffic runs; p50 and p95 within 25 % of the ensemble's
mean in at least 90 % of the windows where the fleet is not saturated (at least 100
successful requests in every DES run, no error in any run, the fluid run not saturated); the
error total within 25 % of the ensemble's mean (or all under 0.1 % of the requests).

The band: each DES run allows, at time t, its own desired capacity and, for each of its
changes old -> new at t_c caused by an alarm evaluated over T (period x evaluation periods),
both old and new while |t - t_c| <= T; the band at t runs from the lowest to the highest
capacity any DES run allows. So a fluid change counts when it falls within one evaluation of
a DES seed's change to the same capacity, and a change or a level that some seeds reach and
others do not is within the spread. The column gives the fluid run's changes, the DES runs'
(fewest-most) and the minutes the fluid run spends outside the band (the target: none), up to
`run.duration`: in the drain after it the alarms read an idle fleet (the notes list the
changes made there, marked "drain", but they are not compared).

Why CPU on the path: where an alarm's datapoint lands on its threshold, it decides in one run
and not in the next, the fleets part, and every minute after reads a different CPU. The mean
of all the runs is then a blend of paths that no run follows, and any one run, of either
engine, misses it by the width of the fork. Whether the fluid run's changes fall where the
DES runs' do is the band's question; the CPU target asks whether, on the same path, the fleet
reads the same CPU.

The last column is the noise floor: each DES run measured the same way against the other
{k_1} (their mean, their band; a mean of {k_1} scatters a little more than one of {k}), the
range over the {k} runs, and how many of them meet all four targets. Where the DES runs miss a
target against their own siblings, one run cannot be held to it. The notes under the table
give every run's changes of capacity and the windows where the fluid run's p50 or p95 is more
than 25 % off the mean. Why a scenario misses: `sim/README.md`, "Long horizons".

"""


def document(rows: list[Comparison]) -> str:
    """``sim/FLUID.md``: the header, the table and the notes."""
    k = len(rows[0].des) if rows else SEEDS
    firsts = {r.des[0].seed for r in rows}
    if len(firsts) == 1 and k > 1:
        seeds = f"{min(firsts)} to {min(firsts) + k - 1}"
    else:
        seeds = "run.seed onwards"
    return HEADER.format(k=k, k_1=k - 1, seeds=seeds) + markdown(rows)
