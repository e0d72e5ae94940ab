"""The customer clusters the analytics found, each described in words."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from recompra.reads import kpis as kq
from recompra.reads.kpis import NotAnalysed
from recompra.web.context import build_page, read_unit
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)


@router.get("/dashboard/clusters", response_class=HTMLResponse)
def clusters(request: Request) -> HTMLResponse:
    """Clusters of similar customers (k-means on recency, value, frequency...), largest first."""
    with read_unit(request) as session:
        page = build_page(request, session, "clusters")
        try:
            items = kq.clusters(
                session, home=request.app.state.settings.home, brand_id=page.brand.id
            )
        except NotAnalysed:
            return render(page, "clusters.html", clusters=None)
    return render(page, "clusters.html", clusters=items)
