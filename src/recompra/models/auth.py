"""API keys, dashboard users and idempotency records.

API keys are high-entropy random strings, so a SHA-256 of the key is enough to store
(a slow hash protects guessable passwords, not 256-bit secrets); only the hash and a
short public prefix (to find the row and show it in listings) are kept. Dashboard users
have argon2 password hashes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, utcnow

#: Scopes an API key can hold. ``admin`` implies every other scope.
API_SCOPES = ("admin", "ingest", "read", "loyalty")


class ApiKey(Base):
    """An API key: prefix + SHA-256 of the secret, scopes, optional brand restriction."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    #: Space-separated scopes (a small fixed vocabulary; see ``API_SCOPES``).
    scopes: Mapped[str] = mapped_column(String(100))
    #: When set, the key sees and writes only this brand's data.
    brand_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("brands.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    @property
    def scope_set(self) -> frozenset[str]:
        """The key's scopes as a set."""
        return frozenset(self.scopes.split())


class DashboardUser(Base):
    """A person who signs in to the dashboard (argon2 password hash)."""

    __tablename__ = "dashboard_users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    #: When set, the user sees only this brand.
    brand_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("brands.id"))
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]


class IdempotencyRecord(Base):
    """The stored response of a POST made with an ``Idempotency-Key`` header.

    Keyed by (API key, Idempotency-Key). A replay with the same request hash returns the
    stored status and body; a different request under the same key is a conflict.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("api_key_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
