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

# %%
# %matplotlib inline
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path.cwd()))  # course.py sits beside the chapters
import course

import sim
from sim.results.records import by_request, end_to_end

STRATEGIES = ("round_robin", "least_outstanding_requests")


def uneven(routing, sigma, rate=100, instances=4, seconds=60):
    """The baseline with 4 instances and Django CPU times spread by ``sigma`` (lognormal:
    0 = every request costs the same 60 ms; 1.2 = a few cost ten times the typical one)."""
    cpu = f'django.cpu={{kind="lognormal", mean=0.06, sigma={sigma}}}'
    return sim.run(
        sim.load(
            "baseline",
            [
                f"run.duration={seconds}",
                "run.warmup=10",
                f"instances.count={instances}",
                f"arrivals.rate={rate}",
                cpu,
                f'load_balancer.routing="{routing}"',
            ],
        )
    )


def latencies_ms(result):
    """End-to-end latency of each successful request in the measured window."""
    start, end = result.run.window
    return np.array([
        end_to_end(rows) * 1000
        for rows in by_request(result.records).values()
        if rows[0].status == 200 and start <= rows[0].arrival < end
    ])  # fmt: skip


# %% [markdown]
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

# %%
prediction = None  # "round_robin" or "least_outstanding_requests"

# %%
runs = {name: uneven(name, sigma=1.2) for name in STRATEGIES}
p95 = {name: r.summary["latency"]["end_to_end"]["p95"] for name, r in runs.items()}
course.ch2_routing(prediction, p95=p95)

# %%
fig, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
bins = np.logspace(np.log10(80), np.log10(5000), 60)
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

# %% [markdown]
# ## Try it
#
# Change the load, the number of instances and the spread. `random` is there for comparison:
# it is what you get from DNS round robin without a load balancer at all.


# %%
def explore(rate=100, instances=4, sigma=1.2):
    _, ax = plt.subplots(figsize=(9, 3.5), layout="constrained")
    for name, color in zip(("random", *STRATEGIES), ("#999999", "#E69F00", "#009E73"), strict=True):
        ms = latencies_ms(uneven(name, sigma, rate, instances, seconds=40))
        ax.hist(ms, bins=bins, histtype="step", lw=2, color=color,
                label=f"{name}: p95 {np.percentile(ms, 95):.0f} ms")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("end-to-end latency (ms)")
    ax.legend(frameon=False)
    plt.show()


widgets.interactive(
    explore,
    rate=widgets.IntSlider(value=100, min=20, max=130, step=10, description="req/s"),
    instances=widgets.IntSlider(value=4, min=2, max=8, description="instances"),
    sigma=widgets.FloatSlider(value=1.2, min=0.0, max=1.6, step=0.1, description="sigma"),
)

# %% [markdown]
# ## Health checks: pulling a sick instance
#
# The load balancer asks every instance `GET /healthz` every `interval` seconds. An answer
# slower than `timeout` counts as a failure; after `unhealthy_threshold` failures in a row the
# instance is marked **unhealthy** and gets no more requests; after `healthy_threshold`
# successes it is back. Below, 3 instances serve 30 requests/s and instance 1 crashes at
# t = 60 s. The checks run every 10 s with a 5 s timeout and a threshold of 2.
#
# **Predict:** how many seconds after the crash is instance 1 marked unhealthy?

# %%
prediction_s = None  # seconds

# %%
HEALTH = """
[run]
duration = 240.0
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
at = 60.0
instance = 1
[timeseries]
period = 5.0
"""


def crash(interval=10.0, threshold=2):
    text = HEALTH.format(interval=float(interval), threshold=threshold)
    return sim.run(sim.loads(text))


over = crash()
crashed_at = over.log.failures[0][0]
unhealthy_at = next(t for t, name, state in over.log.health if state == "unhealthy")
course.ch2_detection(
    prediction_s, crashed_at=crashed_at, unhealthy_at=unhealthy_at, interval=10.0, threshold=2,
    timeout=5.0,
)  # fmt: skip


# %%
def timeline(interval=10, threshold=2):
    run = crash(interval, threshold)
    down = next(t for t, _, state in run.log.health if state == "unhealthy")
    _, ax = plt.subplots(figsize=(10, 3.2), layout="constrained")
    minutes = [row["t"] for row in run.table]
    for key, color in (("cpu_0", "#0072B2"), ("cpu_1", "#D55E00"), ("cpu_2", "#009E73")):
        ax.plot(minutes, [row.get(key, np.nan) for row in run.table], color=color,
                label=f"instance {key[-1]} CPU %")  # fmt: skip
    crashed = run.log.failures[0][0]
    ax.axvline(crashed, color="#b3261e", lw=2, label="instance 1 crashes")
    ax.axvspan(crashed, down, color="#b3261e", alpha=0.12,
               label=f"checks failing ({down - crashed:g} s)")  # fmt: skip
    ax.axvline(down, color="black", ls="--", label="marked unhealthy")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("CPU %")
    ax.set_xlim(0, 200)
    ax.legend(frameon=False, fontsize=8, ncols=2)
    ax.set_title("The survivors take the traffic; the health check notices a little later")
    plt.show()


widgets.interactive(
    timeline,
    interval=widgets.IntSlider(value=10, min=5, max=60, step=5, description="interval (s)"),
    threshold=widgets.IntSlider(value=2, min=2, max=10, description="unhealthy after"),
)

# %% [markdown]
# In the model a crashed machine refuses connections, so the load balancer tries another
# target straight away; what the health check decides is when the instance is *officially*
# out, which is what tells the auto-scaling group (chapter 3) to replace it. A machine that is
# up but sick (stuck workers, a full backlog) answers slowly instead: its checks time out, and
# it is pulled the same way, `interval x unhealthy_threshold` seconds later.
#
# **Take-aways**
# - Round robin is fair only when requests cost the same; least outstanding requests adapts.
# - A health check needs `unhealthy_threshold` failures in a row, `interval` seconds apart:
#   with ALB defaults (30 s x 2) a dead instance is noticed only after about a minute.
