"""A new table or column about customers cannot be forgotten by export and erasure."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from privacytest import CPF_PRINTED, EMAIL, Identified
from sqlalchemy import func, select

from recompra.db import unit_of_work
from recompra.models import Base, LoyaltyAccount, LoyaltyMovement, Order, PrivacyRequest
from recompra.privacy.erasure import ERASED_COLUMNS, KEPT_COLUMNS, text_columns
from recompra.privacy.inventory import UNLINKED_TABLES, customer_linked_tables
from recompra.privacy.service import export_customer, export_files, export_zip


def test_every_table_with_a_customer_reference_is_covered() -> None:
    linked = {t.name for t in customer_linked_tables()}
    referencing = {
        table.name
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name == "customer_id"
        or any(k.column.table.name == "customers" for k in column.foreign_keys)
    }
    assert referencing - UNLINKED_TABLES - linked == set()
    # Children of customer tables come along too (order lines, ledger movements, messages).
    assert {"order_items", "loyalty_movements", "case_messages", "survey_answers"} <= linked


def test_every_text_column_of_a_customer_table_is_erased_or_kept_on_purpose() -> None:
    unclassified = [
        f"{table.name}.{column.name}"
        for table in customer_linked_tables()
        for column in text_columns(table)
        if column.name not in ERASED_COLUMNS.get(table.name, ())
        and column.name not in KEPT_COLUMNS.get(table.name, ())
    ]
    assert unclassified == []


def test_export_holds_the_customer_rows_as_json_and_csv(identified: Identified) -> None:
    engine, customer_id = identified.engine, identified.customer_id
    done, holdings = export_customer(engine, customer_id, actor="cli:test")
    with unit_of_work(engine, write=False) as session:
        orders = session.scalar(
            select(func.count()).select_from(Order).where(Order.customer_id == customer_id)
        )
        movements = session.scalar(
            select(func.count())
            .select_from(LoyaltyMovement)
            .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyMovement.account_id)
            .where(LoyaltyAccount.customer_id == customer_id)
        )
        request = session.get(PrivacyRequest, done.request_id)
    assert request is not None
    assert request.kind == "export"
    assert request.fulfilled_at is not None
    document = json.loads(export_files(holdings)["export.json"])
    tables = document["tables"]
    assert tables["customers"][0]["email"] == EMAIL
    assert len(tables["orders"]) == orders
    assert len(tables["loyalty_movements"]) == movements > 0
    assert any(CPF_PRINTED in (r["comment"] or "") for r in tables["reviews"])
    with zipfile.ZipFile(io.BytesIO(export_zip(holdings))) as archive:
        orders_csv = archive.read("orders.csv").decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(orders_csv)))) == orders
