"""The dashboard's customer lists, shared by the pages and their CSV/XLSX exports.

A list is chosen by its name and filtered by :class:`ListFilter` (the page's query
string), so an export downloads exactly the rows the page shows, on every page of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from recompra.reads import scores as sq
from recompra.reads.customer_search import SORTS, CustomerFilter, CustomerSort, find_customers
from recompra.reads.models import CustomerSummary, ScoredCustomer
from recompra.web.filters import Filters

ListName = Literal["customers", "churn", "clv", "recommendations"]
LIST_NAMES: tuple[ListName, ...] = get_args(ListName)
PAGE_SIZE = 50


@dataclass(frozen=True)
class ListFilter:
    """What the page's query string asks for: a search or a segment/RFM cell, and a sort."""

    q: str = ""
    sort: CustomerSort = "name"
    segment: str | None = None
    r: int | None = None
    f: int | None = None
    who: CustomerFilter = field(default_factory=CustomerFilter)

    @property
    def scored(self) -> bool:
        """Whether the list comes from the scores (a segment or an R/F cell)."""
        return self.segment is not None or self.r is not None or self.f is not None

    def query(self, **changes: object) -> str:
        """This filter (with ``changes``) as a query string, for links and exports."""
        values: dict[str, object] = {
            "q": self.q,
            "sort": self.sort if self.sort != "name" else None,
            "segment": self.segment,
            "r": self.r,
            "f": self.f,
            "state": self.who.state,
            "channel": self.who.channel,
            "live": self.who.live_segment,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def list_filter(
    filters: Filters, *, q: str | None, sort: str | None, r: int | None, f: int | None
) -> ListFilter:
    """A list's filter: the page's search, sort and R/F cell plus the shared filters."""
    return ListFilter(
        q=(q or "").strip(),
        sort=parse_sort(sort),
        segment=filters.segment,
        r=r,
        f=f,
        who=CustomerFilter(filters.state, filters.channel, filters.live),
    )


def parse_sort(value: str | None) -> CustomerSort:
    """A known sort, else by name."""
    for sort in SORTS:
        if value == sort:
            return sort
    return "name"


@dataclass(frozen=True)
class ListPage:
    """Rows of a list (plain or scored) and how many rows the whole list has."""

    total: int
    customers: list[CustomerSummary] | None = None
    scored: list[ScoredCustomer] | None = None


_RANKING: dict[ListName, str] = {"churn": "churn", "clv": "clv"}


def list_rows(
    session: Session, *, brand_id: int, name: ListName, where: ListFilter, limit: int, offset: int
) -> ListPage:
    """One page of the list ``name`` under ``where`` (the recommendations list is over the
    customers list's customers)."""
    ranking = _RANKING.get(name)
    if ranking is None and not where.scored:
        found = find_customers(
            session,
            brand_id=brand_id,
            q=where.q,
            sort=where.sort,
            limit=limit,
            offset=offset,
            who=where.who,
        )
        return ListPage(total=found.total, customers=found.items)
    as_of = sq.latest_as_of(session, brand_id=brand_id)
    if as_of is None:
        return ListPage(total=0, scored=[])
    score_filter = sq.ScoreFilter(
        order_by=ranking or "monetary",
        segment=where.segment,
        r=where.r,
        f=where.f,
        who=where.who,
    )
    total = sq.count_scored(session, brand_id=brand_id, as_of=as_of, where=score_filter)
    items = sq.scored_customers(
        session, brand_id=brand_id, as_of=as_of, where=score_filter, limit=limit, offset=offset
    )
    return ListPage(total=total, scored=items)
