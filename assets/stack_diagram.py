"""The stack diagram the talk shows: Quorum's AWS parts, drawn as code with Graphviz.

Like a building's floor plan beside the metro map of :mod:`assets.diagram`: the metro map shows
the order a request meets its stops, this plan shows where each part lives. The browser asks
DNS (Route 53 through a resolver) for ``quorum.us``, connects to the Elastic Load Balancer,
which routes to the EC2 instances of an auto-scaling group, each running nginx -> Gunicorn ->
Django, which query RDS PostgreSQL; static files come from S3 through CloudFront; CloudWatch
watches the instances' CPU and its alarms drive the group. A part that is one of the request's
layers (:mod:`sim.layers`) carries the layer's name and colour.

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
DNS = Part("dns", "DNS", "Route 53 via your resolver:\nquorum.us -> the ELB's address", ("dns",))
CLOUDFRONT = Part("cloudfront", "CloudFront", "CDN: static files\n(CSS, JS, images)")
S3 = Part("s3", "S3", "bucket: collected\nstatic files (origin)")
ELB = Part("elb", "Elastic Load Balancer", "TLS, surge queue,\nhealth checks, routing", ("lb",))
RDS = Part("rds", "RDS PostgreSQL", "max_connections,\nqueries", ("db",))
CLOUDWATCH = Part("cloudwatch", "CloudWatch", "CPU metrics ->\nalarms -> scaling policy")
INSTANCES = ("web-1", "web-2")


def _instance_parts(name: str) -> tuple[Part, Part, Part]:
    return (
        Part(f"{name}-nginx", "nginx", "reverse proxy,\nHTTP -> HTTPS"),
        Part(
            f"{name}-gunicorn", "Gunicorn", "listen backlog,\n(2 x cores) + 1 workers", ("queue",)
        ),
        Part(f"{name}-django", "Django", "middleware, views,\nORM, templates", ("app",)),
    )


def parts() -> tuple[Part, ...]:
    """Every box on the diagram, outside in."""
    inner = tuple(p for name in INSTANCES for p in _instance_parts(name))
    return (CLIENT, DNS, CLOUDFRONT, S3, ELB, *inner, RDS, CLOUDWATCH)


def _label(part: Part) -> str:
    """An HTML-like label: a coloured header (the layer's colour) over a white body."""
    layer = part.layers[0] if part.layers else None
    fill = COLORS[layer] if layer else PLAIN
    ink = "white" if layer is None or layer in _DARK else INK
    tag = (
        f'<FONT FACE="{MONO}" POINT-SIZE="15" COLOR="{ink}">  {" · ".join(part.layers)}</FONT>'
        if part.layers
        else ""
    )
    lines = "<BR/>".join(escape(line) for line in part.detail.split("\n"))
    return (
        f'<<TABLE BORDER="1" COLOR="{fill}" STYLE="ROUNDED" CELLBORDER="0" CELLSPACING="0"'
        ' CELLPADDING="7">'
        f'<TR><TD BGCOLOR="{fill}"><FONT COLOR="{ink}" POINT-SIZE="20"><B>'
        f"{escape(part.name)}</B></FONT>{tag}</TD></TR>"
        f'<TR><TD BGCOLOR="white"><FONT COLOR="{INK}" POINT-SIZE="15">{lines}</FONT></TD></TR>'
        "</TABLE>>"
    )


def _node(g: graphviz.Digraph, part: Part) -> None:
    g.node(part.key, label=_label(part))


def _edge(g, a: str, b: str, label: str = "", layer: str | None = None, **attrs: str) -> None:
    colour = COLORS[layer] if layer else "#444444"
    text = f" {label} " if label else ""
    g.edge(a, b, label=text, color=colour, fontcolor=INK if layer is None else colour, **attrs)


def stack_graph() -> graphviz.Digraph:
    """The diagram as a Graphviz graph, left (the browser) to right (the database)."""
    import graphviz

    g = graphviz.Digraph("quorum_stack")
    g.attr(
        rankdir="LR",
        bgcolor="white",
        fontname=FONT,
        fontsize="26",
        labelloc="t",
        label="Quorum's stack on AWS: what answers when you type quorum.us\n\n",
        nodesep="0.35",
        ranksep="0.75",
        newrank="true",
        compound="true",
        pad="0.3",
        # 16:9: ``size`` with ``!`` scales the drawing up or down to fit; ``ratio`` pads it.
        size="16,9!",
        ratio="fill",
        dpi="120",
    )
    g.attr("node", shape="plain", fontname=FONT, margin="0")
    g.attr("edge", fontname=FONT, fontsize="15", penwidth="1.6", arrowsize="0.8")

    for part in (CLIENT, DNS, CLOUDFRONT, S3):
        _node(g, part)
    with g.subgraph(name="cluster_region") as region:
        region.attr(
            label="AWS region (VPC)",
            fontsize="17",
            fontcolor="#555555",
            style="rounded,dashed",
            color="#999999",
            labeljust="l",
        )
        _node(region, ELB)
        _node(region, RDS)
        _node(region, CLOUDWATCH)
        with region.subgraph(name="cluster_asg") as asg:
            asg.attr(
                label="Auto Scaling group (min 2): EC2 instances come and go",
                fontsize="17",
                fontcolor="#333333",
                style="rounded,filled",
                fillcolor="#F3F3F3",
                color="#777777",
                labeljust="l",
            )
            for name in reversed(INSTANCES):  # declared in reverse: dot draws web-1 on top
                with asg.subgraph(name=f"cluster_{name}") as inst:
                    inst.attr(
                        label=f"EC2 instance {name}",
                        fontsize="15",
                        fontcolor="#555555",
                        style="rounded,filled",
                        fillcolor="white",
                        color="#AAAAAA",
                    )
                    nginx, gunicorn, django = _instance_parts(name)
                    for part in (nginx, gunicorn, django):
                        _node(inst, part)
                    _edge(inst, nginx.key, gunicorn.key, "socket")
                    _edge(inst, gunicorn.key, django.key, "WSGI")

    _edge(g, CLIENT.key, DNS.key, "1. where is quorum.us?", "dns")
    _edge(g, CLIENT.key, ELB.key, "2. connect: HTTPS", "connect")
    for name in INSTANCES:
        _edge(g, ELB.key, f"{name}-nginx", "3. route" if name == INSTANCES[0] else "", "lb")
        _edge(g, f"{name}-django", RDS.key, "4. SQL" if name == INSTANCES[0] else "", "db")
    _edge(g, CLIENT.key, CLOUDFRONT.key, "static files", style="dashed")
    _edge(g, CLOUDFRONT.key, S3.key, "on a miss", style="dashed")
    # CloudWatch sits in the load balancer's column, left of the group it drives; its edges
    # touch the instance that dot then draws nearest to it, at the bottom.
    last = f"{INSTANCES[-1]}-nginx"
    _edge(g, CLOUDWATCH.key, last, "alarms: scale out / in", lhead="cluster_asg", style="bold")
    _edge(g, last, CLOUDWATCH.key, "CPU", ltail="cluster_asg", style="dotted", constraint="false")
    # Keep the browser's neighbours and CloudWatch in one column, DNS on top.
    with g.subgraph() as same:
        same.attr(rank="same")
        for part in (DNS, CLOUDWATCH, ELB, CLOUDFRONT):
            same.node(part.key)
    return g


def source() -> str:
    """The DOT text of the diagram (what ``dot`` reads; the tests check its parts here)."""
    return stack_graph().source


def have_dot() -> bool:
    """Whether Graphviz's ``dot`` is installed."""
    return shutil.which("dot") is not None


def render_png() -> bytes:
    """The diagram as PNG bytes, rendered by ``dot -Tpng`` (no timestamp in the output)."""
    if not have_dot():
        raise RuntimeError("Graphviz's dot is not installed (Debian: apt-get install graphviz)")
    return stack_graph().pipe(format="png", engine="dot")
