"""``manage.py seed_demo``: load the deterministic sample data set with bulk inserts.

The rows come from ``tracker/sample_data.py``; this command only turns them into batched
``bulk_create(ignore_conflicts=True)`` calls inside one transaction, looking up the ids that
foreign keys need by natural key. Running it twice with the same flags adds nothing; running it
with more bills adds only the new ones. Prints what it added.
"""

from __future__ import annotations

import argparse
import time

from django.core.management.base import BaseCommand
from django.db import transaction

from demo_app.tracker import sample_data
from demo_app.tracker.models import Bill, Committee, Legislator, Sponsorship, Vote

BATCH = 2000


def bounded_int(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an integer (allowed {low}..{high})"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside the allowed {low}..{high}")
        return value

    return parse


class Command(BaseCommand):
    help = "Load deterministic sample data (legislators, committees, bills, votes). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--bills", type=bounded_int(0, 200_000), default=3000)
        parser.add_argument("--legislators", type=bounded_int(1, 5000), default=200)
        parser.add_argument("--seed", type=bounded_int(0, 2**31), default=2026)
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when any bill is already there"
        )

    def handle(self, *args, bills: int, legislators: int, seed: int, if_empty: bool, **options):
        if if_empty and Bill.objects.exists():
            self.stdout.write(f"seed_demo: {Bill.objects.count()} bills already present, skipped")
            return
        started = time.perf_counter()
        models = (Committee, Legislator, Legislator.committees.through, Bill, Sponsorship, Vote)
        before = {model: model.objects.count() for model in models}
        with transaction.atomic():
            self._load(bills, legislators, seed)
        added = ", ".join(
            f"{model.objects.count() - before[model]} {model._meta.verbose_name_plural}"
            for model in models
        )
        self.stdout.write(
            f"seed_demo: added {added} (seed {seed}) in {time.perf_counter() - started:.1f} s"
        )

    def _load(self, n_bills: int, n_legislators: int, seed: int) -> None:
        Committee.objects.bulk_create(
            [Committee(code=c, name=n, chamber=ch) for c, n, ch in sample_data.COMMITTEES],
            ignore_conflicts=True,
        )
        committee_id = dict(Committee.objects.values_list("code", "id"))

        members = sample_data.legislators(n_legislators, seed)
        fields = ("code", "first_name", "last_name", "party", "chamber", "state", "district")
        Legislator.objects.bulk_create(
            [Legislator(**{f: getattr(m, f) for f in fields}) for m in members],
            batch_size=BATCH,
            ignore_conflicts=True,
        )
        legislator_id = dict(Legislator.objects.values_list("code", "id"))
        Membership = Legislator.committees.through
        Membership.objects.bulk_create(
            [
                Membership(legislator_id=legislator_id[m.code], committee_id=committee_id[c])
                for m in members
                for c in m.committee_codes
            ],
            batch_size=BATCH,
            ignore_conflicts=True,
        )

        rows = list(sample_data.bills(n_bills, seed, members))
        Bill.objects.bulk_create(
            [
                Bill(
                    congress=r.congress,
                    number=r.number,
                    chamber=r.chamber,
                    title=r.title,
                    summary=r.summary,
                    status=r.status,
                    introduced_on=r.introduced_on,
                    last_action_on=r.last_action_on,
                    committee_id=committee_id.get(r.committee_code),
                )
                for r in rows
            ],
            batch_size=BATCH,
            ignore_conflicts=True,
        )
        bill_id = {
            (congress, number): pk
            for pk, congress, number in Bill.objects.values_list("id", "congress", "number")
        }
        Sponsorship.objects.bulk_create(
            (
                Sponsorship(
                    bill_id=bill_id[r.congress, r.number],
                    legislator_id=legislator_id[code],
                    kind=kind,
                    joined_on=joined_on,
                )
                for r in rows
                for code, kind, joined_on in r.sponsors
            ),
            batch_size=BATCH,
            ignore_conflicts=True,
        )
        Vote.objects.bulk_create(
            (
                Vote(
                    bill_id=bill_id[r.congress, r.number],
                    legislator_id=legislator_id[code],
                    position=position,
                    cast_on=cast_on,
                )
                for r in rows
                for code, position, cast_on in r.votes
            ),
            batch_size=BATCH,
            ignore_conflicts=True,
        )
