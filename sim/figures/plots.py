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
from sim.results.records import AssetRecord, Record, by_request, end_to_end, finished_at

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


#: How a static file's time is drawn in the waterfall (colour-blind-safe, as the layers).
ASSET_PARTS = (
    ("waiting for a connection", "#BBBBBB"),
    ("opening the connection", "#0072B2"),
    ("request, edge or instance", "#009E73"),
    ("waiting for a worker / vCPU", "#E69F00"),
    ("the bytes", "#F0E442"),
)
#: At most this many files are drawn (a heavy page has hundreds).
MAX_FILES = 40


def waterfall(
    records: list[Record], request_id: int, title: str, assets: list[AssetRecord] = ()
) -> Figure:
    """One request's layers on a time line, like a browser's network waterfall; with the
    page's static files (``assets``) below them, each split into its parts."""
    group = by_request(records)[request_id]
    t0 = group[0].arrival
    files = list(assets)[:MAX_FILES]
    fig = _figure(7.5, 3.6 + 0.22 * len(files))
    ax = fig.add_subplot()
    y = np.arange(len(group) + len(files))[::-1]
    for yi, r in zip(y, group, strict=False):
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
    labels = [r.layer for r in group]
    for yi, f in zip(y[len(group) :], files, strict=True):
        left = (f.ready - t0) * 1000
        # The wait for a worker falls between the round trip and the serving; drawn after both.
        parts = (f.start - f.ready, f.connect, f.service, f.wait, f.transfer)
        for (_, color), seconds in zip(ASSET_PARTS, parts, strict=True):
            ax.barh(yi, seconds * 1000, left=left, color=color, height=0.6)
            left += seconds * 1000
        ax.text((f.end - t0) * 1000, yi, f"  {(f.end - f.start) * 1000:.1f} ms", va="center",
                fontsize=8)  # fmt: skip
        labels.append(f"file {f.asset + 1} ({f.size / 1000:.0f} KB)")
    ax.set_yticks(y, labels)
    end = max([finished_at(group)] + [f.end for f in files])
    ax.set_xlim(0, (end - t0) * 1000 * 1.18)
    note = "app and db take turns, so their bars overlap; the labels give each layer's own time"
    if files:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(facecolor=c, label=n) for n, c in ASSET_PARTS], frameon=False,
                  fontsize=8, loc="upper right")  # fmt: skip
        note += "\nfiles: the labels give each file's time from the moment a connection took it"
    ax.set_xlabel(f"time since the user pressed Enter (ms)\n{note}")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
