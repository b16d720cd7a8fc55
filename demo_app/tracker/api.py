"""The JSON API: the same data as the pages, for scripts, load tests and the benchmark.

A bad ``page_size`` or an over-long ``q`` gets a 400 with a one-line JSON error naming the
parameter and what is allowed; ``page`` forgives as on the HTML pages (``query_params.page_of``).
Lists are paginated (``count``, ``page``, ``num_pages``, ``next``, ``previous``, ``results``);
every object carries its ``url``.
``/api/bills/`` is the view ``make bench`` drives (``demo_app/bench.py``).
"""

from __future__ import annotations

from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse

from demo_app.ops.methods import read_only

from . import bill_loading
from .models import Bill, Legislator
from .query_params import BillSearch, QueryTooLong, page_links, page_of

MAX_PAGE_SIZE = 100


class BadParameter(ValueError):
    pass


def error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def positive_int(query, name: str, default: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= high:
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise BadParameter(f"{name} must be an integer in 1..{high}, got {shown!r}")
    return value


def paginated(request, queryset, serialize, default_size: int = 25) -> JsonResponse:
    """One page of ``queryset``; ``page`` forgives as the HTML pages do (``page_of``), so
    ``page`` in the answer is the page served, and ``next`` / ``previous`` link its
    neighbours (null at either end)."""
    try:
        size = positive_int(request.GET, "page_size", default_size, MAX_PAGE_SIZE)
    except BadParameter as bad:
        return error(str(bad))
    page = page_of(queryset, size, request.GET.get("page"))
    links = page_links(page, request.GET)
    return JsonResponse(
        {
            "count": page.paginator.count,
            "page": page.number,
            "num_pages": page.paginator.num_pages,
            **{k: links[k] and request.path + links[k] for k in ("next", "previous")},
            "results": [serialize(obj) for obj in page.object_list],
        }
    )


def bill_summary(bill: Bill) -> dict:
    return {
        "id": bill.id,
        "url": reverse("api-bill-detail", args=[bill.id]),
        "congress": bill.congress,
        "number": bill.number,
        "chamber": bill.chamber,
        "title": bill.title,
        "status": bill.status,
        "introduced_on": bill.introduced_on.isoformat(),
        "last_action_on": bill.last_action_on.isoformat(),
        "committee": bill.committee.name if bill.committee else None,
    }


def legislator_summary(legislator: Legislator) -> dict:
    return {
        "id": legislator.id,
        "url": reverse("api-legislator-detail", args=[legislator.id]),
        "code": legislator.code,
        "name": legislator.full_name,
        "party": legislator.party,
        "chamber": legislator.chamber,
        "state": legislator.state,
        "district": legislator.district,
    }


@read_only
def index(request):
    return JsonResponse(
        {
            "bills": reverse("api-bill-list"),
            "legislators": reverse("api-legislator-list"),
            "bill_query": {
                "q": "search text",
                "page": "1.. (not a number, 0 or less: 1; past the end: the last page)",
                "page_size": f"1..{MAX_PAGE_SIZE}",
            },
        }
    )


@read_only
def bill_list(request):
    try:
        search = BillSearch.from_query(request.GET)
    except QueryTooLong as too_long:
        return error(f"q: {too_long}")
    bills = search.filter(
        Bill.objects.select_related("committee").order_by("-introduced_on", "-id")
    )
    return paginated(request, bills, bill_summary)


@read_only
def bill_detail(request, bill_id: int):
    data = bill_loading.load_fixed(bill_id)
    return JsonResponse(
        {
            **bill_summary(data.bill),
            "summary": data.bill.summary,
            "sponsors": [
                {**legislator_summary(s.legislator), "kind": s.kind} for s in data.sponsorships
            ],
            "tally": {value: n for value, _, n in data.tally},
            "votes": [
                {"legislator_id": v.legislator_id, "position": v.position} for v in data.votes
            ],
        }
    )


@read_only
def legislator_list(request):
    legislators = Legislator.objects.order_by("last_name", "first_name", "id")
    return paginated(request, legislators, legislator_summary, default_size=50)


@read_only
def legislator_detail(request, legislator_id: int):
    legislator = get_object_or_404(
        Legislator.objects.prefetch_related("committees").annotate(
            n_sponsored=Count("sponsorships", distinct=True), n_votes=Count("votes", distinct=True)
        ),
        pk=legislator_id,
    )
    return JsonResponse(
        {
            **legislator_summary(legislator),
            "committees": [c.name for c in legislator.committees.all()],
            "sponsorships": legislator.n_sponsored,
            "votes": legislator.n_votes,
        }
    )
