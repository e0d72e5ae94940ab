"""``recompra keys``: create, list and revoke API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.api.idempotency import purge_expired_records
from recompra.auth.keys import create_api_key, revoke_api_key
from recompra.db import unit_of_work
from recompra.errors import RecompraError
from recompra.models import ApiKey, Brand
from recompra.models.auth import API_SCOPES
from recompra.models.base import utcnow

app = typer.Typer(help="Manage API keys (stored hashed; the key is shown once).")
console = Console()


@app.callback()
def main() -> None:
    """Manage API keys."""


def _brand_id(session: Session, brand: str | None) -> int | None:
    if brand is None:
        return None
    stmt = select(Brand.id).where(
        Brand.id == int(brand) if brand.isdigit() else Brand.slug == brand
    )
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise typer.BadParameter(f"brand {brand!r} not found", param_hint="--brand")
    return int(found)


@app.command("create")
def create(
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help=f"One of {', '.join(API_SCOPES)}; repeat")
    ],
    brand: Annotated[
        str | None, typer.Option("--brand", "-b", help="Restrict to this brand (slug or id)")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A label for the key")] = "",
) -> None:
    """Create a key and print it (it cannot be shown again)."""
    try:
        with unit_of_work() as session:
            row, plain = create_api_key(
                session, scopes=scope, brand_id=_brand_id(session, brand), name=name
            )
            key_id = row.id
    except RecompraError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from error
    console.print(f"key id {key_id} ({' '.join(scope)}): store it now, it is not kept")
    typer.echo(plain)


@app.command("list")
def list_keys() -> None:
    """List keys: prefix, scopes, brand, created, last used, revoked."""
    table = Table("id", "prefix", "name", "scopes", "brand", "created", "last used", "revoked")
    with unit_of_work(write=False) as session:
        for row in session.execute(select(ApiKey).order_by(ApiKey.id)).scalars():
            table.add_row(
                str(row.id),
                row.prefix,
                row.name,
                row.scopes,
                str(row.brand_id or "all"),
                f"{row.created_at:%Y-%m-%d %H:%M}",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "—",
                f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "—",
            )
    console.print(table)


@app.command("revoke")
def revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `keys list`)")]) -> None:
    """Revoke a key; requests with it get 401 from now on (a running server remembers a
    verified key for up to 5 seconds)."""
    try:
        with unit_of_work() as session:
            revoke_api_key(session, key_id=key_id)
    except RecompraError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from error
    console.print(f"key {key_id} revoked")


@app.command("purge-idempotency")
def purge_idempotency() -> None:
    """Delete Idempotency-Key records past their lease or retention (the worker does it
    on every pass; this is for installations without one)."""
    with unit_of_work() as session:
        removed = purge_expired_records(session, now=utcnow())
    console.print(f"{removed} expired idempotency records removed")
