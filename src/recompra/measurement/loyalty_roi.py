"""The loyalty program's return: members against matched non-members, and what the
points cost.

Observational, not an experiment: each member is matched (nearest neighbour, with
replacement) to a customer who was not a member, on the day the member enrolled, by
recency, frequency and monetary value before that day (and predicted CLV where scores
dated before it exist). Whatever the match does not see (why someone joined) can still
bias the difference; the report says so next to every figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.loyalty.programs import active_program_for_brand
from recompra.loyalty.valuation import points_value_minor
from recompra.measurement.analysis import Interval, MoneyInterval
from recompra.measurement.frames import clv_scores, purchases, read_frame
from recompra.measurement.stats import conversion_difference
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyLot,
    LoyaltyMovement,
    LoyaltyRedemption,
)

METHOD = "observational_matched"


@dataclass(frozen=True)
class RoiSettings:
    """Post-enrolment window, the gross margin on revenue and what points cost.

    The store's margin is not in the data: the default is a 30% gross margin. Points are
    valued as the loyalty page values them (``RECOMPRA_POINT_VALUE_MINOR_PER_1000``).
    """

    post_days: int = 180
    margin_rate: float = 0.30
    point_value_minor_per_1000: int = 5_000


@dataclass(frozen=True)
class Points:
    """The program's points: issued (net of returns), redeemed, expired, outstanding."""

    issued: int
    redeemed: int
    expired: int
    outstanding: int
    redemption_rate: float | None
    liability_minor: int
    redemption_cost_minor: int


@dataclass(frozen=True)
class LoyaltyRoi:
    """The program's ROI report (``reason`` says why a figure is missing)."""

    program_id: int | None
    method: str
    members: int
    matched: int
    post_days: int
    margin_rate: float
    point_value_minor_per_1000: int
    member_margin_minor: int
    matched_margin_minor: int
    incremental_margin: MoneyInterval | None
    points: Points | None
    roi: Interval | None
    incremental_margin_per_point_minor: float | None
    churn_difference: Interval | None
    reason: str | None


def empty_report(reason: str, settings: RoiSettings, program_id: int | None = None) -> LoyaltyRoi:
    """A report with no figures and the reason why."""
    return LoyaltyRoi(
        program_id, METHOD, 0, 0, settings.post_days, settings.margin_rate,
        settings.point_value_minor_per_1000, 0, 0, None, None, None, None, None, reason,
    )  # fmt: skip


def _points(session: Session, program_id: int, per_1000_minor: int) -> Points:
    accounts = select(LoyaltyAccount.id).where(LoyaltyAccount.program_id == program_id)
    issued, reversed_, expired = session.execute(
        select(
            func.coalesce(func.sum(LoyaltyLot.points), 0),
            func.coalesce(func.sum(LoyaltyLot.reversed_points), 0),
            func.coalesce(func.sum(LoyaltyLot.expired_points), 0),
        ).where(LoyaltyLot.account_id.in_(accounts))
    ).one()
    redeemed = session.scalar(
        select(func.coalesce(func.sum(LoyaltyRedemption.points), 0)).where(
            LoyaltyRedemption.account_id.in_(accounts), LoyaltyRedemption.status == "issued"
        )
    )
    outstanding = session.scalar(
        select(func.coalesce(func.sum(LoyaltyAccount.balance + LoyaltyAccount.pending), 0)).where(
            LoyaltyAccount.program_id == program_id
        )
    )
    net_issued = int(issued) - int(reversed_)
    return Points(
        issued=net_issued,
        redeemed=int(redeemed or 0),
        expired=int(expired),
        outstanding=int(outstanding or 0),
        redemption_rate=int(redeemed or 0) / net_issued if net_issued > 0 else None,
        liability_minor=points_value_minor(int(outstanding or 0), per_1000_minor),
        redemption_cost_minor=points_value_minor(int(redeemed or 0), per_1000_minor),
    )


