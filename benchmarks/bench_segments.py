"""Benchmark: live segments.

1. Full evaluation of a 6-condition nested segment over ``--customers`` profiles (default
   1M, with ~1.4 purchases each and a scores row), side by side in one run: ours (the
   compiled tree in DuckDB over the copy of the hub rows it reads; the copy, made once
   per run, timed apart), the same condition written by hand in DuckDB SQL over the same
   rows (the floor), in pandas, the old path (the compiled tree on SQLite) and
   hand-written SQL on SQLite. Medians of ``--repeats`` runs (wall and CPU) and ratios
   to the floor.
2. Incremental re-evaluation: 50 active segments; for ``--orders`` customers, one new
   order each, then ``reevaluate_customers`` (timed, in the order's unit of work): p50
   and p99, for each customer's first re-evaluation and in steady state.
3. Optionally (``--nightly``) the nightly job over ``--segments`` active segments (the
   50 plus new ones): ``recompra.segments.flows.evaluate_all`` on two nights, the first
   building every membership, the next a day later writing what the day changed.

The profiles are written with bulk ``INSERT ... SELECT`` over a recursive sequence
(deterministic multiplicative hashing, no Python loop), so generation takes seconds.

Usage: ``python benchmarks/bench_segments.py [--customers 1000000] [--repeats 5]
[--segments 200] [--orders 200] [--nightly | --nightly-only | --incremental-only]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import Engine, text

from recompra.db import make_engine, unit_of_work
from recompra.migrate import upgrade
from recompra.models import Order
from recompra.segments.compile import compile_rule
from recompra.segments.definition import parse_definition, parse_rule, rule_to_json
from recompra.segments.flows import evaluate_all
from recompra.segments.full import HubCopy
from recompra.segments.service import apply_definition, reevaluate_customers

NOW = datetime(2026, 6, 1, tzinfo=UTC)
STATES = ("SP", "RJ", "MG", "RS", "PR", "SC", "BA", "PE", "CE", "GO")
RFM = ("champions", "loyal", "at_risk", "cant_lose_them", "hibernating", "lost", "new_customers")
SIX = {
    "key": "bench_six",
    "name": {"pt-BR": "Seis condições", "en": "Six conditions"},
    "rule": {
        "all": [
            {"field": "state", "op": "in", "value": ["SP", "RJ", "MG"]},
            {
                "any": [
                    {"field": "rfm_segment", "op": "in", "value": ["at_risk", "cant_lose_them"]},
                    {"field": "churn_risk", "op": "gte", "value": 0.6},
                ]
            },
            {"field": "net_revenue", "op": "gte", "value": 500.00},
            {"not": {"field": "orders", "op": "gte", "value": 10}},
            {"field": "days_since_last_order", "op": "gte", "value": 90},
        ]
    },
}
# Day 90 before NOW: "days since the last order >= 90" is "last order before day -89".
CUTOFF = (NOW.date() - timedelta(days=89)).isoformat() + " 00:00:00.000000"
HAND_SQL = f"""
WITH f AS (
    SELECT o.customer_id, COUNT(*) AS orders, MAX(o.purchased_at) AS last_at,
           SUM(CASE WHEN o.total_minor - COALESCE(r.refund, 0) > 0
                    THEN o.total_minor - COALESCE(r.refund, 0) ELSE 0 END) AS net
    FROM orders o
    LEFT JOIN (SELECT order_id, SUM(amount_minor) AS refund FROM returns GROUP BY order_id) r
        ON r.order_id = o.id
    WHERE o.brand_id = 1 AND o.status NOT IN ('canceled', 'unavailable')
    GROUP BY o.customer_id
),
s AS (
    SELECT cs.customer_id, cs.segment, cs.churn_risk
    FROM customer_scores cs
    JOIN (SELECT customer_id, MAX(as_of) AS as_of FROM customer_scores
          WHERE brand_id = 1 GROUP BY customer_id) l
        ON l.customer_id = cs.customer_id AND l.as_of = cs.as_of
)
SELECT c.id
FROM brand_customers bc
JOIN customers c ON c.id = bc.customer_id
JOIN f ON f.customer_id = c.id
LEFT JOIN s ON s.customer_id = c.id
WHERE bc.brand_id = 1 AND c.merged_into_id IS NULL AND c.state IN ('SP', 'RJ', 'MG')
  AND (s.segment IN ('at_risk', 'cant_lose_them') OR s.churn_risk >= 0.6)
  AND f.net >= 50000 AND f.orders < 10 AND f.last_at < '{CUTOFF}'
