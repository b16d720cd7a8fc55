# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: slideshow,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: rise,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   rise:
#     enable_chalkboard: false
#     scroll: true
#     start_slideshow_at: beginning
#     theme: white
#     transition: none
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
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

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

sys.path.insert(0, str(Path.cwd()))  # course.py and explore.py sit beside the chapters
import course
import explore

import sim
from sim import sweep
from sim.figures.dashboard import dashboard

# %% [markdown]
# The shipped `weekday` scenario simulates two and a half hours of a morning, far too long
# for a slider. This chapter runs a lighter morning, printed below: fewer requests, each that
# much heavier, so the CPU the group reacts to is the same on average, over the last hour of
# the climb to the 10:00 peak. A run then costs a small part of the full one, so every knob
# answers at once (`make bench` prints what a step costs). The price: per-minute CPU is
# noisier with so few requests, so this group may scale a little differently from the full
# scenario (`python -m sim run weekday --out out/weekday --figures` draws the full one), and
# latencies are seconds, not tens of milliseconds.

# %%
full = sim.load("weekday")
print(f"1/{explore.SCALE} of the requests, each {explore.SCALE} times heavier: a request"
      f" computes {full.django.cpu.mean * explore.SCALE:g} s on average instead of"
      f" {full.django.cpu.mean:g} s; from {explore.START_H:02.0f}:00 for {explore.HOURS:g} h"
      f" (the full scenario: {full.run.duration / 3600:g} h)")  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A weekday morning, 09:00 to the 10:00 peak
#
# Traffic climbs to the 10:00 peak. The group starts at 2 instances and uses
# **target tracking** at 50 % CPU (AWS's recommended kind). Read the dashboard top to bottom:
# traffic, the group's capacity, CPU per instance, latency, errors.

# %%
first = explore.morning(*explore.POLICY_DEFAULTS.values())  # the knobs' first position too
day = first.result
display(dashboard(day, "weekday (lighter): 09:00 to 10:00"))
summary = day.summary
print(f"instance-hours {first.instance_hours:.1f}, p95 {first.p95:.2f} s, errors {first.errors}")

# %% [markdown]
# Notice the orange band on the capacity panel: every new instance spends launch + boot
# before it serves anyone, and the group ignores its CPU during the warm-up. Scaling reacts
# to what *has* happened; capacity arrives minutes later.


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it: the knobs of the policy
#
# Two kinds of policy. **Target tracking** keeps average CPU near the target and adds or
# removes instances in proportion. **Simple scaling** is the talk's "scale out under high CPU,
# scale in under low CPU": an alarm fires after CPU has been above the threshold for N
# one-minute periods, adds one instance, and then the group waits out its **cooldown** before
# any other activity (a second alarm removes one instance when CPU stays under half the
# threshold for 15 minutes). Change the target or threshold, the periods, the cooldown, the
# warm-up and the boot time. A lower target buys latency with more instances; a long boot or
# a long cooldown makes the morning ramp hurt. (Each step runs one lighter morning; a setting
# you have tried before is drawn again at once.)

# %%
knobs = explore.POLICY_DEFAULTS
explore.interact(
    explore.autoscaling,
    policy=widgets.ToggleButtons(options=["target tracking", "simple scaling"]),
    target=widgets.IntSlider(value=knobs["target"], min=20, max=90, step=5,
                             description="CPU % (target)"),
    periods=widgets.IntSlider(value=knobs["periods"], min=1, max=10, description="periods"),
    cooldown=widgets.IntSlider(value=knobs["cooldown"], min=0, max=900, step=60,
                               description="cooldown (s)"),
    warmup=widgets.IntSlider(value=knobs["warmup"], min=0, max=600, step=30,
                             description="warm-up (s)"),
    boot_time=widgets.IntSlider(value=knobs["boot_time"], min=0, max=600, step=30,
                                description="boot (s)"),
    max_instances=widgets.IntSlider(value=knobs["max_instances"], min=2, max=10,
                                    description="max"),
)  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why min 2?
#
# In `instance_failure` one instance crashes at t = 300 s under 15 requests/s, which one
# instance can carry. Its settings, and the steps a replacement goes through:
#
# 1. **Noticing:** health checks start every 10 s (one starts just as the instance dies) and
#    time out after 5 s; after 2 failures in a row the load balancer reports the instance
#    unhealthy, and the group replaces it at once.
# 2. **Launch:** 17 s until the new instance runs.
# 3. **Boot:** 60 s until the application answers.
# 4. **Healthy checks:** checked as soon as it answers, then every 10 s; it gets traffic at
#    its 3rd passing check in a row.
#
# **Predict:** with **min 1**, the crashed instance was the only one. For about how many
# **seconds** do users get `503 Service Unavailable` (no healthy target)?

# %% slideshow={"slide_type": "fragment"}
prediction_s = None  # seconds

# %% slideshow={"slide_type": "fragment"}
fleets = {m: sim.run(sim.load("instance_failure", [f"asg.min={m}"])) for m in (1, 2)}
req = fleets[1].arrays
outage = req["arrival"][req["status"] == 503]
outage_s = float(outage.max() - outage.min()) if outage.size else 0.0
log = fleets[1].log  # the run's own timeline: every step measured, none assumed
crashed = log.failures[0][0]
unhealthy = next(t for t, _, state in log.health if state == "unhealthy")
launched = next(a.t for a in log.activities if a.kind == "launch" and a.t >= crashed)
booted = next(a.t for a in log.activities if a.kind == "in_service" and a.t > launched)
healthy = next(t for t, _, state in log.health if state == "healthy" and t > booted)
spec = fleets[1].scenario.asg
steps = {
    "noticing the crash": unhealthy - crashed,
    "launch": spec.launch_time,
    "boot": booted - launched - spec.launch_time,
    "the healthy checks": healthy - booted,
}
course.ch3_outage(prediction_s, outage_s=outage_s, steps={k: round(v) for k, v in steps.items()})

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

# %% [markdown] slideshow={"slide_type": "slide"}
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
        sim.load("weekday", [*explore.LIGHTER, explore.policies("target tracking", t, 3)]),
    )
    for t in TARGETS
]
rows = sweep.sweep(runs, replications=1, processes=2)  # two processes: one per core
points = [(r["target"], r["instance_hours"], r["p95"]) for r in rows]
points.append((float(explore.POLICY_DEFAULTS["target"]), first.instance_hours, first.p95))
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

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - Scaling reacts after the fact: alarm periods, then launch + boot + warm-up. Plan for the
#   minutes in between (a lower target, scheduled scaling before a known peak).
# - Min 2 is the price of not having an outage every time one machine dies.
# - Every setting is a point on a cost/latency curve; a sweep shows the curve.
