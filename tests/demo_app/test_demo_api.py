"""The JSON API: shapes, pagination, and strict 400s naming the bad parameter."""

from __future__ import annotations

import json

import pytest

from demo_app.tracker.models import Bill, Legislator, Vote


def test_bill_list_is_paginated_and_searchable(client, seeded):
    body = client.get("/api/bills/", {"page_size": 10, "page": 2}).json()
    assert body["count"] == Bill.objects.count()
    assert body["page"] == 2
    assert len(body["results"]) == 10
    assert body["num_pages"] == -(-Bill.objects.count() // 10)
    word = Bill.objects.order_by("id").first().title.split()[0]
    found = client.get("/api/bills/", {"q": word, "page_size": 100}).json()
    assert found["count"] == Bill.objects.filter(title__icontains=word).count()


def test_bill_detail_has_sponsors_tally_and_votes(client, seeded):
    vote = Vote.objects.order_by("id").first()
    body = client.get(f"/api/bills/{vote.bill_id}/").json()
    assert body["id"] == vote.bill_id
    assert len(body["votes"]) == Vote.objects.filter(bill_id=vote.bill_id).count()
    assert sum(body["tally"].values()) == len(body["votes"])
    assert body["sponsors"][0]["kind"] == "sponsor"


def test_legislators_list_and_detail(client, seeded):
    body = client.get("/api/legislators/").json()
    assert body["count"] == Legislator.objects.count()
    first = body["results"][0]
    detail = client.get(first["url"]).json()
    assert detail["votes"] == Vote.objects.filter(legislator_id=first["id"]).count()


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"page_size": "1000"}, "page_size"),
        ({"page_size": "x" * 500}, "page_size"),
        ({"q": "a" * 10_000}, "q"),
    ],
)
def test_bad_parameters_get_a_one_line_json_400(client, seeded, query, name):
    response = client.get("/api/bills/", query)
    assert response.status_code == 400
    text = response.content.decode()
    assert "\n" not in text
    assert json.loads(text)["error"].startswith(name)
    assert len(text) < 300  # the bad value is echoed cut short, not whole


def test_sql_looking_search_is_just_text(client, seeded):
    response = client.get("/api/bills/", {"q": "1; DELETE FROM tracker_bill"})
    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert Bill.objects.exists()


def test_missing_bill_is_a_json_404(client, seeded):
    response = client.get("/api/bills/999999/")
    assert response.status_code == 404
    assert "error" in response.json()
