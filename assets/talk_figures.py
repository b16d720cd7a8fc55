"""Three figures the talk needs that no other module draws: where the time goes in three
scenarios side by side, "why 2?" (an instance crash with ``asg.min`` 1 against 2), and p95
latency against the number of Gunicorn workers on one 2-vCPU instance.

Like :mod:`sim.figures.plots`, each function takes finished results (summaries, request
arrays, sweep rows) and returns a matplotlib figure; none runs the model (``build.py`` does) and
every layer keeps its colour from :mod:`sim.layers`. matplotlib is imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim.figures.dashboard import STATUS_COLORS, STATUS_NAMES
from sim.layers import COLORS, LAYERS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def breakdown_side_by_side(summaries: dict[str, dict], captions: dict[str, str], title: str):
    """One stacked bar per scenario: each layer's mean time (served solid, waiting hatched)."""
    fig = _figure(12, 5.2)
    ax = fig.add_subplot()
    names = list(summaries)
    y = np.arange(len(names))[::-1]
    for yi, name in zip(y, names, strict=True):
        layers = summaries[name]["latency"]["layers"]
        left = 0.0
        for la in LAYERS:
            served, waited = layers[la]["service"] * 1000, layers[la]["wait"] * 1000
            ax.barh(
                yi,
                served,
                left=left,
                color=COLORS[la],
                height=0.6,
                label=la if yi == y[0] else None,
            )
            ax.barh(
                yi,
                waited,
                left=left + served,
                color=COLORS[la],
                alpha=0.45,
                hatch="//",
                edgecolor="white",
                height=0.6,
            )
            if served + waited > 14:  # name the layer inside its segment when it fits
                ax.text(
                    left + (served + waited) / 2,
                    yi,
                    la,
                    ha="center",
                    va="center",
                    fontsize=12,
                    color="white" if la in ("connect", "app") else "black",
                )
            left += served + waited
        e2e = summaries[name]["latency"]["end_to_end"]
        ax.text(
            left + 3,
            yi,
            f"{left:.0f} ms (p95 {e2e['p95'] * 1000:.0f} ms)",
            va="center",
            fontsize=12,
        )
    ax.set_yticks(y, [f"{n}\n{captions.get(n, '')}" for n in names], fontsize=12)
    ax.set_xlabel("mean time per successful request (ms); hatched: waiting in that layer")
    ax.set_xlim(0, ax.get_xlim()[1] * 1.18)
    ax.legend(ncols=len(LAYERS), loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(title, fontsize=14)
    return fig


def _per_bin(req: dict, start: float, end: float, width: float) -> dict[str, Any]:
    """Errors by status and p95 latency of successful requests in bins of ``width`` seconds,
    by arrival time (``req``: ``sim.results.statistics.request_arrays`` of a run)."""
    edges = np.arange(start, end + width / 2, width)
    which = np.digitize(req["arrival"], edges) - 1
    p95 = []
    errors = {code: [] for code in STATUS_COLORS}
    for b in range(len(edges) - 1):
        here = which == b
        ok = here & (req["status"] == 200)
        lat = (req["end"] - req["arrival"])[ok]
        p95.append(float(np.percentile(lat, 95)) * 1000 if lat.size else np.nan)
        for code in STATUS_COLORS:
            errors[code].append(int((here & (req["status"] == code)).sum()))
    return {"edges": edges, "p95": p95, "errors": errors}


def why_two(runs: dict[str, Any], crash_at: float, window: tuple[float, float], title: str):
    """Side by side, one column per run (``{"min 1": arrays, "min 2": arrays}``, each run's
    ``request_arrays``): failed responses and p95 latency around a crash, in 5-second bins."""
    fig = _figure(13, 6.4)
    cols = fig.subplots(2, len(runs), sharex=True, sharey="row", height_ratios=[1.2, 1])
    width = 5.0
    for c, (label, over) in enumerate(runs.items()):
        binned = _per_bin(over, window[0], window[1], width)
        mid = (binned["edges"][:-1] - crash_at) / 60
        top, bottom = cols[0][c], cols[1][c]
        stack = np.zeros(len(mid))
        for code, counts in binned["errors"].items():
            top.bar(
                mid,
                counts,
                width=width / 60 * 0.9,
                align="edge",
                bottom=stack,
                color=STATUS_COLORS[code],
                label=STATUS_NAMES[code],
            )
            stack += counts
        failed = int(stack.sum())
        top.set_title(f"{label}: {failed} failed responses", fontsize=12, loc="left")
        bottom.plot(mid + width / 120, binned["p95"], color=COLORS["app"], lw=2)
        if failed == 0:
            top.text(
                0.5,
                0.5,
                "no failed response:\nthe other instance takes the traffic",
                transform=top.transAxes,
                ha="center",
                va="center",
                fontsize=12,
                color="#2ca02c",
            )
        for ax in (top, bottom):
            ax.axvline(0, color="#d62728", lw=1.2)
            ax.spines[["top", "right"]].set_visible(False)
        top.annotate(
            "crash",
            (0, 0.97),
            xycoords=("data", "axes fraction"),
            xytext=(4, 0),
            textcoords="offset points",
            color="#d62728",
            va="top",
        )
        bottom.set_xlabel("minutes since the crash (requests by arrival, 5 s bins)")
    cols[0][0].set_ylabel("failed responses / 5 s")
    cols[1][0].set_ylabel("p95 of successful (ms)")
    cols[1][0].set_ylim(bottom=0)
    cols[0][0].legend(loc="upper right", fontsize=12, frameon=False)
    fig.suptitle(title, fontsize=14)
    return fig


def workers_vs_cores(
    points: list[tuple[int, float, float]], offered: float, vcpus: int, title: str
):
    """p95 latency (left axis, log) and requests completed per second (right) against
    Gunicorn workers; ``points`` are ``(workers, p95 seconds, completed per second)``."""
    fig = _figure(10, 5.4)
    ax = fig.add_subplot()
    workers = [w for w, _, _ in points]
    p95 = [p * 1000 for _, p, _ in points]
    rps = [r for _, _, r in points]
    ax.plot(workers, p95, "o-", color=COLORS["queue"], lw=2.2, ms=8, label="p95 latency (left)")
    ax.set_yscale("log")
    ax.set_xscale("log", base=2)
    ax.set_xticks(workers, [str(w) for w in workers])
    ax.set_xlabel(f"Gunicorn sync workers on one instance with {vcpus} vCPUs")
    ax.set_ylabel("p95 latency of successful requests (ms)")
    right = ax.twinx()
    right.plot(
        workers,
        rps,
        "s--",
        color=COLORS["connect"],
        lw=1.5,
        ms=7,
        label="requests completed / s (right)",
    )
    right.axhline(offered, color=COLORS["connect"], lw=0.8, ls=":")
    right.annotate(
        f"offered {offered:g}/s",
        (workers[-1], offered),
        xytext=(0, 4),
        textcoords="offset points",
        ha="right",
        va="bottom",
        color=COLORS["connect"],
        fontsize=12,
    )
    right.set_ylabel("requests completed per second")
    right.set_ylim(0, offered * 1.3)
    rule = 2 * vcpus + 1
    ax.axvline(rule, color="#555555", ls=":", lw=1.2)
    ax.annotate(
        f"(2 x cores) + 1 = {rule}",
        (rule, 0.6),
        xycoords=("data", "axes fraction"),
        xytext=(5, 0),
        textcoords="offset points",
        va="top",
        color="#333333",
    )
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = right.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="center right", bbox_to_anchor=(1, 0.45), frameon=False)
    ax.spines[["top"]].set_visible(False)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(title, fontsize=12)
    return fig


