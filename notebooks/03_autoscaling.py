# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Auto-scaling: a weekday, and why the minimum is 2
#
# The talk: *scale out (`instances += 1`) under high CPU or memory; scale in (min 2) under low
# CPU and memory. Why 2? Redundancy and failure tolerance.*
#
# Think of a shop manager watching the queues: when the tills are busy for a while, she opens
# another (it takes a few minutes before the new cashier is ready); when they are quiet for a
# long while, she closes one, but never goes below two, in case a cashier falls ill.
#
# | knob | what it does | typical value |
# |---|---|---|
# | threshold / target | the CPU % that counts as "busy" | target tracking at 50 % |
# | period x evaluation periods | how long it must be busy first | 3 x 1 min out, 15 x 1 min in |
# | cooldown | wait after an activity before the next (simple scaling) | 300 s |
# | warm-up | a new instance's CPU is ignored this long | 300 s |
# | launch + boot | from "launch" to "ready for traffic" | ~17 s + the app's start |
#
# (`../shared/design/MODEL_FACTS.md`, "EC2 Auto Scaling".)

# %%
# %matplotlib inline
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

sys.path.insert(0, str(Path.cwd()))  # course.py sits beside the chapters
import course

from sim import dynamics, metrics, scenario, sweep
from sim.dashboard import dashboard

# The shipped `weekday` scenario simulates 2.5 hours at up to 60 requests/s (about three
# minutes of computing). Here: a tenth of the requests, each ten times heavier, so the CPU the
# group reacts to is the same on average and a run takes seconds. Per-minute CPU is noisier
# with so few requests, so this group scales further than the full scenario's
# (`python -m sim run weekday --out out/weekday --figures` draws the full one).
LIGHTER = [
    "traffic.rate=0.4",
    "traffic.peak=6.0",
    'django.cpu={kind="lognormal", mean=0.6, sigma=0.5}',
    "run.duration=7200",  # 08:00 to the 10:00 peak
]
DEFAULTS = {"target": 50, "warmup": 300, "boot_time": 60, "max_instances": 8}
_runs = {}  # runs already made, by their settings: the sliders' first position reuses `day`


def weekday(*overrides):
    return dynamics.simulate_over_time(scenario.load("weekday", [*LIGHTER, *overrides]))


# %% [markdown]
# ## A weekday morning, 08:00 to the 10:00 peak
#
# Traffic climbs from night to the 10:00 peak. The group starts at 2 instances and uses
# **target tracking** at 50 % CPU (AWS's recommended kind). Read the dashboard top to bottom:
# traffic, the group's capacity, CPU per instance, latency, errors.

# %%
day = weekday()
_runs[tuple(DEFAULTS.values())] = day
display(dashboard(day, "weekday (lighter): 08:00 to 10:00"))
summary = metrics.summary(day.results)
print(
    f"instance-hours {day.instance_hours:.1f}, p95 {summary['latency']['end_to_end']['p95']:.2f} s,"
    f" errors {summary['requests']['errors']}"
)

# %% [markdown]
# Notice the orange band on the capacity panel: every new instance spends launch + boot
# before it serves anyone, and the group ignores its CPU during the warm-up. Scaling reacts
# to what *has* happened; capacity arrives minutes later.
# (Latencies here are in seconds, not tens of milliseconds: each request of this lighter
# morning computes for about 0.6 s.)
#
# ## Try it: the knobs of the policy
#
# Change the target, the warm-up and the boot time. A lower target buys latency with more
# instances; a long boot makes the morning ramp hurt. (Each run takes a few seconds.)


# %%
def explore(target=50, warmup=300, boot_time=60, max_instances=8):
    key = (target, warmup, boot_time, max_instances)
    if key not in _runs:
        policy = f'asg.policies=[{{kind="target_tracking", metric="cpu", target={float(target)}}}]'
        _runs[key] = weekday(
            policy, f"asg.warmup={float(warmup)}", f"asg.boot_time={float(boot_time)}",
            f"asg.max={max_instances}",
        )  # fmt: skip
    run = _runs[key]
    s = metrics.summary(run.results)
    print(
        f"instance-hours {run.instance_hours:.1f}, p95 {s['latency']['end_to_end']['p95']:.2f} s,"
        f" errors {s['requests']['errors']}"
    )
    minutes = [row["t"] / 60 for row in run.table]
    _, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True, layout="constrained")
    top.step(minutes, [row["desired"] for row in run.table], where="post", color="black",
             ls="--", label="desired")  # fmt: skip
    top.step(minutes, [row["healthy"] for row in run.table], where="post", color="#2ca02c",
             lw=2, label="in service")  # fmt: skip
    top.set_ylabel("instances")
    top.legend(frameon=False)
    top.set_title(f"target {target} %, warm-up {warmup} s, boot {boot_time} s", loc="left")
    bottom.plot(minutes, [row["p95"] * 1000 for row in run.table], color="#d62728")
    bottom.set_yscale("log")
    bottom.set_ylabel("p95 latency (ms)")
    bottom.set_xlabel("minutes since 08:00")
    plt.show()


