"""The tracker's HTML pages: dashboard, bill list, bill detail, legislator detail.

Each view reads its query string through ``query_params.py`` (forgiving), fetches with as few
queries as the page needs (except the bill page's naive mode, which is the lesson: see
``bill_loading.py``), and renders a template from ``templates/tracker/``.
"""

from __future__ import annotations

from time import perf_counter

from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, render

from demo_app.ops.errors import bad_request
from demo_app.ops.methods import read_only
from demo_app.tracing.query_timer import timing_queries

from . import bill_loading
from .models import Bill, BillStatus, Committee, Legislator, SponsorshipKind, Vote
from .query_params import BillSearch, QueryTooLong, page_links, page_of

PAGE_SIZE = 25
TRUE_WORDS = {"1", "true", "yes", "on"}


@read_only
def dashboard(request):
    counts = {
        "bills": Bill.objects.count(),
        "legislators": Legislator.objects.count(),
        "votes": Vote.objects.count(),
        "committees": Committee.objects.count(),
    }
    by_status = dict(Bill.objects.values_list("status").annotate(n=Count("id")).order_by())
    peak = max(by_status.values(), default=0) or 1
    statuses = [
        (s.value, s.label, by_status.get(s.value, 0), 100 * by_status.get(s.value, 0) / peak)
        for s in BillStatus
    ]
    recent = Bill.objects.select_related("committee").order_by("-introduced_on", "-id")[:8]
    top_sponsors = (
        Legislator.objects.annotate(
            n=Count("sponsorships", filter=Q(sponsorships__kind=SponsorshipKind.SPONSOR))
        )
        .filter(n__gt=0)
        .order_by("-n", "last_name")[:6]
    )
    return render(
        request,
        "tracker/dashboard.html",
        {
            "nav": "dashboard",
            "counts": counts,
            "statuses": statuses,
            "recent": recent,
            "top_sponsors": top_sponsors,
        },
    )


@read_only
def bill_list(request):
    try:
        search = BillSearch.from_query(request.GET)
    except QueryTooLong as error:
        return bad_request(request, message=str(error))
    bills = search.filter(
        Bill.objects.select_related("committee").order_by("-introduced_on", "-id")
    )
    return render(
        request,
        "tracker/bill_list.html",
        {
            "nav": "bills",
            "search": search,
            "page": (page := page_of(bills, PAGE_SIZE, request.GET.get("page"))),
            "links": page_links(page, request.GET),
            "statuses": BillStatus.choices,
        },
    )


@read_only
def bill_detail(request, bill_id: int):
    fixed = request.GET.get("fixed", "").lower() in TRUE_WORDS
    started = perf_counter()
    with timing_queries() as queries:
        data = (bill_loading.load_fixed if fixed else bill_loading.load_naive)(bill_id)
    return render(
        request,
        "tracker/bill_detail.html",
        {
            "nav": "bills",
            "page": data,
            "bill": data.bill,
            "fixed": fixed,
            "query_count": queries.count,
            "query_ms": queries.ms,
            "load_ms": (perf_counter() - started) * 1000.0,
            "naive_code": bill_loading.NAIVE_CODE,
            "fixed_code": bill_loading.FIXED_CODE,
        },
    )


@read_only
def legislator_detail(request, legislator_id: int):
    legislator = get_object_or_404(
        Legislator.objects.prefetch_related("committees"), pk=legislator_id
    )
    sponsored = legislator.sponsorships.select_related("bill").order_by(
        "-bill__introduced_on", "-bill_id"
    )
    votes = legislator.votes.select_related("bill").order_by("-cast_on", "-id")[:PAGE_SIZE]
    return render(
        request,
        "tracker/legislator_detail.html",
        {
            "nav": "bills",
            "legislator": legislator,
            "page": (page := page_of(sponsored, PAGE_SIZE, request.GET.get("page"))),
            "links": page_links(page, request.GET),
            "votes": votes,
            "vote_count": legislator.votes.count(),
        },
    )
