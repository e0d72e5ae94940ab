"""Generic importer: any store's order lines (CSV or Parquet) with a column mapping file.

The mapping (YAML) names the store's columns for each canonical field, the number and
date formats, the encoding, and how cancellations are marked: by a status word, or by an
invoice prefix (``C536379`` cancels ``536379`` when that order is known; otherwise it is
kept as a canceled order so nothing is lost). See ``docs/importing.md``.

Each file row is one order line. Orders are written in chunks of whole orders (customers,
products, items, payments, cancellations together), each chunk in its own transaction,
so an interrupted import leaves whole orders only and re-running finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as PydanticField
from sqlalchemy import Engine, select

from recompra.config import get_settings
from recompra.db import unit_of_work
from recompra.errors import InvalidInput
from recompra.hub.aftersale import upsert_returns
from recompra.hub.catalog import slugify, upsert_categories, upsert_products
from recompra.hub.customers import customer_record, external_identity, upsert_customers
from recompra.hub.importers.files import read_table
from recompra.hub.orders import upsert_orders
from recompra.hub.parsing import ParseOptions
from recompra.hub.rejects import ImportReport, Reject
from recompra.hub.validate import LINE, Field, validate_frame
from recompra.models import Order

Progress = Callable[[str, int, int], None]

#: Canonical order-line fields and how each is parsed.
LINE_FIELDS = [
    Field("order_id", required=True),
    Field("purchased_at", "timestamp", required=True),
    Field("customer_id"),
    Field("email", "email"),
    Field("document", "document"),
    Field("phone", "phone"),
    Field("customer_name"),
    Field("city"),
    Field("state"),
    Field("zip_prefix"),
    Field("birth_date", "date"),
    Field("status"),
    Field("channel"),
    Field("currency"),
    Field("line_number", "int", minimum=1),
    Field("product_id", required=True),
    Field("product_name"),
    Field("category"),
    Field("quantity", "int"),
    Field("unit_price", "money", required=True),
    Field("freight", "money", minimum=0),
    Field("discount", "money", minimum=0),
    Field("payment_type"),
    Field("installments", "int", minimum=1),
    Field("approved_at", "timestamp"),
    Field("delivered_at", "timestamp"),
]
CUSTOMER_FIELDS = [
    Field("customer_id"),
    Field("email", "email"),
    Field("document", "document"),
    Field("phone", "phone"),
    Field("customer_name"),
    Field("city"),
    Field("state"),
    Field("zip_prefix"),
    Field("birth_date", "date"),
]

#: Status words understood without a ``status_map`` (pt-BR and en).
DEFAULT_STATUSES = {
    "": "delivered",
    "criado": "created",
    "created": "created",
    "pendente": "created",
    "pending": "created",
    "aprovado": "approved",
    "pago": "approved",
    "paid": "approved",
    "approved": "approved",
    "faturado": "invoiced",
    "invoiced": "invoiced",
    "processando": "processing",
    "processing": "processing",
    "enviado": "shipped",
    "shipped": "shipped",
    "entregue": "delivered",
    "delivered": "delivered",
    "completed": "delivered",
    "concluido": "delivered",
    "cancelado": "canceled",
    "canceled": "canceled",
    "cancelled": "canceled",
    "indisponivel": "unavailable",
    "unavailable": "unavailable",
    "devolvido": "returned",
    "returned": "returned",
}


class Cancellation(BaseModel):
    """How the source marks cancellations."""

    model_config = ConfigDict(extra="forbid")
    statuses: list[str] = PydanticField(default_factory=lambda: ["cancelado", "canceled"])
    invoice_prefix: str | None = None


class Mapping(BaseModel):
    """A store's import mapping (validated; unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")
    source: str = PydanticField(min_length=1, max_length=64)
    format: Literal["csv", "parquet"] | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: Literal[",", "."] = "."
    thousands: str | None = None
    date_formats: list[str] = PydanticField(
        default_factory=lambda: ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
    )
    timezone: str = "UTC"
    currency: str = "BRL"
    status_map: dict[str, str] = PydanticField(default_factory=dict)
    cancellation: Cancellation = PydanticField(default_factory=Cancellation)
    columns: dict[str, str]
    customer_columns: dict[str, str] = PydanticField(default_factory=dict)

    def options(self) -> ParseOptions:
        """Parsing options of this source."""
        return ParseOptions(
            decimal=self.decimal,
            thousands=self.thousands,
            date_formats=tuple(self.date_formats),
            timezone=self.timezone,
            currency=self.currency,
            encoding=self.encoding,
            delimiter=self.delimiter,
        )


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping file; errors name the offending key."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        mapping = Mapping.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise InvalidInput(f"mapping {path}: {exc}", field="mapping") from exc
    known = {f.name for f in LINE_FIELDS}
    unknown = sorted(set(mapping.columns) - known)
    if unknown:
        raise InvalidInput(
            f"mapping {path}: unknown fields {unknown}; known: {sorted(known)}", field="columns"
        )
    for required in ("order_id", "purchased_at", "product_id", "unit_price"):
        if required not in mapping.columns:
            raise InvalidInput(f"mapping {path}: columns.{required} is required", field="columns")
    return mapping


