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
# # 5. Gunicorn: workers, cores, the backlog and the 30 s timeout
#
# nginx has handed the request on. Gunicorn is the application server: a master process that
# starts **workers**, each a copy of the Django app. Think of a post office: the workers are
# the clerks at the counters, the **backlog** is the queue of people at the door, and the
# vCPUs are the rubber stamps the clerks must share.
#
# | setting | default | what it means |
# |---|---|---|
# | `workers` | 1 | processes; with `sync` each serves **one request at a time** |
# | `worker_class` | `sync` | `gthread` gives each worker `threads` threads |
# | `threads` | 1 | more than 1 turns `sync` into `gthread`, whose threads start as needed |
# | `backlog` | 2048 | connections waiting for a free worker; past it, connect errors |
# | `timeout` | 30 s | a worker silent this long is killed and restarted |
#
# Gunicorn starts **one** worker unless told otherwise (or unless `WEB_CONCURRENCY` says);
# its documentation advises **(2 x cores) + 1** as a starting point, which is what this
# course's instances run (5 on 2 vCPUs). Defaults from Gunicorn's settings documentation
# (`sim/FACTS.md`, "Gunicorn").
#
# The talk says Gunicorn "depends on how many processors a server has". This chapter shows
# why, with the simulation (`sim`): two instances, each with 2 vCPUs.

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt

sys.path.insert(0, str(Path.cwd()))  # course.py and explore.py sit beside the chapters
import course
import explore

import sim
from sim.results.statistics import completed_per_s

SHORT = ["run.duration=40", "run.warmup=10"]  # 40 simulated seconds: quick, still steady


def run(name, *overrides):
    """Simulate a shipped scenario with a few settings changed; returns the summary."""
    return sim.run(sim.load(name, [*SHORT, *overrides])).summary


def served(name, *overrides):
    """The summary, and the requests/s the instances actually finished inside the window
    (the summary's throughput counts what arrived and eventually succeeded)."""
    result = sim.run(sim.load(name, [*SHORT, *overrides]))
    return result.summary, completed_per_s(result.run, result.records)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## Workers against cores
#
# The `cpu_bound` scenario keeps two instances busy computing: below, the requests it sends,
# what each one costs in CPU, and how much of the fleet's vCPUs that keeps busy. The cores
# are nearly full.

# %%
bound = sim.load("cpu_bound")
django = bound.django  # a request's CPU: Django's own, and some for each query it runs
cpu_s = django.cpu.mean + django.queries * django.cpu_per_query.mean + django.cpu_after.mean
fleet_vcpus = bound.instances.count * bound.instances.vcpus
busy = bound.arrivals.rate * cpu_s
print(f"cpu_bound: {bound.arrivals.rate:g} requests/s at {bound.instances.count} instances;"
      f" each request needs about {cpu_s * 1000:.0f} ms of CPU: that is {busy:.1f} of the"
      f" fleet's {fleet_vcpus} vCPUs busy ({busy / fleet_vcpus:.0%})")  # fmt: skip

# %% [markdown]
# **Predict:** give each instance 5 sync workers, the (2 x cores) + 1 rule. If we give it
# **17** workers instead, on the same 2 cores, does throughput get `"more"`, stay the
# `"same"`, or get `"less"`?

# %% slideshow={"slide_type": "fragment"}
prediction = None  # "more", "same" or "less"

# %% slideshow={"slide_type": "fragment"}
WORKERS = (1, 2, 3, 5, 9, 17)
results, throughput = {}, {}
for w in WORKERS:
    results[w], throughput[w] = served("cpu_bound", f"gunicorn.workers={w}")
course.ch5_more_workers(prediction, throughput={5: throughput[5], 17: throughput[17]})

# %% [markdown]
# Where does a request wait? In the **backlog** (the `queue` layer: no free worker) or inside
# Django for a **core** (the `app` layer's wait)? Too few workers and requests pile up at the
# door; too many and they pile up at the stamps. The total barely moves once the cores are full.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
qwait = [results[w]["latency"]["layers"]["queue"]["mean"] * 1000 for w in WORKERS]
cwait = [results[w]["latency"]["layers"]["app"]["wait"] * 1000 for w in WORKERS]
labels = [str(w) for w in WORKERS]
left.bar(labels, qwait, color="#E69F00", label="queue: waiting for a worker")
left.bar(labels, cwait, bottom=qwait, color="#D55E00", label="app: waiting for a core")
left.set_yscale("symlog", linthresh=10)
left.set_xlabel("sync workers per instance (2 vCPUs)")
left.set_ylabel("mean wait per request (ms)")
left.set_title("Where requests wait")
left.legend(frameon=False)
right.plot(labels, [throughput[w] for w in WORKERS], "o-", label="served (req/s)")
right.plot(
    labels, [results[w]["utilisation"]["vcpus"] * 100 for w in WORKERS], "s--", label="vCPU busy %"
)
right.set_xlabel("sync workers per instance")
right.set_title("Throughput stops growing when the cores are busy")
right.legend(frameon=False)
plt.show()

