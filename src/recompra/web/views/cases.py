"""The case queue with SLA clocks, a case's page with its actions, and the public
survey page (no sign-in: the signed link is the authority).

A case's forms carry the session's CSRF token, as the administration forms do
(:func:`recompra.web.session.check_form_csrf`): another site could otherwise make a
signed-in agent's browser reply to a customer.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recompra.automation.settings import AutomationSettings, decision_context
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.errors import Conflict, InvalidInput, NotFound, RecompraError
from recompra.formatting import Locale, normalise_locale
from recompra.models.base import utcnow
from recompra.models.voc import CASE_STATUSES
from recompra.voc.cases import add_note, assign, change_status, get_case, reply
from recompra.voc.feedback import detractor_queue
from recompra.voc.queue import CaseFilter, Clock, about_to_breach, case_detail, list_cases, sla_met
from recompra.voc.surveys import SurveyLink, answer_survey, open_link
from recompra.web.context import Page, build_page, engine_of, read_unit, request_locale
from recompra.web.i18n import translate
from recompra.web.session import CsrfField, check_form_csrf, csrf_token
from recompra.web.views.common import TEMPLATES, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
StatusQ = Annotated[str, Query(max_length=24)]
PageQ = Annotated[int, Query(ge=1, le=100_000)]
Text = Annotated[str, Form(max_length=10_000)]
Short = Annotated[str, Form(max_length=320)]


def _span(minutes: int) -> str:
    """``45 min``, ``3 h 10 min``, ``2 d 4 h`` (wall clock)."""
    minutes = abs(minutes)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def clock_text(page: Page, clock: Clock) -> str:
    """A clock in words: due in / overdue by / met / breached / paused."""
    if clock.minutes_left is not None:
        key = "cases.clock.due" if clock.minutes_left >= 0 else "cases.clock.overdue"
        return page.t(key, left=_span(clock.minutes_left))
    return page.t(f"cases.clock.{clock.status}")


@router.get("/dashboard/cases", response_class=HTMLResponse)
def queue(request: Request, status: StatusQ = "active", page: PageQ = 1) -> HTMLResponse:
    """The queue, nearest resolution deadline first, with its SLA clocks and the loop."""
    now = utcnow()
    chosen = status if status in ("active", "all", *CASE_STATUSES) else "active"
    where = CaseFilter(status=None if chosen == "all" else chosen)
    with read_unit(request) as session:
        context = build_page(request, session, "cases")
        brand_id = context.brand.id
        total, rows = list_cases(
            session,
            brand_id=brand_id,
            where=where,
            now=now,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        active, _ = list_cases(session, brand_id=brand_id, where=CaseFilter(), now=now, limit=1)
        warned = about_to_breach(session, brand_id=brand_id, now=now)
        teams = sla_met(session, brand_id=brand_id, by="team", now=now)
        agents = sla_met(session, brand_id=brand_id, by="owner", now=now)
        closed_loop = detractor_queue(session, brand_id=brand_id, now=now, limit=10)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return render(
        context,
        "cases.html",
        rows=rows,
        total=total,
        active=active,
        warned=warned,
        teams=teams,
        agents=agents,
        closed_loop=closed_loop,
        status=chosen,
        statuses=("active", *CASE_STATUSES, "all"),
        page_number=min(page, pages),
        pages=pages,
        clock=lambda c: clock_text(context, c),
        ago=lambda at: _span(int((now - at).total_seconds() // 60)),
    )


@router.get("/dashboard/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, case_id: int, done: bool = False, error: bool = False
) -> HTMLResponse:
    """A case: details and clocks, actions, status history, notes and replies."""
    with read_unit(request) as session:
        page = build_page(request, session, "cases")
        try:
            detail = case_detail(session, brand_id=page.brand.id, case_id=case_id, now=utcnow())
        except NotFound:
            return render(page, "notfound.html", status_code=404)
    return render(
        page,
        "case.html",
        detail=detail,
        c=detail.case,
        statuses=CASE_STATUSES,
        csrf=csrf_token(request.app.state.settings.secret_key, request),
        done=done,
        error=error,
        clock=lambda c: clock_text(page, c),
    )


def _act(
    request: Request, case_id: int, action: str, values: dict[str, str], csrf: str
) -> Response:
    """Run one action on the case as the signed-in user; back to the case page."""
    with unit_of_work(engine_of(request)) as session:
        page = build_page(request, session, "cases")
        check_form_csrf(request.app.state.settings.secret_key, request, csrf)
        actor = page.user.email
        now = utcnow()
        try:
            case = get_case(session, brand_id=page.brand.id, case_id=case_id, lock=True)
            if action == "assign":
                assign(session, case=case, owner=values["owner"], team=values["team"], now=now)
            elif action == "status":
                change_status(
                    session,
                    case=case,
                    to=values["status"],
                    actor=actor,
                    now=now,
                    reason=values["reason"],
                )
            elif action == "note":
                add_note(session, case=case, author=actor, body=values["body"], now=now)
            else:
                links = decision_context(request.app.state.settings, AutomationSettings())
                reply(session, case=case, author=actor, body=values["body"], links=links, now=now)
        except NotFound:
            return RedirectResponse(f"/dashboard/cases/{case_id}", status_code=303)  # its 404
        except (Conflict, InvalidInput):
            session.rollback()
            return RedirectResponse(f"/dashboard/cases/{case_id}?error=1", status_code=303)
    return RedirectResponse(f"/dashboard/cases/{case_id}?done=1", status_code=303)


@router.post("/dashboard/cases/{case_id}/assign")
def case_assign(
    request: Request, case_id: int, csrf: CsrfField, owner: Short = "", team: Short = ""
) -> Response:
    """Set the owner and team (empty clears)."""
    return _act(request, case_id, "assign", {"owner": owner, "team": team}, csrf)


@router.post("/dashboard/cases/{case_id}/status")
def case_status(
    request: Request, case_id: int, csrf: CsrfField, status: Short, reason: Short = ""
) -> Response:
    """Change the status (resolving needs a reason)."""
    return _act(request, case_id, "status", {"status": status, "reason": reason}, csrf)


@router.post("/dashboard/cases/{case_id}/note")
def case_note(request: Request, case_id: int, csrf: CsrfField, body: Text) -> Response:
    """Add an internal note."""
    return _act(request, case_id, "note", {"body": body}, csrf)


@router.post("/dashboard/cases/{case_id}/reply")
def case_reply(request: Request, case_id: int, csrf: CsrfField, body: Text) -> Response:
    """Reply to the customer by e-mail (through the automation outbox)."""
    return _act(request, case_id, "reply", {"body": body}, csrf)


def _survey_locale(request: Request, lang: str | None) -> Locale:
    settings: Settings = request.app.state.settings
    if lang:
        return normalise_locale(lang, settings.default_locale)
    return request_locale(request, settings, None)


def _survey_page(
    request: Request,
    locale: Locale,
    *,
    token: str,
    link: SurveyLink | None,
    state: str,
    score: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request,
        "survey.html",
        {
            "t": lambda key, **v: translate(key, locale, **v),
            "locale": locale,
            "token": token,
            "link": link,
            "state": state,
            "score": score,
            "other": "en" if locale == "pt-BR" else "pt-BR",
        },
        status_code=status_code,
    )


@router.get("/survey/{token}", response_class=HTMLResponse)
def survey_form(
    request: Request,
    token: str,
    score: Annotated[int | None, Query(ge=0, le=10)] = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    """The answer form, the clicked score chosen. A GET never stores an answer: mail
    scanners open links, so the customer confirms with the button (one more tap)."""
    locale = _survey_locale(request, lang)
    try:
        with read_unit(request) as session:
            link = open_link(session, secret=request.app.state.settings.secret_key, token=token)
    except InvalidInput:
        return _survey_page(
            request, locale, token=token, link=None, state="invalid", status_code=400
        )
    state = "answered" if link.answered else "form"
    return _survey_page(request, locale, token=token, link=link, state=state, score=score)


@router.post("/survey/{token}", response_class=HTMLResponse)
def survey_answer(
    request: Request,
    token: str,
    score: Annotated[int | None, Form(ge=0, le=10)] = None,
    comment: Annotated[str, Form(max_length=2000)] = "",
    lang: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    """Store the answer (once); a second answer shows "already answered" (409)."""
    locale = _survey_locale(request, lang)
    secret = request.app.state.settings.secret_key
    if score is None:
        with read_unit(request) as session:
            try:
                link = open_link(session, secret=secret, token=token)
            except InvalidInput:
                return _survey_page(
                    request, locale, token=token, link=None, state="invalid", status_code=400
                )
        return _survey_page(request, locale, token=token, link=link, state="pick", status_code=400)
    try:
        with unit_of_work(engine_of(request)) as session:
            answer_survey(
                session,
                secret=secret,
                token=token,
                score=score,
                comment=comment,
                via="link",
                now=utcnow(),
            )
    except Conflict:
        return _survey_page(
            request, locale, token=token, link=None, state="answered", status_code=409
        )
    except RecompraError:
        return _survey_page(
            request, locale, token=token, link=None, state="invalid", status_code=400
        )
    return _survey_page(request, locale, token=token, link=None, state="thanks")
