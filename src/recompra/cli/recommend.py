"""``recompra evaluate recommendations`` and ``recompra recommend refresh``.

Typer command functions (wired into the main app by ``recompra.cli.main``):

* :func:`evaluate_recommendations` fits next-best-offer, plain co-occurrence and
  popularity on the first 80% of the snapshot's time span and prints hit-rate,
  precision, recall and coverage on the last 20%, for all items and new items only;
* :func:`recommend_refresh` writes the precomputed recommendation tables (co-purchase
  statistics, association rules, bought-together, upsell, next-best-offers).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from recompra.recommend.evaluate import evaluate_recommenders
from recompra.recommend.purchases import load_tables, purchase_lines
from recompra.recommend.refresh import RefreshConfig, refresh

LEVELS = ("product", "category")
ENGINES = ("duckdb", "spark")


def evaluation_table(frame: pd.DataFrame, title: str = "") -> Table:
    """Render an evaluation frame (see ``evaluate_recommenders``) as a rich table."""
    k = frame.attrs.get("k", "k")
    table = Table(
        title=title or None,
        caption="items: all = everything bought in the test period; "
        "new = only items the customer had not bought before",
    )
    for name in ("items", "model", "customers"):
        table.add_column(name, justify="right" if name == "customers" else "left", no_wrap=True)
    for name in ("hit", "prec", "recall"):
        table.add_column(f"{name}@{k}", justify="right")
    table.add_column("coverage", justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(
            str(row.items),
            str(row.model),
            f"{row.customers:,}",
            f"{row.hit_rate:.4f}",
            f"{row.precision:.4f}",
            f"{row.recall:.4f}",
            f"{row.coverage:.4f}",
        )
    return table


def evaluate_recommendations(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory (Parquet tables).")],
    level: Annotated[str, typer.Option(help="Item level: product or category.")] = "product",
    k: Annotated[int, typer.Option(help="Length of each recommendation list.")] = 10,
    test_fraction: Annotated[
        float, typer.Option(help="Share of the time span held out as the test period.")
    ] = 0.2,
    population: Annotated[
        str, typer.Option(help="Customers evaluated: returning (default) or all.")
    ] = "returning",
) -> None:
    """Evaluate the recommenders offline on a time split and print the table."""
    if level not in LEVELS:
        raise typer.BadParameter(f"expected one of {LEVELS}", param_hint="--level")
    if population not in ("returning", "all"):
        raise typer.BadParameter("expected returning or all", param_hint="--population")
    if k < 1:
        raise typer.BadParameter("k must be >= 1", param_hint="--k")
    console = Console()
    started = time.perf_counter()
    lines = purchase_lines(load_tables(snapshot, ("orders", "order_items")))
    frame = evaluate_recommenders(
        lines,
        level="product" if level == "product" else "category",
        k=k,
        test_fraction=test_fraction,
        population=population,
    )
    title = (
        f"Recommendations, {level} level, {population} customers "
        f"(train < {frame.attrs['cutoff'][:10]}: {frame.attrs['train_lines']:,} lines, "
        f"test: {frame.attrs['test_lines']:,} lines)"
    )
    console.print(evaluation_table(frame, title))
    console.print(f"[dim]{time.perf_counter() - started:.1f} s[/dim]")


def recommend_refresh(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory (Parquet tables).")],
    out: Annotated[Path, typer.Argument(help="Output directory for the recommendation tables.")],
    engine: Annotated[str, typer.Option(help="Co-purchase engine: duckdb or spark.")] = "duckdb",
    k: Annotated[int, typer.Option(help="Items kept per product and per customer.")] = 10,
    min_pair_count: Annotated[
        int, typer.Option(help="Minimum baskets holding a pair for it to be written.")
    ] = 1,
    segments: Annotated[
        Path | None,
        typer.Option(help="Parquet with customer_id, segment[, clv] for the offer policy."),
    ] = None,
) -> None:
    """Recompute the precomputed recommendation tables from a snapshot."""
    if engine not in ENGINES:
        raise typer.BadParameter(f"expected one of {ENGINES}", param_hint="--engine")
    segment_table = pd.read_parquet(segments) if segments is not None else None
    manifest = refresh(
        snapshot,
        out,
        engine="spark" if engine == "spark" else "duckdb",
        config=RefreshConfig(k=k, min_pair_count=min_pair_count),
        segments=segment_table,
    )
    console = Console()
    table = Table(title=f"Recommendation tables written to {out}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in manifest["row_counts"].items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    seconds = ", ".join(f"{name} {value:.1f} s" for name, value in manifest["seconds"].items())
    console.print(f"[dim]{engine}: {seconds}[/dim]")
