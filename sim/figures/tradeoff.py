"""The trade-off of a sweep: cost against p95 latency, one point per setting.

A pure function of a sweep's rows (``sim/sweep.py``): means over replications per setting,
drawn as labelled dots coloured by error rate. matplotlib is imported lazily.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def by_setting(rows: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Means over replications, one entry per setting."""
    out = []
    for i in sorted({r["setting"] for r in rows}):
        mine = [r for r in rows if r["setting"] == i]
        entry = {k: mine[0][k] for k in keys}
        for k in ("instance_hours", "p95", "error_rate"):
            vals = [r[k] for r in mine if not _nan(r[k])]
            entry[k] = float(np.mean(vals)) if vals else math.nan
        out.append(entry)
    return out


def tradeoff(rows: list[dict[str, Any]], keys: Sequence[str], title: str) -> Figure:
    """Cost (instance-hours) against p95 latency, one point per setting, labelled."""
    from matplotlib.figure import Figure

    points = by_setting(rows, keys)
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.add_subplot()
    cost = [p["instance_hours"] for p in points]
    p95 = [p["p95"] * 1000 for p in points]
    errors = [p["error_rate"] for p in points]
    dots = ax.scatter(cost, p95, c=errors, cmap="Reds", vmin=0, vmax=max(max(errors), 0.01),
                      edgecolors="black", s=60, zorder=3)  # fmt: skip
    ax.margins(0.15)
    # Settings that ran identically (a limit never reached) share one dot and one label.
    labels: dict[tuple[float, float], list[str]] = {}
    for p, x, y in zip(points, cost, p95, strict=True):
        labels.setdefault((x, y), []).append(", ".join(f"{k.split('.')[-1]}={p[k]}" for k in keys))
    _place_labels(fig, ax, labels)
    fig.colorbar(dots, ax=ax, label="error rate")
    ax.set_xlabel("cost: instance-hours per run")
    ax.set_ylabel("p95 latency of successful requests (ms)")
    finite = [v for v in p95 if not math.isnan(v)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 10:
        ax.set_yscale("log")  # settings that saturate would flatten all the others
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    return fig


def _place_labels(fig, ax, labels: dict[tuple[float, float], list[str]]) -> None:
    """Label each dot to its right; labels of dots in the same column are stacked downwards
    from the highest, so none overlaps another (offsets in points)."""
    ax.autoscale_view()
    to_pt = 72.0 / fig.dpi
    spots = sorted(labels, key=lambda s: -s[1] if s[1] == s[1] else 0)
    where = {s: ax.transData.transform(s) * to_pt for s in spots}
    line = 10.0  # points per line of 8-point text
    floor: list[tuple[float, float]] = []  # (x, lowest label bottom so far) per column
    for spot in spots:
        x, y = where[spot]
        height = line * len(labels[spot])
        bottom = y + 4
        for fx, fy in floor:
            if abs(fx - x) < 40:
                bottom = min(bottom, fy - 2 - height)
        floor.append((x, bottom))
        leader = {"arrowstyle": "-", "lw": 0.5, "color": "grey"} if bottom - y != 4 else None
        ax.annotate("\n".join(labels[spot]), spot, textcoords="offset points",
                    xytext=(8, bottom - y), fontsize=8, va="bottom", arrowprops=leader)  # fmt: skip
