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
# Kept connections are not free: **every thread holds one**, busy or idle. The `db_bound`
# scenario runs 3 instances of Gunicorn with 5 `gthread` workers of 4 threads each, keeps
# connections (`CONN_MAX_AGE = 600`), and its PostgreSQL allows `max_connections = 40`.
#
# **Predict:** how many connections does the fleet want to hold?

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
# What happens to the threads that find no ticket left? Django raises `OperationalError` and
# the user gets a **500**. Turn the knobs below: the line is what the fleet needs, the bars
# what the users got. Find a setting with no 500s, and notice that *adding an instance*
# (scaling out, chapter 3) makes it **worse**.


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
# - Kept connections are held per thread: instances x workers x threads must fit under
#   `max_connections`, or users get 500s. Scaling out adds threads, so it can make this worse.
# - Many small queries add up: the count of queries matters as much as their speed.