"""


def generate(engine: Engine, customers: int) -> None:
    """Brand 1 with ``customers`` profiles, ~1.4 purchases each and one scores row each."""
    h = "((x * 2654435761) % 4294967296)"
    case_state = (
        "CASE "
        + " ".join(f"WHEN {h} % {len(STATES)} = {i} THEN '{s}'" for i, s in enumerate(STATES))
        + " END"
    )
    case_rfm = (
        "CASE "
        + " ".join(f"WHEN ({h} / 7) % {len(RFM)} = {i} THEN '{s}'" for i, s in enumerate(RFM))
        + " END"
    )
    seq = (
        f"WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < {customers})"
    )
    stamp = "'2026-01-01 00:00:00.000000'"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO brands (id, slug, name, default_currency, default_locale,"
                f" created_at) VALUES (1, 'bench', 'Bench', 'BRL', 'pt-BR', {stamp})"
            )
        )
        conn.execute(
            text(
                f"{seq} INSERT INTO customers (id, state, city, created_at, updated_at)"
                f" SELECT x, {case_state}, 'Cidade', {stamp}, {stamp} FROM seq"
            )
        )
        conn.execute(
            text(
                f"{seq} INSERT INTO brand_customers (brand_id, customer_id, "
                f"first_seen_at) SELECT 1, x, {stamp} FROM seq"
            )
        )
        # Order k (0, 1, 2) of customer x exists when k = 0, or k = 1 for 30%, k = 2 for 10%;
        # purchased 1-720 days before NOW, paid 10.00-1,209.99.
        for k, share in ((0, 100), (1, 30), (2, 10)):
            day = f"(({h} / {k + 3}) % 720 + 1)"
            conn.execute(
                text(
                    f"{seq} INSERT INTO orders (brand_id, source, external_id, customer_id, status,"
                    f" currency, purchased_at, items_total_minor, freight_total_minor,"
                    f" discount_total_minor, total_minor, created_at, updated_at)"
                    f" SELECT 1, 'bench', x || '-{k}', x, 'delivered', 'BRL',"
                    f" strftime('%Y-%m-%d %H:%M:%S', '{NOW.date().isoformat()}',"
                    f" '-' || {day} || ' days')"
                    f" || '.000000', 0, 0, 0, 1000 + ({h} / {k + 11}) % 120000, {stamp}, {stamp}"
                    f" FROM seq WHERE ({h} / {k + 5}) % 100 < {share}"
                )
            )
        conn.execute(
            text(
                f"{seq} INSERT INTO customer_scores (brand_id, customer_id, as_of, segment,"
                f" churn_risk, explanations, computed_at)"
                f" SELECT 1, x, '2026-05-31', {case_rfm}, (({h} / 13) % 1000) / 1000.0, '{{}}',"
                f" {stamp} FROM seq"
            )
        )
        conn.execute(text("ANALYZE"))


def timed(function: Any, repeats: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``repeats`` runs, and the last result.

    CPU time (this process: SQLite, pandas and DuckDB all run in it) is printed next to
    wall time because on a shared, busy machine wall time includes waiting for a core.
    """
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def full_evaluation(engine: Engine, repeats: int) -> None:
    rule = rule_to_json(parse_definition(SIX).rule)
    query = compile_rule(parse_rule(rule))
    params = query.params(brand_id=1, now=NOW)

    def old_sqlite_path() -> set[int]:
        with engine.connect() as conn:
            return set(conn.execute(query.statement, params).scalars())

    def floor_sqlite() -> set[int]:
        with engine.connect() as conn:
            return set(conn.execute(text(HAND_SQL)).scalars())

    # Ours: the hub rows the rule reads copied into DuckDB (once per run: a nightly run
    # shares one copy between all its segments), then the compiled tree evaluated there.
    copy = HubCopy(brand_id=1)
    copy_wall, copy_cpu = time.perf_counter(), time.process_time()
    with engine.connect() as conn:
        copy.ensure(conn, [query.statement])
        copy_wall, copy_cpu = time.perf_counter() - copy_wall, time.process_time() - copy_cpu

        def recompra() -> set[int]:
            return copy.members_of(conn, query, params)

        results = {"recompra (compiled tree, DuckDB copy)": timed(recompra, repeats)}

    started = time.perf_counter()
    with engine.connect() as conn:
        frames = {
            "customers": pd.read_sql("SELECT id, state, merged_into_id FROM customers", conn),
            "orders": pd.read_sql(
                "SELECT id, customer_id, status, purchased_at, total_minor "
                "FROM orders WHERE brand_id = 1",
                conn,
            ),
            "scores": pd.read_sql(
                "SELECT customer_id, as_of, segment, churn_risk "
                "FROM customer_scores WHERE brand_id = 1",
                conn,
            ),
        }
    frames["orders"]["purchased_at"] = pd.to_datetime(frames["orders"]["purchased_at"])
    load = time.perf_counter() - started
    cutoff = pd.Timestamp(CUTOFF)

    def in_pandas() -> set[int]:
        o = frames["orders"]
        o = o[~o["status"].isin(["canceled", "unavailable"])]
        f = o.groupby("customer_id").agg(
            orders=("id", "size"), net=("total_minor", "sum"), last_at=("purchased_at", "max")
        )
        s = frames["scores"].sort_values("as_of").groupby("customer_id").tail(1)
        s = s.set_index("customer_id")
        c = frames["customers"].set_index("id")
        c = c[c["merged_into_id"].isna() & c["state"].isin(["SP", "RJ", "MG"])]
        j = c.join(f, how="inner").join(s, how="left")
        mask = (
            (j["segment"].isin(["at_risk", "cant_lose_them"]) | (j["churn_risk"] >= 0.6))
            & (j["net"] >= 50_000)
            & (j["orders"] < 10)
            & (j["last_at"] < cutoff)
        )
        return set(j.index[mask].tolist())

    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(name + "_df", frame)
    con.execute("CREATE TABLE customers AS SELECT * FROM customers_df")
    con.execute("CREATE TABLE orders AS SELECT * FROM orders_df")
    con.execute("CREATE TABLE customer_scores AS SELECT * FROM scores_df")
    duck_sql = f"""
    WITH f AS (SELECT customer_id, COUNT(*) AS orders, SUM(total_minor) AS net,
                      MAX(purchased_at) AS last_at
               FROM orders WHERE status NOT IN ('canceled', 'unavailable') GROUP BY 1),
         s AS (SELECT customer_id, arg_max(segment, as_of) AS segment,
                      arg_max(churn_risk, as_of) AS churn_risk
               FROM customer_scores GROUP BY 1)
    SELECT c.id FROM customers c JOIN f ON f.customer_id = c.id
    LEFT JOIN s ON s.customer_id = c.id
    WHERE c.merged_into_id IS NULL AND c.state IN ('SP', 'RJ', 'MG')
      AND (s.segment IN ('at_risk', 'cant_lose_them') OR s.churn_risk >= 0.6)
      AND f.net >= 50000 AND f.orders < 10 AND f.last_at < TIMESTAMP '{CUTOFF[:19]}'
    """

    def in_duckdb() -> set[int]:
        return {row[0] for row in con.execute(duck_sql).fetchall()}

    for name, function in (
        ("hand-written DuckDB SQL (floor)", in_duckdb),
        ("pandas (frames in memory)", in_pandas),
        ("old path: compiled tree on SQLite", old_sqlite_path),
        ("hand-written SQL on SQLite", floor_sqlite),
    ):
        results[name] = timed(function, repeats)
    copy.close()
    sizes = {len(r[2]) for r in results.values()}
    assert len(sizes) == 1, f"the evaluations disagree: {sizes}"
    base_wall, base_cpu, _ = results["hand-written DuckDB SQL (floor)"]
    print(f"\n1. Full evaluation, 6 conditions, {sizes.pop()} members, median of {repeats}")
    for name, (seconds, cpu, _) in results.items():
        print(
            f"   {name:38s} {seconds:8.3f} s (cpu {cpu:7.3f} s)"
            f"  x{seconds / base_wall:6.2f} of floor (cpu x{cpu / base_cpu:6.2f})"
        )
    print(
        f"   copying the rule's hub rows into DuckDB (once per run): {copy_wall:.1f} s"
        f" (cpu {copy_cpu:.1f} s); pandas/DuckDB frames loaded from SQLite: {load:.1f} s"
    )


