"""Pure parts of the dashboard: partial months, 1-2-5 bins, point values, model texts."""

from __future__ import annotations

from datetime import date

import pytest

from recompra.loyalty.valuation import points_value_minor
from recompra.reads.distributions import log_buckets, one_two_five_edges
from recompra.reads.models import KpiPeriod
from recompra.web.views.models import CHURN_REASONS, SELECTION_RULES, churn_reason_keys
from recompra.web.views.overview import split_partial_month


def _month(period: str) -> KpiPeriod:
    return KpiPeriod(
        period=period,
        revenue_minor=1,
        returns_minor=0,
        orders=1,
        customers=1,
        new_customers=1,
        returning_customers=0,
        aov_minor=1,
        purchase_frequency=1.0,
        retention_rate=None,
        churn_rate=None,
        repurchase_rate=None,
        nps=None,
        reviews=0,
    )


def test_a_month_cut_short_by_the_as_of_date_leaves_the_trends() -> None:
    months = [_month("2024-05"), _month("2024-06")]
    complete, partial = split_partial_month(months, date(2024, 6, 12))
    assert [m.period for m in complete] == ["2024-05"]
    assert partial is not None
    assert partial.period == "2024-06"


def test_a_month_ending_on_the_as_of_date_is_complete() -> None:
    months = [_month("2024-01"), _month("2024-02")]
    complete, partial = split_partial_month(months, date(2024, 2, 29))  # leap year
    assert [m.period for m in complete] == ["2024-01", "2024-02"]
    assert partial is None
    assert split_partial_month([], date(2024, 2, 1)) == ([], None)


def test_one_two_five_edges_cover_the_values() -> None:
    assert one_two_five_edges(150, 1999) == [100, 200, 500, 1000, 2000]
    assert one_two_five_edges(1, 1) == [1, 2]
    assert one_two_five_edges(5000, 5000) == [5000, 10000]


def test_log_buckets_count_every_value_once() -> None:
    values = [0, 0, 150, 999, 1000, 25_000]
    buckets = log_buckets(values)
    assert sum(b.customers for b in buckets) == len(values)
    assert [(b.low_minor, b.high_minor, b.customers) for b in buckets] == [
        (0, 100, 2),
        (100, 200, 1),
        (200, 500, 0),
        (500, 1000, 1),
        (1000, 2000, 1),
        (2000, 5000, 0),
        (5000, 10000, 0),
        (10000, 20000, 0),
        (20000, 50000, 1),
    ]
    assert log_buckets([]) == []


def test_a_skewed_distribution_is_not_one_bar() -> None:
    # 2,770 of 3,000 values in the first tenth of the range (the histogram).
    values = [100 + i for i in range(2770)] + [30_000 + 100 * i for i in range(230)]
    buckets = log_buckets(values)
    assert max(b.customers for b in buckets) < 2770


@pytest.mark.parametrize(
    ("points", "rate", "minor"),
    [(1000, 5000, 5000), (179, 5000, 895), (1, 5, 0), (1, 500, 1), (3, 500, 2), (-3, 500, -2)],
)
def test_points_value_rounds_half_away_from_zero(points: int, rate: int, minor: int) -> None:
    assert points_value_minor(points, rate) == minor


def test_model_texts_map_to_messages() -> None:
    from recompra.web.i18n import MESSAGES

    for key in [*SELECTION_RULES.values(), *CHURN_REASONS.values()]:
        assert key in MESSAGES
    assert churn_reason_keys("lower Brier score on the time split") == ["models.reason.lower_brier"]
    assert churn_reason_keys(
        "classifier requested but not used: history shorter than three churn windows"
    ) == ["models.reason.classifier_not_used", "models.reason.short_history"]
    assert churn_reason_keys("something new from predict") == []
    assert churn_reason_keys(None) == []
