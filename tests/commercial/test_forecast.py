"""Deal forecasts on the Olist funnel: the back-test is honest and the lag model wins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from recompra.commercial.forecast import backtest, lag_forecast, month_index, monthly_counts
from recompra.commercial.frames import funnel_frame
from recompra.db import unit_of_work
from recompra.hub.rejects import ImportReport
from recompra.models import ForecastBacktest
from recompra.models.base import utcnow
from recompra.reads.commercial import forecast_report


@pytest.fixture(scope="module")
def frame(funnel_db: tuple[Engine, int, ImportReport]) -> pd.DataFrame:
    engine, brand_id, _ = funnel_db
    with unit_of_work(engine) as session:
        return funnel_frame(session, brand_id=brand_id)


def _won_per_month(raw_leads: pd.DataFrame, raw_deals: pd.DataFrame) -> pd.Series:
    """Won deals per UTC month, from the first lead's month (zeros before any deal)."""
    won = pd.to_datetime(raw_deals["won_date"]).dt.tz_localize("America/Sao_Paulo")
    months = won.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M")
    first = pd.to_datetime(raw_leads["first_contact_date"]).min().to_period("M")
    return months.value_counts().reindex(pd.period_range(first, months.max()), fill_value=0)


def test_baselines_match_pandas_and_lag_model_beats_naive(
    frame: pd.DataFrame, raw_leads: pd.DataFrame, raw_deals: pd.DataFrame
) -> None:
    result = backtest(monthly_counts(frame))
    won = _won_per_month(raw_leads, raw_deals)
    # Targets start two months after the first month with a won deal.
    first_deal = won.index[won.to_numpy() > 0][0]
    targets = won.index[won.index >= first_deal + 2]
    assert [r.month for r in result.rows] == [t.to_timestamp().date() for t in targets]
    actual = won[targets].to_numpy(dtype=float)
    naive = won.shift(1)[targets].to_numpy(dtype=float)
    mean3 = won.rolling(3).mean().shift(1)
    expected_naive = np.abs(naive - actual).sum() / actual.sum()
    expected_mean3 = np.abs(mean3[targets].to_numpy() - actual).sum() / actual.sum()
    assert result.wape["naive_last_month"] == pytest.approx(expected_naive)
    assert result.wape["mean_3_months"] == pytest.approx(expected_mean3)
    assert result.wape["lag_cohort"] < result.wape["naive_last_month"]


def test_lag_forecast_uses_only_the_past(frame: pd.DataFrame) -> None:
    """Deleting every deal won in or after the target month changes nothing."""
    counts = monthly_counts(frame)
    target = month_index(pd.Timestamp("2018-04-01"))
    cut = frame.copy()
    future = cut["won"] & (cut["closed_on"] >= pd.Timestamp("2018-04-01"))
    cut.loc[future, ["won", "closed_on"]] = [False, pd.NaT]
    assert lag_forecast(monthly_counts(cut), target) == pytest.approx(lag_forecast(counts, target))


def test_backtest_is_stored_once_per_model_and_month(
    funnel_db: tuple[Engine, int, ImportReport],
) -> None:
    engine, brand_id, _ = funnel_db
    for _ in range(2):
        with unit_of_work(engine) as session:
            report = forecast_report(session, brand_id=brand_id, run_backtest=True, at=utcnow())
    rows = len(report["backtest"]["rows"])
    with unit_of_work(engine) as session:
        stored = session.scalar(select(func.count()).where(ForecastBacktest.brand_id == brand_id))
    assert stored == rows * 3
    assert report["weighted_pipeline"]["open_deals"] == 0
