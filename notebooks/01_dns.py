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
# # 1. DNS: where does quorum.us live?
#
# You typed `quorum.us` and pressed Enter. Before anything else, the browser needs an IP
# address. Think of looking up a phone number: first the sticky note on your monitor (the
# **browser's cache**), then your own address book (the **OS cache**), then you ask the office
# receptionist (the **recursive resolver** of your ISP or office), who either remembers it,
# or knows whom to call at the `.us` registry, or starts from the very top (the **root**).
#
# Every answer comes with a **TTL** (time to live): how long anyone may keep it. Numbers from
# `sim/FACTS.md` ("DNS"):
#
# | who answers | typical time | kept for |
# |---|---|---|
# | browser cache (Chromium) | 0 | a fixed 60 s |
# | OS cache | < 1 ms | the record's TTL |
# | resolver, record cached | 1-20 ms | the record's TTL (60 s for an ELB) |
# | resolver asks quorum.us's servers | 30-80 ms | |
# | resolver starts from the root | 100-400 ms | |

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import ipaddress
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

sys.path.insert(0, str(Path.cwd()))  # course.py and explore.py sit beside the chapters
import course
import explore

import sim
from demo_app.stack.client import running_lab
from demo_app.stack.dns import CachingResolver
from sim.config import ConfigError, DnsConfig

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Resolve quorum.us
#
# The stack lab (`make lab-up`, README "The stack lab") runs a small DNS server that answers
# for `quorum.us` with a 60 s TTL. If it is running, the next cell asks it, through a cache
# like your OS's, three times; if not, it says so and the rest of the chapter uses the model.

# %%
lab = running_lab()  # this checkout's lab, known by its id: not whatever holds the port
LAB = bool(lab and lab.dns)
DNS_PORT = lab.cfg.dns_port if lab else 0
if not lab:
    print(f"No lab ({lab.reason}); the model stands in for it below.")
elif not LAB:
    print("The lab's DNS server is not answering; the model stands in for it below.")

if LAB:
    cache = CachingResolver(DNS_PORT)
    for _ in range(3):
        found = cache.lookup("quorum.us")
        print(
            f"quorum.us -> {found.address}  ttl left {found.ttl_left:4.1f} s  "
            f"{found.seconds * 1000:7.3f} ms  ({found.source})"
        )

# %% [markdown]
# The first lookup travels to the server; the next ones come from the cache in microseconds.
# That is the whole idea of DNS caching, and the rest of this chapter is about *how long*.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## One browser, one morning
#
# Below, the model (`sim/model/dns.py`) follows one browser that loads a Quorum page every 20 s for
# ten minutes. The browser keeps the answer 60 s, the record's TTL is 60 s.
#
# **Predict:** of the 30 page loads, how many find the address in the **browser's own
# cache** (costing no time at all)?

# %% slideshow={"slide_type": "fragment"}
prediction = None  # a whole number out of 30


# %% slideshow={"slide_type": "fragment"}
lookups = explore.one_browser()
course.ch1_browser_hits(prediction, outcomes=[o for _, _, o in lookups], ttl=60.0)

# %%
display(explore.dns_figure(lookups, "Cold, then warm: the browser's cache answers for 60 s"))

# %% [markdown]
# Browser-cache hits are drawn at 0.01 ms: they cost nothing. Now change the knobs. What
# happens when the page is loaded less often than the TTL? When the record's TTL is an hour?


# %%
explore.interact(
    explore.dns,
    every=widgets.IntSlider(value=20, min=5, max=120, step=5, description="every (s)"),
    browser_ttl=widgets.IntSlider(value=60, min=0, max=300, step=10, description="browser (s)"),
    record_ttl=widgets.IntSlider(value=60, min=0, max=3600, step=60, description="TTL (s)"),
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A whole office
#
# In the baseline scenario 500 browsers share one resolver. Most lookups never leave the
# browser; the resolver's cache serves most of the rest, because *someone* in the office
# asked within the last minute.

# %%
base = sim.run(sim.load("baseline", ["run.duration=120", "run.warmup=0"]))
dns_rows = [r for r in base.records if r.layer == "dns"]
shares = {o: sum(1 for r in dns_rows if r.outcome == o) for o in explore.OUTCOME_COLORS}
summary = base.summary
_, ax = plt.subplots(figsize=(8, 2.8), layout="constrained")
ax.barh(list(shares), list(shares.values()), color=list(explore.OUTCOME_COLORS.values()))
for y, n in enumerate(shares.values()):
    ax.text(n, y, f"  {n / len(dns_rows):.1%}", va="center")
ax.invert_yaxis()
ax.set_xlabel(f"lookups out of {len(dns_rows)} requests in 2 simulated minutes")
ax.set_title("Who answered: cold lookups are rare, but every new visitor pays one")
plt.show()
dns_ms = summary["latency"]["layers"]["dns"]["mean"] * 1000
e2e_ms = summary["latency"]["end_to_end"]["mean"] * 1000
print(f"mean DNS time per request {dns_ms:.1f} ms of {e2e_ms:.0f} ms end to end")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why `12.34.56.789` is not an address
#
# The talk's slide says `quorum.us => 12.34.56.789`. An IPv4 address is four **bytes**,
# written as four numbers separated by dots.
#
# **Predict:** is `12.34.56.789` `"valid"` or `"invalid"`?

# %% slideshow={"slide_type": "fragment"}
prediction_address = None  # "valid" or "invalid"

# %% slideshow={"slide_type": "fragment"}
course.ch1_valid_address(prediction_address, address="12.34.56.789")

# %% [markdown]
# The model refuses it with a one-line reason rather than crashing. Type other addresses in
# the box (try `203.0.113.10`, `256.1.1.1`, `10.0.0`):

# %%
try:
    DnsConfig(address="12.34.56.789")
except ConfigError as exc:
    print(f"error: {exc}")

box = widgets.Text(value="12.34.56.789", description="address", continuous_update=False)
verdict = widgets.HTML()


def check(change=None):
    try:
        ipaddress.IPv4Address(box.value)
        verdict.value = f"<b>{box.value}</b> is a valid IPv4 address"
    except ValueError as exc:
        verdict.value = f"<b>{box.value}</b> is not: {exc}"


box.observe(check, names="value")
check()
display(widgets.VBox([box, verdict]))

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - A lookup is answered by the nearest cache that still holds it: browser, OS, resolver, or
#   the authoritative servers. Cold lookups cost tens to hundreds of milliseconds.
# - TTLs trade freshness for speed: the ELB's 60 s TTL lets AWS move the load balancer's
#   addresses quickly, at the price of a lookup a minute per browser.
# - An IPv4 address is four octets of 0-255: `12.34.56.789` cannot exist.
