"""The chapters' "try it" controls: each re-run as a plain function, so a benchmark can call it.

Think of a lab bench with a logbook: turning a knob runs the experiment once, and a setting
already tried is read back from the logbook instead of run again. Every function here takes
the controls' values and returns a :class:`View` (a line of text and, most often, a figure);
:func:`interact` ties one to its widgets, each of which reports only when let go
(``continuous_update=False``), so dragging a slider costs one run, not one per tick.

What a re-run costs on the defaults is what ``make bench`` prints (``notebooks/bench.py``):
one simulation per step, kept lighter than the chapter's main runs where the lesson survives
it, or run on the fluid engine where a step covers hours (each chapter says why). Runs are
kept by their settings (:func:`remembered`), most of them only what the figure needs, not the
run's records.
"""

from __future__ import annotations

import functools
import io
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

import sim
from sim.layers import COLORS

DATA = Path(__file__).resolve().parent / "data"


class View(NamedTuple):
    """What one re-run shows: a line of text, and a figure (or None)."""

    text: str
    figure: Figure | None = None


def remembered(function: Callable[..., Any]) -> Any:
    """Run ``function`` once per setting: later calls with the same arguments read the result
    back. ``.known(*args)`` says whether a setting was run; ``.clear()`` forgets them all."""
    store: dict[tuple, Any] = {}

    @functools.wraps(function)
    def wrapper(*args: Any) -> Any:
        if args not in store:
            store[args] = function(*args)
        return store[args]

    wrapper.known = lambda *args: args in store  # type: ignore[attr-defined]
    wrapper.clear = store.clear  # type: ignore[attr-defined]
    return wrapper


def render(figure: Figure) -> bytes:
    """The figure as PNG bytes, laid out once by its own layout engine (no second pass for a
    tight bounding box), which is what a step shows."""
    if isinstance(figure.get_layout_engine(), ConstrainedLayoutEngine):
        figure.set_layout_engine("tight")  # the same fit, for less (see _figure)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=100)
    return out.getvalue()


def show(view: View) -> None:
    """Print the text and display the figure as a PNG image."""
    from IPython.display import Image, display

    if view.text:
        print(view.text)
    if view.figure is not None:
        display(Image(render(view.figure)))


def interact(function: Callable[..., View], **controls: Any):
    """``ipywidgets.interactive`` showing ``function``'s view; every control that can report
    while it moves is told to report only when released: a step runs the model once."""
    import ipywidgets as widgets

    for control in controls.values():
        if hasattr(control, "continuous_update"):
            control.continuous_update = False

    def rerun(**values: Any) -> None:
        show(function(**values))

    return widgets.interactive(rerun, **controls)


def _figure(width: float, height: float, rows: int = 1, cols: int = 1, **kw: Any):
    # "tight" lays the figure out once when drawn; "constrained" costs a third of a second
    # more on a small figure, most of a step's budget.
    fig = Figure(figsize=(width, height), layout="tight")
    axes = fig.subplots(rows, cols, **kw)
    return fig, axes


def _log(ax, which: str = "y") -> None:
    """A log scale labelled by decades only: its minor ticks cost more to lay out than the
    rest of a small figure, and say nothing a reader needs here."""
    from matplotlib.ticker import NullLocator

    getattr(ax, f"set_{which}scale")("log")
    getattr(ax, f"{which}axis").set_minor_locator(NullLocator())


# --- chapter 1: DNS ----------------------------------------------------------------------------

OUTCOME_COLORS = {
    "browser-cache": "#009E73",
    "os-cache": "#56B4E9",
    "resolver-cache": "#0072B2",
    "authoritative": "#E69F00",
    "full-miss": "#D55E00",
}


def one_browser(every=20.0, browser_ttl=60.0, record_ttl=60.0, loads=30, seed=1):
    """Each page load's (time, seconds spent resolving, which cache answered)."""
    from sim.config import DnsConfig
    from sim.model.dns import Resolver

    config = DnsConfig(clients=1, browser_ttl=browser_ttl, record_ttl=record_ttl)
    resolver = Resolver(config, np.random.default_rng(seed))
    return [(i * every, *resolver.resolve(0, i * every)) for i in range(loads)]


def dns_figure(lookups, title: str) -> Figure:
    fig, ax = _figure(10, 3.2)
    for outcome, color in OUTCOME_COLORS.items():
        mine = [(t, max(s * 1000, 0.01)) for t, s, o in lookups if o == outcome]
        if mine:
            ax.scatter(*zip(*mine, strict=True), color=color, s=50, label=outcome, zorder=3)
    _log(ax, "y")
    ax.set_ylim(0.005, 1000)
    ax.set_xlabel("time of the page load (s)")
    ax.set_ylabel("time resolving (ms, log)")
    ax.set_title(title)
    ax.legend(frameon=False, ncols=5, fontsize=8, loc="upper center")
    ax.grid(alpha=0.3)
    return fig


def dns(every=20, browser_ttl=60, record_ttl=60) -> View:
    """Chapter 1: one browser loading a page every ``every`` seconds."""
    found = one_browser(float(every), float(browser_ttl), float(record_ttl))
    counts = {o: sum(1 for *_, x in found if x == o) for o in OUTCOME_COLORS}
    text = ", ".join(f"{o}: {n}" for o, n in counts.items() if n)
    title = f"a load every {every} s, browser keeps {browser_ttl} s, TTL {record_ttl} s"
    return View(text, dns_figure(found, title))


# --- chapter 2: load balancing -----------------------------------------------------------------

ROUTINGS = ("random", "round_robin", "least_outstanding_requests")
ROUTING_COLORS = dict(zip(ROUTINGS, ("#999999", "#E69F00", "#009E73"), strict=True))
LATENCY_BINS = np.logspace(np.log10(80), np.log10(5000), 60)


def uneven(routing, sigma, rate=100, instances=4, seconds=60):
    """The baseline with ``instances`` instances and Django CPU times spread by ``sigma``
    (lognormal: 0 = every request costs the same 60 ms; 1.2 = a few cost ten times the
    typical one)."""
    cpu = f'django.cpu={{kind="lognormal", mean=0.06, sigma={sigma}}}'
    overrides = [
        f"run.duration={seconds}",
        "run.warmup=10",
        f"instances.count={instances}",
        f"arrivals.rate={rate}",
        cpu,
        f'load_balancer.routing="{routing}"',
    ]
    return sim.run(sim.load("baseline", overrides))


def latencies_ms(result) -> np.ndarray:
    """End-to-end latency (ms) of each successful request in the measured window."""
    from sim.results.records import by_request, end_to_end

    start, end = result.run.window
    return np.array([
        end_to_end(rows) * 1000
        for rows in by_request(result.records).values()
        if rows[0].status == 200 and start <= rows[0].arrival < end
    ])  # fmt: skip


#: The routing control's run: lighter than the chapter's (4 instances, 100 requests/s, 60 s),
#: so a step takes about half a second; least outstanding requests still wins at sigma 1.2.
ROUTING_STEP = {"rate": 75, "instances": 3, "sigma": 1.2, "seconds": 30}


@remembered
def routing_latencies(routing: str, rate: int, instances: int, sigma: float, seconds: int):
    return latencies_ms(uneven(routing, sigma, rate, instances, seconds))


