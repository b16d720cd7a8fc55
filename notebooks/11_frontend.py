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
# # 11. The frontend: a page and its static files
#
# Chapters 1 to 8 followed one request, the HTML. But the browser is not done when the HTML is
# in: it reads it, finds a stylesheet, scripts, fonts and images, and asks for each. Think of
# a restaurant order: the main course comes first, and the waiter reads on it what else the
# table needs. At most six runners go to the same kitchen at once, and a runner sent to the
# shop across the street (a CDN's edge, near the user) is back sooner than one sent to the
# kitchen in the region.
#
# The talk's frontend section: Django renders the pages, the static files are collected with
# hashed names, and "ours are served via CloudFront". This chapter measures the demo app's
# own files, asks the model what a typical page costs from the CDN and from Django, and reads
# what a real browser measured of the demo app's trace page.

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import re
import sys
import tempfile
import time
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path.cwd()))  # course.py and explore.py sit beside the chapters
import course
import explore

import sim
from sim.figures import plots
from sim.results import narrate

REPO = Path.cwd().parent
STATIC = {
    "demo_app/site.css": REPO / "demo_app/static/demo_app/site.css",
    "demo_app/site.js": REPO / "demo_app/static/demo_app/site.js",
    "tracing/trace.js": REPO / "demo_app/tracing/static/tracing/trace.js",
}
SHORTER = ["run.duration=120", "run.warmup=30"]  # the two scenarios, two minutes each

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What a page of the demo app references
#
# Every page extends `templates/base.html`, which links one stylesheet and one script with
# `{% static %}`; the trace page adds its own script. Their bytes, as they are on disk:

# %%
referenced = {}
for template in ("demo_app/templates/base.html", "demo_app/tracing/templates/tracing/trace.html"):
    names = re.findall(r"\{% static '([^']+)' %\}", (REPO / template).read_text())
    referenced[template] = names
    print(f"{template}: {', '.join(names)}")
sizes = {name: path.stat().st_size for name, path in STATIC.items()}
for name, size in sizes.items():
    print(f"  {name:<20} {size:>7,} bytes")
page = sum(sizes[n] for n in referenced["demo_app/templates/base.html"])
print(f"every page: {len(referenced['demo_app/templates/base.html'])} files, {page:,} bytes")
print(f"the model's default [assets] sizes: {sim.loads('').assets.sizes}")

# %% [markdown]
# A light page. The median desktop page of the web weighs 2,652 KB in 71 requests (HTTP
# Archive, Web Almanac 2024; `sim/FACTS.md`, "The frontend"), 24 of them scripts. The model's
# scenarios `assets_cdn` and `assets_django` take that page's scripts, stylesheets and fonts:

# %%
typical = sim.load("assets_cdn").assets
print(f"assets_cdn: {len(typical.sizes)} files, {typical.page_bytes:,.0f} bytes, "
      f"{typical.page_bytes / page:.0f} times the demo app's page")  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Six connections, so files come in rounds
#
# A browser speaking HTTP/1.1 opens at most 6 connections to one host (Chromium and Firefox).
# One page, 8 files of 25.5 KB, from a CDN edge that holds them all: a round trip to the edge
# costs 15 ms, a new connection two round trips (TCP, then TLS), and each file's bytes take
# their time at 20 Mbit/s.
#
# **Predict:** how many milliseconds after its HTML is the page loaded?

# %% slideshow={"slide_type": "fragment"}
prediction_rounds = None  # a number of ms

# %% slideshow={"slide_type": "fragment"}
one = explore.one_page(files=8, connections=6)
files = one.asset_records
ready = files[0].ready
first_round = max(f.end for f in files if f.start == ready) - ready
second_round = max(f.end for f in files) - min(f.start for f in files if f.start > ready)
course.ch11_rounds(
    prediction_rounds,
    steps={
        "round 1: six new connections, a file on each": round(first_round * 1000, 1),
        "round 2: files 7 and 8 on connections already open": round(second_round * 1000, 1),
    },
)

# %% [markdown]
# The model's waterfall of that page (its files below the layers; grey: waiting for a free
# connection):