def _canonical(frame: pd.DataFrame, columns: dict[str, str], file: str) -> pd.DataFrame:
    missing = [source for source in columns.values() if source not in frame.columns]
    if missing:
        raise InvalidInput(f"{file}: columns {missing} named in the mapping are not in the file")
    renamed = pd.DataFrame({canonical: frame[source] for canonical, source in columns.items()})
    renamed[LINE] = frame[LINE].to_numpy()
    if "_fields_error" in frame:
        renamed["_fields_error"] = frame["_fields_error"].to_numpy()
    return renamed


def _customer_key(row: dict[str, Any]) -> tuple[str, str] | None:
    for kind in ("customer_id", "document", "email", "phone"):
        if row.get(kind):
            return kind, str(row[kind])
    return None


def import_mapped_files(
    engine: Engine,
    mapping: Mapping,
    files: Sequence[Path],
    *,
    customers_file: Path | None = None,
    brand_id: int,
    progress: Progress | None = None,
) -> ImportReport:
    """Import order-line files (and an optional customers file) described by ``mapping``."""
    report = ImportReport()
    tick = progress or (lambda _stage, _done, _total: None)
    options = mapping.options()
    if customers_file is not None:
        _import_customers_file(engine, mapping, customers_file, brand_id, report)
        tick("customers", 1, 1)
    frames = []
    for path in files:
        raw = _canonical(read_table(Path(path), options), mapping.columns, Path(path).name)
        valid = validate_frame(
            raw,
            LINE_FIELDS,
            entity="order_items",
            file=Path(path).name,
            options=options,
            report=report,
        )
        frames.append(valid.assign(_file=Path(path).name))
    lines = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if lines.empty:
        return report
    lines = _reject_lines_without_customer(lines, report)
    import_order_lines(engine, mapping, lines, brand_id=brand_id, report=report, progress=tick)
    return report


