"""The map of the path: the architecture diagram every chapter and slide starts from.

Like a metro map, it leaves out distances and shows only the stops and the order a passenger
meets them: browser, DNS, the Elastic Load Balancer (watched by the auto-scaling group), two
instances each running nginx -> Gunicorn -> Django, and PostgreSQL on RDS. Each stop is tagged
with its layer name from :mod:`sim.layers` and drawn in that layer's colour, so the diagram
reads as the legend of every other figure.

Pure drawing: it builds a matplotlib figure from constants and never runs the model.
``python -m assets.diagram OUT.png`` writes it (``make assets`` does, into ``assets/``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim.layers import COLORS

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True, slots=True)
class Box:
    """One stop on the map: a labelled rectangle at (x, y) with width w and height h."""

    key: str
    title: str
    detail: str
    layer: str | None
    x: float
    y: float
    w: float = 2.2
    h: float = 1.25


#: Type sizes (points): a box's title, and everything else.
TITLE, SMALL = 14, 12.5

# Coordinates are in an abstract 20 x 10 canvas; the figure scales them.
BOXES: tuple[Box, ...] = (
    Box("browser", "Browser", "you type\nquorum.us", None, 0.2, 4.4, w=2.0),
    Box("dns", "DNS", "browser, OS and\nresolver caches", "dns", 0.2, 7.0, w=3.0),
    Box("elb", "Load balancer", "ELB: TLS, health\nchecks, routing", "lb", 3.7, 4.4, w=3.0),
    Box("asg", "Auto Scaling", "CloudWatch alarms:\nscale out / in", None, 3.7, 1.2, w=3.0),
    Box("nginx1", "nginx", "reverse proxy,\nHTTPS", None, 7.3, 6.6, w=2.4),
    Box("gunicorn1", "Gunicorn", "backlog,\nworkers", "queue", 10.1, 6.6, w=2.4),
    Box("django1", "Django", "views, ORM,\ntemplates", "app", 12.9, 6.6, w=2.4),
    Box("nginx2", "nginx", "reverse proxy,\nHTTPS", None, 7.3, 2.4, w=2.4),
    Box("gunicorn2", "Gunicorn", "backlog,\nworkers", "queue", 10.1, 2.4, w=2.4),
    Box("django2", "Django", "views, ORM,\ntemplates", "app", 12.9, 2.4, w=2.4),
    Box("db", "PostgreSQL", "RDS:\nmax_connections", "db", 16.3, 4.4, w=3.1),
)

ARROWS: tuple[tuple[str, str, str], ...] = (
    ("browser", "dns", "1. lookup"),
    ("browser", "elb", "2. HTTPS"),
    ("elb", "nginx1", ""),
    ("elb", "nginx2", "3. route"),
    ("nginx1", "gunicorn1", "4"),
    ("gunicorn1", "django1", "5"),
    ("nginx2", "gunicorn2", ""),
    ("gunicorn2", "django2", ""),
    ("django1", "db", "6. SQL"),
    ("django2", "db", ""),
    ("asg", "elb", "registers\ninstances"),
)


def _anchor(box: Box, toward: Box) -> tuple[float, float]:
    """The point on ``box``'s edge that faces ``toward`` (centre of the nearest side)."""
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    tx, ty = toward.x + toward.w / 2, toward.y + toward.h / 2
    dx, dy = tx - cx, ty - cy
    if abs(dx) * box.h >= abs(dy) * box.w:
        return (box.x + box.w if dx > 0 else box.x), cy
    return cx, (box.y + box.h if dy > 0 else box.y)


def draw_architecture() -> Figure:
    """Return the architecture diagram as a matplotlib figure."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

    # Type for a slide: the deck shows this figure about 1,075 px wide, so 12 pt (20 px in the
    # 1,560 px PNG) prints at 14 px; boxes and words are sized to fit that type.
    fig = Figure(figsize=(13, 6.5), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-0.2, 19.6)
    ax.set_ylim(-0.3, 9.6)
    ax.axis("off")

    # The instances sit inside an auto-scaling group's dashed outline: they come and go.
    for y, name in ((6.2, "instance web-1 (EC2)"), (2.0, "instance web-2 (EC2)")):
        ax.add_patch(
            Rectangle((7.1, y), 8.4, 2.05, fill=False, linestyle="--", edgecolor="#777777")
        )
        ax.text(7.2, y + 0.06, name, fontsize=SMALL, color="#555555", va="bottom")

    by_key = {b.key: b for b in BOXES}
    for b in BOXES:
        colour = COLORS[b.layer] if b.layer else "#DDDDDD"
        ax.add_patch(
            FancyBboxPatch(
                (b.x, b.y),
                b.w,
                b.h,
                boxstyle="round,pad=0.05,rounding_size=0.15",
                facecolor=colour,
                edgecolor="#333333",
                alpha=0.9 if b.layer else 1.0,
            )
        )
        text_colour = "white" if b.layer == "app" else "#111111"
        ax.text(
            b.x + b.w / 2,
            b.y + b.h - 0.3,
            b.title,
            ha="center",
            va="center",
            fontsize=TITLE,
            weight="bold",
            color=text_colour,
        )
        ax.text(
            b.x + b.w / 2,
            b.y + 0.42,
            b.detail,
            ha="center",
            va="center",
            fontsize=SMALL,
            color=text_colour,
            linespacing=1.15,
        )
        if b.layer:
            ax.text(
                b.x + b.w - 0.08,
                b.y + b.h + 0.12,
                b.layer,
                ha="right",
                va="bottom",
                fontsize=SMALL,
                family="monospace",
                color="#333333",
            )

    for src, dst, label in ARROWS:
        a, b = by_key[src], by_key[dst]
        start, end = _anchor(a, b), _anchor(b, a)
        ax.add_patch(
            FancyArrowPatch(
                start,
                end,
                arrowstyle="-|>",
                mutation_scale=14,
                color="#333333",
                linewidth=1.3,
                shrinkA=2,
                shrinkB=2,
            )
        )
        if label:
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            ax.text(
                mx,
                my + 0.15,
                label,
                ha="center",
                va="bottom",
                fontsize=SMALL,
                color="#222222",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            )

    ax.text(0.2, 9.5, "What happens when you type quorum.us", fontsize=18, weight="bold", va="top")
    ax.text(
        0.2,
        0.15,
        "Tags above the boxes are layer names (sim/layers.py), the same words everywhere.",
        fontsize=SMALL,
        color="#555555",
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].endswith(".png"):
        print("usage: python -m assets.diagram OUT.png", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target, then rename: a failed draw never leaves a half-written PNG.
    tmp = out.with_suffix(".tmp.png")
    draw_architecture().savefig(tmp, metadata={"Software": None})
    tmp.replace(out)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
