"""The journeys page: each journey with its counts per node, the latest messages and a
message preview rendered for a real customer (``?preview=<journey>:<node>``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from recompra.automation.board import (
    COLUMNS,
    email_nodes,
    journey_board,
    preview,
    recent_messages,
)
from recompra.automation.settings import AutomationSettings
from recompra.config import Settings
from recompra.models.base import utcnow
from recompra.web.context import build_page, read_unit
from recompra.web.views.common import render

router = APIRouter(include_in_schema=False)

RECENT_ROWS = 20


@router.get("/dashboard/journeys", response_class=HTMLResponse)
def journeys(
    request: Request, preview_node: Annotated[str | None, Query(alias="preview")] = None
) -> HTMLResponse:
    """Journeys with counts per node, recent messages, and a message preview."""
    settings: Settings = request.app.state.settings
    with read_unit(request) as session:
        page = build_page(request, session, "journeys")
        boards = journey_board(session, brand_id=page.brand.id)
        messages = recent_messages(session, brand_id=page.brand.id, limit=RECENT_ROWS)
        choices = email_nodes(boards)
        chosen = next((c for c in choices if f"{c[0]}:{c[1]}" == preview_node), None)
        chosen = chosen or (choices[0] if choices else None)
        shown = None
        if chosen is not None:
            shown = preview(
                session,
                brand_id=page.brand.id,
                journey=chosen[0],
                node=chosen[1],
                template=chosen[2],
                locale=page.locale,
                secret=settings.secret_key,
                public_url=AutomationSettings().public_url.rstrip("/"),
                recommendations_root=request.app.state.recommendations_root,
                now=utcnow(),
            )
    return render(
        page,
        "journeys.html",
        boards=boards,
        columns=list(COLUMNS),
        messages=messages,
        choices=choices,
        chosen=chosen,
        preview=shown,
    )
