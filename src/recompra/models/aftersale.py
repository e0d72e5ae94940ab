"""Returns and cancellations, reviews and generic events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, BrandOwned, FeedOrdered, SourceKeyed, utcnow


class Return(SourceKeyed, FeedOrdered, Base):
    """A return or a cancellation, linked to the original order (and items, if partial)."""

    __tablename__ = "returns"
    __table_args__ = (
        UniqueConstraint("brand_id", "source", "external_id"),
        CheckConstraint("kind IN ('return', 'cancellation')", name="kind_known"),
        CheckConstraint("amount_minor >= 0", name="amount_non_negative"),
        Index("ix_returns_xact", "xact_id", "id"),
    )

    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(300))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="BRL")
    created_at: Mapped[datetime]


class ReturnItem(Base):
    """Which items (and how many units) a return covers."""

    __tablename__ = "return_items"
    __table_args__ = (UniqueConstraint("return_id", "order_item_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    return_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("returns.id", ondelete="CASCADE"))
    order_item_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("order_items.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class Review(SourceKeyed, FeedOrdered, Base):
    """A product/order review with a 1-5 score."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("brand_id", "source", "external_id"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        # The low-review case job reads 1-2-star reviews in id order on every pass.
        Index("ix_reviews_score_id", "score", "id"),
        Index("ix_reviews_xact", "xact_id", "id"),
    )

    order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("orders.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id"), index=True
    )
    product_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("products.id"))
    score: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(300))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]


#: The e-mail clicks and opens (``measurement.attribution.CLICK_EVENT``, ``OPEN_EVENT``).
EMAIL_RESPONSES = text("type IN ('email_clicked', 'email_opened')")


class Event(BrandOwned, FeedOrdered, Base):
    """A generic customer event (page view, cart, e-mail click...) with a JSON payload.

    ``external_id`` (optional) makes ingestion idempotent per source.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("brand_id", "source", "external_id"),
        Index("ix_events_customer_occurred", "customer_id", "occurred_at"),
        Index("ix_events_xact", "xact_id", "id"),
        # The measurement's data version counts the e-mail clicks and opens
        # (measurement/version.py, the types of measurement/attribution.py) every check:
        # through this index it reads those rows only, not every event ingested.
        Index(
            "ix_events_email_responses",
            "id",
            "customer_id",
            sqlite_where=EMAIL_RESPONSES,
            postgresql_where=EMAIL_RESPONSES,
        ),
    )

    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id"))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64), default="api")
    external_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
