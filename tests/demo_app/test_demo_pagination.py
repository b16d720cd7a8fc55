"""Pagination as a person expects it, the same on the pages and in the API: a page that is not
a whole number, 0 or negative is page 1; past the end is the last page. A legislator's page
pages through all of his or her bills."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.db.models import Count

from demo_app.tracker.models import Bill, Legislator
from demo_app.tracker.views import PAGE_SIZE


def last_page() -> int:
    return -(-Bill.objects.count() // PAGE_SIZE)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("abc", 1),
        ("", 1),
        ("0", 1),
        ("-1", 1),
        ("-99999999999999999999", 1),
        ("1e9", 1),
        ("2.5", 1),
        ("2", 2),
        (" 3 ", 3),
        ("last", 1),
        ("{last}", "last"),
        ("{past}", "last"),
        ("99999999999999999999999", "last"),
    ],
)
def test_pages_and_api_agree_on_the_page_served(client, seeded, raw, expected):
    last = last_page()
    raw = raw.format(last=last, past=last + 1)
    expected = last if expected == "last" else expected
    page = client.get("/bills/", {"page": raw}).context["page"]
    api = client.get("/api/bills/", {"page": raw, "page_size": PAGE_SIZE})
    assert api.status_code == 200
    body = api.json()
    assert page.number == body["page"] == expected
    assert [b.id for b in page.object_list] == [r["id"] for r in body["results"]]
    assert (body["next"] is None) == (expected == last)
    assert (body["previous"] is None) == (expected == 1)


def test_api_next_links_walk_every_bill_once(client, seeded):
    seen, url = [], "/api/bills/?page_size=40"
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(Bill.objects.values_list("id", flat=True))


def test_page_links_keep_the_search(client, seeded):
    html = client.get("/bills/", {"status": "introduced", "page": "2"}).content.decode()
    links = set(re.findall(r'<a href="(\?[^"]+)"', html))
    assert "?status=introduced&amp;page=1" in links and "?status=introduced&amp;page=3" in links


@pytest.mark.django_db
def test_a_legislators_page_pages_through_all_of_his_or_her_bills(client):
    call_command("seed_demo", bills=400, legislators=40, stdout=io.StringIO())
    busiest = Legislator.objects.annotate(n=Count("sponsorships")).order_by("-n", "id").first()
    assert busiest.n > 2 * PAGE_SIZE  # at least three pages
    seen, page = [], 1
    while True:
        response = client.get(f"/legislators/{busiest.id}/", {"page": page})
        html = response.content.decode()
        assert f"bills ({busiest.n})" in html
        assert f"page {page} of {-(-busiest.n // PAGE_SIZE)}" in html
        seen += [s.bill_id for s in response.context["page"].object_list]
        if not response.context["page"].has_next():
            break
        page += 1
    assert sorted(seen) == sorted(busiest.sponsorships.values_list("bill_id", flat=True))
    past = client.get(f"/legislators/{busiest.id}/", {"page": 10_000}).context["page"]
    assert past.number == page  # past the end: the last page