#: Active segments while an order is re-evaluated (the issue's incremental target).
INCREMENTAL_SEGMENTS = 50
VARIANTS = [
    {"field": "state", "op": "in", "value": ["SP", "RJ"]},
    {"field": "orders", "op": "gte", "value": 2},
    {"field": "net_revenue", "op": "gte", "value": 300.00},
    {"field": "days_since_last_order", "op": "lte", "value": 60},
    {"field": "rfm_segment", "op": "in", "value": ["at_risk", "lost"]},
    {"field": "churn_risk", "op": "gte", "value": 0.5},
    {"field": "orders", "op": "gte", "value": 1, "days": 30},
    {"field": "aov", "op": "gte", "value": 200.00},
    {"field": "review_score", "op": "lte", "value": 2},
    {"field": "event_count", "event": "cart_abandoned", "op": "gte", "value": 1, "days": 7},
]


def add_segments(engine: Engine, first: int, last: int) -> None:
    """Apply segments ``inc_<first>`` .. ``inc_<last - 1>`` (3 conditions, nested), not
    evaluated: their first full evaluation makes every member an entry."""
    with unit_of_work(engine) as session:
        for i in range(first, last):
            a, b, c = VARIANTS[i % 10], VARIANTS[(i // 10 + i + 1) % 10], VARIANTS[(i + 3) % 10]
            document = {
                "key": f"inc_{i}",
                "name": {"pt-BR": f"S{i}", "en": f"S{i}"},
                "rule": {"all": [a, {"any": [b, {"not": c}]}]},
            }
            apply_definition(
                session, brand_id=1, definition=parse_definition(document), now=NOW, evaluate=False
            )


def incremental(engine: Engine, customers: int, segments: int, orders: int) -> None:
    add_segments(engine, 0, segments)
    # Warm-up, not timed: the first call compiles the 50 rules into one statement (cached
    # per process for as long as the active versions do not change).
    with unit_of_work(engine) as session:
        reevaluate_customers(session, 1, [customers], now=NOW)
    # Pass 1: each customer's first re-evaluation (the segments were applied without a
    # full evaluation, so the customer enters every segment they match: many writes).
    # Pass 2: another order of the same customers (steady state: few or no changes).
    for label, offset in (("first re-evaluation", 0), ("steady state", orders)):
        durations, cpu_times = [], []
        for n in range(orders):
            customer_id = (n * 7919) % customers + 1
            with unit_of_work(engine) as session:
                session.add(
                    Order(
                        brand_id=1,
                        source="bench-inc",
                        external_id=str(n + offset),
                        customer_id=customer_id,
                        status="delivered",
                        purchased_at=NOW,
                        items_total_minor=25_000,
                        total_minor=25_000,
                    )
                )
                session.flush()
                started, cpu = time.perf_counter(), time.process_time()
                reevaluate_customers(session, 1, [customer_id], now=NOW)
                durations.append(time.perf_counter() - started)
                cpu_times.append(time.process_time() - cpu)
        print(
            f"\n2. Incremental, {label}: one order re-evaluates {segments} active segments"
            f" ({orders} orders): wall p50 {_pct(durations, 0.5):.1f} ms,"
            f" p99 {_pct(durations, 0.99):.1f} ms; cpu p50 {_pct(cpu_times, 0.5):.1f} ms,"
            f" p99 {_pct(cpu_times, 0.99):.1f} ms (target <= 10 ms p99)"
        )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def _rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def _db_megabytes(engine: Engine) -> float:
    """Size of the SQLite file (pages in use times page size), in MB."""
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
    return float(pages * size) / 1e6


def nightly(engine: Engine, segments: int, active: int) -> None:
    add_segments(engine, active, segments)
    print(f"\n3. before the first night: database {_db_megabytes(engine):.0f} MB")
    # Night 1 builds the memberships (the segments were applied without evaluation: every
    # member is an entry); night 2, a day later, writes only what the day changed.
    for label, now in (("first night", NOW), ("next night", NOW + timedelta(days=1))):
        started, cpu = time.perf_counter(), time.process_time()
        runs = evaluate_all(engine, brand_id=1, now=now)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        members = sum(run.members for run in runs)
        moved = sum(run.entered + run.exited for run in runs)
        print(
            f"\n3. Nightly, {label}: {len(runs)} segments fully evaluated, {members} members,"
            f" {moved} entries/exits written: {total:.1f} s wall, {cpu:.1f} s CPU"
            f" ({total / max(len(runs), 1):.2f} s per segment)"
        )
        print(
            f"   after it: {_rows(engine, 'segment_members')} membership rows,"
            f" {_rows(engine, 'segment_membership_events')} membership events,"
            f" database {_db_megabytes(engine):.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--segments", type=int, default=50, help="active segments in the nightly run"
    )
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--nightly", action="store_true", help="also the nightly full run")
    parser.add_argument(
        "--nightly-only",
        action="store_true",
        help="only the nightly run (skips the full and incremental comparisons)",
    )
    parser.add_argument(
        "--incremental-only", action="store_true", help="only the incremental re-evaluation"
    )
    parser.add_argument(
        "--from-database",
        type=Path,
        help="start from a copy of this SQLite file, generated by an earlier run with the"
        " same --customers, instead of generating (saves minutes of disk writes)",
    )
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-segments-") as tmp:
        path = Path(tmp) / "bench.db"
        if args.from_database is not None:
            shutil.copyfile(args.from_database, path)
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        started = time.perf_counter()
        if args.from_database is None:
            generate(engine, args.customers)
        with engine.connect() as conn:
            n_orders = conn.execute(text("SELECT COUNT(*) FROM orders")).scalar_one()
        print(
            f"{'copied' if args.from_database else 'generated'} {args.customers} customers,"
            f" {n_orders} orders, "
            f"{args.customers} scores rows in {time.perf_counter() - started:.1f} s"
        )
        if args.nightly_only:
            nightly(engine, args.segments, 0)
            engine.dispose()
            return
        if args.incremental_only:
            incremental(engine, args.customers, INCREMENTAL_SEGMENTS, args.orders)
            engine.dispose()
            return
        full_evaluation(engine, args.repeats)
        incremental(engine, args.customers, INCREMENTAL_SEGMENTS, args.orders)
        if args.nightly:
            nightly(engine, max(args.segments, INCREMENTAL_SEGMENTS), INCREMENTAL_SEGMENTS)
        engine.dispose()


if __name__ == "__main__":
    main()
