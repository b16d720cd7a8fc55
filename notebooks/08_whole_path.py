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
# # 8. The whole path: the model against reality
#
# Chapters 1 to 7 took the path one stop at a time. Here is one request the whole way, then
# the question every model must answer: **does it match the real thing?** Think of a weather
# forecast: useful only if someone checks it against the thermometer, and honest only if it
# says where it is usually wrong.
#
# The thermometer is the stack lab (`demo_app/stack/`): real nginx, real Gunicorn, the real
# Django app, on this machine. Its `compare` command offers three load levels with locust,
# reads nginx's log, and asks the model (calibrated on the lab's own measured service times)
# for its prediction at each level. Its last result is kept in `notebooks/data/compare.csv`
# (how to regenerate it: `notebooks/data/README.md`).

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import csv
import statistics
import sys
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

sys.path.insert(0, str(Path.cwd()))  # course.py and explore.py sit beside the chapters
import course
import explore

import sim
from demo_app.stack.client import LabClient, running_lab
from sim.figures import plots
from sim.results import narrate

DATA = Path.cwd() / "data"
REPO = Path.cwd().parent
CALIBRATED = str(DATA / "calibrated.toml")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## One request, the whole way
#
# The baseline scenario: a typical request (the median), layer by layer, as a browser's
# network panel would draw it. Every colour is a chapter.

# %%
base = sim.run(sim.load("baseline", ["run.duration=120", "run.warmup=20"]))
typical = narrate.pick(base.records, "typical", base.run.window)
display(plots.waterfall(base.records, typical, f"a typical request (request {typical})"))
display(plots.layer_breakdown(base.summary, "where the time goes, on average"))

# %% [markdown]
# From the outside, most of the time is the **network** (DNS, TCP + TLS, the download):
# the part your code does not control. Inside, `app` and `db` are where Django spends it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The model against the lab
#
# `compare.csv` has one row per load level: the rate offered, then measured and simulated
# throughput, p50 and p95, and how busy the machine's cores were (`cpu_machine` out of 2,
# split into the lab, the load generator locust and everything else).

# %%
with (DATA / "compare.csv").open() as f:
    levels = list(csv.DictReader(f))
columns = ("level", "offered_rps", "measured_rps", "sim_rps", "measured_p95_s", "sim_p95_s",
           "cpu_lab", "cpu_locust", "cpu_other")  # fmt: skip
print("  ".join(f"{c:>14}" for c in columns))
for row in levels:
    print("  ".join(f"{row[c]:>14}" for c in columns))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Predict:** at the `busy` level, is the model's p95 `"above"` or `"below"` what the lab
# measured?

# %% slideshow={"slide_type": "fragment"}
prediction = None  # "above" or "below"

# %% slideshow={"slide_type": "fragment"}
busy = next(row for row in levels if row["level"] == "busy")
course.ch8_model_vs_lab(
    prediction, measured=float(busy["measured_p95_s"]), simulated=float(busy["sim_p95_s"])
)

# %%
names = [row["level"] for row in levels]
x = np.arange(len(levels))
_, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for offset, (key, label, color) in zip(
    (-0.3, -0.1, 0.1, 0.3),
    (("measured_p50_s", "lab p50", "#0072B2"), ("sim_p50_s", "model p50", "#56B4E9"),
     ("measured_p95_s", "lab p95", "#D55E00"), ("sim_p95_s", "model p95", "#E69F00")),
    strict=True,
):  # fmt: skip
    left.bar(x + offset, [float(r[key]) * 1000 for r in levels], width=0.2, color=color,
             label=label)  # fmt: skip
left.set_xticks(x, names)
left.set_yscale("log")
left.set_ylabel("latency (ms, log)")
left.set_title("Latency: lab against model")
left.legend(frameon=False, ncols=2, fontsize=8)
offered = [float(r["offered_rps"]) for r in levels]
right.plot(offered, offered, ls=":", color="black", label="offered")
right.plot(offered, [float(r["measured_rps"]) for r in levels], "o-", color="#0072B2",
           label="lab")  # fmt: skip
