"""Figures from the records and the summary: pure functions returning matplotlib figures.

Think of a doctor's charts pinned at the end of a bed: they are drawn from the nurses' notes
(the records and the summary), never by examining the patient (running the model) again.
Each function takes data and returns a :class:`matplotlib.figure.Figure`
(:func:`sim.figures.png` turns one into PNG bytes). Every layer is drawn in its colour from
``sim/layers.py``.

matplotlib is imported inside the functions: it costs about a second at start-up, which a CLI
that only prints a summary should not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.layers import COLORS, LAYERS
from sim.results.records import Record, by_request, end_to_end, finished_at

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def latency_distribution(records: list[Record], window: tuple[float, float], title: str) -> Figure:
    """Histogram of end-to-end latency of successful requests, with mean and percentiles."""
    e2e = []
    for g in by_request(records).values():
        if g[0].status == 200 and window[0] <= g[0].arrival < window[1]:
            e2e.append(end_to_end(g) * 1000)
    fig = _figure(7.5, 4.0)
    ax = fig.add_subplot()
    if e2e:
        a = np.asarray(e2e)
        top = np.percentile(a, 99.9)
        ax.hist(a[a <= top], bins=60, color=COLORS["app"], alpha=0.8)
        for name, value, style in (
            ("mean", a.mean(), "-"),
            ("p50", np.percentile(a, 50), "--"),
            ("p95", np.percentile(a, 95), "-."),
            ("p99", np.percentile(a, 99), ":"),
        ):
            ax.axvline(value, color="black", linestyle=style, linewidth=1,
                       label=f"{name} {value:.0f} ms")  # fmt: skip
        ax.legend(frameon=False)
        ax.set_xlim(left=0)
    ax.set_xlabel("end-to-end latency (ms), successful requests (up to the 99.9th percentile)")
    ax.set_ylabel("requests")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def layer_breakdown(summary: dict, title: str) -> Figure:
    """Mean time per layer, split into waiting (hatched) and being served."""
    layers = [la for la in LAYERS if summary["latency"]["layers"][la]["count"]]
    waits = [summary["latency"]["layers"][la]["wait"] * 1000 for la in layers]
    services = [summary["latency"]["layers"][la]["service"] * 1000 for la in layers]
    fig = _figure(7.5, 4.0)
    ax = fig.add_subplot()
    y = np.arange(len(layers))[::-1]
    colors = [COLORS[la] for la in layers]
    ax.barh(y, services, color=colors, label="being served")
    ax.barh(y, waits, left=services, color=colors, alpha=0.45, hatch="//", edgecolor="white",
            label="waiting")  # fmt: skip
    for yi, s, w in zip(y, services, waits, strict=True):
        ax.text(s + w, yi, f"  {s + w:.1f} ms", va="center", fontsize=9)
    ax.set_yticks(y, layers)
    ax.set_xlabel("mean time per successful request (ms)")
    ax.set_title(title)
    ax.set_xlim(0, max(s + w for s, w in zip(services, waits, strict=True)) * 1.2 or 1)
    from matplotlib.patches import Patch

    key = [
        Patch(facecolor="0.45", label="being served"),
        Patch(facecolor="0.45", alpha=0.45, hatch="//", edgecolor="white", label="waiting"),
    ]
    ax.legend(handles=key, frameon=False, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def waterfall(records: list[Record], request_id: int, title: str) -> Figure:
    """One request's layers on a time line, like a browser's network waterfall."""
    group = by_request(records)[request_id]
    t0 = group[0].arrival
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    y = np.arange(len(group))[::-1]
    for yi, r in zip(y, group, strict=True):
        layer, arrival, end, wait, service = r.layer, r.arrival, r.end, r.wait, r.service
        a, e = (arrival - t0) * 1000, (end - t0) * 1000
        if layer in ("app", "db"):
            # Interleaved (a view runs, queries, runs again): the bar spans the whole stretch.
            ax.barh(yi, e - a, left=a, color=COLORS[layer], alpha=0.55)
        else:
            if wait > 0:
                ax.barh(yi, wait * 1000, left=a, color=COLORS[layer], alpha=0.45, hatch="//",
                        edgecolor="white")  # fmt: skip
            ax.barh(yi, max(service * 1000, 0.05), left=a + wait * 1000, color=COLORS[layer])
        ax.text(e, yi, f"  {(wait + service) * 1000:.1f} ms", va="center", fontsize=9)
    ax.set_yticks(y, [r.layer for r in group])
    ax.set_xlim(0, (finished_at(group) - t0) * 1000 * 1.18)
    ax.set_xlabel(
        "time since the user pressed Enter (ms)\n"
        "app and db take turns, so their bars overlap; the labels give each layer's own time"
    )
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
