"""E-mail tracking: the open pixel, the signed click redirect, and the bounce/complaint
webhook (:mod:`recompra.automation.tracking`).

None takes an API key. The pixel and the redirect are followed from e-mails: their
signed token is the authority, and a bad token still answers the image (an open) or a
plain page (a click), never JSON. The bounce webhook is signed per Standard Webhooks
with the installation's bounce secret (``recompra webhooks bounce-secret``).
"""

from __future__ import annotations

import base64
import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recompra.api.deps import OneHopRoute, WriteSession
from recompra.api.errors import error_responses
from recompra.automation.tracking import record_bounce, record_click, record_open, verify_bounce
from recompra.errors import InvalidInput
from recompra.models.base import utcnow

router = APIRouter(prefix="/v1/automation", tags=["automation"], route_class=OneHopRoute)

#: A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
TrackingToken = Annotated[str, Query(min_length=5, max_length=4000)]
_NO_STORE = {"Cache-Control": "no-store, private"}


@router.get("/t/open", operation_id="tracking_open", response_class=Response)
def tracking_open(request: Request, session: WriteSession, token: TrackingToken) -> Response:
    """The open pixel: records an open (machine opens flagged) and answers a 1x1 GIF."""
    # An image is answered whatever the token: a mail client shows no error.
    with contextlib.suppress(InvalidInput):
        record_open(
            session,
            secret=request.app.state.settings.secret_key,
            token=token,
            user_agent=request.headers.get("user-agent", ""),
            now=utcnow(),
        )
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get(
    "/t/click",
    operation_id="tracking_click",
    response_class=RedirectResponse,
    status_code=302,
    responses={400: {"description": "Invalid or forged link (an HTML page)"}},
)
def tracking_click(request: Request, session: WriteSession, token: TrackingToken) -> Response:
    """Records a click and redirects to the link's signed target."""
    try:
        url = record_click(
            session, secret=request.app.state.settings.secret_key, token=token, now=utcnow()
        )
    except InvalidInput:
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>Link inválido</title>"
            "<p>Este link é inválido ou está incompleto. / "
            "This link is invalid or incomplete.</p>",
            status_code=400,
        )
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


@router.post("/bounces", operation_id="tracking_bounce", responses=error_responses(400))
async def tracking_bounce(request: Request, session: WriteSession) -> dict[str, int]:
    """A bounce or complaint from the mail provider (signed per Standard Webhooks): a hard
    bounce or complaint withdraws e-mail consent; answers how many customers it suppressed."""
    body = await request.body()
    document = verify_bounce(
        request.app.state.settings.secret_key,
        {k.lower(): v for k, v in request.headers.items()},
        body,
    )
    return {"suppressed": record_bounce(session, document, now=utcnow())}
