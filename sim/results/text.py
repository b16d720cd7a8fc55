"""The printed report of a run: the summary in a few lines, and what happened over time.

Everything here formats numbers already computed (``statistics.py``, ``timeseries.py``); the
kept outputs of the shipped scenarios (``sim/scenarios/*.out``) are these texts.
"""

from __future__ import annotations

from typing import Any

from sim.engine import OverTimeLog
from sim.layers import LAYERS


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.1f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f} %"


def format_summary(document: dict) -> str:
    """A short human-readable report of a :func:`combine` document."""
    runs = document["runs"]
    first = runs[0]
    across = document["across_replications"]
    r = document["replications"]

    def value(path: str, fmt) -> str:
        entry = across.get(path)
        if entry is None:
            return "-"
        text = fmt(entry["mean"])
        low, high = entry["ci95"]
        if r > 1 and low is not None:
            text += f" [{fmt(low)}, {fmt(high)}]"
        return text

    w = first["window"]
    lines = [
        f"scenario {document['scenario']}: seed {document['seed']}, {r} replication"
        f"{'s' if r != 1 else ''}, measured from {w['start']:g} s to {w['end']:g} s"
        + (" (mean [95 % CI])" if r > 1 else ""),
        f"  requests    {value('requests.arrived', lambda x: f'{x:.0f}')} arrived,"
        f" {value('requests.ok', lambda x: f'{x:.0f}')} ok,"
        f" throughput {value('throughput_per_s', lambda x: f'{x:.2f}')} req/s",
        "  errors      "
        + "  ".join(
            f"{code}: {value(f'status_counts.{code}', lambda x: f'{x:.0f}')}"
            for code in first["status_counts"]
            if code != "200"
        ),
    ]
    reasons = sorted({k for run in runs for k in run["error_outcomes"]})
    if reasons:
        per_run = [
            f"{k} {sum(run['error_outcomes'].get(k, 0) for run in runs) / r:g}" for k in reasons
        ]
        lines.append("  because     " + ", ".join(per_run))
    e = "latency.end_to_end."
    lines.append(
        f"  latency     mean {value(e + 'mean', _ms)} ms, p50 {value(e + 'p50', _ms)},"
        f" p95 {value(e + 'p95', _ms)}, p99 {value(e + 'p99', _ms)} ms"
    )
    lines.append(
        f"              of which waiting {value(e + 'wait', _ms)} ms,"
        f" being served {value(e + 'service', _ms)} ms"
    )
    lines.append(f"  {'layer':<10}{'mean':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'wait':>9}"
                 f"{'service':>9}  (ms)")  # fmt: skip
    for layer in LAYERS:
        s = first["latency"]["layers"][layer]
        if not s["count"]:
            continue
        cells = [value(f"latency.layers.{layer}.{k}", _ms) if r == 1 else
                 _ms(across.get(f"latency.layers.{layer}.{k}", {}).get("mean"))
                 for k in ("mean", "p50", "p95", "p99", "wait", "service")]  # fmt: skip
        lines.append(f"  {layer:<10}" + "".join(f"{c:>9}" for c in cells))
    if "users" in first:
        n = first["users"]["count"]
        z = first["users"]["think_time"]
        lines.append(
            f"  users       {n} users thinking {z:g} s on average:"
            f" {value('users.answered_per_s', lambda x: f'{x:.2f}')} answers/s (X),"
            f" response time {value('users.response_time', _ms)} ms (R);"
            f" N/X - Z = {value('users.response_time_law', _ms)} ms"
        )
    if "assets" in first:
        lines.extend(_assets(first["assets"], value))
    u = "utilisation."
    lines.append(
        f"  utilisation workers {value(u + 'workers', _pct)}, vCPUs {value(u + 'vcpus', _pct)},"
        f" DB connections {value(u + 'db_connections', _pct)},"
        f" DB CPU {value(u + 'db_cpu', _pct)}"
    )
    return "\n".join(lines) + "\n"


def _assets(a: dict, value) -> list[str]:
    """The lines on a page's static files (``[assets]`` on)."""
    where = (
        f"from the CDN (misses from {a['server']})"
        if a["cdn"]
        else f"from the instances ({a['server']})"
    )
    counts = ", ".join(f"{k} {v}" for k, v in a["sources"].items() if v)
    p, f = "assets.page_load.", "assets.latency."
    return [
        f"  assets      {a['per_page']} per page, {a['bytes_per_page']:,.0f} bytes, {where},"
        f" {a['connections']} connections per host",
        f"              {a['fetched']} fetched ({counts}), {a['failed']} failed;"
        f" a file mean {value(f + 'mean', _ms)} ms, p95 {value(f + 'p95', _ms)} ms",
        f"  page load   mean {value(p + 'mean', _ms)} ms, p50 {value(p + 'p50', _ms)},"
        f" p95 {value(p + 'p95', _ms)}, p99 {value(p + 'p99', _ms)} ms (HTML and its files);"
        f" after the HTML {value('assets.after_html.mean', _ms)} ms",
    ]


def describe(log: OverTimeLog, table: list[dict[str, Any]]) -> str:
    """A few lines on what happened over time (``table``: the run's time series), for the end
    of the text summary."""
    over = log
    acts = over.activities
    launches = sum(1 for a in acts if a.kind == "launch" and a.t > 0)
    ended = [a for a in acts if a.kind == "terminate"]
    desired = [row["desired"] for row in table if "desired" in row]
    lines = ["over time (first replication):"]
    if desired:
        lines.append(
            f"  capacity    desired {min(desired)}-{max(desired)}, {launches} launches,"
            f" {len(ended)} terminations, {over.instance_hours:.2f} instance-hours"
        )
    for t, kind, detail in over.failures:
        lines.append(f"  failure     t={t:g} s {kind}: {detail}")
    bad = {}
    for row in table:
        for key, value in row.items():
            if key.startswith("errors_") and value:
                first, last, n = bad.get(key, (row["t"], row["t"], 0))
                bad[key] = (first, row["t"], n + value)
    for key, (first, last, n) in sorted(bad.items()):
        if round(n) > 0:  # a fluid run's counts are expected values
            lines.append(f"  {key[7:]}s        {round(n)} in windows ending {first:g}-{last:g} s")
    fired = [(name, t) for name, hist in over.alarms.items() for t, st in hist if st == "ALARM"]
    if fired:
        shown = ", ".join(f"{name} at {t:g} s" for name, t in fired[:6])
        more = f" and {len(fired) - 6} more" if len(fired) > 6 else ""
        lines.append(f"  alarms      {shown}{more}")
    return "\n".join(lines) + "\n"
