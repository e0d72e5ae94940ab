"""Funnel analytics on the Olist funnel against an independent pandas computation.

The metrics are SQL texts run by an engine: the Olist checks run on DuckDB and on Spark
(the ``spark`` mark), the small constructed cases on DuckDB.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import Engine

from recompra.commercial.frames import COLUMNS, funnel_frame
from recompra.commercial.funnel import (
    conversion,
    funnel_engine,
    rep_concentration,
    shrunk_ranking,
    time_to_close,
)
from recompra.db import unit_of_work
from recompra.engines.base import Engine as SqlEngine
from recompra.hub.rejects import ImportReport


def _wilson(won: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval written out (Wilson 1927; Agresti & Coull 1998, eq. 2)."""
    p = won / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.fixture(scope="module")
def frame(funnel_db: tuple[Engine, int, ImportReport]) -> pd.DataFrame:
    engine, brand_id, _ = funnel_db
    with unit_of_work(engine) as session:
        return funnel_frame(session, brand_id=brand_id)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def metrics(frame: pd.DataFrame, request: pytest.FixtureRequest) -> Iterator[SqlEngine]:
    """The Olist funnel registered on each engine."""
    spark = request.getfixturevalue("spark") if request.param == "spark" else None
    with funnel_engine(frame, engine=request.param, spark=spark) as engine:
        yield engine


@pytest.fixture(scope="module")
def merged(raw_leads: pd.DataFrame, raw_deals: pd.DataFrame) -> pd.DataFrame:
    """Leads left-joined to deals, with the won date as a UTC date (Olist is São Paulo)."""
    out = raw_leads.merge(raw_deals[["mql_id", "won_date", "sr_id"]], on="mql_id", how="left")
    won_local = pd.to_datetime(out["won_date"]).dt.tz_localize("America/Sao_Paulo")
    out["won_day"] = won_local.dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    out["days"] = (out["won_day"] - pd.to_datetime(out["first_contact_date"])).dt.days
    return out


def test_overall_conversion_matches_pandas(metrics: SqlEngine, merged: pd.DataFrame) -> None:
    (overall,) = conversion(metrics)
    won = int(merged["won_date"].notna().sum())
    assert (overall.leads, overall.won) == (len(merged), won) == (8000, 842)
    assert overall.rate == pytest.approx(won / len(merged))
    low, high = _wilson(won, len(merged))
    assert (overall.ci_low, overall.ci_high) == (pytest.approx(low), pytest.approx(high))


def test_conversion_by_channel_matches_pandas(metrics: SqlEngine, merged: pd.DataFrame) -> None:
    expected = merged.assign(channel=merged["origin"].fillna("unknown")).groupby("channel")
    sizes, wins = expected.size(), expected["won_date"].count()
    rows = {r.group: r for r in conversion(metrics, "channel")}
    assert set(rows) == set(sizes.index)
    for channel, row in rows.items():
        assert (row.leads, row.won) == (sizes[channel], wins[channel])
        low, high = _wilson(int(wins[channel]), int(sizes[channel]))
        assert row.ci_low == pytest.approx(low)
        assert row.ci_high == pytest.approx(high)


def test_conversion_by_cohort_year_matches_pandas(metrics: SqlEngine, merged: pd.DataFrame) -> None:
    year = merged["first_contact_date"].str[:4]
    expected = merged.groupby(year)["won_date"].agg(["size", "count"])
    rows = conversion(metrics, "year")
    assert [r.group for r in rows] == ["2017", "2018"]
    for row in rows:
        assert (row.leads, row.won) == tuple(expected.loc[row.group])


def test_time_to_close_matches_pandas(metrics: SqlEngine, merged: pd.DataFrame) -> None:
    days = merged["days"].dropna()
    valid = days[days >= 0]
    result = time_to_close(metrics)
    assert result.excluded == int((days < 0).sum()) == 1
    assert result.deals == len(valid)
    assert result.median == pytest.approx(valid.median())
    assert result.q1 == pytest.approx(valid.quantile(0.25))
    assert result.q3 == pytest.approx(valid.quantile(0.75))
    for horizon in (7, 30, 90):
        assert result.within[horizon] == pytest.approx((valid <= horizon).mean())


def test_rep_concentration_matches_pandas(metrics: SqlEngine, raw_deals: pd.DataFrame) -> None:
    shares = raw_deals["sr_id"].value_counts(normalize=True)
    result = rep_concentration(metrics)
    assert result.reps == raw_deals["sr_id"].nunique()
    assert result.top_rep_share == pytest.approx(shares.iloc[0])
    assert result.hhi == pytest.approx((shares**2).sum())
    assert result.reps_for_80_percent == int((shares.cumsum() < 0.8).sum()) + 1


def _page_leads(pages: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """A funnel frame of ``page -> (leads, won)``: one row per lead, nothing else known."""
    rows = [
        (None, page, pd.Timestamp("2018-01-01"), None, None, None, i < won)
        for page, (leads, won) in pages.items()
        for i in range(leads)
    ]
    frame = pd.DataFrame(rows, columns=list(COLUMNS[1:-1]))
    frame.insert(0, "lead_id", range(len(frame)))
    frame["closed_on"] = frame["first_contact_on"].where(frame["won"]) + pd.Timedelta(days=4)
    return frame


def test_conversion_by_cohort_month_matches_pandas(
    metrics: SqlEngine, merged: pd.DataFrame
) -> None:
    month = merged["first_contact_date"].str[:7]
    expected = merged.groupby(month)["won_date"].agg(["size", "count"])
    rows = conversion(metrics, "cohort")
    assert [r.group for r in rows] == sorted(expected.index)
    for row in rows:
        assert (row.leads, row.won) == tuple(expected.loc[row.group])


def test_deals_by_rep_match_pandas(metrics: SqlEngine, raw_deals: pd.DataFrame) -> None:
    expected = raw_deals["sr_id"].value_counts()
    assert rep_concentration(metrics).deals_by_rep == expected.to_dict()


def test_small_page_does_not_rank_first() -> None:
    """A page with 3 leads and 1 deal has the best raw rate but not the best shrunk one."""
    pages = {"big_good": (400, 60), "big_average": (600, 60), "tiny": (3, 1), "poor": (500, 20)}
    with funnel_engine(_page_leads(pages)) as engine:
        ranked, (a, b) = shrunk_ranking(engine, "page")
    assert max(ranked, key=lambda r: r.raw_rate).group == "tiny"
    assert ranked[0].group == "big_good"
    tiny = next(r for r in ranked if r.group == "tiny")
    # The posterior mean is the textbook beta-binomial update of the fitted prior.
    assert tiny.shrunk_rate == pytest.approx((1 + a) / (3 + a + b))
    assert tiny.shrunk_rate < 1 / 3


def test_conversion_rejects_unknown_dimension(metrics: SqlEngine) -> None:
    with pytest.raises(ValueError, match="--by"):
        conversion(metrics, "planet")


def test_metrics_of_an_empty_funnel_are_empty() -> None:
    with funnel_engine(_page_leads({})) as engine:
        assert conversion(engine) == []
        close = time_to_close(engine)
        reps = rep_concentration(engine)
    assert (close.deals, close.excluded, close.median) == (0, 0, None)
    assert close.within == {7: 0.0, 30: 0.0, 90: 0.0}
    assert (reps.reps, reps.deals, reps.hhi, reps.deals_by_rep) == (0, 0, 0.0, {})
