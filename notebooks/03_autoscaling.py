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
# (`sim/FACTS.md`, "EC2 Auto Scaling".)

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

import sim
from sim import sweep
from sim.figures.dashboard import dashboard

# The shipped `weekday` scenario simulates 2.5 hours at up to 30 requests/s (a few minutes of
# computing). Here: a tenth of the requests, each ten times heavier, so the CPU the group
# reacts to is the same on average and a run takes seconds. Per-minute CPU is noisier with so
# few requests, so this group may scale a little differently from the full scenario
# (`python -m sim run weekday --out out/weekday --figures` draws the full one).
LIGHTER = [
    "traffic.rate=0.2",
    "traffic.peak=3.0",
    'django.cpu={kind="lognormal", mean=0.6, sigma=0.5}',
    "run.duration=7200",  # 08:00 to the 10:00 peak
]
DEFAULTS = {
    "policy": "target tracking", "target": 50, "periods": 3, "cooldown": 300, "warmup": 300,
    "boot_time": 60, "max_instances": 8,
}  # fmt: skip
_runs = {}  # runs already made, by their settings: the sliders' first position reuses `day`


def weekday(*overrides):
    return sim.run(sim.load("weekday", [*LIGHTER, *overrides]))


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
summary = day.summary
p95 = summary["latency"]["end_to_end"]["p95"]
print(
    f"instance-hours {day.log.instance_hours:.1f}, p95 {p95:.2f} s,"
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
# Two kinds of policy. **Target tracking** keeps average CPU near the target and adds or
# removes instances in proportion. **Simple scaling** is the talk's "scale out under high CPU,
# scale in under low CPU": an alarm fires after CPU has been above the threshold for N
# one-minute periods, adds one instance, and then the group waits out its **cooldown** before
# any other activity (a second alarm removes one instance when CPU stays under half the
# threshold for 15 minutes). Change the target or threshold, the periods, the cooldown, the
# warm-up and the boot time. A lower target buys latency with more instances; a long boot or
# a long cooldown makes the morning ramp hurt. (Each run takes a few seconds.)


# %%
def policies(policy: str, target: float, periods: int) -> str:
    """The scenario's `asg.policies` for the chosen kind, as a --set override."""
    if policy == "target tracking":
        return f'asg.policies=[{{kind="target_tracking", metric="cpu", target={target}}}]'
    out = (f'{{kind="simple", comparison=">", threshold={target}, period=60.0,'
           f" evaluation_periods={periods}, adjustment=1}}")  # fmt: skip
    calm = (f'{{kind="simple", comparison="<", threshold={target / 2}, period=60.0,'
            " evaluation_periods=15, adjustment=-1}")  # fmt: skip
    return f"asg.policies=[{out}, {calm}]"


def explore(policy="target tracking", target=50, periods=3, cooldown=300, warmup=300,
            boot_time=60, max_instances=8):  # fmt: skip
    key = (policy, target, periods, cooldown, warmup, boot_time, max_instances)
    if key not in _runs:
        _runs[key] = weekday(
            policies(policy, float(target), periods), f"asg.default_cooldown={float(cooldown)}",
            f"asg.warmup={float(warmup)}", f"asg.boot_time={float(boot_time)}",
            f"asg.max={max_instances}",
        )  # fmt: skip
    run = _runs[key]
    s = run.summary
    p95 = s["latency"]["end_to_end"]["p95"]
    print(
        f"instance-hours {run.log.instance_hours:.1f}, p95 {p95:.2f} s,"
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
    knobs = f"periods {periods}, cooldown {cooldown} s, " if policy == "simple scaling" else ""
    top.set_title(f"{policy} at {target} %, {knobs}warm-up {warmup} s, boot {boot_time} s",
                  loc="left")  # fmt: skip
    bottom.plot(minutes, [row["p95"] * 1000 for row in run.table], color="#d62728")
    bottom.set_yscale("log")
    bottom.set_ylabel("p95 latency (ms)")
    bottom.set_xlabel("minutes since 08:00")
    plt.show()


widgets.interactive(
    explore,
    policy=widgets.ToggleButtons(options=["target tracking", "simple scaling"]),
    target=widgets.IntSlider(
        value=50, min=20, max=90, step=5, description="CPU % (target)", continuous_update=False
    ),
    periods=widgets.IntSlider(
        value=3, min=1, max=10, description="periods", continuous_update=False
    ),
    cooldown=widgets.IntSlider(
        value=300, min=0, max=900, step=60, description="cooldown (s)", continuous_update=False
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
fleets = {m: sim.run(sim.load("instance_failure", [f"asg.min={m}"])) for m in (1, 2)}
req = fleets[1].arrays
outage = req["arrival"][req["status"] == 503]
outage_s = float(outage.max() - outage.min()) if outage.size else 0.0
s1 = sim.load("instance_failure")
course.ch3_outage(prediction_s, outage_s=outage_s, launch=s1.asg.launch_time, boot=s1.asg.boot_time)

# %%
_, axes = plt.subplots(2, 1, figsize=(10, 5), sharex=True, layout="constrained")
for ax, m in zip(axes, (1, 2), strict=True):
    r = fleets[m].arrays
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
        sim.load(
            "weekday",
            [*LIGHTER, f'asg.policies=[{{kind="target_tracking", metric="cpu", target={t}}}]'],
        ),
    )
    for t in TARGETS
]
rows = sweep.sweep(runs, replications=1, processes=2)  # two processes: one per core
points = [(r["target"], r["instance_hours"], r["p95"]) for r in rows]
points.append((50.0, day.log.instance_hours, summary["latency"]["end_to_end"]["p95"]))
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
