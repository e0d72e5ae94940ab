"""The analytics run: snapshot -> engine -> RFM, clusters, cohorts, KPIs -> one result."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recompra.analytics.clusters import cluster_customers, features_sql
from recompra.analytics.cohorts import cohorts_sql
from recompra.analytics.kpis import (
    GRANULARITIES,
    kpis_by_period_sql,
    kpis_by_segment_sql,
    period_label,
)
from recompra.analytics.prepare import (
    FACTS_VIEW,
    LAPSES_VIEW,
    ORDERS_VIEW,
    RunParams,
    date_of,
    day_of,
    facts_sql,
    lapses_sql,
    orders_sql,
)
from recompra.analytics.ranges import write_period_inputs
from recompra.analytics.rfm import (
    DEFAULT_F_THRESHOLDS,
    SCORES_VIEW,
    SEGMENTS,
    rfm_sql,
)
from recompra.engines.base import Engine
from recompra.engines.registry import create_engine
from recompra.snapshot.as_of import resolve_as_of
from recompra.snapshot.schema import ANALYTICS_SCORE_COLUMNS

SCORE_COLUMNS = ("customer_id", "as_of", *ANALYTICS_SCORE_COLUMNS)


@dataclass
class AnalyticsResult:
    """Everything one analytics run produces (pandas tables, money in minor units).

    Attributes
    ----------
    as_of, churn_days, engine
        The run's parameters (``as_of`` resolved when it was left out).
    scores
        Per customer: ``customer_id, as_of, recency_days, frequency, monetary_minor,
        r_score, f_score, m_score, segment, cluster`` (the table to store with history).
    rfm
        Per customer: the scores plus ``gross_minor``, first/last purchase dates.
    segments
        Per segment in map order: names (en, pt-BR), description, customers, revenue.
    rfm_grid
        Customers and net revenue per ``(r_score, f_score)``.
    features
        Per-customer cluster features.
    clusters
        Per cluster: size, means, top category, descriptions (en, pt-BR).
    cohorts
        Cohort month x months since first purchase (see :mod:`~recompra.analytics.cohorts`).
    kpis_by_period
        KPIs with ``granularity`` (month/quarter/year) and ``period`` label columns.
    kpis_by_segment
        KPIs per segment plus the ``all`` row.
    summary
        Headline KPIs with self-explaining keys (written as ``summary.json``).
    timings
        Seconds per stage.
    """

    as_of: date
    churn_days: int
    engine: str
    scores: pd.DataFrame
    rfm: pd.DataFrame
    segments: pd.DataFrame
    rfm_grid: pd.DataFrame
    features: pd.DataFrame
    clusters: pd.DataFrame
    cohorts: pd.DataFrame
    kpis_by_period: pd.DataFrame
    kpis_by_segment: pd.DataFrame
    summary: dict[str, Any]
    cluster_silhouettes: dict[int, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The result tables by output name."""
        return {
            "scores": self.scores,
            "rfm": self.rfm,
            "segments": self.segments,
            "rfm_grid": self.rfm_grid,
            "clusters": self.clusters,
            "cohorts": self.cohorts,
            "kpis_by_period": self.kpis_by_period,
            "kpis_by_segment": self.kpis_by_segment,
        }


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Normalise an engine result: integers to int64, decimals/floats to float64."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_integer(kind):
            column = pc.cast(column, pa.int64())
        elif pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            column = pc.cast(column, pa.float64())
        elif pa.types.is_large_string(kind):
            column = pc.cast(column, pa.string())
        columns.append(column)
    normalised = pa.table(columns, names=table.column_names)
    frame: pd.DataFrame = normalised.to_pandas(date_as_object=True)
    return frame


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start


def _category_names(engine: Engine) -> dict[int, tuple[str, str]]:
    table = engine.query("SELECT category_id, slug, name_en, name_pt FROM categories")
    names: dict[int, tuple[str, str]] = {}
    for row in table.to_pylist():
        slug = row["slug"] or str(row["category_id"])
        en = row["name_en"] or slug
        pt = row["name_pt"] or slug
        names[int(row["category_id"])] = (en.replace("_", " "), pt.replace("_", " "))
    return names


