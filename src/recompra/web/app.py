"""Mounts the dashboard (pages and packaged static assets) on the app of :mod:`recompra.server`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from recompra.web.context import LoginRequired
from recompra.web.views import router

STATIC_DIR = Path(__file__).parent / "static"


async def _to_login(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


def install_dashboard(app: FastAPI) -> None:
    """Add the dashboard routes, ``/static`` and the sign-in redirect."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _to_login)
