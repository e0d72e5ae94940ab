"""Per-request dashboard context: signed-in user, locale, brand and template helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from fastapi import Request
from markupsafe import Markup
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from recompra.analytics import SEGMENTS
from recompra.auth.roles import brands_of, may_open, role_on
from recompra.auth.sessions import session_user
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.formatting import (
    Locale,
    format_date,
    format_datetime,
    format_money,
    format_money_short,
    format_number,
    format_percent,
    format_period,
    normalise_locale,
)
from recompra.models import DashboardUser
from recompra.reads.customer_search import FilterOptions, filter_options
from recompra.web import session as cookies
from recompra.web.filters import FilterName, Filters, carried_query, date_input_value
from recompra.web.glossary import BY_KEY
from recompra.web.i18n import segment_name, translate

BRAND_COOKIE = "recompra_brand"
#: ``date`` under a name that :meth:`Page.date` does not hide inside the class.
Day = date

#: The navigation: group key (``navgroup.<key>``) → its pages, in order, each
#: (key of ``nav.<key>`` and of ``Page.active``, path). A group of one page is a plain link;
#: a larger group is a drop-down on wide screens. Adding a page is one line in its group.
NAVIGATION_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "overview": (("overview", "/dashboard"),),
    "customers": (
        ("rfm", "/dashboard/rfm"),
        ("segments", "/dashboard/segments"),
        ("customers", "/dashboard/customers"),
        ("cohorts", "/dashboard/cohorts"),
        ("clv", "/dashboard/clv"),
        ("churn", "/dashboard/churn"),
        ("clusters", "/dashboard/clusters"),
    ),
    "actions": (
        ("journeys", "/dashboard/journeys"),
        ("measurement", "/dashboard/measurement"),
        ("loyalty", "/dashboard/loyalty"),
    ),
    "relationship": (
        ("voc", "/dashboard/voc"),
        ("cases", "/dashboard/cases"),
    ),
    "commercial": (
        ("commercial", "/dashboard/commercial"),
        ("commercial_funnel", "/dashboard/commercial/funnel"),
        ("commercial_forecast", "/dashboard/commercial/forecast"),
        ("commercial_leads", "/dashboard/commercial/leads"),
        ("commercial_cac", "/dashboard/commercial/cac"),
        ("commercial_okrs", "/dashboard/commercial/okrs"),
    ),
    "reference": (
        ("models", "/dashboard/models"),
        ("glossary", "/dashboard/glossary"),
    ),
    "admin": (("admin", "/dashboard/admin"),),
}

#: Every page of the navigation, in order: (page key, path).
NAVIGATION: tuple[tuple[str, str], ...] = tuple(
    entry for entries in NAVIGATION_GROUPS.values() for entry in entries
)


class LoginRequired(Exception):
    """Raised by pages when nobody is signed in; answered with a redirect to sign-in."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class BrandInfo:
    """A brand the user may look at."""

    id: int
    slug: str
    name: str
    currency: str


