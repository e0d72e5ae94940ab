"""``recompra backup``: archive the installation, restore it, and drill a restore."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from recompra.cli.options import exit_with
from recompra.config import get_settings
from recompra.db import get_engine
from recompra.errors import RecompraError
from recompra.ops.backup import (
    BACKUPS_DIR,
    Manifest,
    create_backup,
    restore_backup,
    restore_drill,
)

app = typer.Typer(help="Back up and restore the database and the data directory.")


@app.callback()
def main() -> None:
    """Back up and restore the installation."""


def _run(action: Callable[[], Manifest], as_json: bool) -> None:
    """Run a backup action; print its manifest's summary, or the error and exit 1."""
    try:
        manifest = action()
    except RecompraError as error:
        raise exit_with(error) from None
    if as_json:
        typer.echo(json.dumps(asdict(manifest), sort_keys=True))
        return
    rows = sum(manifest.row_counts.values())
    typer.echo(
        f"{manifest.backend} backup of {manifest.created_at} at revision {manifest.revision}: "
        f"{len(manifest.row_counts)} tables, {rows:,} rows, {len(manifest.files)} files"
    )


@app.command("create")
def create(
    to: Annotated[
        Path | None,
        typer.Option(help="Archive file or folder (default: <RECOMPRA_HOME>/backups/)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Write a verified archive of the database and the data directory."""
    settings = get_settings()
    destination = to or settings.home / BACKUPS_DIR
    if to is None:
        destination.mkdir(parents=True, exist_ok=True)
    _run(lambda: create_backup(settings, get_engine(settings), destination), as_json)


@app.command("restore")
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive made by `recompra backup create`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the current data without asking.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Replace the database and the data directory with ARCHIVE's (stop the server first)."""
    if not yes:
        typer.confirm("Replace this installation's data with the archive's?", abort=True)
    settings = get_settings()
    _run(lambda: restore_backup(settings, get_engine(settings), archive), as_json)


@app.command("drill")
def drill(
    archive: Annotated[Path, typer.Argument(help="An archive made by `recompra backup create`.")],
    postgres_admin_url: Annotated[
        str | None,
        typer.Option(
            help="For PostgreSQL archives: a server where a scratch database may be made."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Restore ARCHIVE into a scratch database and check it against its manifest."""
    _run(lambda: restore_drill(archive, postgres_admin_url=postgres_admin_url), as_json)
