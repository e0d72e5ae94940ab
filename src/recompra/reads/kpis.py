"""KPIs, trends, segments and cohorts of a brand: the analytics outputs, read as they are.

``recompra analyze`` writes the brand's outputs (``<home>/analytics/<slug>/``:
``summary.json``, ``kpis_by_period.parquet``, ``segments.parquet``, ``cohorts.parquet``)
and :mod:`recompra.analytics` is the only definition of every KPI; this module maps those
rows onto :mod:`recompra.reads.models` and computes nothing. Until the outputs exist, every
function raises :class:`NotAnalysed` (the API answers 409, the dashboard an empty state).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session

from recompra.analytics.prepare import RunParams, day_of
from recompra.analytics.ranges import (
    PERIOD_INPUTS,
    PERIOD_INPUTS_DIR,
    has_period_inputs,
    kpis_for_ranges,
)
from recompra.errors import Conflict
from recompra.reads.models import (
    ClusterRow,
    CohortRow,
    KpiPeriod,
    KpiRangeComparison,
    KpiSummary,
    SegmentRow,
)
from recompra.reads.outputs import (
    AnalyticsOutputs,
    analytics_outputs,
    brand_output_dir,
    brand_slug,
    clean,
)
from recompra.reads.scores import UNSEGMENTED, latest_as_of, mean_predicted_clv, segment_averages
from recompra.snapshot.io import table_path

Granularity = Literal["month", "year"]


class NotAnalysed(Conflict):
    """The brand's analytics outputs do not exist yet (or lack the table asked for)."""

    code = "not_analysed"


def _analyze_command(session: Session, brand_id: int) -> str:
    return f"recompra analyze --brand {brand_slug(session, brand_id) or '<slug>'}"


def _outputs(session: Session, home: Path, brand_id: int) -> AnalyticsOutputs:
    outputs = analytics_outputs(session, home, brand_id)
    if outputs is None:
        raise NotAnalysed(
            "the analytics have not run yet for this brand: run "
            f"`{_analyze_command(session, brand_id)}` to compute its KPIs, segments and cohorts",
            field="brand_id",
        )
    return outputs


def _table(
    session: Session, brand_id: int, rows: list[dict[str, Any]] | None, name: str
) -> list[dict[str, Any]]:
    if rows is None:
        raise NotAnalysed(
            f"the analytics outputs of this brand have no {name} table: run "
            f"`{_analyze_command(session, brand_id)}` again",
            field="brand_id",
        )
    return rows


def _int(value: Any) -> int:
    value = clean(value)
    return round(float(value)) if value is not None else 0


def _round(value: Any) -> int | None:
    value = clean(value)
    return round(float(value)) if value is not None else None


def _float(value: Any) -> float | None:
    value = clean(value)
    return float(value) if value is not None else None


def _month(period: str) -> int:
    year, _, month = period.partition("-")
    return int(year) * 12 + int(month or 1) - 1


def kpi_summary(session: Session, *, home: Path, brand_id: int, currency: str) -> KpiSummary:
    """Headline KPIs from ``summary.json``.

    The predicted CLV (and ``scores_as_of``) come from ``customer_scores``, where the
    prediction run stores them.
    """
    outputs = _outputs(session, home, brand_id)
    s = outputs.summary
    as_of = latest_as_of(session, brand_id=brand_id)
    predicted = None
    if as_of is not None:
        predicted = mean_predicted_clv(session, brand_id=brand_id, as_of=as_of)
    return KpiSummary(
        currency=currency,
        revenue_minor=_int(s.get("revenue_minor")),
        orders=_int(s.get("orders_total")),
        customers=_int(s.get("customers_total")),
        repurchase_rate=_float(s.get("repurchase_rate")),
        retention_rate=_float(s.get("retention_rate")),
        aov_minor=_round(s.get("average_order_value_minor")),
        historic_clv_minor=_round(s.get("historic_clv_minor")),
        predicted_clv_minor=predicted,
        nps=_float(s.get("nps")),
        scores_as_of=as_of,
        analytics_as_of=outputs.as_of,
    )


def _kpi_period(period: str, r: dict[str, Any]) -> KpiPeriod:
    """A row of the analytics KPI table as the read model."""
    return KpiPeriod(
        period=period,
        revenue_minor=_int(r.get("revenue_minor")),
        returns_minor=_int(r.get("refunds_minor")),
        orders=_int(r.get("orders")),
        customers=_int(r.get("active_customers")),
        new_customers=_int(r.get("new_customers")),
        returning_customers=_int(r.get("returning_customers")),
        aov_minor=_round(r.get("average_order_value_minor")),
        purchase_frequency=_float(r.get("purchase_frequency")),
        retention_rate=_float(r.get("retention_rate")),
        churn_rate=_float(r.get("churn_rate")),
        repurchase_rate=_float(r.get("repurchase_rate")),
        nps=_float(r.get("nps")),
        reviews=_int(r.get("reviews")),
    )


@functools.lru_cache(maxsize=256)
def _range_rows(
    inputs: Path, version: int, params: RunParams, bounds: tuple[int, ...]
) -> dict[date, dict[str, Any]]:
    """The range KPIs by range start, kept while the inputs' ``version`` (mtime) holds: the
    presets are asked again and again between two analytics runs."""
    frame = kpis_for_ranges(inputs, params, bounds)
    return {r["period_start"]: {str(k): v for k, v in r.items()} for r in frame.to_dict("records")}


