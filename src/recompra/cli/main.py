"""The ``recompra`` command: one Typer app assembling every domain's commands."""

from __future__ import annotations

import typer

from recompra.cli import hub, keys, users
from recompra.cli.predict import predict
from recompra.cli.serve import serve

app = typer.Typer(
    name="recompra",
    help="Recompra: customer data hub, RFM, CLV, loyalty and cross-sell for e-commerce.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(hub.db_app, name="db")
app.add_typer(hub.import_app, name="import")
app.command()(hub.generate)
app.command()(hub.stats)
app.command()(hub.snapshot)
app.command()(predict)
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.command()(serve)


if __name__ == "__main__":
    app()
