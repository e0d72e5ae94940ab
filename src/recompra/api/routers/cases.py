"""Cases: the queue with SLA clocks, a case in full, opening, assigning, status changes,
notes, replies (sent by the automation worker), resolving; the cases about to breach,
the share of SLA clocks met per team or agent, the detractor queue and SLA policies.

Reading needs ``read``; every change needs ``admin``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from recompra.api.deps import (
    MAX_ID,
    AdminBrand,
    Limit,
    Offset,
    OneHopRoute,
    ReadBrand,
    ReadSession,
    WriteSession,
)
from recompra.api.errors import READ_ERRORS, WRITE_ERRORS
from recompra.automation.settings import AutomationSettings, decision_context
from recompra.automation.steps import DecisionContext
from recompra.models.base import utcnow
from recompra.models.voc import CASE_CHANNELS, CASE_PRIORITIES, CASE_STATUSES, CASE_TYPES
from recompra.voc.cases import (
    NewCase,
    add_note,
    assign,
    change_status,
    get_case,
    open_case,
    reply,
    resolve,
)
from recompra.voc.feedback import DetractorQueue, detractor_queue
from recompra.voc.policies import set_policy
from recompra.voc.queue import (
    CaseDetail,
    CaseFilter,
    CaseRow,
    SlaMet,
    about_to_breach,
    case_detail,
    list_cases,
    sla_met,
)

router = APIRouter(prefix="/v1/cases", tags=["cases"], route_class=OneHopRoute)

CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="Case id")]
Author = Field(default=None, max_length=320, description="Agent (default: the API key)")


class CaseIn(BaseModel):
    """A case to open."""

    type: Literal[CASE_TYPES]  # type: ignore[valid-type]
    priority: Literal[CASE_PRIORITIES] = "normal"  # type: ignore[valid-type]
    channel: Literal[CASE_CHANNELS] = "api"  # type: ignore[valid-type]
    subject: str = Field(min_length=1, max_length=300)
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    order_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    owner: str | None = Field(default=None, max_length=320)
    team: str | None = Field(default=None, max_length=64)
    author: str | None = Author


class CasePage(BaseModel):
    """A page of the queue and how many cases match."""

    total: int
    items: list[CaseRow]


class AssignIn(BaseModel):
    """A new owner and/or team."""

    owner: str | None = Field(default=None, max_length=320)
    team: str | None = Field(default=None, max_length=64)


class StatusIn(BaseModel):
    """A status change (a reason is required to resolve)."""

    status: Literal[CASE_STATUSES]  # type: ignore[valid-type]
    reason: str | None = Field(default=None, max_length=300)
    author: str | None = Author


class ResolveIn(BaseModel):
    """The resolution reason."""

    reason: str = Field(min_length=1, max_length=300)
    author: str | None = Author


class MessageIn(BaseModel):
    """A note or a reply."""

    body: str = Field(min_length=1, max_length=10_000)
    author: str | None = Author


class PolicyIn(BaseModel):
    """An SLA policy: what it matches (empty: any) and its business-minute targets."""

    priority: Literal[CASE_PRIORITIES] | None = None  # type: ignore[valid-type]
    case_type: Literal[CASE_TYPES] | None = None  # type: ignore[valid-type]
    channel: Literal[CASE_CHANNELS] | None = None  # type: ignore[valid-type]
    first_response_minutes: int = Field(ge=1, le=1_000_000)
    resolution_minutes: int = Field(ge=1, le=1_000_000)
    calendar: dict[str, Any] | None = None


def _actor(brand: AdminBrand, author: str | None) -> str:
    return author or f"api-key:{brand.principal.key_id}"


def _links(request: Request) -> DecisionContext:
    return decision_context(request.app.state.settings, AutomationSettings())


@router.get("", operation_id="cases_list", responses=READ_ERRORS)
def cases_list(
    brand: ReadBrand,
    session: ReadSession,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[str, Query(description="A status, `active` or `all`")] = "active",
    owner: Annotated[str | None, Query(max_length=320)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    priority: Annotated[str | None, Query(max_length=16)] = None,
) -> CasePage:
    """The queue, nearest resolution deadline first, with both SLA clocks."""
    where = CaseFilter(
        status=None if status == "all" else status, owner=owner, team=team, priority=priority
    )
    total, rows = list_cases(
        session, brand_id=brand.id, where=where, now=utcnow(), limit=limit, offset=offset
    )
    return CasePage(total=total, items=rows)


@router.post("", operation_id="cases_open", responses=WRITE_ERRORS, status_code=201)
def cases_open(body: CaseIn, brand: AdminBrand, session: WriteSession) -> CaseDetail:
    """Open a case (status ``new``) with its SLA deadlines."""
    fields = body.model_dump(exclude={"author"})
    case = open_case(
        session,
        brand_id=brand.id,
        new=NewCase(**fields, source="api"),
        actor=_actor(brand, body.author),
        now=utcnow(),
    )
    return case_detail(session, brand_id=brand.id, case_id=case.id, now=utcnow())


@router.get("/breaching", operation_id="cases_breaching", responses=READ_ERRORS)
def cases_breaching(
    brand: ReadBrand,
    session: ReadSession,
    within_minutes: Annotated[int, Query(ge=1, le=10_080)] = 60,
) -> list[CaseRow]:
    """Active cases whose running clock is due within ``within_minutes``."""
    return about_to_breach(session, brand_id=brand.id, now=utcnow(), within_minutes=within_minutes)


@router.get("/sla", operation_id="cases_sla_met", responses=READ_ERRORS)
def cases_sla_met(
    brand: ReadBrand, session: ReadSession, by: Literal["team", "owner"] = "team"
) -> list[SlaMet]:
    """Per team or agent: SLA clocks that ended and how many were met."""
    return sla_met(session, brand_id=brand.id, by=by, now=utcnow())


@router.get("/detractors", operation_id="cases_detractors", responses=READ_ERRORS)
def cases_detractors(brand: ReadBrand, session: ReadSession) -> DetractorQueue:
    """Feedback cases not contacted yet, and the share contacted within 48 h."""
    return detractor_queue(session, brand_id=brand.id, now=utcnow())


@router.put("/sla/policies/{name}", operation_id="sla_policy_set", responses=WRITE_ERRORS)
def sla_policy_set(
    name: Annotated[str, Path(min_length=1, max_length=64)],
    body: PolicyIn,
    brand: AdminBrand,
    session: WriteSession,
) -> dict[str, Any]:
    """Create or replace an SLA policy."""
    policy = set_policy(session, brand_id=brand.id, name=name, **body.model_dump())
    return {"name": policy.name, "id": policy.id, "calendar": policy.calendar}


@router.get("/{case_id}", operation_id="cases_get", responses=READ_ERRORS)
def cases_get(case_id: CaseId, brand: ReadBrand, session: ReadSession) -> CaseDetail:
    """A case with its status history, notes and replies."""
    return case_detail(session, brand_id=brand.id, case_id=case_id, now=utcnow())


@router.post("/{case_id}/assign", operation_id="cases_assign", responses=WRITE_ERRORS)
def cases_assign(
    case_id: CaseId, body: AssignIn, brand: AdminBrand, session: WriteSession
) -> CaseDetail:
    """Give the case an owner and/or a team."""
    case = get_case(session, brand_id=brand.id, case_id=case_id, lock=True)
    assign(session, case=case, owner=body.owner, team=body.team, now=utcnow())
    return case_detail(session, brand_id=brand.id, case_id=case_id, now=utcnow())


@router.post("/{case_id}/status", operation_id="cases_status", responses=WRITE_ERRORS)
def cases_status(
    case_id: CaseId, body: StatusIn, brand: AdminBrand, session: WriteSession
) -> CaseDetail:
    """Change the status (409 when the transition is not allowed)."""
    case = get_case(session, brand_id=brand.id, case_id=case_id, lock=True)
    change_status(
        session,
        case=case,
        to=body.status,
        actor=_actor(brand, body.author),
        now=utcnow(),
        reason=body.reason,
    )
    return case_detail(session, brand_id=brand.id, case_id=case_id, now=utcnow())


@router.post("/{case_id}/resolve", operation_id="cases_resolve", responses=WRITE_ERRORS)
def cases_resolve(
    case_id: CaseId, body: ResolveIn, brand: AdminBrand, session: WriteSession
) -> CaseDetail:
    """Resolve with a reason."""
    case = get_case(session, brand_id=brand.id, case_id=case_id, lock=True)
    resolve(session, case=case, reason=body.reason, actor=_actor(brand, body.author), now=utcnow())
    return case_detail(session, brand_id=brand.id, case_id=case_id, now=utcnow())


@router.post("/{case_id}/notes", operation_id="cases_note", responses=WRITE_ERRORS, status_code=201)
def cases_note(
    case_id: CaseId, body: MessageIn, brand: AdminBrand, session: WriteSession
) -> CaseDetail:
    """An internal note."""
    case = get_case(session, brand_id=brand.id, case_id=case_id, lock=True)
    add_note(session, case=case, author=_actor(brand, body.author), body=body.body, now=utcnow())
    return case_detail(session, brand_id=brand.id, case_id=case_id, now=utcnow())


@router.post(
    "/{case_id}/replies", operation_id="cases_reply", responses=WRITE_ERRORS, status_code=201
)
def cases_reply(
    case_id: CaseId, body: MessageIn, request: Request, brand: AdminBrand, session: WriteSession
) -> CaseDetail:
    """A reply to the customer, queued in the automation outbox (the worker sends it)."""
    case = get_case(session, brand_id=brand.id, case_id=case_id, lock=True)
    reply(
        session,
        case=case,
        author=_actor(brand, body.author),
        body=body.body,
        links=_links(request),
        now=utcnow(),
    )
    return case_detail(session, brand_id=brand.id, case_id=case_id, now=utcnow())
