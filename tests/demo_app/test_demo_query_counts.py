"""The bill page's N+1 lesson, pinned: the naive plan's query count grows with the bill, the
fixed plan's stays at three."""

from __future__ import annotations

from django.db.models import Count
from django.urls import reverse

from demo_app.tracker.models import Bill


def busiest_bill():
    return (
        Bill.objects.annotate(n_votes=Count("votes", distinct=True))
        .annotate(n_sponsors=Count("sponsorships", distinct=True))
        .order_by("-n_votes", "id")
        .first()
    )


def test_naive_page_costs_one_query_per_sponsor_and_per_vote(
    client, seeded, django_assert_num_queries
):
    bill = busiest_bill()
    assert bill.n_votes > 10  # the data set must make the lesson visible
    # bill, its committee (when referred), sponsorships, votes; then one per sponsor and vote
    expected = 3 + (bill.committee_id is not None) + bill.n_sponsors + bill.n_votes
    with django_assert_num_queries(expected):
        response = client.get(reverse("bill-detail", args=[bill.id]))
    assert response.context["query_count"] == expected
    assert f'id="query-count">{expected}<' in response.content.decode()


def test_fixed_page_costs_three_queries_whatever_the_size(
    client, seeded, django_assert_num_queries
):
    for bill in [busiest_bill(), Bill.objects.order_by("id").first()]:
        with django_assert_num_queries(3):
            response = client.get(reverse("bill-detail", args=[bill.id]), {"fixed": "1"})
        assert response.context["query_count"] == 3


def test_both_plans_show_the_same_page(client, seeded):
    bill = busiest_bill()
    naive = client.get(reverse("bill-detail", args=[bill.id])).context["page"]
    fixed = client.get(reverse("bill-detail", args=[bill.id]), {"fixed": "1"}).context["page"]
    assert [v.legislator.full_name for v in naive.votes] == [
        v.legislator.full_name for v in fixed.votes
    ]
    assert naive.tally == fixed.tally
    assert [s.legislator_id for s in naive.sponsorships] == [
        s.legislator_id for s in fixed.sponsorships
    ]
