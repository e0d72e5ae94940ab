"""API keys: creation, revocation, verification and the record of their use.

A key looks like ``rk_<prefix>_<secret>``: the prefix (public, unique) finds the row, the
SHA-256 of the whole key is compared in constant time. Keys carry 256 bits of entropy,
so a fast hash is enough (passwords, in :mod:`recompra.auth.users`, use argon2).

:class:`VerifiedKeys` remembers verified keys for a few seconds, so a request does not
read its key's row (issue 20: a read unit of work per request); revocations committed in
the process drop the key at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session

from recompra.db import unit_of_work
from recompra.errors import InvalidInput, NotFound
from recompra.models import ApiKey, Brand
from recompra.models.auth import API_SCOPES

KEY_PREFIX = "rk_"
#: ``last_used_at`` is written at most this often per key (a write per request would
#: serialise every read behind SQLite's write lock).
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: How long a verified key is trusted without reading its row again. A revocation
#: committed in this process takes effect at its commit; one committed by another process
#: (the CLI, another API worker) within this many seconds.
KEY_CACHE_TTL_S = 5.0
#: ``Session.info`` entry listing the keys revoked in the session's transaction.
_REVOKED = "recompra_revoked_key_ids"


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
        session.info.setdefault(_REVOKED, set()).add(row.id)
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


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key a request presents: ``Authorization: Bearer <key>``, else the
    ``X-API-Key`` header (what the API documents; the scheme is case-insensitive)."""
    scheme, _, credentials = (authorization or "").partition(" ")
    credentials = credentials.strip()
    if credentials and scheme.lower() == "bearer":
        return credentials
    return x_api_key or None


def last_used_is_stale(principal: Principal) -> bool:
    """Whether ``last_used_at`` is older than :data:`LAST_USED_RESOLUTION` (or unset)."""
    last = principal.last_used_at
    return last is None or datetime.now(UTC) - last >= LAST_USED_RESOLUTION


def touch_api_key(session: Session, principal: Principal) -> None:
    """Record use of the key now."""
    now = datetime.now(UTC)
    session.execute(update(ApiKey).where(ApiKey.id == principal.key_id).values(last_used_at=now))


class VerifiedKeys:
    """Keys verified in the last :data:`KEY_CACHE_TTL_S` seconds, by their SHA-256.

    Only valid keys are remembered (unknown ones cannot grow the cache). Every instance
    forgets a key when a transaction that revoked it commits in this process.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        ttl_s: float = KEY_CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        #: Bumped by every revocation: a lookup that began before it stores nothing.
        self._generation = 0
        _caches.add(self)

    def cached(self, key: str) -> Principal | None:
        """The remembered principal of ``key`` if still fresh (no database access)."""
        entry = self._entries.get(hash_key(key))
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def verify(self, key: str) -> Principal | None:
        """Read and check ``key``'s row, and remember it when valid (blocking)."""
        generation = self._generation
        with unit_of_work(self.engine, write=False) as session:
            principal = verify_api_key(session, key)
        if principal is not None:
            with self._lock:
                if generation == self._generation:
                    self._entries[hash_key(key)] = (self.clock() + self.ttl_s, principal)
        return principal

    def touch(self, key: str, principal: Principal) -> Principal:
        """Record the key's use now (blocking); the remembered principal follows."""
        with unit_of_work(self.engine) as session:
            touch_api_key(session, principal)
        touched = replace(principal, last_used_at=datetime.now(UTC))
        with self._lock:
            digest = hash_key(key)
            entry = self._entries.get(digest)
            if entry is not None and entry[1].key_id == principal.key_id:
                self._entries[digest] = (entry[0], touched)
        return touched

    def forget(self, key_ids: Iterable[int]) -> None:
        """Drop the remembered entries of ``key_ids``."""
        ids = set(key_ids)
        with self._lock:
            self._generation += 1
            for digest, (_, principal) in list(self._entries.items()):
                if principal.key_id in ids:
                    del self._entries[digest]


_caches: weakref.WeakSet[VerifiedKeys] = weakref.WeakSet()


@event.listens_for(Session, "after_commit")
def _forget_revoked_keys(session: Session) -> None:
    # After the commit, not at revoke time: a lookup between the two would read the
    # still-valid row and remember it again. SQLAlchemy fires this when a savepoint
    # (begin_nested) is released too: only the real commit counts, for the same reason.
    if session.in_nested_transaction():
        return
    revoked: set[int] | None = session.info.pop(_REVOKED, None)
    if revoked:
        for cache in list(_caches):
            cache.forget(revoked)
