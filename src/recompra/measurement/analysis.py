"""One comparison of a holdout with its treated arm, from per-customer outcomes to the
figures a report shows: arms, ITT differences with CIs, the MDE panel, SRM, CUPED and
the sequential test. Pure: the database readers build the frame, this judges it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from recompra.measurement import stats

#: The default target: a lift of 10% of the holdout's conversion rate.
TARGET_RELATIVE_MDE = 0.10


@dataclass(frozen=True)
class Arm:
    """One arm's eligible customers and what they did within the window."""

    eligible: int
    converted: int
    orders: int
    revenue_minor: int
    conversion_rate: float
    revenue_per_eligible_minor: int


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% CI (``p_value`` is ``None`` where none applies)."""

    value: float
    ci_low: float
    ci_high: float
    p_value: float | None = None


@dataclass(frozen=True)
class MoneyInterval:
    """A money estimate in integer minor units with its 95% CI."""

    value_minor: int
    ci_low_minor: int
    ci_high_minor: int
    p_value: float


@dataclass(frozen=True)
class MdePanel:
    """The smallest lift detectable now (80% power, alpha 5%) and when a target is met."""

    conversion_mde: float
    conversion_mde_relative: float
    revenue_per_eligible_mde_minor: int | None
    target_mde: float
    planned_treated: int | None
    days_to_target: float | None
    entries_per_day: float


@dataclass(frozen=True)
class Variance:
    """CUPED on revenue per eligible: the covariate used and the variance it removed."""

    covariate: str
    variance_reduction: float
    revenue_per_eligible: MoneyInterval


@dataclass(frozen=True)
class Comparison:
    """Everything a report says about one holdout comparison (journey or node)."""

    treated: Arm
    control: Arm
    holdout_share: float
    srm_p_value: float
    conversion_lift: Interval
    revenue_per_eligible: MoneyInterval
    incremental_orders: Interval
    incremental_revenue: MoneyInterval
    mde: MdePanel
    cuped: Variance | None
    sequential_p_value: float
    decision: str


def _arm(frame: pd.DataFrame) -> Arm:
    eligible = len(frame)
    converted = int((frame["orders"] > 0).sum())
    revenue = int(frame["revenue_minor"].sum())
    return Arm(
        eligible=eligible,
        converted=converted,
        orders=int(frame["orders"].sum()),
        revenue_minor=revenue,
        conversion_rate=converted / eligible if eligible else math.nan,
        revenue_per_eligible_minor=round(revenue / eligible) if eligible else 0,
    )


def _money(estimate: stats.Estimate, scale: float = 1.0) -> MoneyInterval:
    def minor(x: float) -> int:
        return round(x * scale) if math.isfinite(x) else 0

    return MoneyInterval(
        minor(estimate.value), minor(estimate.ci_low), minor(estimate.ci_high), estimate.p_value
    )


def _sequential(frame: pd.DataFrame) -> float:
    """The always-valid p-value after one look per entry day (cumulative cohorts)."""
    day = frame["started_at"].dt.floor("D")
    converted = frame["orders"] > 0
    counts = (
        pd.DataFrame({"day": day, "holdout": frame["holdout"], "converted": converted})
        .groupby(["day", "holdout"])["converted"]
        .agg(["size", "sum"])
        .unstack("holdout", fill_value=0)
        .cumsum()
    )

    def column(kind: str, held: bool) -> np.ndarray:
        key = (kind, held)
        return counts[key].to_numpy(np.int64) if key in counts else np.zeros(len(counts), np.int64)

    result = stats.conversion_sequential(
        column("sum", False), column("size", False), column("sum", True), column("size", True)
    )
    return float(result.p_value[-1]) if len(result.p_value) else 1.0


def compare(
    frame: pd.DataFrame,
    *,
    holdout_share: float,
    entries_per_day: float,
    entered: int,
    covariate: str | None = None,
    target_relative_mde: float = TARGET_RELATIVE_MDE,
) -> Comparison:
    """Judge ``frame`` (one row per eligible customer: ``holdout``, ``orders``,
    ``revenue_minor``, ``started_at`` and, with ``covariate``, a ``covariate`` column)."""
    held = frame["holdout"].to_numpy(bool)
    treated, control = frame[~held], frame[held]
    t_arm, c_arm = _arm(treated), _arm(control)
    conversion = stats.conversion_difference(
        t_arm.converted, t_arm.eligible, c_arm.converted, c_arm.eligible
    )
    revenue = frame["revenue_minor"].to_numpy(np.float64)
    orders = frame["orders"].to_numpy(np.float64)
    per_eligible = stats.mean_difference(revenue[~held], revenue[held])
    orders_each = stats.mean_difference(orders[~held], orders[held])
    # Intention to treat: the per-eligible difference times the treated arm's size is
    # what the action added over doing nothing for those customers.
    scale = float(t_arm.eligible)
    incremental_orders = Interval(
        orders_each.value * scale,
        orders_each.ci_low * scale,
        orders_each.ci_high * scale,
        orders_each.p_value,
    )
    baseline = c_arm.conversion_rate if c_arm.eligible else math.nan
    mde = _mde_panel(
        baseline,
        revenue,
        t_arm.eligible,
        c_arm.eligible,
        holdout_share=holdout_share,
        entries_per_day=entries_per_day,
        entered=entered,
        target_relative_mde=target_relative_mde,
    )
    sequential_p = _sequential(frame)
    planned_reached = mde.planned_treated is not None and t_arm.eligible >= mde.planned_treated
    return Comparison(
        treated=t_arm,
        control=c_arm,
        holdout_share=holdout_share,
        srm_p_value=stats.srm_p_value(t_arm.eligible, c_arm.eligible, holdout_share),
        conversion_lift=Interval(
            conversion.value, conversion.ci_low, conversion.ci_high, conversion.p_value
        ),
        revenue_per_eligible=_money(per_eligible),
        incremental_orders=incremental_orders,
        incremental_revenue=_money(per_eligible, scale),
        mde=mde,
        cuped=_cuped(frame, held, revenue, covariate),
        sequential_p_value=sequential_p,
        decision=stats.decision(
            conversion,
            planned_reached=planned_reached,
            sequential_crossed=sequential_p <= stats.ALPHA,
        ),
    )


def _mde_panel(
    baseline: float,
    revenue: np.ndarray,
    treated_n: int,
    control_n: int,
    *,
    holdout_share: float,
    entries_per_day: float,
    entered: int,
    target_relative_mde: float,
) -> MdePanel:
    mde = stats.conversion_mde(baseline, treated_n, control_n) if baseline > 0 else math.nan
    target = baseline * target_relative_mde if baseline > 0 else math.nan
    planned = stats.treated_n_for_mde(baseline, target, holdout_share)
    days = stats.days_to_mde(
        baseline, target, holdout_share, entered=entered, entries_per_day=entries_per_day
    )
    revenue_mde = stats.mean_mde(float(np.std(revenue)), treated_n, control_n)
    return MdePanel(
        conversion_mde=mde,
        conversion_mde_relative=mde / baseline if baseline > 0 else math.nan,
        revenue_per_eligible_mde_minor=round(revenue_mde) if math.isfinite(revenue_mde) else None,
        target_mde=target,
        planned_treated=math.ceil(planned) if math.isfinite(planned) else None,
        days_to_target=days if math.isfinite(days) else None,
        entries_per_day=entries_per_day,
    )


def _cuped(
    frame: pd.DataFrame, held: np.ndarray, revenue: np.ndarray, covariate: str | None
) -> Variance | None:
    if covariate is None or "covariate" not in frame:
        return None
    adjusted = stats.cuped(revenue, frame["covariate"].to_numpy(np.float64))
    estimate = stats.mean_difference(adjusted.adjusted[~held], adjusted.adjusted[held])
    return Variance(covariate, adjusted.variance_reduction, _money(estimate))


def entries_per_day(started: pd.Series, *, today: date, days: int = 28) -> float:
    """Entries per day over the last ``days`` days up to ``today``."""
    if started.empty:
        return 0.0
    since = pd.Timestamp(today, tz="UTC") - pd.Timedelta(days=days)
    return float((started > since).sum()) / days
