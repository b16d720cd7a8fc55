"""The sample data: deterministic, idempotent, and a strict command line."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter

import pytest
from demo_support import run_python
from django.core.management import call_command
from django.db.models import Count, F, Q

from demo_app.tracker import sample_data
from demo_app.tracker.models import Bill, BillStatus, Legislator, Position, Sponsorship, Vote


def test_same_seed_same_rows_and_a_bigger_run_starts_with_the_smaller_one():
    members = sample_data.legislators(30, seed=7)
    assert members == sample_data.legislators(30, seed=7)
    assert members != sample_data.legislators(30, seed=8)
    small = list(sample_data.bills(40, 7, members))
    large = list(sample_data.bills(80, 7, members))
    assert large[:40] == small


def test_votes_come_from_every_member_of_the_bills_chamber():
    members = sample_data.legislators(50, seed=1)
    for bill in sample_data.bills(200, 1, members):
        if bill.votes:
            chamber = {m.code for m in members if m.chamber == bill.chamber}
            assert {code for code, _, _ in bill.votes} == chamber
        else:
            assert bill.status not in sample_data.VOTED_STATUSES


@pytest.mark.django_db
def test_seeding_twice_adds_nothing_the_second_time():
    call_command("seed_demo", bills=60, legislators=25, stdout=io.StringIO())
    counts = [m.objects.count() for m in (Bill, Legislator, Sponsorship, Vote)]
    assert counts[0] == 60 and counts[1] == 25 and counts[3] > 0
    out = io.StringIO()
    call_command("seed_demo", bills=60, legislators=25, stdout=out)
    assert [m.objects.count() for m in (Bill, Legislator, Sponsorship, Vote)] == counts
    assert "added 0 committees, 0 legislators" in out.getvalue()


@pytest.mark.django_db
def test_more_bills_adds_only_the_new_ones_and_if_empty_skips():
    call_command("seed_demo", bills=30, legislators=20, stdout=io.StringIO())
    first = set(Bill.objects.values_list("number", flat=True))
    call_command("seed_demo", bills=45, legislators=20, stdout=io.StringIO())
    assert Bill.objects.count() == 45
    assert first < set(Bill.objects.values_list("number", flat=True))
    out = io.StringIO()
    call_command("seed_demo", bills=90, legislators=20, if_empty=True, stdout=out)
    assert Bill.objects.count() == 45
    assert "skipped" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "shown"),
    [(["--bills", "-3"], "-3"), (["--legislators", "lots"], "'lots'"), (["--seed", "1.5"], "1.5")],
)
def test_bad_flags_exit_2_with_one_line_naming_the_value(args, shown):
    result = run_python(
        "import sys; from demo_app.manage import main;"
        f"sys.argv = ['manage.py', 'seed_demo', *{args!r}]; main()",
        {"DJANGO_SETTINGS_MODULE": "demo_app.settings.test"},
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("manage.py seed_demo: error: argument") and shown in last
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("n_legislators", "seed"), [(200, 2026), (40, 3), (12, 5)])
def test_every_floor_vote_agrees_with_the_bills_status(n_legislators, seed):
    members = sample_data.legislators(n_legislators, seed)
    voted = [b for b in sample_data.bills(600, seed, members) if b.votes]
    assert {b.status for b in voted} == {s.value for s in sample_data.VOTED_STATUSES}
    for bill in voted:
        tally = Counter(position for _, position, _ in bill.votes)
        if bill.status == BillStatus.FAILED:
            assert tally[Position.NAY] > tally[Position.YEA], bill.number
        else:
            assert tally[Position.YEA] > tally[Position.NAY], bill.number


def test_no_date_is_in_the_future_or_out_of_order():
    assert dt.date.today() >= sample_data.AS_OF
    members = sample_data.legislators(60, seed=11)
    for bill in sample_data.bills(600, 11, members):
        assert sample_data.SESSION_START <= bill.introduced_on <= bill.last_action_on
        assert bill.last_action_on <= sample_data.AS_OF
        for _, _, joined_on in bill.sponsors:
            assert bill.introduced_on <= joined_on <= sample_data.AS_OF
        for _, _, cast_on in bill.votes:
            assert bill.introduced_on < cast_on <= bill.last_action_on, bill.number
        if bill.status in (BillStatus.PASSED_CHAMBER, BillStatus.FAILED):
            assert bill.votes[0][2] == bill.last_action_on  # the vote was the last action


def test_bill_8_stays_the_n_plus_1_showcase():
    # A fresh database numbers bills in seeding order: /bills/8/ is the eighth row.
    members = sample_data.legislators(200, seed=2026)
    eighth = list(sample_data.bills(8, 2026, members))[7]
    assert eighth.number == "H.R. 8"
    assert len(eighth.votes) == sum(m.chamber == "house" for m in members) == 160


def test_the_readmes_default_sample_data_is_what_seed_demo_makes():
    """demo_app/README.md: the default flags, "3,000 bills and about 45,000 votes", the dates."""
    from demo_support import REPO

    from demo_app.tracker.management.commands.seed_demo import Command

    flags = Command().create_parser("manage.py", "seed_demo").parse_args([])
    members = sample_data.legislators(flags.legislators, flags.seed)
    bills = list(sample_data.bills(flags.bills, flags.seed, members))
    votes = sum(len(b.votes) for b in bills)
    readme = " ".join((REPO / "demo_app/README.md").read_text().split())
    assert (
        f"seed_demo [--bills {flags.bills}] [--legislators {flags.legislators}]"
        f" [--seed {flags.seed}]"
    ) in readme
    assert f"the default is {len(bills):,} bills and about {round(votes, -3):,} votes" in readme
    assert f"the session's start ({sample_data.SESSION_START.isoformat()})" in readme
    assert f"a fixed day in the past ({sample_data.AS_OF.isoformat()}," in readme


def test_the_seeded_database_holds_the_same_truths(seeded):
    today = dt.date.today()
    assert not Vote.objects.filter(cast_on__gt=F("bill__last_action_on")).exists()
    assert not Vote.objects.filter(cast_on__gt=today).exists()
    assert not Bill.objects.filter(last_action_on__gt=today).exists()
    tallies = Bill.objects.filter(votes__isnull=False).annotate(
        yeas=Count("votes", filter=Q(votes__position=Position.YEA)),
        nays=Count("votes", filter=Q(votes__position=Position.NAY)),
    )
    assert tallies.exists()
    assert not tallies.filter(status=BillStatus.FAILED, nays__lte=F("yeas")).exists()
    assert not tallies.exclude(status=BillStatus.FAILED).filter(yeas__lte=F("nays")).exists()


MIGRATE_OLD_ROWS = """
import django, json
django.setup()
from django.core.management import call_command
from django.db import connection
call_command("migrate", "tracker", "0001", verbosity=0)
with connection.cursor() as c:
    c.execute("INSERT INTO tracker_legislator (code, first_name, last_name, party, chamber, state)"
              " VALUES ('L1', 'Ada', 'Kim', 'D', 'house', 'NY')")
    for number, day in (("H.R. 1", "2025-01-05"), ("H.R. 2", "2025-02-05")):
        c.execute("INSERT INTO tracker_bill (congress, number, chamber, title, summary, status,"
                  " introduced_on) VALUES (119, %s, 'house', 't', '', 'failed', %s)", [number, day])
    c.execute("INSERT INTO tracker_vote (bill_id, legislator_id, position, cast_on)"
              " SELECT id, 1, 'nay', '2025-03-01' FROM tracker_bill WHERE number = 'H.R. 1'")
call_command("migrate", verbosity=0)
from demo_app.tracker.models import Bill
print(json.dumps({b.number: str(b.last_action_on) for b in Bill.objects.all()}))
"""


def test_the_migration_dates_older_rows_last_action_by_their_vote(tmp_path):
    result = run_python(
        MIGRATE_OLD_ROWS,
        {"DJANGO_SETTINGS_MODULE": "demo_app.settings.dev", "SQLITE_PATH": str(tmp_path / "d")},
    )
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    assert last == {"H.R. 1": "2025-03-01", "H.R. 2": "2025-02-05"}  # the vote, or introduction