def _features(orders: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Recency (days), frequency and monetary value per customer from orders before
    ``cutoff`` (log scale: the three are heavily skewed). ``orders`` is sorted by time
    (as :func:`recompra.measurement.frames.purchases` returns them)."""
    before = orders.iloc[: int(orders["purchased_at"].searchsorted(cutoff, side="left"))]
    by_customer = before.groupby("customer_id", sort=False)
    last = by_customer["purchased_at"].max()
    return pd.DataFrame(
        {
            "recency": np.log1p((cutoff - last).dt.days.astype(float)),
            "frequency": np.log1p(by_customer.size().astype(float)),
            "monetary": np.log1p(by_customer["total_minor"].sum().astype(float)),
        }
    )


def _clv_at(scores: pd.DataFrame, cutoff: pd.Timestamp) -> pd.Series:
    # Sorted by known_at: the last row per customer is the latest score known by then.
    latest = scores[scores["known_at"] < cutoff].drop_duplicates("customer_id", keep="last")
    clv = latest.set_index("customer_id")["clv_minor"].clip(lower=0).astype(float)
    return pd.Series(np.log1p(clv.to_numpy()), index=clv.index)


def loyalty_roi(
    session: Session, *, brand_id: int, now: datetime, settings: RoiSettings | None = None
) -> LoyaltyRoi:
    """The active program's ROI for the brand, as of ``now``."""
    settings = settings or RoiSettings()
    program = active_program_for_brand(session, brand_id=brand_id)
    if program is None:
        return empty_report("no_program", settings)
    points = _points(session, program.id, settings.point_value_minor_per_1000)
    enrolled = read_frame(
        session,
        select(LoyaltyAccount.customer_id, func.min(LoyaltyMovement.created_at))
        .join(LoyaltyMovement, LoyaltyMovement.account_id == LoyaltyAccount.id)
        .where(LoyaltyAccount.program_id == program.id)
        .group_by(LoyaltyAccount.customer_id),
        ["customer_id", "enrolled_at"],
    )
    if enrolled.empty:
        return empty_report("no_members", settings, program.id)
    orders = purchases(session, brand_id=brand_id)
    scores = clv_scores(session, brand_id=brand_id)
    # Matching happens per enrolment day: a member and their match share the day, so the
    # same before and after windows.
    enrolled["cutoff"] = enrolled["enrolled_at"].dt.floor("D") + pd.Timedelta(days=1)
    pairs = _match(enrolled, orders, scores)
    if pairs.empty:
        return empty_report("no_comparable_non_members", settings, program.id)
    return _report(pairs, orders, enrolled, points, settings, program.id, pd.Timestamp(now))


def _match(enrolled: pd.DataFrame, orders: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    members = set(enrolled["customer_id"])
    found = []
    for day, day_members in enrolled.groupby("cutoff"):
        cutoff = pd.Timestamp(day)  # type: ignore[arg-type]
        features = _features(orders, cutoff)
        clv = _clv_at(scores, cutoff) if len(scores) else pd.Series(dtype=float)
        # Predicted CLV joins the match only when most customers have a score that day.
        if len(clv) and clv.reindex(features.index).notna().mean() >= 0.5:
            features["clv"] = clv.reindex(features.index)
            features["clv"] = features["clv"].fillna(features["clv"].mean())
        candidates = features[~features.index.isin(members)]
        mine = features.reindex(day_members["customer_id"]).fillna(
            {"recency": features["recency"].max() if len(features) else 0.0,
             "frequency": 0.0, "monetary": 0.0}
        ).fillna(0.0)  # fmt: skip
        if candidates.empty:
            continue
        mean, sd = candidates.mean(), candidates.std(ddof=0).replace(0, 1.0)
        # Imported where used: the API server imports this module and must start
        # without scikit-learn (issue 20).
        from sklearn.neighbors import NearestNeighbors

        nearest = NearestNeighbors(n_neighbors=1).fit(((candidates - mean) / sd).to_numpy())
        _, index = nearest.kneighbors(((mine - mean) / sd).to_numpy())
        found.append(
            pd.DataFrame(
                {
                    "member": day_members["customer_id"].to_numpy(),
                    "match": candidates.index.to_numpy()[index[:, 0]],
                    "cutoff": cutoff,
                }
            )
        )
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()


def _post(orders: pd.DataFrame, pairs: pd.DataFrame, column: str, end: pd.Series) -> pd.DataFrame:
    """Revenue and order count of ``column``'s customer in ``[cutoff, end)``."""
    joined = (
        pairs[[column, "cutoff"]]
        .assign(end=end, row=pairs.index)
        .merge(orders, left_on=column, right_on="customer_id")
    )
    inside = joined[
        (joined["purchased_at"] >= joined["cutoff"]) & (joined["purchased_at"] < joined["end"])
    ]
    totals = inside.groupby("row").agg(
        revenue=("total_minor", "sum"), orders=("total_minor", "size")
    )
    return totals.reindex(pairs.index, fill_value=0)


def _report(
    pairs: pd.DataFrame,
    orders: pd.DataFrame,
    enrolled: pd.DataFrame,
    points: Points,
    settings: RoiSettings,
    program_id: int,
    now: pd.Timestamp,
) -> LoyaltyRoi:
    window = pd.Timedelta(days=settings.post_days)
    ends = pairs["cutoff"] + window
    end = ends.where(ends <= now, now)
    member = _post(orders, pairs, "member", end)
    matched = _post(orders, pairs, "match", end)
    margin_m = member["revenue"].to_numpy(float) * settings.margin_rate
    margin_c = matched["revenue"].to_numpy(float) * settings.margin_rate
    difference = margin_m - margin_c
    incremental: MoneyInterval | None = None
    roi: Interval | None = None
    per_point: float | None = None
    n = len(pairs)
    if n >= 2 and np.var(difference) > 0:
        from scipy import stats as scipy_stats  # lazy, see _match

        test = scipy_stats.ttest_1samp(difference, 0.0)
        interval = test.confidence_interval(0.95)
        total = float(difference.mean()) * n
        incremental = MoneyInterval(
            round(total), round(float(interval.low) * n), round(float(interval.high) * n),
            float(test.pvalue),
        )  # fmt: skip
        cost = points.redemption_cost_minor + points.liability_minor
        if cost > 0:
            roi = Interval(
                (total - cost) / cost,
                (float(interval.low) * n - cost) / cost,
                (float(interval.high) * n - cost) / cost,
            )
        if points.issued > 0:
            per_point = total / points.issued
    full = (pairs["cutoff"] + window) <= now
    churn: Interval | None = None
    if full.sum() >= 2:
        churned_m = int((member.loc[full, "orders"] == 0).sum())
        churned_c = int((matched.loc[full, "orders"] == 0).sum())
        k = int(full.sum())
        estimate = conversion_difference(churned_m, k, churned_c, k)
        churn = Interval(estimate.value, estimate.ci_low, estimate.ci_high, estimate.p_value)
    return LoyaltyRoi(
        program_id=program_id,
        method=METHOD,
        members=len(enrolled),
        matched=n,
        post_days=settings.post_days,
        margin_rate=settings.margin_rate,
        point_value_minor_per_1000=settings.point_value_minor_per_1000,
        member_margin_minor=round(float(margin_m.mean())) if n else 0,
        matched_margin_minor=round(float(margin_c.mean())) if n else 0,
        incremental_margin=incremental,
        points=points,
        roi=roi,
        incremental_margin_per_point_minor=per_point,
        churn_difference=churn,
        reason=None
        if incremental is not None
        else ("too_few_members" if n < 2 else "no_variation"),
    )
