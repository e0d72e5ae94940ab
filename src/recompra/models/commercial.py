"""Commercial management: the B2B pipeline (leads, opportunities, stages, their history,
activities), marketing spend, stored forecast back-tests, OKRs and maturity answers.
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

from recompra.models.base import Base, BigIntPK, BrandOwned, SourceKeyed, utcnow

OPPORTUNITY_STATUSES = ("open", "won", "lost")
ACTIVITY_KINDS = ("call", "meeting", "email", "note", "proposal")


class Lead(SourceKeyed, Base):
    """A marketing-qualified lead: where it came from and when it was first contacted."""

    __tablename__ = "leads"
    __table_args__ = (UniqueConstraint("brand_id", "source", "external_id"),)

    #: Acquisition channel (Olist's ``origin``): organic_search, paid_search, social...
    channel: Mapped[str] = mapped_column(String(64), default="unknown")
    landing_page: Mapped[str | None] = mapped_column(String(128))
    first_contact_on: Mapped[date]
    #: The sales development rep who qualified the lead, as the source names them.
    sdr: Mapped[str | None] = mapped_column(String(128))
    #: Probability of conversion from the last lead-score fit (clipped away from 0 and 1).
    score: Mapped[float | None] = mapped_column(Float)
    scored_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SalesStage(BrandOwned, Base):
    """A column of a brand's kanban, with the win probability the weighted forecast uses."""

    __tablename__ = "sales_stages"
    __table_args__ = (
        UniqueConstraint("brand_id", "key"),
        CheckConstraint("probability >= 0 AND probability <= 1", name="probability_range"),
        CheckConstraint("outcome IN ('open', 'won', 'lost')", name="outcome_known"),
    )

    key: Mapped[str] = mapped_column(String(32))
    name_pt: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Float)
    #: ``open`` stages are in the pipeline; ``won``/``lost`` close the opportunity.
    outcome: Mapped[str] = mapped_column(String(8), default="open")


class Opportunity(SourceKeyed, Base):
    """A deal being worked (or closed) with a company; a lost one must say why."""

    __tablename__ = "opportunities"
    __table_args__ = (
        UniqueConstraint("brand_id", "source", "external_id"),
        CheckConstraint("status IN ('open', 'won', 'lost')", name="status_known"),
        # A lost deal without a reason teaches nothing; the database refuses it.
        CheckConstraint(
            "status <> 'lost' OR (lost_reason IS NOT NULL AND lost_reason <> '')",
            name="lost_has_reason",
        ),
        CheckConstraint("amount_minor IS NULL OR amount_minor >= 0", name="amount_positive"),
        Index("ix_opportunities_stage", "stage_id"),
    )

    lead_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("leads.id"), index=True)
    company: Mapped[str | None] = mapped_column(String(200))
    segment: Mapped[str | None] = mapped_column(String(64))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="BRL")
    expected_close_on: Mapped[date | None]
    #: The sales rep who owns the deal, as the source names them.
    owner: Mapped[str | None] = mapped_column(String(128))
    stage_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sales_stages.id"))
    status: Mapped[str] = mapped_column(String(8), default="open")
    closed_at: Mapped[datetime | None]
    lost_reason: Mapped[str | None] = mapped_column(String(200))
    #: The hub customer account a won deal became (one company, many buyers).
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id"))
    #: Source attributes kept as they came (Olist: lead type, behaviour profile...).
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Data-quality flags found on import (e.g. ``won_before_first_contact``).
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StageChange(Base):
    """One move of an opportunity between stages. Append-only."""

    __tablename__ = "opportunity_stage_changes"
    __table_args__ = (Index("ix_opportunity_stage_changes_opp", "opportunity_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("opportunities.id"))
    from_stage_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("sales_stages.id"))
    to_stage_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sales_stages.id"))
    changed_at: Mapped[datetime]


class Activity(Base):
    """A call, meeting, e-mail, note or proposal (with its value and validity) on a deal."""

    __tablename__ = "sales_activities"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('call', 'meeting', 'email', 'note', 'proposal')", name="kind_known"
        ),
        CheckConstraint(
            "kind <> 'proposal' OR (proposal_amount_minor IS NOT NULL"
            " AND proposal_valid_until IS NOT NULL)",
            name="proposal_complete",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("opportunities.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(2000))
    proposal_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    proposal_valid_until: Mapped[date | None]


class MarketingSpend(BrandOwned, Base):
    """Money spent on one acquisition channel in one calendar month, for one audience.

    The audience (``b2c`` shoppers or ``b2b`` companies) says whose acquisition the money
    bought, so B2C and B2B CAC never divide the same spend twice.
    """

    __tablename__ = "marketing_spend"
    __table_args__ = (
        UniqueConstraint("brand_id", "audience", "channel", "month"),
        CheckConstraint("amount_minor >= 0", name="amount_positive"),
        CheckConstraint("audience IN ('b2c', 'b2b')", name="audience_known"),
    )

    audience: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(64))
    #: The first day of the month.
    month: Mapped[date]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="BRL")
    #: Whether the channel is paid media (paid CAC counts only these).
    paid: Mapped[bool] = mapped_column(default=True)


class ForecastBacktest(BrandOwned, Base):
    """One month of a rolling one-step back-test: what a model said and what happened."""

    __tablename__ = "forecast_backtests"
    __table_args__ = (UniqueConstraint("brand_id", "model", "month"),)

    model: Mapped[str] = mapped_column(String(32))
    month: Mapped[date]
    forecast: Mapped[float] = mapped_column(Float)
    actual: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeadScoreFit(BrandOwned, Base):
    """One fit of a brand's lead score: the model chosen, its cross-validated quality and
    the data it saw, so a refit can tell how old the scores are and what changed."""

    __tablename__ = "lead_score_fits"
    __table_args__ = (UniqueConstraint("brand_id", "version"),)

    #: 1, 2, ... per brand: the scores on ``leads`` come from the highest version.
    version: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(32))
    auc: Mapped[float] = mapped_column(Float)
    top_decile_lift: Mapped[float] = mapped_column(Float)
    #: Leads and converted leads the model was fitted on.
    leads: Mapped[int] = mapped_column(Integer)
    converted: Mapped[int] = mapped_column(Integer)
    fitted_at: Mapped[datetime]


class Objective(BrandOwned, Base):
    """An objective of a period; its progress is the weighted progress of its key results."""

    __tablename__ = "okr_objectives"
    __table_args__ = (UniqueConstraint("brand_id", "key"),)

    key: Mapped[str] = mapped_column(String(64))
    title_pt: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KeyResult(Base):
    """A key result bound to a live KPI: progress from ``start`` towards ``target``."""

    __tablename__ = "okr_key_results"
    __table_args__ = (
        UniqueConstraint("objective_id", "key"),
        CheckConstraint("weight > 0", name="weight_positive"),
        CheckConstraint("target <> start", name="target_differs"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    objective_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("okr_objectives.id"))
    key: Mapped[str] = mapped_column(String(64))
    title_pt: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    kpi: Mapped[str] = mapped_column(String(64))
    #: Optional filter of the KPI (a channel for funnel KPIs).
    segment: Mapped[str | None] = mapped_column(String(64))
    start: Mapped[float] = mapped_column(Float)
    target: Mapped[float] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float, default=1.0)


class MaturityAnswer(BrandOwned, Base):
    """A self-assessed level of one maturity dimension (capped by evidence when reported)."""

    __tablename__ = "maturity_answers"
    __table_args__ = (
        UniqueConstraint("brand_id", "dimension"),
        CheckConstraint("level >= 1 AND level <= 5", name="level_range"),
    )

    dimension: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)
