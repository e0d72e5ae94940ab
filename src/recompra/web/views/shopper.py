"""The shopper's page (``/shop/<brand slug>``): public, mobile-first, pt-BR and en.

A customer asks for a one-time link by e-mail, opens it (a GET never spends it: mail
scanners open links, so the page asks for one tap), and gets a shopper cookie scoped to
this brand's page path. Everything shown or done is the cookie's customer at this brand
(``recompra.shopper``): no route takes a customer id, and a dashboard session means
nothing here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from recompra.automation.settings import AutomationSettings, decision_context
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.errors import InvalidInput, RecompraError
from recompra.formatting import Locale, format_date, format_number, normalise_locale
from recompra.models import Brand
from recompra.models.base import utcnow
from recompra.shopper.actions import claim_code, my_referral_code, redeem_for_shopper, take_quiz
from recompra.shopper.signin import (
    SESSION_TTL,
    Shopper,
    SignInRateLimited,
    SignInRefused,
    brand_by_slug,
    close_session,
    open_session,
    request_link,
    shopper_of,
)
from recompra.shopper.summary import shopper_page
from recompra.web.context import engine_of, read_unit
from recompra.web.i18n import translate
from recompra.web.views.common import TEMPLATES

router = APIRouter()

#: The shopper's cookie: not the dashboard's, and sent only to this brand's page path.
COOKIE = "recompra_shopper"
LANG_COOKIE = "recompra_shopper_lang"
Lang = Annotated[str | None, Query(max_length=8)]


def _locale(request: Request, lang: str | None) -> Locale:
    settings: Settings = request.app.state.settings
    return normalise_locale(lang or request.cookies.get(LANG_COOKIE), settings.default_locale)


def _csrf(request: Request, token: str) -> str:
    """The form token of a shopper session: an HMAC of its cookie, so another site that
    can post a form to us cannot forge it."""
    secret = request.app.state.settings.secret_key
    return hmac.new(secret.encode(), b"shopper-csrf\0" + token.encode(), hashlib.sha256).hexdigest()


def _signed_in(request: Request, brand: Brand) -> tuple[str, Shopper] | None:
    token = request.cookies.get(COOKIE)
    try:
        with read_unit(request) as session:
            shopper = shopper_of(session, token=token, now=utcnow())
    except SignInRefused:
        return None
    # A cookie of another brand's page (or a forged path) is no session here.
    if token is None or shopper.brand_id != brand.id:
        return None
    return token, shopper


def _render(
    request: Request, locale: Locale, template: str, status_code: int = 200, **values: Any
) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": lambda key, **v: translate(key, locale, **v),
            "locale": locale,
            "number": lambda v: format_number(v, locale),
            "date": lambda v: format_date(v, locale),
            **values,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _brand(request: Request, slug: str) -> Brand:
    with read_unit(request) as session:
        brand = brand_by_slug(session, slug)
        session.expunge(brand)
    return brand


@router.get("/shop/{brand}", response_class=HTMLResponse)
def page(
    request: Request,
    brand: str,
    lang: Lang = None,
    notice: Annotated[str | None, Query(max_length=64)] = None,
    ref: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """The shopper's page, or the sign-in form when nobody is signed in here."""
    locale = _locale(request, lang)
    shop = _brand(request, brand)
    signed_in = _signed_in(request, shop)
    if signed_in is None:
        response = _render(
            request, locale, "shopper_sign_in.html", brand=shop, state="form", ref=ref
        )
    else:
        token, shopper = signed_in
        with read_unit(request) as session:
            data = shopper_page(session, shopper=shopper, now=utcnow())
        public_url = decision_context(request.app.state.settings, AutomationSettings()).public_url
        response = _render(
            request,
            locale,
            "shopper.html",
            brand=shop,
            data=data,
            csrf=_csrf(request, token),
            request_key=secrets.token_urlsafe(12),
            notice=notice,
            referral_url=(
                f"{public_url}/shop/{shop.slug}?ref={data.referral_code}"
                if data.referral_code
                else None
            ),
        )
    if lang:
        response.set_cookie(LANG_COOKIE, locale, path=f"/shop/{shop.slug}", samesite="lax")
    return response


@router.post("/shop/{brand}/sign-in", response_class=HTMLResponse)
def ask_link(
    request: Request,
    brand: str,
    email: Annotated[str, Form(max_length=320)] = "",
    lang: Lang = None,
) -> HTMLResponse:
    """Mail a link if the address is a customer's; the answer is the same either way."""
    locale = _locale(request, lang)
    shop = _brand(request, brand)
    links = decision_context(request.app.state.settings, AutomationSettings())
    try:
        with unit_of_work(engine_of(request)) as session:
            request_link(
                session,
                brand=session.get_one(Brand, shop.id),
                email=email,
                links=links,
                now=utcnow(),
            )
    except InvalidInput:
        return _render(
            request, locale, "shopper_sign_in.html", 400, brand=shop, state="bad_email", ref=None
        )
    except SignInRateLimited:
        return _render(
            request, locale, "shopper_sign_in.html", 429, brand=shop, state="too_many", ref=None
        )
    return _render(request, locale, "shopper_sign_in.html", brand=shop, state="sent", ref=None)


