"""Dashboard roles per brand and the table of which role may open which route.

A user holds one role per brand (``admin``, ``marketing``, ``analyst``, ``support``), or
one role on every brand. What a role may open is decided by :func:`allowed_roles` from
two tables, so that a new page needs one line:

* :data:`AREA_ROLES` by *area*, the first path segment after ``/dashboard`` (``""`` is
  the overview): ``/dashboard/segments/{key}`` belongs to ``segments``;
* :data:`ROUTE_ROLES` by ``"METHOD /path/template"`` for the routes of an area that are
  narrower than the area (downloading a segment's members, writes).

A dashboard route with no rule is refused at run time (fail closed) and fails
``tests/auth/test_roles.py``, which walks every registered route. API routes are
governed by their key's scopes (:mod:`recompra.api.deps`), not by roles.
"""

from __future__ import annotations

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from recompra.errors import InvalidInput
from recompra.models import Brand, DashboardUser, DashboardUserRole
from recompra.models.privacy import ROLES

EVERYONE = frozenset(ROLES)
#: Aggregated analytics (no personal data).
ANALYSTS = frozenset({"admin", "marketing", "analyst"})
#: Who works with identified customers (profiles, lists, cases).
CUSTOMER_FACING = frozenset({"admin", "marketing", "support"})
ADMINS = frozenset({"admin"})
MARKETING = frozenset({"admin", "marketing"})

#: Routes open without signing in or an API key (each checks what it needs itself: the
#: survey and unsubscribe links carry a signed token, sign-in has its throttle).
PUBLIC_ROUTES = frozenset(
    {
        "/",
        "/login",
        "/logout",
        "/health",
        "/docs",
        "/openapi.json",
        "/static",
        "/survey/{token}",
        "/v1/automation/unsubscribe",
        # Opens and clicks carry a signed token; bounce reports a signed body.
        "/v1/automation/t/open",
        "/v1/automation/t/click",
        "/v1/automation/bounces",
        "/v1/surveys/links/{token}",
        "/v1/surveys/answers",
        # The shopper's page and API: a shopper session (never a dashboard one) scopes
        # every read and action to its customer and brand (recompra.shopper).
        "/shop/{brand}",
        "/shop/{brand}/sign-in",
        "/shop/{brand}/sign-in/{token}",
        "/shop/{brand}/sign-out",
        "/shop/{brand}/quizzes/{code}",
        "/shop/{brand}/redeem/{code}",
        "/shop/{brand}/referral-code",
        "/shop/{brand}/referral-claim",
        "/v1/shopper/sign-in",
        "/v1/shopper/sessions",
        "/v1/shopper/session",
        "/v1/shopper/me",
        "/v1/shopper/quizzes/{code}/attempts",
        "/v1/shopper/redemptions",
        "/v1/shopper/referral-code",
        "/v1/shopper/referral-claims",
        # Only set a cookie: the language, and a brand that every page checks again.
        "/dashboard/lang",
        "/dashboard/brand",
    }
)

AREA_ROLES: dict[str, frozenset[str]] = {
    "": EVERYONE,
    "glossary": EVERYONE,
    "{unknown:path}": EVERYONE,
    "rfm": ANALYSTS,
    "cohorts": ANALYSTS,
    "clv": ANALYSTS,
    "churn": ANALYSTS,
    "clusters": ANALYSTS,
    "segments": ANALYSTS,
    "models": ANALYSTS,
    "measurement": ANALYSTS,
    "commercial": ANALYSTS,
    "voc": EVERYONE,
    "loyalty": EVERYONE,
    "customers": CUSTOMER_FACING,
    "cases": frozenset({"admin", "support"}),
    "journeys": MARKETING,
    # Lists of identified customers as files.
    "export": MARKETING,
    "admin": ADMINS,
    "privacy": ADMINS,
}

ROUTE_ROLES: dict[str, frozenset[str]] = {
    "POST /dashboard/segments": MARKETING,
    "POST /dashboard/segments/preview": MARKETING,
    "GET /dashboard/segments/new": MARKETING,
    "GET /dashboard/segments/{key}/edit": MARKETING,
    "GET /dashboard/segments/{key}/members.{fmt}": MARKETING,
}


def area_of(path: str) -> str:
    """The area of a dashboard route template (``""`` for ``/dashboard`` itself)."""
    parts = path.split("/")
    return parts[2] if len(parts) > 2 else ""


def allowed_roles(method: str, path: str) -> frozenset[str] | None:
    """The roles that may use the route (``None``: no rule, so nobody may)."""
    if path in PUBLIC_ROUTES:
        return EVERYONE
    rule = ROUTE_ROLES.get(f"{method} {path}")
    if rule is not None:
        return rule
    if path == "/dashboard" or path.startswith("/dashboard/"):
        return AREA_ROLES.get(area_of(path))
    return None


def may_open(role: str | None, path: str, method: str = "GET") -> bool:
    """Whether ``role`` may use the route ``method path``."""
    allowed = allowed_roles(method, path)
    return role is not None and allowed is not None and role in allowed


def role_on(session: Session, *, user_id: int, brand_id: int) -> str | None:
    """The user's role on ``brand_id``: the brand's own, else the every-brand one."""
    rows = session.execute(
        select(DashboardUserRole.brand_id, DashboardUserRole.role).where(
            DashboardUserRole.user_id == user_id,
            or_(DashboardUserRole.brand_id == brand_id, DashboardUserRole.brand_id.is_(None)),
        )
    ).all()
    by_brand = {brand: role for brand, role in rows}
    return by_brand.get(brand_id) or by_brand.get(None)


def roles_of(session: Session, *, user_id: int) -> dict[int | None, str]:
    """The user's roles: brand id (``None``: every brand) -> role."""
    rows = session.execute(
        select(DashboardUserRole.brand_id, DashboardUserRole.role).where(
            DashboardUserRole.user_id == user_id
        )
    ).all()
    return {brand: role for brand, role in rows}


def brands_of(session: Session, user: DashboardUser) -> list[Brand]:
    """The brands the user holds a role on, by id."""
    roles = roles_of(session, user_id=user.id)
    query = select(Brand).order_by(Brand.id)
    if None not in roles:
        query = query.where(Brand.id.in_([b for b in roles if b is not None]))
    return list(session.execute(query).scalars())


def set_role(session: Session, *, user_id: int, brand_id: int | None, role: str) -> None:
    """Give the user ``role`` on ``brand_id`` (``None``: every brand), replacing the
    previous role there."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if brand_id is not None and session.get(Brand, brand_id) is None:
        raise InvalidInput(f"brand {brand_id} not found", field="brand_id")
    same_brand = (
        DashboardUserRole.brand_id.is_(None)
        if brand_id is None
        else DashboardUserRole.brand_id == brand_id
    )
    session.execute(
        delete(DashboardUserRole).where(DashboardUserRole.user_id == user_id, same_brand)
    )
    session.add(DashboardUserRole(user_id=user_id, brand_id=brand_id, role=role))
    session.flush()
