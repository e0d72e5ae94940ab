"""KPIs of day ranges (the dashboard's period comparison) on the hand-made snapshot."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from recompra.analytics import run_analytics
from recompra.analytics.prepare import RunParams, day_of
from recompra.analytics.ranges import has_period_inputs, kpis_for_ranges

from ._handmade import write_handmade

AS_OF = date(2024, 6, 30)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("ranges")
    snapshot = write_handmade(root / "snap")
    result = run_analytics(snapshot, as_of=AS_OF, churn_days=60, period_inputs_dir=root / "in")
    assert has_period_inputs(root / "in")
    return root / "in", result.kpis_by_period


def _ranges(directory: Path, *bounds: date) -> dict[date, dict[str, object]]:
    frame = kpis_for_ranges(
        directory, RunParams(as_of_day=day_of(AS_OF), churn_days=60), [day_of(b) for b in bounds]
    )
    return {row["period_start"]: row for row in frame.to_dict("records")}


def test_a_range_and_the_one_before_by_hand(inputs: tuple[Path, pd.DataFrame]) -> None:
    rows = _ranges(inputs[0], date(2023, 11, 30), date(2024, 3, 1), date(2024, 6, 1))
    current, previous = rows[date(2024, 3, 1)], rows[date(2023, 11, 30)]
    # 1 March - 31 May: orders 2 (customer 1, 30.00), 7 (customer 4, 80.00, 30.00 refunded),
    # 8 and 9 (customer 5, 4.00 + 6.00); customers 4 and 5 buy for the first time.
    assert current["orders"] == 4
    assert current["active_customers"] == 3
    assert current["new_customers"] == 2
    assert current["gross_revenue_minor"] == 12_000
    assert current["revenue_minor"] == 9_000
    # One review (4 stars: passive) -> NPS 0.
    assert current["reviews"] == 1
    assert current["nps"] == 0
    # Active on 29 Feb: customers 1 (last 10 Jan) and 2 (15 Feb); both reach 60 days
    # without a purchase inside the range (4 May and 15 April) -> retention 0.
    assert current["customers_active_at_start"] == 2
    assert current["churned_customers"] == 2
    assert current["retention_rate"] == 0
    # 30 Nov - 29 Feb: orders 1 and 4 (the canceled and unavailable ones do not count);
    # reviews 5, 2 and 1 stars -> NPS 100 * (1 - 2) / 3.
    assert previous["orders"] == 2
    assert previous["active_customers"] == 2
    assert previous["gross_revenue_minor"] == 6_000
    assert previous["reviews"] == 3
    assert previous["nps"] == pytest.approx(-100 / 3)


def test_a_calendar_month_as_a_range_equals_the_monthly_row(
    inputs: tuple[Path, pd.DataFrame],
) -> None:
    directory, by_period = inputs
    monthly = by_period[(by_period.granularity == "month") & (by_period.period == "2024-05")]
    expected = monthly.drop(columns=["granularity", "period"]).to_dict("records")[0]
    got = _ranges(directory, date(2024, 5, 1), date(2024, 6, 1))[date(2024, 5, 1)]
    for column, value in expected.items():
        if isinstance(value, float) and pd.isna(value):
            assert pd.isna(got[column]), column
        else:
            assert got[column] == pytest.approx(value), column


def test_bounds_must_increase(inputs: tuple[Path, pd.DataFrame]) -> None:
    with pytest.raises(ValueError, match="increasing"):
        _ranges(inputs[0], date(2024, 5, 1), date(2024, 5, 1))
