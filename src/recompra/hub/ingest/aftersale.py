"""Ingest what follows a sale: returns (up to the order total), reviews and events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.db.dialect import in_values
from recompra.hub.aftersale import EVENTS, REVIEWS, SourceKeyedTable
from recompra.hub.canonical import CanonicalReturn
from recompra.hub.customers import external_identity, lookup_identities, personal_identity
from recompra.hub.ingest.batch import Batch, IngestResult, flat_batch
from recompra.hub.rejects import EntityCounts, ImportReport
from recompra.hub.returns import order_lookup, write_returns
from recompra.hub.validate import LINE, Field
from recompra.models import BrandCustomer

#: Amounts are checked by the return rules (``recompra.hub.rules.return_problem``).
RETURN_FIELDS = [
    Field("return_id", required=True),
    Field("order_id", required=True),
    Field("kind", choices=("return", "cancellation")),
    Field("amount_minor", "int", required=True),
    Field("currency"),
    Field("reason"),
    Field("created_at", "timestamp", required=True),
]
REVIEW_FIELDS = [
    Field("review_id", required=True),
    Field("order_id"),
    Field("customer_id"),
    Field("score", "int", required=True, minimum=1, maximum=5),
    Field("title"),
    Field("comment"),
    Field("created_at", "timestamp", required=True),
    Field("answered_at", "timestamp"),
]
EVENT_FIELDS = [
    Field("event_id"),
    Field("type", required=True),
    Field("occurred_at", "timestamp", required=True),
    Field("customer_id"),
    Field("email", "email"),
]


def ingest_returns(
    session: Session,
    *,
    brand_id: int,
    source: str,
    returns: Sequence[dict[str, Any]],
    currency: str = "BRL",
) -> IngestResult:
    """Record returns/cancellations of the brand's orders (amounts up to the order total)."""
    report = ImportReport()
    batch, rows = flat_batch(report, "returns", returns, RETURN_FIELDS, "return_id", currency)
    ids: list[int | None] = [None] * len(returns)

    def on_reject(item: CanonicalReturn, column: str, value: str, reason: str) -> None:
        batch.row_problem(item.origin, column, value, reason)

    stored = write_returns(
        session,
        brand_id=brand_id,
        source=source,
        returns=[
            CanonicalReturn(
                external_id=str(row["return_id"]),
                order=str(row["order_id"]),
                kind=row.get("kind") or "return",
                reason=row.get("reason"),
                amount_minor=int(row["amount_minor"]),
                currency=row.get("currency") or currency,
                created_at=row["created_at"],
                origin=int(row[LINE]),
            )
            for row in rows
        ],
        counts=report.entity("returns"),
        on_reject=on_reject,
    )
    for row in rows:
        ids[batch.origin[int(row[LINE])][0]] = stored.ids.get(str(row["return_id"]))
    return batch.result(len(returns), ids)


