"""Generic importer: any store's order lines (CSV or Parquet) with a column mapping file.

The mapping (YAML) names the store's columns for each canonical field, the number and
date formats, the encoding, how cancellations and returns are marked (a status word, an
invoice prefix, negative quantities) and which products are not merchandise. See
``docs/importing.md``.

Each file row is one order line. Every line is checked before anything is written
(:mod:`recompra.hub.importers.mapped_lines`): nothing is changed silently, every problem
is a reject. Purchase lines are grouped into canonical orders and written by the hub's
order writer in chunks of whole orders, each chunk in its own transaction, so an
interrupted import leaves whole orders only and re-running finishes the job. Return lines
are then matched to the purchases they give back (:mod:`recompra.hub.return_matching`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as PydanticField
from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.errors import InvalidInput
from recompra.hub.canonical import CanonicalOrder, OrderStatus, order_from_rows
from recompra.hub.customers import customer_record, upsert_customers
from recompra.hub.importers.files import read_table
from recompra.hub.importers.mapped_lines import FILE, POSITION, check_lines
from recompra.hub.orders import Progress, write_orders_in_chunks
from recompra.hub.parsing import ParseOptions
from recompra.hub.rejects import EntityCounts, ImportReport, Reject
from recompra.hub.return_matching import ReturnLine, match_returns
from recompra.hub.rules import (
    CUSTOMER_FIELDS,
    IDENTITY_FIELDS,
    LINE_FIELDS,
    NO_IDENTITY,
    Problem,
)
from recompra.hub.validate import LINE, validate_frame


class Cancellation(BaseModel):
    """How the source marks cancellations."""

    model_config = ConfigDict(extra="forbid")
    statuses: list[str] = PydanticField(default_factory=lambda: ["cancelado", "canceled"])
    #: Invoices starting with it are cancellations: their negative lines give back
    #: earlier purchases of the same customer and product.
    invoice_prefix: str | None = None
    #: Any line with a negative quantity is a return (counted in the report).
    negative_quantity_is_return: bool = False


class NonMerchandise(BaseModel):
    """Lines that are not merchandise: postage, fees, vouchers, adjustments."""

    model_config = ConfigDict(extra="forbid")
    #: Product ids (exact).
    products: list[str] = PydanticField(default_factory=list)
    #: A regular expression searched in the product id and name (case-insensitive).
    pattern: str | None = None


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
    non_merchandise: NonMerchandise = PydanticField(default_factory=NonMerchandise)
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
    if not Path(path).is_file():
        raise InvalidInput(f"mapping file {path} not found", field="mapping")
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


def _canonical(
    frame: pd.DataFrame, columns: dict[str, str], file: str, delimiter: str
) -> pd.DataFrame:
    missing = [source for source in columns.values() if source not in frame.columns]
    if missing:
        found = [c for c in frame.columns if c not in (LINE, "_fields_error")]
        listed = ", ".join(repr(c) for c in found[:20])
        raise InvalidInput(
            f"{file}: columns {missing} named in the mapping are not in the file; found "
            f"{len(found)} column{'' if len(found) == 1 else 's'}: {listed}. Check the "
            f"mapping's delimiter {delimiter!r} and column names."
        )
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
    typed, raw, parse_rejects = [], [], []
    for path in files:
        name = Path(path).name
        text = _canonical(read_table(Path(path), options), mapping.columns, name, mapping.delimiter)
        # The parser's counts are not kept: check_lines counts each line once, whole.
        scratch = ImportReport()
        parsed = validate_frame(
            text,
            LINE_FIELDS,
            entity="order_items",
            file=name,
            options=options,
            report=scratch,
            keep_bad=True,
        )
        typed.append(parsed.assign(**{FILE: name}))
        raw.append(text)
        parse_rejects.extend(scratch.rejects)
    if not typed:
        return report
    records = cast(list[dict[str, Any]], pd.concat(typed, ignore_index=True).to_dict("records"))
    texts = pd.concat(raw, ignore_index=True)
    checked = check_lines(records, texts, parse_rejects, mapping, report)
    orders = _orders(checked.purchases, mapping)
    report.entity("orders").read += len(orders)
    report.entity("payments").read += sum(len(o.payments) for o in orders)

    def on_reject(order: CanonicalOrder, problems: list[Problem]) -> None:
        for problem in problems:
            row = records[problem.line.origin if problem.line else order.origin]
            column = "customer_id" if problem.field == "customer" else problem.field
            report.reject(
                Reject(
                    "order_items",
                    str(row[FILE]),
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
    if checked.returns:
        _write_returns(engine, mapping, brand_id, checked.returns, records, report)
    # Problems found while writing join the others: every file's rejects in line order
    # (a customers file first).
    order = {Path(path).name: n for n, path in enumerate(files)}
    report.rejects.sort(key=lambda r: (order.get(r.file, -1), r.line))
    return report


def _orders(purchases: list[dict[str, Any]], mapping: Mapping) -> list[CanonicalOrder]:
    by_order: dict[str, list[dict[str, Any]]] = {}
    for row in purchases:
        by_order.setdefault(str(row["order_id"]), []).append(row)
    return [
        order_from_rows(
            rows,
            source=mapping.source,
            currency=mapping.currency,
            status=rows[0]["status_value"],
            origins=[int(row[POSITION]) for row in rows],
        )
        for rows in by_order.values()
    ]


def _write_returns(
    engine: Engine,
    mapping: Mapping,
    brand_id: int,
    returns: list[dict[str, Any]],
    records: list[dict[str, Any]],
    report: ImportReport,
) -> None:
    """Match return lines to purchases; count each line once, reject what matches nothing."""
    prefix = mapping.cancellation.invoice_prefix
    lines = [
        ReturnLine(
            invoice=str(row["order_id"]),
            customer=row,
            product=str(row["product_id"]),
            quantity=-int(row["quantity"]),
            returned_at=row["purchased_at"],
            kind="cancellation" if prefix and str(row["order_id"]).startswith(prefix) else "return",
            currency=row.get("currency") or mapping.currency,
            original_order=row.get("original_order_id"),
            origin=int(row[POSITION]),
        )
        for row in returns
    ]
    with unit_of_work(engine) as session:
        matched = match_returns(
            session,
            brand_id=brand_id,
            source=mapping.source,
            lines=lines,
            counts=EntityCounts(),  # stored rows; the report counts return lines below
        )
    counts = report.entity("returns")
    rejected = {line.origin for line, _ in matched.unmatched}
    for line, reason in matched.unmatched:
        row = records[line.origin]
        value = str(row.get("quantity"))
        report.reject(Reject("returns", str(row[FILE]), int(row[LINE]), "quantity", value, reason))
    counts.rejected += len(rejected)
    written, items = matched.written.ids, matched.written.items
    for origin, parts in matched.parts_of_line.items():
        if origin in rejected:
            continue
        keys = {(written[key], item) for key, item in parts}
        if items is not None and keys & items.inserted_keys:
            counts.inserted += 1
        elif items is not None and keys & items.updated_keys:
            counts.updated += 1
        else:
            counts.unchanged += 1
    report.note("returns_matched", len(set(matched.parts_of_line) - rejected))
    report.note("returns_unmatched", len(rejected))


def _import_customers_file(
    engine: Engine, mapping: Mapping, path: Path, brand_id: int, report: ImportReport
) -> None:
    if not mapping.customer_columns:
        raise InvalidInput("a customers file needs customer_columns in the mapping")
    options = mapping.options()
    raw = _canonical(
        read_table(path, options), mapping.customer_columns, path.name, mapping.delimiter
    )
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
            report=report,
        )


def _reject_customers_without_identity(
    frame: pd.DataFrame, file: str, report: ImportReport
) -> pd.DataFrame:
    has_identity = frame[list(IDENTITY_FIELDS)].notna().any(axis=1)
    for line in frame.loc[~has_identity, LINE]:
        report.reject(Reject("customers", file, int(line), "customer_id", "", NO_IDENTITY))
    report.entity("customers").rejected += int((~has_identity).sum())
    return frame[has_identity].reset_index(drop=True)
