"""API keys: creation, revocation, verification and the record of their use.

A key looks like ``rk_<prefix>_<secret>``: the prefix (public, unique) finds the row, the
SHA-256 of the whole key is compared in constant time. Keys carry 256 bits of entropy,
so a fast hash is enough (passwords, in :mod:`recompra.auth.users`, use argon2).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from recompra.errors import InvalidInput, NotFound
from recompra.models import ApiKey, Brand
from recompra.models.auth import API_SCOPES

KEY_PREFIX = "rk_"
#: ``last_used_at`` is written at most this often per key (a write per request would
#: serialise every read behind SQLite's write lock).
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: key id, scopes and optional brand restriction."""

    key_id: int
    scopes: frozenset[str]
    brand_id: int | None
    last_used_at: datetime | None

    def has_scope(self, scope: str) -> bool:
        """Whether the key may use ``scope`` (``admin`` implies every scope)."""
        return "admin" in self.scopes or scope in self.scopes


def hash_key(key: str) -> str:
    """The stored SHA-256 hex digest of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def _split(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    if not sep or not prefix or not secret or len(prefix) > 16:
        return None
    return prefix


def create_api_key(
    session: Session,
    *,
    scopes: list[str],
    brand_id: int | None = None,
    name: str = "",
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plain key (shown once, never stored)."""
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown or not scopes:
        raise InvalidInput(
            f"scopes must be among {', '.join(API_SCOPES)}; got {', '.join(unknown) or 'none'}",
            field="scopes",
        )
    if brand_id is not None and session.get(Brand, brand_id) is None:
        raise NotFound(f"brand {brand_id} not found", field="brand")
    prefix = secrets.token_hex(4)
    plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=hash_key(plain),
        scopes=" ".join(s for s in API_SCOPES if s in scopes),
        brand_id=brand_id,
    )
    session.add(row)
    session.flush()
    return row, plain


def list_api_keys(session: Session, *, brand_id: int | None) -> list[ApiKey]:
    """The keys an administrator may see: every key, or only ``brand_id``'s keys.

    A brand-restricted administrator manages its own brand's keys only; it never sees
    installation-wide keys (which could act on every brand) nor another brand's.
    """
    query = select(ApiKey).order_by(ApiKey.id)
    if brand_id is not None:
        query = query.where(ApiKey.brand_id == brand_id)
    return list(session.execute(query).scalars())


def revoke_api_key(session: Session, *, key_id: int, brand_id: int | None = None) -> ApiKey:
    """Mark a key revoked (idempotent: revoking twice keeps the first time).

    With ``brand_id`` (a brand-restricted administrator) only that brand's keys can be
    revoked; any other key answers "not found", so its existence is not disclosed.
    """
    row = session.get(ApiKey, key_id)
    if row is None or (brand_id is not None and row.brand_id != brand_id):
        raise NotFound(f"API key {key_id} not found")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.flush()
    return row


def verify_api_key(session: Session, key: str) -> Principal | None:
    """The principal for a valid, unrevoked key, else ``None``."""
    prefix = _split(key)
    if prefix is None:
        return None
    row = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, hash_key(key)):
        return None
    return Principal(
        key_id=row.id, scopes=row.scope_set, brand_id=row.brand_id, last_used_at=row.last_used_at
    )


def last_used_is_stale(principal: Principal) -> bool:
    """Whether ``last_used_at`` is older than :data:`LAST_USED_RESOLUTION` (or unset)."""
    last = principal.last_used_at
    return last is None or datetime.now(UTC) - last >= LAST_USED_RESOLUTION


def touch_api_key(session: Session, principal: Principal) -> None:
    """Record use of the key now."""
    now = datetime.now(UTC)
    session.execute(update(ApiKey).where(ApiKey.id == principal.key_id).values(last_used_at=now))