def _segments_table(kpis_by_segment: pd.DataFrame) -> pd.DataFrame:
    by_key = {row["segment"]: row for row in kpis_by_segment.to_dict("records")}
    empty = {"customers": 0, "customer_share": 0.0, "revenue_minor": 0, "revenue_share": 0.0}
    rows = []
    for segment in SEGMENTS:
        found = by_key.get(segment.key, empty)
        rows.append(
            {
                "segment": segment.key,
                "name_en": segment.name_en,
                "name_pt": segment.name_pt,
                "description_en": segment.description_en,
                "description_pt": segment.description_pt,
                "customers": int(found["customers"]),
                "customer_share": float(found["customer_share"]),
                "revenue_minor": int(found["revenue_minor"]),
                "revenue_share": float(found["revenue_share"]),
            }
        )
    return pd.DataFrame(rows)


def _none_if_nan(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _summary(result: AnalyticsResult, currency: str | None) -> dict[str, Any]:
    all_rows = result.kpis_by_segment[result.kpis_by_segment["segment"] == "all"]
    row = all_rows.to_dict("records")[0]
    customers = int(row["customers"])
    one_time = int((result.rfm["frequency"] == 1).sum())
    keys = (
        "orders",
        "gross_revenue_minor",
        "revenue_minor",
        "refunds_minor",
        "average_order_value_minor",
        "purchase_frequency",
        "repurchase_rate",
        "historic_clv_minor",
        "churned_customers",
        "churn_rate",
        "retention_rate",
        "return_rate",
        "refund_rate",
        "reviews",
        "average_review_score",
        "csat",
        "nps",
        "upsell_rate",
        "cross_sell_rate",
    )
    summary: dict[str, Any] = {
        "as_of": result.as_of.isoformat(),
        "engine": result.engine,
        "currency": currency,
        "money_unit": "minor units (centavos for BRL)",
        "churn_definition": f"no purchase in the last {result.churn_days} days",
        "churn_days": result.churn_days,
        "customers_total": customers,
        "repeat_customers": int(row["repeat_customers"]),
        "one_time_buyer_share": one_time / customers if customers else None,
        "first_purchase_date": (
            min(result.rfm["first_purchase_date"]).isoformat() if customers else None
        ),
    }
    summary.update({f"{k}_total" if k == "orders" else k: _none_if_nan(row[k]) for k in keys})
    summary["segments"] = {
        str(s["segment"]): {
            "name_en": s["name_en"],
            "name_pt": s["name_pt"],
            "customers": int(s["customers"]),
            "customer_share": float(s["customer_share"]),
            "revenue_minor": int(s["revenue_minor"]),
        }
        for s in result.segments.to_dict("records")
    }
    summary["clusters"] = {
        str(int(c["cluster"])): {
            "customers": int(c["customers"]),
            "description_en": c["description_en"],
            "description_pt": c["description_pt"],
        }
        for c in result.clusters.to_dict("records")
    }
    return summary


def analyze_engine(
    engine: Engine,
    *,
    as_of: date | None = None,
    churn_days: int = 180,
    f_thresholds: tuple[int, int, int, int] = DEFAULT_F_THRESHOLDS,
    clusters: bool = True,
    k_range: tuple[int, int] = (2, 8),
    random_state: int = 0,
    period_inputs_dir: Path | None = None,
) -> AnalyticsResult:
    """Run every metric on an engine whose snapshot views are already registered.

    With ``period_inputs_dir``, also keep the tables the KPIs of any date range are
    computed from later (:mod:`recompra.analytics.ranges`).
    """
    if churn_days < 1:
        raise ValueError("churn_days must be at least 1")
    timer = _Timer()
    d = engine.dialect
    with timer("as_of"):
        params = RunParams(as_of_day=day_of(resolve_as_of(engine, as_of)), churn_days=churn_days)
    with timer("rfm"):
        engine.materialize(ORDERS_VIEW, orders_sql(d, params))
        engine.materialize(SCORES_VIEW, rfm_sql(params, f_thresholds))
        rfm = to_frame(engine.query(f"SELECT * FROM {SCORES_VIEW} ORDER BY customer_id"))
    with timer("cohorts"):
        cohorts = to_frame(engine.query(cohorts_sql()))
    with timer("kpis"):
        engine.materialize(FACTS_VIEW, facts_sql(params))
        engine.materialize(LAPSES_VIEW, lapses_sql(params))
        frames = []
        for granularity in GRANULARITIES:
            frame = to_frame(engine.query(kpis_by_period_sql(d, params, granularity)))
            frame.insert(0, "period", [period_label(p, granularity) for p in frame.period_start])
            frame.insert(0, "granularity", granularity)
            frames.append(frame)
        kpis_by_period = pd.concat(frames, ignore_index=True)
        kpis_by_segment = to_frame(engine.query(kpis_by_segment_sql(d, params)))
        if period_inputs_dir is not None:
            write_period_inputs(engine, params, period_inputs_dir)
    with timer("clusters"):
        features = to_frame(engine.query(features_sql(d, params)))
        result_clusters = cluster_customers(
            features,
            category_names=_category_names(engine),
            k_range=k_range if clusters else (1, 1),
            random_state=random_state,
        )
        currency_table = engine.query(
            "SELECT currency, COUNT(*) AS n FROM orders GROUP BY currency "
            "ORDER BY n DESC, currency LIMIT 1"
        )
    currency = currency_table.column(0)[0].as_py() if currency_table.num_rows else None
    rfm.insert(1, "as_of", params.as_of)
    rfm["first_purchase_date"] = [date_of(int(v)) for v in rfm["first_day"]]
    rfm["last_purchase_date"] = [date_of(int(v)) for v in rfm["last_day"]]
    rfm = rfm.drop(columns=["first_day", "last_day"])
    rfm = rfm.merge(result_clusters.labels, on="customer_id", how="left")
    scores = rfm[list(SCORE_COLUMNS)].copy()
    grid = (
        rfm.groupby(["r_score", "f_score"])
        .agg(customers=("customer_id", "size"), revenue_minor=("monetary_minor", "sum"))
        .reset_index()
        .astype("int64")
    )
    result = AnalyticsResult(
        as_of=params.as_of,
        churn_days=churn_days,
        engine=engine.name,
        scores=scores,
        rfm=rfm,
        segments=_segments_table(kpis_by_segment),
        rfm_grid=grid,
        features=features,
        clusters=result_clusters.summary,
        cohorts=cohorts,
        kpis_by_period=kpis_by_period,
        kpis_by_segment=kpis_by_segment,
        summary={},
        cluster_silhouettes=result_clusters.silhouettes,
        timings=timer.timings,
    )
    result.summary = _summary(result, currency)
    return result


def run_analytics(
    snapshot_dir: Path | str,
    engine: str | Engine = "duckdb",
    *,
    as_of: date | str | None = None,
    churn_days: int = 180,
    spark_master: str | None = None,
    spark: Any = None,
    clusters: bool = True,
    k_range: tuple[int, int] = (2, 8),
    random_state: int = 0,
    period_inputs_dir: Path | None = None,
) -> AnalyticsResult:
    """Run RFM, segments, clusters, cohorts and KPIs on a snapshot.

    Parameters
    ----------
    snapshot_dir
        A snapshot directory (see :mod:`recompra.snapshot`).
    engine
        ``"duckdb"`` (embedded, default), ``"spark"``, or an :class:`Engine` instance.
    as_of
        Inclusive as-of date (``date`` or ISO string); defaults to the UTC day of the last
        purchase in the snapshot (see :mod:`recompra.snapshot.as_of`).
    churn_days
        Churn window ``N``: a customer with no purchase in ``N`` days is churned.
    spark_master
        Spark master URL for ``engine="spark"`` (default ``RECOMPRA_SPARK_MASTER`` or
        ``local[2]``).
    spark
        An existing SparkSession to reuse.
    clusters
        ``False`` puts every customer in cluster 0 (skips k-means).
    k_range, random_state
        Range of ``k`` tried and the seed for clustering.
    period_inputs_dir
        Where to keep the inputs of later date-range KPIs (see
        :mod:`recompra.analytics.ranges`); not kept when ``None``.

    Returns
    -------
    AnalyticsResult
    """
    if isinstance(as_of, str):
        as_of = date.fromisoformat(as_of)
    owned = isinstance(engine, str)
    instance: Engine = (
        create_engine(engine, spark_master=spark_master, spark=spark)
        if isinstance(engine, str)
        else engine
    )
    try:
        instance.register_snapshot(Path(snapshot_dir))
        return analyze_engine(
            instance,
            as_of=as_of,
            churn_days=churn_days,
            clusters=clusters,
            k_range=k_range,
            random_state=random_state,
            period_inputs_dir=period_inputs_dir,
        )
    finally:
        if owned:
            instance.close()