widgets.interactive(
    explore,
    target=widgets.IntSlider(
        value=50, min=20, max=90, step=5, description="target CPU %", continuous_update=False
    ),
    warmup=widgets.IntSlider(
        value=300, min=0, max=600, step=30, description="warm-up (s)", continuous_update=False
    ),
    boot_time=widgets.IntSlider(
        value=60, min=0, max=600, step=30, description="boot (s)", continuous_update=False
    ),
    max_instances=widgets.IntSlider(
        value=8, min=2, max=10, description="max", continuous_update=False
    ),
)

# %% [markdown]
# ## Why min 2?
#
# In `instance_failure` one instance crashes at t = 300 s under 15 requests/s, which one
# instance can carry. Health checks run every 10 s; a replacement takes 17 s to launch and
# 60 s to boot, and needs 3 healthy checks in a row.
#
# **Predict:** with **min 1**, the crashed instance was the only one. For about how many
# **seconds** do users get `503 Service Unavailable` (no healthy target)?

# %%
prediction_s = None  # seconds

# %%
fleets = {m: dynamics.simulate_over_time(scenario.load("instance_failure", [f"asg.min={m}"]))
          for m in (1, 2)}  # fmt: skip
req = fleets[1].requests
outage = req["arrival"][req["status"] == 503]
outage_s = float(outage.max() - outage.min()) if outage.size else 0.0
s1 = scenario.load("instance_failure")
course.ch3_outage(prediction_s, outage_s=outage_s, launch=s1.asg.launch_time, boot=s1.asg.boot_time)

# %%
_, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True, layout="constrained")
for ax, m in zip(axes, (1, 2), strict=True):
    r = fleets[m].requests
    bins = np.arange(240, 600, 5)
    ok, _ = np.histogram(r["arrival"][r["status"] == 200], bins)
    bad, _ = np.histogram(r["arrival"][r["status"] != 200], bins)
    ax.bar(bins[:-1], ok, width=5, align="edge", color="#1b7f3b", label="200 OK")
    ax.bar(bins[:-1], bad, width=5, bottom=ok, align="edge", color="#ff7f0e", label="503 / 502")
    ax.axvline(300, color="#b3261e", lw=2)
    ax.set_title(f"min {m}: {int((r['status'] != 200).sum())} failed requests", loc="left")
    ax.set_ylabel("requests / 5 s")
    ax.legend(frameon=False, loc="lower right")
axes[1].set_xlabel("simulated time (s); the red line is the crash")
plt.show()

# %% [markdown]
# With min 2 the survivor takes the traffic at once and nobody notices. One instance costs
# half as much, and the price is a hole of a couple of minutes whenever it dies, is replaced,
# or is deployed to. Two instances in two availability zones also survive a zone going dark.
#
# ## Cost against latency
#
# A lower target keeps more headroom: lower latency, more instance-hours. A sweep runs the
# same lighter morning with two more targets (`sim.sweep`, the same code as
# `python -m sim sweep`, two runs at once); the morning above is the third point.

# %%
TARGETS = (30.0, 70.0)
runs = [
    (
        {"target": t},
        scenario.load(
            "weekday",
            [*LIGHTER, f'asg.policies=[{{kind="target_tracking", metric="cpu", target={t}}}]'],
        ),
    )
    for t in TARGETS
]
rows = sweep.sweep(runs, replications=1, workers=2)  # two processes: one per core
points = [(r["target"], r["instance_hours"], r["p95"]) for r in rows]
points.append((50.0, day.instance_hours, summary["latency"]["end_to_end"]["p95"]))
_, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for target, cost, p95 in sorted(points):
    ax.scatter(cost, p95 * 1000, s=70, color="#D55E00", edgecolors="black", zorder=3)
    ax.annotate(f"target {target:g} %", (cost, p95 * 1000), textcoords="offset points",
                xytext=(8, 4))  # fmt: skip
ax.set_xlabel("cost: instance-hours for the morning")
ax.set_ylabel("p95 latency (ms)")
ax.set_title("Each target is a point on a cost/latency curve")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# **Take-aways**
# - Scaling reacts after the fact: alarm periods, then launch + boot + warm-up. Plan for the
#   minutes in between (a lower target, scheduled scaling before a known peak).
# - Min 2 is the price of not having an outage every time one machine dies.
# - Every setting is a point on a cost/latency curve; a sweep shows the curve.
