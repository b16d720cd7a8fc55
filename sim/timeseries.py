"""Time series: what a CloudWatch dashboard would have shown, one row per period.

Think of a ship's log: every watch, the officer writes down the same things (speed, heading,
engines running), whatever happened in between. :class:`Sampler` is that officer. Every
``period`` seconds it reads the gauges of the world (instances desired, booting, in service
and draining; each instance's CPU over the period; Gunicorn backlogs; the surge queue; alarm
states) and appends one flat row. It only reads counters the components keep anyway, so it
changes nothing it measures.

Request-based series (requests per second, latency percentiles, errors by status per window)
are not sampled: :func:`request_windows` computes them afterwards from the per-request
records, binned by the period, so they are exact and the sampler stays cheap.

Flow: world counters -> :class:`Sampler` rows; request records -> :func:`request_windows`;
both -> :func:`merge` -> one table (CSV) -> ``dashboard.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Status codes the error series always carry, even when zero.
ERROR_STATUSES = (500, 502, 503, 504)
PERCENTILES = (50, 95, 99)


class Sampler:
    """Appends a row of gauges to :attr:`rows` every ``period`` seconds.

    ``instances()`` returns every instance that has existed (with ``state``, ``id``,
    ``vcpus.capacity``, ``busy_vcpu_time()``, ``backlog_length``, ``busy_workers``); ``lb`` has
    ``surge``; ``group`` (optional) is the :class:`~sim.autoscaling.AutoScalingGroup`.

    ``cpu_<id>`` is each instance's CPU over the period; ``cpu_mean`` averages the instances
    the group's CPU metric counts (``AutoScalingGroup.counted``), or without a group the
    instances in service, so the line is the one the scaling alarms compare with thresholds.
    """

    def __init__(
        self,
        env,
        period: float,
        instances: Callable[[], list[Any]],
        lb: Any,
        group: Any = None,
        db: Any = None,
    ) -> None:
        self.env = env
        self.period = period
        self.instances = instances
        self.lb = lb
        self.group = group
        self.db = db
        self.rows: list[dict[str, Any]] = []
        self._busy: dict[Any, float] = {}
        env.process(self._run())

    def _run(self):
        while True:
            yield self.env.timeout(self.period)
            self.rows.append(self.sample())

    def _counted(self) -> set[int]:
        # The fleet average takes the instances the group's CPU metric takes (in service and
        # warmed up, unless the scenario counts warming ones too); without a group, those in
        # service. A booting instance averaged in at 0 % would drag the line down for nothing.
        if self.group is not None:
            return {m.instance.id for m in self.group.counted()}
        return {i.id for i in self.instances() if i.state == "in_service"}

    def sample(self) -> dict[str, Any]:
        now = self.env.now
        row: dict[str, Any] = {"t": now}
        states = [i.state for i in self.instances()]
        if self.group is not None:
            row["desired"] = self.group.desired
            row["pending"] = self.group.count("pending")
            row["booting"] = self.group.count("booting") + row["pending"]
        else:
            row["desired"] = sum(1 for s in states if s != "terminated")
            row["booting"] = states.count("booting")
        row["in_service"] = states.count("in_service")
        row["healthy"] = len(self.lb.routable())
        row["draining"] = states.count("draining")
        cpus = []
        counted = self._counted()
        backlog = busy = 0
        for inst in self.instances():
            total = inst.busy_vcpu_time()
            before = self._busy.get(inst.id, total if inst.state == "terminated" else 0.0)
            self._busy[inst.id] = total
            if inst.state == "terminated" and total == before:
                continue
            cpu = 100.0 * (total - before) / (inst.vcpus.capacity * self.period)
            row[f"cpu_{inst.id}"] = round(cpu, 3)
            if inst.id in counted:
                cpus.append(cpu)
            backlog += inst.backlog_length
            busy += inst.busy_workers
        row["cpu_mean"] = round(float(np.mean(cpus)), 3) if cpus else float("nan")
        row["backlog"] = backlog
        row["busy_workers"] = busy
        row["surge_queue"] = len(self.lb.surge)
        if self.db is not None:
            row["db_connections"] = self.db.connections
        if self.group is not None:
            for name, alarm in self.group.alarms.items():
                row[f"alarm_{name}"] = alarm.state
        return row


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
