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
# # 7. PostgreSQL: connections and their limits
#
# Django talks to PostgreSQL (on AWS RDS in production) through the ORM and a driver
# (psycopg2). Think of a bank with a ticket machine that prints only `max_connections`
# tickets: every Django thread needs a ticket (a **connection**) before it can ask anything,
# getting one takes a moment (PostgreSQL forks a backend process and checks your password),
# and when the roll runs out the machine does not queue you, it says
# `FATAL: sorry, too many clients already`.
#
# | setting | default | what it means |
# |---|---|---|
# | `CONN_MAX_AGE` (Django) | 0 | 0: a new connection per request; > 0: kept that long (s) |
# | `CONN_HEALTH_CHECKS` (Django) | `False` | `True`: a kept connection is tested before reuse |
# | `max_connections` (PostgreSQL) | 100 | fixed at server start; past it, FATAL |
# | connection set-up | 10-30 ms | across a LAN with TLS and SCRAM (a few ms locally) |
#
# Numbers from `sim/FACTS.md` ("Django and PostgreSQL"); the simulation uses
# them as its defaults.

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
from sim.layers import COLORS

SHORT = ["run.duration=40", "run.warmup=10"]  # 40 simulated seconds: quick, still steady


def run(name, *overrides):
    """Simulate a shipped scenario with a few settings changed; returns the summary."""
    return sim.run(sim.load(name, [*SHORT, *overrides])).summary


def layer_ms(summary, layer):
    return summary["latency"]["layers"][layer]["mean"] * 1000


# %% [markdown] slideshow={"slide_type": "slide"}
# ## A connection per request, or one kept
#
# With Django's default `CONN_MAX_AGE = 0`, every request opens a connection before its first
# query and closes it at the end. With `CONN_MAX_AGE = 600`, each thread keeps its connection
# for ten minutes.
#
# **Predict:** the baseline connection set-up costs 15 ms. How many **milliseconds** of
# database time does a request save when connections are kept?

# %% slideshow={"slide_type": "fragment"}
prediction_ms = None  # e.g. 5

# %% slideshow={"slide_type": "fragment"}
per_request = run("baseline", "postgres.conn_max_age=0")
persistent = run("baseline", "postgres.conn_max_age=600")
db_ms = {"per_request": layer_ms(per_request, "db"), "persistent": layer_ms(persistent, "db")}
course.ch7_persistent_saving(
    prediction_ms, db_ms=db_ms, queries=sim.load("baseline").django.queries
)

# %%
fig, ax = plt.subplots(figsize=(8, 2.8), layout="constrained")
for y, (_label, s) in enumerate(
    (("CONN_MAX_AGE = 600", persistent), ("CONN_MAX_AGE = 0", per_request))
):
    left = 0.0
    for layer in ("queue", "app", "db"):
        width = layer_ms(s, layer)
        ax.barh(y, width, left=left, color=COLORS[layer], label=layer if y == 0 else None)
        if width > 3:
            ax.text(left + width / 2, y, f"{width:.0f}", ha="center", va="center", color="white")
        left += width
ax.set_yticks([0, 1], ["CONN_MAX_AGE = 600", "CONN_MAX_AGE = 0"])
ax.set_xlabel("mean time per request on the instance (ms)")
ax.set_title("Keeping connections saves one set-up per request")
ax.set_xlim(0, left * 1.3)
ax.legend(frameon=False, loc="center right")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Running out of connections
#
# Kept connections are not free: **every thread that has started holds one**, busy or idle.
# The `db_bound` scenario runs 3 instances of Gunicorn with 5 `gthread` workers of 4 threads
# each, keeps connections (`CONN_MAX_AGE = 600`), and its PostgreSQL allows
# `max_connections = 40`.
#
# **Predict:** how many connections can the fleet hold at most?

# %% slideshow={"slide_type": "fragment"}
prediction_connections = None  # a whole number

# %% slideshow={"slide_type": "fragment"}
bound = sim.load("db_bound", SHORT)
course.ch7_connections_needed(
    prediction_connections,
    instances=bound.instances.count,
    workers=bound.gunicorn.workers,
    threads=bound.gunicorn.threads,
)

# %% [markdown]
# That is the most, when every thread has started. But a `gthread` worker does not start its
# threads up front: its pool starts one only when a request arrives and none of its started
# threads is idle, and then keeps it. So a fleet holds one connection per thread its load has
# *started*. What happens to a thread that finds no ticket left? Django raises
# `OperationalError` and the user gets a **500**.

