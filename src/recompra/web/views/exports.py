"""CSV and Excel downloads of the dashboard's lists, with the page's filters applied.

Every row of the filtered list is exported (not only the page on screen). Headers are in
the page's language; amounts are decimal numbers in the brand's currency (Excel cells get
a currency format) and ratios are fractions (Excel cells get a percent format), so the
file is ready for sums and charts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from recompra.reads.models import CustomerSummary, ScoredCustomer
from recompra.reads.recommendations import brand_index
from recompra.spreadsheets import (
    FRACTION,
    INTEGER,
    MONEY,
    TEXT,
    XLSX_MEDIA_TYPE,
    Cell,
    csv_bytes,
    money_units,
    xlsx_bytes,
)
from recompra.web.context import Page, build_page, read_unit
from recompra.web.filters import FILTER_NAMES
from recompra.web.lists import LIST_NAMES, ListFilter, ListName, list_filter, list_rows

router = APIRouter(include_in_schema=False)

#: The most rows one download carries (the demo store has 3,000 customers).
MAX_EXPORT_ROWS = 100_000
RECOMMENDATIONS_PER_CUSTOMER = 5


def _columns_plain(page: Page) -> list[tuple[str, str]]:
    return [
        ("id", INTEGER),
        (page.t("col.name"), TEXT),
        (page.t("col.email"), TEXT),
        (page.t("col.city"), TEXT),
        (page.t("col.state"), TEXT),
    ]


def _row_plain(c: CustomerSummary) -> list[Cell]:
    return [c.id, c.name, c.email, c.city, c.state]


def _columns_scored(page: Page) -> list[tuple[str, str]]:
    return [
        ("id", INTEGER),
        (page.t("col.name"), TEXT),
        (page.t("col.email"), TEXT),
        (page.t("col.segment"), TEXT),
        ("R", INTEGER),
        ("F", INTEGER),
        (page.t("col.monetary"), MONEY),
        (page.t("col.clv"), MONEY),
        (page.t("col.p_alive"), FRACTION),
        (page.t("col.churn"), FRACTION),
    ]


def _row_scored(page: Page, c: ScoredCustomer) -> list[Cell]:
    return [
        c.id,
        c.name,
        c.email,
        page.segment(c.segment),
        c.r_score,
        c.f_score,
        money_units(c.monetary_minor),
        money_units(c.clv_minor),
        c.p_alive,
        c.churn_risk,
    ]


def _table(
    request: Request, session: Session, page: Page, name: ListName, where: ListFilter
) -> tuple[list[tuple[str, str]], Iterator[list[Cell]]]:
    """Columns and rows of the list ``name`` under ``where``."""
    source: ListName = "customers" if name == "recommendations" else name
    found = list_rows(
        session,
        brand_id=page.brand.id,
        name=source,
        where=where,
        limit=MAX_EXPORT_ROWS,
        offset=0,
    )
    people: list[tuple[int, str | None, str | None]]
    if found.scored is not None:
        columns = _columns_scored(page)
        rows = [_row_scored(page, c) for c in found.scored]
        people = [(c.id, c.name, c.email) for c in found.scored]
    else:
        columns = _columns_plain(page)
        rows = [_row_plain(c) for c in found.customers or []]
        people = [(c.id, c.name, c.email) for c in found.customers or []]
    if name != "recommendations":
        return columns, iter(rows)
    index = brand_index(session, request.app.state.recommendations_root, page.brand.id)
    if index is None:
        raise HTTPException(404, "recommendations not computed yet")
    columns = [
        ("id", INTEGER),
        (page.t("col.name"), TEXT),
        (page.t("col.email"), TEXT),
        (page.t("col.rank"), INTEGER),
        (page.t("col.product"), TEXT),
        (page.t("col.why"), TEXT),
    ]

    def suggestions() -> Iterator[list[Cell]]:
        for customer_id, person, email in people:
            for rank, s in enumerate(
                index.for_customer(customer_id, RECOMMENDATIONS_PER_CUSTOMER), start=1
            ):
                yield [
                    customer_id,
                    person,
                    email,
                    rank,
                    index.item_name(s.item_id, page.locale),
                    s.explanation(page.locale),
                ]

    return columns, suggestions()


@router.get("/dashboard/export/{name}.{fmt}")
def export(
    request: Request,
    name: str,
    fmt: str,
    q: Annotated[str | None, Query(max_length=200)] = None,
    r: Annotated[int | None, Query(ge=1, le=5)] = None,
    f: Annotated[int | None, Query(ge=1, le=5)] = None,
    sort: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """Download the list ``name`` (``customers``, ``churn``, ``clv``, ``recommendations``)
    as ``csv`` or ``xlsx``, filtered like the page it came from."""
    list_name = next((n for n in LIST_NAMES if n == name), None)
    if list_name is None or fmt not in ("csv", "xlsx"):
        raise HTTPException(404, "unknown export")
    with read_unit(request) as session:
        page = build_page(request, session, "customers")
        where = list_filter(page.apply(*FILTER_NAMES), q=q, sort=sort, r=r, f=f)
        columns, rows = _table(request, session, page, list_name, where)
        title = page.t(f"export.{list_name}")
        body = csv_bytes(columns, rows) if fmt == "csv" else xlsx_bytes(title, columns, rows)
    filename = f"recompra-{page.brand.slug or 'loja'}-{list_name}.{fmt}"
    media = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_MEDIA_TYPE
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
