"""The page mix a lab visitor follows: shared by the load (locustfile) and the calibration.

Like a shopping list printed once and handed to both the mystery shopper (calibrate, one
request at a time) and the crowd (locust): if the two drew from different lists, the model
would be calibrated on one workload and compared against another. Weights: the dashboard,
bill search and bill detail are the common visits; a legislator's page and the API less so.

Locust's users draw visit by visit (:func:`choose`): over thousands of requests the mix is the
weights. Calibration probes a few dozen pages, where a free draw strays far from them (60 draws
once gave a legislator's page, one visit in eleven by weight, one in five), and the model's
service time would follow the stray mix: :func:`in_proportion` gives every kind of page its
weight's share exactly and draws only the page's parameters and the order.

Flow: ids (learned from the API) + a seeded ``random.Random`` -> (path, name for the stats).
"""

from __future__ import annotations

import random

#: (weight, name in the statistics, path template).
PAGES = (
    (3, "/", "/"),
    (3, "/bills/?q=", "/bills/?q={q}&page={page}"),
    (3, "/bills/[id]/", "/bills/{bill}/"),
    (1, "/legislators/[id]/", "/legislators/{legislator}/"),
    (1, "/api/bills/", "/api/bills/"),
)
SEARCHES = ("health", "energy", "tax", "education", "water", "veterans", "act", "")


def choose(rng: random.Random, ids: dict[str, list[int]]) -> tuple[str, str]:
    """One visit: (path, the name locust and calibrate group it under)."""
    _weight, name, template = rng.choices(PAGES, weights=[p[0] for p in PAGES])[0]
    return visit(rng, ids, name, template)


def in_proportion(rng: random.Random, ids: dict[str, list[int]], n: int) -> list[tuple[str, str]]:
    """``n`` visits, each kind of page as many times as its weight's share (largest remainder
    for what does not divide), in a shuffled order."""
    total = sum(weight for weight, _, _ in PAGES)
    shares = [n * weight / total for weight, _, _ in PAGES]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(PAGES)), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    visits = [
        visit(rng, ids, name, template)
        for (_weight, name, template), count in zip(PAGES, counts, strict=True)
        for _ in range(count)
    ]
    rng.shuffle(visits)
    return visits


def visit(
    rng: random.Random, ids: dict[str, list[int]], name: str, template: str
) -> tuple[str, str]:
    """The page ``template`` with its parameters drawn: (path, name)."""
    path = template.format(
        q=rng.choice(SEARCHES),
        page=rng.randint(1, 3),
        bill=rng.choice(ids.get("bills") or [1]),
        legislator=rng.choice(ids.get("legislators") or [1]),
    )
    return path, name
