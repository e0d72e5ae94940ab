"""Post-sale automation: journeys (versioned definitions, pause/resume, counts per node),
webhook endpoints and their secrets, consent, and the one-click unsubscribe endpoint.

Reading needs ``read``; writing needs ``admin``. ``/v1/automation/unsubscribe`` takes no
key: the signed token in the link is the authority (RFC 8058 one-click is a POST; a GET
shows a confirmation form, because mail scanners prefetch links).
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from recompra.api.deps import (
    MAX_ID,
    AdminBrand,
    OneHopRoute,
    ReadBrand,
    ReadSession,
    WriteSession,
)
from recompra.api.errors import READ_ERRORS, WRITE_ERRORS, error_responses
from recompra.automation.consent import read_unsubscribe_token, record_consent, unsubscribe
from recompra.automation.definition import parse_journey, to_display
from recompra.automation.service import (
    ApplyResult,
    JourneySummary,
    apply_journey,
    current_definition,
    get_journey,
    list_journeys,
    set_status,
)
from recompra.automation.webhooks import add_endpoint, rotate_secret
from recompra.errors import Conflict, InvalidInput
from recompra.hub.customers import require_brand_customer
from recompra.models.automation import WebhookEndpoint
from recompra.models.base import utcnow

router = APIRouter(prefix="/v1/automation", tags=["automation"], route_class=OneHopRoute)


class JourneyDetail(BaseModel):
    """A journey's version in force and its definition (money in currency units)."""

    key: str
    status: str
    version: int
    definition: dict[str, Any]


class EndpointIn(BaseModel):
    """A webhook endpoint to register."""

    name: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=8, max_length=500)


class SecretOut(BaseModel):
    """A signing secret, shown once."""

    name: str
    secret: str


class ConsentIn(BaseModel):
    """A grant or withdrawal of consent, with where it was given (LGPD proof)."""

    customer_id: int = Field(ge=1, le=MAX_ID)
    channel: str
    purpose: str
    granted: bool
    source: str = Field(min_length=1, max_length=64)


@router.get("/journeys", operation_id="journeys_list", responses=READ_ERRORS)
def journeys_list(brand: ReadBrand, session: ReadSession) -> list[JourneySummary]:
    """The brand's journeys with status, version and how many customers are at each node."""
    return list_journeys(session, brand_id=brand.id)


@router.post("/journeys", operation_id="journeys_apply", responses=WRITE_ERRORS)
def journeys_apply(
    brand: AdminBrand, session: WriteSession, document: Annotated[dict[str, Any], Body()]
) -> ApplyResult:
    """Create a journey or store a new version (in-flight runs keep theirs)."""
    return apply_journey(session, brand_id=brand.id, definition=parse_journey(document))


@router.get("/journeys/{key}", operation_id="journeys_get", responses=READ_ERRORS)
def journeys_get(key: str, brand: ReadBrand, session: ReadSession) -> JourneyDetail:
    """The definition in force."""
    journey = get_journey(session, brand_id=brand.id, key=key)
    definition = to_display(current_definition(session, journey))
    return JourneyDetail(
        key=key, status=journey.status, version=journey.current_version, definition=definition
    )


@router.post("/journeys/{key}/pause", operation_id="journeys_pause", responses=WRITE_ERRORS)
def journeys_pause(key: str, brand: AdminBrand, session: WriteSession) -> dict[str, str]:
    """No new entries; due timers wait until resumed."""
    set_status(session, brand_id=brand.id, key=key, status="paused")
    return {"key": key, "status": "paused"}


@router.post("/journeys/{key}/resume", operation_id="journeys_resume", responses=WRITE_ERRORS)
def journeys_resume(key: str, brand: AdminBrand, session: WriteSession) -> dict[str, str]:
    """Accept entries again."""
    set_status(session, brand_id=brand.id, key=key, status="active")
    return {"key": key, "status": "active"}


@router.post("/webhooks", operation_id="webhooks_add", responses=WRITE_ERRORS, status_code=201)
def webhooks_add(body: EndpointIn, brand: AdminBrand, session: WriteSession) -> SecretOut:
    """Register a webhook endpoint; the answer carries its signing secret (shown once)."""
    if session.scalar(
        select(WebhookEndpoint.id).where(
            WebhookEndpoint.brand_id == brand.id, WebhookEndpoint.name == body.name
        )
    ):
        raise Conflict(f"webhook endpoint {body.name!r} exists; rotate its secret instead")
    _, secret = add_endpoint(session, brand_id=brand.id, name=body.name, url=body.url)
    return SecretOut(name=body.name, secret=secret)


@router.post("/webhooks/{name}/rotate", operation_id="webhooks_rotate", responses=WRITE_ERRORS)
def webhooks_rotate(name: str, brand: AdminBrand, session: WriteSession) -> SecretOut:
    """A new secret; the previous one keeps signing until the next rotation."""
    return SecretOut(name=name, secret=rotate_secret(session, brand_id=brand.id, name=name))


@router.put("/consents", operation_id="consents_record", responses=WRITE_ERRORS)
def consents_record(body: ConsentIn, brand: AdminBrand, session: WriteSession) -> dict[str, bool]:
    """Record a consent statement for a customer of the brand."""
    require_brand_customer(session, brand_id=brand.id, customer_id=body.customer_id)
    record_consent(
        session,
        customer_id=body.customer_id,
        channel=body.channel,
        purpose=body.purpose,
        granted=body.granted,
        source=body.source,
        now=utcnow(),
    )
    return {"granted": body.granted}


Token = Annotated[str, Query(min_length=5, max_length=200)]


@router.get(
    "/unsubscribe",
    operation_id="unsubscribe_form",
    response_class=HTMLResponse,
    responses={400: {"description": "Invalid or forged link (an HTML page)"}},
)
def unsubscribe_form(request: Request, token: Token) -> HTMLResponse:
    """A confirmation form (a GET never unsubscribes: scanners prefetch links).

    A person follows this link from an e-mail, so a bad link answers a page, not JSON.
    """
    try:
        read_unsubscribe_token(request.app.state.settings.secret_key, token)
    except InvalidInput:
        return HTMLResponse(
            "<!doctype html><meta charset=utf-8><title>Link inválido</title>"
            "<p>Este link de cancelamento é inválido ou está incompleto. / "
            "This unsubscribe link is invalid or incomplete.</p>",
            status_code=400,
        )
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Cancelar inscrição</title>"
        f'<form method=post action="?token={html.escape(token)}"><input type=hidden '
        "name=List-Unsubscribe value=One-Click><button>Cancelar inscrição / "
        "Unsubscribe</button></form>"
    )


@router.post("/unsubscribe", operation_id="unsubscribe", responses=error_responses(400))
def unsubscribe_post(request: Request, session: WriteSession, token: Token) -> dict[str, bool]:
    """RFC 8058 one-click unsubscribe: withdraws marketing consent for the link's channel."""
    unsubscribe(
        session,
        secret=request.app.state.settings.secret_key,
        token=token,
        source="unsubscribe_link",
        now=utcnow(),
    )
    return {"unsubscribed": True}
