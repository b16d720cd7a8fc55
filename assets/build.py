"""Every figure the slides and notebooks show, built from code: ``python -m assets OUTDIR``.

Think of a print shop's job sheet: one line per plate (:data:`ASSETS`, name -> builder and
what it shows), each plate made from its source (the model's runs, the diagrams' constants),
and nothing leaves the shop until every plate on the order is made. ``make assets`` runs it
into ``assets/``; ``--only NAME`` makes just some plates.

Flow: arguments checked (names, the folder, Graphviz) -> each builder runs the model with the
scenario's own seed (runs shared between figures are made once) -> PNG bytes in memory ->
each file written atomically. Same inputs, same bytes: matplotlib PNGs carry no timestamp
(:func:`sim.figures.png`, fixed dpi), and ``dot -Tpng`` writes none. A bad argument gets one line
on stderr and exit status 2, and nothing is written.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import sim
from assets import stack_diagram
from sim.results import Result
from sim.results.files import write_files
from sim.results.statistics import completed_per_s

REPO = Path(__file__).resolve().parents[1]
DPI = 120
#: Beside the figures: for each, the hash of what it was built from and what it measures.
MANIFEST = "manifest.json"
#: What every figure is built from, whatever it shows: this builder and the layer vocabulary.
COMMON = ("assets/build.py", "assets/__init__.py", "sim/layers.py")
#: What a figure drawn from runs of the model is built from: the whole model and its scenarios.
MODEL = ("sim/**/*.py", "sim/scenarios/*.toml", "sim/scenarios/*.csv", "assets/talk_figures.py")


class Picture(NamedTuple):
    """A figure's PNG bytes and the height of its smallest text, in the PNG's pixels."""

    png: bytes
    smallest_text_px: float


class Asset(NamedTuple):
    """One file of the set: the function that makes it, what it shows, and the files (globs
    under the repository) it is built from: change one and the figure is built again."""

    build: Callable[[], Picture]
    description: str
    inputs: tuple[str, ...] = MODEL


@functools.cache
def _run(name: str, overrides: tuple[str, ...] = ()) -> Result:
    """One run of a scenario with its own seed (made once per set)."""
    return sim.run(sim.load(name, list(overrides)))


def _slide(draw: Callable[[], Any]) -> Picture:
    """Draw and save a figure with the slides' type sizes (assets/talk_figures.py)."""
    import matplotlib as mpl

    from assets.talk_figures import SLIDE_FONT

    with mpl.rc_context(SLIDE_FONT):
        return _png(draw())


def _png(fig) -> Picture:
    """PNG bytes (sim.figures.png: fixed dpi, no timestamp) and the smallest visible text."""
    from matplotlib.text import Text

    out = io.BytesIO()
    # what sim.figures.png does, at a dpi known here (drawing it lays out every tick label)
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    return Picture(out.getvalue(), min(sizes) * DPI / 72 if sizes else 0.0)


def quorum_stack() -> Picture:
    return Picture(stack_diagram.render_png(), stack_diagram.smallest_text_px())


def architecture() -> Picture:
    from assets.diagram import draw_architecture

    return _png(draw_architecture())


def layers() -> Picture:
    from assets.layers_picture import layers_picture

    result = _run("baseline")
    mean_ms = {la: v["mean"] * 1000 for la, v in result.summary["latency"]["layers"].items()}
    s = result.scenario
    source = (
        f"simulated: the baseline scenario,\n{s.arrivals.rate:g} requests/s on"
        f" {s.instances.count} instances;\nsuccessful requests, seed {result.seed}"
    )
    return _png(layers_picture(mean_ms, source))


def waterfall() -> Picture:
    from sim.figures.plots import waterfall as draw
    from sim.results.narrate import pick

    result = _run("baseline")
    typical = pick(result.records, "typical", result.run.window)
    title = f"baseline: a typical request (request {typical})"
    return _png(draw(result.records, typical, title))


def latency() -> Picture:
    from sim.figures.plots import latency_distribution

    result = _run("baseline")
    title = "baseline: end-to-end latency"
    return _png(latency_distribution(result.records, result.run.window, title))


