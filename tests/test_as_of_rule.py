"""The one as-of rule: the default as-of keeps every order of the last purchase day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from recompra.analytics.flows import run_analytics
from recompra.pipeline import Source, run_predict, snapshot_as_of
from recompra.predict.cdnow import cdnow_orders, load_cdnow
from recompra.snapshot.as_of import as_of_cutoff, parse_as_of
from recompra.snapshot.io import write_snapshot
from recompra.snapshot.schema import ORDERS

CDNOW = Path(__file__).resolve().parent / "fixtures" / "cdnow" / "CDNOW_sample.txt.gz"
LATE = 99_999  # a customer added to CDNOW whose second order is late on the last day


def _order(order_id: int, at: datetime, total: int, status: str = "delivered") -> dict[str, object]:
    return {
        "order_id": order_id,
        "brand_id": 1,
        "customer_id": LATE,
        "status": status,
        "channel": "web",
        "currency": "USD",
        "purchased_at": at,
        "items_total_minor": total,
        "freight_total_minor": 0,
        "discount_total_minor": 0,
        "total_minor": total,
    }


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CDNOW (last purchases at noon, 1998-06-30) plus customer 99999's two orders.

    The second one is at 23:30 UTC on 1998-06-30, the snapshot's last purchase day; a
    canceled order the day after is not a purchase, so it moves no default.
    """
    base = cdnow_orders(load_cdnow(CDNOW))
    extra = pa.Table.from_pylist(
        [
            _order(900_001, datetime(1998, 1, 1, 10, 0, tzinfo=UTC), 1_000),
            _order(900_002, datetime(1998, 6, 30, 23, 30, tzinfo=UTC), 2_500),
            _order(900_003, datetime(1998, 7, 1, 9, 0, tzinfo=UTC), 7_000, "canceled"),
        ],
        schema=ORDERS,
    )
    directory = tmp_path_factory.mktemp("asof") / "snap"
    return write_snapshot(directory, {"orders": pa.concat_tables([base, extra])})


def test_default_as_of_is_the_last_purchase_day(snapshot: Path) -> None:
    assert snapshot_as_of(snapshot, None) == date(1998, 6, 30)
    assert snapshot_as_of(snapshot, date(1998, 3, 1)) == date(1998, 3, 1)
    assert as_of_cutoff(date(1998, 6, 30)) == datetime(1998, 6, 30, 23, 59, 59, 999_999, UTC)
    assert parse_as_of(None) is None
    with pytest.raises(ValueError, match="ISO date"):
        parse_as_of("30/06/1998")


def test_last_day_order_counts_in_analytics(snapshot: Path) -> None:
    result = run_analytics(snapshot, clusters=False)
    assert result.as_of == date(1998, 6, 30)
    row = result.scores.set_index("customer_id").loc[LATE]
    assert (row["frequency"], row["monetary_minor"]) == (2, 3_500)
    assert row["recency_days"] == 0


def test_last_day_order_counts_in_predictions(snapshot: Path, tmp_path: Path) -> None:
    result = run_predict(Source(snapshot, "cdnow"), out=tmp_path, model="bgnbd")
    assert result.as_of == date(1998, 6, 30)
    rows = {r["customer_id"]: r for r in result.scores.to_pylist()}
    late = rows[LATE]
    # Two purchase days, 180 days apart, the last one on the as-of day (weeks as unit).
    assert late["frequency"] == 1.0
    assert late["recency"] == pytest.approx(180 / 7)
    assert late["T"] == pytest.approx(180 / 7)