@dataclass
class Page:
    """What every template needs: who, which brand, which language, and formatters."""

    request: Request
    user: DashboardUser
    locale: Locale
    brand: BrandInfo
    brands: list[BrandInfo]
    active: str
    filters: Filters = field(default_factory=Filters)
    #: The shared filters this page applies (views set it; the frame names the others).
    applies: tuple[FilterName, ...] = ()
    #: The values the filter bar offers: brand's customer states and order channels.
    filter_options: FilterOptions | None = None
    #: The user's role on :attr:`brand` (``None``: no role there, nothing opens).
    role: str | None = None

    def t(self, key: str, **values: object) -> str:
        """Translate ``key``."""
        return translate(key, self.locale, **values)

    def money(self, minor: int | None) -> str:
        """Format minor units in the brand's currency."""
        return format_money(minor, self.locale, self.brand.currency)

    def money_short(self, minor: float | None) -> str:
        """A short amount for chart axes (``R$ 40 mil``)."""
        return format_money_short(minor, self.locale, self.brand.currency)

    def number(self, value: float | int | None, decimals: int = 0) -> str:
        """Format a number."""
        return format_number(value, self.locale, decimals)

    def percent(self, fraction: float | None, decimals: int = 1) -> str:
        """Format a fraction as a percentage."""
        return format_percent(fraction, self.locale, decimals)

    def date(self, value: date | datetime | None) -> str:
        """Format a date."""
        return format_date(value, self.locale)

    def date_input(self, value: Day | None) -> str:
        """A date as the page's date inputs take it (``31/12/2024`` in pt-BR)."""
        return date_input_value(value, self.locale)

    def when(self, value: datetime | None) -> str:
        """Format a date and time (São Paulo)."""
        return format_datetime(value, self.locale)

    def period(self, value: str) -> str:
        """Format a ``YYYY-MM`` period."""
        return format_period(value, self.locale)

    def segment(self, value: str | None) -> str:
        """A segment's display name."""
        return segment_name(value, self.locale)

    def define(self, key: str, label: str | None = None) -> Markup:
        """A metric's label with its one-line definition on hover, focus and tap.

        The "?" is a link to the glossary entry, so a tap on a phone (no hover) opens the
        definition; its accessible name carries the definition for screen readers.
        """
        term = BY_KEY[key]
        name = label if label is not None else term.name(self.locale)
        definition = term.definition(self.locale)
        return Markup(
            '<span class="term">{name}<a class="def" href="/dashboard/glossary#term-{key}" '
            'title="{definition}" aria-label="{name}: {definition}" data-term="{key}">?</a>'
            "</span>"
        ).format(name=name, key=key, definition=definition)

    @property
    def nav(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """The navigation groups and the links in them that the user's role may open."""
        groups = {
            group: tuple((key, path) for key, path in entries if may_open(self.role, path))
            for group, entries in NAVIGATION_GROUPS.items()
        }
        return {group: entries for group, entries in groups.items() if entries}

    def group_of(self, key: str) -> str | None:
        """The navigation group holding page ``key`` (``None`` for a page outside it)."""
        return next((g for g, entries in NAVIGATION_GROUPS.items() if key in dict(entries)), None)

    def keep(self, href: str, **changes: str | None) -> str:
        """``href`` with this request's shared filters and date range carried over (those
        ``href`` sets itself win; ``changes`` replace or, with ``None``, drop one)."""
        parts = urlsplit(href)
        own = dict(parse_qsl(parts.query, keep_blank_values=True))
        carried = carried_query(
            self.request.query_params, **{**{name: None for name in own}, **changes}
        )
        query = "&".join(q for q in (parts.query, carried) if q)
        return urlunsplit(parts._replace(query=query))

    @property
    def carried_items(self) -> list[tuple[str, str]]:
        """The carried parameters of this request, for a form's hidden fields."""
        return parse_qsl(carried_query(self.request.query_params))

    @property
    def ignored_filters(self) -> list[FilterName]:
        """The filters asked for that this page does not apply (it says so)."""
        return [name for name in self.filters.active() if name not in self.applies]

    @property
    def ignored_filter_labels(self) -> str:
        """The names of :attr:`ignored_filters` in this page's language."""
        return ", ".join(self.t(f"filter.{name}") for name in self.ignored_filters)

    @property
    def segment_keys(self) -> list[str]:
        """The RFM segment keys, in the analytics' order (the segment filter's values)."""
        return [s.key for s in SEGMENTS]

    def apply(self, *names: FilterName) -> Filters:
        """Record that this page applies ``names`` and return the filters."""
        self.applies = names
        return self.filters

    @property
    def here(self) -> str:
        """This page's path and query."""
        query = self.request.url.query
        return self.request.url.path + ("?" + query if query else "")

    @property
    def lang_url(self) -> str:
        """The link that switches to the other language and comes back here."""
        other = "en" if self.locale == "pt-BR" else "pt-BR"
        return f"/dashboard/lang?to={other}&next={quote(self.here)}"

    def template_vars(self, **extra: Any) -> dict[str, Any]:
        """Variables for ``TemplateResponse``."""
        return {"page": self, "t": self.t, **extra}


def request_locale(request: Request, settings: Settings, user: DashboardUser | None) -> Locale:
    """The cookie's language, else the user's, else the installation default."""
    cookie = request.cookies.get(cookies.LANG_COOKIE)
    if cookie:
        return normalise_locale(cookie, settings.default_locale)
    if user is not None and user.locale:
        return normalise_locale(user.locale, settings.default_locale)
    return settings.default_locale


def signed_in_user(request: Request, session: Session, settings: Settings) -> DashboardUser:
    """The user of the session cookie, or :class:`LoginRequired`."""
    payload = cookies.loads(settings.secret_key, request.cookies.get(cookies.COOKIE))
    user = None
    if (
        payload is not None
        and isinstance(payload.get("uid"), int)
        and isinstance(payload.get("sid"), str)
    ):
        user = session_user(
            session, token=payload["sid"], user_id=payload["uid"], now=datetime.now(UTC)
        )
    if user is None:
        next_url = request.url.path + ("?" + request.url.query if request.url.query else "")
        raise LoginRequired(next_url)
    return user


def visible_brands(session: Session, user: DashboardUser) -> list[BrandInfo]:
    """The brands the user holds a role on (one, when the user is restricted)."""
    brands = brands_of(session, user)
    if user.brand_id is not None:
        brands = [b for b in brands if b.id == user.brand_id]
    return [BrandInfo(b.id, b.slug, b.name, b.default_currency) for b in brands]


def build_page(request: Request, session: Session, active: str) -> Page:
    """The page context for a signed-in request (raises :class:`LoginRequired`)."""
    settings: Settings = request.app.state.settings
    user = signed_in_user(request, session, settings)
    brands = visible_brands(session, user)
    if not brands:
        brands = [BrandInfo(0, "", "—", settings.default_currency)]
    # The brand in the address wins over the remembered one, so a shared link shows what
    # its sender saw (among the brands this user may see).
    chosen = request.query_params.get("brand") or request.cookies.get(BRAND_COOKIE, "")
    brand = next((b for b in brands if str(b.id) == chosen), brands[0])
    return Page(
        role=role_on(session, user_id=user.id, brand_id=brand.id),
        request=request,
        user=user,
        locale=request_locale(request, settings, user),
        brand=brand,
        brands=brands,
        active=active,
        filters=Filters.from_query(request.query_params),
        filter_options=filter_options(session, brand_id=brand.id),
    )


def engine_of(request: Request) -> Engine:
    """The app's engine."""
    engine: Engine = request.app.state.engine
    return engine


def read_unit(request: Request) -> Any:
    """A read-only unit of work on the app's engine."""
    return unit_of_work(engine_of(request), write=False)
