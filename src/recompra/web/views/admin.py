"""Administration pages: dashboard users (invite, role, disable), API keys (create with
scopes and brand, revoke; the key shown once), privacy requests and the audit log.

Every form carries the session's CSRF token (:func:`recompra.web.session.check_form_csrf`)
and every change is written to the audit log in the same transaction. A brand-restricted
administrator manages only its brand's users and keys.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from recompra.auth.keys import create_api_key, list_api_keys, revoke_api_key
from recompra.auth.roles import roles_of, set_role
from recompra.auth.users import invite_user, managed_user, set_disabled, users_of
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.errors import RecompraError
from recompra.models import PrivacyRequest
from recompra.models.auth import API_SCOPES
from recompra.models.privacy import ROLES
from recompra.privacy import audit
from recompra.privacy.service import erase_customer, export_customer, export_zip
from recompra.web.context import Page, build_page, engine_of, read_unit
from recompra.web.session import CsrfField, check_form_csrf, csrf_token
from recompra.web.views.admin_access import user_actor
from recompra.web.views.common import render

router = APIRouter()

#: Recent privacy requests listed on the privacy page.
RECENT_REQUESTS = 20


def _scope(page: Page) -> int | None:
    """The brand an administrator is restricted to (``None``: every brand)."""
    return page.user.brand_id


def _new_brand(page: Page, chosen: int) -> int | None:
    """The brand of a new user or key: the administrator's own when it is restricted,
    else the chosen one (0: every brand)."""
    restricted = _scope(page)
    return restricted if restricted is not None else (chosen or None)


def _page(request: Request, csrf: str | None = None) -> Page:
    with read_unit(request) as session:
        page = build_page(request, session, "admin")
    if csrf is not None:
        settings: Settings = request.app.state.settings
        check_form_csrf(settings.secret_key, request, csrf)
    return page


def _form_page(request: Request, page: Page, template: str, **values: object) -> HTMLResponse:
    """An administration page with its forms' CSRF token (400 when showing an error)."""
    settings: Settings = request.app.state.settings
    return render(
        page,
        template,
        status_code=400 if "error" in values else 200,
        csrf=csrf_token(settings.secret_key, request),
        **values,
    )


def _users_page(request: Request, page: Page, **extra: object) -> HTMLResponse:
    with read_unit(request) as session:
        users = users_of(session, brand_id=_scope(page))
        roles = {u.id: roles_of(session, user_id=u.id) for u in users}
    return _form_page(
        request, page, "admin_users.html", users=users, roles=roles, role_names=ROLES, **extra
    )


@router.get("/dashboard/admin", response_class=HTMLResponse)
def users_page(request: Request) -> HTMLResponse:
    """Dashboard users with their roles; the invitation form."""
    return _users_page(request, _page(request))


@router.post("/dashboard/admin/users", response_class=HTMLResponse)
def invite(
    request: Request,
    csrf: CsrfField,
    email: Annotated[str, Form(max_length=320)],
    role: Annotated[str, Form(max_length=16)],
    name: Annotated[str, Form(max_length=200)] = "",
    brand: Annotated[int, Form(ge=0)] = 0,
) -> HTMLResponse:
    """Invite a user: created with a random first password, shown once on this page."""
    page = _page(request, csrf)
    brand_id = _new_brand(page, brand)
    try:
        with unit_of_work(engine_of(request)) as session:
            user, password = invite_user(
                session, email=email, name=name or None, brand_id=brand_id, role=role
            )
            audit.record(
                session,
                actor=user_actor(page),
                action="user.invite",
                target=f"user:{user.id}",
                brand_id=brand_id,
            )
            invited = user.email
    except RecompraError as error:
        return _users_page(request, page, error=error.message)
    return _users_page(request, page, invited=invited, password=password)


