"""Dashboard pages. Every number comes from :mod:`recompra.reads`, as in the API.

KPIs, trends, segments and cohorts are the brand's analytics outputs
(:mod:`recompra.reads.kpis`); until they exist those pages show a "not calculated yet"
empty state, as the API answers 409 ``not_analysed``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from recompra.web.context import build_page, read_unit
from recompra.web.views import (
    access,
    admin,
    cases,
    clusters,
    commercial,
    customers,
    exports,
    glossary,
    journeys,
    loyalty,
    measurement,
    models,
    overview,
    scores,
    segments,
    shopper,
    voc,
)
from recompra.web.views.admin_access import require_role
from recompra.web.views.common import render

# Every dashboard route passes the role check (recompra.auth.roles): none can forget it.
router = APIRouter(include_in_schema=False, dependencies=[Depends(require_role)])
for module in (
    access,
    admin,
    overview,
    scores,
    clusters,
    segments,
    customers,
    loyalty,
    journeys,
    measurement,
    voc,
    cases,
    commercial,
    models,
    glossary,
    exports,
    shopper,
):
    router.include_router(module.router)


@router.get("/dashboard/{unknown:path}", response_class=HTMLResponse)
def not_found(request: Request, unknown: str) -> HTMLResponse:
    """Any other dashboard address: the styled "page not found" (after sign-in)."""
    with read_unit(request) as session:
        page = build_page(request, session, "")
    return render(page, "notfound.html", status_code=404)
