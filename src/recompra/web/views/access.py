"""Sign-in, sign-out and the language and brand switches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recompra.auth.users import authenticate_user
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.web import session as cookies
from recompra.web.context import BRAND_COOKIE, engine_of, request_locale
from recompra.web.format import LOCALES, normalise_locale
from recompra.web.i18n import translate
from recompra.web.views.common import TEMPLATES, safe_next

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=RedirectResponse)
def root() -> RedirectResponse:
    """The dashboard lives under ``/dashboard``."""
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, failed: bool = False) -> HTMLResponse:
    """The sign-in form."""
    settings: Settings = request.app.state.settings
    locale = request_locale(request, settings, None)
    return TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {
            "t": lambda key, **v: translate(key, locale, **v),
            "locale": locale,
            "next": safe_next(next),
            "failed": failed,
        },
        status_code=401 if failed else 200,
    )


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/dashboard",
) -> Response:
    """Check the credentials and set the signed session cookie."""
    settings: Settings = request.app.state.settings
    with unit_of_work(engine_of(request)) as session:
        user = authenticate_user(session, email=email, password=password)
        if user is not None:
            user.last_login_at = datetime.now(UTC)
            uid = user.id
    if user is None:
        return login_form(request, next=next, failed=True)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        cookies.COOKIE,
        cookies.dumps(settings.secret_key, {"uid": uid}),
        max_age=cookies.MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=settings.environment == "production",
    )
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    """Forget the session."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(cookies.COOKIE)
    return response


@router.get("/dashboard/lang")
def switch_language(to: str = "pt-BR", next: str | None = None) -> RedirectResponse:
    """Remember the chosen language in a cookie and go back."""
    response = RedirectResponse(safe_next(next), status_code=303)
    locale = normalise_locale(to)
    if locale in LOCALES:
        response.set_cookie(cookies.LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/dashboard/brand")
def switch_brand(id: int = 0, next: str | None = None) -> RedirectResponse:
    """Remember the chosen brand (checked against the user's brands on every page)."""
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(BRAND_COOKIE, str(id), max_age=365 * 86400, samesite="lax")
    return response
