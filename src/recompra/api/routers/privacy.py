"""Data-subject rights and the audit log over HTTP (``admin`` scope).

A brand's admin key acts only on customers of its brand who buy from no other brand
(others answer 404, or 403 for a person shared with another brand); an installation-wide
admin key acts on anyone. The retention policy is a scheduled job
(``recompra privacy retention``), not an HTTP call: anonymising many customers and
compacting the database takes longer than a request should.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from recompra.api.deps import AdminKey, CustomerId, EngineDep, OneHopRoute
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.auth.keys import Principal
from recompra.db import unit_of_work
from recompra.privacy import audit
from recompra.privacy.service import (
    Fulfilled,
    erase_customer,
    export_customer,
    export_json,
    export_zip,
)

router = APIRouter(prefix="/v1/privacy", tags=["privacy"], route_class=OneHopRoute)


class RequestDone(BaseModel):
    """A fulfilled request: its record and what it covered (counts, never the data)."""

    request_id: int
    fulfilled_at: datetime
    summary: dict[str, Any]


class AuditRow(BaseModel):
    """One audit log entry."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    brand_id: int | None


def _actor(principal: Principal) -> str:
    return f"key:{principal.key_id}"


def _done(done: Fulfilled) -> RequestDone:
    return RequestDone(
        request_id=done.request_id, fulfilled_at=done.fulfilled_at, summary=done.summary
    )


@router.get(
    "/customers/{customer_id}/export",
    operation_id="privacy_export",
    responses={
        200: {"content": {"application/json": {}, "application/zip": {}}},
        **error_responses(*AUTH_ERRORS, 404),
    },
)
def export(
    customer_id: CustomerId,
    admin: AdminKey,
    engine: EngineDep,
    format: Annotated[Literal["json", "zip"], Query(description="JSON, or ZIP of JSON + CSV")] = (
        "json"
    ),
) -> Response:
    """Everything held about the customer (the request is recorded and audited)."""
    _, holdings = export_customer(engine, customer_id, actor=_actor(admin), brand_id=admin.brand_id)
    if format == "zip":
        return Response(
            export_zip(holdings),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="customer-{customer_id}.zip"'},
        )
    return Response(export_json(holdings), media_type="application/json")


@router.post(
    "/customers/{customer_id}/erase",
    operation_id="privacy_erase",
    response_model=RequestDone,
    responses=error_responses(*AUTH_ERRORS, 404),
)
def erase(
    request: Request, customer_id: CustomerId, admin: AdminKey, engine: EngineDep
) -> RequestDone:
    """Erase the customer's personal data everywhere, keeping the anonymised facts."""
    home = request.app.state.settings.home
    return _done(
        erase_customer(engine, customer_id, actor=_actor(admin), home=home, brand_id=admin.brand_id)
    )


@router.get(
    "/audit",
    operation_id="privacy_audit",
    response_model=list[AuditRow],
    responses={200: {"content": {"text/csv": {}}}, **error_responses(*AUTH_ERRORS)},
)
def audit_log(
    admin: AdminKey,
    engine: EngineDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """The audit log, newest first (a brand's key sees its brand's entries)."""
    with unit_of_work(engine) as session:
        rows = audit.entries(session, brand_id=admin.brand_id)
        audit.record(session, actor=_actor(admin), action="audit.export", brand_id=admin.brand_id)
        found = [
            AuditRow(
                id=r.id,
                at=r.at,
                actor=r.actor,
                action=r.action,
                target=r.target,
                brand_id=r.brand_id,
            )
            for r in rows
        ]
    if format == "csv":
        return Response(audit.audit_csv(rows), media_type="text/csv; charset=utf-8")
    return found