# %%
scaled = explore.connections_scaling((2, 3, 4))
print(explore.connections_scaling_text(scaled, bound))

# %% [markdown]
# So scaling out can make it worse or better: it depends on how busy each instance is, not
# only on how many threads it has. Turn the knobs below: the line is what the fleet could
# hold, the bars what the users got. Find a setting with no 500s.


# %%
explore.interact(
    explore.connections,
    instances=widgets.IntSlider(value=3, min=1, max=6, description="instances"),
    workers=widgets.IntSlider(value=5, min=1, max=9, description="workers"),
    threads=widgets.IntSlider(value=4, min=1, max=8, description="threads"),
    max_connections=widgets.IntSlider(value=40, min=10, max=200, step=10, description="max conn"),
    conn_max_age=widgets.Dropdown(options=[0, 60, 600], value=600, description="CONN_MAX_AGE"),
)

# %% [markdown]
# With `CONN_MAX_AGE = 0` the same fleet mostly fits: connections are only held while a
# request runs, so the need is the number of requests *in flight*, not the number of threads.
# Production answers are a bigger `max_connections` (RDS sizes it by memory), fewer threads,
# or a connection pooler (PgBouncer, or Django 5's pool with psycopg 3).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What the lab measured
#
# Which is it: does every thread hold a connection, or only the threads that started? The
# stack lab settles it (`python -m demo_app.stack connections`): real nginx,
# Gunicorn `gthread` workers and PostgreSQL, persistent connections, and a low limit on the
# lab's own database (`ALTER DATABASE ... CONNECTION LIMIT`, which PostgreSQL enforces as it
# does `max_connections`). The same users at 2, 3 and 4 instances, each asking for a page that
# runs one query and then waits 200 ms; `pg_stat_activity` counted the connections held.
#
# **Predict:** at the largest fleet, did the users' load start `"all"` of its threads, or
# `"fewer"`?

# %% slideshow={"slide_type": "fragment"}
prediction_started = None  # "all" or "fewer"

# %% slideshow={"slide_type": "fragment"}
measured = explore.connections_measured()
course.ch7_threads_started(prediction_started, rows=measured)

# %%
explore.show(explore.connections_lab())
print(explore.connections_lab_text(explore.connections_lab_and_model()))

# %% [markdown]
# Each thread that served a query kept its connection, idle between requests, until its
# worker stopped: the fleet held a connection per thread started, and past the limit
# PostgreSQL refused the rest for real (`FATAL: too many connections for database`). The
# demo app answers those requests **503** (its error page for a database it cannot reach);
# stock Django answers 500, as the model does. The model of the same run (the lab's users,
# workers, threads and limit, its 200 ms wait as a round trip to the database) starts a thread
# per request in flight and holds a connection per thread started, as the lab did. It counts
# more refusals: a refused request ends in milliseconds in the model and its user asks again,
# while the lab's clients, sharing the machine's cores with nginx and every instance, took far
# longer over each request (the recording's `mean_ms`), refused or not.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Query latency: where the database time goes
#
# The talk's Django "accesses the database". Each query is a round trip plus work in
# PostgreSQL. A page with many small queries (chapter 6's N+1) pays the round trip each time.
# The sweep below varies the number of queries per request (2 ms each).

# %%
QUERIES = (1, 3, 10, 30, 60)
sweep = {q: run("baseline", f"django.queries={q}", "arrivals.rate=10") for q in QUERIES}
fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
labels = [str(q) for q in QUERIES]
bottom = [0.0] * len(QUERIES)
for layer in ("dns", "connect", "lb", "queue", "app", "db", "download"):
    values = [layer_ms(sweep[q], layer) for q in QUERIES]
    ax.bar(labels, values, bottom=bottom, color=COLORS[layer], label=layer)
    bottom = [b + v for b, v in zip(bottom, values, strict=True)]
ax.set_xlabel("queries per request")
ax.set_ylabel("mean end-to-end time (ms)")
ax.set_title("Each query adds a round trip and some Python to handle its rows")
ax.legend(frameon=False, ncols=4)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - `CONN_MAX_AGE = 0` pays a connection set-up on every request; keeping connections saves it.
# - Kept connections are held per thread *started*: gthread starts a thread when a request
#   finds none idle. At most instances x workers x threads; what a fleet really holds depends
#   on its load, so scaling out can push it past `max_connections` (500s) or below it.
# - Many small queries add up: the count of queries matters as much as their speed.
