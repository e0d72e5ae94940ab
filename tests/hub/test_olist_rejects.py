"""A deliberately corrupted Olist copy: rejects with file, line, field and reason, and
every valid row still lands."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from olistcopy import small_olist

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.importers.olist import import_olist
from recompra.hub.stats import table_counts

N_ORDERS = 400


def _corrupt(path: Path, edits: dict[int, dict[int, str]], extra_line: str | None = None) -> None:
    """Overwrite fields of data rows (0-based row -> column -> value)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    for row_index, fields in edits.items():
        for column, value in fields.items():
            rows[row_index + 1][column] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
        if extra_line is not None:
            handle.write(extra_line + "\n")


def test_corrupted_rows_are_rejected_and_the_rest_lands(olist_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "olist"
    data = small_olist(olist_dir, copy, N_ORDERS)
    orders = data["orders"][1]
    items = data["items"][1]
    # Orders: row 0 bad timestamp, row 1 unknown status, row 2 unknown customer.
    _corrupt(
        copy / "olist_orders_dataset.csv",
        {0: {3: "2017-13-45 99:00:00"}, 1: {2: "teleported"}, 2: {1: "no-such-customer"}},
    )
    # Items: row 5 price with a letter; a line with too few fields appended at the end.
    _corrupt(
        copy / "olist_order_items_dataset.csv",
        {5: {5: "12.3x"}},
        extra_line="only,three,fields",
    )
    engine_gen = create_test_engine("sqlite", tmp_path)
    engine = next(engine_gen)
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session).id
    report = import_olist(engine, copy, brand_id=brand_id)

    problems = {(r.file, r.line, r.column): r for r in report.rejects}
    # Header is line 1, so data row i is line i + 2.
    assert problems[("olist_orders_dataset.csv", 2, "order_purchase_timestamp")].value == (
        "2017-13-45 99:00:00"
    )
    assert "teleported" in problems[("olist_orders_dataset.csv", 3, "order_status")].value
    assert problems[("olist_orders_dataset.csv", 4, "customer_id")].reason == "unknown customer"
    assert problems[("olist_order_items_dataset.csv", 7, "price")].reason == "not a valid amount"
    extra_line = len(items) + 2
    assert (
        "expected 7 fields, found 3"
        in problems[("olist_order_items_dataset.csv", extra_line, "*")].reason
    )

    bad_orders = {orders[0][0], orders[1][0], orders[2][0]}
    items_of_bad = sum(1 for i in items if i[0] in bad_orders)
    item_5_lost = 0 if items[5][0] in bad_orders else 1
    with unit_of_work(engine, write=False) as session:
        counts = table_counts(session)
    assert counts["orders"] == N_ORDERS - 3
    assert counts["order_items"] == len(items) - items_of_bad - item_5_lost
    assert report.reconciles
    assert report.counts["orders"].rejected == 3

    # The rejects file names every problem; the report's counts reconcile.
    written = report.write(tmp_path / "report")
    with (written.parent / "rejects.csv").open(encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert len(lines) == len(report.rejects)
    assert {"entity", "file", "line", "column", "value", "reason"} <= set(lines[0])

    # Fixing the file and re-running brings in exactly the rejected orders.
    small_olist(olist_dir, copy, N_ORDERS)
    again = import_olist(engine, copy, brand_id=brand_id)
    with unit_of_work(engine, write=False) as session:
        counts = table_counts(session)
    assert counts["orders"] == N_ORDERS
    assert counts["order_items"] == len(items)
    assert again.counts["orders"].inserted == 3
    with pytest.raises(StopIteration):
        next(engine_gen)
