"""Erasure end to end: nothing of the person is left in the database file, PostgreSQL,
the snapshot, the outputs or the message log, while the totals stay what they were."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from privacytest import CPF, CPF_PRINTED, EMAIL, NAME, PHONE, Identified
from sqlalchemy import Engine, inspect, select, text

from recompra.db import unit_of_work
from recompra.db.dialect import is_sqlite
from recompra.models import Customer, CustomerIdentity, PrivacyRequest
from recompra.privacy.service import erase_customer
from samplestore import analyse_sample

NEEDLES = (EMAIL, EMAIL.lower(), CPF, CPF_PRINTED, PHONE, NAME)


def _totals(engine: Engine, brand_id: int) -> tuple[int, int, int, int]:
    """Revenue, orders, points balance and pending points of the brand, in plain SQL."""
    with engine.connect() as conn:
        revenue, orders = conn.execute(
            text("SELECT SUM(total_minor), COUNT(*) FROM orders WHERE brand_id = :b"),
            {"b": brand_id},
        ).one()
        balance, pending = conn.execute(
            text(
                "SELECT SUM(a.balance), SUM(a.pending) FROM loyalty_accounts a "
                "JOIN loyalty_programs p ON p.id = a.program_id WHERE p.brand_id = :b"
            ),
            {"b": brand_id},
        ).one()
    return int(revenue), int(orders), int(balance), int(pending)


def _kpis(home: Path) -> dict[str, object]:
    """Every JSON output of the brand's analytics (KPIs, trends...), by file name."""
    found = {}
    for path in sorted((home / "analytics").rglob("*.json")):
        found[path.name] = json.loads(path.read_text())
    return found


def _needles_in_bytes(data: bytes) -> list[str]:
    lowered = data.lower()
    return [n for n in NEEDLES if n.lower().encode() in lowered]


def _needles_in_parquet(path: Path) -> list[str]:
    table = pq.read_table(path)
    cells = [
        str(v)
        for name in table.column_names
        if pa.types.is_string(table[name].type)
        for v in table[name].to_pylist()
        if v is not None
    ]
    return [n for n in NEEDLES if any(n.lower() in c.lower() for c in cells)]


def _needles_in_postgres(engine: Engine) -> list[str]:
    found = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for needle in NEEDLES:
                hits = conn.execute(
                    text(f'SELECT COUNT(*) FROM "{table}" t WHERE t::text ILIKE :n'),
                    {"n": f"%{needle}%"},
                ).scalar_one()
                if hits:
                    found.append(f"{table}: {needle}")
    return found


def test_erasure_leaves_no_trace_and_keeps_the_totals(identified: Identified) -> None:
    engine, home = identified.engine, identified.home
    before = _totals(engine, identified.brand_a)
    kpis_before = _kpis(home)
    customers_file = next(home.rglob("customers.parquet"))
    assert _needles_in_bytes((home / "demo-mail" / "1-abc.eml").read_bytes())
    if is_sqlite(engine):
        assert _needles_in_bytes(Path(str(engine.url.database)).read_bytes()) or _needles_in_bytes(
            Path(str(engine.url.database) + "-wal").read_bytes()
        )
    else:
        assert _needles_in_postgres(engine)

    done = erase_customer(engine, identified.customer_id, actor="cli:test", home=home)

    leftovers = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        leftovers += [f"{path.name}: {n}" for n in _needles_in_bytes(path.read_bytes())]
        if path.suffix == ".parquet":
            leftovers += [f"{path.name} (decoded): {n}" for n in _needles_in_parquet(path)]
    if not is_sqlite(engine):
        leftovers += _needles_in_postgres(engine)
    assert leftovers == []

    snapshot_row = [
        r
        for r in pq.read_table(customers_file).to_pylist()
        if r["customer_id"] == identified.customer_id
    ]
    assert snapshot_row
    assert snapshot_row[0]["city"] is None
    assert _totals(engine, identified.brand_a) == before
    analyse_sample(engine, home, brand_id=identified.brand_a)
    assert _kpis(home) == kpis_before

    with unit_of_work(engine, write=False) as session:
        customer = session.get(Customer, identified.customer_id)
        assert customer is not None
        assert customer.email is None
        assert customer.document is None
        identities = session.execute(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == identified.customer_id)
        ).all()
        assert identities == []
        request = session.get(PrivacyRequest, done.request_id)
        assert request is not None
        assert request.kind == "erase"
        assert request.fulfilled_at is not None
        assert request.fulfilled_at >= request.requested_at