# %%
rid = one.records[0].request
explore.show(explore.View("", plots.waterfall(one.records, rid, "one page, 8 files", files)))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Static files in Django: WhiteNoise
#
# The demo app serves its static files itself, with WhiteNoise: a middleware that answers a
# request for a static file before the view runs, with its compressed variant and
# far-future cache headers. Handy (no nginx rule, no bucket to upload to), but each file is a
# request that takes a Gunicorn worker. How much CPU does a file cost, against a page? The
# demo app, in this process (chapter 6's set-up: test settings, a throwaway SQLite file):

# %%
WORKDIR = tempfile.TemporaryDirectory(prefix="quorum-ch11-")
visit = explore.django_app(WORKDIR.name)


def cpu_ms(path, n=50):
    """Mean CPU milliseconds of ``n`` visits to ``path`` (after one to warm up)."""
    visit(path)
    used = time.process_time()
    for _ in range(n):
        response, _, _ = visit(path)
        if response.streaming:
            b"".join(response.streaming_content)  # WhiteNoise streams the file
    return (time.process_time() - used) / n * 1000


css = visit("/static/demo_app/site.css")[0]
print(f"GET /static/demo_app/site.css: {css.status_code}, {css.headers['Content-Type']},"
      f" Cache-Control: {css.headers.get('Cache-Control')}")  # fmt: skip
costs = {path: cpu_ms(path) for path in ("/static/demo_app/site.css", "/static/demo_app/site.js",
                                          "/bills/")}  # fmt: skip
for path, ms in costs.items():
    print(f"  {path:<28} {ms:6.2f} ms of CPU a request")

# %% [markdown]
# A file is far cheaper than a page, but a page brings many files. (Here the names are not
# hashed: the test settings skip `collectstatic`. In production `{% static %}` writes
# `site.<hash>.css`, and a changed file gets a new name, so the old one can be cached for
# ever.) Under Gunicorn a file also costs the worker's HTTP parsing and socket writes; the
# model charges 1 ms of a vCPU per file (`assets.whitenoise_cpu`, tunable).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The CDN against Django serving the files
#
# `assets_cdn` is the talk's set-up: the typical page at 30 pages a second, its files from
# CloudFront (95 % edge hits, misses from nginx). `assets_django` asks "what if Django served
# our assets?": the same page, every file from the instances through WhiteNoise.
#
# **Predict:** with Django serving the files, are the instances' vCPUs busy `the same`,
# `double` or `ten times` as much?

# %% slideshow={"slide_type": "fragment"}
prediction_cpu = None  # "the same", "double" or "ten times"

# %% slideshow={"slide_type": "fragment"}
runs = {name: sim.run(sim.load(f"assets_{name}", SHORTER)) for name in ("cdn", "django")}
course.ch11_django_cpu(
    prediction_cpu, vcpus={k: r.summary["utilisation"]["vcpus"] for k, r in runs.items()}
)

# %% [markdown]
# Side by side: the HTML, the page, the instances.

# %%
for name, result in runs.items():
    s = result.summary
    a, u = s["assets"], s["utilisation"]
    print(
        f"{name:>6}: HTML p95 {s['latency']['end_to_end']['p95'] * 1000:5.0f} ms | page load"
        f" mean {a['page_load']['mean'] * 1000:4.0f} ms, p95 {a['page_load']['p95'] * 1000:4.0f}"
        f" ms | a file mean {a['latency']['mean'] * 1000:4.1f} ms | workers {u['workers']:.0%},"
        f" vCPUs {u['vcpus']:.0%}"
    )
fig, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
for name, color in (("cdn", "#009E73"), ("django", "#D55E00")):
    result = runs[name]
    start, end = result.run.window
    loads = [(r.page_end - r.arrival) * 1000 for r in result.run.requests
             if r.page_end is not None and start <= r.arrival < end]  # fmt: skip
    ax.hist(loads, bins=np.linspace(150, 750, 61), alpha=0.6, color=color,
            label=f"assets_{name}: p50 {np.percentile(loads, 50):.0f} ms")  # fmt: skip
ax.set_xlabel("page load (ms): from Enter to the page's last file")
ax.set_ylabel("pages")
ax.legend(frameon=False)
ax.set_title("The same page, its files from CloudFront or from Django", loc="left")
plt.show()

# %% [markdown]
# The HTML barely moves at this load; the page does. Without the CDN every file travels from
# the region, not from an edge near the user, five rounds of them over six connections, and
# every file takes a Gunicorn worker and some vCPU from the pages: headroom the next peak
# needed. A typical page from each, file by file:

