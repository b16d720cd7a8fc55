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
# # 2. Load balancing: who gets the next request?
#
# DNS gave the browser the address of the **Elastic Load Balancer** (chapter 1). The browser
# opens a TLS connection to it, and the load balancer picks one of the instances for each
# request. Think of the supermarket: one queue manager at the front pointing each shopper to a
# till. The talk names its two jobs: **distribute load** across instances and **monitor their
# health**.
#
# | | Classic ELB | Application LB (ALB) |
# |---|---|---|
# | routing | least outstanding requests (HTTP) | round robin by default |
# | health checks | every 30 s, 2 failures -> unhealthy | every 30 s, 2 failures -> unhealthy |
#
# (`sim/FACTS.md`, "Elastic Load Balancing".)

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path.cwd()))  # course.py and explore.py sit beside the chapters
import course
import explore
from explore import latencies_ms, uneven

STRATEGIES = ("round_robin", "least_outstanding_requests")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Round robin or least outstanding requests?
#
# Round robin deals requests out like cards: 1, 2, 3, 4, 1, 2, ... **Least outstanding
# requests** sends each request to the instance with the fewest requests in progress.
#
# In the run below 4 instances take 100 requests/s and a request's CPU time varies a lot
# (most take tens of milliseconds, a few take close to a second: a report, an export).
#
# **Predict:** which strategy gives the lower p95 latency: `"round_robin"` or
# `"least_outstanding_requests"`?

# %% slideshow={"slide_type": "fragment"}
prediction = None  # "round_robin" or "least_outstanding_requests"

# %% slideshow={"slide_type": "fragment"}
runs = {name: uneven(name, sigma=1.2) for name in STRATEGIES}
p95 = {name: r.summary["latency"]["end_to_end"]["p95"] for name, r in runs.items()}
course.ch2_routing(prediction, p95=p95)

# %%
fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
bins = explore.LATENCY_BINS
for name, color in zip(STRATEGIES, ("#E69F00", "#009E73"), strict=True):
    ms = latencies_ms(runs[name])
    ax.hist(ms, bins=bins, histtype="step", lw=2, color=color,
            label=f"{name}: p95 {np.percentile(ms, 95):.0f} ms")  # fmt: skip
ax.set_xscale("log")
ax.set_xlabel("end-to-end latency (ms, log scale)")
ax.set_ylabel("requests")
ax.set_title("Same traffic, same instances: only the routing differs")
ax.legend(frameon=False)
plt.show()

# %% [markdown]
# The difference comes from the **unevenness**. With every request costing the same, dealing
# them out in turn is already fair. The sweep below varies the spread (`sigma`).

# %%
SIGMAS = (0.0, 0.5, 1.0, 1.5)
sweep = {
    (name, s): uneven(name, s, seconds=40).summary["latency"]["end_to_end"]["p95"]
    for name in STRATEGIES
    for s in SIGMAS
}
fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
for name, color in zip(STRATEGIES, ("#E69F00", "#009E73"), strict=True):
    ax.plot(SIGMAS, [sweep[name, s] * 1000 for s in SIGMAS], "o-", color=color, label=name)
ax.set_xlabel("spread of request costs (sigma of the lognormal CPU time)")
ax.set_ylabel("p95 latency (ms)")
ax.set_title("Round robin pays for uneven requests")
ax.legend(frameon=False)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it
#
# Change the load, the number of instances and the spread, and pick a routing. `random` is
# there for comparison: it is what you get from DNS round robin without a load balancer at
# all. Each step runs one simulation, the routing you picked; the others you ran at the same
# settings are drawn beside it. The step is lighter than the runs above (a shorter run of
# fewer instances, below) so that it answers at once; least outstanding requests still wins
# wherever the costs are uneven (`tests/notebooks/test_explore.py` checks it on the defaults).

# %%
step = explore.ROUTING_STEP
print(f"a step: {step['instances']} instances, {step['rate']} requests/s, {step['seconds']} s"
      f" ({step['seconds'] - 10} s measured), sigma {step['sigma']}")  # fmt: skip
for name in explore.ROUTINGS:  # the first position, all three, before any slider moves
    explore.routing_latencies(name, step["rate"], step["instances"], step["sigma"],
                              step["seconds"])  # fmt: skip
explore.interact(
    explore.routing,
    routing=widgets.ToggleButtons(options=explore.ROUTINGS, value="least_outstanding_requests"),
    rate=widgets.IntSlider(value=step["rate"], min=20, max=130, step=5, description="req/s"),
    instances=widgets.IntSlider(value=step["instances"], min=2, max=8, description="instances"),
    sigma=widgets.FloatSlider(value=step["sigma"], min=0.0, max=1.6, step=0.1,
                              description="sigma"),
)  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Health checks: pulling a sick instance
#
# The load balancer asks every instance `GET /healthz` every `interval` seconds. An answer
# slower than `timeout` counts as a failure; after `unhealthy_threshold` failures in a row the
# instance is marked **unhealthy** and gets no more requests; after `healthy_threshold`
# successes it is back. Below, 3 instances serve 30 requests/s and instance 1 crashes at
# t = 60 s. The checks run every 10 s from t = 0 (so one starts just as the instance crashes),
# with a 5 s timeout and a threshold of 2.
#
# **Predict:** how many seconds after the crash is instance 1 marked unhealthy?

# %% slideshow={"slide_type": "fragment"}
prediction_s = None  # seconds

# %% slideshow={"slide_type": "fragment"}
over = explore.crash(interval=10, threshold=2)
crashed_at = over.log.failures[0][0]
unhealthy_at = next(t for t, name, state in over.log.health if state == "unhealthy")
course.ch2_detection(
    prediction_s, crashed_at=crashed_at, unhealthy_at=unhealthy_at, interval=10.0, threshold=2,
    timeout=5.0,
)  # fmt: skip


# %%
explore.interact(
    explore.health,
    interval=widgets.IntSlider(value=10, min=5, max=60, step=5, description="interval (s)"),
    threshold=widgets.IntSlider(value=2, min=2, max=10, description="unhealthy after"),
)

# %% [markdown]
# In the model a crashed machine refuses connections, so the load balancer tries another
# target straight away; what the health check decides is when the instance is *officially*
# out, which is what tells the auto-scaling group (chapter 3) to replace it. A machine that is
# up but sick (stuck workers, a full backlog) answers slowly instead: its checks time out, and
# it is pulled the same way, after `unhealthy_threshold` failed checks.
#
# With the load balancer's defaults the wait is longer. The crash can come just as a check
# starts (the shortest wait, as above) or just after one (the longest):

# %%
alb = {"interval": 30.0, "timeout": 5.0, "threshold": 2}  # FACTS.md, "Elastic Load Balancing"
shortest = (alb["threshold"] - 1) * alb["interval"] + alb["timeout"]
print(f"The defaults ({alb['interval']:g} s x {alb['threshold']}, {alb['timeout']:g} s timeout):"
      f" a dead instance is noticed {shortest:g} to {shortest + alb['interval']:g} s after it"
      " dies")  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - Round robin is fair only when requests cost the same; least outstanding requests adapts.
# - A health check needs `unhealthy_threshold` failures in a row, `interval` seconds apart, the
#   last known when its timeout runs out: with the defaults, half a minute to a minute.