# %% [markdown]
# With 1 worker the backlog grows for the whole run and the slowest requests hit the load
# balancer's 60 s idle timeout (504). With 2 or 3 the workers are still the limit: requests
# wait seconds in the backlog. From about 5 the cores are the limit: served requests/s stop
# growing, and extra workers only trade waiting in the backlog for waiting for a core.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it: sync or gthread
#
# `sync` workers block while Django waits for the database. `gthread` gives every worker
# several threads, so one worker can wait on several queries at once. That helps when requests
# **wait** (slow queries, calls to other services), not when they compute. Here each query
# takes about 50 ms in PostgreSQL (waiting on its disk, so its CPUs are not the limit).
# Turn the knobs: when does `gthread` win?


# %%
explore.interact(
    explore.gunicorn,
    worker_class=widgets.ToggleButtons(options=["sync", "gthread"], value="sync"),
    workers=widgets.IntSlider(value=5, min=1, max=17, description="workers"),
    threads=widgets.IntSlider(value=4, min=1, max=16, description="threads"),
    rate=widgets.IntSlider(value=55, min=10, max=120, step=5, description="req/s"),
)

# %% [markdown]
# At 55 req/s, 10 sync workers (2 instances x 5) each holding a request for about 200 ms can
# serve about 50 req/s: the backlog grows without end. With 4 threads each, 20 slots per
# instance (40 in the fleet), the same CPUs cope. Threads are not free: each one holds its own
# database connection (chapter 7).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The 30 s timeout: 502 or 504?
#
# In `slow_queries` the database slows down 4000-fold for three minutes (a missing index, a
# lock). Three queries now take about 24 s on average, often more than 30 s. Gunicorn kills a
# worker that has been silent for `timeout` = 30 s; nginx gives up after
# `proxy_read_timeout` = 60 s and the load balancer after its 60 s idle timeout.
#
# **Predict:** the clients whose requests were too slow: do they get `502` (bad gateway: the
# upstream closed the connection) or `504` (gateway timeout: the proxy gave up waiting)?

# %% slideshow={"slide_type": "fragment"}
prediction_status = None  # 502 or 504

# %% slideshow={"slide_type": "fragment"}
slow = sim.run(sim.load("slow_queries"))
status_counts = slow.summary["status_counts"]
course.ch5_timeout_status(prediction_status, status_counts=status_counts)

# %%
minutes = [row["t"] / 60 for row in slow.table]
fig, ax = plt.subplots(figsize=(10, 3.2), layout="constrained")
ax.bar(minutes, [row["errors_502"] for row in slow.table], width=-0.45, align="edge",
       color="#d62728", label="502 (Gunicorn killed the worker)")  # fmt: skip
ax.bar(minutes, [row["errors_504"] for row in slow.table], width=0.45, align="edge",
       color="#8c564b", label="504 (a proxy gave up)")  # fmt: skip
ax.axvspan(5, 8, color="#CC79A7", alpha=0.15, label="database slow")
ax.set_xlabel("simulated time (minutes)")
ax.set_ylabel("responses per 30 s")
ax.legend(frameon=False)
plt.show()

# %% [markdown]
# Try it yourself: chapter 4 raised Gunicorn's timeout to 90 s. Rerun the last two cells with
# `sim.load("slow_queries", ["gunicorn.timeout=90"])` to watch its 504s arrive over time.
#
# **Take-aways**
# - Sync workers: one request each. Workers beyond what the cores can run only move the wait.
# - `gthread` helps requests that wait (I/O), not requests that compute.
# - The backlog is where requests queue when every worker is busy; it is the `queue` layer.
# - Gunicorn's 30 s timeout is shorter than nginx's 60 s, so a stuck request shows up as a 502.
#
# **Versions matter.** The model follows the production stack of the talk, where Gunicorn
# killed a timed-out worker and the connection simply closed: nginx reported 502. The lab runs
# today's Gunicorn (27), which answers **500** itself when its timeout aborts a sync worker
# that has not started its response, and nginx passes that on. See it with
# `make lab-drill DRILL=worker-timeout`; the cause (`WORKER TIMEOUT` in the instance's error
# log) is the same, only the status on the wire differs. When a log and a textbook disagree,
# check the versions.
