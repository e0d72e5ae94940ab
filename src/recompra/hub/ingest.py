"""Record-level ingest (the REST API's write path): same validation and rejects as importers.

Each function takes a batch of JSON-shaped records, turns them into the canonical text
frame the importers validate (a synthetic ``_line`` per row), runs
:func:`~recompra.hub.validate.validate_frame` and writes the valid records with the hub's
upserts. A rejected record never blocks the others; every problem is reported with the
record's position in the batch (``index``), the field (as the API names it), the value
and the reason. Re-sending a batch writes nothing new (upserts by natural key).

Money is integer minor units (``unit_price_minor: 5890`` is R$ 58,90), timestamps ISO-8601
(naive ones are UTC). Orders are written by
:func:`~recompra.hub.importers.csv_mapping.import_order_lines` (whole orders per chunk);
an order with one bad item is rejected whole, so no order is stored with missing items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from recompra.db import unit_of_work
from recompra.hub.aftersale import upsert_events, upsert_returns, upsert_reviews
from recompra.hub.customers import (
    customer_record,
    external_identity,
    identities_of,
    lookup_identities,
    upsert_customers,
)
from recompra.hub.importers.csv_mapping import (
    CUSTOMER_FIELDS,
    LINE_FIELDS,
    Mapping,
    import_order_lines,
)
from recompra.hub.parsing import ParseOptions
from recompra.hub.rejects import EntityCounts, ImportReport, Reject
from recompra.hub.validate import LINE, Field, validate_frame
from recompra.models import BrandCustomer, Order, Return

FILE = "request"

#: API field name -> canonical customer field (in orders under ``customer.``).
CUSTOMER_KEYS = {
    "id": "customer_id",
    "email": "email",
    "document": "document",
    "phone": "phone",
    "name": "customer_name",
    "city": "city",
    "state": "state",
    "zip_prefix": "zip_prefix",
    "birth_date": "birth_date",
}
#: API order fields that are canonical line fields under the same name.
ORDER_KEYS = (
    "order_id",
    "purchased_at",
    "status",
    "channel",
    "currency",
    "payment_type",
    "installments",
    "approved_at",
    "delivered_at",
)
#: API item field -> canonical line field.
ITEM_KEYS = {
    "line_number": "line_number",
    "product_id": "product_id",
    "product_name": "product_name",
    "category": "category",
    "quantity": "quantity",
    "unit_price_minor": "unit_price",
    "freight_minor": "freight",
    "discount_minor": "discount",
}
_IDENTITY = ("customer_id", "email", "document", "phone")

#: Longest accepted text per canonical field (the database column sizes).
MAX_LENGTH = {
    "order_id": 128,
    "status": 64,
    "channel": 32,
    "currency": 3,
    "payment_type": 32,
    "product_id": 128,
    "product_name": 300,
    "category": 100,
    "customer_id": 128,
    "customer_name": 200,
    "email": 320,
    "city": 120,
    "state": 2,
    "zip_prefix": 10,
    "return_id": 128,
    "review_id": 128,
    "event_id": 128,
    "reason": 300,
    "title": 300,
    "type": 64,
}


def _api_money(spec: Field) -> Field:
    # The API sends integer minor units, so money fields are validated as whole numbers;
    # prices and quantities must be positive (the importers accept negative cancellation
    # lines, which the API expresses as returns instead).
    if spec.kind == "money":
        return replace(spec, kind="int", minimum=0)
    if spec.name == "quantity":
        return replace(spec, minimum=1)
    return spec


API_LINE_FIELDS = [_api_money(f) for f in LINE_FIELDS]
RETURN_FIELDS = [
    Field("return_id", required=True),
    Field("order_id", required=True),
    Field("kind", choices=("return", "cancellation")),
    Field("amount_minor", "int", required=True, minimum=0),
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


@dataclass(frozen=True)
class IngestReject:
    """One problem with one record of a batch."""

    index: int
    field: str
    value: str
    reason: str


@dataclass
class IngestResult:
    """What happened to a batch: per-record outcome, counts per entity and the rejects.

    ``ids`` holds, per record position, the stored row's id (``None`` when rejected).
    """

    entity: str
    received: int
    ids: list[int | None]
    counts: dict[str, EntityCounts]
    rejects: list[IngestReject] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Records rejected (each counted once, whatever its number of problems)."""
        return len({r.index for r in self.rejects})

    @property
    def accepted(self) -> int:
        """Records written or found unchanged."""
        return self.received - self.rejected


