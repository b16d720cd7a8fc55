"""Time series: what a CloudWatch dashboard would have shown, one row per period.

The gauges (instances, CPU, backlogs, alarm states) were sampled during the run by the engine's
sampler (``sim/engine/sampler.py``). Request-based series (requests per second, latency
percentiles, errors by status per window) are not sampled: :func:`request_windows` computes
them afterwards from the requests, binned by the period, so they are exact and the sampler
stays cheap.

Flow: the sampler's rows + :func:`request_windows` -> :func:`merge` -> one table (CSV) ->
the dashboard (``sim/figures/dashboard.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.engine import Run

#: Status codes the error series always carry, even when zero.
ERROR_STATUSES = (500, 502, 503, 504)
PERCENTILES = (50, 95, 99)


def request_windows(
    arrival: np.ndarray,
    end: np.ndarray,
    status: np.ndarray,
    period: float,
    horizon: float,
) -> dict[str, np.ndarray]:
    """Per-window request statistics; window ``k`` covers ``(k*period, (k+1)*period]`` and is
    labelled by its end, like the sampler's rows.

    ``rps``: arrivals per second; ``p50``/``p95``/``p99``: end-to-end latency (s) of the
    successful requests that finished in the window (NaN with none; a fast 503 is not a fast
    answer); ``errors_<code>``: how many finished with that status.
    """
    n = max(int(np.ceil(horizon / period - 1e-9)), 1)
    edges = np.arange(1, n + 1) * period
    out: dict[str, np.ndarray] = {"t": edges}
    by_arrival = np.clip(np.ceil(arrival / period - 1e-12).astype(int) - 1, 0, n - 1)
    out["rps"] = np.bincount(by_arrival, minlength=n)[:n] / period
    done = ~np.isnan(end)
    k = np.clip(np.ceil(end[done] / period - 1e-12).astype(int) - 1, 0, n - 1)
    latency = (end - arrival)[done]
    st = status[done]
    order = np.argsort(k, kind="stable")
    k, latency, st = k[order], latency[order], st[order]
    bounds = np.searchsorted(k, np.arange(n + 1))
    for p in PERCENTILES:
        out[f"p{p}"] = np.full(n, np.nan)
    for i in range(n):
        lo, hi = bounds[i], bounds[i + 1]
        chunk = latency[lo:hi][st[lo:hi] == 200]
        if chunk.size:
            values = np.percentile(chunk, PERCENTILES)
            for p, v in zip(PERCENTILES, values, strict=True):
                out[f"p{p}"][i] = v
    out["completed"] = np.bincount(k, minlength=n)[:n]
    codes = sorted(set(ERROR_STATUSES) | {int(c) for c in np.unique(st) if c >= 400})
    for code in codes:
        out[f"errors_{code}"] = np.bincount(k[st == code], minlength=n)[:n]
    return out


def merge(rows: list[dict[str, Any]], windows: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One table: the sampler's rows joined with the request windows on ``t``."""
    by_t = {round(float(t), 6): i for i, t in enumerate(windows["t"])}
    out = []
    for row in rows:
        merged = dict(row)
        i = by_t.get(round(float(row["t"]), 6))
        for key, values in windows.items():
            if key != "t":
                merged[key] = values[i].item() if i is not None else float("nan")
        out.append(merged)
    return out


def columns(table: list[dict[str, Any]]) -> list[str]:
    """All column names in first-seen order (instances come and go, so rows differ)."""
    seen: dict[str, None] = {}
    for row in table:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def table(run: Run, arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The time series of a run over time: the sampler's rows joined with the request windows
    of ``arrays`` (``statistics.request_arrays``)."""
    log = run.over_time
    windows = request_windows(arrays["arrival"], arrays["end"], arrays["status"], log.period,
                              log.horizon)  # fmt: skip
    return merge(log.samples, windows)