#: The slide's figure: 16:9 at the deck's 1280 x 720, in inches of 100 slide pixels, so a
#: point of type is 100/72 px on the slide and nothing below 11 pt (15 px) is drawn.
SLIDE_INCHES = (12.8, 7.2)
SLIDE_FONT = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13,
              "xtick.labelsize": 12, "ytick.labelsize": 12, "legend.fontsize": 12}  # fmt: skip


def dashboard_slide(result, title: str) -> Figure:
    """A run over time as a CloudWatch wall for one slide: five panels in a 3 x 2 grid on one
    time axis (traffic, capacity, CPU, latency, errors), the sixth cell a key to the events.
    The same columns ``sim.figures.dashboard`` draws, laid out wide with slide-sized type."""
    import math

    import matplotlib as mpl
    from matplotlib.figure import Figure

    table = result.table
    minutes = [r["t"] / 60 for r in table]

    def col(key):
        return [float(r[key]) if r.get(key) is not None else math.nan for r in table]

    with mpl.rc_context(SLIDE_FONT):
        fig = Figure(figsize=SLIDE_INCHES, layout="constrained")
        grid = fig.subplots(2, 3, sharex=True)
        traffic, capacity, cpu = grid[0]
        latency, errors, key = grid[1]
        traffic.plot(minutes, col("rps"), color="#1f77b4", lw=2)
        traffic.set_title("Traffic: requests/s", loc="left")
        capacity.step(minutes, col("desired"), where="post", color="black", ls="--",
                      label="desired")  # fmt: skip
        capacity.step(minutes, col("healthy"), where="post", color="#2ca02c", lw=2.5,
                      label="healthy")  # fmt: skip
        capacity.set_ylim(bottom=0)
        capacity.legend(frameon=False, loc="upper left")
        capacity.set_title("Capacity: instances", loc="left")
        cpu.plot(minutes, col("cpu_mean"), color="#d62728", lw=2)
        for th in sorted(result.run.over_time.thresholds):
            cpu.axhline(th, color="#d62728", ls="--", lw=1)
        cpu.set_ylim(0, 105)
        cpu.set_title("CPU %: group average, alarm", loc="left")
        latency.plot(minutes, [v * 1000 for v in col("p95")], color="#ff7f0e", lw=2)
        latency.set_yscale("log")
        latency.set_title("p95 latency (ms)", loc="left")
        bottom = [0.0] * len(table)
        period = (minutes[1] - minutes[0]) if len(minutes) > 1 else 1.0
        for code, color in STATUS_COLORS.items():
            values = [0.0 if math.isnan(v) else v for v in col(f"errors_{code}")]
            if any(values):
                errors.bar(minutes, values, width=-period * 0.9, align="edge", bottom=bottom,
                           color=color, label=STATUS_NAMES[code])  # fmt: skip
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        errors.legend(frameon=False, loc="upper left")
        errors.set_title("Errors per minute", loc="left")
        for ax in (latency, errors):
            ax.set_xlabel("minutes")
        cpu.set_xlabel("minutes")
        cpu.xaxis.set_tick_params(labelbottom=True)
        key.axis("off")
        key.text(0, 1, _wrap_lines(title, 30), va="top", fontsize=14, weight="bold")
        key.text(0, 0.55, "Read top left to bottom right:\ntraffic jumps, the group asks for\n"
                 "more, CPU saturates, latency\nclimbs, then errors while no\n"
                 "instance is healthy.", va="top", fontsize=13)  # fmt: skip
    return fig


def _wrap_lines(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