def _options(currency: str) -> ParseOptions:
    return ParseOptions(
        date_formats=("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"),
        timezone="UTC",
        currency=currency,
    )


def _text(value: Any) -> str:
    """The raw text of a JSON scalar, as an importer would read it from a file."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Batch:
    """Rows of one validation frame, the record each came from, and the problems found."""

    def __init__(self, entity: str, report: ImportReport) -> None:
        self.entity = entity
        self.report = report
        self.rows: list[dict[str, str]] = []
        self.origin: list[tuple[int, Callable[[str], str]]] = []
        self.problems: dict[tuple[int, str, str], IngestReject] = {}

    def add(self, index: int, row: dict[str, str], name: Callable[[str], str]) -> None:
        """Add a canonical row of record ``index``; ``name`` maps a column to the API field."""
        self.origin.append((index, name))
        self.rows.append(row)

    def problem(self, index: int, field_name: str, value: str, reason: str) -> None:
        """Record a problem of record ``index`` (duplicates are folded)."""
        key = (index, field_name, reason)
        self.problems.setdefault(key, IngestReject(index, field_name, value, reason))

    def validate(self, fields: list[Field], options: ParseOptions) -> pd.DataFrame:
        """Length checks, then :func:`validate_frame`; return the valid typed rows."""
        frame = pd.DataFrame(self.rows, columns=[f.name for f in fields], dtype=object)
        frame = frame.fillna("")
        frame[LINE] = range(len(self.rows))
        too_long = [""] * len(self.rows)
        for position, row in enumerate(self.rows):
            for name, value in row.items():
                limit = MAX_LENGTH.get(name)
                if limit is not None and len(value) > limit:
                    too_long[position] = f"{name} is longer than {limit} characters"
                    index, api_name = self.origin[position]
                    self.problem(index, api_name(name), value[:100], too_long[position])
        if any(too_long):
            frame["_fields_error"] = too_long
        before = len(self.report.rejects)
        valid = validate_frame(
            frame, fields, entity=self.entity, file=FILE, options=options, report=self.report
        )
        for reject in self.report.rejects[before:]:
            if reject.column == "*":
                continue  # the length problem, already recorded with its field
            index, api_name = self.origin[reject.line]
            self.problem(index, api_name(reject.column), reject.value, reject.reason)
        return valid

    def reject_rows(self, lines: Sequence[int], field_name: str, value: str, reason: str) -> None:
        """Reject valid rows found wrong later (unknown order, too large an amount...)."""
        for line in lines:
            index, api_name = self.origin[line]
            self.problem(index, api_name(field_name), value, reason)
            self.report.reject(Reject(self.entity, FILE, line, field_name, value, reason))
        self.report.entity(self.entity).rejected += len(lines)

    def bad_indexes(self) -> set[int]:
        """Positions of the records with at least one problem."""
        return {index for index, _, _ in self.problems}

    def result(self, received: int, ids: list[int | None]) -> IngestResult:
        """The batch's result (rejects ordered by record, then field)."""
        rejects = sorted(self.problems.values(), key=lambda r: (r.index, r.field, r.reason))
        for r in rejects:
            ids[r.index] = None
        return IngestResult(self.entity, received, ids, self.report.counts, rejects)


def _same(name: str) -> str:
    return name


def _customer_row(customer: dict[str, Any]) -> dict[str, str]:
    return {canonical: _text(customer.get(key)) for key, canonical in CUSTOMER_KEYS.items()}


def _customer_name(prefix: str) -> Callable[[str], str]:
    api = {canonical: key for key, canonical in CUSTOMER_KEYS.items()}

    def name(column: str) -> str:
        return prefix + api.get(column, column)

    return name


def _has_identity(row: dict[str, Any]) -> bool:
    return any(row.get(k) not in (None, "") for k in _IDENTITY)


