"""The glossary: every metric's definition, in the page's language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.web.context import build_page, read_unit
from recompra.web.glossary import TERMS
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)


@router.get("/dashboard/glossary", response_class=HTMLResponse)
def glossary(request: Request) -> HTMLResponse:
    """Every metric with its one-line definition, alphabetically in the page's language."""
    with read_unit(request) as session:
        page = build_page(request, session, "glossary")
    terms = sorted(TERMS, key=lambda term: term.name(page.locale).casefold())
    return render(page, "glossary.html", terms=terms)
