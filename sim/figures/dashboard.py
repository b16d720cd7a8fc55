"""The dashboard: a CloudWatch-style wall of graphs for one run over time.

Think of the screen an on-call engineer keeps open: a few stacked graphs on one shared clock,
so a spike in one lines up with its cause in another. Top to bottom:

1. **Traffic**: requests per second arriving, and what is queued (Gunicorn backlogs, the load
   balancer's surge queue) on the right-hand axis.
2. **Capacity**: instances desired, in service (healthy behind the load balancer) and
   booting, as CloudWatch's ``GroupDesiredCapacity`` / ``GroupInServiceInstances`` would.
3. **CPU**: each instance's utilisation (thin lines) and the fleet average (bold) over the
   instances the group's CPU metric counts (in service and warmed up by default), with the
   alarm thresholds dashed and red bands while a scale-out alarm is in ALARM.
4. **Latency**: p50, p95 and p99 per window, log scale.
5. **Errors**: responses per window by status (500 app, 502 bad gateway, 503 no target or
   spillover, 504 timeout), stacked.

Failures (red) and changes of desired capacity (grey) are marked on every panel.

Pure function of a :class:`~sim.results.Result` run over time (its time series and logs);
matplotlib is imported lazily. Flow: Result -> :func:`dashboard` -> Figure ->
:func:`sim.figures.png`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STATUS_COLORS = {500: "#9467bd", 502: "#d62728", 503: "#ff7f0e", 504: "#8c564b"}
STATUS_NAMES = {500: "500 app error", 502: "502 bad gateway", 503: "503 no target",
                504: "504 timeout"}  # fmt: skip


def _col(table: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r.get(key, math.nan)) if r.get(key) is not None else math.nan for r in table]


def dashboard(result, title: str) -> Figure:
    """Five panels on a shared time axis (minutes) from the first run of ``result``."""
    from matplotlib.figure import Figure

    table = result.table
    over = result.run.over_time
    scenario = result.run.scenario
    fig = Figure(figsize=(11, 12.5), layout="constrained")
    axes = fig.subplots(5, 1, sharex=True, height_ratios=[1, 1, 1.1, 1, 1])
    minutes = [r["t"] / 60 for r in table]
    period_min = (minutes[1] - minutes[0]) if len(minutes) > 1 else 1.0

    # 1. traffic
    ax = axes[0]
    ax.plot(minutes, _col(table, "rps"), color="#1f77b4", lw=1.8, label="requests/s arriving")
    ax.set_ylabel("requests / s")
    queued = ax.twinx()
    queued.plot(minutes, _col(table, "backlog"), color="#2ca02c", lw=1, ls="--",
                label="Gunicorn backlog (all instances)")  # fmt: skip
    queued.plot(minutes, _col(table, "surge_queue"), color="#e377c2", lw=1, ls=":",
                label="ELB surge queue")  # fmt: skip
    queued.set_ylabel("requests queued")
    queued.set_ylim(
        0, max(max(_col(table, "backlog") + _col(table, "surge_queue"), default=0), 4) * 1.1
    )
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = queued.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8, ncols=3)
    ax.set_title("Traffic", loc="left", fontsize=10)

    # 2. capacity
    ax = axes[1]
    ax.step(minutes, _col(table, "desired"), where="post", color="black", ls="--", lw=1.2,
            label="desired")  # fmt: skip
    ax.step(minutes, _col(table, "healthy"), where="post", color="#2ca02c", lw=2,
            label="in service, healthy")  # fmt: skip
    ax.fill_between(minutes, 0, _col(table, "booting"), step="post", color="#ffbb78",
                    alpha=0.8, label="launching / booting")  # fmt: skip
    ax.set_ylabel("instances")
    ax.set_ylim(bottom=0)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", fontsize=8, ncols=3)
    ax.set_title("Capacity (auto-scaling group)", loc="left", fontsize=10)

    # 3. CPU
    ax = axes[2]
    keys = sorted({k for r in table for k in r if k.startswith("cpu_") and k != "cpu_mean"})
    for i, key in enumerate(keys):
        ax.plot(minutes, _col(table, key), color="#7f7f7f", lw=0.7, alpha=0.6,
                label="one instance" if i == 0 else None)  # fmt: skip
    ax.plot(minutes, _col(table, "cpu_mean"), color="#d62728", lw=2,
            label=_average_label(scenario.asg))  # fmt: skip
    for i, th in enumerate(sorted(over.thresholds)):
        ax.axhline(th, color="#d62728", ls="--", lw=0.8,
                   label="alarm threshold" if i == 0 else None)  # fmt: skip
    out_alarms = [f"alarm_{n}" for n, c in over.comparisons.items() if c.startswith(">")]
    firing = [any(r.get(k) == "ALARM" for k in out_alarms) for r in table]
    for m, on in zip(minutes, firing, strict=True):
        if on:
            ax.axvspan(m - period_min, m, color="#d62728", alpha=0.12, lw=0)
    ax.set_ylim(0, 105)
    ax.set_ylabel("CPU %")
    ax.legend(loc="upper left", fontsize=8, ncols=3)
    ax.set_title("CPU utilisation (shaded: a scale-out alarm in ALARM)", loc="left", fontsize=10)

    # 4. latency
    ax = axes[3]
    for p, color in (("p50", "#1f77b4"), ("p95", "#ff7f0e"), ("p99", "#d62728")):
        ax.plot(minutes, [v * 1000 for v in _col(table, p)], color=color, lw=1.5, label=p)
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms)")
    ax.legend(loc="upper left", fontsize=8, ncols=3)
    ax.set_title("End-to-end latency of successful requests per window", loc="left", fontsize=10)

    # 5. errors
    ax = axes[4]
    bottom = [0.0] * len(table)
    for code, color in STATUS_COLORS.items():
        values = [0.0 if math.isnan(v) else v for v in _col(table, f"errors_{code}")]
        ax.bar(minutes, values, width=-period_min * 0.9, align="edge", bottom=bottom,
               color=color, label=STATUS_NAMES[code])  # fmt: skip
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylim(0, max(max(bottom, default=0) * 1.15, 1))
    ax.set_ylabel("responses / window")
    ax.set_xlabel("simulated time (minutes)")
    ax.legend(loc="upper left", fontsize=8, ncols=4)
    ax.set_title("Errors by status", loc="left", fontsize=10)

    _mark_events(axes, over)
    end = scenario.run.duration / 60
    for ax in axes:  # after the run's duration no new request arrives: in-flight ones finish
        ax.axvspan(end, max(minutes[-1], end), color="#dddddd", alpha=0.5, lw=0)
    axes[4].annotate("drain", (end, 0.95), xycoords=("data", "axes fraction"), xytext=(3, 0),
                     textcoords="offset points", fontsize=7, color="#555555", va="top")  # fmt: skip
    if _clock_axis(axes[0], scenario.traffic):
        axes[0].set_title("Traffic", loc="left", fontsize=10, pad=16)
    fig.suptitle(title, fontsize=12)
    return fig


def _average_label(asg) -> str:
    """What the fleet average (``cpu_mean``) averages: the instances the group's CPU metric
    counts (``timeseries.Sampler``)."""
    if not asg.enabled:
        return "fleet average (in service)"
    if asg.exclude_warming:
        return "fleet average (in service and warmed up, as the group counts it)"
    return "fleet average (booting instances at 0 %, as this group counts it)"


def _clock_axis(ax, traffic) -> bool:
    """A weekday run also gets the wall clock along the top (t = 0 is ``start_clock_h``)."""
    if not (traffic.enabled and traffic.profile == "weekday"):
        return False
    start = traffic.start_clock_h * 60
    top = ax.secondary_xaxis("top", functions=(lambda m: m + start, lambda c: c - start))
    top.xaxis.set_major_formatter(lambda c, _: f"{int(c // 60) % 24:02d}:{int(c % 60):02d}")
    top.set_xticks([c for c in range(0, 48 * 60, 30)])
    top.tick_params(labelsize=8)
    return True


def _mark_events(axes, over) -> None:
    for t, kind, detail in over.failures:
        for ax in axes:
            ax.axvline(t / 60, color="#d62728", lw=1.2, alpha=0.8)
        axes[1].annotate(f"{kind}: {detail}", (t / 60, 0.04), xycoords=("data", "axes fraction"),
                         xytext=(3, 0), textcoords="offset points", fontsize=7, rotation=90,
                         va="bottom", color="#d62728")  # fmt: skip
    for a in over.activities:
        if a.kind == "desired" and "->" in a.detail:
            for ax in axes[1:3]:
                ax.axvline(a.t / 60, color="#7f7f7f", lw=0.8, ls=":")