def _reject_lines_without_customer(lines: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    has_identity = pd.Series(False, index=lines.index)
    for column in ("customer_id", "email", "document", "phone"):
        if column in lines:
            has_identity |= lines[column].notna()
    for _, row in lines[~has_identity].iterrows():
        report.reject(
            Reject(
                "order_items",
                str(row["_file"]),
                int(row[LINE]),
                "customer_id",
                "",
                "no customer identity: customer_id, email, document or phone is required",
            )
        )
    report.entity("order_items").rejected += int((~has_identity).sum())
    return lines[has_identity].reset_index(drop=True)


def import_order_lines(
    engine: Engine,
    mapping: Mapping,
    lines: pd.DataFrame,
    *,
    brand_id: int,
    report: ImportReport,
    progress: Progress | None = None,
) -> None:
    """Write validated canonical order lines, in chunks of whole orders."""
    tick = progress or (lambda _stage, _done, _total: None)
    prefix = mapping.cancellation.invoice_prefix
    cancel_words = {w.lower() for w in mapping.cancellation.statuses}
    statuses = {**DEFAULT_STATUSES, **{k.lower(): v for k, v in mapping.status_map.items()}}
    records = cast(list[dict[str, Any]], lines.to_dict("records"))
    by_order: dict[str, list[dict[str, Any]]] = {}
    for row in records:
        by_order.setdefault(str(row["order_id"]), []).append(row)
    order_ids = list(by_order)
    total = len(order_ids)
    chunk_size = get_settings().import_chunk_orders
    for start in range(0, total, chunk_size):
        chunk = {oid: by_order[oid] for oid in order_ids[start : start + chunk_size]}
        with unit_of_work(engine) as session:
            _write_chunk(session, mapping, chunk, brand_id, report, statuses, cancel_words, prefix)
        tick("orders", min(start + chunk_size, total), total)


def _write_chunk(
    session: Any,
    mapping: Mapping,
    orders: dict[str, list[dict[str, Any]]],
    brand_id: int,
    report: ImportReport,
    statuses: dict[str, str],
    cancel_words: set[str],
    prefix: str | None,
) -> None:
    source = mapping.source
    cancellations: dict[str, list[dict[str, Any]]] = {}
    if prefix:
        for oid in [o for o in orders if o.startswith(prefix)]:
            original = oid[len(prefix) :]
            known = original in orders or session.scalar(
                select(Order.id).where(
                    Order.brand_id == brand_id,
                    Order.source == source,
                    Order.external_id == original,
                )
            )
            if known:
                cancellations[oid] = orders.pop(oid)

    rows = [r for lines in orders.values() for r in lines]
    people: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = _customer_key(row)
        if key is not None:
            people.setdefault(key, customer_record(row, source))
    customers = report.entity("customers")
    customers.read += len(people)
    identity_map = upsert_customers(
        session, brand_id=brand_id, records=list(people.values()), counts=customers
    )

    category_rows = {slugify(str(r["category"])): r["category"] for r in rows if r.get("category")}
    report.entity("categories").read += len(category_rows)
    category_ids = upsert_categories(
        session,
        brand_id=brand_id,
        rows=[{"slug": slug, "name_pt": name} for slug, name in category_rows.items()],
        counts=report.entity("categories"),
    )
    # Line prices are not list prices (discounts, price changes): products get names and
    # categories only, so re-reading old orders does not rewrite the catalogue.
    products: dict[str, dict[str, Any]] = {}
    for row in rows:
        products[str(row["product_id"])] = {
            "external_id": str(row["product_id"]),
            "name": row.get("product_name"),
            "category_id": category_ids.get(slugify(str(row["category"])))
            if row.get("category")
            else None,
        }
    report.entity("products").read += len(products)
    product_ids = upsert_products(
        session,
        brand_id=brand_id,
        source=source,
        rows=list(products.values()),
        counts=report.entity("products"),
    )

    order_rows, item_rows, pay_rows = [], [], []
    for oid, lines in orders.items():
        first = lines[0]
        customer_id = _resolve_customer(first, identity_map, source, brand_id)
        raw_status = str(first.get("status") or "").strip()
        canceled = raw_status.lower() in cancel_words or bool(prefix and oid.startswith(prefix))
        status = "canceled" if canceled else statuses.get(raw_status.lower(), "delivered")
        order_rows.append(
            {
                "external_id": oid,
                "customer_id": customer_id,
                "status": status,
                "raw_status": raw_status or None,
                "channel": first.get("channel"),
                "currency": first.get("currency") or mapping.currency,
                "purchased_at": first["purchased_at"],
                "approved_at": first.get("approved_at"),
                "delivered_at": first.get("delivered_at"),
            }
        )
        for position, line in enumerate(lines, start=1):
            # Cancellation invoices carry negative quantities; the order status says it.
            quantity = abs(int(line.get("quantity") or 1)) or 1
            item_rows.append(
                {
                    "order_external_id": oid,
                    "line_number": line.get("line_number") or position,
                    "product_id": product_ids[str(line["product_id"])],
                    "quantity": quantity,
                    "unit_price_minor": abs(int(line["unit_price"])),
                    "freight_minor": line.get("freight") or 0,
                    "discount_minor": line.get("discount") or 0,
                }
            )
        if first.get("payment_type"):
            pay_rows.append(
                {
                    "order_external_id": oid,
                    "sequence": 1,
                    "payment_type": str(first["payment_type"]).lower(),
                    "installments": first.get("installments") or 1,
                    "amount_minor": None,  # set below from the order total
                }
            )
    report.entity("orders").read += len(order_rows)
    if pay_rows:
        totals = {
            o: sum(
                abs(int(li.get("quantity") or 1)) * abs(int(li["unit_price"]))
                - int(li.get("discount") or 0)
                + int(li.get("freight") or 0)
                for li in orders[o]
            )
            for o in orders
        }
        for pay in pay_rows:
            pay["amount_minor"] = totals[str(pay["order_external_id"])]
        report.entity("payments").read += len(pay_rows)
    order_pks = upsert_orders(
        session,
        brand_id=brand_id,
        source=source,
        orders=order_rows,
        items=item_rows,
        payments=pay_rows,
        report=report,
    )
    if cancellations:
        _write_cancellations(session, mapping, cancellations, order_pks, brand_id, report, prefix)


def _resolve_customer(
    row: dict[str, Any], identity_map: dict[Any, int], source: str, brand_id: int
) -> int:
    candidates = []
    if row.get("customer_id"):
        candidates.append(external_identity(brand_id, source, str(row["customer_id"])))
    if row.get("document"):
        kind, digits = str(row["document"]).split(":", 1)
        candidates.append((kind, "", digits))
    if row.get("email"):
        candidates.append(("email", "", str(row["email"])))
    if row.get("phone"):
        candidates.append(("phone", "", str(row["phone"])))
    for candidate in candidates:
        if candidate in identity_map:
            return identity_map[candidate]
    raise KeyError(f"customer of order {row['order_id']} was not resolved")


def _write_cancellations(
    session: Any,
    mapping: Mapping,
    cancellations: dict[str, list[dict[str, Any]]],
    order_pks: dict[str, int],
    brand_id: int,
    report: ImportReport,
    prefix: str | None,
) -> None:
    assert prefix is not None
    items = report.entity("order_items")
    rows = []
    for oid, lines in cancellations.items():
        # These lines are cancellations, not items: move them out of the items' counts.
        items.read -= len(lines)
        original = oid[len(prefix) :]
        original_pk = order_pks.get(str(original)) or session.scalar(
            select(Order.id).where(
                Order.brand_id == brand_id,
                Order.source == mapping.source,
                Order.external_id == original,
            )
        )
        amount = sum(abs(int(li.get("quantity") or 1)) * abs(int(li["unit_price"])) for li in lines)
        rows.append(
            {
                "external_id": oid,
                "order_id": original_pk,
                "kind": "cancellation",
                "reason": f"cancellation invoice {oid}",
                "amount_minor": amount,
                "currency": lines[0].get("currency") or mapping.currency,
                "created_at": lines[0]["purchased_at"],
            }
        )
    counts = report.entity("cancellations")
    counts.read += len(rows)
    upsert_returns(session, brand_id=brand_id, source=mapping.source, rows=rows, counts=counts)


def _import_customers_file(
    engine: Engine, mapping: Mapping, path: Path, brand_id: int, report: ImportReport
) -> None:
    if not mapping.customer_columns:
        raise InvalidInput("a customers file needs customer_columns in the mapping")
    options = mapping.options()
    raw = _canonical(read_table(path, options), mapping.customer_columns, path.name)
    valid = validate_frame(
        raw, CUSTOMER_FIELDS, entity="customers", file=path.name, options=options, report=report
    )
    valid = _reject_customers_without_identity(valid, path.name, report)
    with unit_of_work(engine) as session:
        upsert_customers(
            session,
            brand_id=brand_id,
            records=[
                customer_record(cast(dict[str, Any], r), mapping.source)
                for r in valid.to_dict("records")
            ],
            counts=report.entity("customers"),
        )


def _reject_customers_without_identity(
    frame: pd.DataFrame, file: str, report: ImportReport
) -> pd.DataFrame:
    has_identity = frame[["customer_id", "email", "document", "phone"]].notna().any(axis=1)
    for line in frame.loc[~has_identity, LINE]:
        report.reject(
            Reject("customers", file, int(line), "customer_id", "", "no customer identity")
        )
    report.entity("customers").rejected += int((~has_identity).sum())
    return frame[has_identity].reset_index(drop=True)
