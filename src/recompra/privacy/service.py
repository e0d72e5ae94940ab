"""Data-subject requests end to end: export, erasure and the retention policy.

Each request is recorded (:class:`~recompra.models.PrivacyRequest`) when it arrives and
marked fulfilled only once everything is done, so an interrupted erasure stays visible
as unfulfilled. Erasure and retention share one path (:func:`erase_customers`): the
database rows (:mod:`.erasure`), then the files under the data directory (:mod:`.files`),
then the SQLite file itself is compacted so that the erased bytes do not survive in free
pages or in the write-ahead log.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, exists, func, select
from sqlalchemy.orm import Session

from recompra.db import unit_of_work
from recompra.db.dialect import is_sqlite
from recompra.errors import Forbidden, NotFound
from recompra.models import BrandCustomer, Customer, Event, Order, PrivacyRequest
from recompra.privacy import audit
from recompra.privacy.erasure import erase_rows, identifiers, replace_everywhere
from recompra.privacy.files import erase_in_files
from recompra.privacy.inventory import Holdings, collect
from recompra.spreadsheets import TEXT, csv_bytes

#: Checkpoint attempts while another connection still reads the old WAL frames.
_CHECKPOINT_TRIES = 50


@dataclass(frozen=True)
class Fulfilled:
    """A fulfilled request: its record's id, when, and what it covered (counts only)."""

    request_id: int
    fulfilled_at: datetime
    summary: dict[str, Any]


def _check_scope(session: Session, customer_id: int, brand_id: int | None) -> None:
    """Refuse a customer the caller may not act on.

    A brand-restricted caller acts only on customers of its brand who buy from no other
    brand: the person's data at another brand belongs to that brand's request.
    """
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} not found")
    if brand_id is None:
        return
    brands = set(
        session.execute(
            select(BrandCustomer.brand_id).where(BrandCustomer.customer_id == customer_id)
        ).scalars()
    )
    if brand_id not in brands:
        raise NotFound(f"customer {customer_id} not found")
    if brands != {brand_id}:
        raise Forbidden(
            f"customer {customer_id} also buys from other brands: "
            "an installation-wide administrator must handle this request"
        )


def _open_request(
    engine: Engine, kind: str, customer_id: int, actor: str, brand_id: int | None
) -> int:
    with unit_of_work(engine) as session:
        _check_scope(session, customer_id, brand_id)
        row = PrivacyRequest(kind=kind, customer_id=customer_id, requested_by=actor[:200])
        session.add(row)
        session.flush()
        return row.id


def _close_request(
    session: Session, request_id: int, summary: dict[str, Any], actor: str, brand_id: int | None
) -> Fulfilled:
    row = session.get(PrivacyRequest, request_id)
    assert row is not None
    row.fulfilled_at = datetime.now(UTC)
    row.summary = summary
    audit.record(
        session,
        actor=actor,
        action=f"privacy.{row.kind}",
        target=f"customer:{row.customer_id}",
        brand_id=brand_id,
    )
    return Fulfilled(row.id, row.fulfilled_at, summary)


def export_customer(
    engine: Engine, customer_id: int, *, actor: str, brand_id: int | None = None
) -> tuple[Fulfilled, Holdings]:
    """Everything held about ``customer_id``, with the request recorded and audited."""
    request_id = _open_request(engine, "export", customer_id, actor, brand_id)
    with unit_of_work(engine) as session:
        holdings = collect(session, customer_id)
        done = _close_request(session, request_id, {"rows": holdings.counts()}, actor, brand_id)
    return done, holdings


def _plain(value: Any) -> Any:
    """A cell as JSON and CSV can hold it."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def export_json(holdings: Holdings) -> bytes:
    """The export as one JSON document: ``{"customer_id": .., "tables": {name: rows}}``."""
    tables = {
        name: [{k: _plain(v) for k, v in row.items()} for row in rows]
        for name, rows in holdings.rows.items()
        if rows
    }
    document = {"customer_id": holdings.customer_id, "tables": tables}
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()


def table_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """One table's rows as CSV (every column as text, JSON cells as JSON)."""
    names = list(rows[0]) if rows else []

    def cell(value: Any) -> str | int | None:
        plain = _plain(value)
        if isinstance(plain, (dict, list, bool)):
            return json.dumps(plain, ensure_ascii=False)
        return plain if plain is None or isinstance(plain, (str, int)) else str(plain)

    return csv_bytes([(n, TEXT) for n in names], ([cell(r[n]) for n in names] for r in rows))


