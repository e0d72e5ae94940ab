"""Idempotency keys: ``(program_id, scope, key)`` is unique, the stored result replays.

A write first looks the key up (under its account lock); when absent it claims the key
in a savepoint. A concurrent writer with the same key that got there first makes the
insert fail with an ``IntegrityError``: the savepoint is rolled back and the caller
replays the stored result instead of writing twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recompra.errors import InvalidInput
from recompra.models.base import utcnow
from recompra.models.loyalty import LoyaltyIdempotencyKey

MAX_KEY_LENGTH = 128


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"idempotency key must be 1-{MAX_KEY_LENGTH} characters", field="request_key"
        )


def find_result(
    session: Session, *, program_id: int, scope: str, key: str
) -> dict[str, Any] | None:
    """The stored result of an earlier write with this key, or ``None``."""
    _check_key(key)
    stmt = select(LoyaltyIdempotencyKey.result).where(
        LoyaltyIdempotencyKey.program_id == program_id,
        LoyaltyIdempotencyKey.scope == scope,
        LoyaltyIdempotencyKey.key == key,
    )
    return session.scalars(stmt).first()


def claim_key(
    session: Session, *, program_id: int, scope: str, key: str
) -> LoyaltyIdempotencyKey | None:
    """Insert the key; ``None`` when another transaction already holds it."""
    _check_key(key)
    row = LoyaltyIdempotencyKey(
        program_id=program_id, scope=scope, key=key, result={}, created_at=utcnow()
    )
    if session.get_bind().dialect.name == "sqlite":
        # BEGIN IMMEDIATE serialises writers: the lookup under the write lock is final,
        # so the row is simply flushed with the rest of the unit of work.
        session.add(row)
        return row
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row
