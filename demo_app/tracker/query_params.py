"""Reading the bill list's query string without ever failing with a 500.

Forgiving where a person would be: ``page`` that is not a whole number, 0 or negative means
page 1 and a page past the end means the last page, on the HTML pages and in the API alike
(``page_of``); an unknown status shows all bills. Only a search string longer than
``MAX_QUERY_LENGTH`` is refused with a 400, since no title is that long and the database should
not be asked to scan for it (the API also refuses a bad ``page_size``). SQL-looking input is
harmless either way: the ORM sends it as a bound parameter, never as SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Q

from .models import BillStatus

MAX_QUERY_LENGTH = 200


class QueryTooLong(ValueError):
    pass


@dataclass(frozen=True)
class BillSearch:
    q: str
    status: str

    @classmethod
    def from_query(cls, query) -> BillSearch:
        # PostgreSQL refuses NUL in text parameters; no title contains one, so drop it.
        q = query.get("q", "").replace("\x00", "").strip()
        if len(q) > MAX_QUERY_LENGTH:
            raise QueryTooLong(
                f"The search text is {len(q)} characters long; at most {MAX_QUERY_LENGTH} "
                "are allowed."
            )
        status = query.get("status", "")
        return cls(q=q, status=status if status in BillStatus.values else "")

    def filter(self, bills):
        if self.q:
            bills = bills.filter(Q(title__icontains=self.q) | Q(number__icontains=self.q))
        if self.status:
            bills = bills.filter(status=self.status)
        return bills


def page_number(raw: str | None) -> int:
    """The page asked for: not a whole number, 0 or negative is page 1."""
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return 1


def page_of(items, size: int, raw: str | None) -> Page:
    """The page ``raw`` names; past the end, the last one (``Paginator.get_page``)."""
    return Paginator(items, size).get_page(page_number(raw))


def page_link(query, number: int) -> str:
    """The query string of ``query`` (a QueryDict) with ``page`` set to ``number``."""
    query = query.copy()
    query["page"] = str(number)
    return f"?{query.urlencode()}"


def page_links(page: Page, query) -> dict[str, str | None]:
    """Query strings to the first, previous, next and last pages; None where there is none."""
    number, last = page.number, page.paginator.num_pages
    return {
        "first": page_link(query, 1) if number > 1 else None,
        "previous": page_link(query, number - 1) if number > 1 else None,
        "next": page_link(query, number + 1) if number < last else None,
        "last": page_link(query, last) if number < last else None,
    }