@router.get("/shop/{brand}/sign-in/{token}", response_class=HTMLResponse)
def confirm_link(request: Request, brand: str, token: str, lang: Lang = None) -> HTMLResponse:
    """One tap to sign in (the GET a mail scanner makes spends nothing)."""
    locale = _locale(request, lang)
    shop = _brand(request, brand)
    return _render(
        request, locale, "shopper_sign_in.html", brand=shop, state="confirm", token=token, ref=None
    )


@router.post("/shop/{brand}/sign-in/{token}", response_model=None)
def use_link(request: Request, brand: str, token: str, lang: Lang = None) -> Response:
    """Spend the link, set the shopper cookie and show the page."""
    locale = _locale(request, lang)
    shop = _brand(request, brand)
    try:
        with unit_of_work(engine_of(request)) as session:
            raw, _ = open_session(
                session,
                brand=session.get_one(Brand, shop.id),
                token=token,
                secret=request.app.state.settings.secret_key,
                now=utcnow(),
            )
    except SignInRefused:
        return _render(
            request, locale, "shopper_sign_in.html", 401, brand=shop, state="expired", ref=None
        )
    response = RedirectResponse(f"/shop/{shop.slug}", status_code=303)
    response.set_cookie(
        COOKIE,
        raw,
        max_age=int(SESSION_TTL.total_seconds()),
        path=f"/shop/{shop.slug}",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _act(request: Request, slug: str, csrf: str) -> tuple[Brand, str, Shopper]:
    shop = _brand(request, slug)
    signed_in = _signed_in(request, shop)
    if signed_in is None:
        raise HTTPException(401, "sign in first")
    token, shopper = signed_in
    if not hmac.compare_digest(csrf.encode(), _csrf(request, token).encode()):
        raise HTTPException(403, "missing or wrong form token")
    return shop, token, shopper


def _run(
    request: Request,
    shop: Brand,
    action: Callable[[Session], str],
    refused: Callable[[RecompraError], str],
) -> RedirectResponse:
    """Do ``action`` in one unit of work and go back to the page with its notice (or the
    notice of why it was refused): a reload never repeats a post."""
    try:
        with unit_of_work(engine_of(request)) as session:
            notice = action(session)
    except RecompraError as error:
        notice = refused(error)
    return RedirectResponse(f"/shop/{shop.slug}?notice={notice}", status_code=303)


@router.post("/shop/{brand}/sign-out")
def sign_out(request: Request, brand: str, csrf: Annotated[str, Form()] = "") -> RedirectResponse:
    """End the session (its token stops working) and clear the cookie."""
    shop, token, _ = _act(request, brand, csrf)
    with unit_of_work(engine_of(request)) as session:
        close_session(session, token=token, now=utcnow())
    response = RedirectResponse(f"/shop/{shop.slug}", status_code=303)
    response.delete_cookie(COOKIE, path=f"/shop/{shop.slug}")
    return response


@router.post("/shop/{brand}/quizzes/{code}")
async def answer_quiz(request: Request, brand: str, code: str) -> RedirectResponse:
    """The shopper's one attempt at a quiz (answers ``q0``, ``q1``... as option indexes)."""
    form = await request.form()
    shop, _, shopper = _act(request, brand, str(form.get("csrf", "")))
    count = sum(1 for key in form if key.startswith("q") and key[1:].isdigit())
    try:
        answers = [int(str(form.get(f"q{i}", "-1"))) for i in range(count)]
    except ValueError:
        answers = []

    def answer(session: Session) -> str:
        result = take_quiz(session, shopper=shopper, quiz_code=code, answers=answers, now=utcnow())
        return "quiz_passed" if result.passed else "quiz_failed"

    return _run(request, shop, answer, lambda error: f"quiz_{error.code}")


@router.post("/shop/{brand}/redeem/{code}")
def redeem_reward(
    request: Request,
    brand: str,
    code: str,
    csrf: Annotated[str, Form()] = "",
    request_key: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    """Redeem a reward or an experience; a refused one says why."""
    shop, _, shopper = _act(request, brand, csrf)
    key = request_key or secrets.token_urlsafe(12)

    def spend(session: Session) -> str:
        redeem_for_shopper(
            session, shopper=shopper, reward_code=code, request_key=key, now=utcnow()
        )
        return "redeemed"

    return _run(request, shop, spend, lambda error: f"redeem_{error.field or error.code}")


@router.post("/shop/{brand}/referral-code")
def referral_code(
    request: Request, brand: str, csrf: Annotated[str, Form()] = ""
) -> RedirectResponse:
    """Create the shopper's referral code (their link shows on the page)."""
    shop, _, shopper = _act(request, brand, csrf)

    def create(session: Session) -> str:
        my_referral_code(session, shopper=shopper, now=utcnow())
        return "referral_ready"

    return _run(request, shop, create, lambda _: "referral_unavailable")


@router.post("/shop/{brand}/referral-claim")
def referral_claim(
    request: Request,
    brand: str,
    csrf: Annotated[str, Form()] = "",
    code: Annotated[str, Form(max_length=32)] = "",
) -> RedirectResponse:
    """Claim a friend's code; the fraud guards may refuse it (the reason is shown)."""
    shop, _, shopper = _act(request, brand, csrf)

    def claim(session: Session) -> str:
        result = claim_code(session, shopper=shopper, code=code, now=utcnow())
        return "claimed" if result.status == "claimed" else "claim_rejected"

    return _run(request, shop, claim, lambda _: "claim_unknown")