def routing(
    routing="least_outstanding_requests",
    rate=ROUTING_STEP["rate"],
    instances=ROUTING_STEP["instances"],
    sigma=ROUTING_STEP["sigma"],
) -> View:
    """Chapter 2: one routing strategy at these settings, drawn with every other strategy
    already run at the same settings (from the cache: a step runs one simulation)."""
    settings = (int(rate), int(instances), round(float(sigma), 2), ROUTING_STEP["seconds"])
    mine = routing_latencies(routing, *settings)
    fig, ax = _figure(9, 3.5)
    shown = []
    for name in ROUTINGS:
        if name != routing and not routing_latencies.known(name, *settings):
            continue
        ms = routing_latencies(name, *settings)
        p95 = np.percentile(ms, 95) if ms.size else float("nan")
        ax.hist(ms, bins=LATENCY_BINS, histtype="step", lw=3 if name == routing else 1.5,
                color=ROUTING_COLORS[name], label=f"{name}: p95 {p95:.0f} ms")  # fmt: skip
        shown.append(name)
    _log(ax, "x")
    ax.set_xlabel("end-to-end latency (ms)")
    ax.set_ylabel("requests")
    ax.legend(frameon=False)
    others = [n for n in ROUTINGS if n not in shown]
    text = f"{routing}: {mine.size} successful requests" + (
        f" (pick {', '.join(others)} to add them)" if others else ""
    )
    return View(text, fig)


#: Three instances, one crashing at CRASH_AT; checks every `interval` s with a 5 s timeout.
HEALTH = """
[run]
duration = {duration}
warmup = 0.0
drain = 60.0
[traffic]
enabled = true
profile = "constant"
rate = 30.0
sessions = false
[instances]
count = 3
[health_check]
enabled = true
interval = {interval}
timeout = 5.0
healthy_threshold = 3
unhealthy_threshold = {threshold}
[[failures]]
kind = "crash"
at = {crash_at}
instance = 1
[timeseries]
period = 5.0
"""
CRASH_AT = 60.0


def crash(interval=10.0, threshold=2):
    """Instance 1 crashes at CRASH_AT; the run lasts until a minute after the checks can
    have noticed (so long settings still see it), no longer: a step stays cheap."""
    duration = CRASH_AT + threshold * float(interval) + 60.0
    text = HEALTH.format(
        duration=duration, interval=float(interval), threshold=threshold, crash_at=CRASH_AT
    )
    return sim.run(sim.loads(text))


@remembered
def crash_timeline(interval: int, threshold: int):
    run = crash(interval, threshold)
    keys = ("cpu_0", "cpu_1", "cpu_2")
    t = [row["t"] for row in run.table]
    cpu = {k: [row.get(k, np.nan) for row in run.table] for k in keys}
    down = next(t for t, _, state in run.log.health if state == "unhealthy")
    return t, cpu, run.log.failures[0][0], down


def health(interval=10, threshold=2) -> View:
    """Chapter 2: when does the load balancer notice the crash?"""
    t, cpu, crashed, down = crash_timeline(int(interval), int(threshold))
    fig, ax = _figure(10, 3.2)
    for (key, values), color in zip(cpu.items(), ("#0072B2", "#D55E00", "#009E73"), strict=True):
        ax.plot(t, values, color=color, label=f"instance {key[-1]} CPU %")
    ax.axvline(crashed, color="#b3261e", lw=2, label="instance 1 crashes")
    ax.axvspan(crashed, down, color="#b3261e", alpha=0.12,
               label=f"checks failing ({down - crashed:g} s)")  # fmt: skip
    ax.axvline(down, color="black", ls="--", label="marked unhealthy")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("CPU %")
    ax.set_xlim(0, down + 40)
    ax.legend(frameon=False, fontsize=8, ncols=2)
    ax.set_title("The survivors take the traffic; the health check notices a little later")
    return View(f"marked unhealthy {down - crashed:g} s after the crash", fig)


# --- chapter 3: auto-scaling -------------------------------------------------------------------

#: Chapter 3's runs over hours use the fluid engine (sim/README.md, "Long horizons"): the
#: shipped `weekday` morning itself, 08:00 to 10:30, in a fraction of a second a run. How far
#: it agrees with the discrete-event engine on this scenario is sim/FLUID.md's first row, and
#: the chapter shows the comparison.
ENGINE = "fluid"
#: The knobs' first position: the `weekday` scenario's own policy and group.
POLICY_DEFAULTS = {
    "policy": "target tracking", "target": 50, "periods": 3, "cooldown": 300, "warmup": 300,
    "boot_time": 60, "max_instances": 8,
}  # fmt: skip


def policies(policy: str, target: float, periods: int) -> str:
    """The scenario's `asg.policies` for the chosen kind, as a --set override."""
    if policy == "target tracking":
        return f'asg.policies=[{{kind="target_tracking", metric="cpu", target={target}}}]'
    out = (f'{{kind="simple", comparison=">", threshold={target}, period=60.0,'
           f" evaluation_periods={periods}, adjustment=1}}")  # fmt: skip
    calm = (f'{{kind="simple", comparison="<", threshold={target / 2}, period=60.0,'
            " evaluation_periods=15, adjustment=-1}")  # fmt: skip
    return f"asg.policies=[{out}, {calm}]"


def weekday(*overrides: str, engine: str = ENGINE):
    """The shipped `weekday` scenario with ``overrides``, on ``engine``."""
    return sim.run(sim.load("weekday", list(overrides)), engine=engine)


class Morning(NamedTuple):
    """A morning and the numbers chapter 3 prints about it. The run is kept whole (the
    dashboard draws it): a fluid run has no per-request records, so it is small."""

    result: Any
    instance_hours: float
    p95: float
    errors: int


def knob_overrides(policy, target, periods, cooldown, warmup, boot_time, max_instances):
    """The knobs as `--set` overrides of the `weekday` scenario."""
    return [
        policies(policy, float(target), int(periods)), f"asg.default_cooldown={float(cooldown)}",
        f"asg.warmup={float(warmup)}", f"asg.boot_time={float(boot_time)}",
        f"asg.max={int(max_instances)}",
    ]  # fmt: skip


@remembered
def morning(policy, target, periods, cooldown, warmup, boot_time, max_instances) -> Morning:
    run = weekday(*knob_overrides(policy, target, periods, cooldown, warmup, boot_time,
                                  max_instances))  # fmt: skip
    s = run.summary
    return Morning(run, run.log.instance_hours, s["latency"]["end_to_end"]["p95"],
                   round(s["requests"]["errors"]))  # fmt: skip