def ingest_customers(
    engine: Engine,
    *,
    brand_id: int,
    source: str,
    customers: Sequence[dict[str, Any]],
    currency: str = "BRL",
) -> IngestResult:
    """Create or update customers (identity resolution as in the importers)."""
    report = ImportReport()
    batch = _Batch("customers", report)
    for index, customer in enumerate(customers):
        batch.add(index, _customer_row(customer), _customer_name(""))
    valid = batch.validate(CUSTOMER_FIELDS, _options(currency))
    records = cast(list[dict[str, Any]], valid.to_dict("records"))
    without = [int(r[LINE]) for r in records if not _has_identity(r)]
    batch.reject_rows(without, "customer_id", "", "no customer identity: id, e-mail, CPF or phone")
    records = [r for r in records if _has_identity(r)]
    ids: list[int | None] = [None] * len(customers)
    with unit_of_work(engine) as session:
        payload = [customer_record(r, source) for r in records]
        identity_map = upsert_customers(
            session, brand_id=brand_id, records=payload, counts=report.entity("customers")
        )
    for row, record in zip(records, payload, strict=True):
        index = batch.origin[int(row[LINE])][0]
        ids[index] = identity_map[identities_of(record, brand_id)[0]]
    return batch.result(len(customers), ids)


def _order_rows(batch: _Batch, orders: Sequence[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    item_api = {canonical: key for key, canonical in ITEM_KEYS.items()}
    customer_api = {canonical: f"customer.{key}" for key, canonical in CUSTOMER_KEYS.items()}
    for index, order in enumerate(orders):
        order_id = _text(order.get("order_id")).strip()
        if order_id and order_id in seen:
            batch.problem(
                index, "order_id", order_id, f"repeats the order at index {seen[order_id]}"
            )
        seen.setdefault(order_id, index)
        items = order.get("items") or []
        if not items:
            batch.problem(index, "items", "", "an order needs at least one item")
        numbers = [_text(i.get("line_number")).strip() for i in items]
        given = [n for n in numbers if n]
        if len(set(given)) != len(given):
            batch.problem(index, "items", "", "line_number repeats within the order")
        header = {key: _text(order.get(key)) for key in ORDER_KEYS}
        header.update(_customer_row(order.get("customer") or {}))
        for position, item in enumerate(items):
            row = dict(header)
            row.update({canonical: _text(item.get(key)) for key, canonical in ITEM_KEYS.items()})

            def name(column: str, position: int = position) -> str:
                if column in item_api:
                    return f"items[{position}].{item_api[column]}"
                return customer_api.get(column, column)

            batch.add(index, row, name)


def ingest_orders(
    engine: Engine,
    *,
    brand_id: int,
    source: str,
    orders: Sequence[dict[str, Any]],
    currency: str = "BRL",
) -> IngestResult:
    """Create or update orders with their items, customer, products and payment."""
    report = ImportReport()
    batch = _Batch("order_items", report)
    _order_rows(batch, orders)
    valid = batch.validate(API_LINE_FIELDS, _options(currency))
    lines = cast(list[dict[str, Any]], valid.to_dict("records"))
    for line in lines:
        if not _has_identity(line):
            index = batch.origin[int(line[LINE])][0]
            batch.problem(
                index, "customer", "", "no customer identity: id, e-mail, CPF or phone is required"
            )
    # One bad line (or a header problem found before validation) rejects the whole order.
    bad = batch.bad_indexes()
    dropped = [int(line[LINE]) for line in lines if batch.origin[int(line[LINE])][0] in bad]
    report.entity("order_items").rejected += len(dropped)
    for line_no in dropped:
        report.reject(Reject("order_items", FILE, line_no, "*", "", "order rejected"))
    keep = [line for line in lines if batch.origin[int(line[LINE])][0] not in bad]
    mapping = Mapping(
        source=source, currency=currency, columns={f.name: f.name for f in LINE_FIELDS}
    )
    if keep:
        # Filter the typed frame (object columns keep None; a new frame would hold NaN).
        frame = valid[~valid[LINE].isin(dropped)].reset_index(drop=True)
        import_order_lines(engine, mapping, frame, brand_id=brand_id, report=report)
    ids: list[int | None] = [None] * len(orders)
    wanted = {str(line["order_id"]): batch.origin[int(line[LINE])][0] for line in keep}
    if wanted:
        with unit_of_work(engine, write=False) as session:
            for order_pk, external in _orders_by_external(session, brand_id, source, list(wanted)):
                ids[wanted[external]] = order_pk
    return batch.result(len(orders), ids)


def _orders_by_external(
    session: Session, brand_id: int, source: str, externals: list[str]
) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for start in range(0, len(externals), 1000):
        rows = session.execute(
            select(Order.id, Order.external_id).where(
                Order.brand_id == brand_id,
                Order.source == source,
                Order.external_id.in_(externals[start : start + 1000]),
            )
        ).all()
        found.extend((int(r[0]), str(r[1])) for r in rows)
    return found


def _plain_rows(
    batch: _Batch, records: Sequence[dict[str, Any]], fields: list[Field], key: str
) -> None:
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        row = {f.name: _text(record.get(f.name)) for f in fields}
        external = row.get(key, "").strip()
        if external and external in seen:
            batch.problem(index, key, external, f"repeats the record at index {seen[external]}")
        seen.setdefault(external, index)
        batch.add(index, row, _same)


def _order_lookup(
    session: Session, brand_id: int, source: str, externals: list[str]
) -> dict[str, tuple[int, int, int]]:
    """Order id, customer id and total of each external order id of the brand."""
    out: dict[str, tuple[int, int, int]] = {}
    for start in range(0, len(externals), 1000):
        rows = session.execute(
            select(Order.external_id, Order.id, Order.customer_id, Order.total_minor).where(
                Order.brand_id == brand_id,
                Order.source == source,
                Order.external_id.in_(externals[start : start + 1000]),
            )
        ).all()
        out.update({str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows})
    return out


def _brand_customers(
    session: Session, brand_id: int, source: str, rows: list[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Customers of the brand named by external id or e-mail in ``rows``."""
    wanted: list[tuple[str, str, str]] = []
    for row in rows:
        if row.get("customer_id"):
            wanted.append(external_identity(brand_id, source, str(row["customer_id"])))
        if row.get("email"):
            wanted.append(("email", "", str(row["email"])))
    known = lookup_identities(session, wanted)
    members = set(
        session.scalars(
            select(BrandCustomer.customer_id).where(
                BrandCustomer.brand_id == brand_id,
                BrandCustomer.customer_id.in_(set(known.values()) or {-1}),
            )
        )
    )
    # Another brand's customer is as unknown here as a customer that does not exist.
    return {(kind, value): cid for (kind, _, value), cid in known.items() if cid in members}


def _plain_batch(
    report: ImportReport,
    entity: str,
    records: Sequence[dict[str, Any]],
    fields: list[Field],
    id_field: str,
    currency: str,
) -> tuple[_Batch, list[dict[str, Any]]]:
    """Validate flat records; return the batch and the rows of records with no problem."""
    batch = _Batch(entity, report)
    _plain_rows(batch, records, fields, id_field)
    valid = batch.validate(fields, _options(currency))
    bad = batch.bad_indexes()
    rows = [
        r
        for r in cast(list[dict[str, Any]], valid.to_dict("records"))
        if batch.origin[int(r[LINE])][0] not in bad
    ]
    report.entity(entity).rejected += len(valid) - len(rows)
    return batch, rows


def _store_keyed(
    session: Session,
    upsert: Callable[..., dict[str, int]],
    *,
    brand_id: int,
    source: str,
    rows: list[dict[str, Any]],
    counts: EntityCounts,
    batch: _Batch,
    ids: list[int | None],
) -> None:
    """Upsert rows keyed by ``external_id`` and record each stored id at its record index."""
    stored = upsert(
        session,
        brand_id=brand_id,
        source=source,
        rows=[{k: v for k, v in r.items() if k != LINE} for r in rows],
        counts=counts,
    )
    for r in rows:
        ids[batch.origin[r[LINE]][0]] = stored[r["external_id"]]


def ingest_returns(
    engine: Engine,
    *,
    brand_id: int,
    source: str,
    returns: Sequence[dict[str, Any]],
    currency: str = "BRL",
) -> IngestResult:
    """Record returns/cancellations of the brand's orders (amounts up to the order total)."""
    report = ImportReport()
    batch, rows = _plain_batch(report, "returns", returns, RETURN_FIELDS, "return_id", currency)
    ids: list[int | None] = [None] * len(returns)
    with unit_of_work(engine) as session:
        orders = _order_lookup(session, brand_id, source, [str(r["order_id"]) for r in rows])
        returned = _returned_so_far(
            session, brand_id, source, [o[0] for o in orders.values()], rows
        )
        accepted: list[dict[str, Any]] = []
        for row in rows:
            line, external = int(row[LINE]), str(row["order_id"])
            found = orders.get(external)
            if found is None:
                reason = f"no order {external!r} from source {source!r} in this brand"
                batch.reject_rows([line], "order_id", external, reason)
                continue
            order_pk, _, total = found
            amount = int(row["amount_minor"])
            if returned.get(order_pk, 0) + amount > total:
                reason = (
                    f"returns of order {external!r} would total "
                    f"{returned.get(order_pk, 0) + amount}, more than its total {total}"
                )
                batch.reject_rows([line], "amount_minor", str(amount), reason)
                continue
            returned[order_pk] = returned.get(order_pk, 0) + amount
            accepted.append(
                {
                    "external_id": str(row["return_id"]),
                    "order_id": order_pk,
                    "kind": row.get("kind") or "return",
                    "reason": row.get("reason"),
                    "amount_minor": amount,
                    "currency": row.get("currency") or currency,
                    "created_at": row["created_at"],
                    LINE: line,
                }
            )
        _store_keyed(
            session,
            upsert_returns,
            brand_id=brand_id,
            source=source,
            rows=accepted,
            counts=report.entity("returns"),
            batch=batch,
            ids=ids,
        )
    return batch.result(len(returns), ids)


def _returned_so_far(
    session: Session, brand_id: int, source: str, order_ids: list[int], rows: list[dict[str, Any]]
) -> dict[int, int]:
    """Amounts already returned per order, leaving out the returns this batch re-sends."""
    if not order_ids:
        return {}
    resent = [str(r["return_id"]) for r in rows]
    statement = (
        select(Return.order_id, func.sum(Return.amount_minor))
        .where(Return.order_id.in_(order_ids))
        .where(
            ~((Return.brand_id == brand_id) & (Return.source == source))
            | Return.external_id.not_in(resent or [""])
        )
        .group_by(Return.order_id)
    )
    return {int(o): int(s or 0) for o, s in session.execute(statement).all()}


def ingest_reviews(
    engine: Engine,
    *,
    brand_id: int,
    source: str,
    reviews: Sequence[dict[str, Any]],
    currency: str = "BRL",
) -> IngestResult:
    """Record reviews (score 1-5) of the brand's orders or customers."""
    report = ImportReport()
    batch, rows = _plain_batch(report, "reviews", reviews, REVIEW_FIELDS, "review_id", currency)
    ids: list[int | None] = [None] * len(reviews)
    with unit_of_work(engine) as session:
        orders = _order_lookup(
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
            upsert_reviews,
            brand_id=brand_id,
            source=source,
            rows=accepted,
            counts=report.entity("reviews"),
            batch=batch,
            ids=ids,
        )
    return batch.result(len(reviews), ids)


def ingest_events(
    engine: Engine,
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
    batch, rows = _plain_batch(report, "events", events, EVENT_FIELDS, "event_id", currency)
    ids: list[int | None] = [None] * len(events)
    with unit_of_work(engine) as session:
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
            upsert_events,
            brand_id=brand_id,
            source=source,
            rows=keyed,
            counts=counts,
            batch=batch,
            ids=ids,
        )
        for r in anonymous:
            # No natural key: each one is a new event (upsert_rows needs unique keys).
            one = upsert_events(
                session,
                brand_id=brand_id,
                source=source,
                rows=[{k: v for k, v in r.items() if k != LINE}],
                counts=counts,
            )
            ids[batch.origin[r[LINE]][0]] = next(iter(one.values()), None)
    return batch.result(len(events), ids)