def layer_breakdown() -> Picture:
    from assets.talk_figures import breakdown_side_by_side

    names = ("baseline", "cpu_bound", "db_bound")
    summaries = {n: _run(n).summary for n in names}
    captions = {n: _run(n).scenario.description for n in names}
    captions = {n: _wrap(c, 30) for n, c in captions.items()}
    title = "Where the time goes, by layer"
    return _slide(lambda: breakdown_side_by_side(summaries, captions, title))


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text.replace("\n", " "), width))


def flash_crowd() -> Picture:
    from assets.talk_figures import dashboard_slide

    result = _run("flash_crowd")
    return _png(dashboard_slide(result, "flash_crowd: traffic jumps eightfold in a minute"))


#: The crash's window, shortened from the scenario's 15 minutes to the ten that matter.
WHY_TWO_DURATION = 600.0


def why_two() -> Picture:
    from assets.talk_figures import why_two as draw
    from sim.results.statistics import request_arrays

    runs = {}
    for low in (1, 2):
        result = _run("instance_failure", (f"asg.min={low}", f"run.duration={WHY_TWO_DURATION}"))
        runs[f"asg.min = {low}"] = request_arrays(result.run)
    crash = result.scenario.failures[0].at
    title = (
        "Why 2? One instance crashes at 15 requests/s:\nalone, nothing answers until its"
        " replacement is healthy"
    )
    return _slide(lambda: draw(runs, crash, (crash - 60, crash + 240), title))


#: A few points of the model: one instance with the baseline's 2 vCPUs at a fixed load.
WORKERS = (1, 2, 3, 5, 9, 17)
WORKERS_RATE = 45.0
WORKERS_SECONDS = 120.0
WORKERS_WARMUP = 20.0


def workers_vs_cores() -> Picture:
    from assets.talk_figures import workers_vs_cores as draw

    overrides = (
        "instances.count=1",
        f"arrivals.rate={WORKERS_RATE}",
        f"run.duration={WORKERS_SECONDS}",
        f"run.warmup={WORKERS_WARMUP}",
    )
    points = []
    for w in WORKERS:
        result = _run("baseline", (*overrides, f"gunicorn.workers={w}"))
        done = completed_per_s(result.run, result.records)
        points.append((w, result.summary["latency"]["end_to_end"]["p95"], done))
    vcpus = result.scenario.instances.vcpus
    title = (
        f"Workers vs cores: one instance, {vcpus} vCPUs, {WORKERS_RATE:g} requests/s offered"
        f"\n(baseline, shortened to {WORKERS_SECONDS:g} s a point)"
    )
    return _slide(lambda: draw(points, WORKERS_RATE, vcpus, title))


ASSETS: dict[str, Asset] = {
    "quorum_stack.png": Asset(
        quorum_stack,
        "the stack on AWS the talk shows (Graphviz, assets/stack_diagram.py)",
        ("assets/stack_diagram.py",),
    ),
    "layers.png": Asset(
        layers,
        "the layers slide: a request's layers as a cake, with baseline"
        " times (assets/layers_picture.py)",
        (*MODEL, "assets/layers_picture.py"),
    ),
    "architecture.png": Asset(
        architecture, "the map of the path (assets/diagram.py)", ("assets/diagram.py",)
    ),
    "sim_waterfall.png": Asset(
        waterfall, "a typical baseline request, layer by layer (sim.figures.plots.waterfall)"
    ),
    "sim_latency.png": Asset(
        latency,
        "baseline's end-to-end latency distribution (sim.figures.plots.latency_distribution)",
    ),
    "sim_layer_breakdown.png": Asset(
        layer_breakdown,
        "where the time goes: baseline, cpu_bound and db_bound (assets/talk_figures.py)",
    ),
    "sim_flash_crowd.png": Asset(
        flash_crowd, "the flash_crowd run over time, CloudWatch-style (assets/talk_figures.py)"
    ),
    "sim_why_two.png": Asset(
        why_two, "an instance crash with asg.min 1 vs 2: errors and p95 (assets/talk_figures.py)"
    ),
    "sim_workers_vs_cores.png": Asset(
        workers_vs_cores,
        "p95 and throughput against Gunicorn workers on 2 vCPUs (assets/talk_figures.py)",
    ),
}