def autoscaling(**settings: Any) -> View:
    """Chapter 3: the weekday morning under these policy knobs (one fluid run)."""
    knobs = {**POLICY_DEFAULTS, **settings}
    m = morning(*knobs.values())
    table = m.result.table
    text = f"instance-hours {m.instance_hours:.1f}, p95 {m.p95 * 1000:.0f} ms, errors {m.errors}"
    # Where the fluid engine's approximation is weak (a saturated fleet, a cascade), it says so,
    # and where an alarm decided on a coin flip (another seed may scale another way: said here
    # in the chapter's words, the run's own sentence names a command-line option).
    run = m.result.runs[0]
    close = getattr(run, "close_calls", [])
    for warning in getattr(run, "warnings", []):
        if not (close and warning.startswith(f"{len(close)} alarm decision")):
            text += f"\n{warning}"
    if close:
        text += (
            f"\n{len(close)} alarm decision(s) were a coin flip: a minute's CPU landed within"
            " its own run-to-run scatter of the alarm's threshold (first at"
            f" {close[0][0] / 60:.0f} min), so a run with another seed may scale a minute earlier"
            " or later there"
        )
    minutes = [row["t"] / 60 for row in table]
    fig, (top, bottom) = _figure(10, 4.5, rows=2, sharex=True)
    top.step(minutes, [row["desired"] for row in table], where="post", color="black",
             ls="--", label="desired")  # fmt: skip
    top.step(minutes, [row["healthy"] for row in table], where="post", color="#2ca02c",
             lw=2, label="in service")  # fmt: skip
    top.set_ylabel("instances")
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.legend(frameon=False)
    policy = knobs["policy"]
    extra = (
        f"periods {knobs['periods']}, cooldown {knobs['cooldown']} s, "
        if policy == "simple scaling"
        else ""
    )
    top.set_title(f"{policy} at {knobs['target']} %, {extra}warm-up {knobs['warmup']} s, "
                  f"boot {knobs['boot_time']} s", loc="left")  # fmt: skip
    p95_ms = [row["p95"] * 1000 for row in table]
    bottom.plot(minutes, p95_ms, color="#d62728")
    bottom.axhline(LIMIT_S * 1000, color="black", lw=1, ls=":")
    _log(bottom, "y")
    # At least 100 ms to 1 s, ticked at 1, 2 and 5: a knob that makes it slow still fits.
    shown = [v for v in p95_ms if v == v]  # NaN: a window without answers
    bottom.set_ylim(min([100.0, *shown]), max([1000.0, *(v * 1.2 for v in shown)]))
    bottom.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    bottom.set_ylabel("p95 latency (ms)")
    clock = m.result.scenario.traffic.start_clock_h
    bottom.set_xlabel(f"minutes since {clock:02.0f}:00 (dotted: {LIMIT_S * 1000:.0f} ms)")
    return View(text, fig)


class Checked(NamedTuple):
    """A morning as chapter 3's check draws it: its time series and numbers (a discrete-event
    run's records are tens of megabytes; the check keeps none of them)."""

    table: list[dict[str, Any]]
    instance_hours: float
    p95: float
    p95_peak: float


def _checked(run) -> Checked:
    from sim.results.statistics import peak_p95

    start, end = run.run.window
    t = [row for row in run.table if row["t"] <= end]  # the drain after the morning left out
    peak = peak_p95([r["t"] for r in t], [r["p95"] for r in t], [r["completed"] for r in t],
                    start, end)  # fmt: skip
    return Checked(t, run.log.instance_hours, run.summary["latency"]["end_to_end"]["p95"], peak)


@remembered
def morning_des(policy, target, periods, cooldown, warmup, boot_time, max_instances) -> Checked:
    """The knobs' morning on the discrete-event engine, every request an event: the check of
    a setting, not a step (it takes the discrete-event engine's time)."""
    knobs = (policy, target, periods, cooldown, warmup, boot_time, max_instances)
    return _checked(weekday(*knob_overrides(*knobs), engine="des"))


def check_with_des(**settings: Any) -> View:
    """Chapter 3's button: the knobs' morning on both engines, drawn together."""
    knobs = {**POLICY_DEFAULTS, **settings}
    engines = {
        "fluid": _checked(morning(*knobs.values()).result),
        "discrete-event": morning_des(*knobs.values()),
    }
    fig, (top, bottom) = _figure(10, 4.5, rows=2, sharex=True)
    for (name, found), color in zip(engines.items(), ("#0072B2", "black"), strict=True):
        minutes = [row["t"] / 60 for row in found.table]
        top.step(minutes, [row["desired"] for row in found.table], where="post", color=color,
                 label=name)  # fmt: skip
        bottom.plot(minutes, [row["p95"] * 1000 for row in found.table], color=color)
    top.set_ylabel("desired instances")
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.legend(frameon=False)
    bottom.axhline(LIMIT_S * 1000, color="#b3261e", lw=1, ls="--")
    bottom.set_ylabel("p95 per minute (ms)")
    bottom.set_xlabel(f"minutes since 08:00; dashed: {LIMIT_S * 1000:.0f} ms")
    text = "\n".join(
        f"{name:>14}: worst minute {c.p95_peak * 1000:.0f} ms, p95 {c.p95 * 1000:.0f} ms,"
        f" instance-hours {c.instance_hours:.1f}"
        for name, c in engines.items()
    )
    return View(text, fig)


