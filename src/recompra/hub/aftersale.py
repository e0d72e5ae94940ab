"""Upserts of returns/cancellations, reviews and events (keyed by brand, source, id)."""

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
RETURN_COMPARE = ("order_id", "kind", "reason", "amount_minor", "currency", "created_at")
REVIEW_COMPARE = (
    "order_id",
    "customer_id",
    "score",
    "title",
    "comment",
    "created_at",
    "answered_at",
)
EVENT_COMPARE = ("customer_id", "type", "occurred_at", "payload")


def upsert_by_source_key(
    session: Session,
    table: Table,
    *,
    brand_id: int,
    source: str,
    rows: Sequence[dict[str, Any]],
    compare: Sequence[str],
    counts: EntityCounts,
) -> dict[str, int]:
    """Upsert rows keyed by ``(brand_id, source, external_id)``; return ids by external id."""
    scoped = [{**r, "brand_id": brand_id, "source": source} for r in rows]
    result = upsert_rows(
        session,
        table,
        scoped,
        key=("brand_id", "source", "external_id"),
        compare=compare,
        counts=counts,
    )
    return {key[2]: row_id for key, row_id in result.ids.items()}


def upsert_returns(
    session: Session,
    *,
    brand_id: int,
    source: str,
    rows: Sequence[dict[str, Any]],
    counts: EntityCounts,
) -> dict[str, int]:
    """Upsert returns and cancellations (``external_id``, ``order_id``, ``kind``, ...)."""
    return upsert_by_source_key(
        session,
        _RETURNS,
        brand_id=brand_id,
        source=source,
        rows=rows,
        compare=RETURN_COMPARE,
        counts=counts,
    )


def upsert_reviews(
    session: Session,
    *,
    brand_id: int,
    source: str,
    rows: Sequence[dict[str, Any]],
    counts: EntityCounts,
) -> dict[str, int]:
    """Upsert reviews (``external_id``, ``order_id``, ``customer_id``, ``score``, ...)."""
    return upsert_by_source_key(
        session,
        _REVIEWS,
        brand_id=brand_id,
        source=source,
        rows=rows,
        compare=REVIEW_COMPARE,
        counts=counts,
    )


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
    return upsert_by_source_key(
        session,
        _EVENTS,
        brand_id=brand_id,
        source=source,
        rows=[{"created_at": now, "payload": {}, **r} for r in rows],
        compare=EVENT_COMPARE,
        counts=counts,
    )
