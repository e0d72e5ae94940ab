"""Message templates: Jinja2, sandboxed, in pt-BR and en, over the customer's data.

A template is ``automation/messages/<name>.yaml`` with ``subject``, ``text`` and
``html`` per locale. HTML is autoescaped (a customer's name cannot inject markup); the
sandbox refuses attribute access to Python internals, so a store's own template cannot
reach the process. The context is built once per decision from the database: name, last
order, points balance and what expires next, tier, and up to four recommended products
from the recommendations read model when it has been computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.db.dialect import in_values
from recompra.errors import NotFound
from recompra.formatting import Locale, format_date, format_money, normalise_locale
from recompra.hub.properties import properties_of
from recompra.models import Brand, Customer, LoyaltyAccount, LoyaltyLot, LoyaltyTier, Order
from recompra.reads.recommendations import brand_index

LOCALES = ("pt-BR", "en")
PARTS = ("subject", "text", "html")
RECOMMENDED = 4

_html = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
_text = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


@pass_context
def _money(context: Context, minor: int, locale: str | None = None) -> str:
    """``R$ 129,90`` in the message's locale (Babel), from minor units."""
    return _formatted_money(int(minor), normalise_locale(locale or context.get("locale")))


@lru_cache(maxsize=4096)
def _formatted_money(minor: int, locale: Locale) -> str:
    # Remembered: a message shows its amounts in both its text and HTML parts, and a
    # store's prices repeat, while Babel's formatting took a third of a rendering.
    return format_money(minor, locale)


@pass_context
def _date(context: Context, value: date | datetime) -> str:
    """``31/05/2026`` or ``May 31, 2026``: the day on the São Paulo calendar (an expiry at
    01:00 UTC is still the evening before for the customer)."""
    return format_date(value, normalise_locale(context.get("locale")))


for _env in (_html, _text):
    _env.filters["money"] = _money
    _env.filters["date"] = _date


@dataclass(frozen=True)
class Rendered:
    """A message ready to build: subject, plain text and HTML."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class CompiledTemplate:
    """A template's compiled parts per locale."""

    name: str
    parts: dict[str, dict[str, Template]]

    def render(self, locale: str, context: dict[str, Any]) -> Rendered:
        """Render in ``locale`` (pt-BR when the template has no such locale)."""
        parts = self.parts.get(locale) or self.parts["pt-BR"]
        # The three parts share one dict of the globals and the context: ``render``
        # merged them again for each part, walking the globals' ChainMap, which was
        # half the cost of rendering a short message (a worker renders one per send).
        # Both environments hold Jinja's default globals only, so one part's serve all.
        values = {**parts["subject"].globals, **context, "locale": locale}
        subject, text, html = (_rendered(parts[part], values) for part in PARTS)
        return Rendered(subject=subject.strip(), text=text, html=html)


def _rendered(template: Template, values: dict[str, Any]) -> str:
    """What ``template.render(values)`` returns, for ``values`` that already hold the
    environment's globals."""
    return template.environment.concat(  # type: ignore[attr-defined]
        template.root_render_func(template.new_context(values, shared=True))
    )


def compile_template(name: str, document: dict[str, Any]) -> CompiledTemplate:
    """Compile a template document (``{locale: {subject, text, html}}``)."""
    parts: dict[str, dict[str, Template]] = {}
    for locale in LOCALES:
        texts = document.get(locale)
        if texts is None:
            continue
        parts[locale] = {
            part: (_html if part == "html" else _text).from_string(str(texts[part]))
            for part in PARTS
        }
    if "pt-BR" not in parts:
        raise NotFound(f"message template {name!r} has no pt-BR version")
    return CompiledTemplate(name, parts)


@cache
def packaged_template(name: str) -> CompiledTemplate:
    """A template shipped in ``recompra/automation/messages`` (compiled once)."""
    source = resources.files("recompra.automation") / "messages" / f"{name}.yaml"
    if not source.is_file():
        raise NotFound(f"message template {name!r} not found")
    return compile_template(name, yaml.safe_load(source.read_text(encoding="utf-8")))


def message_context(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    order_id: int | None,
    recommendations_root: Path | None,
    now: datetime,
) -> dict[str, Any]:
    """What templates may use: customer, brand, last order, points, tier, recommendations."""
    contexts = message_contexts(
        session,
        brand_id=brand_id,
        wanted=[(customer_id, order_id)],
        recommendations_root=recommendations_root,
        now=now,
    )
    if (customer_id, order_id) not in contexts:
        raise NotFound(f"customer {customer_id} of brand {brand_id} not found")
    return contexts[(customer_id, order_id)]


Wanted = tuple[int, int | None]