# %%
for name, result in runs.items():
    rid = narrate.pick(result.records, "typical", result.run.window)
    fig = plots.waterfall(result.records, rid, f"assets_{name}: a typical page",
                          result.assets_of(rid))  # fmt: skip
    explore.show(explore.View("", fig))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it: files, connections, and who serves them
#
# Where the files come from, how many a page has, and how many connections the browser opens
# per host (HTTP/2 would multiplex them all over one; not modelled). Each step runs
# `assets_cdn`'s traffic for 30 simulated seconds (a steady state, as the full runs above),
# and a setting already tried is drawn from a cache.

# %%
explore.interact(
    explore.page,
    where=widgets.Dropdown(options=list(explore.WHERE), value="CDN", description="from"),
    files=widgets.IntSlider(value=30, min=2, max=60, step=2, description="files"),
    connections=widgets.IntSlider(value=6, min=1, max=12, step=1, description="connections"),
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What a real browser measures: Resource Timing
#
# The trace page (`/trace/`) draws its own page load from the browser's Navigation Timing.
# The same Performance API also times every file the page loaded
# (`performance.getEntriesByType("resource")`). CI has no lab and no browser session, so this
# reads a recording: the demo app under Gunicorn as `make app` runs it, the trace page opened
# twice in headless chromium (`notebooks/record_resource_timing.py`; `data/README.md` says
# how to record it again).

# %%
recording = explore.resource_timing()
print(f"{recording['browser']}, {recording['server']}")
first = recording["visits"]["first"]
for e in first["resources"]:
    print(f"  {e['name'].rsplit('/', 1)[-1]:<24} {e['initiatorType']:<7}"
          f" transferred {e['transferSize']:>6,} B, body {e['encodedBodySize']:>6,} B"
          f" compressed, {e['decodedBodySize']:>6,} B uncompressed,"
          f" {e['renderBlockingStatus']}")  # fmt: skip
explore.show(explore.View("", explore.timing_figure({"first": first})))

# %% [markdown]
# Read it as the model's waterfall: the files start only once the HTML is in and parsed;
# each waited in the browser, opened a connection of its own (three at once, fewer than
# six) and came back compressed (WhiteNoise's `CompressedManifestStaticFilesStorage` keeps a
# gzip and a Brotli copy of each). The uncompressed sizes are the files on disk. The
# stylesheet is `blocking`: nothing is drawn before it is in; the scripts are not (`defer`,
# and one at the end of the body).
#
# **Predict:** the same browser opens the trace page again. How many bytes does it transfer
# for the three files?

# %% slideshow={"slide_type": "fragment"}
prediction_bytes = None  # a whole number of bytes

# %% slideshow={"slide_type": "fragment"}
again = recording["visits"]["again"]
course.ch11_cached_bytes(
    prediction_bytes,
    again=sum(e["transferSize"] for e in again["resources"]),
    encoded=sum(e["encodedBodySize"] for e in first["resources"]),
    decoded=sum(e["decodedBodySize"] for e in first["resources"]),
    files=len(again["resources"]),
)

# %%
explore.show(explore.View("", explore.timing_figure(recording["visits"])))
for e in again["resources"]:
    print(f"  {e['name'].rsplit('/', 1)[-1]:<24} deliveryType {e['deliveryType']!r},"
          f" transferred {e['transferSize']} B, took {e['duration']:.1f} ms")  # fmt: skip

# %% [markdown]
# A returning visitor's files come from its own cache: the best CDN is the one the browser
# never has to ask. The model leaves the browser's cache out (every page is a first visit),
# so its page load times are the worst case.

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - A page is its HTML and its files; the browser fetches them after the HTML, at most 6 at a
#   time per host over HTTP/1.1, so a heavy page loads in rounds.
# - Hashed names (`collectstatic`) let files be cached for ever, by the browser and by a CDN.
# - From a CDN, files come from an edge near the user and never reach the instances. From
#   Django (WhiteNoise) each one takes a Gunicorn worker and vCPU time from the pages.
# - The browser measures it all: Resource Timing, as the recording shows.
# - Model: `python -m sim trace assets_cdn`, `python -m sim run assets_django`; the demo
#   app: `make app`, then the trace page and your browser's network panel.
