"""Live segments: versioned rule-tree definitions, current members, the append-only
entry/exit event stream that journeys consume, and goals per segment.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, BrandOwned, FeedOrdered, Timestamped, utcnow

SEGMENT_STATUSES = ("active", "archived")
MEMBERSHIP_EVENT_TYPES = ("segment_entered", "segment_exited")


class Segment(BrandOwned, Timestamped, Base):
    """A brand's segment, identified by a stable ``key``; its rule lives in its versions."""

    __tablename__ = "segments"
    __table_args__ = (
        UniqueConstraint("brand_id", "key"),
        CheckConstraint("status IN ('active', 'archived')", name="status_known"),
    )

    key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    #: The version in force (the highest one); members are evaluated with it.
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    #: Cached size after the last evaluation (full or incremental).
    member_count: Mapped[int] = mapped_column(BigInteger, default=0)
    evaluated_at: Mapped[datetime | None]


class SegmentVersion(Base):
    """An immutable version of a segment: names, description and rule tree as applied."""

    __tablename__ = "segment_versions"
    __table_args__ = (UniqueConstraint("segment_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    segment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("segments.id"))
    version: Mapped[int] = mapped_column(Integer)
    name_pt: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    description_pt: Mapped[str | None] = mapped_column(String(1000))
    description_en: Mapped[str | None] = mapped_column(String(1000))
    #: The rule tree in its canonical form (money in minor units).
    rule: Mapped[dict[str, Any]]
    #: SHA-256 of the canonical rule: the key of compiled statements, read without
    #: loading and parsing every rule on each incremental re-evaluation.
    rule_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SegmentMember(Base):
    """A customer currently in a segment, with the version that put them in."""

    __tablename__ = "segment_members"
    __table_args__ = (Index("ix_segment_members_customer", "customer_id"),)

    segment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("segments.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    entered_at: Mapped[datetime]


class SegmentMembershipEvent(BrandOwned, FeedOrdered, Base):
    """One entry into or exit from a segment. Append-only: never updated or deleted.

    Consumers (journeys) read it with a cursor on ``(xact_id, id)`` (see
    :class:`~recompra.models.base.FeedOrdered`) or on ``occurred_at``; both are indexed.
    """

    __tablename__ = "segment_membership_events"
    __table_args__ = (
        CheckConstraint("type IN ('segment_entered', 'segment_exited')", name="type_known"),
        Index("ix_segment_membership_events_occurred", "occurred_at", "id"),
        Index("ix_segment_membership_events_customer", "customer_id", "occurred_at"),
        Index("ix_segment_membership_events_segment", "segment_id", "occurred_at"),
        Index("ix_segment_membership_events_xact", "xact_id", "id"),
    )

    segment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("segments.id"))
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    type: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime]


class SegmentGoal(Base):
    """A target for one KPI over one calendar period (month, quarter or year) of a segment."""

    __tablename__ = "segment_goals"
    __table_args__ = (
        UniqueConstraint("segment_id", "kpi", "period_start"),
        CheckConstraint("period_end > period_start", name="period_ordered"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    segment_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("segments.id"))
    kpi: Mapped[str] = mapped_column(String(64))
    #: ``month``, ``quarter`` or ``year``: the analytics KPI granularity of the period.
    granularity: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[date]
    #: Exclusive end of the period.
    period_end: Mapped[date]
    target: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
