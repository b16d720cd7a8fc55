"""The picture for the talk's "layers" slide: a request's path drawn as a layer cake.

The talk made its point with a film still ("ogres have layers"); this draws the point itself.
A cut cake stands on the left: the browser's icing on top, then one stratum per layer of
:mod:`sim.layers` in the order a request meets them, down to PostgreSQL at the bottom, each
in its layer's colour; the response climbs back up the side (``download``). On the right, each
stratum's name, what happens there, the talk section it belongs to and, when given, the mean
time a request of the ``baseline`` scenario spends in it, as a bar.

Pure drawing: :func:`layers_picture` takes the mean milliseconds per layer (or nothing) and
returns a matplotlib figure; ``assets/build.py`` runs the model and passes the numbers in.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from sim.layers import COLORS, DESCRIPTIONS, LAYERS, TALK_SECTION

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The strata, top to bottom: the way in. ``download`` is the way back, drawn beside the cake.
STRATA: tuple[str, ...] = tuple(la for la in LAYERS if la != "download")
INK = "#1B1B1B"
MUTED = "#5A5A5A"
#: The smallest type (points). The slide shows the 16-inch picture about 1,216 px wide, so a
#: point prints at 1.05 px there: 13.5 pt is 14 px.
SMALL = 13.5
#: A description longer than this many characters wraps onto a second line, so it never runs
#: into the bars (tests/test_assets.py checks that no two things overlap).
WRAP = 46


def _cake(ax, left: float, right: float, top: float, bottom: float) -> list[float]:
    """Draw the cake; return the centre height of each stratum (top to bottom)."""
    from matplotlib.patches import Arc, Ellipse, Rectangle

    width, mid = right - left, (left + right) / 2
    rim = 0.2  # half-height of the ellipses that give the cake its depth
    step = (top - bottom) / len(STRATA)
    ax.add_patch(
        Ellipse(
            (mid, bottom),
            width * 1.3,
            rim * 3.4,
            facecolor="#ECECEC",
            edgecolor="#B5B5B5",
            lw=1.5,
            zorder=1,
        )
    )
    centres = []
    for i, layer in enumerate(STRATA):
        y0 = top - (i + 1) * step
        z = 20 - i  # an upper stratum's curved lower edge overlaps the one below
        colour = COLORS[layer]
        ax.add_patch(
            Rectangle((left, y0), width, step, facecolor=colour, edgecolor="none", zorder=z)
        )
        ax.add_patch(
            Ellipse((mid, y0), width, 2 * rim, facecolor=colour, edgecolor="none", zorder=z)
        )
        # cream filling between the sponges: the front half of the seam
        ax.add_patch(
            Arc(
                (mid, y0),
                width,
                2 * rim,
                theta1=180,
                theta2=360,
                color="#FFF6E5",
                lw=3,
                zorder=z + 0.5,
            )
        )
        centres.append(y0 + step / 2 - rim / 2)
    # the icing on top: the browser, where it all starts
    ax.add_patch(
        Ellipse(
            (mid, top), width, 2 * rim, facecolor="#FFF6E5", edgecolor="#E0CDA8", lw=1.5, zorder=30
        )
    )
    ax.text(
        mid,
        top,
        "you type quorum.us ⏎",
        ha="center",
        va="center",
        fontsize=16,
        color=INK,
        zorder=31,
        family="DejaVu Sans Mono",
    )
    return centres


def layers_picture(mean_ms: dict[str, float] | None = None, source: str = "") -> Figure:
    """The layer cake, 16:9. ``mean_ms`` maps each layer to a typical request's mean time
    there (ms); ``source`` says where those numbers come from (shown under the bars)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    fig = Figure(figsize=(16, 9))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 16)
    ax.set_ylim(0, 9)
    ax.axis("off")
    fig.patch.set_facecolor("white")

    ax.text(0.6, 8.45, "Stacks have layers.", fontsize=34, weight="bold", color=INK, va="center")
    ax.text(
        0.62,
        7.85,
        "Ogres have layers, onions have layers, and so does every request to quorum.us:"
        " the same seven names everywhere.",
        fontsize=16,
        color=MUTED,
        va="center",
    )

    left, right, top, bottom = 1.9, 5.7, 7.0, 1.75
    centres = _cake(ax, left, right, top, bottom)
    step = centres[0] - centres[1]

    # the way in (down the cake) and the way back (download, up its side)
    ax.add_patch(
        FancyArrowPatch(
            (1.35, top - 0.1),
            (1.35, bottom + 0.1),
            arrowstyle="-|>",
            mutation_scale=26,
            lw=2.5,
            color=INK,
        )
    )
    ax.text(
        1.15,
        (top + bottom) / 2,
        "the request goes down",
        rotation=90,
        ha="center",
        va="center",
        fontsize=SMALL,
        color=INK,
    )
    ax.add_patch(
        FancyArrowPatch(
            (0.7, bottom + 0.1),
            (0.7, top - 0.1),
            arrowstyle="-|>",
            mutation_scale=26,
            lw=2.5,
            color=COLORS["download"],
        )
    )
    ax.text(
        0.5,
        (top + bottom) / 2,
        "the response comes back up (download)",
        rotation=90,
        ha="center",
        va="center",
        fontsize=SMALL,
        color="#6E6E6E",
    )

    # one row of text per stratum, joined to it by a thin leader; download gets the last row
    rows = [*zip(STRATA, centres, strict=True), ("download", centres[-1] - step * 1.05)]
    text_x, bar_x, bar_w = 6.45, 12.75, 1.45
    largest = max(mean_ms.values()) if mean_ms else 1.0
    total = sum(mean_ms.values()) if mean_ms else 0.0
    for layer, y in rows:
        colour = COLORS[layer]
        if layer == "download":
            ax.text(text_x - 0.6, y + 0.17, "↑", fontsize=21, color=colour, va="center")
        else:
            ax.plot([right + 0.05, text_x - 0.15], [y, y], color=colour, lw=1.5, alpha=0.8)
        ax.text(
            text_x,
            y + 0.17,
            layer,
            fontsize=21,
            weight="bold",
            color=colour,
            family="DejaVu Sans Mono",
            va="center",
        )
        ax.text(
            text_x + 2.45,
            y + 0.15,
            TALK_SECTION[layer],
            fontsize=SMALL,
            style="italic",
            color=MUTED,
            va="center",
        )
        ax.text(text_x, y - 0.02, textwrap.fill(DESCRIPTIONS[layer], WRAP), fontsize=SMALL,
                color=INK, va="top", linespacing=1.1)  # fmt: skip
        if mean_ms:
            ms = mean_ms[layer]
            share = ms / total
            ax.barh(y, bar_w * ms / largest, left=bar_x, height=0.36, color=colour)
            ax.text(
                bar_x + bar_w * ms / largest + 0.08,
                y,
                f"{ms:.1f} ms · {'<1%' if share < 0.005 else f'{share:.0%}'}",
                fontsize=SMALL,
                color=INK,
                va="center",
            )
    if mean_ms:
        ax.text(
            bar_x,
            top + 0.25,
            f"a request's mean: {total:.0f} ms",
            fontsize=14,
            weight="bold",
            color=INK,
            va="center",
        )
        if source:
            ax.text(bar_x - 0.6, rows[-1][1] - 0.35, source, fontsize=SMALL, color=MUTED,
                    va="top")  # fmt: skip
    return fig
