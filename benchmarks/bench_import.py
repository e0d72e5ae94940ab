"""Benchmark: hub imports.

1. Full Olist import (``../shared/data/olist``) on SQLite and, when
   ``RECOMPRA_TEST_POSTGRES_URL`` is set (``source scripts/pg.sh; pg_start``), on
   PostgreSQL: first import and idempotent re-run (target: first import <= 20 s embedded).
2. Generic mapped-CSV import throughput at ``--rows`` order lines (default 1M), side by
   side with what a user would otherwise write: ``pandas.read_csv`` + ``DataFrame.to_sql``
   into SQLite (no validation, no identities, no idempotency).

Usage: ``python benchmarks/bench_import.py [--rows 1000000] [--skip-olist] [--skip-csv]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import text
from sqlalchemy.engine import make_url

from recompra.db import make_engine, unit_of_work
from recompra.generate import GeneratorConfig, generate_tables
from recompra.hub.brands import ensure_brand
from recompra.hub.importers.csv_mapping import Mapping, import_mapped_files
from recompra.hub.importers.olist import import_olist
from recompra.migrate import upgrade

OLIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "olist"
MAPPING = Mapping(
    source="bench",
    columns={
        "order_id": "order",
        "purchased_at": "when",
        "customer_id": "customer",
        "product_id": "sku",
        "quantity": "qty",
        "unit_price": "price",
    },
)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _postgres_engine():  # type: ignore[no-untyped-def]
    url = os.environ.get("RECOMPRA_TEST_POSTGRES_URL")
    if not url:
        return None, None
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url, pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_engine(make_url(url).set(database=name).render_as_string(False)), (admin, name)


def bench_olist(tmp: Path) -> None:
    """Olist import on each available backend: first run and re-run."""
    if not OLIST.exists():
        print(f"olist: skipped, {OLIST} not found")
        return
    backends = {"sqlite": make_engine(f"sqlite:///{tmp}/olist.db")}
    pg, cleanup = _postgres_engine()
    if pg is not None:
        backends["postgresql"] = pg
    for name, engine in backends.items():
        upgrade(engine)
        with unit_of_work(engine) as session:
            brand_id = ensure_brand(session).id
        t0 = time.perf_counter()
        first = import_olist(engine, OLIST, brand_id=brand_id)
        t1 = time.perf_counter()
        second = import_olist(engine, OLIST, brand_id=brand_id)
        t2 = time.perf_counter()
        rows = sum(c.read for c in first.counts.values())
        unchanged = all(c.inserted == 0 and c.updated == 0 for c in second.counts.values())
        print(
            f"olist {name:<10} first import {t1 - t0:6.1f} s ({rows / (t1 - t0):,.0f} rows/s)"
            f"   re-run {t2 - t1:6.1f} s   re-run changed nothing: {unchanged}"
        )
        engine.dispose()
    if cleanup is not None:
        admin, db = cleanup
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


def _order_lines(path: Path, rows: int) -> int:
    customers = max(rows // 3, 1000)
    tables = generate_tables(GeneratorConfig(seed=11, n_customers=customers))
    orders = tables["orders"].select(["order_id", "customer_id", "purchased_at"])
    # Arrow's hash join does not keep row order: sort so every run imports the same lines.
    joined = tables["order_items"].join(orders, "order_id")
    items = joined.sort_by([("order_id", "ascending"), ("line_number", "ascending")])
    items = items.slice(0, rows)
    when = pc.cast(items["purchased_at"], pa.timestamp("s", tz="UTC"), safe=False)
    lines = pa.table(
        {
            "order": items["order_id"],
            "when": pc.strftime(when, "%Y-%m-%d %H:%M:%S"),
            "customer": items["customer_id"],
            "sku": items["product_id"],
            "qty": items["quantity"],
            "price": pc.divide(pc.cast(items["unit_price_minor"], pa.float64()), 100.0),
        }
    )
    pacsv.write_csv(lines, path)
    return lines.num_rows


def bench_csv(tmp: Path, rows: int) -> None:
    """Mapped-CSV import vs pandas read_csv + to_sql, same file, same SQLite disk."""
    path = tmp / "lines.csv"
    n = _order_lines(path, rows)
    engine = make_engine(f"sqlite:///{tmp}/csv.db")
    upgrade(engine)
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session).id
    t0 = time.perf_counter()
    report = import_mapped_files(engine, MAPPING, [path], brand_id=brand_id)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = import_mapped_files(engine, MAPPING, [path], brand_id=brand_id)
    rerun = time.perf_counter() - t0
    engine.dispose()

    t0 = time.perf_counter()
    frame = pd.read_csv(path)
    with sqlite3.connect(tmp / "pandas.db") as conn:
        frame.to_sql("lines", conn, index=False, chunksize=50_000)
    naive = time.perf_counter() - t0
    print(
        f"csv {n:,} lines: recompra {ours:6.1f} s ({n / ours:,.0f} rows/s, "
        f"{report.counts['orders'].inserted:,} orders, rejects {len(report.rejects)})"
        f"   re-run {rerun:6.1f} s (inserted {again.counts['order_items'].inserted})"
    )
    print(
        f"csv {n:,} lines: pandas read_csv+to_sql {naive:6.1f} s ({n / naive:,.0f} rows/s)"
        f"   ratio recompra/pandas {ours / naive:4.1f}x"
        " (pandas validates nothing and is not idempotent)"
    )


def main() -> None:
    """Run the import benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-olist", action="store_true")
    parser.add_argument("--skip-csv", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recompra-bench-import-") as tmp:
        if not args.skip_olist:
            bench_olist(Path(tmp))
        if not args.skip_csv:
            bench_csv(Path(tmp), args.rows)
    load = os.getloadavg()[0]
    print(f"peak RSS {_peak_mib():,.0f} MiB; load average {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
