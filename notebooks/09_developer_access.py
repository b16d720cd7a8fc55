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
# # 9. Developer access: reading the logs
#
# The lab had a rough minute at 13:10. The talk's last technical slides are the tools you reach for
# on a server: `tail -f` to watch a log grow, `grep` (or `ag`) to find a pattern, `sed -n` to
# print a range of lines, `cut` and `sort | uniq -c` for columns, `awk` when you need a bit of
# logic. Think of them as a kitchen's knives: each does one cut, and you combine them with
# pipes (`|`).
#
# The files are real logs from the stack lab, recorded while it ran light load and its failure
# drills (an instance killed under load, both instances restarted one at a time with a short
# timeout, then with no database), kept in `notebooks/data/` (see its README):
#
# | file | written by | format |
# |---|---|---|
# | `nginx-access.log` | nginx | tab-separated, 13 fields (below) |
# | `nginx-error.log` | nginx | one event per line |
# | `web-1.access.log` | Gunicorn (instance web-1) | space-separated, 10 fields |
# | `load_stats.csv` | locust | CSV with a header |
#
# nginx's fields: 1 time, 2 client, 3 method, 4 path, 5 **status**, 6 bytes, 7 request time,
# 8 upstream, 9 upstream status, 10 upstream time, 11 instance, 12 request id, 13 msec.
# Gunicorn's: client, method, path, status, bytes, seconds, `<worker pid>`, instance, time.
#
# Every command below runs in a real shell; the cell shows the command, then its output.

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path.cwd()))  # course.py and explore.py sit beside the chapters
import course
import explore

from demo_app.stack.client import get_plain, running_lab

DATA = Path.cwd() / "data"
REPO = Path.cwd().parent


def sh(command, cwd=DATA):
    """Run ``command`` in a shell inside notebooks/data/ and print it with its output."""
    result = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True)
    print(f"$ {command}\n{result.stdout}{result.stderr}", end="")


# %% [markdown] slideshow={"slide_type": "slide"}
# ## `tail`: the end of a log, and `tail -f` to follow it
#
# `tail -n 3` prints the last three lines. `tail -f` keeps the file open and prints lines as
# they are written: the way to watch a server while you click around. It never stops on its
# own, so here `timeout 2` stops it after two seconds. If the lab is running, the cell follows
# its live nginx log while it sends three requests.

# %%
sh("tail -n 3 web-1.access.log")

lab = running_lab()  # this checkout's lab, known by its id: not whatever holds the port
live = lab.cfg.path("logs") / "nginx-access.log" if lab else None
LAB = bool(lab) and live.exists()
cfg = lab.cfg if lab else None

if LAB:
    # Three requests while tail -f watches: their lines appear as nginx writes them.
    def three_requests():
        for _ in range(3):
            get_plain(cfg.http_port, "/tail-f-demo")

    threading.Timer(0.5, three_requests).start()
    sh(f"timeout 2 tail -n 0 -f {live}")
else:
    print("(no lab running: following the recorded log instead, which does not grow)")
    sh("timeout 1 tail -n 2 -f nginx-access.log")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## `grep`: find a pattern
#
# `grep PATTERN FILE` prints the lines that contain it; `-c` counts them, `-v` inverts,
# `-i` ignores case, `-E` allows extended regular expressions. The talk mentions `ag` (the
# silver searcher), a faster `grep -r` for code; this machine has it only if
# `shutil.which("ag")` finds it.

# %%
print("ag installed:", shutil.which("ag") is not None)
sh("grep -c 'upstream' nginx-error.log")
sh("grep -m 3 'prematurely closed\\|refused\\|disabled' nginx-error.log | cut -c 1-150")

# %% [markdown] slideshow={"slide_type": "fragment"}
# ### Predict, then count
#
# The drills SIGKILLed an instance under load, then restarted each instance twice more.
# **Predict:** how many visitors in `nginx-access.log` got a **502** (field 5, the status
# nginx sent back)? (Write a number; then run the shell cell to see how you would count it.)

# %% slideshow={"slide_type": "fragment"}
prediction_502 = None  # a whole number

# %% slideshow={"slide_type": "fragment"}
rows = [line.split("\t") for line in (DATA / "nginx-access.log").read_text().splitlines()]
count_502 = sum(1 for f in rows if f[4] == "502")
course.ch9_count(prediction_502, count=count_502, what="502 responses",
                 command="awk -F'\\t' '$5 == 502' nginx-access.log | wc -l")  # fmt: skip

# %%
sh("awk -F'\\t' '$5 == 502' nginx-access.log | wc -l")
sh("grep -c 502 nginx-access.log  # anywhere on the line: ids, upstream statuses...")

# %% [markdown]
# Why two answers differ: `grep` matches the text anywhere on the line; `awk -F'\t'` splits
# the line into fields and tests **field 5**, the status the visitor got. Prefer the field.
#
# So where did the failures go? Fields 8 and 9 list every instance nginx tried and what each
# answered. When an instance refused the connection (killed, or restarting), nginx logged an
# upstream 502 and retried the request on the other one (`proxy_next_upstream`): the visitor
# got a 200 and never knew.

