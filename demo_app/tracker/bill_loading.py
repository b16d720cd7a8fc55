"""Two ways to load a bill page's data: the naive one (N+1 queries) and the fixed one.

Like fetching a class list and then walking to the registry once per pupil to look up their
name, versus asking the registry for the whole list in one trip. ``load_naive`` reads the
sponsorships and votes, then touches ``.legislator`` on each: Django fetches each legislator
with its own query, so a bill with 160 votes costs over 160 queries. ``load_fixed`` asks for
the related rows up front with ``select_related`` (a SQL join) inside ``prefetch_related``
(one extra query per relation): three queries whatever the size of the bill.

Both return the same ``BillPage``; ``views.bill_detail`` picks one by ``?fixed=1``, and the
query-count test pins both numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404

from .models import Bill, Position, Sponsorship, Vote

NAIVE_CODE = """bill = Bill.objects.get(pk=bill_id)
committee = bill.committee                  # +1 query
for s in bill.sponsorships.all():           # +1 query
    s.legislator                            # +1 query per sponsor
for v in bill.votes.all():                  # +1 query
    v.legislator                            # +1 query per vote"""

FIXED_CODE = """bill = (Bill.objects.select_related("committee")
        .prefetch_related(
            Prefetch("sponsorships", Sponsorship.objects.select_related("legislator")),
            Prefetch("votes", Vote.objects.select_related("legislator")))
        .get(pk=bill_id))                   # 3 queries in all"""


@dataclass(frozen=True)
class BillPage:
    bill: Bill
    sponsorships: list[Sponsorship]
    votes: list[Vote]

    @property
    def tally(self) -> list[tuple[str, str, int]]:
        """(position value, label, count) for every position, in the order of ``Position``."""
        counts = Counter(vote.position for vote in self.votes)
        return [(p.value, p.label, counts.get(p.value, 0)) for p in Position]


def load_naive(bill_id: int) -> BillPage:
    bill = get_object_or_404(Bill, pk=bill_id)
    _ = bill.committee
    sponsorships = list(bill.sponsorships.all())
    for sponsorship in sponsorships:
        _ = sponsorship.legislator  # one query each: the N in N+1
    votes = list(bill.votes.all())
    for vote in votes:
        _ = vote.legislator
    return BillPage(bill, sponsorships, votes)


def load_fixed(bill_id: int) -> BillPage:
    bills = Bill.objects.select_related("committee").prefetch_related(
        Prefetch("sponsorships", Sponsorship.objects.select_related("legislator")),
        Prefetch("votes", Vote.objects.select_related("legislator")),
    )
    bill = get_object_or_404(bills, pk=bill_id)
    return BillPage(bill, list(bill.sponsorships.all()), list(bill.votes.all()))
