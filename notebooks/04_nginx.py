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
# # 4. nginx: the doorman in front of Gunicorn
#
# The load balancer picked an instance (chapter 2). On that instance the request first meets
# **nginx**, a *reverse proxy*. Think of a hotel's front desk: it deals with everyone who
# walks in, hands out the brochures itself (static files), sends people who came to the wrong
# door round to the right one (HTTP -> HTTPS), and only calls a room (a Gunicorn worker) for
# what really needs one. The talk lists exactly these jobs:
#
# - a reverse proxy configured with HTTPS certificates,
# - redirects HTTP => HTTPS,
# - can serve static files (Quorum's come from CloudFront instead),
# - passes the requests to Gunicorn workers.
#
# The stack lab runs a real nginx with the configuration below. This chapter reads that
# configuration, asks the lab if it is running (otherwise it reads the logs the lab recorded,
# kept in `notebooks/data/`), and uses the model for the timeouts.

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

from demo_app.stack.client import LabClient, get_plain, running_lab

REPO = Path.cwd().parent
DATA = Path.cwd() / "data"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The configuration, line by line
#
# This is the template the lab renders into `var/lab/nginx/nginx.conf` (the `{{ ... }}` are
# filled in at `make lab-up`). Read the comments: each block is one of the talk's bullets.

# %%
template = (REPO / "demo_app/stack/templates/nginx.conf.j2").read_text().splitlines()
start = next(i for i, line in enumerate(template) if "HTTP only redirects" in line)
for number, line in enumerate(template[start:], start + 1):
    print(f"{number:3}  {line}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Ask the real nginx
#
# If the lab is up, the next cell sends three requests: plain HTTP (expect a `301` to
# HTTPS), a static file (answered by nginx: no `X-Instance` header, an `Expires` header), and
# a page (answered by a Gunicorn instance, which names itself in `X-Instance`).

# %%
lab = running_lab()  # this checkout's lab, known by its id: not whatever holds the port
LAB = bool(lab)
if LAB:
    cfg = lab.cfg
else:
    print(f"No lab ({lab.reason}): showing what it recorded instead.")


def ask_the_lab():
    plain = get_plain(cfg.http_port, "/")
    print(f"http://quorum.us/           -> {plain.status} Location: {plain.headers['location']}")
    client = LabClient(cfg, timeout=10)
    static = client.get("/static/demo_app/site.css")
    print(f"https://.../site.css        -> {static.status} X-Instance: {static.instance}"
          f", Expires: {static.headers.get('expires')}")  # fmt: skip
    page = client.get("/")
    print(f"https://quorum.us/          -> {page.status} X-Instance: {page.instance}")


def show_the_recording():
    rows = [line.split("\t") for line in (DATA / "nginx-access.log").read_text().splitlines()]
    redirects = [f for f in rows if f[4] == "301"][:2]
    page = next(f for f in rows if f[3] == "/" and f[4] == "200")
    for f in [*redirects, page]:
        print(f"{f[2]} {f[3]:<4} -> {f[4]}  upstream {f[7]}")


if LAB:
    try:
        ask_the_lab()
    except OSError as exc:  # half up, or its certificates are missing
        print(f"The lab did not answer properly ({exc}): showing what it recorded instead.")
        show_the_recording()
else:
    show_the_recording()

# %% [markdown]
# In the log (format `lab` in the configuration: time, client, method, path, status, bytes,
# request time, **upstream address**, upstream status, upstream time, instance, request id),
# the 301s have no upstream at all: nginx answered them alone. So do static files.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 502 or 504?
#
# Both say "the gateway had a problem with the server behind it":
#
# - **502 Bad Gateway**: the upstream refused, reset, or closed the connection (Gunicorn
#   killed the worker, the instance is down);
# - **504 Gateway Timeout**: the proxy waited `proxy_read_timeout` and gave up.
#
# With Gunicorn's 30 s timeout shorter than nginx's 60 s, Gunicorn gives up first: it kills
# the worker, the connection closes, and slow requests end as 502 (chapter 5 watches that
# happen minute by minute). Now someone raises Gunicorn's timeout to **90 s** "so reports can
# finish".
#
# **Predict:** in the `slow_queries` scenario, do the slow requests now end as `502` or `504`?

# %% slideshow={"slide_type": "fragment"}
prediction = None  # 502 or 504


# %% slideshow={"slide_type": "fragment"}
slow = explore.slow_counts  # one run per pair of timeouts, kept for the map below
counts = slow(90.0, 60.0)
course.ch4_which_timeout(
    prediction, status_counts=counts, gunicorn_timeout=90.0, proxy_read_timeout=60.0
)

# %% [markdown]
# The map below runs the same three bad minutes for every pair of timeouts. Each square shows
# which error the users saw. (The load balancer's own idle timeout is 60 s, so past 60 s it
# gives up first, whatever nginx says.)

# %%
GUNICORN = (15.0, 30.0, 45.0, 90.0)
NGINX = (20.0, 40.0, 60.0, 120.0)
grid = {(g, n): slow(g, n) for g in GUNICORN for n in NGINX}
share_502 = np.array([
    [grid[g, n]["502"] / max(grid[g, n]["502"] + grid[g, n]["504"], 1) for n in NGINX]
    for g in GUNICORN
])  # fmt: skip
_, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
ax.imshow(share_502, cmap="coolwarm", vmin=0, vmax=1, origin="lower")
for i, g in enumerate(GUNICORN):
    for j, n in enumerate(NGINX):
        c = grid[g, n]
        ax.text(j, i, f"502: {c['502']}\n504: {c['504']}", ha="center", va="center", fontsize=9)
ax.set_xticks(range(len(NGINX)), [f"{n:g}" for n in NGINX])
ax.set_yticks(range(len(GUNICORN)), [f"{g:g}" for g in GUNICORN])
ax.set_xlabel("nginx proxy_read_timeout (s)")
ax.set_ylabel("Gunicorn timeout (s)")
ax.set_title("Whoever gives up first names the error\n(red: 502 from Gunicorn, blue: 504)")
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it: one pair of timeouts


# %%
explore.interact(
    explore.timeouts,
    gunicorn_timeout=widgets.IntSlider(value=30, min=5, max=120, step=5, description="Gunicorn"),
    proxy_read_timeout=widgets.IntSlider(value=60, min=5, max=120, step=5, description="nginx"),
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The real lab's 502s, and why nobody saw them
#
# The lab's drills killed an instance under load and restarted each instance in turn. Every
# time nginx met a dead instance it logged an upstream 502 (field 9), and because the request
# was a GET that had not been sent yet, `proxy_next_upstream error timeout http_502` retried
# it on the other instance (field 8 lists both). The visitor's status (field 5) is the second
# instance's answer.

# %%
lines = (DATA / "nginx-access.log").read_text().splitlines()
rows = [line.split("\t") for line in lines]
retried = [f for f in rows if "502" in f[8]]
for f in retried[:5]:
    print(f"{f[0]}  {f[3]:<9} visitor got {f[4]}  tried {f[7]:<32} they answered {f[8]}")
sent_502 = sum(1 for f in rows if f[4] == "502")
print(f"... {len(retried)} requests met a dead instance; {sent_502} visitors got a 502,"
      f" in {len(lines)} lines (chapter 9 counts them with the shell)")  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - nginx answers redirects and static files itself; only dynamic requests reach Gunicorn.
# - 502: the server behind closed or refused; 504: the proxy stopped waiting. The shorter
#   timeout on the path decides which one users see.
# - Keep the timeouts ordered on purpose: the app's shortest, then nginx's, then the load
#   balancer's, so errors say where the time went.
