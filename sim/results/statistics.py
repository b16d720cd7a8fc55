"""Statistics computed afterwards from the flat records: throughput, errors, latency,
utilisation; replications folded into means with 95 % confidence intervals.

Think of a shop's till rolls: the tills only print one line per sale as it happens, and the
accountant works out the day's takings, the busiest hour and the average basket afterwards,
from the rolls alone. Here the records (one row per request per layer, ``request.py``) are the
till rolls, and nothing below needs to know how the requests arrived.

Which requests count: those arriving in the measurement window ``[warmup, duration)``.
Latency statistics use the successful ones (status 200); errors are counted by status and by
outcome. The JSON summary's schema is documented in ``sim/SCHEMA.md`` (``schema_version``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sim.engine import Run
from sim.layers import LAYERS
from sim.model.assets import SOURCES
from sim.results.records import (
    Record,
    by_request,
    end_to_end,
    failed_because,
    finished_at,
    of_assets,
)
from sim.theory import confidence_interval

SCHEMA_VERSION = 1
#: HTTP statuses always present in ``status_counts`` (others are added when they occur).
STATUSES = ("200", "500", "502", "503", "504")
#: The sections of a summary whose keys depend on what happened: counts, 0 when absent.
COUNTS = ("status_counts", "error_outcomes")
DIGITS = 6  # seconds rounded to the microsecond: readable, and stable across platforms


def _r(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), DIGITS)


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not len(values):
        return {"mean": None, "p50": None, "p95": None, "p99": None}
    a = np.asarray(values)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"mean": _r(a.mean()), "p50": _r(p50), "p95": _r(p95), "p99": _r(p99)}


def request_arrays(run: Run) -> dict[str, np.ndarray]:
    """Every finished request's ``arrival``, ``end`` (NaN if it never ended) and ``status``,
    as arrays in request order: what the time series and a sweep need, without records."""
    reqs = run.requests
    n = len(reqs)
    return {
        "arrival": np.fromiter((r.arrival for r in reqs), float, n),
        "end": np.fromiter((math.nan if r.end is None else r.end for r in reqs), float, n),
        "status": np.fromiter((r.status for r in reqs), int, n),
    }


def outline(run: Run) -> dict:
    """The few numbers a sweep keeps of a run: measured requests, successes, error rate,
    end-to-end p50/p95/p99 of the successful ones (as in :func:`summary`), errors by status,
    the highest p95 of a time-series window (over time only), cost in instance-hours and the
    most instances in service at once."""
    a = request_arrays(run)
    start, end = run.window
    measured = (a["arrival"] >= start) & (a["arrival"] < end)
    status = a["status"][measured]
    ok = status == 200
    n, good = int(measured.sum()), int(ok.sum())
    # A successful request's end is its last record's end, so this is summary()'s latency.
    latency = _stats((a["end"] - a["arrival"])[measured][ok])
    row: dict = {"requests": n, "ok": good}
    row["error_rate"] = _r((n - good) / n) if n else math.nan
    for p in ("p50", "p95", "p99"):
        row[p] = math.nan if latency[p] is None else latency[p]
    for code in STATUSES[1:]:
        row[f"errors_{code}"] = int((status == int(code)).sum())
    s, log = run.scenario, run.over_time
    row["p95_peak"] = math.nan
    if log is not None:
        from sim.results.timeseries import request_windows

        w = request_windows(a["arrival"], a["end"], a["status"], log.period, log.horizon)
        row["p95_peak"] = peak_p95(w["t"], w["p95"], w["completed"], start, end)
        row["instance_hours"] = _r(log.instance_hours)
        row["max_in_service"] = max((t.get("in_service", 0) for t in log.samples), default=0)
    else:
        row["instance_hours"] = _r(s.instances.count * (s.run.duration + s.run.drain) / 3600)
        row["max_in_service"] = s.instances.count
    return row


#: A window's p95 counts towards the peak with at least this many answers (fewer: noise).
PEAK_MIN_REQUESTS = 100


def peak_p95(t, p95, completed, start: float, end: float) -> float:
    """The highest p95 of the time-series windows inside the measured window that answered at
    least :data:`PEAK_MIN_REQUESTS` requests: what "p95 under 300 ms all week" must hold for."""
    values = [
        float(p)
        for ti, p, n in zip(t, p95, completed, strict=True)
        if start < ti <= end and n >= PEAK_MIN_REQUESTS and not math.isnan(p)
    ]
    return _r(max(values)) if values else math.nan


def summary(run: Run, records: list[Record]) -> dict:
    """The summary of one run (its ``records``), as a JSON-ready dict with a stable key
    order."""
    start, end = run.window
    seconds = end - start
    status_counts = dict.fromkeys(STATUSES, 0)
    outcomes: dict[str, int] = {}
    e2e, e2e_wait, e2e_service = [], [], []
    layer_total: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    layer_wait: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    layer_service: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    arrived = 0
    for group in by_request(records).values():
        if not start <= group[0].arrival < end:
            continue
        arrived += 1
        status = group[0].status
        key = str(status)
        status_counts[key] = status_counts.get(key, 0) + 1
        if status != 200:
            why = failed_because(group)
            outcomes[why] = outcomes.get(why, 0) + 1
            continue
        wait = service = 0.0
        for r in group:
            wait += r.wait
            service += r.service
            layer_total[r.layer].append(r.wait + r.service)
            layer_wait[r.layer].append(r.wait)
            layer_service[r.layer].append(r.service)
        e2e.append(end_to_end(group))
        e2e_wait.append(wait)
        e2e_service.append(service)
    ok = status_counts["200"]
    layers = {}
    for layer in LAYERS:
        entry = {"count": len(layer_total[layer]), **_stats(layer_total[layer])}
        entry["wait"] = _r(np.mean(layer_wait[layer])) if layer_wait[layer] else None
        entry["service"] = _r(np.mean(layer_service[layer])) if layer_service[layer] else None
        layers[layer] = entry
    end_to_end_stats = _stats(e2e)
    end_to_end_stats["wait"] = _r(np.mean(e2e_wait)) if e2e else None
    end_to_end_stats["service"] = _r(np.mean(e2e_service)) if e2e else None
    utilisation = {
        k: _r(run.busy[k] / run.capacity[k]) if run.capacity[k] else None
        for k in ("workers", "vcpus", "db_connections", "db_cpu")
    }
    doc = {
        "schema_version": SCHEMA_VERSION,
        "scenario": run.scenario.name,
        "seed": run.seed,
        "window": {"start": _r(start), "end": _r(end), "seconds": _r(seconds)},
        "requests": {
            "arrived": arrived,
            "ok": ok,
            "errors": arrived - ok,
            "unfinished": run.counters["sent"] - run.counters["finished"],
        },
        "throughput_per_s": _r(ok / seconds),
        "status_counts": dict(sorted(status_counts.items())),
        "error_outcomes": dict(sorted(outcomes.items())),
        "latency": {"end_to_end": end_to_end_stats, "layers": layers},
        "utilisation": utilisation,
        "counters": {
            "spillover": run.counters["spillover"],
            "killed_workers": run.counters["killed_workers"],
            "refused_db_connections": run.counters["refused_db_connections"],
        },
    }
    if run.scenario.users.enabled:
        doc["users"] = users(run, records)
    if run.scenario.assets.enabled:
        doc["assets"] = assets(run)
    return doc


def assets(run: Run) -> dict:
    """The static files of the pages measured (HTML arriving in the window and answered
    200): how many a page has and their bytes, where they came from, how long a file took
    (``latency``: from the moment a connection took it; ``blocked``: the mean wait for a free
    connection before that), and the page load time (``page_load``: from the user pressing
    Enter to the last file in; ``after_html``: the part after the HTML)."""
    a = run.scenario.assets
    start, end = run.window
    pages = [r for r in run.requests if r.status == 200 and start <= r.arrival < end]
    files = of_assets(pages)
    ok = [f for f in files if f.status == 200]
    sources = dict.fromkeys(SOURCES, 0)
    for f in files:
        sources[f.source] += 1
    return {
        "per_page": len(a.sizes),
        "bytes_per_page": _r(a.page_bytes),
        "connections": a.connections,
        "cdn": a.cdn,
        "server": a.server,
        "pages": len(pages),
        "fetched": len(files),
        "failed": len(files) - len(ok),
        "sources": sources,
        "latency": _stats([f.end - f.start for f in ok]),
        "blocked": _r(np.mean([f.start - f.ready for f in files])) if files else None,
        "page_load": _stats([r.page_end - r.arrival for r in pages]),
        "after_html": _stats([r.page_end - r.end for r in pages]),
    }


def users(run: Run, records: list[Record]) -> dict:
    """A closed population's numbers over the window: ``count`` users thinking ``think_time``
    seconds on average, ``answered_per_s`` the answers of any status per second (X: the
    requests they sent in the window, one per answer in a steady state), ``response_time``
    their mean from sending to the last byte (R, errors included) and ``response_time_law``
    N / X - Z, which R should match (the interactive response-time law)."""
    start, end = run.window
    u = run.scenario.users
    spans = [
        finished_at(g) - g[0].arrival
        for g in by_request(records).values()
        if start <= g[0].arrival < end
    ]
    x = len(spans) / (end - start)
    return {
        "count": u.count,
        "think_time": _r(u.think_time.mean),
        "answered_per_s": _r(x),
        "response_time": _r(np.mean(spans)) if spans else None,
        "response_time_law": _r(u.count / x - u.think_time.mean) if spans else None,
    }


def _flatten(d: dict, prefix: str = "") -> dict[str, float]:
    flat = {}
    for key, value in d.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[path] = value
    return flat


def combine(runs: Sequence[dict], scenario: str, seed: int) -> dict:
    """The JSON document for ``R`` replications: every numeric summary value as a mean with
    a 95 % confidence interval across replications (``null`` bounds for one run), and the
    runs themselves."""
    # A count a run never saw (an error cause, a status) is 0 there, not missing: every run
    # gets every count any run has, so a cause seen in one replication of three is averaged
    # in rather than dropped. A value without data (null) is left out where it is missing.
    union = {k: sorted({key for run in runs for key in run[k]}) for k in COUNTS}

    def filled(run: dict) -> dict:
        out = {k: v for k, v in run.items() if k not in ("schema_version", "seed")}
        for k in COUNTS:
            out[k] = {key: run[k].get(key, 0) for key in union[k]}
        return out

    flats = [_flatten(filled(run)) for run in runs]
    keys = [k for k in flats[0] if all(k in f for f in flats)]
    across = {}
    for key in keys:
        mean, low, high = confidence_interval([f[key] for f in flats])
        across[key] = {"mean": _r(mean), "ci95": [_r(low), _r(high)]}
    return {
        "schema_version": SCHEMA_VERSION,
        "scenario": scenario,
        "seed": seed,
        "replications": len(runs),
        "across_replications": across,
        "runs": list(runs),
    }


def completed_per_s(run: Run, records: list[Record]) -> float:
    """Successful responses finished inside the measured window, per second: what the
    instances delivered, not what was sent to them."""
    start, end = run.window
    done = sum(
        1
        for group in by_request(records).values()
        if group[0].status == 200 and start <= finished_at(group) < end
    )
    return done / (end - start)
