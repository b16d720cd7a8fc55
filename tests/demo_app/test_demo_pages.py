"""The HTML pages: content, search, pagination, and bad query strings that must never 500."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from demo_app.tracker.models import Bill, Legislator, Vote
from demo_app.tracker.query_params import MAX_QUERY_LENGTH


def test_dashboard_shows_counts_from_the_database(client, seeded):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f">{Bill.objects.count()}<" in html
    assert f">{Vote.objects.count()}<" in html
    newest = Bill.objects.order_by("-introduced_on", "-id").first()
    assert newest.number in html


def test_search_finds_a_bill_by_a_word_of_its_title(client, seeded):
    bill = Bill.objects.order_by("id")[7]
    word = bill.title.split()[-2]  # e.g. "Broadband" from "... Rural Broadband Act"
    response = client.get("/bills/", {"q": word})
    assert response.status_code == 200
    expected = Bill.objects.filter(title__icontains=word).count()
    assert response.context["page"].paginator.count == expected
    assert all(word.lower() in b.title.lower() for b in response.context["page"].object_list)


def test_search_by_number_and_status_filter(client, seeded):
    bill = Bill.objects.order_by("id")[3]
    response = client.get("/bills/", {"q": bill.number, "status": bill.status})
    assert bill in response.context["page"].object_list
    assert all(b.status == bill.status for b in response.context["page"].object_list)


def test_pagination_walks_every_bill_once(client, seeded):
    seen = []
    page = 1
    while True:
        response = client.get("/bills/", {"page": page})
        seen += [b.id for b in response.context["page"].object_list]
        if not response.context["page"].has_next():
            break
        page += 1
    assert sorted(seen) == sorted(Bill.objects.values_list("id", flat=True))


@pytest.mark.parametrize(
    "query",
    [
        {"page": "-1"},
        {"page": "abc"},
        {"page": "0"},
        {"page": "99999999999999999999999"},
        {"page": "1e9"},
        {"status": "bogus"},
        {"q": "'; DROP TABLE tracker_bill; --"},
        {"q": '" OR 1=1 --'},
        {"q": "%_%"},
        {"q": "\x00"},
        {"q": "x" * MAX_QUERY_LENGTH},
    ],
)
def test_bad_query_strings_give_a_normal_page(client, seeded, query):
    response = client.get("/bills/", query)
    assert response.status_code == 200
    assert Bill.objects.exists()  # the DROP TABLE stayed a search string


def test_a_10kb_search_is_refused_with_a_400_not_a_500(client, seeded):
    response = client.get("/bills/", {"q": "a" * 10_000})
    assert response.status_code == 400
    assert "at most 200" in response.content.decode()


def test_bill_and_legislator_pages(client, seeded):
    vote = Vote.objects.select_related("bill", "legislator").order_by("-cast_on", "id").first()
    response = client.get(reverse("bill-detail", args=[vote.bill_id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert vote.legislator.full_name in html
    assert (
        f'<span id="vote-date">{vote.cast_on:%B} {vote.cast_on.day}, {vote.cast_on.year}<' in html
    )
    last = vote.bill.last_action_on
    assert f"Last action {last:%B} {last.day}, {last.year}: {vote.bill.last_action}." in html
    response = client.get(reverse("legislator-detail", args=[vote.legislator_id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert vote.bill.number in html
    assert f"{vote.cast_on:%b} {vote.cast_on.day}, {vote.cast_on.year}" in html  # with the year


@pytest.mark.parametrize(
    "path",
    ["/bills/999999/", "/legislators/999999/", "/bills/99999999999999999999999/", "/nowhere"],
)
def test_missing_things_get_the_friendly_404(client, seeded, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_static_css_is_served_without_nginx(client):
    response = client.get("/static/demo_app/site.css")
    assert response.status_code == 200
    assert b"--brand" in b"".join(response.streaming_content)


@pytest.mark.django_db
def test_admin_login_page_and_demo_login(client, settings, seeded):
    from django.core.management import call_command

    call_command("prepare_demo", no_static=True, stdout=io.StringIO())
    assert client.get("/admin/login/").status_code == 200
    assert client.login(username=settings.DEMO_ADMIN_USER, password=settings.DEMO_ADMIN_PASSWORD)
    assert client.get("/admin/tracker/vote/").status_code == 200
    assert Legislator.objects.exists()
