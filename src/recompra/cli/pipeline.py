"""The analytics pipeline on the operational database: snapshot, analyze, predict, recommend.

Each command exports a fresh snapshot of one brand unless ``--snapshot`` points at an
existing one (e.g. a generated benchmark store or a Spark cluster's Parquet), writes its
outputs under ``RECOMPRA_HOME`` (or ``--out``), and stores per-customer scores in the
database with their as-of date, so the dashboard and the API show them with history.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from recompra import migrate
from recompra.config import get_settings
from recompra.db import get_engine, unit_of_work
from recompra.hub.brands import DEFAULT_BRAND, get_brand
from recompra.hub.scores import store_analytics_scores, store_prediction_scores
from recompra.snapshot.export import export_snapshot

console = Console()
BrandOption = Annotated[str, typer.Option(help="Brand (store) slug.")]
SnapshotOption = Annotated[
    Path | None,
    typer.Option(help="Use this snapshot directory instead of exporting the database."),
]


def _brand_id(brand: str) -> int:
    with unit_of_work(get_engine(), write=False) as session:
        return get_brand(session, brand).id


def prepare_snapshot(snapshot: Path | None, brand: str) -> tuple[Path, int | None]:
    """Return the snapshot to read and the brand whose scores are stored (None: don't)."""
    if snapshot is not None:
        return snapshot, None
    migrate.upgrade()
    brand_id = _brand_id(brand)
    directory = get_settings().home / "snapshots" / brand
    export_snapshot(get_engine(), directory, brand_id=brand_id, as_of=datetime.now(UTC))
    return directory, brand_id


def default_out(kind: str, brand: str) -> Path:
    """Where a command writes its files when ``--out`` is not given."""
    return get_settings().home / kind / brand


def analyze(
    snapshot: SnapshotOption = None,
    out: Annotated[Path | None, typer.Option(help="Output directory.")] = None,
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark.")] = "duckdb",
    as_of: Annotated[
        str | None, typer.Option(help="As-of date YYYY-MM-DD (default: last order day).")
    ] = None,
    churn_days: Annotated[int, typer.Option(help="Churned after N days without orders.")] = 180,
    spark_master: Annotated[str | None, typer.Option(help="Spark master URL.")] = None,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """RFM segments, clusters, cohorts and KPIs: Parquet/CSV tables, summary.json, report.html."""
    from recompra.analytics import run_analytics
    from recompra.analytics.outputs import write_outputs

    source, brand_id = prepare_snapshot(snapshot, brand)
    result = run_analytics(
        source, engine, as_of=as_of, churn_days=churn_days, spark_master=spark_master
    )
    target = out or default_out("analytics", brand)
    write_outputs(result, target)
    if brand_id is not None:
        with unit_of_work(get_engine()) as session:
            counts = store_analytics_scores(
                session, brand_id=brand_id, as_of=result.as_of, scores=result.scores
            )
        console.print(f"scores stored for {counts.read:,} customers as of {result.as_of}")
    headline = {
        k: result.summary.get(k)
        for k in ("as_of", "customers_total", "orders_total", "repurchase_rate", "churn_rate")
    }
    console.print_json(json.dumps(headline, default=str))
    console.print(f"tables, summary.json and report.html in {target}")


def predict(
    snapshot: SnapshotOption = None,
    out: Annotated[Path | None, typer.Option(help="Output directory.")] = None,
    model: Annotated[str, typer.Option(help="auto, bgnbd, pareto or mbgnbd.")] = "auto",
    backtest: Annotated[
        bool, typer.Option("--backtest", help="Also back-test the models.")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option(help="As-of date YYYY-MM-DD (default: last order day).")
    ] = None,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """CLV, P(alive), expected orders, next order date and churn risk for every customer."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from recompra.cli.predict import predict as predict_files
    from recompra.snapshot.io import read_table
    from recompra.snapshot.schema import NON_PURCHASE_STATUSES

    source, brand_id = prepare_snapshot(snapshot, brand)
    orders = read_table(source, "orders")
    if as_of is None:
        # Same default as the analytics: the day of the last purchase (canceled and
        # unavailable orders are not purchases), so both fill the same scores row.
        purchases = orders.filter(
            pc.invert(pc.is_in(orders.column("status"), pa.array(NON_PURCHASE_STATUSES)))
        )
        last = pc.max(purchases.column("purchased_at")).as_py()
        day = (last or datetime.now(UTC)).astimezone(UTC).date()
    else:
        day = date.fromisoformat(as_of)
    target = out or default_out("predictions", brand)
    predict_files(
        snapshot=source, out=target, model=model, backtest=backtest, as_of=day.isoformat()
    )
    if brand_id is not None:
        scores = pq.read_table(target / "scores.parquet")
        with unit_of_work(get_engine()) as session:
            counts = store_prediction_scores(session, brand_id=brand_id, as_of=day, scores=scores)
        console.print(f"predictions stored for {counts.read:,} customers as of {day}")


def recommend_refresh(
    snapshot: SnapshotOption = None,
    out: Annotated[Path | None, typer.Option(help="Output directory.")] = None,
    engine: Annotated[str, typer.Option(help="Co-purchase engine: duckdb or spark.")] = "duckdb",
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Recompute co-purchase tables, bought-together and next-best-offer lists."""
    from recompra.cli.recommend import recommend_refresh as refresh_files

    source, _ = prepare_snapshot(snapshot, brand)
    refresh_files(snapshot=source, out=out or default_out("recommendations", brand), engine=engine)


def evaluate_recommendations(
    snapshot: SnapshotOption = None,
    level: Annotated[str, typer.Option(help="Item level: product or category.")] = "product",
    k: Annotated[int, typer.Option(help="Length of each recommendation list.")] = 10,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Offline evaluation on a time split: hit-rate, precision, recall, coverage at k."""
    from recompra.cli.recommend import evaluate_recommendations as evaluate_files

    source, _ = prepare_snapshot(snapshot, brand)
    evaluate_files(snapshot=source, level=level, k=k)


def as_of_instant(day: date) -> datetime:
    """The UTC start of ``day`` (scores are per calendar day)."""
    return datetime.combine(day, time(0), tzinfo=UTC)