@router.post("/dashboard/admin/users/{user_id}/role")
def change_role(
    request: Request,
    user_id: int,
    csrf: CsrfField,
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    """Give the user ``role`` on the brand the user is restricted to (or every brand)."""
    page = _page(request, csrf)
    try:
        with unit_of_work(engine_of(request)) as session:
            user = managed_user(session, user_id=user_id, brand_id=_scope(page))
            set_role(session, user_id=user.id, brand_id=user.brand_id, role=role)
            audit.record(
                session,
                actor=user_actor(page),
                action="user.role",
                target=f"user:{user.id}:{role}",
                brand_id=user.brand_id,
            )
    except RecompraError as error:
        return _users_page(request, page, error=error.message)
    return RedirectResponse("/dashboard/admin", status_code=303)


@router.post("/dashboard/admin/users/{user_id}/disable")
def disable(
    request: Request,
    user_id: int,
    csrf: CsrfField,
    disabled: Annotated[bool, Form()] = True,
) -> Response:
    """Disable a user (its sessions stop at once) or enable it again."""
    page = _page(request, csrf)
    if user_id == page.user.id:
        return _users_page(request, page, error=page.t("admin.users.self"))
    try:
        with unit_of_work(engine_of(request)) as session:
            user = managed_user(session, user_id=user_id, brand_id=_scope(page))
            set_disabled(session, user=user, disabled=disabled)
            audit.record(
                session,
                actor=user_actor(page),
                action="user.disable" if disabled else "user.enable",
                target=f"user:{user.id}",
                brand_id=user.brand_id,
            )
    except RecompraError as error:
        return _users_page(request, page, error=error.message)
    return RedirectResponse("/dashboard/admin", status_code=303)


def _keys_page(request: Request, page: Page, **extra: object) -> HTMLResponse:
    with read_unit(request) as session:
        keys = list_api_keys(session, brand_id=_scope(page))
    return _form_page(request, page, "admin_keys.html", keys=keys, scopes=API_SCOPES, **extra)


@router.get("/dashboard/admin/keys", response_class=HTMLResponse)
def keys_page(request: Request) -> HTMLResponse:
    """API keys (never the keys themselves) and the creation form."""
    return _keys_page(request, _page(request))


@router.post("/dashboard/admin/keys", response_class=HTMLResponse)
def create_key(
    request: Request,
    csrf: CsrfField,
    scope: Annotated[list[str], Form(max_length=len(API_SCOPES))],
    name: Annotated[str, Form(max_length=200)] = "",
    brand: Annotated[int, Form(ge=0)] = 0,
) -> HTMLResponse:
    """Create a key and show it once (only its hash is stored)."""
    page = _page(request, csrf)
    brand_id = _new_brand(page, brand)
    try:
        with unit_of_work(engine_of(request)) as session:
            row, plain = create_api_key(session, scopes=scope, brand_id=brand_id, name=name)
            audit.record(
                session,
                actor=user_actor(page),
                action="key.create",
                target=f"key:{row.id}",
                brand_id=brand_id,
            )
    except RecompraError as error:
        return _keys_page(request, page, error=error.message)
    return _keys_page(request, page, created=plain)


@router.post("/dashboard/admin/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: int, csrf: CsrfField) -> Response:
    """Revoke a key now."""
    page = _page(request, csrf)
    try:
        with unit_of_work(engine_of(request)) as session:
            row = revoke_api_key(session, key_id=key_id, brand_id=_scope(page))
            audit.record(
                session,
                actor=user_actor(page),
                action="key.revoke",
                target=f"key:{row.id}",
                brand_id=row.brand_id,
            )
    except RecompraError as error:
        return _keys_page(request, page, error=error.message)
    return RedirectResponse("/dashboard/admin/keys", status_code=303)


def _privacy_page(request: Request, page: Page, **extra: object) -> HTMLResponse:
    with read_unit(request) as session:
        query = select(PrivacyRequest).order_by(PrivacyRequest.id.desc()).limit(RECENT_REQUESTS)
        if _scope(page) is not None:
            # A brand's administrator sees the requests it made, not other brands'.
            query = query.where(PrivacyRequest.requested_by == user_actor(page))
        requests = list(session.execute(query).scalars())
    return _form_page(request, page, "admin_privacy.html", requests=requests, **extra)


@router.get("/dashboard/admin/privacy", response_class=HTMLResponse)
def privacy_page(request: Request) -> HTMLResponse:
    """Data-subject requests: export or erase a customer; recent requests; the audit log."""
    return _privacy_page(request, _page(request))


@router.post("/dashboard/admin/privacy/export")
def privacy_export(
    request: Request, csrf: CsrfField, customer: Annotated[int, Form(ge=1, le=2**63 - 1)]
) -> Response:
    """Download everything held about a customer (ZIP of JSON and CSV files)."""
    page = _page(request, csrf)
    try:
        _, holdings = export_customer(
            engine_of(request), customer, actor=user_actor(page), brand_id=_scope(page)
        )
    except RecompraError as error:
        return _privacy_page(request, page, error=error.message)
    return Response(
        export_zip(holdings),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="customer-{customer}.zip"'},
    )


@router.post("/dashboard/admin/privacy/erase", response_class=HTMLResponse)
def privacy_erase(
    request: Request,
    csrf: CsrfField,
    customer: Annotated[int, Form(ge=1, le=2**63 - 1)],
    confirm: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse:
    """Erase a customer's personal data (the customer id typed again to confirm)."""
    page = _page(request, csrf)
    if confirm.strip() != str(customer):
        return _privacy_page(request, page, error=page.t("admin.privacy.confirm_mismatch"))
    settings: Settings = request.app.state.settings
    try:
        done = erase_customer(
            engine_of(request),
            customer,
            actor=user_actor(page),
            home=settings.home,
            brand_id=_scope(page),
        )
    except RecompraError as error:
        return _privacy_page(request, page, error=error.message)
    return _privacy_page(request, page, erased=customer, fulfilled=done.fulfilled_at)


@router.get("/dashboard/admin/audit.csv")
def audit_download(request: Request) -> Response:
    """The audit log (the administrator's brand, or all) as CSV."""
    page = _page(request)
    with unit_of_work(engine_of(request)) as session:
        rows = audit.entries(session, brand_id=_scope(page))
        audit.record(session, actor=user_actor(page), action="audit.export", brand_id=_scope(page))
    return Response(
        audit.audit_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
