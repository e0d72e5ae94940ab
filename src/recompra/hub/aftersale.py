"""Upserts of returns/cancellations, reviews and events (keyed by brand, source, id)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from recompra.hub.rejects import EntityCounts
from recompra.hub.upsert import upsert_rows
from recompra.models import Event, Return, Review
from recompra.models.base import utcnow


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


@dataclass(frozen=True)
class SourceKeyedTable:
    """A hub table written by ``(brand_id, source, external_id)`` with fixed compared columns."""

    table: Table
    #: The columns whose change makes a re-sent row an update.
    compare: tuple[str, ...]
    #: Values a row gets when it does not carry them, made once per upsert.
    defaults: Callable[[], dict[str, Any]] = dict

    def upsert(
        self,
        session: Session,
        *,
        brand_id: int,
        source: str,
        rows: Sequence[dict[str, Any]],
        counts: EntityCounts,
    ) -> dict[str, int]:
        """Upsert ``rows`` (each with an ``external_id``); return ids by external id."""
        defaults = self.defaults()
        return upsert_by_source_key(
            session,
            self.table,
            brand_id=brand_id,
            source=source,
            rows=[{**defaults, **r} for r in rows] if defaults else rows,
            compare=self.compare,
            counts=counts,
        )


def _event_defaults() -> dict[str, Any]:
    # An event records when the hub heard of it; its payload is optional.
    return {"created_at": utcnow(), "payload": {}}


#: Returns and cancellations (``external_id``, ``order_id``, ``kind``, ...).
RETURNS = SourceKeyedTable(
    Return.__table__,  # type: ignore[arg-type]
    compare=("order_id", "kind", "reason", "amount_minor", "currency", "created_at"),
)
#: Reviews (``external_id``, ``order_id``, ``customer_id``, ``score``, ...).
REVIEWS = SourceKeyedTable(
    Review.__table__,  # type: ignore[arg-type]
    compare=("order_id", "customer_id", "score", "title", "comment", "created_at", "answered_at"),
)
#: Customer events (``external_id``, ``type``, ``occurred_at``, ``payload``, ...).
EVENTS = SourceKeyedTable(
    Event.__table__,  # type: ignore[arg-type]
    compare=("customer_id", "type", "occurred_at", "payload"),
    defaults=_event_defaults,
)