def export_files(holdings: Holdings) -> dict[str, bytes]:
    """``export.json`` and one ``<table>.csv`` per table with rows."""
    files = {"export.json": export_json(holdings)}
    for name, rows in holdings.rows.items():
        if rows:
            files[f"{name}.csv"] = table_csv(rows)
    return files


def export_zip(holdings: Holdings) -> bytes:
    """:func:`export_files` in one ZIP archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in export_files(holdings).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def compact_sqlite(engine: Engine) -> None:
    """Rebuild a SQLite file without free pages and empty its write-ahead log, so erased
    values survive neither in freed pages nor in old WAL frames (no-op elsewhere)."""
    if not is_sqlite(engine):
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("VACUUM")
        # VACUUM itself went through the WAL: copy it back and truncate the log to zero
        # bytes. A reader still on old frames makes the checkpoint report busy; retry.
        for _ in range(_CHECKPOINT_TRIES):
            busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                break
            time.sleep(0.1)
        cursor.close()
    finally:
        raw.close()


def _database_file(engine: Engine) -> Path | None:
    name = engine.url.database
    return Path(name) if is_sqlite(engine) and name else None


def erase_customers(
    engine: Engine,
    customer_ids: Sequence[int],
    *,
    kind: str,
    actor: str,
    home: Path,
    brand_id: int | None = None,
) -> list[Fulfilled]:
    """Erase each customer's personal data (``kind``: ``erase`` or ``retention``)."""
    done: list[Fulfilled] = []
    pending: list[tuple[int, dict[str, Any]]] = []
    request_ids = [
        _open_request(engine, kind, customer_id, actor, brand_id) for customer_id in customer_ids
    ]
    all_values: set[str] = set()
    with unit_of_work(engine) as session:
        for request_id, customer_id in zip(request_ids, customer_ids, strict=True):
            holdings = collect(session, customer_id)
            all_values.update(identifiers(holdings))
            pending.append((request_id, erase_rows(session, holdings).summary()))
        values = sorted(all_values, key=len, reverse=True)
        replaced = replace_everywhere(session, values)
    files = erase_in_files(home, set(customer_ids), values, database=_database_file(engine))
    compact_sqlite(engine)
    shared = {
        "replaced": replaced,
        "files_rewritten": files.rewritten,
        "files_deleted": files.deleted,
    }
    with unit_of_work(engine) as session:
        for request_id, summary in pending:
            done.append(_close_request(session, request_id, {**summary, **shared}, actor, brand_id))
    return done


def erase_customer(
    engine: Engine, customer_id: int, *, actor: str, home: Path, brand_id: int | None = None
) -> Fulfilled:
    """Erase one customer's personal data (a data-subject request)."""
    return erase_customers(
        engine, [customer_id], kind="erase", actor=actor, home=home, brand_id=brand_id
    )[0]


def inactive_customers(session: Session, *, days: int, now: datetime) -> list[int]:
    """Customers with no order and no event in the last ``days`` days, not merged into
    another and not already anonymised. A customer with no order or event at all counts
    from its creation (a customer imported yesterday with orders of 2019 is inactive)."""
    cutoff = now - timedelta(days=days)
    order = exists().where(Order.customer_id == Customer.id)
    event = exists().where(Event.customer_id == Customer.id)
    recent_order = order.where(Order.purchased_at >= cutoff)
    recent_event = event.where(Event.occurred_at >= cutoff)
    anonymised = exists().where(
        PrivacyRequest.customer_id == Customer.id,
        PrivacyRequest.kind.in_(("erase", "retention")),
        PrivacyRequest.fulfilled_at.is_not(None),
    )
    query = (
        select(Customer.id)
        .where(
            Customer.merged_into_id.is_(None),
            ~recent_order,
            ~recent_event,
            order | event | (Customer.created_at < cutoff),
            ~anonymised,
        )
        .order_by(Customer.id)
    )
    return list(session.execute(query).scalars())


def apply_retention(
    engine: Engine, *, days: int, actor: str, home: Path, now: datetime | None = None
) -> list[Fulfilled]:
    """Anonymise every customer inactive for ``days`` days (the retention policy)."""
    with unit_of_work(engine, write=False) as session:
        ids = inactive_customers(session, days=days, now=now or datetime.now(UTC))
    return erase_customers(engine, ids, kind="retention", actor=actor, home=home)


def request_count(session: Session, *, kind: str) -> int:
    """How many requests of ``kind`` were fulfilled (for the dashboard's summary)."""
    count = session.scalar(
        select(func.count())
        .select_from(PrivacyRequest)
        .where(PrivacyRequest.kind == kind, PrivacyRequest.fulfilled_at.is_not(None))
    )
    return count or 0
