"""The fluid engine checked against the discrete-event engine, scenario by scenario.

Think of calibrating a quick field test against the laboratory: the same samples go through
both, and a table says where the quick test agrees within tolerance and where it does not.
:func:`compare` takes the two results of one scenario (same seed) and measures:

- **CPU**: the root mean square difference of the fleet's CPU (``cpu_mean``, the line the
  scaling alarms read) per minute, in percentage points (target: 5);
- **scaling**: every change of desired capacity in both runs, matched in order; a change
  matches when it goes to the same capacity within one evaluation of the alarm that caused it
  (its period x evaluation periods);
- **latency**: p50 and p95 per time-series window, where the fleet is not saturated (no
  error in the window in either run, the fluid run not saturated, and at least
  :data:`MIN_REQUESTS` successful requests in the discrete-event window): the share of
  windows within 25 % (target: :data:`LATENCY_SHARE`);
- **errors**: the measured window's error totals within 25 % (or both under 0.1 % of the
  requests).

:func:`markdown` writes the table ``sim/FLUID.md`` keeps (``python -m sim validate-fluid``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

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
CPU_POINTS = 5.0
LATENCY_TOLERANCE = 0.25
LATENCY_SHARE = 0.9
ERROR_TOLERANCE = 0.25
ERROR_FLOOR = 0.001
MIN_REQUESTS = 100


@dataclass
class Comparison:
    """One scenario's measures; ``passed`` names the targets met."""

    scenario: str
    cpu_rmse: float
    changes_des: list[tuple[float, int, int]]
    changes_fluid: list[tuple[float, int, int]]
    changes_ok: bool
    worst_offset_min: float
    windows: int
    p50_share: float
    p95_share: float
    p50_median: float
    p95_median: float
    errors_des: int
    errors_fluid: int
    requests: int
    warnings: list[str]
    #: the discrete-event engine against itself with the next seed: what noise alone gives
    ref_cpu_rmse: float = math.nan
    ref_changes: int = -1
    ref_changes_ok: bool = True
    ref_worst_offset_min: float = math.nan

    @property
    def cpu_ok(self) -> bool:
        return self.cpu_rmse <= CPU_POINTS

    @property
    def latency_ok(self) -> bool:
        return self.windows == 0 or min(self.p50_share, self.p95_share) >= LATENCY_SHARE

    @property
    def errors_ok(self) -> bool:
        d, f = self.errors_des, self.errors_fluid
        floor = ERROR_FLOOR * self.requests
        return (d <= floor and f <= floor) or abs(f - d) <= ERROR_TOLERANCE * d


def _minutes(table: list[dict[str, Any]]) -> dict[int, float]:
    """The fleet's CPU per minute (the mean of the periods ending in it)."""
    out: dict[int, list[float]] = {}
    for row in table:
        v = row.get("cpu_mean", math.nan)
        if isinstance(v, float) and math.isnan(v):
            continue
        out.setdefault(math.ceil(row["t"] / 60.0 - 1e-9), []).append(float(v))
    return {k: float(np.mean(v)) for k, v in out.items()}


def _changes(result: Result) -> list[tuple[float, int, int, float]]:
    """``(t, from, to, tolerance)`` for every change of desired capacity."""
    log = result.log
    out = []
    for a in log.activities:
        if a.kind != "desired" or "->" not in a.detail:
            continue
        m = re.match(r"(\d+) -> (\d+) \(([^ )]+)", a.detail)
        if m is None:
            continue
        spec = None
        group = result.scenario.asg
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
        out.append((a.t, int(m.group(1)), int(m.group(2)), tolerance))
    return out


