"""``recompra privacy``: data-subject export and erasure, the retention policy, the audit log."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from recompra.config import get_settings
from recompra.db import get_engine, unit_of_work
from recompra.errors import RecompraError
from recompra.privacy import audit
from recompra.privacy.service import apply_retention, erase_customer, export_customer, export_files

app = typer.Typer(help="Data-subject rights (LGPD): export, erase, retention, audit log.")
console = Console()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@app.callback()
def main() -> None:
    """Data-subject rights (LGPD)."""


@app.command("export")
def export(
    customer_id: Annotated[int, typer.Argument(help="Customer id")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for export.json and the CSV files")
    ] = None,
) -> None:
    """Write everything held about a customer as JSON and one CSV per table."""
    folder = out or Path(f"customer-{customer_id}-export")
    try:
        done, holdings = export_customer(get_engine(), customer_id, actor=_actor())
    except RecompraError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from error
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in export_files(holdings).items():
        (folder / name).write_bytes(data)
    console.print(f"request {done.request_id}: {sum(holdings.counts().values())} rows in {folder}")


@app.command("erase")
def erase(
    customer_id: Annotated[int, typer.Argument(help="Customer id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase a customer's personal data from the database, snapshots, outputs and messages."""
    if not yes:
        typer.confirm(f"Erase the personal data of customer {customer_id}?", abort=True)
    try:
        done = erase_customer(get_engine(), customer_id, actor=_actor(), home=get_settings().home)
    except RecompraError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from error
    console.print(f"request {done.request_id}: erased at {done.fulfilled_at.isoformat()}")


@app.command("retention")
def retention(
    days: Annotated[
        int | None,
        typer.Option("--days", min=1, help="Inactivity in days (default RECOMPRA_RETENTION_DAYS)"),
    ] = None,
) -> None:
    """Anonymise every customer with no order or event in the last N days."""
    days = days or get_settings().retention_days
    if days is None:
        console.print("[red]give --days or set RECOMPRA_RETENTION_DAYS[/red]")
        raise typer.Exit(2)
    done = apply_retention(get_engine(), days=days, actor=_actor(), home=get_settings().home)
    console.print(f"{len(done)} customers anonymised (inactive for {days} days)")


@app.command("audit")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")] = Path("audit.csv"),
) -> None:
    """Export the audit log (administrative actions and reads of personal data) as CSV."""
    with unit_of_work(get_engine()) as session:
        rows = audit.entries(session)
        audit.record(session, actor=_actor(), action="audit.export")
        out.write_bytes(audit.audit_csv(rows))
    console.print(f"{len(rows)} entries in {out}")
