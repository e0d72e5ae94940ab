"""Dashboard pages. Every number comes from :mod:`recompra.reads`, as in the API.

KPIs, trends, segments and cohorts are the brand's ``recompra analyze`` outputs
(:mod:`recompra.reads.kpis`); until they exist those pages show a "not calculated yet"
empty state, as the API answers 409 ``not_analysed``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from recompra.auth.users import authenticate_user
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.errors import NotFound
from recompra.loyalty.programs import active_program_for_brand
from recompra.reads import customers as cq
from recompra.reads import kpis as kq
from recompra.reads import loyalty as lq
from recompra.reads import outputs
from recompra.reads import scores as sq
from recompra.reads.kpis import NotAnalysed
from recompra.reads.loyalty import customer_points
from recompra.reads.recommendations import brand_index
from recompra.web import charts
from recompra.web import session as cookies
from recompra.web.context import (
    BRAND_COOKIE,
    Page,
    build_page,
    engine_of,
    read_unit,
    request_locale,
)
from recompra.web.format import LOCALES, normalise_locale
from recompra.web.i18n import translate

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)

ScoreQ = Annotated[int | None, Query(ge=1, le=5)]


def _safe_next(value: str | None) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirect)."""
    if not value:
        return "/dashboard"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/dashboard"
    return value


