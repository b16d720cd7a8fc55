"""The sample data: deterministic, idempotent, and a strict command line."""

from __future__ import annotations

import io

import pytest
from demo_support import run_python
from django.core.management import call_command

from demo_app.tracker import sample_data
from demo_app.tracker.models import Bill, Legislator, Sponsorship, Vote


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
