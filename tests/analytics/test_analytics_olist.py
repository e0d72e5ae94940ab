"""On real Olist data, repurchase rate and segment sizes match an independent pandas run.

The expected numbers are computed here from the raw CSV files with pandas only, following
the documented definitions (purchases exclude canceled/unavailable orders; recency in UTC
days from the last purchase day; R and M scores from best-first ``rank(method="min")``;
F thresholds 1, 2, 3, 4-5, 6+; the segment rules of docs/analytics.md restated).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recompra.analytics import run_analytics

from ._olist import write_olist_snapshot


def _independent(olist_dir: Path) -> tuple[float, dict[str, int]]:
    customers = pd.read_csv(olist_dir / "olist_customers_dataset.csv.gz")
    orders = pd.read_csv(olist_dir / "olist_orders_dataset.csv.gz")
    items = pd.read_csv(olist_dir / "olist_order_items_dataset.csv.gz")
    orders = orders[~orders.order_status.isin(["canceled", "unavailable"])]
    orders = orders.merge(customers[["customer_id", "customer_unique_id"]], on="customer_id")
    cents = (items.price * 100).round() + (items.freight_value * 100).round()
    value = cents.groupby(items.order_id).sum()
    orders = orders.assign(
        day=pd.to_datetime(orders.order_purchase_timestamp).dt.normalize(),
        value=orders.order_id.map(value).fillna(0),
    )
    as_of = orders.day.max()
    per = orders.groupby("customer_unique_id").agg(
        last=("day", "max"), frequency=("order_id", "size"), monetary=("value", "sum")
    )
    repurchase_rate = float((per.frequency >= 2).mean())
    n = len(per)
    recency = (as_of - per["last"]).dt.days
    r_rank = recency.rank(method="min", ascending=True)
    m_rank = per.monetary.rank(method="min", ascending=False)
    r = 5 - np.floor(5 * (r_rank - 1) / n).astype(int)
    m = 5 - np.floor(5 * (m_rank - 1) / n).astype(int)
    f = pd.cut(per.frequency, [0, 1, 2, 3, 5, np.inf], labels=[1, 2, 3, 4, 5]).astype(int)

    def name(rs: int, fs: int, ms: int) -> str:
        if rs >= 4 and fs >= 4 and ms >= 4:
            return "champions"
        if rs >= 3 and fs >= 3:
            return "loyal"
        if rs >= 4:
            if fs == 2:
                return "potential_loyalists"
            return "promising" if ms >= 4 else "new_customers"
        if rs == 3:
            return "need_attention" if fs == 2 else "about_to_sleep"
        if fs >= 4 and ms >= 4:
            return "cant_lose_them"
        if fs >= 2:
            return "at_risk"
        return "hibernating" if rs == 2 else "lost"

    segments = pd.Series([name(*t) for t in zip(r, f, m, strict=True)])
    return repurchase_rate, segments.value_counts().to_dict()


@pytest.mark.slow
def test_olist_repurchase_rate_and_segment_sizes(olist_dir: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "olist"
    write_olist_snapshot(olist_dir, snapshot)
    result = run_analytics(snapshot, clusters=False)
    expected_rate, expected_sizes = _independent(olist_dir)
    assert result.summary["repurchase_rate"] == pytest.approx(expected_rate, rel=1e-12)
    assert 0.02 < expected_rate < 0.04  # about 3% of Olist customers bought again
    sizes = {k: v["customers"] for k, v in result.summary["segments"].items() if v["customers"]}
    assert sizes == expected_sizes
    assert result.summary["customers_total"] == sum(expected_sizes.values())
