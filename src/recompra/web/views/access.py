"""Sign-in, sign-out and the language and brand switches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recompra.auth.sessions import (
    FAILURE_WINDOW,
    open_session,
    record_sign_in,
    revoke_session,
    sign_in_throttled,
)
from recompra.auth.users import authenticate_user
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.formatting import LOCALES, normalise_locale
from recompra.web import session as cookies
from recompra.web.context import BRAND_COOKIE, engine_of, request_locale
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
    """Check the credentials, open a server-side session and set its signed cookie."""
    settings: Settings = request.app.state.settings
    address = request.client.host if request.client else ""
    now = datetime.now(UTC)
    token = None
    with unit_of_work(engine_of(request)) as session:
        if sign_in_throttled(session, account=email, address=address, now=now):
            return _throttled(request, next)
        user = authenticate_user(session, email=email, password=password)
        record_sign_in(session, account=email, address=address, succeeded=user is not None, now=now)
        if user is not None:
            user.last_login_at = now
            uid = user.id
            token = open_session(
                session, user_id=uid, now=now, lifetime=timedelta(seconds=cookies.MAX_AGE_S)
            )
    if token is None:
        return login_form(request, next=next, failed=True)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        cookies.COOKIE,
        cookies.dumps(settings.secret_key, {"uid": uid, "sid": token}),
        max_age=cookies.MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=settings.environment == "production",
    )
    return response


def _throttled(request: Request, next: str) -> Response:
    """The sign-in form, answered 429 while the account and address are throttled."""
    response = login_form(request, next=next, failed=True)
    response.status_code = 429
    response.headers["Retry-After"] = str(int(FAILURE_WINDOW.total_seconds()))
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """Revoke the session server-side (a copied cookie stops working) and forget it."""
    settings: Settings = request.app.state.settings
    payload = cookies.loads(settings.secret_key, request.cookies.get(cookies.COOKIE))
    if payload is not None and isinstance(payload.get("sid"), str):
        with unit_of_work(engine_of(request)) as session:
            revoke_session(session, token=payload["sid"], now=datetime.now(UTC))
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
