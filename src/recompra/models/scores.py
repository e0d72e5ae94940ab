"""Customer scores with history: analytics and predictions written back per as-of date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BrandOwned, utcnow


class CustomerScore(BrandOwned, Base):
    """A customer's scores as of a date. One row per (brand, customer, as_of).

    Rows are never overwritten by a later as-of date, so movements between segments can
    be shown and counted. Columns are filled by the analytics run (RFM, segment, cluster)
    and by the prediction run (CLV, P(alive), churn risk, next order) for the same as_of.
    """

    __tablename__ = "customer_scores"
    __table_args__ = (
        Index("uq_customer_scores_key", "brand_id", "customer_id", "as_of", unique=True),
        Index("ix_customer_scores_asof_segment", "brand_id", "as_of", "segment"),
    )

    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    as_of: Mapped[date]
    recency_days: Mapped[int | None] = mapped_column(Integer)
    frequency: Mapped[int | None] = mapped_column(Integer)
    monetary_minor: Mapped[int | None] = mapped_column(BigInteger)
    r_score: Mapped[int | None] = mapped_column(Integer)
    f_score: Mapped[int | None] = mapped_column(Integer)
    m_score: Mapped[int | None] = mapped_column(Integer)
    segment: Mapped[str | None] = mapped_column(String(32))
    cluster: Mapped[int | None] = mapped_column(Integer)
    p_alive: Mapped[float | None] = mapped_column(Float)
    expected_purchases: Mapped[float | None] = mapped_column(Float)
    expected_next_order_at: Mapped[datetime | None]
    clv_minor: Mapped[int | None] = mapped_column(BigInteger)
    churn_risk: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(32))
    explanations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