def kpis_for_range(
    session: Session, *, home: Path, brand_id: int, start: date, end: date
) -> KpiRangeComparison:
    """KPIs of ``start``..``end`` (inclusive, cut at the as-of date) and the range before.

    Computed by :func:`recompra.analytics.ranges.kpis_for_ranges` from the inputs the
    last analytics run kept; :class:`NotAnalysed` when that run predates them.
    """
    outputs = _outputs(session, home, brand_id)
    directory = brand_output_dir(home, "analytics", brand_slug(session, brand_id))
    inputs = directory / PERIOD_INPUTS_DIR if directory is not None else None
    if inputs is None or not has_period_inputs(inputs):
        raise NotAnalysed(
            "the analytics outputs of this brand cannot answer date ranges yet: run "
            f"`{_analyze_command(session, brand_id)}` again",
            field="brand_id",
        )
    as_of = outputs.as_of
    last = min(end, as_of)
    if start > last:
        raise ValueError("the range starts after its end or after the as-of date")
    length = (last - start).days + 1
    previous_start = start - timedelta(days=length)
    bounds = [day_of(previous_start), day_of(start), day_of(last) + 1]
    params = RunParams(
        as_of_day=day_of(as_of), churn_days=_int(outputs.summary.get("churn_days")) or 180
    )
    version = max(table_path(inputs, name).stat().st_mtime_ns for name in PERIOD_INPUTS)
    rows = _range_rows(inputs, version, params, tuple(bounds))
    first_purchase = outputs.summary.get("first_purchase_date")

    def period(first: date) -> KpiPeriod | None:
        row = rows.get(first)
        return _kpi_period(first.isoformat(), row) if row is not None else None

    return KpiRangeComparison(
        start=start,
        end=last,
        previous_start=previous_start,
        previous_end=start - timedelta(days=1),
        partial=end > as_of,
        previous_partial=first_purchase is not None
        and previous_start < date.fromisoformat(str(first_purchase)),
        current=period(start),
        previous=period(previous_start),
    )


def kpis_by_period(
    session: Session, *, home: Path, brand_id: int, granularity: Granularity = "month"
) -> list[KpiPeriod]:
    """KPIs per period (``month`` or ``year``) from ``kpis_by_period.parquet``."""
    outputs = _outputs(session, home, brand_id)
    rows = _table(session, brand_id, outputs.kpis_by_period, "kpis_by_period")
    items = [_kpi_period(str(r["period"]), r) for r in rows if r.get("granularity") == granularity]
    items.sort(key=lambda k: k.period)
    return items


def segments(session: Session, *, home: Path, brand_id: int) -> tuple[date, list[SegmentRow]]:
    """Segments from ``segments.parquet``, with mean CLV and P(alive) of the latest scores.

    The date is the latest scoring date, else the analytics as-of date.
    """
    outputs = _outputs(session, home, brand_id)
    rows = _table(session, brand_id, outputs.segments, "segments")
    as_of = latest_as_of(session, brand_id=brand_id)
    averages = segment_averages(session, brand_id=brand_id, as_of=as_of) if as_of else {}
    items = []
    for r in rows:
        customers = _int(r.get("customers"))
        if customers <= 0:
            continue
        key = str(r.get("segment") or UNSEGMENTED)
        scored = averages.get(key)
        items.append(
            SegmentRow(
                segment=key,
                customers=customers,
                share=_float(r.get("customer_share")) or 0.0,
                monetary_minor=_int(r.get("revenue_minor")),
                avg_clv_minor=scored.clv_minor if scored else None,
                avg_p_alive=scored.p_alive if scored else None,
            )
        )
    items.sort(key=lambda s: (-s.customers, s.segment))
    return as_of or outputs.as_of, items


def cohorts(
    session: Session, *, home: Path, brand_id: int, max_months: int = 12
) -> list[CohortRow]:
    """Monthly acquisition cohorts from ``cohorts.parquet`` (month 0 is 1.0)."""
    outputs = _outputs(session, home, brand_id)
    rows = _table(session, brand_id, outputs.cohorts, "cohorts")
    sizes: dict[str, int] = {}
    shares: dict[str, dict[int, float]] = defaultdict(dict)
    for r in rows:
        cohort = str(r.get("cohort_month"))[:7]
        months = _int(r.get("months_since_first"))
        sizes[cohort] = _int(r.get("cohort_size"))
        if 0 <= months < max_months:
            shares[cohort][months] = _float(r.get("retention_rate")) or 0.0
    # Months without a buyer have no row: the heatmap still runs to the as-of month.
    last = max(
        (_month(str(r.get("cohort_month"))[:7]) + _int(r.get("months_since_first")) for r in rows),
        default=0,
    )
    last = max(last, outputs.as_of.year * 12 + outputs.as_of.month - 1)
    items = []
    for cohort in sorted(sizes):
        by_month = shares[cohort]
        width = min(max_months, last - _month(cohort) + 1)
        items.append(
            CohortRow(
                cohort=cohort,
                size=sizes[cohort],
                retention=[by_month.get(m, 0.0) for m in range(width)],
            )
        )
    return items


def clusters(session: Session, *, home: Path, brand_id: int) -> list[ClusterRow]:
    """The customer clusters from ``clusters.parquet``, largest first."""
    outputs = _outputs(session, home, brand_id)
    rows = _table(session, brand_id, outputs.clusters, "clusters")
    items = [
        ClusterRow(
            cluster=_int(r.get("cluster")),
            customers=_int(r.get("customers")),
            share=_float(r.get("customer_share")) or 0.0,
            mean_recency_days=_float(r.get("mean_recency_days")),
            mean_frequency=_float(r.get("mean_frequency")),
            mean_monetary_minor=_round(r.get("mean_monetary_minor")),
            mean_review_score=_float(r.get("mean_review_score")),
            description_pt=str(r.get("description_pt") or ""),
            description_en=str(r.get("description_en") or ""),
        )
        for r in rows
    ]
    items.sort(key=lambda c: (-c.customers, c.cluster))
    return items
