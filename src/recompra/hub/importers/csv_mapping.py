"""Generic importer: any store's order lines (CSV or Parquet) with a column mapping file.

The mapping (YAML) names the store's columns for each canonical field, the number and
date formats, the encoding, and how cancellations are marked: by a status word, or by an
invoice prefix (``C536379`` cancels ``536379`` when that order is known; otherwise it is
kept as a canceled order so nothing is lost). See ``docs/importing.md``.

Each file row is one order line. Lines are grouped into canonical orders and written by
the hub's order writer in chunks of whole orders (customers, products, items, payments
together), each chunk in its own transaction, so an interrupted import leaves whole
orders only and re-running finishes the job; cancellation invoices go through the return
writer once the orders are in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as PydanticField
from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.errors import InvalidInput
from recompra.hub.canonical import (
    STATUS_WORDS,
    CanonicalOrder,
    CanonicalReturn,
    OrderStatus,
    order_from_rows,
)
from recompra.hub.customers import customer_record, upsert_customers
from recompra.hub.importers.files import read_table
from recompra.hub.orders import write_orders_in_chunks
from recompra.hub.parsing import ParseOptions
from recompra.hub.rejects import ImportReport, Reject
from recompra.hub.returns import order_lookup, write_returns
from recompra.hub.rules import (
    CUSTOMER_FIELDS,
    IDENTITY_FIELDS,
    LINE_FIELDS,
    NO_IDENTITY,
    Problem,
)
from recompra.hub.validate import LINE, validate_frame

Progress = Callable[[str, int, int], None]


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
    status_map: dict[str, OrderStatus] = PydanticField(default_factory=dict)
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
    records = cast(list[dict[str, Any]], lines.to_dict("records"))
    orders, cancellations = _lines_to_orders(engine, mapping, brand_id, records, report)

    def on_reject(order: CanonicalOrder, problems: list[Problem]) -> None:
        for problem in problems:
            row = records[problem.line.origin if problem.line else order.origin]
            column = "customer_id" if problem.field == "customer" else problem.field
            report.reject(
                Reject(
                    "order_items",
                    str(row["_file"]),
                    int(row[LINE]),
                    column,
                    problem.value,
                    problem.reason,
                )
            )

    write_orders_in_chunks(
        engine,
        brand_id=brand_id,
        source=mapping.source,
        orders=orders,
        report=report,
        on_reject=on_reject,
        progress=tick,
    )
    if cancellations:
        _write_cancellations(engine, mapping, brand_id, cancellations, records, report)
    return report


def _reject_lines_without_customer(lines: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    has_identity = pd.Series(False, index=lines.index)
    for column in IDENTITY_FIELDS:
        if column in lines:
            has_identity |= lines[column].notna()
    for file, line in zip(
        lines.loc[~has_identity, "_file"], lines.loc[~has_identity, LINE], strict=True
    ):
        report.reject(Reject("order_items", str(file), int(line), "customer_id", "", NO_IDENTITY))
    report.entity("order_items").rejected += int((~has_identity).sum())
    return lines[has_identity].reset_index(drop=True)


def _lines_to_orders(
    engine: Engine,
    mapping: Mapping,
    brand_id: int,
    records: list[dict[str, Any]],
    report: ImportReport,
) -> tuple[list[CanonicalOrder], list[CanonicalReturn]]:
    """Group validated lines into canonical orders; split off cancellation invoices.

    The ``origin`` of a line (and of its order: its first line) is its position in
    ``records``, so that a problem the writer finds is reported at its file and line.
    A cancellation invoice (``C1001``) of an order in these files or already imported is
    a cancellation of that order; otherwise it is kept as a canceled order.
    """
    prefix = mapping.cancellation.invoice_prefix
    by_order: dict[str, list[int]] = {}
    for position, row in enumerate(records):
        by_order.setdefault(str(row["order_id"]), []).append(position)
    invoices = [oid for oid in by_order if prefix and oid.startswith(prefix)]
    known: set[str] = set()
    if prefix and invoices:
        originals = [oid[len(prefix) :] for oid in invoices]
        with unit_of_work(engine, write=False) as session:
            known = set(order_lookup(session, brand_id, mapping.source, originals))
        known |= {o for o in originals if o in by_order}
    orders: list[CanonicalOrder] = []
    cancellations: list[CanonicalReturn] = []
    for oid, positions in by_order.items():
        lines = [records[p] for p in positions]
        if prefix and oid.startswith(prefix) and oid[len(prefix) :] in known:
            # These lines are a cancellation, not items: move them out of the items' counts.
            report.entity("order_items").read -= len(lines)
            cancellations.append(
                _cancellation(mapping, oid, oid[len(prefix) :], lines, positions[0])
            )
        else:
            orders.append(_order(mapping, oid, lines, positions))
    report.entity("orders").read += len(orders)
    report.entity("payments").read += sum(len(o.payments) for o in orders)
    return orders, cancellations


def _order(
    mapping: Mapping, oid: str, lines: list[dict[str, Any]], positions: list[int]
) -> CanonicalOrder:
    statuses = {**STATUS_WORDS, **{k.lower(): v for k, v in mapping.status_map.items()}}
    cancel_words = {w.lower() for w in mapping.cancellation.statuses}
    prefix = mapping.cancellation.invoice_prefix
    raw_status = str(lines[0].get("status") or "").strip().lower()
    canceled = raw_status in cancel_words or bool(prefix and oid.startswith(prefix))
    # Cancellation invoices carry negative quantities and prices; the status says it.
    unsigned = [
        {**line, "quantity": _unsigned_quantity(line), "unit_price": abs(int(line["unit_price"]))}
        for line in lines
    ]
    return order_from_rows(
        unsigned,
        source=mapping.source,
        currency=mapping.currency,
        status=OrderStatus.CANCELED
        if canceled
        else statuses.get(raw_status, OrderStatus.DELIVERED),
        origins=positions,
    )


def _unsigned_quantity(line: dict[str, Any]) -> int:
    return abs(int(line.get("quantity") or 1)) or 1


def _cancellation(
    mapping: Mapping, oid: str, original: str, lines: list[dict[str, Any]], origin: int
) -> CanonicalReturn:
    return CanonicalReturn(
        external_id=oid,
        order=original,
        kind="cancellation",
        reason=f"cancellation invoice {oid}",
        amount_minor=sum(_unsigned_quantity(li) * abs(int(li["unit_price"])) for li in lines),
        currency=lines[0].get("currency") or mapping.currency,
        created_at=lines[0]["purchased_at"],
        origin=origin,
    )


def _write_cancellations(
    engine: Engine,
    mapping: Mapping,
    brand_id: int,
    cancellations: list[CanonicalReturn],
    records: list[dict[str, Any]],
    report: ImportReport,
) -> None:
    counts = report.entity("cancellations")
    counts.read += len(cancellations)

    def on_reject(item: CanonicalReturn, column: str, value: str, reason: str) -> None:
        row = records[item.origin]
        report.reject(
            Reject("cancellations", str(row["_file"]), int(row[LINE]), column, value, reason)
        )

    with unit_of_work(engine) as session:
        write_returns(
            session,
            brand_id=brand_id,
            source=mapping.source,
            returns=cancellations,
            counts=counts,
            on_reject=on_reject,
        )


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
    has_identity = frame[list(IDENTITY_FIELDS)].notna().any(axis=1)
    for line in frame.loc[~has_identity, LINE]:
        report.reject(Reject("customers", file, int(line), "customer_id", "", NO_IDENTITY))
    report.entity("customers").rejected += int((~has_identity).sum())
    return frame[has_identity].reset_index(drop=True)
