"""``recompra serve``: the API and dashboard under uvicorn."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Annotated, Any, Literal

import typer

from recompra.ops.logs import logging_config
from recompra.ops.metrics import MULTIPROCESS_ENV


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    worker: Annotated[
        bool, typer.Option("--worker", help="Also run the automation worker in the server")
    ] = False,
    log_format: Annotated[
        Literal["json", "text"],
        typer.Option(help="json: one JSON object a line, personal data masked; text: uvicorn's"),
    ] = "json",
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
    keep_alive: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Seconds an idle kept-alive connection stays open (default 75: longer "
            "than a proxy keeps its upstream connections)",
        ),
    ] = None,
) -> None:
    """Serve the API and the dashboard (configured by ``RECOMPRA_*`` variables)."""
    import uvicorn

    from recompra.server import run_uvicorn

    if worker:
        if workers != 1:
            raise typer.BadParameter("--worker runs in a single server process (--workers 1)")
        # The app is built by uvicorn from its import string, so the choice travels in
        # the setting the app's lifespan reads (recompra.automation.settings).
        os.environ["RECOMPRA_EMBEDDED_WORKER"] = "true"
    # Each run gets a fresh folder for the worker processes' metric samples (stale files
    # of an earlier run would be added in); an operator's own folder is respected.
    own_metrics_dir = None
    if workers > 1 and not os.environ.get(MULTIPROCESS_ENV):
        own_metrics_dir = tempfile.mkdtemp(prefix="recompra-metrics-")
        os.environ[MULTIPROCESS_ENV] = own_metrics_dir

    typer.echo(f"Recompra on http://{host}:{port}/dashboard (API docs at /docs)")
    options: dict[str, Any] = {} if keep_alive is None else {"timeout_keep_alive": keep_alive}
    try:
        run_uvicorn(
            "recompra.server:create_app",
            workers=workers,
            host=host,
            port=port,
            log_level=log_level,
            log_config=(
                logging_config(log_level.upper())
                if log_format == "json"
                else uvicorn.config.LOGGING_CONFIG
            ),
            **options,
        )
    finally:
        if own_metrics_dir is not None:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
