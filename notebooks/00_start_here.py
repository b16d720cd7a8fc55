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
# # 0. Start here: what happens when you type quorum.us
#
# This course follows one web request from the moment you press Enter on `quorum.us` to the
# moment the page is on your screen, one stop per chapter. Every chapter lets you **run** the
# thing it talks about: a simulation of the whole path (the `sim` package) or the real Django
# app (`demo_app`) that the simulation models.
#
# **How to use a chapter**
#
# 1. Run cells from the top with **Shift + Enter**.
# 2. When a cell says **Predict**, write your guess in it *before* you run the experiment.
# 3. The **self-check** cell after it tells you whether you got it, and why either way.
# 4. Turn the sliders: every chapter has controls for the parameters worth turning. They start
#    at sensible defaults, so the chapter also runs from top to bottom untouched.
#
# To present a chapter as live slides, open it in JupyterLab and use *View > Render as slides*
# (JupyterLab-RISE; the arrow keys move between slides, Shift + Enter runs a cell on a slide).

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import sys
from pathlib import Path

import ipywidgets as widgets
from IPython.display import Markdown, display

sys.path.insert(0, str(Path.cwd()))  # course.py sits beside the chapters
import course

from assets.diagram import draw_architecture
from sim.layers import DESCRIPTIONS, LAYERS, TALK_SECTION

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The map
#
# Here is the path. A browser asks DNS where `quorum.us` lives, opens a TLS connection to the
# Elastic Load Balancer, which hands the request to one of (at least two) instances. On each
# instance nginx passes it to a Gunicorn worker, which runs Django, which asks PostgreSQL.
# The auto-scaling group adds and removes instances as load changes.

# %%
display(draw_architecture())

# %% [markdown] slideshow={"slide_type": "slide"}
# ## One vocabulary
#
# Every part of this project names the steps of a request with the same seven words. The
# simulation records time per layer, the demo app reports them in its `Server-Timing` header,
# and the figures colour them the same way. Pick a layer to see what it means and which part
# of the talk it belongs to.

# %%
display(
    Markdown(
        "| layer | what happens there | part of the talk |\n|---|---|---|\n"
        + "\n".join(f"| `{n}` | {DESCRIPTIONS[n]} | {TALK_SECTION[n]} |" for n in LAYERS)
    )
)

# %%
picker = widgets.Dropdown(options=LAYERS, value="queue", description="layer")
explained = widgets.HTML()


def explain(change=None):
    name = picker.value
    explained.value = f"<b>{name}</b>: {DESCRIPTIONS[name]} <i>(talk: {TALK_SECTION[name]})</i>"


picker.observe(explain, names="value")
explain()
display(widgets.VBox([picker, explained]))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Predict, then run
#
# Gunicorn's default `sync` worker serves **one request at a time**. Production runs at least
# two instances (the talk's "why 2?"), each with a handful of workers.
#
# **Predict:** with the settings below, how many requests can be *in service* at the same
# moment across the whole fleet? Replace `None` with your number and run the cell.

# %% slideshow={"slide_type": "fragment"}
instances = 2
workers_per_instance = 5  # Gunicorn's rule of thumb on 2 cores: 2 x cores + 1

prediction = None  # your answer, e.g. 7

# %% slideshow={"slide_type": "fragment"}
course.ch0_capacity(prediction, instances=instances, workers=workers_per_instance)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What comes next
#
# | chapter | the stop on the path |
# |---|---|
# | 1 | DNS: caches, TTLs, cold vs warm lookups |
# | 2 | Load balancing: routing strategies and health checks |
# | 3 | Auto-scaling: alarms, cooldowns, why the minimum is 2, a week of policies |
# | 4 | nginx: the reverse proxy, HTTPS, 502 vs 504 |
# | 5 | Gunicorn: workers, cores, the backlog and the 30 s timeout |
# | 6 | Django: the request trace and the N+1 query |
# | 7 | PostgreSQL: connections and their limits |
# | 8 | The whole path: the model against reality |
# | 9 | Developer access: reading the logs |
# | 10 | Servers and DevOps: what runs on an instance, supervisord, Ansible |
# | 11 | The frontend: page weight, static files, the CDN against Django, Resource Timing |
# | 12 | How code gets deployed: draining, the rolling deploy, a bad release, rollback |