def _render(page: Page, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        page.request, name, page.template_vars(**values), status_code=status_code
    )


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
            "next": _safe_next(next),
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
    response = RedirectResponse(_safe_next(next), status_code=303)
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
    response = RedirectResponse(_safe_next(next), status_code=303)
    locale = normalise_locale(to)
    if locale in LOCALES:
        response.set_cookie(cookies.LANG_COOKIE, locale, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/dashboard/brand")
def switch_brand(id: int = 0, next: str | None = None) -> RedirectResponse:
    """Remember the chosen brand (checked against the user's brands on every page)."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(BRAND_COOKIE, str(id), max_age=365 * 86400, samesite="lax")
    return response


@router.get("/dashboard", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    """Headline KPIs and monthly trends."""
    with read_unit(request) as session:
        page = build_page(request, session, "overview")
        home = request.app.state.settings.home
        try:
            summary = kq.kpi_summary(
                session, home=home, brand_id=page.brand.id, currency=page.brand.currency
            )
            monthly = kq.kpis_by_period(
                session, home=home, brand_id=page.brand.id, granularity="month"
            )
        except NotAnalysed:
            return _render(page, "overview.html", summary=None)
    labels = [page.period(k.period) for k in monthly]
    trends = {
        "revenue": charts.line_chart(
            labels,
            [k.revenue_minor for k in monthly],
            label=page.t("trend.revenue"),
            fmt=lambda v: page.money(round(v)),
            axis_fmt=page.money_short,
        ),
        "customers": charts.bar_chart(
            labels,
            [k.customers for k in monthly],
            label=page.t("trend.customers"),
            fmt=lambda v: page.number(v),
            integer=True,
        ),
        "retention": charts.line_chart(
            labels,
            [k.retention_rate for k in monthly],
            label=page.t("trend.retention"),
            fmt=lambda v: page.percent(v, 0),
        ),
    }
    return _render(page, "overview.html", summary=summary, monthly=monthly, trends=trends)


@router.get("/dashboard/rfm", response_class=HTMLResponse)
def rfm(request: Request) -> HTMLResponse:
    """The R x F grid (scores) and the segment table (analytics), both linking to customers."""
    with read_unit(request) as session:
        page = build_page(request, session, "rfm")
        scored_as_of = sq.latest_as_of(session, brand_id=page.brand.id)
        cells = (
            sq.rfm_grid(session, brand_id=page.brand.id, as_of=scored_as_of) if scored_as_of else []
        )
        try:
            _, segments = kq.segments(
                session, home=request.app.state.settings.home, brand_id=page.brand.id
            )
        except NotAnalysed:
            segments = None
    grid = {(c.r, c.f): c for c in cells}
    top = max((c.customers for c in cells), default=1)
    return _render(
        page,
        "rfm.html",
        as_of=scored_as_of,
        grid=grid,
        top=top,
        segments=segments,
        heat=charts.heat_color,
    )


@router.get("/dashboard/customers", response_class=HTMLResponse)
def customers(
    request: Request,
    q: Annotated[str | None, Query(max_length=200)] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    r: ScoreQ = None,
    f: ScoreQ = None,
) -> HTMLResponse:
    """Customer search, or the customers of an RFM cell or a segment."""
    with read_unit(request) as session:
        page = build_page(request, session, "customers")
        scored = None
        found = None
        if segment is not None or r is not None or f is not None:
            as_of = sq.latest_as_of(session, brand_id=page.brand.id)
            where = sq.ScoreFilter(segment=segment, r=r, f=f)
            scored = (
                sq.scored_customers(
                    session, brand_id=page.brand.id, as_of=as_of, where=where, limit=200
                )
                if as_of
                else []
            )
        else:
            found = cq.search_customers(session, brand_id=page.brand.id, q=q, limit=100, offset=0)
    return _render(
        page, "customers.html", q=q or "", segment=segment, r=r, f=f, scored=scored, found=found
    )


@router.get("/dashboard/customers/{customer_id}", response_class=HTMLResponse)
def customer(request: Request, customer_id: int) -> HTMLResponse:
    """A customer's profile: history, scores explained, segment history, points."""
    with read_unit(request) as session:
        page = build_page(request, session, "customers")
        try:
            profile = cq.customer_profile(
                session,
                brand_id=page.brand.id,
                currency=page.brand.currency,
                customer_id=customer_id,
            )
        except NotFound:
            return _render(page, "notfound.html", status_code=404)
        history = cq.segment_history(session, brand_id=page.brand.id, customer_id=profile.id)
        timeline = cq.timeline(session, brand_id=page.brand.id, customer_id=profile.id, limit=50)
        points = customer_points(session, brand_id=page.brand.id, customer_id=profile.id)
        recommendations = _recommendations(request, session, page, profile.id)
    return _render(
        page,
        "customer.html",
        profile=profile,
        history=history,
        timeline=timeline,
        points=points,
        recommendations=recommendations,
    )


def _recommendations(
    request: Request, session: Session, page: Page, customer_id: int
) -> list[dict[str, str]] | None:
    """The customer's next best offers in the page's language (``None``: not computed)."""
    index = brand_index(session, request.app.state.recommendations_root, page.brand.id)
    if index is None:
        return None
    return [
        {"name": index.item_name(s.item_id, page.locale), "why": s.explanation(page.locale)}
        for s in index.for_customer(customer_id, 5)
    ]


@router.get("/dashboard/cohorts", response_class=HTMLResponse)
def cohorts(request: Request) -> HTMLResponse:
    """The monthly cohort retention heatmap."""
    with read_unit(request) as session:
        page = build_page(request, session, "cohorts")
        try:
            rows = kq.cohorts(session, home=request.app.state.settings.home, brand_id=page.brand.id)
        except NotAnalysed:
            return _render(page, "cohorts.html", rows=None)
    width = max((len(r.retention) for r in rows), default=0)
    return _render(page, "cohorts.html", rows=rows, width=width, heat=charts.heat_color)


@router.get("/dashboard/clv", response_class=HTMLResponse)
def clv(request: Request) -> HTMLResponse:
    """Predicted CLV distribution and the most valuable customers."""
    with read_unit(request) as session:
        page = build_page(request, session, "clv")
        as_of = sq.latest_as_of(session, brand_id=page.brand.id)
        buckets = sq.clv_histogram(session, brand_id=page.brand.id, as_of=as_of) if as_of else []
        top = (
            sq.scored_customers(
                session,
                brand_id=page.brand.id,
                as_of=as_of,
                where=sq.ScoreFilter(order_by="clv"),
                limit=20,
            )
            if as_of
            else []
        )
    chart = charts.bar_chart(
        [page.money(b.low_minor) for b in buckets],
        [b.customers for b in buckets],
        label=page.t("clv.distribution"),
        fmt=lambda v: page.number(v),
        integer=True,
    )
    return _render(page, "clv.html", as_of=as_of, buckets=buckets, chart=chart, top=top)


@router.get("/dashboard/churn", response_class=HTMLResponse)
def churn(request: Request) -> HTMLResponse:
    """Customers ranked by churn risk."""
    with read_unit(request) as session:
        page = build_page(request, session, "churn")
        as_of = sq.latest_as_of(session, brand_id=page.brand.id)
        items = (
            sq.scored_customers(
                session,
                brand_id=page.brand.id,
                as_of=as_of,
                where=sq.ScoreFilter(order_by="churn"),
                limit=50,
            )
            if as_of
            else []
        )
    return _render(page, "churn.html", as_of=as_of, items=items)


@router.get("/dashboard/loyalty", response_class=HTMLResponse)
def loyalty(request: Request) -> HTMLResponse:
    """Points issued, redeemed and outstanding; tiers; rewards (once loyalty runs)."""
    with read_unit(request) as session:
        page = build_page(request, session, "loyalty")
        program = active_program_for_brand(session, brand_id=page.brand.id)
        if program is None:
            return _render(page, "loyalty.html", program=None)
        totals = lq.program_totals(session, program=program)
        tiers = lq.tiers_with_members(session, program=program)
        rewards = lq.rewards(session, program=program)
    in_tiers = sum(t["accounts"] for t in tiers)
    tiers.append(
        {"code": "", "name": page.t("loyalty.no_tier"), "accounts": totals["accounts"] - in_tiers}
    )
    largest = max((t["accounts"] for t in tiers), default=0) or 1
    return _render(
        page,
        "loyalty.html",
        program=program,
        totals=totals,
        tiers=tiers,
        largest=largest,
        rewards=rewards,
    )


@router.get("/dashboard/models", response_class=HTMLResponse)
def models(request: Request) -> HTMLResponse:
    """Model back-tests from ``predictions/<slug>/`` (``recompra predict --backtest``)."""
    settings: Settings = request.app.state.settings
    with read_unit(request) as session:
        page = build_page(request, session, "models")
        found = outputs.backtests(session, settings.home, page.brand.id)
    if found is None:
        return _render(page, "models.html", backtests=None)
    return _render(
        page, "models.html", backtests=_backtest_view(found.report), svg=found.tracking_svg
    )


def _backtest_view(report: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``backtest.json`` the page shows (missing values shown as dashes)."""
    chosen = report.get("chosen_model")
    models = report.get("models") or {}
    rows = []
    for name, model in models.items() if isinstance(models, dict) else []:
        metrics = (model or {}).get("metrics") or {}
        rows.append(
            {
                "model": str(name),
                "chosen": name == chosen,
                "mae": outputs.clean(metrics.get("mae")),
                "rmse": outputs.clean(metrics.get("rmse")),
                "mae_naive": outputs.clean(metrics.get("mae_naive")),
                "total_error_pct": outputs.clean(metrics.get("total_error_pct")),
            }
        )
    churn = report.get("churn") or {}
    churn_rows = [
        {
            "method": str(method),
            "chosen": method == churn.get("method"),
            "auc": outputs.clean((values or {}).get("auc")),
            "brier": outputs.clean((values or {}).get("brier")),
        }
        for method, values in (churn.get("metrics") or {}).items()
    ]
    return {
        "chosen": chosen,
        "calibration_end": report.get("calibration_end"),
        "observation_end": report.get("observation_end"),
        "rule": (report.get("selection") or {}).get("rule"),
        "rows": rows,
        "churn": churn or None,
        "churn_rows": churn_rows,
    }
