"""Upserts of returns/cancellations, reviews and events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from recompra.hub.rejects import EntityCounts
from recompra.hub.upsert import upsert_rows
from recompra.models import Event, Return, Review
from recompra.models.base import utcnow

_RETURNS: Table = Return.__table__  # type: ignore[assignment]
_REVIEWS: Table = Review.__table__  # type: ignore[assignment]
_EVENTS: Table = Event.__table__  # type: ignore[assignment]
REVIEW_COMPARE = (
    "order_id",
    "customer_id",
    "score",
    "title",
    "comment",
    "created_at",
    "answered_at",
)


def _scoped(rows: Sequence[dict[str, Any]], brand_id: int, source: str) -> list[dict[str, Any]]:
    return [{**r, "brand_id": brand_id, "source": source} for r in rows]


def upsert_returns(
    session: Session,
    *,
    brand_id: int,
    source: str,
    rows: Sequence[dict[str, Any]],
    counts: EntityCounts,
) -> dict[str, int]:
    """Upsert returns and cancellations (``external_id``, ``order_id``, ``kind``, ...)."""
    result = upsert_rows(
        session,
        _RETURNS,
        _scoped(rows, brand_id, source),
        key=("brand_id", "source", "external_id"),
        compare=("order_id", "kind", "reason", "amount_minor", "currency", "created_at"),
        counts=counts,
    )
    return {key[2]: rid for key, rid in result.ids.items()}


def upsert_reviews(
    session: Session,
    *,
    brand_id: int,
    source: str,
    rows: Sequence[dict[str, Any]],
    counts: EntityCounts,
) -> dict[str, int]:
    """Upsert reviews (``external_id``, ``order_id``, ``customer_id``, ``score``, ...)."""
    result = upsert_rows(
        session,
        _REVIEWS,
        _scoped(rows, brand_id, source),
        key=("brand_id", "source", "external_id"),
        compare=(
            "order_id",
            "customer_id",
            "score",
            "title",
            "comment",
            "created_at",
            "answered_at",
        ),
        counts=counts,
    )
    return {key[2]: rid for key, rid in result.ids.items()}


def upsert_events(
    session: Session,
    *,
    brand_id: int,
    source: str,
    rows: Sequence[dict[str, Any]],
    counts: EntityCounts,
) -> dict[str, int]:
    """Upsert events keyed by ``external_id`` (``type``, ``occurred_at``, ``payload``, ...)."""
    now = utcnow()
    payload = [{"created_at": now, "payload": {}, **r} for r in _scoped(rows, brand_id, source)]
    result = upsert_rows(
        session,
        _EVENTS,
        payload,
        key=("brand_id", "source", "external_id"),
        compare=("customer_id", "type", "occurred_at", "payload"),
        counts=counts,
    )
    return {key[2]: eid for key, eid in result.ids.items()}
