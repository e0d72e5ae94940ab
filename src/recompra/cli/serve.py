"""``recompra serve``: the API and dashboard under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    worker: Annotated[
        bool, typer.Option("--worker", help="Also run the automation worker in the server")
    ] = False,
) -> None:
    """Serve the API and the dashboard (configured by ``RECOMPRA_*`` variables)."""
    import uvicorn

    if worker:
        if workers != 1:
            raise typer.BadParameter("--worker runs in a single server process (--workers 1)")
        # The app is built by uvicorn from its import string, so the choice travels in
        # the setting the app's lifespan reads (recompra.automation.settings).
        os.environ["RECOMPRA_EMBEDDED_WORKER"] = "true"

    typer.echo(f"Recompra on http://{host}:{port}/dashboard (API docs at /docs)")
    uvicorn.run(
        "recompra.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
