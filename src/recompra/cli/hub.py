"""Hub commands: database migrations, imports, the generator into the DB, stats, snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from recompra import migrate
from recompra.cli.options import parse_utc
from recompra.cli.progress import progress_bar
from recompra.config import get_settings
from recompra.db import get_engine, unit_of_work
from recompra.errors import RecompraError
from recompra.generate import GeneratorConfig, generate_tables, generate_to_parquet
from recompra.hub.brands import DEFAULT_BRAND, ensure_brand
from recompra.hub.importers.csv_mapping import import_mapped_files, load_mapping
from recompra.hub.importers.generated import load_generated
from recompra.hub.importers.olist import import_olist
from recompra.hub.rejects import ImportReport
from recompra.hub.runs import finish_run, start_run
from recompra.hub.split import split_shared_customers
from recompra.hub.stats import table_counts
from recompra.segments.flows import evaluate_all
from recompra.snapshot.export import export_snapshot
from recompra.snapshot.io import write_snapshot

console = Console()
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
import_app = typer.Typer(help="Import store data (idempotent: re-running changes nothing).")
hub_app = typer.Typer(help="Customer hub maintenance.", no_args_is_help=True)

BrandOption = Annotated[str, typer.Option(help="Brand (store) slug; created if missing.")]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to the configured database."""
    migrate.upgrade()
    console.print(f"database at head: {get_engine().url.render_as_string(hide_password=True)}")


@hub_app.command("split-shared-customers")
def hub_split_shared_customers() -> None:
    """Give each brand its own profile of the customers several brands share (rows made
    before identities were scoped by brand); their orders, identities, loyalty and the
    rest follow their brand. Re-running changes nothing."""
    with unit_of_work() as session:
        report = split_shared_customers(session)
    moved = ", ".join(f"{table} {n}" for table, n in sorted(report.moved.items())) or "none"
    console.print(
        f"{report.shared} shared customers, {report.created} per-brand profiles created; "
        f"rows moved: {moved}"
    )


@db_app.command("check")
def db_check() -> None:
    """Fail if the ORM models and the migrated schema disagree."""
    differences = migrate.pending_differences()
    if differences:
        for diff in differences:
            console.print(f"[red]{diff}[/red]")
        raise typer.Exit(1)
    console.print("models and migrations agree")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", help="What the migration does.")],
) -> None:
    """Autogenerate a migration from the models (developers; see CONTRIBUTING.md)."""
    migrate.revision(message)


def print_report(report: ImportReport, report_path: Path | None) -> None:
    """Print the per-entity counts (they reconcile: read = the sum of outcomes)."""
    table = Table(title="import")
    for column in ("entity", "read", "inserted", "updated", "unchanged", "duplicate", "rejected"):
        table.add_column(column, justify="left" if column == "entity" else "right")
    for name, c in report.counts.items():
        table.add_row(
            name,
            *(
                f"{v:,}"
                for v in (c.read, c.inserted, c.updated, c.unchanged, c.duplicate, c.rejected)
            ),
        )
    console.print(table)
    if report.facts:
        facts = Table(title="facts")
        facts.add_column("fact")
        facts.add_column("value", justify="right")
        for name, value in report.facts.items():
            facts.add_row(name, f"{value:,}")
        console.print(facts)
    if report.rejects:
        where = report_path.parent / "rejects.csv" if report_path else "the report"
        console.print(f"[yellow]{len(report.rejects):,} problems; see {where}[/yellow]")
    if report_path:
        console.print(f"report: {report_path}")


DebugOption = Annotated[bool, typer.Option("--debug", help="On an error, show the full traceback.")]


@contextmanager
def import_errors(debug: bool) -> Iterator[None]:
    """Bad input ends the command with one or two lines (what, where, what to do)."""
    try:
        yield
    except (RecompraError, OSError, UnicodeDecodeError) as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        typer.echo("fix the file or the mapping and run again (--debug: traceback)", err=True)
        raise typer.Exit(1) from None


def run_import(importer: str, source: str, location: str, brand: str, work: object) -> None:
    migrate.upgrade()
    engine = get_engine()
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, brand).id
    run_id = start_run(
        engine, brand_id=brand_id, importer=importer, source=source, location=location
    )
    with progress_bar() as tick:
        report = work(engine, brand_id, tick)  # type: ignore[operator]
    path = finish_run(engine, run_id, report, get_settings().imports_dir)
    print_report(report, path)
    # A bulk import re-evaluates whole segments (one query per batch), not customer by customer.
    runs = evaluate_all(engine, brand_id=brand_id)
    if runs:
        changed = sum(run.entered + run.exited for run in runs)
        typer.echo(f"segments: {len(runs)} re-evaluated, {changed} entries and exits")