right.plot(offered, [float(r["sim_rps"]) for r in levels], "s--", color="#E69F00",
           label="model")  # fmt: skip
right.set_xlabel("offered load (requests/s)")
right.set_ylabel("served (requests/s)")
right.set_title("Throughput: where does the lab stop keeping up?")
right.legend(frameon=False)
plt.show()

# %% [markdown]
# Two lessons hide in this figure.
#
# 1. **The lab runs out of room sooner than the model.** The model gives the two instances
#    the machine's two cores; on the real machine nginx, the load generator and whatever else
#    runs take turns on them (`cpu_locust`, `cpu_other`), so the lab stops keeping up at a
#    lower load, and its latencies are higher. A model is only as good as its list of who
#    shares the hardware.
# 2. **Past saturation** the two disagree for a different reason: the model's users keep
#    arriving at the offered rate (an *open* system: queues grow without bound), while each
#    locust user waits for its answer before sending the next (a *closed* system: a slow
#    server slows its own traffic down). Real traffic is somewhere between: people retry.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The model's curve
#
# The same calibrated scenario, swept over offered load (60 simulated seconds each), with the
# lab's measurements on top:


# %%
predict = explore.predict  # the calibrated model at one load, kept by setting
rates = np.linspace(2, max(offered) * 0.75, 8)
curve = [predict(float(r), 60)["latency"]["end_to_end"] for r in rates]
_, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
ax.plot(rates, [c["p50"] * 1000 for c in curve], color="#56B4E9", label="model p50")
ax.plot(rates, [c["p95"] * 1000 for c in curve], color="#E69F00", label="model p95")
ax.scatter(offered, [float(r["measured_p50_s"]) * 1000 for r in levels], color="#0072B2",
           zorder=3, label="lab p50")  # fmt: skip
ax.scatter(offered, [float(r["measured_p95_s"]) * 1000 for r in levels], color="#D55E00",
           zorder=3, label="lab p95")  # fmt: skip
ax.set_yscale("log")
ax.set_xlabel("offered load (requests/s)")
ax.set_ylabel("latency (ms, log)")
ax.set_title("The calibrated model's prediction, and what the lab measured")
ax.legend(frameon=False, ncols=2)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Live, if the lab runs
#
# With the lab up, the next cell sends 20 page requests one at a time through DNS, TLS and
# nginx, and lays the measured times beside the model's prediction for a light load.

# %%
lab = running_lab()  # this checkout's lab, known by its id: not whatever holds the port
if lab:
    try:
        client = LabClient(lab.cfg, timeout=10)
        replies = [client.get("/") for _ in range(20)]
        measured_ms = [r.seconds * 1000 for r in replies]
        app_ms = [r.server_timing.get("app", 0.0) for r in replies]
        light = predict(2.0, 60)["latency"]["end_to_end"]
        print(f"lab:   median {statistics.median(measured_ms):.1f} ms end to end,"
              f" of which Django (app) {statistics.median(app_ms):.1f} ms")  # fmt: skip
        print(f"model: median {light['p50'] * 1000:.1f} ms at 2 requests/s")
    except OSError as exc:
        print(f"The lab did not answer properly ({exc}); the recorded comparison above stands.")
else:
    print(f"No lab ({lab.reason}): the recorded comparison above stands.")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it: the calibrated model at any load


# %%
explore.interact(
    explore.calibrated,
    rate=widgets.IntSlider(value=20, min=2, max=80, step=2, description="req/s"),
)

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - End to end, the network is most of a page's time; inside, Django and PostgreSQL.
# - A model calibrated on measured service times predicts the median well below saturation;
#   its tail and its behaviour past saturation depend on what it leaves out (shared cores,
#   closed-loop users). Check it against measurements, and say where it is off.
