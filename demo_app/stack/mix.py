"""The page mix a lab visitor follows: shared by the load (locustfile) and the calibration.

Like a shopping list printed once and handed to both the mystery shopper (calibrate, one
request at a time) and the crowd (locust): if the two drew from different lists, the model
would be calibrated on one workload and compared against another. Weights: the dashboard,
bill search and bill detail are the common visits; a legislator's page and the API less so.

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
    path = template.format(
        q=rng.choice(SEARCHES),
        page=rng.randint(1, 3),
        bill=rng.choice(ids.get("bills") or [1]),
        legislator=rng.choice(ids.get("legislators") or [1]),
    )
    return path, name
