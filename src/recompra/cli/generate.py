"""``recompra generate``: a seeded synthetic Brazilian store.

Small sizes are returned as Arrow tables (optionally written as a snapshot directory);
``--parquet`` streams benchmark sizes to Parquet part files. Loading into the database is
done by the caller (:func:`generate` only produces the tables).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from recompra.generate import (
    GeneratorConfig,
    generate_tables,
    generate_to_parquet,
    resolve_customers,
)
from recompra.snapshot.io import write_snapshot


def parse_utc(value: str) -> datetime:
    """Parse an ISO date or datetime; naive values are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_config(
    *, customers: int, orders: int | None, seed: int, start: str, end: str
) -> GeneratorConfig:
    """Build the generator configuration from the command-line values."""
    try:
        return GeneratorConfig(
            seed=seed,
            n_customers=customers,
            n_orders=orders,
            start=parse_utc(start),
            end=parse_utc(end),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def generate(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Snapshot directory to write (required with --parquet)."),
    ] = None,
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 10_000,
    orders: Annotated[
        int | None,
        typer.Option(help="Approximate number of orders (overrides --customers)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
    start: Annotated[str, typer.Option(help="Start of the period (ISO date, UTC).")] = (
        "2023-01-01"
    ),
    end: Annotated[str, typer.Option(help="End of the period = snapshot date (UTC).")] = (
        "2025-01-01"
    ),
    parquet: Annotated[
        bool, typer.Option("--parquet", help="Stream to Parquet part files (large sizes).")
    ] = False,
) -> None:
    """Generate a synthetic Brazilian store whose customers follow a known BG/NBD process."""
    config = build_config(customers=customers, orders=orders, seed=seed, start=start, end=end)
    t0 = time.perf_counter()
    if parquet:
        if out is None:
            raise typer.BadParameter("--parquet needs --out DIR", param_hint="--out")
        counts = generate_to_parquet(config, out, overwrite=True)
    else:
        tables = generate_tables(config)
        if out is not None:
            write_snapshot(out, tables, as_of=config.end)
        counts = {name: table.num_rows for name, table in tables.items()}
    elapsed = time.perf_counter() - t0
    typer.echo(f"generated {resolve_customers(config):,} customers in {elapsed:.1f} s")
    for name, rows in counts.items():
        typer.echo(f"  {name:<12} {rows:>12,}")
    if out is not None:
        typer.echo(f"written to {out}")
