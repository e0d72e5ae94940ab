"""The shopper's page: one-time sign-in links and the shopper sessions they open.

Neither table keeps a usable secret: a link and a session are looked up by the SHA-256 of
their random token, so a copy of the database cannot sign anybody in. The e-mail a link
was asked for is kept only as a keyed hash (``email_hash``), enough to rate-limit
requests per address without storing addresses nobody owns.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BrandOwned


class ShopperSignInLink(BrandOwned, Base):
    """A sign-in request: for a known e-mail, a single-use link with a short life."""

    __tablename__ = "shopper_sign_in_links"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        Index("ix_shopper_sign_in_links_email", "brand_id", "email_hash", "requested_at"),
    )

    #: HMAC of the normalised e-mail (rate limiting); the address itself is not stored.
    email_hash: Mapped[str] = mapped_column(String(64))
    #: Empty for an e-mail that matches no customer: counted, never sent.
    customer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id"), index=True
    )
    token_hash: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ShopperSession(BrandOwned, Base):
    """A signed-in shopper: one customer at one brand, until it expires or signs out."""

    __tablename__ = "shopper_sessions"
    __table_args__ = (UniqueConstraint("token_hash"),)

    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