# %%
sh("awk -F'\\t' '$9 ~ /502/' nginx-access.log | cut -f 1,4,5,8,9")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## `sed -n`: print a range of lines
#
# The talk's `sed -n 16224,16240p filename` prints lines 16224 to 16240, the way to look
# around a line number that `grep -n` gave you.

# %%
sh("grep -n 'SIGQUIT' nginx-error.log | head -2")
error_lines = (DATA / "nginx-error.log").read_text().splitlines()
sigquit = next(n for n, line in enumerate(error_lines, 1) if "SIGQUIT" in line)
sh(f"sed -n {sigquit - 2},{sigquit + 2}p nginx-error.log")  # grep's first hit, two lines each side

# %% [markdown] slideshow={"slide_type": "slide"}
# ## `cut` and `sort | uniq -c`: columns and counts
#
# `cut -f5` takes the 5th tab-separated field; `sort | uniq -c` counts equal lines (uniq
# only merges *adjacent* duplicates, hence the sort); `sort -rn` puts the biggest first.

# %%
sh("cut -f5 nginx-access.log | sort | uniq -c | sort -rn")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Predict:** which **path** (field 4) was requested most often?

# %% slideshow={"slide_type": "fragment"}
prediction_path = None  # e.g. "/bills/"

# %% slideshow={"slide_type": "fragment"}
paths = Counter(f[3] for f in rows)
top_paths = "cut -f4 nginx-access.log | sort | uniq -c | sort -rn | head -5"
course.ch9_top(prediction_path, counts=dict(paths), command=top_paths)

# %%
sh(top_paths)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## CSV with `cut`, as in the talk
#
# `cut -d , -f 1-2,4-` keeps fields 1, 2 and 4 onwards of a comma-separated file;
# `cut --complement -f 3 -d,` drops field 3. (Plain `cut` does not understand quoted commas:
# fine for simple CSVs like this one.)

# %%
sh("head -3 load_stats.csv | cut -d , -f 1-3")
sh("head -3 load_stats.csv | cut --complement -d , -f 1,4-")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Predict:** which field number holds `Median Response Time`? (cut counts from 1.)

# %% slideshow={"slide_type": "fragment"}
prediction_column = None  # a field number

# %% slideshow={"slide_type": "fragment"}
header = (DATA / "load_stats.csv").read_text().splitlines()[0].split(",")
course.ch9_column(prediction_column, header=header, name="Median Response Time")

# %%
sh("head -1 load_stats.csv | tr , '\\n' | cat -n | head -6")
sh("cut -d , -f 2,5 load_stats.csv | sort -t , -k 2 -rn | head -4")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## `awk`: a little logic per line
#
# awk runs a small program for every line: `$5` is field 5, `NR` the line number. Below: the
# mean upstream time per instance (fields 10 and 11), for successful requests only.

# %%
mean_by_instance = (
    "awk -F'\\t' '$5 == 200 && $11 != \"-\" { sum[$11] += $10; n[$11]++ }"
    ' END { for (i in sum) printf "%s %d requests, mean %.1f ms\\n",'
    " i, n[i], 1000 * sum[i] / n[i] }' nginx-access.log | sort"
)
sh(mean_by_instance)
sh("awk '{ print $4 }' web-1.access.log | sort | uniq -c")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The same log, drawn
#
# The shell answers questions you already have; a picture finds the ones you did not think
# of. Requests per second by status, from the `msec` field (13):

# %%
t = np.array([float(f[12]) for f in rows])
status = np.array([f[4] for f in rows])
t0 = t.min()
bins = np.arange(0, t.max() - t0 + 10, 10)
_, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
bottom = np.zeros(len(bins) - 1)
for code, color in (("200", "#1b7f3b"), ("301", "#56B4E9"), ("499", "#999999"),
                    ("500", "#9467bd"), ("502", "#d62728"), ("503", "#ff7f0e")):  # fmt: skip
    counts, _ = np.histogram(t[status == code] - t0, bins)
    if counts.sum():
        ax.bar(bins[:-1], counts, width=10, bottom=bottom, align="edge", color=color, label=code)
        bottom += counts
ax.set_xlabel(f"seconds since {rows[0][0]}")
ax.set_ylabel("requests per 10 s")
ax.set_title(
    "The lab's nginx log by status: the drills' 500 and 503s; the kill hides behind retries"
)
ax.legend(frameon=False, ncols=6)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it: your own grep
#
# Type a pattern (a plain string or a regular expression) and pick a file.


# %%
files = sorted(p.name for p in DATA.iterdir() if p.suffix in (".log", ".csv"))
explore.interact(
    explore.grep,
    pattern=widgets.Text(value="502", description="pattern"),
    file=widgets.Dropdown(options=files, value="nginx-access.log", description="file"),
    max_lines=widgets.IntSlider(value=5, min=1, max=20, description="lines"),
)

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - `tail -f` to watch, `grep` to find, `sed -n A,Bp` to look around a line number.
# - `cut -f N | sort | uniq -c | sort -rn` is the one-line histogram of a column.
# - Test fields, not text: `awk -F'\t' '$5 == 502'` beats `grep 502`.
# - On a real server, the logs are in `/var/log/nginx/` and wherever supervisord sends
#   Gunicorn's; in the lab, in `var/lab/logs/`. Access goes through the SSH bastion.
