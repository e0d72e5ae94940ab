"""What every dashboard view shares: the templates, rendering and the sign-in redirect rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from recompra.web.context import Page

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parents[1] / "templates"))


def safe_next(value: str | None) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirect)."""
    if not value:
        return "/dashboard"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/dashboard"
    return value


def render(page: Page, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """The template ``name`` with the page context and ``values``."""
    return TEMPLATES.TemplateResponse(
        page.request, name, page.template_vars(**values), status_code=status_code
    )