def fluid_validation(scenario: str = "weekday") -> dict[str, str]:
    """``scenario``'s row of the fluid engine's validation table (sim/FLUID.md, written by
    ``python -m sim validate-fluid``), by column heading."""
    lines = (Path(sim.__file__).parent / "FLUID.md").read_text().splitlines()
    table = [line for line in lines if line.startswith("| ")]
    heading = [c.strip() for c in table[0].strip("|").split("|")]
    for line in table[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == scenario:
            return dict(zip(heading, cells, strict=True))
    raise KeyError(f"{scenario} is not in sim/FLUID.md")


#: The week-long policy search: every target x minimum below, a simulated week each on the
#: fluid engine, precomputed by the command in notebooks/data/README.md into WEEK_POLICIES.
WEEK = 7 * 24 * 3600
TARGET_KEY, MIN_KEY = "asg.policies[0].target", "asg.min"
WEEK_TARGETS, WEEK_MINIMUMS = (30, 40, 50, 60, 70), (2, 3, 4)
WEEK_POLICIES = DATA / "week-policies.csv"
#: What every minute's p95 must stay under (the sweep's ``p95_peak``: the worst minute).
LIMIT_S = 0.300


def week_policies(path: Path = WEEK_POLICIES) -> list[dict[str, Any]]:
    """The stored sweep's rows, numbers read back as numbers (``sweep.csv``'s columns)."""
    import csv

    def number(text: str) -> Any:
        if text == "":
            return float("nan")
        value = float(text)
        return int(value) if value.is_integer() and "." not in text else value

    with path.open(newline="") as f:
        return [{k: number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def cheapest(rows: list[dict[str, Any]], limit: float = LIMIT_S) -> dict[str, Any] | None:
    """The row with the fewest instance-hours whose worst minute stays under ``limit``."""
    ok = [r for r in rows if r["p95_peak"] < limit]
    return min(ok, key=lambda r: r["instance_hours"]) if ok else None


def policy_row(target: float, minimum: int, duration: float | None = WEEK,
               engine: str = ENGINE) -> dict[str, Any]:  # fmt: skip
    """One setting's row, run now through the project's sweep API (``sim.sweep``), as
    ``python -m sim sweep`` writes it: over ``duration`` seconds (None: the scenario's
    morning) on ``engine``."""
    from sim import sweep

    overrides = [] if duration is None else [f"run.duration={duration:g}"]
    runs = sweep.settings("weekday", [(TARGET_KEY, [target]), (MIN_KEY, [minimum])], overrides)
    return sweep.sweep(runs, replications=1, engine=engine)[0]


def policy_figure(rows: list[dict[str, Any]], limit: float = LIMIT_S) -> Figure:
    """Cost against the worst minute's p95, a point per setting, the limit as a line."""
    fig, ax = _figure(9, 4.5)
    colors = dict(zip(WEEK_MINIMUMS, ("#D55E00", "#0072B2", "#009E73"), strict=False))
    for line, minimum in enumerate(sorted({r[MIN_KEY] for r in rows})):
        mine = sorted((r for r in rows if r[MIN_KEY] == minimum), key=lambda r: r[TARGET_KEY])
        ax.plot([r["instance_hours"] for r in mine], [r["p95_peak"] * 1000 for r in mine],
                "o-", color=colors.get(minimum, "black"), ms=8, label=f"min {minimum}")  # fmt: skip
        # One label per point (settings that ran the same week share it), alternately above
        # and below, starting on the other side on the next line, so neighbours stay apart.
        points: dict[tuple[float, float], list[str]] = {}
        for r in mine:
            where = (round(r["instance_hours"], 1), round(r["p95_peak"] * 1000, 1))
            points.setdefault(where, []).append(f"{r[TARGET_KEY]:g}")
        for i, ((x, y), names) in enumerate(points.items()):
            ax.annotate(f"{', '.join(names)} %", (x, y), textcoords="offset points",
                        xytext=(6, 4 if (i + line) % 2 == 0 else -12), fontsize=8)  # fmt: skip
    ax.axhline(limit * 1000, color="#b3261e", lw=2, ls="--", label=f"{limit * 1000:.0f} ms")
    best = cheapest(rows, limit)
    if best is not None:
        ax.scatter(best["instance_hours"], best["p95_peak"] * 1000, s=260, facecolors="none",
                   edgecolors="black", lw=2, zorder=3, label="cheapest under the line")  # fmt: skip
    ax.set_xlabel("cost: instance-hours in the week")
    ax.set_ylabel("worst minute's p95 (ms)")
    ax.set_title("A simulated week per setting: target CPU % (labels) and minimum size",
                 loc="left")  # fmt: skip
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return fig


# --- chapter 4: nginx --------------------------------------------------------------------------


@remembered
def slow_counts(gunicorn_timeout: float, proxy_read_timeout: float) -> dict[str, int]:
    """``slow_queries``' responses by status with these two timeouts."""
    s = sim.load(
        "slow_queries",
        [f"gunicorn.timeout={gunicorn_timeout}", f"nginx.proxy_read_timeout={proxy_read_timeout}"],
    )
    return sim.run(s).summary["status_counts"]


def timeouts(gunicorn_timeout=30, proxy_read_timeout=60) -> View:
    """Chapter 4: which status the slow requests end with."""
    c = slow_counts(float(gunicorn_timeout), float(proxy_read_timeout))
    return View(", ".join(f"{code}: {n}" for code, n in c.items() if n))


# --- chapter 5: Gunicorn -----------------------------------------------------------------------

SHORT = ["run.duration=40", "run.warmup=10"]  # 40 simulated seconds: quick, still steady


@remembered
def gunicorn_summary(worker_class: str, workers: int, threads: int, rate: int) -> dict:
    overrides = [
        f'gunicorn.worker_class="{worker_class}"',
        f"gunicorn.workers={workers}",
        f"gunicorn.threads={threads if worker_class == 'gthread' else 1}",
        f"arrivals.rate={rate}",
        'postgres.query={kind="exponential", mean=0.05}',
        "postgres.vcpus=64",
    ]
    return sim.run(sim.load("baseline", [*SHORT, *overrides])).summary


def gunicorn(worker_class="sync", workers=5, threads=4, rate=55) -> View:
    """Chapter 5: sync or gthread workers against queries that wait on the database."""
    from sim.figures import plots

    threads = threads if worker_class == "gthread" else 1
    s = gunicorn_summary(worker_class, int(workers), int(threads), int(rate))
    e2e = s["latency"]["end_to_end"]
    text = (
        f"{worker_class}: {s['throughput_per_s']:.1f} req/s ok, p95 {e2e['p95'] * 1000:.0f} ms,"
        f" workers busy {s['utilisation']['workers']:.0%}, errors {s['requests']['errors']}"
    )
    title = f"{worker_class}, {workers} workers, {rate} req/s"
    return View(text, plots.layer_breakdown(s, title))


# --- chapter 6: Django -------------------------------------------------------------------------


def django_app(folder: str):
    """Set up the demo app in this process on a throwaway SQLite file in ``folder``, with
    sample data; returns ``visit(path) -> (response, Server-Timing {layer: ms}, queries)``.

    Settings are read once, at django.setup(): chosen first. The test settings turn DEBUG off
    (production-shaped). Jupyter runs cells inside an asyncio event loop; Django refuses ORM
    calls there unless told that this is deliberate (its documented switch for notebooks)."""
    import os

    os.environ["DJANGO_SETTINGS_MODULE"] = "demo_app.settings.test"
    os.environ["SQLITE_PATH"] = str(Path(folder) / "demo.sqlite3")
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from demo_app.stack.client import parse_server_timing

    call_command("migrate", verbosity=0)
    call_command("seed_demo", bills=60, legislators=120, seed=2026)
    client = Client()

    def visit(path: str):
        """GET ``path`` in-process; returns (response, Server-Timing as {layer: ms}, queries)."""
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        timing = parse_server_timing(response.headers.get("Server-Timing", ""))
        return response, timing, captured

    return visit


def bill(visit, bill_id: int, fixed=False) -> View:
    """Chapter 6: one bill page, naive or fixed, as Django timed it (not cached: it is the
    real app, and a visit costs milliseconds)."""
    _, timing, captured = visit(f"/bills/{bill_id}/" + ("?fixed=1" if fixed else ""))
    fig, ax = _figure(8, 1.8)
    left = 0.0
    for layer in ("app", "db"):
        ms = timing.get(layer, 0.0)
        ax.barh(0, ms, left=left, color=COLORS[layer], label=f"{layer} {ms:.1f} ms")
        left += ms
    ax.set_yticks([])
    ax.set_xlabel("ms in Django")
    ax.set_title(f"bill {bill_id}, {'fixed' if fixed else 'naive'}: {len(captured)} queries")
    ax.legend(frameon=False, loc="lower right")
    return View("", fig)


# --- chapter 7: PostgreSQL ---------------------------------------------------------------------

#: The connections control's run: the chapter's 40 s. Threads open their connections one by
#: one as they first serve a request, so refusals start about 20 s in: a shorter run would
#: hide the lesson, which is why this step stays near the budget instead of under it.
CONNECTIONS_STEP = SHORT


@remembered
def connections_summary(instances, workers, threads, max_connections, conn_max_age) -> dict:
    overrides = [
        f"instances.count={instances}",
        f"gunicorn.workers={workers}",
        f"gunicorn.threads={threads}",
        f"postgres.max_connections={max_connections}",
        f"postgres.conn_max_age={conn_max_age}",
    ]
    return sim.run(sim.load("db_bound", [*CONNECTIONS_STEP, *overrides])).summary


def connections(instances=3, workers=5, threads=4, max_connections=40, conn_max_age=600) -> View:
    """Chapter 7: how many connections the fleet wants, against what PostgreSQL allows."""
    s = connections_summary(int(instances), int(workers), int(threads), int(max_connections),
                            int(conn_max_age))  # fmt: skip
    need = instances * workers * threads
    counts = s["status_counts"]
    fig, (left, right) = _figure(10, 3.2, cols=2)
    left.bar(["at most", "allowed"], [need, max_connections], color=["#CC79A7", "#999999"])
    left.set_title("connections (at most: one per thread)")
    codes = [c for c in counts if counts[c] or c in ("200", "500")]
    right.bar(codes, [counts[c] for c in codes],
              color=["#1b7f3b" if c == "200" else "#b3261e" for c in codes])  # fmt: skip
    right.set_title(f"responses in {s['window']['seconds']:.0f} s")
    right.set_xlabel("HTTP status")
    refused = s["counters"]["refused_db_connections"]
    text = (
        f"refused connections: {refused}; p95 latency of the rest:"
        f" {s['latency']['end_to_end']['p95'] * 1000:.0f} ms"
    )
    return View(text, fig)


@remembered
def connections_counters(instances: int) -> dict[str, int]:
    """db_bound at ``instances`` instances: the threads started, the most connections held at
    once and the refusals, over the chapter's 40 s."""
    result = sim.run(sim.load("db_bound", [*CONNECTIONS_STEP, f"instances.count={instances}"]))
    c = result.run.counters
    return {"threads_started": c["threads_started"], "peak_held": c["peak_db_connections"],
            "refused": c["refused_db_connections"]}  # fmt: skip


def connections_scaling(sizes=(2, 3, 4)) -> list[dict[str, int]]:
    """Chapter 7: db_bound scaled out to each of ``sizes`` instances, same load."""
    g = sim.load("db_bound").gunicorn
    return [
        {"instances": n, "configured": n * g.workers * g.threads, **connections_counters(n)}
        for n in sizes
    ]


def connections_scaling_text(rows: list[dict[str, int]], scenario) -> str:
    """One line per fleet size, and which sizes ran out of connections."""
    lines = [
        f"db_bound, {scenario.arrivals.rate:g} requests/s, max_connections"
        f" {scenario.postgres.max_connections}:"
    ]
    for r in rows:
        lines.append(
            f"  {r['instances']} instances: {r['threads_started']} of {r['configured']} threads"
            f" started, at most {r['peak_held']} connections held, {r['refused']} refused"
        )
    short = [str(r["instances"]) for r in rows if r["refused"]]
    enough = [str(r["instances"]) for r in rows if not r["refused"]]
    lines.append(
        f"ran out of connections with {', '.join(short) or 'no fleet'} instances;"
        f" enough with {', '.join(enough) or 'no fleet'}"
    )
    return "\n".join(lines)


#: The lab's connections experiment, recorded (demo_app/stack/connections.py; data/README.md).
CONNECTIONS_CSV = DATA / "connections.csv"


def connections_measured(path: Path = CONNECTIONS_CSV) -> list[dict[str, float]]:
    """The recorded run, one row per fleet size: the csv's columns as numbers."""
    import csv

    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def client_gap(row: dict[str, float]) -> float:
    """Seconds a lab client spent between an answer and its next request, on average: its
    cycle (users x seconds / requests) less a request's mean time as it saw it. The clients
    share the machine's cores with the lab, so this is not zero; the model's users think
    that long."""
    cycle = row["users"] * row["seconds"] / max(row["requests"], 1)
    return max(cycle - row["mean_ms"] / 1000, 0.0)


def lab_connections_overrides(row: dict[str, float]) -> list[str]:
    """The lab's experiment as the model's settings, from a row of the recording: ``users``
    clients asking again after the gap the lab's clients took (:func:`client_gap`), gthread
    workers,
    persistent connections, the database's limit as ``max_connections``. The page runs one
    query, then waits 200 ms without the CPU holding its thread and connection: the model's
    round trip to the database stands in for that wait (with a CPU per database connection,
    so it queues for nothing else)."""
    return [
        f"run.duration={row['seconds']:.0f}",
        "run.warmup=0",
        f"instances.count={row['instances']:.0f}",
        "load_balancer.routing=round_robin",  # nginx's default, as in the lab
        'network.connect={kind="constant", mean=0.0}',  # the clients are on the same machine
        'network.download={kind="constant", mean=0.0}',
        "users.enabled=true",
        f"users.count={row['users']:.0f}",
        f'users.think_time={{kind="constant", mean={client_gap(row):.4f}}}',
        'gunicorn.worker_class="gthread"',
        f"gunicorn.workers={row['workers']:.0f}",
        f"gunicorn.threads={row['threads']:.0f}",
        'django.cpu={kind="constant", mean=0.003}',
        "django.queries=1",
        'django.cpu_per_query={kind="constant", mean=0.0}',
        f"postgres.max_connections={row['limit']:.0f}",
        "postgres.conn_max_age=600",
        'postgres.query={kind="constant", mean=0.0005}',
        "postgres.rtt=0.2",
        "postgres.vcpus=64",
    ]


@remembered
def connections_model_counters(overrides: tuple[str, ...]) -> dict[str, int]:
    counters = sim.run(sim.load("baseline", list(overrides))).run.counters
    return {k: counters[k] for k in ("threads_started", "peak_db_connections",
                                     "refused_db_connections")}  # fmt: skip


def connections_lab_and_model(path: Path = CONNECTIONS_CSV) -> list[dict[str, float]]:
    """Per fleet size of the recording: the lab's numbers and the model's of the same run."""
    rows = []
    for row in connections_measured(path):
        model = connections_model_counters(tuple(lab_connections_overrides(row)))
        rows.append(
            {
                **row,
                "model_threads_started": model["threads_started"],
                "model_peak_held": model["peak_db_connections"],
                "model_refused": model["refused_db_connections"],
            }
        )
    return rows


def connections_lab_text(rows: list[dict[str, float]]) -> str:
    """The recorded run in sentences, every number from the recording or the model."""
    lines = []
    for r in rows:
        lines.append(
            f"{r['instances']:.0f} instances: the users started {r['threads_started']:.0f} of"
            f" the {r['threads_configured']:.0f} threads (model {r['model_threads_started']}),"
            f" {r['peak_held']:.0f} held a connection (model {r['model_peak_held']}),"
            f" PostgreSQL refused {r['refused']:.0f} (model: {r['model_refused']})."
        )
    first = rows[0]
    lines.append(
        f"The machine: {first['cores']:.0f} cores, 1-minute load average"
        f" {min(r['load_1min'] for r in rows):.1f} to {max(r['load_1min'] for r in rows):.1f}"
        " during the recording."
    )
    return "\n".join(lines)


def connections_lab(path: Path = CONNECTIONS_CSV) -> View:
    """Chapter 7: threads configured, started and connections held, lab against model."""
    rows = connections_lab_and_model(path)
    fig, ax = _figure(9, 3.4)
    x = np.arange(len(rows))
    bars = (
        ("threads configured", "threads_configured", "#999999"),
        ("started, lab", "threads_started", "#0072B2"),
        ("started, model", "model_threads_started", "#56B4E9"),
        ("held, lab", "peak_held", "#CC79A7"),
        ("held, model", "model_peak_held", "#E69F00"),
    )
    width = 0.16
    for i, (label, key, colour) in enumerate(bars):
        ax.bar(x + (i - 2) * width, [r[key] for r in rows], width, label=label, color=colour)
    ax.axhline(rows[0]["limit"], color="#b3261e", linestyle="--", linewidth=1)
    ax.text(len(rows) - 0.5, rows[0]["limit"], " limit", color="#b3261e", va="bottom")
    ax.set_xticks(x, [f"{r['instances']:.0f} instances" for r in rows])
    ax.set_ylabel("threads / connections")
    ax.set_title(f"{rows[0]['users']:.0f} users, persistent connections: lab and model")
    ax.legend(frameon=False, ncols=3, fontsize=8, loc="upper left")
    ax.set_ylim(0, max(r["threads_configured"] for r in rows) * 1.35)
    lines = [
        f"{'fleet':>5} {'threads':>8} {'started lab/model':>18} {'held lab/model':>15}"
        f" {'refused, lab':>13}"
    ]
    for r in rows:
        started = f"{r['threads_started']:.0f} / {r['model_threads_started']}"
        held = f"{r['peak_held']:.0f} / {r['model_peak_held']}"
        lines.append(
            f"{r['instances']:>5.0f} {r['threads_configured']:>8.0f} {started:>18}"
            f" {held:>15} {r['refused']:>13.0f}"
        )
    return View("\n".join(lines), fig)


# --- chapter 8: the whole path -----------------------------------------------------------------

CALIBRATED = str(DATA / "calibrated.toml")


@remembered
def predict(rate: float, seconds: int = 60) -> dict:
    """The calibrated model of the lab at ``rate`` requests/s."""
    s = sim.load(CALIBRATED, [f"run.duration={seconds}", "run.warmup=10",
                              f"arrivals.rate={rate}"])  # fmt: skip
    return sim.run(s).summary


#: A user's mean think time in the lab's comparison, s (``demo_app/stack/compare.py``, THINK).
THINK = 1.0


@remembered
def predict_users(users: int, seconds: int = 60) -> dict:
    """The calibrated model of the lab driven as ``compare`` drives both: ``users`` users, each
    thinking an exponential time of mean THINK s after its answer, all started in 1 s."""
    s = sim.load(CALIBRATED, [
        f"run.duration={seconds}", "run.warmup=10", "users.enabled=true", f"users.count={users}",
        f'users.think_time={{kind = "exponential", mean = {THINK}}}',
        f"users.spawn_rate={users}",
    ])  # fmt: skip
    return sim.run(s).summary


def compare_levels(path: Path = DATA / "compare.csv") -> list[dict[str, str]]:
    """The recorded comparison, one dict per level (``compare.csv``'s columns)."""
    import csv

    with path.open() as f:
        return list(csv.DictReader(f))


#: The same sweep in the same session, the sim charged the calibration's cost per request
#: scaled by the machine's speed (``compare --demand speed``; data/README.md) ...
COMPARE_SPEED_CSV = DATA / "compare-speed.csv"
#: ... and the calibration's cost as read, whatever the machine's speed (``compare --demand
#: calibrated``; ``compare.csv`` is the default, each level's measured cost).
COMPARE_CALIBRATED_CSV = DATA / "compare-calibrated.csv"


def compare_speeds(levels: list[dict[str, str]]) -> str:
    """Per level: how fast the machine ran against calibration (a fixed reference work, timed
    in CPU time) beside how far a request's cost moved; then the log-log slope between the two
    over the levels (``demo_app/stack/speed.py``)."""
    from demo_app.stack import speed

    lines, pairs = [], []
    for r in levels:
        now, then = float(r["speed_ms"]), float(r["speed_calibrated_ms"])
        lab, calibrated = float(r["cost_lab_ms"]), float(r["cost_calibrated_ms"])
        if r["valid"] != "1" or now <= 0 or then <= 0 or lab <= 0:
            continue
        pairs.append((now / then, lab / calibrated))
        ran = now / then - 1
        lines.append(
            f"{r['level']:>6}: the machine ran {abs(ran):3.0%} {'slower' if ran >= 0 else 'faster'}"
            f" than at calibration, a request cost the lab {lab / calibrated - 1:+4.0%}"
        )
    found = speed.fit(pairs)
    if found is not None:
        lines.append(
            f"over {len(pairs)} levels the cost moved {found[0]:.2f} times as much as the"
            f" reference (log-log slope, correlation {found[1]:.2f})"
        )
    return "\n".join(lines)


def _compare_error(row: dict[str, str], key: str) -> float:
    """A recorded level's error, (sim - measured) / measured, for ``rps``, ``p50_s`` or
    ``p95_s``."""
    measured = float(row[f"measured_{key}"])
    return (float(row[f"sim_{key}"]) - measured) / measured


def compare_summary(levels: list[dict[str, str]]) -> str:
    """Chapter 8's take-away on a recorded comparison, every statement read from its rows:
    which levels were scored, which met the targets, which did not and by what, which missed
    only within the lab's own spread between passes (``unsteady``), which the machine decided
    (other processes above the limit) and what they used."""

    def names(rows: list[dict[str, str]]) -> str:
        return ", ".join(r["level"] for r in rows) or "none"

    err = _compare_error

    valid = [r for r in levels if r["valid"] == "1"]
    scored = [r for r in valid if r["scored"] == "1"]
    meets = [r for r in scored if r["verdict"] == "meets"]
    misses = [r for r in scored if r["verdict"] == "misses"]
    unsteady = [r for r in scored if r["verdict"] == "unsteady"]
    lines = [
        f"{len(scored)} of {len(levels)} levels scored; the model met its targets at"
        f" {len(meets)} ({names(meets)}), missed them within the lab's own spread at"
        f" {len(unsteady)} ({names(unsteady)}) and missed at {len(misses)} ({names(misses)})."
    ]
    for r in unsteady:
        lines.append(
            f"  {r['level']} unsteady: p50 {err(r, 'p50_s'):+.0%} with the lab's passes"
            f" {float(r['spread_p50']):.0%} apart, p95 {err(r, 'p95_s'):+.0%} with them"
            f" {float(r['spread_p95']):.0%} apart"
        )
    for r in misses:
        lines.append(
            f"  {r['level']} missed: throughput {err(r, 'rps'):+.0%}, p50 {err(r, 'p50_s'):+.0%},"
            f" p95 {err(r, 'p95_s'):+.0%}"
            + (" (at or past the knee)" if r["past_knee"] == "1" else " (below the knee)")
        )
    machine = [r for r in valid if r["scored"] == "0"]
    if machine:
        used = ", ".join(f"{r['level']} {float(r['cpu_other']):.2f}" for r in machine)
        lines.append(
            f"Not scored, the machine's doing: {names(machine)} (cores other processes used:"
            f" {used}, of {machine[0]['cpu_cores']})."
        )
    below = [r for r in scored if r["past_knee"] == "0"]
    if below:
        close = [r for r in below if abs(err(r, "p50_s")) <= 0.15]
        lines.append(
            f"Below the knee the model's median was within 15 % of the lab's at {len(close)} of"
            f" {len(below)} scored levels."
        )
    else:
        lines.append("No level below the knee was scored: this recording says nothing there.")
    invalid = [r for r in levels if r["valid"] == "0"]
    if invalid:
        lines.append(f"Invalid (no request completed): {names(invalid)}.")
    return "\n".join(lines)


@functools.lru_cache(maxsize=8)
def _level_p95(users: int, factor: float, jitter: float) -> float:
    from demo_app.stack.compare import jitter_overrides, slower_cpu_override, users_overrides

    path = Path(CALIBRATED)
    overrides = [
        *users_overrides(users, THINK, float(users)),
        *slower_cpu_override(path, factor),
        *jitter_overrides(jitter),
        "run.duration=300",
        "run.warmup=30",
    ]
    return sim.run(sim.load(CALIBRATED, overrides)).summary["latency"]["end_to_end"]["p95"]


def compare_steady_tail(levels: list[dict[str, str]], name: str) -> dict[str, float]:
    """A recorded ``--demand measured`` level's p95, s: the lab's, and the calibrated model's
    given the level's cost and cores as ``compare`` gave them, with the host's speed moving as
    the recording's sim had it (``jitter``) and with one steady speed (``steady``)."""
    (row,) = [r for r in levels if r["level"] == name]
    factor = (float(row["cpu_cores"]) / float(row["cpu_left"])) * (
        float(row["cost_lab_ms"]) / float(row["cost_calibrated_ms"])
    )
    users, jitter = int(row["users"]), float(row["cpu_jitter"])
    return {
        "lab": float(row["measured_p95_s"]),
        "jitter": _level_p95(users, factor, jitter),
        "steady": _level_p95(users, factor, 0.0),
    }


def compare_tail(levels: list[dict[str, str]]) -> str:
    """How far the model's throughput, median and tail were from the lab's over a recording's
    scored levels (chapter 8 on ``--demand measured``, where the cost is the lab's own)."""
    scored = [r for r in levels if r["valid"] == "1" and r["scored"] == "1"]
    if not scored:
        return "No level was scored: this recording says nothing about the tail."
    err = _compare_error
    throughput = max(abs(err(r, "rps")) for r in scored)
    p50 = [err(r, "p50_s") for r in scored]
    p95 = [err(r, "p95_s") for r in scored]
    return (
        f"at the {len(scored)} scored levels the model's throughput was within {throughput:.0%}"
        f" of the lab's, its p50 from {min(p50):+.0%} to {max(p50):+.0%} and its p95 from"
        f" {min(p95):+.0%} to {max(p95):+.0%}"
    )


def calibrated(rate=20) -> View:
    """Chapter 8: the lab's model at one load."""
    from sim.figures import plots

    s = predict(float(rate), 40)
    e2e = s["latency"]["end_to_end"]
    text = (
        f"{rate} req/s offered: {s['throughput_per_s']:.1f} served, "
        f"p50 {e2e['p50'] * 1000:.0f} ms, p95 {e2e['p95'] * 1000:.0f} ms, "
        f"workers busy {s['utilisation']['workers']:.0%}"
    )
    return View(text, plots.layer_breakdown(s, f"the lab's model at {rate} requests/s"))


# --- chapter 9: developer access ---------------------------------------------------------------


def grep(pattern="502", file="nginx-access.log", max_lines=5) -> View:
    """Chapter 9: ``grep -E`` on a recorded log (real grep; a list of arguments, never a shell
    string, so the pattern is never interpreted by a shell)."""
    if not pattern:
        return View("")
    found = subprocess.run(["grep", "-E", "-m", str(max_lines), "--", pattern, file],
                           cwd=DATA, capture_output=True, text=True)  # fmt: skip
    total = subprocess.run(["grep", "-E", "-c", "--", pattern, file], cwd=DATA,
                           capture_output=True, text=True)  # fmt: skip
    lines = [
        f"$ grep -E -c '{pattern}' {file}",
        (total.stdout or total.stderr).rstrip(),
        f"$ grep -E -m {max_lines} '{pattern}' {file}",
        *(line[:160] for line in found.stdout.splitlines()),
    ]
    return View("\n".join(lines))


# --- chapter 11: the frontend -----------------------------------------------------------------

#: A typical page's static files (``sim/scenarios/assets_cdn.toml``: the median desktop page's
#: scripts, stylesheets and fonts, 30 files).
TYPICAL_PAGE = sim.load("assets_cdn").assets.sizes
#: Where the files come from: the settings of ``[assets]`` for each choice of the control.
WHERE = {
    "CDN": ["assets.cdn=true"],
    "nginx": ["assets.cdn=false", 'assets.server="nginx"'],
    "Django": ["assets.cdn=false", 'assets.server="django"'],
}
#: The control's run: ``assets_cdn``'s 30 pages a second for 30 s (25 measured), so a step
#: stays under a second with 30 files a page. Its lesson (where the time and the CPU go) is a
#: steady state's, which the first seconds already show: the scenarios' own 300 s give the same
#: means to within a few per cent (``tests/notebooks/test_frontend_chapter.py``).
PAGE_STEP = ["run.duration=30", "run.warmup=5"]


def page_sizes(files: int) -> str:
    """``assets.sizes`` for a page of ``files`` files, the typical page's taken in turn."""
    sizes = [TYPICAL_PAGE[i % len(TYPICAL_PAGE)] for i in range(files)]
    return "assets.sizes=[" + ", ".join(f"{x:g}" for x in sizes) + "]"


@remembered
def page_summary(where: str, files: int, connections: int, *step: str) -> dict:
    """The summary of ``assets_cdn`` with ``files`` files a page over ``connections``
    connections, served from ``where`` (a key of :data:`WHERE`)."""
    overrides = [*step, *WHERE[where], page_sizes(files), f"assets.connections={connections}"]
    return sim.run(sim.load("assets_cdn", overrides)).summary


def page(where="CDN", files=30, connections=6) -> View:
    """Chapter 11: a page's load time, HTML and files, and what serving them costs the
    instances."""
    s = page_summary(where, int(files), int(connections), *PAGE_STEP)
    a, u = s["assets"], s["utilisation"]
    html = s["latency"]["end_to_end"]["mean"] * 1000
    after = a["after_html"]["mean"] * 1000
    fig, (left, right) = _figure(10, 2.6, 1, 2, width_ratios=[3, 2])
    left.barh(0, html, height=0.6, color=COLORS["app"], label=f"the HTML {html:.0f} ms")
    left.barh(0, after, left=html, height=0.6, color="#F0E442",
              label=f"its files after it {after:.0f} ms")  # fmt: skip
    p95 = a["page_load"]["p95"] * 1000
    left.axvline(p95, color="black", linestyle="-.", linewidth=1, label=f"p95 {p95:.0f} ms")
    left.set_yticks([])
    left.set_ylim(-0.4, 1.3)  # room above the bar for the legend
    left.set_xlim(0, max(p95 * 1.15, 700))
    left.set_xlabel("mean page load (ms): Enter to the last file in")
    left.legend(frameon=False, fontsize=8, loc="upper left", ncols=3)
    names, values = ["workers", "vCPUs"], [u["workers"] * 100, u["vcpus"] * 100]
    right.barh(names, values, color=[COLORS["queue"], COLORS["app"]])
    for y, v in enumerate(values):
        right.text(v, y, f" {v:.0f} %", va="center", fontsize=9)
    right.set_xlim(0, 100)
    right.set_xlabel("busy on the instances (%)")
    fig.suptitle(f"{files} files a page from {where}, {connections} connections per host",
                 x=0.01, ha="left", fontsize=10)  # fmt: skip
    text = (
        f"{where}: page load mean {a['page_load']['mean'] * 1000:.0f} ms, p95 {p95:.0f} ms"
        f" ({a['per_page']} files, {a['bytes_per_page'] / 1000:,.0f} KB); vCPUs busy"
        f" {u['vcpus']:.0%}, workers busy {u['workers']:.0%}"
    )
    return View(text, fig)


#: One user opens one page, then thinks for longer than the run: exactly one page, its files
#: from an edge that holds them all, every cost constant (the rounds exercise).
ONE_PAGE = [
    "users.enabled=true",
    "users.count=1",
    "users.think_time=100.0",
    "run.duration=1.0",
    "run.warmup=0.0",
    "assets.enabled=true",
    "assets.cdn=true",
    "assets.hit_ratio=1.0",
    "assets.edge_latency=0.015",
    "assets.bandwidth=20.0",
]


def one_page(files: int = 8, connections: int = 6, size: float = 25500.0):
    """One page of ``files`` files of ``size`` bytes over ``connections`` connections: the
    run's result (``result.asset_records`` are its files)."""
    sizes = "assets.sizes=[" + ", ".join([f"{size:g}"] * files) + "]"
    return sim.run(sim.load("baseline", [*ONE_PAGE, sizes, f"assets.connections={connections}"]))


def resource_timing() -> dict:
    """The recorded Resource Timing of the demo app's trace page (``data/README.md``)."""
    import json

    return json.loads((DATA / "resource-timing.json").read_text())


#: Parts of a resource's time in the browser's own words (Resource Timing), coloured as the
#: model's waterfall colours a file's parts.
TIMING_PARTS = (
    ("queued in the browser", "startTime", "connectStart", "#BBBBBB"),
    ("connecting", "connectStart", "connectEnd", "#0072B2"),
    ("request to first byte", "requestStart", "responseStart", "#009E73"),
    ("the bytes", "responseStart", "responseEnd", "#F0E442"),
)


def timing_figure(visits: dict) -> Figure:
    """The recorded page loads as the browser measured them: the HTML (navigation) and each
    static file (resources), one panel per visit."""
    fig, axes = _figure(10, 1.4 + 1.1 * len(visits), len(visits), 1, sharex=True)
    first = next(iter(visits))
    titles = {"first": "first visit (an empty cache)", "again": "second visit (the same browser)"}
    for ax, (visit, entries) in zip(np.atleast_1d(axes), visits.items(), strict=True):
        rows = [("the HTML", entries["navigation"][0])]
        rows += [(e["name"].rsplit("/", 1)[-1], e) for e in entries["resources"]]
        for y, (_, e) in enumerate(reversed(rows)):
            for label, start, end, color in TIMING_PARTS:
                a = e[start] if start != "connectStart" or e["connectStart"] else e["startTime"]
                b = e[end] if e[end] else a
                ax.barh(y, max(b - a, 0.0), left=a, color=color, height=0.6,
                        label=label if visit == first and y == 0 else None)  # fmt: skip
            cached = " (from the cache)" if e.get("deliveryType") == "cache" else ""
            ax.text(e["responseEnd"], y, f" {e['transferSize']:,} B{cached}", va="center",
                    fontsize=8)  # fmt: skip
        ax.set_yticks(range(len(rows)), [name for name, _ in reversed(rows)], fontsize=8)
        ax.set_title(titles.get(visit, visit), loc="left", fontsize=9)
    ax.set_xlabel("ms since the navigation started (the browser's clock); label: bytes transferred")
    fig.legend(loc="upper right", fontsize=8, frameon=False, ncols=4)
    return fig


# --- chapter 12: deployment --------------------------------------------------------------------

#: Three instances behind health checks serve a slow page (each request waits `seconds` on the
#: database: a report). A scale-in alarm that always holds (CPU below 100 %) makes the group
#: remove one instance when it first evaluates, at 60 s: the model's way to take an instance
#: out of the load balancer on schedule, as each step of a rolling deploy does. It leaves
#: through the deregistration delay: draining, then stopped.
LEAVE = """
[run]
duration = 90.0
warmup = 0.0
drain = 60.0
[traffic]
enabled = true
profile = "constant"
rate = {rate}
sessions = false
[django]
cpu = {{ kind = "constant", mean = 0.01 }}
queries = 1
cpu_per_query = 0.0
[postgres]
query = {{ kind = "constant", mean = {seconds} }}
vcpus = 256
max_connections = 2000
[gunicorn]
worker_class = "gthread"
workers = 4
threads = 64
[health_check]
enabled = true
interval = 10.0
timeout = 5.0
healthy_threshold = 2
unhealthy_threshold = 2
deregistration_delay = {delay}
[asg]
enabled = true
min = 2
max = 3
desired = 3
[[asg.policies]]
kind = "simple"
comparison = "<"
threshold = 100.0
period = 60.0
evaluation_periods = 1
adjustment = -1
[timeseries]
period = 5.0
"""
#: The chapter's settings: 15 requests/s over 3 instances, a 3 s page.
LEAVE_STEP = {"rate": 15.0, "instances": 3, "seconds": 3.0}


class Leaving(NamedTuple):
    """The instance that left: its requests as (arrival, end, answered 200), when it was taken
    out of the load balancer and when it stopped; and the run's failed requests."""

    requests: list[tuple[float, float, bool]]
    left_at: float
    stopped_at: float
    failed: int


@remembered
def leaving(delay: float, seconds: float) -> Leaving:
    """One instance leaves with deregistration delay ``delay`` while each request takes
    ``seconds``; only what the figure and the self-check need is kept."""
    run = sim.run(sim.loads(LEAVE.format(rate=LEAVE_STEP["rate"], seconds=seconds, delay=delay)))
    left_at, name = next((t, n) for t, n, state in run.log.health if state == "draining")
    stopped_at = next(t for t, n, state in run.log.health if n == name and state == "unused")
    which = int(name.split()[-1])
    mine = []
    for record in run.records:
        if record.layer == "app" and record.instance == which:
            mine.append((record.arrival, record.end, record.status == 200))
    return Leaving(sorted(mine), left_at, stopped_at, run.summary["requests"]["errors"])


def leaving_figure(ax, found: Leaving, delay: float, seconds: float) -> None:
    """The leaving instance's requests around its exit, one line each: green answered, red cut."""
    start = found.left_at - seconds - 4
    shown = [r for r in found.requests if r[1] >= start]
    # One collection for all the lines: a plot call per request costs most of a step.
    ax.hlines(
        range(len(shown)),
        [r[0] for r in shown],
        [r[1] for r in shown],
        colors=["#1b7f3b" if ok else "#d62728" for *_, ok in shown],
        lw=2,
    )
    ax.axvline(found.left_at, color="black", ls="--", lw=1)
    ax.axvspan(found.left_at, found.stopped_at, color="#999999", alpha=0.25)
    cut = sum(1 for *_, ok in shown if not ok)
    ax.set_title(
        f"deregistration delay {delay:g} s: out of the load balancer at {found.left_at:g} s, "
        f"stopped at {found.stopped_at:g} s; {cut} cut",
        loc="left",
        fontsize=10,
    )
    ax.set_xlim(start, found.left_at + max(seconds, min(delay, seconds)) + 3)
    ax.set_ylabel("its requests")
    ax.set_yticks([])


def drain(delay=1, seconds=3) -> View:
    """Chapter 12: one instance leaves after ``delay`` s of deregistration delay, under
    requests of ``seconds`` s each."""
    found = leaving(float(delay), float(seconds))
    fig, ax = _figure(10, 3.0)
    leaving_figure(ax, found, float(delay), float(seconds))
    ax.set_xlabel("simulated time (s); dashed: out of the load balancer; grey: draining")
    per_instance = LEAVE_STEP["rate"] / LEAVE_STEP["instances"]
    text = (
        f"{found.failed} request(s) failed; it held about {per_instance * seconds:g} at once "
        f"({per_instance:g} requests/s x {seconds:g} s)"
    )
    return View(text, fig)


#: A release that answers every page with a 500 reaches one of two instances at 30 s and is
#: rolled back by hand a minute later. Its health endpoint still answers 200, so the load
#: balancer's checks keep it in service: the gate only asked "is the process up?".
BAD_RELEASE = """
[run]
duration = 120.0
warmup = 0.0
drain = 60.0
[traffic]
enabled = true
profile = "constant"
rate = {rate}
sessions = false
[health_check]
enabled = true
interval = 10.0
timeout = 5.0
healthy_threshold = 2
unhealthy_threshold = 2
[[failures]]
kind = "bad_deploy"
at = 30.0
duration = {seconds}
instances = 1
error_rate = 1.0
"""


@remembered
def bad_release(rate: float = 20.0, minutes_to_rollback: float = 1.0) -> dict:
    """Responses by status while one of two instances runs a release that fails every page,
    until a rollback ``minutes_to_rollback`` later; and the failures' log."""
    run = sim.run(sim.loads(BAD_RELEASE.format(rate=rate, seconds=minutes_to_rollback * 60)))
    return {"status_counts": run.summary["status_counts"], "log": run.log.failures}
