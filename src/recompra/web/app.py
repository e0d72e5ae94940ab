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
from recompra.web.security import (
    RawHeaders,
    content_security_policy,
    inline_script_hashes,
    security_headers,
)
from recompra.web.views import router
from recompra.web.views.admin_access import AccessDenied, forbidden_page

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
#: Swagger UI 5, vendored (see its README.md), so /docs works with no internet.
SWAGGER_URL = "/static/swagger-ui"


async def _to_login(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


def install_api_docs(app: FastAPI) -> HTMLResponse:
    """Serve Swagger UI at ``/docs`` from the dashboard's static files; return the page."""
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title=f"{app.title} API",
        swagger_js_url=f"{SWAGGER_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_URL}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        # Swagger UI would otherwise send the schema to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(page.body)

    return page


def install_dashboard(app: FastAPI) -> RawHeaders:
    """Add the dashboard routes, ``/static``, ``/docs`` and the sign-in redirect; returns
    the security headers of every response (whose policy allows exactly the inline
    scripts served here), which the server's outermost middleware adds."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    docs = install_api_docs(app)
    app.include_router(router)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(AccessDenied, forbidden_page)
    inline = [
        *inline_script_hashes(bytes(docs.body).decode()),
        *inline_script_hashes((TEMPLATES_DIR / "base.html").read_text(encoding="utf-8")),
    ]
    return security_headers(content_security_policy(inline))
