"""Voice of the customer, operational side: cases with their status history and
messages, SLA policies, and survey sends with their (single) answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, BrandOwned, utcnow

CASE_STATUSES = ("new", "open", "waiting_on_customer", "resolved", "closed")
CASE_TYPES = ("complaint", "question", "request", "feedback")
CASE_PRIORITIES = ("low", "normal", "high", "urgent")
CASE_CHANNELS = ("email", "phone", "chat", "whatsapp", "review", "survey", "api", "webhook")
SURVEY_KINDS = ("nps", "csat", "ces")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SlaPolicy(BrandOwned, Base):
    """First-response and resolution targets, in business minutes, for the cases it matches.

    ``priority``, ``case_type`` and ``channel`` left empty match any value; the policy
    naming the most of them wins. ``calendar`` holds the business hours (see
    :mod:`recompra.voc.sla`).
    """

    __tablename__ = "sla_policies"
    __table_args__ = (
        UniqueConstraint("brand_id", "name"),
        CheckConstraint("first_response_minutes > 0", name="first_response_positive"),
        CheckConstraint("resolution_minutes > 0", name="resolution_positive"),
    )

    name: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str | None] = mapped_column(String(16))
    case_type: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    calendar: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Case(BrandOwned, Base):
    """A complaint or request, with its owner, status, links and SLA deadlines.

    ``review_id`` and ``survey_answer_id`` are unique: a low review or a detractor answer
    opens one case, however often the job that opens them runs. The deadlines are
    recomputed on every status change (``None`` while the clock is paused).
    """

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("review_id"),
        UniqueConstraint("survey_answer_id"),
        Index("ix_cases_brand_status", "brand_id", "status"),
        CheckConstraint(_one_of("status", CASE_STATUSES), name="status_known"),
        CheckConstraint(_one_of("type", CASE_TYPES), name="type_known"),
        CheckConstraint(_one_of("priority", CASE_PRIORITIES), name="priority_known"),
        CheckConstraint(_one_of("channel", CASE_CHANNELS), name="channel_known"),
    )

    type: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300))
    customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("orders.id"))
    review_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("reviews.id"))
    survey_answer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("survey_answers.id")
    )
    #: Who created it: ``agent``, ``api``, ``review`` or ``survey``.
    source: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(320))
    team: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24), default="new")
    resolution_reason: Mapped[str | None] = mapped_column(String(300))
    sla_policy_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("sla_policies.id"))
    #: When the customer's feedback happened (the review or answer), for the 48 h loop.
    feedback_at: Mapped[datetime | None]
    opened_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    first_response_due_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseStatusChange(Base):
    """One status transition of a case: the history the SLA pauses are read from."""

    __tablename__ = "case_status_changes"
    __table_args__ = (Index("ix_case_status_changes_case", "case_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("cases.id"))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime]


class CaseMessage(Base):
    """An internal note or a reply sent to the customer (through the automation outbox)."""

    __tablename__ = "case_messages"
    __table_args__ = (
        Index("ix_case_messages_case", "case_id", "created_at"),
        CheckConstraint("kind IN ('note', 'reply')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(8))
    author: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    #: The outbox row's execution key of a reply.
    outbox_key: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]


class SurveySend(BrandOwned, Base):
    """A survey sent to a customer: the signed link names it; ``origin_key`` (the journey
    decision or the API request) is unique, so a replayed send issues no second link."""

    __tablename__ = "survey_sends"
    __table_args__ = (
        UniqueConstraint("origin_key"),
        Index("ix_survey_sends_brand_sent", "brand_id", "sent_at"),
        CheckConstraint(_one_of("kind", SURVEY_KINDS), name="kind_known"),
    )

    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("orders.id"))
    kind: Mapped[str] = mapped_column(String(8))
    origin_key: Mapped[str] = mapped_column(String(300))
    sent_at: Mapped[datetime]


class SurveyAnswer(Base):
    """The answer to a send (one: ``send_id`` is unique) with its optional comment."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("send_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    send_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("survey_sends.id"))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    #: ``link`` (the public page) or ``api``.
    via: Mapped[str] = mapped_column(String(8))
    answered_at: Mapped[datetime]


# Core tables written with INSERT ... ON CONFLICT DO NOTHING (typed as Table).
CASES = cast(Table, Case.__table__)
SURVEY_SENDS = cast(Table, SurveySend.__table__)
SURVEY_ANSWERS = cast(Table, SurveyAnswer.__table__)
