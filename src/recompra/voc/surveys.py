"""Surveys outside journeys (API, CLI), answers through the signed link, and listing.

A send writes the survey e-mail to the automation outbox (the worker delivers it); the
answer link carries the signed send id (:mod:`recompra.automation.surveys`). One answer
per send: a second one is a ``Conflict`` (HTTP 409); a forged or altered token is
refused. A detractor or negative answer opens its case in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.automation.consent import unsubscribe_url
from recompra.automation.messages import message_context
from recompra.automation.outbox import email_payload, record_outbox
from recompra.automation.steps import DecisionContext
from recompra.automation.surveys import SCALES, read_survey_token, survey_context
from recompra.db.dialect import insert_ignoring_conflicts
from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty.survey_bonus import award_for_answer
from recompra.models import Brand, BrandCustomer, Customer
from recompra.models.voc import SURVEY_ANSWERS, SURVEY_KINDS, SurveyAnswer, SurveySend
from recompra.voc.cases import insert_case
from recompra.voc.feedback import answer_case, is_negative

MAX_COMMENT = 2000


def send_survey(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    kind: str,
    links: DecisionContext,
    now: datetime,
    order_id: int | None = None,
    request_key: str | None = None,
) -> int:
    """Send a survey e-mail now (through the outbox); returns the send id.

    ``request_key`` makes a retried request reuse its send (and e-mail).
    """
    if kind not in SURVEY_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(SURVEY_KINDS)}", field="kind")
    known = session.scalar(
        select(BrandCustomer.customer_id).where(
            BrandCustomer.brand_id == brand_id, BrandCustomer.customer_id == customer_id
        )
    )
    customer = session.get(Customer, customer_id) if known is not None else None
    if customer is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    if not customer.email:
        raise InvalidInput(f"customer {customer_id} has no e-mail address", field="customer_id")
    origin = f"survey:{brand_id}:{request_key or uuid.uuid4().hex}"
    context = message_context(
        session,
        brand_id=brand_id,
        customer_id=customer_id,
        order_id=order_id,
        recommendations_root=None,
        now=now,
    )
    context["unsubscribe_url"] = unsubscribe_url(
        links.public_url, links.secret, customer_id, "email"
    )
    context["survey"] = survey_context(
        session,
        brand_id=brand_id,
        customer_id=customer_id,
        order_id=order_id,
        kind=kind,
        origin_key=origin,
        secret=links.secret,
        public_url=links.public_url,
        now=now,
    )
    send_id = int(context["survey"]["id"])
    record_outbox(
        session,
        brand_id=brand_id,
        run_id=None,
        customer_id=customer_id,
        execution_key=origin,
        channel="email",
        purpose="transactional",
        state="pending",
        payload={**email_payload("survey", customer, context), "survey": send_id},
        now=now,
    )
    return send_id


@dataclass(frozen=True)
class SurveyLink:
    """What the public page shows for a genuine link."""

    send_id: int
    kind: str
    low: int
    high: int
    brand_name: str
    answered: bool


def open_link(session: Session, *, secret: str, token: str) -> SurveyLink:
    """The send behind a link (``InvalidInput`` for a forged or altered one)."""
    send_id = read_survey_token(secret, token)
    send = session.get(SurveySend, send_id) if send_id is not None else None
    if send is None:
        raise InvalidInput("invalid survey link", field="token")
    brand = session.get(Brand, send.brand_id)
    answered = session.scalar(select(SurveyAnswer.id).where(SurveyAnswer.send_id == send.id))
    low, high = SCALES[send.kind]
    return SurveyLink(
        send.id, send.kind, low, high, brand.name if brand else "", answered is not None
    )


def answer_survey(
    session: Session,
    *,
    secret: str,
    token: str,
    score: int,
    comment: str | None,
    via: str,
    now: datetime,
) -> SurveyAnswer:
    """Store the one answer of the link's send; a negative one opens its case; a loyalty
    member earns the program's survey bonus (once per answer)."""
    link = open_link(session, secret=secret, token=token)
    if not link.low <= score <= link.high:
        raise InvalidInput(f"score must be between {link.low} and {link.high}", field="score")
    text = (comment or "").strip()[:MAX_COMMENT] or None
    answer_id = session.execute(
        insert_ignoring_conflicts(
            session, SURVEY_ANSWERS, index_elements=("send_id",), returning="id"
        ),
        {"send_id": link.send_id, "score": score, "comment": text, "via": via, "answered_at": now},
    ).scalar()
    if answer_id is None:
        raise Conflict("this survey was already answered")
    answer = session.get(SurveyAnswer, answer_id)
    send = session.get(SurveySend, link.send_id)
    # Both were written or read just above.
    assert answer is not None
    assert send is not None
    if is_negative(send.kind, score):
        insert_case(
            session, brand_id=send.brand_id, new=answer_case(answer, send), actor="system", now=now
        )
    award_for_answer(
        session, brand_id=send.brand_id, customer_id=send.customer_id, answer_id=answer.id, at=now
    )
    return answer


@dataclass(frozen=True)
class SurveyRow:
    """A send and its answer, if any."""

    send_id: int
    customer_id: int
    order_id: int | None
    kind: str
    sent_at: datetime
    score: int | None
    comment: str | None
    answered_at: datetime | None


def list_surveys(
    session: Session, *, brand_id: int, kind: str | None = None, limit: int = 100, offset: int = 0
) -> tuple[int, list[SurveyRow]]:
    """The brand's sends, newest first, with their answers; and how many there are."""
    where = [SurveySend.brand_id == brand_id]
    if kind is not None:
        where.append(SurveySend.kind == kind)
    total = session.scalar(select(func.count()).select_from(SurveySend).where(*where)) or 0
    rows = session.execute(
        select(SurveySend, SurveyAnswer)
        .outerjoin(SurveyAnswer, SurveyAnswer.send_id == SurveySend.id)
        .where(*where)
        .order_by(SurveySend.sent_at.desc(), SurveySend.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total), [
        SurveyRow(
            s.id,
            s.customer_id,
            s.order_id,
            s.kind,
            s.sent_at,
            a.score if a else None,
            a.comment if a else None,
            a.answered_at if a else None,
        )
        for s, a in rows
    ]
