"""Orders, their items and payments. Money is integer minor units with a currency."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from recompra.db.dialect import current_transaction
from recompra.models.base import Base, BigIntPK, FeedOrdered, SourceKeyed, Timestamped, utcnow


class Order(SourceKeyed, Timestamped, FeedOrdered, Base):
    """An order of a brand, keyed by ``(brand_id, source, external_id)``.

    ``status`` is normalised (see ``recompra.snapshot.schema.ORDER_STATUSES``);
    ``raw_status`` keeps the source's word. Totals are derived from the items at import.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("brand_id", "source", "external_id"),
        Index("ix_orders_customer_purchased", "customer_id", "purchased_at"),
        Index("ix_orders_brand_purchased", "brand_id", "purchased_at"),
        Index("ix_orders_xact", "xact_id", "id"),
        Index("ix_orders_update_xact", "update_xact_id", "id"),
        CheckConstraint("total_minor >= 0", name="total_non_negative"),
    )

    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16))
    raw_status: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3), default="BRL")
    purchased_at: Mapped[datetime]
    approved_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    estimated_delivery_at: Mapped[datetime | None]
    items_total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    freight_total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The payment provider's token for the card or wallet used (never a card number):
    #: the referral guards compare it between referrer and friend.
    payment_fingerprint: Mapped[str | None] = mapped_column(String(128))
    #: Stamped by the database on every insert and update (migration
    #: ``0026_order_update_xact``): on PostgreSQL the writing transaction's id
    #: (``pg_current_xact_id()``, a ``BEFORE UPDATE`` trigger), on SQLite a change number
    #: one above the table's highest (triggers; one writer, so in commit order). The
    #: ``order_updates`` feed reads orders again in ``(update_xact_id, id)`` order
    #: (:mod:`recompra.automation.feeds`); rows the feed had read before it existed hold 0.
    update_xact_id: Mapped[int | None] = mapped_column(
        BigInteger, server_default=current_transaction(), server_onupdate=FetchedValue()
    )


class OrderItem(Base):
    """One line of an order."""

    __tablename__ = "order_items"
    __table_args__ = (
        UniqueConstraint("order_id", "line_number"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price_minor >= 0", name="price_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("orders.id", ondelete="CASCADE"))
    line_number: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("products.id"), index=True
    )
    seller_ref: Mapped[str | None] = mapped_column(String(128))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    freight_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)


class Payment(Base):
    """A payment of an order (type, installments, amount)."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("order_id", "sequence"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("orders.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    payment_type: Mapped[str] = mapped_column(String(32))
    installments: Mapped[int] = mapped_column(Integer, default=1)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
