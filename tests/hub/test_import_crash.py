"""``kill -9`` in the middle of an import: the database holds whole orders only, and a
re-run finishes the job with no duplicates (a real subprocess, SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from sqlalchemy import func, select

from recompra.db import make_engine, unit_of_work
from recompra.generate import GeneratorConfig, generate_tables
from recompra.hub.stats import table_counts
from recompra.models import Order, OrderItem

pytestmark = pytest.mark.slow

MAPPING = """
source: crash-store
columns:
  order_id: order
  purchased_at: when
  customer_id: customer
  product_id: sku
  quantity: qty
  unit_price: price
"""


def _lines_csv(path: Path) -> int:
    tables = generate_tables(GeneratorConfig(seed=3, n_customers=6_000))
    orders = tables["orders"].select(["order_id", "customer_id", "purchased_at"])
    items = tables["order_items"].join(orders, "order_id")
    price = pc.divide(pc.cast(items["unit_price_minor"], pa.float64()), 100.0)
    lines = pa.table(
        {
            "order": items["order_id"],
            "when": pc.strftime(
                pc.cast(items["purchased_at"], pa.timestamp("s", tz="UTC"), safe=False),
                "%Y-%m-%d %H:%M:%S",
            ),
            "customer": items["customer_id"],
            "sku": items["product_id"],
            "qty": items["quantity"],
            "price": price,
        }
    )
    pacsv.write_csv(lines, path)
    return orders.num_rows


def _run(home: Path, csv: Path, mapping: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RECOMPRA_HOME": str(home),
        "RECOMPRA_DATABASE_URL": "",
        "RECOMPRA_IMPORT_CHUNK_ORDERS": "300",
    }
    command = [
        sys.executable,
        "-m",
        "recompra.cli.main",
        "import",
        "csv",
        "--mapping",
        str(mapping),
        str(csv),
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _orders(db: Path) -> int:
    if not db.exists():
        return 0
    engine = make_engine(f"sqlite:///{db}")
    try:
        with unit_of_work(engine, write=False) as session:
            return int(session.scalar(select(func.count()).select_from(Order)) or 0)
    except Exception:  # the schema may not exist yet
        return 0
    finally:
        engine.dispose()


def test_kill_9_mid_import_leaves_whole_orders_and_rerun_completes(tmp_path: Path) -> None:
    csv = tmp_path / "lines.csv"
    n_orders = _lines_csv(csv)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    home = tmp_path / "home"
    db = home / "recompra.db"

    child = _run(home, csv, mapping)
    deadline = time.monotonic() + 300
    while _orders(db) == 0 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "the import finished before it could be interrupted"
    child.send_signal(signal.SIGKILL)
    child.wait()

    engine = make_engine(f"sqlite:///{db}")
    with unit_of_work(engine, write=False) as session:
        partial = session.scalar(select(func.count()).select_from(Order))
        assert 0 < partial < n_orders  # type: ignore[operator]
        # Whole orders only: every committed order has its items and a matching total.
        item_sums = (
            select(OrderItem.order_id, func.sum(OrderItem.total_minor).label("items_sum"))
            .group_by(OrderItem.order_id)
            .subquery()
        )
        broken = session.scalar(
            select(func.count())
            .select_from(Order)
            .outerjoin(item_sums, item_sums.c.order_id == Order.id)
            .where(func.coalesce(item_sums.c.items_sum, -1) != Order.items_total_minor)
        )
        assert broken == 0
    engine.dispose()

    rerun = _run(home, csv, mapping)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err.decode()[-2000:]

    clean_home = tmp_path / "clean"
    clean = _run(clean_home, csv, mapping)
    clean.communicate(timeout=600)
    counts = []
    for path in (db, clean_home / "recompra.db"):
        engine = make_engine(f"sqlite:///{path}")
        with unit_of_work(engine, write=False) as session:
            counts.append(table_counts(session))
        engine.dispose()
    assert counts[0] == counts[1]
    assert counts[0]["orders"] == n_orders
