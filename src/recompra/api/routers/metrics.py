"""``GET /metrics``: Prometheus metrics for the installation's operators."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from recompra.api.deps import AdminKey, OneHopRoute
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.errors import Forbidden
from recompra.ops.metrics import scrape

router = APIRouter(tags=["operations"], route_class=OneHopRoute)


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus exposition format"},
        **error_responses(*AUTH_ERRORS),
    },
)
def metrics(request: Request, principal: AdminKey) -> Response:
    """Request counts and latencies by route, and the work queues' depth.

    Scrape it with an installation-wide admin key (Prometheus: ``authorization:
    credentials``); the figures cover every brand, so a key restricted to one brand is
    refused.
    """
    if principal.brand_id is not None:
        raise Forbidden("metrics cover every brand: use a key that is not restricted to one")
    body, content_type = scrape(request.app.state.engine)
    return Response(content=body, media_type=content_type)
