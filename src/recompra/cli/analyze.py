"""``recompra analyze``: run the analytics on a snapshot and write tables, summary, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recompra.engines.registry import ENGINES


def analyze(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory (Parquet tables).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark.")] = "duckdb",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="As-of date YYYY-MM-DD (default: last order).")
    ] = None,
    churn_days: Annotated[
        int, typer.Option("--churn-days", help="Churned after this many days without orders.")
    ] = 180,
    spark_master: Annotated[
        str | None,
        typer.Option("--spark-master", help="Spark master URL (default RECOMPRA_SPARK_MASTER)."),
    ] = None,
) -> None:
    """Compute RFM segments, clusters, cohorts and KPIs; write Parquet/CSV, summary and HTML."""
    from recompra.analytics import run_analytics
    from recompra.analytics.outputs import write_outputs

    if engine not in ENGINES:
        raise typer.BadParameter(f"engine must be one of {', '.join(ENGINES)}", param_hint="engine")
    result = run_analytics(
        snapshot, engine, as_of=as_of, churn_days=churn_days, spark_master=spark_master
    )
    write_outputs(result, out)
    headline = {
        k: result.summary[k]
        for k in ("as_of", "customers_total", "orders_total", "repurchase_rate", "churn_rate")
    }
    typer.echo(json.dumps(headline))
    typer.echo(f"wrote {len(result.tables())} tables, summary.json and report.html to {out}")


def main() -> None:  # pragma: no cover - convenience entry point until main.py wires it
    """Run ``analyze`` as a standalone Typer app."""
    typer.run(analyze)


if __name__ == "__main__":  # pragma: no cover
    main()