def guarded_import(
    importer: str, source: str, location: str, brand: str, debug: bool, work: object
) -> None:
    """:func:`run_import` with bad input reported in one or two lines (see ``--debug``)."""
    with import_errors(debug):
        run_import(importer, source, location, brand, work)


@import_app.command("olist")
def import_olist_command(
    directory: Annotated[Path, typer.Argument(help="Directory with the olist_*.csv(.gz) files.")],
    brand: BrandOption = DEFAULT_BRAND,
    debug: DebugOption = False,
) -> None:
    """Import the public Olist dataset layout (customer_unique_id is the person)."""
    guarded_import(
        "olist",
        "olist",
        str(directory),
        brand,
        debug,
        lambda engine, brand_id, tick: import_olist(
            engine, directory, brand_id=brand_id, progress=tick
        ),
    )


@import_app.command("csv")
def import_csv_command(
    files: Annotated[list[Path], typer.Argument(help="Order-line files (CSV or Parquet).")],
    mapping: Annotated[Path, typer.Option(help="Mapping file (YAML): columns, formats, rules.")],
    customers: Annotated[
        Path | None, typer.Option(help="Optional customers file described by the mapping.")
    ] = None,
    brand: BrandOption = DEFAULT_BRAND,
    debug: DebugOption = False,
) -> None:
    """Import any store's orders/items/customers with a column mapping."""
    with import_errors(debug):
        spec = load_mapping(mapping)
        run_import(
            "csv",
            spec.source,
            ", ".join(str(f) for f in files),
            brand,
            lambda engine, brand_id, tick: import_mapped_files(
                engine, spec, files, customers_file=customers, brand_id=brand_id, progress=tick
            ),
        )


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
        typer.Option(
            "--out", "-o", help="Also write a snapshot directory here (required with --parquet)."
        ),
    ] = None,
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 2_000,
    orders: Annotated[
        int | None, typer.Option(help="Approximate number of orders (overrides --customers).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same store).")] = 42,
    start: Annotated[str, typer.Option(help="Start of the period (ISO date, UTC).")] = "2023-01-01",
    end: Annotated[str, typer.Option(help="End of the period (ISO date, UTC).")] = "2025-01-01",
    parquet: Annotated[
        bool, typer.Option("--parquet", help="Stream to Parquet only (benchmark sizes, no DB).")
    ] = False,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Generate a seeded synthetic Brazilian store and import it (or stream it to Parquet)."""
    config = build_config(customers=customers, orders=orders, seed=seed, start=start, end=end)
    if parquet:
        if out is None:
            raise typer.BadParameter("--parquet needs --out DIR", param_hint="--out")
        counts = generate_to_parquet(config, out, overwrite=True)
        for name, rows in counts.items():
            console.print(f"  {name:<12} {rows:>12,}")
        console.print(f"written to {out}")
        return
    tables = generate_tables(config)
    run_import(
        "generated",
        "generated",
        f"seed={seed}",
        brand,
        lambda engine, brand_id, tick: load_generated(
            engine, tables, brand_id=brand_id, progress=tick
        ),
    )
    if out is not None:
        write_snapshot(out, tables, as_of=config.end)


def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print row counts per table: customers, orders, order_items, products, ..."""
    migrate.upgrade()
    with unit_of_work(get_engine(), write=False) as session:
        counts = table_counts(session)
    if as_json:
        typer.echo(json.dumps(counts))
        return
    table = Table(title="recompra")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)


def snapshot(
    out: Annotated[Path, typer.Argument(help="Directory to write the Parquet snapshot into.")],
    brand: Annotated[str | None, typer.Option(help="Only this brand (slug).")] = None,
) -> None:
    """Export the database into an analytics snapshot (Parquet tables + manifest)."""
    engine = get_engine()
    brand_id = None
    if brand:
        with unit_of_work(engine, write=False) as session:
            brand_id = ensure_brand(session, brand).id
    tables = export_snapshot(engine, out, brand_id=brand_id, as_of=datetime.now(UTC))
    console.print({name: t.num_rows for name, t in tables.items()})
