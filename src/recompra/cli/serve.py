"""``recompra serve``: the API and dashboard under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the API and the dashboard (configured by ``RECOMPRA_*`` variables)."""
    import uvicorn

    typer.echo(f"Recompra on http://{host}:{port}/dashboard (API docs at /docs)")
    uvicorn.run(
        "recompra.server:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
