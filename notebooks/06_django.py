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
# # 6. Django: where most of the day is spent
#
# A Gunicorn worker hands the request to Django. The talk: *Django processes the request by
# executing Python code, calling APIs, accessing the database, rendering views; it talks to
# PostgreSQL using the ORM.*
#
# This chapter runs the **real demo app** (`demo_app/`, a legislative tracker) inside this
# notebook, through Django's test client: no server, no network, the same middleware, views,
# templates and ORM as in production. The database is a throwaway SQLite file with a small
# sample data set. Think of it as taking the engine out of the car and running it on a bench.

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import sys
import tempfile
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Code, display

sys.path.insert(0, str(Path.cwd()))  # course.py and explore.py sit beside the chapters
sys.path.insert(0, str(Path.cwd().parent))  # the repository: demo_app is a package there
import course
import explore

# The demo app in this process, on a SQLite file in a folder deleted with the kernel: the
# settings, the database and the sample data (explore.django_app says which settings, and why).
WORKDIR = tempfile.TemporaryDirectory(prefix="quorum-ch6-")
visit = explore.django_app(WORKDIR.name)

from demo_app.tracker import bill_loading
from demo_app.tracker.models import Bill

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The request trace
#
# Every response carries a `Server-Timing` header written by the trace middleware
# (`demo_app/tracing/middleware.py`): `app` is time in Django's Python, `db` time in queries.
# The browser's developer tools show it too. Here are a few pages:


# %%
bill = Bill.objects.order_by("-id").first()
for path in ("/", "/bills/", f"/bills/{bill.pk}/", "/api/bills/"):
    response, timing, captured = visit(path)
    print(
        f"{path:<16} {response.status_code}  {len(captured):3} queries   "
        + "  ".join(f"{k} {v:6.1f} ms" for k, v in timing.items())
    )
print("\nServer-Timing:", response.headers["Server-Timing"])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The N+1 page
#
# The bill page has two ways to load its data (`demo_app/tracker/bill_loading.py`). The naive
# one looks innocent:

# %%
display(Code(bill_loading.NAIVE_CODE, language="python"))

# %% [markdown] slideshow={"slide_type": "fragment"}
# Each `s.legislator` and `v.legislator` is a *lazy* foreign key: Django fetches the
# legislator the first time you touch it, with its own query.
#
# **Predict:** the bill below has the number of sponsors and votes printed. How many SQL
# queries does the naive page run?

# %% slideshow={"slide_type": "fragment"}
busiest = max(Bill.objects.all(), key=lambda b: b.votes.count() + b.sponsorships.count())
sponsors, votes = busiest.sponsorships.count(), busiest.votes.count()
print(f"bill {busiest.pk}: {sponsors} sponsors, {votes} votes")

prediction = None  # a number of queries

# %% slideshow={"slide_type": "fragment"}
naive, naive_timing, naive_queries = visit(f"/bills/{busiest.pk}/")
fixed, fixed_timing, fixed_queries = visit(f"/bills/{busiest.pk}/?fixed=1")
course.ch6_naive_queries(prediction, queries=len(naive_queries), sponsors=sponsors, votes=votes)

# %% [markdown]
# The fix asks for the related rows up front: `select_related` (a SQL join) inside
# `prefetch_related` (one query per relation):

# %%
display(Code(bill_loading.FIXED_CODE, language="python"))
print(f"naive: {len(naive_queries)} queries, fixed: {len(fixed_queries)} queries")
for q in fixed_queries.captured_queries[-3:]:
    print("  ", q["sql"][:140], "...")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## How it grows
#
# The naive page's cost grows with the bill's size; the fixed one does not. Every bill in the
# sample, both ways:

# %%
sizes, naive_n, fixed_n, naive_db, fixed_db = [], [], [], [], []
for b in Bill.objects.all()[:40]:
    _, t_naive, q_naive = visit(f"/bills/{b.pk}/")
    _, t_fixed, q_fixed = visit(f"/bills/{b.pk}/?fixed=1")
    sizes.append(b.votes.count() + b.sponsorships.count())
    naive_n.append(len(q_naive))
    fixed_n.append(len(q_fixed))
    naive_db.append(t_naive.get("db", 0.0))
    fixed_db.append(t_fixed.get("db", 0.0))

_, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
left.scatter(sizes, naive_n, color="#D55E00", label="naive")
left.scatter(sizes, fixed_n, color="#009E73", label="fixed (select/prefetch_related)")
left.set_xlabel("sponsors + votes on the bill")
left.set_ylabel("SQL queries for one page")
left.set_title("N+1: one query per row")
left.legend(frameon=False)
right.scatter(sizes, naive_db, color="#D55E00", label="naive")
right.scatter(sizes, fixed_db, color="#009E73", label="fixed")
right.set_xlabel("sponsors + votes on the bill")
right.set_ylabel("db time in Server-Timing (ms)")
right.set_title("...and the time follows (SQLite in-process: no network!)")
right.legend(frameon=False)
plt.show()

# %% [markdown]
# On SQLite each query is a function call. Against PostgreSQL across a network each one adds
# a round trip (chapter 7). The busiest bill of the sample, both ways:

# %%
print(f"bill {busiest.pk} ({sponsors} sponsors, {votes} votes): the naive page pays"
      f" {len(naive_queries)} round trips, the fixed one {len(fixed_queries)}")  # fmt: skip

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Try it: one bill, both ways

# %%
bill_ids = [b.pk for b in Bill.objects.order_by("pk")[:40]]


explore.interact(
    lambda bill_id, fixed: explore.bill(visit, bill_id, fixed),
    bill_id=widgets.Dropdown(options=bill_ids, value=busiest.pk, description="bill"),
    fixed=widgets.Checkbox(value=False, description="?fixed=1"),
)

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - `Server-Timing` splits Django's time into `app` (Python) and `db` (queries), the same
#   layers the simulation uses.
# - A lazy foreign key in a loop is an N+1: count queries per page (a test can pin the
#   number, as `tests/demo_app/test_demo_query_counts.py` does).
# - `select_related` (joins) and `prefetch_related` (one query per relation) make it constant.
