"""Deal forecasts: the stage-weighted pipeline and the conversion-lag cohort model.

The lag model forecasts the deals won in month t from the lead cohorts already seen:
``F(t) = sum_{c < t} leads(c) * r(t - c) + leads(t - 1) * r(0)``, where ``r(k)`` is the
share of the most recent cohort that has been observed for ``k`` months which closed at
lag k (a chain-ladder "latest diagonal" rate), and the unseen cohort of month t is
assumed as large as the last one. Every number uses only deals won before t.

It is benchmarked on a rolling one-step back-test against naive last-month and a 3-month
average, scored by WAPE = sum |F - A| / sum A (docs/commercial.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.models import Opportunity, SalesStage

MODELS = ("lag_cohort", "naive_last_month", "mean_3_months")
#: Back-tests start once this many months of won deals exist before the target month.
MIN_HISTORY_MONTHS = 2
#: How many of the most recent cohorts observed at a lag estimate that lag's rate.
RECENT_COHORTS = 1


@dataclass(frozen=True)
class WeightedPipeline:
    """Open opportunities and their amount weighted by each stage's win probability."""

    open_deals: int
    open_amount_minor: int
    weighted_amount_minor: int


def weighted_pipeline(session: Session, *, brand_id: int) -> WeightedPipeline:
    """Σ amount × stage probability over open opportunities (amounts in minor units)."""
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Opportunity.amount_minor), 0),
            func.coalesce(func.sum(Opportunity.amount_minor * SalesStage.probability), 0),
        )
        .join(SalesStage, SalesStage.id == Opportunity.stage_id)
        .where(Opportunity.brand_id == brand_id, Opportunity.status == "open")
    ).one()
    count, amount, weighted = row
    return WeightedPipeline(int(count or 0), int(amount or 0), round(float(weighted or 0)))


def month_index(day: date | pd.Timestamp) -> int:
    """Months since year 0: consecutive months are consecutive integers."""
    return day.year * 12 + day.month - 1


def month_start(index: int) -> date:
    """The first day of the month ``index`` (inverse of :func:`month_index`)."""
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class MonthlyCounts:
    """Leads per first-contact month and won deals as (cohort month, won month) pairs.

    Months are :func:`month_index` integers from ``first`` to ``last`` inclusive.
    """

    first: int
    last: int
    leads: dict[int, int]
    #: One row per won deal: ``cohort`` and ``month`` (won) as month indices.
    deals: pd.DataFrame

    @property
    def months(self) -> range:
        """Every month of the span."""
        return range(self.first, self.last + 1)


def monthly_counts(frame: pd.DataFrame) -> MonthlyCounts:
    """Monthly lead and deal counts of a funnel frame (``frames.funnel_frame``)."""
    first_contact = frame["first_contact_on"]
    cohort = first_contact.dt.year * 12 + first_contact.dt.month - 1
    won = frame["won"].to_numpy(dtype=bool)
    closed = frame.loc[won, "closed_on"]
    deals = pd.DataFrame(
        {"cohort": cohort[won].to_numpy(), "month": (closed.dt.year * 12 + closed.dt.month - 1)}
    )
    every = pd.concat([cohort, deals["month"]])
    leads = {int(k): int(v) for k, v in cohort.value_counts().items()}
    return MonthlyCounts(int(every.min()), int(every.max()), leads, deals)


def lag_forecast(counts: MonthlyCounts, target: int) -> float:
    """The lag model's forecast of deals won in month ``target`` from data before it."""
    known = counts.deals[counts.deals["month"] < target]
    lags = known["month"] - known["cohort"]
    cohorts = [c for c in counts.months if c < target and counts.leads.get(c, 0) > 0]
    forecast = 0.0
    for lag in range(0, counts.last - counts.first + 2):
        observed = [c for c in cohorts if target - c > lag][-RECENT_COHORTS:]
        if not observed:
            continue
        base = sum(counts.leads[c] for c in observed)
        rate = int(((lags == lag) & known["cohort"].isin(observed)).sum()) / base
        # Lag 0 is the target month's own cohort, not seen yet: assume last month's size.
        cohort = target - 1 if lag == 0 else target - lag
        forecast += rate * counts.leads.get(cohort, 0)
    return forecast


def won_per_month(counts: MonthlyCounts) -> dict[int, int]:
    """Won deals per calendar month over the whole span (zeros included)."""
    found = counts.deals["month"].value_counts()
    return {m: int(found.get(m, 0)) for m in counts.months}


@dataclass(frozen=True)
class BacktestRow:
    """One target month of the back-test: each model's forecast and the actual count."""

    month: date
    actual: int
    forecasts: dict[str, float]


@dataclass(frozen=True)
class Backtest:
    """Rolling one-step back-test rows and each model's WAPE over them."""

    rows: list[BacktestRow]
    wape: dict[str, float | None]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "wape": self.wape,
            "rows": [{**asdict(r), "month": r.month.isoformat()} for r in self.rows],
        }


def wape(forecast: np.ndarray, actual: np.ndarray) -> float | None:
    """Weighted absolute percentage error; undefined (None) when nothing happened."""
    total = float(actual.sum())
    return float(np.abs(forecast - actual).sum() / total) if total > 0 else None


def backtest(counts: MonthlyCounts) -> Backtest:
    """Forecast every month with at least ``MIN_HISTORY_MONTHS`` of won deals before it."""
    won = won_per_month(counts)
    active = [m for m, n in won.items() if n > 0]
    if not active:
        return Backtest([], {m: None for m in MODELS})
    rows = []
    for target in range(active[0] + MIN_HISTORY_MONTHS, counts.last + 1):
        history = [won[m] for m in range(counts.first, target)]
        forecasts = {
            "lag_cohort": lag_forecast(counts, target),
            "naive_last_month": float(history[-1]),
            "mean_3_months": float(np.mean(history[-3:])),
        }
        rows.append(BacktestRow(month_start(target), won[target], forecasts))
    actual = np.array([r.actual for r in rows], dtype=float)
    scores = {m: wape(np.array([r.forecasts[m] for r in rows]), actual) for m in MODELS}
    return Backtest(rows, scores)


def next_month_forecast(counts: MonthlyCounts) -> tuple[date, float]:
    """The lag model's forecast for the month after the last one in the data."""
    return month_start(counts.last + 1), lag_forecast(counts, counts.last + 1)
