"""Ingest customers: identity resolution as in the importers, in the caller's session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy.orm import Session

from recompra.hub.customers import customer_record, identities_of, upsert_customers
from recompra.hub.ingest.batch import (
    Batch,
    IngestResult,
    customer_field_name,
    customer_row,
    parse_options,
)
from recompra.hub.rejects import ImportReport
from recompra.hub.rules import CUSTOMER_FIELDS, NO_IDENTITY, has_identity
from recompra.hub.validate import LINE


def ingest_customers(
    session: Session,
    *,
    brand_id: int,
    source: str,
    customers: Sequence[dict[str, Any]],
    currency: str = "BRL",
) -> IngestResult:
    """Create or update customers (identity resolution as in the importers)."""
    report = ImportReport()
    batch = Batch("customers", report)
    for index, customer in enumerate(customers):
        batch.add(index, customer_row(customer), customer_field_name(""))
    valid = batch.validate(CUSTOMER_FIELDS, parse_options(currency))
    records = cast(list[dict[str, Any]], valid.to_dict("records"))
    without = [int(r[LINE]) for r in records if not has_identity(r)]
    batch.reject_rows(without, "customer_id", "", NO_IDENTITY)
    records = [r for r in records if has_identity(r)]
    payload = [customer_record(r, source) for r in records]
    identity_map = upsert_customers(
        session,
        brand_id=brand_id,
        records=payload,
        counts=report.entity("customers"),
        report=report,
    )
    ids: list[int | None] = [None] * len(customers)
    for row, record in zip(records, payload, strict=True):
        index = batch.origin[int(row[LINE])][0]
        ids[index] = identity_map[identities_of(record, brand_id)[0]]
    return batch.result(len(customers), ids)
