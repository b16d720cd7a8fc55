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
# # 12. How code gets deployed
#
# The talk's deploy section asks for boring deploys: build one release, roll it over the
# instances one at a time behind the load balancer, run migrations both releases can live
# with, and keep a way back. Think of changing the tyres of a bus on a route without stopping
# the service: you take one bus off the route at a time, let its passengers get off first,
# and only put it back once it has been checked.
#
# The stack lab does this for real: Ansible rolls a release over its Gunicorn instances
# (chapter 10 reads the playbook). This chapter reads the recordings of two drills, a deploy
# and a bad deploy, each under traffic (`notebooks/data/`, its README says how they were
# made), and uses the model for what the lab is careful never to do: let an instance leave
# with requests still on it.

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import itertools
import re
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import yaml

sys.path.insert(0, str(Path.cwd()))  # course.py and explore.py sit beside the chapters
import course
import explore

from demo_app.stack import accesslog
from demo_app.stack.client import running_lab
from demo_app.stack.deploy import show as show_releases

REPO = Path.cwd().parent
DATA = Path.cwd() / "data"
STEP = 5.0  # seconds per bar, as the drills print their timeline


def access(name):
    """A recorded nginx access log: its lines, and each line's fields."""
    lines = (DATA / name).read_text().splitlines()
    return lines, [line.split("\t") for line in lines]


def named(text, label):
    """The release a drill's timeline calls ``label`` (its `  old = ...` line)."""
    return re.search(rf"^\s+{label} = (\S+)$", text, re.M).group(1)


def away(fields, instance, t0):
    """(start, end) of the longest stretch, in seconds since t0, in which ``instance``
    answered nobody: its turn out of the upstream."""
    times = sorted(float(f[12]) for f in fields if f[10] == instance)
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(times)]
    _, start, end = max(gaps)
    return start - t0, end - t0


DEPLOY_TEXT = (DATA / "deploy-drill.txt").read_text()
OLD, NEW = named(DEPLOY_TEXT, "old"), named(DEPLOY_TEXT, "new")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The rolling deploy in the lab
#
# `make lab-drill DRILL=deploy` builds a release of the working tree, then runs `deploy` while
# two clients ask for `/` through DNS, TLS and nginx. Ansible's output, shortened to the
# turns it takes and what the drill counted afterwards:

# %%
for line in DEPLOY_TEXT.splitlines():
    if re.match(r"(build|deploy|PLAY \[|done|requests|nginx log|instance|result)", line) or (
        "drained:" in line
    ):
        print(line.strip()[:150])

# %% [markdown]
# Each instance in turn: out of nginx's upstream, **drained** (the playbook waits until no
# connection to it is open: its requests in flight are done), switched to the new release,
# restarted, checked on `/readyz`, put back. The next one goes only then. In AWS the first
# two steps are the load balancer's *deregistration*: the target stops getting new requests,
# and those it holds get up to the *deregistration delay* (300 s by default) to finish.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Why drain? An instance that leaves with requests on it
#
# The model can take an instance out on schedule and choose how long it waits. Three
# instances behind health checks serve a slow page (a report: each request waits on the
# database); at one minute the group removes one of them through the load balancer.

# %%
step = explore.LEAVE_STEP
per_instance = step["rate"] / step["instances"]
drained = explore.leaving(300.0, step["seconds"])  # the default deregistration delay
print(f"{step['rate']:g} requests/s over {step['instances']} instances: {per_instance:g} each;"
      f" every request takes {step['seconds']:g} s")  # fmt: skip
print(
    f"with the default 300 s delay: out of the load balancer at {drained.left_at:g} s, "
    f"stopped at {drained.stopped_at:g} s (its last request done), {drained.failed} failed"
)

# %% [markdown] slideshow={"slide_type": "fragment"}
# With 300 s it stops as soon as its last request is done. Now set the delay to AWS's
# minimum, **1 s**, as close as a load balancer lets you come to a deploy without draining:
# the instance is stopped a second after it stops getting new requests.
#
# **Predict:** how many requests fail?

# %% slideshow={"slide_type": "fragment"}
prediction_cut = None  # a whole number

# %% slideshow={"slide_type": "fragment"}
hurried = explore.leaving(1.0, step["seconds"])
course.ch12_no_drain(
    prediction_cut, failed=hurried.failed, rate=per_instance, seconds=step["seconds"], delay=1.0
)

# %%
fig, axes = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True, layout="constrained")
explore.leaving_figure(axes[0], drained, 300.0, step["seconds"])
explore.leaving_figure(axes[1], hurried, 1.0, step["seconds"])
axes[1].set_xlabel("simulated time (s); dashed: out of the load balancer; grey: draining")
fig.suptitle("The leaving instance's requests: green answered, red cut (502)", x=0.01, ha="left")
plt.show()

# %% [markdown]
# A rolling deploy does this once per instance, so without draining it cuts that many
# requests on every instance, every deploy. The lab's playbook drains first (its drain
# report above: no request left in flight), which is why its drill counts no failure.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it: the deregistration delay
#
# Move the delay and the time a request takes. A request is cut when it still needs more than
# the delay when its instance leaves.


