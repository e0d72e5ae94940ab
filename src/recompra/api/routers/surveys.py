"""Surveys: send one (``admin``), list sends and answers (``read``), and answer through
a signed link (no key: the signed token is the authority, as for unsubscribing).

One answer per send: a second answer is 409; a forged or altered token is 400.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
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
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.automation.settings import AutomationSettings, decision_context
from recompra.models.base import utcnow
from recompra.voc.surveys import (
    SurveyLink,
    SurveyRow,
    answer_survey,
    list_surveys,
    open_link,
    send_survey,
)

router = APIRouter(prefix="/v1/surveys", tags=["surveys"], route_class=OneHopRoute)

Kind = Literal["nps", "csat", "ces"]


class SendIn(BaseModel):
    """A survey to e-mail to a customer (optionally about an order)."""

    customer_id: int = Field(ge=1, le=MAX_ID)
    kind: Kind
    order_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class SendOut(BaseModel):
    """The send (its e-mail waits in the outbox for the worker)."""

    send_id: int


class SurveyPage(BaseModel):
    """A page of sends and how many there are."""

    total: int
    items: list[SurveyRow]


class AnswerIn(BaseModel):
    """An answer: the link's token, the score and an optional comment."""

    token: str = Field(min_length=5, max_length=200)
    score: int = Field(ge=0, le=10)
    comment: str | None = Field(default=None, max_length=2000)


class AnswerOut(BaseModel):
    """The stored answer."""

    answer_id: int
    score: int


@router.post(
    "/sends",
    operation_id="surveys_send",
    status_code=201,
    responses=error_responses(400, *AUTH_ERRORS, 404),
)
def surveys_send(
    body: SendIn, request: Request, brand: AdminBrand, session: WriteSession
) -> SendOut:
    """E-mail a survey with its one-click answer links."""
    links = decision_context(request.app.state.settings, AutomationSettings())
    send_id = send_survey(
        session,
        brand_id=brand.id,
        customer_id=body.customer_id,
        kind=body.kind,
        order_id=body.order_id,
        links=links,
        now=utcnow(),
    )
    return SendOut(send_id=send_id)


@router.get(
    "/sends", operation_id="surveys_list", responses=error_responses(400, *AUTH_ERRORS, 404)
)
def surveys_list(
    brand: ReadBrand,
    session: ReadSession,
    kind: Annotated[Kind | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> SurveyPage:
    """Sends, newest first, with their answers."""
    total, rows = list_surveys(session, brand_id=brand.id, kind=kind, limit=limit, offset=offset)
    return SurveyPage(total=total, items=rows)


@router.get("/links/{token}", operation_id="surveys_link", responses=error_responses(400))
def surveys_link(token: str, request: Request, session: ReadSession) -> SurveyLink:
    """What a link asks (kind, scale, brand) and whether it was answered."""
    return open_link(session, secret=request.app.state.settings.secret_key, token=token)


@router.post(
    "/answers", operation_id="surveys_answer", status_code=201, responses=error_responses(400, 409)
)
def surveys_answer(body: AnswerIn, request: Request, session: WriteSession) -> AnswerOut:
    """Answer the survey of a signed link (once)."""
    answer = answer_survey(
        session,
        secret=request.app.state.settings.secret_key,
        token=body.token,
        score=body.score,
        comment=body.comment,
        via="api",
        now=utcnow(),
    )
    return AnswerOut(answer_id=answer.id, score=answer.score)