def _brand_customers(
    session: Session, brand_id: int, source: str, rows: list[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Customers of the brand named by external id or e-mail in ``rows``."""
    wanted: list[tuple[str, str, str]] = []
    for row in rows:
        if row.get("customer_id"):
            wanted.append(external_identity(brand_id, source, str(row["customer_id"])))
        if row.get("email"):
            wanted.append(personal_identity(brand_id, "email", str(row["email"])))
    known = lookup_identities(session, wanted)
    members = set(
        session.scalars(
            select(BrandCustomer.customer_id).where(
                BrandCustomer.brand_id == brand_id,
                in_values(session, BrandCustomer.customer_id, set(known.values()) or {-1}),
            )
        )
    )
    # Another brand's customer is as unknown here as a customer that does not exist.
    return {(kind, value): cid for (kind, _, value), cid in known.items() if cid in members}


def _store_keyed(
    session: Session,
    keyed_table: SourceKeyedTable,
    *,
    brand_id: int,
    source: str,
    rows: list[dict[str, Any]],
    counts: EntityCounts,
    batch: Batch,
    ids: list[int | None],
) -> None:
    """Upsert rows keyed by ``external_id`` and record each stored id at its record index."""
    stored = keyed_table.upsert(
        session,
        brand_id=brand_id,
        source=source,
        rows=[{k: v for k, v in r.items() if k != LINE} for r in rows],
        counts=counts,
    )
    for r in rows:
        ids[batch.origin[r[LINE]][0]] = stored[r["external_id"]]


def ingest_reviews(
    session: Session,
    *,
    brand_id: int,
    source: str,
    reviews: Sequence[dict[str, Any]],
    currency: str = "BRL",
) -> IngestResult:
    """Record reviews (score 1-5) of the brand's orders or customers."""
    report = ImportReport()
    batch, rows = flat_batch(report, "reviews", reviews, REVIEW_FIELDS, "review_id", currency)
    ids: list[int | None] = [None] * len(reviews)
    orders = order_lookup(
        session, brand_id, source, [str(r["order_id"]) for r in rows if r.get("order_id")]
    )
    people = _brand_customers(session, brand_id, source, rows)
    accepted: list[dict[str, Any]] = []
    for row in rows:
        line = int(row[LINE])
        order_pk = customer_pk = None
        if row.get("order_id"):
            found = orders.get(str(row["order_id"]))
            if found is None:
                reason = f"no order {row['order_id']!r} from source {source!r} in this brand"
                batch.reject_rows([line], "order_id", str(row["order_id"]), reason)
                continue
            order_pk, customer_pk = found[0], found[1]
        elif row.get("customer_id"):
            customer_pk = people.get(("external", str(row["customer_id"])))
            if customer_pk is None:
                reason = f"no customer {row['customer_id']!r} from source {source!r}"
                batch.reject_rows([line], "customer_id", str(row["customer_id"]), reason)
                continue
        else:
            batch.reject_rows([line], "order_id", "", "order_id or customer_id is required")
            continue
        accepted.append(
            {
                "external_id": str(row["review_id"]),
                "order_id": order_pk,
                "customer_id": customer_pk,
                "score": int(row["score"]),
                "title": row.get("title"),
                "comment": row.get("comment"),
                "created_at": row["created_at"],
                "answered_at": row.get("answered_at"),
                LINE: line,
            }
        )
    _store_keyed(
        session,
        REVIEWS,
        brand_id=brand_id,
        source=source,
        rows=accepted,
        counts=report.entity("reviews"),
        batch=batch,
        ids=ids,
    )
    return batch.result(len(reviews), ids)


def ingest_events(
    session: Session,
    *,
    brand_id: int,
    source: str,
    events: Sequence[dict[str, Any]],
    currency: str = "BRL",
) -> IngestResult:
    """Record customer events (page views, carts, clicks...) with a JSON payload.

    Events with an ``event_id`` are upserted by it; events without one are always added.
    """
    report = ImportReport()
    batch, rows = flat_batch(report, "events", events, EVENT_FIELDS, "event_id", currency)
    ids: list[int | None] = [None] * len(events)
    people = _brand_customers(session, brand_id, source, rows)
    keyed: list[dict[str, Any]] = []
    anonymous: list[dict[str, Any]] = []
    for row in rows:
        line = int(row[LINE])
        customer_pk = None
        for kind, column in (("external", "customer_id"), ("email", "email")):
            if row.get(column) and customer_pk is None:
                customer_pk = people.get((kind, str(row[column])))
                if customer_pk is None:
                    reason = f"no customer {row[column]!r} in this brand"
                    batch.reject_rows([line], column, str(row[column]), reason)
                    break
        else:
            payload = events[batch.origin[line][0]].get("payload") or {}
            event = {
                "external_id": row.get("event_id"),
                "customer_id": customer_pk,
                "type": str(row["type"]),
                "occurred_at": row["occurred_at"],
                "payload": payload,
                LINE: line,
            }
            (keyed if event["external_id"] else anonymous).append(event)
    counts = report.entity("events")
    _store_keyed(
        session,
        EVENTS,
        brand_id=brand_id,
        source=source,
        rows=keyed,
        counts=counts,
        batch=batch,
        ids=ids,
    )
    for r in anonymous:
        # No natural key: each one is a new event (upsert_rows needs unique keys).
        one = EVENTS.upsert(
            session,
            brand_id=brand_id,
            source=source,
            rows=[{k: v for k, v in r.items() if k != LINE}],
            counts=counts,
        )
        ids[batch.origin[r[LINE]][0]] = next(iter(one.values()), None)
    return batch.result(len(events), ids)
