"""Mounts the dashboard (pages, packaged static assets, offline API docs) on the app of
:mod:`recompra.server`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from recompra.web.context import LoginRequired
from recompra.web.views import router

STATIC_DIR = Path(__file__).parent / "static"
#: Swagger UI 5, vendored (see its README.md), so /docs works with no internet.
SWAGGER_URL = "/static/swagger-ui"


async def _to_login(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


def install_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` from the dashboard's static files."""

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_URL}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            # Swagger UI would otherwise send the schema to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )


def install_dashboard(app: FastAPI) -> None:
    """Add the dashboard routes, ``/static``, ``/docs`` and the sign-in redirect."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_api_docs(app)
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _to_login)
