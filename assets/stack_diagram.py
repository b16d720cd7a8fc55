"""The stack diagram the talk shows: Quorum's AWS parts, drawn as code with Graphviz.

Like a building's floor plan beside the metro map of :mod:`assets.diagram`: the metro map shows
the order a request meets its stops, this plan shows where each part lives. The browser asks
DNS (Route 53 through a resolver) for ``quorum.us``, connects to the Elastic Load Balancer,
which routes to the EC2 instances of an auto-scaling group, each running nginx -> Gunicorn ->
Django, which query RDS PostgreSQL; static files come from S3 through CloudFront; CloudWatch
reads the group's CPU and its alarms set the group's desired capacity. A part that is one of
the request's layers (:mod:`sim.layers`) carries the layer's name and colour.

Flow: the constants below -> :func:`stack_graph` (a ``graphviz.Digraph``) -> :func:`source`
(the DOT text, what the tests read) -> :func:`render_png` (``dot -Tpng``, bytes). Nothing here
runs the model. Needs Graphviz's ``dot`` on the ``PATH`` (Debian: ``apt-get install
graphviz``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from sim.layers import COLORS

if TYPE_CHECKING:
    import graphviz

#: A fixed font that Debian's fonts-dejavu-core ships, so the picture does not depend on
#: whatever fontconfig would otherwise pick.
FONT = "DejaVu Sans"
MONO = "DejaVu Sans Mono"
PLAIN = "#5F6B73"  # the header of a part that is not one of the request's layers
INK = "#1B1B1B"
#: Layers whose colour is dark enough to need white text on it.
_DARK = {"connect", "lb", "app", "download"}


@dataclass(frozen=True, slots=True)
class Part:
    """One box: a part of the stack with its name, what it does there, and its layers."""

    key: str
    name: str
    detail: str
    layers: tuple[str, ...] = ()


CLIENT = Part("client", "Browser (client)", "you type quorum.us")
DNS = Part("dns", "DNS", "Route 53 via\nyour resolver", ("dns",))
CLOUDFRONT = Part("cloudfront", "CloudFront", "CDN: static files")
S3 = Part("s3", "S3", "static files\n(origin)")
ELB = Part("elb", "Elastic Load Balancer", "TLS, health checks,\nrouting", ("lb",))
RDS = Part("rds", "RDS PostgreSQL", "max_connections,\nqueries", ("db",))
CLOUDWATCH = Part("cloudwatch", "CloudWatch", "metrics -> alarms")
#: The group itself: what CloudWatch's alarms act on (its desired capacity).
GROUP = Part("asg", "Auto Scaling group", "desired capacity,\nmin 2: launches, replaces")
INSTANCES = ("web-1", "web-2")


def _instance_parts(name: str) -> tuple[Part, Part, Part]:
    return (
        Part(f"{name}-nginx", "nginx", "reverse proxy, TLS"),
        Part(f"{name}-gunicorn", "Gunicorn", "backlog, workers", ("queue",)),
        Part(f"{name}-django", "Django", "views, ORM", ("app",)),
    )


def parts() -> tuple[Part, ...]:
    """Every box on the diagram, outside in."""
    inner = tuple(p for name in INSTANCES for p in _instance_parts(name))
    return (CLIENT, DNS, CLOUDFRONT, S3, ELB, GROUP, *inner, RDS, CLOUDWATCH)


#: Type sizes (points at the drawing's 72 dpi, before dot fits it to 16 x 9 inches): chosen
#: with the compact layout below so that a slide showing the whole picture prints the
#: smallest of them at 14 px or more (tests/slides measure it).
TITLE_PT, NAME_PT, TEXT_PT = 32, 26, 24


def _rows(part: Part) -> str:
    """Table rows for one part: a coloured header (the layer's colour) over a white body."""
    layer = part.layers[0] if part.layers else None
    fill = COLORS[layer] if layer else PLAIN
    ink = "white" if layer is None or layer in _DARK else INK
    tag = (
        f'<FONT FACE="{MONO}" POINT-SIZE="{TEXT_PT}" COLOR="{ink}">  '
        f"{' · '.join(part.layers)}</FONT>"
        if part.layers
        else ""
    )
    lines = "<BR/>".join(escape(line) for line in part.detail.split("\n"))
    return (
        f'<TR><TD BGCOLOR="{fill}" PORT="{part.key}"><FONT COLOR="{ink}" '
        f'POINT-SIZE="{NAME_PT}"><B>{escape(part.name)}</B></FONT>{tag}</TD></TR>'
        f'<TR><TD BGCOLOR="white"><FONT COLOR="{INK}" POINT-SIZE="{TEXT_PT}">{lines}</FONT>'
        "</TD></TR>"
    )


def _label(*parts: Part) -> str:
    """An HTML-like label: one bordered table stacking each part's rows."""
    colour = COLORS[parts[0].layers[0]] if parts[0].layers else PLAIN
    return (
        f'<<TABLE BORDER="1" COLOR="{colour}" STYLE="ROUNDED" CELLBORDER="0" CELLSPACING="0"'
        ' CELLPADDING="6">' + "".join(_rows(p) for p in parts) + "</TABLE>>"
    )


def _node(g: graphviz.Digraph, part: Part) -> None:
    g.node(part.key, label=_label(part))


def _edge(g, a: str, b: str, label: str = "", layer: str | None = None, **attrs: str) -> None:
    colour = COLORS[layer] if layer else "#444444"
    text = f" {label} " if label else ""
    g.edge(a, b, label=text, color=colour, fontcolor=INK if layer is None else colour, **attrs)


def stack_graph() -> graphviz.Digraph:
    """The diagram as a Graphviz graph, left (the browser) to right (the database). Each
    instance is one box of three rows, nginx over Gunicorn over Django, so the picture is
    four columns wide and its type can be large."""
    import graphviz

    g = graphviz.Digraph("quorum_stack")
    g.attr(
        rankdir="LR",
        bgcolor="white",
        fontname=FONT,
        fontsize=str(TITLE_PT),
        labelloc="t",
        label="Quorum's stack on AWS: what answers when you type quorum.us\n\n",
        nodesep="0.15",
        ranksep="0.35",
        newrank="true",
        compound="true",
        pad="0.2",
        # 16:9: ``size`` with ``!`` scales the drawing up or down to fit; ``ratio`` pads it.
        size="16,9!",
        ratio="fill",
        dpi="120",
    )
    g.attr("node", shape="plain", fontname=FONT, margin="0")
    g.attr("edge", fontname=FONT, fontsize=str(TEXT_PT), penwidth="2.2", arrowsize="1.1")

    for part in (CLIENT, DNS, CLOUDFRONT, S3):
        _node(g, part)
    with g.subgraph(name="cluster_region") as region:
        region.attr(label="AWS region (VPC)", fontsize=str(TEXT_PT), fontcolor="#555555",
                    style="rounded,dashed", color="#999999", labeljust="l")  # fmt: skip
        _node(region, ELB)
        _node(region, RDS)
        _node(region, CLOUDWATCH)
        with region.subgraph(name="cluster_asg") as asg:
            asg.attr(label="EC2 instances come and go", fontsize=str(TEXT_PT),
                     fontcolor="#333333", style="rounded,filled", fillcolor="#F3F3F3",
                     color="#777777", labeljust="l")  # fmt: skip
            _node(asg, GROUP)
            for name in reversed(INSTANCES):  # declared in reverse: dot draws web-1 on top
                asg.node(name, label=_instance_label(name))
    _edge(g, CLIENT.key, DNS.key, "1. lookup", "dns")
    _edge(g, CLIENT.key, ELB.key, "2. HTTPS", "connect")
    for name in INSTANCES:
        nginx, _, django = _instance_parts(name)
        _edge(g, ELB.key, f"{name}:{nginx.key}", "3. route" if name == INSTANCES[0] else "", "lb")
        _edge(g, f"{name}:{django.key}", RDS.key, "4. SQL" if name == INSTANCES[0] else "", "db")
    _edge(g, CLIENT.key, CLOUDFRONT.key, "static", style="dashed")
    _edge(g, CLOUDFRONT.key, S3.key, "on a miss", style="dashed")
    # CloudWatch reads the group's CPU and its alarms set the group's desired capacity: both
    # arrows join CloudWatch and the group, never one instance.
    _edge(g, CLOUDWATCH.key, GROUP.key, "alarms: scale out / in", style="bold")
    _edge(g, GROUP.key, CLOUDWATCH.key, "CPU of its instances", style="dotted",
          constraint="false")  # fmt: skip
    with g.subgraph() as same:
        same.attr(rank="same")
        for part in (DNS, CLOUDWATCH, ELB, CLOUDFRONT):
            same.node(part.key)
    return g


def _instance_label(name: str) -> str:
    """One instance: its name over nginx, Gunicorn and Django, each in its layer's colour."""
    head = (f'<TR><TD><FONT COLOR="#555555" POINT-SIZE="{TEXT_PT}">EC2 instance {name}'
            "</FONT></TD></TR>")  # fmt: skip
    label = _label(*_instance_parts(name))
    return label.replace('CELLPADDING="6">', f'CELLPADDING="6">{head}', 1)


def source() -> str:
    """The DOT text of the diagram (what ``dot`` reads; the tests check its parts here)."""
    return stack_graph().source


def have_dot() -> bool:
    """Whether Graphviz's ``dot`` is installed."""
    return shutil.which("dot") is not None


def smallest_text_px() -> float:
    """The smallest type in the PNG, in its pixels: the smallest font size dot wrote, times
    the scale it drew at (read from its SVG, laid out exactly as the PNG is)."""
    import re

    svg = stack_graph().pipe(format="svg", engine="dot").decode()
    scale = float(re.search(r'transform="scale\(([\d.]+)', svg).group(1))
    return min(float(x) for x in re.findall(r'font-size="([\d.]+)"', svg)) * scale


def render_png() -> bytes:
    """The diagram as PNG bytes, rendered by ``dot -Tpng`` (no timestamp in the output)."""
    if not have_dot():
        raise RuntimeError("Graphviz's dot is not installed (Debian: apt-get install graphviz)")
    return stack_graph().pipe(format="png", engine="dot")
