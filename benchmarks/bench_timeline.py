"""Benchmark: a customer's timeline on a store of ``--orders`` orders (default 100k).

Two brands share the database (brand A has two thirds of the orders) and a tenth of the
orders have a return. Statistics are as Recompra leaves them: none on SQLite (it never
runs ``ANALYZE`` there, so the planner goes by the indexes alone: the old statement then
walks every return of the brand), ``ANALYZE`` on PostgreSQL (``hub.upsert`` runs it after
bulk writes; autovacuum would too). For
``--customers-timed`` customers of brand A, in one run:

- the timeline read (``recompra.reads.customers.timeline``, limit 50), whole;
- its returns statement as it is now (through the customer's orders of the brand) and
  as it was (``returns.brand_id`` = the brand, every return of the brand walked), each
  run alone on the session's connection;
- the floor: the same rows by bare SQL on the raw DBAPI cursor
  (``orders`` by customer, then ``returns`` by order).

Medians of ``--repeat`` reads per customer (wall and CPU ms), and the plan of each
returns statement. SQLite by default; ``--url`` for another database (it must be empty
and is filled, e.g. a fresh PostgreSQL database).

Usage: ``python benchmarks/bench_timeline.py [--orders 100000] [--repeat 50]
[--customers-timed 20] [--url URL]``. About 1 minute on an idle 2-core machine at 100k.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select, text

from recompra.db import make_engine, unit_of_work
from recompra.db.dialect import is_sqlite
from recompra.hub.brands import ensure_brand
from recompra.migrate import upgrade
from recompra.models import BrandCustomer, Customer, Order, Return
from recompra.reads.customers import timeline

START = datetime(2023, 1, 1, tzinfo=UTC)
ORDERS_PER_CUSTOMER = 5
CHUNK = 10_000


def _fill(engine: Engine, orders: int, seed: int = 7) -> tuple[int, list[int]]:
    """Two brands, customers with ~5 orders each, returns on a tenth: brand A's id and
    its customers' ids."""
    rng = random.Random(seed)
    customers = max(2, orders // ORDERS_PER_CUSTOMER)
    with unit_of_work(engine) as session:
        brand_a = ensure_brand(session, "bench-a").id
        brand_b = ensure_brand(session, "bench-b").id
        session.execute(insert(Customer), [{"name": f"Cliente {i}"} for i in range(customers)])
        ids = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    # Two thirds of the customers (and so of the orders) are brand A's.
    brand_of = {cid: brand_a if i % 3 else brand_b for i, cid in enumerate(ids)}
    with unit_of_work(engine) as session:
        session.execute(
            insert(BrandCustomer),
            [
                {"brand_id": b, "customer_id": c, "first_seen_at": START}
                for c, b in brand_of.items()
            ],
        )
    for start in range(0, orders, CHUNK):
        with unit_of_work(engine) as session:
            rows = []
            for n in range(start, min(start + CHUNK, orders)):
                cid = ids[rng.randrange(len(ids))]
                rows.append(
                    {
                        "brand_id": brand_of[cid],
                        "source": "bench",
                        "external_id": f"o{n}",
                        "customer_id": cid,
                        "status": "delivered",
                        "purchased_at": START + timedelta(minutes=n),
                        "total_minor": 10_000,
                    }
                )
            session.execute(insert(Order), rows)
            placed = session.execute(
                select(Order.id, Order.brand_id, Order.purchased_at).where(
                    Order.external_id.in_([r["external_id"] for r in rows])
                )
            ).all()
            session.execute(
                insert(Return),
                [
                    {
                        "brand_id": brand,
                        "source": "bench",
                        "external_id": f"r{order_id}",
                        "order_id": order_id,
                        "kind": "return",
                        "amount_minor": 2_500,
                        "created_at": at + timedelta(days=3),
                    }
                    for order_id, brand, at in placed
                    if order_id % 10 == 0
                ],
            )
    if not is_sqlite(engine):
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return brand_a, [c for c, b in brand_of.items() if b == brand_a]


def _returns_statement(*, by_order_brand: bool) -> Any:
    """The timeline's returns statement, with the brand condition on the order (now) or
    on the return (before)."""
    brand = Order.brand_id if by_order_brand else Return.brand_id
    return (
        select(Return)
        .join(Order, Order.id == Return.order_id)
        .where(brand == bindparam("brand"), Order.customer_id == bindparam("customer"))
        .order_by(Return.created_at.desc())
        .limit(50)
    )


def _median_ms(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--customers-timed", type=int, default=20)
    parser.add_argument("--url", help="an empty database to fill (default: a temp SQLite)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.url or f"sqlite:///{tmp}/timeline.db")
        upgrade(engine)
        began = time.perf_counter()
        brand, customers = _fill(engine, args.orders)
        print(
            f"store: {args.orders:,} orders, returns on a tenth, two brands "
            f"(filled in {time.perf_counter() - began:.0f} s)"
        )
        timed = random.Random(11).sample(customers, min(args.customers_timed, len(customers)))
        results: dict[str, list[tuple[float, float]]] = {}
        with unit_of_work(engine, write=False) as session:
            connection = session.connection()
            statements = {
                "returns, now (orders of the brand)": _returns_statement(by_order_brand=True),
                "returns, before (returns.brand_id)": _returns_statement(by_order_brand=False),
            }
            explain = "EXPLAIN QUERY PLAN " if is_sqlite(connection) else "EXPLAIN "
            for label, stmt in statements.items():
                bound = stmt.params(brand=brand, customer=timed[0])
                sql = str(bound.compile(connection, compile_kwargs={"literal_binds": True}))
                plan = connection.exec_driver_sql(explain + sql).all()
                print(f"plan, {label}: " + " | ".join(str(row[-1]) for row in plan))
            raw = connection.connection.dbapi_connection
            assert raw is not None
            floor_sql = _floor_sql(is_sqlite(connection))
            for customer in timed:
                cases: dict[str, Callable[[], object]] = {
                    "timeline read, whole (now)": lambda c=customer: timeline(
                        session, brand_id=brand, customer_id=c, limit=50
                    ),
                }
                for label, stmt in statements.items():
                    cases[label] = lambda s=stmt, c=customer: connection.execute(
                        s, {"brand": brand, "customer": c}
                    ).all()
                cases["floor: bare SQL, returns by order"] = lambda c=customer: _floor(
                    raw, floor_sql, brand, c
                )
                for label, run in cases.items():
                    run()  # warm
                    results.setdefault(label, []).append(_median_ms(run, args.repeat))
    floor = statistics.median(cpu for _, cpu in results["floor: bare SQL, returns by order"])
    print(f"\nmedian over {len(timed)} customers of the median of {args.repeat} reads each")
    print(f"{'':40} {'wall ms':>9} {'cpu ms':>9} {'cpu / floor':>12}")
    for label, values in results.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        # The floor is the returns statement's: a ratio for the whole read would mislead.
        ratio = f"{cpu / floor:12.1f}" if floor and label.startswith("returns") else f"{'-':>12}"
        print(f"{label:40} {wall:9.3f} {cpu:9.3f} {ratio}")


def _floor_sql(sqlite: bool) -> str:
    mark = "?" if sqlite else "%s"
    return (
        "SELECT r.id, r.kind, r.amount_minor, r.reason, r.order_id, r.created_at "
        f"FROM orders o JOIN returns r ON r.order_id = o.id "
        f"WHERE o.customer_id = {mark} AND o.brand_id = {mark} "
        "ORDER BY r.created_at DESC LIMIT 50"
    )


def _floor(raw: Any, sql: str, brand: int, customer: int) -> object:
    cursor = raw.cursor()
    cursor.execute(sql, (customer, brand))
    rows = cursor.fetchall()
    cursor.close()
    return rows


if __name__ == "__main__":
    main()
