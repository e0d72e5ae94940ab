"""Exact analytics results on the hand-made snapshot (numbers worked out by hand).

Purchases up to 2024-06-30 (order 5 canceled, order 11 unavailable and order 10 after the
as-of date do not count; order 7 has a 3000 refund, order 6's refund is after as-of):

customer  purchases (day, total)                   recency  F  M (net)
1         01-10 1000, 03-05 3000, 06-20 2000       10       3  6000
2         02-15 5000                               136      1  5000
3         06-29 1500                               1        1  1500
4         04-01 8000 (refund 3000)                 90       1  5000
5         05-10 400, 05-25 600                     36       2  1000
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from recompra.analytics import AnalyticsResult, run_analytics

from ._handmade import write_handmade


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_handmade(tmp_path_factory.mktemp("handmade"))


@pytest.fixture(scope="module")
def result(snapshot: Path) -> AnalyticsResult:
    return run_analytics(snapshot, as_of="2024-06-30", churn_days=60)


def _by(frame: pd.DataFrame, key: str) -> dict[object, dict[str, object]]:
    return {row[key]: row for row in frame.to_dict("records")}


def test_rfm_values_scores_and_segments(result: AnalyticsResult) -> None:
    rows = _by(result.scores, "customer_id")
    assert set(rows) == {1, 2, 3, 4, 5}  # customer 6 never purchased by the as-of date
    expected = {
        # recency, F, M, then scores: R by recency rank (1..5 -> 5..1);
        # M: 6000 rank 1 -> 5, the two 5000s share rank 2 -> 4, 1500 rank 4 -> 2, 1000 -> 1;
        # F thresholds: 1 -> 1, 2 -> 2, 3 -> 3.
        1: (10, 3, 6000, 4, 3, 5, "loyal"),  # R>=3, F>=3
        2: (136, 1, 5000, 1, 1, 4, "lost"),  # R=1, F=1
        3: (1, 1, 1500, 5, 1, 2, "new_customers"),  # R>=4, F=1, M<4
        4: (90, 1, 5000, 2, 1, 4, "hibernating"),  # R=2, F=1
        5: (36, 2, 1000, 3, 2, 1, "need_attention"),  # R=3, F=2
    }
    for customer, (rec, freq, mon, r, f, m, segment) in expected.items():
        row = rows[customer]
        assert (row["recency_days"], row["frequency"], row["monetary_minor"]) == (rec, freq, mon)
        assert (row["r_score"], row["f_score"], row["m_score"]) == (r, f, m)
        assert row["segment"] == segment
        assert row["as_of"] == date(2024, 6, 30)
    assert list(result.scores.columns) == [
        "customer_id", "as_of", "recency_days", "frequency", "monetary_minor",
        "r_score", "f_score", "m_score", "segment", "cluster",
    ]  # fmt: skip


def test_default_as_of_is_last_purchase_day(tmp_path: Path) -> None:
    snapshot = write_handmade(tmp_path / "snap")
    result = run_analytics(snapshot, clusters=False)
    assert result.as_of == date(2024, 7, 5)  # order 10; canceled/unavailable orders ignored
    assert set(result.scores.customer_id) == {1, 2, 3, 4, 5, 6}


def test_cohorts(result: AnalyticsResult) -> None:
    cells = {
        (row["cohort_month"], row["months_since_first"]): row
        for row in result.cohorts.to_dict("records")
    }
    assert sorted(cells) == [
        (date(2024, 1, 1), 0),
        (date(2024, 1, 1), 2),
        (date(2024, 1, 1), 5),
        (date(2024, 2, 1), 0),
        (date(2024, 4, 1), 0),
        (date(2024, 5, 1), 0),
        (date(2024, 6, 1), 0),
    ]
    jan5 = cells[(date(2024, 1, 1), 5)]
    assert (jan5["cohort_size"], jan5["customers"], jan5["retention_rate"]) == (1, 1, 1.0)
    assert jan5["revenue_minor"] == 2000
    assert jan5["cumulative_revenue_per_customer_minor"] == 6000.0  # 1000 + 3000 + 2000
    may = cells[(date(2024, 5, 1), 0)]
    assert (may["customers"], may["orders"], may["revenue_minor"]) == (1, 2, 1000)
    assert cells[(date(2024, 4, 1), 0)]["revenue_minor"] == 5000  # 8000 - 3000 refund


def test_monthly_kpis(result: AnalyticsResult) -> None:
    months = _by(result.kpis_by_period[result.kpis_by_period.granularity == "month"], "period")
    assert list(months) == ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"]
    june = months["2024-06"]
    # Customer 1 (returning, 3rd purchase) and customer 3 (new).
    assert (june["active_customers"], june["new_customers"], june["returning_customers"]) == (
        2,
        1,
        1,
    )
    assert june["orders"] == 2
    assert june["gross_revenue_minor"] == 3500
    assert june["repurchase_rate"] == 2 / 5  # customers 1 and 5 bought twice by end of June
    assert june["historic_clv_minor"] == 18500 / 5
    assert june["cross_sell_rate"] == 1.0
    assert june["upsell_rate"] == 0.0
    may = months["2024-05"]
    assert may["purchase_frequency"] == 2.0
    assert may["average_order_value_minor"] == 500.0
    assert may["upsell_rate"] == 1.0  # order 9: 600 > 400
    april = months["2024-04"]
    assert april["return_rate"] == 1.0
    assert april["refunds_minor"] == 3000
    assert april["revenue_minor"] == 5000
    assert april["gross_revenue_minor"] == 8000
    # Churn window 60 days. Lapses: customer 2 on 04-15, customer 1 on 05-04 (gap
    # 03-05 -> 06-20 is 107 days), customer 4 on 05-31; customer 1's 01-10 -> 03-05 gap
    # is 55 days (no lapse). Active on the eve of: Feb {1}, Mar {1,2}, Apr {1,2},
    # May {1,4}, Jun {5}.
    starts = [months[m]["customers_active_at_start"] for m in months]
    assert starts == [0, 1, 2, 2, 2, 1]
    assert [months[m]["churned_customers"] for m in months] == [0, 0, 0, 1, 2, 0]
    assert april["churn_rate"] == 0.5
    assert april["retention_rate"] == 0.5
    assert may["churn_rate"] == 1.0
    assert june["churn_rate"] == 0.0
    assert math.isnan(months["2024-01"]["churn_rate"])  # nobody active before January
    # Reviews by month written: Jan 5; Feb 2 and 1 (canceled order still reviewed); Apr 4.
    assert months["2024-01"]["nps"] == 100.0
    assert months["2024-02"]["average_review_score"] == 1.5
    assert months["2024-02"]["nps"] == -100
    assert april["csat"] == 1.0
    assert april["nps"] == 0.0


def test_quarterly_churn_excludes_customers_acquired_in_the_quarter(
    result: AnalyticsResult,
) -> None:
    quarters = _by(result.kpis_by_period[result.kpis_by_period.granularity == "quarter"], "period")
    q2 = quarters["2024-Q2"]
    # Base on 03-31: customers 1 and 2. Lapses in Q2: 2 (run from 02-15), 1 (run from
    # 01-10) and 4 (run from 04-01, acquired inside Q2, so not churn of the base).
    assert (q2["customers_active_at_start"], q2["churned_customers"]) == (2, 2)
    assert q2["churn_rate"] == 1.0
    assert (q2["active_customers"], q2["new_customers"], q2["orders"]) == (4, 3, 5)
    year = _by(result.kpis_by_period[result.kpis_by_period.granularity == "year"], "period")
    assert year["2024"]["orders"] == 8
    assert year["2024"]["revenue_minor"] == 18500


def test_segment_kpis_and_summary(result: AnalyticsResult) -> None:
    segments = _by(result.kpis_by_segment, "segment")
    loyal = segments["loyal"]
    assert (loyal["customers"], loyal["orders"], loyal["revenue_minor"]) == (1, 3, 6000)
    assert loyal["upsell_rate"] == 0.5
    assert loyal["cross_sell_rate"] == 0.5
    assert segments["lost"]["average_review_score"] == 1.5  # customer 2: scores 2 and 1
    summary = result.summary
    assert summary["customers_total"] == 5
    assert summary["orders_total"] == 8
    assert summary["gross_revenue_minor"] == 21500
    assert summary["revenue_minor"] == 18500
    assert summary["average_order_value_minor"] == 21500 / 8
    assert summary["purchase_frequency"] == 8 / 5
    assert summary["repurchase_rate"] == 2 / 5
    assert summary["historic_clv_minor"] == 3700
    assert summary["churn_rate"] == 2 / 5  # customers 2 and 4: recency >= 60 days
    assert summary["return_rate"] == 1 / 8
    # Reviews of purchasing customers up to as-of: 5, 2, 4, 1.
    assert summary["average_review_score"] == 3.0
    assert summary["csat"] == 0.5
    assert summary["nps"] == -25.0  # 100 * (1 promoter - 2 detractors) / 4
    assert summary["upsell_rate"] == 2 / 3
    assert summary["cross_sell_rate"] == 1 / 3
    sizes = {k: v["customers"] for k, v in summary["segments"].items()}
    assert sizes["loyal"] == 1
    assert sizes["champions"] == 0
    assert sum(sizes.values()) == 5


def test_clusters_are_described_and_numbered_by_value(
    result: AnalyticsResult, snapshot: Path
) -> None:
    clusters = result.clusters
    assert clusters.customers.sum() == 5
    means = clusters.sort_values("cluster").mean_monetary_minor.tolist()
    assert means == sorted(means, reverse=True)
    assert all(clusters.description_en.str.len() > 0)
    assert all(clusters.description_pt.str.len() > 0)
    again = run_analytics(snapshot, as_of="2024-06-30", churn_days=60)
    pd.testing.assert_frame_equal(again.scores, result.scores)  # seeded: same clusters
