"""The results of a fluid run: the same summary, time series and sweep row as a discrete-event
run's, computed from the flows' counts instead of records.

A fluid run (``sim/engine/fluid/``) keeps no request, so nothing here starts from records:
counts are expected values (rounded to whole requests where a summary shows counts), the
end-to-end percentiles come from the measured window's latency histogram, and a layer's
percentiles are those of its sampled service plus its mean wait (the waits are known per
window only as distributions of the whole trip). The schema is ``sim/SCHEMA.md``'s, so
replications combine and sweeps tabulate the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.engine.fluid import FluidRun
from sim.engine.fluid.latency import mean_of, percentiles
from sim.layers import LAYERS
from sim.results.statistics import SCHEMA_VERSION, STATUSES, _r, peak_p95
from sim.results.timeseries import ERROR_STATUSES

#: What ``records``, ``trace`` and ``records.csv`` answer for a fluid run.
NO_RECORDS = (
    "the fluid engine keeps no per-request records (no trace, no records.csv):"
    " run it with --engine des"
)


def _stats(values: np.ndarray, shift: float = 0.0) -> dict[str, float | None]:
    if not values.size:
        return {"mean": None, "p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99]) + shift
    return {"mean": _r(values.mean() + shift), "p50": _r(p50), "p95": _r(p95), "p99": _r(p99)}


def summary(run: FluidRun) -> dict:
    """The summary of one fluid run (``sim/SCHEMA.md``)."""
    m = run.plane.measured
    start, end = run.window
    seconds = end - start
    status_counts = dict.fromkeys(STATUSES, 0)
    status_counts["200"] = round(m.ok)
    for code, n in m.status.items():
        status_counts[str(code)] = status_counts.get(str(code), 0) + round(n)
    arrived = round(m.arrived)
    ok = status_counts["200"]
    p50, p95, p99 = percentiles(m.hist)
    served = m.served or math.nan
    waits = {
        "queue": m.wait / served + m.surge_wait / served,
        "app": m.cpu_wait / served,
    }
    parts = run.plane.deck.layers()
    layers = {}
    for layer in LAYERS:
        values = parts.get(layer, np.zeros(0))
        wait = waits.get(layer, 0.0) if values.size else None
        entry = {"count": ok if values.size else 0, **_stats(values, wait or 0.0)}
        entry["wait"] = _r(wait) if wait is not None else None
        entry["service"] = _r(float(values.mean())) if values.size else None
        layers[layer] = entry
    mean = mean_of(m.hist)
    wait_total = (m.wait + m.surge_wait + m.cpu_wait) / served
    e2e = {
        "mean": _r(mean) if ok else None,
        "p50": _r(p50) if ok else None,
        "p95": _r(p95) if ok else None,
        "p99": _r(p99) if ok else None,
        "wait": _r(wait_total) if ok else None,
        "service": _r(mean - wait_total) if ok else None,
    }
    utilisation = {
        k: _r(min(run.busy[k] / run.capacity[k], 1.0)) if run.capacity[k] else None
        for k in ("workers", "vcpus", "db_connections", "db_cpu")
    }
    outcomes = {k: round(v) for k, v in sorted(m.outcomes.items()) if round(v) > 0}
    return {
        "schema_version": SCHEMA_VERSION,
        "scenario": run.scenario.name,
        "seed": run.seed,
        "window": {"start": _r(start), "end": _r(end), "seconds": _r(seconds)},
        "requests": {
            "arrived": arrived,
            "ok": ok,
            "errors": arrived - ok,
            "unfinished": 0,
        },
        "throughput_per_s": _r(ok / seconds),
        "status_counts": dict(sorted(status_counts.items())),
        "error_outcomes": outcomes,
        "latency": {"end_to_end": e2e, "layers": layers},
        "utilisation": utilisation,
        "counters": {
            "spillover": run.counters["spillover"],
            "killed_workers": run.counters["killed_workers"],
            "refused_db_connections": run.counters["refused_db_connections"],
        },
    }


def windows(run: FluidRun) -> dict[str, np.ndarray]:
    """Per-window request statistics, as ``timeseries.request_windows`` gives them for a
    discrete-event run (counts are expected values)."""
    ws = run.windows
    out: dict[str, np.ndarray] = {"t": np.array([w.t for w in ws])}
    out["rps"] = np.array([w.rps for w in ws])
    for p in ("p50", "p95", "p99"):
        out[p] = np.array([getattr(w, p) for w in ws])
    out["completed"] = np.array([round(w.completed, 3) for w in ws])
    codes = sorted(set(ERROR_STATUSES) | {c for w in ws for c in w.errors})
    for code in codes:
        out[f"errors_{code}"] = np.array([round(w.errors.get(code, 0.0), 3) for w in ws])
    out["saturated"] = np.array([int(w.saturated) for w in ws])
    return out


def outline(run: FluidRun) -> dict[str, Any]:
    """The sweep's row of a fluid run (``statistics.outline``'s keys)."""
    s = summary(run)
    n, good = s["requests"]["arrived"], s["requests"]["ok"]
    e2e = s["latency"]["end_to_end"]
    row: dict[str, Any] = {"requests": n, "ok": good}
    row["error_rate"] = _r((n - good) / n) if n else math.nan
    for p in ("p50", "p95", "p99"):
        row[p] = math.nan if e2e[p] is None else e2e[p]
    for code in STATUSES[1:]:
        row[f"errors_{code}"] = s["status_counts"].get(code, 0)
    start, end = run.window
    ws = run.windows
    row["p95_peak"] = peak_p95(
        [w.t for w in ws], [w.p95 for w in ws], [w.completed for w in ws], start, end
    )
    log = run.over_time
    row["instance_hours"] = _r(log.instance_hours)
    row["max_in_service"] = max((t.get("in_service", 0) for t in log.samples), default=0)
    return row


def describe(run: FluidRun) -> str:
    """The lines a fluid run adds to the printed report: which engine, and where the
    approximation does not hold."""
    lines = ["engine: fluid (requests as flows; no per-request records)"]
    for w in run.warnings:
        # (A warning that already says which option to try needs no pointer.)
        lines.append(f"  warning     {w}" + ("" if " --" in w else ": check with --engine des"))
    return "\n".join(lines) + "\n"
