"""Goals per segment: a KPI target over a calendar period, its progress, a 95% Wilson
interval when the KPI is a rate, and a forecast at the period's end.

The KPI is the one :mod:`recompra.analytics.kpis` defines (``kpis_by_period_sql``), not
a second definition: the brand's snapshot is restricted to the segment's **period
cohort** (every customer who was a member at some time during the period, from the
membership events) and the analytics engine (DuckDB) computes the KPI table of the
goal's granularity over it. A customer's rows are kept whole, so "first purchase",
"repeat purchase" and churn mean exactly what they mean for the whole store.

Forecast (linear pace, stated): each count the KPI is made of grows during the rest of
the period at the pace it had so far: ``start + (now - start) * period_days /
elapsed_days``, where ``start`` is the value at the end of the previous period for
cumulative counts (customers to date) and 0 for counts of the period; the base of the
churn rate (customers active at the start) does not grow. The forecast KPI is the same
ratio of the forecast counts. A finished period's forecast is its value.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from recompra.db import unit_of_work
from recompra.errors import InvalidInput, NotFound
from recompra.models.base import utcnow
from recompra.models.segments import SegmentGoal, SegmentMembershipEvent
from recompra.segments.service import get_segment

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Kpi:
    """A goal KPI: its column in ``kpis_by_period`` and the counts it is a ratio of."""

    name: str
    numerator: str
    denominator: str | None = None
    rate: bool = False
    complement: bool = False
    higher_is_better: bool = True
    money: bool = False


KPIS: dict[str, Kpi] = {
    k.name: k
    for k in (
        Kpi("repurchase_rate", "repeat_customers_to_date", "customers_to_date", rate=True),
        Kpi("returning_customer_rate", "returning_customers", "active_customers", rate=True),
        Kpi(
            "churn_rate",
            "churned_customers",
            "customers_active_at_start",
            rate=True,
            higher_is_better=False,
        ),
        Kpi(
            "retention_rate",
            "churned_customers",
            "customers_active_at_start",
            rate=True,
            complement=True,
        ),
        Kpi("return_rate", "returned_orders", "orders", rate=True, higher_is_better=False),
        Kpi("orders", "orders"),
        Kpi("active_customers", "active_customers"),
        Kpi("new_customers", "new_customers"),
        Kpi("revenue_minor", "revenue_minor", money=True),
        Kpi("gross_revenue_minor", "gross_revenue_minor", money=True),
        Kpi("average_order_value_minor", "gross_revenue_minor", "orders", money=True),
        Kpi("purchase_frequency", "orders", "active_customers"),
        Kpi("revenue_per_customer_minor", "revenue_minor", "active_customers", money=True),
    )
}
#: Counts that accumulate across periods (their start value is the previous period's).
CUMULATIVE = ("customers_to_date", "repeat_customers_to_date")
#: Counts fixed at the period's start (not extrapolated).
AT_START = ("customers_active_at_start",)


@dataclass(frozen=True)
class Period:
    """A calendar period: granularity, first day and the day after the last."""

    granularity: str
    start: date
    end: date

    @property
    def label(self) -> str:
        """``2026-05``, ``2026-Q2`` or ``2026`` (the analytics KPI tables' labels)."""
        from recompra.analytics.kpis import period_label  # lazily: see _kpi_rows

        return period_label(self.start, self.granularity)


@dataclass(frozen=True)
class GoalProgress:
    """Where a goal stands on ``as_of``."""

    goal_id: int
    segment_key: str
    kpi: str
    period: str
    target: float
    status: str
    as_of: date | None
    elapsed_days: int
    period_days: int
    cohort: int = 0
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    forecast: float | None = None
    on_track: bool | None = None


def parse_period(label: str) -> Period:
    """``2026-Q2``, ``2026-05`` or ``2026`` as a :class:`Period`."""
    text = label.strip().upper()
    try:
        if "-Q" in text:
            year, quarter = text.split("-Q")
            q = int(quarter)
            if not 1 <= q <= 4:
                raise ValueError
            start = date(int(year), 3 * q - 2, 1)
            end = date(int(year) + (q == 4), (3 * q) % 12 + 1, 1)
            return Period("quarter", start, end)
        if "-" in text:
            year, month = text.split("-")
            start = date(int(year), int(month), 1)
            end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
            return Period("month", start, end)
        return Period("year", date(int(text), 1, 1), date(int(text) + 1, 1, 1))
    except ValueError:
        raise InvalidInput(
            f"period {label!r}: expected YYYY-Qn, YYYY-MM or YYYY", field="period"
        ) from None


def wilson_interval(successes: float, trials: float, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion (Wilson 1927; Agresti & Coull 1998)."""
    if trials <= 0:
        raise ValueError("the interval of a proportion needs at least one trial")
    p = successes / trials
    denominator = 1 + z * z / trials
    center = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def set_goal(
    session: Session,
    *,
    brand_id: int,
    key: str,
    kpi: str,
    period: str,
    target: float,
    note: str | None = None,
) -> SegmentGoal:
    """Create or replace the goal for ``kpi`` in ``period`` (money targets in units)."""
    segment = get_segment(session, brand_id=brand_id, key=key)
    spec = KPIS.get(kpi)
    if spec is None:
        raise InvalidInput(f"unknown KPI {kpi!r}; known: {', '.join(KPIS)}", field="kpi")
    if not math.isfinite(target) or target < 0 or (spec.rate and target > 1):
        bound = "a share from 0 to 1" if spec.rate else "a non-negative number"
        raise InvalidInput(f"target of {kpi} must be {bound}", field="target")
    parsed = parse_period(period)
    native = round(target * 100) if spec.money else target
    goal = session.scalar(
        select(SegmentGoal).where(
            SegmentGoal.segment_id == segment.id,
            SegmentGoal.kpi == kpi,
            SegmentGoal.period_start == parsed.start,
        )
    )
    if goal is None:
        goal = SegmentGoal(segment_id=segment.id, kpi=kpi, period_start=parsed.start)
        session.add(goal)
    goal.granularity = parsed.granularity
    goal.period_end = parsed.end
    goal.target = float(native)
    goal.note = note
    session.flush()
    return goal


def goals_of(session: Session, *, brand_id: int, key: str) -> list[SegmentGoal]:
    """The segment's goals by period, then KPI."""
    segment = get_segment(session, brand_id=brand_id, key=key)
    return list(
        session.scalars(
            select(SegmentGoal)
            .where(SegmentGoal.segment_id == segment.id)
            .order_by(SegmentGoal.period_start, SegmentGoal.kpi)
        )
    )


def period_cohort(session: Session, segment_id: int, start: datetime, end: datetime) -> set[int]:
    """Customers who were members at some time in ``[start, end)``."""
    inside_at_start: dict[int, bool] = {}
    cohort: set[int] = set()
    rows = session.execute(
        select(
            SegmentMembershipEvent.customer_id,
            SegmentMembershipEvent.type,
            SegmentMembershipEvent.occurred_at,
        )
        .where(
            SegmentMembershipEvent.segment_id == segment_id,
            SegmentMembershipEvent.occurred_at < end,
        )
        .order_by(SegmentMembershipEvent.id)
    )
    for customer_id, kind, at in rows:
        if at < start:
            inside_at_start[customer_id] = kind == "segment_entered"
        elif kind == "segment_entered":
            cohort.add(customer_id)
    return cohort | {c for c, inside in inside_at_start.items() if inside}


def goal_progress(
    engine: Engine, *, brand_id: int, key: str, goal_id: int, now: datetime | None = None
) -> GoalProgress:
    """Progress of one goal of the segment on ``now`` (default: the current time)."""
    now = now or utcnow()
    with unit_of_work(engine, write=False) as session:
        segment = get_segment(session, brand_id=brand_id, key=key)
        goal = session.get(SegmentGoal, goal_id)
        if goal is None or goal.segment_id != segment.id:
            raise NotFound(f"goal {goal_id} not found", field="goal_id")
        period = Period(goal.granularity, goal.period_start, goal.period_end)
        as_of = min(now.astimezone(UTC).date(), period.end - timedelta(1))
        cohort = (
            period_cohort(
                session, segment.id, _midnight(period.start), _midnight(as_of + timedelta(1))
            )
            if as_of >= period.start
            else set()
        )
    spec = KPIS[goal.kpi]
    period_days = (period.end - period.start).days
    started = as_of >= period.start
    elapsed = (as_of - period.start).days + 1 if started else 0
    status = "not_started" if not started else "running"
    if as_of >= period.end - timedelta(1):
        status = "ended"
    known = GoalProgress(
        goal_id=goal.id,
        segment_key=segment.key,
        kpi=goal.kpi,
        period=period.label,
        target=goal.target,
        status=status,
        as_of=as_of if started else None,
        elapsed_days=elapsed,
        period_days=period_days,
    )
    if not cohort:
        return known
    current, previous = _kpi_rows(engine, brand_id, cohort, period, as_of)
    value = current.get(goal.kpi) if current else None
    numerator = float(current.get(spec.numerator, 0) or 0) if current else 0.0
    denominator = (
        float(current.get(spec.denominator, 0) or 0) if current and spec.denominator else None
    )
    low = high = None
    if spec.rate and denominator:
        low, high = wilson_interval(numerator, denominator)
        if spec.complement:
            low, high = 1 - high, 1 - low
    forecast = _forecast(spec, current or {}, previous or {}, elapsed, period_days)
    on_track = None
    if forecast is not None:
        on_track = forecast >= goal.target if spec.higher_is_better else forecast <= goal.target
    return replace(
        known,
        cohort=len(cohort),
        value=_number(value),
        numerator=numerator,
        denominator=denominator,
        ci_low=low,
        ci_high=high,
        forecast=forecast,
        on_track=on_track,
    )


def _kpi_rows(
    engine: Engine, brand_id: int, cohort: set[int], period: Period, as_of: date
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The cohort's KPI row of the period and the last row before it (analytics SQL)."""
    # Imported here: ``recompra.analytics`` loads the whole analytics run (scikit-learn,
    # DuckDB) on import, which the API would otherwise pay at start-up.
    from recompra.analytics.flows import to_frame
    from recompra.analytics.kpis import kpis_by_period_sql
    from recompra.analytics.prepare import RunParams, day_of, prepare
    from recompra.engines.registry import create_engine
    from recompra.snapshot.export import snapshot_tables
    from recompra.snapshot.io import write_snapshot

    tables = _cohort_tables(snapshot_tables(engine, brand_id=brand_id), cohort)
    with tempfile.TemporaryDirectory(prefix="recompra-goal-") as tmp:
        write_snapshot(Path(tmp), tables)
        analytics = create_engine("duckdb")
        try:
            analytics.register_snapshot(Path(tmp))
            params = RunParams(as_of_day=day_of(as_of))
            prepare(analytics, params)
            frame = to_frame(
                analytics.query(kpis_by_period_sql(analytics.dialect, params, period.granularity))
            )
        finally:
            analytics.close()
    rows: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]
    current = next((r for r in rows if r["period_start"] == period.start), None)
    earlier = [r for r in rows if r["period_start"] < period.start]
    return current, (earlier[-1] if earlier else None)


def _cohort_tables(tables: dict[str, pa.Table], cohort: set[int]) -> dict[str, pa.Table]:
    """The snapshot restricted to the cohort's customers, their orders and reviews."""
    ids = pa.array(sorted(cohort), type=pa.int64())
    out = dict(tables)
    for name in ("customers", "orders", "reviews"):
        table = tables[name]
        out[name] = table.filter(pc.is_in(pc.cast(table["customer_id"], pa.int64()), ids))
    order_ids = pc.cast(out["orders"]["order_id"], pa.int64())
    for name in ("order_items", "payments", "returns"):
        if name in tables:
            table = tables[name]
            out[name] = table.filter(pc.is_in(pc.cast(table["order_id"], pa.int64()), order_ids))
    return out


def _forecast(
    spec: Kpi, current: dict[str, Any], previous: dict[str, Any], elapsed: int, days: int
) -> float | None:
    def projected(column: str) -> float:
        now_value = float(current.get(column, 0) or 0)
        if column in AT_START:
            return now_value
        start = float(previous.get(column, 0) or 0) if column in CUMULATIVE else 0.0
        return start + (now_value - start) * days / elapsed

    numerator = projected(spec.numerator)
    if spec.denominator is None:
        return numerator
    denominator = projected(spec.denominator)
    if denominator <= 0:
        return None
    share = numerator / denominator
    return 1 - share if spec.complement else share


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)
