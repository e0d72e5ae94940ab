"""The customers list (search, segment or RFM cell; paginated and sorted) and the profile."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from recompra.errors import NotFound
from recompra.loyalty.programs import active_program_for_brand
from recompra.reads import customers as cq
from recompra.reads import loyalty as lq
from recompra.reads.recommendations import brand_index
from recompra.web.context import Page, build_page, read_unit
from recompra.web.filters import FILTER_NAMES
from recompra.web.lists import PAGE_SIZE, list_filter, list_rows
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)

ScoreQ = Annotated[int | None, Query(ge=1, le=5)]
SearchQ = Annotated[str | None, Query(max_length=200)]
SortQ = Annotated[str | None, Query(max_length=8)]
PageQ = Annotated[int, Query(ge=1, le=100_000)]


@router.get("/dashboard/customers", response_class=HTMLResponse)
def customers(
    request: Request,
    q: SearchQ = None,
    r: ScoreQ = None,
    f: ScoreQ = None,
    sort: SortQ = None,
    page: PageQ = 1,
) -> HTMLResponse:
    """Customer search, or the customers of an RFM cell or a segment, a page at a time."""
    with read_unit(request) as session:
        context = build_page(request, session, "customers")
        where = list_filter(context.apply(*FILTER_NAMES), q=q, sort=sort, r=r, f=f)
        rows = list_rows(
            session,
            brand_id=context.brand.id,
            name="customers",
            where=where,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    pages = max(1, math.ceil(rows.total / PAGE_SIZE))
    return render(
        context,
        "customers.html",
        where=where,
        rows=rows,
        page_number=min(page, pages),
        pages=pages,
        first_row=(page - 1) * PAGE_SIZE + 1,
    )


@router.get("/dashboard/customers/{customer_id}", response_class=HTMLResponse)
def customer(request: Request, customer_id: int) -> HTMLResponse:
    """A customer's profile: history, scores explained, segment history, points."""
    with read_unit(request) as session:
        page = build_page(request, session, "customers")
        try:
            profile = cq.customer_profile(
                session,
                brand_id=page.brand.id,
                currency=page.brand.currency,
                customer_id=customer_id,
            )
        except NotFound:
            return render(page, "notfound.html", status_code=404)
        history = cq.segment_history(session, brand_id=page.brand.id, customer_id=profile.id)
        timeline = cq.timeline(session, brand_id=page.brand.id, customer_id=profile.id, limit=50)
        points = _points(session, page, profile.id)
        recommendations = _recommendations(request, session, page, profile.id)
    explanation = None
    if profile.score is not None:
        # Scores carry the explanation in both languages; the page shows its own only.
        explanation = profile.score.explanations.get(page.locale)
    return render(
        page,
        "customer.html",
        profile=profile,
        explanation=explanation,
        history=history,
        timeline=timeline,
        points=points,
        recommendations=recommendations,
    )


def _points(session: Session, page: Page, customer_id: int) -> dict[str, Any] | None:
    """Balance, pending points, debt and current tier (``None``: the brand runs no program)."""
    program = active_program_for_brand(session, brand_id=page.brand.id)
    if program is None:
        return None
    return lq.account_view(session, program=program, customer_id=customer_id, now=datetime.now(UTC))


def _recommendations(
    request: Request, session: Session, page: Page, customer_id: int
) -> list[dict[str, str]] | None:
    """The customer's next best offers in the page's language (``None``: not computed)."""
    index = brand_index(session, request.app.state.recommendations_root, page.brand.id)
    if index is None:
        return None
    return [
        {"name": index.item_name(s.item_id, page.locale), "why": s.explanation(page.locale)}
        for s in index.for_customer(customer_id, 5)
    ]
