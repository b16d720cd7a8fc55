"""Reading the bill list's query string without ever failing with a 500.

Pages forgive (``page=abc`` or ``page=-1`` show page 1, an unknown status shows all bills);
only a search string longer than ``MAX_QUERY_LENGTH`` is refused with a 400, since no title is
that long and the database should not be asked to scan for it. The API is strict instead:
``api.py`` answers a 400 naming the parameter. SQL-looking input is harmless either way: the
ORM sends it as a bound parameter, never as SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

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
