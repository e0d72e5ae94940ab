"""Dashboard sessions held server-side and failed sign-ins (for throttling).

The session cookie is signed, but a signature alone cannot be withdrawn: the row here
is what sign-out revokes, so a copied cookie stops working the moment its owner signs
out. Failed sign-ins are stored (not kept in process memory) so that the throttle holds
across API worker processes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, utcnow


class DashboardSession(Base):
    """A signed-in dashboard session; the cookie carries its random ``token``'s hash key."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: SHA-256 hex of the random session token (the token itself lives only in the cookie).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("dashboard_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginFailure(Base):
    """One failed sign-in for an account from an address (the throttle counts these)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account_address", "account", "address", "failed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: The e-mail as typed (normalised), whether or not such a user exists.
    account: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