# %%
explore.interact(
    explore.drain,
    delay=widgets.IntSlider(value=1, min=1, max=10, step=1, description="delay (s)"),
    seconds=widgets.IntSlider(value=3, min=1, max=6, step=1, description="request (s)"),
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Which release answered: field 15
#
# Every answer carries the release that produced it (`X-Release`, the footer), and nginx
# logs it as field 15. Counting it per 5 s gives the deploy as the visitors met it:

# %%
deploy_lines, deploy = access("deploy-access.log")
answered = [f for f in deploy if f[14] not in ("", "-")]
t0 = min(float(f[12]) for f in answered)
bins = np.arange(0, max(float(f[12]) for f in answered) - t0 + STEP, STEP)
_, ax = plt.subplots(figsize=(10, 3.6), layout="constrained")
bottom = np.zeros(len(bins) - 1)
per_bin = {}
for release, label, color in ((OLD, "old", "#999999"), (NEW, "new", "#1b7f3b")):
    counts, _ = np.histogram([float(f[12]) - t0 for f in answered if f[14] == release], bins)
    ax.bar(bins[:-1], counts, width=STEP, bottom=bottom, align="edge", color=color,
           edgecolor="white", label=f"{label}: {release}")  # fmt: skip
    bottom += counts
    per_bin[label] = counts
ax.set_ylim(0, bottom.max() * 1.4)  # room above the bars for each instance's turn out
for instance, y in (("web-1", 0.93), ("web-2", 0.84)):
    start, end = away(deploy, instance, t0)
    ax.annotate("", (start, y), (end, y), xycoords=("data", "axes fraction"),
                arrowprops={"arrowstyle": "<->"})  # fmt: skip
    ax.text(end + 0.5, y, f"{instance} out: {end - start:.1f} s", va="center", fontsize=8,
            transform=ax.get_xaxis_transform())  # fmt: skip
ax.set_xlabel("seconds since the drill's first answer (nginx's field 13)")
ax.set_ylabel(f"answers per {STEP:g} s")
ax.legend(frameon=False, loc="upper left", fontsize=8)
ax.set_title("The deploy drill, answer by answer: old only, both, new only", loc="left")
plt.show()

# %% [markdown]
# The drill printed the same count from the same field, with the lab's own code
# (`demo_app/stack/accesslog.py`). Both, and what the log says about failures:

# %%
printed = [
    tuple(int(n) for n in re.findall(r"(?:old|new) (\d+)", line))
    for line in DEPLOY_TEXT.splitlines()
    if re.match(r"\s+\d+-\d+ s ", line)
]
counted = [tuple(int(per_bin[k][i]) for k in ("old", "new") if per_bin[k][i]) for i in
           range(len(bins) - 1)]  # fmt: skip
print(f"the drill's timeline, per {STEP:g} s: {printed}")
print(f"counted here from field 15:     {counted}")
print(f"nginx log: {accesslog.summary(accesslog.count(deploy_lines))}")
first_new = min(float(f[12]) for f in answered if f[14] == NEW)
last_old = max(float(f[12]) for f in answered if f[14] == OLD)
old_after = sum(1 for f in answered if f[14] == OLD and float(f[12]) > first_new)
print(
    f"both releases answered for {last_old - first_new:.1f} s; the old one answered "
    f"{old_after} requests after the new one's first"
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Migrations first, and backwards-compatible
#
# The playbook runs the release's migrations once, from one place, *before* the first
# instance switches (chapter 10's recipe, play 1). So for the whole roll the instances still
# on the old release run the old code against the new schema, and the ones already switched
# run the new code against it: one database, two releases (the numbers just above).
#
# **Predict:** a release renames a column in one migration. During the roll, does the old
# code against the new schema `works` or `breaks`?

# %% slideshow={"slide_type": "fragment"}
prediction_rename = None  # "works" or "breaks"

# %% slideshow={"slide_type": "fragment"}
course.ch12_migration(
    prediction_rename, operation="rename a column", old_requests=old_after,
    overlap_s=last_old - first_new,
)  # fmt: skip

# %% [markdown]
# Hence "expand, then contract": add a table, a nullable column, an index now; drop or rename
# only in a later release, once no running code reads the old shape. Migrating first also
# makes the way back safe: `rollback` runs the older code on the newer schema and reverses
# no migration, which works for the same reason.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The bad deploy: the roll stops at the first instance
#
# `make lab-drill DRILL=bad-deploy` builds a release with a fault a hurried hotfix makes: no
# `collectstatic`. Its `/readyz` answers 503 (no manifest of static files: every page would
# be a 500), and the playbook checks `/readyz` on the instance itself before putting it back.
# The drill's output, shortened:

# %%
BAD_TEXT = (DATA / "bad-deploy-drill.txt").read_text()
BAD_OLD, BAD = named(BAD_TEXT, "old"), named(BAD_TEXT, "bad")
settings = yaml.safe_load((REPO / "demo_app/stack/deploy/group_vars/all.yml").read_text())
retries = len(re.findall(r"FAILED - RETRYING: \[web-1\]: Wait for /readyz", BAD_TEXT))
for line in BAD_TEXT.splitlines():
    if re.match(r"(drill|build|deploy |PLAY \[Roll)", line):  # the checks come after the question
        print(line.strip())
print(
    f"/readyz on web-1: {retries} retries, {retries + 1} answers in all "
    f"(group_vars: ready_unhealthy_checks = {settings['ready_unhealthy_checks']})"
)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Predict:** when it is over, which release does web-2 run: the `old` one or the `bad` one?

# %% slideshow={"slide_type": "fragment"}
prediction_web2 = None  # "old" or "bad"

# %% slideshow={"slide_type": "fragment"}
web2_runs = re.search(r"^instance\s+web-2 runs (\S+),", BAD_TEXT, re.M).group(1)
course.ch12_web2_after_bad(prediction_web2, web2=web2_runs, old=BAD_OLD, bad=BAD)

# %% [markdown]
# The drill's own checks, then what the visitors met, per 5 s and per instance:

# %%
print("\n".join(line for line in BAD_TEXT.splitlines() if re.match(r"(check|result)", line)))
bad_lines, bad = access("bad-deploy-access.log")
bad_answered = [f for f in bad if f[14] not in ("", "-")]
b0 = min(float(f[12]) for f in bad_answered)
bins = np.arange(0, max(float(f[12]) for f in bad_answered) - b0 + STEP, STEP)
_, ax = plt.subplots(figsize=(11, 3.4), layout="constrained")
bottom = np.zeros(len(bins) - 1)
for instance, color in (("web-1", "#0072B2"), ("web-2", "#E69F00")):
    counts, _ = np.histogram([float(f[12]) - b0 for f in bad_answered if f[10] == instance], bins)
    ax.bar(bins[:-1], counts, width=STEP, bottom=bottom, align="edge", color=color,
           edgecolor="white", label=f"answered by {instance}")  # fmt: skip
    bottom += counts
start, end = away(bad, "web-1", b0)
ax.axvspan(start, end, color="#d62728", alpha=0.12, label=f"web-1 out: {end - start:.1f} s")
ax.set_xlabel("seconds since the drill's first answer")
ax.set_ylabel(f"answers per {STEP:g} s")
ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
ax.set_title("The bad deploy: web-2 carried the site while web-1 tried the bad release",
             loc="left")  # fmt: skip
plt.show()
by_release = {r: sum(1 for f in bad_answered if f[14] == r) for r in (BAD_OLD, BAD)}
print(f"nginx log: {accesslog.summary(accesslog.count(bad_lines))}")
print("answers by release: " + ", ".join(f"{r} {n}" for r, n in by_release.items()))

# %% [markdown]
# The bad release never answered a visitor: web-1 ran it only while it was out of the
# upstream, and went back to the old release before it rejoined. The check that stopped it
# tests what the new code needs (its static files), not merely that the process is up.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A gate that only asks "is the process up?"
#
# Behind a load balancer whose health check only asks "does it answer at all?", the same
# release goes into service. The model's `bad_deploy` failure is that: one of two instances
# answers every page with a 500 while its health endpoint still says 200, until someone rolls
# back a minute later.

# %%
gate = explore.bad_release()
for t, kind, detail in gate["log"]:
    print(f"{t:5.0f} s  {kind:<10} {detail}")
print(f"responses: {gate['status_counts']['200']} x 200, {gate['status_counts']['500']} x 500;"
      f" the lab's readiness gate: {sum(accesslog.count(bad_lines)[k] for k in accesslog.ERRORS)}"
      " failed")  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The way back
#
# `make lab-rollback` runs the same playbook towards the lab's previous release: out,
# drained, switched back, restarted, ready, in, one instance at a time. It reverses no
# migration (they only expanded), and the old release's static files were never deleted.
# Two rollbacks in a row return to where you started. `make lab-releases` shows what each
# instance runs and answers as:

# %%
lab_now = running_lab()  # this checkout's lab, known by its id: not whatever holds the port
if lab_now:
    try:
        show_releases(lab_now.cfg)
    except OSError as exc:
        print(f"The lab did not answer properly ({exc}).")
else:
    print(f"No lab ({lab_now.reason}). After the bad deploy the recording showed:")
    print("\n".join(line for line in BAD_TEXT.splitlines() if line.startswith("instance")))

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - Roll one instance at a time behind the load balancer, and drain each before it restarts:
#   a request is cut when it still runs as its instance stops.
# - Field 15 (`X-Release`) shows the roll as the visitors met it: old, both, new.
# - Migrations run first and must suit both releases: expand now, contract later.
# - Check readiness on the instance before it rejoins, and stop the roll at the first
#   failure: the bad release then never meets a visitor.
# - Lab: `make lab-drill DRILL=deploy`, `make lab-drill DRILL=bad-deploy`,
#   `make lab-rollback`, `make lab-releases`.