def message_contexts(
    session: Session,
    *,
    brand_id: int,
    wanted: list[Wanted],
    recommendations_root: Path | None,
    now: datetime,
) -> dict[Wanted, dict[str, Any]]:
    """:func:`message_context` for many ``(customer, order or None)`` pairs of one brand
    in six statements, whatever their number (a decision batch builds its messages
    from them; per message they cost five round trips each)."""
    brand = session.get(Brand, brand_id)
    customer_ids = sorted({c for c, _ in wanted})
    # Columns rather than ORM objects: a batch builds hundreds of contexts, and loading
    # full rows into the session was a large share of their cost.
    customers = {
        c.id: c
        for c in session.execute(
            select(Customer.id, Customer.name, Customer.email).where(
                in_values(session, Customer.id, customer_ids)
            )
        )
    }
    if brand is None or not customers:
        return {}
    orders = _orders(session, brand_id, wanted)
    accounts = _accounts(session, customer_ids, now)
    properties = properties_of(session, brand_id=brand_id, customer_ids=customer_ids)
    contexts: dict[Wanted, dict[str, Any]] = {}
    for customer_id, order_id in wanted:
        customer = customers.get(customer_id)
        if customer is None:
            continue
        order = orders.get(("order", order_id) if order_id is not None else ("last", customer_id))
        account = accounts.get(customer_id)
        name = (customer.name or "").strip()
        contexts[(customer_id, order_id)] = {
            "customer": {
                "id": customer.id,
                "name": name,
                "first_name": name.split(" ")[0] if name else "",
                "email": customer.email,
            },
            "brand": {"name": brand.name, "slug": brand.slug},
            "order": None
            if order is None
            else {
                "number": order.external_id,
                "total_minor": order.total_minor,
                "purchased_at": order.purchased_at,
            },
            "points": None if account is None else account[0],
            "tier": account[1] if account is not None else None,
            # The brand's custom properties ({{ properties.plan }}); {} when none.
            "properties": properties.get(customer_id, {}),
            "recommendations": _recommended(session, brand_id, customer_id, recommendations_root),
            # A journey with a coupon node sets the run's (automation.actions.run_coupon).
            "coupon": None,
        }
    return contexts


_ORDER_FIELDS = (
    Order.id,
    Order.customer_id,
    Order.external_id,
    Order.total_minor,
    Order.purchased_at,
)


def _orders(session: Session, brand_id: int, wanted: list[Wanted]) -> dict[tuple[str, int], Any]:
    """The runs' own orders by id and, for runs without one, each customer's latest."""
    found: dict[tuple[str, int], Any] = {}
    keyed = {o for _, o in wanted if o is not None}
    if keyed:
        for order in session.execute(
            select(*_ORDER_FIELDS).where(
                in_values(session, Order.id, keyed), Order.brand_id == brand_id
            )
        ):
            found[("order", order.id)] = order
    unkeyed = {c for c, o in wanted if o is None}
    if unkeyed:
        latest = (
            select(
                Order.id,
                func.row_number()
                .over(partition_by=Order.customer_id, order_by=Order.purchased_at.desc())
                .label("position"),
            )
            .where(in_values(session, Order.customer_id, unkeyed), Order.brand_id == brand_id)
            .subquery()
        )
        for order in session.execute(
            select(*_ORDER_FIELDS)
            .join(latest, latest.c.id == Order.id)
            .where(latest.c.position == 1)
        ):
            found[("last", order.customer_id)] = order
    return found


def _accounts(
    session: Session, customer_ids: list[int], now: datetime
) -> dict[int, tuple[dict[str, Any], str | None]]:
    """Each customer's newest loyalty account: points (balance, what expires next) and tier."""
    accounts: dict[int, tuple[Any, str | None]] = {}
    for account in session.execute(
        select(
            LoyaltyAccount.id,
            LoyaltyAccount.customer_id,
            LoyaltyAccount.balance,
            LoyaltyTier.name.label("tier"),
        )
        .outerjoin(
            LoyaltyTier,
            LoyaltyTier.id
            == func.coalesce(LoyaltyAccount.override_tier_id, LoyaltyAccount.tier_id),
        )
        .where(in_values(session, LoyaltyAccount.customer_id, customer_ids))
        .order_by(LoyaltyAccount.id)
    ):
        accounts[account.customer_id] = (account, account.tier)  # the newest id wins
    expiring: dict[int, tuple[datetime | None, int]] = {}
    if accounts:
        for account_id, expires_at, remaining in session.execute(
            select(LoyaltyLot.account_id, LoyaltyLot.expires_at, func.sum(LoyaltyLot.remaining))
            .where(
                in_values(session, LoyaltyLot.account_id, [a.id for a, _ in accounts.values()]),
                LoyaltyLot.state == "active",
                LoyaltyLot.remaining > 0,
                LoyaltyLot.expires_at > now,
            )
            .group_by(LoyaltyLot.account_id, LoyaltyLot.expires_at)
            .order_by(LoyaltyLot.account_id, LoyaltyLot.expires_at.desc())
        ):
            expiring[account_id] = (expires_at, int(remaining))  # the soonest date wins
    points: dict[int, tuple[dict[str, Any], str | None]] = {}
    for customer_id, (account, tier_name) in accounts.items():
        soonest = expiring.get(account.id)
        points[customer_id] = (
            {
                "balance": account.balance,
                "expiring": soonest[1] if soonest else 0,
                "expires_at": soonest[0] if soonest else None,
            },
            tier_name,
        )
    return points


def _recommended(
    session: Session, brand_id: int, customer_id: int, root: Path | None
) -> list[dict[str, Any]]:
    index = brand_index(session, root, brand_id) if root is not None else None
    if index is None:
        return []
    return [
        {
            "id": s.item_id,
            "name": index.item_name(s.item_id, "pt-BR"),
            "name_en": index.item_name(s.item_id, "en"),
        }
        for s in index.for_customer(customer_id, k=RECOMMENDED)
    ]
