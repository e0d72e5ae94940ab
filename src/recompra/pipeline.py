"""The analytics pipeline on the operational database: export, analyze, predict, recommend.

This module sits above the domains because it is the one place that joins them: it
exports a brand's snapshot from the database (the hub), runs the analytics, prediction
and recommend flows on it, writes their output files and stores the per-customer scores
back with their as-of date (:mod:`recompra.hub.scores`), so the dashboard and the API
show them with history. The domains never import each other; the CLI and the demo only
call the functions here.

:func:`run_pipeline` runs the three steps on **one** snapshot export and hands each step's
in-memory result to the next: predictions use the analytics' as-of, the offer policy
reads the run's segments and CLV. The single-step functions (:func:`run_analyze`,
:func:`run_predict`, :func:`run_recommend`) serve the commands of the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from recompra import migrate
from recompra.analytics.flows import AnalyticsResult, run_analytics
from recompra.analytics.outputs import write_outputs
from recompra.analytics.ranges import PERIOD_INPUTS_DIR
from recompra.config import get_settings
from recompra.db import get_engine, unit_of_work
from recompra.engines.registry import open_engine
from recompra.hub.brands import get_brand
from recompra.hub.scores import latest_segments, store_analytics_scores, store_prediction_scores
from recompra.predict.flows import PredictionResult, predict_customers, write_predictions
from recompra.recommend.flows import RefreshConfig, policy_segments, refresh
from recompra.segments.flows import evaluate_all
from recompra.snapshot.as_of import resolve_as_of
from recompra.snapshot.export import export_snapshot
from recompra.snapshot.io import read_table

#: Reports a step as it starts (e.g. to print a heading); the flows print nothing.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Source:
    """The snapshot a run reads and where its results go.

    Attributes
    ----------
    snapshot
        The snapshot directory.
    brand
        The brand slug (names the default output directories).
    brand_id
        The brand whose scores are stored; ``None`` for a snapshot given from outside the
        database (its customer ids need not be the database's), whose scores are not stored.
    """

    snapshot: Path
    brand: str
    brand_id: int | None = None


def export_brand_snapshot(brand: str) -> Source:
    """Migrate the database and export the brand's snapshot under ``RECOMPRA_HOME``."""
    migrate.upgrade()
    with unit_of_work(get_engine(), write=False) as session:
        brand_id = get_brand(session, brand).id
    directory = get_settings().home / "snapshots" / brand
    export_snapshot(get_engine(), directory, brand_id=brand_id, as_of=datetime.now(UTC))
    return Source(snapshot=directory, brand=brand, brand_id=brand_id)


def snapshot_source(snapshot: Path | None, brand: str) -> Source:
    """The given snapshot directory (scores not stored), or a fresh export of the brand."""
    if snapshot is None:
        return export_brand_snapshot(brand)
    return Source(snapshot=snapshot, brand=brand)


def output_dir(kind: str, brand: str) -> Path:
    """Where a step writes its files by default: ``RECOMPRA_HOME/<kind>/<brand slug>``."""
    return get_settings().home / kind / brand


def snapshot_as_of(snapshot: Path, requested: date | None) -> date:
    """The run's as-of (:func:`~recompra.snapshot.as_of.resolve_as_of`) for a snapshot."""
    if requested is not None:
        return requested
    with open_engine("duckdb") as engine:
        engine.register_snapshot(snapshot, tables=("orders",))
        return resolve_as_of(engine, None)


def _store(
    source: Source,
    store: Callable[..., object],
    as_of: date,
    scores: Any,
    *,
    refresh_segments: bool,
) -> None:
    """Store a step's scores for the source's brand (not for an outside snapshot), then
    re-evaluate the brand's live segments, whose rules may read those scores."""
    if source.brand_id is not None:
        with unit_of_work(get_engine()) as session:
            store(session, brand_id=source.brand_id, as_of=as_of, scores=scores)
        if refresh_segments:
            evaluate_all(get_engine(), brand_id=source.brand_id)


def run_analyze(
    source: Source,
    *,
    out: Path | None = None,
    engine: str = "duckdb",
    as_of: date | None = None,
    churn_days: int = 180,
    spark_master: str | None = None,
    refresh_segments: bool = True,
) -> AnalyticsResult:
    """Run the analytics, write tables/summary/report and store the segments and RFM scores
    (then re-evaluate the live segments unless ``refresh_segments`` is false)."""
    out_dir = out or output_dir("analytics", source.brand)
    result = run_analytics(
        source.snapshot,
        engine,
        as_of=as_of,
        churn_days=churn_days,
        spark_master=spark_master,
        period_inputs_dir=out_dir / PERIOD_INPUTS_DIR,
    )
    write_outputs(result, out_dir)
    _store(
        source,
        store_analytics_scores,
        result.as_of,
        result.scores,
        refresh_segments=refresh_segments,
    )
    return result


def run_predict(
    source: Source,
    *,
    out: Path | None = None,
    as_of: date | None = None,
    model: str = "auto",
    backtest: bool = False,
    test_fraction: float | None = None,
    refresh_segments: bool = True,
) -> PredictionResult:
    """Score every customer, write scores (and back-test) files and store the scores
    (then re-evaluate the live segments unless ``refresh_segments`` is false)."""
    day = snapshot_as_of(source.snapshot, as_of)
    result = predict_customers(
        read_table(source.snapshot, "orders"),
        as_of=day,
        model=model,
        backtest=backtest,
        test_fraction=test_fraction,
    )
    write_predictions(result, out or output_dir("predictions", source.brand))
    _store(
        source,
        store_prediction_scores,
        result.as_of,
        result.scores,
        refresh_segments=refresh_segments,
    )
    return result


def stored_segments(source: Source) -> pd.DataFrame:
    """The brand's latest stored segments and CLV (the offer policy's input).

    Raises
    ------
    ValueError
        When the brand has no stored segments yet (``recompra analyze`` has not run).
    """
    migrate.upgrade()
    with unit_of_work(get_engine(), write=False) as session:
        brand_id = source.brand_id or get_brand(session, source.brand).id
        segments = latest_segments(session, brand_id=brand_id)
    if segments.empty:
        raise ValueError(f"no stored segments for brand {source.brand!r}: run analyze first")
    return segments


def run_recommend(
    source: Source,
    *,
    out: Path | None = None,
    engine: str = "duckdb",
    config: RefreshConfig | None = None,
    segments: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Refresh the recommendation tables; ``segments`` turns the offer policy on."""
    return refresh(
        source.snapshot,
        out or output_dir("recommendations", source.brand),
        engine=engine,
        config=config,
        segments=segments,
    )


@dataclass
class PipelineResult:
    """The in-memory results of one :func:`run_pipeline` (the files are written too)."""

    analytics: AnalyticsResult
    predictions: PredictionResult
    recommendations: dict[str, Any] = field(default_factory=dict)


def run_pipeline(
    source: Source,
    *,
    engine: str = "duckdb",
    as_of: date | None = None,
    churn_days: int = 180,
    model: str = "auto",
    backtest: bool = True,
    spark_master: str | None = None,
    progress: Progress | None = None,
) -> PipelineResult:
    """Analyze, predict and recommend on one snapshot, with one as-of and the offer policy.

    Every step writes its files to its default directory (:func:`output_dir`) and, for a
    database brand, stores its scores. Predictions use the analytics' as-of; the offer
    policy reads this run's segments and CLV (not the files or the database).
    """
    report = progress or (lambda step: None)
    report("analytics")
    # Segments are re-evaluated once, after the predictions (their rules read both).
    analytics = run_analyze(
        source,
        engine=engine,
        as_of=as_of,
        churn_days=churn_days,
        spark_master=spark_master,
        refresh_segments=False,
    )
    report("predictions")
    predictions = run_predict(source, as_of=analytics.as_of, model=model, backtest=backtest)
    report("recommendations")
    recommendations = run_recommend(
        source,
        engine=engine,
        segments=policy_segments(analytics.scores, predictions.scores),
    )
    return PipelineResult(analytics, predictions, recommendations)
