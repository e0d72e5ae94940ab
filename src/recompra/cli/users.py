"""``recompra users``: dashboard users (argon2-hashed passwords)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from recompra.auth.users import create_user
from recompra.db import unit_of_work
from recompra.errors import RecompraError
from recompra.models.privacy import ROLES

app = typer.Typer(help="Manage dashboard users.")
console = Console()


@app.callback()
def main() -> None:
    """Manage dashboard users."""


@app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="Sign-in e-mail")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password"),
    ],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    brand: Annotated[int | None, typer.Option(help="Restrict the user to this brand id")] = None,
    role: Annotated[
        str, typer.Option(help=f"Role on the brand (or every brand): {', '.join(ROLES)}")
    ] = "admin",
) -> None:
    """Create a dashboard user."""
    try:
        with unit_of_work() as session:
            user = create_user(
                session, email=email, password=password, name=name, brand_id=brand, role=role
            )
            user_id = user.id
    except RecompraError as error:
        console.print(f"[red]{error.message}[/red]")
        raise typer.Exit(1) from error
    console.print(f"user {user_id} <{email.strip().lower()}> created")
