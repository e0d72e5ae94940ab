"""B2B company accounts: a company buying from a brand through several buyer customers.

The account carries its commercial benefits (a price-list reference, a discount
reference, a free-shipping flag and a dedicated account manager); each member is a
customer with a role within the account (``owner``, ``buyer`` or ``viewer``). A customer
belongs to at most one company account per brand, so an order always has one account.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, utcnow

MEMBER_ROLES = ("owner", "buyer", "viewer")


class CompanyAccount(Base):
    """A company (B2B) account of one brand, with its commercial benefits."""

    __tablename__ = "company_accounts"
    __table_args__ = (
        UniqueConstraint("brand_id", "name"),
        CheckConstraint("discount_bps >= 0 AND discount_bps <= 10000", name="discount_in_range"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    brand_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("brands.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The company's CNPJ (digits only), when known.
    document: Mapped[str | None] = mapped_column(String(14))
    #: The price list the store applies to this company (a reference in the store's system).
    price_list_ref: Mapped[str | None] = mapped_column(String(64))
    #: Negotiated discount in basis points (1000 = 10%), a reference for the store.
    discount_bps: Mapped[int] = mapped_column(Integer, default=0)
    free_shipping: Mapped[bool] = mapped_column(Boolean, default=False)
    manager_name: Mapped[str | None] = mapped_column(String(200))
    manager_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CompanyAccountMember(Base):
    """A buyer customer of a company account and their role within it."""

    __tablename__ = "company_account_members"
    __table_args__ = (
        UniqueConstraint("brand_id", "customer_id"),
        CheckConstraint("role IN ('owner', 'buyer', 'viewer')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("company_accounts.id"), index=True
    )
    #: The account's brand, repeated so that "one account per customer and brand" is a key.
    brand_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("brands.id"))
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