def _tools(name: str) -> str:
    """The versions of the tools a figure's pixels depend on."""
    import matplotlib
    import numpy

    tools = f"python {sys.version_info[:2]} numpy {numpy.__version__} mpl {matplotlib.__version__}"
    if name == "quorum_stack.png" and stack_diagram.have_dot():
        import subprocess

        dot = subprocess.run(["dot", "-V"], capture_output=True, text=True)
        tools += f" {dot.stderr.strip()}"
    return tools


def inputs_hash(name: str, root: Path = REPO) -> str:
    """A hash of every file ``name`` is built from (its globs and :data:`COMMON`, by path and
    content) and the tools' versions: equal hashes, equal pictures."""
    digest = hashlib.sha256(f"{name}\n{_tools(name)}\n".encode())
    files = sorted(
        {f for g in (*COMMON, *ASSETS[name].inputs) for f in root.glob(g) if f.is_file()}
    )
    for path in files:
        digest.update(f"{path.relative_to(root)}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def read_manifest(outdir: Path) -> dict[str, dict]:
    try:
        return json.loads((outdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def up_to_date(outdir: Path, name: str, manifest: dict[str, dict], inputs: str) -> bool:
    """Whether ``outdir/name`` is the picture these inputs make: same inputs hash, and the file
    still the one that was written (not edited or replaced since)."""
    entry = manifest.get(name, {})
    path = outdir / name
    if entry.get("inputs") != inputs or not path.is_file():
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == entry.get("sha256")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m assets",
        description="Build the figures of the slides and notebooks into OUTDIR.",
        epilog="assets: " + "; ".join(f"{n}: {a.description}" for n, a in ASSETS.items()),
    )
    p.add_argument("outdir", type=Path, help="the folder to write into (made if missing)")
    p.add_argument(
        "--force", action="store_true", help="build even the figures whose inputs are unchanged"
    )
    p.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="NAME",
        help="build only these files (names as listed below, .png optional)",
    )
    return p


def _chosen(only: list[str] | None) -> list[str]:
    if only is None:
        return list(ASSETS)
    chosen = []
    for name in only:
        full = name if name.endswith(".png") else f"{name}.png"
        if full not in ASSETS:
            raise _UsageError(f"--only: unknown asset {name!r}; allowed: {', '.join(ASSETS)}")
        if full not in chosen:
            chosen.append(full)
    return chosen


def _check_folder(outdir: Path) -> None:
    if outdir.exists() and not outdir.is_dir():
        raise _UsageError(f"OUTDIR {str(outdir)!r} is a file; give a folder to write into")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _UsageError(f"OUTDIR {str(outdir)!r} cannot be made: {exc.strerror}") from None
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise _UsageError(f"OUTDIR {str(outdir)!r} is not writable")


def build(names: list[str]) -> dict[str, Picture]:
    """The picture of each named asset, in :data:`ASSETS` order."""
    return {name: ASSETS[name].build() for name in ASSETS if name in names}


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        names = _chosen(args.only)
        if "quorum_stack.png" in names and not stack_diagram.have_dot():
            raise _UsageError(
                "quorum_stack.png needs Graphviz's dot, which is not installed"
                " (Debian: apt-get install graphviz)"
            )
        _check_folder(args.outdir)
    except _UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    manifest = read_manifest(args.outdir)
    hashes = {name: inputs_hash(name) for name in names}
    stale = [n for n in names if args.force or not up_to_date(args.outdir, n, manifest, hashes[n])]
    pictures = build(stale)  # every figure made before the first file is written
    files = {name: picture.png for name, picture in pictures.items()}
    for name, picture in pictures.items():
        width, height = struct.unpack(">II", picture.png[16:24])
        manifest[name] = {
            "inputs": hashes[name],
            "sha256": hashlib.sha256(picture.png).hexdigest(),
            "width": width,
            "height": height,
            "smallest_text_px": round(picture.smallest_text_px, 2),
        }
    if files:
        text = json.dumps(dict(sorted(manifest.items())), indent=2) + "\n"
        files[MANIFEST] = text.encode()
    try:
        write_files(args.outdir, files, flag="OUTDIR")
    except sim.ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    for name in names:
        if name in pictures:
            sys.stdout.write(f"{args.outdir / name}\n")
        else:
            sys.stdout.write(f"{args.outdir / name}: up to date\n")
    return 0