def compare(name: str, des: Result, fluid: Result) -> Comparison:
    """The measures of one scenario's two runs (same scenario and seed)."""
    dmin, fmin = _minutes(des.table), _minutes(fluid.table)
    both = sorted(set(dmin) & set(fmin))
    diffs = np.array([dmin[k] - fmin[k] for k in both])
    rmse = float(np.sqrt(np.mean(diffs**2))) if both else math.nan

    dch, fch = _changes(des), _changes(fluid)
    ok = len(dch) == len(fch)
    worst = 0.0
    for (td, _, to_d, tol), (tf, _, to_f, _) in zip(dch, fch, strict=False):
        worst = max(worst, abs(td - tf) / 60.0)
        if to_d != to_f or abs(td - tf) > tol + 1e-9:
            ok = False

    start, end = des.run.window
    shares = {"p50": [], "p95": []}
    fluid_rows = {round(r["t"], 6): r for r in fluid.table}
    for row in des.table:
        if not start < row["t"] <= end:
            continue
        f = fluid_rows.get(round(row["t"], 6))
        if f is None or f.get("saturated", 0):
            continue
        errors = [k for k in row if k.startswith("errors_")]
        if any(row[k] for k in errors) or any(round(f.get(k, 0.0)) for k in errors):
            continue
        done = row.get("completed", 0)
        if done < MIN_REQUESTS or any(_nan(row[p]) or _nan(f[p]) for p in ("p50", "p95")):
            continue
        for p in ("p50", "p95"):
            shares[p].append(abs(f[p] - row[p]) / row[p])
    n = len(shares["p50"])

    def share(p: str) -> float:
        return float(np.mean(np.array(shares[p]) <= LATENCY_TOLERANCE)) if n else math.nan

    def median(p: str) -> float:
        return float(np.median(shares[p])) if n else math.nan

    ds, fs = des.summary["requests"], fluid.summary["requests"]
    return Comparison(
        scenario=name,
        cpu_rmse=rmse,
        changes_des=[(t, a, b) for t, a, b, _ in dch],
        changes_fluid=[(t, a, b) for t, a, b, _ in fch],
        changes_ok=ok,
        worst_offset_min=worst,
        windows=n,
        p50_share=share("p50"),
        p95_share=share("p95"),
        p50_median=median("p50"),
        p95_median=median("p95"),
        errors_des=ds["errors"],
        errors_fluid=fs["errors"],
        requests=ds["arrived"],
        warnings=list(getattr(fluid.runs[0], "warnings", [])),
    )


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def with_reference(c: Comparison, ref: Comparison) -> Comparison:
    """``c`` with the discrete-event engine's own spread (``ref``: DES against DES with
    another seed) beside it."""
    c.ref_cpu_rmse = ref.cpu_rmse
    c.ref_changes = len(ref.changes_fluid)
    c.ref_changes_ok = ref.changes_ok
    c.ref_worst_offset_min = ref.worst_offset_min
    return c


def markdown(rows: list[Comparison]) -> str:
    """The table ``sim/FLUID.md`` keeps, and one line per scenario on its scaling and on what
    the fluid run warned about."""
    head = (
        "| scenario | CPU RMSE (points) | desired changes DES / fluid, worst offset | p50 within"
        " 25 % | p95 within 25 % | windows | errors DES / fluid | targets met | DES with the"
        " next seed: CPU RMSE, changes, worst offset |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for c in rows:
        met = [c.cpu_ok, c.changes_ok, c.latency_ok, c.errors_ok]
        shares = (
            (f"{c.p50_share * 100:.0f} % (median {c.p50_median * 100:.0f} % off)",
             f"{c.p95_share * 100:.0f} % (median {c.p95_median * 100:.0f} % off)")
            if c.windows else ("-", "-")
        )  # fmt: skip
        lines.append(
            f"| {c.scenario} | {c.cpu_rmse:.1f} {_mark(c.cpu_ok)} |"
            f" {len(c.changes_des)} / {len(c.changes_fluid)}, {c.worst_offset_min:.0f} min"
            f" {_mark(c.changes_ok)} | {shares[0]} | {shares[1]} | {c.windows} |"
            f" {c.errors_des} / {c.errors_fluid} {_mark(c.errors_ok)} |"
            f" {sum(met)} of 4 | {c.ref_cpu_rmse:.1f}, {c.ref_changes}, "
            f"{c.ref_worst_offset_min:.0f} min{'' if c.ref_changes_ok else ' (no match)'} |"
        )
    notes = []
    for c in rows:
        d = ", ".join(f"{t / 60:g} min {a}->{b}" for t, a, b in c.changes_des) or "none"
        f = ", ".join(f"{t / 60:g} min {a}->{b}" for t, a, b in c.changes_fluid) or "none"
        notes.append(f"- **{c.scenario}**: desired capacity, DES: {d}; fluid: {f}.")
        for w in c.warnings:
            notes.append(f"  The fluid run warns: {w}.")
    return head + "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


HEADER = """# The fluid engine against the discrete-event engine

Generated by `python -m sim validate-fluid --out sim/FLUID.md`: do not edit by hand
(`tests/sim_dynamics/test_fluid.py` checks that the command reproduces it). Every shipped
scenario over time, run by both engines with its own seed; the last column runs the
discrete-event engine again with the next seed, to show how far two discrete-event runs of
the same scenario fall apart by chance alone. Targets: CPU per minute within 5 points
(RMSE); every change of desired capacity to the same capacity within one evaluation of the
alarm that caused it; p50 and p95 within 25 % in at least 90 % of the windows where the
fleet is not saturated (at least 100 successful requests, no error, the fluid run not
saturated); error totals within 25 % (or both under 0.1 % of the requests). Why a scenario
misses a target: `sim/README.md`, "Long horizons".

"""


def document(rows: list[Comparison]) -> str:
    """``sim/FLUID.md``: the header, the table and the notes."""
    return HEADER + markdown(rows)
