"""Role enforcement for every dashboard route, and the "not allowed" page.

:func:`require_role` is a dependency of the whole dashboard router
(:mod:`recompra.web.views`), so no page or write can forget it: the route's template
is looked up in :mod:`recompra.auth.roles`, and a route without a rule is refused.
Reads of personal data are written to the audit log here too.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.routing import BaseRoute

from recompra.auth.roles import PUBLIC_ROUTES, may_open
from recompra.db import unit_of_work
from recompra.privacy.audit import PERSONAL_READS, record_personal_read
from recompra.web.context import Page, build_page, engine_of, read_unit
from recompra.web.views.common import render


class AccessDenied(Exception):
    """The signed-in user's role may not use this route on the current brand."""

    def __init__(self, page: Page) -> None:
        super().__init__(page.request.url.path)
        self.page = page


def route_template(request: Request) -> str:
    """The matched route's path template (``/dashboard/customers/{customer_id}``)."""
    route: BaseRoute | None = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else request.url.path


def user_actor(page: Page) -> str:
    """How a dashboard user is named in the audit log."""
    return f"user:{page.user.email}"


def require_role(request: Request) -> None:
    """Refuse the request unless the user's role on the chosen brand may use the route."""
    template = route_template(request)
    if template in PUBLIC_ROUTES:
        return
    with read_unit(request) as session:
        page = build_page(request, session, "")
    if not may_open(page.role, template, request.method):
        raise AccessDenied(page)
    if template in PERSONAL_READS:
        with unit_of_work(engine_of(request)) as session:
            record_personal_read(
                session,
                route=template,
                path_params=dict(request.path_params),
                actor=user_actor(page),
                brand_id=page.brand.id or None,
            )


async def forbidden_page(_request: Request, exc: Exception) -> HTMLResponse:
    """The styled 403 page (with the navigation the role may use)."""
    assert isinstance(exc, AccessDenied)
    return render(exc.page, "forbidden.html", status_code=403)
